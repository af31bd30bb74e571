//! Scenario tests on a virtual clock: every transition of the state machine
//! at explicit times, with server replies built by `MessageBuilder`.

use super::*;
use crate::wire::dhcp::MessageBuilder;
use crate::wire::MacAddr;

const MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
/// The xids the test source hands out, in order.
const XID1: u32 = 0x1000_0001;
const XID2: u32 = 0x1000_0002;
const XID3: u32 = 0x1000_0003;
const XID4: u32 = 0x1000_0004;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn s(v: u64) -> Instant {
    Instant::from_millis(v * 1000)
}

fn xids() -> impl FnMut() -> u32 + Send + 'static {
    let mut n = 0x1000_0000u32;
    move || {
        n += 1;
        n
    }
}

/// BusyBox defaults, no jitter, `-f` (backgrounding has its own tests).
fn cfg() -> Config {
    let mut c = Config::new(MAC);
    c.jitter = false;
    c.foreground = true;
    c
}

fn drain(c: &mut Client) -> (Vec<Transmit>, Vec<Event>) {
    let mut tx = Vec::new();
    while let Some(t) = c.poll_transmit() {
        tx.push(t);
    }
    let mut ev = Vec::new();
    while let Some(e) = c.poll_event() {
        ev.push(e);
    }
    (tx, ev)
}

fn assert_idle(c: &mut Client) {
    let (tx, ev) = drain(c);
    assert!(tx.is_empty(), "unexpected transmits {tx:?}");
    assert!(ev.is_empty(), "unexpected events {ev:?}");
}

/// The script runs and process events, without the state-file events
/// (those have [`memory`]).
fn names(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Script(s) => Some(s.name().to_owned()),
            Event::Probe { .. } => Some("probe".to_owned()),
            Event::Background => Some("background".to_owned()),
            Event::Exit(code) => Some(format!("exit {code}")),
            Event::Remember(_) | Event::Forget => None,
        })
        .collect()
}

/// Every event, the state-file ones included.
fn memory(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .map(|e| match e {
            Event::Remember(l) => format!("remember {}", l.ip),
            Event::Forget => "forget".to_owned(),
            other => names(std::slice::from_ref(other)).join(""),
        })
        .collect()
}

/// A server reply to our MAC.
fn reply(xid: u32, kind: MessageType, yiaddr: Ipv4Addr, opts: &[(u8, &[u8])]) -> Vec<u8> {
    let mut buf = vec![0u8; 1472];
    let mut b = MessageBuilder::new(&mut buf, OP_REPLY, xid).unwrap();
    b.header().set_client_mac(MAC);
    b.header().set_yiaddr(yiaddr);
    b.add_message_type(kind).unwrap();
    for (c, d) in opts {
        b.add_option(*c, d).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn offer(xid: u32) -> Vec<u8> {
    reply(
        xid,
        MessageType::Offer,
        IP,
        &[(54, &SERVER.octets()), (51, &3600u32.to_be_bytes())],
    )
}

fn ack_from(xid: u32, server: Ipv4Addr, lease: u32) -> Vec<u8> {
    reply(
        xid,
        MessageType::Ack,
        IP,
        &[
            (54, &server.octets()),
            (51, &lease.to_be_bytes()),
            (1, &[255, 255, 255, 0]),
        ],
    )
}

fn ack(xid: u32, lease: u32) -> Vec<u8> {
    ack_from(xid, SERVER, lease)
}

fn nak(xid: u32, server: Ipv4Addr) -> Vec<u8> {
    reply(
        xid,
        MessageType::Nak,
        ZERO,
        &[(54, &server.octets()), (56, b"no")],
    )
}

fn pkt(t: &Transmit) -> Packet<&[u8]> {
    Packet::new_checked(&t.message[..]).unwrap()
}

/// Options of a message in wire order.
fn opts(t: &Transmit) -> Vec<(u8, Vec<u8>)> {
    pkt(t)
        .options()
        .map(|r| r.map(|(c, d)| (c, d.to_vec())).unwrap())
        .collect()
}

fn codes(t: &Transmit) -> Vec<u8> {
    opts(t).into_iter().map(|(c, _)| c).collect()
}

/// Runs DORA: DISCOVER at 0 s, OFFER and SELECT at 0.5 s, ACK at 1 s.
/// Lease start (the SELECT) is 0.5 s.
fn bound(config: Config, lease: u32) -> Client {
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    c.handle_timeout(s(0));
    drain(&mut c);
    c.handle_packet(ms(500), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(1), &ack(XID1, lease));
    let (_, ev) = drain(&mut c);
    assert!(
        matches!(ev.first(), Some(Event::Script(ScriptEvent::Bound(_)))),
        "{ev:?}"
    );
    assert_eq!(c.state(), State::Bound);
    c
}

/// Fires the pending timeout and returns what came out.
fn fire(c: &mut Client) -> (Instant, Vec<Transmit>, Vec<Event>) {
    let at = c.poll_timeout().expect("a timer");
    c.handle_timeout(at);
    let (tx, ev) = drain(c);
    (at, tx, ev)
}

#[test]
fn dora() {
    let mut config = cfg();
    config.foreground = false;
    let mut c = Client::new(config, s(0), xids());
    // Startup: deconfig first, DISCOVER on a timer already due.
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.poll_timeout(), Some(s(0)));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(ev, [Event::Script(ScriptEvent::Deconfig)]);

    c.handle_timeout(s(0));
    assert_eq!(c.listen_mode(), ListenMode::Raw);
    let (tx, ev) = drain(&mut c);
    assert!(ev.is_empty());
    let [d] = &tx[..] else { panic!("{tx:?}") };
    assert_eq!(
        (d.kind, d.dest, d.src_ip, d.via),
        (
            MessageType::Discover,
            Destination::Broadcast,
            ZERO,
            Via::Raw
        )
    );
    let p = pkt(d);
    assert_eq!((p.op(), p.htype(), p.hlen(), p.hops()), (1, 1, 6, 0));
    assert_eq!(p.xid(), XID1);
    assert_eq!(p.secs(), 0);
    assert_eq!(p.flags(), 0);
    assert_eq!(p.ciaddr(), ZERO);
    assert_eq!(p.client_mac(), MAC);
    assert_eq!(&p.chaddr()[6..], &[0; 10]);
    assert_eq!(d.message.len(), 300);
    assert_eq!(
        opts(d),
        [
            (53, vec![1]),
            (57, vec![2, 64]),
            (55, vec![1, 3, 6, 12, 15, 26, 28, 42, 121]),
            (61, vec![1, 2, 0, 0x5e, 0x10, 0x20, 0x30]),
        ]
    );
    assert_eq!(c.poll_timeout(), Some(s(3)));

    // OFFER → SELECT at once, same xid, 50 and 54.
    c.handle_packet(ms(500), &offer(XID1));
    assert_eq!(c.state(), State::Requesting);
    assert_eq!(c.listen_mode(), ListenMode::Raw);
    let (tx, ev) = drain(&mut c);
    assert!(ev.is_empty());
    let [r] = &tx[..] else { panic!("{tx:?}") };
    assert_eq!(
        (r.kind, r.dest, r.src_ip, r.via),
        (MessageType::Request, Destination::Broadcast, ZERO, Via::Raw)
    );
    assert_eq!(pkt(r).xid(), XID1);
    assert_eq!(pkt(r).ciaddr(), ZERO);
    assert_eq!(codes(r), [53, 50, 54, 57, 55, 61]);
    assert_eq!(opts(r)[1].1, IP.octets());
    assert_eq!(opts(r)[2].1, SERVER.octets());
    assert_eq!(c.poll_timeout(), Some(ms(3500)));

    // ACK → bound, background (no -f), T1 from the SELECT time.
    c.handle_packet(s(1), &ack(XID1, 3600));
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.listen_mode(), ListenMode::None);
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["bound", "background"]);
    let Event::Script(ScriptEvent::Bound(lease)) = &ev[0] else {
        panic!()
    };
    assert_eq!(lease.ip, IP);
    assert_eq!(lease.server_id, SERVER);
    assert_eq!(lease.lease_secs, Some(3600));
    assert_eq!((lease.t1_secs, lease.t2_secs), (Some(1800), Some(3150)));
    assert_eq!(lease.start, ms(500));
    let env = ScriptEvent::Bound(lease.clone()).env("eth0");
    for want in [
        ("interface", "eth0"),
        ("ip", "192.168.1.100"),
        ("lease", "3600"),
        ("mask", "24"),
        ("serverid", "192.168.1.1"),
        ("opt53", "05"),
    ] {
        assert!(
            env.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} in {env:?}"
        );
    }
    assert_eq!(c.poll_timeout(), Some(ms(1_800_500)));
    assert_eq!(c.lease().map(|l| l.ip), Some(IP));
    // Packets are not expected while bound.
    c.handle_packet(s(2), &ack(XID1, 60));
    assert_idle(&mut c);
    assert_eq!(c.lease().and_then(|l| l.lease_secs), Some(3600));
}

