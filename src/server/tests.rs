//! Sans-I/O tests of the server core: byte vectors in, replies and
//! records out, on a virtual clock.

use super::*;
use crate::conf::StaticLease;
use crate::lease::table::{sdbm_hash, LeaseState};
use crate::lease::Hostname;
use crate::wire::dhcp::{field, OP_REPLY};
use crate::wire::options::OptionSet;
use std::collections::{HashMap, HashSet};

const SIP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn mac(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([2, 0, b[0], b[1], b[2], b[3]])
}

/// BusyBox defaults plus mask, router, DNS, hostname, domain and lease.
fn config() -> ServerConfig {
    let mut options = OptionSet::new();
    for line in [
        "subnet 255.255.255.0",
        "router 192.168.0.1",
        "dns 192.168.0.1 8.8.8.8",
        "hostname srv",
        "domain lan",
        "lease 3600",
    ] {
        options.add_text(line).unwrap();
    }
    ServerConfig {
        max_lease: 3600,
        lease_file: "/tmp/udhcpd.leases".into(),
        pidfile: "/tmp/udhcpd.pid".into(),
        static_leases: vec![StaticLease {
            mac: mac(9),
            ip: ip("192.168.0.10"),
            hostname: Some("printer".into()),
        }],
        options,
        ..ServerConfig::default()
    }
}

fn small_pool(start: &str, end: &str, max: u32) -> ServerConfig {
    let mut c = config();
    c.start = ip(start);
    c.end = ip(end);
    c.max_leases = max;
    c
}

/// A client message under construction.
#[derive(Clone)]
struct Msg {
    mtype: Option<MessageType>,
    mac: MacAddr,
    xid: u32,
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    bcast: bool,
    opts: Vec<(u8, Vec<u8>)>,
}

fn msg(mtype: MessageType, m: MacAddr) -> Msg {
    Msg {
        mtype: Some(mtype),
        mac: m,
        xid: 0x1000,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        bcast: false,
        opts: Vec::new(),
    }
}

impl Msg {
    fn opt(mut self, c: u8, d: &[u8]) -> Self {
        self.opts.push((c, d.to_vec()));
        self
    }
    fn req_ip(self, a: Ipv4Addr) -> Self {
        self.opt(code::REQUESTED_IP, &a.octets())
    }
    fn sid(self, a: Ipv4Addr) -> Self {
        self.opt(code::SERVER_ID, &a.octets())
    }
    fn lease(self, secs: u32) -> Self {
        self.opt(code::LEASE_TIME, &secs.to_be_bytes())
    }
    fn id(self, id: &[u8]) -> Self {
        self.opt(code::CLIENT_ID, id)
    }
    fn ciaddr(mut self, a: Ipv4Addr) -> Self {
        self.ciaddr = a;
        self
    }
    fn giaddr(mut self, a: Ipv4Addr) -> Self {
        self.giaddr = a;
        self
    }
    fn xid(mut self, x: u32) -> Self {
        self.xid = x;
        self
    }
    fn bcast(mut self) -> Self {
        self.bcast = true;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let mut b = MessageBuilder::new(&mut buf, OP_REQUEST, self.xid).unwrap();
        {
            let mut h = b.header();
            h.set_client_mac(self.mac);
            h.set_ciaddr(self.ciaddr);
            h.set_giaddr(self.giaddr);
            h.set_broadcast_flag(self.bcast);
        }
        if let Some(t) = self.mtype {
            b.add_message_type(t).unwrap();
        }
        for (c, d) in &self.opts {
            b.add_option(*c, d).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }
}

fn bootp(m: MacAddr) -> Msg {
    Msg {
        mtype: None,
        ..msg(MessageType::Discover, m)
    }
}

/// A reply taken from the server.
#[derive(Debug)]
struct Out {
    bytes: Vec<u8>,
    dest: Destination,
    link: usize,
}

impl Out {
    fn pkt(&self) -> Packet<&[u8]> {
        Packet::new_checked(&self.bytes[..]).unwrap()
    }
    fn mtype(&self) -> Option<MessageType> {
        self.pkt().message_type()
    }
    fn yiaddr(&self) -> Ipv4Addr {
        self.pkt().yiaddr()
    }
    fn opts(&self) -> Vec<(u8, Vec<u8>)> {
        self.pkt()
            .options()
            .map(|r| r.map(|(c, d)| (c, d.to_vec())).unwrap())
            .collect()
    }
    fn codes(&self) -> Vec<u8> {
        self.opts().iter().map(|(c, _)| *c).collect()
    }
    fn opt(&self, c: u8) -> Option<Vec<u8>> {
        self.pkt().option(c).map(<[u8]>::to_vec)
    }
    fn lease(&self) -> Option<u32> {
        self.pkt().option_u32(code::LEASE_TIME)
    }
}

fn tx(s: &mut Server) -> Vec<Out> {
    let mut v = Vec::new();
    let mut buf = [0u8; MAX_LEN];
    while let Some(x) = s.poll_transmit(&mut buf) {
        v.push(Out {
            bytes: buf[..x.len].to_vec(),
            dest: x.dest,
            link: x.link,
        });
    }
    v
}

fn one(s: &mut Server) -> Out {
    let mut v = tx(s);
    assert_eq!(v.len(), 1, "expected one reply: {v:?}");
    v.pop().unwrap()
}

fn none(s: &mut Server) {
    let v = tx(s);
    assert!(v.is_empty(), "expected no reply: {v:?}");
}

/// The unsynced lease records (forget changes left out).
fn records(s: &mut Server) -> Vec<LeaseRecord> {
    s.unsynced()
        .filter_map(|c| match c {
            Change::Lease(r) => Some(r.clone()),
            Change::Forget(_) => None,
        })
        .collect()
}

/// "Writes" the unsynced changes and releases held ACKs; returns the
/// lease records written.
fn commit(s: &mut Server, now: Instant) -> Vec<LeaseRecord> {
    let through = s.persist_seq();
    let r = records(s);
    s.handle_persisted(now, through);
    r
}

fn send(s: &mut Server, now: Instant, m: &Msg) {
    s.handle_packet(now, &m.bytes());
}

/// DISCOVER → OFFER → REQUEST → ACK on a server without probing.
fn dora(s: &mut Server, now: Instant, m: MacAddr, extra: &[(u8, &[u8])]) -> Ipv4Addr {
    let mut d = msg(MessageType::Discover, m);
    for (c, v) in extra {
        d = d.opt(*c, v);
    }
    s.handle_packet(now, &d.bytes());
    let offer = one(s);
    assert_eq!(offer.mtype(), Some(MessageType::Offer));
    let a = offer.yiaddr();
    let mut r = msg(MessageType::Request, m).sid(SIP).req_ip(a);
    // Option 50 is already the offered address: a second instance would
    // be joined to it (RFC 3396) and make it invalid.
    for (c, v) in extra.iter().filter(|(c, _)| *c != code::REQUESTED_IP) {
        r = r.opt(*c, v);
    }
    s.handle_packet(now, &r.bytes());
    commit(s, now);
    let ack = one(s);
    assert_eq!(ack.mtype(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), a);
    a
}

fn hash_ip(cfg: &ServerConfig, m: MacAddr) -> Ipv4Addr {
    let size = u32::from(cfg.end) - u32::from(cfg.start) + 1;
    Ipv4Addr::from(u32::from(cfg.start) + sdbm_hash(&m) % size)
}

#[test]
fn dora_new_client_with_probe_and_durability_barrier() {
    let cfg = config();
    let mut s = Server::new(cfg.clone(), SIP, 2000);
    s.set_probe_ahead(0); // the classic per-client probe
    let m = mac(1);
    let d = msg(MessageType::Discover, m)
        .xid(77)
        .lease(10)
        .opt(12, b"pc;1");
    send(&mut s, t(1_000), &d);
    none(&mut s);
    let p = s.poll_probe().expect("probe requested");
    assert_eq!(
        p,
        Probe {
            ip: hash_ip(&cfg, m),
            safe_mac: m,
            link: 0,
            icmp: false,
        }
    );
    assert_eq!(s.poll_probe(), None);
    assert_eq!(s.poll_timeout(), Some(t(1_000 + 2_000 + PROBE_SLACK_MS)));
    s.handle_probe(t(1_100), p.ip, false);
    assert_eq!(s.poll_timeout(), None);
    let o = one(&mut s);
    assert_eq!(o.dest, Destination::Broadcast);
    let h = o.pkt();
    assert_eq!((h.op(), h.xid(), h.yiaddr()), (OP_REPLY, 77, p.ip));
    assert_eq!(h.client_mac(), m);
    // 53, 54, 51, then configured options in code order (not 51).
    assert_eq!(o.codes(), [53, 54, 51, 58, 59, 1, 3, 6, 12, 15]);
    assert_eq!(o.opt(54).unwrap(), SIP.octets());
    assert_eq!(o.lease(), Some(60), "10 s clamped up to min_lease");
    assert_eq!(o.opt(12).unwrap(), b"srv");
    assert!(records(&mut s).is_empty(), "offer holds are not persisted");

    // REQUEST (SELECTING): record first, ACK only after the barrier.
    let r = msg(MessageType::Request, m)
        .xid(78)
        .sid(SIP)
        .req_ip(p.ip)
        .lease(100_000)
        .opt(12, b"pc;1");
    send(&mut s, t(2_000), &r);
    none(&mut s);
    s.handle_persisted(t(2_000), 0);
    none(&mut s); // nothing durable yet: still held
    let recs = records(&mut s);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].ip, recs[0].mac, recs[0].remaining),
        (p.ip, m, 3600)
    );
    assert_eq!(recs[0].hostname.to_string(), "pc.1");
    none(&mut s);
    s.handle_persisted(t(2_005), s.persist_seq());
    let a = one(&mut s);
    assert_eq!(a.mtype(), Some(MessageType::Ack));
    assert_eq!((a.yiaddr(), a.pkt().xid()), (p.ip, 78));
    assert_eq!(a.lease(), Some(3600), "clamped down to max_lease");
    assert_eq!(a.codes(), [53, 54, 51, 58, 59, 1, 3, 6, 12, 15]);
    let l = s.table().get(p.ip).unwrap();
    assert_eq!((l.state, l.expires), (LeaseState::Bound, t(3_602_000)));
}

