//! The socket half of the OS layer against a real kernel, inside network
//! namespaces made by the lab (`tests/common/netns.rs`). Without root these
//! tests print `skipped: ...` and pass, unless `UDHCP_REQUIRE_NETNS=1`.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use udhcp::time::Instant;

use nix::poll::{PollFd, PollFlags};

use common::netns::{self, now, Lab, NsSpec};
use udhcp::sys::net::arp::{arping, ArpProber, ProbeResult};
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::{RawSender, RawSocket, Received};
use udhcp::sys::net::udp::{UdpReceived, UdpSocket};
use udhcp::wire::{self, udp::build_ipv4_udp, MacAddr};

/// Generous bound for "arrives promptly" on a loaded 2-core machine.
const PROMPT: Duration = Duration::from_secs(2);

/// Waits up to `timeout` for `fd` to become readable.
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    matches!(nix::poll::poll(&mut fds, ms), Ok(n) if n > 0)
}

/// A frame from `RawSocket::recv`, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Datagram {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        src_mac: MacAddr,
        payload: Vec<u8>,
        offloaded: bool,
    },
    Dropped(wire::Error),
}

/// Reads `sock` until a datagram with `payload` arrives (or `PROMPT`
/// passes) and returns everything read, in order.
fn raw_until(sock: &RawSocket, payload: &[u8]) -> Vec<Got> {
    let deadline = now() + PROMPT;
    let mut buf = [0u8; 1600];
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(now());
        if left.is_zero() {
            panic!("no datagram {payload:?} within {PROMPT:?}; got {got:?}");
        }
        readable(sock.as_fd(), left);
        while let Some(r) = sock.recv(&mut buf).unwrap() {
            let g = match r {
                Received::Datagram(d) => Got::Datagram {
                    src: SocketAddrV4::new(d.udp.src, d.udp.src_port),
                    dst: SocketAddrV4::new(d.udp.dst, d.udp.dst_port),
                    src_mac: d.src_mac,
                    payload: d.udp.payload.to_vec(),
                    offloaded: d.checksum_offloaded,
                },
                Received::Dropped(e) => Got::Dropped(e),
            };
            let done = matches!(&g, Got::Datagram { payload: p, .. } if p == payload);
            got.push(g);
            if done {
                return got;
            }
        }
    }
}

fn last_datagram(got: &[Got]) -> (SocketAddrV4, SocketAddrV4, MacAddr) {
    match got.last() {
        Some(Got::Datagram {
            src, dst, src_mac, ..
        }) => (*src, *dst, *src_mac),
        other => panic!("expected a datagram, got {other:?}"),
    }
}

fn recv_udp(sock: &UdpSocket, buf: &mut [u8]) -> UdpReceived {
    let deadline = now() + PROMPT;
    loop {
        if let Some(r) = sock.recv(buf).unwrap() {
            return r;
        }
        let left = deadline.saturating_duration_since(now());
        assert!(!left.is_zero(), "no UDP datagram within {PROMPT:?}");
        readable(sock.as_fd(), left);
    }
}

fn query(ns: &netns::Ns) -> Interface {
    ns.run_in(|| Interface::query("eth0")).unwrap()
}

/// Drives `prober` until it reports a result or `limit` passes: the poll
/// loop an applet would run, with nothing else in it.
fn drive(prober: &mut ArpProber, limit: Duration) -> (Ipv4Addr, ProbeResult, Duration) {
    let t0 = now();
    loop {
        if let Some((ip, r)) = prober.poll_result() {
            return (ip, r, (now() - t0));
        }
        assert!((now() - t0) < limit, "no probe result within {limit:?}");
        let wait = prober
            .next_deadline()
            .map_or(limit, |d| d.saturating_duration_since(now()));
        if readable(prober.fd(), wait + Duration::from_millis(1)) {
            prober.handle_readable(now()).unwrap();
        } else {
            prober.handle_timeout(now());
        }
    }
}

