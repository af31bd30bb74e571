//! The RFC answers of issue 9, byte by byte: RFC 3396 both ways, the
//! Parameter Request List rules (RFC 8925, RFC 3442 §3), T1/T2, RFC 6842,
//! RFC 4702, `authoritative`.

use super::*;
use crate::lease::hook;

/// `n` /24 routes via 10.0.0.1 in RFC 3442 encoding (8 bytes each).
fn routes(n: u8) -> Vec<u8> {
    (0..n).flat_map(|i| [24, 10, 1, i, 10, 0, 0, 1]).collect()
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

/// Instances of `c` in scan order, with their index among all options.
fn instances(o: &Out, c: u8) -> Vec<(usize, Vec<u8>)> {
    o.opts()
        .into_iter()
        .enumerate()
        .filter(|(_, (k, _))| *k == c)
        .map(|(i, (_, d))| (i, d))
        .collect()
}

fn joined(o: &Out, c: u8) -> Option<Vec<u8>> {
    o.pkt().option_concat(c)
}

/// A configured 121 of 40 routes (320 bytes) parsed from udhcpd.conf
/// text: accepted (BusyBox-sized sets refuse it), sent as two consecutive
/// instances that join to the configured value; 3 and 33 not sent with it.
#[test]
fn long_option_is_split_into_consecutive_instances() {
    let rt = routes(40);
    let text = format!(
        "interface eth0\nopt router 192.168.0.1\nopt 33 0a0000010a000001\nopt 121 {}\n",
        hex(&rt)
    );
    let parsed = crate::conf::parse(&text, "udhcpd.conf").unwrap();
    let mut cfg = config();
    cfg.options = parsed.config.options;
    assert_eq!(cfg.options.get(121).map(<[u8]>::len), Some(320));
    let mut s = Server::new(cfg, SIP, 0);
    let d = msg(MessageType::Discover, mac(1))
        .opt(57, &1400u16.to_be_bytes())
        .opt(55, &[1, 3, 33, 121]);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    let inst = instances(&o, 121);
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0].1.len(), 255);
    assert_eq!(inst[1].1.len(), 65);
    assert_eq!(inst[1].0, inst[0].0 + 1, "consecutive");
    assert_eq!(joined(&o, 121).unwrap(), rt);
    assert_eq!(o.opt(3), None, "RFC 3442 §3: no router with 121");
    assert_eq!(o.opt(33), None);
    assert_eq!(o.pkt().overload(), 0);
}

/// At the default 576-byte size a 120-byte 121 and the rest do not fit
/// the options field: the reply overloads into file/sname, option 82
/// stays in the options field (a relay reads only that), and 121, placed
/// in `file`, is whole.
#[test]
fn overload_keeps_82_in_the_options_field() {
    let mut cfg = config();
    cfg.options.insert_raw(121, routes(15));
    cfg.options.insert_raw(43, vec![7; 140]);
    let mut s = Server::new(cfg, SIP, 0);
    let relay_info = [1, 4, b'p', b'o', b'r', b't'];
    let d = msg(MessageType::Discover, mac(1))
        .giaddr(ip("10.9.0.1"))
        .opt(82, &relay_info);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.pkt().overload(), 1, "file used");
    assert_eq!(&o.pkt().file()[..2], &[121, 120]);
    assert_eq!(joined(&o, 121).unwrap(), routes(15));
    assert_eq!(o.opt(43).unwrap(), [7; 140]);
    let field = o.pkt().options_field().to_vec();
    let mut in_field = Vec::new();
    let mut i = 0;
    while let Some(&c) = field.get(i) {
        if c == 255 {
            break;
        }
        let len = usize::from(field[i + 1]);
        in_field.push((c, field[i + 2..i + 2 + len].to_vec()));
        i += 2 + len;
    }
    assert!(in_field.contains(&(82, relay_info.to_vec())));
    assert!(o.bytes.len() <= 548);
}

