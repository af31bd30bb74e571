//! udhcpd end to end, in network namespaces created here (tests/common/netns.rs;
//! removed on drop, also on failure): real peers (BusyBox 1.35 udhcpc, ISC
//! dhclient 4.4, dhcpcd 9, ISC dhcrelay 4.4, Kea perfdhcp) against our
//! server, kill -9 durability, daemon startup, SIGHUP, and conflict
//! detection that does not stall.
//!
//! Every process runs inside a lab namespace (`ip netns exec`); the server's
//! config names the namespace's `eth0`. Processes are stopped by pid.
//! The tests run one at a time (a file-wide lock): they measure latencies
//! and the machine is shared.
//!
//! The peer starters below ([`Proc`], [`Udhcpd`], the client functions) are
//! minimal, meant to be replaced by the shared `tests/common/peers.rs`
//! harness once it lands on main.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::netns::{now, Lab, Ns, NsSpec};
use common::tempdir::TempDir;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::{RawSocket, Received};
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, MessageBuilder, MessageType, Packet, OP_REPLY, OP_REQUEST};
use udhcp::wire::MacAddr;

// ---------------------------------------------------------------------------
// Plumbing

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

/// Paths inside a [`TempDir`] as strings, for argv.
trait PathStr {
    fn s(&self, name: &str) -> String;
}

