//! UDP (RFC 768): a checked view, a builder with the pseudo-header
//! checksum, and the IPv4+UDP framing the raw (AF_PACKET) socket path uses.
//!
//! [`build_ipv4_udp`] produces what udhcpc/udhcpd hand to a
//! `PF_PACKET, SOCK_DGRAM` socket (the kernel adds the Ethernet header);
//! [`parse_ipv4_udp`] applies the acceptance rules for what such a socket
//! receives, BusyBox's rules (reference §1.6) with a few deliberate
//! improvements documented on the function.

use std::net::Ipv4Addr;

use super::checksum::{self, be16};
use super::ipv4::{self, Ipv4Packet};
use super::{Error, Result};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;
/// The DHCP/BOOTP server port (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// The DHCP/BOOTP client port (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

/// Byte offsets of the header fields (RFC 768).
mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A read-only view of a UDP datagram whose lengths have been checked.
///
/// Built with [`UdpPacket::new_checked`]; afterwards no accessor panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Validates `buffer` (normally an IPv4 payload):
    ///
    /// - fewer than 8 bytes → [`Error::Truncated`];
    /// - length field < 8 → [`Error::BadLength`];
    /// - length field beyond the buffer → [`Error::Truncated`].
    ///
    /// Bytes after the length field's end are allowed and ignored. The
    /// checksum needs the IP addresses: see
    /// [`verify_checksum`](Self::verify_checksum).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(be16(b, field::LENGTH));
        if len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(UdpPacket { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source Port.
    pub fn src_port(&self) -> u16 {
        be16(self.bytes(), field::SRC_PORT)
    }

    /// Destination Port.
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes(), field::DST_PORT)
    }

    /// Length field: header plus data, in bytes (≥ 8 after `new_checked`).
    pub fn len(&self) -> u16 {
        be16(self.bytes(), field::LENGTH)
    }

    /// True if the datagram carries no data (length field 8).
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field as transmitted (0 = not computed by the sender).
    pub fn checksum(&self) -> u16 {
        be16(self.bytes(), field::CHECKSUM)
    }

    /// The data: bytes 8..length.
    pub fn payload(&self) -> &[u8] {
        self.bytes()
            .get(HEADER_LEN..usize::from(self.len()))
            .unwrap_or(&[])
    }

    /// True if the checksum over the pseudo-header (`src`, `dst`, 17,
    /// length), the header and the data verifies, or if it is 0, which
    /// RFC 768 defines as "the transmitter generated no checksum".
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        match self.bytes().get(..usize::from(len)) {
            Some(seg) => {
                let pseudo = checksum::pseudo_header(src, dst, ipv4::PROTO_UDP, len);
                checksum::fold(checksum::sum(seg, pseudo)) == 0
            }
            None => false,
        }
    }
}

