//! The ICMP echo prober (`sys::net::icmp`, udhcpd's ping check of relayed
//! networks) against a real kernel, inside network namespaces made by the
//! lab (`tests/common/netns.rs`). Without root these tests print
//! `skipped: ...` and pass, unless `UDHCP_REQUIRE_NETNS=1`.
//!
//! The lab: namespace A (10.99.0.1, where udhcpd would run) and namespace
//! B (10.99.0.2), a router standing for the relay's side. Behind B,
//! reached from A only by a route (as a relayed subnet is): 10.98.0.1 is
//! a host (an address of B's), the rest of 10.98.0.0/24 is routable but
//! silent (a blackhole route: dropped, no ICMP error), and 10.98.1.0/24
//! is unreachable (B answers with ICMP net-unreachable).

mod common;

use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags};
use socket2::{Domain, Protocol, Socket, Type};

use common::netns::{now, Lab};
use udhcp::sys::net::icmp::{IcmpProber, PingResult};

/// Generous bound for "arrives promptly" on a loaded 2-core machine.
const PROMPT: Duration = Duration::from_secs(2);

const ROUTER_HOST: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const SILENT: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 77);
const UNREACHABLE: Ipv4Addr = Ipv4Addr::new(10, 98, 1, 9);

/// Waits up to `timeout` for `fd` to become readable.
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    matches!(nix::poll::poll(&mut fds, ms), Ok(n) if n > 0)
}

