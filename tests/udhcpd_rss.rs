//! Peak RSS of the real udhcpd with 50,000 bound leases (issue 9: "peak RSS
//! with 50,000 leases comes down to BusyBox udhcpd's"), measured in a
//! namespace lab instead of `bench/server.sh`, which needs a quiet machine.
//!
//! The server runs with the bench's config (a /16 pool of 65,279
//! addresses, `max_leases` the pool, `-a 0`) plus `auto_time 1`, so the
//! periodic compaction rewrites the whole table while it grows; the
//! journal-budget compactions happen as well. A client namespace does a
//! full DORA for 50,000 MACs (`dora_all`). The test prints VmHWM (peak
//! RSS) and VmRSS from `/proc/PID/status` after the load, after one more
//! compaction of the full table (SIGUSR1), for a restart that loads the
//! lease file, and for a restart after `kill -9` that also replays a
//! journal of 15,000 more leases (`auto_time 0` for that run).
//!
//! It checks what must hold whatever the numbers: every client bound, every
//! lease in the lease file after the compaction and after the restarts.
//! With `UDHCP_RSS_MAX_KIB=N` it also fails if VmHWM after the load or the
//! compaction is above N KiB, with `UDHCP_RSS_RESTART_MAX_KIB=N` after a
//! restart. Ignored
//! by default (a minute of load); run it on the release build, the one the
//! bench measures:
//!
//! ```sh
//! cargo test --release --test udhcpd_rss -- --ignored --nocapture
//! ```

mod common;

use std::fs;
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use common::dhcpd::{dora_all, dumpleases, mac_n, serial, PathStr, Udhcpd};
use common::netns::{Lab, NsSpec};
use common::tempdir::TempDir;
use udhcp::wire::MacAddr;

/// Leases to bind (issue 9's number).
const CLIENTS: u32 = 50_000;

/// Leases bound against BusyBox (see `busybox_peak_rss_with_50000_leases`).
const BUSYBOX_CLIENTS: u32 = 1000;

/// Clients bound later, into the journal only (the pool has 65,279).
const MORE: u32 = 15_000;

/// Our udhcpd with `-a 0` in `ns`; `UDHCP_RSS_BIN` names another build
/// of it (e.g. an older commit's, for a before/after on the same machine).
fn start(ns: &common::netns::Ns, dir: &TempDir) -> Udhcpd {
    let Some(bin) = std::env::var_os("UDHCP_RSS_BIN") else {
        return Udhcpd::start(ns, dir, &["-a", "0"]);
    };
    let bin = bin.into_string().expect("utf-8 UDHCP_RSS_BIN");
    let conf = dir.s("udhcpd.conf");
    let log = dir.path(&format!("udhcpd.{}.log", common::netns::now().as_millis()));
    let proc = common::dhcpd::Proc::start(ns, &[&bin, "udhcpd", "-f", "-a", "0", &conf], &log);
    proc.wait_log("started, v", Duration::from_secs(10));
    Udhcpd {
        proc,
        lease_file: dir.path("udhcpd.leases"),
    }
}

/// CPU time (user + system) `pid` has used, in milliseconds.
fn cpu_ms(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field of the line, stime the 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    f.iter().sum::<u64>() * 1000 / hz
}

/// `VmHWM` and `VmRSS` of `pid` in KiB.
fn mem_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// With `UDHCP_RSS_SMAPS=1`: the resident KiB of each mapping of `pid`
/// (32 KiB or more), to see which allocation a peak comes from.
fn smaps(pid: u32) {
    if std::env::var_os("UDHCP_RSS_SMAPS").is_none() {
        return;
    }
    let s = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut name = String::new();
    for l in s.lines() {
        if l.contains('-') && !l.starts_with(|c: char| c.is_ascii_uppercase()) {
            name = l.to_string();
        } else if let Some(v) = l.strip_prefix("Rss:") {
            let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap();
            if kb >= 32 {
                eprintln!("  {kb:>6} KiB {name}");
            }
        }
    }
}