#[test]
fn discover_backoff_leasefail_and_tryagain() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    let mut sent = Vec::new();
    for _ in 0..3 {
        let (at, tx, ev) = fire(&mut c);
        assert!(ev.is_empty());
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].kind, MessageType::Discover);
        sent.push((at, pkt(&tx[0]).xid(), pkt(&tx[0]).secs()));
    }
    // BusyBox's fixed -T pause, same xid, secs since the first.
    assert_eq!(sent, [(s(0), XID1, 0), (s(3), XID1, 3), (s(6), XID1, 6)]);
    assert_eq!(c.poll_timeout(), Some(s(9)));
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, s(9));
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["leasefail"]);
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.state(), State::InitSelecting);
    assert_eq!(c.poll_timeout(), Some(s(29)));
    // Next round: new xid; secs keeps counting (BusyBox resets it only at
    // the listed points, not at leasefail).
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, s(29));
    assert_eq!(pkt(&tx[0]).xid(), XID2);
    assert_eq!(pkt(&tx[0]).secs(), 29);
    assert_eq!(c.listen_mode(), ListenMode::Raw);
}

#[test]
fn tryagain_backs_off_and_resets_after_a_lease() {
    let mut config = cfg();
    config.tryagain = Duration::from_secs(5);
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    // Each failed round: 3 DISCOVERs 3 s apart, leasefail at +9 s, then
    // -A 5 doubling: 5, 10, 20, 40, 64, 64 (never faster than that).
    let mut waits = Vec::new();
    for _ in 0..6 {
        for _ in 0..3 {
            fire(&mut c);
        }
        let (at, _, ev) = fire(&mut c);
        assert_eq!(names(&ev), ["leasefail"]);
        waits.push((c.poll_timeout().unwrap() - at).as_secs());
    }
    assert_eq!(waits, [5, 10, 20, 40, 64, 64]);
    // A lease resets the back-off.
    let (_, tx, _) = fire(&mut c);
    let xid = pkt(&tx[0]).xid();
    let t = c.poll_timeout().unwrap();
    c.handle_packet(t, &offer(xid));
    drain(&mut c);
    c.handle_packet(t, &ack(xid, 3600));
    drain(&mut c);
    c.handle_command(t, Command::Renew);
    c.handle_packet(t, &nak(c.xid(), SERVER));
    drain(&mut c);
    // The 3 s NAK pause, then a round of 3 DISCOVERs.
    for _ in 0..3 {
        fire(&mut c);
    }
    let (at, _, ev) = fire(&mut c);
    assert_eq!(names(&ev), ["leasefail"]);
    assert_eq!((c.poll_timeout().unwrap() - at).as_secs(), 5);
}

#[test]
fn no_cable_timing_with_t3_t3_is_about_nine_seconds() {
    // -t 3 -T 3 -b: backgrounds 9 s ± jitter after start.
    let mut config = cfg();
    config.jitter = true;
    config.background_on_fail = true;
    config.foreground = false;
    for seed in [1u32, 0x9e37_79b9, 0xdead_beef, 7] {
        let mut n = seed;
        let mut c = Client::new(config.clone(), s(0), move || {
            n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            n
        });
        drain(&mut c);
        let bg = loop {
            let (at, _, ev) = fire(&mut c);
            if names(&ev).contains(&"background".to_owned()) {
                break at;
            }
        };
        let ms = bg.as_millis();
        assert!((6000..=12_000).contains(&ms), "{ms}");
    }
}

#[test]
fn retries_zero_is_forever_with_capped_backoff() {
    let mut config = cfg();
    config.retries = 0;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    let mut times = Vec::new();
    for _ in 0..9 {
        let (at, tx, ev) = fire(&mut c);
        assert!(ev.is_empty());
        assert_eq!(tx.len(), 1);
        times.push(at.as_millis() / 1000);
    }
    assert_eq!(times, [0, 3, 9, 21, 45, 93, 157, 221, 285]);
}

#[test]
fn jitter_stays_within_a_second() {
    let mut config = cfg();
    config.jitter = true;
    let mut n = 0u32;
    let mut c = Client::new(config, s(0), move || {
        n = n.wrapping_add(0x9e37_79b9);
        n
    });
    drain(&mut c);
    let mut last = s(0);
    for i in 0..3u32 {
        let (at, _, _) = fire(&mut c);
        if i > 0 {
            let gap = (at - last).as_millis();
            let nominal = 3000u128;
            let j = (nominal / 4).min(1000);
            assert!(
                gap + j >= nominal && gap <= nominal + j,
                "gap {gap} nominal {nominal}"
            );
        }
        last = at;
    }
}

#[test]
fn exit_on_fail() {
    let mut config = cfg();
    config.exit_on_fail = true;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    for _ in 0..3 {
        fire(&mut c);
    }
    let (_, tx, ev) = fire(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["leasefail", "exit 1"]);
    assert!(c.is_finished());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.listen_mode(), ListenMode::None);
    c.handle_command(s(30), Command::Terminate);
    assert_idle(&mut c);
}

#[test]
fn background_on_fail_wins_over_exit_on_fail() {
    let mut config = cfg();
    config.exit_on_fail = true;
    config.background_on_fail = true;
    config.foreground = false;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    for _ in 0..3 {
        fire(&mut c);
    }
    let (_, _, ev) = fire(&mut c);
    assert_eq!(names(&ev), ["leasefail", "background"]);
    assert!(!c.is_finished());
    assert_eq!(c.poll_timeout(), Some(s(29)));
    // Second round fails too: no second background, no exit.
    for _ in 0..3 {
        fire(&mut c);
    }
    let (_, _, ev) = fire(&mut c);
    assert_eq!(names(&ev), ["leasefail"]);
    // A lease later: no background either (already done).
    let (_, tx, _) = fire(&mut c);
    let xid = pkt(&tx[0]).xid();
    c.handle_packet(s(83), &offer(xid));
    drain(&mut c);
    c.handle_packet(s(84), &ack(xid, 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["bound"]);
}

#[test]
fn exit_on_fail_cleared_by_first_lease() {
    let mut config = cfg();
    config.exit_on_fail = true;
    let mut c = bound(config, 3600);
    c.handle_command(s(10), Command::Renew);
    c.handle_packet(s(11), &nak(c.xid(), SERVER));
    drain(&mut c);
    for _ in 0..3 {
        fire(&mut c);
    }
    let (_, _, ev) = fire(&mut c);
    assert_eq!(names(&ev), ["leasefail"]);
    assert!(!c.is_finished());
}

#[test]
fn select_retransmits_then_leasefail() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    let (tx, _) = drain(&mut c);
    assert_eq!(tx.len(), 1);
    let (at, tx, _) = fire(&mut c);
    assert_eq!((at, tx[0].kind), (s(4), MessageType::Request));
    assert_eq!(pkt(&tx[0]).secs(), 4);
    let (at, tx, _) = fire(&mut c);
    assert_eq!((at, tx.len()), (s(7), 1));
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, s(10));
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["leasefail"]);
    assert_eq!(c.state(), State::InitSelecting);
    // The next DISCOVER asks for the offered address again (BusyBox).
    let (_, tx, _) = fire(&mut c);
    assert_eq!(opts(&tx[0])[1], (50, IP.octets().to_vec()));
}

