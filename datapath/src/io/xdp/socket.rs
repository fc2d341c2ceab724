//! One AF_XDP socket with its own UMEM: the packet I/O of one queue.
//!
//! Frame ownership is the invariant everything here keeps: each UMEM frame is
//! in exactly one place at a time, either our free list, or lent to the kernel
//! (fill ring, in flight, RX ring), or queued for transmit (TX ring, in flight,
//! completion ring). `free + lent_rx + lent_tx == frame_count` always holds,
//! and a descriptor the kernel hands back with an address we did not lend is
//! counted and ignored, never trusted.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::ring::{ConsRing, ProdRing, RingLayout, XdpDesc};
use super::sys::{self, Mmap};
use super::{
    BindMode, BoundMode, Error, NoOffload, TxChecksum, TxChecksumOffload, XskConfig, XskStats,
    netlink,
};
use crate::wire::{PartialChecksum, TxFrame};

/// The metadata word the steering program writes in front of each frame
/// (mirrors xdp-prog's steer.h; datapath does not depend on xdp-prog).
const META_MAGIC: u32 = 0x5348_0000;
const META_MAGIC_MASK: u32 = 0xffff_0000;
const META_DUPLICATE: u32 = 0x1;

/// `XDP_PACKET_HEADROOM`: where the kernel puts RX data in a chunk.
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// Bytes of TX metadata in front of every TX frame when the UMEM has them:
/// `sizeof(struct xsk_tx_metadata)` (include/uapi/linux/if_xdp.h, Linux
/// 6.8+): a u64 `flags`, then the request: u16 `csum_start`, u16
/// `csum_offset`, 4 bytes of padding, u64 `launch_time` (6.14+). The kernel
/// wants a multiple of 8 below 256 (net/xdp/xdp_umem.c `xdp_umem_reg`) and
/// finds the struct at `desc->addr - tx_metadata_len`
/// (Documentation/networking/xsk-tx-metadata.rst), in the same chunk.
pub const TX_METADATA_LEN: u32 = 24;
const _: () = assert!(
    TX_METADATA_LEN.is_multiple_of(8)
        && TX_METADATA_LEN < 256
        && TX_METADATA_LEN < XDP_PACKET_HEADROOM,
    "a length xdp_umem_reg accepts, in front of the TX data"
);
/// Field offsets in `struct xsk_tx_metadata` (native byte order).
const TXMD_FLAGS: std::ops::Range<usize> = 0..8;
const TXMD_CSUM_START: std::ops::Range<usize> = 8..10;
const TXMD_CSUM_OFFSET: std::ops::Range<usize> = 10..12;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct KernelStats {
    rx_dropped: u64,
    rx_invalid_descs: u64,
    tx_invalid_descs: u64,
    rx_ring_full: u64,
    rx_fill_ring_empty_descs: u64,
    tx_ring_empty_descs: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct XdpOptions {
    flags: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

/// An AF_XDP socket bound to one queue, with its UMEM and four rings.
#[derive(Debug)]
pub struct Xsk {
    // Rings before their mappings, so they drop first.
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    _ring_maps: [Mmap; 4],
    umem: Mmap,
    fd: OwnedFd,
    free: Vec<u64>,
    lent_rx: u32,
    lent_tx: u32,
    rx_target: u32,
    frame_size: u32,
    frame_count: u32,
    mode: BoundMode,
    ifindex: u32,
    queue: u32,
    busy_poll: bool,
    /// Who finishes transport checksums; with an offload, every TX frame has
    /// [`TX_METADATA_LEN`] bytes of metadata in front of it.
    tx_checksum: TxChecksum,
    stats: XskStats,
}

impl Xsk {
    /// Creates a socket with its own UMEM and binds it to `(ifindex, queue)` in
    /// the calling thread's network namespace.
    pub fn bind(ifindex: u32, queue: u32, cfg: &XskConfig) -> Result<Xsk, Error> {
        cfg.validate()?;
        let fd = sys::xsk_socket().map_err(Error::from_socket)?;
        let umem_len = cfg.frame_size as usize * cfg.frame_count as usize;
        let umem = Mmap::anonymous(umem_len).map_err(|e| Error::Setup("mmap UMEM", e))?;
        let tx_checksum = register_umem(fd.as_fd(), &umem, ifindex, cfg)?;
        for (name, size, what) in [
            (
                libc::XDP_UMEM_FILL_RING,
                cfg.fill_ring,
                "XDP_UMEM_FILL_RING",
            ),
            (
                libc::XDP_UMEM_COMPLETION_RING,
                cfg.comp_ring,
                "XDP_UMEM_COMPLETION_RING",
            ),
            (libc::XDP_RX_RING, cfg.rx_ring, "XDP_RX_RING"),
            (libc::XDP_TX_RING, cfg.tx_ring, "XDP_TX_RING"),
        ] {
            sys::set_xdp_opt(fd.as_fd(), name, &size).map_err(|e| Error::Setup(what, e))?;
        }
        let (off, _) = sys::get_xdp_opt::<MmapOffsets>(fd.as_fd(), libc::XDP_MMAP_OFFSETS)
            .map_err(|e| Error::Setup("XDP_MMAP_OFFSETS", e))?;

        let map_ring = |o: &RingOffset, size: u32, entry: usize, pgoff: u64, what| {
            let len = o.desc as usize + size as usize * entry;
            let m = Mmap::ring(fd.as_fd(), len, pgoff).map_err(|e| Error::Setup(what, e))?;
            let layout = RingLayout {
                producer: m
                    .at(o.producer, 4)
                    .map_err(|e| Error::Setup(what, e))?
                    .cast(),
                consumer: m
                    .at(o.consumer, 4)
                    .map_err(|e| Error::Setup(what, e))?
                    .cast(),
                flags: m.at(o.flags, 4).map_err(|e| Error::Setup(what, e))?.cast(),
                entries: m
                    .at(o.desc, size as usize * entry)
                    .map_err(|e| Error::Setup(what, e))?,
                size,
            };
            Ok::<_, Error>((m, layout))
        };
        let (fill_map, fill_l) = map_ring(
            &off.fr,
            cfg.fill_ring,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            "mmap fill ring",
        )?;
        let (comp_map, comp_l) = map_ring(
            &off.cr,
            cfg.comp_ring,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            "mmap completion ring",
        )?;
        let (rx_map, rx_l) = map_ring(
            &off.rx,
            cfg.rx_ring,
            16,
            libc::XDP_PGOFF_RX_RING as u64,
            "mmap RX ring",
        )?;
        let (tx_map, tx_l) = map_ring(
            &off.tx,
            cfg.tx_ring,
            16,
            libc::XDP_PGOFF_TX_RING as u64,
            "mmap TX ring",
        )?;

        // Safety: each layout points into its own live mapping (checked by
        // Mmap::at), which this Xsk keeps until after the rings drop (field
        // order); the kernel is the only other party and plays the other role.
        let (fill, comp, rx, tx) = unsafe {
            (
                ProdRing::new(fill_l),
                ConsRing::new(comp_l),
                ConsRing::new(rx_l),
                ProdRing::new(tx_l),
            )
        };

        let bind = match (cfg.tx_checksum, cfg.bind) {
            // XDP_UMEM_TX_SW_CSUM only works in copy mode (if_xdp.h).
            (TxChecksumOffload::KernelSoftware, BindMode::Auto) => BindMode::Copy,
            (_, bind) => bind,
        };
        let mode = bind_with_retry(fd.as_fd(), ifindex, queue, bind, cfg)?;
        // Busy polling is best effort: a kernel without it, or a missing
        // CAP_NET_ADMIN for the budget, leaves the socket working without.
        let busy_poll = cfg.busy_poll.filter(|bp| {
            let fd = fd.as_fd();
            sys::set_socket_int(fd, sys::SO_PREFER_BUSY_POLL, 1).is_ok()
                && sys::set_socket_int(fd, sys::SO_BUSY_POLL, bp.usecs as i32).is_ok()
                && sys::set_socket_int(fd, sys::SO_BUSY_POLL_BUDGET, bp.budget as i32).is_ok()
        });

        let free = (0..cfg.frame_count as u64)
            .rev()
            .map(|i| i * cfg.frame_size as u64)
            .collect();
        let mut xsk = Xsk {
            fill,
            comp,
            rx,
            tx,
            _ring_maps: [fill_map, comp_map, rx_map, tx_map],
            umem,
            fd,
            free,
            lent_rx: 0,
            lent_tx: 0,
            rx_target: cfg.rx_frames(),
            frame_size: cfg.frame_size,
            frame_count: cfg.frame_count,
            mode,
            ifindex,
            queue,
            busy_poll: busy_poll.is_some(),
            tx_checksum,
            stats: XskStats::default(),
        };
        xsk.refill();
        Ok(xsk)
    }

    /// The socket, for the XSK map.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    pub fn mode(&self) -> BoundMode {
        self.mode
    }
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    pub fn queue(&self) -> u32 {
        self.queue
    }
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }
    /// Largest frame [`Xsk::transmit`] can build.
    pub fn max_tx_len(&self) -> usize {
        (self.frame_size - XDP_PACKET_HEADROOM) as usize
    }
    /// Frames on our free list now.
    pub fn frames_free(&self) -> usize {
        self.free.len()
    }
    /// Who finishes transport checksums on transmit, and why (for the log).
    pub fn tx_checksum(&self) -> &TxChecksum {
        &self.tx_checksum
    }
    /// Userspace counters of this socket.
    pub fn stats(&self) -> XskStats {
        self.stats
    }

    /// Lends free frames to the kernel for RX until `rx_target` are lent or the
    /// fill ring is full; returns how many were added.
    pub fn refill(&mut self) -> u32 {
        let want = self
            .rx_target
            .saturating_sub(self.lent_rx)
            .min(self.free.len() as u32);
        if want == 0 {
            return 0;
        }
        let (n, first) = self.fill.reserve(want);
        for i in 0..n {
            let addr = self.free.pop().expect("n <= free.len()");
            self.fill.write(first.wrapping_add(i), addr);
        }
        self.fill.submit(n);
        self.lent_rx += n;
        if n > 0 && self.fill.needs_wakeup() {
            self.stats.rx_wakeups += 1;
            let _ = sys::kick_rx(self.fd.as_fd());
        }
        n
    }

    /// Whether the RX ring holds frames (one load of its producer index).
    /// With busy polling the kernel moves frames only when `recv` asks, so
    /// the answer is always yes.
    pub fn rx_waiting(&mut self) -> bool {
        self.busy_poll || self.rx.available(1) > 0
    }

    /// Receives up to `max` frames, calling `f` with each frame's bytes (which
    /// it may modify in place). A frame the steering program marked for
    /// duplication is given to `f` twice. Frames go back to the free list and
    /// the fill ring is topped up. Returns the number of frames taken from the
    /// RX ring.
    pub fn recv<F: FnMut(&mut [u8])>(&mut self, max: u32, mut f: F) -> u32 {
        if self.busy_poll && self.rx.available(1) == 0 {
            // Run the queue's receive processing here and now (busy poll).
            self.stats.busy_polls += 1;
            let _ = sys::kick_rx(self.fd.as_fd());
        }
        let (n, first) = self.rx.peek(max);
        for i in 0..n {
            let desc = self.rx.read(first.wrapping_add(i));
            let chunk = chunk_base(desc.addr, self.frame_size);
            match chunk_mut(
                &mut self.umem,
                self.frame_size,
                desc.addr,
                desc.len as usize,
            ) {
                Some(frame) => {
                    let dup = take_meta(frame.0, frame.1) & META_DUPLICATE != 0;
                    let data = &mut frame.0[frame.1..];
                    f(data);
                    if dup {
                        f(data);
                        self.stats.rx_duplicated += 1;
                    }
                    self.stats.rx_frames += 1;
                    self.stats.rx_bytes += desc.len as u64;
                }
                None => self.stats.rx_bad_desc += 1,
            }
            if chunk < self.umem.len() as u64 {
                self.free.push(chunk);
            }
        }
        self.rx.release(n);
        self.lent_rx -= n.min(self.lent_rx);
        self.refill();
        n
    }

    /// Builds and queues up to `max` frames: `build` gets a frame buffer of
    /// [`Xsk::max_tx_len`] bytes and returns the length to send (or a
    /// [`TxFrame`] whose checksum is left partial), or `None` to stop.
    /// Returns how many were queued. Call [`Xsk::flush`] (or [`Xsk::kick`])
    /// to make the kernel send them.
    ///
    /// A partial checksum is requested from the kernel when this socket
    /// offloads ([`Xsk::tx_checksum`]), and finished here otherwise: a frame
    /// never leaves with only its pseudo-header sum.
    pub fn transmit<T, F>(&mut self, max: u32, mut build: F) -> u32
    where
        T: Into<TxFrame>,
        F: FnMut(&mut [u8]) -> Option<T>,
    {
        self.reclaim();
        let want = max.min(self.free.len() as u32);
        if want < max {
            self.stats.tx_no_frame += 1;
        }
        let (n, first) = self.tx.reserve(want);
        if n < want {
            self.stats.tx_ring_full += 1;
        }
        let offload = self.tx_checksum.offloaded();
        let mut queued = 0;
        while queued < n {
            let addr = *self.free.last().expect("n <= free.len()");
            let data_addr = addr + XDP_PACKET_HEADROOM as u64;
            let cap = self.max_tx_len();
            let Some((chunk, off)) = chunk_mut(&mut self.umem, self.frame_size, data_addr, cap)
            else {
                break;
            };
            let Some(frame) = build(&mut chunk[off..])
                .map(Into::into)
                .filter(|f| f.len > 0 && f.len <= cap)
            else {
                break;
            };
            let len = frame.len;
            let options = match frame.partial_checksum {
                None => 0,
                Some(c) => checksum_frame(&mut self.stats, offload, chunk, off, len, c),
            };
            self.free.pop();
            self.tx.write(
                first.wrapping_add(queued),
                XdpDesc {
                    addr: data_addr,
                    len: len as u32,
                    options,
                },
            );
            self.stats.tx_bytes += len as u64;
            queued += 1;
        }
        self.tx.cancel(n - queued);
        self.tx.submit(queued);
        self.lent_tx += queued;
        self.stats.tx_frames += queued as u64;
        queued
    }

    /// Sends one frame by copying `frame` into a UMEM frame; false if no frame
    /// or TX slot is free, or the frame is too long.
    pub fn send_copy(&mut self, frame: &[u8]) -> bool {
        self.transmit(1, |buf| {
            let b = buf.get_mut(..frame.len())?;
            b.copy_from_slice(frame);
            Some(frame.len())
        }) == 1
    }

    /// Tells the kernel there is TX work, if it asked to be told. In copy mode
    /// it always asks, and each kick sends at most a few dozen frames.
    pub fn kick(&mut self) {
        if self.tx.needs_wakeup() {
            self.stats.tx_kicks += 1;
            if let Err(e) = sys::kick_tx(self.fd.as_fd()) {
                match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) => {
                        self.stats.tx_kick_busy += 1
                    }
                    _ => self.stats.tx_kick_errors += 1,
                }
            }
        }
    }

    /// Kicks until the kernel has taken every queued TX descriptor (bounded by
    /// `max_kicks`), then reclaims completions. Returns frames still queued.
    pub fn flush(&mut self, max_kicks: u32) -> u32 {
        for _ in 0..max_kicks {
            if self.tx.outstanding() == 0 {
                break;
            }
            self.kick();
        }
        self.reclaim();
        self.tx.outstanding()
    }

    /// Takes completed TX frames back onto the free list.
    pub fn reclaim(&mut self) -> u32 {
        let (n, first) = self.comp.peek(self.frame_count);
        for i in 0..n {
            let addr = self.comp.read(first.wrapping_add(i));
            let chunk = chunk_base(addr, self.frame_size);
            if chunk < self.umem.len() as u64 {
                self.free.push(chunk);
            } else {
                self.stats.tx_bad_completion += 1;
            }
        }
        self.comp.release(n);
        self.lent_tx -= n.min(self.lent_tx);
        n
    }

    /// Frames sent but not yet completed.
    pub fn tx_in_flight(&self) -> u32 {
        self.lent_tx
    }

    /// Waits up to `timeout` for received frames (a blocking `poll()`), for
    /// shards backing off when idle. Returns whether frames are ready.
    pub fn wait_readable(&mut self, timeout: Duration) -> bool {
        if self.rx.available(1) > 0 {
            return true;
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        self.stats.polls += 1;
        sys::poll_readable(self.fd.as_fd(), ms).unwrap_or(false) || self.rx.available(1) > 0
    }

    /// The kernel's counters for this socket (`XDP_STATISTICS`).
    pub fn kernel_stats(&self) -> io::Result<super::KernelXskStats> {
        let (k, _) = sys::get_xdp_opt::<KernelStats>(self.fd.as_fd(), libc::XDP_STATISTICS)?;
        Ok(super::KernelXskStats {
            rx_dropped: k.rx_dropped,
            rx_invalid_descs: k.rx_invalid_descs,
            tx_invalid_descs: k.tx_invalid_descs,
            rx_ring_full: k.rx_ring_full,
            rx_fill_ring_empty_descs: k.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: k.tx_ring_empty_descs,
        })
    }
}