impl PathStr for TempDir {
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 path").to_owned()
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = now() + limit;
    loop {
        if cond() {
            return true;
        }
        if now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (state Z) is dead; its parent (init) reaps it.
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Pids of processes inside namespace `ns`.
fn ns_pids(ns: &Ns) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", &ns.name])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| alive(p))
        .collect()
}

/// A process we started in a namespace, output to a log file; killed by
/// pid (KILL) and reaped on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(ns: &Ns, args: &[&str], log: &Path) -> Proc {
        let out = fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("dup");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        Proc {
            child,
            log: log.to_path_buf(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        read(&self.log)
    }

    fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            if now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_log(&self, needle: &str, limit: Duration) {
        assert!(
            eventually(limit, || self.log().contains(needle)),
            "no '{needle}' within {limit:?} in {}:\n{}",
            self.log.display(),
            self.log()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Kills a daemon (not our child) by pid on drop if it still runs.
struct PidGuard(u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if self.0 > 0 && alive(self.0) {
            signal(self.0, Signal::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------
// Our server

/// A udhcpd config for `eth0` with its files in `dir`.
fn conf(dir: &TempDir, start: &str, end: &str, extra: &str) -> String {
    format!(
        "interface eth0\nstart {start}\nend {end}\nlease_file {}\npidfile {}\n\
         opt subnet 255.255.255.0\n{extra}",
        dir.s("udhcpd.leases"),
        dir.s("udhcpd.pid"),
    )
}

/// `udhcp udhcpd -f ARGS CONF` in `ns`, stderr to `dir/udhcpd.log`.
struct Udhcpd {
    proc: Proc,
    lease_file: PathBuf,
}

impl Udhcpd {
    fn start(ns: &Ns, dir: &TempDir, args: &[&str]) -> Udhcpd {
        let conf = dir.s("udhcpd.conf");
        let mut argv = vec![bin(), "udhcpd", "-f"];
        argv.extend_from_slice(args);
        argv.push(&conf);
        let log = dir.path(&format!("udhcpd.{}.log", now().as_millis()));
        let proc = Proc::start(ns, &argv, &log);
        proc.wait_log("started, v", Duration::from_secs(10));
        Udhcpd {
            proc,
            lease_file: dir.path("udhcpd.leases"),
        }
    }

    fn log(&self) -> String {
        self.proc.log()
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// SIGUSR1 and wait until the lease file is rewritten.
    fn write_leases(&self) {
        let n = self.count("received SIGUSR1");
        self.proc.signal(Signal::SIGUSR1);
        assert!(eventually(Duration::from_secs(5), || self
            .count("received SIGUSR1")
            > n));
        // The rewrite follows the log line in the same loop turn.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One dumpleases row: MAC, IP, expired.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    mac: String,
    ip: Ipv4Addr,
    expired: bool,
}

fn parse_rows(out: &str) -> Vec<Row> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let mac = f.next()?.to_owned();
            let ip = f.next()?.parse().ok()?;
            Some(Row {
                mac,
                ip,
                expired: l.trim_end().ends_with("expired"),
            })
        })
        .collect()
}

/// Our dumpleases (lease file + journal).
fn dumpleases(file: &Path) -> Vec<Row> {
    let out = Command::new(bin())
        .args(["dumpleases", "-f"])
        .arg(file)
        .output()
        .expect("dumpleases");
    assert!(out.status.success(), "{out:?}");
    parse_rows(&String::from_utf8_lossy(&out.stdout))
}

/// BusyBox's dumpleases (the lease file only).
fn busybox_dumpleases(file: &Path) -> Vec<Row> {
    let out = Command::new("busybox")
        .args(["dumpleases", "-f"])
        .arg(file)
        .output()
        .expect("busybox dumpleases");
    assert!(out.status.success(), "{out:?}");
    parse_rows(&String::from_utf8_lossy(&out.stdout))
}

fn row_of<'a>(rows: &'a [Row], mac: &MacAddr) -> Option<&'a Row> {
    let m = mac.to_string();
    rows.iter().find(|r| r.mac == m)
}

// ---------------------------------------------------------------------------
// A small DORA client on the crate's wire layer and raw socket

#[derive(Debug, Clone)]
struct Reply {
    mtype: MessageType,
    yiaddr: Ipv4Addr,
    server_id: Option<Ipv4Addr>,
    dns: Vec<u8>,
    /// When it arrived.
    at: Instant,
}

fn mac_n(prefix: u8, n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([2, prefix, b[0], b[1], b[2], b[3]])
}

fn build(
    buf: &mut [u8],
    t: MessageType,
    xid: u32,
    mac: MacAddr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
) -> usize {
    let mut b = MessageBuilder::new(buf, OP_REQUEST, xid).expect("builder");
    {
        let mut h = b.header();
        h.set_client_mac(mac);
        // Replies come back broadcast: fake MACs need no unicast delivery.
        h.set_broadcast_flag(true);
    }
    b.add_message_type(t).expect("opt");
    if let Some(ip) = requested {
        b.add_ipv4(code::REQUESTED_IP, ip).expect("opt");
    }
    if let Some(ip) = server {
        b.add_ipv4(code::SERVER_ID, ip).expect("opt");
    }
    b.finish()
}

fn parse_reply(payload: &[u8], at: Instant) -> Option<(u32, Reply)> {
    let p = Packet::new_checked(payload).ok()?;
    if p.op() != OP_REPLY {
        return None;
    }
    let mtype = MessageType::from_u8(*p.option(code::MESSAGE_TYPE)?.first()?)?;
    Some((
        p.xid(),
        Reply {
            mtype,
            yiaddr: p.yiaddr(),
            server_id: p.option_ipv4(code::SERVER_ID),
            dns: p.option(6).map(<[u8]>::to_vec).unwrap_or_default(),
            at,
        },
    ))
}

/// The client end in one namespace: a raw socket on port 68 and sends from
/// 0.0.0.0:68 to 255.255.255.255:67. Create and use it inside `Ns::run_in`.
struct Wire {
    sock: RawSocket,
    buf: Vec<u8>,
}

impl Wire {
    fn open() -> Wire {
        let ifindex = Interface::query("eth0").expect("eth0").ifindex;
        Wire {
            sock: RawSocket::open(ifindex, 68).expect("raw socket"),
            buf: vec![0; 2048],
        }
    }

    fn send(&self, payload: &[u8]) {
        self.sock
            .sender()
            .send(
                MacAddr::BROADCAST,
                Ipv4Addr::UNSPECIFIED,
                68,
                Ipv4Addr::BROADCAST,
                67,
                payload,
            )
            .expect("raw send");
    }

    /// Waits up to `limit` for replies; each goes to `f`.
    fn recv(&mut self, limit: Duration, mut f: impl FnMut(u32, Reply)) {
        let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.sock),
            PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
        let at = now();
        while let Ok(Some(got)) = self.sock.recv(&mut self.buf) {
            if let Received::Datagram(d) = got {
                if let Some((xid, r)) = parse_reply(d.udp.payload, at) {
                    f(xid, r);
                }
            }
        }
    }
}

/// One DISCOVER; the first OFFER for it within `limit`.
fn discover(mac: MacAddr, requested: Option<Ipv4Addr>, limit: Duration) -> Option<Reply> {
    let mut w = Wire::open();
    let xid = 0x5000_0000 | (u32::from(mac.0[4]) << 8) | u32::from(mac.0[5]);
    let mut buf = [0u8; 548];
    let n = build(&mut buf, MessageType::Discover, xid, mac, requested, None);
    w.send(&buf[..n]);
    let end = now() + limit;
    let mut got = None;
    while got.is_none() && now() < end {
        w.recv(Duration::from_millis(20), |x, r| {
            if x == xid && r.mtype == MessageType::Offer && got.is_none() {
                got = Some(r);
            }
        });
    }
    got
}

/// An ACK seen by the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    mac: MacAddr,
    ip: Ipv4Addr,
}

/// DORA for every MAC in `macs`, `window` at a time, retransmitting after
/// 1 s, until all are bound, `limit` passes or `stop` is set. Every ACK
/// received is pushed to `acks` (shared, so the caller sees them live).
fn dora_all(
    macs: &[MacAddr],
    window: usize,
    limit: Duration,
    stop: &AtomicBool,
    acks: &Mutex<Vec<Ack>>,
) {
    #[derive(Clone, Copy)]
    enum St {
        Idle,
        Discover(Instant),
        Request(Instant, Ipv4Addr, Ipv4Addr),
        Bound,
    }
    let mut w = Wire::open();
    let base = 0x7000_0000u32 | (now().as_millis() as u32 & 0x00ff_0000);
    let mut st = vec![St::Idle; macs.len()];
    let mut buf = [0u8; 548];
    let end = now() + limit;
    let resend = Duration::from_secs(1);
    while now() < end && !stop.load(Ordering::Relaxed) {
        let t = now();
        let mut in_flight = st
            .iter()
            .filter(|s| matches!(s, St::Discover(..) | St::Request(..)))
            .count();
        if st.iter().all(|s| matches!(s, St::Bound)) {
            break;
        }
        for (i, s) in st.iter_mut().enumerate() {
            let xid = base + i as u32;
            match *s {
                St::Idle if in_flight < window => {
                    let n = build(&mut buf, MessageType::Discover, xid, macs[i], None, None);
                    w.send(&buf[..n]);
                    *s = St::Discover(t);
                    in_flight += 1;
                }
                St::Discover(at) if t - at > resend => {
                    let n = build(&mut buf, MessageType::Discover, xid, macs[i], None, None);
                    w.send(&buf[..n]);
                    *s = St::Discover(t);
                }
                St::Request(at, ip, sid) if t - at > resend => {
                    let n = build(
                        &mut buf,
                        MessageType::Request,
                        xid,
                        macs[i],
                        Some(ip),
                        Some(sid),
                    );
                    w.send(&buf[..n]);
                    *s = St::Request(t, ip, sid);
                }
                _ => {}
            }
        }
        let mut to_send = Vec::new();
        w.recv(Duration::from_millis(10), |xid, r| {
            let Some(i) = xid.checked_sub(base).map(|i| i as usize) else {
                return;
            };
            let Some(s) = st.get_mut(i) else { return };
            match (*s, r.mtype) {
                (St::Discover(_), MessageType::Offer) => {
                    let sid = r.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
                    *s = St::Request(now(), r.yiaddr, sid);
                    to_send.push((i, r.yiaddr, sid));
                }
                (St::Request(_, ip, _), MessageType::Ack) if r.yiaddr == ip => {
                    *s = St::Bound;
                    acks.lock().unwrap().push(Ack {
                        mac: macs[i],
                        ip: r.yiaddr,
                    });
                }
                (St::Request(..), MessageType::Nak) => *s = St::Idle,
                _ => {}
            }
        });
        for (i, ip, sid) in to_send {
            let n = build(
                &mut buf,
                MessageType::Request,
                base + i as u32,
                macs[i],
                Some(ip),
                Some(sid),
            );
            w.send(&buf[..n]);
        }
    }
}

// ---------------------------------------------------------------------------
// Peers

/// A short lease, so that dhclient renews by itself at T1.
const SHORT_LEASE: &str = "min_lease 10\nopt lease 20\n";

/// A client namespace without an address, and the server's.
fn two() -> Option<Lab> {
    Lab::with(&[
        NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 1), 24)),
            mac: None,
        },
        NsSpec::default(),
    ])
}

