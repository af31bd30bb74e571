//! Virtual-clock tests of the udhcpc6 core: one test per rule of the
//! module documentation.

use super::*;
use crate::wire::dhcpv6::{encode_names, find, ia_header, iaaddr_body, iaprefix_body};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];
const S1: &[u8] = &[0, 3, 0, 1, 1, 1, 1, 1, 1, 1];
const S2: &[u8] = &[0, 3, 0, 1, 2, 2, 2, 2, 2, 2];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn addr() -> Ipv6Addr {
    "2001:db8::10".parse().unwrap()
}

fn pfx() -> Ipv6Addr {
    "2001:db8:100::".parse().unwrap()
}

/// A counter as "random" source: jitter then is deterministic.
fn client(cfg: Config6) -> Client6 {
    let mut n = 0u32;
    Client6::new(cfg, t(0), move || {
        n = n.wrapping_add(0x010203);
        n
    })
}

fn events(c: &mut Client6) -> Vec<Event6> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn names(ev: &[Event6]) -> Vec<&'static str> {
    ev.iter()
        .map(|e| match e {
            Event6::Script(s) => s.name(),
            Event6::Background => "background",
            Event6::Exit(_) => "exit",
        })
        .collect()
}

fn sent(c: &mut Client6) -> Vec<Transmit6> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn one(c: &mut Client6, kind: u8) -> Vec<u8> {
    let v = sent(c);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, kind);
    v[0].message.clone()
}

/// A server message for client `c`.
struct Srv {
    kind: u8,
    server: &'static [u8],
    pref: Option<u8>,
    na: Option<(u32, u32, Option<Leased>, u16)>,
    pd: Option<(u32, u32, Option<Leased>, u16)>,
    top: Option<u16>,
    rapid: bool,
    extra: Vec<(u16, Vec<u8>)>,
}

impl Srv {
    fn new(kind: u8, server: &'static [u8]) -> Self {
        Srv {
            kind,
            server,
            pref: None,
            na: None,
            pd: None,
            top: None,
            rapid: false,
            extra: Vec::new(),
        }
    }
    fn na(mut self, t1: u32, t2: u32, pref: u32, valid: u32) -> Self {
        self.na = Some((t1, t2, Some(lease(addr(), 128, pref, valid)), 0));
        self
    }
    fn pd(mut self, t1: u32, t2: u32, pref: u32, valid: u32) -> Self {
        self.pd = Some((t1, t2, Some(lease(pfx(), 56, pref, valid)), 0));
        self
    }
    fn bytes(&self, c: &Client6) -> Vec<u8> {
        let mut b = Builder::new(self.kind, c.xid());
        b.option(opt::CLIENTID, c.duid()).unwrap();
        b.option(opt::SERVERID, self.server).unwrap();
        if let Some(p) = self.pref {
            b.option(opt::PREFERENCE, &[p]).unwrap();
        }
        if let Some(s) = self.top {
            b.option(opt::STATUS_CODE, &s.to_be_bytes()).unwrap();
        }
        if self.rapid {
            b.option(opt::RAPID_COMMIT, &[]).unwrap();
        }
        for (code, ia) in [(opt::IA_NA, self.na), (opt::IA_PD, self.pd)] {
            let Some((t1, t2, l, st)) = ia else { continue };
            b.open(code, &ia_header(c.iaid(), t1, t2));
            if let Some(l) = l {
                if code == opt::IA_NA {
                    b.option(opt::IAADDR, &iaaddr_body(l.addr, l.preferred, l.valid))
                        .unwrap();
                } else {
                    let body = iaprefix_body(l.addr, l.prefix_len, l.preferred, l.valid);
                    b.option(opt::IAPREFIX, &body).unwrap();
                }
            }
            if st != 0 {
                b.option(opt::STATUS_CODE, &st.to_be_bytes()).unwrap();
            }
            b.close().unwrap();
        }
        for (code, d) in &self.extra {
            b.option(*code, d).unwrap();
        }
        b.finish().unwrap()
    }
}

fn lease(a: Ipv6Addr, len: u8, preferred: u32, valid: u32) -> Leased {
    Leased {
        addr: a,
        prefix_len: len,
        preferred,
        valid,
    }
}

/// Starts `c`, sends the first Solicit at 0.
fn start(c: &mut Client6) -> Vec<u8> {
    assert_eq!(names(&events(c)), ["deconfig"]);
    c.handle_timeout(t(0));
    one(c, msg::SOLICIT)
}

/// Drives `c` to Bound with server S1 giving `na` (T1 100, T2 160,
/// preferred 200, valid 300) at time 0.
fn bound(cfg: Config6) -> Client6 {
    let mut c = client(cfg);
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(100, 160, 200, 300)
    };
    c.handle_packet(t(10), &adv.bytes(&c));
    one(&mut c, msg::REQUEST);
    let reply = Srv::new(msg::REPLY, S1).na(100, 160, 200, 300);
    c.handle_packet(t(20), &reply.bytes(&c));
    assert_eq!(c.state(), State6::Bound);
    events(&mut c);
    c
}

