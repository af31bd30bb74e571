//! `--monitor` end to end, in namespaces (root): the OVS model of
//! `sys::monitor`. A daemon killed by a signal is back within the back-off
//! and loses no ACKed lease; one that exits on its own (a config error,
//! TERM) is not restarted; the pidfile names the daemon; TERM to either
//! process stops both.
//!
//! The DHCP client side (raw socket, DORA for many MACs) is a small copy
//! of the one in `udhcpd_e2e.rs`, which keeps its helpers private.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::netns::{now, Lab, Ns};
use common::tempdir::TempDir;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::{RawSocket, Received};
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, MessageBuilder, MessageType, Packet, OP_REPLY, OP_REQUEST};
use udhcp::wire::MacAddr;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

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

/// `(state, ppid)` of a live process.
fn stat(pid: u32) -> Option<(char, u32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(s, _)| s != 'Z')
}

/// Signals a process we started (never pid 0 or 1).
fn signal(pid: u32, sig: Signal) {
    assert!(pid > 1, "refusing to signal pid {pid}");
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

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

/// The pid in a pidfile, once it names a live process other than `not`.
fn pidfile_pid(path: &Path, not: u32, limit: Duration) -> Option<u32> {
    let mut got = None;
    eventually(limit, || {
        got = read(path)
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&p| p != not && alive(p));
        got.is_some()
    });
    got
}

/// A process we started in a namespace, output to a log file; KILLed (by
/// pid) and reaped on drop, together with every process left in `ns`.
struct Proc {
    child: Child,
    log: PathBuf,
    ns: String,
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
            ns: ns.name.clone(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        read(&self.log)
    }

    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut st = None;
        eventually(limit, || {
            st = self.child.try_wait().expect("try_wait");
            st.is_some()
        });
        st
    }

    fn wait_log(&self, needle: &str, limit: Duration) {
        assert!(
            eventually(limit, || self.log().contains(needle)),
            "no '{needle}' within {limit:?}:\n{}",
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
        kill_all_in(&self.ns);
    }
}

/// KILL whatever still runs in namespace `name` (our daemons only: the
/// namespace is the test's own).
fn kill_all_in(name: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        if pid > 1 {
            signal(pid, Signal::SIGKILL);
        }
    }
}

fn conf(dir: &TempDir, start: &str, end: &str, extra: &str) -> String {
    format!(
        "interface eth0\nstart {start}\nend {end}\nlease_file {}\npidfile {}\n\
         opt subnet 255.255.255.0\n{extra}",
        dir.path("udhcpd.leases").display(),
        dir.path("udhcpd.pid").display(),
    )
}

// ---------------------------------------------------------------------------
// The client side: raw DHCP from 0.0.0.0:68 (copied from udhcpd_e2e.rs).