#[test]
fn renew_at_t1_by_unicast() {
    let mut c = bound(cfg(), 3600);
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, ms(1_800_500));
    assert!(ev.is_empty());
    assert_eq!(c.state(), State::Renewing);
    assert_eq!(c.listen_mode(), ListenMode::Kernel);
    let [r] = &tx[..] else { panic!() };
    assert_eq!(
        (r.kind, r.dest, r.src_ip, r.via),
        (
            MessageType::Request,
            Destination::Unicast(SERVER),
            IP,
            Via::Kernel
        )
    );
    let p = pkt(r);
    assert_eq!(p.ciaddr(), IP);
    assert_eq!(p.xid(), XID2);
    assert_eq!(p.secs(), 0);
    assert_eq!(p.flags(), 0);
    assert_eq!(codes(r), [53, 57, 55, 61]);
    // ACK → renew script, new timers from the renew's send time.
    c.handle_packet(ms(1_801_000), &ack(XID2, 1000));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["renew"]);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.poll_timeout(), Some(ms(2_300_500)));
}

#[test]
fn renew_and_rebind_retransmission_schedule() {
    let mut c = bound(cfg(), 3600);
    let mut renews = Vec::new();
    loop {
        let (at, tx, ev) = fire(&mut c);
        assert!(ev.is_empty());
        let [t] = &tx[..] else { panic!() };
        if c.state() != State::Renewing {
            assert_eq!(c.state(), State::Rebinding);
            assert_eq!(at, ms(3_150_500));
            assert_eq!(
                (t.dest, t.src_ip, t.via),
                (Destination::Broadcast, IP, Via::Raw)
            );
            assert_eq!(pkt(t).ciaddr(), IP);
            assert_eq!(codes(t), [53, 57, 55, 61]);
            assert_eq!(c.listen_mode(), ListenMode::Raw);
            break;
        }
        assert_eq!(t.dest, Destination::Unicast(SERVER));
        renews.push(at.as_millis());
    }
    // RFC 2131 §4.4.5: half the time left to T2, at least 60 s.
    assert_eq!(
        renews,
        [1_800_500, 2_475_500, 2_813_000, 2_981_750, 3_066_125, 3_126_125]
    );
    let mut rebinds = vec![3_150_500];
    loop {
        let (at, tx, ev) = fire(&mut c);
        if !ev.is_empty() {
            // Expiry: deconfig, INIT, DISCOVER at once asking for the old IP.
            assert_eq!(at, ms(3_600_500));
            assert!(tx.is_empty());
            assert_eq!(names(&ev), ["deconfig"]);
            assert_eq!(c.state(), State::InitSelecting);
            assert!(c.lease().is_none());
            break;
        }
        assert_eq!(tx[0].dest, Destination::Broadcast);
        rebinds.push(at.as_millis());
    }
    assert_eq!(rebinds, [3_150_500, 3_375_500, 3_488_000, 3_548_000]);
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, ms(3_600_500));
    assert_eq!(tx[0].kind, MessageType::Discover);
    // XID2 renewed, XID3 rebound: each is its own transaction.
    assert_eq!(pkt(&tx[0]).xid(), XID4);
    assert_eq!(opts(&tx[0])[1], (50, IP.octets().to_vec()));
}

#[test]
fn rebinding_accepts_any_server() {
    let mut c = bound(cfg(), 3600);
    while c.state() != State::Rebinding {
        fire(&mut c);
    }
    c.handle_packet(ms(3_200_000), &ack_from(c.xid(), OTHER, 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["renew"]);
    assert_eq!(c.lease().map(|l| l.server_id), Some(OTHER));
    let (_, tx, _) = fire(&mut c);
    assert_eq!(tx[0].dest, Destination::Unicast(OTHER));
}

#[test]
fn late_wakeup_goes_to_the_right_phase() {
    // Suspended through T2: the T1 timer fires late and rebinds directly.
    let mut c = bound(cfg(), 3600);
    c.handle_timeout(s(3200));
    let (tx, _) = drain(&mut c);
    assert_eq!(c.state(), State::Rebinding);
    assert_eq!(tx[0].dest, Destination::Broadcast);
    // Suspended past expiry.
    let mut c = bound(cfg(), 3600);
    c.handle_timeout(s(4000));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["deconfig"]);
    assert_eq!(c.state(), State::InitSelecting);
}

#[test]
fn spurious_timeouts_are_noops() {
    let mut c = bound(cfg(), 3600);
    c.handle_timeout(s(100));
    c.handle_timeout(s(1800));
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.poll_timeout(), Some(ms(1_800_500)));
}

#[test]
fn nak_while_requesting() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(2), &nak(XID1, SERVER));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["nak"]);
    let Event::Script(ScriptEvent::Nak(n)) = &ev[0] else {
        panic!()
    };
    let env = n.env("eth0");
    assert!(env.contains(&("message".to_owned(), "no".to_owned())));
    assert!(env.contains(&("ip".to_owned(), "0.0.0.0".to_owned())));
    // No sleep: a timer, with nothing listening meanwhile.
    assert_eq!(c.state(), State::InitSelecting);
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.poll_timeout(), Some(s(5)));
    c.handle_command(s(3), Command::Release);
    assert_eq!(c.state(), State::Released);
}

#[test]
fn nak_backoff_then_discover_without_requested_ip() {
    let mut c = bound(cfg(), 3600);
    fire(&mut c);
    c.handle_packet(s(1801), &nak(c.xid(), SERVER));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["nak", "deconfig"]);
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, s(1804));
    assert_eq!(tx[0].kind, MessageType::Discover);
    assert_eq!(pkt(&tx[0]).xid(), XID3);
    assert_eq!(codes(&tx[0]), [53, 57, 55, 61]);
}

#[test]
fn nak_from_another_server_ignored() {
    let mut c = bound(cfg(), 3600);
    fire(&mut c);
    c.handle_packet(s(1801), &nak(XID1, OTHER));
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Renewing);
    // Without option 54 it reads as 0.0.0.0: not ours either.
    let no_sid = reply(XID1, MessageType::Nak, ZERO, &[]);
    c.handle_packet(s(1801), &no_sid);
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Renewing);
}

#[test]
fn ack_from_another_server_ignored_while_requesting() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(2), &ack_from(XID1, OTHER, 3600));
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Requesting);
    assert_eq!(c.poll_timeout(), Some(s(4)));
    c.handle_packet(s(2), &ack(XID1, 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["bound"]);
}

#[test]
fn offer_only_while_discovering_first_wins() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    // Before the first DISCOVER nothing listens.
    c.handle_packet(s(0), &offer(0));
    assert_idle(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    let other = reply(
        XID1,
        MessageType::Offer,
        Ipv4Addr::new(192, 168, 1, 200),
        &[(54, &OTHER.octets())],
    );
    c.handle_packet(s(1), &other);
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Requesting);
}

