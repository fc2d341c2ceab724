//! The AF_XDP ring layer: UMEM, fill / completion / RX / TX rings, binding,
//! wakeups and statistics, on libc alone (linux/if_xdp.h).
//!
//! This is the only module of Shunt with `unsafe` code: shared-memory rings
//! ([`ring`]), the UMEM mapping and the socket syscalls ([`sys`]), and the frame
//! slices handed out by [`Xsk`]. Every block carries a `// Safety:` line. The
//! ring index logic is unit-tested over ordinary memory, without a kernel.
//!
//! We do not use libxdp or xsk-rs: libxdp's default program redirects every
//! frame of a queue (ARP included), and xsk-rs pins a libbpf-sys that clashes
//! with libbpf-rs 0.27. The hot path here is a few hundred lines we control.

mod netlink;
pub mod ring;
mod socket;
mod sys;

use std::fmt;
use std::io;
use std::time::Duration;

pub use socket::{TX_METADATA_LEN, XDP_PACKET_HEADROOM, Xsk};

/// How to bind a socket to its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, copy mode otherwise.
    Auto,
    /// Zero-copy only; fail if the driver cannot.
    ZeroCopy,
    /// Copy mode only.
    Copy,
}

/// How a socket ended up bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundMode {
    ZeroCopy,
    /// Copy mode; with [`BindMode::Auto`], the errno of the zero-copy refusal.
    Copy {
        zero_copy_refused: Option<i32>,
    },
}

impl fmt::Display for BoundMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundMode::ZeroCopy => f.write_str("zero-copy"),
            BoundMode::Copy {
                zero_copy_refused: None,
            } => f.write_str("copy"),
            BoundMode::Copy {
                zero_copy_refused: Some(e),
            } => {
                write!(
                    f,
                    "copy (zero-copy refused: {})",
                    io::Error::from_raw_os_error(*e)
                )
            }
        }
    }
}

/// Whether a socket asks the kernel to finish TCP/UDP checksums on transmit
/// (AF_XDP TX metadata, Documentation/networking/xsk-tx-metadata.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxChecksumOffload {
    /// Shunt writes every checksum itself.
    Off,
    /// Offload when the device advertises it (`xsk-features` has
    /// `tx-checksum`, read through the netdev netlink family); otherwise,
    /// or when that cannot be read, Shunt writes checksums itself and
    /// [`Xsk::tx_checksum`] says why. Only the feature bit is trusted: in
    /// copy mode the kernel accepts a request on any device, but hands it
    /// on as a CHECKSUM_PARTIAL skb, and veth delivers that unfinished to
    /// the peer (xdp-prog/tests/tx_checksum.rs).
    #[default]
    Auto,
    /// The kernel computes each checksum on the CPU in its copy path
    /// (`XDP_UMEM_TX_SW_CSUM`): for tests and measurements on devices that
    /// cannot offload (veth). Copy mode only ("only works in XDP_COPY mode",
    /// include/uapi/linux/if_xdp.h): refused with [`BindMode::ZeroCopy`], and
    /// [`BindMode::Auto`] binds in copy mode.
    KernelSoftware,
}

/// Who finishes transport checksums for a bound socket, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxChecksum {
    /// Shunt computes full checksums; the reason says why not the device.
    Shunt(NoOffload),
    /// The device, through TX metadata (`xsk-features` has `tx-checksum`).
    Device,
    /// The kernel, on the CPU, in its copy path (`XDP_UMEM_TX_SW_CSUM`).
    KernelSoftware,
}

/// Why a socket does not offload checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoOffload {
    /// [`TxChecksumOffload::Off`].
    Configured,
    /// The device does not advertise `tx-checksum` (the `xsk-features`
    /// bits it has are given).
    DeviceLacks { xsk_features: u64 },
    /// The features could not be read.
    Undetected(String),
    /// The kernel refused a UMEM with TX metadata (errno).
    MetadataRefused(i32),
}

impl TxChecksum {
    /// Whether frames may leave with a checksum for the kernel or device to
    /// finish.
    pub fn offloaded(&self) -> bool {
        !matches!(self, TxChecksum::Shunt(_))
    }
}

impl fmt::Display for TxChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxChecksum::Device => f.write_str("offloaded to the device"),
            TxChecksum::KernelSoftware => {
                f.write_str("computed by the kernel in software (XDP_UMEM_TX_SW_CSUM)")
            }
            TxChecksum::Shunt(NoOffload::Configured) => f.write_str("in Shunt (offload off)"),
            TxChecksum::Shunt(NoOffload::DeviceLacks { xsk_features }) => write!(
                f,
                "in Shunt (the device has no AF_XDP TX checksum offload: xsk-features {xsk_features:#x})"
            ),
            TxChecksum::Shunt(NoOffload::Undetected(why)) => write!(
                f,
                "in Shunt (AF_XDP TX checksum offload not detected: {why})"
            ),
            TxChecksum::Shunt(NoOffload::MetadataRefused(e)) => write!(
                f,
                "in Shunt (the kernel refused a UMEM with TX metadata: {})",
                io::Error::from_raw_os_error(*e)
            ),
        }
    }
}

