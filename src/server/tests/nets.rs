//! Several networks in one process: selection by giaddr, 118, 82.5;
//! relayed clients never get a local address; one lease file; reloads.

use super::*;

const SITE: &str = "\
interface eth0
start 192.168.0.20
end 192.168.0.200
opt subnet 255.255.255.0
opt router 192.168.0.1
opt lease 3600
subnet_selection yes

network guest
relay_subnet 10.2.0.0/24
start 10.2.0.10
end 10.2.0.99
opt subnet 255.255.255.0
opt router 10.2.0.1
opt lease 600
static_lease 02:00:00:00:00:07 10.2.0.7

network lab
relay_subnet 10.3.0.0/16
start 10.3.1.1
end 10.3.1.9
";

fn site() -> ServerConfig {
    crate::conf::parse(SITE, "site.conf").unwrap().config
}

fn in_range(a: Ipv4Addr, lo: &str, hi: &str) -> bool {
    ip(lo) <= a && a <= ip(hi)
}

/// A relay on 10.2.0.1 gets a guest address with the guest options and
/// lease time, sent to the relay; a local client gets a local one; the
/// lab relay a lab one. Probing (-a) is never used for relayed networks.
#[test]
fn giaddr_selects_the_network() {
    let mut s = Server::new(site(), SIP, 2000);
    s.set_probe_ahead(0);
    let d = msg(MessageType::Discover, mac(1)).giaddr(ip("10.2.0.1"));
    send(&mut s, t(0), &d);
    assert_eq!(s.poll_probe(), None, "relayed: no ARP probe");
    let o = one(&mut s);
    assert!(
        in_range(o.yiaddr(), "10.2.0.10", "10.2.0.99"),
        "{}",
        o.yiaddr()
    );
    assert_eq!(o.opt(3).unwrap(), [10, 2, 0, 1]);
    assert_eq!(o.lease(), Some(600));
    assert_eq!(o.opt(54).unwrap(), SIP.octets());
    assert_eq!(o.dest, Destination::Relay(ip("10.2.0.1")));
    // The lab relay.
    let d = msg(MessageType::Discover, mac(2)).giaddr(ip("10.3.7.1"));
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert!(in_range(o.yiaddr(), "10.3.1.1", "10.3.1.9"));
    // A local client: probed, local address.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(3)));
    let p = s.poll_probe().expect("local: probed");
    s.handle_probe(t(10), p.ip, false);
    let o = one(&mut s);
    assert!(in_range(o.yiaddr(), "192.168.0.20", "192.168.0.200"));
    assert_eq!(o.opt(3).unwrap(), [192, 168, 0, 1]);
    // A relay on a link we do not serve: no reply, never a local address.
    let d = msg(MessageType::Discover, mac(4)).giaddr(ip("172.16.0.1"));
    send(&mut s, t(0), &d);
    none(&mut s);
}

/// The full relayed DORA, the static lease of a relayed network, and one
/// lease file for all: a restart loads every network's leases back.
#[test]
fn relayed_dora_and_one_lease_file() {
    let mut s = Server::new(site(), SIP, 0);
    let g = ip("10.2.0.1");
    let d = msg(MessageType::Discover, mac(1)).giaddr(g);
    send(&mut s, t(0), &d);
    let a = one(&mut s).yiaddr();
    let r = msg(MessageType::Request, mac(1))
        .giaddr(g)
        .sid(SIP)
        .req_ip(a);
    send(&mut s, t(0), &r);
    let recs = commit(&mut s, t(0));
    assert_eq!((recs.len(), recs[0].ip, recs[0].remaining), (1, a, 600));
    let ack = one(&mut s);
    assert_eq!((ack.mtype(), ack.yiaddr()), (Some(MessageType::Ack), a));
    // The guest static lease.
    let sm = MacAddr([2, 0, 0, 0, 0, 7]);
    send(&mut s, t(0), &msg(MessageType::Discover, sm).giaddr(g));
    assert_eq!(one(&mut s).yiaddr(), ip("10.2.0.7"));
    // A local lease too.
    let l = dora(&mut s, t(0), mac(5), &[]);
    let file: Vec<LeaseRecord> = s.leases(t(1000)).collect();
    assert_eq!(file.len(), 2);
    let mut s2 = Server::new(site(), SIP, 0);
    assert_eq!(s2.load(t(0), file.clone()), 0);
    assert_eq!(s2.table_len(), 2);
    // The guest client renews through its relay: ACKed from its network.
    let renew = msg(MessageType::Request, mac(1)).giaddr(g).ciaddr(a);
    send(&mut s2, t(1), &renew);
    commit(&mut s2, t(1));
    assert_eq!(one(&mut s2).mtype(), Some(MessageType::Ack));
    // The local one asking through the guest relay gets nothing local.
    send(&mut s2, t(2), &msg(MessageType::Discover, mac(5)).giaddr(g));
    let o = one(&mut s2);
    assert!(in_range(o.yiaddr(), "10.2.0.10", "10.2.0.99"));
    assert_ne!(o.yiaddr(), l);
}

