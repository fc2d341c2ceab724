//! Shunt's XDP steering program and its typed loader.
//!
//! The program (`src/bpf/steer.bpf.c`, header comment there) redirects IPv4/TCP
//! frames for owned (address, port) pairs, and the ARP replies and requests for
//! steered addresses, to the AF_XDP socket of the queue that received them and
//! passes everything else to the kernel. This crate loads it, attaches it
//! through a BPF link (so it leaves the interface when the process dies, even
//! by SIGKILL), and gives typed access to its maps: owned ports, ARP steering,
//! the XSK map, per-CPU counters and fault injection.
//!
//! It never changes an interface beyond attaching the program, and the program
//! is detached when [`Steering`] is dropped.

mod link;
pub mod peer_fault;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, ProgramHandle};

use link::XdpLink;

/// The compiled program, embedded at build time.
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));
const PROGRAM_NAME: &str = "shunt_steer";

/// Mirrors of `steer.h`.
pub const MAX_OWNED: usize = 4096;
/// Slots in the XSK map: queues 0..MAX_QUEUES can be bound.
pub const MAX_QUEUES: u32 = 256;
/// Entries in the ARP steering map: addresses [`Steering::steer_arp`] can hold.
pub const MAX_ARP_ADDRS: usize = 256;
/// ARP steering flag: redirect replies (operation 2) for the address.
pub const ARP_REPLIES: u32 = 0x1;
/// ARP steering flag: redirect requests (operation 1) for the address.
pub const ARP_REQUESTS: u32 = 0x2;
/// One million: fault rates are in parts per million.
pub const PPM_ONE: u32 = 1_000_000;
/// High half of the metadata word in front of each redirected frame.
pub const META_MAGIC: u32 = 0x5348_0000;
/// Mask selecting [`META_MAGIC`] from a metadata word.
pub const META_MAGIC_MASK: u32 = 0xffff_0000;
/// Metadata flag: fault injection asks for this frame to be delivered twice.
pub const META_DUPLICATE: u32 = 0x1;

const CNT_MAX: u32 = 9;

/// Errors of loading, attaching and configuring the program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading the XDP program failed: {0}{hint}", hint = load_hint(.0))]
    Load(#[source] libbpf_rs::Error),
    #[error("the XDP object has no {0}")]
    Missing(&'static str),
    #[error("no network interface named {0:?} in this network namespace")]
    NoSuchInterface(String),
    #[error("attaching XDP to ifindex {ifindex} in {mode} mode failed: {source}{hint}")]
    Attach {
        ifindex: u32,
        mode: AttachedMode,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("updating the {map} map failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("queue {0} is out of range: the XSK map has {MAX_QUEUES} slots")]
    QueueOutOfRange(u32),
    #[error("fault rate {0} ppm is more than 1000000 ppm (100%)")]
    BadFaultRate(u32),
    #[error("BPF_PROG_TEST_RUN failed: {0}")]
    TestRun(#[source] libbpf_rs::Error),
}

fn load_hint(e: &libbpf_rs::Error) -> &'static str {
    load_hint_lacking(e, " (this kernel lacks BPF, BTF or XDP support)")
}

/// Why loading a BPF object may have failed; `unsupported` names what the
/// kernel may lack. Shared by the XDP and tc programs.
pub(crate) fn load_hint_lacking(e: &libbpf_rs::Error, unsupported: &'static str) -> &'static str {
    match e.kind() {
        libbpf_rs::ErrorKind::PermissionDenied => {
            " (needs root, or CAP_BPF with CAP_NET_ADMIN; if you are root, the verifier refused the program: its log is above)"
        }
        libbpf_rs::ErrorKind::Unsupported => unsupported,
        _ => "",
    }
}

/// The first of `rates` above one million ppm (100%), if any. Shared by the
/// XDP and tc fault settings.
pub(crate) fn rate_above_one(rates: [u32; 3]) -> Option<u32> {
    rates.into_iter().find(|&r| r > PPM_ONE)
}

/// The map `name` of a loaded object: `Err(None)` when the object has no
/// such map, `Err(Some(e))` when its handle could not be taken.
pub(crate) fn find_map(obj: &Object, name: &str) -> Result<MapHandle, Option<libbpf_rs::Error>> {
    let map = obj.maps().find(|m| m.name() == name).ok_or(None)?;
    MapHandle::try_from(&map).map_err(Some)
}

/// How to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) mode, falling back to generic mode if the driver refuses.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only: works on every interface, slower.
    Generic,
}

/// The mode the program actually runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedMode {
    Native,
    Generic,
}

impl AttachedMode {
    fn flags(self) -> u32 {
        match self {
            AttachedMode::Native => libbpf_rs::libbpf_sys::XDP_FLAGS_DRV_MODE,
            AttachedMode::Generic => libbpf_rs::libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
        })
    }
}

/// Counters of the program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every frame the program ran on.
    pub seen: u64,
    /// TCP frames redirected to an AF_XDP socket.
    pub redirected: u64,
    /// Frames passed to the kernel (malformed ones included).
    pub passed: u64,
    /// Passed frames that failed a bounds or sanity check.
    pub malformed: u64,
    /// Owned frames dropped because no socket is bound on their queue.
    pub redirect_failed: u64,
    /// Owned frames dropped by fault injection.
    pub fault_dropped: u64,
    /// Owned frames with one bit flipped by fault injection.
    pub fault_corrupted: u64,
    /// Owned frames marked for duplication by fault injection.
    pub fault_duplicated: u64,
    /// ARP packets redirected to an AF_XDP socket (see
    /// [`Steering::steer_arp`]). Steered ARP with no socket bound on its queue
    /// is passed to the kernel and counted in `passed` instead.
    pub arp_redirected: u64,
}

