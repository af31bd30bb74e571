//! The ICMP echo prober's input: arbitrary bytes as a datagram read from a
//! raw ICMP socket (`wire::icmp::parse_echo_reply`), a build → parse round
//! trip of echo replies, and the pure `sys::net::icmp::Pings` table driven
//! by a script of starts, replies (crafted and raw), cancels and time.
//! Checks: a parsed reply carries the header's source and the echo's
//! identifier and sequence; what we build parses back exactly; the table
//! stays within its bound, refuses a start only when full, reports InUse
//! only after a matching reply to the address's latest probe and Free only
//! at or after that probe's deadline.
#![no_main]

#[path = "common/input.rs"]
mod input;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use input::Input;
use libfuzzer_sys::fuzz_target;
use udhcp::sys::net::icmp::{PingResult, Pings};
use udhcp::time::Instant;
use udhcp::wire::icmp::{self, EchoReply, PROTO_ICMP, TYPE_ECHO_REPLY};
use udhcp::wire::ipv4::{emit_header, DEFAULT_TTL, HEADER_LEN};

const US: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// An IPv4 datagram from `src` carrying an echo message.
fn datagram(icmp_type: u8, src: Ipv4Addr, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; HEADER_LEN + icmp::ECHO_HEADER_LEN + payload.len()];
    let n = icmp::emit_echo(&mut d[HEADER_LEN..], icmp_type, ident, seq, payload)
        .expect("room for the echo");
    emit_header(&mut d, src, US, PROTO_ICMP, n, DEFAULT_TTL).expect("room for the header");
    d
}

fn check_parse(bytes: &[u8]) {
    if let Ok(r) = icmp::parse_echo_reply(bytes) {
        let ihl = usize::from(bytes[0] & 0x0f) * 4;
        assert_eq!(r.src.octets(), bytes[12..16]);
        assert_eq!(r.ident.to_be_bytes(), bytes[ihl + 4..ihl + 6]);
        assert_eq!(r.seq.to_be_bytes(), bytes[ihl + 6..ihl + 8]);
        assert_eq!(
            (bytes[9], bytes[ihl], bytes[ihl + 1]),
            (PROTO_ICMP, TYPE_ECHO_REPLY, 0)
        );
    }
}

/// The address whose latest probe `bytes` answers, by the rule the table
/// must apply (from the probed address, our identifier, that probe's
/// sequence number, while it is pending).
fn answers(
    pings: &Pings,
    latest: &HashMap<Ipv4Addr, (u16, Instant, bool)>,
    bytes: &[u8],
) -> Option<Ipv4Addr> {
    let r = icmp::parse_echo_reply(bytes).ok()?;
    let &(seq, _, _) = latest.get(&r.src)?;
    (pings.is_pending(r.src) && r.ident == pings.ident() && r.seq == seq).then_some(r.src)
}

/// Hands `bytes` to the table, first marking the probe it answers.
fn feed(pings: &mut Pings, latest: &mut HashMap<Ipv4Addr, (u16, Instant, bool)>, bytes: &[u8]) {
    if let Some(ip) = answers(pings, latest, bytes) {
        if let Some(l) = latest.get_mut(&ip) {
            l.2 = true;
        }
    }
    pings.handle_datagram(bytes);
}

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    let mut input = Input::new(data);

    // Round trip: what we build parses back exactly.
    let (ident, seq) = (input.u16(), input.u16());
    let src = Ipv4Addr::from(input.u32());
    let payload = input.bytes(1400);
    let d = datagram(TYPE_ECHO_REPLY, src, ident, seq, payload);
    assert_eq!(
        icmp::parse_echo_reply(&d),
        Ok(EchoReply { src, ident, seq })
    );

    // The table, against a model of what it may report.
    let our_ident = input.u16();
    let limit = usize::from(input.u8() % 8) + 1;
    let mut pings = Pings::new(our_ident, limit);
    let ips = [
        Ipv4Addr::new(10, 98, 0, 1),
        Ipv4Addr::new(10, 98, 0, 2),
        Ipv4Addr::new(10, 98, 0, 3),
        Ipv4Addr::new(10, 98, 1, 1),
        Ipv4Addr::new(10, 98, 1, 2),
        Ipv4Addr::new(10, 98, 1, 3),
        Ipv4Addr::new(10, 98, 1, 4),
        Ipv4Addr::new(10, 98, 1, 5),
        Ipv4Addr::new(10, 98, 1, 6),
        Ipv4Addr::new(10, 98, 1, 7),
    ];
    let mut now = Instant::from_millis(1_000_000);
    // ip -> (seq, deadline, answered) of its latest started probe.
    let mut latest: HashMap<Ipv4Addr, (u16, Instant, bool)> = HashMap::new();
    for _ in 0..200 {
        if input.is_empty() {
            break;
        }
        let ip = ips[usize::from(input.u8()) % ips.len()];
        match input.u8() % 6 {
            0 => {
                let deadline = now + Duration::from_millis(u64::from(input.u16()));
                let was_pending = pings.is_pending(ip);
                match pings.start(ip, deadline) {
                    Ok(s) => {
                        latest.insert(ip, (s, deadline, false));
                    }
                    Err(e) => {
                        assert_eq!(e.limit, limit);
                        assert!(!was_pending, "a restart never fails");
                        assert!(pings.is_full() && !pings.is_pending(ip));
                    }
                }
            }
            1 | 2 => {
                // A reply from `ip`: maybe ours, maybe for the latest probe.
                let ident = if input.bool() { our_ident } else { input.u16() };
                let seq = match latest.get(&ip) {
                    Some(&(s, _, _)) if input.bool() => s,
                    _ => input.u16(),
                };
                let mut d = datagram(TYPE_ECHO_REPLY, ip, ident, seq, b"udhcpd\0\0");
                if input.u8() == 0 {
                    // One damaged byte.
                    let at = usize::from(input.u8()) % d.len();
                    d[at] ^= input.u8() | 1;
                }
                feed(&mut pings, &mut latest, &d);
            }
            3 => feed(&mut pings, &mut latest, input.bytes(200)),
            4 => {
                now += Duration::from_millis(u64::from(input.u16() % 2000));
                pings.handle_timeout(now);
                assert!(
                    pings.next_deadline().is_none_or(|d| d > now),
                    "a due probe was left"
                );
            }
            _ => {
                if pings.cancel(ip) {
                    latest.remove(&ip);
                }
            }
        }
        assert!(pings.pending_len() <= limit);
        while let Some((ip, r)) = pings.poll_result() {
            assert!(!pings.is_pending(ip), "a finished probe is not pending");
            let (_, deadline, answered) = latest.remove(&ip).expect("result of a started probe");
            match r {
                PingResult::InUse => assert!(answered, "InUse without a matching reply"),
                PingResult::Free => assert!(deadline <= now, "Free before the deadline"),
            }
        }
    }
});
