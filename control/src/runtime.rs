//! The runtime: Shunt on a network interface, one shard per queue.
//!
//! `Runtime::start` attaches the steering program (native mode, falling back
//! to generic), claims the listening ports and the ephemeral range, and starts
//! one thread per queue that binds its AF_XDP socket, registers it in the XSK
//! map and runs a [`Shard`] with the application the caller's factory made
//! for that queue. Stopping (or dropping) the runtime stops the shards, joins
//! their threads and detaches the program, leaving the interface as it was.
//!
//! Network namespaces: the runtime works in the namespace of the thread that
//! calls `start` (its threads inherit it), so tests start it from a thread
//! inside a test host.
//!
//! Addresses: by default Shunt shares the kernel's address on the interface;
//! the kernel keeps answering ARP, Shunt learns passive peers from their
//! frames and active peers from the kernel's neighbour table
//! ([`Runtime::resolve_neighbor`]). With `dedicated_address`, Shunt's address
//! is not the kernel's and the steering program hands Shunt the ARP requests
//! and replies for it.

use std::net::Ipv4Addr;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::bounded;
use datapath::endpoint::{Endpoint, EndpointConfig};
use datapath::io::xdp::{BoundMode, TxChecksum, Xsk, XskConfig};
use datapath::shard::{App, Shard, ShardConfig, ShardHandle, ShardStats};
use datapath::tcp::TcpConfig;
use datapath::tcp::ports::PortRange;
use datapath::wire::EthernetAddress;
use xdp_prog::{AttachMode, AttachedMode, Faults, Steering};

/// How to run Shunt on an interface.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub ifname: String,
    /// Shards on queues `0..queues`.
    pub queues: u32,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// The interface's MTU (IP packet size).
    pub mtu: usize,
    /// Ports Shunt listens on (claimed from the kernel on `addr`).
    pub listen_ports: Vec<u16>,
    /// Local ports of active opens, split evenly between the shards. Keep it
    /// out of the kernel's ephemeral range.
    pub ephemeral: PortRange,
    /// Shunt's address is its own, not the kernel's: Shunt answers ARP.
    pub dedicated_address: bool,
    pub tcp: TcpConfig,
    pub xsk: XskConfig,
    pub shard: ShardConfig,
    pub attach: AttachMode,
    /// Pin shard q to core `first_core + q` (modulo the machine's cores).
    pub pin_cores: bool,
    /// The core of shard 0 (two runtimes in one process, as in tests and the
    /// bench, should not share cores).
    pub first_core: usize,
    /// Fault injection in the steering program (tests and the bench).
    pub faults: Faults,
    pub max_connections: usize,
    /// See `EndpointConfig::time_wait_reuse` (on by default).
    pub time_wait_reuse: bool,
}

impl RuntimeConfig {
    pub fn new(ifname: &str, addr: Ipv4Addr, prefix_len: u8) -> RuntimeConfig {
        RuntimeConfig {
            ifname: ifname.into(),
            queues: 1,
            addr,
            prefix_len,
            gateway: None,
            mtu: 1500,
            listen_ports: Vec::new(),
            ephemeral: PortRange::DEFAULT,
            dedicated_address: false,
            tcp: TcpConfig::default(),
            xsk: XskConfig::default(),
            shard: ShardConfig::default(),
            attach: AttachMode::Auto,
            pin_cores: true,
            first_core: 0,
            faults: Faults::NONE,
            max_connections: 16 * 1024,
            time_wait_reuse: true,
        }
    }
}

/// `A.B.C.D/len` (an interface address and its prefix length), as the
/// command lines take it.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    (len <= 32).then_some((a.parse().ok()?, len))
}

/// Why the runtime could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Steering(#[from] xdp_prog::Error),
    #[error("interface {0}: no MAC address found (is it an Ethernet interface in this namespace?)")]
    NoMac(String),
    #[error("queue {queue}: {reason}")]
    Shard { queue: u32, reason: String },
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("no neighbour entry for {0} after asking the kernel to resolve it")]
    NoNeighbor(Ipv4Addr),
    #[error("drawing the random secret failed")]
    Random,
}

struct ShardThread<A> {
    handle: ShardHandle<A>,
    join: Option<JoinHandle<Option<A>>>,
    mode: BoundMode,
    tx_checksum: TxChecksum,
}

/// Shunt running on an interface.
pub struct Runtime<A: App + 'static> {
    steering: Steering,
    shards: Vec<ShardThread<A>>,
    mac: EthernetAddress,
    cfg: RuntimeConfig,
}

impl<A: App + 'static> std::fmt::Debug for Runtime<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("ifname", &self.cfg.ifname)
            .field("queues", &self.shards.len())
            .field("mode", &self.steering.mode())
            .finish_non_exhaustive()
    }
}

