//! dhcprelay end to end, in network namespaces only:
//!
//! ```text
//! client1 eth0 ── eth0 10.99.0.1/24 ┐
//!                                   relay (our dhcprelay) up0 10.98.0.1/24 ── server eth0 10.98.0.2/24
//! client2 eth0 ── eth2 10.97.0.1/24 ┘
//! ```
//!
//! The server routes both client subnets back via the relay. Clients get
//! an address of their relay interface's subnet from our udhcpd, ISC dhcpd
//! and dnsmasq. Raw captures (the library's own `RawSocket`, opened inside
//! the namespaces) show option 82 in the requests the server receives, the
//! server echoing it in its replies to the relay (all three do, RFC 3046
//! §2.2), and no option 82 in anything the clients receive.
//!
//! Every process is started by `tests/common/peers.rs` inside a namespace
//! of this test's labs, stopped by PID; the labs are deleted on drop.

mod common;

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use common::netns::{now, Lab, Ns, NsSpec};
use common::peers::{self, wait_udp_bound, ClientKind, Peer, Pool, ServerKind};
use common::tempdir::TempDir;
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::{RawSocket, Received};
use udhcp::wire::dhcp::Packet;
use udhcp::wire::MacAddr;

/// One topology at a time: the machine is small and shared.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const RELAY_DOWN2: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const RELAY_UP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);

/// The three labs; field order is drop order (lone labs first, taking the
/// veth ends moved into the relay with them).
struct Topo {
    server_lab: Lab,
    client2_lab: Lab,
    main_lab: Lab,
}