/// Writes a UDP header plus `payload` into the front of `buf`, with the
/// checksum over the pseudo-header of `src_ip` → `dst_ip`, and returns the
/// number of bytes written (8 + `payload.len()`).
///
/// A computed checksum of 0 is transmitted as 0xffff (RFC 768: an all-zero
/// field would mean "no checksum").
///
/// Errors: [`Error::Oversize`] if the datagram would exceed 65535 bytes,
/// [`Error::NoSpace`] if `buf` is too short (nothing is written then).
pub fn emit(
    buf: &mut [u8],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<usize> {
    let total = payload
        .len()
        .checked_add(HEADER_LEN)
        .ok_or(Error::Oversize)?;
    let length = u16::try_from(total).map_err(|_| Error::Oversize)?;
    let out = buf.get_mut(..total).ok_or(Error::NoSpace)?;
    // `hdr` is a fixed-size array (indices checked at compile time) and
    // `data` is exactly payload.len() long, since `out` is 8 + that.
    let (hdr, data) = out
        .split_first_chunk_mut::<HEADER_LEN>()
        .ok_or(Error::NoSpace)?;
    hdr[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&src_port.to_be_bytes());
    hdr[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&dst_port.to_be_bytes());
    hdr[field::LENGTH..field::LENGTH + 2].copy_from_slice(&length.to_be_bytes());
    hdr[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
    data.copy_from_slice(payload);
    // The header has even length, so summing it and the data separately
    // equals summing the whole datagram.
    let pseudo = checksum::pseudo_header(src_ip, dst_ip, ipv4::PROTO_UDP, length);
    let sum = match checksum::fold(checksum::sum(data, checksum::sum(&hdr[..], pseudo))) {
        0 => 0xffff,
        s => s,
    };
    hdr[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(total)
}

/// Builds a complete IPv4+UDP datagram (no link header) carrying `payload`
/// into the front of `buf` and returns its length (28 + `payload.len()`).
///
/// This is what the raw send path gives an AF_PACKET `SOCK_DGRAM` socket:
/// the IPv4 header of [`ipv4::emit_header`] (TTL 64, id 0, no DF) and a UDP
/// header with its checksum (reference §5.4).
///
/// Errors: [`Error::Oversize`] if the datagram would exceed 65535 bytes,
/// [`Error::NoSpace`] if `buf` is too short (nothing is written then).
pub fn build_ipv4_udp(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<usize> {
    let udp_len = payload
        .len()
        .checked_add(HEADER_LEN)
        .ok_or(Error::Oversize)?;
    let total = udp_len
        .checked_add(ipv4::HEADER_LEN)
        .filter(|&t| t <= ipv4::MAX_LEN)
        .ok_or(Error::Oversize)?;
    let out = buf.get_mut(..total).ok_or(Error::NoSpace)?;
    let (ip_hdr, udp_part) = out
        .split_at_mut_checked(ipv4::HEADER_LEN)
        .ok_or(Error::NoSpace)?;
    ipv4::emit_header(
        ip_hdr,
        src,
        dst,
        ipv4::PROTO_UDP,
        udp_len,
        ipv4::DEFAULT_TTL,
    )?;
    emit(udp_part, src, dst, src_port, dst_port, payload)?;
    Ok(total)
}

/// A UDP datagram accepted by [`parse_ipv4_udp`]: addresses and ports from
/// the headers, and the data borrowed from the received buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// IPv4 source address.
    pub src: Ipv4Addr,
    /// IPv4 destination address.
    pub dst: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP data (the DHCP message), without trailing link padding.
    pub payload: &'a [u8],
}

/// Validates an IPv4 datagram received on a raw socket and returns its UDP
/// contents if it is for `want_dst_port`.
///
/// The checks, in order (reference §1.6 with our changes):
///
/// 1. the IPv4 header is valid ([`Ipv4Packet::new_checked`]): too short
///    or total length beyond the buffer → [`Error::Truncated`], version
///    ≠ 4 → [`Error::Unrecognized`], inconsistent IHL/total length →
///    [`Error::BadLength`]. IP options (IHL > 5) are accepted, where
///    BusyBox drops them;
/// 2. protocol ≠ UDP → [`Error::Unrecognized`];
/// 3. a fragment (MF set or offset ≠ 0) → [`Error::Unrecognized`]: we do
///    not reassemble (BusyBox does not check, and would misparse one);
/// 4. wrong IP header checksum → [`Error::BadChecksum`];
/// 5. the UDP header must be complete and its length must equal the IP
///    payload length (total length − header length), else
///    [`Error::BadLength`]. The IP layer has already proved the datagram
///    complete, so a short UDP part is a length error, not truncation;
/// 6. destination port ≠ `want_dst_port` → [`Error::Unrecognized`];
/// 7. the UDP checksum must verify → [`Error::BadChecksum`], unless it is
///    0 (RFC 768: not computed) or `udp_checksum_ready` is false (the
///    kernel flagged `TP_STATUS_CSUMNOTREADY` in `PACKET_AUXDATA`: with
///    checksum offload on veth/virtio the field is not filled in yet).
///
/// Bytes after the IP total length (Ethernet padding) are ignored.
pub fn parse_ipv4_udp(
    datagram: &[u8],
    want_dst_port: u16,
    udp_checksum_ready: bool,
) -> Result<UdpDatagram<'_>> {
    let ip = Ipv4Packet::new_checked(datagram)?;
    if ip.protocol() != ipv4::PROTO_UDP {
        return Err(Error::Unrecognized);
    }
    if ip.is_fragment() {
        return Err(Error::Unrecognized);
    }
    if !ip.verify_checksum() {
        return Err(Error::BadChecksum);
    }
    // Slice `datagram` itself (not the views) so the payload borrows from
    // the caller's buffer. new_checked proved header_len ≤ total_len ≤ len.
    let (header_len, total_len) = (ip.header_len(), usize::from(ip.total_len()));
    let ip_payload = datagram.get(header_len..total_len).unwrap_or(&[]);
    let udp = UdpPacket::new_checked(ip_payload).map_err(|_| Error::BadLength)?;
    if usize::from(udp.len()) != ip_payload.len() {
        return Err(Error::BadLength);
    }
    if udp.dst_port() != want_dst_port {
        return Err(Error::Unrecognized);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if udp_checksum_ready && !udp.verify_checksum(src, dst) {
        return Err(Error::BadChecksum);
    }
    Ok(UdpDatagram {
        src,
        dst,
        src_port: udp.src_port(),
        dst_port: udp.dst_port(),
        // The UDP length equals the IP payload length (checked above).
        payload: ip_payload.get(HEADER_LEN..).unwrap_or(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const DST: Ipv4Addr = Ipv4Addr::BROADCAST;

    fn payload300() -> Vec<u8> {
        (0..300u32).map(|i| (i * 7 + 3) as u8).collect()
    }

    fn discover_datagram() -> Vec<u8> {
        let mut buf = vec![0u8; 600];
        let n =
            build_ipv4_udp(&mut buf, SRC, DST, CLIENT_PORT, SERVER_PORT, &payload300()).unwrap();
        assert_eq!(n, 328);
        buf.truncate(n);
        buf
    }

    fn fix_ip_checksum(d: &mut [u8]) {
        let hl = usize::from(d[0] & 0x0f) * 4;
        d[10] = 0;
        d[11] = 0;
        let c = checksum::fold(checksum::sum(&d[..hl], 0));
        d[10..12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn round_trip_300_byte_payload() {
        let d = discover_datagram();
        let got = parse_ipv4_udp(&d, SERVER_PORT, true).unwrap();
        assert_eq!(
            got,
            UdpDatagram {
                src: SRC,
                dst: DST,
                src_port: 68,
                dst_port: 67,
                payload: &payload300(),
            }
        );
        // IP header as BusyBox builds it: TTL 64, id 0, no DF, total 328.
        assert_eq!(
            &d[..12],
            &[0x45, 0, 0x01, 0x48, 0, 0, 0, 0, 64, 17, 0x79, 0xa6]
        );
        // UDP header: ports, length 308, non-zero checksum.
        assert_eq!(&d[20..26], &[0, 68, 0, 67, 0x01, 0x34]);
        assert_ne!(&d[26..28], &[0, 0]);
    }

    #[test]
    fn udp_checksum_against_independent_computation() {
        // 192.168.0.1:1 → 192.168.0.2:2, data "abc". By hand:
        // pseudo c0a8+0001+c0a8+0002+0011+000b = 1 816f
        // header 0001+0002+000b = 000e; data 6162+6300 = c462
        // total 2 45df → 45e1, complement ba1e.
        let mut buf = [0u8; 11];
        let n = emit(
            &mut buf,
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 2),
            1,
            2,
            b"abc",
        )
        .unwrap();
        assert_eq!(n, 11);
        assert_eq!(buf, [0, 1, 0, 2, 0, 11, 0xba, 0x1e, b'a', b'b', b'c']);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::new(192, 168, 0, 2)));
        assert!(!p.verify_checksum(Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::new(192, 168, 0, 3)));
        assert_eq!(p.payload(), b"abc");
        assert!(!p.is_empty());
    }

    #[test]
    fn zero_checksum_sent_as_ffff() {
        // Choose the data so the folded sum is 0xffff, i.e. the computed
        // checksum is 0. With addresses 0.0.0.0 and ports/length fixed,
        // pseudo + header = 0011 + 0000 + 0000 + 000a + 000a = 0025 (data
        // is 2 bytes, length 10); data ffda makes the sum ffff.
        let mut buf = [0u8; 10];
        let z = Ipv4Addr::UNSPECIFIED;
        emit(&mut buf, z, z, 0, 0, &[0xff, 0xda]).unwrap();
        assert_eq!(&buf[6..8], &[0xff, 0xff]);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(z, z));
    }

    #[test]
    fn emit_errors() {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut small = [0u8; 10];
        assert_eq!(emit(&mut small, z, z, 1, 2, b"abc"), Err(Error::NoSpace));
        assert_eq!(small, [0; 10], "nothing written on error");
        let big = vec![0u8; 65535 - 7];
        let mut buf = vec![0u8; 70000];
        assert_eq!(emit(&mut buf, z, z, 1, 2, &big), Err(Error::Oversize));
        assert_eq!(emit(&mut buf, z, z, 1, 2, &big[1..]), Ok(65535));
        assert_eq!(
            build_ipv4_udp(&mut buf, z, z, 1, 2, &big[20..]),
            Err(Error::Oversize)
        );
        assert_eq!(build_ipv4_udp(&mut buf, z, z, 1, 2, &big[21..]), Ok(65535));
        let mut b = [0u8; 327];
        assert_eq!(
            build_ipv4_udp(&mut b, SRC, DST, 68, 67, &payload300()),
            Err(Error::NoSpace)
        );
        assert_eq!(b, [0; 327], "nothing written on error");
    }

    #[test]
    fn udp_view_rules() {
        assert_eq!(
            UdpPacket::new_checked(&[0u8; 7][..]).err(),
            Some(Error::Truncated)
        );
        let mut h = [0, 68, 0, 67, 0, 7, 0, 0];
        assert_eq!(UdpPacket::new_checked(&h[..]).err(), Some(Error::BadLength));
        h[5] = 9;
        assert_eq!(UdpPacket::new_checked(&h[..]).err(), Some(Error::Truncated));
        h[5] = 8;
        let p = UdpPacket::new_checked(&h[..]).unwrap();
        assert!(p.is_empty() && p.payload().is_empty());
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (68, 67, 8, 0)
        );
        assert!(p.verify_checksum(SRC, DST), "zero checksum: not computed");
        assert_eq!(p.into_inner(), &h[..]);
    }

    #[test]
    fn flipped_payload_byte() {
        let mut d = discover_datagram();
        d[28 + 150] ^= 0x40;
        assert_eq!(
            parse_ipv4_udp(&d, SERVER_PORT, true),
            Err(Error::BadChecksum)
        );
        // Checksum offload: the kernel says the field is not filled in yet.
        let got = parse_ipv4_udp(&d, SERVER_PORT, false).unwrap();
        assert_eq!(got.payload.len(), 300);
    }

    #[test]
    fn flipped_ip_header_byte() {
        for i in [1, 4, 5, 8, 12, 19] {
            let mut d = discover_datagram();
            d[i] ^= 0x01;
            assert_eq!(
                parse_ipv4_udp(&d, SERVER_PORT, true),
                Err(Error::BadChecksum),
                "byte {i}"
            );
        }
    }

    #[test]
    fn wrong_port_and_protocol() {
        let d = discover_datagram();
        assert_eq!(
            parse_ipv4_udp(&d, CLIENT_PORT, true),
            Err(Error::Unrecognized)
        );
        let mut tcp = d.clone();
        tcp[9] = 6;
        fix_ip_checksum(&mut tcp);
        assert_eq!(
            parse_ipv4_udp(&tcp, SERVER_PORT, true),
            Err(Error::Unrecognized)
        );
        let mut v6 = d;
        v6[0] = 0x65;
        assert_eq!(
            parse_ipv4_udp(&v6, SERVER_PORT, true),
            Err(Error::Unrecognized)
        );
    }

    #[test]
    fn udp_length_mismatch() {
        for udp_len in [0u16, 7, 8, 307, 309, 0xffff] {
            let mut d = discover_datagram();
            d[24..26].copy_from_slice(&udp_len.to_be_bytes());
            assert_eq!(
                parse_ipv4_udp(&d, SERVER_PORT, true),
                Err(Error::BadLength),
                "udp length {udp_len}"
            );
        }
        // IP payload too short for a UDP header at all.
        let mut d = discover_datagram();
        d[2..4].copy_from_slice(&27u16.to_be_bytes());
        fix_ip_checksum(&mut d);
        assert_eq!(parse_ipv4_udp(&d, SERVER_PORT, true), Err(Error::BadLength));
    }

    #[test]
    fn truncated_at_every_length() {
        let d = discover_datagram();
        for n in 0..d.len() {
            assert!(
                parse_ipv4_udp(&d[..n], SERVER_PORT, true).is_err(),
                "len {n}"
            );
            assert_eq!(
                parse_ipv4_udp(&d[..n], SERVER_PORT, false),
                Err(Error::Truncated),
                "len {n}"
            );
        }
    }

    #[test]
    fn fragments_rejected() {
        for (b6, b7) in [(0x20, 0x00), (0x00, 0x01), (0x20, 0x10), (0x1f, 0xff)] {
            let mut d = discover_datagram();
            d[6] = b6;
            d[7] = b7;
            fix_ip_checksum(&mut d);
            assert_eq!(
                parse_ipv4_udp(&d, SERVER_PORT, true),
                Err(Error::Unrecognized),
                "{b6:02x}{b7:02x}"
            );
        }
        // DF alone is not a fragment.
        let mut d = discover_datagram();
        d[6] = 0x40;
        fix_ip_checksum(&mut d);
        assert!(parse_ipv4_udp(&d, SERVER_PORT, true).is_ok());
    }

    #[test]
    fn ip_options_accepted() {
        // IHL 6 with a 4-byte option (Router Alert, RFC 2113: 94 04 00 00).
        let plain = discover_datagram();
        let mut d = Vec::new();
        d.extend_from_slice(&plain[..20]);
        d.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        d.extend_from_slice(&plain[20..]);
        d[0] = 0x46;
        d[2..4].copy_from_slice(&(plain.len() as u16 + 4).to_be_bytes());
        fix_ip_checksum(&mut d);
        let got = parse_ipv4_udp(&d, SERVER_PORT, true).unwrap();
        assert_eq!(got.payload, &payload300()[..]);
        assert_eq!((got.src_port, got.dst_port), (68, 67));
    }

    #[test]
    fn trailing_padding_ignored() {
        let mut d = discover_datagram();
        d.extend_from_slice(&[0xee; 18]);
        let got = parse_ipv4_udp(&d, SERVER_PORT, true).unwrap();
        assert_eq!(got.payload, &payload300()[..]);
    }

    #[test]
    fn zero_udp_checksum_accepted() {
        let mut d = discover_datagram();
        d[26] = 0;
        d[27] = 0;
        d[28] ^= 0xff; // data changed too: nothing to verify against
        let got = parse_ipv4_udp(&d, SERVER_PORT, true).unwrap();
        assert_eq!(got.payload.len(), 300);
    }

    #[test]
    fn unicast_reply_round_trip() {
        let mut buf = [0u8; 400];
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 57);
        let n = build_ipv4_udp(&mut buf, src, dst, SERVER_PORT, CLIENT_PORT, b"odd").unwrap();
        assert_eq!(n, 31);
        let got = parse_ipv4_udp(&buf[..n], CLIENT_PORT, true).unwrap();
        assert_eq!((got.src, got.dst, got.payload), (src, dst, &b"odd"[..]));
    }

    use crate::testutil::XorShift;

    fn poke_udp<T: AsRef<[u8]>>(p: &UdpPacket<T>) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.len(),
            p.checksum(),
            p.is_empty(),
        );
        let _ = (p.payload(), p.verify_checksum(SRC, DST));
    }

    #[test]
    fn soup_never_panics() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let base = discover_datagram();
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut d: Vec<u8> = if round % 2 == 0 {
                let n = (rng.next() % 400) as usize;
                (0..n).map(|_| rng.next() as u8).collect()
            } else {
                // Mutate a valid datagram: a few random bytes, random cut.
                let mut d = base.clone();
                for _ in 0..(rng.next() % 4) {
                    let i = (rng.next() as usize) % d.len();
                    d[i] = rng.next() as u8;
                }
                d.truncate((rng.next() as usize) % (d.len() + 20));
                d
            };
            if round % 4 == 0 && !d.is_empty() {
                d[0] = 0x45 + (rng.next() % 11) as u8;
            }
            if let Ok(u) = UdpPacket::new_checked(&d[..]) {
                poke_udp(&u);
            }
            if let Ok(ip) = Ipv4Packet::new_checked(&d[..]) {
                let _ = (ip.payload(), ip.options(), ip.verify_checksum());
                if let Ok(u) = UdpPacket::new_checked(ip.payload()) {
                    poke_udp(&u);
                }
            }
            if let Ok(got) = parse_ipv4_udp(&d, SERVER_PORT, rng.next() % 2 == 0) {
                assert!(got.payload.len() <= d.len());
                accepted += 1;
            }
        }
        assert!(accepted > 0, "the mutation half should reach acceptance");
    }
}