impl Counters {
    /// The change from `earlier` to `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            seen: self.seen.wrapping_sub(earlier.seen),
            redirected: self.redirected.wrapping_sub(earlier.redirected),
            passed: self.passed.wrapping_sub(earlier.passed),
            malformed: self.malformed.wrapping_sub(earlier.malformed),
            redirect_failed: self.redirect_failed.wrapping_sub(earlier.redirect_failed),
            fault_dropped: self.fault_dropped.wrapping_sub(earlier.fault_dropped),
            fault_corrupted: self.fault_corrupted.wrapping_sub(earlier.fault_corrupted),
            fault_duplicated: self.fault_duplicated.wrapping_sub(earlier.fault_duplicated),
            arp_redirected: self.arp_redirected.wrapping_sub(earlier.arp_redirected),
        }
    }

    fn slot(&mut self, idx: u32) -> &mut u64 {
        match idx {
            0 => &mut self.seen,
            1 => &mut self.redirected,
            2 => &mut self.passed,
            3 => &mut self.malformed,
            4 => &mut self.redirect_failed,
            5 => &mut self.fault_dropped,
            6 => &mut self.fault_corrupted,
            7 => &mut self.fault_duplicated,
            _ => &mut self.arp_redirected,
        }
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seen {} redirected {} arp_redirected {} passed {} (malformed {}) redirect_failed {} faults: dropped {} corrupted {} duplicated {}",
            self.seen,
            self.redirected,
            self.arp_redirected,
            self.passed,
            self.malformed,
            self.redirect_failed,
            self.fault_dropped,
            self.fault_corrupted,
            self.fault_duplicated
        )
    }
}

/// Fault injection rates in parts per million of the frames about to be
/// redirected. All zero (the default) turns injection off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub drop_ppm: u32,
    pub corrupt_ppm: u32,
    pub duplicate_ppm: u32,
}

impl Faults {
    /// No faults.
    pub const NONE: Faults = Faults {
        drop_ppm: 0,
        corrupt_ppm: 0,
        duplicate_ppm: 0,
    };

