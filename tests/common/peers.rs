//! Real DHCP peers (and the binary under test) run inside lab namespaces.
//!
//! Every helper here starts one program inside a namespace of a
//! [`Lab`](super::netns::Lab) (`ip netns exec NS ...`) with a generated
//! configuration and all of its state (leases, pid files, sockets, logs)
//! in a fresh temp dir, and returns a [`Peer`]: a tracked child that is
//! stopped by PID when dropped (SIGTERM, then SIGKILL after a grace
//! period; processes it forked are signalled by PID too, if still alive)
//! and reaped. Its stdout and stderr go to a log file that is printed on
//! stderr when the peer is dropped during a panic, so a failing test shows
//! what every peer said. Keep peers in variables declared after the lab,
//! so they are dropped (stopped) before the namespaces are deleted.
//!
//! - servers ([`ServerKind`]): the udhcpd under test (`udhcp udhcpd`),
//!   BusyBox udhcpd, dnsmasq, kea-dhcp4 (memfile), ISC dhcpd; all serve
//!   one [`Pool`]. [`Server`] waits until the process has bound UDP port
//!   67 (`ss -ulpn` inside the namespace).
//! - clients ([`ClientKind`]): the udhcpc under test (`udhcp udhcpc`),
//!   BusyBox udhcpc, ISC dhclient, dhcpcd; each runs a recording script
//!   that appends one line per event to a file, read back as [`Event`]s
//!   with names normalised to lower case (`bound`, `renew`, ...) and the
//!   lease in common variables (`ip`, `subnet`, `router`, `dns`, `lease`,
//!   `serverid`), whatever the client calls them.
//! - relay: [`dhcrelay`] (ISC 4.4: `-d -4 -id DOWN -iu UP SERVER`), with a
//!   client — relay — server topology from [`RelayLab`].
//! - load: [`perfdhcp`] runs a bounded perfdhcp and parses its statistics.
//!
//! Nothing here touches a host interface or a system state directory:
//! dhcpcd, whose state and run directories are compiled in, gets a temp
//! dir bind-mounted over `/var/lib/dhcpcd` and `/run` in the private mount
//! namespace that `ip netns exec` creates for it (mounts there do not
//! propagate to the host).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use udhcp::wire::MacAddr;

use super::netns::{now, Lab, Ns, NsSpec};
pub use super::tempdir::TempDir;

/// How long a server may take to bind its port.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Generous bound for a client to reach `bound` on a loaded 2-core box.
pub const BOUND_TIMEOUT: Duration = Duration::from_secs(30);
/// Grace between SIGTERM and SIGKILL when a peer is stopped.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Path of the binary under test.
pub fn udhcp_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_udhcp"))
}

// ---------------------------------------------------------------------------
// Installed peers

/// Whether `prog ARGS` runs and exits 0 (output discarded).
pub fn runs(prog: &str, args: &[&str]) -> bool {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// BusyBox, if installed; otherwise a printed skip (a failure when
/// UDHCP_REQUIRE_NETNS=1, as for the other tests needing peers).
pub fn busybox() -> Option<&'static str> {
    if runs("busybox", &["true"]) {
        return Some("busybox");
    }
    assert!(
        std::env::var("UDHCP_REQUIRE_NETNS").as_deref() != Ok("1"),
        "busybox is required (UDHCP_REQUIRE_NETNS=1) but missing"
    );
    println!("skipped: busybox not installed");
    None
}

// ---------------------------------------------------------------------------
// Paths

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------
// Tracked processes

/// A program started inside a namespace by this module: stopped by PID
/// and reaped on drop, its log printed if that happens during a panic.
#[derive(Debug)]
pub struct Peer {
    label: String,
    ns: String,
    child: Option<Child>,
    log: PathBuf,
    /// Config, state and log; dropped (removed) after the process is gone.
    dir: TempDir,
}