fn opts(m: &[u8]) -> Vec<u16> {
    Message::new_checked(m)
        .unwrap()
        .options()
        .map(|(c, _)| c)
        .collect()
}

#[test]
fn solicit_contents() {
    let mut c = client(Config6::new(MAC));
    let s = start(&mut c);
    let m = Message::new_checked(&s).unwrap();
    assert_eq!(m.msg_type(), msg::SOLICIT);
    assert!(m.xid() <= 0xff_ffff);
    assert_eq!(m.option(opt::CLIENTID).unwrap(), w::duid_ll(MAC));
    assert_eq!(m.option(opt::ELAPSED_TIME).unwrap(), [0, 0]);
    assert!(m.option(opt::RAPID_COMMIT).is_some());
    assert_eq!(m.option(opt::ORO).unwrap(), [0, 23, 0, 24]);
    let ia = Ia::parse(m.option(opt::IA_NA).unwrap()).unwrap();
    assert_eq!(ia.iaid, 7);
    assert!(m.option(opt::IA_PD).is_none() && m.option(opt::SERVERID).is_none());
    // First RT: -T (default SOL_TIMEOUT, 1 s) plus 0..10 %.
    let d = c.poll_timeout().unwrap().as_millis();
    assert!((1000..=1100).contains(&d), "{d}");
}

#[test]
fn next_rt_follows_rfc8415_section_15() {
    for rnd in [0, 50, 100, 150, 200, 12345] {
        let first = next_rt(None, secs(1), secs(3600), rnd, true);
        assert!(first >= secs(1) && first <= Duration::from_millis(1100));
        let next = next_rt(Some(secs(10)), secs(1), secs(3600), rnd, false);
        assert!(next >= secs(18) && next <= secs(22), "{next:?}");
        let capped = next_rt(Some(secs(500)), secs(10), secs(600), rnd, false);
        assert!(capped >= secs(540) && capped <= secs(660), "{capped:?}");
    }
    // -T 0 cannot spin.
    assert!(next_rt(None, Duration::ZERO, secs(5), 0, false) >= MIN_WAIT);
    assert!(next_rt(Some(Duration::ZERO), secs(0), secs(0), 0, false) >= MIN_WAIT);
}

#[test]
fn advertises_collected_during_first_rt_highest_preference_wins() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let low = Srv {
        pref: Some(1),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
    };
    let high = Srv {
        pref: Some(5),
        ..Srv::new(msg::ADVERTISE, S2).na(0, 0, 100, 200)
    };
    c.handle_packet(t(100), &low.bytes(&c));
    c.handle_packet(t(200), &high.bytes(&c));
    assert!(sent(&mut c).is_empty(), "waits for the first RT to end");
    let end = c.poll_timeout().unwrap();
    c.handle_timeout(end);
    let r = one(&mut c, msg::REQUEST);
    let m = Message::new_checked(&r).unwrap();
    assert_eq!(m.option(opt::SERVERID).unwrap(), S2);
    let ia = Ia::parse(m.option(opt::IA_NA).unwrap()).unwrap();
    let a = IaAddr::parse(find(ia.options, opt::IAADDR).unwrap()).unwrap();
    assert_eq!(a.addr, addr());
}

#[test]
fn preference_255_is_taken_at_once_and_late_advertise_too() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let top = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
    };
    c.handle_packet(t(5), &top.bytes(&c));
    one(&mut c, msg::REQUEST);

    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let first_rt = c.poll_timeout().unwrap();
    c.handle_timeout(first_rt);
    one(&mut c, msg::SOLICIT);
    let late = Srv::new(msg::ADVERTISE, S2).na(0, 0, 100, 200);
    c.handle_packet(first_rt + secs(1), &late.bytes(&c));
    one(&mut c, msg::REQUEST);
}

#[test]
fn advertise_without_addresses_is_ignored_other_server_taken() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let none = Srv {
        na: Some((0, 0, None, status::NO_ADDRS_AVAIL)),
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1)
    };
    c.handle_packet(t(5), &none.bytes(&c));
    let top_fail = Srv {
        top: Some(status::NO_ADDRS_AVAIL),
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1)
    };
    c.handle_packet(t(6), &top_fail.bytes(&c));
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.state(), State6::Soliciting);
    let ok = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S2).na(0, 0, 100, 200)
    };
    c.handle_packet(t(7), &ok.bytes(&c));
    let r = one(&mut c, msg::REQUEST);
    assert_eq!(
        Message::new_checked(&r)
            .unwrap()
            .option(opt::SERVERID)
            .unwrap(),
        S2
    );
}

#[test]
fn reply_binds_with_t1_t2_from_the_ia() {
    let mut c = bound(Config6::new(MAC));
    let b = c.binding().unwrap().clone();
    assert_eq!(b.address.unwrap().addr, addr());
    // Lifetimes from the Request's send time (10 ms).
    assert_eq!(b.t1, Some(t(10) + secs(100)));
    assert_eq!(b.t2, Some(t(10) + secs(160)));
    assert_eq!(b.expiry, Some(t(10) + secs(300)));
    assert_eq!(c.poll_timeout(), b.t1);
    assert!(sent(&mut c).is_empty());
}

