//! Byte-vector tests of the relay rules, on a virtual clock.

use super::*;

const XID: u32 = 0x1234_5678;
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
const DOWN: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const DOWN2: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const UP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);
const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn client_src() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)
}

fn server_src() -> SocketAddrV4 {
    SocketAddrV4::new(SERVER, 67)
}

fn config() -> RelayConfig {
    RelayConfig {
        clients: vec![
            ClientIface {
                name: "eth0".into(),
                addr: Some(DOWN),
            },
            ClientIface {
                name: "eth1".into(),
                addr: Some(DOWN2),
            },
        ],
        server_iface_addr: Some(UP),
        server: SERVER,
        option82: true,
        remote_id: None,
        link_selection: false,
    }
}

fn relay() -> Relay {
    Relay::new(config()).unwrap()
}

/// A BOOTP/DHCP message of `len` bytes (at least what the options need):
/// header fields, cookie, `opts` (an END is appended), zero padding.
fn msg(op: u8, xid: u32, mac: [u8; 6], opts: &[u8], len: usize) -> Vec<u8> {
    let mut m = vec![0u8; HEADER_LEN];
    m[0] = op;
    m[1] = 1;
    m[2] = 6;
    m[4..8].copy_from_slice(&xid.to_be_bytes());
    m[28..34].copy_from_slice(&mac);
    m[236..240].copy_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(opts);
    m.push(255);
    if m.len() < len {
        m.resize(len, 0);
    }
    m
}

fn discover() -> Vec<u8> {
    msg(1, XID, MAC, &[53, 1, 1, 55, 2, 1, 3], 300)
}

fn reply(kind: u8, xid: u32, mac: [u8; 6], giaddr: Ipv4Addr, extra: &[u8]) -> Vec<u8> {
    let mut opts = vec![53, 1, kind, 54, 4, 10, 98, 0, 2];
    opts.extend_from_slice(extra);
    let mut m = msg(2, xid, mac, &opts, 300);
    m[16..20].copy_from_slice(&OFFERED.octets());
    m[24..28].copy_from_slice(&giaddr.octets());
    m
}

/// The top-level options of `m` as (code, data) pairs.
fn options(m: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let p = Packet::new_checked(m).unwrap();
    p.options()
        .map(|o| o.unwrap())
        .map(|(c, d)| (c, d.to_vec()))
        .collect()
}

fn option82(m: &[u8]) -> Option<Vec<u8>> {
    options(m)
        .into_iter()
        .find(|(c, _)| *c == 82)
        .map(|(_, d)| d)
}

#[test]
fn discover_gets_giaddr_hops_and_option82() {
    let mut r = relay();
    let req = discover();
    let tx = r.handle_client(t(0), 0, client_src(), &req).unwrap();
    assert_eq!(tx.dest, Dest::Server(SocketAddrV4::new(SERVER, 67)));
    assert_eq!(tx.note, None);
    let out = &tx.payload;
    assert_eq!(out.len(), 300, "padding reused, length kept");
    assert_eq!(out[3], 1, "hops incremented");
    assert_eq!(&out[24..28], &DOWN.octets(), "giaddr set");
    assert_eq!(option82(out).unwrap(), vec![1, 4, b'e', b't', b'h', b'0']);
    // The client's own options are kept, in order, 82 last.
    let codes: Vec<u8> = options(out).iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, vec![53, 55, 82]);
    // Everything but hops, giaddr and the option tail is untouched.
    assert_eq!(&out[..3], &req[..3]);
    assert_eq!(&out[4..24], &req[4..24]);
    assert_eq!(&out[28..240], &req[28..240]);
    assert_eq!(r.pending_len(), 1);
}