#[test]
fn raw_broadcast_and_unicast_between_namespaces() {
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let (ia, ib) = (query(a), query(b));
    let rx = b.run_in(|| RawSocket::open(ib.ifindex, 67)).unwrap();
    let tx = a.run_in(|| RawSocket::open(ia.ifindex, 68)).unwrap();
    assert_eq!((rx.ifindex(), rx.port()), (ib.ifindex, 67));

    // A DISCOVER-like broadcast: 0.0.0.0:68 → 255.255.255.255:67.
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    tx.sender()
        .send(
            MacAddr::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
            68,
            Ipv4Addr::BROADCAST,
            67,
            &payload,
        )
        .unwrap();
    let got = raw_until(&rx, &payload);
    let (src, dst, mac) = last_datagram(&got);
    assert_eq!(src, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68));
    assert_eq!(dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
    assert_eq!(mac, a.mac);

    // A unicast reply to B's MAC, from a send-only socket (udhcpd's path).
    a.run_in(|| {
        RawSender::open(ia.ifindex)
            .unwrap()
            .send(b.mac, a.ip(), 68, b.ip(), 67, b"unicast to B")
            .unwrap()
    });
    let got = raw_until(&rx, b"unicast to B");
    let (src, dst, mac) = last_datagram(&got);
    assert_eq!(src, SocketAddrV4::new(a.ip(), 68));
    assert_eq!(dst, SocketAddrV4::new(b.ip(), 67));
    assert_eq!(mac, a.mac);

    // Our own transmissions are not reported back to the sender's socket.
    let tx_back = a
        .run_in(|| RawSocket::open_unfiltered(ia.ifindex, 67))
        .unwrap();
    tx.sender()
        .send(
            MacAddr::BROADCAST,
            a.ip(),
            68,
            Ipv4Addr::BROADCAST,
            67,
            b"mine",
        )
        .unwrap();
    raw_until(&rx, b"mine");
    let mut buf = [0u8; 1600];
    // (Unrelated frames, such as B's ICMP port-unreachable for the unicast
    // above, may be there; they are reported as dropped.)
    while let Some(r) = tx_back.recv(&mut buf).unwrap() {
        assert!(
            matches!(r, Received::Dropped(_)),
            "own frame looped back: {r:?}"
        );
    }
}

/// Sends, from A to B: a datagram whose UDP checksum is wrong (built by
/// hand, so no offload can fix or excuse it), one to the wrong port, and a
/// good one; returns what B's socket read up to the good one.
fn corrupt_wrong_port_good(filtered: bool) -> Option<Vec<Got>> {
    let lab = Lab::new(2)?;
    let (a, b) = (lab.ns(0), lab.ns(1));
    let (ia, ib) = (query(a), query(b));
    let rx = b
        .run_in(|| {
            if filtered {
                RawSocket::open(ib.ifindex, 67)
            } else {
                RawSocket::open_unfiltered(ib.ifindex, 67)
            }
        })
        .unwrap();
    let tx = a.run_in(|| RawSocket::open(ia.ifindex, 68)).unwrap();

    let mut d = [0u8; 64];
    let n = build_ipv4_udp(&mut d, a.ip(), b.ip(), 68, 67, b"corrupted").unwrap();
    d[28] ^= 0x01; // first payload byte: 'c' → 'b'; checksum now wrong
    tx.send_datagram(b.mac, &d[..n]).unwrap();
    tx.sender()
        .send(b.mac, a.ip(), 68, b.ip(), 69, b"wrong port")
        .unwrap();
    tx.sender()
        .send(b.mac, a.ip(), 68, b.ip(), 67, b"good")
        .unwrap();
    let got = raw_until(&rx, b"good");
    for g in &got[..got.len() - 1] {
        assert!(
            matches!(g, Got::Dropped(_)),
            "only the good datagram may be delivered: {got:?}"
        );
    }
    Some(got)
}

#[test]
fn raw_drops_bad_checksum_and_wrong_port_unfiltered() {
    let Some(got) = corrupt_wrong_port_good(false) else {
        return;
    };
    assert!(
        got.contains(&Got::Dropped(wire::Error::BadChecksum)),
        "{got:?}"
    );
    assert!(
        got.contains(&Got::Dropped(wire::Error::Unrecognized)),
        "{got:?}"
    );
}

#[test]
fn raw_drops_bad_checksum_and_bpf_drops_wrong_port() {
    let Some(got) = corrupt_wrong_port_good(true) else {
        return;
    };
    // The filter passes the corrupted datagram (it checks no checksums);
    // user space drops it. The wrong port never reaches user space.
    assert!(
        got.contains(&Got::Dropped(wire::Error::BadChecksum)),
        "{got:?}"
    );
    assert!(
        !got.contains(&Got::Dropped(wire::Error::Unrecognized)),
        "{got:?}"
    );
}