/// RFC 3527: the link-selection sub-option overrides giaddr; RFC 3011:
/// option 118 selects the subnet only with `subnet_selection yes`, and a
/// subnet we do not serve gets silence.
#[test]
fn link_selection_and_subnet_selection() {
    let mut s = Server::new(site(), SIP, 0);
    let ls = [1, 2, b'p', 1, 5, 4, 10, 3, 0, 0];
    let d = msg(MessageType::Discover, mac(1))
        .giaddr(ip("10.2.0.1"))
        .opt(82, &ls);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert!(
        in_range(o.yiaddr(), "10.3.1.1", "10.3.1.9"),
        "{}",
        o.yiaddr()
    );
    assert_eq!(o.dest, Destination::Relay(ip("10.2.0.1")));
    assert_eq!(o.opt(82).unwrap(), ls, "echoed");
    let d = msg(MessageType::Discover, mac(2))
        .giaddr(ip("10.2.0.1"))
        .opt(118, &[10, 3, 0, 0]);
    send(&mut s, t(0), &d);
    assert!(in_range(one(&mut s).yiaddr(), "10.3.1.1", "10.3.1.9"));
    let d = msg(MessageType::Discover, mac(3))
        .giaddr(ip("10.2.0.1"))
        .opt(118, &[172, 16, 0, 0]);
    send(&mut s, t(0), &d);
    none(&mut s);
    // Not honoured unless configured: giaddr decides.
    let mut cfg = site();
    cfg.subnet_selection = false;
    let mut s = Server::new(cfg, SIP, 0);
    let d = msg(MessageType::Discover, mac(2))
        .giaddr(ip("10.2.0.1"))
        .opt(118, &[10, 3, 0, 0]);
    send(&mut s, t(0), &d);
    assert!(in_range(one(&mut s).yiaddr(), "10.2.0.10", "10.2.0.99"));
}

/// SIGHUP: leases of every network kept; a lease whose network is gone is
/// kept in the lease file until it expires and never offered.
#[test]
fn reload_keeps_leases_and_orphans_expire() {
    let mut s = Server::new(site(), SIP, 0);
    let g = ip("10.2.0.1");
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)).giaddr(g));
    let a = one(&mut s).yiaddr();
    send(
        &mut s,
        t(0),
        &msg(MessageType::Request, mac(1))
            .giaddr(g)
            .sid(SIP)
            .req_ip(a),
    );
    commit(&mut s, t(0));
    one(&mut s);
    let lab = ip("10.3.7.1");
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(2)).giaddr(lab),
    );
    let b = one(&mut s).yiaddr();
    send(
        &mut s,
        t(0),
        &msg(MessageType::Request, mac(2))
            .giaddr(lab)
            .sid(SIP)
            .req_ip(b),
    );
    commit(&mut s, t(0));
    one(&mut s);
    // Same config: both kept.
    s.reconfigure(site(), t(1000));
    assert_eq!(s.table_len(), 2);
    // The guest section removed.
    let text = SITE.replace("network guest\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.10\nend 10.2.0.99\nopt subnet 255.255.255.0\nopt router 10.2.0.1\nopt lease 600\nstatic_lease 02:00:00:00:00:07 10.2.0.7\n", "");
    let cfg = crate::conf::parse(&text, "site.conf").unwrap().config;
    assert_eq!(cfg.networks.len(), 1);
    s.reconfigure(cfg, t(2000));
    assert_eq!(s.table_len(), 1, "the lab lease");
    let recs: Vec<LeaseRecord> = s.leases(t(2000)).collect();
    let orphan = recs.iter().find(|r| r.ip == a).expect("orphan kept");
    assert_eq!(orphan.remaining, 598);
    // Never offered: the guest relay is no network now.
    send(
        &mut s,
        t(3000),
        &msg(MessageType::Discover, mac(1)).giaddr(g),
    );
    none(&mut s);
    // Gone once expired.
    assert!(s.leases(t(601_000)).all(|r| r.ip != a));
}