impl<A: App + 'static> Runtime<A> {
    /// Starts Shunt on `cfg.ifname` with `make_app(queue)` on each shard.
    pub fn start(
        cfg: RuntimeConfig,
        mut make_app: impl FnMut(u32) -> A,
    ) -> Result<Runtime<A>, RuntimeError> {
        if cfg.queues == 0 || cfg.queues > xdp_prog::MAX_QUEUES {
            return Err(RuntimeError::Config(format!(
                "queues must be 1..={}",
                xdp_prog::MAX_QUEUES
            )));
        }
        let ranges = split_range(cfg.ephemeral, cfg.queues).ok_or_else(|| {
            RuntimeError::Config("the ephemeral range has fewer ports than shards".into())
        })?;
        let ifindex = xdp_prog::ifindex(&cfg.ifname)?;
        let mac =
            interface_mac(&cfg.ifname).ok_or_else(|| RuntimeError::NoMac(cfg.ifname.clone()))?;
        let steering = Steering::attach(ifindex, cfg.attach)?;
        steering.set_faults(cfg.faults)?;
        for &port in &cfg.listen_ports {
            steering.own(cfg.addr, port)?;
        }
        steering.own_port_range(cfg.addr, cfg.ephemeral.first(), cfg.ephemeral.last())?;
        if cfg.dedicated_address {
            steering.steer_arp(cfg.addr, true, true)?;
        }
        let mut secret = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| RuntimeError::Random)?;

        let mut rt = Runtime {
            steering,
            shards: Vec::new(),
            mac,
            cfg: cfg.clone(),
        };
        // Replies to one shard's active opens may hash to another queue: the
        // shards pass such frames on by port range.
        let mut mesh = datapath::shard::mesh(cfg.queues as usize, 4096).into_iter();
        for (queue, ephemeral) in (0..cfg.queues).zip(ranges.iter().copied()) {
            let (inbox, peers) = mesh.next().expect("one mesh entry per queue");
            let registrar = rt.steering.xsk_registrar()?;
            let mut ecfg = EndpointConfig::new(cfg.addr, cfg.prefix_len, mac, secret);
            ecfg.gateway = cfg.gateway;
            ecfg.mtu = cfg.mtu;
            ecfg.tcp = cfg.tcp.clone();
            ecfg.ephemeral_ports = ephemeral;
            ecfg.foreign_ports = (0..cfg.queues)
                .zip(ranges.iter().copied())
                .filter(|(q, _)| *q != queue)
                .map(|(q, r)| (r, q))
                .collect();
            ecfg.max_connections = cfg.max_connections;
            ecfg.time_wait_reuse = cfg.time_wait_reuse;
            let endpoint = Endpoint::new(ecfg).map_err(|e| RuntimeError::Config(e.to_string()))?;
            let app = make_app(queue);
            let (xsk_cfg, shard_cfg) = (cfg.xsk.clone(), cfg.shard.clone());
            let core = cfg.pin_cores.then_some(cfg.first_core + queue as usize);
            let (ready_tx, ready_rx) = bounded(1);
            let join = std::thread::Builder::new()
                .name(format!("shunt-q{queue}"))
                .spawn(move || {
                    if let Some(core) = core {
                        pin_current_thread(core);
                    }
                    let setup = || -> Result<Xsk, String> {
                        let xsk = Xsk::bind(ifindex, queue, &xsk_cfg).map_err(|e| e.to_string())?;
                        registrar
                            .bind_queue(queue, xsk.fd())
                            .map_err(|e| e.to_string())?;
                        Ok(xsk)
                    };
                    let xsk = match setup() {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return None;
                        }
                    };
                    let (mode, tx_checksum) = (xsk.mode(), xsk.tx_checksum().clone());
                    let (mut shard, handle) = Shard::new(xsk, endpoint, app, shard_cfg);
                    shard.join_mesh(inbox, peers);
                    let _ = ready_tx.send(Ok((handle, mode, tx_checksum)));
                    shard.run();
                    let _ = registrar.unbind_queue(queue);
                    Some(shard.into_parts().2)
                })
                .map_err(|e| RuntimeError::Shard {
                    queue,
                    reason: e.to_string(),
                })?;
            match ready_rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok((handle, mode, tx_checksum))) => rt.shards.push(ShardThread {
                    handle,
                    join: Some(join),
                    mode,
                    tx_checksum,
                }),
                Ok(Err(reason)) => {
                    let _ = join.join();
                    return Err(RuntimeError::Shard { queue, reason });
                }
                Err(_) => {
                    return Err(RuntimeError::Shard {
                        queue,
                        reason: "did not start in 10 s".into(),
                    });
                }
            }
        }
        Ok(rt)
    }

    /// The handle of the shard on `queue`.
    pub fn handle(&self, queue: u32) -> Option<&ShardHandle<A>> {
        self.shards.get(queue as usize).map(|s| &s.handle)
    }

    pub fn handles(&self) -> impl Iterator<Item = &ShardHandle<A>> {
        self.shards.iter().map(|s| &s.handle)
    }

    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shards.iter().map(|s| s.handle.stats()).collect()
    }

    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    /// How the program and the sockets ended up attached, for the record.
    pub fn modes(&self) -> (Option<AttachedMode>, Vec<BoundMode>) {
        (
            self.steering.mode(),
            self.shards.iter().map(|s| s.mode).collect(),
        )
    }

    /// Who finishes each shard's transport checksums on transmit, and why
    /// (`XskConfig::tx_checksum`), for the record.
    pub fn tx_checksums(&self) -> Vec<TxChecksum> {
        self.shards.iter().map(|s| s.tx_checksum.clone()).collect()
    }

    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// Sets fault injection in the steering program.
    pub fn set_faults(&self, faults: Faults) -> Result<(), RuntimeError> {
        Ok(self.steering.set_faults(faults)?)
    }

    /// Learns `ip`'s MAC from the kernel's neighbour table (asking the kernel
    /// to resolve it first if needed) and gives it to every shard. Call from
    /// a thread in the runtime's namespace.
    pub fn resolve_neighbor(&self, ip: Ipv4Addr) -> Result<EthernetAddress, RuntimeError> {
        let mac = crate::neighbor::kernel_neighbor(ip, Duration::from_secs(3))
            .ok_or(RuntimeError::NoNeighbor(ip))?;
        for h in self.handles() {
            let _ = h.call(move |_, ctx| ctx.endpoint.add_neighbor(ctx.now, ip, mac));
        }
        Ok(mac)
    }

    /// Stops every shard, detaches, and returns the applications of the
    /// shards that did not panic.
    pub fn stop(mut self) -> Vec<A> {
        self.stop_shards().into_iter().flatten().collect()
    }

    /// Stops every shard, detaches, and returns each shard's application by
    /// its index (`None` for a shard that panicked).
    pub fn stop_by_shard(mut self) -> Vec<Option<A>> {
        self.stop_shards()
    }

    fn stop_shards(&mut self) -> Vec<Option<A>> {
        for s in &self.shards {
            s.handle.stop();
        }
        self.shards
            .iter_mut()
            .map(|s| s.join.take()?.join().ok().flatten())
            .collect()
    }
}

