//! ARP for Ethernet/IPv4 only (RFC 826), and the address-conflict rules of
//! IPv4 Address Conflict Detection (RFC 5227) that udhcpc (`-a`, after an
//! ACK) and udhcpd (before an OFFER) apply while probing an address.
//!
//! [`ArpPacket`] is a checked view of the 28-byte ARP body (after the
//! Ethernet header); [`emit`] and [`emit_probe`] build one; [`answers_probe`]
//! classifies a received packet while a probe is outstanding.

use std::net::Ipv4Addr;

use super::checksum::{be16, byte, ipv4_at};
use super::ether::{MacAddr, ETHERTYPE_IPV4};
use super::{Error, Result};

/// Length of an Ethernet/IPv4 ARP packet (RFC 826 with hlen 6, plen 4).
pub const PACKET_LEN: usize = 28;
/// Hardware type of Ethernet (`ar$hrd`, RFC 826).
pub const HTYPE_ETHERNET: u16 = 1;

/// Byte offsets of the fields (RFC 826 "Packet format").
mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// The ARP opcode (`ar$op`, RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1: who has `target_ip`? (also used for probes and announcements)
    Request,
    /// 2: `sender_ip` is at `sender_mac`.
    Reply,
    /// Any other value (e.g. RARP's 3/4), carried as received.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(v) => v,
        }
    }
}

/// A read-only view of an Ethernet/IPv4 ARP packet whose length and
/// address formats have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Validates `buffer` (the Ethernet payload; trailing padding allowed):
    ///
    /// - fewer than 28 bytes → [`Error::Truncated`];
    /// - hardware type ≠ 1 (Ethernet), protocol type ≠ 0x0800 (IPv4),
    ///   hardware length ≠ 6 or protocol length ≠ 4 →
    ///   [`Error::Unrecognized`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if be16(b, field::HTYPE) != HTYPE_ETHERNET
            || be16(b, field::PTYPE) != ETHERTYPE_IPV4
            || byte(b, field::HLEN) != 6
            || byte(b, field::PLEN) != 4
        {
            return Err(Error::Unrecognized);
        }
        Ok(ArpPacket { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Opcode (`ar$op`).
    pub fn operation(&self) -> Operation {
        Operation::from(be16(self.bytes(), field::OPER))
    }

    /// Sender hardware address (`ar$sha`).
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr::read(self.bytes(), field::SHA)
    }

    /// Sender protocol address (`ar$spa`); 0.0.0.0 in an RFC 5227 probe.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::SPA)
    }

    /// Target hardware address (`ar$tha`).
    pub fn target_mac(&self) -> MacAddr {
        MacAddr::read(self.bytes(), field::THA)
    }

    /// Target protocol address (`ar$tpa`).
    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::TPA)
    }

    /// True for an RFC 5227 §2.1.1 probe: a request with sender IP 0.0.0.0.
    pub fn is_probe(&self) -> bool {
        self.operation() == Operation::Request && self.sender_ip().is_unspecified()
    }
}

