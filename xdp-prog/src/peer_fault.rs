//! Fault injection on the Linux peer's side: a tc classifier that drops,
//! corrupts or duplicates a fraction of IPv4/TCP frames (program and its
//! caveats: `src/bpf/peer_fault.bpf.c`).
//!
//! The kernel here has no netem. The steering program's faults act on frames
//! arriving at Shunt; this one covers the frames going the other way, from the
//! side that sends toward the Linux peer (or the peer's own egress). It is
//! attached to a clsact qdisc through libbpf's tc API. If the interface had no
//! clsact qdisc, [`PeerFaults`] creates one and removes it again on drop; if it
//! had one, only the filter this value added is removed, so the interface is
//! left as it was found. (Removing the qdisc removes every filter on it: one
//! another tool added while this value lived goes too.)
//!
//! Unlike the steering program's BPF link, a tc filter is not tied to the
//! process: if the process is killed before the drop runs, the filter stays
//! until the interface (or its namespace) goes away. Test hosts remove their
//! namespaces, so that is only a concern on real interfaces.

use std::fmt;
use std::os::fd::AsFd;

use libbpf_rs::{
    MapCore, MapFlags, MapHandle, Object, ObjectBuilder, TC_EGRESS, TC_INGRESS, TcHook,
    TcHookBuilder,
};

/// The compiled program, embedded at build time.
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peer_fault.bpf.o"));
const PROGRAM_NAME: &str = "shunt_peer_fault";

/// Mirrors of `peer_fault.h`.
const CNT_MAX: u32 = 8;
const FLAG_INGRESS: u16 = 0x1;
pub use crate::PPM_ONE;
/// `skb->mark` the program gives its own copies (they pass its hook untouched
/// and leave with mark 0).
pub const COPY_MARK: u32 = 0x5348_4450;

/// Which clsact hook of the interface the program runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Frames the interface sends.
    Egress,
    /// Frames the interface receives.
    Ingress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        })
    }
}

/// Errors of loading, attaching and configuring the program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading the tc fault program failed: {0}{hint}", hint = load_hint(.0))]
    Load(#[source] libbpf_rs::Error),
    #[error("the tc fault object has no {0}")]
    Missing(&'static str),
    #[error(
        "no network interface with index {0} in the calling thread's network namespace \
         (call from a thread inside the interface's namespace)"
    )]
    NoSuchInterface(u32),
    #[error("{what} on ifindex {ifindex} ({direction}) failed: {source}{hint}")]
    Tc {
        what: &'static str,
        ifindex: u32,
        direction: Direction,
        hint: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("updating the {map} map failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("fault rate {0} ppm is more than 1000000 ppm (100%)")]
    BadFaultRate(u32),
}

fn load_hint(e: &libbpf_rs::Error) -> &'static str {
    crate::load_hint_lacking(e, " (this kernel lacks BPF or tc BPF support)")
}

fn tc_hint(e: &libbpf_rs::Error) -> &'static str {
    match e.kind() {
        libbpf_rs::ErrorKind::PermissionDenied => " (needs root or CAP_NET_ADMIN)",
        libbpf_rs::ErrorKind::AlreadyExists => {
            " (a filter with the same handle and priority is already there)"
        }
        libbpf_rs::ErrorKind::InvalidInput => " (is sch_clsact available in this kernel?)",
        _ => "",
    }
}

/// Fault rates in parts per million of the matching frames, and which frames
/// match. All zero (the default) touches nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub drop_ppm: u32,
    pub corrupt_ppm: u32,
    pub duplicate_ppm: u32,
    /// Only TCP frames with this source or destination port; 0 = all TCP.
    pub port: u16,
}

impl Faults {
    /// No faults.
    pub const NONE: Faults = Faults {
        drop_ppm: 0,
        corrupt_ppm: 0,
        duplicate_ppm: 0,
        port: 0,
    };

    /// Converts a percentage (0.0 to 100.0) to parts per million, clamped.
    pub fn ppm_from_percent(percent: f64) -> u32 {
        crate::Faults::ppm_from_percent(percent)
    }

    fn validate(&self) -> Result<(), Error> {
        match crate::rate_above_one([self.drop_ppm, self.corrupt_ppm, self.duplicate_ppm]) {
            Some(r) => Err(Error::BadFaultRate(r)),
            None => Ok(()),
        }
    }