#[test]
fn lease_time_clamps_max_first_then_min() {
    let mut cfg = config();
    cfg.min_lease = 500;
    cfg.max_lease = 300;
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)).lease(100));
    assert_eq!(one(&mut s).lease(), Some(500));
    send(&mut s, t(0), &msg(MessageType::Discover, mac(2)));
    assert_eq!(one(&mut s).lease(), Some(300), "absent → max_lease");
}

#[test]
fn static_lease_offer_and_ack_with_hostname_appended() {
    let mut s = Server::new(config(), SIP, 2000);
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(9)).opt(12, b"x"),
    );
    assert_eq!(s.poll_probe(), None, "static leases are not probed");
    let o = one(&mut s);
    assert_eq!(o.yiaddr(), ip("192.168.0.10"));
    assert_eq!(o.codes(), [53, 54, 51, 58, 59, 1, 3, 6, 15, 12]);
    assert_eq!(o.opt(12).unwrap(), b"printer");
    let r = msg(MessageType::Request, mac(9))
        .sid(SIP)
        .req_ip(ip("192.168.0.10"));
    send(&mut s, t(100), &r);
    // Not held (the config is its durable form), but recorded for the
    // lease file as BusyBox does (see rfc::static_lease_clients_…).
    let a = one(&mut s);
    assert_eq!(a.mtype(), Some(MessageType::Ack));
    assert_eq!(a.codes(), [53, 54, 51, 58, 59, 1, 3, 6, 15, 12]);
    assert_eq!(records(&mut s).len(), 1);
    assert_eq!(s.table().len(), 0);
    // Wrong address from a static client: NAK.
    let r = msg(MessageType::Request, mac(9)).req_ip(ip("192.168.0.50"));
    send(&mut s, t(200), &r);
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Nak));
}

#[test]
fn static_and_server_ips_never_allocated() {
    let mut cfg = small_pool("192.168.0.1", "192.168.0.8", 8);
    cfg.static_leases[0].ip = ip("192.168.0.5");
    let mut s = Server::new(cfg, SIP, 0);
    let mut got = HashSet::new();
    for i in 0..10 {
        send(&mut s, t(0), &msg(MessageType::Discover, mac(100 + i)));
        for o in tx(&mut s) {
            assert!(got.insert(o.yiaddr()));
        }
    }
    assert_eq!(got.len(), 6);
    assert!(!got.contains(&SIP) && !got.contains(&ip("192.168.0.5")));
    // Requesting them does not help (BusyBox honoured the request).
    let mut cfg = config();
    cfg.start = ip("192.168.0.1");
    cfg.static_leases[0].ip = ip("192.168.0.30");
    for bad in ["192.168.0.30", "192.168.0.1"] {
        let mut s = Server::new(cfg.clone(), SIP, 0);
        let d = msg(MessageType::Discover, mac(1)).req_ip(ip(bad));
        send(&mut s, t(0), &d);
        assert_ne!(one(&mut s).yiaddr(), ip(bad));
    }
}

#[test]
fn siaddr_sname_and_boot_file_come_from_the_config() {
    let mut cfg = config();
    cfg.siaddr = ip("192.168.0.5");
    cfg.sname = Some("tftp".into());
    cfg.boot_file = Some("pxelinux.0".into());
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let o = one(&mut s);
    let p = o.pkt();
    assert_eq!(p.siaddr(), ip("192.168.0.5"));
    assert_eq!(p.sname_str(), b"tftp");
    assert_eq!(p.file_str(), b"pxelinux.0");
    // Not in a NAK (RFC 2131 table 3).
    let r = msg(MessageType::Request, mac(1))
        .sid(SIP)
        .req_ip(ip("192.168.0.3"));
    send(&mut s, t(0), &r);
    let n = one(&mut s);
    assert_eq!(n.pkt().siaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(n.pkt().sname_str(), b"");
}

#[test]
fn pending_probes_are_bounded() {
    let mut s = Server::new(config(), SIP, 2000);
    for i in 0..(MAX_PENDING_PROBES as u32 + 6) {
        send(&mut s, t(0), &msg(MessageType::Discover, mac(100 + i)));
    }
    let probes: Vec<Probe> = core::iter::from_fn(|| s.poll_probe()).collect();
    assert_eq!(probes.len(), MAX_PENDING_PROBES);
    // The dropped ones left no reservation behind.
    let reserved = (20..=254u8)
        .filter(|&b| s.table().is_reserved(Ipv4Addr::new(192, 168, 0, b)))
        .count();
    assert_eq!(reserved, MAX_PENDING_PROBES);
}

#[test]
fn requested_ip_honoured_when_free() {
    let mut s = Server::new(config(), SIP, 2000);
    let want = ip("192.168.0.100");
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1)).req_ip(want),
    );
    let p = s.poll_probe().unwrap();
    assert_eq!(p.ip, want, "the requested address is probed too");
    s.handle_probe(t(10), want, false);
    assert_eq!(one(&mut s).yiaddr(), want);
}

#[test]
fn requested_ip_ignored_when_taken_or_outside() {
    let mut s = Server::new(config(), SIP, 0);
    let want = ip("192.168.0.100");
    let a = dora(&mut s, t(0), mac(1), &[(50, &want.octets())]);
    assert_eq!(a, want);
    send(
        &mut s,
        t(10),
        &msg(MessageType::Discover, mac(2)).req_ip(want),
    );
    let o = one(&mut s);
    assert_ne!(o.yiaddr(), want);
    assert_eq!(o.yiaddr(), hash_ip(s.config(), mac(2)));
    send(
        &mut s,
        t(10),
        &msg(MessageType::Discover, mac(3)).req_ip(ip("10.0.0.5")),
    );
    assert_eq!(one(&mut s).yiaddr(), hash_ip(s.config(), mac(3)));
}

#[test]
fn returning_client_gets_its_old_address() {
    let cfg = config();
    let mut s = Server::new(cfg.clone(), SIP, 2000);
    // Probing off for the setup.
    let mut s0 = Server::new(cfg.clone(), SIP, 0);
    let a = dora(&mut s0, t(0), mac(1), &[]);
    assert_eq!(a, hash_ip(&cfg, mac(1)));
    // Existing binding: same address, no probe, even after expiry.
    send(&mut s0, t(10_000), &msg(MessageType::Discover, mac(1)));
    assert_eq!(one(&mut s0).yiaddr(), a);
    send(&mut s0, t(5_000_000), &msg(MessageType::Discover, mac(1)));
    assert_eq!(one(&mut s0).yiaddr(), a);
    // A server that forgot everything starts at the same hash position.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    assert_eq!(s.poll_probe().unwrap().ip, a);
}

#[test]
fn pool_exhaustion_abandons_the_offer() {
    let mut s = Server::new(small_pool("192.168.0.20", "192.168.0.22", 10), SIP, 0);
    for i in 0..3 {
        dora(&mut s, t(0), mac(i), &[]);
    }
    send(&mut s, t(1000), &msg(MessageType::Discover, mac(7)));
    none(&mut s);
    assert_eq!(s.poll_probe(), None);
    assert_eq!(s.table().len(), 3);
}

#[test]
fn reclaims_the_longest_expired_address() {
    let mut s = Server::new(small_pool("192.168.0.20", "192.168.0.22", 10), SIP, 2000);
    let mut s0 = Server::new(s.config().clone(), SIP, 0);
    let a = dora(&mut s0, t(0), mac(1), &[(51, &200u32.to_be_bytes())]);
    let b = dora(&mut s0, t(0), mac(2), &[(51, &100u32.to_be_bytes())]);
    let c = dora(&mut s0, t(0), mac(3), &[(51, &300u32.to_be_bytes())]);
    let recs: Vec<_> = s0.leases(t(0)).collect();
    s.load(t(0), recs);
    // At 250 s, b (100 s) and a (200 s) have expired, c has not.
    send(&mut s, t(250_000), &msg(MessageType::Discover, mac(4)));
    let p = s.poll_probe().unwrap();
    assert_eq!(p.ip, b, "longest expired first");
    s.handle_probe(t(250_010), b, false);
    assert_eq!(one(&mut s).yiaddr(), b);
    send(&mut s, t(250_000), &msg(MessageType::Discover, mac(5)));
    assert_eq!(s.poll_probe().unwrap().ip, a);
    send(&mut s, t(250_000), &msg(MessageType::Discover, mac(6)));
    assert_eq!(s.poll_probe(), None, "c is unexpired: never reclaimed");
    none(&mut s);
    let _ = c;
}

#[test]
fn conflict_holds_the_address_and_offers_another() {
    let mut s = Server::new(config(), SIP, 2000);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let p1 = s.poll_probe().unwrap();
    s.handle_probe(t(500), p1.ip, true);
    none(&mut s);
    let p2 = s.poll_probe().expect("another address probed");
    assert_ne!(p2.ip, p1.ip);
    let r = records(&mut s);
    assert_eq!(r.len(), 1, "conflict hold is persisted");
    assert_eq!(
        (r[0].ip, r[0].mac, r[0].remaining),
        (p1.ip, MacAddr::ZERO, 3600)
    );
    s.handle_probe(t(900), p2.ip, false);
    assert_eq!(one(&mut s).yiaddr(), p2.ip);
    let held = s.leases(t(1000)).find(|r| r.ip == p1.ip).unwrap();
    assert_eq!(held.mac, MacAddr::ZERO);
    assert_eq!(s.table().get(p1.ip).unwrap().state, LeaseState::Conflict);
    // A late or duplicate answer is ignored.
    s.handle_probe(t(950), p1.ip, false);
    none(&mut s);
}