/// RFC 3396 §4 on receipt: a host name and a client identifier split in
/// two instances are one value each: the lease records the whole name and
/// the reply echoes the whole identifier.
#[test]
fn received_split_options_are_joined() {
    let mut s = Server::new(config(), SIP, 0);
    let m = mac(1);
    let id = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let d = msg(MessageType::Discover, m)
        .opt(12, b"lap")
        .opt(61, &id[..3])
        .opt(12, b"top")
        .opt(61, &id[3..]);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.opt(61).unwrap(), id, "echoed joined, as one instance");
    let r = msg(MessageType::Request, m)
        .sid(SIP)
        .req_ip(o.yiaddr())
        .opt(12, b"lap")
        .opt(61, &id[..3])
        .opt(12, b"top")
        .opt(61, &id[3..]);
    send(&mut s, t(0), &r);
    let recs = commit(&mut s, t(0));
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].hostname,
        crate::lease::Hostname::sanitize(b"laptop")
    );
    assert_eq!(one(&mut s).opt(61).unwrap(), id);
    // The lease is keyed by the joined identifier: the same id in one
    // instance finds it.
    let r = msg(MessageType::Request, m).ciaddr(o.yiaddr()).id(&id);
    send(&mut s, t(1), &r);
    commit(&mut s, t(1));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Ack));
}

/// RFC 8925 §3.3: 108 only to a client that lists it, and only when
/// configured.
#[test]
fn ipv6_only_preferred_only_when_asked() {
    let mut cfg = config();
    cfg.options.insert_raw(108, 1800u32.to_be_bytes().to_vec());
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    assert_eq!(one(&mut s).opt(108), None, "no PRL");
    let d = msg(MessageType::Discover, mac(2)).opt(55, &[1, 3, 6]);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(108), None, "PRL without 108");
    let d = msg(MessageType::Discover, mac(3)).opt(55, &[1, 108, 3]);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(108).unwrap(), 1800u32.to_be_bytes());
    // Not configured: not sent even when asked.
    let mut s = Server::new(config(), SIP, 0);
    send(&mut s, t(0), &d);
    assert_eq!(one(&mut s).opt(108), None);
}

/// RFC 3442 §3: with 121 sent, 3 and 33 are not; a client whose list
/// lacks 121 gets 3 and 33 and no 121.
#[test]
fn classless_routes_replace_router_and_static_routes() {
    let mut cfg = config();
    cfg.options
        .insert_raw(33, vec![10, 0, 0, 0, 192, 168, 0, 1]);
    cfg.options.insert_raw(121, vec![0, 192, 168, 0, 1]);
    let mut s = Server::new(cfg, SIP, 0);
    let d = msg(MessageType::Discover, mac(1)).opt(55, &[1, 3, 121]);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.codes(), [53, 54, 51, 58, 59, 1, 6, 12, 15, 121]);
    let d = msg(MessageType::Discover, mac(2)).opt(55, &[1, 3, 33]);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.codes(), [53, 54, 51, 58, 59, 1, 3, 6, 12, 15, 33]);
    // No PRL at all: BusyBox's "everything configured", 121 winning.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(3)));
    assert_eq!(one(&mut s).codes(), [53, 54, 51, 58, 59, 1, 6, 12, 15, 121]);
}

/// T1/T2 at 50 % and 87.5 % of the granted lease by default; other
/// percentages when configured; none with 0, for an infinite lease, or
/// when the config sets 58/59 itself (then its values, once).
#[test]
fn t1_t2_follow_the_granted_lease() {
    let mut s = Server::new(config(), SIP, 0);
    send(
        &mut s,
        t(0),
        &msg(MessageType::Discover, mac(1)).lease(1000),
    );
    let o = one(&mut s);
    assert_eq!(o.lease(), Some(1000));
    assert_eq!(o.opt(58).unwrap(), 500u32.to_be_bytes());
    assert_eq!(o.opt(59).unwrap(), 875u32.to_be_bytes());

    let mut cfg = config();
    cfg.t1_permille = 250;
    cfg.t2_permille = 0;
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let o = one(&mut s);
    assert_eq!(o.opt(58).unwrap(), 900u32.to_be_bytes());
    assert_eq!(o.opt(59), None);

    let mut cfg = config();
    cfg.max_lease = u32::MAX;
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let o = one(&mut s);
    assert_eq!(o.lease(), Some(u32::MAX));
    assert_eq!((o.opt(58), o.opt(59)), (None, None));

    let mut cfg = config();
    cfg.options.insert_raw(58, 100u32.to_be_bytes().to_vec());
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &msg(MessageType::Discover, mac(1)));
    let o = one(&mut s);
    assert_eq!(instances(&o, 58).len(), 1);
    assert_eq!(o.opt(58).unwrap(), 100u32.to_be_bytes());
    // INFORM and NAK carry no lease, so no T1/T2.
    send(
        &mut s,
        t(0),
        &msg(MessageType::Inform, mac(2)).ciaddr(ip("192.168.0.77")),
    );
    let o = one(&mut s);
    assert_eq!((o.opt(51), o.opt(59)), (None, None));
}