    /// `struct pf_config`.
    fn to_bytes(self, direction: Direction) -> [u8; 16] {
        let flags = match direction {
            Direction::Egress => 0,
            Direction::Ingress => FLAG_INGRESS,
        };
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.drop_ppm.to_ne_bytes());
        b[4..8].copy_from_slice(&self.corrupt_ppm.to_ne_bytes());
        b[8..12].copy_from_slice(&self.duplicate_ppm.to_ne_bytes());
        b[12..14].copy_from_slice(&self.port.to_ne_bytes());
        b[14..16].copy_from_slice(&flags.to_ne_bytes());
        b
    }
}

/// Counters of the program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerFaultCounters {
    /// Frames from the stack the program ran on (its own copies excluded).
    pub seen: u64,
    /// IPv4/TCP frames that passed the port filter: the ones faults apply to.
    pub matched: u64,
    /// Matched frames dropped.
    pub dropped: u64,
    /// Matched frames with one bit of the TCP segment flipped.
    pub corrupted: u64,
    /// Corruptions not done because the frame was a GSO super-packet (a
    /// kernel sender's bulk data, unless GSO is off on the interface).
    pub corrupt_skipped: u64,
    /// Copies sent by `bpf_clone_redirect`.
    pub duplicated: u64,
    /// Copies `bpf_clone_redirect` refused.
    pub duplicate_failed: u64,
    /// The program's own copies passing its hook again (let through).
    pub copies: u64,
}

impl PeerFaultCounters {
    /// The change from `earlier` to `self`.
    pub fn since(&self, earlier: &PeerFaultCounters) -> PeerFaultCounters {
        PeerFaultCounters {
            seen: self.seen.wrapping_sub(earlier.seen),
            matched: self.matched.wrapping_sub(earlier.matched),
            dropped: self.dropped.wrapping_sub(earlier.dropped),
            corrupted: self.corrupted.wrapping_sub(earlier.corrupted),
            corrupt_skipped: self.corrupt_skipped.wrapping_sub(earlier.corrupt_skipped),
            duplicated: self.duplicated.wrapping_sub(earlier.duplicated),
            duplicate_failed: self.duplicate_failed.wrapping_sub(earlier.duplicate_failed),
            copies: self.copies.wrapping_sub(earlier.copies),
        }
    }

    fn slot(&mut self, idx: u32) -> &mut u64 {
        match idx {
            0 => &mut self.seen,
            1 => &mut self.matched,
            2 => &mut self.dropped,
            3 => &mut self.corrupted,
            4 => &mut self.corrupt_skipped,
            5 => &mut self.duplicated,
            6 => &mut self.duplicate_failed,
            _ => &mut self.copies,
        }
    }
}

impl fmt::Display for PeerFaultCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seen {} matched {} dropped {} corrupted {} (skipped, GSO {}) \
             duplicated {} (failed {}) copies {}",
            self.seen,
            self.matched,
            self.dropped,
            self.corrupted,
            self.corrupt_skipped,
            self.duplicated,
            self.duplicate_failed,
            self.copies
        )
    }
}

/// The fault program attached to one clsact hook of one interface; detached
/// (and the clsact qdisc removed, if this value created it) on drop.
pub struct PeerFaults {
    // The filter holds its own reference to the program; the object is kept
    // for the maps and so the program outlives every use of `hook`.
    _obj: Object,
    counters: MapHandle,
    config: MapHandle,
    hook: TcHook,
    ifindex: u32,
    direction: Direction,
    created_qdisc: bool,
}

impl fmt::Debug for PeerFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerFaults")
            .field("ifindex", &self.ifindex)
            .field("direction", &self.direction)
            .field("created_qdisc", &self.created_qdisc)
            .finish_non_exhaustive()
    }
}

fn map_handle(obj: &Object, name: &'static str) -> Result<MapHandle, Error> {
    crate::find_map(obj, name).map_err(|e| match e {
        None => Error::Missing(name),
        Some(source) => Error::Map { map: name, source },
    })
}

fn interface_exists(ifindex: u32) -> bool {
    nix::net::if_::if_nameindex()
        .map(|list| list.iter().any(|i| i.index() == ifindex))
        .unwrap_or(false)
}