#[test]
fn second_interface_uses_its_own_giaddr_and_circuit_id() {
    let mut r = relay();
    let tx = r.handle_client(t(0), 1, client_src(), &discover()).unwrap();
    assert_eq!(&tx.payload[24..28], &DOWN2.octets());
    assert_eq!(option82(&tx.payload).unwrap(), b"\x01\x04eth1".to_vec());
    // The reply to giaddr DOWN2 goes back out of interface 1.
    let rep = reply(2, XID, MAC, DOWN2, &[]);
    let tx = r.handle_server(t(10), server_src(), &rep).unwrap();
    assert!(matches!(tx.dest, Dest::Client { iface: 1, .. }));
}

#[test]
fn remote_id_sub_option() {
    let mut c = config();
    c.remote_id = Some(b"relay-7".to_vec());
    let mut r = Relay::new(c).unwrap();
    let tx = r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    assert_eq!(
        option82(&tx.payload).unwrap(),
        b"\x01\x04eth0\x02\x07relay-7".to_vec()
    );
}

#[test]
fn option82_can_be_turned_off() {
    let mut c = config();
    c.option82 = false;
    let mut r = Relay::new(c).unwrap();
    let req = discover();
    let tx = r.handle_client(t(0), 0, client_src(), &req).unwrap();
    assert_eq!(option82(&tx.payload), None);
    assert_eq!(tx.payload.len(), req.len());
}

#[test]
fn link_selection_uses_server_side_giaddr_and_sub_option_5() {
    let mut c = config();
    c.link_selection = true;
    let mut r = Relay::new(c).unwrap();
    let tx = r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    assert_eq!(&tx.payload[24..28], &UP.octets());
    assert_eq!(
        option82(&tx.payload).unwrap(),
        vec![1, 4, b'e', b't', b'h', b'0', 5, 4, 10, 99, 0, 1]
    );
    // Replies come back to UP; the table says which interface.
    let tx = r.handle_client(t(0), 1, client_src(), &msg(1, 9, MAC, &[53, 1, 1], 300));
    assert!(tx.is_ok());
    let rep = reply(2, XID, MAC, UP, &[]);
    let out = r.handle_server(t(5), server_src(), &rep).unwrap();
    // The frame leaves from the client interface's own address.
    assert_eq!(
        out.dest,
        Dest::Client {
            iface: 0,
            how: ClientDest::Frame {
                mac: MacAddr(MAC),
                ip: OFFERED,
                src: DOWN
            }
        }
    );
    let rep = reply(2, 9, MAC, UP, &[]);
    let out = r.handle_server(t(5), server_src(), &rep).unwrap();
    assert!(matches!(out.dest, Dest::Client { iface: 1, .. }));
}

#[test]
fn unnumbered_client_interface_falls_back_to_server_address_with_link_selection_absent() {
    let mut c = config();
    c.clients[0].addr = None;
    let mut r = Relay::new(c).unwrap();
    let tx = r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    assert_eq!(&tx.payload[24..28], &UP.octets());
    // No address on the client link: nothing to select.
    assert_eq!(option82(&tx.payload).unwrap(), b"\x01\x04eth0".to_vec());
}

#[test]
fn config_errors() {
    let mut c = config();
    c.clients.clear();
    assert_eq!(Relay::new(c).unwrap_err(), ConfigError::NoClients);
    let mut c = config();
    c.clients[0].addr = None;
    c.server_iface_addr = None;
    assert_eq!(
        Relay::new(c).unwrap_err(),
        ConfigError::NoAddress("eth0".into())
    );
    let mut c = config();
    c.server_iface_addr = None;
    c.link_selection = true;
    assert_eq!(
        Relay::new(c).unwrap_err(),
        ConfigError::LinkSelectionNeedsServerAddr
    );
    for id in [vec![], vec![b'x'; MAX_REMOTE_ID + 1]] {
        let mut c = config();
        c.remote_id = Some(id);
        assert_eq!(Relay::new(c).unwrap_err(), ConfigError::BadRemoteId);
    }
    let mut c = config();
    c.remote_id = Some(vec![b'x'; MAX_REMOTE_ID]);
    let mut r = Relay::new(c).unwrap();
    // The longest remote-id with the longest name and link selection fits.
    let tx = r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    assert_eq!(option82(&tx.payload).unwrap().len(), 6 + 2 + MAX_REMOTE_ID);
}