#[test]
fn arp_conflict_while_requesting_declines() {
    let mut config = cfg();
    config.arping = Some(Duration::from_secs(2));
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(2), &ack(XID1, 3600));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(
        ev,
        [Event::Probe {
            ip: IP,
            timeout: Duration::from_secs(2)
        }]
    );
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.poll_timeout(), Some(s(5)));
    c.handle_probe(ms(3900), true);
    let (tx, ev) = drain(&mut c);
    assert!(ev.is_empty(), "no deconfig from REQUESTING: {ev:?}");
    let [d] = &tx[..] else { panic!() };
    assert_eq!(
        (d.kind, d.dest, d.src_ip, d.via),
        (MessageType::Decline, Destination::Broadcast, ZERO, Via::Raw)
    );
    let p = pkt(d);
    assert_eq!(p.xid(), XID2);
    assert_eq!((p.ciaddr(), p.secs(), p.flags()), (ZERO, 0, 0));
    assert_eq!(
        opts(d),
        [
            (53, vec![4]),
            (50, IP.octets().to_vec()),
            (54, SERVER.octets().to_vec()),
            (61, vec![1, 2, 0, 0x5e, 0x10, 0x20, 0x30]),
        ]
    );
    assert_eq!(c.state(), State::InitSelecting);
    assert_eq!(c.poll_timeout(), Some(ms(23_900)));
    let (_, tx, _) = fire(&mut c);
    assert_eq!(
        codes(&tx[0]),
        [53, 57, 55, 61],
        "no option 50 after a DECLINE"
    );
    assert_eq!(pkt(&tx[0]).xid(), XID3);
}

#[test]
fn arp_probe_on_renew_conflict_and_free() {
    let mut config = cfg();
    config.arping = Some(Duration::from_millis(500));
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(1), &ack(XID1, 3600));
    drain(&mut c);
    c.handle_probe(s(1), false);
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["bound"]);
    // A stray probe result changes nothing.
    c.handle_probe(s(2), true);
    assert_idle(&mut c);
    // Renew ACK → probe → conflict → DECLINE + deconfig.
    fire(&mut c);
    c.handle_packet(s(1802), &ack(c.xid(), 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["probe"]);
    // Commands other than release/terminate wait for the probe.
    c.handle_command(s(1802), Command::Renew);
    assert_idle(&mut c);
    c.handle_probe(s(1802), true);
    let (tx, ev) = drain(&mut c);
    assert_eq!(tx[0].kind, MessageType::Decline);
    assert_eq!(names(&ev), ["deconfig"]);
    assert_eq!(c.poll_timeout(), Some(s(1822)));
}

#[test]
fn arp_probe_without_answer_counts_as_free() {
    let mut config = cfg();
    config.arping = Some(Duration::from_secs(2));
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(1), &ack(XID1, 3600));
    drain(&mut c);
    let (at, _, ev) = fire(&mut c);
    assert_eq!(at, s(4));
    assert_eq!(names(&ev), ["bound"]);
}

#[test]
fn usr1_in_bound_renews_now_then_fails_fast() {
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(100), Command::Renew);
    assert_eq!(c.state(), State::RenewRequested);
    assert_eq!(c.listen_mode(), ListenMode::Kernel);
    let (tx, ev) = drain(&mut c);
    assert!(ev.is_empty());
    assert_eq!(
        (tx[0].dest, tx[0].via),
        (Destination::Unicast(SERVER), Via::Kernel)
    );
    assert_eq!(pkt(&tx[0]).secs(), 0);
    // Unanswered: rebinding after -T, lease capped at 30 s (BusyBox).
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, s(103));
    assert_eq!(c.state(), State::Rebinding);
    assert_eq!(tx[0].dest, Destination::Broadcast);
    let mut times = vec![103_000];
    loop {
        let (at, tx, ev) = fire(&mut c);
        if !ev.is_empty() {
            assert_eq!(at, s(130));
            assert_eq!(names(&ev), ["deconfig"]);
            break;
        }
        assert_eq!(tx[0].dest, Destination::Broadcast);
        times.push(at.as_millis());
    }
    assert_eq!(times, [103_000, 116_500, 123_250, 126_625, 129_625]);
    // USR1 is ignored while rebinding or selecting.
    let (_, tx, _) = fire(&mut c);
    assert_eq!(tx[0].kind, MessageType::Discover);
    c.handle_command(s(131), Command::Renew);
    assert_idle(&mut c);
}

#[test]
fn usr1_answered_restores_normal_timers() {
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(100), Command::Renew);
    drain(&mut c);
    c.handle_packet(ms(100_200), &ack(c.xid(), 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["renew"]);
    assert_eq!(c.poll_timeout(), Some(s(1900)));
}

#[test]
fn second_usr1_restarts_from_discover() {
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(100), Command::Renew);
    drain(&mut c);
    c.handle_command(s(101), Command::Renew);
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["deconfig"]);
    assert_eq!(c.state(), State::InitSelecting);
    assert_eq!(c.poll_timeout(), Some(s(101)));
    let (_, tx, _) = fire(&mut c);
    assert_eq!(tx[0].kind, MessageType::Discover);
    assert_eq!(pkt(&tx[0]).xid(), XID3);
}

#[test]
fn usr1_ignored_while_selecting_and_requesting() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_command(s(1), Command::Renew);
    assert_idle(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_command(s(1), Command::Renew);
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Requesting);
}

#[test]
fn usr2_releases_and_usr1_wakes() {
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(50), Command::Release);
    let (tx, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["deconfig"]);
    let [r] = &tx[..] else { panic!() };
    assert_eq!(
        (r.kind, r.dest, r.src_ip, r.via),
        (
            MessageType::Release,
            Destination::Unicast(SERVER),
            IP,
            Via::Kernel
        )
    );
    let p = pkt(r);
    assert_eq!((p.xid(), p.ciaddr(), p.secs()), (XID2, IP, 0));
    assert_eq!(
        opts(r),
        [
            (53, vec![7]),
            (54, SERVER.octets().to_vec()),
            (61, vec![1, 2, 0, 0x5e, 0x10, 0x20, 0x30])
        ]
    );
    assert_eq!(c.state(), State::Released);
    assert_eq!(c.listen_mode(), ListenMode::None);
    assert_eq!(c.poll_timeout(), None);
    assert!(c.lease().is_none());
    c.handle_packet(s(51), &ack(XID2, 3600));
    assert_idle(&mut c);
    // A second USR2: deconfig again, no RELEASE (nothing held).
    c.handle_command(s(52), Command::Release);
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["deconfig"]);
    c.handle_command(s(60), Command::Renew);
    assert_idle(&mut c);
    assert_eq!(c.state(), State::InitSelecting);
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, s(60));
    assert_eq!(tx[0].kind, MessageType::Discover);
    // The previous address is still asked for (BusyBox).
    assert_eq!(opts(&tx[0])[1], (50, IP.octets().to_vec()));
}

#[test]
fn term_without_and_with_release() {
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(10), Command::Terminate);
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["exit 0"]);
    assert!(c.is_finished());

    let mut config = cfg();
    config.release_on_exit = true;
    let mut c = bound(config.clone(), 3600);
    c.handle_command(s(10), Command::Terminate);
    let (tx, ev) = drain(&mut c);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].kind, MessageType::Release);
    assert_eq!(names(&ev), ["deconfig", "exit 0"]);

    // -R before any lease: deconfig only.
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    c.handle_command(s(1), Command::Terminate);
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["deconfig", "exit 0"]);
}

#[test]
fn quit_after_lease() {
    let mut config = cfg();
    config.quit_after_lease = true;
    config.foreground = false;
    let mut c = Client::new(config.clone(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(1), &ack(XID1, 3600));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["bound", "exit 0"], "no background with -q");
    assert!(c.is_finished());

    // -q -R: bound runs first, then RELEASE + deconfig + exit.
    config.release_on_exit = true;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    drain(&mut c);
    c.handle_packet(s(1), &ack(XID1, 3600));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["bound"]);
    assert_eq!(c.poll_timeout(), Some(s(1)));
    let (_, tx, ev) = fire(&mut c);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].kind, MessageType::Release);
    assert_eq!(names(&ev), ["deconfig", "exit 0"]);
    assert!(c.is_finished());
}