/// Classes: exact match on 60, 77, 82.1 or a MAC prefix; the first
/// matching class's options replace the network's (same code) or add to
/// them; host_option wins over both; a class is per network.
#[test]
fn classes_and_host_options() {
    let text = format!(
        "{SITE}class phones vendor \"Polycom\"\nclass_option phones tftp 10.3.0.5\nclass_option phones router 10.3.0.254\n\
         class port7 circuit 00:07\nclass_option port7 dns 10.3.0.53\nclass hp mac 02:aa\nclass_option hp domain printers\n\
         class lab user 6c6162\nclass_option lab domain lab\nhost_option 02:00:00:00:00:09 router 10.3.0.9\n"
    );
    let cfg = crate::conf::parse(&text, "site.conf").unwrap().config;
    let lab = &cfg.networks[1].config;
    assert_eq!(lab.classes.len(), 4);
    assert!(cfg.classes.is_empty(), "classes belong to their section");
    let mut s = Server::new(cfg, SIP, 0);
    let relay = ip("10.3.0.1");
    let d = msg(MessageType::Discover, mac(1))
        .giaddr(relay)
        .opt(60, b"Polycom");
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.opt(66).unwrap(), b"10.3.0.5");
    assert_eq!(o.opt(3).unwrap(), [10, 3, 0, 254]);
    // Exact: a longer vendor string is not the class.
    let d = msg(MessageType::Discover, mac(2))
        .giaddr(relay)
        .opt(60, b"Polycom-x");
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!((o.opt(66), o.opt(3)), (None, None));
    // Circuit-id from the relay.
    let d = msg(MessageType::Discover, mac(3))
        .giaddr(relay)
        .opt(82, &[1, 2, 0, 7]);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(6).unwrap(), [10, 3, 0, 53]);
    // MAC prefix, user class.
    let d = msg(MessageType::Discover, MacAddr([2, 0xaa, 1, 2, 3, 4])).giaddr(relay);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(15).unwrap(), b"printers");
    let d = msg(MessageType::Discover, mac(4))
        .giaddr(relay)
        .opt(77, b"lab");
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.opt(15).unwrap(), b"lab");
    assert_eq!(o.codes()[..5], [53, 54, 51, 58, 59]);
    // host_option over the class.
    let d = msg(MessageType::Discover, mac(9))
        .giaddr(relay)
        .opt(60, b"Polycom");
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.opt(3).unwrap(), [10, 3, 0, 9]);
    assert_eq!(o.opt(66).unwrap(), b"10.3.0.5");
    // Not on another network.
    let d = msg(MessageType::Discover, mac(5))
        .giaddr(ip("10.2.0.1"))
        .opt(60, b"Polycom");
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(66), None);
}

/// The DECLINE limit (at most MAX_DECLINED_PER_CLIENT parked addresses
/// per client) holds per network: a client alternating between a local
/// and a relayed network cannot park more than the limit in either (the
/// parked list of one network no longer forgets the other's).
#[test]
fn decline_limit_holds_per_network() {
    let mut s = Server::new(site(), SIP, 0);
    let m = mac(1);
    let lab = ip("10.3.7.1");
    let declined = |s: &Server, lo: &str, hi: &str| {
        s.leases(t(100_000))
            .filter(|r| r.is_hold() && r.remaining > 0 && in_range(r.ip, lo, hi))
            .count()
    };
    for i in 0..8u64 {
        let now = t(1000 * i);
        // Relayed: DORA through the lab relay, then DECLINE.
        send(&mut s, now, &msg(MessageType::Discover, m).giaddr(lab));
        let a = one(&mut s).yiaddr();
        let r = msg(MessageType::Request, m).giaddr(lab).sid(SIP).req_ip(a);
        send(&mut s, now, &r);
        commit(&mut s, now);
        one(&mut s);
        let d = msg(MessageType::Decline, m).giaddr(lab).sid(SIP).req_ip(a);
        send(&mut s, now, &d);
        commit(&mut s, now);
        // Local: the same client declines a local address.
        let b = dora(&mut s, now, m, &[]);
        send(
            &mut s,
            now,
            &msg(MessageType::Decline, m).sid(SIP).req_ip(b),
        );
        commit(&mut s, now);
    }
    let lab_parked = declined(&s, "10.3.1.1", "10.3.1.9");
    let local_parked = declined(&s, "192.168.0.20", "192.168.0.200");
    assert_eq!(
        (lab_parked, local_parked),
        (MAX_DECLINED_PER_CLIENT, MAX_DECLINED_PER_CLIENT)
    );
}