#[test]
fn downstream_relay_giaddr_kept_no_option82_not_remembered() {
    let mut r = relay();
    let mut req = discover();
    let other = Ipv4Addr::new(10, 50, 0, 1);
    req[24..28].copy_from_slice(&other.octets());
    req[3] = 3;
    let src = SocketAddrV4::new(other, 67);
    let tx = r.handle_client(t(0), 0, src, &req).unwrap();
    assert_eq!(&tx.payload[24..28], &other.octets(), "giaddr kept");
    assert_eq!(tx.payload[3], 4);
    assert_eq!(option82(&tx.payload), None);
    assert_eq!(tx.payload.len(), req.len());
    assert_eq!(r.pending_len(), 0);
}

#[test]
fn downstream_relay_option82_forwarded_untouched() {
    let mut r = relay();
    let mut req = msg(1, XID, MAC, &[53, 1, 1, 82, 3, 1, 1, b'x'], 300);
    req[24..28].copy_from_slice(&[10, 50, 0, 1]);
    let tx = r
        .handle_client(
            t(0),
            0,
            SocketAddrV4::new(Ipv4Addr::new(10, 50, 0, 1), 67),
            &req,
        )
        .unwrap();
    assert_eq!(option82(&tx.payload).unwrap(), vec![1, 1, b'x']);
    assert_eq!(&tx.payload[4..], &req[4..]);
}

#[test]
fn giaddr_of_our_own_is_a_loop() {
    let mut r = relay();
    for own in [DOWN, DOWN2, UP] {
        let mut req = discover();
        req[24..28].copy_from_slice(&own.octets());
        let e = r.handle_client(t(0), 0, SocketAddrV4::new(own, 67), &req);
        assert_eq!(e.unwrap_err(), Discard::OwnGiaddr, "{own}");
    }
}

#[test]
fn hop_limit() {
    let mut r = relay();
    let mut req = discover();
    req[3] = MAX_HOPS;
    let tx = r.handle_client(t(0), 0, client_src(), &req).unwrap();
    assert_eq!(tx.payload[3], MAX_HOPS + 1);
    for hops in [MAX_HOPS + 1, 255] {
        req[3] = hops;
        let e = r.handle_client(t(0), 0, client_src(), &req);
        assert_eq!(e.unwrap_err(), Discard::TooManyHops);
    }
}

#[test]
fn untrusted_option82_with_zero_giaddr_dropped() {
    let mut r = relay();
    let req = msg(1, XID, MAC, &[53, 1, 1, 82, 4, 1, 2, b'h', b'i'], 300);
    let e = r.handle_client(t(0), 0, client_src(), &req);
    assert_eq!(e.unwrap_err(), Discard::UntrustedOption82);
    // Also an empty one, and one in an overloaded `file` field.
    let req = msg(1, XID, MAC, &[53, 1, 1, 82, 0], 300);
    let e = r.handle_client(t(0), 0, client_src(), &req);
    assert_eq!(e.unwrap_err(), Discard::UntrustedOption82);
    let mut req = msg(1, XID, MAC, &[53, 1, 1, 52, 1, 1], 300);
    req[108..113].copy_from_slice(&[82, 2, 1, 0, 255]);
    let e = r.handle_client(t(0), 0, client_src(), &req);
    assert_eq!(e.unwrap_err(), Discard::UntrustedOption82);
    assert_eq!(r.pending_len(), 0);
}