#[test]
fn bound_event_and_background() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(100, 160, 200, 300)
    };
    c.handle_packet(t(10), &adv.bytes(&c));
    sent(&mut c);
    c.handle_packet(
        t(20),
        &Srv::new(msg::REPLY, S1).na(100, 160, 200, 300).bytes(&c),
    );
    let ev = events(&mut c);
    assert_eq!(names(&ev), ["bound", "background"]);
    let Event6::Script(s) = &ev[0] else { panic!() };
    let env = s.env("eth0");
    assert!(env.contains(&("ipv6".into(), "2001:db8::10".into())));
    assert!(env.contains(&("lease".into(), "300".into())));
}

#[test]
fn zero_t1_t2_use_half_and_eight_tenths_of_preferred() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 1000, 2000)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    sent(&mut c);
    c.handle_packet(
        t(0),
        &Srv::new(msg::REPLY, S1).na(0, 0, 1000, 2000).bytes(&c),
    );
    let b = c.binding().unwrap();
    assert_eq!(
        (b.t1, b.t2),
        (Some(t(0) + secs(500)), Some(t(0) + secs(800)))
    );
    // T1 > T2 is inconsistent: the same defaults.
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    c.handle_packet(t(0), &adv.bytes(&c));
    sent(&mut c);
    c.handle_packet(
        t(0),
        &Srv::new(msg::REPLY, S1).na(900, 300, 1000, 2000).bytes(&c),
    );
    assert_eq!(c.binding().unwrap().t1, Some(t(0) + secs(500)));
}

#[test]
fn infinite_lifetimes_never_renew() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(INFINITY, INFINITY, INFINITY, INFINITY)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    sent(&mut c);
    let r = Srv::new(msg::REPLY, S1).na(INFINITY, INFINITY, INFINITY, INFINITY);
    c.handle_packet(t(0), &r.bytes(&c));
    assert_eq!(c.state(), State6::Bound);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn renew_at_t1_rebind_at_t2_deconfig_at_expiry() {
    let mut c = bound(Config6::new(MAC));
    let t1 = t(10) + secs(100);
    let t2 = t(10) + secs(160);
    let exp = t(10) + secs(300);
    c.handle_timeout(t1 - Duration::from_millis(1));
    assert!(sent(&mut c).is_empty(), "early timeout is a no-op");
    c.handle_timeout(t1);
    let r = one(&mut c, msg::RENEW);
    let m = Message::new_checked(&r).unwrap();
    assert_eq!(m.option(opt::SERVERID).unwrap(), S1);
    assert!(opts(&r).contains(&opt::IA_NA));
    // REN_TIMEOUT 10 s ± 10 %, then doubling; never past T2.
    let mut now = t1;
    let mut renews = 1;
    let mut waits = Vec::new();
    while c.state() == State6::Renewing {
        let next = c.poll_timeout().unwrap();
        assert!(next <= t2 || next == t2);
        waits.push(next - now);
        now = next;
        c.handle_timeout(now);
        for x in sent(&mut c) {
            if x.kind == msg::RENEW {
                renews += 1;
            } else {
                assert_eq!(x.kind, msg::REBIND);
                let m = Message::new_checked(&x.message).unwrap();
                assert!(m.option(opt::SERVERID).is_none());
            }
        }
    }
    assert_eq!(c.state(), State6::Rebinding);
    assert_eq!(now, t2);
    assert!(waits[0] >= secs(9) && waits[0] <= secs(11), "{waits:?}");
    assert!(waits[1] >= secs(18) && waits[1] <= secs(22), "{waits:?}");
    assert!(renews >= 3, "{renews}");
    // Rebind until the valid lifetime ends, then deconfig and Solicit.
    let mut guard = 0;
    while c.state() == State6::Rebinding {
        let next = c.poll_timeout().unwrap();
        assert!(next <= exp);
        assert!(next - now >= MIN_WAIT || next == exp);
        now = next;
        c.handle_timeout(now);
        sent(&mut c);
        guard += 1;
        assert!(guard < 20, "rebinding spins");
    }
    assert_eq!(now, exp);
    assert_eq!(names(&events(&mut c)), ["deconfig"]);
    c.handle_timeout(now);
    one(&mut c, msg::SOLICIT);
}

#[test]
fn renew_reply_runs_renew_with_new_timers() {
    let mut c = bound(Config6::new(MAC));
    let t1 = t(10) + secs(100);
    c.handle_timeout(t1);
    one(&mut c, msg::RENEW);
    c.handle_packet(
        t1 + secs(1),
        &Srv::new(msg::REPLY, S1).na(100, 160, 200, 300).bytes(&c),
    );
    assert_eq!(names(&events(&mut c)), ["renew"]);
    assert_eq!(c.poll_timeout(), Some(t1 + secs(100)));
}