/// RFC 6842 §3: option 61 echoed in OFFER, ACK and NAK; a client
/// identifier seen from a new chaddr keeps its lease.
#[test]
fn client_id_is_echoed_and_follows_the_client() {
    let mut s = Server::new(config(), SIP, 0);
    let id = [0xffu8, 1, 2, 3, 4];
    let d = msg(MessageType::Discover, mac(1)).id(&id);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert_eq!(o.opt(61).unwrap(), id);
    let a = o.yiaddr();
    send(
        &mut s,
        t(0),
        &msg(MessageType::Request, mac(1)).id(&id).sid(SIP).req_ip(a),
    );
    commit(&mut s, t(0));
    let ack = one(&mut s);
    assert_eq!(ack.codes()[..6], [53, 54, 51, 58, 59, 61]);
    assert_eq!(ack.opt(61).unwrap(), id);
    // Same client id, new NIC: same address.
    send(&mut s, t(1), &msg(MessageType::Discover, mac(2)).id(&id));
    let o = one(&mut s);
    assert_eq!(o.yiaddr(), a);
    assert_eq!(o.pkt().client_mac(), mac(2));
    // A NAK echoes it too.
    let r = msg(MessageType::Request, mac(2))
        .id(&id)
        .req_ip(ip("192.168.0.250"));
    send(&mut s, t(1), &r);
    let nak = one(&mut s);
    assert_eq!(nak.mtype(), Some(MessageType::Nak));
    assert_eq!(nak.opt(61).unwrap(), id);
}

/// RFC 4702: answered in the client's encoding with N=1, S=0, O=1 (the
/// client asked for S), RCODEs 255, the partial name completed; its first
/// label is the lease's host name, over option 12.
#[test]
fn client_fqdn_is_answered_and_names_the_lease() {
    let mut cfg = config();
    cfg.fqdn_suffix = Some("example.org".into());
    let mut s = Server::new(cfg, SIP, 0);
    let fq = [&[0x05, 0, 0, 6][..], b"laptop"].concat();
    let d = msg(MessageType::Discover, mac(1))
        .opt(12, b"other")
        .opt(81, &fq);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    let want = [
        &[0x0e, 255, 255, 6][..],
        b"laptop",
        &[7],
        b"example",
        &[3],
        b"org",
        &[0],
    ]
    .concat();
    assert_eq!(o.opt(81).unwrap(), want);
    let r = msg(MessageType::Request, mac(1))
        .sid(SIP)
        .req_ip(o.yiaddr())
        .opt(12, b"other")
        .opt(81, &fq);
    send(&mut s, t(0), &r);
    let recs = commit(&mut s, t(0));
    assert_eq!(
        recs[0].hostname,
        crate::lease::Hostname::sanitize(b"laptop")
    );
    assert_eq!(one(&mut s).opt(81).unwrap(), want);
    // No option 81 from the client: none in the reply.
    send(&mut s, t(0), &msg(MessageType::Discover, mac(2)));
    assert_eq!(one(&mut s).opt(81), None);
}

