//! An in-memory link between two [`PacketIo`] ends, for tests of the shard
//! without a kernel. Each direction is a bounded channel of frames; a full
//! channel drops the frame and counts it, like a full ring. Frames are
//! allocated per packet: this is test plumbing, not a datapath.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::{PacketIo, TxFrame};

/// One end of an in-memory link.
#[derive(Debug)]
pub struct MemIo {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: Option<Vec<u8>>,
    /// Where `transmit` builds frames before they are copied out.
    scratch: Vec<u8>,
    max_frame: usize,
    /// Offer TX checksum offload (the link finishes partial checksums).
    checksum_offload: bool,
    dropped: Arc<AtomicU64>,
}

impl MemIo {
    /// Two connected ends, each direction holding up to `capacity` frames of
    /// at most `max_frame` bytes.
    pub fn pair(capacity: usize, max_frame: usize) -> (MemIo, MemIo) {
        let (a_tx, b_rx) = bounded(capacity);
        let (b_tx, a_rx) = bounded(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let end = |tx, rx| MemIo {
            tx,
            rx,
            pending: None,
            scratch: vec![0u8; max_frame],
            max_frame,
            checksum_offload: false,
            dropped: dropped.clone(),
        };
        (end(a_tx, a_rx), end(b_tx, b_rx))
    }

    /// Offers TX checksum offload (or not): builders may leave checksums
    /// partial and this end finishes them, as a NIC would.
    pub fn with_checksum_offload(mut self, on: bool) -> MemIo {
        self.checksum_offload = on;
        self
    }

    /// Frames dropped because the other end's queue was full (both ends).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PacketIo for MemIo {
    fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    fn recv<F: FnMut(&mut [u8])>(&mut self, max: u32, mut f: F) -> u32 {
        let mut n = 0;
        while n < max {
            let Some(mut frame) = self.pending.take().or_else(|| self.rx.try_recv().ok()) else {
                break;
            };
            f(&mut frame);
            n += 1;
        }
        n
    }

    fn rx_waiting(&mut self) -> bool {
        self.pending.is_some() || !self.rx.is_empty()
    }

    fn tx_checksum_offload(&self) -> bool {
        self.checksum_offload
    }

    fn transmit<T, F>(&mut self, max: u32, mut build: F) -> u32
    where
        T: Into<TxFrame>,
        F: FnMut(&mut [u8]) -> Option<T>,
    {
        let mut n = 0;
        while n < max {
            let Some(frame) = build(&mut self.scratch)
                .map(Into::into)
                .filter(|f| f.len <= self.max_frame)
            else {
                break;
            };
            let len = frame.len;
            // The link plays the device: it finishes a checksum left to it
            // (one pointing outside the frame is left as it is, as a device
            // would refuse it).
            if let Some(c) = frame.partial_checksum {
                c.finish(&mut self.scratch[..len]);
            }
            match self.tx.try_send(self.scratch[..len].to_vec()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            n += 1;
        }
        n
    }

    fn flush(&mut self) {}

    fn wait(&mut self, timeout: Duration) -> bool {
        if self.pending.is_some() || !self.rx.is_empty() {
            return true;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(frame) => {
                self.pending = Some(frame);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_the_pair_in_order() {
        let (mut a, mut b) = MemIo::pair(8, 64);
        let mut k = 0u8;
        assert_eq!(
            a.transmit(3, |buf| {
                k += 1;
                buf[0] = k;
                Some(1)
            }),
            3
        );
        let mut got = Vec::new();
        assert!(b.wait(Duration::from_millis(10)));
        b.recv(10, |f| got.push(f[0]));
        assert_eq!(got, [1, 2, 3]);
        assert!(!b.wait(Duration::from_millis(1)));
    }

    #[test]
    fn a_full_direction_drops_and_counts() {
        let (mut a, _b) = MemIo::pair(2, 64);
        a.transmit(5, |_| Some(10));
        assert_eq!(a.dropped(), 3);
    }
}