#[test]
fn raw_accepts_kernel_udp_with_offloaded_checksum() {
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ib = query(b);
    let rx = b.run_in(|| RawSocket::open(ib.ifindex, 67)).unwrap();
    let tx = a
        .run_in(|| UdpSocket::open("eth0", SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)))
        .unwrap();
    // The kernel's UDP on veth leaves the checksum to "hardware"
    // (CHECKSUM_PARTIAL): B's packet socket must not verify it.
    tx.send_to(b"from the kernel", SocketAddrV4::new(b.ip(), 67))
        .unwrap();
    let got = raw_until(&rx, b"from the kernel");
    let (src, dst, _) = last_datagram(&got);
    assert_eq!(src, SocketAddrV4::new(a.ip(), 68));
    assert_eq!(dst, SocketAddrV4::new(b.ip(), 67));
    if let Some(Got::Datagram { offloaded, .. }) = got.last() {
        eprintln!("checksum offloaded (TP_STATUS_CSUMNOTREADY): {offloaded}");
    }
}

#[test]
fn raw_broadcast_over_bridge_reaches_every_namespace() {
    let Some(lab) = Lab::new(3) else { return };
    let i0 = query(lab.ns(0));
    let rx: Vec<RawSocket> = lab.nses()[1..]
        .iter()
        .map(|ns| {
            let i = query(ns);
            ns.run_in(|| RawSocket::open(i.ifindex, 68)).unwrap()
        })
        .collect();
    lab.ns(0)
        .run_in(|| {
            RawSender::open(i0.ifindex)?.send(
                MacAddr::BROADCAST,
                lab.ns(0).ip(),
                67,
                Ipv4Addr::BROADCAST,
                68,
                b"offer to all",
            )
        })
        .unwrap();
    for r in &rx {
        let got = raw_until(r, b"offer to all");
        assert_eq!(last_datagram(&got).2, lab.ns(0).mac);
    }
}

#[test]
fn kernel_udp_server_socket_bound_to_device() {
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ib = query(b);
    let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    // The alias suffix is stripped for SO_BINDTODEVICE.
    let server = b.run_in(|| UdpSocket::open("eth0:0", any(67))).unwrap();
    let client = a.run_in(|| UdpSocket::open("eth0", any(68))).unwrap();
    assert_eq!(server.local_addr().unwrap(), any(67));
    let mut buf = [0u8; 600];

    client
        .send_to(b"request", SocketAddrV4::new(b.ip(), 67))
        .unwrap();
    let r = recv_udp(&server, &mut buf);
    assert_eq!(&buf[..r.len], b"request");
    assert!(!r.truncated);
    assert_eq!(r.src, SocketAddrV4::new(a.ip(), 68));
    assert_eq!(r.ifindex, ib.ifindex);
    assert_eq!(r.dst, b.ip());

    // Reply by unicast to the sender.
    server.send_to(b"reply", r.src).unwrap();
    let r2 = recv_udp(&client, &mut buf);
    assert_eq!(&buf[..r2.len], b"reply");
    assert_eq!(r2.src, SocketAddrV4::new(b.ip(), 67));

    // A limited broadcast goes out of the bound device and is seen as one.
    client
        .send_to(b"bcast", SocketAddrV4::new(Ipv4Addr::BROADCAST, 67))
        .unwrap();
    let r3 = recv_udp(&server, &mut buf);
    assert_eq!(&buf[..r3.len], b"bcast");
    assert_eq!(r3.dst, Ipv4Addr::BROADCAST);
    assert_eq!(r3.ifindex, ib.ifindex);

    // Truncation is reported, not hidden.
    client
        .send_to(&[9u8; 100], SocketAddrV4::new(b.ip(), 67))
        .unwrap();
    let mut small = [0u8; 10];
    let r4 = recv_udp(&server, &mut small);
    assert!(r4.truncated && r4.len == 10, "{r4:?}");

    // A second socket on the same port and device: SO_REUSEADDR.
    let again = b.run_in(|| UdpSocket::open("eth0", any(67)));
    assert!(again.is_ok(), "{again:?}");
    // A missing device is named in the error.
    let err = b.run_in(|| UdpSocket::open("eth9", any(67))).unwrap_err();
    assert_eq!(err.to_string(), "interface 'eth9': No such device");
}