/// `authoritative yes`: INIT-REBOOT and RENEW for an address we do not
/// know are NAKed; without it, silence (RFC 2131 §4.3.2).
#[test]
fn authoritative_naks_unknown_addresses() {
    let reboot = msg(MessageType::Request, mac(1)).req_ip(ip("192.168.0.77"));
    let renew = msg(MessageType::Request, mac(1)).ciaddr(ip("192.168.0.77"));
    let mut s = Server::new(config(), SIP, 0);
    send(&mut s, t(0), &reboot);
    none(&mut s);
    send(&mut s, t(0), &renew);
    none(&mut s);
    let mut cfg = config();
    cfg.authoritative = true;
    let mut s = Server::new(cfg, SIP, 0);
    send(&mut s, t(0), &reboot);
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Nak));
    send(&mut s, t(0), &renew);
    let nak = one(&mut s);
    assert_eq!(nak.mtype(), Some(MessageType::Nak));
    assert_eq!(nak.dest, Destination::Broadcast);
    // A known client is still ACKed.
    let a = dora(&mut s, t(1), mac(2), &[]);
    send(&mut s, t(2), &msg(MessageType::Request, mac(2)).ciaddr(a));
    commit(&mut s, t(2));
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Ack));
}

/// BusyBox parity: a static client's ACK is recorded (lease file,
/// dumpleases) but not held; the record survives a reload of the lease
/// file, expires on RELEASE, and goes when its static_lease line does.
#[test]
fn static_lease_clients_are_recorded_without_holding_the_ack() {
    let mut s = Server::new(config(), SIP, 0);
    let st = ip("192.168.0.10");
    send(&mut s, t(0), &msg(MessageType::Discover, mac(9)));
    assert_eq!(one(&mut s).yiaddr(), st);
    assert_eq!(s.unsynced_len(), 0, "an OFFER records nothing");
    let r = msg(MessageType::Request, mac(9))
        .sid(SIP)
        .req_ip(st)
        .opt(12, b"prn");
    send(&mut s, t(0), &r);
    // Not held: out before any commit.
    assert_eq!(one(&mut s).mtype(), Some(MessageType::Ack));
    let recs = commit(&mut s, t(0));
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].ip, recs[0].mac, recs[0].remaining),
        (st, mac(9), 3600)
    );
    assert_eq!(recs[0].hostname, crate::lease::Hostname::sanitize(b"prn"));
    let file: Vec<LeaseRecord> = s.leases(t(600_000)).collect();
    assert_eq!(file.len(), 1);
    assert_eq!(file[0].remaining, 3000);
    // A restart loads it back beside the table.
    let mut s2 = Server::new(config(), SIP, 0);
    assert_eq!(s2.load(t(0), file.clone()), 0);
    assert_eq!(s2.table().len(), 0);
    assert_eq!(s2.leases(t(0)).collect::<Vec<_>>(), file);
    // RELEASE: recorded as expired.
    let rel = msg(MessageType::Release, mac(9)).sid(SIP).ciaddr(st);
    send(&mut s2, t(1000), &rel);
    let recs = commit(&mut s2, t(1000));
    assert_eq!((recs.len(), recs[0].remaining), (1, 0));
    // The static_lease line removed: the record goes.
    let mut cfg = config();
    cfg.static_leases.clear();
    s2.reconfigure(cfg, t(2000));
    assert_eq!(s2.leases(t(2000)).count(), 0);
}

fn events(s: &mut Server) -> Vec<(hook::Kind, MacAddr, Ipv4Addr, String)> {
    let mut v = Vec::new();
    while let Some(e) = s.poll_event() {
        v.push((e.kind, e.mac, e.ip, e.hostname.to_string()));
    }
    v
}