const LOCAL2: &str = "\
interface eth0
start 192.168.0.20
end 192.168.0.200
opt subnet 255.255.255.0
opt router 192.168.0.1

network guest
interface eth1
start 10.9.0.10
end 10.9.0.99
opt subnet 255.255.255.0
opt router 10.9.0.1
opt lease 900

network lab
relay_subnet 10.3.0.0/16
start 10.3.1.1
end 10.3.1.9
";

const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

fn two_links(probe_ms: u32) -> Server {
    let cfg = crate::conf::parse(LOCAL2, "site.conf").unwrap().config;
    let links = vec![("eth0".to_owned(), SIP), ("eth1".to_owned(), GUEST_IP)];
    Server::with_links(cfg, links, probe_ms)
}

fn send_on(s: &mut Server, now: Instant, link: usize, m: &Msg) {
    s.handle_packet_on(now, link, &m.bytes());
}

/// A second local interface is a network of its own: a client on it is
/// probed on that link from that link's address, offered an address of
/// its pool with its options, answered from its address and out of its
/// link; the first interface's clients are unaffected; a relayed request
/// that came in on the second link is answered from the second link's
/// address, out of it.
#[test]
fn a_second_local_interface_serves_its_own_network() {
    let mut s = two_links(2000);
    s.set_probe_ahead(0);
    send_on(&mut s, t(0), 1, &msg(MessageType::Discover, mac(1)));
    let p = s.poll_probe().expect("probed");
    assert_eq!(p.link, 1, "probed on the guest link");
    assert!(in_range(p.ip, "10.9.0.10", "10.9.0.99"), "{}", p.ip);
    none(&mut s);
    s.handle_probe(t(5), p.ip, false);
    let o = one(&mut s);
    assert_eq!(
        (o.link, o.dest, o.yiaddr()),
        (1, Destination::Broadcast, p.ip)
    );
    assert_eq!(o.opt(54).unwrap(), GUEST_IP.octets());
    assert_eq!(o.opt(3).unwrap(), [10, 9, 0, 1]);
    assert_eq!(o.lease(), Some(900));
    // REQUEST naming the guest link's address: ACKed once durable.
    let r = msg(MessageType::Request, mac(1)).sid(GUEST_IP).req_ip(p.ip);
    send_on(&mut s, t(10), 1, &r);
    none(&mut s);
    let recs = commit(&mut s, t(10));
    assert_eq!(recs.len(), 1);
    let a = one(&mut s);
    assert_eq!((a.mtype(), a.link), (Some(MessageType::Ack), 1));
    // Naming the other link's address: another server's, as on one link.
    let r = msg(MessageType::Request, mac(1)).sid(SIP).req_ip(p.ip);
    send_on(&mut s, t(20), 1, &r);
    none(&mut s);
    // The first interface: its own pool, address and link.
    send_on(&mut s, t(30), 0, &msg(MessageType::Discover, mac(2)));
    let p0 = s.poll_probe().expect("probed");
    assert_eq!(p0.link, 0);
    s.handle_probe(t(31), p0.ip, false);
    let o = one(&mut s);
    assert!(in_range(o.yiaddr(), "192.168.0.20", "192.168.0.200"));
    assert_eq!((o.link, o.opt(54).unwrap()), (0, SIP.octets().to_vec()));
    // A relay's request that came in on the guest link.
    let d = msg(MessageType::Discover, mac(3)).giaddr(ip("10.3.0.1"));
    send_on(&mut s, t(40), 1, &d);
    assert_eq!(s.poll_probe(), None, "relayed: not probed");
    let o = one(&mut s);
    assert!(in_range(o.yiaddr(), "10.3.1.1", "10.3.1.9"));
    assert_eq!(o.dest, Destination::Relay(ip("10.3.0.1")));
    assert_eq!(
        (o.link, o.opt(54).unwrap()),
        (1, GUEST_IP.octets().to_vec())
    );
    // A link the server was not given: nothing.
    send_on(&mut s, t(50), 2, &msg(MessageType::Discover, mac(4)));
    assert_eq!(s.poll_probe(), None);
    none(&mut s);
    // One lease file for all; a reload keeps the guest lease.
    assert_eq!(s.leases(t(60)).filter(|r| r.ip == p.ip).count(), 1);
    let cfg = crate::conf::parse(LOCAL2, "site.conf").unwrap().config;
    s.reconfigure(cfg, t(70));
    assert!(s.leases(t(80)).any(|r| r.ip == p.ip && r.remaining > 0));
    let renew = msg(MessageType::Request, mac(1)).ciaddr(p.ip);
    send_on(&mut s, t(90), 1, &renew);
    commit(&mut s, t(90));
    let a = one(&mut s);
    assert_eq!(
        (a.mtype(), a.yiaddr(), a.link),
        (Some(MessageType::Ack), p.ip, 1)
    );
}