#[test]
fn client_side_acceptance() {
    let mut r = relay();
    // Message types a client sends pass, others do not.
    for ty in [1u8, 3, 4, 7, 8] {
        let req = msg(1, XID, MAC, &[53, 1, ty], 300);
        assert!(r.handle_client(t(0), 0, client_src(), &req).is_ok(), "{ty}");
    }
    for ty in [2u8, 5, 6, 9, 13] {
        let req = msg(1, XID, MAC, &[53, 1, ty], 300);
        let e = r.handle_client(t(0), 0, client_src(), &req);
        assert_eq!(e.unwrap_err(), Discard::WrongType, "{ty}");
    }
    // Plain BOOTP (no option 53) is relayed (RFC 1542).
    let bootp = msg(1, XID, MAC, &[], 300);
    assert!(r.handle_client(t(0), 0, client_src(), &bootp).is_ok());
    // A BOOTREPLY on the client side is not.
    let e = r.handle_client(t(0), 0, client_src(), &reply(2, XID, MAC, DOWN, &[]));
    assert_eq!(e.unwrap_err(), Discard::WrongOp);
    // Ports: 68, or 67 only with a giaddr.
    for port in [67u16, 69, 0, 546] {
        let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        let e = r.handle_client(t(0), 0, src, &discover());
        assert_eq!(e.unwrap_err(), Discard::WrongPort, "{port}");
    }
    // hlen over 16.
    let mut req = discover();
    req[2] = 17;
    let e = r.handle_client(t(0), 0, client_src(), &req);
    assert_eq!(e.unwrap_err(), Discard::BadHlen);
    // Unknown interface index.
    let e = r.handle_client(t(0), 2, client_src(), &discover());
    assert_eq!(e.unwrap_err(), Discard::UnknownIface);
}

#[test]
fn lengths_checked() {
    let mut r = relay();
    let req = discover();
    for n in [0, 1, 100, 239] {
        let e = r.handle_client(t(0), 0, client_src(), &req[..n]);
        assert_eq!(e.unwrap_err(), Discard::Malformed, "{n}");
    }
    // Bad cookie.
    let mut bad = req.clone();
    bad[236] = 0;
    assert_eq!(
        r.handle_client(t(0), 0, client_src(), &bad).unwrap_err(),
        Discard::Malformed
    );
    // An option running past the end of the packet.
    let cut = msg(1, XID, MAC, &[53, 1, 1, 12, 200, b'a'], 0);
    let cut = &cut[..cut.len() - 1];
    assert_eq!(
        r.handle_client(t(0), 0, client_src(), cut).unwrap_err(),
        Discard::Malformed
    );
    // Over 1472 bytes.
    let big = msg(1, XID, MAC, &[53, 1, 1], 1473);
    assert_eq!(
        r.handle_client(t(0), 0, client_src(), &big).unwrap_err(),
        Discard::Malformed
    );
    // The bare minimum (header, cookie, no END) is relayed; END is added.
    let bare = &req[..240];
    let tx = r.handle_client(t(0), 0, client_src(), bare).unwrap();
    assert_eq!(
        &tx.payload[240..],
        &[82, 6, 1, 4, b'e', b't', b'h', b'0', 255]
    );
    // Same checks on the server side.
    let rep = reply(2, XID, MAC, DOWN, &[]);
    for n in [0, 239] {
        let e = r.handle_server(t(0), server_src(), &rep[..n]);
        assert_eq!(e.unwrap_err(), Discard::Malformed);
    }
}

/// Options of exactly `n` bytes: a message type and vendor options.
fn filler(n: usize) -> Vec<u8> {
    let mut o = vec![53, 1, 1];
    let mut left = n - 3;
    while left > 0 {
        let k = (left - 2).min(255);
        o.push(43);
        o.push(k as u8);
        o.extend(std::iter::repeat(b'v').take(k));
        left -= k + 2;
    }
    assert_eq!(o.len(), n);
    o
}

