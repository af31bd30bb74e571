//! udhcpc end to end, in network namespaces only: our `udhcp udhcpc` with
//! the shipped default.script against BusyBox udhcpd, dnsmasq, kea-dhcp4,
//! ISC dhcpd and a crafted hostile server, plus default.script alone
//! (iproute2 and the ifconfig/route fallback, dash and BusyBox ash).
//!
//! Every process runs in a namespace of a [`Lab`] (server `10.99.0.1/24`
//! in namespace 0, the client unconfigured in namespace 1), is stopped by
//! PID and reaped, and the lab is deleted on drop, also on panic. udhcpc is
//! always started with `-i eth0` inside the client namespace and with
//! `RESOLV_CONF` pointing into the test's temp dir; the script never
//! touches the host. A failing test prints the logs of every peer.
//!
//! The real servers are started by `tests/common/peers.rs`.

mod common;

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::netns::{self, Lab, Ns, NsSpec};
use common::peers::{Pool, Server, ServerKind};
use common::tempdir::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const DEFAULT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/default.script");

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

/// Server in namespace 0 (10.99.0.1/24), client in namespace 1 with no
/// address. `None`: no namespaces here (the test is skipped).
fn lab() -> Option<Lab> {
    Lab::with(&[
        NsSpec {
            addr: Some((SERVER_IP, 24)),
            mac: None,
        },
        NsSpec {
            addr: None,
            mac: None,
        },
    ])
}

// ---------------------------------------------------------------------------
// Temp dirs, processes, waiting