/// RFC 2131 §4.3.2 per link: an INIT-REBOOT on the guest link for an
/// address of the first link's subnet is on the wrong network (NAK, out
/// of the guest link), and a guest client never gets a first-link
/// address.
#[test]
fn wrong_network_is_judged_per_link() {
    let mut s = two_links(0);
    let r = msg(MessageType::Request, mac(1)).req_ip(ip("192.168.0.50"));
    send_on(&mut s, t(0), 1, &r);
    let n = one(&mut s);
    assert_eq!((n.mtype(), n.link), (Some(MessageType::Nak), 1));
    assert_eq!(n.opt(54).unwrap(), GUEST_IP.octets());
    let d = msg(MessageType::Discover, mac(1)).req_ip(ip("192.168.0.50"));
    send_on(&mut s, t(10), 1, &d);
    assert!(in_range(one(&mut s).yiaddr(), "10.9.0.10", "10.9.0.99"));
}

/// Probe-ahead keeps a reserve on every local network, each probed on its
/// own link; none on the relayed one. A probe answer finds its network by
/// the address.
#[test]
fn probe_ahead_per_local_network() {
    let mut s = two_links(500);
    let due = s.poll_timeout().expect("reserve to fill");
    s.handle_timeout(due);
    let mut probes = Vec::new();
    while let Some(p) = s.poll_probe() {
        probes.push(p);
    }
    let on = |l: usize| probes.iter().filter(|p| p.link == l).count();
    assert_eq!(
        (on(0), on(1), probes.len()),
        (PROBE_AHEAD, PROBE_AHEAD, 2 * PROBE_AHEAD)
    );
    for p in &probes {
        let lo = if p.link == 0 {
            "192.168.0.20"
        } else {
            "10.9.0.10"
        };
        let hi = if p.link == 0 {
            "192.168.0.200"
        } else {
            "10.9.0.99"
        };
        assert!(in_range(p.ip, lo, hi), "{p:?}");
        s.handle_probe(t(100), p.ip, false);
    }
    // A new guest client is offered a reserve address at once.
    send_on(&mut s, t(200), 1, &msg(MessageType::Discover, mac(7)));
    let o = one(&mut s);
    assert!(probes.iter().any(|p| p.link == 1 && p.ip == o.yiaddr()));
    assert_eq!(o.link, 1);
}

/// A local section whose interface the driver did not open is not
/// served (logged); the others are.
#[test]
fn a_local_network_without_its_link_is_not_served() {
    let cfg = crate::conf::parse(LOCAL2, "site.conf").unwrap().config;
    let mut s = Server::new(cfg, SIP, 0);
    // Its subnet named by a relay: no such usable network.
    let d = msg(MessageType::Discover, mac(1)).giaddr(ip("10.9.0.1"));
    send(&mut s, t(0), &d);
    none(&mut s);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(2)));
    assert!(in_range(
        one(&mut s).yiaddr(),
        "192.168.0.20",
        "192.168.0.200"
    ));
}