/// The start of the UMEM chunk holding `addr`. Frame sizes are powers of two
/// (2048 or 4096, checked by `XskConfig::validate`), so a mask replaces a
/// 64-bit division on every frame.
#[inline]
fn chunk_base(addr: u64, frame_size: u32) -> u64 {
    debug_assert!(frame_size.is_power_of_two());
    addr & !(u64::from(frame_size) - 1)
}

/// The chunk holding `addr..addr+len` as (chunk up to the range's end, offset
/// of addr), if the range lies inside one chunk of the UMEM.
fn chunk_mut(
    umem: &mut Mmap,
    frame_size: u32,
    addr: u64,
    len: usize,
) -> Option<(&mut [u8], usize)> {
    let fs = frame_size as u64;
    let chunk = chunk_base(addr, frame_size);
    let off = (addr - chunk) as usize;
    if chunk + fs > umem.len() as u64 || off + len > fs as usize {
        return None;
    }
    // Safety: chunk + frame_size <= umem.len(), so the range is inside the
    // mapping; the chunk is ours (returned by the kernel or on our free list,
    // so the kernel does not write it now); the &mut Mmap borrow guarantees no
    // other slice of the UMEM exists while this one lives.
    let whole =
        unsafe { std::slice::from_raw_parts_mut(umem.as_ptr().add(chunk as usize), fs as usize) };
    Some((&mut whole[..off + len], off))
}