/// A process inside a namespace, output to a log file; stopped by PID
/// (TERM, then KILL) and reaped on drop. Its log is printed when dropped
/// during a panic.
struct Proc {
    label: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(ns: &Ns, label: &str, log: PathBuf, argv: &[&str], env: &[(&str, &str)]) -> Proc {
        let out = fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(argv)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        Proc {
            label: label.to_string(),
            child,
            log,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&mut self, sig: Signal) {
        if self.child.try_wait().unwrap().is_none() {
            // Not reaped yet, so the PID is still this child's.
            kill(Pid::from_raw(self.pid()), sig).unwrap();
        }
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = netns::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if netns::now() - t0 > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) -> ExitStatus {
        if let Some(st) = self.child.try_wait().unwrap() {
            return st;
        }
        self.signal(Signal::SIGTERM);
        if let Some(st) = self.wait_exit(Duration::from_secs(3)) {
            return st;
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("----- {} log -----\n{}", self.label, self.log());
        }
    }
}

/// Polls `cond` every 50 ms for at most `limit`.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = netns::now();
    loop {
        if cond() {
            return true;
        }
        if netns::now() - t0 > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` runs (a zombie waiting for an init that does not reap
/// counts as gone).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Kills (by the PID in this pidfile) a daemonized udhcpc that a failing
/// test left running; checks that the PID is still that udhcpc first.
struct DaemonGuard(PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let Some(pid) = fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            return;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(self.0.to_str().unwrap());
        if ours && alive(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Processes still running in namespace `ns`.
fn pids_in(ns: &Ns) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", &ns.name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Our client

/// `udhcp udhcpc -f -i eth0 -s DIR/default.script ARGS` in the client
/// namespace, with RESOLV_CONF and EVENTS in DIR. A hook in
/// `default.script.d/` appends one line per event to EVENTS.
struct Udhcpc {
    proc: Proc,
    dir: TempDir,
}

const RECORD_HOOK: &str = r#"#!/bin/sh
echo "$1 ip=${ip:-} mask=${mask:-} router=${router:-} dns=${dns:-} mtu=${mtu:-} lease=${lease:-} staticroutes=${staticroutes:-}" >>"$EVENTS"
"#;

impl Udhcpc {
    fn start(ns: &Ns, args: &[&str]) -> Udhcpc {
        Self::start_with_hooks(ns, args, &[])
    }

    fn start_with_hooks(ns: &Ns, args: &[&str], hooks: &[(&str, &str)]) -> Udhcpc {
        Self::start_full(ns, args, hooks, &[])
    }

    /// With extra environment variables for udhcpc.
    fn start_full(ns: &Ns, args: &[&str], hooks: &[(&str, &str)], env: &[(&str, &str)]) -> Udhcpc {
        let dir = TempDir::new("udhcpc");
        let script = dir.write_script(
            "default.script",
            &fs::read_to_string(DEFAULT_SCRIPT).unwrap(),
        );
        dir.write_script("default.script.d/10-record", RECORD_HOOK);
        for (name, body) in hooks {
            dir.write_script(&format!("default.script.d/{name}"), body);
        }
        fs::write(dir.path("resolv.conf"), "nameserver 192.0.2.53\n").unwrap();
        let script = script.to_str().unwrap().to_string();
        let mut argv = vec![bin(), "udhcpc", "-f", "-i", "eth0", "-s", &script];
        // Never the default /var/lib/udhcpc: the lease memory stays in the
        // test's temp dir unless the test names a file.
        let state = dir.path("eth0.lease");
        let state = state.to_str().unwrap().to_string();
        if !args.iter().any(|a| a.starts_with("--lease-file")) {
            argv.extend(["--lease-file", &state]);
        }
        argv.extend_from_slice(args);
        let resolv = dir.path("resolv.conf");
        let events = dir.path("events");
        let mut all_env = vec![
            ("RESOLV_CONF", resolv.to_str().unwrap()),
            ("EVENTS", events.to_str().unwrap()),
        ];
        all_env.extend_from_slice(env);
        let proc = Proc::spawn(ns, "udhcpc", dir.path("udhcpc.log"), &argv, &all_env);
        Udhcpc { proc, dir }
    }

    fn events(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn event_names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect()
    }

    fn count(&self, name: &str) -> usize {
        self.event_names().iter().filter(|n| *n == name).count()
    }

    /// Waits until `name` was recorded `n` times.
    fn wait_event(&self, name: &str, n: usize, limit: Duration) {
        if !wait_until(limit, || self.count(name) >= n) {
            panic!(
                "no {n}× '{name}' event within {limit:?}; events: {:?}\nudhcpc log:\n{}",
                self.events(),
                self.proc.log()
            );
        }
    }

    fn resolv(&self) -> String {
        fs::read_to_string(self.dir.path("resolv.conf")).unwrap()
    }

    fn log(&self) -> String {
        self.proc.log()
    }
}

fn addr_of(ns: &Ns) -> String {
    ns.exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
}

fn routes_of(ns: &Ns) -> String {
    ns.exec_ok(&["ip", "-4", "route", "show"])
}

fn mtu_of(ns: &Ns) -> String {
    ns.exec_ok(&["cat", "/sys/class/net/eth0/mtu"])
        .trim()
        .to_string()
}

/// The address our client got (from `ip addr`), in the pool 10.99.0.x.
fn leased_ip(ns: &Ns) -> Option<Ipv4Addr> {
    let out = addr_of(ns);
    let word = out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
    word.split('/').next()?.parse().ok()
}

/// What every real-server test checks after `bound`.
fn assert_configured(ns: &Ns, c: &Udhcpc, expect_mtu: Option<&str>) -> Ipv4Addr {
    let addr = addr_of(ns);
    let ip = leased_ip(ns).unwrap_or_else(|| panic!("no address: {addr}\n{}", c.log()));
    assert!(addr.contains("/24"), "prefix: {addr}");
    assert!(addr.contains("brd 10.99.0.255"), "broadcast: {addr}");
    let first = &c.events()[c.event_names().iter().position(|n| n == "bound").unwrap()];
    assert!(first.contains(&format!("ip={ip} ")), "{first}");
    if let Some(m) = expect_mtu {
        assert_eq!(mtu_of(ns), m);
    }
    let resolv = c.resolv();
    assert!(
        resolv.starts_with("nameserver 192.0.2.53\n"),
        "foreign lines kept: {resolv}"
    );
    assert!(resolv.contains("# udhcpc eth0 begin\n"), "{resolv}");
    assert!(resolv.contains("nameserver 10.99.0.1\n"), "{resolv}");
    assert!(resolv.contains("# udhcpc eth0 end\n"), "{resolv}");
    ip
}

// ---------------------------------------------------------------------------
// Tests against real servers

#[test]
fn busybox_udhcpd_lease_renew_release_term() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let mut server = busybox_udhcpd(srv);
    let mut c = Udhcpc::start(cli, &["-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let ip = assert_configured(cli, &c, Some("1400"));
    assert!(
        routes_of(cli).contains("default via 10.99.0.1 dev eth0 proto dhcp"),
        "{}",
        routes_of(cli)
    );
    assert!(
        c.resolv().contains("search lab.example\n"),
        "{}",
        c.resolv()
    );
    assert!(c.log().contains("udhcpc: started, v"), "{}", c.log());
    assert!(
        c.log().contains(&format!(
            "udhcpc: lease of {ip} obtained from 10.99.0.1, lease time 600"
        )),
        "{}",
        c.log()
    );

    // USR1: renew now (unicast through the kernel socket) → `renew`.
    c.proc.signal(Signal::SIGUSR1);
    c.wait_event("renew", 1, Duration::from_secs(10));
    assert!(c.log().contains("sending renew to server 10.99.0.1"));
    assert_eq!(leased_ip(cli), Some(ip));

    // USR2: RELEASE, seen by the server, and deconfig.
    let deconfigs = c.count("deconfig");
    c.proc.signal(Signal::SIGUSR2);
    c.wait_event("deconfig", deconfigs + 1, Duration::from_secs(10));
    assert!(c
        .log()
        .contains(&format!("unicasting a release of {ip} to 10.99.0.1")));
    assert_eq!(leased_ip(cli), None, "{}", addr_of(cli));
    assert!(!c.resolv().contains("udhcpc eth0"), "{}", c.resolv());
    let released = wait_until(Duration::from_secs(5), || {
        let d = server.dumpleases();
        d.lines()
            .any(|l| l.contains(&ip.to_string()) && l.contains("expired"))
    });
    assert!(
        released,
        "server did not expire the lease: {}",
        server.dumpleases()
    );

    // TERM without -R: exit 0, no script, nothing left running.
    let deconfigs = c.count("deconfig");
    c.proc.signal(Signal::SIGTERM);
    let st = c
        .proc
        .wait_exit(Duration::from_secs(5))
        .expect("udhcpc exits");
    assert_eq!(st.code(), Some(0), "{}", c.log());
    assert!(c.log().contains("udhcpc: received SIGTERM"));
    assert_eq!(c.count("deconfig"), deconfigs);
    assert!(
        pids_in(cli).is_empty(),
        "left in client ns: {:?}",
        pids_in(cli)
    );
}

#[test]
fn dnsmasq_static_routes_and_release_on_term_with_r() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let server = dnsmasq(srv);
    let mut c = Udhcpc::start(cli, &["-R", "-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let ip = assert_configured(cli, &c, Some("1300"));
    let routes = routes_of(cli);
    // Option 121 wins over option 3 (RFC 3442): 10.99.0.253 is not used.
    assert!(
        routes.contains("default via 10.99.0.1 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("10.200.0.0/16 via 10.99.0.254 dev eth0"),
        "{routes}"
    );
    assert!(!routes.contains("10.99.0.253"), "{routes}");
    assert!(c.events()[1].contains("staticroutes=10.200.0.0/16 10.99.0.254 0.0.0.0/0 10.99.0.1"));
    assert!(
        c.resolv().contains("search lab.example\n"),
        "{}",
        c.resolv()
    );
    assert!(
        wait_until(Duration::from_secs(5), || server
            .lease_text()
            .contains(&ip.to_string())),
        "dnsmasq lease file: {}",
        server.lease_text()
    );

    // TERM with -R: RELEASE (dnsmasq drops the lease), deconfig, exit 0.
    c.proc.signal(Signal::SIGTERM);
    let st = c.proc.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(st.code(), Some(0), "{}", c.log());
    assert_eq!(c.event_names().last().map(String::as_str), Some("deconfig"));
    assert_eq!(leased_ip(cli), None);
    assert!(!routes_of(cli).contains("10.200.0.0"), "{}", routes_of(cli));
    assert!(
        wait_until(Duration::from_secs(5), || !server
            .lease_text()
            .contains(&ip.to_string())),
        "dnsmasq kept the lease: {}",
        server.lease_text()
    );
    assert!(pids_in(cli).is_empty());
}

#[test]
fn kea_lease_with_quit_and_arping() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let server = kea(srv, &pool(), &[]);
    let mut c = Udhcpc::start(cli, &["-q", "-n", "-a500", "-T", "2", "-t", "5"]);
    let st = c
        .proc
        .wait_exit(Duration::from_secs(40))
        .expect("-q exits after bound");
    assert_eq!(st.code(), Some(0), "{}\n{}", c.log(), server.peer.log());
    assert_eq!(c.event_names(), ["deconfig", "bound"], "{}", c.log());
    let ip = assert_configured(cli, &c, Some("1280"));
    assert!(routes_of(cli).contains("default via 10.99.0.1 dev eth0"));
    assert!(
        wait_until(Duration::from_secs(5), || server
            .lease_text()
            .contains(&ip.to_string())),
        "{}",
        server.lease_text()
    );
    assert!(pids_in(cli).is_empty());
}

#[test]
fn kea_short_lease_renews_at_t1() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    // T1 15 s (option 58, honoured), T2 25 s, lease 30 s.
    let pool = Pool {
        lease_secs: 30,
        ..pool()
    };
    let server = kea(srv, &pool, &[r#""renew-timer": 15, "rebind-timer": 25"#]);
    let t0 = netns::now();
    let mut c = Udhcpc::start(cli, &["-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let ip = leased_ip(cli).expect("bound");
    c.wait_event("renew", 1, Duration::from_secs(30));
    let took = netns::now() - t0;
    assert!(
        took >= Duration::from_secs(14),
        "renewed too early: {took:?}"
    );
    assert_eq!(leased_ip(cli), Some(ip));
    assert!(
        c.log()
            .contains("udhcpc: sending renew to server 10.99.0.1"),
        "{}\n{}",
        c.log(),
        server.peer.log()
    );
    c.proc.signal(Signal::SIGTERM);
    assert_eq!(
        c.proc
            .wait_exit(Duration::from_secs(5))
            .and_then(|s| s.code()),
        Some(0)
    );
    assert!(pids_in(cli).is_empty());
}

#[test]
fn background_after_bound_rewrites_pidfile() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = busybox_udhcpd(srv);
    let dir = TempDir::new("bg");
    let pidfile = dir.path("udhcpc.pid");
    let p = pidfile.to_str().unwrap().to_string();
    // No -f: after `bound` the parent exits 0 and the child goes on. The
    // guard kills the daemon if the test fails before it is stopped.
    let _guard = DaemonGuard(pidfile.clone());
    let scratch = TempDir::new("bg-run");
    let script = scratch.write_script(
        "default.script",
        &fs::read_to_string(DEFAULT_SCRIPT).unwrap(),
    );
    scratch.write_script("default.script.d/10-record", RECORD_HOOK);
    let events = scratch.path("events");
    let resolv = scratch.path("resolv.conf");
    let state = scratch.path("eth0.lease");
    let mut parent = Proc::spawn(
        cli,
        "udhcpc (background)",
        scratch.path("log"),
        &[
            bin(),
            "udhcpc",
            "-i",
            "eth0",
            "-T",
            "1",
            "-p",
            &p,
            "-s",
            script.to_str().unwrap(),
            "--lease-file",
            state.to_str().unwrap(),
        ],
        &[
            ("RESOLV_CONF", resolv.to_str().unwrap()),
            ("EVENTS", events.to_str().unwrap()),
        ],
    );
    let st = parent
        .wait_exit(Duration::from_secs(20))
        .expect("parent exits after bound");
    assert_eq!(st.code(), Some(0), "{}", parent.log());
    let ev = fs::read_to_string(&events).unwrap_or_default();
    assert!(ev.contains("bound ip=10.99.0."), "{ev}");
    let daemon: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(daemon, parent.pid(), "pidfile names the daemon");
    assert!(alive(daemon));
    assert_eq!(pids_in(cli), [daemon.to_string()]);
    // The daemon still serves signals: USR1 → renew, TERM → exit, pidfile gone.
    kill(Pid::from_raw(daemon), Signal::SIGUSR1).unwrap();
    assert!(wait_until(Duration::from_secs(10), || fs::read_to_string(
        &events
    )
    .unwrap_or_default()
    .contains("renew ip=")));
    kill(Pid::from_raw(daemon), Signal::SIGTERM).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !alive(daemon)),
        "daemon did not exit"
    );
    assert!(!pidfile.exists(), "pidfile removed");
    assert!(pids_in(cli).is_empty());
}

#[test]
fn isc_dhcpd_lease_with_quit_release() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let server = isc_dhcpd(srv);
    // -q -R: bound, then RELEASE and deconfig, exit 0.
    let mut c = Udhcpc::start(cli, &["-q", "-R", "-n", "-T", "2", "-t", "5"]);
    let st = c.proc.wait_exit(Duration::from_secs(40)).expect("exits");
    assert_eq!(st.code(), Some(0), "{}\n{}", c.log(), server.peer.log());
    assert_eq!(c.event_names(), ["deconfig", "bound", "deconfig"]);
    let bound = &c.events()[1];
    assert!(bound.contains("mtu=1350"), "{bound}");
    assert!(bound.contains("router=10.99.0.1"), "{bound}");
    assert!(c.log().contains("sending release"), "{}", c.log());
    assert_eq!(leased_ip(cli), None);
    let ip = bound
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap()
        .to_string();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let l = server.lease_text();
            l.contains(&format!("lease {ip} {{")) && l.contains("binding state free")
        }),
        "dhcpd did not free the lease: {}",
        server.lease_text()
    );
    assert!(pids_in(cli).is_empty());
}

// ---------------------------------------------------------------------------
// Without a server

#[test]
fn no_server_with_n_exits_1_after_leasefail() {
    let Some(lab) = lab() else { return };
    let cli = lab.ns(1);
    let t0 = netns::now();
    let mut c = Udhcpc::start(cli, &["-n", "-t", "2", "-T", "1"]);
    let st = c.proc.wait_exit(Duration::from_secs(15)).expect("exits");
    assert_eq!(st.code(), Some(1), "{}", c.log());
    assert!(netns::now() - t0 < Duration::from_secs(10));
    assert_eq!(c.event_names(), ["deconfig", "leasefail"]);
    let log = c.log();
    assert_eq!(
        log.matches("udhcpc: broadcasting discover").count(),
        2,
        "{log}"
    );
    assert!(log.contains("udhcpc: no lease, failing"), "{log}");
    assert!(pids_in(cli).is_empty());
}

#[test]
fn pidfile_refuses_second_instance_and_is_removed_on_term() {
    let Some(lab) = lab() else { return };
    let cli = lab.ns(1);
    let dir = TempDir::new("pid");
    let pidfile = dir.path("udhcpc.pid");
    let p = pidfile.to_str().unwrap();
    let mut first = Udhcpc::start(cli, &["-p", p, "-T", "1"]);
    assert!(
        wait_until(Duration::from_secs(5), || fs::read_to_string(&pidfile)
            .is_ok_and(|s| s.trim() == first.proc.pid().to_string())),
        "pidfile: {:?}\n{}",
        fs::read_to_string(&pidfile),
        first.log()
    );
    let mut second = Udhcpc::start(cli, &["-p", p, "-T", "1"]);
    let st = second
        .proc
        .wait_exit(Duration::from_secs(5))
        .expect("refused");
    assert_eq!(st.code(), Some(1));
    assert!(
        second
            .log()
            .contains(&format!("already running as pid {}", first.proc.pid())),
        "{}",
        second.log()
    );
    assert!(second.events().is_empty(), "the refused one ran no script");
    assert!(pidfile.exists(), "the refused one left the pidfile alone");

    first.proc.signal(Signal::SIGTERM);
    let st = first.proc.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(st.code(), Some(0));
    assert!(!pidfile.exists(), "pidfile removed on TERM");
    assert!(pids_in(cli).is_empty());
}

#[test]
fn term_during_a_hanging_script_kills_its_group_and_exits() {
    let Some(lab) = lab() else { return };
    let cli = lab.ns(1);
    // A hook that starts a background child and then hangs on deconfig.
    let hang = "#!/bin/sh\n[ \"$1\" = deconfig ] || exit 0\nsleep 300 &\necho started >\"$EVENTS.hang\"\nsleep 300\n";
    let mut c = Udhcpc::start_with_hooks(cli, &["-T", "1"], &[("90-hang", hang)]);
    let marker = c.dir.path("events.hang");
    assert!(wait_until(Duration::from_secs(5), || marker.exists()));
    c.proc.signal(Signal::SIGTERM);
    let st = c.proc.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(st.code(), Some(0), "{}", c.log());
    assert!(
        wait_until(Duration::from_secs(3), || pids_in(cli).is_empty()),
        "script children outlived udhcpc: {:?}",
        pids_in(cli)
    );
}

// ---------------------------------------------------------------------------
// Crafted servers: hostile option values, ARP conflict

#[test]
fn hostile_server_values_never_reach_a_shell() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let dir = TempDir::new("canary");
    let canary = dir.path("CANARY");
    let c_path = canary.to_str().unwrap().to_string();
    let evil = [
        format!("$(touch {c_path})"),
        format!("`touch {c_path}`"),
        format!("x; touch {c_path}; #"),
        format!("x && touch {c_path}"),
        format!("x | touch {c_path}"),
        format!("x\ntouch {c_path}"),
        format!("-x'; touch {c_path}; echo '"),
    ];
    let server = Crafted::start(srv, {
        let evil = evil.clone();
        move |n, _| {
            let mut o = Offer::normal(Ipv4Addr::new(10, 99, 0, 77));
            let e = &evil[n % evil.len()];
            // Not all fit in one message: alternate two sets.
            let codes: &[u8] = if n % 2 == 0 {
                &[12, 15, 56, 66, 67]
            } else {
                &[17, 40, 100, 101, 252]
            };
            for &code in codes {
                o.options.push((code, e.clone().into_bytes()));
            }
            o.options.push((119, dns_wire(e)));
            o.options.push((6, b"\x0a\x63\x00\x01$(touch)".to_vec()));
            o.sname = e.clone().into_bytes();
            o.file = evil[(n + 1) % evil.len()].clone().into_bytes();
            Some(o)
        }
    });
    // A careless hook: every value unquoted, through eval and sh -c.
    let careless = r#"#!/bin/sh
for v in $hostname $domain $rootpath $nisdomain $message $tftp $bootfile $tzstr $tzdb $wpad $search $sname $boot_file $dns; do
  eval "echo $v" >/dev/null 2>&1
  sh -c "echo $v" >/dev/null 2>&1
done
eval echo $message $hostname $boot_file $sname >/dev/null 2>&1
echo "$1 message=$message hostname=$hostname sname=$sname" >>"$EVENTS.values"
"#;
    let mut c = Udhcpc::start_with_hooks(cli, &["-T", "1"], &[("20-careless", careless)]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    assert_eq!(leased_ip(cli), Some(Ipv4Addr::new(10, 99, 0, 77)));
    // A few renewals cycle through the other payloads.
    for k in 1..=3 {
        c.proc.signal(Signal::SIGUSR1);
        c.wait_event("renew", k, Duration::from_secs(10));
    }
    c.proc.signal(Signal::SIGTERM);
    c.proc.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(
        !canary.exists(),
        "a server value was executed! events: {:?}",
        c.events()
    );
    // The hook ran, and saw no hostile value at all: each was dropped
    // whole (never rewritten); host names keep BusyBox's `bad`.
    let values = fs::read_to_string(c.dir.path("events.values")).unwrap();
    assert!(values.contains("message= hostname=bad sname="), "{values}");
    // resolv.conf: not one byte a shell acts on, and udhcpc's block holds
    // only well-formed lines. Which options reach the client depends on
    // what fits each crafted packet (the payloads embed the temp path, whose
    // length varies with the PID), so the block may or may not have a
    // nameserver or a search line; a defused word such as `touch` in a
    // search line is harmless, a `$(` or `;` would not be.
    let r = c.resolv();
    assert!(
        !r.contains(['$', '`', ';', '|', '&', '(', ')', '\'', '"', '\\']),
        "{r}"
    );
    let block = r
        .lines()
        .skip_while(|l| *l != "# udhcpc eth0 begin")
        .skip(1)
        .take_while(|l| *l != "# udhcpc eth0 end");
    for line in block {
        let ok = match line.split_once(' ') {
            Some(("nameserver", ip)) => ip.parse::<Ipv4Addr>().is_ok(),
            Some(("search", words)) => words.split(' ').all(|w| {
                !w.is_empty()
                    && !w.starts_with('-')
                    && w.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            }),
            _ => false,
        };
        assert!(ok, "bad resolv.conf line {line:?} in:\n{r}");
    }
    assert!(server.seen().contains(&"request".to_string()));
}

