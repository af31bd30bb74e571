//! The relay core: arbitrary bytes as a client-side datagram (from port 68
//! or 67, on either of two interfaces) and as a server-side reply, with
//! and without a request relayed before. Whatever is forwarded must be a
//! valid DHCP message no longer than 1472 bytes; a reply forwarded to a
//! client must carry no option 82; the pending table stays bounded.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use udhcp::relay::{ClientIface, Relay, RelayConfig, MAX_PENDING};
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, Packet, MAX_LEN};

fn has_82(msg: &[u8]) -> bool {
    Packet::new_checked(msg).is_ok_and(|p| {
        p.options()
            .filter_map(Result::ok)
            .any(|(c, _)| c == code::RELAY_AGENT_INFO)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let config = RelayConfig {
        clients: vec![
            ClientIface {
                name: "eth0".into(),
                addr: Some(Ipv4Addr::new(10, 99, 0, 1)),
            },
            ClientIface {
                name: "vlan100".into(),
                addr: None,
            },
        ],
        server_iface_addr: Some(Ipv4Addr::new(10, 98, 0, 1)),
        server: Ipv4Addr::BROADCAST,
        option82: sel & 1 == 0,
        remote_id: (sel & 2 != 0).then(|| b"fuzz".to_vec()),
        link_selection: sel & 4 != 0,
    };
    let Ok(mut relay) = Relay::new(config) else {
        return;
    };
    let now = Instant::from_millis(u64::from(sel) * 1000);
    let port = if sel & 8 != 0 { 67 } else { 68 };
    let iface = usize::from(sel >> 4 & 1);
    let src = SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 7), port);
    if let Ok(tx) = relay.handle_client(now, iface, src, body) {
        assert!(tx.payload.len() <= MAX_LEN);
        assert!(Packet::new_checked(&tx.payload[..]).is_ok());
        // Turn the forwarded request into a reply from the server.
        let mut reply = tx.payload.clone();
        if let Some(op) = reply.first_mut() {
            *op = 2;
        }
        if let Ok(back) =
            relay.handle_server(now, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67), &reply)
        {
            assert!(!has_82(&back.payload));
            assert_eq!(back.payload.len(), reply.len());
        }
    }
    let server = SocketAddrV4::new(Ipv4Addr::new(10, 98, 0, 2), 67);
    if let Ok(tx) = relay.handle_server(now, server, body) {
        assert!(!has_82(&tx.payload));
    }
    assert!(relay.pending_len() <= MAX_PENDING);
});