#[test]
fn no_room_for_option82_forwards_without_it() {
    let mut r = relay();
    // 546 bytes: the option field is full but for 6 bytes, 2 short of
    // the 8 that option 82 with circuit-id `eth0` needs.
    let o = filler(548 - HEADER_LEN - 1 - 2);
    let req = msg(1, XID, MAC, &o, 0);
    assert_eq!(req.len(), 548 - 2);
    let tx = r.handle_client(t(0), 0, client_src(), &req).unwrap();
    assert_eq!(tx.note, Some(Note::NoRoomForOption82));
    assert_eq!(option82(&tx.payload), None);
    assert_eq!(tx.payload.len(), req.len());
    assert_eq!(&tx.payload[24..28], &DOWN.octets(), "still relayed");
    // With exactly enough room (8 bytes + END) it is added, ending at 548.
    let o3 = filler(548 - HEADER_LEN - 8 - 1);
    let req = msg(1, XID, MAC, &o3, 0);
    let tx = r.handle_client(t(0), 0, client_src(), &req).unwrap();
    assert_eq!(tx.note, None);
    assert_eq!(tx.payload.len(), 548);
    assert!(option82(&tx.payload).is_some());
    // A request already above 548 may not grow: padding after END is used.
    let big = msg(1, XID, MAC, &o, 700);
    let tx = r.handle_client(t(0), 0, client_src(), &big).unwrap();
    assert_eq!(tx.payload.len(), 700);
    assert!(option82(&tx.payload).is_some());
}

#[test]
fn reply_is_stripped_of_option82_and_matched() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    let rep = reply(
        2,
        XID,
        MAC,
        DOWN,
        &[82, 6, 1, 4, b'e', b't', b'h', b'0', 1, 4, 255, 255, 255, 0],
    );
    let tx = r.handle_server(t(100), server_src(), &rep).unwrap();
    assert_eq!(option82(&tx.payload), None);
    let codes: Vec<u8> = options(&tx.payload).iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, vec![53, 54, 1], "other options kept in order");
    assert_eq!(tx.payload.len(), rep.len());
    assert_eq!(&tx.payload[..240], &rep[..240]);
    assert_eq!(
        tx.dest,
        Dest::Client {
            iface: 0,
            how: ClientDest::Frame {
                mac: MacAddr(MAC),
                ip: OFFERED,
                src: DOWN
            }
        }
    );
    // Entries live on: a second server's OFFER is relayed too.
    assert!(r.handle_server(t(200), server_src(), &rep).is_ok());
}

#[test]
fn two_option82_instances_both_removed() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    let rep = reply(5, XID, MAC, DOWN, &[82, 0, 3, 4, 1, 2, 3, 4, 82, 2, 9, 0]);
    let tx = r.handle_server(t(1), server_src(), &rep).unwrap();
    let codes: Vec<u8> = options(&tx.payload).iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, vec![53, 54, 3]);
}

#[test]
fn reply_matched_by_xid_and_chaddr() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    // Same xid, other chaddr: not ours.
    let other = reply(2, XID, [2, 0, 0, 0, 0, 0x22], DOWN, &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &other).unwrap_err(),
        Discard::NoMatch
    );
    // Same chaddr, other xid.
    let other = reply(2, XID + 1, MAC, DOWN, &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &other).unwrap_err(),
        Discard::NoMatch
    );
    // Same xid and chaddr but giaddr of the other interface.
    let other = reply(2, XID, MAC, DOWN2, &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &other).unwrap_err(),
        Discard::NoMatch
    );
    // giaddr not ours at all.
    let other = reply(2, XID, MAC, Ipv4Addr::new(10, 1, 1, 1), &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &other).unwrap_err(),
        Discard::NotOurGiaddr
    );
    // Two clients with the same xid each get their own reply.
    let mac2 = [2, 0, 0, 0, 0, 0x22];
    r.handle_client(t(2), 0, client_src(), &msg(1, XID, mac2, &[53, 1, 1], 300))
        .unwrap();
    assert_eq!(r.pending_len(), 2);
    for m in [MAC, mac2] {
        let tx = r.handle_server(t(3), server_src(), &reply(2, XID, m, DOWN, &[]));
        match tx.unwrap().dest {
            Dest::Client {
                how: ClientDest::Frame { mac, .. },
                ..
            } => assert_eq!(mac, MacAddr(m)),
            d => panic!("{d:?}"),
        }
    }
}