    /// Converts a percentage (0.0 to 100.0) to parts per million, clamped.
    pub fn ppm_from_percent(percent: f64) -> u32 {
        if percent.is_nan() || percent <= 0.0 {
            0
        } else if percent >= 100.0 {
            PPM_ONE
        } else {
            (percent * 10_000.0).round() as u32
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match rate_above_one([self.drop_ppm, self.corrupt_ppm, self.duplicate_ppm]) {
            Some(r) => Err(Error::BadFaultRate(r)),
            None => Ok(()),
        }
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.drop_ppm.to_ne_bytes());
        b[4..8].copy_from_slice(&self.corrupt_ppm.to_ne_bytes());
        b[8..12].copy_from_slice(&self.duplicate_ppm.to_ne_bytes());
        b
    }
}

/// The verdict of the program on a frame, as `BPF_PROG_TEST_RUN` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAction {
    Aborted,
    Drop,
    Pass,
    Tx,
    Redirect,
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(v: u32) -> Self {
        match v {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            o => XdpAction::Other(o),
        }
    }
}

/// The result of running the program once on a crafted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub action: XdpAction,
    /// The frame as the program left it (after any corruption).
    pub frame: Vec<u8>,
    /// The metadata word in front of the frame, if the program wrote one.
    pub meta: Option<u32>,
}

/// The loaded steering program, optionally attached to one interface.
pub struct Steering {
    obj: Object,
    prog: ProgramHandle,
    owned: MapHandle,
    arp_addrs: MapHandle,
    xsks: MapHandle,
    counters: MapHandle,
    faults: MapHandle,
    port_range: MapHandle,
    attached: Option<(XdpLink, u32, AttachedMode)>,
    fallback_reason: Option<String>,
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steering")
            .field("ifindex", &self.ifindex())
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

fn map_handle(obj: &Object, name: &'static str) -> Result<MapHandle, Error> {
    find_map(obj, name).map_err(|e| match e {
        None => Error::Missing(name),
        Some(source) => Error::Map { map: name, source },
    })
}

/// Looks up an interface index by name in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    nix::net::if_::if_nametoindex(name).map_err(|_| Error::NoSuchInterface(name.into()))
}

impl Steering {
    /// Loads the program and its maps without attaching it (for
    /// `BPF_PROG_TEST_RUN` or to configure maps before attaching).
    pub fn load() -> Result<Steering, Error> {
        let open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(Error::Load)?;
        let obj = open.load().map_err(Error::Load)?;
        let prog = obj
            .progs_mut()
            .find(|p| p.name() == PROGRAM_NAME)
            .ok_or(Error::Missing("shunt_steer program"))?;
        let prog = ProgramHandle::try_from(&prog).map_err(Error::Load)?;
        let owned = map_handle(&obj, "owned")?;
        let arp_addrs = map_handle(&obj, "arp_addrs")?;
        let xsks = map_handle(&obj, "xsks")?;
        let counters = map_handle(&obj, "counters")?;
        let faults = map_handle(&obj, "faults")?;
        let port_range = map_handle(&obj, "port_range")?;
        Ok(Steering {
            obj,
            prog,
            owned,
            arp_addrs,
            xsks,
            counters,
            faults,
            port_range,
            attached: None,
            fallback_reason: None,
        })
    }

    /// Loads the program and attaches it to `ifindex` (in the calling thread's
    /// network namespace). With [`AttachMode::Auto`], a refusal of native mode
    /// falls back to generic mode and [`Steering::fallback_reason`] says why.
    pub fn attach(ifindex: u32, mode: AttachMode) -> Result<Steering, Error> {
        let mut s = Steering::load()?;
        s.attach_loaded(ifindex, mode)?;
        Ok(s)
    }