#[test]
fn no_binding_on_renew_requests_again() {
    let mut c = bound(Config6::new(MAC));
    let t1 = t(10) + secs(100);
    c.handle_timeout(t1);
    one(&mut c, msg::RENEW);
    let nb = Srv {
        na: Some((0, 0, None, status::NO_BINDING)),
        ..Srv::new(msg::REPLY, S1)
    };
    c.handle_packet(t1, &nb.bytes(&c));
    let r = one(&mut c, msg::REQUEST);
    assert_eq!(c.state(), State6::Requesting);
    let m = Message::new_checked(&r).unwrap();
    assert_eq!(m.option(opt::SERVERID).unwrap(), S1);
    assert!(events(&mut c).is_empty(), "no script for NoBinding");
}

#[test]
fn not_on_link_and_no_addrs_on_request_nak_then_solicit_after_backoff() {
    for st in [status::NOT_ON_LINK, status::NO_ADDRS_AVAIL] {
        let mut c = client(Config6::new(MAC));
        start(&mut c);
        let adv = Srv {
            pref: Some(255),
            ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
        };
        c.handle_packet(t(0), &adv.bytes(&c));
        sent(&mut c);
        let nak = Srv {
            na: Some((0, 0, None, st)),
            ..Srv::new(msg::REPLY, S1)
        };
        c.handle_packet(t(50), &nak.bytes(&c));
        let ev = events(&mut c);
        assert_eq!(names(&ev), ["nak"]);
        let Event6::Script(s) = &ev[0] else { panic!() };
        assert!(s.env("eth0").contains(&("status".into(), st.to_string())));
        assert_eq!(c.state(), State6::Soliciting);
        assert_eq!(c.poll_timeout(), Some(t(50) + NAK_BACKOFF));
        c.handle_timeout(t(50) + NAK_BACKOFF);
        one(&mut c, msg::SOLICIT);
    }
}

#[test]
fn use_multicast_is_ignored_and_retransmission_continues() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    sent(&mut c);
    let due = c.poll_timeout();
    let um = Srv {
        top: Some(status::USE_MULTICAST),
        ..Srv::new(msg::REPLY, S1)
    };
    c.handle_packet(t(1), &um.bytes(&c));
    assert!(events(&mut c).is_empty() && sent(&mut c).is_empty());
    assert_eq!((c.state(), c.poll_timeout()), (State6::Requesting, due));
}

#[test]
fn request_gives_up_after_req_max_rc() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    let mut requests = sent(&mut c).len();
    let mut last = t(0);
    while c.state() == State6::Requesting {
        let next = c.poll_timeout().unwrap();
        assert!(next - last >= MIN_WAIT);
        assert!(
            next - last <= Duration::from_millis(33_000),
            "REQ_MAX_RT cap"
        );
        last = next;
        c.handle_timeout(next);
        requests += sent(&mut c).len();
    }
    assert_eq!(requests, params::REQ_MAX_RC as usize);
    assert_eq!(names(&events(&mut c)), ["leasefail"]);
}

#[test]
fn solicit_rounds_leasefail_tryagain_exit_and_background() {
    let mut cfg = Config6::new(MAC);
    cfg.timeout = secs(1);
    let mut c = client(cfg.clone());
    start(&mut c);
    for _ in 0..2 {
        let d = c.poll_timeout().unwrap();
        c.handle_timeout(d);
        one(&mut c, msg::SOLICIT);
    }
    let d = c.poll_timeout().unwrap();
    c.handle_timeout(d);
    assert!(sent(&mut c).is_empty());
    assert_eq!(names(&events(&mut c)), ["leasefail"]);
    assert_eq!(c.poll_timeout(), Some(d + secs(20)));
    c.handle_timeout(d + secs(20));
    one(&mut c, msg::SOLICIT);

    cfg.exit_on_fail = true;
    let mut c = client(cfg.clone());
    start(&mut c);
    while !c.is_finished() {
        let d = c.poll_timeout().unwrap();
        c.handle_timeout(d);
        sent(&mut c);
    }
    assert_eq!(events(&mut c).last(), Some(&Event6::Exit(1)));

    cfg.background_on_fail = true;
    let mut c = client(cfg);
    start(&mut c);
    for _ in 0..3 {
        let d = c.poll_timeout().unwrap();
        c.handle_timeout(d);
    }
    assert_eq!(names(&events(&mut c)), ["leasefail", "background"]);
    assert!(!c.is_finished(), "-b wins over -n");
}