impl Peer {
    /// Starts `argv` in `ns` with `env` added, stdout and stderr appended
    /// to `<dir>/<label>.log`.
    pub fn spawn(
        ns: &Ns,
        label: &str,
        dir: TempDir,
        argv: &[String],
        env: &[(&str, &str)],
    ) -> Peer {
        let log = dir.path(&format!("{label}.log"));
        let out = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("dup log fd");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label} {argv:?} in {}: {e}", ns.name));
        Peer {
            label: label.to_string(),
            ns: ns.name.clone(),
            child: Some(child),
            log,
            dir,
        }
    }

    /// `dnsmasq`, `kea-dhcp4`, ...
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The namespace it runs in.
    pub fn ns_name(&self) -> &str {
        &self.ns
    }

    /// Its process id (`ip netns exec` execs the program, so this is the
    /// program's own PID).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Its temp dir (config, state, log).
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// Path of its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status if it has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for it to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = now();
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if now() - t0 > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to it (by PID, only while it is our unreaped child).
    pub fn signal(&mut self, sig: Signal) {
        if self.try_wait().is_none() {
            let _ = kill(Pid::from_raw(self.pid() as i32), sig);
        }
    }

    /// Peak resident set size (VmHWM) in KiB, while it runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM")
    }

    /// Panics with `what` and the log, stopping it first.
    pub fn fail(&mut self, what: &str) -> ! {
        let st = self.stop();
        // Dropping it while panicking prints its log.
        panic!(
            "{} in {}: {what} (status {st:?}); its log follows",
            self.label, self.ns
        );
    }

    /// Stops it (SIGTERM, SIGKILL after a grace period) and reaps it; also
    /// signals, by PID, processes it had forked that outlive it.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        let pid = child.id();
        let forked = descendants(pid);
        // The child is not reaped yet, so its PID cannot have been reused.
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        let t0 = now();
        let st = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if now() - t0 < STOP_GRACE => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    break child.wait().expect("reap peer");
                }
            }
        };
        // Helpers it forked (dhcpcd's privsep processes, ...) normally exit
        // with it; any left are killed by PID, checked against the start
        // time recorded while they were its descendants.
        let t1 = now();
        for &(p, start) in &forked {
            while start_time(p) == Some(start) && now() - t1 < STOP_GRACE {
                std::thread::sleep(Duration::from_millis(20));
            }
            if start_time(p) == Some(start) {
                let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
            }
        }
        Some(st)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- {} in {} ({}) -----\n{}----- end {} -----",
                self.label,
                self.ns,
                self.log.display(),
                self.log(),
                self.label
            );
        }
    }
}

/// `/proc/PID/stat` field 22 (start time in clock ticks).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: fields after ")".
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// All live descendants of `pid`, with their start times.
pub fn descendants(pid: u32) -> Vec<(u32, u64)> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| Some((p, parent_pid(p)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parents {
            if pp == p {
                if let Some(st) = start_time(c) {
                    found.push((c, st));
                    frontier.push(c);
                }
            }
        }
    }
    found
}

