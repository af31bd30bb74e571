//! The network-namespace lab for integration tests.
//!
//! Every packet a test sends stays inside namespaces the lab created:
//! `udhcpt-<testpid>-<k>`, joined by one veth pair (two namespaces) or by
//! a bridge in a dedicated hub namespace `udhcpt-<testpid>-hub<k>` (three
//! or more). Each namespace gets `eth0` (and `lo`) up, with the MAC and
//! IPv4 address asked for. Dropping the [`Lab`] deletes every namespace it
//! created, also while a test panics; the first lab of a process also
//! deletes `udhcpt-<pid>-*` namespaces left by test processes that no
//! longer exist (a `kill -9`ed run), and only those.
//!
//! Root only. When namespaces cannot be created (not root, no `ip`),
//! [`Lab::new`] prints `skipped: ...` and returns `None`, unless
//! `UDHCP_REQUIRE_NETNS=1`, when it panics so the test fails.
#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use udhcp::time::Instant;

use nix::sched::{setns, CloneFlags};
use udhcp::wire::MacAddr;

/// Namespace name prefix shared with `scripts/netns.sh`.
pub const PREFIX: &str = "udhcpt-";

/// Where `ip netns add` mounts named namespaces.
const NETNS_DIR: &str = "/run/netns";

static NEXT: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

/// What one namespace should look like.
#[derive(Debug, Clone, Copy, Default)]
pub struct NsSpec {
    /// Address and prefix length for `eth0`, or none (unconfigured, as a
    /// DHCP client starts).
    pub addr: Option<(Ipv4Addr, u8)>,
    /// MAC of `eth0`; the default is 02:00:5e:99:00:<i+1>.
    pub mac: Option<MacAddr>,
}

/// One namespace of a lab.
#[derive(Debug)]
pub struct Ns {
    /// `udhcpt-<pid>-<k>`.
    pub name: String,
    /// The lab interface inside it: always `eth0`.
    pub ifname: &'static str,
    /// MAC of `eth0`.
    pub mac: MacAddr,
    /// Address of `eth0`, if configured.
    pub addr: Option<Ipv4Addr>,
}

/// A set of namespaces joined by one link or bridge; deleted on drop.
#[derive(Debug)]
pub struct Lab {
    nses: Vec<Ns>,
    /// Every namespace created, hub included, in creation order.
    created: Vec<String>,
}

/// The crate's monotonic clock, for tests that measure time and feed
/// deadlines to the OS layer.
pub fn now() -> Instant {
    udhcp::sys::clock::now()
}

/// Default address of namespace `i` of a lab: 10.99.0.<i+1>/24.
pub fn default_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, u8::try_from(i + 1).expect("lab too large"))
}

/// Default MAC of namespace `i`: 02:00:5e:99:00:<i+1> (locally administered).
pub fn default_mac(i: usize) -> MacAddr {
    MacAddr([
        2,
        0,
        0x5e,
        0x99,
        0,
        u8::try_from(i + 1).expect("lab too large"),
    ])
}

impl Lab {
    /// `n` namespaces with the default MACs and addresses.
    pub fn new(n: usize) -> Option<Lab> {
        let specs: Vec<NsSpec> = (0..n)
            .map(|i| NsSpec {
                addr: Some((default_addr(i), 24)),
                mac: None,
            })
            .collect();
        Lab::with(&specs)
    }

    /// One namespace per spec.
    pub fn with(specs: &[NsSpec]) -> Option<Lab> {
        assert!(!specs.is_empty(), "a lab needs a namespace");
        if let Err(why) = precheck() {
            return skip_or_fail(&why);
        }
        SWEEP.call_once(sweep_stale);
        let mut lab = Lab {
            nses: Vec::new(),
            created: Vec::new(),
        };
        match lab.build(specs) {
            Ok(()) => Some(lab),
            // `lab` is dropped here, deleting what was created.
            Err(why) => skip_or_fail(&why),
        }
    }

    fn add_ns(&mut self, name: String) -> Result<(), String> {
        run_ip(&["netns", "add", &name])?;
        self.created.push(name);
        Ok(())
    }