#[test]
fn server_side_acceptance() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    // Source port must be 67.
    for port in [68u16, 1067, 0] {
        let e = r.handle_server(
            t(1),
            SocketAddrV4::new(SERVER, port),
            &reply(2, XID, MAC, DOWN, &[]),
        );
        assert_eq!(e.unwrap_err(), Discard::WrongPort, "{port}");
    }
    // Only OFFER, ACK, NAK (or BOOTP).
    for ty in [1u8, 3, 4, 7, 8, 10] {
        let e = r.handle_server(t(1), server_src(), &reply(ty, XID, MAC, DOWN, &[]));
        assert_eq!(e.unwrap_err(), Discard::WrongType, "{ty}");
    }
    for ty in [2u8, 5, 6] {
        assert!(r
            .handle_server(t(1), server_src(), &reply(ty, XID, MAC, DOWN, &[]))
            .is_ok());
    }
    let mut bootp = msg(2, XID, MAC, &[], 300);
    bootp[24..28].copy_from_slice(&DOWN.octets());
    assert!(r.handle_server(t(1), server_src(), &bootp).is_ok());
    // Our own forwarded request, looped back by the kernel's broadcast.
    let tx = r.handle_client(t(1), 0, client_src(), &discover()).unwrap();
    let e = r.handle_server(t(1), SocketAddrV4::new(UP, 67), &tx.payload);
    assert_eq!(e.unwrap_err(), Discard::WrongOp);
}

#[test]
fn reply_destination_rules() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    let how = |r: &mut Relay, m: &[u8]| match r.handle_server(t(1), server_src(), m).unwrap().dest {
        Dest::Client { how, .. } => how,
        d => panic!("{d:?}"),
    };
    // Broadcast flag wins.
    let mut m = reply(2, XID, MAC, DOWN, &[]);
    m[10] = 0x80;
    m[12..16].copy_from_slice(&[10, 99, 0, 5]);
    assert_eq!(how(&mut r, &m), ClientDest::Broadcast);
    // ciaddr: kernel unicast.
    let mut m = reply(5, XID, MAC, DOWN, &[]);
    m[12..16].copy_from_slice(&[10, 99, 0, 5]);
    assert_eq!(
        how(&mut r, &m),
        ClientDest::Unicast(Ipv4Addr::new(10, 99, 0, 5))
    );
    // NAK: yiaddr 0 → broadcast.
    let mut m = reply(6, XID, MAC, DOWN, &[]);
    m[16..20].copy_from_slice(&[0; 4]);
    assert_eq!(how(&mut r, &m), ClientDest::Broadcast);
    // yiaddr with an Ethernet chaddr: a frame.
    let m = reply(2, XID, MAC, DOWN, &[]);
    assert!(matches!(how(&mut r, &m), ClientDest::Frame { .. }));
}

#[test]
fn non_ethernet_client_gets_broadcast() {
    let mut r = relay();
    let mut req = discover();
    req[1] = 6;
    req[2] = 8;
    r.handle_client(t(0), 0, client_src(), &req).unwrap();
    let mut m = reply(2, XID, MAC, DOWN, &[]);
    m[1] = 6;
    m[2] = 8;
    let tx = r.handle_server(t(1), server_src(), &m).unwrap();
    assert_eq!(
        tx.dest,
        Dest::Client {
            iface: 0,
            how: ClientDest::Broadcast
        }
    );
    // htype/hlen are part of the match.
    let m = reply(2, XID, MAC, DOWN, &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &m).unwrap_err(),
        Discard::NoMatch
    );
}