#[test]
fn t1_t2_options_honoured() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(0), &offer(XID1));
    drain(&mut c);
    let a = reply(
        XID1,
        MessageType::Ack,
        IP,
        &[
            (54, &SERVER.octets()),
            (51, &3600u32.to_be_bytes()),
            (58, &600u32.to_be_bytes()),
            (59, &1000u32.to_be_bytes()),
        ],
    );
    c.handle_packet(s(1), &a);
    drain(&mut c);
    assert_eq!(
        c.lease().map(|l| (l.t1_secs, l.t2_secs)),
        Some((Some(600), Some(1000)))
    );
    assert_eq!(c.poll_timeout(), Some(s(600)));
    let mut at = s(0);
    while c.state() != State::Rebinding {
        at = fire(&mut c).0;
    }
    assert_eq!(at, s(1000));
}

#[test]
fn t1_t2_sanitised() {
    assert_eq!(renewal_times(3600, None, None), (1800, 3150));
    assert_eq!(renewal_times(3600, Some(600), Some(1000)), (600, 1000));
    assert_eq!(renewal_times(3600, Some(600), None), (600, 3150));
    assert_eq!(renewal_times(3600, None, Some(3000)), (1800, 3000));
    assert_eq!(
        renewal_times(3600, Some(2000), Some(1000)),
        (1800, 3150),
        "T1 > T2"
    );
    assert_eq!(
        renewal_times(3600, Some(600), Some(4000)),
        (1800, 3150),
        "T2 > lease"
    );
    assert_eq!(
        renewal_times(3600, None, Some(1000)),
        (1800, 3150),
        "default T1 > T2"
    );
    assert_eq!(
        renewal_times(3600, Some(0), Some(1000)),
        (1800, 3150),
        "T1 = 0: renewal storm"
    );
    assert_eq!(renewal_times(3600, Some(3600), Some(3600)), (3600, 3600));
    assert_eq!(renewal_times(30, None, None), (15, 26));
    assert_eq!(
        renewal_times(u32::MAX - 1, None, None),
        (2_147_483_647, 3_758_096_382)
    );
}

#[test]
fn lease_time_clamps_and_defaults() {
    // Short lease raised to 30 s.
    let c = bound(cfg(), 10);
    let l = c.lease().unwrap();
    assert_eq!(
        (l.server_lease_secs, l.lease_secs, l.t1_secs),
        (Some(10), Some(30), Some(15))
    );
    assert_eq!(c.poll_timeout(), Some(ms(15_500)));
    assert!(
        l.env("eth0")
            .contains(&("lease".to_owned(), "10".to_owned())),
        "raw value exported"
    );

    // No option 51 → 3600 "(default)"; a 3-byte one counts as absent
    // (CVE-2018-20679).
    for opt51 in [None, Some(&[0u8, 0, 60][..])] {
        let mut c = Client::new(cfg(), s(0), xids());
        drain(&mut c);
        fire(&mut c);
        c.handle_packet(s(0), &offer(XID1));
        drain(&mut c);
        let sid = SERVER.octets();
        let mut o: Vec<(u8, &[u8])> = vec![(54, &sid)];
        if let Some(v) = opt51 {
            o.push((51, v));
        }
        let a = reply(XID1, MessageType::Ack, IP, &o);
        c.handle_packet(s(1), &a);
        drain(&mut c);
        let l = c.lease().unwrap();
        assert_eq!((l.server_lease_secs, l.lease_secs), (None, Some(3600)));
        assert_eq!(c.poll_timeout(), Some(s(1800)));
    }
}

#[test]
fn infinite_lease_never_renews() {
    let mut c = bound(cfg(), u32::MAX);
    let l = c.lease().unwrap();
    assert_eq!((l.lease_secs, l.t1_secs, l.expiry()), (None, None, None));
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(Instant::from_millis(u64::MAX));
    assert_idle(&mut c);
    // SIGUSR1 still renews (and caps the lease at 30 s, as BusyBox).
    c.handle_command(s(100), Command::Renew);
    let (tx, _) = drain(&mut c);
    assert_eq!(tx[0].dest, Destination::Unicast(SERVER));
    c.handle_packet(s(100), &ack(c.xid(), u32::MAX));
    drain(&mut c);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn huge_lease_does_not_overflow() {
    let mut c = bound(cfg(), u32::MAX - 1);
    let t1 = c.poll_timeout().unwrap();
    assert_eq!(t1, ms(500 + 2_147_483_647_000));
    fire(&mut c);
    assert_eq!(c.state(), State::Renewing);
    assert!(c.poll_timeout().unwrap() > t1);
}

#[test]
fn hostile_and_unrelated_replies_change_nothing() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    let before = format!("{c:?}");
    let good = offer(XID1);
    let mut bad: Vec<(&str, Vec<u8>)> = Vec::new();
    bad.push(("wrong xid", offer(XID1 ^ 1)));
    let mut v = good.clone();
    v[28] ^= 1;
    bad.push(("wrong chaddr", v));
    let mut v = good.clone();
    v[2] = 16;
    bad.push(("hlen 16", v));
    let mut v = good.clone();
    v[0] = 1;
    bad.push(("op request", v));
    bad.push(("short", good[..200].to_vec()));
    let mut v = good.clone();
    v[236] = 0;
    bad.push(("bad cookie", v));
    bad.push(("no option 53", {
        let mut buf = vec![0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, XID1).unwrap();
        b.header().set_client_mac(MAC);
        b.header().set_yiaddr(IP);
        b.add_option(54, &SERVER.octets()).unwrap();
        let n = b.finish();
        buf.truncate(n);
        buf
    }));
    // 53 with a bad length (CVE-2018-20679 class), zero-length 53.
    for data in [&[2u8, 2][..], &[]] {
        let mut buf = vec![0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, XID1).unwrap();
        b.header().set_client_mac(MAC);
        b.header().set_yiaddr(IP);
        b.add_option(53, data).unwrap();
        let n = b.finish();
        buf.truncate(n);
        bad.push(("bad option 53", buf));
    }
    // Option area cut inside an option: 53 comes after the damage.
    let mut v = good[..240].to_vec();
    v.extend([54, 4, 192, 168, 53, 1, 2]);
    bad.push(("malformed options", v));
    bad.push(("ACK while selecting", ack(XID1, 3600)));
    bad.push(("NAK while selecting", nak(XID1, SERVER)));
    bad.push((
        "offer of 0.0.0.0",
        reply(XID1, MessageType::Offer, ZERO, &[(54, &SERVER.octets())]),
    ));
    bad.push((
        "offer of broadcast",
        reply(XID1, MessageType::Offer, Ipv4Addr::BROADCAST, &[]),
    ));
    bad.push(("empty", Vec::new()));
    for (why, bytes) in &bad {
        c.handle_packet(s(1), bytes);
        assert_idle(&mut c);
        assert_eq!(format!("{c:?}"), before, "{why}");
    }
    // Still works afterwards.
    c.handle_packet(s(1), &good);
    assert_eq!(c.state(), State::Requesting);
}

#[test]
fn short_server_id_reads_as_none() {
    // CVE-2018-20679: a 2-byte option 54 is absent: server 0.0.0.0.
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c);
    let o = reply(
        XID1,
        MessageType::Offer,
        IP,
        &[(54, &[10, 0]), (12, b""), (51, &[0, 0, 14, 16])],
    );
    c.handle_packet(s(1), &o);
    let (tx, _) = drain(&mut c);
    assert_eq!(opts(&tx[0])[2], (54, vec![0, 0, 0, 0]));
    // Renewing with server 0.0.0.0: broadcast, kernel listen (BusyBox).
    c.handle_packet(
        s(1),
        &reply(XID1, MessageType::Ack, IP, &[(51, &3600u32.to_be_bytes())]),
    );
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    assert_eq!((tx[0].dest, tx[0].via), (Destination::Broadcast, Via::Raw));
    assert_eq!(c.listen_mode(), ListenMode::Kernel);
    // And the release goes by broadcast too.
    c.handle_command(s(1900), Command::Release);
    let (tx, _) = drain(&mut c);
    assert_eq!(
        (tx[0].dest, tx[0].via, tx[0].src_ip),
        (Destination::Broadcast, Via::Raw, IP)
    );
}