// ---------------------------------------------------------------------------
// Lease memory, INIT-REBOOT and carrier (issue 10)

/// A first boot with `-q`: bound, exits 0 without releasing; the lease is
/// remembered in `state`. Returns the address.
fn first_boot(cli: &Ns, state: &str) -> Ipv4Addr {
    let mut c = Udhcpc::start(cli, &["-T", "1", "-q", "--lease-file", state]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let st = c.proc.wait_exit(Duration::from_secs(5)).expect("-q exits");
    assert_eq!(st.code(), Some(0), "{}", c.log());
    let ip = leased_ip(cli).expect("configured");
    let text = fs::read_to_string(state).unwrap();
    assert!(text.contains("format=udhcpc-lease-1\n"), "{text}");
    assert!(text.contains(&format!("ip={ip}\n")), "{text}");
    ip
}

/// What a reboot leaves: no address on eth0.
fn reboot(cli: &Ns) {
    cli.exec_ok(&["ip", "-4", "addr", "flush", "dev", "eth0"]);
    assert_eq!(leased_ip(cli), None);
}

/// Second boot against `server`: bound by INIT-REBOOT alone (no DISCOVER)
/// to the remembered address.
fn second_boot_is_init_reboot(start: fn(&Ns) -> Server) {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = start(srv);
    let dir = TempDir::new("reboot");
    let state = dir.path("eth0.lease");
    let state = state.to_str().unwrap();
    let ip = first_boot(cli, state);
    reboot(cli);
    let t0 = netns::now();
    let c = Udhcpc::start(cli, &["-T", "1", "--lease-file", state]);
    c.wait_event("bound", 1, Duration::from_secs(15));
    let took = netns::now() - t0;
    let log = c.log();
    assert!(
        log.contains(&format!("remembered lease of {ip}, verifying it")),
        "{log}"
    );
    assert!(
        log.contains(&format!("broadcasting INIT-REBOOT request for {ip}")),
        "{log}"
    );
    assert!(!log.contains("broadcasting discover"), "{log}");
    assert_eq!(c.event_names(), ["deconfig", "bound"], "{log}");
    assert_eq!(leased_ip(cli), Some(ip));
    eprintln!("second boot bound by INIT-REBOOT in {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}\n{log}");
}

#[test]
fn second_boot_init_reboot_busybox_udhcpd() {
    second_boot_is_init_reboot(busybox_udhcpd);
}

#[test]
fn second_boot_init_reboot_dnsmasq() {
    second_boot_is_init_reboot(dnsmasq);
}

#[test]
fn second_boot_init_reboot_kea() {
    second_boot_is_init_reboot(|ns| kea(ns, &pool(), &[]));
}

#[test]
fn second_boot_init_reboot_isc_dhcpd() {
    second_boot_is_init_reboot(isc_dhcpd);
}

/// A remembered lease from another network (10.55.0.9): the server NAKs
/// the INIT-REBOOT (RFC 2131 §4.3.2, wrong subnet); the client runs `nak`
/// and `deconfig`, forgets it and discovers.
fn remembered_wrong_network_is_naked(start: fn(&Ns) -> Server) {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = start(srv);
    let dir = TempDir::new("wrongnet");
    let state = dir.path("eth0.lease");
    let mac = cli.exec_ok(&["cat", "/sys/class/net/eth0/address"]);
    fs::write(
        &state,
        format!(
            "format=udhcpc-lease-1\ninterface=eth0\nmac={}\nip=10.55.0.9\n\
             server=10.55.0.1\nobtained=0\nlease=infinite\nexpires=never\n",
            mac.trim()
        ),
    )
    .unwrap();
    let state_s = state.to_str().unwrap();
    let c = Udhcpc::start(cli, &["-T", "1", "--lease-file", state_s]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let log = c.log();
    assert!(
        log.contains("broadcasting INIT-REBOOT request for 10.55.0.9"),
        "{log}"
    );
    assert!(log.contains("received DHCP NAK"), "{log}");
    assert!(log.contains("broadcasting discover"), "{log}");
    assert_eq!(
        c.event_names(),
        ["deconfig", "nak", "deconfig", "bound"],
        "{log}"
    );
    let ip = leased_ip(cli).unwrap();
    assert_eq!(ip.octets()[..3], [10, 99, 0]);
    // Written right after the `bound` script returns.
    let remembered = || {
        fs::read_to_string(&state)
            .unwrap_or_default()
            .contains(&format!("ip={ip}\n"))
    };
    assert!(
        wait_until(Duration::from_secs(3), remembered),
        "{}",
        fs::read_to_string(&state).unwrap_or_default()
    );
}

#[test]
fn remembered_wrong_network_naked_by_busybox_udhcpd() {
    remembered_wrong_network_is_naked(busybox_udhcpd);
}

#[test]
fn remembered_wrong_network_naked_by_dnsmasq() {
    remembered_wrong_network_is_naked(dnsmasq);
}

#[test]
fn corrupt_lease_file_is_ignored_with_a_warning() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = busybox_udhcpd(srv);
    let dir = TempDir::new("corrupt");
    let state = dir.path("eth0.lease");
    fs::write(&state, "format=udhcpc-lease-1\nip=not-an-ip\n").unwrap();
    let c = Udhcpc::start(cli, &["-T", "1", "--lease-file", state.to_str().unwrap()]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let log = c.log();
    assert!(log.contains("bad ip \"not-an-ip\", ignored"), "{log}");
    assert!(log.contains("broadcasting discover"), "{log}");
    let ip = leased_ip(cli).unwrap();
    // Written right after the `bound` script returns.
    let remembered = || {
        fs::read_to_string(&state)
            .unwrap_or_default()
            .contains(&format!("ip={ip}\n"))
    };
    assert!(wait_until(Duration::from_secs(3), remembered));
}

#[test]
fn carrier_down_up_while_bound_verifies_the_lease_within_a_second() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = busybox_udhcpd(srv);
    let c = Udhcpc::start(cli, &["-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let ip = leased_ip(cli).unwrap();
    srv.exec_ok(&["ip", "link", "set", "eth0", "down"]);
    assert!(
        wait_until(Duration::from_secs(3), || c.log().contains("link down")),
        "{}",
        c.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    // The lease is kept while the cable is out.
    assert_eq!(leased_ip(cli), Some(ip));
    assert_eq!(c.count("deconfig"), 1);
    srv.exec_ok(&["ip", "link", "set", "eth0", "up"]);
    let t0 = netns::now();
    c.wait_event("renew", 1, Duration::from_secs(10));
    let took = netns::now() - t0;
    let log = c.log();
    assert!(log.contains("link up"), "{log}");
    assert!(
        log.contains(&format!("broadcasting INIT-REBOOT request for {ip}")),
        "{log}"
    );
    assert_eq!(leased_ip(cli), Some(ip));
    eprintln!("lease verified {took:?} after the link returned");
    assert!(took <= Duration::from_secs(1), "{took:?}\n{log}");
}

#[test]
fn no_cable_at_boot_backgrounds_in_about_nine_seconds() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    srv.exec_ok(&["ip", "link", "set", "eth0", "down"]);
    let dir = TempDir::new("nocable");
    let pidfile = dir.path("udhcpc.pid");
    let p = pidfile.to_str().unwrap().to_string();
    let _guard = DaemonGuard(pidfile.clone());
    let script = dir.write_script(
        "default.script",
        &fs::read_to_string(DEFAULT_SCRIPT).unwrap(),
    );
    // A remembered lease too: it must survive the cable-less boot.
    let state = dir.path("eth0.lease");
    let mac = cli.exec_ok(&["cat", "/sys/class/net/eth0/address"]);
    let remembered = format!(
        "format=udhcpc-lease-1\ninterface=eth0\nmac={}\nip=10.99.0.120\n\
         server=10.99.0.1\nobtained=0\nlease=infinite\nexpires=never\n",
        mac.trim()
    );
    fs::write(&state, &remembered).unwrap();
    let t0 = netns::now();
    let mut parent = Proc::spawn(
        cli,
        "udhcpc (no cable)",
        dir.path("log"),
        &[
            bin(),
            "udhcpc",
            "-i",
            "eth0",
            "-t",
            "3",
            "-T",
            "3",
            "-b",
            "-p",
            &p,
            "-s",
            script.to_str().unwrap(),
            "--lease-file",
            state.to_str().unwrap(),
        ],
        &[("RESOLV_CONF", dir.path("resolv.conf").to_str().unwrap())],
    );
    let st = parent
        .wait_exit(Duration::from_secs(20))
        .expect("parent exits at the first leasefail");
    let took = netns::now() - t0;
    let log = parent.log();
    assert_eq!(st.code(), Some(0), "{log}");
    eprintln!("no cable: backgrounded after {took:?}");
    assert!(
        took >= Duration::from_secs(7) && took <= Duration::from_secs(11),
        "{took:?}\n{log}"
    );
    assert!(log.contains("link down"), "{log}");
    assert!(log.contains("no lease, forking to background"), "{log}");
    assert!(!log.contains("broadcasting discover"), "{log}");
    assert!(log.contains("remembered lease of 10.99.0.120"), "{log}");
    assert_eq!(fs::read_to_string(&state).unwrap(), remembered);
    let daemon: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill(Pid::from_raw(daemon), Signal::SIGTERM).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(daemon)));
}

/// `--rapid-commit` against a server that does it: bound from DISCOVER →
/// ACK, no SELECT.
fn rapid_commit_two_messages(server: impl Fn(&Ns) -> Server) {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = server(srv);
    let c = Udhcpc::start(cli, &["-T", "1", "-v", "--rapid-commit"]);
    c.wait_event("bound", 1, Duration::from_secs(15));
    let log = c.log();
    assert!(log.contains("rapid commit ACK"), "{log}");
    assert!(!log.contains("broadcasting select"), "{log}");
    assert_eq!(c.event_names(), ["deconfig", "bound"], "{log}");
    let ip = leased_ip(cli).unwrap();
    assert_eq!(ip.octets()[..3], [10, 99, 0]);
}

#[test]
fn rapid_commit_with_dnsmasq() {
    rapid_commit_two_messages(|ns| {
        ServerKind::Dnsmasq.start_with(ns, &pool(), &["--user=root", "--dhcp-rapid-commit"])
    });
}

#[test]
fn rapid_commit_with_our_udhcpd() {
    rapid_commit_two_messages(|ns| {
        ServerKind::Udhcp.start_with(ns, &pool(), &["rapid_commit yes"])
    });
}

#[test]
fn rapid_commit_needs_both_sides() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    // Our udhcpd without the keyword: the usual four messages.
    let _server = ServerKind::Udhcp.start_with(srv, &pool(), &[]);
    let c = Udhcpc::start(cli, &["-T", "1", "--rapid-commit"]);
    c.wait_event("bound", 1, Duration::from_secs(15));
    assert!(c.log().contains("broadcasting select"), "{}", c.log());
}