#[test]
fn retransmitted_discover_during_probe_is_absorbed() {
    let mut s = Server::new(config(), SIP, 2000);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)).xid(1));
    let p = s.poll_probe().unwrap();
    send(&mut s, t(1000), &msg(MessageType::Discover, mac(1)).xid(2));
    assert_eq!(s.poll_probe(), None, "no second probe");
    none(&mut s);
    s.handle_probe(t(1500), p.ip, false);
    let o = one(&mut s);
    assert_eq!(o.pkt().xid(), 2, "answers the latest DISCOVER");
}

#[test]
fn other_clients_are_served_while_a_probe_is_pending() {
    let mut s = Server::new(config(), SIP, 2000);
    // mac(2) holds a lease (loaded), mac(9) is static.
    s.load(
        t(0),
        [LeaseRecord {
            ip: ip("192.168.0.200"),
            mac: mac(2),
            hostname: Hostname::EMPTY,
            remaining: 1000,
            client_id: Vec::new(),
        }],
    );
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let p1 = s.poll_probe().unwrap();
    send(&mut s, t(10), &msg(MessageType::Discover, mac(9)));
    assert_eq!(one(&mut s).yiaddr(), ip("192.168.0.10"));
    let renew = msg(MessageType::Request, mac(2)).ciaddr(ip("192.168.0.200"));
    send(&mut s, t(20), &renew);
    commit(&mut s, t(20));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Ack));
    send(&mut s, t(30), &msg(MessageType::Discover, mac(3)));
    let p3 = s.poll_probe().unwrap();
    assert_ne!(p3.ip, p1.ip, "a reserved address is not probed twice");
    s.handle_probe(t(40), p3.ip, false);
    assert_eq!(one(&mut s).yiaddr(), p3.ip);
    s.handle_probe(t(50), p1.ip, false);
    assert_eq!(one(&mut s).yiaddr(), p1.ip);
}

#[test]
fn unanswered_probe_times_out_as_free() {
    let mut s = Server::new(config(), SIP, 500);
    s.set_probe_ahead(0); // the classic per-client probe
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let p = s.poll_probe().unwrap();
    let dl = s.poll_timeout().unwrap();
    assert_eq!(dl, t(500 + PROBE_SLACK_MS));
    s.handle_timeout(t(1499));
    none(&mut s);
    s.handle_timeout(dl);
    assert_eq!(one(&mut s).yiaddr(), p.ip);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t(99_999)); // spurious: no-op
    none(&mut s);
}

#[test]
fn init_reboot_known_right_address_is_acked() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[]);
    send(
        &mut s,
        t(5_000),
        &msg(MessageType::Request, mac(1)).req_ip(a),
    );
    none(&mut s);
    assert_eq!(commit(&mut s, t(5_000)).len(), 1);
    let o = one(&mut s);
    assert_eq!((o.mtype(), o.yiaddr()), (Some(MessageType::Ack), a));
}

#[test]
fn init_reboot_known_wrong_address_is_naked() {
    let mut s = Server::new(config(), SIP, 0);
    dora(&mut s, t(0), mac(1), &[]);
    let r = msg(MessageType::Request, mac(1)).req_ip(ip("192.168.0.77"));
    send(&mut s, t(5_000), &r);
    let o = one(&mut s);
    assert_eq!(o.mtype(), Some(MessageType::Nak));
    assert_eq!(o.dest, Destination::Broadcast);
    assert_eq!(o.codes(), [53, 54]);
    assert_eq!(o.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(records(&mut s).is_empty());
}

#[test]
fn init_reboot_unknown_client_gets_silence_unless_wrong_network() {
    let mut s = Server::new(config(), SIP, 0);
    send(
        &mut s,
        t(0),
        &msg(MessageType::Request, mac(1)).req_ip(ip("192.168.0.77")),
    );
    none(&mut s);
    // Moved from another subnet: RFC 2131 §4.3.2 SHOULD NAK.
    send(
        &mut s,
        t(0),
        &msg(MessageType::Request, mac(1)).req_ip(ip("10.9.9.9")),
    );
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Nak));
}

#[test]
fn renewing_is_acked_by_unicast_and_rebinding_by_broadcast() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[]);
    send(
        &mut s,
        t(1_800_000),
        &msg(MessageType::Request, mac(1)).ciaddr(a),
    );
    none(&mut s);
    let r = commit(&mut s, t(1_800_000));
    assert_eq!(r[0].remaining, 3600);
    let o = one(&mut s);
    assert_eq!(o.mtype(), Some(MessageType::Ack));
    assert_eq!(o.dest, Destination::Unicast { ip: a, mac: mac(1) });
    assert_eq!(o.pkt().ciaddr(), a);
    // REBINDING, broadcast flag set: broadcast (BusyBox 1.37).
    let rb = msg(MessageType::Request, mac(1)).ciaddr(a).bcast();
    send(&mut s, t(3_000_000), &rb);
    commit(&mut s, t(3_000_000));
    assert_eq!(one(&mut s).dest, Destination::Broadcast);
    assert_eq!(s.table().get(a).unwrap().expires, t(3_000_000 + 3_600_000));
    // Not the client's address, or an unknown client: silent.
    send(
        &mut s,
        t(3_000_000),
        &msg(MessageType::Request, mac(1)).ciaddr(ip("192.168.0.99")),
    );
    send(
        &mut s,
        t(3_000_000),
        &msg(MessageType::Request, mac(2)).ciaddr(a),
    );
    commit(&mut s, t(3_000_000));
    none(&mut s);
    // Neither 50 nor ciaddr.
    send(&mut s, t(3_000_000), &msg(MessageType::Request, mac(1)));
    none(&mut s);
}

#[test]
fn selecting_with_our_id_but_no_offer_is_naked() {
    let mut s = Server::new(config(), SIP, 0);
    let r = msg(MessageType::Request, mac(1))
        .sid(SIP)
        .req_ip(ip("192.168.0.50"));
    send(&mut s, t(0), &r);
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Nak));
}

#[test]
fn selecting_another_server_is_ignored_and_frees_our_offer() {
    let mut s = Server::new(config(), SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let a = one(&mut s).yiaddr();
    assert!(!s.table().is_available(t(1000), a));
    let r = msg(MessageType::Request, mac(1))
        .sid(OTHER_SERVER)
        .req_ip(ip("10.0.0.5"));
    send(&mut s, t(1000), &r);
    none(&mut s);
    assert!(records(&mut s).is_empty());
    assert!(s.table().is_available(t(1000), a), "offer hold released");
    // The address can be requested by someone else at once.
    send(
        &mut s,
        t(2000),
        &msg(MessageType::Discover, mac(2)).req_ip(a),
    );
    assert_eq!(one(&mut s).yiaddr(), a);
    // While a probe is pending, the same REQUEST cancels the probe.
    let mut s = Server::new(config(), SIP, 2000);
    s.set_probe_ahead(0); // the classic per-client probe
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let p = s.poll_probe().unwrap();
    send(&mut s, t(10), &r);
    assert_eq!(s.poll_timeout(), None);
    s.handle_probe(t(20), p.ip, false);
    none(&mut s);
    assert!(s.table().is_available(t(20), p.ip));
}

#[test]
fn decline_holds_the_address_until_decline_time() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[]);
    let d = msg(MessageType::Decline, mac(1)).sid(SIP).req_ip(a);
    send(&mut s, t(1_000), &d);
    none(&mut s);
    let r = records(&mut s);
    assert_eq!(
        (r[0].ip, r[0].mac, r[0].remaining),
        (a, MacAddr::ZERO, 3600)
    );
    assert_eq!(s.table().get(a).unwrap().state, LeaseState::Declined);
    // The client now gets another address.
    send(
        &mut s,
        t(2_000),
        &msg(MessageType::Discover, mac(1)).req_ip(a),
    );
    assert_ne!(one(&mut s).yiaddr(), a);
    // After decline_time the address can be had again.
    assert!(!s.table().is_available(t(3_600_999), a));
    send(
        &mut s,
        t(3_601_000),
        &msg(MessageType::Discover, mac(2)).req_ip(a),
    );
    assert_eq!(one(&mut s).yiaddr(), a);
    // A DECLINE without 54, or for another address, changes nothing.
    let b = dora(&mut s, t(3_700_000), mac(3), &[]);
    send(
        &mut s,
        t(3_700_000),
        &msg(MessageType::Decline, mac(3)).req_ip(b),
    );
    send(
        &mut s,
        t(3_700_000),
        &msg(MessageType::Decline, mac(3)).sid(SIP).req_ip(a),
    );
    assert!(records(&mut s).is_empty());
    assert_eq!(s.table().get(b).unwrap().state, LeaseState::Bound);
}

#[test]
fn release_then_rediscover_gets_the_same_address() {
    let mut s = Server::new(config(), SIP, 2000);
    let mut s0 = Server::new(config(), SIP, 0);
    let a = dora(&mut s0, t(0), mac(1), &[]);
    s.load(t(0), s0.leases(t(0)).collect::<Vec<_>>());
    send(
        &mut s,
        t(5_000),
        &msg(MessageType::Release, mac(1)).sid(SIP).ciaddr(a),
    );
    none(&mut s);
    let r = records(&mut s);
    assert_eq!((r[0].ip, r[0].mac, r[0].remaining), (a, mac(1), 0));
    assert_eq!(s.table().get(a).unwrap().state, LeaseState::Released);
    send(&mut s, t(6_000), &msg(MessageType::Discover, mac(1)));
    assert_eq!(s.poll_probe(), None, "its own address is not probed");
    assert_eq!(one(&mut s).yiaddr(), a);
}