/// A `/proc/PID/status` field in KiB (`VmHWM`, `VmRSS`).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Whether `pid` has a UDP socket bound to `port` in `ns`.
pub fn udp_bound(ns: &Ns, pid: u32, port: u16) -> bool {
    let out = ns.exec(&["ss", "-Hulpn"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let suffix = format!(":{port}");
    let owner = format!("pid={pid},");
    text.lines().any(|l| {
        let local = l.split_whitespace().nth(3).unwrap_or("");
        local.ends_with(&suffix) && l.contains(&owner)
    })
}

/// Waits until `peer` has bound UDP `port`; panics (with its log) if it
/// exits first or takes longer than [`READY_TIMEOUT`].
pub fn wait_udp_bound(ns: &Ns, peer: &mut Peer, port: u16) {
    let t0 = now();
    loop {
        if let Some(st) = peer.try_wait() {
            peer.fail(&format!("exited ({st}) before binding UDP port {port}"));
        }
        if udp_bound(ns, peer.pid(), port) {
            return;
        }
        if now() - t0 > READY_TIMEOUT {
            peer.fail(&format!(
                "UDP port {port} not bound within {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Servers

/// The address pool every server kind is configured with.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The subnet the pool lies in.
    pub subnet: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// First and last address handed out (inclusive).
    pub start: Ipv4Addr,
    /// Last address handed out.
    pub end: Ipv4Addr,
    /// Option 3, if any.
    pub router: Option<Ipv4Addr>,
    /// Option 6, if any.
    pub dns: Option<Ipv4Addr>,
    /// Lease time in seconds (option 51), the same for every server.
    pub lease_secs: u32,
}

impl Pool {
    /// 10.99.0.100–10.99.0.200 in 10.99.0.0/24, router and DNS 10.99.0.1
    /// (the lab's first namespace), one hour leases.
    pub fn lab() -> Pool {
        Pool {
            subnet: Ipv4Addr::new(10, 99, 0, 0),
            prefix: 24,
            start: Ipv4Addr::new(10, 99, 0, 100),
            end: Ipv4Addr::new(10, 99, 0, 200),
            router: Some(Ipv4Addr::new(10, 99, 0, 1)),
            dns: Some(Ipv4Addr::new(10, 99, 0, 1)),
            lease_secs: 3600,
        }
    }

    /// The netmask.
    pub fn mask(&self) -> Ipv4Addr {
        prefix_mask(self.prefix)
    }

    /// Number of addresses from start to end.
    pub fn size(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Whether `a` lies inside the pool range.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(a))
    }

    fn in_subnet(&self, a: Ipv4Addr) -> bool {
        let m = u32::from(self.mask());
        u32::from(a) & m == u32::from(self.subnet) & m
    }
}

/// The netmask of a prefix length.
pub fn prefix_mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The binary under test: `udhcp udhcpd -f -a 0 CONF` (BusyBox config).
    Udhcp,
    /// `busybox udhcpd -f -a 0 CONF`.
    BusyboxUdhcpd,
    /// dnsmasq 2.90 in DHCP-only mode (`--port=0`), `--no-ping`.
    Dnsmasq,
    /// kea-dhcp4 with a memfile lease database.
    Kea,
    /// ISC dhcpd 4.4 (`-f -4 -cf -lf -pf IFACE`).
    IscDhcpd,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Udhcp => "udhcp-udhcpd",
            ServerKind::BusyboxUdhcpd => "busybox-udhcpd",
            ServerKind::Dnsmasq => "dnsmasq",
            ServerKind::Kea => "kea-dhcp4",
            ServerKind::IscDhcpd => "isc-dhcpd",
        })
    }
}

/// A running server: its process and its lease file.
#[derive(Debug)]
pub struct Server {
    /// Which server.
    pub kind: ServerKind,
    /// The process.
    pub peer: Peer,
    /// Where it keeps its leases.
    pub lease_file: PathBuf,
}

impl ServerKind {
    /// Starts the server on `ns`'s `eth0` serving `pool`, and waits until
    /// it has bound port 67. Panics (with its log) if it fails to.
    pub fn start(self, ns: &Ns, pool: &Pool) -> Server {
        self.start_with(ns, pool, &[])
    }

    /// As [`start`](Self::start), with `extra` configuration in the
    /// server's own syntax: udhcpd config lines (`opt mtu 1400`), dnsmasq
    /// arguments (`--dhcp-option=26,1300`), kea-dhcp4 `Dhcp4` members
    /// (`"renew-timer": 15`; global `option-data` applies to the subnet),
    /// ISC dhcpd global statements (`option interface-mtu 1350;`).
    pub fn start_with(self, ns: &Ns, pool: &Pool, extra: &[&str]) -> Server {
        let dir = TempDir::new(&self.to_string());
        let ifname = ns.ifname;
        let (argv, env, lease_file): (Vec<String>, Vec<(&str, String)>, PathBuf) = match self {
            ServerKind::Udhcp | ServerKind::BusyboxUdhcpd => {
                let leases = dir.path("udhcpd.leases");
                let mut conf = udhcpd_conf(pool, ifname, &dir);
                for line in extra {
                    conf += &format!("{line}\n");
                }
                let conf = dir.write("udhcpd.conf", &conf);
                let mut argv: Vec<String> = if self == ServerKind::Udhcp {
                    vec![path_str(&udhcp_bin()).into(), "udhcpd".into()]
                } else {
                    vec!["busybox".into(), "udhcpd".into()]
                };
                argv.extend(["-f".into(), "-a".into(), "0".into()]);
                argv.push(path_str(&conf).into());
                (argv, vec![], leases)
            }
            ServerKind::Dnsmasq => {
                let leases = dir.path("dnsmasq.leases");
                let mut argv = dnsmasq_argv(pool, ifname, &dir, &leases);
                argv.extend(extra.iter().map(|a| a.to_string()));
                (argv, vec![], leases)
            }
            ServerKind::Kea => {
                let leases = dir.path("kea-leases4.csv");
                let mut conf = kea_conf(pool, ifname, &dir, &leases);
                if !extra.is_empty() {
                    let members = format!("{{ \"Dhcp4\": {{\n  {},\n", extra.join(",\n  "));
                    conf = conf.replacen("{ \"Dhcp4\": {\n", &members, 1);
                }
                let conf = dir.write("kea-dhcp4.json", &conf);
                let d = path_str(dir.dir()).to_string();
                let env = vec![("KEA_PIDFILE_DIR", d.clone()), ("KEA_LOCKFILE_DIR", d)];
                let argv = vec!["kea-dhcp4".into(), "-c".into(), path_str(&conf).into()];
                (argv, env, leases)
            }
            ServerKind::IscDhcpd => {
                let leases = dir.write("dhcpd.leases", "");
                let own = ns.addr;
                let mut conf = dhcpd_conf(pool, own);
                for line in extra {
                    conf += &format!("{line}\n");
                }
                let conf = dir.write("dhcpd.conf", &conf);
                let argv = vec![
                    "dhcpd".into(),
                    "-f".into(),
                    "-d".into(),
                    "-4".into(),
                    "-cf".into(),
                    path_str(&conf).into(),
                    "-lf".into(),
                    path_str(&leases).into(),
                    "-pf".into(),
                    path_str(&dir.path("dhcpd.pid")).into(),
                    ifname.into(),
                ];
                (argv, vec![], leases)
            }
        };
        let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut peer = Peer::spawn(ns, &self.to_string(), dir, &argv, &env_ref);
        wait_udp_bound(ns, &mut peer, 67);
        Server {
            kind: self,
            peer,
            lease_file,
        }
    }
}

impl Server {
    /// Asks the server to write its lease file now, where that needs
    /// asking (udhcpd: SIGUSR1), and waits until the file is non-empty.
    /// The others write it on every change.
    pub fn flush_leases(&mut self) {
        if matches!(self.kind, ServerKind::Udhcp | ServerKind::BusyboxUdhcpd) {
            let before = fs::metadata(&self.lease_file)
                .ok()
                .and_then(|m| m.modified().ok());
            self.peer.signal(Signal::SIGUSR1);
            let t0 = now();
            while now() - t0 < Duration::from_secs(5) {
                let m = fs::metadata(&self.lease_file).ok();
                let grown = m.as_ref().is_some_and(|m| m.len() > 0);
                if grown && m.and_then(|m| m.modified().ok()) != before {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The lease file's text (lossy; udhcpd's is binary).
    pub fn lease_text(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.lease_file).unwrap_or_default()).into_owned()
    }

    /// `busybox dumpleases -f LEASEFILE` (udhcpd kinds only): its stdout.
    pub fn dumpleases(&mut self) -> String {
        self.flush_leases();
        let out = Command::new("busybox")
            .args(["dumpleases", "-f"])
            .arg(&self.lease_file)
            .output()
            .expect("run busybox dumpleases");
        assert!(
            out.status.success(),
            "dumpleases: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// BusyBox udhcpd config (also read by our udhcpd).
pub fn udhcpd_conf(pool: &Pool, ifname: &str, dir: &TempDir) -> String {
    let mut c = format!(
        "interface {ifname}\nstart {}\nend {}\nmax_leases {}\nlease_file {}\npidfile {}\n\
         auto_time 0\nopt subnet {}\nopt lease {}\n",
        pool.start,
        pool.end,
        pool.size(),
        path_str(&dir.path("udhcpd.leases")),
        path_str(&dir.path("udhcpd.pid")),
        pool.mask(),
        pool.lease_secs,
    );
    if let Some(r) = pool.router {
        c += &format!("opt router {r}\n");
    }
    if let Some(d) = pool.dns {
        c += &format!("opt dns {d}\n");
    }
    c
}

/// dnsmasq's command line: DHCP only (`--port=0` turns DNS off), no
/// system files, no ping before offering, all files in `dir`.
pub fn dnsmasq_argv(pool: &Pool, ifname: &str, dir: &TempDir, leases: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "dnsmasq".into(),
        "--no-daemon".into(),
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--port=0".into(),
        format!("--interface={ifname}"),
        "--bind-interfaces".into(),
        "--no-ping".into(),
        "--dhcp-authoritative".into(),
        format!("--dhcp-leasefile={}", path_str(leases)),
        format!("--pid-file={}", path_str(&dir.path("dnsmasq.pid"))),
        format!(
            "--dhcp-range={},{},{},{}",
            pool.start,
            pool.end,
            pool.mask(),
            pool.lease_secs
        ),
        format!("--dhcp-lease-max={}", pool.size()),
    ];
    if let Some(r) = pool.router {
        a.push(format!("--dhcp-option=3,{r}"));
    }
    if let Some(d) = pool.dns {
        a.push(format!("--dhcp-option=6,{d}"));
    }
    a
}

/// kea-dhcp4 config: raw sockets on `ifname` only, memfile leases in
/// `leases` (no LFC), control socket in `dir`, log to stdout.
pub fn kea_conf(pool: &Pool, ifname: &str, dir: &TempDir, leases: &Path) -> String {
    let mut opts = Vec::new();
    if let Some(r) = pool.router {
        opts.push(format!(r#"{{ "name": "routers", "data": "{r}" }}"#));
    }
    if let Some(d) = pool.dns {
        opts.push(format!(
            r#"{{ "name": "domain-name-servers", "data": "{d}" }}"#
        ));
    }
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["{ifname}"], "dhcp-socket-type": "raw" }},
  "control-socket": {{ "socket-type": "unix", "socket-name": "{sock}" }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{leases}", "lfc-interval": 0 }},
  "valid-lifetime": {lt}, "min-valid-lifetime": {lt}, "max-valid-lifetime": {lt},
  "subnet4": [ {{ "id": 1, "subnet": "{net}/{len}",
      "pools": [ {{ "pool": "{start} - {end}" }} ],
      "option-data": [ {opts} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ],
      "severity": "INFO" }} ]
}} }}
"#,
        sock = path_str(&dir.path("kea4.sock")),
        leases = path_str(leases),
        lt = pool.lease_secs,
        net = pool.subnet,
        len = pool.prefix,
        start = pool.start,
        end = pool.end,
        opts = opts.join(", "),
    )
}

