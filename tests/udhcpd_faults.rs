//! Issue 8 from the outside: each defect reproduced against the real
//! udhcpd daemon in network namespaces (tests/common/netns.rs), with the
//! fault injected the way a user or a board would meet it — config, files
//! planted beside the lease file, a crafted journal, a full tmpfs, kill -9,
//! a client that declines every offer — and an assertion on what can be
//! seen from outside: dumpleases, the lease file, whether a second client
//! gets an address someone holds, a victim file's bytes, the daemon's CPU
//! time (/proc/PID/stat) and RSS (/proc/PID/status), its log.
//!
//! Defect 4 (journal handle orphaned after a failed directory fsync) needs
//! a filesystem that fails one fsync: it lives with the FUSE power-cut rig.
//!
//! The agreed behaviour each test checks is /work/briefs/issue8-spec.md
//! (lead's decisions), summarised in each test's doc comment. Every test is
//! bounded in time (seconds) and packets; processes are stopped by pid,
//! namespaces and tmpfs mounts removed on drop, also on failure. The tests
//! run one at a time (a file-wide lock): two of them measure CPU time.

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::dhcpd::*;
use common::netns::{now, Lab, Ns};
use common::tempdir::TempDir;
use nix::sys::signal::Signal;
use udhcp::lease::journal::encode_entry;
use udhcp::lease::{Hostname, LeaseRecord};
use udhcp::sys::clock::wall_now;
use udhcp::time::UnixTime;
use udhcp::wire::dhcp::MessageType;
use udhcp::wire::MacAddr;

// ---------------------------------------------------------------------------
// Observing the daemon from outside

/// Clock ticks per second of /proc/PID/stat's utime and stime.
fn clk_tck() -> u64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

/// User + system CPU time `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').expect("comm").1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f[10] + f[11];
    Duration::from_millis(ticks * 1000 / clk_tck())
}