/// A static client's record outside every pool (a relayed network's
/// static lease, or the top level's) belongs to the network that has the
/// static lease: loaded into it, not kept as an orphan besides, and a
/// reload keeps it once (the lease file held such an address twice,
/// found by the server_packet fuzz target with networks).
#[test]
fn static_records_outside_the_pools_are_kept_once() {
    let text = format!("{SITE}static_lease 02:00:00:00:00:08 10.3.9.9\n");
    let text = text.replace(
        "subnet_selection yes\n",
        "subnet_selection yes\nstatic_lease 02:00:00:00:00:09 192.168.0.250\n",
    );
    let cfg = || crate::conf::parse(&text, "site.conf").unwrap().config;
    let mut s = Server::new(cfg(), SIP, 0);
    // Both static clients bound: the lab one through its relay.
    let lab = ip("10.3.0.1");
    let m8 = MacAddr([2, 0, 0, 0, 0, 8]);
    send(&mut s, t(0), &msg(MessageType::Discover, m8).giaddr(lab));
    assert_eq!(one(&mut s).yiaddr(), ip("10.3.9.9"));
    let r = msg(MessageType::Request, m8)
        .giaddr(lab)
        .sid(SIP)
        .req_ip(ip("10.3.9.9"));
    send(&mut s, t(0), &r);
    commit(&mut s, t(0));
    one(&mut s);
    let m9 = MacAddr([2, 0, 0, 0, 0, 9]);
    assert_eq!(dora(&mut s, t(0), m9, &[]), ip("192.168.0.250"));
    let count = |s: &Server, a: &str| s.leases(t(1000)).filter(|r| r.ip == ip(a)).count();
    assert_eq!((count(&s, "10.3.9.9"), count(&s, "192.168.0.250")), (1, 1));
    // A reload with the same config.
    s.reconfigure(cfg(), t(1000));
    assert_eq!((count(&s, "10.3.9.9"), count(&s, "192.168.0.250")), (1, 1));
    // A restart: the lease file's records loaded back.
    let file: Vec<LeaseRecord> = s.leases(t(1000)).collect();
    let mut s2 = Server::new(cfg(), SIP, 0);
    s2.load(t(1000), file);
    assert_eq!(
        (count(&s2, "10.3.9.9"), count(&s2, "192.168.0.250")),
        (1, 1)
    );
    // The lab static client renews: still one record.
    let renew = msg(MessageType::Request, m8)
        .giaddr(lab)
        .ciaddr(ip("10.3.9.9"));
    send(&mut s2, t(2000), &renew);
    commit(&mut s2, t(2000));
    assert_eq!(one(&mut s2).mtype(), Some(MessageType::Ack));
    assert_eq!(count(&s2, "10.3.9.9"), 1);
}

/// A lease kept as an orphan (its pool left by a reload) goes back to its
/// network when a later reload brings the pool back: held once, by its
/// client, never offered to another (the lease file held it twice once
/// another client was given the address; found by fuzzing).
#[test]
fn an_orphan_returns_to_its_network_when_the_pool_comes_back() {
    let mut s = Server::new(site(), SIP, 0);
    let want = ip("192.168.0.200");
    let d = msg(MessageType::Discover, mac(1)).req_ip(want);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).yiaddr(), want);
    let r = msg(MessageType::Request, mac(1)).sid(SIP).req_ip(want);
    send(&mut s, t(0), &r);
    commit(&mut s, t(0));
    one(&mut s);
    let lab = ip("10.3.0.1");
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(2)).giaddr(lab),
    );
    let b = one(&mut s).yiaddr();
    let r = msg(MessageType::Request, mac(2))
        .giaddr(lab)
        .sid(SIP)
        .req_ip(b);
    send(&mut s, t(0), &r);
    commit(&mut s, t(0));
    one(&mut s);
    let count = |s: &Server, a: Ipv4Addr| s.leases(t(5000)).filter(|r| r.ip == a).count();
    // Both pools shrink away from the leases: orphans.
    let small = SITE
        .replace("end 192.168.0.200", "end 192.168.0.150")
        .replace(
            "network lab\nrelay_subnet 10.3.0.0/16\nstart 10.3.1.1\nend 10.3.1.9\n",
            "",
        );
    s.reconfigure(crate::conf::parse(&small, "s").unwrap().config, t(1000));
    assert_eq!((count(&s, want), count(&s, b)), (1, 1));
    // Back: the leases are their networks' again.
    s.reconfigure(site(), t(2000));
    assert_eq!((count(&s, want), count(&s, b)), (1, 1));
    assert_eq!(s.table_len(), 2);
    // Nobody else gets them; their clients keep them.
    let other = msg(MessageType::Discover, mac(3)).req_ip(want);
    send(&mut s, t(3000), &other);
    assert_ne!(one(&mut s).yiaddr(), want);
    send(&mut s, t(3000), &msg(MessageType::Discover, mac(1)));
    assert_eq!(one(&mut s).yiaddr(), want);
    send(
        &mut s,
        t(3000),
        &msg(MessageType::Discover, mac(2)).giaddr(lab),
    );
    assert_eq!(one(&mut s).yiaddr(), b);
    assert_eq!((count(&s, want), count(&s, b)), (1, 1));
}