    fn build(&mut self, specs: &[NsSpec]) -> Result<(), String> {
        let pid = std::process::id();
        for (i, spec) in specs.iter().enumerate() {
            let k = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("{PREFIX}{pid}-{k}");
            self.add_ns(name.clone())?;
            self.nses.push(Ns {
                name,
                ifname: "eth0",
                mac: spec.mac.unwrap_or_else(|| default_mac(i)),
                addr: spec.addr.map(|(a, _)| a),
            });
        }
        match self.nses.as_slice() {
            [a] => {
                // A lone namespace: a veth pair inside it, so eth0 has carrier.
                let mac = a.mac.to_string();
                run_ip(&[
                    "-n", &a.name, "link", "add", "eth0", "address", &mac, "type", "veth", "peer",
                    "name", "peer0",
                ])?;
                run_ip(&["-n", &a.name, "link", "set", "peer0", "up"])?;
            }
            [a, b] => {
                let (ma, mb) = (a.mac.to_string(), b.mac.to_string());
                run_ip(&[
                    "-n", &a.name, "link", "add", "eth0", "address", &ma, "type", "veth", "peer",
                    "name", "eth0", "address", &mb, "netns", &b.name,
                ])?;
            }
            _ => {
                let k = NEXT.fetch_add(1, Ordering::Relaxed);
                let hub = format!("{PREFIX}{pid}-hub{k}");
                self.add_ns(hub.clone())?;
                run_ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
                run_ip(&["-n", &hub, "link", "set", "br0", "up"])?;
                for (i, ns) in self.nses.iter().enumerate() {
                    let port = format!("p{i}");
                    let mac = ns.mac.to_string();
                    run_ip(&[
                        "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                        "address", &mac, "netns", &ns.name,
                    ])?;
                    run_ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
                }
            }
        }
        for (ns, spec) in self.nses.iter().zip(specs) {
            if let Some((addr, len)) = spec.addr {
                let cidr = format!("{addr}/{len}");
                run_ip(&["-n", &ns.name, "addr", "add", &cidr, "dev", "eth0"])?;
            }
            run_ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
            run_ip(&["-n", &ns.name, "link", "set", "eth0", "up"])?;
        }
        for ns in &self.nses {
            ns.wait_carrier(Duration::from_secs(5))?;
        }
        Ok(())
    }

    /// Namespace `i`.
    pub fn ns(&self, i: usize) -> &Ns {
        &self.nses[i]
    }

    /// All namespaces (the hub excluded).
    pub fn nses(&self) -> &[Ns] {
        &self.nses
    }

    /// Names of every namespace this lab created (hub included).
    pub fn names(&self) -> Vec<String> {
        self.created.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            if let Err(e) = run_ip(&["netns", "del", name]) {
                eprintln!("lab cleanup: {e}");
            }
        }
    }
}

impl Ns {
    /// The configured address of `eth0` (panics if it has none).
    pub fn ip(&self) -> Ipv4Addr {
        self.addr.expect("namespace has no address")
    }

    /// Runs `cmd` inside the namespace (`ip netns exec`) and returns its output.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {cmd:?}: {e}", self.name))
    }

    /// As [`exec`](Self::exec), asserting success; returns stdout.
    pub fn exec_ok(&self, cmd: &[&str]) -> String {
        let out = self.exec(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} in {}: {}\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `cmd` inside the namespace. The returned handle kills it (by
    /// PID) and reaps it when dropped; keep it in a variable declared after
    /// the lab, so it drops first.
    pub fn spawn(&self, cmd: &[&str]) -> Spawned {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?} in {}: {e}", self.name));
        Spawned { child }
    }

    /// Runs `f` on a fresh thread that first enters this namespace
    /// (setns CLONE_NEWNET; the network namespace is per thread), and
    /// returns its result. Sockets created by `f` belong to the namespace
    /// for their whole life, also when handed back to another thread. A
    /// panic in `f` propagates.
    pub fn run_in<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = Path::new(NETNS_DIR).join(&self.name);
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let ns =
                    File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                setns(&ns, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {}: {e}", path.display()));
                f()
            });
            match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    fn wait_carrier(&self, limit: Duration) -> Result<(), String> {
        let t0 = now();
        loop {
            let out = run_ip(&["-n", &self.name, "-o", "link", "show", "dev", self.ifname])?;
            if out.contains("LOWER_UP") && out.contains(",UP") {
                return Ok(());
            }
            if (now() - t0) > limit {
                return Err(format!(
                    "{}: {} has no carrier: {out}",
                    self.name, self.ifname
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A process started by [`Ns::spawn`]: killed by PID and reaped on drop.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
}

impl Spawned {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills (if still running) and reaps it.
    pub fn stop(mut self) -> ExitStatus {
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> ExitStatus {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st;
        }
        // Child::kill signals this child's PID only; it has not been
        // reaped yet, so the PID cannot have been reused.
        let _ = self.child.kill();
        self.child.wait().expect("reap child")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Whether namespaces can be made here at all.
fn precheck() -> Result<(), String> {
    // Root is not checked here: `ip netns add` failing (EPERM) says it.
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`ip -V` failed: {}", o.status)),
        Err(e) => Err(format!("no `ip` command (iproute2): {e}")),
    }
}

fn skip_or_fail(why: &str) -> Option<Lab> {
    if std::env::var_os("UDHCP_REQUIRE_NETNS").is_some_and(|v| v == "1") {
        panic!("UDHCP_REQUIRE_NETNS=1 but the netns lab is unavailable: {why}");
    }
    eprintln!("skipped: netns lab unavailable: {why}");
    None
}

/// Runs `ip ARGS`, returning stdout, or an error with stderr.
fn run_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The test process id inside a lab namespace name, if it is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _k) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Deletes lab namespaces whose test process is gone. Namespaces of live
/// processes (parallel test binaries) and every other name are left alone.
pub fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    let me = std::process::id();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("lab: removing stale namespace {name}");
            if let Err(e) = run_ip(&["netns", "del", &name]) {
                eprintln!("lab: {e}");
            }
        }
    }
}

/// Names of the lab namespaces currently mounted (`udhcpt-*`).
pub fn listed() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default()
}