impl<A: App + 'static> Drop for Runtime<A> {
    fn drop(&mut self) {
        self.stop_shards();
    }
}

/// The machine's online CPUs (not only those the calling thread may use:
/// `core_affinity::get_core_ids` answers for the caller's affinity mask, so a
/// pinned thread would see one core and pin everything there).
pub fn online_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .unwrap_or(1)
}

/// Counts the CPUs of a list like "0-3,6,8-9".
fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut n = 0;
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                n += b
                    .parse::<usize>()
                    .ok()?
                    .checked_sub(a.parse::<usize>().ok()?)?
                    + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

/// Pins the calling thread to `core` (modulo the online CPUs).
pub fn pin_current_thread(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId {
        id: core % online_cpus(),
    })
}

/// Splits `range` into `n` consecutive parts, one per shard.
fn split_range(range: PortRange, n: u32) -> Option<Vec<PortRange>> {
    let len = u32::from(range.last()) - u32::from(range.first()) + 1;
    if len < n {
        return None;
    }
    let step = len / n;
    (0..n)
        .map(|i| {
            let first = u32::from(range.first()) + i * step;
            let last = if i + 1 == n {
                u32::from(range.last())
            } else {
                first + step - 1
            };
            PortRange::new(first as u16, last as u16).ok()
        })
        .collect()
}

/// The MAC address of `ifname` in the calling thread's namespace.
pub fn interface_mac(ifname: &str) -> Option<EthernetAddress> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        if a.interface_name != ifname {
            continue;
        }
        if let Some(link) = a.address.as_ref().and_then(|s| s.as_link_addr())
            && let Some(mac) = link.addr()
        {
            return Some(EthernetAddress(mac));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cidr_takes_an_address_and_a_prefix_of_at_most_32() {
        assert_eq!(
            parse_cidr("10.0.0.1/24"),
            Some((Ipv4Addr::new(10, 0, 0, 1), 24))
        );
        for bad in ["10.0.0.1", "10.0.0.1/33", "10.0.0/24", "10.0.0.1/x", "/24"] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn cpu_lists_count_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(parse_cpu_list("garbage"), None);
    }

    #[test]
    fn ephemeral_range_splits_into_disjoint_parts_covering_it() {
        let r = PortRange::new(61000, 65535).unwrap();
        let parts = split_range(r, 3).unwrap();
        assert_eq!(parts[0].first(), 61000);
        assert_eq!(parts[2].last(), 65535);
        for w in parts.windows(2) {
            assert_eq!(u32::from(w[0].last()) + 1, u32::from(w[1].first()));
        }
        assert!(split_range(PortRange::new(100, 101).unwrap(), 3).is_none());
    }
}