/// Writes a 28-byte Ethernet/IPv4 ARP packet into the front of `buf` and
/// returns 28, or [`Error::NoSpace`] if `buf` is shorter. The Ethernet
/// header (and padding to 60 bytes, if the socket needs it) is the
/// caller's: see [`super::ether::emit_header`].
pub fn emit(
    buf: &mut [u8],
    op: Operation,
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Result<usize> {
    // A fixed-size array: every index below is checked at compile time.
    let p: &mut [u8; PACKET_LEN] = buf
        .get_mut(..PACKET_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::NoSpace)?;
    p[field::HTYPE..field::HTYPE + 2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    p[field::PTYPE..field::PTYPE + 2].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    p[field::HLEN] = 6;
    p[field::PLEN] = 4;
    p[field::OPER..field::OPER + 2].copy_from_slice(&u16::from(op).to_be_bytes());
    p[field::SHA..field::SHA + 6].copy_from_slice(&sender_mac.0);
    p[field::SPA..field::SPA + 4].copy_from_slice(&sender_ip.octets());
    p[field::THA..field::THA + 6].copy_from_slice(&target_mac.0);
    p[field::TPA..field::TPA + 4].copy_from_slice(&target_ip.octets());
    Ok(PACKET_LEN)
}

/// Writes an ARP Probe (RFC 5227 §2.1.1) for `target_ip`: a request with
/// our MAC as sender hardware address, sender IP 0.0.0.0 (so no host's ARP
/// cache is polluted) and an all-zero target MAC. Returns 28, or
/// [`Error::NoSpace`]. Send it to the broadcast MAC.
pub fn emit_probe(buf: &mut [u8], our_mac: MacAddr, target_ip: Ipv4Addr) -> Result<usize> {
    emit(
        buf,
        Operation::Request,
        our_mac,
        Ipv4Addr::UNSPECIFIED,
        MacAddr::ZERO,
        target_ip,
    )
}

/// How a received ARP packet bears on an outstanding probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// Another host uses, or is claiming, the probed address: do not use it
    /// (udhcpc declines, udhcpd marks the lease as a conflict).
    Conflict,
    /// The packet says nothing about the probed address: keep waiting.
    Ignore,
    /// The answer comes from the host the address is meant for (`safe_mac`,
    /// the client udhcpd is offering to): stop waiting, the address is free.
    Safe,
}

/// Classifies `pkt`, received while probing `probed_ip` from `our_mac`.
/// `safe_mac` is the hardware address allowed to hold the address already
/// (udhcpd passes the requesting client's MAC; udhcpc passes `None`).
///
/// The rules, first match wins:
///
/// 1. Sender MAC is `our_mac` → [`ProbeAnswer::Ignore`]: our own probe
///    looped back by the packet socket. RFC 5227 §2.1.1 only counts
///    packets whose sender hardware address "is not the hardware address of
///    any of the host's interfaces".
/// 2. Opcode is neither request nor reply → [`ProbeAnswer::Ignore`]
///    (RFC 5227 §2.1.1 speaks of "any ARP packet (Request *or* Reply)").
/// 3. Sender IP is `probed_ip`, in a reply (what BusyBox checks) *or* a
///    request (RFC 5227 §2.1.1: such a packet MUST be treated as the
///    address being in use) → [`ProbeAnswer::Conflict`], unless the sender
///    MAC is `safe_mac` → [`ProbeAnswer::Safe`].
/// 4. A probe from another host (request, sender IP 0.0.0.0) whose target
///    IP is `probed_ip` → [`ProbeAnswer::Conflict`] (RFC 5227 §2.1.1: two
///    hosts probing for the same address SHOULD both treat it as a
///    conflict), or [`ProbeAnswer::Safe`] if it comes from `safe_mac`: the
///    intended owner is checking its own address.
/// 5. Anything else → [`ProbeAnswer::Ignore`] (e.g. ordinary ARP traffic
///    about other addresses, or requests *for* the probed address from a
///    host that is not probing).
pub fn answers_probe<T: AsRef<[u8]>>(
    pkt: &ArpPacket<T>,
    probed_ip: Ipv4Addr,
    our_mac: MacAddr,
    safe_mac: Option<MacAddr>,
) -> ProbeAnswer {
    let sender = pkt.sender_mac();
    if sender == our_mac {
        return ProbeAnswer::Ignore;
    }
    let op = pkt.operation();
    if !matches!(op, Operation::Request | Operation::Reply) {
        return ProbeAnswer::Ignore;
    }
    let claims = pkt.sender_ip() == probed_ip;
    let competing_probe = pkt.is_probe() && pkt.target_ip() == probed_ip;
    if claims || competing_probe {
        if safe_mac == Some(sender) {
            ProbeAnswer::Safe
        } else {
            ProbeAnswer::Conflict
        }
    } else {
        ProbeAnswer::Ignore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const OTHER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
    const PROBED: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    fn pkt(op: Operation, smac: MacAddr, sip: Ipv4Addr, tip: Ipv4Addr) -> [u8; 28] {
        let mut b = [0u8; 28];
        emit(&mut b, op, smac, sip, MacAddr::ZERO, tip).unwrap();
        b
    }

    fn classify(b: &[u8], safe: Option<MacAddr>) -> ProbeAnswer {
        answers_probe(&ArpPacket::new_checked(b).unwrap(), PROBED, OURS, safe)
    }

    #[test]
    fn probe_golden_bytes() {
        let mut b = [0xaau8; 30];
        assert_eq!(emit_probe(&mut b, OURS, PROBED), Ok(28));
        assert_eq!(
            b,
            [
                0x00, 0x01, // htype Ethernet
                0x08, 0x00, // ptype IPv4
                0x06, 0x04, // hlen, plen
                0x00, 0x01, // request
                0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sender MAC
                0x00, 0x00, 0x00, 0x00, // sender IP 0.0.0.0
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC zero
                0xc0, 0xa8, 0x01, 0x64, // target IP
                0xaa, 0xaa, // untouched
            ]
        );
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(p.is_probe());
    }

    #[test]
    fn parse_reply() {
        let mut b = [0u8; 28];
        let tmac = MacAddr([0x02, 0, 0, 0, 0, 0x09]);
        emit(&mut b, Operation::Reply, OTHER, PROBED, tmac, SERVER).unwrap();
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), Operation::Reply);
        assert_eq!(p.sender_mac(), OTHER);
        assert_eq!(p.sender_ip(), PROBED);
        assert_eq!(p.target_mac(), tmac);
        assert_eq!(p.target_ip(), SERVER);
        assert!(!p.is_probe());
        assert_eq!(p.into_inner().len(), 28);
    }

    #[test]
    fn operation_codes() {
        for (v, op) in [
            (1, Operation::Request),
            (2, Operation::Reply),
            (3, Operation::Unknown(3)),
            (0, Operation::Unknown(0)),
        ] {
            assert_eq!(Operation::from(v), op);
            assert_eq!(u16::from(op), v);
        }
    }

    #[test]
    fn new_checked_rules() {
        let good = pkt(Operation::Request, OURS, SERVER, PROBED);
        for n in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&good[..n]).err(),
                Some(Error::Truncated),
                "len {n}"
            );
        }
        // Ethernet minimum-frame padding after the packet is fine.
        let mut padded = good.to_vec();
        padded.resize(46, 0);
        assert!(ArpPacket::new_checked(&padded).is_ok());
        for (i, v) in [(1, 6), (0, 1), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = good;
            b[i] = v;
            assert_eq!(
                ArpPacket::new_checked(&b[..]).err(),
                Some(Error::Unrecognized),
                "byte {i} = {v}"
            );
        }
        let mut small = [0u8; 27];
        assert_eq!(emit_probe(&mut small, OURS, PROBED), Err(Error::NoSpace));
    }

    #[test]
    fn reply_from_holder_is_conflict() {
        let b = pkt(Operation::Reply, OTHER, PROBED, SERVER);
        assert_eq!(classify(&b, None), ProbeAnswer::Conflict);
        assert_eq!(classify(&b, Some(CLIENT)), ProbeAnswer::Conflict);
    }

    #[test]
    fn reply_from_safe_mac_is_safe() {
        let b = pkt(Operation::Reply, CLIENT, PROBED, SERVER);
        assert_eq!(classify(&b, Some(CLIENT)), ProbeAnswer::Safe);
        assert_eq!(classify(&b, None), ProbeAnswer::Conflict);
    }

    #[test]
    fn request_from_holder_is_conflict() {
        // RFC 5227 §2.1.1: a Request whose sender IP is the probed address.
        let b = pkt(Operation::Request, OTHER, PROBED, SERVER);
        assert_eq!(classify(&b, None), ProbeAnswer::Conflict);
        let b = pkt(Operation::Request, CLIENT, PROBED, PROBED); // announcement
        assert_eq!(classify(&b, Some(CLIENT)), ProbeAnswer::Safe);
        assert_eq!(classify(&b, None), ProbeAnswer::Conflict);
    }

    #[test]
    fn competing_probe_is_conflict() {
        let b = pkt(Operation::Request, OTHER, Ipv4Addr::UNSPECIFIED, PROBED);
        assert_eq!(classify(&b, None), ProbeAnswer::Conflict);
        let b = pkt(Operation::Request, CLIENT, Ipv4Addr::UNSPECIFIED, PROBED);
        assert_eq!(classify(&b, Some(CLIENT)), ProbeAnswer::Safe);
        // A probe for a different address says nothing about ours.
        let b = pkt(
            Operation::Request,
            OTHER,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(192, 168, 1, 101),
        );
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
    }

    #[test]
    fn own_frames_ignored() {
        // Our own probe, looped back.
        let mut b = [0u8; 28];
        emit_probe(&mut b, OURS, PROBED).unwrap();
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
        let b = pkt(Operation::Reply, OURS, PROBED, SERVER);
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
    }

    #[test]
    fn unrelated_traffic_ignored() {
        // Someone asking who has the probed address (not a probe: it has a
        // sender IP) does not claim it.
        let b = pkt(Operation::Request, OTHER, SERVER, PROBED);
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
        // A reply about another address.
        let b = pkt(Operation::Reply, OTHER, SERVER, PROBED);
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
        // An unknown opcode, even with the probed sender IP.
        let b = pkt(Operation::Unknown(3), OTHER, PROBED, PROBED);
        assert_eq!(classify(&b, None), ProbeAnswer::Ignore);
    }

    #[test]
    fn soup_never_panics() {
        let mut rng = crate::testutil::XorShift(0xdead_beef_cafe_f00d);
        let mut next = move || rng.next();
        let mut parsed = 0;
        for round in 0..20_000 {
            let n = (next() % 64) as usize;
            let mut b: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            if round % 2 == 0 && n >= 8 {
                b[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
                b[6] = 0;
                b[7] = (next() % 4) as u8;
            }
            if let Ok(p) = ArpPacket::new_checked(&b[..]) {
                parsed += 1;
                let _ = (p.sender_mac(), p.target_mac(), p.target_ip(), p.is_probe());
                let probed = p.sender_ip();
                let safe = (next() % 2 == 0).then(|| p.sender_mac());
                let _ = answers_probe(&p, probed, OURS, safe);
                let _ = answers_probe(&p, PROBED, OURS, None);
            }
        }
        assert!(parsed > 0);
    }
}