/// `ping_check yes` (opt-in, ISC `ping-check`): a relayed network's new
/// address is checked by an ICMP echo before the OFFER; an answer holds
/// it as a conflict and the next one is checked; silence offers it. The
/// probe-ahead reserve works the same way. Without `ping_check` relayed
/// networks are never probed (giaddr_selects_the_network).
#[test]
fn ping_check_probes_relayed_networks_by_icmp() {
    let text = SITE.replace(
        "subnet_selection yes\n",
        "subnet_selection yes\nping_check yes\n",
    );
    let cfg = crate::conf::parse(&text, "site.conf").unwrap().config;
    let mut s = Server::new(cfg, SIP, 1000);
    s.set_probe_ahead(0);
    let lab = ip("10.3.0.1");
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1)).giaddr(lab),
    );
    none(&mut s);
    let p = s.poll_probe().expect("ICMP probe");
    assert!(p.icmp, "{p:?}");
    assert!(in_range(p.ip, "10.3.1.1", "10.3.1.9"));
    s.handle_probe(t(100), p.ip, true);
    let q = s.poll_probe().expect("the next address");
    assert!(q.icmp && q.ip != p.ip, "{q:?}");
    assert!(s
        .leases(t(100))
        .any(|r| r.ip == p.ip && r.is_hold() && r.remaining > 0));
    // Silence: offered at the deadline, through the relay.
    let due = s.poll_timeout().unwrap();
    s.handle_timeout(due);
    let o = one(&mut s);
    assert_eq!((o.yiaddr(), o.dest), (q.ip, Destination::Relay(lab)));
    // Local clients are still ARP-probed.
    send(&mut s, t(5000), &msg(MessageType::Discover, mac(2)));
    let a = s.poll_probe().expect("ARP probe");
    assert!(!a.icmp && in_range(a.ip, "192.168.0.20", "192.168.0.200"));
    // The reserve on the relayed networks: by ICMP too.
    s.set_probe_ahead(1);
    s.handle_timeout(t(6000));
    let mut kinds = Vec::new();
    while let Some(p) = s.poll_probe() {
        kinds.push((p.icmp, p.ip.octets()[0]));
    }
    kinds.sort();
    assert_eq!(kinds, [(false, 192), (true, 10), (true, 10)]);
}

/// `exclude` per network: a relayed network's excluded range is never
/// offered there, not even when a client asks for it; the top level's
/// exclusions do not touch it.
#[test]
fn exclusions_are_per_network() {
    let text = SITE.replace(
        "network lab\nrelay_subnet 10.3.0.0/16\nstart 10.3.1.1\nend 10.3.1.9\n",
        "network lab\nrelay_subnet 10.3.0.0/16\nstart 10.3.1.1\nend 10.3.1.9\nexclude 10.3.1.1-10.3.1.7\n",
    );
    let text = text.replace(
        "subnet_selection yes\n",
        "subnet_selection yes\nexclude 10.3.1.8\n",
    );
    let cfg = crate::conf::parse(&text, "site.conf").unwrap().config;
    let mut s = Server::new(cfg, SIP, 0);
    let lab = ip("10.3.0.1");
    let mut got = Vec::new();
    for m in 1..=4 {
        let d = msg(MessageType::Discover, mac(m))
            .giaddr(lab)
            .req_ip(ip("10.3.1.3"));
        send(&mut s, t(0), &d);
        let v = tx(&mut s);
        if let Some(o) = v.first() {
            got.push(o.yiaddr());
        }
    }
    got.sort();
    assert_eq!(
        got,
        [ip("10.3.1.8"), ip("10.3.1.9")],
        "only the two not excluded there"
    );
}