#[test]
fn arp_probe_finds_address_in_use() {
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ia = query(a);
    let mut prober = a.run_in(|| ArpProber::open(ia.ifindex)).unwrap();
    // udhcpc style: an RFC 5227 probe from 0.0.0.0.
    let deadline = now() + Duration::from_millis(1500);
    prober
        .start(b.ip(), Ipv4Addr::UNSPECIFIED, a.mac, None, deadline)
        .unwrap();
    let (ip, r, took) = drive(&mut prober, Duration::from_secs(3));
    assert_eq!((ip, r), (b.ip(), ProbeResult::InUse(b.mac)));
    assert!(
        took < Duration::from_millis(1500),
        "conflict only at {took:?}"
    );

    // udhcpd style: from the server's own address.
    prober
        .start(
            b.ip(),
            a.ip(),
            a.mac,
            None,
            now() + Duration::from_millis(1500),
        )
        .unwrap();
    let (ip, r, _) = drive(&mut prober, Duration::from_secs(3));
    assert_eq!((ip, r), (b.ip(), ProbeResult::InUse(b.mac)));

    // The answer comes from the client the address is meant for: free,
    // without waiting for the deadline.
    prober
        .start(
            b.ip(),
            a.ip(),
            a.mac,
            Some(b.mac),
            now() + Duration::from_secs(2),
        )
        .unwrap();
    let (ip, r, took) = drive(&mut prober, Duration::from_secs(3));
    assert_eq!((ip, r), (b.ip(), ProbeResult::Free));
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn arp_probe_of_unused_address_is_free_at_deadline() {
    let Some(lab) = Lab::new(2) else { return };
    let a = lab.ns(0);
    let ia = query(a);
    let mut prober = a.run_in(|| ArpProber::open(ia.ifindex)).unwrap();
    let unused = Ipv4Addr::new(10, 99, 0, 77);
    let t0 = now();
    prober
        .start(
            unused,
            Ipv4Addr::UNSPECIFIED,
            a.mac,
            None,
            t0 + Duration::from_millis(400),
        )
        .unwrap();
    assert_eq!(
        prober.next_deadline(),
        Some(t0 + Duration::from_millis(400))
    );
    let (ip, r, _) = drive(&mut prober, Duration::from_secs(5));
    let took = now() - t0;
    assert_eq!((ip, r), (unused, ProbeResult::Free));
    assert!(
        took >= Duration::from_millis(400),
        "free before the deadline: {took:?}"
    );
    assert!(took < Duration::from_millis(400) + PROMPT, "{took:?}");
    assert_eq!(prober.next_deadline(), None);
}

/// The point of the non-blocking prober: while a long probe is pending,
/// the same poll loop keeps serving UDP.
#[test]
fn poll_loop_keeps_serving_while_probe_pending() {
    const PROBE: Duration = Duration::from_millis(1500);
    const ECHO_BOUND: Duration = Duration::from_millis(300);
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ib = query(b);
    let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let (mut prober, echo) = b.run_in(|| {
        (
            ArpProber::open(ib.ifindex).unwrap(),
            UdpSocket::open("eth0", any(7000)).unwrap(),
        )
    });
    let client = a.run_in(|| UdpSocket::open("eth0", any(0))).unwrap();
    let client_done = AtomicBool::new(false);
    let rtts: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

    let unused = Ipv4Addr::new(10, 99, 0, 200);
    let t0 = now();
    prober
        .start(unused, Ipv4Addr::UNSPECIFIED, b.mac, None, t0 + PROBE)
        .unwrap();

    let (result_at, answered_while_pending) = std::thread::scope(|s| {
        // The echo client in A: a ping every 100 ms for 1.2 s.
        s.spawn(|| {
            let mut buf = [0u8; 64];
            let dst = SocketAddrV4::new(b.ip(), 7000);
            for i in 0..12u8 {
                let sent = now();
                client.send_to(&[i], dst).unwrap();
                let deadline = sent + Duration::from_secs(3);
                loop {
                    match client.recv(&mut buf).unwrap() {
                        Some(r) if r.len == 1 && buf[0] == i => break,
                        Some(_) => {}
                        None => {
                            let left = deadline.saturating_duration_since(now());
                            assert!(!left.is_zero(), "echo {i} never answered");
                            readable(client.as_fd(), left);
                        }
                    }
                }
                rtts.lock().unwrap().push(now() - sent);
                std::thread::sleep(Duration::from_millis(100));
            }
            client_done.store(true, Ordering::SeqCst);
        });

        // B's poll loop: ARP socket + UDP echo socket, one poll(2).
        let mut result_at: Option<Instant> = None;
        let mut answered_while_pending = 0;
        let mut buf = [0u8; 1500];
        let give_up = t0 + Duration::from_secs(20);
        while result_at.is_none() || !client_done.load(Ordering::SeqCst) {
            assert!(now() < give_up, "loop did not finish");
            let wait = prober
                .next_deadline()
                .map_or(Duration::from_millis(50), |d| {
                    d.saturating_duration_since(now()) + Duration::from_millis(1)
                })
                .min(Duration::from_millis(50));
            let mut fds = [
                PollFd::new(prober.fd(), PollFlags::POLLIN),
                PollFd::new(echo.as_fd(), PollFlags::POLLIN),
            ];
            let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
            nix::poll::poll(&mut fds, ms).unwrap();
            let arp_ready = fds[0].any().unwrap_or(false);
            if arp_ready {
                prober.handle_readable(now()).unwrap();
            } else {
                prober.handle_timeout(now());
            }
            while let Some(r) = echo.recv(&mut buf).unwrap() {
                if prober.probes().pending_len() > 0 {
                    answered_while_pending += 1;
                }
                echo.send_to(&buf[..r.len], r.src).unwrap();
            }
            if let Some((ip, res)) = prober.poll_result() {
                assert_eq!((ip, res), (unused, ProbeResult::Free));
                result_at = Some(now());
            }
        }
        (result_at.unwrap(), answered_while_pending)
    });

    let rtts = rtts.into_inner().unwrap();
    assert_eq!(rtts.len(), 12);
    let worst = rtts.iter().max().unwrap();
    assert!(*worst < ECHO_BOUND, "an echo took {worst:?}: {rtts:?}");
    assert!(
        answered_while_pending >= 8,
        "only {answered_while_pending} echoes answered while the probe was pending"
    );
    let probe_took = result_at - t0;
    assert!(probe_took >= PROBE, "probe ended early: {probe_took:?}");
}

#[test]
fn blocking_arping_helper() {
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ia = query(a);
    a.run_in(|| {
        let any = Ipv4Addr::UNSPECIFIED;
        let t0 = now();
        let in_use = arping(ia.ifindex, b.ip(), any, a.mac, None, Duration::from_secs(2));
        assert!(in_use.unwrap());
        assert!((now() - t0) < Duration::from_secs(2), "{:?}", (now() - t0));

        let t0 = now();
        let unused = Ipv4Addr::new(10, 99, 0, 77);
        let free = arping(
            ia.ifindex,
            unused,
            any,
            a.mac,
            None,
            Duration::from_millis(300),
        );
        let took = now() - t0;
        assert!(!free.unwrap());
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_millis(300) + PROMPT, "{took:?}");

        let t0 = now();
        assert!(!arping(ia.ifindex, b.ip(), any, a.mac, None, Duration::ZERO).unwrap());
        assert!(
            (now() - t0) < Duration::from_millis(50),
            "{:?}",
            (now() - t0)
        );
    });
}