#[test]
fn script_time_limit_from_flag_and_environment() {
    let Some(lab) = lab() else { return };
    let cli = lab.ns(1);
    let hang = "#!/bin/sh\n[ \"$1\" = deconfig ] || exit 0\nsleep 300\n";
    for (args, env) in [
        (&["-T", "1", "--script-timeout", "1"][..], &[][..]),
        (&["-T", "1"][..], &[("UDHCPC_SCRIPT_TIMEOUT", "1")][..]),
    ] {
        let t0 = netns::now();
        let c = Udhcpc::start_full(cli, args, &[("90-hang", hang)], env);
        assert!(
            wait_until(Duration::from_secs(5), || c
                .log()
                .contains("still running after 1000 ms, killing it")),
            "{args:?} {env:?}: {}",
            c.log()
        );
        let took = netns::now() - t0;
        assert!(took < Duration::from_secs(3), "{took:?}");
        // The client goes on after the killed script.
        assert!(
            wait_until(Duration::from_secs(3), || c
                .log()
                .contains("broadcasting discover")),
            "{}",
            c.log()
        );
    }
}

#[test]
fn script_that_cannot_be_executed_is_named_in_the_log() {
    let Some(lab) = lab() else { return };
    let cli = lab.ns(1);
    let dir = TempDir::new("noexec");
    let script = dir.path("script");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let c = Udhcpc::start(cli, &["-T", "1", "-s", script.to_str().unwrap()]);
    let want = format!(
        "script {} deconfig could not be executed: ",
        script.display()
    );
    assert!(
        wait_until(Duration::from_secs(5), || c.log().contains(&want)),
        "{}",
        c.log()
    );
}

