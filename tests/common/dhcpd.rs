//! udhcpd test plumbing shared by the namespace tests (`udhcpd_e2e.rs`,
//! `udhcpd_faults.rs`): our server started in a lab namespace with its log
//! in a file, dumpleases rows, and a small DORA client on the crate's wire
//! layer and raw socket. Every process is started inside a namespace
//! (`ip netns exec`) and stopped by pid.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::netns::{now, Ns};
use super::tempdir::TempDir;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::{RawSocket, Received};
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, MessageBuilder, MessageType, Packet, OP_REPLY, OP_REQUEST};
use udhcp::wire::MacAddr;

pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

/// Paths inside a [`TempDir`] as strings, for argv.
pub trait PathStr {
    fn s(&self, name: &str) -> String;
}

impl PathStr for TempDir {
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 path").to_owned()
    }
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
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

pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (state Z) is dead; its parent (init) reaps it.
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Pids of processes inside namespace `ns`.
pub fn ns_pids(ns: &Ns) -> Vec<u32> {
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

/// A process we started in a namespace, output to a log file, in a process
/// group of its own; on drop the whole group is KILLed and the process
/// reaped. The group matters for peers that fork helpers: dhcpcd's
/// privilege-separation proxies outlived a KILL of its pid alone and were
/// found running, reparented to init, after a test.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn start(ns: &Ns, args: &[&str], log: &Path) -> Proc {
        let out = fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("dup");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        Proc {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        read(&self.log)
    }

    pub fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
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

    pub fn wait_log(&self, needle: &str, limit: Duration) {
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
        // `ip netns exec` execs the program: the group id is its pid.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(-pgid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Kills a daemon (not our child) by pid on drop if it still runs.
pub struct PidGuard(pub u32);

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
pub fn conf(dir: &TempDir, start: &str, end: &str, extra: &str) -> String {
    format!(
        "interface eth0\nstart {start}\nend {end}\nlease_file {}\npidfile {}\n\
         opt subnet 255.255.255.0\n{extra}",
        dir.s("udhcpd.leases"),
        dir.s("udhcpd.pid"),
    )
}

/// `udhcp udhcpd -f ARGS CONF` in `ns`, stderr to `dir/udhcpd.log`.
pub struct Udhcpd {
    pub proc: Proc,
    pub lease_file: PathBuf,
}

impl Udhcpd {
    pub fn start(ns: &Ns, dir: &TempDir, args: &[&str]) -> Udhcpd {
        Udhcpd::start_at(ns, dir, args, dir.path("udhcpd.leases"))
    }

    /// As [`start`](Self::start), for a `dir/udhcpd.conf` whose
    /// `lease_file` is `lease_file`.
    pub fn start_at(ns: &Ns, dir: &TempDir, args: &[&str], lease_file: PathBuf) -> Udhcpd {
        let conf = dir.s("udhcpd.conf");
        let mut argv = vec![bin(), "udhcpd", "-f"];
        argv.extend_from_slice(args);
        argv.push(&conf);
        let log = dir.path(&format!("udhcpd.{}.log", now().as_millis()));
        let proc = Proc::start(ns, &argv, &log);
        proc.wait_log("started, v", Duration::from_secs(10));
        Udhcpd { proc, lease_file }
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// SIGUSR1 and wait until the lease file is rewritten.
    pub fn write_leases(&self) {
        use std::os::unix::fs::MetadataExt;
        let inode = || fs::metadata(&self.lease_file).map(|m| m.ino()).ok();
        let before = inode();
        let n = self.count("received SIGUSR1");
        self.proc.signal(Signal::SIGUSR1);
        assert!(eventually(Duration::from_secs(5), || self
            .count("received SIGUSR1")
            > n));
        // The rewrite renames a new file over the lease file: wait for the
        // new inode (a fixed 100 ms sleep here let BusyBox's dumpleases read
        // the old file on a loaded machine).
        assert!(
            eventually(Duration::from_secs(5), || inode() != before),
            "the lease file was not rewritten after SIGUSR1"
        );
    }
}

/// One dumpleases row: MAC, IP, expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub mac: String,
    pub ip: Ipv4Addr,
    pub expired: bool,
}

pub fn parse_rows(out: &str) -> Vec<Row> {
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
pub fn dumpleases(file: &Path) -> Vec<Row> {
    let out = Command::new(bin())
        .args(["dumpleases", "-f"])
        .arg(file)
        .output()
        .expect("dumpleases");
    assert!(out.status.success(), "{out:?}");
    parse_rows(&String::from_utf8_lossy(&out.stdout))
}

/// BusyBox's dumpleases (the lease file only).
pub fn busybox_dumpleases(file: &Path) -> Vec<Row> {
    let out = Command::new("busybox")
        .args(["dumpleases", "-f"])
        .arg(file)
        .output()
        .expect("busybox dumpleases");
    assert!(out.status.success(), "{out:?}");
    parse_rows(&String::from_utf8_lossy(&out.stdout))
}

pub fn row_of<'a>(rows: &'a [Row], mac: &MacAddr) -> Option<&'a Row> {
    let m = mac.to_string();
    rows.iter().find(|r| r.mac == m)
}

// ---------------------------------------------------------------------------
// A small DORA client on the crate's wire layer and raw socket

#[derive(Debug, Clone)]
pub struct Reply {
    pub mtype: MessageType,
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub dns: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

pub fn mac_n(prefix: u8, n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([2, prefix, b[0], b[1], b[2], b[3]])
}

/// A client message (broadcast flag set) with the given type, options 50
/// and 54 if given; its length in `buf`.
pub fn build(
    buf: &mut [u8],
    t: MessageType,
    xid: u32,
    mac: MacAddr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
) -> usize {
    build_lease(buf, t, xid, mac, requested, server, None)
}

/// As [`build`], also asking for a lease time (option 51) if given.
pub fn build_lease(
    buf: &mut [u8],
    t: MessageType,
    xid: u32,
    mac: MacAddr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    lease: Option<u32>,
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
    if let Some(secs) = lease {
        b.add_u32(code::LEASE_TIME, secs).expect("opt");
    }
    b.finish()
}

pub fn parse_reply(payload: &[u8], at: Instant) -> Option<(u32, Reply)> {
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
pub struct Wire {
    pub sock: RawSocket,
    pub buf: Vec<u8>,
}

impl Wire {
    pub fn open() -> Wire {
        let ifindex = Interface::query("eth0").expect("eth0").ifindex;
        Wire {
            sock: RawSocket::open(ifindex, 68).expect("raw socket"),
            buf: vec![0; 2048],
        }
    }

    pub fn send(&self, payload: &[u8]) {
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
    pub fn recv(&mut self, limit: Duration, mut f: impl FnMut(u32, Reply)) {
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
pub fn discover(mac: MacAddr, requested: Option<Ipv4Addr>, limit: Duration) -> Option<Reply> {
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
pub struct Ack {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    /// When it arrived.
    pub at: Instant,
}

/// DORA for every MAC in `macs`, `window` at a time and a new client at most
/// every `pace` (zero: as fast as the window allows), retransmitting after
/// 1 s, until all are bound, `limit` passes or `stop` is set. Every ACK
/// received is pushed to `acks` (shared, so the caller sees them live).
pub fn dora_all(
    macs: &[MacAddr],
    window: usize,
    pace: Duration,
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
    let mut next_start = now();
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
                St::Idle if in_flight < window && t >= next_start => {
                    let n = build(&mut buf, MessageType::Discover, xid, macs[i], None, None);
                    w.send(&buf[..n]);
                    *s = St::Discover(t);
                    in_flight += 1;
                    next_start = t + pace;
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
                        at: r.at,
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