#[test]
fn interface_query() {
    let specs = [
        NsSpec {
            addr: Some((Ipv4Addr::new(192, 168, 77, 1), 24)),
            mac: Some(MacAddr([2, 0x11, 0x22, 0x33, 0x44, 0x55])),
        },
        NsSpec::default(), // unconfigured, as a DHCP client starts
    ];
    let Some(lab) = Lab::with(&specs) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));

    let ia = query(a);
    let line = a.exec_ok(&["ip", "-o", "link", "show", "dev", "eth0"]);
    let index: u32 = line.split(':').next().unwrap().trim().parse().unwrap();
    assert_eq!(ia.name, "eth0");
    assert_eq!(ia.ifindex, index);
    assert_eq!(ia.mac, MacAddr([2, 0x11, 0x22, 0x33, 0x44, 0x55]));
    assert_eq!(ia.ipv4, Some(Ipv4Addr::new(192, 168, 77, 1)));
    assert!(ia.up && ia.running && ia.carrier());

    let ib = query(b);
    assert_eq!(ib.ipv4, None);
    assert_eq!(ib.mac, b.mac);

    // An alias has its own address; the query keeps the alias name.
    a.exec_ok(&[
        "ip",
        "addr",
        "add",
        "192.168.78.1/24",
        "dev",
        "eth0",
        "label",
        "eth0:1",
    ]);
    let alias = a.run_in(|| Interface::query("eth0:1")).unwrap();
    assert_eq!(alias.ipv4, Some(Ipv4Addr::new(192, 168, 78, 1)));
    assert_eq!(alias.ifindex, ia.ifindex);

    // Administratively down: neither up nor running.
    b.exec_ok(&["ip", "link", "set", "eth0", "down"]);
    let down = query(b);
    assert!(!down.up && !down.running && !down.carrier());
    // And A loses carrier with its peer down (the kernel's link watcher
    // updates the operational state asynchronously, within about 1 s).
    let t0 = now();
    loop {
        let ia2 = query(a);
        assert!(ia2.up, "{ia2:?}");
        if !ia2.running {
            break;
        }
        assert!(
            (now() - t0) < Duration::from_secs(5),
            "still running: {ia2:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let err = a.run_in(|| Interface::query("eth9")).unwrap_err();
    assert_eq!(err.to_string(), "interface 'eth9': No such device");
}

#[test]
fn lab_is_removed_when_a_test_panics() {
    let names: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let pid: Mutex<Option<u32>> = Mutex::new(None);
    let skipped = AtomicBool::new(false);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(lab) = Lab::new(3) else {
            skipped.store(true, Ordering::SeqCst);
            return;
        };
        *names.lock().unwrap() = lab.names();
        let child = lab.ns(1).spawn(&["sleep", "60"]);
        *pid.lock().unwrap() = Some(child.pid());
        lab.ns(0)
            .run_in(|| panic!("deliberate panic inside the lab"));
        drop(child);
    }));
    if skipped.load(Ordering::SeqCst) {
        return;
    }
    assert!(r.is_err(), "the closure should have panicked");
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4, "3 namespaces and the hub: {names:?}");
    let listed = netns::listed();
    for n in &names {
        assert!(!listed.contains(n), "{n} survived the panic: {listed:?}");
    }
    let pid = pid.into_inner().unwrap().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!cmdline.starts_with(b"sleep\0"), "sleep {pid} survived");
}