#[test]
fn mtu_restored_on_deconfig() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    let _server = busybox_udhcpd(srv);
    assert_eq!(mtu_of(cli), "1500");
    let mut c = Udhcpc::start(cli, &["-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    assert_eq!(mtu_of(cli), "1400");
    c.proc.signal(Signal::SIGUSR2);
    c.wait_event("deconfig", 2, Duration::from_secs(10));
    assert_eq!(mtu_of(cli), "1500", "{}", c.log());
}

#[test]
fn tiny_server_mtu_ignored_and_huge_search_list_capped() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    // 21 pointer-shared names of 199 bytes: 241 bytes on the wire (the
    // crafted server's replies are 576-byte messages), 4.2 KB decoded,
    // over the 4 KiB cap.
    let mut search = Vec::new();
    for _ in 0..4 {
        search.push(49);
        search.extend([b'a'; 49]);
    }
    search.push(0);
    for _ in 1..21 {
        search.extend([0xc0, 0]);
    }
    let _server = Crafted::start(srv, move |_, _| {
        let mut o = Offer::normal(Ipv4Addr::new(10, 99, 0, 66));
        o.options.push((26, 68u16.to_be_bytes().to_vec()));
        o.options.push((119, search.clone()));
        Some(o)
    });
    let c = Udhcpc::start(cli, &["-T", "1"]);
    c.wait_event("bound", 1, Duration::from_secs(20));
    let log = c.log();
    assert!(log.contains("server MTU 68 is below 576, ignored"), "{log}");
    assert!(log.contains("search: "), "{log}");
    assert!(log.contains("bytes cut to"), "{log}");
    assert_eq!(mtu_of(cli), "1500");
    assert_eq!(leased_ip(cli), Some(Ipv4Addr::new(10, 99, 0, 66)));
    let bound = &c.events()[1];
    assert!(
        bound.starts_with("bound ") && bound.contains(" mtu= "),
        "{bound}"
    );
    let r = c.resolv();
    let line = r.lines().find(|l| l.starts_with("search ")).expect(&r);
    assert!(line.len() <= 4096 + 7, "{}", line.len());
}