/// ISC dhcpd config. dhcpd refuses to listen on an interface whose subnet
/// it has no declaration for, so when the server's own address lies
/// outside the pool's subnet (a relayed pool) its /24 is declared empty.
pub fn dhcpd_conf(pool: &Pool, own: Option<Ipv4Addr>) -> String {
    let mut c = format!(
        "authoritative;\nddns-update-style none;\ndefault-lease-time {lt};\n\
         max-lease-time {lt};\nmin-lease-time {lt};\n\
         subnet {net} netmask {mask} {{\n  range {start} {end};\n  option subnet-mask {mask};\n",
        lt = pool.lease_secs,
        net = pool.subnet,
        mask = pool.mask(),
        start = pool.start,
        end = pool.end,
    );
    if let Some(r) = pool.router {
        c += &format!("  option routers {r};\n");
    }
    if let Some(d) = pool.dns {
        c += &format!("  option domain-name-servers {d};\n");
    }
    c += "}\n";
    if let Some(a) = own.filter(|a| !pool.in_subnet(*a)) {
        let net = Ipv4Addr::from(u32::from(a) & 0xffff_ff00);
        c += &format!("subnet {net} netmask 255.255.255.0 {{ }}\n");
    }
    c
}

// ---------------------------------------------------------------------------
// Clients