    /// Attaches an already loaded program (see [`Steering::attach`]).
    pub fn attach_loaded(&mut self, ifindex: u32, mode: AttachMode) -> Result<(), Error> {
        self.detach();
        let try_mode = |m: AttachedMode| -> Result<XdpLink, Error> {
            XdpLink::create(self.prog.as_fd(), ifindex, m.flags()).map_err(|source| {
                let hint = match source.raw_os_error() {
                    Some(libc::ERANGE) => {
                        " (the MTU is too large for a non-frags XDP program; veth needs peer MTU <= 3506)"
                    }
                    Some(libc::EOPNOTSUPP) => " (the driver has no native XDP)",
                    Some(libc::EBUSY) | Some(libc::EEXIST) => {
                        " (another XDP program is attached to this interface)"
                    }
                    Some(libc::EPERM) => " (needs root or CAP_NET_ADMIN + CAP_BPF)",
                    Some(libc::ENODEV) => " (no such interface in this network namespace)",
                    _ => "",
                };
                Error::Attach { ifindex, mode: m, hint, source }
            })
        };
        let (link, got) = match mode {
            AttachMode::Native => (try_mode(AttachedMode::Native)?, AttachedMode::Native),
            AttachMode::Generic => (try_mode(AttachedMode::Generic)?, AttachedMode::Generic),
            AttachMode::Auto => match try_mode(AttachedMode::Native) {
                Ok(l) => (l, AttachedMode::Native),
                Err(native_err) => {
                    let l = try_mode(AttachedMode::Generic)?;
                    self.fallback_reason = Some(format!(
                        "native XDP refused, running in generic (skb) mode, which is slower: {native_err}"
                    ));
                    (l, AttachedMode::Generic)
                }
            },
        };
        self.attached = Some((link, ifindex, got));
        Ok(())
    }

    /// Removes the program from its interface (dropping does the same).
    pub fn detach(&mut self) {
        self.attached = None;
        self.fallback_reason = None;
    }

    /// The interface the program is attached to, if any.
    pub fn ifindex(&self) -> Option<u32> {
        self.attached.as_ref().map(|a| a.1)
    }

    /// The mode the program runs in, if attached.
    pub fn mode(&self) -> Option<AttachedMode> {
        self.attached.as_ref().map(|a| a.2)
    }