#[test]
fn prefix_only_without_address() {
    let mut cfg = Config6::new(MAC);
    cfg.request_address = false;
    cfg.request_prefix = true;
    let mut c = client(cfg);
    let s = start(&mut c);
    let o = opts(&s);
    assert!(o.contains(&opt::IA_PD) && !o.contains(&opt::IA_NA));
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).pd(100, 160, 200, 300)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    let r = one(&mut c, msg::REQUEST);
    assert!(!opts(&r).contains(&opt::IA_NA));
    c.handle_packet(
        t(1),
        &Srv::new(msg::REPLY, S1).pd(100, 160, 200, 300).bytes(&c),
    );
    let ev = events(&mut c);
    let Event6::Script(s) = &ev[0] else { panic!() };
    assert_eq!(s.name(), "bound");
    let env = s.env("eth0");
    assert!(env.contains(&("ipv6prefix".into(), "2001:db8:100::/56".into())));
    assert!(env.contains(&("ipv6prefix_lease".into(), "300".into())));
    assert!(!env.iter().any(|(k, _)| k == "ipv6"));
    // Renew names only the IA_PD.
    c.handle_timeout(t(0) + secs(100));
    let r = one(&mut c, msg::RENEW);
    assert!(opts(&r).contains(&opt::IA_PD) && !opts(&r).contains(&opt::IA_NA));
}

#[test]
fn address_and_prefix_requested_prefix_only_given() {
    let mut cfg = Config6::new(MAC);
    cfg.request_prefix = true;
    let mut c = client(cfg);
    let s = start(&mut c);
    assert!(opts(&s).contains(&opt::IA_NA) && opts(&s).contains(&opt::IA_PD));
    let partial = |k| Srv {
        pref: Some(255),
        na: Some((0, 0, None, status::NO_ADDRS_AVAIL)),
        ..Srv::new(k, S1).pd(100, 160, 200, 300)
    };
    c.handle_packet(t(0), &partial(msg::ADVERTISE).bytes(&c));
    one(&mut c, msg::REQUEST);
    c.handle_packet(t(1), &partial(msg::REPLY).bytes(&c));
    assert_eq!(c.state(), State6::Bound);
    let b = c.binding().unwrap();
    assert!(b.address.is_none() && b.prefix.is_some());
}

#[test]
fn rapid_commit_reply_accepted_plain_reply_to_solicit_ignored() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    c.handle_packet(
        t(1),
        &Srv::new(msg::REPLY, S1).na(100, 160, 200, 300).bytes(&c),
    );
    assert_eq!(c.state(), State6::Soliciting);
    let rc = Srv {
        rapid: true,
        ..Srv::new(msg::REPLY, S1).na(100, 160, 200, 300)
    };
    c.handle_packet(t(2), &rc.bytes(&c));
    assert_eq!(c.state(), State6::Bound);
    assert_eq!(names(&events(&mut c)), ["bound", "background"]);
    // Lifetimes from the Solicit (0 ms).
    assert_eq!(c.binding().unwrap().t1, Some(t(0) + secs(100)));
}

#[test]
fn reconfigure_and_foreign_replies_ignored() {
    let mut c = bound(Config6::new(MAC));
    let due = c.poll_timeout();
    let mut reconf = Srv::new(msg::RECONFIGURE, S1).bytes(&c);
    c.handle_packet(t(30), &reconf);
    reconf.push(0); // and a malformed one
    c.handle_packet(t(30), &reconf);
    assert_eq!((c.state(), c.poll_timeout()), (State6::Bound, due));
    assert!(sent(&mut c).is_empty() && events(&mut c).is_empty());

    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
    };
    let mut wrong_xid = adv.bytes(&c);
    wrong_xid[3] ^= 1;
    c.handle_packet(t(1), &wrong_xid);
    let mut b = Builder::new(msg::ADVERTISE, c.xid());
    b.option(opt::CLIENTID, &w::duid_ll([9; 6])).unwrap();
    b.option(opt::SERVERID, S1).unwrap();
    c.handle_packet(t(1), &b.finish().unwrap());
    let mut no_server = Builder::new(msg::ADVERTISE, c.xid());
    no_server.option(opt::CLIENTID, c.duid()).unwrap();
    c.handle_packet(t(1), &no_server.finish().unwrap());
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.state(), State6::Soliciting);
}