/// Checks the lease of `mac` as both dumpleases see it after SIGUSR1.
fn assert_lease(d: &Udhcpd, mac: &MacAddr, ip: Ipv4Addr, expired: bool) {
    d.write_leases();
    for (who, rows) in [
        ("ours", dumpleases(&d.lease_file)),
        ("busybox", busybox_dumpleases(&d.lease_file)),
    ] {
        let r = row_of(&rows, mac).unwrap_or_else(|| panic!("{who}: no row for {mac}: {rows:?}"));
        assert_eq!((r.ip, r.expired), (ip, expired), "{who}: {rows:?}");
    }
}

/// The address in `text` after `prefix` (up to white space).
fn ip_after(text: &str, prefix: &str) -> Option<Ipv4Addr> {
    let at = text.find(prefix)? + prefix.len();
    text[at..].split_whitespace().next()?.parse().ok()
}

#[test]
fn busybox_udhcpc_gets_renews_and_releases() {
    let _s = serial();
    let Some(lab) = two() else { return };
    let dir = TempDir::new("udhcpc");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.0.10", "10.99.0.20", SHORT_LEASE),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    let events = dir.path("events");
    dir.write_script(
        "script",
        &format!(
            "#!/bin/sh\necho \"$1 $ip\" >> {0}\ncase \"$1\" in\n\
             bound|renew) ip addr flush dev $interface; ip addr add $ip/24 dev $interface;;\n\
             deconfig) ip addr flush dev $interface;;\nesac\n",
            events.display()
        ),
    );
    let client = Proc::start(
        lab.ns(1),
        &[
            "busybox",
            "udhcpc",
            "-f",
            "-i",
            "eth0",
            "-s",
            &dir.s("script"),
            "-x",
            "hostname:bbclient",
        ],
        &dir.path("udhcpc.log"),
    );
    client.wait_log("obtained", Duration::from_secs(15));
    let ip = ip_after(&client.log(), "lease of ").expect("lease line");
    let mac = lab.ns(1).mac;
    assert_lease(&d, &mac, ip, false);
    assert!(busybox_dumpleases(&d.lease_file)
        .iter()
        .any(|r| r.mac == mac.to_string()));
    // Renew (unicast REQUEST from the configured address).
    let acks = d.count(&format!("sending ACK to {ip}"));
    client.signal(Signal::SIGUSR1);
    assert!(
        eventually(Duration::from_secs(10), || d
            .count(&format!("sending ACK to {ip}"))
            > acks),
        "no renewal ACK:\n{}\n{}",
        d.log(),
        client.log()
    );
    // Release.
    client.signal(Signal::SIGUSR2);
    assert!(
        eventually(Duration::from_secs(10), || d
            .log()
            .contains("received RELEASE")),
        "no RELEASE:\n{}",
        d.log()
    );
    assert_lease(&d, &mac, ip, true);
    drop(client);
}

#[test]
fn isc_dhclient_gets_renews_and_releases() {
    let _s = serial();
    let Some(lab) = two() else { return };
    let dir = TempDir::new("dhclient");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.0.10", "10.99.0.20", SHORT_LEASE),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    let events = dir.path("events");
    dir.write_script(
        "script",
        &format!(
            "#!/bin/sh\necho \"$reason $new_ip_address\" >> {0}\ncase \"$reason\" in\n\
             BOUND|RENEW|REBIND|REBOOT) ip addr flush dev $interface; \
             ip addr add $new_ip_address/24 dev $interface;;\n\
             RELEASE|EXPIRE|STOP) ip addr flush dev $interface;;\nesac\nexit 0\n",
            events.display()
        ),
    );
    let common = [
        "-4",
        "-v",
        "-pf",
        &dir.s("dhclient.pid"),
        "-lf",
        &dir.s("dhclient.leases"),
        "-sf",
        &dir.s("script"),
    ];
    let mut argv = vec!["dhclient", "-d"];
    argv.extend_from_slice(&common);
    argv.push("eth0");
    let mut client = Proc::start(lab.ns(1), &argv, &dir.path("dhclient.log"));
    assert!(
        eventually(Duration::from_secs(20), || read(&events).contains("BOUND ")),
        "{}",
        client.log()
    );
    let ip = ip_after(&read(&events), "BOUND ").expect("BOUND line");
    let mac = lab.ns(1).mac;
    assert_lease(&d, &mac, ip, false);
    // Renewal at T1 (10 s of a 20 s lease), unicast from the bound address.
    assert!(
        eventually(Duration::from_secs(20), || read(&events).contains("RENEW ")),
        "no RENEW:\n{}\n{}",
        read(&events),
        client.log()
    );
    assert!(d.count(&format!("sending ACK to {ip}")) >= 2, "{}", d.log());
    // Release: stop the running one, `dhclient -r` sends the RELEASE.
    client.signal(Signal::SIGTERM);
    client.wait(Duration::from_secs(5));
    let mut argv = vec!["dhclient", "-r"];
    argv.extend_from_slice(&common);
    argv.push("eth0");
    let mut rel = Proc::start(lab.ns(1), &argv, &dir.path("dhclient-r.log"));
    rel.wait(Duration::from_secs(15));
    assert!(
        eventually(Duration::from_secs(10), || d
            .log()
            .contains("received RELEASE")),
        "no RELEASE:\n{}\n{}",
        d.log(),
        rel.log()
    );
    assert_lease(&d, &mac, ip, true);
}

