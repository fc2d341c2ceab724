//! Self-made test hosts: two network namespaces joined by a veth pair.
//!
//! Tests and `shunt-bench` use these instead of touching the machine's own
//! interfaces. Everything is created inside namespaces this process makes (the
//! veth pair is created directly inside them, never in the root namespace), under
//! a name prefix unique to the process and the pair, and removed when the
//! [`TestHosts`] value drops, on panic too. Namespaces left behind by a killed
//! run carry the dead process's pid in their name and are swept by the next run.
//!
//! Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for
//! benchmarking, so they can never mean a real host.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

const NS_PREFIX: &str = "shunt-";
const NETNS_DIR: &str = "/run/netns";

/// Why a test host could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{tool}` is not installed: {hint}")]
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("test hosts need root (CAP_SYS_ADMIN and CAP_NET_ADMIN): {0}")]
    Permission(String),
    #[error("entering network namespace {ns}: {source}")]
    Enter {
        ns: String,
        #[source]
        source: io::Error,
    },
    #[error("unexpected output from `{cmd}`: {output:?}")]
    Parse { cmd: String, output: String },
    #[error("bad configuration: {0}")]
    Config(&'static str),
}

/// Which side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Shape of the pair.
#[derive(Debug, Clone)]
pub struct Config {
    /// MTU of both veth ends.
    pub mtu: u32,
    /// RX and TX queues on each end.
    pub queues: u32,
    /// Address of host A (where Shunt runs in the tests) and host B (the peer).
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
    pub prefix_len: u8,
    /// Turn off TX checksum offload on these sides, so the kernel there writes
    /// full checksums (an AF_XDP receiver on veth otherwise sees partial ones).
    /// This also turns off TSO/GSO on that side.
    pub tx_checksum_off: Vec<Side>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1500,
            queues: 1,
            addr_a: Ipv4Addr::new(198, 18, 0, 1),
            addr_b: Ipv4Addr::new(198, 18, 0, 2),
            prefix_len: 24,
            tx_checksum_off: vec![Side::B],
        }
    }
}

/// One end: a namespace with a veth interface in it.
#[derive(Debug, Clone)]
pub struct Host {
    ns: String,
    ifname: String,
    ifindex: u32,
    addr: Ipv4Addr,
    mac: [u8; 6],
}

/// Two hosts joined by a veth pair; removed on drop.
#[derive(Debug)]
pub struct TestHosts {
    a: Host,
    b: Host,
    config: Config,
}

static SWEEP: Once = Once::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestHosts {
    /// Creates the pair. Sweeps namespaces left by dead runs first (once per
    /// process).
    pub fn new(config: Config) -> Result<TestHosts, Error> {
        if config.queues == 0 || config.queues > 64 {
            return Err(Error::Config("queues must be 1..=64"));
        }
        if !(68..=65535).contains(&config.mtu) {
            return Err(Error::Config("mtu must be 68..=65535"));
        }
        check_tool("ip", "apt-get install iproute2")?;
        if !config.tx_checksum_off.is_empty() {
            check_tool("ethtool", "apt-get install ethtool")?;
        }
        SWEEP.call_once(sweep_stale);

        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NS_PREFIX}{}-{n}", std::process::id());
        let host = |side: u8, addr| Host {
            ns: format!("{base}-{}", char::from(b'a' + side - 1)),
            ifname: "veth0".into(),
            ifindex: 0,
            addr,
            mac: [0x02, 0x53, 0x48, (n >> 8) as u8, n as u8, side],
        };
        let (mut a, mut b) = (host(1, config.addr_a), host(2, config.addr_b));
        // From here on, Drop cleans up whatever exists.
        let mut hosts = TestHosts {
            a: a.clone(),
            b: b.clone(),
            config: config.clone(),
        };
        ip(&["netns", "add", &a.ns])?;
        ip(&["netns", "add", &b.ns])?;
        let q = config.queues.to_string();
        ip(&[
            "-n",
            &a.ns,
            "link",
            "add",
            &a.ifname,
            "address",
            &fmt_mac(&a.mac),
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            &b.ifname,
            "address",
            &fmt_mac(&b.mac),
            "netns",
            &b.ns,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ])?;
        for h in [&mut a, &mut b] {
            let mtu = config.mtu.to_string();
            ip(&["-n", &h.ns, "link", "set", &h.ifname, "mtu", &mtu])?;
            let cidr = format!("{}/{}", h.addr, config.prefix_len);
            ip(&["-n", &h.ns, "addr", "add", &cidr, "dev", &h.ifname])?;
            ip(&["-n", &h.ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &h.ns, "link", "set", &h.ifname, "up"])?;
            h.ifindex = read_ifindex(&h.ns, &h.ifname)?;
        }
        hosts.a = a;
        hosts.b = b;
        for side in &config.tx_checksum_off {
            let h = hosts.host(*side);
            run_checked(h.command("ethtool").args(["-K", &h.ifname, "tx", "off"]))?;
        }
        Ok(hosts)
    }

    pub fn a(&self) -> &Host {
        &self.a
    }
    pub fn b(&self) -> &Host {
        &self.b
    }
    pub fn host(&self, side: Side) -> &Host {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it, and with it the
        // pair and any XDP program on it.
        for ns in [&self.a.ns, &self.b.ns] {
            if std::path::Path::new(NETNS_DIR).join(ns).exists() {
                let _ = ip(&["netns", "del", ns]);
            }
        }
    }
}