fn conf(dir: &TempDir) -> String {
    format!(
        "interface eth0\nstart 10.99.1.0\nend 10.99.255.254\nmax_leases 65279\n\
         auto_time 1\nlease_file {}\npidfile {}\nopt subnet 255.255.0.0\n\
         opt router 10.99.0.1\nopt dns 10.99.0.1\nopt lease 86400\n",
        dir.s("udhcpd.leases"),
        dir.s("udhcpd.pid"),
    )
}

#[test]
#[ignore = "a minute of load; run on the release build, see the module doc"]
fn peak_rss_with_50000_leases() {
    let _s = serial();
    let spec = |ip| NsSpec {
        addr: Some((ip, 16)),
        mac: None,
    };
    let Some(lab) = Lab::with(&[
        spec(Ipv4Addr::new(10, 99, 0, 1)),
        spec(Ipv4Addr::new(10, 99, 0, 2)),
    ]) else {
        return;
    };
    let dir = TempDir::new("rss");
    fs::write(dir.path("udhcpd.conf"), conf(&dir)).unwrap();
    let limit = |name: &str| -> Option<u64> { std::env::var(name).ok()?.parse().ok() };
    let (run_max, restart_max) = (
        limit("UDHCP_RSS_MAX_KIB"),
        limit("UDHCP_RSS_RESTART_MAX_KIB"),
    );
    let mut peaks = Vec::new();

    let d = start(lab.ns(0), &dir);
    let pid = d.proc.pid();
    let (idle, _) = mem_kib(pid);
    eprintln!("started: VmHWM {idle} KiB");
    smaps(pid);

    let macs: Vec<MacAddr> = (0..CLIENTS).map(|n| mac_n(0x5a, n)).collect();
    let acks = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    let t0 = common::netns::now();
    let cpu0 = cpu_ms(pid);
    lab.ns(1).run_in(|| {
        dora_all(
            &macs,
            256,
            Duration::ZERO,
            Duration::from_secs(600),
            &never,
            &acks,
        )
    });
    let bound = acks.into_inner().unwrap().len();
    let (hwm, rss) = mem_kib(pid);
    let cpu = cpu_ms(pid) - cpu0;
    eprintln!(
        "{bound} leases bound in {:.1} s: VmHWM {hwm} KiB, VmRSS {rss} KiB, \
         server CPU {cpu} ms ({:.1} us per DORA, compactions included)",
        (common::netns::now() - t0).as_secs_f64(),
        cpu as f64 * 1000.0 / bound.max(1) as f64
    );
    assert_eq!(bound, CLIENTS as usize, "not every client was bound");
    peaks.push(("load", hwm, run_max));
    smaps(pid);

    // One more compaction of the full table, then the lease file holds
    // every lease.
    d.write_leases();
    let (hwm, rss) = mem_kib(pid);
    eprintln!("after a full compaction: VmHWM {hwm} KiB, VmRSS {rss} KiB");
    peaks.push(("compaction", hwm, run_max));
    let rows = dumpleases(&d.lease_file);
    assert_eq!(rows.len(), CLIENTS as usize, "leases in the lease file");
    drop(d);

    // A restart loads the file and replays the journal.
    let d = start(lab.ns(0), &dir);
    std::thread::sleep(Duration::from_millis(1500));
    let (hwm, rss) = mem_kib(d.proc.pid());
    eprintln!("restarted on 50000 leases: VmHWM {hwm} KiB, VmRSS {rss} KiB");
    peaks.push(("restart", hwm, restart_max));
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    assert_eq!(rows.len(), CLIENTS as usize, "leases after the restart");
    drop(d);

    // A restart that replays a long journal: no timed compaction, 15,000
    // more clients (their leases only in the journal: it stays under its
    // budget of twice the lease file), kill -9, start again.
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir).replace("auto_time 1\n", "auto_time 0\n"),
    )
    .unwrap();
    let d = start(lab.ns(0), &dir);
    let more: Vec<MacAddr> = (0..MORE).map(|n| mac_n(0x5b, n)).collect();
    let acks = Mutex::new(Vec::new());
    lab.ns(1).run_in(|| {
        dora_all(
            &more,
            256,
            Duration::ZERO,
            Duration::from_secs(600),
            &never,
            &acks,
        )
    });
    assert_eq!(acks.into_inner().unwrap().len(), MORE as usize);
    let journal = fs::metadata(dir.path("udhcpd.leases.journal")).map_or(0, |m| m.len());
    d.proc.signal(nix::sys::signal::Signal::SIGKILL);
    drop(d);
    let d = start(lab.ns(0), &dir);
    std::thread::sleep(Duration::from_millis(1500));
    let (hwm, rss) = mem_kib(d.proc.pid());
    eprintln!(
        "restarted on {CLIENTS} leases + a {journal}-byte journal of {MORE}: VmHWM {hwm} KiB, VmRSS {rss} KiB"
    );
    peaks.push(("restart with journal", hwm, restart_max));
    d.write_leases();
    let rows = dumpleases(&d.lease_file);
    assert_eq!(
        rows.len(),
        (CLIENTS + MORE) as usize,
        "leases after kill -9"
    );

    for (what, kib, max) in peaks {
        if let Some(max) = max {
            assert!(kib <= max, "{what}: VmHWM {kib} KiB > {max} KiB");
        }
    }
}