/// Sizes and modes of one socket.
#[derive(Debug, Clone)]
pub struct XskConfig {
    /// Bytes per UMEM frame: 2048 or 4096 (larger aligned chunks need hugepages).
    pub frame_size: u32,
    /// Frames in the UMEM, shared between RX and TX.
    pub frame_count: u32,
    /// Entries per ring; powers of two.
    pub fill_ring: u32,
    pub comp_ring: u32,
    pub rx_ring: u32,
    pub tx_ring: u32,
    /// Frames kept lent to the kernel for RX; `None`: half the UMEM, at most the
    /// fill ring. The rest is for TX.
    pub rx_frames: Option<u32>,
    pub bind: BindMode,
    /// Ask the kernel to set need_wakeup flags (`XDP_USE_NEED_WAKEUP`) so that
    /// syscalls are made only when it asks.
    pub need_wakeup: bool,
    /// How long to retry a bind that fails with EBUSY (queue still held by a
    /// socket that just closed).
    pub bind_retry: Duration,
    /// Busy polling of the queue's NAPI from `recv` when the RX ring is empty
    /// (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL` in microseconds,
    /// `SO_BUSY_POLL_BUDGET`). Without it, the kernel runs the driver's (or
    /// veth's) receive processing only when the CPU leaves userspace: a
    /// spinning shard then waits for its own next block or a timer tick
    /// (milliseconds) before frames reach its ring. `None`: off.
    pub busy_poll: Option<BusyPoll>,
    /// Transport checksums on transmit: by Shunt, the device or the kernel.
    pub tx_checksum: TxChecksumOffload,
}

/// Busy-polling settings of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    pub usecs: u32,
    pub budget: u32,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll {
            usecs: 20,
            budget: 64,
        }
    }
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_size: 2048,
            frame_count: 4096,
            fill_ring: 2048,
            comp_ring: 2048,
            rx_ring: 2048,
            tx_ring: 2048,
            rx_frames: None,
            bind: BindMode::Auto,
            need_wakeup: true,
            bind_retry: Duration::from_millis(500),
            busy_poll: None,
            tx_checksum: TxChecksumOffload::Auto,
        }
    }
}

impl XskConfig {
    fn rx_frames(&self) -> u32 {
        self.rx_frames
            .unwrap_or(self.frame_count / 2)
            .min(self.fill_ring)
            .min(self.frame_count)
    }

    fn validate(&self) -> Result<(), Error> {
        if !matches!(self.frame_size, 2048 | 4096) {
            return Err(Error::Config("frame_size must be 2048 or 4096"));
        }
        if self.frame_count == 0 || self.frame_count > (1 << 20) {
            return Err(Error::Config("frame_count must be 1..=1048576"));
        }
        if self.tx_checksum == TxChecksumOffload::KernelSoftware && self.bind == BindMode::ZeroCopy
        {
            // include/uapi/linux/if_xdp.h: XDP_UMEM_TX_SW_CSUM "only works in
            // XDP_COPY mode"; a zero-copy driver would ignore it and send
            // the pseudo-header sum as the checksum.
            return Err(Error::Config(
                "kernel-software TX checksums need copy mode, not zero-copy",
            ));
        }
        for r in [self.fill_ring, self.comp_ring, self.rx_ring, self.tx_ring] {
            if !r.is_power_of_two() || r > (1 << 16) {
                return Err(Error::Config(
                    "ring sizes must be powers of two up to 65536",
                ));
            }
        }
        Ok(())
    }
}

/// Why a socket could not be made or bound.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid AF_XDP configuration: {0}")]
    Config(&'static str),
    #[error("creating an AF_XDP socket failed: {0}{hint}", hint = socket_hint(.0))]
    Socket(#[source] io::Error),
    #[error("AF_XDP setup step {0} failed: {1}")]
    Setup(&'static str, #[source] io::Error),
    #[error("binding AF_XDP to ifindex {ifindex} queue {queue} failed: {source}{hint}")]
    Bind {
        ifindex: u32,
        queue: u32,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
}

fn socket_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (needs root or CAP_NET_RAW)",
        Some(libc::EAFNOSUPPORT) => " (this kernel has no AF_XDP: CONFIG_XDP_SOCKETS)",
        _ => "",
    }
}

impl Error {
    fn from_socket(e: io::Error) -> Error {
        Error::Socket(e)
    }

    fn bind(ifindex: u32, queue: u32, source: io::Error) -> Error {
        let hint = match source.raw_os_error() {
            Some(libc::EINVAL) => " (no such queue on this interface, or bad flags)",
            Some(libc::EBUSY) => " (another AF_XDP socket holds this queue)",
            Some(libc::EOPNOTSUPP) => " (the driver cannot do zero-copy; use copy or auto mode)",
            Some(libc::ENODEV) | Some(libc::ENXIO) => " (no such interface in this namespace)",
            _ => "",
        };
        Error::Bind {
            ifindex,
            queue,
            hint,
            source,
        }
    }
}

/// Userspace counters of one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Frames given twice because the steering program's fault injection
    /// marked them.
    pub rx_duplicated: u64,
    /// RX descriptors pointing outside the UMEM or across a chunk (dropped).
    pub rx_bad_desc: u64,
    pub rx_wakeups: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub tx_kicks: u64,
    /// Kicks refused for now (EAGAIN, EBUSY, ENOBUFS): retried later.
    pub tx_kick_busy: u64,
    pub tx_kick_errors: u64,
    /// transmit() found fewer free frames than asked for.
    pub tx_no_frame: u64,
    /// transmit() found the TX ring fuller than asked for.
    pub tx_ring_full: u64,
    pub tx_bad_completion: u64,
    /// Frames whose checksum the device or kernel was asked to finish.
    pub tx_csum_offloaded: u64,
    /// Frames left partial by their builder that this socket finished in
    /// software (offload off, or a request the kernel would refuse).
    pub tx_csum_software: u64,
    /// Frames whose partial checksum pointed outside the frame (sent as
    /// they were: a builder bug).
    pub tx_csum_bad_request: u64,
    pub polls: u64,
    /// recvfrom calls that busy-polled the queue.
    pub busy_polls: u64,
}

/// The kernel's counters for one socket (`struct xdp_statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelXskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}