#[test]
fn broadcast_flag_only_without_ciaddr() {
    let mut config = cfg();
    config.broadcast_flag = true;
    config.arping = Some(Duration::from_secs(1));
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    assert!(pkt(&tx[0]).broadcast_flag());
    c.handle_packet(s(1), &offer(XID1));
    let (tx, _) = drain(&mut c);
    assert!(pkt(&tx[0]).broadcast_flag());
    c.handle_packet(s(1), &ack(XID1, 3600));
    drain(&mut c);
    c.handle_probe(s(1), false);
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    assert!(!pkt(&tx[0]).broadcast_flag(), "renew has ciaddr");
    c.handle_packet(s(1802), &ack(c.xid(), 3600));
    drain(&mut c);
    c.handle_probe(s(1802), true);
    let (tx, _) = drain(&mut c);
    assert!(!pkt(&tx[0]).broadcast_flag(), "DECLINE is minimal");
}

#[test]
fn request_options_and_send_options() {
    let mut config = cfg();
    config.requested_ip = Some(Ipv4Addr::new(10, 0, 0, 9));
    config.request_list = request_list(true, &[]);
    let mut x = crate::wire::options::OptionSet::new();
    x.add_text("hostname:box").unwrap();
    config.send_options = send_options(&x, Some("box"), Some("udhcp"), false, MAC);
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    assert_eq!(codes(&tx[0]), [53, 50, 57, 12, 60, 61, 81], "-o: no 55");
    assert_eq!(opts(&tx[0])[1].1, [10, 0, 0, 9]);
}

#[test]
fn secs_is_capped() {
    let mut config = cfg();
    config.retries = 0;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    let mut last = 0;
    for _ in 0..1200 {
        let (_, tx, _) = fire(&mut c);
        last = pkt(&tx[0]).secs();
    }
    assert_eq!(last, u16::MAX);
}

#[test]
fn set_mac_updates_default_client_id() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    let mac = MacAddr([2, 1, 1, 1, 1, 1]);
    c.set_mac(mac);
    let (_, tx, _) = fire(&mut c);
    assert_eq!(pkt(&tx[0]).client_mac(), mac);
    assert_eq!(opts(&tx[0]).last().unwrap().1, [1, 2, 1, 1, 1, 1, 1]);
}

/// Captures log lines per thread (tests run in parallel).
mod capture {
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            LINES.with(|l| l.borrow_mut().push((r.level(), r.args().to_string())));
        }
        fn flush(&self) {}
    }

    static LOGGER: Capture = Capture;

    /// Installs the capturing logger (once per process); false if another
    /// logger got there first.
    pub fn install() -> bool {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if log::set_logger(&LOGGER).is_ok() {
                log::set_max_level(log::LevelFilter::Trace);
            }
        });
        LINES.with(|l| l.borrow_mut().clear());
        log::logger().enabled(&log::Metadata::builder().level(log::Level::Info).build())
            && LINES.with(|l| {
                log::info!("probe");
                let ok = l.borrow().iter().any(|(_, m)| m == "probe");
                l.borrow_mut().clear();
                ok
            })
    }

    /// The info-level lines logged on this thread since `install`.
    pub fn info() -> Vec<String> {
        LINES.with(|l| {
            l.borrow()
                .iter()
                .filter(|(lvl, _)| *lvl <= log::Level::Info)
                .map(|(_, m)| m.clone())
                .collect()
        })
    }
}

#[test]
fn log_lines_match_busybox() {
    if !capture::install() {
        return;
    }
    let mut config = cfg();
    config.arping = Some(Duration::from_secs(1));
    let mut c = Client::new(config, s(0), xids());
    fire(&mut c);
    c.handle_packet(s(1), &offer(XID1));
    c.handle_packet(s(1), &ack(XID1, 3600));
    c.handle_probe(s(1), false);
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(s(1802), &nak(c.xid(), SERVER));
    drain(&mut c);
    fire(&mut c);
    // The renewal had XID2 (a new transaction): the DISCOVER has XID3.
    let no_sid = reply(XID3, MessageType::Offer, IP, &[]);
    c.handle_packet(s(1805), &no_sid);
    let a = reply(XID3, MessageType::Ack, IP, &[]);
    c.handle_packet(s(1806), &a);
    c.handle_probe(s(1806), true);
    fire(&mut c);
    c.handle_command(s(1830), Command::Release);
    c.handle_command(s(1831), Command::Terminate);
    assert_eq!(
        capture::info(),
        [
            "broadcasting discover",
            "broadcasting select for 192.168.1.100, server 192.168.1.1",
            "lease of 192.168.1.100 obtained from 192.168.1.1, lease time 3600",
            "sending renew to server 192.168.1.1",
            "received DHCP NAK",
            "broadcasting discover",
            "no server ID, using 0.0.0.0",
            "broadcasting select for 192.168.1.100, server 0.0.0.0",
            "lease of 192.168.1.100 obtained from 0.0.0.0, lease time 3600 (default)",
            "offered address is in use (got ARP reply), declining",
            "broadcasting decline",
            "broadcasting discover",
            "entering released state",
            "received SIGTERM",
        ]
    );
    // And the lease-loss / release-with-lease / failure lines.
    let mut c = bound(cfg(), 30);
    capture::install();
    while c.state() != State::InitSelecting {
        fire(&mut c);
    }
    let mut c2 = bound(cfg(), 3600);
    c2.handle_command(s(5), Command::Release);
    let mut config = cfg();
    config.exit_on_fail = true;
    let mut c3 = Client::new(config, s(0), xids());
    while !c3.is_finished() {
        fire(&mut c3);
    }
    let lines = capture::info();
    for want in [
        "broadcasting renew",
        "lease lost, entering init state",
        "unicasting a release of 192.168.1.100 to 192.168.1.1",
        "sending release",
        "no lease, failing",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want:?} in {lines:?}");
    }
}

// --------------------------------------------------------------------
// Lease memory and INIT-REBOOT (RFC 2131 §3.2, §4.3.2)

fn rebooting(config: Config, expiry: Option<Instant>) -> Client {
    let mut c = Client::new(config, s(0), xids());
    c.remember(s(0), Remembered { ip: IP, expiry });
    let (_, ev) = drain(&mut c);
    assert_eq!(names(&ev), ["deconfig"]);
    assert_eq!(c.state(), State::InitReboot);
    c
}

#[test]
fn init_reboot_ack_binds_without_discover() {
    let mut config = cfg();
    config.foreground = false;
    let mut c = rebooting(config, Some(s(1000)));
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, s(0));
    assert!(ev.is_empty());
    let [r] = &tx[..] else { panic!("{tx:?}") };
    assert_eq!(
        (r.kind, r.dest, r.src_ip, r.via),
        (MessageType::Request, Destination::Broadcast, ZERO, Via::Raw)
    );
    // §4.3.2: ciaddr 0, option 50 filled, no server identifier.
    assert_eq!(pkt(r).ciaddr(), ZERO);
    assert_eq!(codes(r), [53, 50, 57, 55, 61]);
    assert_eq!(opts(r)[1].1, IP.octets());
    assert_eq!(c.listen_mode(), ListenMode::Raw);
    // Any server may answer (we named none).
    c.handle_packet(ms(20), &ack_from(XID1, OTHER, 3600));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(
        memory(&ev),
        ["bound", "remember 192.168.1.100", "background"]
    );
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease().map(|l| l.start), Some(s(0)));
    assert_eq!(c.poll_timeout(), Some(s(1800)));
}