/// The two namespaces with B routing the "relayed" subnets, or `None`
/// when the lab cannot run (see `Lab::new`).
fn routed_lab() -> Option<Lab> {
    let lab = Lab::new(2)?;
    let (a, b) = (lab.ns(0), lab.ns(1));
    // B forwards (per namespace), so the unreachable route makes it send
    // ICMP errors, as a router on the way to a relayed subnet would.
    b.run_in(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
        .expect("enable forwarding in B");
    b.exec_ok(&["ip", "addr", "add", "10.98.0.1/32", "dev", "lo"]);
    b.exec_ok(&["ip", "route", "add", "blackhole", "10.98.0.0/24"]);
    b.exec_ok(&["ip", "route", "add", "unreachable", "10.98.1.0/24"]);
    a.exec_ok(&["ip", "route", "add", "10.98.0.0/23", "via", "10.99.0.2"]);
    Some(lab)
}

/// Drives `prober` as an applet's poll loop would, until `want` results
/// arrived or `limit` passed; returns each with the time it took.
fn drive(
    prober: &mut IcmpProber,
    want: usize,
    limit: Duration,
) -> Vec<(Ipv4Addr, PingResult, Duration)> {
    let t0 = now();
    let mut got = Vec::new();
    while got.len() < want {
        while let Some((ip, r)) = prober.poll_result() {
            got.push((ip, r, now() - t0));
        }
        if got.len() >= want {
            break;
        }
        assert!(now() - t0 < limit, "only {got:?} within {limit:?}");
        let wait = prober
            .next_deadline()
            .map_or(limit, |d| d.saturating_duration_since(now()));
        if readable(prober.fd(), wait + Duration::from_millis(1)) {
            prober.handle_readable(now()).unwrap();
        } else {
            prober.handle_timeout(now());
        }
    }
    got
}

#[test]
fn ping_of_a_live_address_is_in_use_before_the_deadline() {
    let Some(lab) = routed_lab() else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let mut prober = a.run_in(IcmpProber::open).unwrap();
    let deadline = now() + Duration::from_millis(1500);
    // A host behind the router, the router itself on the link, and this
    // host's own address (answered over loopback).
    for ip in [ROUTER_HOST, b.ip(), a.ip()] {
        prober.start(ip, deadline).unwrap();
    }
    assert_eq!(prober.pending_len(), 3);
    let mut got = drive(&mut prober, 3, Duration::from_secs(3));
    for (ip, r, took) in &got {
        assert_eq!(*r, PingResult::InUse, "{ip}");
        assert!(*took < Duration::from_millis(1500), "{ip} only at {took:?}");
    }
    got.sort_by_key(|g| g.0);
    let ips: Vec<Ipv4Addr> = got.iter().map(|g| g.0).collect();
    assert_eq!(ips, [ROUTER_HOST, a.ip(), b.ip()]);
    assert_eq!(prober.next_deadline(), None);
}

#[test]
fn ping_of_a_silent_routed_address_is_free_at_the_deadline() {
    let Some(lab) = routed_lab() else { return };
    let a = lab.ns(0);
    // A raw ICMP socket without the prober's filter, to see that B's
    // net-unreachable did reach A (so its not counting is tested).
    let watch = a
        .run_in(|| {
            let s = Socket::new(
                Domain::IPV4,
                Type::from(libc::SOCK_RAW),
                Some(Protocol::ICMPV4),
            )?;
            s.set_nonblocking(true)?;
            std::io::Result::Ok(s)
        })
        .unwrap();
    let mut prober = a.run_in(IcmpProber::open).unwrap();
    let t0 = now();
    let deadline = t0 + Duration::from_millis(400);
    for ip in [SILENT, UNREACHABLE, ROUTER_HOST] {
        prober.start(ip, deadline).unwrap();
    }
    assert_eq!(prober.next_deadline(), Some(deadline));
    let got = drive(&mut prober, 3, Duration::from_secs(5));
    let took = now() - t0;
    // The live one first, at once; the other two free at the deadline,
    // not before, and promptly after.
    assert_eq!((got[0].0, got[0].1), (ROUTER_HOST, PingResult::InUse));
    assert!(got[0].2 < Duration::from_millis(400), "{got:?}");
    let mut rest: Vec<(Ipv4Addr, PingResult)> = got[1..].iter().map(|g| (g.0, g.1)).collect();
    rest.sort_by_key(|g| g.0);
    assert_eq!(
        rest,
        [(SILENT, PingResult::Free), (UNREACHABLE, PingResult::Free)]
    );
    for (ip, _, at) in &got[1..] {
        assert!(
            *at >= Duration::from_millis(400),
            "{ip} free before the deadline: {at:?}"
        );
    }
    assert!(took < Duration::from_millis(400) + PROMPT, "{took:?}");
    assert_eq!(prober.next_deadline(), None);

    // B did answer the probe of 10.98.1.9 with destination unreachable
    // (type 3) from 10.99.0.2.
    let mut buf = [0u8; 256];
    let mut unreachable_seen = false;
    while let Ok(n) = (&watch).read(&mut buf) {
        let d = &buf[..n];
        let ihl = usize::from(d[0] & 0x0f) * 4;
        if d[12..16] == [10, 99, 0, 2] && d.get(ihl) == Some(&3) {
            unreachable_seen = true;
        }
    }
    assert!(unreachable_seen, "no ICMP unreachable reached A");
}

#[test]
fn no_route_and_a_full_table_fail_the_start_with_nothing_pending() {
    let Some(lab) = routed_lab() else { return };
    let a = lab.ns(0);
    let mut prober = a.run_in(|| IcmpProber::with_limit(1)).unwrap();
    let deadline = now() + Duration::from_millis(300);
    // A has no default route.
    let nowhere = Ipv4Addr::new(192, 0, 2, 1);
    let err = prober.start(nowhere, deadline).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ICMP echo to 192.0.2.1: Network is unreachable"
    );
    assert_eq!((prober.pending_len(), prober.next_deadline()), (0, None));
    // At the bound a new address is refused before anything is sent.
    prober.start(SILENT, deadline).unwrap();
    let err = prober.start(ROUTER_HOST, deadline).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ICMP echo to 10.98.0.1: 1 ICMP probes already in flight"
    );
    assert!(!prober.pings().is_pending(ROUTER_HOST));
    let got = drive(&mut prober, 1, Duration::from_secs(3));
    assert_eq!((got[0].0, got[0].1), (SILENT, PingResult::Free));
}