#[test]
fn inform_is_answered_without_lease_to_ciaddr() {
    let mut s = Server::new(config(), SIP, 0);
    let c = ip("192.168.0.77");
    send(&mut s, t(0), &msg(MessageType::Inform, mac(1)).ciaddr(c));
    let o = one(&mut s);
    assert_eq!(o.mtype(), Some(MessageType::Ack));
    assert_eq!(o.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(o.pkt().ciaddr(), c);
    assert_eq!(o.codes(), [53, 54, 1, 3, 6, 12, 15]);
    assert_eq!(o.dest, Destination::Unicast { ip: c, mac: mac(1) });
    assert!(records(&mut s).is_empty());
    assert!(s.table().is_empty());
}

#[test]
fn bootp_is_served_from_static_leases_only() {
    let mut s = Server::new(config(), SIP, 0);
    send(&mut s, t(0), &bootp(mac(9)));
    let o = one(&mut s);
    let p = o.pkt();
    assert_eq!((p.op(), p.yiaddr()), (OP_REPLY, ip("192.168.0.10")));
    assert!(p.is_bootp());
    assert_eq!(o.codes(), [1, 3, 6, 15, 12]);
    assert_eq!(o.bytes.len(), MIN_BOOTP_LEN);
    assert!(s.table().is_empty());
    send(&mut s, t(0), &bootp(mac(1)));
    none(&mut s);
    // Options beyond the 64-byte vendor area: not sent.
    let mut cfg = config();
    cfg.options.insert_raw(43, vec![7u8; 40]);
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &bootp(mac(9)));
    none(&mut s);
    // A DHCP client gets them all.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(9)));
    assert_eq!(one(&mut s).opt(43).unwrap(), vec![7u8; 40]);
}

#[test]
fn relay_routing_and_option_82_echo() {
    let mut s = Server::new(config(), SIP, 0);
    let relay = ip("192.168.5.1");
    let o82: &[u8] = &[1, 4, b'p', b'o', b'r', b't', 2, 2, 0xab, 0xcd];
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1))
            .giaddr(relay)
            .opt(82, o82),
    );
    let o = one(&mut s);
    assert_eq!(o.dest, Destination::Relay(relay));
    assert_eq!(o.pkt().giaddr(), relay);
    let opts = o.opts();
    assert_eq!(
        opts.last().unwrap(),
        &(82, o82.to_vec()),
        "82 last, verbatim"
    );
    // NAK via a relay: broadcast bit set (RFC 2131 §4.3.2), 82 echoed.
    let r = msg(MessageType::Request, mac(1))
        .sid(SIP)
        .req_ip(ip("192.168.0.3"))
        .giaddr(relay)
        .opt(82, o82);
    send(&mut s, t(10), &r);
    let n = one(&mut s);
    assert_eq!(n.mtype(), Some(MessageType::Nak));
    assert_eq!(n.dest, Destination::Relay(relay));
    assert!(n.pkt().broadcast_flag());
    assert_eq!(n.codes(), [53, 54, 82]);
}

#[test]
fn option_57_and_overload() {
    let mut cfg = config();
    cfg.options.insert_raw(43, vec![0x43; 200]);
    cfg.options.insert_raw(125, vec![0x7d; 100]);
    let mut s = Server::new(cfg, SIP, 0);
    let o82: &[u8] = &[1, 3, 1, 2, 3];
    // No option 57: 548 bytes, options spill into file/sname; 82 stays
    // in the options field.
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1)).opt(82, o82),
    );
    let o = one(&mut s);
    assert!(o.bytes.len() <= DEFAULT_MAX_LEN);
    let p = o.pkt();
    assert_ne!(p.overload(), 0);
    assert_eq!(p.option(43).unwrap(), &[0x43; 200][..]);
    assert_eq!(p.option(125).unwrap(), &[0x7d; 100][..]);
    let field: Vec<u8> = p.options_field().to_vec();
    assert!(field.windows(7).any(|w| w == [82, 5, 1, 3, 1, 2, 3]));
    // Option 57 = 1500: everything fits in the options field.
    let d = msg(MessageType::Discover, mac(2))
        .opt(57, &1500u16.to_be_bytes())
        .opt(82, o82);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.pkt().overload(), 0);
    assert!(o.bytes.len() > DEFAULT_MAX_LEN && o.bytes.len() <= 1472);
    assert_eq!(
        o.codes(),
        [53, 54, 51, 58, 59, 1, 3, 6, 12, 15, 43, 125, 82]
    );
    // A 57 below 576 is ignored.
    let d = msg(MessageType::Discover, mac(3)).opt(57, &300u16.to_be_bytes());
    send(&mut s, t(0), &d);
    assert!(one(&mut s).bytes.len() <= DEFAULT_MAX_LEN);
}

#[test]
fn client_id_and_chaddr_keying() {
    let mut s = Server::new(config(), SIP, 0);
    let m = mac(1);
    let a = dora(&mut s, t(0), m, &[(61, b"\x00one")]);
    let b = dora(&mut s, t(0), m, &[(61, b"\x00two")]);
    let c = dora(&mut s, t(0), m, &[]);
    assert!(a != b && b != c && a != c, "three clients on one MAC");
    // Each keeps its own address.
    send(&mut s, t(10), &msg(MessageType::Discover, m).id(b"\x00two"));
    assert_eq!(one(&mut s).yiaddr(), b);
    // The same client id behind another chaddr is the same client.
    send(
        &mut s,
        t(10),
        &msg(MessageType::Discover, mac(2)).id(b"\x00one"),
    );
    assert_eq!(one(&mut s).yiaddr(), a);
    let r = s.leases(t(10)).find(|r| r.ip == a).unwrap();
    assert_eq!(r.client_id, b"\x00one");
}

#[test]
fn a_loaded_mac_only_lease_is_adopted() {
    let mut s = Server::new(config(), SIP, 2000);
    let old = ip("192.168.0.150");
    s.load(
        t(0),
        [LeaseRecord {
            ip: old,
            mac: mac(5),
            hostname: Hostname::sanitize(b"box"),
            remaining: 600,
            client_id: Vec::new(),
        }],
    );
    let id = hw_like(mac(5));
    send(&mut s, t(1000), &msg(MessageType::Discover, mac(5)).id(&id));
    assert_eq!(s.poll_probe(), None);
    assert_eq!(one(&mut s).yiaddr(), old);
    let r = s.leases(t(1000)).find(|r| r.ip == old).unwrap();
    assert_eq!(r.client_id, id);
    // Now keyed by that id: another id on the MAC is another client.
    send(
        &mut s,
        t(1000),
        &msg(MessageType::Discover, mac(5)).id(b"\x00x"),
    );
    assert_ne!(s.poll_probe().unwrap().ip, old);
}

fn hw_like(m: MacAddr) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&m.0);
    v
}

#[test]
fn hostname_is_sanitised_into_records() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[(12, b"-evil;$(rm)")]);
    let r = s.leases(t(0)).find(|r| r.ip == a).unwrap();
    assert_eq!(r.hostname.to_string(), ".evil...rm.");
}

#[test]
fn rediscover_does_not_shorten_a_bound_lease() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[]);
    send(&mut s, t(10_000), &msg(MessageType::Discover, mac(1)));
    assert_eq!(one(&mut s).yiaddr(), a);
    let r = s.leases(t(10_000)).find(|r| r.ip == a).unwrap();
    assert_eq!(r.remaining, 3590);
    let l = s.table().get(a).unwrap();
    assert_eq!(l.state, LeaseState::Bound);
    assert!(!l.is_expired(t(120_000)), "BusyBox: expired after 60 s");
}

#[test]
fn max_leases_bounds_the_table() {
    let mut s = Server::new(small_pool("192.168.0.20", "192.168.0.254", 5), SIP, 0);
    for i in 0..5 {
        dora(&mut s, t(0), mac(i), &[(51, &(100 + i).to_be_bytes())]);
    }
    send(&mut s, t(50_000), &msg(MessageType::Discover, mac(50)));
    none(&mut s);
    assert_eq!(s.table().len(), 5);
    // After the first lease expires its entry is reused.
    send(&mut s, t(100_000), &msg(MessageType::Discover, mac(50)));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Offer));
    assert_eq!(s.table().len(), 5);
    assert!(s.leases(t(100_000)).all(|r| r.mac != mac(0)));
}

#[test]
fn reconfigure_keeps_leases() {
    let mut s = Server::new(config(), SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[(50, &ip("192.168.0.30").octets())]);
    let b = dora(&mut s, t(0), mac(2), &[(50, &ip("192.168.0.200").octets())]);
    let mut cfg = config();
    cfg.end = ip("192.168.0.100");
    cfg.options
        .insert_raw(3, ip("192.168.0.254").octets().to_vec());
    s.reconfigure(cfg, t(1000));
    assert_eq!(s.table().get(a).unwrap().state, LeaseState::Bound);
    assert_eq!(s.table().get(b), None, "outside the new pool");
    send(
        &mut s,
        t(2000),
        &msg(MessageType::Request, mac(1)).ciaddr(a),
    );
    commit(&mut s, t(2000));
    let o = one(&mut s);
    assert_eq!(o.yiaddr(), a);
    assert_eq!(o.opt(3).unwrap(), ip("192.168.0.254").octets());
}

