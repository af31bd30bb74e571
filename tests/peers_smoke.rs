//! The peer harness (`tests/common/peers.rs`) proven with real peers only:
//! every server kind serves BusyBox udhcpc, every client kind gets a lease
//! from dnsmasq, a client behind ISC dhcrelay is served across two links,
//! and perfdhcp completes a bounded load run. Each test builds and deletes
//! its own namespaces. Without root these print `skipped: ...` and pass,
//! unless `UDHCP_REQUIRE_NETNS=1`.
//!
//! The last two tests run the binary under test through the same helpers.

mod common;

use std::net::Ipv4Addr;

use common::netns::{Lab, NsSpec};
use common::peers::{
    dhcrelay, perfdhcp, ClientKind, Event, PerfRun, Pool, RelayLab, Server, ServerKind,
};

/// Server (10.99.0.1/24) and an unconfigured client, on one veth pair.
fn server_client_lab() -> Option<Lab> {
    Lab::with(&[
        NsSpec {
            addr: Some((Ipv4Addr::new(10, 99, 0, 1), 24)),
            mac: None,
        },
        NsSpec {
            addr: None,
            mac: None,
        },
    ])
}

/// The `bound` event carries a lease from `pool` with its options.
fn assert_bound_from(ev: &Event, pool: &Pool, server_id: Ipv4Addr) -> Ipv4Addr {
    let ip: Ipv4Addr = ev
        .get("ip")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bound without ip: {ev:?}"));
    assert!(pool.contains(ip), "{ip} outside the pool: {ev:?}");
    assert_eq!(ev.get("subnet"), Some("255.255.255.0"), "{ev:?}");
    assert_eq!(ev.get("router"), Some("10.99.0.1"), "{ev:?}");
    assert_eq!(ev.get("dns"), Some("10.99.0.1"), "{ev:?}");
    assert_eq!(ev.get("lease"), Some("3600"), "{ev:?}");
    let sid = server_id.to_string();
    assert_eq!(ev.get("serverid"), Some(sid.as_str()), "{ev:?}");
    ip
}

/// `server` serves BusyBox udhcpc on one link; returns the server, the
/// leased address and the client's MAC.
fn serves_busybox_udhcpc(kind: ServerKind) {
    let Some(lab) = server_client_lab() else {
        return;
    };
    let pool = Pool::lab();
    let mut server = kind.start(lab.ns(0), &pool);
    let mut client = ClientKind::BusyboxUdhcpc.start(lab.ns(1), &[]);
    let ev = client.wait_bound();
    let ip = assert_bound_from(&ev, &pool, lab.ns(0).ip());
    let events: Vec<String> = client.events().into_iter().map(|e| e.name).collect();
    assert_eq!(events.first().map(String::as_str), Some("deconfig"));
    check_lease_recorded(&mut server, ip, &lab.ns(1).mac.to_string());
}