#[test]
fn dhcpcd_gets_renews_and_releases() {
    let _s = serial();
    let Some(lab) = two() else { return };
    let dir = TempDir::new("dhcpcd");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.0.10", "10.99.0.20", SHORT_LEASE),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    let events = dir.path("events");
    dir.write_script(
        "hook",
        &format!(
            "#!/bin/sh\necho \"$reason $new_ip_address\" >> {}\n",
            events.display()
        ),
    );
    // dhcpcd keeps its state in /run/dhcpcd and /var/lib/dhcpcd: give it
    // private tmpfs copies (ip netns exec already made a private mount
    // namespace), so nothing of the host's is touched.
    dir.write_script(
        "run-dhcpcd",
        &format!(
            "#!/bin/sh\nset -e\nmount -t tmpfs tmpfs /run\nmount -t tmpfs tmpfs /var/lib/dhcpcd\n\
             exec dhcpcd -B -4 -A -L -f /dev/null -c {} -t 20 eth0\n",
            dir.s("hook")
        ),
    );
    let client = Proc::start(lab.ns(1), &[&dir.s("run-dhcpcd")], &dir.path("dhcpcd.log"));
    assert!(
        eventually(Duration::from_secs(20), || read(&events).contains("BOUND ")),
        "{}",
        client.log()
    );
    let ip = ip_after(&read(&events), "BOUND ").expect("BOUND line");
    let mac = lab.ns(1).mac;
    assert_lease(&d, &mac, ip, false);
    // SIGUSR1 = renew (what `dhcpcd -n` asks through the control socket).
    let acks = d.count(&format!("sending ACK to {ip}"));
    client.signal(Signal::SIGUSR1);
    assert!(
        eventually(Duration::from_secs(10), || d
            .count(&format!("sending ACK to {ip}"))
            > acks),
        "no renewal ACK:\n{}\n{}",
        d.log(),
        client.log()
    );
    // SIGALRM = release (what `dhcpcd -k` asks).
    client.signal(Signal::SIGALRM);
    assert!(
        eventually(Duration::from_secs(10), || d
            .log()
            .contains("received RELEASE")),
        "no RELEASE:\n{}\n{}",
        d.log(),
        client.log()
    );
    assert_lease(&d, &mac, ip, true);
}

/// perfdhcp's "drops: N" for the two exchanges.
fn perfdhcp_stats(out: &str) -> Vec<(u64, u64)> {
    let mut res = Vec::new();
    let mut sent = None;
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("sent packets: ") {
            sent = v.trim().parse().ok();
        }
        if let Some(v) = line.strip_prefix("received packets: ") {
            if let (Some(s), Ok(r)) = (sent.take(), v.trim().parse()) {
                res.push((s, r));
            }
        }
    }
    res
}

#[test]
fn perfdhcp_full_exchanges_without_drops() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("perfdhcp");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.1.1", "10.99.3.250", "max_leases 700\n"),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    // Bounded: 200 exchanges/s, 500 clients, 5 s.
    let mut p = Proc::start(
        lab.ns(1),
        &[
            "perfdhcp", "-4", "-l", "eth0", "-r", "200", "-R", "500", "-p", "5",
        ],
        &dir.path("perfdhcp.log"),
    );
    let st = p.wait(Duration::from_secs(30)).expect("perfdhcp finished");
    let out = p.log();
    let stats = perfdhcp_stats(&out);
    assert_eq!(stats.len(), 2, "{st:?}\n{out}");
    for (sent, received) in &stats {
        assert!(*sent >= 500, "{out}");
        // Less than 1% lost (the last packets may be in flight at the end).
        assert!(received * 100 >= sent * 99, "{out}");
    }
    eprintln!("perfdhcp DO/RA (sent, received): {stats:?}");
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    let ips: HashSet<_> = rows.iter().map(|r| r.ip).collect();
    assert_eq!(ips.len(), rows.len(), "an address twice");
    assert!(rows.len() >= 490, "{} leases", rows.len());
}

/// client (eth0) — relay (eth0 10.98.1.1, eth1 10.98.2.1) — server
/// (eth0 10.98.2.2); deleted on drop.
struct RelayLab {
    names: [String; 3],
}

impl RelayLab {
    fn new() -> Option<RelayLab> {
        // A Lab first: it skips (or fails under UDHCP_REQUIRE_NETNS) when
        // namespaces are unavailable, and sweeps stale ones.
        drop(Lab::new(1)?);
        let pid = std::process::id();
        let names = ["c", "r", "s"].map(|x| format!("{}{pid}-relay-{x}", common::netns::PREFIX));
        let lab = RelayLab { names };
        let [c, r, s] = &lab.names;
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        for n in &lab.names {
            ip(&["netns", "add", n]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n", c, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", r,
        ]);
        ip(&[
            "-n", r, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", s,
        ]);
        ip(&["-n", r, "addr", "add", "10.98.1.1/24", "dev", "eth0"]);
        ip(&["-n", r, "addr", "add", "10.98.2.1/24", "dev", "eth1"]);
        ip(&["-n", s, "addr", "add", "10.98.2.2/24", "dev", "eth0"]);
        for (n, dev) in [(c, "eth0"), (r, "eth0"), (r, "eth1"), (s, "eth0")] {
            ip(&["-n", n, "link", "set", dev, "up"]);
        }
        ip(&["-n", s, "route", "add", "10.98.1.0/24", "via", "10.98.2.1"]);
        std::thread::sleep(Duration::from_millis(200));
        Some(lab)
    }

    fn ns(&self, i: usize) -> Ns {
        Ns {
            name: self.names[i].clone(),
            ifname: "eth0",
            mac: MacAddr::ZERO,
            addr: None,
        }
    }
}

