//! udhcpc6 end to end, in network namespaces only: our `udhcp udhcpc6`
//! against dnsmasq (DHCPv6 mode), kea-dhcp6 and ISC `dhcpd -6`, and a
//! crafted hostile server; default6.script configuring the interface.
//!
//! Namespace 0 is the server (`2001:db8:1::1/64` on eth0), namespace 1 the
//! client (link-local only). DAD is turned off in both and the links are
//! bounced so the link-local addresses are usable at once. Every process
//! is stopped by PID and the lab deleted on drop; the client's script
//! writes into the test's temp dir only (RESOLV_CONF included).

mod common;

use std::fs;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::netns::{now, Lab, Ns, NsSpec};
use common::peers::{udhcp_bin, Peer};
use common::tempdir::TempDir;
use nix::sys::signal::Signal;
use udhcp::wire::dhcpv6::{self as w, msg, opt, Builder, Message};

const SERVER_ADDR: &str = "2001:db8:1::1";
const DEFAULT6_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/default6.script");

/// Two namespaces joined by a veth pair, IPv6 ready (no DAD), the server
/// with a global address.
fn lab() -> Option<Lab> {
    let lab = Lab::with(&[NsSpec::default(), NsSpec::default()])?;
    for ns in lab.nses() {
        // /proc/sys/net is the namespace's own (no procps needed).
        ns.exec_ok(&[
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && \
             echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_ra",
        ]);
        ns.exec_ok(&["ip", "link", "set", "eth0", "down"]);
        ns.exec_ok(&["ip", "link", "set", "eth0", "up"]);
    }
    lab.ns(0).exec_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{SERVER_ADDR}/64"),
        "dev",
        "eth0",
        "nodad",
    ]);
    for ns in lab.nses() {
        wait_for(Duration::from_secs(5), "link-local address", || {
            let out = ns.exec_ok(&[
                "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
            ]);
            out.contains("fe80") && !out.contains("tentative")
        });
    }
    Some(lab)
}

fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = now();
    while !f() {
        assert!(now() - t0 < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A script that appends `EVENT k=v ...` to `events` and then runs
/// default6.script when `chain` is set.
fn record_script(dir: &TempDir, chain: bool) -> (PathBuf, PathBuf) {
    let events = dir.path("events");
    let tail = if chain {
        format!("exec {DEFAULT6_SCRIPT} \"$1\"\n")
    } else {
        String::new()
    };
    let body = format!(
        "#!/bin/sh\n\
         echo \"$1 ipv6=${{ipv6:-}} lease=${{lease:-}} ipv6prefix=${{ipv6prefix:-}} \
         ipv6prefix_lease=${{ipv6prefix_lease:-}} dns=${{dns:-}} search=${{search:-}} \
         tz=${{tz:-}} status=${{status:-}}\" >> {}\n{tail}",
        events.display()
    );
    (dir.write_script("record.sh", &body), events)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_event(client: &mut Peer, events: &Path, n: usize, prefix: &str, limit: Duration) -> String {
    let t0 = now();
    loop {
        let l = lines(events);
        if let Some(line) = l.get(n) {
            if line.starts_with(prefix) {
                return line.clone();
            }
            client.fail(&format!(
                "event {n} is '{line}', expected '{prefix}' ({l:?})"
            ));
        }
        if now() - t0 > limit {
            client.fail(&format!("no event {n} '{prefix}' within {limit:?}: {l:?}"));
        }
        if client.try_wait().is_some() {
            client.fail("exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `udhcp udhcpc6 -f -i eth0 -s SCRIPT ARGS` in the client namespace.
fn start_client(ns: &Ns, script: &Path, args: &[&str], resolv: &Path) -> Peer {
    let mut argv: Vec<String> = vec![
        udhcp_bin().display().to_string(),
        "udhcpc6".into(),
        "-f".into(),
        "-v".into(),
        "-i".into(),
        "eth0".into(),
        "-T".into(),
        "1".into(),
        "-s".into(),
        script.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let resolv = resolv.display().to_string();
    Peer::spawn(
        ns,
        "udhcpc6",
        TempDir::new("udhcpc6"),
        &argv,
        &[("RESOLV_CONF", &resolv)],
    )
}

// ---------------------------------------------------------------------------
// Servers

fn dnsmasq(ns: &Ns, extra: &[&str]) -> Peer {
    let dir = TempDir::new("dnsmasq6");
    let mut argv: Vec<String> = [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--port=0",
        "--interface=eth0",
        "--bind-interfaces",
        "--log-facility=-",
        "--log-dhcp",
        "--dhcp-option=option6:dns-server,[2001:db8:1::53]",
        "--dhcp-option=option6:domain-search,example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push(format!("--dhcp-leasefile={}", dir.path("leases").display()));
    argv.push(format!("--pid-file={}", dir.path("pid").display()));
    argv.extend(extra.iter().map(|s| s.to_string()));
    let mut p = Peer::spawn(ns, "dnsmasq", dir, &argv, &[]);
    wait_bound(ns, &mut p);
    p
}

fn kea(ns: &Ns) -> Peer {
    kea_timers(ns, (20, 32, 40, 60))
}

/// kea-dhcp6 with (renew, rebind, preferred, valid) timers in seconds.
fn kea_timers(ns: &Ns, (t1, t2, pref, valid): (u32, u32, u32, u32)) -> Peer {
    let dir = TempDir::new("kea6");
    let conf = format!(
        r#"{{ "Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "server-id": {{ "type": "EN", "enterprise-id": 2495, "identifier": "0a0b0c0d", "persist": false }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{leases}", "lfc-interval": 0 }},
  "renew-timer": {t1}, "rebind-timer": {t2}, "preferred-lifetime": {pref}, "valid-lifetime": {valid},
  "min-valid-lifetime": {valid}, "min-preferred-lifetime": {pref},
  "subnet6": [ {{ "id": 1, "subnet": "2001:db8:1::/64", "interface": "eth0",
      "pools": [ {{ "pool": "2001:db8:1::100-2001:db8:1::1ff" }} ],
      "pd-pools": [ {{ "prefix": "2001:db8:8000::", "prefix-len": 48, "delegated-len": 56 }} ],
      "option-data": [ {{ "name": "dns-servers", "data": "2001:db8:1::53" }},
                       {{ "name": "domain-search", "data": "example.com" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp6", "output_options": [ {{ "output": "stdout" }} ],
      "severity": "DEBUG", "debuglevel": 40 }} ]
}} }}
"#,
        leases = dir.path("leases6.csv").display()
    );
    let conf = dir.write("kea-dhcp6.json", &conf);
    let d = dir.dir().display().to_string();
    let argv = vec![
        "kea-dhcp6".to_string(),
        "-c".into(),
        conf.display().to_string(),
    ];
    let mut p = Peer::spawn(
        ns,
        "kea-dhcp6",
        dir,
        &argv,
        &[("KEA_PIDFILE_DIR", &d), ("KEA_LOCKFILE_DIR", &d)],
    );
    wait_bound(ns, &mut p);
    p
}

fn isc_dhcpd(ns: &Ns) -> Peer {
    let dir = TempDir::new("dhcpd6");
    let conf = dir.write(
        "dhcpd6.conf",
        "default-lease-time 600;\nmax-lease-time 600;\npreferred-lifetime 300;\n\
         option dhcp6.name-servers 2001:db8:1::53;\n\
         option dhcp6.domain-search \"example.com\";\n\
         subnet6 2001:db8:1::/64 {\n  range6 2001:db8:1::100 2001:db8:1::1ff;\n\
         prefix6 2001:db8:9000:: 2001:db8:9000:ff00:: /56;\n}\n",
    );
    let leases = dir.write("dhcpd6.leases", "");
    let argv: Vec<String> = [
        "dhcpd".to_string(),
        "-6".into(),
        "-f".into(),
        "-d".into(),
        "-cf".into(),
        conf.display().to_string(),
        "-lf".into(),
        leases.display().to_string(),
        "-pf".into(),
        dir.path("dhcpd6.pid").display().to_string(),
        "eth0".into(),
    ]
    .to_vec();
    let mut p = Peer::spawn(ns, "dhcpd6", dir, &argv, &[]);
    wait_bound(ns, &mut p);
    p
}

/// Waits until something listens on UDP 547 in `ns`.
fn wait_bound(ns: &Ns, p: &mut Peer) {
    let t0 = now();
    loop {
        let out = ns.exec_ok(&["ss", "-uln6"]);
        if out.contains(":547 ") {
            return;
        }
        if p.try_wait().is_some() || now() - t0 > Duration::from_secs(10) {
            p.fail("did not bind UDP port 547");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

fn addr_in(ns: &Ns, addr: &str) -> bool {
    ns.exec_ok(&["ip", "-6", "-o", "addr", "show", "dev", "eth0"])
        .contains(&format!("{addr}/128"))
}

// ---------------------------------------------------------------------------
// Tests against real servers

/// Address + renew (SIGUSR1) + release (-R on TERM) against `server`.
fn address_renew_release(server: &str) {
    let Some(lab) = lab() else { return };
    let mut srv = match server {
        "dnsmasq" => dnsmasq(
            lab.ns(0),
            &["--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,300"],
        ),
        "kea" => kea(lab.ns(0)),
        _ => isc_dhcpd(lab.ns(0)),
    };
    let dir = TempDir::new("c6");
    let (script, events) = record_script(&dir, true);
    let resolv = dir.write("resolv.conf", "nameserver 192.0.2.1\n");
    let mut c = start_client(lab.ns(1), &script, &["-R"], &resolv);
    wait_event(&mut c, &events, 0, "deconfig", Duration::from_secs(5));
    let bound = wait_event(&mut c, &events, 1, "bound", Duration::from_secs(20));
    let ip = field(&bound, "ipv6").to_string();
    let a: Ipv6Addr = ip
        .parse()
        .unwrap_or_else(|_| c.fail(&format!("ipv6 in '{bound}'")));
    assert!(a.segments()[..4] == [0x2001, 0xdb8, 1, 0], "{bound}");
    assert!(
        field(&bound, "lease").parse::<u32>().unwrap_or(0) > 0,
        "{bound}"
    );
    assert_eq!(field(&bound, "dns"), "2001:db8:1::53", "{bound}");
    assert_eq!(field(&bound, "search"), "example.com", "{bound}");
    // default6.script configured the interface and resolv.conf (it runs
    // after the record line is written).
    let block =
        "# udhcpc6 eth0 begin\nsearch example.com\nnameserver 2001:db8:1::53\n# udhcpc6 eth0 end\n";
    wait_for(Duration::from_secs(5), "default6.script", || {
        addr_in(lab.ns(1), &ip)
            && fs::read_to_string(&resolv)
                .unwrap_or_default()
                .contains(block)
    });
    let shown = lab
        .ns(1)
        .exec_ok(&["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
    let line = shown.lines().find(|l| l.contains(&ip)).unwrap_or_default();
    assert!(
        line.contains("valid_lft") && !line.contains("valid_lft forever"),
        "lifetimes from the lease: {line}"
    );
    let rc = fs::read_to_string(&resolv).unwrap();
    assert!(rc.contains("nameserver 192.0.2.1\n"), "{rc}");
    // SIGUSR1: Renew, answered.
    c.signal(Signal::SIGUSR1);
    let renew = wait_event(&mut c, &events, 2, "renew", Duration::from_secs(15));
    assert_eq!(field(&renew, "ipv6"), ip);
    // TERM with -R: Release, deconfig, exit 0.
    c.signal(Signal::SIGTERM);
    let st = c.wait_exit(Duration::from_secs(5));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", c.log());
    assert!(lines(&events)
        .get(3)
        .is_some_and(|l| l.starts_with("deconfig")));
    assert!(
        !addr_in(lab.ns(1), &ip),
        "address still on eth0 after deconfig"
    );
    assert!(c.log().contains("sending release"), "{}", c.log());
    // The server saw the Release.
    let log_has = |p: &Peer, s: &str| p.log().to_lowercase().contains(s);
    wait_for(Duration::from_secs(3), "server logs the release", || {
        log_has(&srv, "release")
    });
    srv.stop();
}

#[test]
fn dnsmasq_address_renew_release() {
    address_renew_release("dnsmasq");
}

#[test]
fn kea_address_renew_release() {
    address_renew_release("kea");
}

#[test]
fn isc_dhcpd_address_renew_release() {
    address_renew_release("dhcpd");
}

/// `-d`: address and prefix; `-d -r no`: the prefix alone.
fn prefix(server: &str, prefix_only: bool, net: &str) {
    let Some(lab) = lab() else { return };
    let _srv = if server == "kea" {
        kea(lab.ns(0))
    } else {
        isc_dhcpd(lab.ns(0))
    };
    let dir = TempDir::new("c6pd");
    let (script, events) = record_script(&dir, false);
    let resolv = dir.path("resolv.conf");
    let args: &[&str] = if prefix_only {
        &["-d", "-r", "no"]
    } else {
        &["-d"]
    };
    let mut c = start_client(lab.ns(1), &script, args, &resolv);
    wait_event(&mut c, &events, 0, "deconfig", Duration::from_secs(5));
    let bound = wait_event(&mut c, &events, 1, "bound", Duration::from_secs(20));
    let p = field(&bound, "ipv6prefix");
    assert!(p.starts_with(net) && p.ends_with("/56"), "{bound}");
    assert!(
        field(&bound, "ipv6prefix_lease")
            .parse::<u32>()
            .unwrap_or(0)
            > 0
    );
    assert_eq!(field(&bound, "ipv6").is_empty(), prefix_only, "{bound}");
    // Renew keeps the prefix.
    c.signal(Signal::SIGUSR1);
    let renew = wait_event(&mut c, &events, 2, "renew", Duration::from_secs(15));
    assert_eq!(field(&renew, "ipv6prefix"), p);
    c.stop();
}

/// T1 from the server's IA: Renew without any signal, `renew` with the
/// same address, twice.
#[test]
fn kea_renews_at_t1() {
    let Some(lab) = lab() else { return };
    let _srv = kea_timers(lab.ns(0), (2, 3, 4, 6));
    let dir = TempDir::new("c6t1");
    let (script, events) = record_script(&dir, false);
    let mut c = start_client(lab.ns(1), &script, &["-d"], &dir.path("resolv.conf"));
    wait_event(&mut c, &events, 0, "deconfig", Duration::from_secs(5));
    let bound = wait_event(&mut c, &events, 1, "bound", Duration::from_secs(10));
    let t0 = now();
    let renew = wait_event(&mut c, &events, 2, "renew", Duration::from_secs(8));
    assert!(
        now() - t0 >= Duration::from_millis(1500),
        "renewed before T1"
    );
    assert_eq!(field(&renew, "ipv6"), field(&bound, "ipv6"));
    assert_eq!(field(&renew, "ipv6prefix"), field(&bound, "ipv6prefix"));
    wait_event(&mut c, &events, 3, "renew", Duration::from_secs(8));
    assert!(c.log().contains("sending renew"), "{}", c.log());
    c.stop();
}

#[test]
fn kea_address_and_prefix() {
    prefix("kea", false, "2001:db8:80");
}

#[test]
fn kea_prefix_only() {
    prefix("kea", true, "2001:db8:80");
}

#[test]
fn isc_dhcpd_prefix_only() {
    prefix("dhcpd", true, "2001:db8:9000:");
}

/// `-l`: Information-Request, no address.
fn stateless(server: &str) {
    let Some(lab) = lab() else { return };
    let _srv = if server == "kea" {
        kea(lab.ns(0))
    } else {
        dnsmasq(lab.ns(0), &["--dhcp-range=2001:db8:1::,ra-stateless"])
    };
    let dir = TempDir::new("c6l");
    let (script, events) = record_script(&dir, false);
    let mut c = start_client(lab.ns(1), &script, &["-l", "-q"], &dir.path("resolv.conf"));
    wait_event(&mut c, &events, 0, "deconfig", Duration::from_secs(5));
    let bound = wait_event(&mut c, &events, 1, "bound", Duration::from_secs(20));
    assert!(field(&bound, "ipv6").is_empty(), "{bound}");
    assert_eq!(field(&bound, "dns"), "2001:db8:1::53", "{bound}");
    let st = c.wait_exit(Duration::from_secs(5));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "-q exits after bound");
}

#[test]
fn kea_stateless() {
    stateless("kea");
}

#[test]
fn dnsmasq_stateless() {
    stateless("dnsmasq");
}

// ---------------------------------------------------------------------------
// A hostile server

/// One message from the client, with its sender.
fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddrV6) {
    let mut buf = [0u8; 1500];
    let (n, from) = sock.recv_from(&mut buf).expect("recv from client");
    let std::net::SocketAddr::V6(from) = from else {
        panic!("not IPv6")
    };
    (buf[..n].to_vec(), from)
}

fn reply_to(req: &[u8], kind: u8, body: impl FnOnce(&mut Builder)) -> Vec<u8> {
    let m = Message::new_checked(req).expect("client message parses");
    let mut b = Builder::new(kind, m.xid());
    b.option(opt::CLIENTID, m.option(opt::CLIENTID).unwrap())
        .unwrap();
    b.option(opt::SERVERID, &w::duid_ll([2, 0, 0, 0, 0, 0x99]))
        .unwrap();
    body(&mut b);
    b.finish().unwrap()
}

fn iaid_of(req: &[u8]) -> u32 {
    let m = Message::new_checked(req).unwrap();
    w::Ia::parse(m.option(opt::IA_NA).unwrap()).unwrap().iaid
}

fn good_ia(b: &mut Builder, iaid: u32) {
    b.open(opt::IA_NA, &w::ia_header(iaid, 100, 160));
    b.option(
        opt::IAADDR,
        &w::iaaddr_body("2001:db8:1::77".parse().unwrap(), 200, 300),
    )
    .unwrap();
    b.close().unwrap();
}

#[test]
fn hostile_replies_change_nothing_but_a_log_line() {
    let Some(lab) = lab() else { return };
    let ifindex: u32 = lab
        .ns(0)
        .exec_ok(&["cat", "/sys/class/net/eth0/ifindex"])
        .trim()
        .parse()
        .unwrap();
    let sock = lab.ns(0).run_in(|| {
        let s = UdpSocket::bind("[::]:547").expect("bind 547");
        s.join_multicast_v6(&w::ALL_SERVERS, ifindex).expect("join");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    });
    let dir = TempDir::new("c6h");
    let (script, events) = record_script(&dir, false);
    let mut c = start_client(lab.ns(1), &script, &[], &dir.path("resolv.conf"));
    // Solicit → a good Advertise.
    let (sol, from) = recv(&sock);
    assert_eq!(Message::new_checked(&sol).unwrap().msg_type(), msg::SOLICIT);
    assert!(
        from.ip().segments()[0] == 0xfe80,
        "link-local source: {from}"
    );
    let iaid = iaid_of(&sol);
    let adv = reply_to(&sol, msg::ADVERTISE, |b| {
        b.option(opt::PREFERENCE, &[255]).unwrap();
        good_ia(b, iaid);
    });
    sock.send_to(&adv, from).unwrap();
    let (req, from) = loop {
        let (m, f) = recv(&sock);
        if Message::new_checked(&m).unwrap().msg_type() == msg::REQUEST {
            break (m, f);
        }
    };
    // Hostile Replies: short IAADDR, short IAPREFIX, short STATUS_CODE.
    let mut short_addr = w::ia_header(iaid, 1, 2).to_vec();
    short_addr.extend_from_slice(&[0, 5, 0, 8, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 1]);
    let mut short_pfx = w::ia_header(iaid, 1, 2).to_vec();
    short_pfx.extend_from_slice(&[0, 26, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 56]);
    let hostile = [
        reply_to(&req, msg::REPLY, |b| {
            b.option(opt::IA_NA, &short_addr).unwrap();
        }),
        reply_to(&req, msg::REPLY, |b| {
            b.option(opt::IA_PD, &short_pfx).unwrap();
            good_ia(b, iaid);
        }),
        reply_to(&req, msg::REPLY, |b| {
            b.option(opt::STATUS_CODE, &[0]).unwrap();
            good_ia(b, iaid);
        }),
    ];
    for m in &hostile {
        sock.send_to(m, from).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lines(&events).len(),
        1,
        "only deconfig: {:?}",
        lines(&events)
    );
    assert!(c.try_wait().is_none(), "client died");
    let log = c.log();
    assert!(log.matches("bad packet").count() >= 3, "{log}");
    // Then a good Reply with 100 DNS servers and a shell-hostile TZ.
    let dns: Vec<u8> = (0..100u16)
        .flat_map(|i| {
            let mut a = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i).octets();
            a[0] = 0x20;
            a
        })
        .collect();
    let good = reply_to(&req, msg::REPLY, |b| {
        good_ia(b, iaid);
        b.option(opt::DNS_SERVERS, &dns).unwrap();
        b.option(opt::NEW_POSIX_TIMEZONE, b"UTC;touch${IFS}/tmp/pwned")
            .unwrap();
    });
    sock.send_to(&good, from).unwrap();
    let bound = wait_event(&mut c, &events, 1, "bound", Duration::from_secs(5));
    assert_eq!(field(&bound, "ipv6"), "2001:db8:1::77");
    let dns_words = bound
        .split(" dns=")
        .nth(1)
        .unwrap()
        .split(" search=")
        .next()
        .unwrap()
        .split(' ')
        .count();
    assert_eq!(dns_words, udhcp::client6::MAX_LIST_ITEMS, "{bound}");
    assert_eq!(field(&bound, "tz"), "UTC_touch__IFS_/tmp/pwned", "{bound}");
    c.stop();
}

/// Without `-f`: the parent exits 0 once bound, the daemon's pid is in the
/// pidfile, and USR2 there releases (deconfig) while TERM ends it.
#[test]
fn backgrounds_after_bound_and_release_on_usr2() {
    let Some(lab) = lab() else { return };
    let _srv = dnsmasq(
        lab.ns(0),
        &["--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,300"],
    );
    let dir = TempDir::new("c6bg");
    let (script, events) = record_script(&dir, false);
    let pidfile = dir.path("udhcpc6.pid");
    let argv: Vec<String> = [
        udhcp_bin().display().to_string(),
        "udhcpc6".into(),
        "-i".into(),
        "eth0".into(),
        "-s".into(),
        script.display().to_string(),
        "-p".into(),
        pidfile.display().to_string(),
    ]
    .to_vec();
    let mut parent = Peer::spawn(lab.ns(1), "udhcpc6", TempDir::new("udhcpc6bg"), &argv, &[]);
    let st = parent.wait_exit(Duration::from_secs(10));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", parent.log());
    assert!(lines(&events)
        .get(1)
        .is_some_and(|l| l.starts_with("bound")));
    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid as u32, parent.pid());
    let daemon = nix::unistd::Pid::from_raw(pid);
    // If an assertion below fails, the daemon must not outlive the test.
    struct Guard(nix::unistd::Pid);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
        }
    }
    let guard = Guard(daemon);
    nix::sys::signal::kill(daemon, Signal::SIGUSR2).unwrap();
    wait_for(Duration::from_secs(5), "deconfig after USR2", || {
        lines(&events)
            .get(2)
            .is_some_and(|l| l.starts_with("deconfig"))
    });
    nix::sys::signal::kill(daemon, Signal::SIGTERM).unwrap();
    wait_for(Duration::from_secs(5), "daemon exit", || {
        nix::sys::signal::kill(daemon, None).is_err()
    });
    std::mem::forget(guard);
    assert!(!pidfile.exists(), "pidfile removed on exit");
}

/// As BusyBox: the interface is re-read when a timer fires; once it is
/// gone the client exits 0 as on SIGTERM.
#[test]
fn exits_when_the_interface_disappears() {
    let Some(lab) = lab() else { return };
    let _srv = kea_timers(lab.ns(0), (2, 3, 4, 6));
    let dir = TempDir::new("c6gone");
    let (script, events) = record_script(&dir, false);
    let mut c = start_client(lab.ns(1), &script, &[], &dir.path("resolv.conf"));
    wait_event(&mut c, &events, 1, "bound", Duration::from_secs(10));
    lab.ns(1).exec_ok(&["ip", "link", "del", "eth0"]);
    let st = c.wait_exit(Duration::from_secs(6));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", c.log());
    assert!(c.log().contains("received SIGTERM"), "{}", c.log());
}