impl PeerFaults {
    /// Loads the program and attaches it to the `direction` hook of `ifindex`,
    /// with no faults configured (it counts but touches nothing until
    /// [`PeerFaults::set`]). The interface is looked up in the calling
    /// thread's network namespace, so call this from a thread inside it, and
    /// drop the value on such a thread too (the detach goes by netlink to the
    /// calling thread's namespace).
    ///
    /// When the interface has no clsact qdisc yet, libbpf logs the kernel's
    /// refusal of the first attempt ("Parent Qdisc doesn't exists") on
    /// stderr: that is how this finds out that it must create the qdisc.
    pub fn attach(ifindex: u32, direction: Direction) -> Result<PeerFaults, Error> {
        if !interface_exists(ifindex) {
            return Err(Error::NoSuchInterface(ifindex));
        }
        let ifindex_i32 = i32::try_from(ifindex).map_err(|_| Error::NoSuchInterface(ifindex))?;
        let open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(Error::Load)?;
        let obj = open.load().map_err(Error::Load)?;
        let counters = map_handle(&obj, "counters")?;
        let config = map_handle(&obj, "config")?;
        config
            .update(
                &0u32.to_ne_bytes(),
                &Faults::NONE.to_bytes(direction),
                MapFlags::ANY,
            )
            .map_err(|source| Error::Map {
                map: "config",
                source,
            })?;

        let prog = obj
            .progs()
            .find(|p| p.name() == PROGRAM_NAME)
            .ok_or(Error::Missing("shunt_peer_fault program"))?;
        let tc_err = |what: &'static str| {
            move |source: libbpf_rs::Error| Error::Tc {
                what,
                ifindex,
                direction,
                hint: tc_hint(&source),
                source,
            }
        };
        let point = match direction {
            Direction::Egress => TC_EGRESS,
            Direction::Ingress => TC_INGRESS,
        };
        let mut builder = TcHookBuilder::new(prog.as_fd());
        builder.ifindex(ifindex_i32).replace(false);

        // Handle and priority 0: the kernel picks free ones and libbpf stores
        // them in the hook, which detach needs.
        //
        // Attach first: that succeeds only if a clsact qdisc is already there
        // (the kernel says EINVAL, "Parent Qdisc doesn't exists", otherwise),
        // and then drop must leave the qdisc. libbpf's create cannot tell us:
        // it reports success for an existing qdisc too. A query cannot either:
        // it says EINVAL for a qdisc without filters as well.
        let (hook, created_qdisc) = match builder.hook(point).attach() {
            Ok(h) => (h, false),
            Err(first) if first.kind() == libbpf_rs::ErrorKind::InvalidInput => {
                builder
                    .hook(point)
                    .create()
                    .map_err(tc_err("creating the clsact qdisc"))?;
                // If this fails too, the first EINVAL may have had another
                // cause while a qdisc existed: leave it rather than risk
                // removing one we did not make.
                let h = builder
                    .hook(point)
                    .attach()
                    .map_err(tc_err("attaching the tc program"))?;
                (h, true)
            }
            Err(e) => return Err(tc_err("attaching the tc program")(e)),
        };
        Ok(PeerFaults {
            _obj: obj,
            counters,
            config,
            hook,
            ifindex,
            direction,
            created_qdisc,
        })
    }

    /// The interface the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The hook the program runs on.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether this value created the interface's clsact qdisc (and removes
    /// it on drop).
    pub fn created_qdisc(&self) -> bool {
        self.created_qdisc
    }

    /// Sets the fault rates and the port filter ([`Faults::NONE`] turns
    /// injection off). Takes effect for the next frame.
    pub fn set(&self, faults: Faults) -> Result<(), Error> {
        faults.validate()?;
        self.config
            .update(
                &0u32.to_ne_bytes(),
                &faults.to_bytes(self.direction),
                MapFlags::ANY,
            )
            .map_err(|source| Error::Map {
                map: "config",
                source,
            })
    }

    /// Reads the counters, summed over CPUs.
    pub fn counters(&self) -> Result<PeerFaultCounters, Error> {
        let mut c = PeerFaultCounters::default();
        for idx in 0..CNT_MAX {
            *c.slot(idx) = crate::percpu_sum(&self.counters, idx).map_err(|source| Error::Map {
                map: "counters",
                source,
            })?;
        }
        Ok(c)
    }
}

impl Drop for PeerFaults {
    fn drop(&mut self) {
        // Netlink requests go to the namespace of the calling thread; dropping
        // on a thread elsewhere finds no such filter and leaves it (the
        // namespace's end removes it).
        let _ = self.hook.detach();
        if self.created_qdisc {
            let mut both = self.hook;
            both.attach_point(TC_EGRESS | TC_INGRESS);
            let _ = both.destroy();
        }
    }
}