impl Drop for RelayLab {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

#[test]
fn relayed_client_gets_an_address_of_the_relay_subnet() {
    let _s = serial();
    let Some(lab) = RelayLab::new() else { return };
    let (c, r, s) = (lab.ns(0), lab.ns(1), lab.ns(2));
    let dir = TempDir::new("relay");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.98.1.100", "10.98.1.120", "opt router 10.98.1.1\n"),
    )
    .unwrap();
    let d = Udhcpd::start(&s, &dir, &["-v", "-a", "0"]);
    let _relay = Proc::start(
        &r,
        &[
            "dhcrelay",
            "-4",
            "-d",
            "-pf",
            &dir.s("dhcrelay.pid"),
            "-id",
            "eth0",
            "-iu",
            "eth1",
            "10.98.2.2",
        ],
        &dir.path("dhcrelay.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut client = Proc::start(
        &c,
        &[
            "busybox",
            "udhcpc",
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-i",
            "eth0",
            "-s",
            "/bin/true",
        ],
        &dir.path("udhcpc.log"),
    );
    let st = client.wait(Duration::from_secs(20));
    let out = client.log();
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(0),
        "{out}\n{}\n{}",
        d.log(),
        read(&dir.path("dhcrelay.log"))
    );
    let ip = ip_after(&out, "lease of ").expect("lease line");
    assert!(
        (100..=120).contains(&ip.octets()[3]) && ip.octets()[..3] == [10, 98, 1],
        "{ip}"
    );
    assert!(
        d.log().contains("forwarding packet to relay"),
        "{}",
        d.log()
    );
}

#[test]
fn kill9_mid_load_loses_no_acked_lease_and_never_double_assigns() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("kill9");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.1.1", "10.99.2.250", "max_leases 600\n"),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let pid = d.proc.pid();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let macs: Vec<MacAddr> = (0..300).map(|n| mac_n(0xa1, n)).collect();
    let killed_at = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        let gen = sc.spawn(|| {
            lab.ns(1)
                .run_in(|| dora_all(&macs, 16, Duration::from_secs(30), &stop, &acks))
        });
        // Kill in the middle of the run.
        assert!(eventually(Duration::from_secs(20), || acks
            .lock()
            .unwrap()
            .len()
            >= 100));
        signal(pid, Signal::SIGKILL);
        killed_at.store(acks.lock().unwrap().len(), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        gen.join().expect("generator");
    });
    let first: Vec<Ack> = acks.lock().unwrap().clone();
    assert!(first.len() < macs.len(), "the kill came too late");
    drop(d);
    // Restart on the same files; its startup replays the journal.
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let rows = dumpleases(&d.lease_file);
    let by_ip: HashMap<Ipv4Addr, &Row> = rows.iter().map(|r| (r.ip, r)).collect();
    assert_eq!(by_ip.len(), rows.len(), "an address twice in the store");
    let mut seen_ips = HashSet::new();
    for a in &first {
        assert!(seen_ips.insert(a.ip), "{} ACKed to two clients", a.ip);
        let r = by_ip
            .get(&a.ip)
            .unwrap_or_else(|| panic!("ACKed {} → {} lost after kill -9", a.mac, a.ip));
        assert_eq!(r.mac, a.mac.to_string(), "{}", a.ip);
        assert!(!r.expired);
    }
    eprintln!(
        "kill -9 after {} ACKs ({} by the end of the run); all {} found after restart ({} leases in the store)",
        killed_at.load(Ordering::SeqCst),
        first.len(),
        first.len(),
        rows.len()
    );
    // New clients never get an address an earlier client holds.
    let acks2 = Mutex::new(Vec::new());
    let macs2: Vec<MacAddr> = (0..150).map(|n| mac_n(0xb2, n)).collect();
    let never = AtomicBool::new(false);
    lab.ns(1)
        .run_in(|| dora_all(&macs2, 16, Duration::from_secs(30), &never, &acks2));
    let second = acks2.into_inner().unwrap();
    assert_eq!(second.len(), macs2.len(), "not every new client was served");
    for a in &second {
        assert!(
            seen_ips.insert(a.ip),
            "{} given to {} but held by an earlier client",
            a.ip,
            a.mac
        );
    }
}

/// Runs `udhcp udhcpd CONF` (no -f) in `ns`, waits for the parent.
fn start_daemon(ns: &Ns, dir: &TempDir, args: &[&str]) -> (Option<ExitStatus>, String) {
    let conf = dir.s("udhcpd.conf");
    let mut argv = vec![bin(), "udhcpd"];
    argv.extend_from_slice(args);
    argv.push(&conf);
    let log = dir.path("parent.log");
    let mut p = Proc::start(ns, &argv, &log);
    let st = p.wait(Duration::from_secs(10));
    (st, read(&log))
}

#[test]
fn daemon_startup_errors_readiness_pidfile_and_term() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("daemon");
    let good = conf(&dir, "10.99.0.10", "10.99.0.20", "");
    // A bad value on line 3: exit 1 before forking, no daemon left.
    let bad = good.replace("end 10.99.0.20", "end 10.99.0.300");
    fs::write(dir.path("udhcpd.conf"), &bad).unwrap();
    let (st, err) = start_daemon(lab.ns(0), &dir, &["-a", "0"]);
    assert_eq!(st.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("udhcpd: {}:3: ", dir.s("udhcpd.conf"))),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new(), "a daemon remained");
    assert!(!dir.path("udhcpd.pid").exists());

    // A good one: the parent exits 0 only once the daemon serves.
    fs::write(dir.path("udhcpd.conf"), &good).unwrap();
    let (st, err) = start_daemon(lab.ns(0), &dir, &["-a", "0"]);
    let t_exit = now();
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{err}");
    let pid: u32 = read(&dir.path("udhcpd.pid"))
        .trim()
        .parse()
        .expect("pidfile");
    let _guard = PidGuard(pid);
    assert!(alive(pid));
    assert_eq!(ns_pids(lab.ns(0)), vec![pid]);
    let offer = lab
        .ns(1)
        .run_in(|| discover(mac_n(0xd0, 1), None, Duration::from_secs(3)))
        .expect("no OFFER right after the parent exited");
    eprintln!(
        "first OFFER {} ms after the parent exited",
        (offer.at - t_exit).as_millis()
    );

    // Second instance: refused, naming the pid.
    let (st, err) = start_daemon(lab.ns(0), &dir, &["-f", "-a", "0"]);
    assert_eq!(st.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        err.contains(&format!("already running as pid {pid}")),
        "{err}"
    );
    assert!(alive(pid));

    // TERM: pidfile removed, nothing left.
    signal(pid, Signal::SIGTERM);
    assert!(eventually(Duration::from_secs(5), || !alive(pid)));
    assert!(!dir.path("udhcpd.pid").exists(), "pidfile left behind");
    assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new());
}