/// Which client to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// The binary under test: `udhcp udhcpc -f -i IF -s SCRIPT ...`.
    Udhcp,
    /// `busybox udhcpc -f -i IF -s SCRIPT ...`.
    BusyboxUdhcpc,
    /// ISC dhclient 4.4 (`-4 -d -cf -sf -lf -pf IF`).
    Dhclient,
    /// dhcpcd 9.4 (`-B -4 -f /dev/null -c SCRIPT IF`, state in a temp dir).
    Dhcpcd,
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientKind::Udhcp => "udhcp-udhcpc",
            ClientKind::BusyboxUdhcpc => "busybox-udhcpc",
            ClientKind::Dhclient => "dhclient",
            ClientKind::Dhcpcd => "dhcpcd",
        })
    }
}

/// One script call recorded by a client: the event name, lower case
/// (`deconfig`, `bound`, `renew`, `preinit`, ...), and the lease under
/// common names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event (udhcpc `$1`, dhclient/dhcpcd `$reason`), lower case.
    pub name: String,
    /// `interface ip subnet router dns lease serverid` (absent when empty).
    pub vars: BTreeMap<String, String>,
}

impl Event {
    /// A variable, if set and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    fn parse(line: &str) -> Option<Event> {
        let mut fields = line.split('\t');
        let name = fields.next()?.to_ascii_lowercase();
        let vars = fields
            .filter_map(|f| f.split_once('='))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        Some(Event { name, vars })
    }
}

/// The recording script: one tab-separated line per call, written with a
/// single `printf` so a reader never sees half a line. `$1` for udhcpc
/// (its env names are kept), `$reason` and `new_*` for dhclient/dhcpcd.
fn recorder_script(kind: ClientKind, events: &Path) -> String {
    let ev = path_str(events);
    let (name, vars) = match kind {
        ClientKind::Udhcp | ClientKind::BusyboxUdhcpc => (
            "$1",
            "interface=$interface\tip=$ip\tsubnet=$subnet\trouter=$router\tdns=$dns\t\
             lease=$lease\tserverid=$serverid",
        ),
        ClientKind::Dhclient | ClientKind::Dhcpcd => (
            "$reason",
            "interface=$interface\tip=$new_ip_address\tsubnet=$new_subnet_mask\t\
             router=$new_routers\tdns=$new_domain_name_servers\t\
             lease=$new_dhcp_lease_time\tserverid=$new_dhcp_server_identifier",
        ),
    };
    format!(
        "line=\"{name}\ttime=$(date +%s%N)\t{vars}\"\nprintf '%s\\n' \"$line\" >> '{ev}'\nexit 0\n"
    )
}