#[test]
fn malformed_and_hostile_packets_get_no_reply() {
    let mut s = Server::new(config(), SIP, 2000);
    let good = msg(MessageType::Discover, mac(1)).bytes();
    let mut cases: Vec<Vec<u8>> = vec![Vec::new(), good[..239].to_vec(), vec![0u8; 3000]];
    let mut bad_cookie = good.clone();
    bad_cookie[field::COOKIE.start] = 0;
    cases.push(bad_cookie);
    let mut hlen = good.clone();
    hlen[field::HLEN] = 16;
    cases.push(hlen);
    let mut op = good.clone();
    op[field::OP] = 2;
    cases.push(op);
    for t53 in [&[0u8][..], &[9], &[1, 1], &[]] {
        cases.push(bootp(mac(1)).opt(53, t53).bytes());
    }
    for sid in [&[192u8][..], &[192, 168], &[192, 168, 0]] {
        cases.push(msg(MessageType::Discover, mac(1)).opt(54, sid).bytes());
        cases.push(
            msg(MessageType::Request, mac(1))
                .opt(54, sid)
                .req_ip(ip("192.168.0.50"))
                .bytes(),
        );
    }
    // An option running past the end, and a code without a length.
    let mut over = good[..240].to_vec();
    over.extend_from_slice(&[53, 1, 1, 6, 200, 1, 2, 3]);
    cases.push(over);
    let mut nolen = good[..240].to_vec();
    nolen.extend_from_slice(&[53, 1, 1, 12]);
    cases.push(nolen);
    // OFFER/ACK/NAK sent by a "client".
    for tp in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
        cases.push(msg(tp, mac(1)).bytes());
    }
    for (i, c) in cases.iter().enumerate() {
        s.handle_packet(t(i as u64), c);
        assert!(tx(&mut s).is_empty(), "case {i}");
        assert_eq!(s.poll_probe(), None, "case {i}");
        assert_eq!(s.unsynced_len(), 0, "case {i}");
    }
    // Random bytes behind a valid header: never a panic.
    let mut rng = crate::testutil::XorShift(0x9e37_79b9_7f4a_7c15);
    for i in 0..3000u64 {
        let mut p = good[..240].to_vec();
        let x = rng.next();
        let n = (x % 300) as usize;
        for k in 0..n {
            p.push((x >> (k % 57)) as u8 ^ k as u8);
        }
        s.handle_packet(t(10_000 + i), &p);
        let _ = tx(&mut s);
        while let Some(pr) = s.poll_probe() {
            s.handle_probe(t(10_000 + i), pr.ip, x % 2 == 0);
        }
        let _ = commit(&mut s, t(10_000 + i));
    }
}

#[test]
fn transmit_buffer_too_small_drops_the_reply() {
    let mut s = Server::new(config(), SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let mut small = [0u8; 100];
    assert_eq!(s.poll_transmit(&mut small), None);
}

/// A deterministic pseudo-random soak: many clients doing DORA, renew,
/// rebind, init-reboot, release, decline and re-DISCOVER over simulated
/// days, with probes answered, conflicting or timing out, and a driver
/// that commits lazily. Invariants: no address is held by two clients,
/// every ACKed lease is in the table until it expires, and no ACK
/// leaves before its record is durable.
#[test]
fn soak() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum St {
        Idle,
        Selecting,
        Bound { ip: Ipv4Addr, until: u64 },
    }
    struct Cl {
        mac: MacAddr,
        id: Option<Vec<u8>>,
        st: St,
        offered: Option<Ipv4Addr>,
        /// Replies to older requests are ignored, as real clients do.
        xid: u32,
        sent_at: u64,
    }
    let mut rng = crate::testutil::XorShift(0x2545_f491_4f6c_dd1d);
    let mut rnd = move |n: u64| rng.next() % n;
    let mut cfg = small_pool("192.168.0.20", "192.168.0.69", 45);
    cfg.static_leases[0].ip = ip("192.168.0.25");
    let mut s = Server::new(cfg, SIP, 300);
    let mut clients: Vec<Cl> = (0..80u32)
        .map(|i| Cl {
            mac: mac(1000 + i / 2 * 2),
            // Pairs share a MAC, distinguished by client id.
            id: match i % 4 {
                0 => None,
                1 => Some(vec![0, i as u8, 7]),
                2 => Some(hw_like(mac(1000 + i / 2 * 2))),
                _ => Some(vec![255, 1, 2, 3, 4, i as u8, 0, 1, 2, 3, 4, 5, 6, 7]),
            },
            st: St::Idle,
            offered: None,
            xid: 0,
            sent_at: 0,
        })
        .collect();
    // Client 0 and 1 share mac 1000 but 0 has no id: fine.
    let mut now: u64 = 0;
    let mut xid_owner: HashMap<u32, usize> = HashMap::new();
    // Durable records as (ip, mac, remaining) → count: each ACK must
    // find its own record there (remaining = the ACK's lease time).
    let mut durable: HashMap<(Ipv4Addr, MacAddr), Vec<u32>> = HashMap::new();
    let mut drained: Vec<LeaseRecord> = Vec::new();
    let mut through = 0u64;
    let mut probes: Vec<Probe> = Vec::new();
    let mut acks = 0;
    for step in 0..12_000u32 {
        now += rnd(20_000);
        let i = rnd(clients.len() as u64) as usize;
        let c = &clients[i];
        let xid = step + 1;
        xid_owner.insert(xid, i);
        let lease = 30 + rnd(5000) as u32;
        let act = rnd(10);
        let base = |tp| {
            let mut m = msg(tp, c.mac).xid(xid);
            if let Some(id) = &c.id {
                m = m.id(id);
            }
            m.lease(lease)
        };
        let m = match c.st {
            St::Idle | St::Selecting => {
                if let (St::Selecting, Some(a)) = (c.st, c.offered) {
                    Some(base(MessageType::Request).sid(SIP).req_ip(a))
                } else {
                    Some(base(MessageType::Discover))
                }
            }
            St::Bound { ip: a, .. } => match act {
                0..=3 => Some(base(MessageType::Request).ciaddr(a)),
                4 => Some(base(MessageType::Request).ciaddr(a).bcast()),
                5 => Some(base(MessageType::Request).req_ip(a)),
                6 => Some(base(MessageType::Release).sid(SIP).ciaddr(a)),
                7 => Some(base(MessageType::Decline).sid(SIP).req_ip(a)),
                8 => Some(base(MessageType::Discover)),
                _ => None,
            },
        };
        if let Some(m) = &m {
            clients[i].xid = xid;
            clients[i].sent_at = now;
            if matches!(m.mtype, Some(MessageType::Release | MessageType::Decline)) {
                if let St::Bound { ip: a, .. } = clients[i].st {
                    clients[i].st = St::Idle;
                    let _ = a;
                }
            }
            s.handle_packet(t(now), &m.bytes());
        }
        // Probes: most answered, some conflicting, some left to time out.
        while let Some(p) = s.poll_probe() {
            probes.push(p);
        }
        probes.retain(|p| match rnd(10) {
            0 => true,
            1 => {
                s.handle_probe(t(now), p.ip, true);
                false
            }
            _ => {
                s.handle_probe(t(now), p.ip, false);
                false
            }
        });
        if let Some(dl) = s.poll_timeout() {
            if dl.as_millis() <= now {
                s.handle_timeout(t(now));
                probes.clear();
            }
        }
        while let Some(p) = s.poll_probe() {
            s.handle_probe(t(now), p.ip, false);
        }
        // Group commit, lazily: drain sometimes, confirm sometimes.
        if rnd(3) != 0 {
            through = s.persist_seq();
            drained = records(&mut s);
        }
        if rnd(2) == 0 {
            for r in drained.drain(..) {
                durable.entry((r.ip, r.mac)).or_default().push(r.remaining);
            }
            s.handle_persisted(t(now), through);
        }
        for o in tx(&mut s) {
            let p = o.pkt();
            let Some(&ci) = xid_owner.get(&p.xid()) else {
                continue;
            };
            let cl = &mut clients[ci];
            let current = cl.xid == p.xid();
            if p.message_type() == Some(MessageType::Ack) {
                // Never an ACK before its record is durable.
                let a = p.yiaddr();
                let secs = p.option_u32(51).unwrap();
                let v = durable
                    .get_mut(&(a, p.client_mac()))
                    .expect("ACK before its record was durable");
                let k = v
                    .iter()
                    .position(|&r| r >= secs)
                    .expect("ACK before its record was durable");
                v.swap_remove(k);
            }
            if !current {
                continue;
            }
            match p.message_type() {
                Some(MessageType::Offer) => {
                    if matches!(cl.st, St::Idle) {
                        cl.st = St::Selecting;
                        cl.offered = Some(p.yiaddr());
                    }
                }
                Some(MessageType::Ack) => {
                    acks += 1;
                    let a = p.yiaddr();
                    let secs = u64::from(p.option_u32(51).unwrap());
                    // The lease runs from when the server decided.
                    cl.st = St::Bound {
                        ip: a,
                        until: cl.sent_at + secs * 1000,
                    };
                    cl.offered = None;
                }
                Some(MessageType::Nak) => {
                    cl.st = St::Idle;
                    cl.offered = None;
                }
                _ => {}
            }
        }
        // Offers not taken up in time: start over.
        for cl in clients.iter_mut() {
            if let St::Bound { until, .. } = cl.st {
                if until <= now {
                    cl.st = St::Idle;
                }
            }
            if cl.st == St::Selecting && rnd(50) == 0 {
                cl.st = St::Idle;
            }
        }
        // Invariants.
        if step % 50 == 0 {
            let recs: Vec<LeaseRecord> = s.leases(t(now)).collect();
            let mut seen = HashSet::new();
            for r in &recs {
                assert!(seen.insert(r.ip), "address twice in the table");
            }
            let mut holders: HashMap<Ipv4Addr, usize> = HashMap::new();
            for (ci, cl) in clients.iter().enumerate() {
                if let St::Bound { ip: a, until } = cl.st {
                    if until <= now + 1000 {
                        continue;
                    }
                    if let Some(other) = holders.insert(a, ci) {
                        panic!("{a} bound to clients {other} and {ci}");
                    }
                    let r = recs
                        .iter()
                        .find(|r| r.ip == a)
                        .expect("ACKed lease in records");
                    assert_eq!(r.mac, cl.mac, "ACKed lease held by its client");
                    assert!(u64::from(r.remaining) * 1000 + 1000 >= until - now);
                }
            }
        }
    }
    assert!(acks > 1000, "soak exercised the server ({acks} ACKs)");
}