    /// Why [`AttachMode::Auto`] fell back to generic mode, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The descriptor of the BPF link, if attached.
    pub fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        self.attached.as_ref().map(|a| a.0.fd())
    }

    /// Claims `(addr, port)`: frames to it are redirected from now on.
    /// `Ipv4Addr::UNSPECIFIED` claims the port on every address.
    pub fn own(&self, addr: Ipv4Addr, port: u16) -> Result<(), Error> {
        self.owned
            .update(&owned_key(addr, port), &1u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| Error::Map {
                map: "owned",
                source,
            })
    }

    /// Claims the destination ports `lo..=hi` on `addr` (`UNSPECIFIED`: every
    /// address): the ephemeral range of Shunt's active opens, one map entry
    /// instead of thousands. `lo > hi` or `hi == 0` removes the range.
    pub fn own_port_range(&self, addr: Ipv4Addr, lo: u16, hi: u16) -> Result<(), Error> {
        let mut v = [0u8; 8];
        if lo <= hi && hi != 0 {
            v[0..4].copy_from_slice(&addr.octets());
            v[4..6].copy_from_slice(&lo.to_ne_bytes());
            v[6..8].copy_from_slice(&hi.to_ne_bytes());
        }
        self.port_range
            .update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
            .map_err(|source| Error::Map {
                map: "port_range",
                source,
            })
    }

    /// Gives `(addr, port)` back to the kernel. Not owning it is not an error.
    pub fn disown(&self, addr: Ipv4Addr, port: u16) -> Result<(), Error> {
        match self.owned.delete(&owned_key(addr, port)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Map {
                map: "owned",
                source,
            }),
        }
    }

    /// Whether `(addr, port)` is owned (exactly, not through the wildcard).
    pub fn owns(&self, addr: Ipv4Addr, port: u16) -> Result<bool, Error> {
        self.owned
            .lookup(&owned_key(addr, port), MapFlags::ANY)
            .map(|v| v.is_some())
            .map_err(|source| Error::Map {
                map: "owned",
                source,
            })
    }

    /// Steers ARP for `addr` to Shunt: with `replies`, the ARP replies whose
    /// target protocol address is `addr` (the answers to requests Shunt sent);
    /// with `requests`, the ARP requests asking for `addr`. Both false removes
    /// the entry (not having one is not an error), and ARP for `addr` goes to
    /// the kernel again.
    ///
    /// Which to use:
    /// - **Shared address** (`addr` is also configured in the kernel): replies
    ///   only. The kernel keeps answering requests for `addr`, so peers (ping,
    ///   kernel TCP) still reach it, and Shunt learns its peers' MACs from the
    ///   replies to its own requests. Caveat: the program cannot tell Shunt's
    ///   replies from the kernel's, so while this is on the kernel's own ARP
    ///   replies for `addr` go to Shunt too; the kernel then learns peers only
    ///   from their requests (and from packets they send), and its own
    ///   resolution of a silent peer can fail.
    /// - **Dedicated address** (`addr` belongs to Shunt alone, not configured
    ///   in the kernel): replies and requests. The kernel would ignore
    ///   requests for an address it does not have, so Shunt must answer them.
    ///
    /// Redirected ARP goes to the socket of the receiving queue, like owned
    /// TCP, with the same metadata word and never subject to fault injection.
    /// With no socket bound on that queue it is passed to the kernel, never
    /// dropped. At most [`MAX_ARP_ADDRS`] addresses can be steered (more is a
    /// map error).
    pub fn steer_arp(&self, addr: Ipv4Addr, replies: bool, requests: bool) -> Result<(), Error> {
        let flags = if replies { ARP_REPLIES } else { 0 } | if requests { ARP_REQUESTS } else { 0 };
        let key = addr.octets();
        let res = if flags == 0 {
            match self.arp_addrs.delete(&key) {
                Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            self.arp_addrs
                .update(&key, &flags.to_ne_bytes(), MapFlags::ANY)
        };
        res.map_err(|source| Error::Map {
            map: "arp_addrs",
            source,
        })
    }

    /// The ARP steering flags of `addr` ([`ARP_REPLIES`] | [`ARP_REQUESTS`]),
    /// 0 if it is not steered.
    pub fn arp_steering(&self, addr: Ipv4Addr) -> Result<u32, Error> {
        self.arp_addrs
            .lookup(&addr.octets(), MapFlags::ANY)
            .map(|v| {
                v.and_then(|b| b.get(..4).and_then(|b| b.try_into().ok()))
                    .map(u32::from_ne_bytes)
                    .unwrap_or(0)
            })
            .map_err(|source| Error::Map {
                map: "arp_addrs",
                source,
            })
    }

    /// Binds an AF_XDP socket to the XSK map slot of `queue`.
    pub fn bind_queue(&self, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), Error> {
        bind_xsk(&self.xsks, queue, xsk)
    }

    /// Empties the XSK map slot of `queue`.
    pub fn unbind_queue(&self, queue: u32) -> Result<(), Error> {
        unbind_xsk(&self.xsks, queue)
    }

    /// The XSK map alone, which shard threads use to register the sockets
    /// they create (the loaded program itself stays with its owner).
    pub fn xsk_registrar(&self) -> Result<XskRegistrar, Error> {
        let xsks = MapHandle::try_from(&self.xsks).map_err(|source| Error::Map {
            map: "xsks",
            source,
        })?;
        Ok(XskRegistrar { xsks })
    }

    /// Reads the counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters, Error> {
        let mut c = Counters::default();
        for idx in 0..CNT_MAX {
            *c.slot(idx) = percpu_sum(&self.counters, idx).map_err(|source| Error::Map {
                map: "counters",
                source,
            })?;
        }
        Ok(c)
    }

    /// Sets the fault-injection rates (all zero turns injection off).
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        faults.validate()?;
        self.faults
            .update(&0u32.to_ne_bytes(), &faults.to_bytes(), MapFlags::ANY)
            .map_err(|source| Error::Map {
                map: "faults",
                source,
            })
    }

    /// Runs the program once on `frame` through `BPF_PROG_TEST_RUN`, as if it
    /// had arrived on queue 0. Counters and fault injection apply as usual.
    pub fn test_run(&self, frame: &[u8]) -> Result<TestRun, Error> {
        let prog = self
            .obj
            .progs_mut()
            .find(|p| p.name() == PROGRAM_NAME)
            .ok_or(Error::Missing("shunt_steer program"))?;
        // struct xdp_md { data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex }, all u32.
        let mut ctx_in = [0u8; 24];
        ctx_in[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        let mut ctx_out = [0u8; 24];
        let mut data_out = vec![0u8; frame.len() + 256];
        let input = libbpf_rs::ProgramInput {
            data_in: Some(frame),
            data_out: Some(&mut data_out),
            context_in: Some(&mut ctx_in),
            context_out: Some(&mut ctx_out),
            ..Default::default()
        };
        let out = prog.test_run(input).map_err(Error::TestRun)?;
        let action = XdpAction::from(out.return_value);
        let data = out.data.map(|d| d.to_vec()).unwrap_or_default();
        let ctx = out.context.map(|c| c.to_vec()).unwrap_or_default();
        let field = |i: usize| -> usize {
            ctx.get(i * 4..i * 4 + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .unwrap_or(0) as usize
        };
        // On output, data and data_end are offsets from data_meta.
        let (meta_len, end) = (field(0), field(1));
        let meta = (meta_len >= 4)
            .then(|| data.get(meta_len - 4..meta_len))
            .flatten()
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes);
        let frame = data
            .get(meta_len..end.min(data.len()))
            .unwrap_or_default()
            .to_vec();
        Ok(TestRun {
            action,
            frame,
            meta,
        })
    }
}