#[test]
fn arp_conflict_declines_and_takes_the_next_offer() {
    let Some(lab) = lab() else { return };
    let (srv, cli) = (lab.ns(0), lab.ns(1));
    // First offer: the server's own address (its kernel answers the ARP
    // probe); after the DECLINE, a free one.
    let declined = Arc::new(AtomicBool::new(false));
    let d2 = declined.clone();
    let server = Crafted::start(srv, move |_, kind| {
        if kind == "decline" {
            d2.store(true, Ordering::SeqCst);
            return None;
        }
        let ip = if d2.load(Ordering::SeqCst) {
            Ipv4Addr::new(10, 99, 0, 50)
        } else {
            SERVER_IP
        };
        Some(Offer::normal(ip))
    });
    let mut c = Udhcpc::start(cli, &["-a300", "-A", "1", "-T", "1", "-q"]);
    let st = c.proc.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(st.code(), Some(0), "{}", c.log());
    let log = c.log();
    assert!(
        log.contains("udhcpc: offered address is in use (got ARP reply), declining"),
        "{log}"
    );
    assert!(log.contains("udhcpc: broadcasting decline"), "{log}");
    assert!(declined.load(Ordering::SeqCst), "{:?}", server.seen());
    assert_eq!(c.event_names(), ["deconfig", "bound"]);
    assert!(c.events()[1].contains("ip=10.99.0.50 "));
}