#[test]
fn hostile_short_options_change_nothing() {
    let mut c = bound(Config6::new(MAC));
    let t1 = t(10) + secs(100);
    c.handle_timeout(t1);
    one(&mut c, msg::RENEW);
    let due = c.poll_timeout();
    let before = c.binding().cloned();
    let ia = |inner: &[u8]| {
        let mut body = ia_header(c.iaid(), 1, 2).to_vec();
        body.extend_from_slice(inner);
        body
    };
    let bad: [Vec<u8>; 4] = [
        ia(&[0, 5, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), // IAADDR of 10 bytes
        ia(&[0, 13, 0, 1, 0]),                             // STATUS_CODE of 1 byte
        vec![0; 5],                                        // IA_NA of 5 bytes
        ia(&[0, 5, 0, 30]),                                // IAADDR overrunning its IA
    ];
    for body in bad {
        let mut b = Builder::new(msg::REPLY, c.xid());
        b.option(opt::CLIENTID, c.duid()).unwrap();
        b.option(opt::SERVERID, S1).unwrap();
        b.option(opt::IA_NA, &body).unwrap();
        if let Ok(m) = b.finish() {
            c.handle_packet(t1 + secs(1), &m);
        }
        // A top-level short STATUS_CODE too.
        let mut b = Builder::new(msg::REPLY, c.xid());
        b.option(opt::CLIENTID, c.duid()).unwrap();
        b.option(opt::SERVERID, S1).unwrap();
        b.option(opt::STATUS_CODE, &[0]).unwrap();
        c.handle_packet(t1 + secs(1), &b.finish().unwrap());
    }
    assert_eq!(c.state(), State6::Renewing);
    assert_eq!(c.poll_timeout(), due);
    assert_eq!(c.binding().cloned(), before);
    assert!(sent(&mut c).is_empty() && events(&mut c).is_empty());
}

#[test]
fn short_iaprefix_is_rejected() {
    let mut cfg = Config6::new(MAC);
    cfg.request_address = false;
    cfg.request_prefix = true;
    let mut c = client(cfg);
    start(&mut c);
    let mut body = ia_header(c.iaid(), 1, 2).to_vec();
    body.extend_from_slice(&[0, 26, 0, 20]);
    body.extend_from_slice(&[0; 20]);
    let mut b = Builder::new(msg::ADVERTISE, c.xid());
    b.option(opt::CLIENTID, c.duid()).unwrap();
    b.option(opt::SERVERID, S1).unwrap();
    b.option(opt::PREFERENCE, &[255]).unwrap();
    b.option(opt::IA_PD, &body).unwrap();
    c.handle_packet(t(1), &b.finish().unwrap());
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.state(), State6::Soliciting);
}

#[test]
fn release_command_and_renew_from_released() {
    let mut c = bound(Config6::new(MAC));
    c.handle_command(t(1000), Command6::Release);
    let r = one(&mut c, msg::RELEASE);
    let m = Message::new_checked(&r).unwrap();
    assert_eq!(m.option(opt::SERVERID).unwrap(), S1);
    let ia = Ia::parse(m.option(opt::IA_NA).unwrap()).unwrap();
    assert_eq!(
        IaAddr::parse(find(ia.options, opt::IAADDR).unwrap())
            .unwrap()
            .addr,
        addr()
    );
    assert_eq!(names(&events(&mut c)), ["deconfig"]);
    assert_eq!((c.state(), c.poll_timeout()), (State6::Released, None));
    c.handle_command(t(2000), Command6::Renew);
    c.handle_timeout(t(2000));
    one(&mut c, msg::SOLICIT);
}

#[test]
fn usr1_when_bound_renews_now() {
    let mut c = bound(Config6::new(MAC));
    c.handle_command(t(500), Command6::Renew);
    one(&mut c, msg::RENEW);
    assert_eq!(c.state(), State6::Renewing);
}

#[test]
fn terminate_with_and_without_release() {
    let mut cfg = Config6::new(MAC);
    let mut c = bound(cfg.clone());
    c.handle_command(t(500), Command6::Terminate);
    assert!(sent(&mut c).is_empty());
    assert_eq!(events(&mut c), [Event6::Exit(0)]);
    cfg.release_on_exit = true;
    let mut c = bound(cfg);
    c.handle_command(t(500), Command6::Terminate);
    one(&mut c, msg::RELEASE);
    assert_eq!(names(&events(&mut c)), ["deconfig", "exit"]);
    assert!(c.is_finished() && c.poll_timeout().is_none());
}

#[test]
fn quit_after_lease_with_release() {
    let mut cfg = Config6::new(MAC);
    cfg.quit_after_lease = true;
    cfg.release_on_exit = true;
    let mut c = client(cfg);
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(100, 160, 200, 300)
    };
    c.handle_packet(t(1), &adv.bytes(&c));
    sent(&mut c);
    c.handle_packet(
        t(2),
        &Srv::new(msg::REPLY, S1).na(100, 160, 200, 300).bytes(&c),
    );
    one(&mut c, msg::RELEASE);
    assert_eq!(names(&events(&mut c)), ["bound", "deconfig", "exit"]);
}

#[test]
fn stateless_information_request() {
    let mut cfg = Config6::new(MAC);
    cfg.stateless = true;
    let mut c = client(cfg);
    assert_eq!(names(&events(&mut c)), ["deconfig"]);
    c.handle_timeout(t(0));
    let r = one(&mut c, msg::INFORMATION_REQUEST);
    let o = opts(&r);
    assert!(!o.contains(&opt::IA_NA) && !o.contains(&opt::RAPID_COMMIT));
    let m = Message::new_checked(&r).unwrap();
    assert_eq!(m.option(opt::ORO).unwrap(), [0, 23, 0, 24, 0, 32]);
    let dns: Vec<u8> = "2001:db8::53"
        .parse::<Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    let reply = Srv {
        extra: vec![
            (opt::DNS_SERVERS, dns),
            (opt::DOMAIN_LIST, encode_names(&["lan.example"]).unwrap()),
            (32, 700u32.to_be_bytes().to_vec()),
        ],
        ..Srv::new(msg::REPLY, S1)
    };
    c.handle_packet(t(5), &reply.bytes(&c));
    let ev = events(&mut c);
    assert_eq!(names(&ev), ["bound", "background"]);
    let Event6::Script(s) = &ev[0] else { panic!() };
    let env = s.env("eth0");
    assert!(env.contains(&("dns".into(), "2001:db8::53".into())));
    assert!(env.contains(&("search".into(), "lan.example".into())));
    assert_eq!(c.state(), State6::InfoBound);
    assert_eq!(c.poll_timeout(), Some(t(5) + secs(700)));
    c.handle_timeout(t(5) + secs(700));
    one(&mut c, msg::INFORMATION_REQUEST);
}