/// Has the kernel finish checksum `c` of the frame at `chunk[off..off +
/// len]` (TX metadata in front of it; returns the descriptor option
/// `XDP_TX_METADATA`) when the socket offloads and the kernel would accept
/// the request, or finishes it here (returns no option).
fn checksum_frame(
    stats: &mut XskStats,
    offload: bool,
    chunk: &mut [u8],
    off: usize,
    len: usize,
    c: PartialChecksum,
) -> u32 {
    // net/xdp/xsk.c `xsk_skb_metadata`: a request whose field ends past
    // desc->len is EINVAL, and the copy path then leaves the descriptor at
    // the head of the TX ring for a retry that fails the same way: never
    // ask for one.
    let meta_at = off.checked_sub(TX_METADATA_LEN as usize);
    if offload
        && c.fits(len)
        && let Some(at) = meta_at
    {
        write_tx_metadata(&mut chunk[at..off], c);
        stats.tx_csum_offloaded += 1;
        return libc::XDP_TX_METADATA;
    }
    if c.finish(&mut chunk[off..off + len]) {
        stats.tx_csum_software += 1;
    } else {
        stats.tx_csum_bad_request += 1;
    }
    0
}

/// Writes a `struct xsk_tx_metadata` asking for checksum `c` into `area`
/// ([`TX_METADATA_LEN`] bytes ending at the frame's first byte). Offsets
/// count from the frame's first byte, as the kernel's `csum_start` does
/// ("Offset from desc->addr where checksumming should start", if_xdp.h).
/// The rest is zeroed: no other request, and never a stale word that the
/// RX path could take for the steering program's metadata.
fn write_tx_metadata(area: &mut [u8], c: PartialChecksum) {
    area.fill(0);
    area[TXMD_FLAGS].copy_from_slice(&u64::from(libc::XDP_TXMD_FLAGS_CHECKSUM).to_ne_bytes());
    area[TXMD_CSUM_START].copy_from_slice(&c.start.to_ne_bytes());
    area[TXMD_CSUM_OFFSET].copy_from_slice(&c.offset.to_ne_bytes());
}