#[test]
fn init_reboot_nak_runs_nak_deconfig_and_discovers_at_once() {
    let mut c = rebooting(cfg(), None);
    fire(&mut c);
    c.handle_packet(ms(30), &nak(XID1, OTHER));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty());
    assert_eq!(memory(&ev), ["nak", "deconfig", "forget"]);
    assert_eq!(c.state(), State::InitSelecting);
    assert_eq!(c.poll_timeout(), Some(ms(30)));
    let (_, tx, _) = fire(&mut c);
    assert_eq!(tx[0].kind, MessageType::Discover);
    assert!(
        !codes(&tx[0]).contains(&50),
        "the NAKed address is not asked for"
    );
    assert_eq!(pkt(&tx[0]).xid(), XID2);
}

#[test]
fn init_reboot_unanswered_falls_back_to_discover_in_the_same_round() {
    let mut config = cfg();
    config.background_on_fail = true;
    config.foreground = false;
    let mut c = rebooting(config, Some(s(1000)));
    let mut sent = Vec::new();
    for _ in 0..3 {
        let (at, tx, ev) = fire(&mut c);
        sent.push((at, tx[0].kind, pkt(&tx[0]).xid(), codes(&tx[0])));
        if at == s(6) {
            assert_eq!(memory(&ev), ["forget"]);
        }
    }
    assert_eq!(
        sent,
        [
            (s(0), MessageType::Request, XID1, vec![53, 50, 57, 55, 61]),
            (s(3), MessageType::Request, XID1, vec![53, 50, 57, 55, 61]),
            (s(6), MessageType::Discover, XID2, vec![53, 50, 57, 55, 61]),
        ]
    );
    // The round still ends at 9 s: -b backgrounds on time.
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, s(9));
    assert!(tx.is_empty());
    assert_eq!(names(&ev), ["leasefail", "background"]);
    assert_eq!(reboot_packets(0), 2);
    assert_eq!(reboot_packets(1), 1);
    assert_eq!(reboot_packets(2), 1);
    assert_eq!(reboot_packets(5), 2);
}

#[test]
fn expired_or_overridden_memory_is_not_used() {
    let mut c = Client::new(cfg(), s(100), xids());
    c.remember(
        s(100),
        Remembered {
            ip: IP,
            expiry: Some(s(100)),
        },
    );
    assert_eq!(c.state(), State::InitSelecting);
    let mut config = cfg();
    config.requested_ip = Some(OTHER);
    let mut c = Client::new(config, s(0), xids());
    c.remember(
        s(0),
        Remembered {
            ip: IP,
            expiry: None,
        },
    );
    assert_eq!(c.state(), State::InitSelecting);
    let mut c = Client::new(cfg(), s(0), xids());
    c.remember(
        s(0),
        Remembered {
            ip: Ipv4Addr::BROADCAST,
            expiry: None,
        },
    );
    assert_eq!(c.state(), State::InitSelecting);
}

#[test]
fn lease_memory_events() {
    let mut c = bound(cfg(), 3600);
    // Renewal: remembered again.
    let (_, tx, _) = fire(&mut c);
    c.handle_packet(s(1801), &ack(pkt(&tx[0]).xid(), 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["renew", "remember 192.168.1.100"]);
    // Release: forgotten.
    c.handle_command(s(1802), Command::Release);
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["deconfig", "forget"]);
    // Terminate without -R keeps the memory.
    let mut c = bound(cfg(), 3600);
    c.handle_command(s(5), Command::Terminate);
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["exit 0"]);
    // Expiry forgets.
    let mut c = bound(cfg(), 60);
    let ev = loop {
        let (_, _, ev) = fire(&mut c);
        if !ev.is_empty() {
            break ev;
        }
    };
    assert_eq!(memory(&ev), ["deconfig", "forget"]);
}

// --------------------------------------------------------------------
// Carrier

#[test]
fn no_cable_at_boot_sends_nothing_and_backgrounds_on_time() {
    let mut config = cfg();
    config.background_on_fail = true;
    config.foreground = false;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    c.handle_link(s(0), false);
    let mut at = s(0);
    let mut ev = Vec::new();
    for _ in 0..4 {
        let (t, tx, e) = fire(&mut c);
        assert!(tx.is_empty(), "sent without carrier: {tx:?}");
        at = t;
        ev = e;
    }
    assert_eq!(at, s(9));
    assert_eq!(names(&ev), ["leasefail", "background"]);
    // The cable is plugged in during the -A wait: a DISCOVER at once.
    c.handle_link(s(12), true);
    assert_eq!(c.poll_timeout(), Some(s(12)));
    let (_, tx, _) = fire(&mut c);
    assert_eq!(tx[0].kind, MessageType::Discover);
    assert_eq!(pkt(&tx[0]).secs(), 0);
}

#[test]
fn no_cable_with_n_exits_on_time() {
    let mut config = cfg();
    config.exit_on_fail = true;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    c.handle_link(s(0), false);
    for _ in 0..3 {
        let (_, tx, _) = fire(&mut c);
        assert!(tx.is_empty());
    }
    let (at, _, ev) = fire(&mut c);
    assert_eq!(
        (at, names(&ev)),
        (s(9), vec!["leasefail".into(), "exit 1".into()])
    );
}

#[test]
fn carrier_loss_while_bound_keeps_the_lease_and_return_verifies_it() {
    let mut c = bound(cfg(), 3600);
    c.handle_link(s(100), false);
    assert_idle(&mut c);
    assert_eq!(c.state(), State::Bound);
    // T1 passes without carrier: nothing sent, lease kept.
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, ms(1_800_500));
    assert!(tx.is_empty() && ev.is_empty());
    assert!(c.lease().is_some());
    // Carrier back: INIT-REBOOT at once, then `renew` (still configured).
    c.handle_link(s(2000), true);
    assert_eq!(c.state(), State::InitReboot);
    assert_eq!(c.poll_timeout(), Some(s(2000)));
    let (_, tx, _) = fire(&mut c);
    let [r] = &tx[..] else { panic!("{tx:?}") };
    assert_eq!(
        (r.kind, r.dest, r.src_ip),
        (MessageType::Request, Destination::Broadcast, ZERO)
    );
    assert_eq!(codes(r), [53, 50, 57, 55, 61]);
    let xid = pkt(r).xid();
    c.handle_packet(ms(2_000_050), &ack(xid, 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["renew", "remember 192.168.1.100"]);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.poll_timeout(), Some(s(2000 + 1800)));
}

#[test]
fn carrier_return_on_another_network_nak_or_silence() {
    // NAK: the cable went to another network.
    let mut c = bound(cfg(), 3600);
    c.handle_link(s(10), false);
    c.handle_link(s(20), true);
    let (_, tx, _) = fire(&mut c);
    c.handle_packet(s(20), &nak(pkt(&tx[0]).xid(), OTHER));
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["nak", "deconfig", "forget"]);
    assert_eq!(c.poll_timeout(), Some(s(20)));
    // Silence: DISCOVER after two REQUESTs, deconfigured first.
    let mut c = bound(cfg(), 3600);
    c.handle_link(s(10), false);
    c.handle_link(s(20), true);
    fire(&mut c);
    fire(&mut c);
    let (at, tx, ev) = fire(&mut c);
    assert_eq!(at, s(26));
    assert_eq!(memory(&ev), ["deconfig", "forget"]);
    assert_eq!(tx[0].kind, MessageType::Discover);
    assert!(c.lease().is_none());
}

#[test]
fn flapping_link_does_not_spin() {
    let mut c = bound(cfg(), 3600);
    let mut sent = 0;
    // 1000 flaps in 5 s: at most one restart per second.
    for i in 0..1000u64 {
        let now = ms(10_000 + i * 5);
        c.handle_link(now, false);
        c.handle_link(now, true);
        if c.poll_timeout().is_some_and(|d| d <= now) {
            c.handle_timeout(now);
        }
        sent += drain(&mut c).0.len();
    }
    assert!((1..=6).contains(&sent), "{sent} packets");
}