/// 50,000 clients in a /16: the work per allocation (table steps) stays
/// flat as the pool fills, and a lease costs ≤ 64 bytes.
#[test]
fn large_pool_allocation_does_not_degrade() {
    let mut cfg = config();
    cfg.start = ip("10.0.0.1");
    cfg.end = ip("10.0.255.254");
    cfg.max_leases = 50_000;
    cfg.options = OptionSet::new();
    let mut s = Server::new(cfg, ip("10.0.0.1"), 0);
    let mut window = Vec::new();
    let mut last = 0;
    let mut buf = [0u8; MAX_LEN];
    let mut seen = HashSet::new();
    for i in 0..50_000u32 {
        let m = mac(i * 7919);
        send(&mut s, t(u64::from(i)), &msg(MessageType::Discover, m));
        let o = s.poll_transmit(&mut buf).unwrap();
        let a = Packet::new_checked(&buf[..o.len]).unwrap().yiaddr();
        assert!(seen.insert(a));
        let r = msg(MessageType::Request, m).sid(SIP).req_ip(a);
        let _ = r;
        let r = msg(MessageType::Request, m).sid(ip("10.0.0.1")).req_ip(a);
        send(&mut s, t(u64::from(i)), &r);
        assert!(s.unsynced_len() > 0);
        s.handle_persisted(t(u64::from(i)), s.persist_seq());
        assert!(s.poll_transmit(&mut buf).is_some());
        if (i + 1) % 5000 == 0 {
            let st = s.table().steps();
            window.push((st - last) as f64 / 5000.0);
            last = st;
        }
    }
    println!("table steps per client (DISCOVER+REQUEST), per 5000: {window:?}");
    let first = window[0];
    for w in &window {
        assert!(*w < 64.0, "{w} steps per client");
        assert!(*w < first * 3.0 + 8.0, "degraded: {window:?}");
    }
    assert_eq!(s.table().len(), 50_000);
    let per = s.table().memory_bytes() / s.table().len();
    println!("{per} bytes per lease including indexes");
    assert!(per <= 64, "{per} bytes per lease");
    // Full: the next client gets nothing (no expired entry to reuse).
    send(&mut s, t(60_000), &msg(MessageType::Discover, mac(1)));
    assert!(s.poll_transmit(&mut buf).is_none());
}

/// DISCOVER + REQUEST without persisting: the ACK stays held.
fn dora_held(s: &mut Server, now: Instant, m: MacAddr) -> Ipv4Addr {
    send(s, now, &msg(MessageType::Discover, m));
    let a = one(s).yiaddr();
    send(s, now, &msg(MessageType::Request, m).sid(SIP).req_ip(a));
    a
}

/// Issue 8 defect 3: while the journal cannot be written, held ACKs
/// and unsynced records grew with every REQUEST. Now: one held ACK per
/// client (the newest), at most MAX_HELD; past that, requests are
/// dropped and counted, and nothing changes in the table for them.
#[test]
fn held_acks_are_bounded_one_per_client_newest_wins() {
    let mut s = Server::new(small_pool("10.1.0.0", "10.1.255.255", 20_000), SIP, 0);
    let a = dora_held(&mut s, t(0), mac(1));
    for i in 0..100u32 {
        let r = msg(MessageType::Request, mac(1)).sid(SIP).req_ip(a).xid(i);
        send(&mut s, t(u64::from(i)), &r);
        none(&mut s);
    }
    assert_eq!((s.held_len(), s.unsynced_len()), (1, 1));
    assert!(s.held.items.len() <= 2 + 64 && s.unsynced.items.len() <= 2 + 64);
    for i in 2..=MAX_HELD as u32 {
        dora_held(&mut s, t(200), mac(1000 + i));
    }
    assert_eq!((s.held_len(), s.dropped()), (MAX_HELD, 0));
    // At the bound: the next client's REQUEST is dropped, not queued,
    // and its offer is not turned into a lease.
    let m = mac(50_000);
    send(&mut s, t(300), &msg(MessageType::Discover, m));
    let b = one(&mut s).yiaddr();
    send(
        &mut s,
        t(300),
        &msg(MessageType::Request, m).sid(SIP).req_ip(b),
    );
    assert_eq!((s.held_len(), s.dropped()), (MAX_HELD, 1));
    assert_eq!(s.table().get(b).unwrap().state, LeaseState::Offered);
    // A held client's retransmission still replaces its own ACK.
    let r = msg(MessageType::Request, mac(1))
        .sid(SIP)
        .req_ip(a)
        .xid(999);
    send(&mut s, t(301), &r);
    assert_eq!((s.held_len(), s.dropped()), (MAX_HELD, 1));
    // The disk works again: every held ACK leaves, the newest for mac 1.
    s.handle_persisted(t(400), s.persist_seq());
    let out = tx(&mut s);
    assert_eq!(out.len(), MAX_HELD);
    assert_eq!(s.dropped(), 0, "reported and reset");
    let first = out.iter().find(|o| o.yiaddr() == a).unwrap();
    assert_eq!(first.pkt().xid(), 999);
    // And the dropped client is served on its retransmission.
    send(
        &mut s,
        t(401),
        &msg(MessageType::Request, m).sid(SIP).req_ip(b),
    );
    assert_eq!(s.held_len(), 1);
}

#[test]
fn unsynced_changes_are_bounded() {
    let mut s = Server::new(small_pool("10.1.0.0", "10.1.255.255", 20_000), SIP, 0);
    // DORA + RELEASE: one unsynced change per client, no held ACK.
    for i in 1..=MAX_UNSYNCED as u32 {
        let a = dora_held(&mut s, t(0), mac(1000 + i));
        let r = msg(MessageType::Release, mac(1000 + i)).sid(SIP).ciaddr(a);
        send(&mut s, t(0), &r);
    }
    assert_eq!((s.unsynced_len(), s.held_len()), (MAX_UNSYNCED, 0));
    assert_eq!(s.dropped(), 0);
    // At the bound: a new client's DISCOVER is dropped and counted.
    send(&mut s, t(1), &msg(MessageType::Discover, mac(90_000)));
    none(&mut s);
    assert_eq!((s.unsynced_len(), s.dropped()), (MAX_UNSYNCED, 1));
    s.handle_persisted(t(2), s.persist_seq());
    assert_eq!((s.unsynced_len(), s.dropped()), (0, 0));
    send(&mut s, t(3), &msg(MessageType::Discover, mac(90_000)));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Offer));
}

/// Issue 8 defect 7: one client could park every address by declining
/// each offer in turn. Now at most 4 at once: a fifth DECLINE parks
/// the declined address and frees the client's oldest parked one.
#[test]
fn one_client_parks_at_most_four_addresses_by_decline() {
    let mut s = Server::new(config(), SIP, 0);
    let parked = |s: &Server, a: Ipv4Addr| {
        s.table()
            .get(a)
            .is_some_and(|l| l.state == LeaseState::Declined)
    };
    let decline = |s: &mut Server, now: Instant, m: MacAddr, a: Ipv4Addr| {
        send(s, now, &msg(MessageType::Decline, m).sid(SIP).req_ip(a));
    };
    // Another client parks one address first.
    let other = dora(&mut s, t(0), mac(2), &[]);
    decline(&mut s, t(0), mac(2), other);
    commit(&mut s, t(0));
    let m = mac(1);
    let mut declined = Vec::new();
    for i in 0..7u64 {
        let a = dora(&mut s, t(1000 * i), m, &[]);
        decline(&mut s, t(1000 * i), m, a);
        declined.push(a);
        if i == 4 {
            assert!(
                s.unsynced().any(|c| *c == Change::Forget(declined[0])),
                "the un-parking is journaled"
            );
        }
        commit(&mut s, t(1000 * i));
    }
    // A freed address is the first free one at the client's hash
    // position again, so it comes back: the client cycles through five
    // addresses, four parked at any time.
    assert_eq!(declined[5..], declined[..2]);
    let distinct: HashSet<Ipv4Addr> = declined.iter().copied().collect();
    let still = distinct.iter().filter(|&&a| parked(&s, a)).count();
    assert_eq!(still, 4);
    assert!(!parked(&s, declined[2]), "the oldest parked one was freed");
    assert!(s.table().is_available(t(7000), declined[2]));
    assert!(parked(&s, other), "another client's hold is not touched");
}

/// The per-client DECLINE bookkeeping is fed from the network: the
/// parked list is bounded by the table (pruned to live holds), the
/// warned-clients list by DECLINE_WARNED_MAX.
#[test]
fn decline_bookkeeping_is_bounded() {
    let mut s = Server::new(small_pool("10.2.0.0", "10.2.15.255", 4000), SIP, 0);
    for c in 0..(DECLINE_WARNED_MAX as u32 + 6) {
        let m = mac(5000 + c);
        for i in 0..(MAX_DECLINED_PER_CLIENT as u64 + 1) {
            let a = dora(&mut s, t(i), m, &[]);
            send(
                &mut s,
                t(i),
                &msg(MessageType::Decline, m).sid(SIP).req_ip(a),
            );
            commit(&mut s, t(i));
        }
    }
    assert_eq!(s.decline_warned.len(), DECLINE_WARNED_MAX);
    let holds = s
        .leases(t(10))
        .filter(|r| r.is_hold() && r.remaining > 0)
        .count();
    assert_eq!(holds, (DECLINE_WARNED_MAX + 6) * MAX_DECLINED_PER_CLIENT);
    assert!(s.parked.len() <= holds);
    // Once the holds expire, the next DECLINE prunes the list.
    let m = mac(90_000);
    let a = dora(&mut s, t(3_700_000), m, &[]);
    send(
        &mut s,
        t(3_700_000),
        &msg(MessageType::Decline, m).sid(SIP).req_ip(a),
    );
    assert_eq!(s.parked.len(), 1);
}