/// A running client and the events its script recorded.
#[derive(Debug)]
pub struct Client {
    /// Which client.
    pub kind: ClientKind,
    /// The process.
    pub peer: Peer,
    events: PathBuf,
}

impl ClientKind {
    /// Starts the client on `ns`'s `eth0` with `extra` arguments before
    /// the interface name (dhclient/dhcpcd) or at the end (udhcpc).
    pub fn start(self, ns: &Ns, extra: &[&str]) -> Client {
        let dir = TempDir::new(&self.to_string());
        let events = dir.path("events");
        let script = dir.write_script("record.sh", &recorder_script(self, &events));
        let script = path_str(&script).to_string();
        let ifname = ns.ifname.to_string();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let argv: Vec<String> = match self {
            ClientKind::Udhcp | ClientKind::BusyboxUdhcpc => {
                let mut a: Vec<String> = if self == ClientKind::Udhcp {
                    vec![path_str(&udhcp_bin()).into(), "udhcpc".into()]
                } else {
                    vec!["busybox".into(), "udhcpc".into()]
                };
                // Quick retries: a lab server answers at once; the window is
                // 20 DISCOVERs 1 s apart before `leasefail`.
                a.extend(
                    [
                        "-f", "-i", &ifname, "-s", &script, "-t", "20", "-T", "1", "-A", "1",
                    ]
                    .map(String::from),
                );
                if self == ClientKind::Udhcp {
                    // Lease memory in the peer's temp dir, never the host's
                    // /var/lib/udhcpc (tests share MACs and pools).
                    a.push("--lease-file".into());
                    a.push(path_str(&dir.path("udhcpc.lease")).into());
                }
                a.extend(extra);
                a
            }
            ClientKind::Dhclient => {
                let conf = dir.write("dhclient.conf", "");
                let mut a: Vec<String> = ["dhclient", "-4", "-d", "-v", "-cf"]
                    .map(String::from)
                    .into();
                a.push(path_str(&conf).into());
                a.extend(["-sf".into(), script.clone(), "-lf".into()]);
                a.push(path_str(&dir.path("dhclient.leases")).into());
                a.push("-pf".into());
                a.push(path_str(&dir.path("dhclient.pid")).into());
                a.extend(extra);
                a.push(ifname.clone());
                a
            }
            ClientKind::Dhcpcd => {
                let db = dir.path("db");
                let run = dir.path("run");
                fs::create_dir(&db).expect("mkdir db");
                fs::create_dir(&run).expect("mkdir run");
                // dhcpcd 9.4 has no option for its DBDIR (/var/lib/dhcpcd)
                // and RUNDIR (/run/dhcpcd): bind temp dirs over them in the
                // mount namespace `ip netns exec` made for this process.
                let mut a: Vec<String> = vec![
                    "sh".into(),
                    "-c".into(),
                    "[ -d /var/lib/dhcpcd ] || { echo 'no /var/lib/dhcpcd' >&2; exit 97; }; \
                     mount --bind \"$1\" /var/lib/dhcpcd && mount --bind \"$2\" /run && \
                     shift 2 && exec \"$@\""
                        .into(),
                    "sh".into(),
                    path_str(&db).into(),
                    path_str(&run).into(),
                ];
                a.extend(
                    [
                        "dhcpcd",
                        "-B",
                        "-4",
                        "-d",
                        "-f",
                        "/dev/null",
                        "-c",
                        &script,
                        "-o",
                        "domain_name_servers",
                        "-t",
                        "30",
                    ]
                    .map(String::from),
                );
                a.extend(extra);
                a.push(ifname.clone());
                a
            }
        };
        let peer = Peer::spawn(ns, &self.to_string(), dir, &argv, &[]);
        Client {
            kind: self,
            peer,
            events,
        }
    }
}