// ---------------------------------------------------------------------------
// default.script on its own

#[test]
fn default_script_syntax_in_dash_and_busybox_ash() {
    for sh in [&["dash", "-n"][..], &["busybox", "sh", "-n"][..]] {
        let out = Command::new(sh[0])
            .args(&sh[1..])
            .arg(DEFAULT_SCRIPT)
            .output()
            .unwrap_or_else(|e| panic!("{sh:?}: {e}"));
        assert!(
            out.status.success(),
            "{sh:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `SHELL default.script EVENT` in `ns` with only `env` (and PATH).
fn run_script(ns: &Ns, shell: &[&str], path: &str, event: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = vec!["env", "-i"];
    let owned: Vec<String> = std::iter::once(format!("PATH={path}"))
        .chain(env.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    cmd.extend(owned.iter().map(String::as_str));
    cmd.extend_from_slice(shell);
    cmd.push(DEFAULT_SCRIPT);
    cmd.push(event);
    let out = ns.exec(&cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lease_env<'a>(resolv: &'a str, tmp: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("interface", "eth0"),
        ("ip", "10.99.0.77"),
        ("mask", "24"),
        ("subnet", "255.255.255.0"),
        ("broadcast", "10.99.0.255"),
        ("router", "10.99.0.1 10.99.0.2"),
        ("dns", "10.99.0.1 10.99.0.9"),
        ("domain", "lab.example"),
        ("mtu", "1400"),
        ("RESOLV_CONF", resolv),
        ("TMPDIR", tmp),
    ]
}

#[test]
fn default_script_iproute2_in_both_shells_idempotent() {
    let Some(lab) = Lab::with(&[NsSpec::default()]) else {
        return;
    };
    let ns = lab.ns(0);
    let dir = TempDir::new("script");
    let resolv = dir.write(
        "resolv.conf",
        "nameserver 192.0.2.53\n# udhcpc wlan0 begin\nnameserver 192.0.2.99\n# udhcpc wlan0 end\n",
    );
    let resolv = resolv.to_str().unwrap();
    let tmp = dir.0.to_str().unwrap();
    let path = "/usr/sbin:/usr/bin:/sbin:/bin";
    for shell in [&["dash"][..], &["busybox", "sh"][..]] {
        run_script(
            ns,
            shell,
            path,
            "deconfig",
            &[("interface", "eth0"), ("RESOLV_CONF", resolv)],
        );
        assert_eq!(leased_ip(ns), None);
        let env = lease_env(resolv, tmp);
        run_script(ns, shell, path, "bound", &env);
        let once = (
            addr_of(ns),
            routes_of(ns),
            fs::read_to_string(resolv).unwrap(),
        );
        run_script(ns, shell, path, "renew", &env);
        let twice = (
            addr_of(ns),
            routes_of(ns),
            fs::read_to_string(resolv).unwrap(),
        );
        assert_eq!(
            once, twice,
            "{shell:?}: renew with the same lease changes nothing"
        );
        assert_eq!(leased_ip(ns), Some(Ipv4Addr::new(10, 99, 0, 77)));
        let routes = &once.1;
        assert!(
            routes
                .lines()
                .any(|l| l.trim_end() == "default via 10.99.0.1 dev eth0 proto dhcp"),
            "{routes}"
        );
        assert!(
            routes.contains("default via 10.99.0.2 dev eth0 proto dhcp metric 1"),
            "{routes}"
        );
        assert_eq!(mtu_of(ns), "1400");
        assert_eq!(
            once.2,
            "nameserver 192.0.2.53\n# udhcpc wlan0 begin\nnameserver 192.0.2.99\n# udhcpc wlan0 end\n\
             # udhcpc eth0 begin\nsearch lab.example\nnameserver 10.99.0.1\nnameserver 10.99.0.9\n# udhcpc eth0 end\n"
        );
        // renew to another address and a single router
        let mut env2 = env.clone();
        env2[1] = ("ip", "10.99.0.78");
        env2[5] = ("router", "10.99.0.3");
        run_script(ns, shell, path, "renew", &env2);
        let a = addr_of(ns);
        assert!(
            a.contains("10.99.0.78/24") && !a.contains("10.99.0.77"),
            "{a}"
        );
        let r = routes_of(ns);
        assert!(
            r.contains("default via 10.99.0.3") && !r.contains("10.99.0.1 "),
            "{r}"
        );
        run_script(
            ns,
            shell,
            path,
            "deconfig",
            &[("interface", "eth0"), ("RESOLV_CONF", resolv)],
        );
        assert_eq!(leased_ip(ns), None);
        assert_eq!(
            fs::read_to_string(resolv).unwrap(),
            "nameserver 192.0.2.53\n# udhcpc wlan0 begin\nnameserver 192.0.2.99\n# udhcpc wlan0 end\n"
        );
        // leasefail/nak change nothing and succeed
        run_script(ns, shell, path, "leasefail", &[("interface", "eth0")]);
        run_script(
            ns,
            shell,
            path,
            "nak",
            &[("interface", "eth0"), ("message", "no")],
        );
    }
}

#[test]
fn default_script_falls_back_to_ifconfig_and_route() {
    let Some(lab) = Lab::with(&[NsSpec::default()]) else {
        return;
    };
    let ns = lab.ns(0);
    let dir = TempDir::new("noip");
    // A PATH with BusyBox applets and no `ip`.
    let bb = dir.path("bin");
    fs::create_dir_all(&bb).unwrap();
    let busybox = which("busybox");
    for app in [
        "busybox", "ifconfig", "route", "mktemp", "awk", "cmp", "cat", "rm", "grep", "sh",
    ] {
        std::os::unix::fs::symlink(&busybox, bb.join(app)).unwrap();
    }
    let resolv = dir.write("resolv.conf", "");
    let resolv = resolv.to_str().unwrap();
    let tmp = dir.0.to_str().unwrap();
    let path = bb.to_str().unwrap();
    let mut env = lease_env(resolv, tmp);
    env.push((
        "staticroutes",
        "10.200.0.0/16 10.99.0.254 0.0.0.0/0 10.99.0.1",
    ));
    run_script(
        ns,
        &["busybox", "sh"],
        path,
        "deconfig",
        &[("interface", "eth0")],
    );
    run_script(ns, &["busybox", "sh"], path, "bound", &env);
    let a = addr_of(ns);
    assert!(a.contains("10.99.0.77/24 brd 10.99.0.255"), "{a}");
    let r = routes_of(ns);
    assert!(r.contains("default via 10.99.0.1 dev eth0"), "{r}");
    assert!(r.contains("10.200.0.0/16 via 10.99.0.254 dev eth0"), "{r}");
    assert!(
        !r.contains("via 10.99.0.2 "),
        "router ignored with staticroutes: {r}"
    );
    assert_eq!(mtu_of(ns), "1400");
    assert!(fs::read_to_string(resolv)
        .unwrap()
        .contains("nameserver 10.99.0.9\n"));
    run_script(
        ns,
        &["busybox", "sh"],
        path,
        "deconfig",
        &[("interface", "eth0")],
    );
    assert_eq!(leased_ip(ns), None);
    assert!(!routes_of(ns).contains("10.200.0.0"));
}

fn which(prog: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!p.is_empty(), "{prog} not installed");
    PathBuf::from(p)
}

// ---------------------------------------------------------------------------
// Real servers (tests/common/peers.rs)

/// What every real server hands out here: 10.99.0.100–10.99.0.150 in
/// 10.99.0.0/24, router and DNS 10.99.0.1, 600 s leases.
fn pool() -> Pool {
    Pool {
        end: Ipv4Addr::new(10, 99, 0, 150),
        lease_secs: 600,
        ..Pool::lab()
    }
}

/// BusyBox udhcpd: router, dns, domain, mtu 1400.
fn busybox_udhcpd(ns: &Ns) -> Server {
    ServerKind::BusyboxUdhcpd.start_with(ns, &pool(), &["opt domain lab.example", "opt mtu 1400"])
}

/// dnsmasq, DHCP only: router 10.99.0.253 plus option 121 with a default
/// route via 10.99.0.1 and 10.200.0.0/16 via 10.99.0.254, mtu 1300.
fn dnsmasq(ns: &Ns) -> Server {
    let pool = Pool {
        router: Some(Ipv4Addr::new(10, 99, 0, 253)),
        ..pool()
    };
    ServerKind::Dnsmasq.start_with(
        ns,
        &pool,
        &[
            "--user=root",
            "--dhcp-option=15,lab.example",
            "--dhcp-option=26,1300",
            "--dhcp-option=121,10.200.0.0/16,10.99.0.254,0.0.0.0/0,10.99.0.1",
        ],
    )
}

/// kea-dhcp4 (raw sockets, memfile): router, dns, domain, mtu 1280;
/// `pool`'s lease time and the `timers` members, if any.
fn kea(ns: &Ns, pool: &Pool, timers: &[&str]) -> Server {
    let mut extra = vec![
        r#""option-data": [
    { "name": "domain-name", "data": "lab.example" },
    { "name": "interface-mtu", "data": "1280" } ]"#,
    ];
    extra.extend_from_slice(timers);
    ServerKind::Kea.start_with(ns, pool, &extra)
}

/// ISC dhcpd 4.4: router, dns, domain, mtu 1350, no ping check.
fn isc_dhcpd(ns: &Ns) -> Server {
    ServerKind::IscDhcpd.start_with(
        ns,
        &pool(),
        &[
            "ping-check false;",
            "option domain-name \"lab.example\";",
            "option interface-mtu 1350;",
        ],
    )
}

/// What the crafted server puts in an OFFER/ACK.
#[derive(Clone)]
struct Offer {
    yiaddr: Ipv4Addr,
    options: Vec<(u8, Vec<u8>)>,
    sname: Vec<u8>,
    file: Vec<u8>,
}

impl Offer {
    fn normal(yiaddr: Ipv4Addr) -> Offer {
        Offer {
            yiaddr,
            options: vec![
                (1, vec![255, 255, 255, 0]),
                (3, SERVER_IP.octets().to_vec()),
                (51, 600u32.to_be_bytes().to_vec()),
            ],
            sname: Vec::new(),
            file: Vec::new(),
        }
    }
}

/// `name` as one DNS wire-format name (labels split at dots, whatever
/// bytes they hold).
fn dns_wire(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        v.push(u8::try_from(l.len()).unwrap());
        v.extend_from_slice(l);
    }
    v.push(0);
    v
}

/// A tiny DHCP server on a raw socket in the server namespace, built with
/// the crate's wire builder. `decide(n, kind)` is called for every DISCOVER
/// (`"discover"`), REQUEST (`"request"`), DECLINE and RELEASE, `n` counting
/// the REQUESTs answered so far; `Some(offer)` answers DISCOVER with an
/// OFFER and REQUEST with an ACK.
struct Crafted {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Crafted {
    fn start(
        ns: &Ns,
        decide: impl FnMut(usize, &str) -> Option<Offer> + Send + 'static,
    ) -> Crafted {
        use udhcp::sys::net::iface::Interface;
        use udhcp::sys::net::raw::RawSocket;
        let (iface, sock) = ns.run_in(|| {
            let i = Interface::query("eth0").unwrap();
            let s = RawSocket::open(i.ifindex, 67).unwrap();
            (i, s)
        });
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            serve(&sock, iface.ifindex, &stop2, &seen2, decide);
        });
        Crafted {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Crafted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    sock: &udhcp::sys::net::raw::RawSocket,
    _ifindex: u32,
    stop: &AtomicBool,
    seen: &Mutex<Vec<String>>,
    mut decide: impl FnMut(usize, &str) -> Option<Offer>,
) {
    use std::os::fd::AsFd;
    use udhcp::sys::net::raw::Received;
    use udhcp::wire::dhcp::{code, MessageBuilder, MessageType, Packet};
    use udhcp::wire::MacAddr;

    let mut buf = vec![0u8; 2048];
    let mut acks = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [nix::poll::PollFd::new(
            sock.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
        let req = match sock.recv(&mut buf) {
            Ok(Some(Received::Datagram(d))) => d.udp.payload.to_vec(),
            _ => continue,
        };
        let Ok(p) = Packet::new_checked(&req[..]) else {
            continue;
        };
        let (kind, reply) = match p.message_type() {
            Some(MessageType::Discover) => ("discover", MessageType::Offer),
            Some(MessageType::Request) => ("request", MessageType::Ack),
            Some(MessageType::Decline) => ("decline", MessageType::Nak),
            Some(MessageType::Release) => ("release", MessageType::Nak),
            _ => continue,
        };
        seen.lock().unwrap().push(kind.to_string());
        let Some(offer) = decide(acks, kind) else {
            continue;
        };
        if reply == MessageType::Nak {
            continue;
        }
        if reply == MessageType::Ack {
            acks += 1;
        }
        let mut out = [0u8; 576];
        let mut b = MessageBuilder::reply_to(&mut out, &p).unwrap();
        b.header().set_yiaddr(offer.yiaddr);
        if !offer.sname.is_empty() {
            b.set_sname(&offer.sname).unwrap();
        }
        if !offer.file.is_empty() {
            b.set_file(&offer.file).unwrap();
        }
        b.add_message_type(reply).unwrap();
        b.add_ipv4(code::SERVER_ID, SERVER_IP).unwrap();
        for (c, v) in &offer.options {
            // Options that do not fit are left out; the rest still go.
            let _ = b.add_option(*c, v);
        }
        let n = b.finish();
        let _ = sock.sender().send(
            MacAddr::BROADCAST,
            SERVER_IP,
            67,
            Ipv4Addr::BROADCAST,
            68,
            &out[..n],
        );
    }
}