#[test]
fn stateless_refresh_time_has_a_floor() {
    let mut cfg = Config6::new(MAC);
    cfg.stateless = true;
    let mut c = client(cfg);
    events(&mut c);
    c.handle_timeout(t(0));
    sent(&mut c);
    let reply = Srv {
        extra: vec![(32, 1u32.to_be_bytes().to_vec())],
        ..Srv::new(msg::REPLY, S1)
    };
    c.handle_packet(t(0), &reply.bytes(&c));
    assert_eq!(c.poll_timeout(), Some(t(0) + secs(params::IRT_MINIMUM)));
}

#[test]
fn env_is_capped_and_shell_safe() {
    let mut c = bound(Config6::new(MAC));
    let _ = &mut c;
    let dns: Vec<u8> = (0u8..40)
        .flat_map(|i| {
            let mut a = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[15] = i;
            a
        })
        .collect();
    let mut b = Builder::new(msg::REPLY, 1);
    b.option(opt::DNS_SERVERS, &dns).unwrap();
    b.option(opt::NEW_POSIX_TIMEZONE, b"EST5EDT;$(reboot)`x`")
        .unwrap();
    b.option(opt::NEW_TZDB_TIMEZONE, b"Europe/Paris").unwrap();
    b.option(opt::BOOTFILE_URL, &vec![b'a'; 5000]).unwrap();
    b.option(opt::DOMAIN_LIST, &[3, b'a', b';', b'b', 0])
        .unwrap();
    let m = b.finish().unwrap();
    let env = script_env("eth0", &m, None, None);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("dns").unwrap().split(' ').count(), MAX_LIST_ITEMS);
    assert_eq!(get("tz").unwrap(), "EST5EDT___reboot__x_");
    assert_eq!(get("tz_name").unwrap(), "Europe/Paris");
    assert_eq!(get("bootfile_url").unwrap().len(), env::MAX_VALUE_LEN);
    assert_eq!(get("search").unwrap(), "a_b");
    // Malformed DNS length: no variable.
    let mut b = Builder::new(msg::REPLY, 1);
    b.option(opt::DNS_SERVERS, &[0; 17]).unwrap();
    let env = script_env("eth0", &b.finish().unwrap(), None, None);
    assert!(!env.iter().any(|(k, _)| k == "dns"));
}

#[test]
fn zero_timeouts_do_not_spin() {
    let mut cfg = Config6::new(MAC);
    cfg.timeout = Duration::ZERO;
    cfg.tryagain = Duration::ZERO;
    cfg.retries = 2;
    let mut c = client(cfg);
    start(&mut c);
    let mut last = t(0);
    for _ in 0..50 {
        let next = c.poll_timeout().unwrap();
        assert!(next - last >= MIN_WAIT, "{last:?} -> {next:?}");
        last = next;
        c.handle_timeout(next);
        sent(&mut c);
        events(&mut c);
    }
}

#[test]
fn failing_replies_back_off() {
    // A server answering every Request with UnspecFail: at most one
    // Solicit per NAK_BACKOFF.
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let mut solicits = 0;
    let mut now = t(0);
    for _ in 0..10 {
        let adv = Srv {
            pref: Some(255),
            ..Srv::new(msg::ADVERTISE, S1).na(0, 0, 100, 200)
        };
        c.handle_packet(now, &adv.bytes(&c));
        one(&mut c, msg::REQUEST);
        let fail = Srv {
            top: Some(status::UNSPEC_FAIL),
            ..Srv::new(msg::REPLY, S1)
        };
        c.handle_packet(now, &fail.bytes(&c));
        assert_eq!(names(&events(&mut c)), ["nak"]);
        let next = c.poll_timeout().unwrap();
        assert_eq!(next - now, NAK_BACKOFF);
        now = next;
        c.handle_timeout(now);
        solicits += sent(&mut c).len();
    }
    assert_eq!(solicits, 10);
}