impl Client {
    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        let text = fs::read_to_string(&self.events).unwrap_or_default();
        // Only complete lines: the script may be writing the last one.
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        complete.lines().filter_map(Event::parse).collect()
    }

    /// Waits for the first event called `name`; panics (stopping the
    /// client, with its log and events) if it exits or `limit` passes.
    pub fn wait_event(&mut self, name: &str, limit: Duration) -> Event {
        let t0 = now();
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e.name == name) {
                return e;
            }
            let why = if let Some(st) = self.peer.try_wait() {
                format!("exited ({st}) without a `{name}` event")
            } else if now() - t0 > limit {
                format!("no `{name}` event within {limit:?}")
            } else {
                std::thread::sleep(Duration::from_millis(25));
                continue;
            };
            let seen = self.events();
            self.peer.fail(&format!("{why}; events: {seen:?}"));
        }
    }

    /// [`wait_event`](Self::wait_event) for `bound` within [`BOUND_TIMEOUT`].
    pub fn wait_bound(&mut self) -> Event {
        self.wait_event("bound", BOUND_TIMEOUT)
    }
}

// ---------------------------------------------------------------------------
// Relay

/// ISC dhcrelay 4.4 in the foreground, relaying from `down` (the client
/// link) to `server` via `up`; waits until it has bound port 67.
pub fn dhcrelay(ns: &Ns, down: &str, up: &str, server: Ipv4Addr) -> Peer {
    let dir = TempDir::new("dhcrelay");
    let pid = dir.path("dhcrelay.pid");
    let argv: Vec<String> = vec![
        "dhcrelay".into(),
        "-d".into(),
        "-4".into(),
        "-id".into(),
        down.into(),
        "-iu".into(),
        up.into(),
        "-pf".into(),
        path_str(&pid).into(),
        server.to_string(),
    ];
    let mut peer = Peer::spawn(ns, "dhcrelay", dir, &argv, &[]);
    wait_udp_bound(ns, &mut peer, 67);
    peer
}

/// Three namespaces on two links: client `eth0` — relay `eth0`
/// (10.99.0.1/24, the client subnet) and relay `up0` (10.98.0.1/24) —
/// server `eth0` (10.98.0.2/24), the server routing 10.99.0.0/24 back via
/// the relay. Built from two [`Lab`]s: a pair (client, relay) and a lone
/// server namespace whose veth peer is moved into the relay namespace.
/// Dropping it deletes all three.
#[derive(Debug)]
pub struct RelayLab {
    // Field order is drop order: the server's lab goes first, taking the
    // moved veth with it, then client and relay.
    server_lab: Lab,
    client_lab: Lab,
}

impl RelayLab {
    /// Relay's address on the client link (the `giaddr`).
    pub const RELAY_DOWN: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    /// Relay's address on the server link.
    pub const RELAY_UP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
    /// The server's address.
    pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);
    /// Name of the relay's server-side interface.
    pub const UP_IF: &'static str = "up0";

    /// Builds the topology, or `None` (skipped) where namespaces cannot
    /// be made; panics on a half-built setup (what was made is deleted).
    pub fn new() -> Option<RelayLab> {
        let client_lab = Lab::with(&[
            NsSpec {
                addr: None,
                mac: None,
            },
            NsSpec {
                addr: Some((Self::RELAY_DOWN, 24)),
                mac: None,
            },
        ])?;
        let server_lab = Lab::with(&[NsSpec {
            addr: Some((Self::SERVER, 24)),
            // Not the client's default MAC, to tell them apart in captures.
            mac: Some(MacAddr([2, 0, 0x5e, 0x98, 0, 2])),
        }])?;
        let lab = RelayLab {
            server_lab,
            client_lab,
        };
        let (relay, server) = (&lab.relay().name, &lab.server().name);
        let up = Self::RELAY_UP.to_string() + "/24";
        let back = format!("{}", Self::RELAY_UP);
        for args in [
            vec!["-n", server, "link", "set", "peer0", "netns", relay],
            vec!["-n", relay, "link", "set", "peer0", "name", Self::UP_IF],
            vec!["-n", relay, "addr", "add", &up, "dev", Self::UP_IF],
            vec!["-n", relay, "link", "set", Self::UP_IF, "up"],
        ] {
            ip(&args);
        }
        // The new link needs carrier on both ends before routes resolve.
        let t0 = now();
        while !ip(&["-n", server, "-o", "link", "show", "dev", "eth0"]).contains("LOWER_UP") {
            assert!(
                now() - t0 < Duration::from_secs(5),
                "server link has no carrier"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ip(&["-n", server, "route", "add", "10.99.0.0/24", "via", &back]);
        Some(lab)
    }

    /// The client namespace (`eth0` unconfigured).
    pub fn client(&self) -> &Ns {
        self.client_lab.ns(0)
    }

    /// The relay namespace (`eth0` to the client, [`Self::UP_IF`] to the server).
    pub fn relay(&self) -> &Ns {
        self.client_lab.ns(1)
    }

    /// The server namespace.
    pub fn server(&self) -> &Ns {
        self.server_lab.ns(0)
    }

    /// The client subnet, served through the relay.
    pub fn client_pool() -> Pool {
        Pool::lab()
    }
}

/// Runs `ip ARGS`, panicking with stderr on failure; returns stdout.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// perfdhcp

/// A bounded perfdhcp run: full DORA exchanges from `iface` (broadcast, as
/// on one link) at `rate` per second from `clients` simulated clients for
/// `seconds`.
#[derive(Debug, Clone)]
pub struct PerfRun {
    /// Interface in the namespace to send from.
    pub iface: String,
    /// `-r`: exchanges initiated per second.
    pub rate: u32,
    /// `-R`: number of distinct clients (MACs).
    pub clients: u32,
    /// `-p`: test period in seconds.
    pub seconds: u32,
    /// More arguments, e.g. `-d 2` (drop time).
    pub extra: Vec<String>,
}

/// One exchange's counters (`DISCOVER-OFFER`, `REQUEST-ACK`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeStats {
    /// Exchange name as perfdhcp prints it.
    pub name: String,
    /// `sent packets`.
    pub sent: u64,
    /// `received packets`.
    pub received: u64,
    /// `drops`.
    pub drops: u64,
    /// `orphans`.
    pub orphans: u64,
    /// `avg delay` in ms.
    pub avg_delay_ms: f64,
}