#[test]
fn sighup_applies_a_valid_config_keeps_leases_and_ignores_an_invalid_one() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("hup");
    let v1 = conf(&dir, "10.99.0.10", "10.99.0.20", "opt dns 10.99.0.53\n");
    fs::write(dir.path("udhcpd.conf"), &v1).unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let m1 = mac_n(0xe0, 1);
    let acks = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    lab.ns(1)
        .run_in(|| dora_all(&[m1], 1, Duration::from_secs(5), &never, &acks));
    let ip1 = acks.lock().unwrap().first().expect("ACK").ip;
    let dns = |mac: MacAddr| {
        lab.ns(1)
            .run_in(|| discover(mac, None, Duration::from_secs(3)))
            .expect("OFFER")
    };
    assert_eq!(dns(mac_n(0xe0, 2)).dns, [10, 99, 0, 53]);

    // Valid change: new DNS, same leases.
    fs::write(
        dir.path("udhcpd.conf"),
        v1.replace("10.99.0.53", "10.99.0.54"),
    )
    .unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.proc.wait_log("reloaded", Duration::from_secs(5));
    assert_eq!(dns(mac_n(0xe0, 3)).dns, [10, 99, 0, 54]);
    let again = dns(m1);
    assert_eq!(again.yiaddr, ip1, "lease lost across SIGHUP");
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    assert_eq!(row_of(&rows, &m1).map(|r| r.ip), Some(ip1), "{rows:?}");

    // Invalid: logged with its line, the old config stays.
    let bad = v1.replace("opt dns 10.99.0.53", "opt dns 10.99.0.999");
    let line = bad.lines().position(|l| l.contains("999")).unwrap() + 1;
    fs::write(dir.path("udhcpd.conf"), &bad).unwrap();
    d.proc.signal(Signal::SIGHUP);
    d.proc.wait_log(
        &format!("{}:{line}: ", dir.s("udhcpd.conf")),
        Duration::from_secs(5),
    );
    assert!(d.log().contains("keeping the old config"), "{}", d.log());
    assert_eq!(dns(mac_n(0xe0, 4)).dns, [10, 99, 0, 54]);
    assert_eq!(dns(m1).yiaddr, ip1);
}

#[test]
fn conflict_probe_does_not_stall_other_clients() {
    let _s = serial();
    // ns0 server, ns1 a host that owns 10.99.0.10 (answers ARP), ns2 clients.
    let Some(lab) = Lab::with(&[
        NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 1), 24)),
            mac: None,
        },
        NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 10), 24)),
            mac: None,
        },
        NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 3), 24)),
            mac: None,
        },
    ]) else {
        return;
    };
    let dir = TempDir::new("conflict");
    let stat = mac_n(0xcc, 2);
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.30",
            &format!("static_lease {stat} 10.99.0.29\n"),
        ),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "1500"]);
    let conflict = Ipv4Addr::new(10, 99, 0, 10);
    let c = lab.ns(2);
    let (a, b, cc, t0, tb) = std::thread::scope(|sc| {
        let t0 = now();
        // A asks for the address the third host has.
        let a = sc.spawn(|| {
            c.run_in(|| discover(mac_n(0xcc, 1), Some(conflict), Duration::from_secs(6)))
        });
        std::thread::sleep(Duration::from_millis(300));
        let tb = now();
        // B (static: no probe) and C (dynamic: its own probe, in parallel)
        // start while A's probes run.
        let b = sc.spawn(|| c.run_in(|| discover(stat, None, Duration::from_secs(6))));
        let cc = sc.spawn(|| {
            c.run_in(|| {
                discover(
                    mac_n(0xcc, 3),
                    Some(Ipv4Addr::new(10, 99, 0, 20)),
                    Duration::from_secs(6),
                )
            })
        });
        (
            a.join().unwrap(),
            b.join().unwrap(),
            cc.join().unwrap(),
            t0,
            tb,
        )
    });
    let a = a.expect("A got no OFFER");
    let b = b.expect("B got no OFFER");
    let cc = cc.expect("C got no OFFER");
    let ms = |x: Instant, y: Instant| (x - y).as_millis();
    eprintln!(
        "A (conflict, then probe) offered {} after {} ms; B (static) {} ms after it started; \
         C (own 1.5 s probe) {} ms",
        a.yiaddr,
        ms(a.at, t0),
        ms(b.at, tb),
        ms(cc.at, tb)
    );
    assert_ne!(a.yiaddr, conflict, "offered an address in use");
    assert!(ms(a.at, t0) >= 1400, "A's second probe was cut short");
    assert!(ms(b.at, tb) < 300, "B stalled behind A's probe");
    assert!(b.at < a.at, "B was answered only after A's probe ended");
    // Serially C would wait for A's probes plus its own (≥ 2.7 s).
    assert!(ms(cc.at, tb) < 2300, "C's probe did not run in parallel");
    assert!(ms(cc.at, tb) >= 1400, "C was not probed");
    assert!(
        d.log()
            .contains("10.99.0.10 belongs to someone, reserving it for"),
        "{}",
        d.log()
    );
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    assert!(
        rows.iter()
            .any(|r| r.ip == conflict && r.mac == "00:00:00:00:00:00"),
        "{rows:?}"
    );
    let bb = busybox_dumpleases(&d.lease_file);
    assert!(bb
        .iter()
        .any(|r| r.ip == conflict && r.mac == "00:00:00:00:00:00"));
}