#[test]
fn lab_names_and_sweep_rule() {
    assert_eq!(netns::owner_pid("udhcpt-1234-0"), Some(1234));
    assert_eq!(netns::owner_pid("udhcpt-1234-hub7"), Some(1234));
    assert_eq!(
        netns::owner_pid("udhcpt-sh-1"),
        None,
        "script namespaces are left alone"
    );
    assert_eq!(netns::owner_pid("other-1234-0"), None);
    assert_eq!(netns::owner_pid("udhcpt-1234"), None);
}

#[test]
fn sweep_removes_only_namespaces_of_dead_test_processes() {
    let Some(lab) = Lab::new(1) else { return };
    // A PID that is certainly dead: a child we started and reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("{}{dead}-0", netns::PREFIX);
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(st.success());
    netns::sweep_stale();
    let listed = netns::listed();
    let survived = listed.contains(&stale);
    if survived {
        // Never leave it behind, even when the assertion below fails.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &stale])
            .status();
    }
    // (Unless the PID was reused at once, which a fresh check would show.)
    assert!(
        !survived || std::path::Path::new(&format!("/proc/{dead}")).exists(),
        "{stale} not swept"
    );
    for n in lab.names() {
        assert!(listed.contains(&n), "live lab namespace {n} was swept");
    }
}

/// The rtnetlink watcher (`sys::net::link`): the peer end of the veth
/// going down and up is reported as carrier off and on for our ifindex,
/// with no polling of the interface.
#[test]
fn link_watcher_reports_carrier_changes() {
    use udhcp::sys::net::link::{LinkNews, LinkWatcher};
    let Some(lab) = Lab::new(2) else { return };
    let (a, b) = (lab.ns(0), lab.ns(1));
    let ifindex = query(b).ifindex;
    let mut w = b.run_in(LinkWatcher::open).unwrap();
    // Waits for news about `ifindex` equal to `want`.
    let mut expect = |want: LinkNews| {
        let t0 = now();
        loop {
            let left = PROMPT.saturating_sub(now() - t0);
            assert!(!left.is_zero(), "no {want:?} within {PROMPT:?}");
            if readable(w.fd(), left) {
                match w.read(ifindex).unwrap() {
                    LinkNews::None => {}
                    news if news == want => return,
                    news => assert!(news != LinkNews::Removed, "{news:?}"),
                }
            }
        }
    };
    a.exec_ok(&["ip", "link", "set", "eth0", "down"]);
    expect(LinkNews::Carrier(false));
    assert!(!query(b).carrier());
    a.exec_ok(&["ip", "link", "set", "eth0", "up"]);
    expect(LinkNews::Carrier(true));
    assert!(query(b).carrier());
    // Whatever else is queued (the kernel may send more than one
    // RTM_NEWLINK per change) says the same.
    assert!(matches!(
        w.read(ifindex).unwrap(),
        LinkNews::None | LinkNews::Carrier(true)
    ));
}
