//! Packet I/O: the [`PacketIo`] trait the shard drives, implemented by the
//! AF_XDP ring layer ([`xdp`], the only module with `unsafe`) and by an
//! in-memory link for tests ([`mem`]).

pub mod mem;
#[allow(unsafe_code)]
pub mod xdp;

use std::time::Duration;

pub use crate::wire::{PartialChecksum, TxFrame};

/// Frames in and out, in batches, for one queue.
pub trait PacketIo {
    /// Largest frame `transmit` can build (Ethernet header included).
    fn max_frame_len(&self) -> usize;

    /// Whether the device finishes transport checksums (TX checksum
    /// offload): builders may then leave them partial ([`TxFrame`] with a
    /// [`PartialChecksum`]) and skip summing the payload. A partial frame is
    /// always sent correct: where the device cannot finish it, `transmit`
    /// does, in software.
    fn tx_checksum_offload(&self) -> bool {
        false
    }

    /// Takes up to `max` received frames, calling `f` with each (which may
    /// modify it in place); returns how many were taken.
    fn recv<F: FnMut(&mut [u8])>(&mut self, max: u32, f: F) -> u32;

    /// Whether received frames wait: a cheap look (no system call) that an
    /// idle shard spins on between turns; `true` when unsure.
    fn rx_waiting(&mut self) -> bool {
        true
    }

    /// Builds and queues up to `max` frames: `build` fills a buffer of
    /// `max_frame_len` bytes and returns the frame's length (or a
    /// [`TxFrame`] with the checksum the device is to finish), or `None` to
    /// stop. Returns how many were queued.
    fn transmit<T, F>(&mut self, max: u32, build: F) -> u32
    where
        T: Into<TxFrame>,
        F: FnMut(&mut [u8]) -> Option<T>;

    /// Makes queued frames leave (a kick for AF_XDP in copy mode) and takes
    /// completed transmit buffers back.
    fn flush(&mut self);

    /// Blocks until frames may be received or `timeout` passes; true if
    /// frames are ready.
    fn wait(&mut self, timeout: Duration) -> bool;
}

impl PacketIo for xdp::Xsk {
    fn max_frame_len(&self) -> usize {
        self.max_tx_len()
    }

    fn recv<F: FnMut(&mut [u8])>(&mut self, max: u32, f: F) -> u32 {
        xdp::Xsk::recv(self, max, f)
    }

    fn rx_waiting(&mut self) -> bool {
        xdp::Xsk::rx_waiting(self)
    }

    fn tx_checksum_offload(&self) -> bool {
        self.tx_checksum().offloaded()
    }

    fn transmit<T, F>(&mut self, max: u32, build: F) -> u32
    where
        T: Into<TxFrame>,
        F: FnMut(&mut [u8]) -> Option<T>,
    {
        xdp::Xsk::transmit(self, max, build)
    }

    fn flush(&mut self) {
        // Copy mode sends a few dozen descriptors per kick: a bounded number
        // of kicks drains a full batch.
        xdp::Xsk::flush(self, 16);
    }

    fn wait(&mut self, timeout: Duration) -> bool {
        self.wait_readable(timeout)
    }
}