#[test]
fn notify_file_runs_without_blocking_and_leaves_no_child() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("notify");
    let notified = dir.path("notified");
    // A slow hook: it logs its argument and its pid, then hangs.
    dir.write_script(
        "notify",
        &format!(
            "#!/bin/sh\necho \"$$ $1\" >> {}\nsleep 30\n",
            notified.display()
        ),
    );
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!("notify_file {}\n", dir.s("notify")),
        ),
    )
    .unwrap();
    let mut d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    d.proc.signal(Signal::SIGUSR1);
    assert!(eventually(Duration::from_secs(5), || read(&notified)
        .lines()
        .count()
        == 1));
    let first = read(&notified);
    let (hook_pid, arg) = first.trim().split_once(' ').expect("pid arg");
    assert_eq!(arg, dir.s("udhcpd.leases"));
    let hook_pid: u32 = hook_pid.parse().unwrap();
    assert!(alive(hook_pid));
    // The loop still serves while the hook runs.
    let t = now();
    let offer = lab
        .ns(1)
        .run_in(|| discover(mac_n(0xf0, 1), None, Duration::from_secs(3)));
    assert!(offer.is_some(), "no OFFER while notify_file runs");
    assert!((now() - t) < Duration::from_millis(500));
    // A second rewrite while it runs: queued, not run concurrently.
    d.proc.signal(Signal::SIGUSR1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&notified).lines().count(), 1);
    // TERM: the hook is killed, the final rewrite's run is bounded, and
    // nothing is left in the namespace.
    d.proc.signal(Signal::SIGTERM);
    let st = d.proc.wait(Duration::from_secs(15)).expect("udhcpd exited");
    assert_eq!(st.code(), Some(0), "{}", d.log());
    assert!(!alive(hook_pid));
    assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new(), "{}", d.log());
    assert!(!dir.path("udhcpd.pid").exists());
}

/// Issue 9: `lease_script` runs `add MAC IP` for each granted lease
/// through the bounded runner (not blocking the loop), and a static-lease
/// client appears in the lease file once ACKed (our dumpleases and
/// BusyBox's).
#[test]
fn lease_script_runs_per_lease_and_static_clients_are_recorded() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("hook");
    let log = dir.path("events");
    dir.write_script(
        "hook",
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    );
    let stat = mac_n(0xe1, 1);
    let dynamic = mac_n(0xe1, 2);
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!(
                "lease_script {}\nstatic_lease {stat} 10.99.0.5\nauto_time 1\n",
                dir.s("hook")
            ),
        ),
    )
    .unwrap();
    let mut d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    let stop = AtomicBool::new(false);
    let acks = Mutex::new(Vec::new());
    lab.ns(1)
        .run_in(|| dora_all(&[stat, dynamic], 2, Duration::from_secs(10), &stop, &acks));
    let acks = acks.into_inner().unwrap();
    assert_eq!(acks.len(), 2, "{}", d.log());
    let ip_of = |m: &MacAddr| acks.iter().find(|a| a.mac == *m).map(|a| a.ip).unwrap();
    assert_eq!(ip_of(&stat), Ipv4Addr::new(10, 99, 0, 5));
    let want = [
        format!("add {stat} 10.99.0.5"),
        format!("add {dynamic} {}", ip_of(&dynamic)),
    ];
    assert!(
        eventually(Duration::from_secs(5), || {
            let got = read(&log);
            want.iter().all(|w| got.lines().any(|l| l == w))
        }),
        "events: {:?}\n{}",
        read(&log),
        d.log()
    );
    // The static client is in the lease file once it is rewritten.
    d.proc.signal(Signal::SIGUSR1);
    assert!(
        eventually(Duration::from_secs(5), || {
            row_of(&busybox_dumpleases(&d.lease_file), &stat).is_some()
        }),
        "{}",
        d.log()
    );
    let ours = dumpleases(&d.lease_file);
    assert_eq!(
        row_of(&ours, &stat).map(|r| r.ip),
        Some(Ipv4Addr::new(10, 99, 0, 5))
    );
    d.proc.signal(Signal::SIGTERM);
    let st = d.proc.wait(Duration::from_secs(15)).expect("udhcpd exited");
    assert_eq!(st.code(), Some(0), "{}", d.log());
    assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new(), "{}", d.log());
}

/// Issue 9, probe ahead: with `-a 1500`, a new client's OFFER arrives
/// well under 1.5 s once the server has had time to probe its reserve;
/// the reserve addresses were ARP-probed (a host that owns one is never
/// offered).
#[test]
fn new_client_offer_does_not_wait_for_the_probe() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("ahead");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.99.0.10", "10.99.0.30", ""),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "1500"]);
    // The reserve's probes (1.5 s + slack) finish.
    std::thread::sleep(Duration::from_millis(2000));
    for i in 1..=3u32 {
        let t0 = now();
        let o = lab
            .ns(1)
            .run_in(|| discover(mac_n(0xa0, i), None, Duration::from_secs(5)))
            .expect("no OFFER");
        let ms = (o.at - t0).as_millis();
        eprintln!("client {i}: OFFER {} after {ms} ms", o.yiaddr);
        if i <= 2 {
            // The reserve holds two: both at once.
            assert!(
                ms < 300,
                "OFFER waited {ms} ms with probing on\n{}",
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(1800));
    }
    assert!(d.log().contains("probed free ahead"), "{}", d.log());
}

// ---------------------------------------------------------------------------
// Issue 9: a whole site from one udhcpd