struct Reply {
    mtype: MessageType,
    yiaddr: Ipv4Addr,
    server_id: Option<Ipv4Addr>,
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

fn parse_reply(payload: &[u8]) -> Option<(u32, Reply)> {
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
        },
    ))
}

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

    fn recv(&mut self, limit: Duration, mut f: impl FnMut(u32, Reply)) {
        let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.sock),
            PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
        while let Ok(Some(got)) = self.sock.recv(&mut self.buf) {
            if let Received::Datagram(d) = got {
                if let Some((xid, r)) = parse_reply(d.udp.payload) {
                    f(xid, r);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    mac: MacAddr,
    ip: Ipv4Addr,
    at: Instant,
}

/// DORA for every MAC, `window` at a time, retransmitting after 1 s, until
/// all are bound, `limit` passes or `stop` is set; ACKs go to `acks` live.
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
    let base = 0x6000_0000u32 | (now().as_millis() as u32 & 0x00ff_0000);
    let mut st = vec![St::Idle; macs.len()];
    let mut buf = [0u8; 548];
    let end = now() + limit;
    let resend = Duration::from_secs(1);
    // New clients start at most one per PACE: the load must still be going
    // when the test kills the daemon (unpaced, an idle machine served all
    // 300 before the kill and the test failed "the kill came after the
    // load").
    const PACE: Duration = Duration::from_millis(8);
    let mut next_start = now();
    while now() < end && !stop.load(Ordering::Relaxed) {
        if st.iter().all(|s| matches!(s, St::Bound)) {
            break;
        }
        let t = now();
        let mut in_flight = st
            .iter()
            .filter(|s| matches!(s, St::Discover(..) | St::Request(..)))
            .count();
        for (i, s) in st.iter_mut().enumerate() {
            let xid = base + i as u32;
            match *s {
                St::Idle if in_flight < window && t >= next_start => {
                    let n = build(&mut buf, MessageType::Discover, xid, macs[i], None, None);
                    w.send(&buf[..n]);
                    *s = St::Discover(t);
                    in_flight += 1;
                    next_start = t + PACE;
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
                        at: now(),
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

/// `(mac, ip)` rows of our dumpleases on `file` (lease file + journal).
fn dumpleases(file: &Path) -> Vec<(String, Ipv4Addr)> {
    let out = Command::new(bin())
        .args(["dumpleases", "-f"])
        .arg(file)
        .output()
        .expect("dumpleases");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let mac = f.next()?.to_string();
            let ip = f.next()?.parse().ok()?;
            Some((mac, ip))
        })
        .collect()
}

// ---------------------------------------------------------------------------

#[test]
fn kill9_under_load_is_restarted_within_the_backoff_and_loses_no_acked_lease() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("monitor-kill9");
    let conf_path = dir.write(
        "udhcpd.conf",
        &conf(&dir, "10.99.1.1", "10.99.2.250", "max_leases 600\n"),
    );
    let conf_s = conf_path.to_str().unwrap();
    let mut m = Proc::start(
        lab.ns(0),
        &[bin(), "udhcpd", "--monitor", "-f", "-a", "0", conf_s],
        &dir.path("monitor.log"),
    );
    m.wait_log("started, v", Duration::from_secs(10));
    let pidfile = dir.path("udhcpd.pid");
    let d1 = pidfile_pid(&pidfile, 0, Duration::from_secs(5)).expect("pidfile");
    assert_ne!(d1, m.pid(), "the pidfile names the monitor");
    assert_eq!(stat(d1).map(|s| s.1), Some(m.pid()), "daemon not our child");

    let acks = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let macs: Vec<MacAddr> = (0..300).map(|n| mac_n(0xc1, n)).collect();
    let mut killed_at = None;
    let mut d2 = None;
    std::thread::scope(|sc| {
        let gen = sc.spawn(|| {
            lab.ns(1)
                .run_in(|| dora_all(&macs, 16, Duration::from_secs(40), &stop, &acks))
        });
        let mid = eventually(Duration::from_secs(20), || {
            acks.lock().unwrap().len() >= 100
        });
        if mid {
            signal(d1, Signal::SIGKILL);
            let t = now();
            killed_at = Some(t);
            // Back-off: at most 2 s after the previous start, plus slack.
            d2 = pidfile_pid(&pidfile, d1, Duration::from_millis(3500));
            if d2.is_some() {
                eprintln!("restarted {} ms after kill -9", (now() - t).as_millis());
            }
        }
        let _ = eventually(Duration::from_secs(40), || gen.is_finished());
        stop.store(true, Ordering::SeqCst);
        gen.join().expect("generator");
    });
    let killed_at = killed_at.expect("no 100 ACKs within 20 s");
    let d2 = d2.expect("no new daemon within 3.5 s of kill -9");
    let acks = acks.into_inner().unwrap();
    let before = acks.iter().filter(|a| a.at < killed_at).count();
    assert!(before < macs.len(), "the kill came after the load");
    // Service resumed: every client of the run was served in the end.
    assert_eq!(acks.len(), macs.len(), "clients left unserved");
    let log = m.log();
    assert!(
        log.contains(&format!(
            "udhcpd: pid {d1} killed by signal 9 (SIGKILL), restarting"
        )),
        "{log}"
    );
    assert_eq!(log.matches("restarting").count(), 1, "{log}");
    // No ACKed lease lost, none given twice.
    let rows = dumpleases(&dir.path("udhcpd.leases"));
    let by_ip: HashMap<Ipv4Addr, &String> = rows.iter().map(|(m, ip)| (*ip, m)).collect();
    let mut ips = HashSet::new();
    for a in &acks {
        assert!(ips.insert(a.ip), "{} ACKed twice", a.ip);
        assert_eq!(
            by_ip.get(&a.ip).map(|m| m.as_str()),
            Some(a.mac.to_string().as_str()),
            "ACKed {} → {} lost",
            a.mac,
            a.ip
        );
    }
    eprintln!(
        "kill -9 after {before} of {} ACKs; all found in the store",
        acks.len()
    );
    // TERM to the daemon stops both: it exits on its own (status 0).
    signal(d2, Signal::SIGTERM);
    let st = m.wait(Duration::from_secs(5)).expect("monitor still runs");
    assert_eq!(st.code(), Some(0), "{}", m.log());
    assert!(!alive(d2));
    assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new());
    assert!(!pidfile.exists(), "pidfile left behind");
}

#[test]
fn a_config_error_is_not_restarted() {
    let _s = serial();
    let Some(lab) = Lab::new(1) else { return };
    let dir = TempDir::new("monitor-conf");
    let good = conf(&dir, "10.99.0.10", "10.99.0.20", "");
    let conf_path = dir.write(
        "udhcpd.conf",
        &good.replace("end 10.99.0.20", "end 10.99.0.300"),
    );
    let conf_s = conf_path.to_str().unwrap();
    for fg in [true, false] {
        let mut argv = vec![bin(), "udhcpd", "--monitor", "-a", "0", conf_s];
        if fg {
            argv.insert(3, "-f");
        }
        let mut p = Proc::start(lab.ns(0), &argv, &dir.path("err.log"));
        let st = p
            .wait(Duration::from_secs(5))
            .expect("no exit: restart loop?");
        let log = p.log();
        assert_eq!(st.code(), Some(1), "-f {fg}: {log}");
        assert_eq!(log.matches(":3: ").count(), 1, "-f {fg}: {log}");
        assert!(!log.contains("restarting"), "{log}");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(ns_pids(lab.ns(0)), Vec::<u32>::new(), "-f {fg}");
    }
    // After `--`, `--monitor` is an operand (here the CONFFILE), not the
    // option: no monitor, one error.
    let out = lab.ns(0).exec(&[bin(), "udhcpd", "-f", "--", "--monitor"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "udhcpd: can't open '--monitor': No such file or directory\n"
    );
    // A usage error is reported once, by the monitor, before any fork.
    let out = lab.ns(0).exec(&[bin(), "udhcpd", "--monitor", "-Z"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("udhcpd: ").count(), 1, "{err}");
}

#[test]
fn background_monitor_relays_readiness_pidfile_names_daemon_term_stops_both() {
    let _s = serial();
    let Some(lab) = Lab::new(1) else { return };
    let dir = TempDir::new("monitor-bg");
    // A relative config path: the monitor's move to / must not break it.
    dir.write("udhcpd.conf", &conf(&dir, "10.99.0.10", "10.99.0.20", ""));
    let pidfile = dir.path("udhcpd.pid");
    for term_monitor in [true, false] {
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.ns(0).name])
            .args([bin(), "udhcpd", "--monitor", "-a", "0", "udhcpd.conf"])
            .current_dir(dir.dir())
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = pidfile_pid(&pidfile, 0, Duration::from_secs(2)).expect("pidfile");
        let monitor = stat(d).expect("daemon").1;
        assert!(monitor > 1, "daemon re-parented to init: no monitor");
        assert!(
            read(Path::new(&format!("/proc/{monitor}/cmdline"))).contains("--monitor"),
            "the daemon's parent is not the monitor"
        );
        let mut pids = ns_pids(lab.ns(0));
        pids.sort_unstable();
        let mut want = vec![d, monitor];
        want.sort_unstable();
        assert_eq!(pids, want);
        let target = if term_monitor { monitor } else { d };
        signal(target, Signal::SIGTERM);
        assert!(
            eventually(Duration::from_secs(5), || !alive(d) && !alive(monitor)),
            "TERM to the {} left a process",
            if term_monitor { "monitor" } else { "daemon" }
        );
        assert!(!pidfile.exists(), "pidfile left behind");
    }
}

#[test]
fn udhcpc_killed_by_a_signal_is_restarted_and_binds_again() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("monitor-udhcpc");
    let conf_path = dir.write("udhcpd.conf", &conf(&dir, "10.99.0.100", "10.99.0.110", ""));
    let _server = Proc::start(
        lab.ns(0),
        &[
            bin(),
            "udhcpd",
            "-f",
            "-a",
            "0",
            conf_path.to_str().unwrap(),
        ],
        &dir.path("server.log"),
    );
    let events = dir.path("events");
    let script = dir.write_script(
        "event.sh",
        &format!("echo \"$1 $ip\" >> '{}'\n", events.display()),
    );
    let pidfile = dir.path("udhcpc.pid");
    // An abort, as a crash would be; no core file (ulimit -c 0).
    let mut m = Proc::start(
        lab.ns(1),
        &[
            "sh",
            "-c",
            "ulimit -c 0; exec \"$@\"",
            "sh",
            bin(),
            "udhcpc",
            "--monitor",
            "-f",
            "-i",
            "eth0",
            "-a0",
            "-s",
            script.to_str().unwrap(),
            "-p",
            pidfile.to_str().unwrap(),
        ],
        &dir.path("client.log"),
    );
    let bound = |n: usize| {
        eventually(Duration::from_secs(10), || {
            read(&events)
                .lines()
                .filter(|l| l.starts_with("bound "))
                .count()
                >= n
        })
    };
    assert!(bound(1), "no lease: {}", m.log());
    let c1 = pidfile_pid(&pidfile, 0, Duration::from_secs(2)).expect("pidfile");
    assert_ne!(c1, m.pid(), "the pidfile names the monitor");
    // Up for more than the 2 s spacing: the restart is immediate.
    std::thread::sleep(Duration::from_millis(2100));
    signal(c1, Signal::SIGABRT);
    let t = now();
    let c2 = pidfile_pid(&pidfile, c1, Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no restart: {}", m.log()));
    assert!(bound(2), "no second lease: {}", m.log());
    eprintln!(
        "udhcpc {c1} SIGABRT -> {c2} bound again after {} ms",
        (now() - t).as_millis()
    );
    let log = m.log();
    assert!(
        log.contains(&format!(
            "udhcpc: pid {c1} killed by signal 6 (SIGABRT), restarting"
        )),
        "{log}"
    );
    // Same address again (the server kept the lease).
    let ips: Vec<String> = read(&events)
        .lines()
        .filter_map(|l| l.strip_prefix("bound ").map(str::to_owned))
        .collect();
    assert_eq!(ips.first(), ips.get(1), "{ips:?}");
    // TERM to the monitor stops both; udhcpc removes its pidfile.
    signal(m.pid(), Signal::SIGTERM);
    let st = m.wait(Duration::from_secs(5)).expect("monitor still runs");
    assert_eq!(st.code(), Some(0), "{}", m.log());
    assert!(!alive(c2));
    assert!(!pidfile.exists(), "pidfile left behind");
}