/// The server's lease file (through `dumpleases` for udhcpd) lists the
/// lease. dhcpd and Kea write the file after the ACK is sent; allow a
/// moment.
fn check_lease_recorded(server: &mut Server, ip: Ipv4Addr, mac: &str) {
    let (ip, mac) = (ip.to_string(), mac.to_ascii_lowercase());
    let t0 = common::netns::now();
    loop {
        let text = match server.kind {
            ServerKind::BusyboxUdhcpd | ServerKind::Udhcp => server.dumpleases(),
            _ => server.lease_text(),
        };
        let found = text
            .lines()
            .any(|l| l.contains(&ip) && l.to_ascii_lowercase().contains(&mac));
        // dhcpd writes the address and the MAC on separate lines.
        let dhcpd = server.kind == ServerKind::IscDhcpd
            && text.contains(&format!("lease {ip} {{"))
            && text.contains(&format!("hardware ethernet {mac};"));
        if found || dhcpd {
            return;
        }
        assert!(
            common::netns::now() - t0 < std::time::Duration::from_secs(5),
            "{}: lease {ip} for {mac} not in {}:\n{text}",
            server.kind,
            server.lease_file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn busybox_udhcpd_serves_busybox_udhcpc() {
    serves_busybox_udhcpc(ServerKind::BusyboxUdhcpd);
}

#[test]
fn dnsmasq_serves_busybox_udhcpc() {
    serves_busybox_udhcpc(ServerKind::Dnsmasq);
}

#[test]
fn kea_serves_busybox_udhcpc() {
    serves_busybox_udhcpc(ServerKind::Kea);
}

#[test]
fn isc_dhcpd_serves_busybox_udhcpc() {
    serves_busybox_udhcpc(ServerKind::IscDhcpd);
}

/// `kind` gets a lease from dnsmasq.
fn client_gets_lease_from_dnsmasq(kind: ClientKind) {
    let Some(lab) = server_client_lab() else {
        return;
    };
    let pool = Pool::lab();
    let mut server = ServerKind::Dnsmasq.start(lab.ns(0), &pool);
    let mut client = kind.start(lab.ns(1), &[]);
    let ev = client.wait_bound();
    let ip = assert_bound_from(&ev, &pool, lab.ns(0).ip());
    check_lease_recorded(&mut server, ip, &lab.ns(1).mac.to_string());
}

#[test]
fn dhclient_gets_lease_from_dnsmasq() {
    client_gets_lease_from_dnsmasq(ClientKind::Dhclient);
}

#[test]
fn dhcpcd_gets_lease_from_dnsmasq() {
    client_gets_lease_from_dnsmasq(ClientKind::Dhcpcd);
}

/// BusyBox udhcpc behind dhcrelay gets an address of the relay's client
/// subnet from `kind`, which sits on another link.
fn relayed_lease(kind: ServerKind) {
    let Some(lab) = RelayLab::new() else {
        return;
    };
    let pool = RelayLab::client_pool();
    let mut server = kind.start(lab.server(), &pool);
    let _relay = dhcrelay(lab.relay(), "eth0", RelayLab::UP_IF, RelayLab::SERVER);
    let mut client = ClientKind::BusyboxUdhcpc.start(lab.client(), &[]);
    let ev = client.wait_bound();
    let ip = assert_bound_from(&ev, &pool, RelayLab::SERVER);
    check_lease_recorded(&mut server, ip, &lab.client().mac.to_string());
}

#[test]
fn dnsmasq_serves_client_behind_dhcrelay() {
    relayed_lease(ServerKind::Dnsmasq);
}

#[test]
fn kea_serves_client_behind_dhcrelay() {
    relayed_lease(ServerKind::Kea);
}

#[test]
fn perfdhcp_dora_against_dnsmasq_without_drops() {
    let Some(lab) = Lab::new(2) else {
        return;
    };
    let _server = ServerKind::Dnsmasq.start(lab.ns(0), &Pool::lab());
    let run = PerfRun {
        iface: "eth0".into(),
        rate: 100,
        clients: 100,
        seconds: 5,
        extra: vec![],
    };
    let st = perfdhcp(lab.ns(1), &run);
    let ctx = &st.output;
    let d_o = st.exchange("DISCOVER-OFFER").expect(ctx);
    let r_a = st.exchange("REQUEST-ACK").expect(ctx);
    // 100/s for 5 s, allowing for the start and the end of the period.
    assert!(d_o.sent >= 400, "{ctx}");
    assert_eq!(d_o.received, d_o.sent, "{ctx}");
    assert_eq!(r_a.received, r_a.sent, "{ctx}");
    assert_eq!(r_a.sent, d_o.received, "{ctx}");
    assert_eq!(st.drops(), 0, "{ctx}");
    assert!(st.rate > 50.0, "{ctx}");
    assert_eq!(st.exit_code, Some(0), "{ctx}");
}

#[test]
fn udhcpd_under_test_serves_busybox_udhcpc() {
    let Some(lab) = server_client_lab() else {
        return;
    };
    let pool = Pool::lab();
    let mut server = ServerKind::Udhcp.start(lab.ns(0), &pool);
    let mut client = ClientKind::BusyboxUdhcpc.start(lab.ns(1), &[]);
    let ev = client.wait_bound();
    let ip = assert_bound_from(&ev, &pool, lab.ns(0).ip());
    check_lease_recorded(&mut server, ip, &lab.ns(1).mac.to_string());
}

#[test]
fn udhcpc_under_test_gets_lease_from_dnsmasq() {
    let Some(lab) = server_client_lab() else {
        return;
    };
    let pool = Pool::lab();
    let _server = ServerKind::Dnsmasq.start(lab.ns(0), &pool);
    let mut client = ClientKind::Udhcp.start(lab.ns(1), &[]);
    let ev = client.wait_bound();
    assert_bound_from(&ev, &pool, lab.ns(0).ip());
}