/// `lease_script`: add on a new lease, old on a renewal, del on RELEASE,
/// for dynamic and static clients; nothing without a script; bounded.
#[test]
fn lease_events_for_the_hook() {
    use hook::Kind::{Add, Del, Old};
    let mut s = Server::new(config(), SIP, 0);
    dora(&mut s, t(0), mac(1), &[]);
    assert!(events(&mut s).is_empty(), "no script, no events");

    let mut cfg = config();
    cfg.lease_script = Some("/bin/true".into());
    let mut s = Server::new(cfg, SIP, 0);
    let a = dora(&mut s, t(0), mac(1), &[(12, b"pc")]);
    assert_eq!(events(&mut s), [(Add, mac(1), a, "pc".into())]);
    send(
        &mut s,
        t(1),
        &msg(MessageType::Request, mac(1)).ciaddr(a).opt(12, b"pc"),
    );
    commit(&mut s, t(1));
    one(&mut s);
    assert_eq!(events(&mut s), [(Old, mac(1), a, "pc".into())]);
    send(
        &mut s,
        t(2),
        &msg(MessageType::Release, mac(1)).sid(SIP).ciaddr(a),
    );
    assert_eq!(events(&mut s), [(Del, mac(1), a, "pc".into())]);
    // A static client.
    let st = ip("192.168.0.10");
    let r = msg(MessageType::Request, mac(9)).sid(SIP).req_ip(st);
    send(&mut s, t(3), &r);
    send(&mut s, t(4), &r);
    send(
        &mut s,
        t(5),
        &msg(MessageType::Release, mac(9)).sid(SIP).ciaddr(st),
    );
    let kinds: Vec<_> = events(&mut s).into_iter().map(|e| (e.0, e.2)).collect();
    assert_eq!(kinds, [(Add, st), (Old, st), (Del, st)]);
    // Undrained events are bounded and counted.
    tx(&mut s);
    for i in 0..(MAX_EVENTS as u64 + 5) {
        send(&mut s, t(10 + i), &r);
    }
    assert_eq!(s.events.len(), MAX_EVENTS);
    assert_eq!(s.take_events_dropped(), 5);
}

/// Probe ahead: with `-a` on, the server keeps PROBE_AHEAD addresses
/// probed free; a new client's OFFER goes out at once (no probe on its
/// time) while the probe found nobody within FRESH_MS; a stale reserve
/// is re-probed; a conflict found ahead is held; the reserve never
/// takes the last slots of the table.
#[test]
fn probe_ahead_offers_at_once() {
    let mut s = Server::new(config(), SIP, 2000);
    // The driver wakes at once to fill the reserve.
    assert_eq!(s.poll_timeout(), Some(t(0)));
    s.handle_timeout(t(0));
    let p1 = s.poll_probe().unwrap();
    let p2 = s.poll_probe().unwrap();
    assert_eq!(s.poll_probe(), None);
    assert_eq!(PROBE_AHEAD, 2);
    assert_eq!(p1.safe_mac, MacAddr([0; 6]));
    assert_eq!(s.poll_timeout(), Some(t(2000 + PROBE_SLACK_MS)));
    s.handle_probe(t(50), p1.ip, false);
    s.handle_probe(t(60), p2.ip, true); // someone is there
    let held = s.table().get(p2.ip).unwrap();
    assert_eq!(held.state, LeaseState::Conflict);
    // The conflict is replaced by another probe.
    let p3 = s.poll_probe().unwrap();
    assert_ne!(p3.ip, p2.ip);
    // A new client: OFFER at once, for the fresh address, no probe.
    send(&mut s, t(100), &msg(MessageType::Discover, mac(1)));
    let o = one(&mut s);
    assert_eq!(o.yiaddr(), p1.ip);
    // ... and the reserve is topped up.
    let p4 = s.poll_probe().unwrap();
    assert_ne!(p4.ip, p1.ip);
    // Timeouts count as free (as a client's probe), then go stale.
    s.handle_timeout(t(100 + 2000 + PROBE_SLACK_MS));
    assert_eq!(s.poll_probe(), None);
    let stale_at = t(100 + 2000 + PROBE_SLACK_MS + FRESH_MS);
    assert!(s.poll_timeout().unwrap() <= stale_at);
    // A client arriving after FRESH_MS without a refresh: not offered at
    // once but probed on its time, as BusyBox's -a.
    let mut s2 = Server::new(config(), SIP, 2000);
    s2.handle_timeout(t(0));
    while let Some(p) = s2.poll_probe() {
        s2.handle_probe(t(0), p.ip, false);
    }
    send(
        &mut s2,
        t(FRESH_MS + 1),
        &msg(MessageType::Discover, mac(2)),
    );
    none(&mut s2);
    assert!(
        s2.poll_probe().is_some(),
        "stale reserve: probed for the client"
    );
    // Stale entries are re-probed by the timer.
    s.handle_timeout(stale_at);
    assert_eq!(
        [s.poll_probe().is_some(), s.poll_probe().is_some()],
        [true, true]
    );
    // -a 0: no reserve, no timer.
    let s3 = Server::new(config(), SIP, 0);
    assert_eq!(s3.poll_timeout(), None);
    // A nearly full table: no reserve.
    let mut s4 = Server::new(small_pool("192.168.0.20", "192.168.0.21", 2), SIP, 2000);
    assert_eq!(s4.poll_timeout(), None);
    s4.handle_timeout(t(0));
    assert_eq!(s4.poll_probe(), None);
}