/// The server with its persistence (store over a MemDisk, persister)
/// driven the way udhcpd drives them, on a virtual clock.
mod durable {
    use super::*;
    use crate::lease::memdisk::MemDisk;
    use crate::lease::persist::{Action, PersistConfig, Persister, Sizes};
    use crate::lease::store::LeaseStore;
    use crate::testutil::XorShift;
    use crate::time::UnixTime;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Wall clock at virtual time 0 (mid-2025).
    const WALL0: i64 = 1_750_000_000;
    const LEASES: &str = "/var/lib/udhcpd.leases";

    fn wall(now: Instant) -> UnixTime {
        UnixTime::from_secs(WALL0 + (now.as_millis() / 1000) as i64)
    }

    fn secs(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    pub(super) struct Node {
        pub(super) disk: MemDisk,
        pub(super) server: Server,
        pub(super) store: LeaseStore<MemDisk>,
        pub(super) persister: Persister,
        pub(super) cfg: ServerConfig,
        /// Whether the disk takes writes (else held ACKs pile up).
        pub(super) writable: bool,
    }

    impl Node {
        pub(super) fn start(disk: MemDisk, cfg: ServerConfig, now: Instant) -> Node {
            disk.mkdir_all(Path::new("/var/lib"));
            let (store, records, _) =
                LeaseStore::open(disk.clone(), Path::new(LEASES), wall(now)).unwrap();
            let mut server = Server::new(cfg.clone(), SIP, 0);
            server.load(now, records);
            let persister = Persister::new(PersistConfig::from_server(&cfg), now);
            let mut n = Node {
                disk,
                server,
                store,
                persister,
                cfg,
                writable: true,
            };
            n.pump(now);
            n
        }

        /// Executes the persister's answers, as udhcpd does.
        pub(super) fn pump(&mut self, now: Instant) {
            for _ in 0..8 {
                let sizes = Sizes {
                    unsynced: self.server.unsynced_len(),
                    journal_len: self.store.journal_len(),
                    compacted_len: self.store.compacted_len(),
                    table_len: self.server.table().len(),
                };
                match self.persister.poll_action(now, &sizes) {
                    Action::Append => {
                        let through = self.server.persist_seq();
                        let r = if self.writable {
                            self.store.append(wall(now), self.server.unsynced())
                        } else {
                            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
                        };
                        if r.is_ok() {
                            self.server.handle_persisted(now, through);
                        }
                        let r = r
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| e as &dyn core::fmt::Display);
                        self.persister.handle_append(now, r);
                    }
                    Action::Compact => {
                        let through = self.server.persist_seq();
                        let r = if self.writable {
                            self.store.compact(wall(now), || self.server.leases(now))
                        } else {
                            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
                        };
                        if r.is_ok() {
                            self.server.handle_persisted(now, through);
                        }
                        let r = r
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| e as &dyn core::fmt::Display);
                        self.persister.handle_compact(now, r);
                    }
                    Action::Notify => self.persister.handle_notify_started(now, false),
                    Action::KillNotify => self.persister.handle_notify_exited(now),
                    Action::Idle => break,
                }
            }
        }

        pub(super) fn send(&mut self, now: Instant, m: &Msg) -> Vec<Out> {
            self.server.handle_packet(now, &m.bytes());
            self.pump(now);
            tx(&mut self.server)
        }

        /// DISCOVER + REQUEST; the ACKed address, if an ACK came.
        pub(super) fn dora(&mut self, now: Instant, m: &Msg) -> Option<Ipv4Addr> {
            let mut d = m.clone();
            d.mtype = Some(MessageType::Discover);
            let offer = self
                .send(now, &d)
                .into_iter()
                .find(|o| o.mtype() == Some(MessageType::Offer))?;
            let mut r = m.clone().sid(SIP).req_ip(offer.yiaddr());
            r.mtype = Some(MessageType::Request);
            self.send(now, &r)
                .into_iter()
                .find(|o| o.mtype() == Some(MessageType::Ack))
                .map(|o| o.yiaddr())
        }