/// Registers `umem` with the socket (`XDP_UMEM_REG`), with a TX metadata
/// area when checksums are offloaded, and says who finishes them.
fn register_umem(
    fd: BorrowedFd<'_>,
    umem: &Mmap,
    ifindex: u32,
    cfg: &XskConfig,
) -> Result<TxChecksum, Error> {
    let reg = |flags: u32, tx_metadata_len: u32| {
        let reg = UmemReg {
            addr: umem.as_ptr() as u64,
            len: umem.len() as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
            flags,
            tx_metadata_len,
        };
        sys::set_xdp_opt(fd, libc::XDP_UMEM_REG, &reg)
    };
    // xsk-tx-metadata.rst: newer kernels want XDP_UMEM_TX_METADATA_LEN with
    // tx_metadata_len; the first ones (6.8 to 6.10) refuse the flag with
    // EINVAL and take the length alone.
    let reg_with_metadata = |flags: u32| {
        reg(flags | libc::XDP_UMEM_TX_METADATA_LEN, TX_METADATA_LEN).or_else(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                reg(flags, TX_METADATA_LEN)
            } else {
                Err(e)
            }
        })
    };
    let plain = |why: NoOffload| {
        reg(0, 0)
            .map(|()| TxChecksum::Shunt(why))
            .map_err(|e| Error::Setup("XDP_UMEM_REG", e))
    };
    match cfg.tx_checksum {
        TxChecksumOffload::Off => plain(NoOffload::Configured),
        TxChecksumOffload::KernelSoftware => reg_with_metadata(libc::XDP_UMEM_TX_SW_CSUM)
            .map(|()| TxChecksum::KernelSoftware)
            .map_err(|e| Error::Setup("XDP_UMEM_REG with XDP_UMEM_TX_SW_CSUM (Linux 6.8+)", e)),
        TxChecksumOffload::Auto => match netlink::xsk_features(ifindex) {
            Err(e) => plain(NoOffload::Undetected(e.to_string())),
            Ok(f) if f & netlink::XSK_FLAGS_TX_CHECKSUM == 0 => {
                plain(NoOffload::DeviceLacks { xsk_features: f })
            }
            Ok(_) => match reg_with_metadata(0) {
                Ok(()) => Ok(TxChecksum::Device),
                // A UMEM registration that failed left nothing behind: try
                // again without metadata.
                Err(e) => plain(NoOffload::MetadataRefused(e.raw_os_error().unwrap_or(0))),
            },
        },
    }
}