#[test]
fn link_events_ignored_when_released_or_unchanged() {
    let mut c = bound(cfg(), 3600);
    c.handle_link(s(5), true);
    assert_idle(&mut c);
    assert_eq!(c.poll_timeout(), Some(ms(1_800_500)));
    c.handle_command(s(6), Command::Release);
    drain(&mut c);
    c.handle_link(s(7), false);
    c.handle_link(s(8), true);
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.state(), State::Released);
}

// --------------------------------------------------------------------
// Rapid commit (RFC 4039)

fn rapid_ack(xid: u32, opt80: Option<&[u8]>) -> Vec<u8> {
    let sid = SERVER.octets();
    let mut opts: Vec<(u8, &[u8])> = vec![
        (54, &sid[..]),
        (51, &[0, 0, 0x0e, 0x10][..]),
        (1, &[255, 255, 255, 0][..]),
    ];
    if let Some(v) = opt80 {
        opts.push((80, v));
    }
    reply(xid, MessageType::Ack, IP, &opts)
}

#[test]
fn rapid_commit_discover_ack_binds() {
    let mut config = cfg();
    config.rapid_commit = true;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    // The scanner skips empty options: 80 is seen as a flag.
    assert_eq!(codes(&tx[0]), [53, 57, 55, 61]);
    assert!(pkt(&tx[0]).has_empty_option(80));
    let o = pkt(&tx[0]).options_field().to_vec();
    let at = o.windows(2).position(|w| w == [80, 0]).unwrap();
    assert!(o[..at].ends_with(&[55, 9, 1, 3, 6, 12, 15, 26, 28, 42, 121]));
    // An OFFER still works as usual; an ACK with option 80 binds at once.
    c.handle_packet(ms(40), &rapid_ack(XID1, Some(&[])));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty(), "no REQUEST: {tx:?}");
    assert_eq!(memory(&ev), ["bound", "remember 192.168.1.100"]);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease().map(|l| l.start), Some(s(0)));
}

#[test]
fn rapid_commit_malformed_or_missing_option_80_ignored() {
    let mut config = cfg();
    config.rapid_commit = true;
    let mut c = Client::new(config, s(0), xids());
    drain(&mut c);
    fire(&mut c);
    c.handle_packet(ms(40), &rapid_ack(XID1, Some(&[1])));
    c.handle_packet(ms(41), &rapid_ack(XID1, None));
    assert_idle(&mut c);
    assert_eq!(c.state(), State::InitSelecting);
    // The normal path still runs.
    c.handle_packet(ms(50), &offer(XID1));
    let (tx, _) = drain(&mut c);
    assert_eq!(tx[0].kind, MessageType::Request);
    assert!(!pkt(&tx[0]).has_empty_option(80), "80 only in DISCOVER");
}

#[test]
fn without_rapid_commit_nothing_changes() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    let (_, tx, _) = fire(&mut c);
    assert!(!pkt(&tx[0]).has_empty_option(80));
    c.handle_packet(ms(40), &rapid_ack(XID1, Some(&[])));
    assert_idle(&mut c);
    assert_eq!(c.state(), State::InitSelecting);
}

#[test]
fn no_cable_at_boot_keeps_the_remembered_lease_for_the_cable() {
    let mut config = cfg();
    config.background_on_fail = true;
    config.foreground = false;
    let mut c = rebooting(config, Some(s(1000)));
    c.handle_link(s(0), false);
    let mut all = Vec::new();
    let at = loop {
        let (at, tx, ev) = fire(&mut c);
        assert!(tx.is_empty());
        let done = names(&ev).contains(&"background".to_owned());
        all.extend(ev);
        if done {
            break at;
        }
    };
    // On time, nothing forgotten, still waiting to verify the lease.
    assert_eq!(at, s(9));
    assert_eq!(memory(&all), ["leasefail", "background"]);
    assert_eq!(c.state(), State::InitReboot);
    // A second round without cable: the same.
    let (_, _, _) = fire(&mut c);
    assert_eq!(c.state(), State::InitReboot);
    // Cable in: INIT-REBOOT for the remembered address at once.
    c.handle_link(s(40), true);
    let (at, tx, _) = fire(&mut c);
    assert_eq!(at, s(40));
    assert_eq!(tx[0].kind, MessageType::Request);
    assert_eq!(codes(&tx[0]), [53, 50, 57, 55, 61]);
    c.handle_packet(s(40), &ack(pkt(&tx[0]).xid(), 3600));
    let (_, ev) = drain(&mut c);
    assert_eq!(memory(&ev), ["bound", "remember 192.168.1.100"]);
}

#[test]
fn unverified_lease_ends_at_its_expiry_without_carrier() {
    // Remembered at boot, no cable: forgotten at its expiry (20 s), then
    // DISCOVER rounds (still unsent) go on.
    let mut c = rebooting(cfg(), Some(s(20)));
    c.handle_link(s(0), false);
    let (at, ev) = loop {
        let (at, _, ev) = fire(&mut c);
        if memory(&ev).contains(&"forget".to_owned()) {
            break (at, ev);
        }
        assert!(at < s(20), "{at}");
    };
    assert_eq!(at, s(20));
    assert_eq!(memory(&ev), ["forget"], "nothing was configured");
    assert_eq!(c.state(), State::InitSelecting);
    // Carrier back while bound, gone again before the check: the
    // configured address is removed at the lease's expiry, not later.
    let mut c = bound(cfg(), 60);
    c.handle_link(s(10), false);
    c.handle_link(s(20), true);
    c.handle_link(ms(20_100), false);
    let (at, ev) = loop {
        let (at, _, ev) = fire(&mut c);
        if !names(&ev).is_empty() && names(&ev) != ["leasefail"] {
            break (at, ev);
        }
    };
    assert_eq!(at, ms(60_500));
    assert_eq!(memory(&ev), ["deconfig", "forget"]);
}

/// RFC 2131 §4.4.1: the lease is timed from "the time at which the
/// original request was sent". An ACK answering the first SELECT that
/// arrives after the second was sent must not be timed from the second:
/// the server's lease began when it handled the first, and the client
/// would hold the address past the server's expiry (tests/pair_sim.rs
/// found it with 3 s link delays; before the fix the start was 3.5 s).
#[test]
fn lease_is_timed_from_the_first_request_of_the_exchange() {
    let mut c = Client::new(cfg(), s(0), xids());
    drain(&mut c);
    fire(&mut c); // DISCOVER at 0
    c.handle_packet(ms(500), &offer(XID1)); // SELECT 1 at 0.5 s
    let (tx, _) = drain(&mut c);
    assert_eq!(tx.len(), 1);
    let (at, tx, _) = fire(&mut c); // SELECT 2
    assert_eq!((at, tx.len()), (ms(3_500), 1));
    c.handle_packet(s(4), &ack(XID1, 3600));
    drain(&mut c);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease().unwrap().start, ms(500));
    assert_eq!(c.poll_timeout(), Some(ms(500 + 1_800_000)));
}

/// Each renewal is its own transaction (RFC 2131 §4.1): a late copy of an
/// ACK from the exchange that bound the lease is not taken as the answer
/// to the renewal (BusyBox keeps one xid for the whole lease, so it would
/// be, and timed from the renewal's REQUEST: later than the server's).
#[test]
fn a_late_ack_of_an_earlier_exchange_is_not_a_renewal() {
    let mut c = bound(cfg(), 3600);
    let (at, tx, _) = fire(&mut c);
    assert_eq!((at, c.state()), (ms(1_800_500), State::Renewing));
    assert_eq!(pkt(&tx[0]).xid(), XID2);
    c.handle_packet(ms(1_800_600), &ack(XID1, 3600));
    let (tx, ev) = drain(&mut c);
    assert!(tx.is_empty() && ev.is_empty());
    assert_eq!(c.state(), State::Renewing);
    c.handle_packet(ms(1_800_700), &ack(XID2, 3600));
    drain(&mut c);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease().unwrap().start, ms(1_800_500));
}