#[test]
fn rebind_reply_from_another_server_is_taken() {
    let mut c = bound(Config6::new(MAC));
    let t2 = t(10) + secs(160);
    c.handle_timeout(t(10) + secs(100));
    one(&mut c, msg::RENEW);
    while c.state() == State6::Renewing {
        let d = c.poll_timeout().unwrap();
        c.handle_timeout(d);
        sent(&mut c);
    }
    assert_eq!(c.state(), State6::Rebinding);
    c.handle_packet(
        t2,
        &Srv::new(msg::REPLY, S2).na(100, 160, 200, 300).bytes(&c),
    );
    assert_eq!(names(&events(&mut c)), ["renew"]);
    assert_eq!(c.binding().unwrap().server_id, S2);
    // The next Renew goes to the new server.
    let t1 = c.poll_timeout().unwrap();
    c.handle_timeout(t1);
    let r = one(&mut c, msg::RENEW);
    assert_eq!(
        Message::new_checked(&r)
            .unwrap()
            .option(opt::SERVERID)
            .unwrap(),
        S2
    );
}

#[test]
fn advertise_and_reply_with_withdrawn_or_invalid_lifetimes_are_not_bound() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    // valid 0 (withdrawn) and preferred > valid (invalid, §21.6).
    for (pref, valid) in [(0, 0), (300, 200)] {
        let adv = Srv {
            pref: Some(255),
            ..Srv::new(msg::ADVERTISE, S1).na(0, 0, pref, valid)
        };
        c.handle_packet(t(1), &adv.bytes(&c));
    }
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.state(), State6::Soliciting);
}

#[test]
fn second_usr1_before_the_answer_starts_over() {
    let mut c = bound(Config6::new(MAC));
    c.handle_command(t(500), Command6::Renew);
    one(&mut c, msg::RENEW);
    c.handle_command(t(600), Command6::Renew);
    assert_eq!(names(&events(&mut c)), ["deconfig"]);
    assert!(c.binding().is_none());
    c.handle_timeout(t(600));
    one(&mut c, msg::SOLICIT);
    // A T1 renewal answered, then one USR1: only a renew, no deconfig.
    let mut c = bound(Config6::new(MAC));
    c.handle_timeout(t(10) + secs(100));
    one(&mut c, msg::RENEW);
    c.handle_command(t(10) + secs(101), Command6::Renew);
    one(&mut c, msg::RENEW);
    assert!(events(&mut c).is_empty());
    c.handle_packet(
        t(10) + secs(102),
        &Srv::new(msg::REPLY, S1).na(100, 160, 200, 300).bytes(&c),
    );
    assert_eq!(names(&events(&mut c)), ["renew"]);
    c.handle_command(t(10) + secs(103), Command6::Renew);
    one(&mut c, msg::RENEW);
    assert!(
        events(&mut c).is_empty(),
        "the flag was cleared by the Reply"
    );
}

#[test]
fn sol_max_rt_from_an_ignored_advertise_caps_solicits() {
    let mut cfg = Config6::new(MAC);
    cfg.retries = 0;
    let mut c = client(cfg);
    start(&mut c);
    for (value, applies) in [(30u32, false), (90_000, false), (60, true)] {
        let adv = Srv {
            top: Some(status::NO_ADDRS_AVAIL),
            extra: vec![(opt::SOL_MAX_RT, value.to_be_bytes().to_vec())],
            ..Srv::new(msg::ADVERTISE, S1)
        };
        c.handle_packet(t(1), &adv.bytes(&c));
        assert_eq!(c.sol_max_rt == secs(60), applies, "{value}");
    }
    assert!(sent(&mut c).is_empty(), "the Advertise itself is ignored");
    let mut last = t(0);
    let mut waits = Vec::new();
    for _ in 0..12 {
        let next = c.poll_timeout().unwrap();
        waits.push(next - last);
        last = next;
        c.handle_timeout(next);
        sent(&mut c);
    }
    assert!(
        waits.iter().all(|w| *w <= Duration::from_millis(66_000)),
        "{waits:?}"
    );
    assert!(waits.last().unwrap() >= &secs(54), "{waits:?}");
}

#[test]
fn t1_t2_beyond_the_valid_lifetime_are_clamped() {
    let mut c = client(Config6::new(MAC));
    start(&mut c);
    let adv = Srv {
        pref: Some(255),
        ..Srv::new(msg::ADVERTISE, S1).na(1000, 2000, 40, 50)
    };
    c.handle_packet(t(0), &adv.bytes(&c));
    sent(&mut c);
    c.handle_packet(
        t(0),
        &Srv::new(msg::REPLY, S1).na(1000, 2000, 40, 50).bytes(&c),
    );
    let b = c.binding().unwrap();
    assert_eq!(
        (b.t1, b.t2, b.expiry),
        (
            Some(t(0) + secs(50)),
            Some(t(0) + secs(50)),
            Some(t(0) + secs(50))
        )
    );
    // At 50 s T1, T2 and the valid lifetime end together: lost at once.
    let mut now = t(0);
    let mut guard = 0;
    while c.binding().is_some() {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        sent(&mut c);
        guard += 1;
        assert!(guard < 10, "{c:?}");
    }
    assert_eq!(now, t(0) + secs(50));
    assert_eq!(names(&events(&mut c)), ["bound", "background", "deconfig"]);
}