/// `ip -n NS route show` lines.
fn routes_in(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-4", "route", "show"])
        .output()
        .expect("ip route");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// 40 /24 routes 10.1.i.0/24 via 10.99.0.1 as RFC 3442 hex: 320 bytes,
/// more than one option instance holds.
fn long_121() -> String {
    (0..40u8)
        .map(|i| format!("180a01{i:02x}0a630001"))
        .collect()
}

fn count_routes(table: &str) -> usize {
    (0..40)
        .filter(|i| {
            table
                .lines()
                .any(|l| l.starts_with(&format!("10.1.{i}.0/24 via 10.99.0.1")))
        })
        .count()
}

/// One udhcpd serves its own link and, through ISC dhcrelay, a second
/// subnet: the relayed client gets an address of that subnet, a client on
/// the server's link one of the local pool.
#[test]
fn relayed_and_local_clients_get_their_own_subnets() {
    let _s = serial();
    let Some(lab) = RelayLab::new() else { return };
    let (c, r, s) = (lab.ns(0), lab.ns(1), lab.ns(2));
    let dir = TempDir::new("site");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.98.2.100",
            "10.98.2.120",
            "opt router 10.98.2.2\n\nnetwork far\nrelay_subnet 10.98.1.0/24\n\
             start 10.98.1.100\nend 10.98.1.120\nopt subnet 255.255.255.0\nopt router 10.98.1.1\n",
        ),
    )
    .unwrap();
    let d = Udhcpd::start(&s, &dir, &["-v", "-a", "0"]);
    let _relay = Proc::start(
        &r,
        &[
            "dhcrelay",
            "-4",
            "-d",
            "-pf",
            &dir.s("dhcrelay.pid"),
            "-id",
            "eth0",
            "-iu",
            "eth1",
            "10.98.2.2",
        ],
        &dir.path("dhcrelay.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let udhcpc = |ns: &Ns, ifname: &str, log: &str| {
        let mut p = Proc::start(
            ns,
            &[
                "busybox",
                "udhcpc",
                "-f",
                "-q",
                "-n",
                "-t",
                "5",
                "-T",
                "2",
                "-i",
                ifname,
                "-s",
                "/bin/true",
            ],
            &dir.path(log),
        );
        let st = p.wait(Duration::from_secs(20));
        (st.and_then(|s| s.code()), p.log())
    };
    let (st, out) = udhcpc(&c, "eth0", "far.log");
    assert_eq!(
        st,
        Some(0),
        "{out}\n{}\n{}",
        d.log(),
        read(&dir.path("dhcrelay.log"))
    );
    let far = ip_after(&out, "lease of ").expect("lease line");
    assert_eq!(far.octets()[..3], [10, 98, 1], "{far}");
    // A client on the server's own link (the relay host's eth1, which
    // dhcrelay only uses upstream).
    let (st, out) = udhcpc(&r, "eth1", "near.log");
    assert_eq!(st, Some(0), "{out}\n{}", d.log());
    let near = ip_after(&out, "lease of ").expect("lease line");
    assert_eq!(near.octets()[..3], [10, 98, 2], "{near}");
    assert!((100..=120).contains(&near.octets()[3]));
    // One lease file for both, read by BusyBox's dumpleases too.
    d.write_leases();
    let rows = busybox_dumpleases(&d.lease_file);
    assert!(rows.iter().any(|r| r.ip == far), "{rows:?}");
    assert!(rows.iter().any(|r| r.ip == near), "{rows:?}");
}

/// dhclient receives a 320-byte option 121 (two or more instances, in a
/// reply of at most 576 bytes) and installs all 40 routes.
#[test]
fn dhclient_installs_every_route_of_a_long_option_121() {
    let _s = serial();
    let Some(lab) = two() else { return };
    let dir = TempDir::new("dhclient121");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!("opt 121 {}\n", long_121()),
        ),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    let events = dir.path("events");
    // Installs the RFC 3442 routes dhclient passes (as Debian's
    // rfc3442-classless-routes hook does), without touching the host.
    dir.write_script(
        "script",
        &format!(
            "#!/bin/sh\ncase \"$reason\" in\nBOUND|REBOOT)\n\
             ip addr add $new_ip_address/24 dev $interface\n\
             set -- $new_rfc3442_classless_static_routes\n\
             while [ $# -gt 0 ]; do\n w=$1; shift; n=$(( (w + 7) / 8 )); net=; i=0\n\
             while [ $i -lt 4 ]; do if [ $i -lt $n ]; then o=$1; shift; else o=0; fi\n\
             net=\"$net${{net:+.}}$o\"; i=$((i + 1)); done\n\
             ip route add $net/$w via $1.$2.$3.$4 dev $interface; shift 4\ndone\n\
             echo \"BOUND $new_ip_address\" >> {0};;\nesac\nexit 0\n",
            events.display()
        ),
    );
    let argv = [
        "dhclient",
        "-d",
        "-4",
        "-v",
        "-pf",
        &dir.s("dhclient.pid"),
        "-lf",
        &dir.s("dhclient.leases"),
        "-sf",
        &dir.s("script"),
        "eth0",
    ];
    let client = Proc::start(lab.ns(1), &argv, &dir.path("dhclient.log"));
    assert!(
        eventually(Duration::from_secs(20), || read(&events).contains("BOUND ")),
        "{}\n{}",
        client.log(),
        d.log()
    );
    let table = routes_in(&lab.ns(1).name);
    assert_eq!(count_routes(&table), 40, "{table}\n{}", client.log());
}

/// dhcpcd (asking for option 121) receives the 320-byte option and
/// installs all 40 routes itself.
#[test]
fn dhcpcd_installs_every_route_of_a_long_option_121() {
    let _s = serial();
    let Some(lab) = two() else { return };
    let dir = TempDir::new("dhcpcd121");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!("opt 121 {}\n", long_121()),
        ),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-v", "-a", "0"]);
    fs::write(dir.path("dhcpcd.conf"), "option classless_static_routes\n").unwrap();
    dir.write_script(
        "run-dhcpcd",
        &format!(
            "#!/bin/sh\nset -e\nmount -t tmpfs tmpfs /run\nmount -t tmpfs tmpfs /var/lib/dhcpcd\n\
             exec dhcpcd -B -4 -A -L -f {} -c /bin/true -t 20 eth0\n",
            dir.s("dhcpcd.conf")
        ),
    );
    let client = Proc::start(lab.ns(1), &[&dir.s("run-dhcpcd")], &dir.path("dhcpcd.log"));
    let ns = lab.ns(1).name.clone();
    assert!(
        eventually(Duration::from_secs(20), || count_routes(&routes_in(&ns))
            == 40),
        "{}\n{}\n{}",
        routes_in(&ns),
        client.log(),
        d.log()
    );
}
