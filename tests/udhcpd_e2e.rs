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
//! The server starter, dumpleases parsing and the raw-socket DORA client
//! live in `tests/common/dhcpd.rs` (shared with `udhcpd_faults.rs`).

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::dhcpd::*;
use common::netns::{now, Lab, Ns, NsSpec};
use common::tempdir::TempDir;
use nix::sys::signal::Signal;
use udhcp::time::Instant;
use udhcp::wire::MacAddr;

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

impl RelayLab {
    /// ISC dhcrelay in the middle namespace: clients on its `eth0`, the
    /// server (10.98.2.2) behind its `eth1`; given half a second to start.
    fn dhcrelay(&self, dir: &TempDir) -> Proc {
        let relay = Proc::start(
            &self.ns(1),
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
        relay
    }
}

/// `ip ARGS`, which must succeed.
fn ip_ok(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

/// BusyBox `udhcpc -f -q -n -t 5 -T 2 -i IFNAME EXTRA… -s /bin/true` in
/// `ns` (script: `-s` in EXTRA wins), log in `dir/LOG`: its exit code
/// and output.
fn busybox_udhcpc(
    ns: &Ns,
    dir: &TempDir,
    ifname: &str,
    extra: &[&str],
    log: &str,
) -> (Option<i32>, String) {
    let mut argv = vec![
        "busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "2", "-i", ifname,
    ];
    argv.extend_from_slice(extra);
    if !extra.contains(&"-s") {
        argv.extend_from_slice(&["-s", "/bin/true"]);
    }
    let mut p = Proc::start(ns, &argv, &dir.path(log));
    let st = p.wait(Duration::from_secs(20));
    (st.and_then(|s| s.code()), p.log())
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
    let (c, s) = (lab.ns(0), lab.ns(2));
    let dir = TempDir::new("relay");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(&dir, "10.98.1.100", "10.98.1.120", "opt router 10.98.1.1\n"),
    )
    .unwrap();
    let d = Udhcpd::start(&s, &dir, &["-v", "-a", "0"]);
    let _relay = lab.dhcrelay(&dir);
    let (st, out) = busybox_udhcpc(&c, &dir, "eth0", &[], "udhcpc.log");
    assert_eq!(
        st,
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
            lab.ns(1).run_in(|| {
                // Paced (a new client per 8 ms): unpaced, an idle machine
                // served all 300 before the kill ("the kill came too late").
                dora_all(
                    &macs,
                    16,
                    Duration::from_millis(8),
                    Duration::from_secs(30),
                    &stop,
                    &acks,
                )
            })
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
    lab.ns(1).run_in(|| {
        dora_all(
            &macs2,
            16,
            Duration::ZERO,
            Duration::from_secs(30),
            &never,
            &acks2,
        )
    });
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
    lab.ns(1).run_in(|| {
        dora_all(
            &[m1],
            1,
            Duration::ZERO,
            Duration::from_secs(5),
            &never,
            &acks,
        )
    });
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
    let line = bad.lines().position(|l| l.contains("10.99.0.999")).unwrap() + 1;
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
    lab.ns(1).run_in(|| {
        dora_all(
            &[stat, dynamic],
            2,
            Duration::ZERO,
            Duration::from_secs(10),
            &stop,
            &acks,
        )
    });
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
    let _relay = lab.dhcrelay(&dir);
    let udhcpc = |ns: &Ns, ifname: &str, log: &str| busybox_udhcpc(ns, &dir, ifname, &[], log);
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

/// One udhcpd on two local interfaces (issue 9): the relay lab's middle
/// namespace runs the server on `eth1` (top-level network) and `eth0` (a
/// `network` section with `interface eth0`). Each client gets an address
/// of its own link's pool, its router, and the server identifier of its
/// link's address; the ARP probe for the second link goes out on it from
/// its address (a host holding one of its two pool addresses is seen, so
/// the client gets the other one); one lease file for both.
#[test]
fn two_local_interfaces_serve_their_own_networks() {
    let _s = serial();
    let Some(lab) = RelayLab::new() else { return };
    let (c, r, s) = (lab.ns(0), lab.ns(1), lab.ns(2));
    let dir = TempDir::new("twolinks");
    // A host already using 10.98.1.100 beside the client (another MAC).
    for args in [
        &[
            "-n", &c.name, "link", "add", "link", "eth0", "name", "mv0", "type", "macvlan",
        ][..],
        &["-n", &c.name, "addr", "add", "10.98.1.100/24", "dev", "mv0"],
        &["-n", &c.name, "link", "set", "mv0", "up"],
        // Only mv0 answers for its address (else the client's eth0 would,
        // with the client's MAC, which is no conflict).
        &[
            "netns",
            "exec",
            &c.name,
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.arp_ignore=1",
        ],
    ] {
        ip_ok(args);
    }
    let text = format!(
        "interface eth1\nstart 10.98.2.100\nend 10.98.2.120\nlease_file {}\npidfile {}\n\
         opt subnet 255.255.255.0\nopt router 10.98.2.254\n\n\
         network second\ninterface eth0\nstart 10.98.1.100\nend 10.98.1.101\n\
         opt subnet 255.255.255.0\nopt router 10.98.1.254\n",
        dir.s("udhcpd.leases"),
        dir.s("udhcpd.pid"),
    );
    fs::write(dir.path("udhcpd.conf"), text).unwrap();
    let script = dir.path("record.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$interface $ip $serverid $router\" >> {}\nexit 0\n",
            dir.s("bound.txt")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x", &dir.s("record.sh")])
        .status()
        .unwrap();
    let d = Udhcpd::start(&r, &dir, &["-v", "-a", "300"]);
    let udhcpc = |ns: &Ns, log: &str, want: &str| {
        busybox_udhcpc(
            ns,
            &dir,
            "eth0",
            &["-r", want, "-s", &dir.s("record.sh")],
            log,
        )
    };
    // It asks for the address the other host holds.
    let (st, out) = udhcpc(&c, "second.log", "10.98.1.100");
    assert_eq!(st, Some(0), "{out}\n{}", d.log());
    let (st, out) = udhcpc(&s, "first.log", "10.98.2.110");
    assert_eq!(st, Some(0), "{out}\n{}", d.log());
    let bound = read(&dir.path("bound.txt"));
    let lines: Vec<Vec<&str>> = bound.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{bound}\n{}", d.log());
    // The second link: the address the probe found free, its router, and
    // the server identifier of the second link's address.
    assert_eq!(
        lines[0],
        ["eth0", "10.98.1.101", "10.98.1.1", "10.98.1.254"],
        "{bound}\n{}",
        d.log()
    );
    let first: Ipv4Addr = lines[1][1].parse().unwrap();
    assert_eq!(first.octets()[..3], [10, 98, 2], "{bound}");
    assert!((100..=120).contains(&first.octets()[3]), "{bound}");
    assert_eq!(lines[1][2..], ["10.98.2.1", "10.98.2.254"], "{bound}");
    assert!(
        d.log().contains("10.98.1.100 belongs to someone"),
        "the second link's probe saw the other host:\n{}",
        d.log()
    );
    d.write_leases();
    let rows = busybox_dumpleases(&d.lease_file);
    assert!(
        rows.iter().any(|r| r.ip == Ipv4Addr::new(10, 98, 1, 101)),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.ip.octets()[..3] == [10, 98, 2]),
        "{rows:?}"
    );
}

/// `ping_check yes` (issue 9, opt-in): a relayed network's address that
/// answers an ICMP echo is not offered. Behind ISC dhcrelay, a host holds
/// 10.98.1.100, routed back through the relay; the client asks for that
/// address and gets the other one of the two-address pool; the log names
/// the conflict. Without `ping_check` the same client is offered .100.
#[test]
fn ping_check_skips_a_relayed_address_that_answers() {
    let _s = serial();
    let Some(lab) = RelayLab::new() else { return };
    let (c, r, s) = (lab.ns(0), lab.ns(1), lab.ns(2));
    let sh = ip_ok;
    sh(&[
        "netns",
        "exec",
        &r.name,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    sh(&[
        "-n", &c.name, "link", "add", "link", "eth0", "name", "mv0", "type", "macvlan",
    ]);
    sh(&["-n", &c.name, "addr", "add", "10.98.1.100/24", "dev", "mv0"]);
    sh(&["-n", &c.name, "link", "set", "mv0", "up"]);
    sh(&[
        "-n",
        &c.name,
        "route",
        "add",
        "10.98.2.0/24",
        "via",
        "10.98.1.1",
        "dev",
        "mv0",
    ]);
    let run = |ping: &str| {
        let dir = TempDir::new("ping");
        fs::write(
            dir.path("udhcpd.conf"),
            conf(
                &dir,
                "10.98.2.100",
                "10.98.2.120",
                &format!(
                    "ping_check {ping}\nnetwork far\nrelay_subnet 10.98.1.0/24\n\
                     start 10.98.1.100\nend 10.98.1.101\nopt subnet 255.255.255.0\nopt router 10.98.1.1\n"
                ),
            ),
        )
        .unwrap();
        let d = Udhcpd::start(&s, &dir, &["-v", "-v", "-a", "500"]);
        let _relay = lab.dhcrelay(&dir);
        let (st, out) = busybox_udhcpc(&c, &dir, "eth0", &["-r", "10.98.1.100"], "udhcpc.log");
        assert_eq!(st, Some(0), "{out}\n{}", d.log());
        (ip_after(&out, "lease of ").expect("lease line"), d.log())
    };
    let (got, log) = run("yes");
    assert_eq!(got, Ipv4Addr::new(10, 98, 1, 101), "{log}");
    assert!(log.contains("10.98.1.100 belongs to someone"), "{log}");
    assert!(
        log.contains("ICMP echo reply received from 10.98.1.100"),
        "{log}"
    );
    let (got, log) = run("no");
    assert_eq!(got, Ipv4Addr::new(10, 98, 1, 100), "{log}");
    assert!(!log.contains("ICMP"), "{log}");
}

/// A local section whose interface is missing (a guest Wi-Fi not up yet)
/// costs that network only: udhcpd starts, says why, and serves the
/// network of `interface`.
#[test]
fn a_missing_section_interface_does_not_stop_the_server() {
    let _s = serial();
    let Some(lab) = Lab::new(2) else { return };
    let dir = TempDir::new("nowlan");
    fs::write(
        dir.path("udhcpd.conf"),
        conf(
            &dir,
            "10.99.0.10",
            "10.99.0.20",
            "network guest\ninterface wlan9\nstart 10.97.0.10\nend 10.97.0.20\n",
        ),
    )
    .unwrap();
    let d = Udhcpd::start(lab.ns(0), &dir, &["-a", "0"]);
    let log = d.log();
    assert!(log.contains("network guest: "), "{log}");
    assert!(
        log.contains("interface wlan9 is not open, not served"),
        "{log}"
    );
    let acks = Mutex::new(Vec::new());
    let never = AtomicBool::new(false);
    lab.ns(1).run_in(|| {
        dora_all(
            &[mac_n(0xe1, 1)],
            1,
            Duration::ZERO,
            Duration::from_secs(5),
            &never,
            &acks,
        )
    });
    let ip = acks.lock().unwrap().first().expect("ACK").ip;
    assert_eq!(ip.octets()[..3], [10, 99, 0], "{ip}");
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