/// Resident set size of `pid` in KiB (VmRSS).
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Log lines of `log` that contain `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// A file as it was: bytes and permission bits.
#[derive(Debug, PartialEq, Eq)]
struct Snap {
    bytes: Vec<u8>,
    mode: u32,
}

fn snap(path: &Path) -> Option<Snap> {
    let meta = fs::metadata(path).ok()?;
    Some(Snap {
        bytes: fs::read(path).ok()?,
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// `path` exists and is a regular file (not a symlink) that only its owner
/// can read or write; `Err` says what it is instead.
fn owner_only_regular(path: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is still a symlink (to {:?})",
            path.display(),
            fs::read_link(path).ok()
        ));
    }
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:o}, want owner-only (0600)",
            path.display()
        ));
    }
    Ok(())
}

/// dumpleases -d (remaining time in seconds): MAC, IP, seconds left
/// (`None` = expired).
fn dumpleases_secs(file: &Path) -> Vec<(String, Ipv4Addr, Option<u64>)> {
    let out = Command::new(bin())
        .args(["dumpleases", "-d", "-f"])
        .arg(file)
        .output()
        .expect("dumpleases");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let mac = f.next()?.to_owned();
            let ip = f.next()?.parse().ok()?;
            let tail = l.split_whitespace().last()?;
            Some((mac, ip, tail.parse().ok()))
        })
        .collect()
}

/// A tmpfs of `kib` KiB mounted at `path` (created), for a disk that
/// fills up; lazily unmounted on drop. Declare it after the [`TempDir`]
/// that holds `path` and before the daemon, so it drops in between.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: PathBuf, kib: u32) -> Tmpfs {
        fs::create_dir_all(&path).expect("mkdir tmpfs mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0755")])
            .arg("tmpfs")
            .arg(&path)
            .output()
            .expect("mount");
        assert!(out.status.success(), "mount tmpfs: {out:?}");
        Tmpfs(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `name` until the filesystem says ENOSPC; its size.
    fn fill(&self, name: &str) -> u64 {
        let mut f = fs::File::create(self.path(name)).expect("filler");
        let mut total = 0u64;
        for chunk in [64 * 1024, 512, 1] {
            let buf = vec![0xa5u8; chunk];
            loop {
                match f.write(&buf) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling tmpfs: {e}"),
                }
            }
        }
        total
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

/// A one-line value of a file inside namespace `ns` (/sys, /proc/net).
fn ns_cat(ns: &Ns, path: &str) -> String {
    ns.exec_ok(&["cat", path])
}

/// Datagrams the kernel dropped for `ns`'s UDP socket on port 67 (the
/// last column of /proc/net/udp): a full receive queue.
fn udp67_drops(ns: &Ns) -> u64 {
    ns_cat(ns, "/proc/net/udp")
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(":0043"))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn eth0_counter(ns: &Ns, name: &str) -> u64 {
    ns_cat(ns, &format!("/sys/class/net/eth0/statistics/{name}"))
        .trim()
        .parse()
        .expect("counter")
}

// ---------------------------------------------------------------------------
// A few client exchanges on the raw-socket wire (inside `Ns::run_in`)

static XID: AtomicU32 = AtomicU32::new(0x3100_0000);

fn next_xid() -> u32 {
    XID.fetch_add(1, Ordering::Relaxed)
}

/// Sends `payload` every 500 ms until a reply with `xid` and one of the
/// types `want` arrives, or `limit` passes.
fn exchange(
    w: &mut Wire,
    payload: &[u8],
    xid: u32,
    want: &[MessageType],
    limit: Duration,
) -> Option<Reply> {
    let end = now() + limit;
    let mut got = None;
    while got.is_none() && now() < end {
        w.send(payload);
        let resend = now() + Duration::from_millis(500);
        while got.is_none() && now() < resend.min(end) {
            w.recv(Duration::from_millis(20), |x, r| {
                if x == xid && want.contains(&r.mtype) && got.is_none() {
                    got = Some(r);
                }
            });
        }
    }
    got
}

/// DISCOVER (asking for address `requested`, lease `lease` if given) and
/// the first OFFER.
fn offer(
    w: &mut Wire,
    mac: MacAddr,
    requested: Option<Ipv4Addr>,
    lease: Option<u32>,
    limit: Duration,
) -> Option<Reply> {
    let xid = next_xid();
    let mut buf = [0u8; 548];
    let n = build_lease(
        &mut buf,
        MessageType::Discover,
        xid,
        mac,
        requested,
        None,
        lease,
    );
    exchange(w, &buf[..n], xid, &[MessageType::Offer], limit)
}

/// REQUEST for `ip` from server `sid` (SELECTING, or a client that
/// re-requests its address): the ACK or NAK.
fn request(
    w: &mut Wire,
    mac: MacAddr,
    ip: Ipv4Addr,
    sid: Ipv4Addr,
    lease: Option<u32>,
) -> Option<Reply> {
    let xid = next_xid();
    let mut buf = [0u8; 548];
    let n = build_lease(
        &mut buf,
        MessageType::Request,
        xid,
        mac,
        Some(ip),
        Some(sid),
        lease,
    );
    exchange(
        w,
        &buf[..n],
        xid,
        &[MessageType::Ack, MessageType::Nak],
        Duration::from_secs(3),
    )
}

/// A whole DORA; the ACKed address.
fn dora(w: &mut Wire, mac: MacAddr, lease: Option<u32>) -> Option<Ipv4Addr> {
    let o = offer(w, mac, None, lease, Duration::from_secs(3))?;
    let sid = o.server_id?;
    let r = request(w, mac, o.yiaddr, sid, lease)?;
    (r.mtype == MessageType::Ack && r.yiaddr == o.yiaddr).then_some(r.yiaddr)
}

/// The server's address in every lab here (namespace 0 of `Lab::new(2)`).
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

fn write_conf(dir: &TempDir, text: &str) {
    fs::write(dir.path("udhcpd.conf"), text).expect("write udhcpd.conf");
}

// ---------------------------------------------------------------------------
// Defect 1: eviction is journaled

/// With max_leases below the pool, expired leases are evicted to make room
/// for new clients. Before the fix the eviction was not journaled: after
/// kill -9 the loader filled the table with the expired records replayed
/// first and dropped the newest ACKed leases, and the startup compaction
/// made that final. Agreed: replay reproduces the table the server had;
/// every lease ACKed and unexpired is in dumpleases after restart, its
/// client keeps its address on renew, and no other client gets it.
#[test]
fn evicted_leases_are_journaled_so_a_restart_keeps_every_live_lease() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-evict");
    write_conf(
        &dir,
        &conf(
            &dir,
            "10.99.0.10",
            "10.99.0.59",
            "max_leases 4\nmin_lease 1\nopt lease 3600\nauto_time 0\n",
        ),
    );
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let short: Vec<MacAddr> = (0..4).map(|n| mac_n(0x1a, n)).collect();
    let long: Vec<MacAddr> = (0..4).map(|n| mac_n(0x1b, n)).collect();
    let fresh: Vec<MacAddr> = (0..2).map(|n| mac_n(0x1c, n)).collect();
    // Four 2-second leases fill the table...
    let first: Vec<Ipv4Addr> = lab.ns(1).run_in(|| {
        let mut w = Wire::open();
        short
            .iter()
            .map(|&m| dora(&mut w, m, Some(2)).expect("short lease ACKed"))
            .collect()
    });
    // ...expire, and are evicted one by one for four 1-hour leases.
    std::thread::sleep(Duration::from_millis(3000));
    let held: Vec<(MacAddr, Ipv4Addr)> = lab.ns(1).run_in(|| {
        let mut w = Wire::open();
        long.iter()
            .map(|&m| (m, dora(&mut w, m, None).expect("long lease ACKed")))
            .collect()
    });
    eprintln!("2 s leases {first:?}; then 1 h leases {held:?}");

    signal(d.proc.pid(), Signal::SIGKILL);
    drop(d);
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);

    let rows = dumpleases(&d.lease_file);
    let lost: Vec<String> = held
        .iter()
        .filter(|(m, ip)| !row_of(&rows, m).is_some_and(|r| r.ip == *ip && !r.expired))
        .map(|(m, ip)| format!("{m} → {ip}"))
        .collect();
    assert!(
        lost.is_empty(),
        "ACKed 1 h leases missing after kill -9 + restart: {lost:?}\ndumpleases: {rows:?}\nlog:\n{}",
        d.log()
    );
    let (renewed, others) = lab.ns(1).run_in(|| {
        let mut w = Wire::open();
        let renewed: Vec<(MacAddr, Option<Reply>)> = held
            .iter()
            .map(|&(m, ip)| (m, request(&mut w, m, ip, SERVER, None)))
            .collect();
        // With the four leases kept the table is full: no OFFER at all
        // is right, so wait only briefly.
        let others: Vec<Option<Ipv4Addr>> = fresh
            .iter()
            .map(|&m| offer(&mut w, m, None, None, Duration::from_millis(1500)).map(|o| o.yiaddr))
            .collect();
        (renewed, others)
    });
    for ((m, ip), (_, r)) in held.iter().zip(&renewed) {
        let r = r
            .as_ref()
            .unwrap_or_else(|| panic!("{m}: no answer to its renewal"));
        assert_eq!(
            (r.mtype, r.yiaddr),
            (MessageType::Ack, *ip),
            "{m} could not renew {ip}"
        );
    }
    let theirs: HashSet<Ipv4Addr> = held.iter().map(|&(_, ip)| ip).collect();
    for (m, got) in fresh.iter().zip(&others) {
        if let Some(ip) = got {
            assert!(
                !theirs.contains(ip),
                "{ip} offered to {m} but held by another client"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Defect 2: failing retries back off

/// `notify_file` set and a compaction that can never complete (a non-empty
/// directory sits at `<lease_file>.tmp`): before the fix the loop's notify
/// deadline stayed in the past and udhcpd spun at 100 % CPU, logging the
/// error on every turn. Agreed: retries back off (1 s doubling to 60 s),
/// the error is logged once per state change; < 0.2 s CPU in 10 s.
#[test]
fn failing_compaction_with_notify_file_does_not_spin() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-spin");
    let notified = dir.path("notified");
    dir.write_script(
        "notify",
        &format!("#!/bin/sh\necho \"$1\" >> {}\n", notified.display()),
    );
    write_conf(
        &dir,
        &conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!("notify_file {}\n", dir.s("notify")),
        ),
    );
    let tmp = dir.path("udhcpd.leases.tmp");
    fs::create_dir(&tmp).unwrap();
    fs::write(tmp.join("keep"), "a directory rm can't unlink\n").unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let pid = d.proc.pid();
    // One lease change: journaled fine, then the lease-file rewrite that
    // notify_file wants fails, and keeps failing.
    let ip = lab
        .ns(1)
        .run_in(|| dora(&mut Wire::open(), mac_n(0x2a, 1), None))
        .expect("ACK (the journal is writable)");
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, log0) = (cpu_time(pid), d.log());
    let t0 = now();
    std::thread::sleep(Duration::from_secs(10));
    let (cpu1, log1, t1) = (cpu_time(pid), d.log(), now());
    let cpu = cpu1.saturating_sub(cpu0);
    let errors = lines_with(&log1, ".tmp").len();
    let window_errors = errors - lines_with(&log0, ".tmp").len();
    eprintln!(
        "ACKed {ip}; udhcpd used {} ms CPU in {} ms; {errors} log lines name the .tmp \
         ({window_errors} in the window); log {} bytes",
        cpu.as_millis(),
        (t1 - t0).as_millis(),
        log1.len()
    );
    assert!(alive(pid), "udhcpd died:\n{log1}");
    assert!(
        cpu < Duration::from_millis(200),
        "udhcpd used {} ms CPU in 10 s while the compaction kept failing \
         ({errors} error lines; first ones: {:?})",
        cpu.as_millis(),
        log1.lines().take(8).collect::<Vec<_>>()
    );
    assert!(
        errors <= 4,
        "{errors} log lines about the failing compaction ({window_errors} in 10 s); \
         want one per state change:\n{}",
        log1.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    // Still serving.
    assert!(lab
        .ns(1)
        .run_in(|| offer(
            &mut Wire::open(),
            mac_n(0x2a, 2),
            None,
            None,
            Duration::from_secs(3)
        ))
        .is_some());
}

/// Companion of the test above (not a defect of the issue, a guard on its
/// fix): once the compaction can complete again, the lease file is
/// rewritten with the lease ACKed meanwhile and notify_file runs on it.
/// The failing compaction here is the startup one, so this also checks that
/// a lease change made while it kept failing is not folded into a "quiet"
/// (no notify) retry.
#[test]
fn notify_file_runs_once_a_failing_compaction_recovers() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-renotify");
    let notified = dir.path("notified");
    dir.write_script(
        "notify",
        &format!("#!/bin/sh\necho \"$1\" >> {}\n", notified.display()),
    );
    write_conf(
        &dir,
        &conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            &format!("notify_file {}\n", dir.s("notify")),
        ),
    );
    let tmp = dir.path("udhcpd.leases.tmp");
    fs::create_dir(&tmp).unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let mac = mac_n(0x2c, 1);
    let ip = lab
        .ns(1)
        .run_in(|| dora(&mut Wire::open(), mac, None))
        .expect("ACK (the journal is writable)");
    std::thread::sleep(Duration::from_millis(1000));
    fs::remove_dir(&tmp).unwrap();
    let t = now();
    let lease_file = dir.s("udhcpd.leases");
    let ran = eventually(Duration::from_secs(20), || {
        read(&notified).contains(&lease_file)
    });
    eprintln!(
        "notify_file ran: {ran}, {} ms after the .tmp went away",
        (now() - t).as_millis()
    );
    assert!(
        ran,
        "the lease file became writable again but notify_file never ran for the lease \
         ACKed meanwhile ({mac} → {ip}):\n{}",
        d.log()
    );
    // What notify_file was told about: the lease file alone (BusyBox's
    // dumpleases reads no journal) holds the lease.
    let rows = busybox_dumpleases(&d.lease_file);
    assert_eq!(row_of(&rows, &mac).map(|r| r.ip), Some(ip), "{rows:?}");
}

/// The lease file's disk is full: the journal append fails, the ACK is
/// held, the client retransmits. Before the fix the append was retried
/// every second and each retry's fallback compaction logged an error: ten
/// error lines in ten seconds, forever. Agreed: back-off, the error logged
/// once per state change, retries at debug level; near-zero CPU.
#[test]
fn full_disk_journal_retries_back_off_and_log_once() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-full");
    let disk = Tmpfs::mount(dir.path("disk"), 256);
    let lease_file = disk.path("udhcpd.leases");
    write_conf(
        &dir,
        &format!(
            "interface eth0\nstart 10.99.0.10\nend 10.99.0.250\nlease_file {}\npidfile {}\n\
             opt subnet 255.255.255.0\nauto_time 0\n",
            lease_file.display(),
            dir.s("udhcpd.pid")
        ),
    );
    let d = Udhcpd::start_at(lab.ns(0), &dir, &["-a", "0"], lease_file);
    let pid = d.proc.pid();
    let filled = disk.fill("filler");
    // Clients until the journal's last page is used up too: at least one
    // of them must be left without an ACK.
    let macs: Vec<MacAddr> = (0..150).map(|n| mac_n(0x2b, n)).collect();
    let acks = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let (cpu, errors, window_errors, bound) = std::thread::scope(|sc| {
        let clients = sc.spawn(|| {
            lab.ns(1)
                .run_in(|| dora_all(&macs, 16, Duration::from_secs(25), &stop, &acks))
        });
        // The ACKs that still fit arrive within a second or two; then
        // nothing, while the rest retransmit their REQUESTs every second.
        let mut last = usize::MAX;
        let settled = eventually(Duration::from_secs(8), || {
            std::thread::sleep(Duration::from_millis(700));
            let n = acks.lock().unwrap().len();
            let same = n == last;
            last = n;
            same && n < macs.len()
        });
        let (cpu0, log0) = (cpu_time(pid), d.log());
        std::thread::sleep(Duration::from_secs(10));
        let (cpu1, log1) = (cpu_time(pid), d.log());
        stop.store(true, Ordering::SeqCst);
        clients.join().expect("clients");
        assert!(settled, "ACKs kept coming: the disk is not full");
        let errors = lines_with(&log1, "No space left").len();
        let window = errors - lines_with(&log0, "No space left").len();
        (cpu1.saturating_sub(cpu0), errors, window, last)
    });
    let log = d.log();
    eprintln!(
        "filler {filled} bytes; {bound}/{} clients ACKed before the journal filled; \
         udhcpd {} ms CPU in 10 s; {errors} 'No space left' lines ({window_errors} in the 10 s)",
        macs.len(),
        cpu.as_millis()
    );
    assert!(
        bound < macs.len(),
        "every client was ACKed: the journal never failed"
    );
    assert!(
        log.contains("No space left"),
        "the failure was never logged:\n{log}"
    );
    assert!(
        cpu < Duration::from_millis(200),
        "udhcpd used {} ms CPU in 10 s of failing appends",
        cpu.as_millis()
    );
    assert!(
        window_errors <= 1 && errors <= 3,
        "{window_errors} error lines in 10 s of failing appends ({errors} in all); want one \
         per state change:\n{}",
        lines_with(&log, "No space left").join("\n")
    );
    // Space again: the next retry succeeds and says so, once.
    fs::remove_file(disk.path("filler")).unwrap();
    assert!(
        eventually(Duration::from_secs(25), || d
            .log()
            .contains("writable again")),
        "no recovery within 25 s of the disk having space:\n{}",
        d.log()
    );
    drop(d);
    drop(disk);
}

// ---------------------------------------------------------------------------
// Defect 3: bounded while the journal cannot be written

/// A flood of REQUESTs (retransmits of bound clients, more clients than
/// MAX_HELD = 1024) while the disk is full. Before the fix every REQUEST
/// added a held ACK (a 1472-byte buffer) and a pending record: RSS grew
/// without bound. Agreed: one held ACK per client (the newest wins), at
/// most 1024 in all and a bounded set of unsynced records; past the cap
/// requests are dropped and counted, and the log says how many once the
/// journal is writable again. RSS stays flat.
#[test]
fn request_flood_while_the_disk_is_full_keeps_memory_flat() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-flood");
    let disk = Tmpfs::mount(dir.path("disk"), 2048);
    let lease_file = disk.path("udhcpd.leases");
    write_conf(
        &dir,
        &format!(
            "interface eth0\nstart 10.99.16.1\nend 10.99.23.254\nlease_file {}\npidfile {}\n\
             opt subnet 255.255.255.0\nmax_leases 2048\nauto_time 0\n",
            lease_file.display(),
            dir.s("udhcpd.pid")
        ),
    );
    let d = Udhcpd::start_at(lab.ns(0), &dir, &["-a", "0"], lease_file);
    let pid = d.proc.pid();
    // 1200 bound clients (more than MAX_HELD) while the disk is fine.
    let macs: Vec<MacAddr> = (0..1200).map(|n| mac_n(0x3a, n)).collect();
    let acks = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    let t = now();
    lab.ns(1)
        .run_in(|| dora_all(&macs, 64, Duration::from_secs(30), &never, &acks));
    let bound: Vec<Ack> = acks.into_inner().unwrap();
    assert_eq!(bound.len(), macs.len(), "not every client was bound");
    eprintln!(
        "{} clients bound in {} ms",
        bound.len(),
        (now() - t).as_millis()
    );

    let filled = disk.fill("filler");
    let server = lab.ns(0);
    // Every bound client re-REQUESTs its address, `rounds` times; paced so
    // the server reads them (checked below with the kernel's counters).
    let flood = |rounds: usize| -> u64 {
        lab.ns(1).run_in(|| {
            let w = Wire::open();
            let mut buf = [0u8; 548];
            let mut sent = 0u64;
            for round in 0..rounds {
                for (i, a) in bound.iter().enumerate() {
                    let xid = 0x3a00_0000 | ((round as u32) << 12) | i as u32;
                    let n = build(
                        &mut buf,
                        MessageType::Request,
                        xid,
                        a.mac,
                        Some(a.ip),
                        Some(SERVER),
                    );
                    w.send(&buf[..n]);
                    sent += 1;
                    if sent % 32 == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            sent
        })
    };
    // The server has read everything sent before once it answers a
    // DISCOVER sent after (one socket, in order; OFFERs are never held).
    let drained = |k: u32| {
        lab.ns(1)
            .run_in(|| {
                offer(
                    &mut Wire::open(),
                    mac_n(0x3b, k),
                    None,
                    None,
                    Duration::from_secs(10),
                )
            })
            .is_some()
    };
    // Warm-up: the journal's last page fills, the failure starts, the
    // bounded structures reach their cap.
    let warm = flood(2);
    assert!(drained(1), "no OFFER after the warm-up");
    std::thread::sleep(Duration::from_millis(500));
    let rss0 = rss_kib(pid);
    let (rx0, rxd0, udp0) = (
        eth0_counter(server, "rx_packets"),
        eth0_counter(server, "rx_dropped"),
        udp67_drops(server),
    );
    let t = now();
    let sent = flood(30);
    let flood_ms = (now() - t).as_millis();
    assert!(drained(2), "no OFFER after the flood:\n{}", d.log());
    let rss1 = rss_kib(pid);
    let rx = eth0_counter(server, "rx_packets") - rx0;
    let rx_dropped = eth0_counter(server, "rx_dropped") - rxd0;
    let udp_dropped = udp67_drops(server) - udp0;
    let read = rx.saturating_sub(rx_dropped + udp_dropped);
    eprintln!(
        "filler {filled} bytes; warm-up {warm} REQUESTs; flood {sent} REQUESTs in {flood_ms} ms: \
         {rx} reached eth0, {rx_dropped} dropped there, {udp_dropped} by the socket, ~{read} \
         read by udhcpd; RSS {rss0} KiB → {rss1} KiB"
    );
    assert!(
        read >= sent * 3 / 4,
        "the flood did not reach udhcpd (sent {sent}, read ~{read}): the test proves nothing"
    );
    assert!(
        rss1 <= rss0 + 4096,
        "RSS grew from {rss0} KiB to {rss1} KiB (+{} KiB) over {read} REQUESTs while the \
         journal could not be written",
        rss1.saturating_sub(rss0)
    );
    // Space again: the held ACKs go out and the drops are reported.
    fs::remove_file(disk.path("filler")).unwrap();
    let reported = eventually(Duration::from_secs(25), || {
        d.log().to_lowercase().contains("dropped")
    });
    let log = d.log();
    assert!(
        reported,
        "no log line counting the dropped requests once the disk had space again:\n{}",
        log.lines()
            .filter(|l| !l.contains("sending ACK") && !l.contains("sending OFFER"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("{}", lines_with(&log, "dropped").join("\n"));
    drop(d);
    drop(disk);
}

// ---------------------------------------------------------------------------
// Defect 5: symlinks and foreign files

/// Symlinks planted beside the lease file (a directory others can write)
/// at the journal, `.tmp`, `.journal.tmp`, `.bad` and `.journal.bad` paths,
/// each pointing at a victim file. Before the fix the journal was opened
/// through its link (the victim read as a journal, its "damaged tail" cut
/// off: truncated) and the `.journal.bad` copy was written through its
/// link. Agreed: O_NOFOLLOW, the link removed with a warning and a fresh
/// owner-only (0600) file created; no victim is ever written.
#[test]
fn symlinks_at_the_stores_paths_are_never_followed() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let victims = TempDir::new("f-victims");
    let mut problems = Vec::new();

    // Run 1: links at the journal, both .tmp paths and .bad; a lease file
    // that is garbage (so it is moved to .bad).
    let dir = TempDir::new("f-links");
    write_conf(&dir, &conf(&dir, "10.99.0.10", "10.99.0.20", ""));
    let lease = dir.path("udhcpd.leases");
    fs::write(&lease, [0xffu8; 44]).unwrap();
    let planted = [
        "udhcpd.leases.journal",
        "udhcpd.leases.tmp",
        "udhcpd.leases.journal.tmp",
        "udhcpd.leases.bad",
    ];
    let mut before = Vec::new();
    for (i, name) in planted.iter().enumerate() {
        let v = victims.path(&format!("victim{i}"));
        fs::write(&v, format!("victim {i} behind {name}: must not change\n")).unwrap();
        fs::set_permissions(&v, fs::Permissions::from_mode(0o644)).unwrap();
        symlink(&v, dir.path(name)).unwrap();
        before.push((name.to_string(), v.clone(), snap(&v)));
    }
    {
        let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
        // Appends and a compaction too.
        let ip = lab
            .ns(1)
            .run_in(|| dora(&mut Wire::open(), mac_n(0x5a, 1), None));
        assert!(ip.is_some(), "no lease:\n{}", d.log());
        d.write_leases();
        if let Err(e) = owner_only_regular(&dir.path("udhcpd.leases.journal")) {
            problems.push(format!("journal: {e}"));
        }
        let log = d.log();
        for name in [
            "udhcpd.leases.journal",
            "udhcpd.leases.tmp",
            "udhcpd.leases.journal.tmp",
        ] {
            let path = dir.s(name);
            if !log
                .lines()
                .any(|l| l.contains(&path) && l.contains("symlink"))
            {
                problems.push(format!("no warning naming the symlink at {path}"));
            }
        }
        eprintln!("run 1 log:\n{log}");
    }

    // Run 2: a real journal with a damaged entry (so a .journal.bad copy
    // is due), and a link at .journal.bad.
    let dir2 = TempDir::new("f-links2");
    write_conf(&dir2, &conf(&dir2, "10.99.0.10", "10.99.0.20", ""));
    let (journal, bad_entry) = crafted_journal(
        &[
            (0x5b, 10, wall_now().as_secs(), 3000),
            (0x5b, 11, wall_now().as_secs(), 3000),
            (0x5b, 12, wall_now().as_secs(), 3000),
        ],
        Some(1),
    );
    fs::write(dir2.path("udhcpd.leases.journal"), &journal).unwrap();
    let v = victims.path("victim-journal-bad");
    fs::write(
        &v,
        "victim behind udhcpd.leases.journal.bad: must not change\n",
    )
    .unwrap();
    symlink(&v, dir2.path("udhcpd.leases.journal.bad")).unwrap();
    before.push(("udhcpd.leases.journal.bad".into(), v.clone(), snap(&v)));
    {
        let d = Udhcpd::start(lab.ns(0), &dir2, &["-a", "0"]);
        let bad = dir2.path("udhcpd.leases.journal.bad");
        match owner_only_regular(&bad) {
            Err(e) => problems.push(format!("journal.bad: {e}")),
            Ok(()) => {
                let got = fs::read(&bad).unwrap_or_default();
                if !got.windows(bad_entry.len()).any(|w| w == bad_entry) {
                    problems.push(format!(
                        "{} does not hold the damaged entry ({} bytes)",
                        bad.display(),
                        got.len()
                    ));
                }
            }
        }
        let log = d.log();
        let path = dir2.s("udhcpd.leases.journal.bad");
        if !log
            .lines()
            .any(|l| l.contains(&path) && l.contains("symlink"))
        {
            problems.push(format!("no warning naming the symlink at {path}"));
        }
        eprintln!("run 2 log:\n{log}");
    }

    for (name, v, was) in &before {
        let is = snap(v);
        if &is != was {
            problems.push(format!(
                "victim behind {name} changed: was {:?}, now {:?}",
                was.as_ref()
                    .map(|s| (String::from_utf8_lossy(&s.bytes).into_owned(), s.mode)),
                is.as_ref()
                    .map(|s| (String::from_utf8_lossy(&s.bytes).into_owned(), s.mode)),
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Defect 6: a bad entry in the middle; clock steps; impossible values

/// A journal of entries `(mac tag, last octet, written_at, remaining)` for
/// 10.99.0.<octet> and MAC 02:<tag>:00:00:00:<octet>, with the entry at
/// `corrupt` damaged (one hostname byte flipped, so its CRC fails). Returns
/// the bytes and the damaged entry's bytes.
fn crafted_journal(entries: &[(u8, u8, i64, u32)], corrupt: Option<usize>) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, &(tag, octet, at, remaining)) in entries.iter().enumerate() {
        let start = out.len();
        encode_entry(
            UnixTime::from_secs(at),
            &LeaseRecord {
                ip: Ipv4Addr::new(10, 99, 0, octet),
                mac: crafted_mac(tag, octet),
                hostname: Hostname::sanitize(format!("h{octet}").as_bytes()),
                remaining,
                client_id: Vec::new(),
            },
            &mut out,
        );
        if corrupt == Some(i) {
            // Offset 22 is the hostname field: the header stays valid.
            out[start + 22] ^= 0x20;
            bad = out[start..].to_vec();
        }
    }
    (out, bad)
}

fn crafted_mac(tag: u8, octet: u8) -> MacAddr {
    MacAddr([2, tag, 0, 0, 0, octet])
}

/// A journal whose third of six entries fails its CRC. Before the fix
/// decoding stopped there and every later entry was discarded (and the
/// startup compaction made that final). Agreed: the decoder resynchronises,
/// skips only the bad entry (kept in `.journal.bad`), keeps every later
/// good one; those clients keep their addresses and nobody else gets them.
#[test]
fn a_corrupt_journal_entry_in_the_middle_loses_only_itself() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-resync");
    write_conf(
        &dir,
        &conf(&dir, "10.99.0.10", "10.99.0.40", "opt lease 3600\n"),
    );
    let t = wall_now().as_secs() - 10;
    let octets = [10u8, 11, 12, 13, 14, 15];
    let entries: Vec<_> = octets.iter().map(|&o| (0x6a, o, t, 3000)).collect();
    let (journal, bad_entry) = crafted_journal(&entries, Some(2));
    fs::write(dir.path("udhcpd.leases.journal"), &journal).unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let rows = dumpleases(&d.lease_file);
    let good: Vec<(MacAddr, Ipv4Addr)> = [0usize, 1, 3, 4, 5]
        .iter()
        .map(|&i| {
            (
                crafted_mac(0x6a, octets[i]),
                Ipv4Addr::new(10, 99, 0, octets[i]),
            )
        })
        .collect();
    let lost: Vec<String> = good
        .iter()
        .filter(|(m, ip)| !row_of(&rows, m).is_some_and(|r| r.ip == *ip && !r.expired))
        .map(|(m, ip)| format!("{m} → {ip}"))
        .collect();
    assert!(
        lost.is_empty(),
        "good journal entries lost around one corrupt entry: {lost:?}\ndumpleases: {rows:?}\nlog:\n{}",
        d.log()
    );
    let saved = fs::read(dir.path("udhcpd.leases.journal.bad")).unwrap_or_default();
    assert!(
        saved.windows(bad_entry.len()).any(|w| w == bad_entry),
        "the damaged entry is not in .journal.bad ({} bytes there)",
        saved.len()
    );
    // Reported once, with where.
    let log = d.log();
    let reports = lines_with(&log, "udhcpd.leases.journal'");
    assert!(
        reports.len() == 1 && reports.iter().all(|l| l.contains("offset 102")),
        "want one warning naming the journal and the bad entry's offset (102):\n{log}"
    );
    // The clients after the bad entry keep their addresses; a stranger
    // asking for one of them does not get it.
    let (m4, ip4) = good[2];
    let (renew, stranger) = lab.ns(1).run_in(|| {
        let mut w = Wire::open();
        (
            request(&mut w, m4, ip4, SERVER, None),
            offer(
                &mut w,
                mac_n(0x6b, 1),
                Some(good[4].1),
                None,
                Duration::from_secs(3),
            ),
        )
    });
    let renew = renew.expect("no answer to the renewal");
    assert_eq!((renew.mtype, renew.yiaddr), (MessageType::Ack, ip4));
    if let Some(o) = stranger {
        assert_ne!(o.yiaddr, good[4].1, "{} offered to a stranger", good[4].1);
    }
}

/// Journal entries stamped across wall-clock steps, and one with an
/// impossible remaining time (valid CRC). Before the fix an entry written
/// while the clock was unset (1970) and read after NTP set it was expired
/// at once (its address handed to the next client), and a remaining time of
/// 4e9 s was believed (a lease for 126 years). Agreed (spec 6): written_at
/// before 2020 with now after it, or in the future: elapsed 0; remaining
/// clamped to the longest lease the config grants; real elapsed time still
/// counts.
#[test]
fn clock_steps_neither_expire_leases_nor_make_them_immortal() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-clock");
    write_conf(
        &dir,
        &conf(&dir, "10.99.0.10", "10.99.0.40", "opt lease 3600\n"),
    );
    let now_s = wall_now().as_secs();
    const YEAR: i64 = 365 * 86_400;
    // (octet, written_at, remaining, what)
    let cases: [(u8, i64, u32, &str); 5] = [
        (
            10,
            1_000,
            3000,
            "written in 1970 (clock unset), read after NTP",
        ),
        (
            11,
            now_s + 5 * YEAR,
            3000,
            "written 5 years ahead (clock set back since)",
        ),
        (12, now_s - 60, 3000, "written a minute ago"),
        (
            13,
            now_s,
            4_000_000_000,
            "remaining 4e9 s, beyond any lease the config grants",
        ),
        (
            14,
            now_s - 4000,
            3000,
            "written 4000 s ago with 3000 s left",
        ),
    ];
    let entries: Vec<_> = cases
        .iter()
        .map(|&(o, at, rem, _)| (0x7a, o, at, rem))
        .collect();
    let (journal, _) = crafted_journal(&entries, None);
    fs::write(dir.path("udhcpd.leases.journal"), &journal).unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let rows = dumpleases_secs(&d.lease_file);
    let left = |octet: u8| {
        let mac = crafted_mac(0x7a, octet).to_string();
        rows.iter()
            .find(|(m, ip, _)| *m == mac && *ip == Ipv4Addr::new(10, 99, 0, octet))
            .map(|r| r.2)
    };
    let mut problems = Vec::new();
    for (octet, _, _, what) in cases {
        let got = left(octet);
        let ok = match octet {
            10 | 11 => got.flatten().is_some_and(|s| (2900..=3000).contains(&s)),
            12 => got.flatten().is_some_and(|s| (2900..=2945).contains(&s)),
            // Clamped (≤ the 3600 s lease), or dropped with a warning.
            13 => match got {
                None => true,
                Some(s) => s.is_some_and(|s| s <= 3600),
            },
            _ => got == Some(None),
        };
        if !ok {
            problems.push(format!("10.99.0.{octet} ({what}): seconds left {got:?}"));
        }
    }
    // The 1970 lease is its client's: a stranger asking for it must not
    // get it.
    let ip = Ipv4Addr::new(10, 99, 0, 10);
    let stranger = lab.ns(1).run_in(|| {
        offer(
            &mut Wire::open(),
            mac_n(0x7b, 1),
            Some(ip),
            None,
            Duration::from_secs(3),
        )
    });
    if stranger.as_ref().is_some_and(|o| o.yiaddr == ip) {
        problems.push(format!(
            "{ip} (leased before the clock step) offered to a stranger"
        ));
    }
    // The impossible value is not taken silently.
    if !d
        .log()
        .lines()
        .any(|l| l.contains("clamped") || l.contains("dropped"))
    {
        problems.push("no warning about the impossible remaining time".into());
    }
    assert!(
        problems.is_empty(),
        "{}\ndumpleases -d: {rows:?}\nlog:\n{}",
        problems.join("\n"),
        d.log()
    );
}

// ---------------------------------------------------------------------------
// Defect 7: DECLINE drains the pool

/// One client DECLINEs every address it is offered. Before the fix each
/// DECLINE parked an address for decline_time, so one client emptied the
/// pool and the next client got nothing. Agreed: at most 4 addresses
/// parked by one client's DECLINEs at once; a further DECLINE frees its
/// oldest parked one.
#[test]
fn one_client_declining_every_offer_cannot_drain_the_pool() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("f-decline");
    write_conf(&dir, &conf(&dir, "10.99.0.10", "10.99.0.17", ""));
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let x = mac_n(0x8a, 1);
    let (declined, other) = lab.ns(1).run_in(|| {
        let mut w = Wire::open();
        let mut declined = Vec::new();
        let mut buf = [0u8; 548];
        for _ in 0..12 {
            let Some(o) = offer(&mut w, x, None, None, Duration::from_millis(1500)) else {
                break;
            };
            let n = build(
                &mut buf,
                MessageType::Decline,
                next_xid(),
                x,
                Some(o.yiaddr),
                Some(o.server_id.unwrap_or(SERVER)),
            );
            w.send(&buf[..n]);
            declined.push(o.yiaddr);
            std::thread::sleep(Duration::from_millis(50));
        }
        let other = offer(&mut w, mac_n(0x8a, 2), None, None, Duration::from_secs(2));
        (declined, other)
    });
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    let parked = rows
        .iter()
        .filter(|r| r.mac == "00:00:00:00:00:00" && !r.expired)
        .count();
    eprintln!(
        "{x} declined {} offers: {declined:?}; {parked} addresses parked; another client's \
         OFFER: {:?}",
        declined.len(),
        other.as_ref().map(|o| o.yiaddr)
    );
    assert!(
        declined.len() >= 8,
        "the declining client got only {} offers",
        declined.len()
    );
    assert!(
        other.is_some(),
        "pool of 8 drained by one client's {} DECLINEs: another client got no OFFER\n\
         dumpleases: {rows:?}",
        declined.len()
    );
    assert!(
        parked <= 4,
        "{parked} addresses parked by one client: {rows:?}"
    );
    assert!(
        d.log()
            .lines()
            .any(|l| l.contains(&x.to_string()) && l.contains("declined")),
        "the limit bit without a log line naming the client:\n{}",
        d.log()
    );
}