/// A 320-byte 121 in a 576-byte reply (no option 57): split into
/// instances that fill the options field, then `file` (then `sname`)
/// (RFC 3396 §7: any sizes), joining to the configured value; 82 stays in
/// the options field.
#[test]
fn long_option_fits_a_576_byte_reply_by_splitting_across_fields() {
    let mut cfg = config();
    cfg.options.insert_raw(121, routes(40));
    let mut s = Server::new(cfg, SIP, 0);
    let relay_info = [1, 2, 0, 7];
    let d = msg(MessageType::Discover, mac(1))
        .giaddr(ip("10.9.0.1"))
        .opt(82, &relay_info);
    send(&mut s, t(0), &d);
    let o = one(&mut s);
    assert!(o.bytes.len() <= 548, "{}", o.bytes.len());
    assert_ne!(o.pkt().overload() & 1, 0, "file used");
    assert_eq!(joined(&o, 121).unwrap(), routes(40));
    let inst = instances(&o, 121);
    let sizes: Vec<usize> = inst.iter().map(|i| i.1.len()).collect();
    assert!(
        sizes.len() >= 2 && sizes[0] < 255,
        "not split to fit: {sizes:?}"
    );
    assert!(inst.windows(2).all(|w| w[1].0 == w[0].0 + 1), "consecutive");
    assert_eq!(&o.pkt().options_field()[..2], &[52, 1]);
    assert_eq!(o.opt(82).unwrap(), relay_info);
    // Everything configured is still there.
    for c in [1, 6, 12, 15] {
        assert!(o.opt(c).is_some(), "option {c} lost");
    }
}

/// `lease_script`: a bound lease that runs out gets its `del` event from
/// the sweep (at most EXPIRY_SWEEP_MS late), once; a released one does
/// not get a second; the sweep is a timer, not a spin.
#[test]
fn expired_leases_get_a_del_event() {
    use hook::Kind::Del;
    let mut cfg = config();
    cfg.lease_script = Some("/bin/true".into());
    let mut s = Server::new(cfg, SIP, 0);
    assert_eq!(s.poll_timeout(), Some(t(0)), "first sweep sets the mark");
    s.handle_timeout(t(0));
    assert_eq!(s.poll_timeout(), Some(t(EXPIRY_SWEEP_MS)));
    let a = dora(&mut s, t(1000), mac(1), &[]);
    let b = dora(&mut s, t(1000), mac(2), &[]);
    let st = ip("192.168.0.10");
    send(
        &mut s,
        t(1000),
        &msg(MessageType::Request, mac(9)).sid(SIP).req_ip(st),
    );
    send(
        &mut s,
        t(2000),
        &msg(MessageType::Release, mac(2)).sid(SIP).ciaddr(b),
    );
    assert_eq!(events(&mut s).len(), 4);
    // Not yet expired (3600 s leases).
    s.handle_timeout(t(EXPIRY_SWEEP_MS));
    assert!(events(&mut s).is_empty());
    // Past the expiry: one del each for the dynamic and the static lease.
    let later = t(1000 + 3_600_000 + EXPIRY_SWEEP_MS);
    s.handle_timeout(later);
    let mut got: Vec<_> = events(&mut s).into_iter().map(|e| (e.0, e.2)).collect();
    got.sort_by_key(|e| e.1);
    assert_eq!(got, [(Del, st), (Del, a)]);
    s.handle_timeout(t(later.as_millis() + EXPIRY_SWEEP_MS));
    assert!(events(&mut s).is_empty(), "reported once");
}