impl Topo {
    fn new() -> Option<Topo> {
        let main_lab = Lab::with(&[
            NsSpec {
                addr: None,
                mac: None,
            },
            NsSpec {
                addr: Some((Ipv4Addr::new(10, 99, 0, 1), 24)),
                mac: None,
            },
        ])?;
        let server_lab = Lab::with(&[NsSpec {
            addr: Some((SERVER, 24)),
            mac: Some(MacAddr([2, 0, 0x5e, 0x98, 0, 2])),
        }])?;
        let client2_lab = Lab::with(&[NsSpec {
            addr: None,
            mac: Some(MacAddr([2, 0, 0x5e, 0x97, 0, 0x22])),
        }])?;
        let t = Topo {
            server_lab,
            client2_lab,
            main_lab,
        };
        let relay = &t.relay().name;
        let (server, c2) = (&t.server().name, &t.client2().name);
        let up = format!("{RELAY_UP}/24");
        let down2 = format!("{RELAY_DOWN2}/24");
        let via = RELAY_UP.to_string();
        for args in [
            vec!["-n", server, "link", "set", "peer0", "netns", relay],
            vec!["-n", relay, "link", "set", "peer0", "name", "up0"],
            vec!["-n", relay, "addr", "add", &up, "dev", "up0"],
            vec!["-n", relay, "link", "set", "up0", "up"],
            vec!["-n", c2, "link", "set", "peer0", "netns", relay],
            vec!["-n", relay, "link", "set", "peer0", "name", "eth2"],
            vec!["-n", relay, "addr", "add", &down2, "dev", "eth2"],
            vec!["-n", relay, "link", "set", "eth2", "up"],
        ] {
            ip(&args);
        }
        for (ns, dev) in [(server, "eth0"), (c2, "eth0")] {
            let t0 = now();
            while !ip(&["-n", ns, "-o", "link", "show", "dev", dev]).contains("LOWER_UP") {
                assert!(now() - t0 < Duration::from_secs(5), "{ns} has no carrier");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        ip(&["-n", server, "route", "add", "10.99.0.0/24", "via", &via]);
        ip(&["-n", server, "route", "add", "10.97.0.0/24", "via", &via]);
        Some(t)
    }

    fn client(&self) -> &Ns {
        self.main_lab.ns(0)
    }
    fn relay(&self) -> &Ns {
        self.main_lab.ns(1)
    }
    fn client2(&self) -> &Ns {
        self.client2_lab.ns(0)
    }
    fn server(&self) -> &Ns {
        self.server_lab.ns(0)
    }
}

fn ip(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Our dhcprelay in the relay namespace, relaying to [`SERVER`] (or, with
/// `--broadcast` in `extra`, to BusyBox's default 255.255.255.255: no
/// SERVER_IP given); waits until it has bound port 67.
fn dhcprelay(ns: &Ns, clients: &str, extra: &[&str]) -> Peer {
    let broadcast = extra.contains(&"--broadcast");
    let extra: Vec<&str> = extra
        .iter()
        .copied()
        .filter(|a| *a != "--broadcast")
        .collect();
    let dir = TempDir::new("dhcprelay");
    let pid = dir.path("dhcprelay.pid");
    let mut argv: Vec<String> = vec![
        peers::udhcp_bin().to_string_lossy().into_owned(),
        "dhcprelay".into(),
        "--verbose".into(),
        format!("--pidfile={}", pid.display()),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.extend([clients.into(), "up0".into()]);
    if !broadcast {
        argv.push(SERVER.to_string());
    }
    let mut peer = Peer::spawn(ns, "dhcprelay", dir, &argv, &[]);
    wait_udp_bound(ns, &mut peer, 67);
    peer
}

/// A raw capture of UDP datagrams to `port` arriving on `dev` in `ns`.
struct Capture(RawSocket);

impl Capture {
    fn open(ns: &Ns, dev: &str, port: u16) -> Capture {
        let dev = dev.to_string();
        Capture(ns.run_in(move || {
            let i = Interface::query(&dev).expect("capture interface");
            RawSocket::open_unfiltered(i.ifindex, port).expect("capture socket")
        }))
    }

    /// DHCP messages received so far.
    fn drain(&self) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        let mut out = Vec::new();
        while let Ok(Some(r)) = self.0.recv(&mut buf) {
            if let Received::Datagram(d) = r {
                out.push(d.udp.payload.to_vec());
            }
        }
        out
    }
}

/// Option 82 of a DHCP message, if it has one.
fn option82(msg: &[u8]) -> Option<Vec<u8>> {
    let p = Packet::new_checked(msg).ok()?;
    p.options()
        .filter_map(Result::ok)
        .find(|(c, _)| *c == 82)
        .map(|(_, d)| d.to_vec())
}

fn op(msg: &[u8]) -> u8 {
    msg.first().copied().unwrap_or(0)
}

fn in_subnet24(a: Ipv4Addr, net: Ipv4Addr) -> bool {
    a.octets()[..3] == net.octets()[..3] && a != net
}

/// A client behind the relay gets an address of the relay's client subnet
/// from `kind`; option 82 (circuit-id eth0, remote-id) reaches the server
/// and its echo never reaches the client.
fn relayed_lease(kind: ServerKind, broadcast: bool) {
    let _s = serial();
    let Some(t) = Topo::new() else { return };
    let pool = Pool::lab();
    let server_cap = Capture::open(t.server(), "eth0", 67);
    let relay_cap = Capture::open(t.relay(), "up0", 67);
    let client_cap = Capture::open(t.client(), "eth0", 68);
    let _server = kind.start(t.server(), &pool);
    let mut args = vec!["--remote-id", "lab-relay"];
    if broadcast {
        args.push("--broadcast");
    }
    let relay = dhcprelay(t.relay(), "eth0", &args);
    let mut client = ClientKind::Udhcp.start(t.client(), &[]);
    let bound = client.wait_bound();
    let ip: Ipv4Addr = bound.get("ip").expect("ip").parse().unwrap();
    assert!(pool.contains(ip), "{kind}: {ip} not in the relay's subnet");

    let expected = b"\x01\x04eth0\x02\x09lab-relay".to_vec();
    let requests: Vec<_> = server_cap
        .drain()
        .into_iter()
        .filter(|m| op(m) == 1)
        .collect();
    assert!(!requests.is_empty(), "{kind}: server saw no request");
    for r in &requests {
        assert_eq!(option82(r).as_deref(), Some(&expected[..]), "{kind}");
        assert_eq!(&r[24..28], &[10, 99, 0, 1], "{kind}: giaddr");
        assert_eq!(r[3], 1, "{kind}: hops");
    }
    let replies: Vec<_> = relay_cap
        .drain()
        .into_iter()
        .filter(|m| op(m) == 2)
        .collect();
    assert!(!replies.is_empty(), "{kind}: relay saw no reply");
    assert!(
        replies.iter().any(|m| option82(m).is_some()),
        "{kind}: the server did not echo option 82, so stripping is untested"
    );
    let at_client: Vec<_> = client_cap
        .drain()
        .into_iter()
        .filter(|m| op(m) == 2)
        .collect();
    assert!(
        at_client.len() >= 2,
        "{kind}: client saw {} replies",
        at_client.len()
    );
    for m in &at_client {
        assert_eq!(option82(m), None, "{kind}: option 82 reached the client");
    }
    // udhcpc without -B: replies went as frames to chaddr/yiaddr.
    let log = relay.log();
    assert!(log.contains("to client on eth0 (Frame {"), "{kind}: {log}");
    let to = if broadcast {
        Ipv4Addr::BROADCAST
    } else {
        SERVER
    };
    assert!(log.contains(&format!(" bytes to {to}:67")), "{kind}: {log}");
}

#[test]
fn udhcpd_through_dhcprelay() {
    relayed_lease(ServerKind::Udhcp, false);
}

#[test]
fn isc_dhcpd_through_dhcprelay() {
    relayed_lease(ServerKind::IscDhcpd, false);
}

/// Without SERVER_IP: requests broadcast on the server interface.
#[test]
fn dnsmasq_through_dhcprelay_broadcast() {
    relayed_lease(ServerKind::Dnsmasq, true);
}

/// Two client interfaces: each client gets an address of its own subnet
/// (dnsmasq serving both ranges). BusyBox udhcpc on the first takes the
/// unicast frame to chaddr/yiaddr; ours on the second asks for broadcast
/// replies (`-B`), exercising the broadcast path.
#[test]
fn two_client_interfaces() {
    let _s = serial();
    let Some(t) = Topo::new() else { return };
    let pool = Pool::lab();
    let range2 = "--dhcp-range=10.97.0.100,10.97.0.200,255.255.255.0,3600";
    let _server = ServerKind::Dnsmasq.start_with(t.server(), &pool, &[range2]);
    let cap2 = Capture::open(t.client2(), "eth0", 68);
    let relay = dhcprelay(t.relay(), "eth0,eth2", &[]);
    let kind1 = match peers::busybox() {
        Some(_) => ClientKind::BusyboxUdhcpc,
        None => ClientKind::Udhcp,
    };
    let mut c1 = kind1.start(t.client(), &[]);
    let mut c2 = ClientKind::Udhcp.start(t.client2(), &["-B"]);
    let ip1: Ipv4Addr = c1.wait_bound().get("ip").unwrap().parse().unwrap();
    let ip2: Ipv4Addr = c2.wait_bound().get("ip").unwrap().parse().unwrap();
    assert!(pool.contains(ip1), "{ip1}");
    assert!(in_subnet24(ip2, RELAY_DOWN2), "{ip2}");
    let replies: Vec<_> = cap2.drain().into_iter().filter(|m| op(m) == 2).collect();
    assert!(!replies.is_empty());
    for m in &replies {
        assert_eq!(m[10] & 0x80, 0x80, "broadcast flag kept");
        assert_eq!(option82(m), None);
    }
    let log = relay.log();
    assert!(log.contains("to client on eth2 (Broadcast)"), "{log}");
    assert!(log.contains("to client on eth0 (Frame {"), "{log}");
}

/// TERM: exit 0, pidfile removed.
#[test]
fn term_exits_cleanly() {
    let _s = serial();
    let Some(t) = Topo::new() else { return };
    let mut relay = dhcprelay(t.relay(), "eth0,eth2", &[]);
    let pidfile = relay.dir().path("dhcprelay.pid");
    // Written right after the sockets are bound.
    let t0 = now();
    while !pidfile.exists() {
        assert!(now() - t0 < Duration::from_secs(5), "no pidfile");
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.signal(nix::sys::signal::Signal::SIGTERM);
    let st = relay.wait_exit(Duration::from_secs(5)).expect("exited");
    assert_eq!(st.code(), Some(0), "{}", relay.log());
    assert!(!pidfile.exists());
    assert!(relay.log().contains("received SIGTERM"), "{}", relay.log());
}

/// RFC 3527: with `--link-selection` the giaddr is the relay's server-side
/// address, the client subnet travels in sub-option 5, and the server
/// needs no route to the client subnet (removed here). dnsmasq picks the
/// range from 82.5.
#[test]
fn link_selection_with_dnsmasq() {
    let _s = serial();
    let Some(t) = Topo::new() else { return };
    ip(&["-n", &t.server().name, "route", "del", "10.99.0.0/24"]);
    let pool = Pool::lab();
    let server_cap = Capture::open(t.server(), "eth0", 67);
    let _server = ServerKind::Dnsmasq.start(t.server(), &pool);
    let _relay = dhcprelay(t.relay(), "eth0", &["--link-selection"]);
    let mut client = ClientKind::Udhcp.start(t.client(), &[]);
    let ip: Ipv4Addr = client.wait_bound().get("ip").unwrap().parse().unwrap();
    assert!(pool.contains(ip), "{ip}");
    let requests: Vec<_> = server_cap
        .drain()
        .into_iter()
        .filter(|m| op(m) == 1)
        .collect();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(&r[24..28], &RELAY_UP.octets(), "giaddr");
        assert_eq!(
            option82(r).as_deref(),
            Some(&b"\x01\x04eth0\x05\x04\x0a\x63\x00\x01"[..])
        );
    }
}

/// RFC 3046 §2.1: a client that sends its own option 82 (giaddr 0) on an
/// untrusted circuit is not relayed; the same client without it is.
#[test]
fn client_option82_is_dropped() {
    let _s = serial();
    let Some(t) = Topo::new() else { return };
    let pool = Pool::lab();
    let server_cap = Capture::open(t.server(), "eth0", 67);
    let _server = ServerKind::Udhcp.start(t.server(), &pool);
    let relay = dhcprelay(t.relay(), "eth0", &[]);
    let mut forger = ClientKind::Udhcp.start(t.client(), &["-x", "0x52:0104666f7267"]);
    let t0 = now();
    while !relay.log().contains("option 82 from an untrusted client") {
        assert!(now() - t0 < Duration::from_secs(10), "{}", relay.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(forger.events().iter().all(|e| e.name != "bound"));
    assert!(
        server_cap.drain().into_iter().all(|m| op(&m) != 1),
        "a forged request reached the server"
    );
    forger.peer.stop();
    let mut honest = ClientKind::Udhcp.start(t.client(), &[]);
    honest.wait_bound();
    assert!(server_cap.drain().iter().any(|m| op(m) == 1));
}

/// client — ISC dhcrelay (10.96.0.1 | 10.99.0.2) — our dhcprelay
/// (10.99.0.1 | 10.98.0.1, forwarding) — server (10.98.0.2). Field order
/// is drop order.
struct ChainTopo {
    server_lab: Lab,
    relay_lab: Lab,
    main_lab: Lab,
}

impl ChainTopo {
    fn new() -> Option<ChainTopo> {
        let main_lab = Lab::with(&[
            NsSpec {
                addr: None,
                mac: None,
            },
            NsSpec {
                addr: Some((Ipv4Addr::new(10, 96, 0, 1), 24)),
                mac: None,
            },
        ])?;
        let relay_lab = Lab::with(&[NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 1), 24)),
            mac: Some(MacAddr([2, 0, 0x5e, 0x99, 0, 1])),
        }])?;
        let server_lab = Lab::with(&[NsSpec {
            addr: Some((SERVER, 24)),
            mac: Some(MacAddr([2, 0, 0x5e, 0x98, 0, 2])),
        }])?;
        let t = ChainTopo {
            server_lab,
            relay_lab,
            main_lab,
        };
        let (down, ours, server) = (
            &t.main_lab.ns(1).name,
            &t.relay_lab.ns(0).name,
            &t.server_lab.ns(0).name,
        );
        for args in [
            // Our relay's eth0 ↔ the downstream relay's up0.
            vec!["-n", ours, "link", "set", "peer0", "netns", down],
            vec!["-n", down, "link", "set", "peer0", "name", "up0"],
            vec!["-n", down, "addr", "add", "10.99.0.2/24", "dev", "up0"],
            vec!["-n", down, "link", "set", "up0", "up"],
            // Our relay's up0 ↔ the server's eth0.
            vec!["-n", server, "link", "set", "peer0", "netns", ours],
            vec!["-n", ours, "link", "set", "peer0", "name", "up0"],
            vec!["-n", ours, "addr", "add", "10.98.0.1/24", "dev", "up0"],
            vec!["-n", ours, "link", "set", "up0", "up"],
        ] {
            ip(&args);
        }
        for (ns, dev) in [(server, "eth0"), (ours, "eth0"), (down, "up0")] {
            let t0 = now();
            while !ip(&["-n", ns, "-o", "link", "show", "dev", dev]).contains("LOWER_UP") {
                assert!(now() - t0 < Duration::from_secs(5), "{ns} has no carrier");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        ip(&[
            "-n",
            server,
            "route",
            "add",
            "10.96.0.0/24",
            "via",
            "10.98.0.1",
        ]);
        ip(&[
            "-n",
            server,
            "route",
            "add",
            "10.99.0.0/24",
            "via",
            "10.98.0.1",
        ]);
        ip(&[
            "-n",
            ours,
            "route",
            "add",
            "10.96.0.0/24",
            "via",
            "10.99.0.2",
        ]);
        t.relay_lab
            .ns(0)
            .exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        Some(t)
    }
}

/// A relay closer to the client (ISC dhcrelay) has set giaddr: our relay
/// keeps it, increments hops, adds no option 82 and remembers nothing;
/// the server answers the downstream relay directly (routed through our
/// relay's namespace) and the client gets an address of the downstream
/// relay's subnet.
#[test]
fn downstream_relay_giaddr_kept() {
    let _s = serial();
    let Some(t) = ChainTopo::new() else { return };
    let (client, down, ours, server) = (
        t.main_lab.ns(0),
        t.main_lab.ns(1),
        t.relay_lab.ns(0),
        t.server_lab.ns(0),
    );
    let pool = Pool {
        subnet: Ipv4Addr::new(10, 96, 0, 0),
        prefix: 24,
        start: Ipv4Addr::new(10, 96, 0, 100),
        end: Ipv4Addr::new(10, 96, 0, 200),
        router: Some(Ipv4Addr::new(10, 96, 0, 1)),
        dns: None,
        lease_secs: 3600,
    };
    let server_cap = Capture::open(server, "eth0", 67);
    let _server = ServerKind::Dnsmasq.start(server, &pool);
    let relay = dhcprelay(ours, "eth0", &[]);
    let _down = peers::dhcrelay(down, "eth0", "up0", Ipv4Addr::new(10, 99, 0, 1));
    let mut c = ClientKind::Udhcp.start(client, &[]);
    let ip: Ipv4Addr = c.wait_bound().get("ip").unwrap().parse().unwrap();
    assert!(pool.contains(ip), "{ip}");
    let requests: Vec<_> = server_cap
        .drain()
        .into_iter()
        .filter(|m| op(m) == 1)
        .collect();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(&r[24..28], &[10, 96, 0, 1], "giaddr kept");
        assert_eq!(r[3], 2, "hops: one per relay");
        assert_eq!(option82(r), None);
    }
    assert!(!relay.log().contains("to client on"), "{}", relay.log());
}