impl Host {
    /// The namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns
    }
    /// The veth interface's name inside the namespace.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    /// The veth interface's index inside the namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// A command that runs inside this host's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    /// Runs a command inside the namespace and fails unless it succeeds.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output, Error> {
        run_checked(self.command(program).args(args))
    }

    /// Starts a command inside the namespace; it is killed when the returned
    /// guard drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Process, Error> {
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Command {
                cmd: format!("{program} {}", args.join(" ")),
                status: "not started".into(),
                stderr: e.to_string(),
            })?;
        Ok(Process { child: Some(child) })
    }

    /// Moves the calling thread into this host's namespace for good. Sockets,
    /// interface indexes and XDP attachments made by the thread afterwards are
    /// this host's. Meant for threads spawned for the purpose.
    pub fn enter_current_thread(&self) -> Result<(), Error> {
        let enter = |source| Error::Enter {
            ns: self.ns.clone(),
            source,
        };
        let f = File::open(std::path::Path::new(NETNS_DIR).join(&self.ns)).map_err(enter)?;
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| enter(io::Error::from(e)))
    }

    /// Runs `f` on a scoped thread inside this host's namespace and returns its
    /// result; the calling thread stays where it is.
    pub fn run_in<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter_current_thread()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Spawns a thread inside this host's namespace.
    pub fn spawn_thread<F, R>(&self, f: F) -> std::thread::JoinHandle<Result<R, Error>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let me = self.clone();
        std::thread::spawn(move || {
            me.enter_current_thread()?;
            Ok(f())
        })
    }
}

/// A process running inside a test host; killed and reaped on drop.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
}

impl Process {
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("present until drop")
    }

    /// Waits for the process to exit and returns its output.
    pub fn wait_output(mut self) -> io::Result<Output> {
        self.child
            .take()
            .expect("present until drop")
            .wait_with_output()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `ip netns exec` execs the program, so this is the program itself.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn check_tool(tool: &'static str, hint: &'static str) -> Result<(), Error> {
    match Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::MissingTool { tool, hint }),
        _ => Ok(()),
    }
}

fn ip(args: &[&str]) -> Result<Output, Error> {
    run_checked(Command::new("ip").args(args))
}

fn run_checked(cmd: &mut Command) -> Result<Output, Error> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            cmd: shown.clone(),
            status: "not started".into(),
            stderr: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        return Err(Error::Permission(format!("{shown}: {stderr}")));
    }
    Err(Error::Command {
        cmd: shown,
        status: out.status.to_string(),
        stderr,
    })
}