        /// kill -9 (or, with `power_cut`, the power goes) and a restart
        /// on the same disk.
        pub(super) fn restart(self, now: Instant, power_cut: bool) -> Node {
            if power_cut {
                self.disk.power_cut();
            }
            Node::start(self.disk, self.cfg, now)
        }
    }

    /// The table as it would be after a power cut now and a restart
    /// (what the disk durably holds, replayed and loaded).
    pub(super) fn replayed(n: &Node, now: Instant) -> BTreeMap<Ipv4Addr, LeaseRecord> {
        let copy = n.disk.durable_copy();
        let (_, records, _) = LeaseStore::open(copy, Path::new(LEASES), wall(now)).unwrap();
        let mut s = Server::new(n.cfg.clone(), SIP, 0);
        s.load(now, records);
        s.leases(now).map(|r| (r.ip, r)).collect()
    }

    /// Replay reproduces the live table exactly: every entry but
    /// unpersisted offer holds is there, with its client and time; no
    /// entry the live table lacks comes back.
    pub(super) fn assert_replay_matches(n: &Node, now: Instant, what: &str) {
        let back = replayed(n, now);
        let live: BTreeMap<Ipv4Addr, LeaseRecord> =
            n.server.leases(now).map(|r| (r.ip, r)).collect();
        for (ip, r) in &live {
            let offered = n.server.table().get(*ip).map(|l| l.state) == Some(LeaseState::Offered);
            if offered {
                continue;
            }
            assert_eq!(back.get(ip), Some(r), "{what}: {ip} differs after replay");
        }
        for ip in back.keys() {
            assert!(live.contains_key(ip), "{what}: {ip} came back after replay");
        }
        assert!(back.len() <= n.server.table().max_leases());
    }

    /// Issue 8 defect 1: with max_leases below the pool size, expired
    /// leases evicted to make room were not journaled; on restart the
    /// loader stopped when the table was full and dropped the newest
    /// (ACKed, live) leases.
    #[test]
    fn eviction_is_journaled_so_a_restart_keeps_every_acked_lease() {
        let cfg = small_pool("192.168.0.20", "192.168.0.39", 3);
        let mut n = Node::start(MemDisk::new(), cfg, secs(0));
        for i in 1..=3 {
            n.dora(secs(0), &msg(MessageType::Discover, mac(i)).lease(60))
                .unwrap();
        }
        // All three expire; two new clients take their places.
        let mut acked = Vec::new();
        for i in 4..=5 {
            let a = n
                .dora(secs(100), &msg(MessageType::Discover, mac(i)).lease(3600))
                .unwrap();
            acked.push((a, mac(i)));
        }
        assert_replay_matches(&n, secs(100), "after evictions");
        let mut n = n.restart(secs(101), true);
        for (a, m) in &acked {
            let l = n
                .server
                .table()
                .get(*a)
                .expect("ACKed lease lost by restart");
            assert_eq!((l.mac, l.state), (*m, LeaseState::Bound));
            // The client renews and keeps its address.
            let r = msg(MessageType::Request, *m).ciaddr(*a).lease(3600);
            let out = n.send(secs(102), &r);
            assert_eq!(out.len(), 1);
            assert_eq!(
                (out[0].mtype(), out[0].yiaddr()),
                (Some(MessageType::Ack), *a)
            );
        }
    }

    /// The loader never drops a live lease for an expired one, even for
    /// a journal written without forget entries (BusyBox stops at
    /// max_leases and keeps the oldest).
    #[test]
    fn load_over_max_leases_drops_expired_entries_first() {
        let mut tb = LeaseTable::new(&small_pool("192.168.0.20", "192.168.0.39", 3), SIP);
        let rec = |n: u8, remaining: u32| LeaseRecord {
            ip: Ipv4Addr::new(192, 168, 0, 20 + n),
            mac: if n == 9 {
                MacAddr::ZERO
            } else {
                mac(u32::from(n))
            },
            hostname: Hostname::EMPTY,
            remaining,
            client_id: Vec::new(),
        };
        let dropped = tb.load(
            t(0),
            [
                rec(1, 0),
                rec(2, 0),
                rec(3, 500),
                rec(9, 100),
                rec(4, 600),
                rec(5, 700),
            ],
        );
        assert_eq!(dropped, 3);
        let ips: Vec<u8> = tb.records(t(0)).map(|r| r.ip.octets()[3]).collect();
        let mut ips = ips;
        ips.sort_unstable();
        assert_eq!(
            ips,
            [23, 24, 25],
            "the three live leases, not the expired ones or the hold"
        );
        // Over the bound among live leases only: the oldest goes.
        let mut tb = LeaseTable::new(&small_pool("192.168.0.20", "192.168.0.39", 2), SIP);
        assert_eq!(tb.load(t(0), [rec(1, 10), rec(2, 20), rec(3, 30)]), 1);
        assert!(tb.get(Ipv4Addr::new(192, 168, 0, 21)).is_none());
    }

    /// Issue 8 defect 6: a record whose checksum holds but whose
    /// remaining time is beyond anything the config grants is clamped
    /// on load, not kept for 136 years.
    #[test]
    fn impossible_remaining_times_are_clamped_on_load() {
        let mut cfg = small_pool("192.168.0.20", "192.168.0.39", 10);
        cfg.decline_time = 500;
        let mut s = Server::new(cfg, SIP, 0);
        let rec = |n: u8, m: MacAddr| LeaseRecord {
            ip: Ipv4Addr::new(192, 168, 0, n),
            mac: m,
            hostname: Hostname::EMPTY,
            remaining: u32::MAX - 1,
            client_id: Vec::new(),
        };
        s.load(secs(10), [rec(21, mac(1)), rec(22, MacAddr::ZERO)]);
        let l = s.table().get(Ipv4Addr::new(192, 168, 0, 21)).unwrap();
        assert_eq!(l.expires, secs(10 + 3600), "clamped to max_lease");
        let h = s.table().get(Ipv4Addr::new(192, 168, 0, 22)).unwrap();
        assert_eq!(
            h.expires,
            secs(10 + 3600),
            "holds: max(decline, conflict, offer)"
        );
    }

    /// Random operation sequences (DORA, DISCOVER only, renew, release,
    /// decline, time passing, compactions, restarts) against a small
    /// pool under max_leases: after every step, replaying what is on
    /// disk gives exactly the live table.
    #[test]
    fn replay_reproduces_the_table_random() {
        for seed in 1..=40u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut cfg = small_pool("192.168.0.20", "192.168.0.35", 6);
            cfg.decline_time = 200;
            cfg.offer_time = 30;
            let mut n = Node::start(MemDisk::new(), cfg, secs(0));
            let mut now = 0u64;
            let client = |i: usize| {
                let m = msg(MessageType::Discover, mac(100 + i as u32)).lease([30, 60, 600][i % 3]);
                match i % 3 {
                    0 => m,
                    1 => {
                        let mut id = vec![1];
                        id.extend_from_slice(&mac(100 + i as u32).0);
                        m.id(&id)
                    }
                    _ => m.id(format!("cid-{i}").as_bytes()),
                }
            };
            let mut bound: Vec<Option<Ipv4Addr>> = vec![None; 20];
            for step in 0..300 {
                let i = rng.below(20);
                match rng.below(10) {
                    0..=3 => bound[i] = n.dora(secs(now), &client(i)),
                    4 => {
                        let _ = n.send(secs(now), &client(i));
                    }
                    5 => {
                        if let Some(a) = bound[i] {
                            let mut r = client(i).ciaddr(a);
                            r.mtype = Some(MessageType::Request);
                            let _ = n.send(secs(now), &r);
                        }
                    }
                    6 => {
                        if let Some(a) = bound[i].take() {
                            let mut r = client(i).ciaddr(a).sid(SIP);
                            r.mtype = Some(MessageType::Release);
                            let _ = n.send(secs(now), &r);
                        }
                    }
                    7 => {
                        if let Some(a) = bound[i].take() {
                            let mut r = client(i).req_ip(a).sid(SIP);
                            r.mtype = Some(MessageType::Decline);
                            let _ = n.send(secs(now), &r);
                        }
                    }
                    8 => now += rng.below(90) as u64,
                    _ => {
                        if rng.below(4) == 0 {
                            n = n.restart(secs(now), rng.below(2) == 0);
                        } else {
                            n.persister.request_compaction(secs(now));
                            n.pump(secs(now));
                        }
                    }
                }
                assert_replay_matches(&n, secs(now), &format!("seed {seed} step {step}"));
            }
        }
    }

    /// ACKs under random disk faults (failed writes, syncs, renames,
    /// directory syncs, torn writes) and power cuts at random moments
    /// (torn tails kept): after every step, every lease a client was
    /// ACKed and still holds is in what a power cut now would leave,
    /// with its client and at least its expiry, and no two clients
    /// hold the same address.
    #[test]
    fn acked_leases_survive_random_faults_and_power_cuts() {
        use crate::lease::memdisk::Op;
        let ops = [
            Op::Write,
            Op::SyncData,
            Op::SyncAll,
            Op::SyncDir,
            Op::Rename,
            Op::CreateNew,
            Op::SetLen,
            Op::OpenAppend,
        ];
        let mut acks_seen = 0u32;
        for seed in 1..=60u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
            let mut cfg = small_pool("192.168.0.20", "192.168.0.31", 8);
            cfg.offer_time = 20;
            let mut n = Node::start(MemDisk::new(), cfg, secs(0));
            let mut now = 0u64;
            // Per client: the address and expiry (s) of its last ACK.
            let mut held: Vec<Option<(Ipv4Addr, u64)>> = vec![None; 14];
            // When each client last sent a REQUEST: a held ACK released
            // later counts its lease from then (RFC 2131 §4.4.1).
            let mut asked = [0u64; 14];
            let client = |i: usize| {
                let m = mac(300 + i as u32);
                let d = msg(MessageType::Discover, m).lease([40, 90, 600][i % 3]);
                if i % 2 == 0 {
                    d
                } else {
                    d.id(format!("id{i}").as_bytes())
                }
            };
            let ack_of = |out: &[Out], i: usize| {
                out.iter()
                    .find(|o| {
                        o.mtype() == Some(MessageType::Ack)
                            && o.pkt().client_mac() == mac(300 + i as u32)
                    })
                    .map(|o| (o.yiaddr(), u64::from(o.lease().unwrap())))
            };
            for step in 0..250 {
                let i = rng.below(held.len());
                match rng.below(12) {
                    0..=3 => {
                        let mut d = client(i);
                        d.mtype = Some(MessageType::Discover);
                        let out = n.send(secs(now), &d);
                        if let Some(o) = out.iter().find(|o| o.mtype() == Some(MessageType::Offer))
                        {
                            let mut r = client(i).sid(SIP).req_ip(o.yiaddr());
                            r.mtype = Some(MessageType::Request);
                            asked[i] = now;
                            let out = n.send(secs(now), &r);
                            if let Some((a, l)) = ack_of(&out, i) {
                                held[i] = Some((a, now + l));
                                acks_seen += 1;
                            }
                        }
                    }
                    4 => {
                        if let Some((a, _)) = held[i] {
                            let mut r = client(i).ciaddr(a);
                            r.mtype = Some(MessageType::Request);
                            asked[i] = now;
                            let out = n.send(secs(now), &r);
                            if let Some((b, l)) = ack_of(&out, i) {
                                assert_eq!(a, b);
                                held[i] = Some((a, now + l));
                                acks_seen += 1;
                            }
                        }
                    }
                    5 => {
                        if let Some((a, _)) = held[i].take() {
                            let mut r = client(i).ciaddr(a).sid(SIP);
                            r.mtype = Some(MessageType::Release);
                            let _ = n.send(secs(now), &r);
                        }
                    }
                    6 => now += rng.below(60) as u64,
                    7 | 8 => {
                        let op = ops[rng.below(ops.len())];
                        let times = [1, 2, u32::MAX][rng.below(3)];
                        n.disk.fail(op, None, libc::EIO, times);
                    }
                    9 => n.disk.tear_next_write(rng.below(60), libc::ENOSPC),
                    10 => n.disk.clear_faults(),
                    _ => {
                        // Power cut at this moment, a torn tail kept.
                        let keep = rng.below(200);
                        n.disk.power_cut_torn(|_, len| keep.min(len));
                        // A disk that fails at startup stops udhcpd;
                        // the admin fixes it and starts it again.
                        n.disk.clear_faults();
                        n = Node::start(n.disk.clone(), n.cfg.clone(), secs(now));
                    }
                }
                // Held ACKs are retried by the persister at its deadline.
                if let Some(t) = n.persister.poll_timeout() {
                    if t <= secs(now) {
                        n.pump(secs(now));
                        // ACKs released now: their clients hold them.
                        for o in tx(&mut n.server) {
                            let c = (0..held.len())
                                .find(|&c| mac(300 + c as u32) == o.pkt().client_mac());
                            if let (Some(c), Some(MessageType::Ack)) = (c, o.mtype()) {
                                let l = u64::from(o.lease().unwrap());
                                held[c] = Some((o.yiaddr(), asked[c] + l));
                                acks_seen += 1;
                            }
                        }
                    }
                }
                let back = replayed(&n, secs(now));
                let mut owners = BTreeMap::new();
                for (c, h) in held.iter().enumerate() {
                    let Some((a, exp)) = *h else { continue };
                    if exp <= now {
                        continue;
                    }
                    assert!(
                        owners.insert(a, c).is_none(),
                        "seed {seed} step {step}: {a} ACKed to two clients"
                    );
                    let r = back.get(&a).unwrap_or_else(|| {
                        panic!("seed {seed} step {step}: ACKed {a} of client {c} not durable")
                    });
                    assert_eq!(r.mac, mac(300 + c as u32), "seed {seed} step {step}: {a}");
                    assert!(
                        now + u64::from(r.remaining) + 1 >= exp,
                        "seed {seed} step {step}: {a} durable until {} < ACKed {exp}",
                        now + u64::from(r.remaining)
                    );
                }
            }
        }
        assert!(
            acks_seen > 3000,
            "only {acks_seen} ACKs: the test exercised too little"
        );
    }
}

#[test]
fn rapid_commit_discover_gets_a_durable_ack_only_when_enabled() {
    // Off (the default): option 80 changes nothing.
    let mut s = Server::new(config(), SIP, 0);
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1)).opt(80, &[]),
    );
    let o = one(&mut s);
    assert_eq!(o.mtype(), Some(MessageType::Offer));
    assert!(!o.pkt().has_empty_option(80));
    assert!(records(&mut s).is_empty());

    let cfg = ServerConfig {
        rapid_commit: true,
        ..config()
    };
    let mut s = Server::new(cfg, SIP, 0);
    // Without option 80, or with a malformed one: the usual OFFER.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(2)));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Offer));
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(3)).opt(80, &[1]),
    );
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Offer));
    assert!(records(&mut s).is_empty());
    // With it: bound, and the ACK leaves only once its record is durable.
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(4)).xid(9).opt(80, &[]),
    );
    none(&mut s);
    let recs = commit(&mut s, t(1));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].mac, mac(4));
    let a = one(&mut s);
    assert_eq!(a.mtype(), Some(MessageType::Ack));
    assert_eq!(a.pkt().xid(), 9);
    assert_eq!(a.yiaddr(), recs[0].ip);
    assert!(a.pkt().has_empty_option(80));
    // The client is bound: a renewal is ACKed.
    let r = msg(MessageType::Request, mac(4)).ciaddr(a.yiaddr()).xid(10);
    send(&mut s, t(2), &r);
    commit(&mut s, t(2));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Ack));
}

mod nets;
mod rfc;