/// Reads and clears the steering program's metadata word in front of `off`.
fn take_meta(chunk: &mut [u8], off: usize) -> u32 {
    let Some(start) = off.checked_sub(4) else {
        return 0;
    };
    let w = u32::from_ne_bytes(chunk[start..off].try_into().expect("4 bytes"));
    if w & META_MAGIC_MASK != META_MAGIC {
        return 0;
    }
    chunk[start..off].fill(0);
    w & !META_MAGIC_MASK
}

fn bind_with_retry(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    queue: u32,
    bind: BindMode,
    cfg: &XskConfig,
) -> Result<BoundMode, Error> {
    let wakeup = if cfg.need_wakeup {
        libc::XDP_USE_NEED_WAKEUP
    } else {
        0
    };
    let attempts: &[u16] = match bind {
        BindMode::Auto => &[libc::XDP_ZEROCOPY, libc::XDP_COPY],
        BindMode::ZeroCopy => &[libc::XDP_ZEROCOPY],
        BindMode::Copy => &[libc::XDP_COPY],
    };
    let deadline = Instant::now() + cfg.bind_retry;
    let mut zc_refusal = None;
    for (i, &mode) in attempts.iter().enumerate() {
        let last = i + 1 == attempts.len();
        loop {
            match sys::bind_xsk(fd, ifindex, queue, mode | wakeup) {
                Ok(()) => {
                    let (opts, _) =
                        sys::get_xdp_opt::<XdpOptions>(fd, libc::XDP_OPTIONS).unwrap_or_default();
                    return Ok(if opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 {
                        BoundMode::ZeroCopy
                    } else {
                        BoundMode::Copy {
                            zero_copy_refused: zc_refusal,
                        }
                    });
                }
                // A socket on this queue closed moments ago: the kernel frees
                // the queue asynchronously (10-20 ms on veth).
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) if !last && mode == libc::XDP_ZEROCOPY => {
                    zc_refusal = e.raw_os_error();
                    break;
                }
                Err(e) => return Err(Error::bind(ifindex, queue, e)),
            }
        }
    }
    Err(Error::bind(
        ifindex,
        queue,
        io::Error::from_raw_os_error(libc::EINVAL),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_word_is_read_once_and_cleared() {
        let mut chunk = vec![0u8; 64];
        chunk[28..32].copy_from_slice(&(META_MAGIC | META_DUPLICATE).to_ne_bytes());
        assert_eq!(take_meta(&mut chunk, 32), META_DUPLICATE);
        assert_eq!(take_meta(&mut chunk, 32), 0, "cleared after reading");
    }

    #[test]
    fn tx_metadata_length_is_one_the_kernel_accepts() {
        // net/xdp/xdp_umem.c: tx_metadata_len < 256 and a multiple of 8;
        // at least the struct the kernel reads (libc's copy predates
        // launch_time, hence 16 bytes there and 24 here).
        // (The kernel's own bounds are checked at compile time, beside the
        // constant.)
        assert!(TX_METADATA_LEN as usize >= std::mem::size_of::<libc::xsk_tx_metadata>());
    }

    #[test]
    fn tx_metadata_fields_sit_where_the_kernel_reads_them() {
        // Offsets as in libc's `struct xsk_tx_metadata`: flags first, then
        // the request union with csum_start and csum_offset.
        let union_at = std::mem::offset_of!(libc::xsk_tx_metadata, xsk_tx_metadata_union);
        assert_eq!(TXMD_FLAGS, 0..union_at);
        let start_at = union_at + std::mem::offset_of!(libc::xsk_tx_metadata_request, csum_start);
        let offset_at = union_at + std::mem::offset_of!(libc::xsk_tx_metadata_request, csum_offset);
        assert_eq!(TXMD_CSUM_START, start_at..start_at + 2);
        assert_eq!(TXMD_CSUM_OFFSET, offset_at..offset_at + 2);

        let mut area = [0xffu8; TX_METADATA_LEN as usize];
        write_tx_metadata(
            &mut area,
            PartialChecksum {
                start: 34,
                offset: 16,
            },
        );
        let mut expect = [0u8; 24];
        expect[0..8].copy_from_slice(&2u64.to_ne_bytes()); // XDP_TXMD_FLAGS_CHECKSUM
        expect[8..10].copy_from_slice(&34u16.to_ne_bytes());
        expect[10..12].copy_from_slice(&16u16.to_ne_bytes());
        assert_eq!(area, expect, "everything else zeroed (no launch time)");
        assert_eq!(u64::from(libc::XDP_TXMD_FLAGS_CHECKSUM), 2);
    }

    /// A chunk with a 60-byte frame at the TX data offset, its field (34+16)
    /// holding a made-up pseudo-header sum.
    fn chunk_with_frame() -> (Vec<u8>, usize, usize) {
        let off = XDP_PACKET_HEADROOM as usize;
        let mut chunk = vec![0x11u8; 2048];
        for (i, b) in chunk[off..off + 60].iter_mut().enumerate() {
            *b = i as u8;
        }
        (chunk, off, 60)
    }

    const TCP_CSUM: PartialChecksum = PartialChecksum {
        start: 34,
        offset: 16,
    };

    #[test]
    fn offloaded_frame_gets_metadata_in_front_and_the_option() {
        let (mut chunk, off, len) = chunk_with_frame();
        let before = chunk[off..off + len].to_vec();
        let mut stats = XskStats::default();
        let options = checksum_frame(&mut stats, true, &mut chunk, off, len, TCP_CSUM);
        assert_eq!(options, libc::XDP_TX_METADATA);
        assert_eq!(
            &chunk[off..off + len],
            &before[..],
            "frame left to the kernel"
        );
        // Documentation/networking/xsk-tx-metadata.rst: the metadata ends
        // at desc->addr (here, the frame's first byte).
        let meta = &chunk[off - TX_METADATA_LEN as usize..off];
        assert_eq!(&meta[TXMD_CSUM_START], &34u16.to_ne_bytes());
        assert_eq!(stats.tx_csum_offloaded, 1);
    }

    #[test]
    fn frame_without_offload_is_finished_in_software() {
        let (mut chunk, off, len) = chunk_with_frame();
        let mut expect = chunk[off..off + len].to_vec();
        assert!(TCP_CSUM.finish(&mut expect));
        let mut stats = XskStats::default();
        let options = checksum_frame(&mut stats, false, &mut chunk, off, len, TCP_CSUM);
        assert_eq!(options, 0);
        assert_eq!(&chunk[off..off + len], &expect[..]);
        assert!(
            chunk[..off].iter().all(|&b| b == 0x11),
            "no metadata written"
        );
        assert_eq!(stats.tx_csum_software, 1);
    }

    #[test]
    fn request_the_kernel_would_refuse_is_never_sent() {
        // The field ends past the frame: the kernel's copy path would fail
        // this descriptor with EINVAL over and over (xsk_skb_metadata).
        let (mut chunk, off, _) = chunk_with_frame();
        let mut stats = XskStats::default();
        let options = checksum_frame(&mut stats, true, &mut chunk, off, 51, TCP_CSUM);
        assert_eq!(options, 0);
        assert_eq!(stats.tx_csum_bad_request, 1);
        assert_eq!(stats.tx_csum_offloaded, 0);
    }

    #[test]
    fn bytes_without_the_magic_are_not_metadata() {
        let mut chunk = vec![0xffu8; 64];
        assert_eq!(take_meta(&mut chunk, 32), 0);
        assert_eq!(take_meta(&mut chunk, 2), 0, "no room for a word");
        assert!(chunk.iter().all(|&b| b == 0xff), "untouched");
    }
}