fn read_ifindex(ns: &str, ifname: &str) -> Result<u32, Error> {
    let out = ip(&["-n", ns, "-o", "link", "show", "dev", ifname])?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(Error::Parse {
            cmd: format!("ip -n {ns} -o link show dev {ifname}"),
            output: text,
        })
}

/// Removes namespaces named by this library whose creating process is gone.
pub fn sweep_stale() {
    for (name, pid) in namespaces_by_pid() {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// The namespaces this library made for process `pid` that exist now.
pub fn namespaces_of(pid: u32) -> Vec<String> {
    namespaces_by_pid()
        .into_iter()
        .filter_map(|(name, p)| (p == pid).then_some(name))
        .collect()
}

/// This library's namespaces that exist now, with the process that made
/// each (its name is `NS_PREFIX`, the pid, `-`, the rest).
fn namespaces_by_pid() -> Vec<(String, u32)> {
    existing_namespaces()
        .into_iter()
        .filter_map(|name| {
            let pid = name[NS_PREFIX.len()..].split('-').next()?.parse().ok()?;
            Some((name, pid))
        })
        .collect()
}

/// Deletes the namespaces this library made for process `pid` (a signal
/// handler's cleanup: their veth pairs and programs go with them); returns
/// how many it removed. Twice over, so one being made meanwhile is caught.
pub fn remove_namespaces_of(pid: u32) -> usize {
    let mut removed = 0;
    for _ in 0..2 {
        for ns in namespaces_of(pid) {
            removed += usize::from(ip(&["netns", "del", &ns]).is_ok());
        }
    }
    removed
}

/// Names of this library's namespaces that exist now (for tests of cleanup).
pub fn existing_namespaces() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(NS_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_is_created_reachable_and_removed_on_drop() {
        let hosts = TestHosts::new(Config::default()).expect("create test hosts");
        let (a, b) = (hosts.a().ns().to_string(), hosts.b().ns().to_string());
        assert!(existing_namespaces().contains(&a));
        let out = hosts
            .a()
            .run(
                "ping",
                &["-c", "1", "-W", "2", &hosts.b().addr().to_string()],
            )
            .expect("ping across the pair");
        assert!(out.status.success());
        drop(hosts);
        let left = existing_namespaces();
        assert!(
            !left.contains(&a) && !left.contains(&b),
            "left behind: {left:?}"
        );
    }

    #[test]
    fn namespaces_are_removed_when_a_test_panics() {
        let names = std::sync::Mutex::new(Vec::new());
        let r = std::panic::catch_unwind(|| {
            let hosts = TestHosts::new(Config::default()).expect("create test hosts");
            names.lock().unwrap().push(hosts.a().ns().to_string());
            panic!("test failure inside the hosts' lifetime");
        });
        assert!(r.is_err());
        let left = existing_namespaces();
        for n in names.lock().unwrap().iter() {
            assert!(!left.contains(n), "{n} left behind after panic");
        }
    }

    #[test]
    fn stale_namespaces_of_dead_runs_are_swept() {
        // A pid that cannot be alive: above the kernel's pid_max ceiling.
        let stale = format!("{NS_PREFIX}4194305-0-a");
        ip(&["netns", "add", &stale]).expect("add stale namespace");
        sweep_stale();
        assert!(!existing_namespaces().contains(&stale));
    }

    #[test]
    fn threads_enter_the_namespace_and_see_its_interface() {
        let hosts = TestHosts::new(Config {
            queues: 2,
            ..Config::default()
        })
        .unwrap();
        let idx = hosts
            .b()
            .run_in(|| nix::net::if_::if_nametoindex("veth0").ok())
            .unwrap();
        assert_eq!(idx, Some(hosts.b().ifindex()));
        let queues = hosts
            .b()
            .run("ls", &["/sys/class/net/veth0/queues"])
            .unwrap();
        let queues = String::from_utf8_lossy(&queues.stdout).to_string();
        assert!(
            queues.contains("rx-1") && queues.contains("tx-1"),
            "{queues}"
        );
    }

    #[test]
    fn bad_configuration_is_refused_with_a_reason() {
        let e = TestHosts::new(Config {
            queues: 0,
            ..Config::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("queues"));
    }
}