/// perfdhcp's final report.
#[derive(Debug, Clone, Default)]
pub struct PerfStats {
    /// `Rate:` achieved 4-way exchanges per second.
    pub rate: f64,
    /// Per exchange, in report order.
    pub exchanges: Vec<ExchangeStats>,
    /// perfdhcp's exit code (0 all done, 3 some exchanges not completed).
    pub exit_code: Option<i32>,
    /// The whole output.
    pub output: String,
}

impl PerfStats {
    /// Counters of one exchange.
    pub fn exchange(&self, name: &str) -> Option<&ExchangeStats> {
        self.exchanges.iter().find(|e| e.name == name)
    }

    /// Drops summed over all exchanges.
    pub fn drops(&self) -> u64 {
        self.exchanges.iter().map(|e| e.drops).sum()
    }

    /// Parses perfdhcp's (Kea 2.2) final report.
    pub fn parse(output: &str) -> PerfStats {
        let mut st = PerfStats {
            output: output.to_string(),
            ..PerfStats::default()
        };
        for line in output.lines().map(str::trim) {
            if let Some(r) = line.strip_prefix("Rate:") {
                st.rate = r
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
            } else if let Some(n) = line
                .strip_prefix("***Statistics for:")
                .and_then(|r| r.strip_suffix("***"))
            {
                st.exchanges.push(ExchangeStats {
                    name: n.trim().to_string(),
                    ..ExchangeStats::default()
                });
            } else if let (Some(ex), Some((k, v))) = (st.exchanges.last_mut(), line.split_once(':'))
            {
                let v = v.split_whitespace().next().unwrap_or("");
                match k {
                    "sent packets" => ex.sent = v.parse().unwrap_or(0),
                    "received packets" => ex.received = v.parse().unwrap_or(0),
                    "drops" => ex.drops = v.parse().unwrap_or(0),
                    "orphans" => ex.orphans = v.parse().unwrap_or(0),
                    "avg delay" => ex.avg_delay_ms = v.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
        }
        st
    }
}

/// Runs perfdhcp in `ns` (killed by PID if it overruns its period by 30 s)
/// and returns its parsed report.
pub fn perfdhcp(ns: &Ns, run: &PerfRun) -> PerfStats {
    let dir = TempDir::new("perfdhcp");
    let mut argv: Vec<String> = vec![
        "perfdhcp".into(),
        "-4".into(),
        "-l".into(),
        run.iface.clone(),
        "-r".into(),
        run.rate.to_string(),
        "-R".into(),
        run.clients.to_string(),
        "-p".into(),
        run.seconds.to_string(),
    ];
    argv.extend(run.extra.iter().cloned());
    let mut peer = Peer::spawn(ns, "perfdhcp", dir, &argv, &[]);
    let limit = Duration::from_secs(u64::from(run.seconds) + 30);
    let Some(status) = peer.wait_exit(limit) else {
        peer.fail(&format!("still running after {limit:?}"));
    };
    let mut st = PerfStats::parse(&peer.log());
    st.exit_code = status.code();
    st
}