/// A handle on the XSK map that can move to a shard's thread.
#[derive(Debug)]
pub struct XskRegistrar {
    xsks: MapHandle,
}

impl XskRegistrar {
    /// Binds an AF_XDP socket to the XSK map slot of `queue`.
    pub fn bind_queue(&self, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), Error> {
        bind_xsk(&self.xsks, queue, xsk)
    }

    /// Empties the XSK map slot of `queue`.
    pub fn unbind_queue(&self, queue: u32) -> Result<(), Error> {
        unbind_xsk(&self.xsks, queue)
    }
}

fn bind_xsk(xsks: &MapHandle, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), Error> {
    if queue >= MAX_QUEUES {
        return Err(Error::QueueOutOfRange(queue));
    }
    let fd = u32::try_from(xsk.as_raw_fd()).map_err(|_| Error::QueueOutOfRange(queue))?;
    xsks.update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .map_err(|source| Error::Map {
            map: "xsks",
            source,
        })
}

fn unbind_xsk(xsks: &MapHandle, queue: u32) -> Result<(), Error> {
    if queue >= MAX_QUEUES {
        return Err(Error::QueueOutOfRange(queue));
    }
    match xsks.delete(&queue.to_ne_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Map {
            map: "xsks",
            source,
        }),
    }
}

/// Slot `idx` of a per-CPU array of u64 counters, summed over CPUs.
pub(crate) fn percpu_sum(map: &MapHandle, idx: u32) -> Result<u64, libbpf_rs::Error> {
    let per_cpu = map
        .lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)?
        .unwrap_or_default();
    Ok(per_cpu
        .iter()
        .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
        .map(u64::from_ne_bytes)
        .sum())
}

fn owned_key(addr: Ipv4Addr, port: u16) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[0..4].copy_from_slice(&addr.octets());
    k[4..6].copy_from_slice(&port.to_be_bytes());
    k
}