#[test]
fn entries_expire_on_the_virtual_clock() {
    let mut r = relay();
    r.handle_client(t(0), 0, client_src(), &discover()).unwrap();
    let ttl = PENDING_TTL.as_millis() as u64;
    let rep = reply(2, XID, MAC, DOWN, &[]);
    assert!(r.handle_server(t(ttl - 1), server_src(), &rep).is_ok());
    assert_eq!(
        r.handle_server(t(ttl), server_src(), &rep).unwrap_err(),
        Discard::NoMatch
    );
    assert_eq!(r.pending_len(), 0);
    // A retransmission refreshes, and does not add a second entry.
    r.handle_client(t(1000), 0, client_src(), &discover())
        .unwrap();
    r.handle_client(t(1000 + ttl - 10), 0, client_src(), &discover())
        .unwrap();
    assert_eq!(r.pending_len(), 1);
    assert!(r
        .handle_server(t(1000 + ttl + 5), server_src(), &rep)
        .is_ok());
}

#[test]
fn table_bounded_oldest_evicted() {
    let mut r = relay();
    for i in 0..MAX_PENDING as u32 {
        let req = msg(1, i, MAC, &[53, 1, 1], 300);
        r.handle_client(t(u64::from(i)), 0, client_src(), &req)
            .unwrap();
    }
    assert_eq!(r.pending_len(), MAX_PENDING);
    let req = msg(1, 0xdead, MAC, &[53, 1, 1], 300);
    r.handle_client(t(5000), 0, client_src(), &req).unwrap();
    assert_eq!(r.pending_len(), MAX_PENDING, "bound held");
    // xid 0 (the oldest) is gone, xid 1 and the new one are there.
    let e = r.handle_server(t(5001), server_src(), &reply(2, 0, MAC, DOWN, &[]));
    assert_eq!(e.unwrap_err(), Discard::NoMatch);
    for xid in [1, 0xdead] {
        assert!(r
            .handle_server(t(5001), server_src(), &reply(2, xid, MAC, DOWN, &[]))
            .is_ok());
    }
    // Ten thousand more: still bounded.
    for i in 0..10_000u32 {
        let req = msg(1, 0x10_0000 + i, MAC, &[53, 1, 1], 300);
        r.handle_client(t(6000), 0, client_src(), &req).unwrap();
    }
    assert_eq!(r.pending_len(), MAX_PENDING);
}

#[test]
fn downstream_relay_replies_are_not_ours() {
    let mut r = relay();
    let mut req = discover();
    req[24..28].copy_from_slice(&[10, 50, 0, 1]);
    r.handle_client(
        t(0),
        0,
        SocketAddrV4::new(Ipv4Addr::new(10, 50, 0, 1), 67),
        &req,
    )
    .unwrap();
    let rep = reply(2, XID, MAC, Ipv4Addr::new(10, 50, 0, 1), &[]);
    assert_eq!(
        r.handle_server(t(1), server_src(), &rep).unwrap_err(),
        Discard::NotOurGiaddr
    );
}

#[test]
fn byte_soup_never_panics() {
    let mut rng = crate::testutil::XorShift(0x5eed_1234);
    let mut r = relay();
    let base = discover();
    for i in 0..20_000u64 {
        let mut m = if rng.below(2) == 0 {
            base.clone()
        } else {
            reply(2, XID, MAC, DOWN, &[82, 2, 1, 0])
        };
        let n = rng.below(m.len() + 1);
        m.truncate(n.max(200));
        for _ in 0..rng.below(8) {
            if m.is_empty() {
                break;
            }
            let at = rng.below(m.len());
            m[at] = rng.next() as u8;
        }
        let src = SocketAddrV4::new(SERVER, [67, 68][rng.below(2)]);
        if let Ok(tx) = r.handle_client(t(i), rng.below(3), src, &m) {
            assert!(tx.payload.len() <= MAX_LEN);
            let _ = r.handle_server(t(i), server_src(), &tx.payload);
        }
        if let Ok(tx) = r.handle_server(t(i), src, &m) {
            assert!(option82(&tx.payload).is_none());
        }
        assert!(r.pending_len() <= MAX_PENDING);
    }
}