/// BusyBox's udhcpd (Debian's busybox) with the same config, lab and
/// measurement, for the comparison issue 9 asks for. BusyBox allocates and
/// zeroes its table for `max_leases` at start, so its VmHWM hardly moves
/// with the number of leases (4476 KiB at start, 4540 KiB after 4,726
/// leases here); it binds only a few leases a second against this client
/// (15 minutes gave 4,726), so this binds `BUSYBOX_CLIENTS`.
#[test]
#[ignore = "a minute or more; the BusyBox comparison for peak_rss_with_50000_leases"]
fn busybox_peak_rss_with_50000_leases() {
    let _s = serial();
    let spec = |ip| NsSpec {
        addr: Some((ip, 16)),
        mac: None,
    };
    let Some(lab) = Lab::with(&[
        spec(Ipv4Addr::new(10, 99, 0, 1)),
        spec(Ipv4Addr::new(10, 99, 0, 2)),
    ]) else {
        return;
    };
    let dir = TempDir::new("rss-busybox");
    fs::write(dir.path("udhcpd.conf"), conf(&dir)).unwrap();
    let conf_path = dir.s("udhcpd.conf");
    let log = dir.path("busybox.log");
    let d = common::dhcpd::Proc::start(
        lab.ns(0),
        &["busybox", "udhcpd", "-f", "-a", "0", &conf_path],
        &log,
    );
    d.wait_log("started, v", Duration::from_secs(10));
    let (idle, _) = mem_kib(d.pid());
    eprintln!("busybox started: VmHWM {idle} KiB");
    let macs: Vec<MacAddr> = (0..BUSYBOX_CLIENTS).map(|n| mac_n(0x5a, n)).collect();
    let acks = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    let t0 = common::netns::now();
    lab.ns(1).run_in(|| {
        dora_all(
            &macs,
            64,
            Duration::ZERO,
            Duration::from_secs(600),
            &never,
            &acks,
        )
    });
    let bound = acks.into_inner().unwrap().len();
    let (hwm, rss) = mem_kib(d.pid());
    eprintln!(
        "busybox: {bound} leases bound in {:.1} s: VmHWM {hwm} KiB, VmRSS {rss} KiB",
        (common::netns::now() - t0).as_secs_f64()
    );
    assert_eq!(
        bound, BUSYBOX_CLIENTS as usize,
        "not every client was bound"
    );
}
