//! The link/network/transport parsers: the raw-socket receive validation
//! (IPv4 + UDP with checksums), the IPv4, UDP, Ethernet and ARP views, and
//! the ARP probe-answer rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use udhcp::wire::{arp, ether, ipv4, udp, MacAddr};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let _ = udp::parse_ipv4_udp(rest, 68, flags & 1 == 0);
    let _ = udp::parse_ipv4_udp(rest, 67, flags & 2 == 0);

    if let Ok(ip) = ipv4::Ipv4Packet::new_checked(rest) {
        let _ = (ip.src_addr(), ip.dst_addr(), ip.verify_checksum(), ip.payload());
        let _ = (ip.is_fragment(), ip.options(), ip.ttl(), ip.protocol());
    }
    if let Ok(u) = udp::UdpPacket::new_checked(rest) {
        let _ = (u.src_port(), u.dst_port(), u.payload());
        let _ = u.verify_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST);
    }
    if let Ok(eth) = ether::EthernetFrame::new_checked(rest) {
        let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype(), eth.payload());
    }
    if let Ok(a) = arp::ArpPacket::new_checked(rest) {
        let ours = MacAddr([2, 0, 0, 0, 0, 1]);
        let probed = Ipv4Addr::new(192, 168, 0, 20);
        let _ = arp::answers_probe(&a, probed, ours, Some(MacAddr([2, 0, 0, 0, 0, 2])));
        let _ = arp::answers_probe(&a, a.target_ip(), ours, None);
    }

    // Whatever we build must parse back exactly.
    let mut buf = [0u8; 1600];
    let payload = &rest[..rest.len().min(1400)];
    let src = Ipv4Addr::new(10, 0, 0, 1);
    if let Ok(n) = udp::build_ipv4_udp(&mut buf, src, Ipv4Addr::BROADCAST, 67, 68, payload) {
        let d = udp::parse_ipv4_udp(&buf[..n], 68, true).expect("own datagram parses");
        assert_eq!(d.payload, payload);
        assert_eq!((d.src, d.src_port, d.dst_port), (src, 67, 68));
    }
});
