//! ICMP echo (RFC 792 "Echo or Echo Reply Message") for udhcpd's opt-in
//! ping check of relayed networks, where ARP cannot see the address: one
//! echo request out, and the one answer that shows an address in use, an
//! echo reply from it, recognised in what a raw `IPPROTO_ICMP` socket
//! reads.
//!
//! [`emit_echo`] builds the 8-byte echo header, the payload and the RFC 792
//! checksum (the Internet checksum of [`super::checksum`]) into a caller
//! buffer; the kernel adds the IPv4 header. [`parse_echo_reply`] takes the
//! whole datagram a raw socket delivers, IPv4 header (any IHL) included,
//! checks every length and both checksums, and yields [`EchoReply`]. Every
//! other ICMP message (destination unreachable, time exceeded, an echo
//! request, ...) is [`Error::Unrecognized`]: none of them says a host holds
//! the address.

use std::net::Ipv4Addr;

use super::checksum::{self, be16, byte};
use super::ipv4::Ipv4Packet;
use super::{Error, Result};

/// Protocol number of ICMP in the IPv4 header (RFC 792; "Assigned Numbers").
pub const PROTO_ICMP: u8 = 1;
/// Length of the echo header: type, code, checksum, identifier, sequence.
pub const ECHO_HEADER_LEN: usize = 8;
/// Type of an echo reply (RFC 792).
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Type of an echo request (RFC 792).
pub const TYPE_ECHO_REQUEST: u8 = 8;

/// Byte offsets of the echo fields (RFC 792 "Echo or Echo Reply Message").
mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
}

/// An echo reply as the prober matches it: who answered, and the
/// identifier and sequence number it echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// Source address of the IPv4 header: the host that answered.
    pub src: Ipv4Addr,
    /// Identifier (RFC 792: "to aid in matching echos and replies").
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
}

/// Writes an ICMP echo message of type `icmp_type` ([`TYPE_ECHO_REQUEST`]
/// or [`TYPE_ECHO_REPLY`]), code 0, with `ident`, `seq` and `payload`, and
/// its checksum, into the front of `buf`; returns its length (8 plus the
/// payload's). No IPv4 header: the raw socket's kernel adds it.
///
/// Errors: [`Error::Oversize`] if the message would not fit in an IPv4
/// datagram, [`Error::NoSpace`] if `buf` is too short.
pub fn emit_echo(
    buf: &mut [u8],
    icmp_type: u8,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Result<usize> {
    let len = payload
        .len()
        .checked_add(ECHO_HEADER_LEN)
        .filter(|&l| l <= super::ipv4::MAX_LEN - super::ipv4::HEADER_LEN)
        .ok_or(Error::Oversize)?;
    let msg = buf.get_mut(..len).ok_or(Error::NoSpace)?;
    let (h, body) = msg.split_at_mut(ECHO_HEADER_LEN);
    // A fixed-size array: every index below is checked at compile time.
    let h: &mut [u8; ECHO_HEADER_LEN] = h.try_into().map_err(|_| Error::NoSpace)?;
    h[field::TYPE] = icmp_type;
    h[field::CODE] = 0;
    h[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
    h[field::IDENT..field::IDENT + 2].copy_from_slice(&ident.to_be_bytes());
    h[field::SEQ..field::SEQ + 2].copy_from_slice(&seq.to_be_bytes());
    body.copy_from_slice(payload);
    // RFC 792: the checksum covers the ICMP message from its type on,
    // computed with the checksum field zero; the header is even-length,
    // so the payload chains on a word boundary.
    let sum = checksum::fold(checksum::sum(body, checksum::sum(&h[..], 0)));
    h[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(len)
}

/// Writes an echo request (`ping`): see [`emit_echo`].
pub fn emit_echo_request(buf: &mut [u8], ident: u16, seq: u16, payload: &[u8]) -> Result<usize> {
    emit_echo(buf, TYPE_ECHO_REQUEST, ident, seq, payload)
}

/// Reads an echo reply out of `datagram`, a whole IPv4 datagram as a raw
/// `IPPROTO_ICMP` socket delivers it (header and options first).
///
/// - The IPv4 header must pass [`Ipv4Packet::new_checked`] (version,
///   IHL, total length within the buffer: else [`Error::Truncated`],
///   [`Error::BadLength`] or [`Error::Unrecognized`]) and its checksum
///   must verify ([`Error::BadChecksum`]).
/// - A protocol other than ICMP, or a fragment (the kernel reassembles
///   before raw delivery, so one here is bogus) → [`Error::Unrecognized`].
/// - Fewer than 8 bytes of ICMP → [`Error::Truncated`]; an ICMP checksum
///   over the message (to the IPv4 total length, link padding excluded)
///   that does not verify → [`Error::BadChecksum`].
/// - Any type but an echo reply with code 0 → [`Error::Unrecognized`].
pub fn parse_echo_reply(datagram: &[u8]) -> Result<EchoReply> {
    let ip = Ipv4Packet::new_checked(datagram)?;
    if !ip.verify_checksum() {
        return Err(Error::BadChecksum);
    }
    if ip.protocol() != PROTO_ICMP || ip.is_fragment() {
        return Err(Error::Unrecognized);
    }
    let msg = ip.payload();
    if msg.len() < ECHO_HEADER_LEN {
        return Err(Error::Truncated);
    }
    if checksum::fold(checksum::sum(msg, 0)) != 0 {
        return Err(Error::BadChecksum);
    }
    if byte(msg, field::TYPE) != TYPE_ECHO_REPLY || byte(msg, field::CODE) != 0 {
        return Err(Error::Unrecognized);
    }
    Ok(EchoReply {
        src: ip.src_addr(),
        ident: be16(msg, field::IDENT),
        seq: be16(msg, field::SEQ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{emit_header, DEFAULT_TTL, HEADER_LEN};

    const HOST: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 5);
    const US: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    /// An IPv4 datagram from `src` carrying `icmp` (IHL 5).
    fn datagram(src: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; HEADER_LEN + icmp.len()];
        emit_header(&mut d, src, US, PROTO_ICMP, icmp.len(), DEFAULT_TTL).unwrap();
        d[HEADER_LEN..].copy_from_slice(icmp);
        d
    }

    fn reply(src: Ipv4Addr, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; ECHO_HEADER_LEN + payload.len()];
        emit_echo(&mut m, TYPE_ECHO_REPLY, ident, seq, payload).unwrap();
        datagram(src, &m)
    }

    /// Rewrites the IPv4 header checksum after a test edited the header.
    fn fix_ip_checksum(d: &mut [u8]) {
        let hl = usize::from(d[0] & 0x0f) * 4;
        d[10] = 0;
        d[11] = 0;
        let s = checksum::fold(checksum::sum(&d[..hl], 0));
        d[10..12].copy_from_slice(&s.to_be_bytes());
    }

    #[test]
    fn echo_request_bytes() {
        // Worked by hand: 0800 + 0000 + 1234 + 0001 + 6162 (payload "ab")
        // = 7b97, checksum !7b97 = 8468.
        let mut buf = [0xeeu8; 16];
        let n = emit_echo_request(&mut buf, 0x1234, 1, b"ab").unwrap();
        assert_eq!(n, 10);
        assert_eq!(
            &buf[..n],
            &[0x08, 0x00, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, b'a', b'b']
        );
        assert_eq!(buf[n], 0xee, "nothing written past the message");
        assert_eq!(checksum::fold(checksum::sum(&buf[..n], 0)), 0);
    }

    #[test]
    fn odd_payload_checksum_verifies() {
        let mut buf = [0u8; 64];
        let n = emit_echo_request(&mut buf, 0xfffe, 0xffff, b"udhcpd!").unwrap();
        assert_eq!(n, 15);
        assert_eq!(checksum::fold(checksum::sum(&buf[..n], 0)), 0);
        // Empty payload too.
        let n = emit_echo_request(&mut buf, 0, 0, &[]).unwrap();
        assert_eq!(n, 8);
        assert_eq!(&buf[..n], &[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn emit_needs_room() {
        let mut buf = [0u8; 9];
        assert_eq!(
            emit_echo_request(&mut buf, 1, 1, b"ab"),
            Err(Error::NoSpace)
        );
        assert_eq!(
            emit_echo_request(&mut buf[..7], 1, 1, &[]),
            Err(Error::NoSpace)
        );
        let big = vec![0u8; 65535];
        let mut out = vec![0u8; 70000];
        assert_eq!(
            emit_echo_request(&mut out, 1, 1, &big),
            Err(Error::Oversize)
        );
        // The largest message an IPv4 datagram can carry still fits.
        let n = emit_echo_request(&mut out, 1, 1, &big[..65535 - 28]).unwrap();
        assert_eq!(n, 65535 - 20);
    }

    #[test]
    fn parses_echo_reply() {
        let d = reply(HOST, 0xbeef, 7, b"udhcpd\0\0");
        assert_eq!(
            parse_echo_reply(&d),
            Ok(EchoReply {
                src: HOST,
                ident: 0xbeef,
                seq: 7
            })
        );
        // Link padding after the total length is not part of the message.
        let mut padded = d.clone();
        padded.extend_from_slice(&[0xaa; 18]);
        assert_eq!(parse_echo_reply(&padded).unwrap().seq, 7);
    }

    #[test]
    fn honours_ip_options() {
        // IHL 6: one 4-byte option word (NOPs and an end-of-list) before
        // the ICMP message.
        let d = reply(HOST, 1, 2, b"xy");
        let mut o = d[..HEADER_LEN].to_vec();
        o.extend_from_slice(&[1, 1, 1, 0]);
        o.extend_from_slice(&d[HEADER_LEN..]);
        o[0] = 0x46;
        let total = u16::try_from(o.len()).unwrap();
        o[2..4].copy_from_slice(&total.to_be_bytes());
        fix_ip_checksum(&mut o);
        assert_eq!(
            parse_echo_reply(&o),
            Ok(EchoReply {
                src: HOST,
                ident: 1,
                seq: 2
            })
        );
    }

    #[test]
    fn nothing_but_an_echo_reply_is_taken() {
        // An echo request (our own, looped back, or someone pinging us).
        let mut m = [0u8; 8];
        emit_echo_request(&mut m, 1, 2, &[]).unwrap();
        assert_eq!(
            parse_echo_reply(&datagram(HOST, &m)),
            Err(Error::Unrecognized)
        );
        // Destination unreachable (type 3, code 1) quoting our request:
        // it says the host is *not* there.
        let mut unreach = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        unreach.extend_from_slice(&datagram(US, &m));
        let s = checksum::fold(checksum::sum(&unreach, 0));
        unreach[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(
            parse_echo_reply(&datagram(HOST, &unreach)),
            Err(Error::Unrecognized)
        );
        // An echo reply with a non-zero code.
        let mut r = reply(HOST, 1, 2, &[]);
        r[HEADER_LEN + 1] = 1;
        r[HEADER_LEN + 2..HEADER_LEN + 4].fill(0);
        let s = checksum::fold(checksum::sum(&r[HEADER_LEN..], 0));
        r[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(parse_echo_reply(&r), Err(Error::Unrecognized));
        // Not ICMP at all (UDP), with an otherwise perfect echo reply body.
        let mut udp = reply(HOST, 1, 2, &[]);
        udp[9] = 17;
        fix_ip_checksum(&mut udp);
        assert_eq!(parse_echo_reply(&udp), Err(Error::Unrecognized));
        // A fragment.
        let mut frag = reply(HOST, 1, 2, &[]);
        frag[6] = 0x20; // MF
        fix_ip_checksum(&mut frag);
        assert_eq!(parse_echo_reply(&frag), Err(Error::Unrecognized));
    }

    #[test]
    fn checksums_are_checked() {
        let good = reply(HOST, 9, 9, b"abcd");
        let mut bad_icmp = good.clone();
        *bad_icmp.last_mut().unwrap() ^= 1;
        assert_eq!(parse_echo_reply(&bad_icmp), Err(Error::BadChecksum));
        let mut bad_ip = good.clone();
        bad_ip[8] ^= 1; // TTL, without fixing the header checksum
        assert_eq!(parse_echo_reply(&bad_ip), Err(Error::BadChecksum));
    }

    #[test]
    fn lengths_are_checked() {
        let good = reply(HOST, 9, 9, b"abcd");
        // Every truncation of the buffer is an error, never a panic.
        for n in 0..good.len() {
            assert!(parse_echo_reply(&good[..n]).is_err(), "prefix {n}");
        }
        // An IPv4 total length leaving fewer than 8 bytes of ICMP.
        let mut short = good.clone();
        short[2..4].copy_from_slice(&27u16.to_be_bytes());
        fix_ip_checksum(&mut short);
        assert_eq!(parse_echo_reply(&short), Err(Error::Truncated));
        // IHL below 5, and IHL past the buffer.
        let mut ihl = good.clone();
        ihl[0] = 0x44;
        assert_eq!(parse_echo_reply(&ihl), Err(Error::BadLength));
        ihl[0] = 0x4f;
        assert_eq!(
            parse_echo_reply(&ihl),
            Err(Error::BadLength),
            "60-byte header in 32"
        );
        // Not IPv4.
        let mut v6 = good.clone();
        v6[0] = 0x65;
        assert_eq!(parse_echo_reply(&v6), Err(Error::Unrecognized));
    }

    #[test]
    fn byte_soup_never_panics() {
        // A deterministic walk over junk, as the fuzz target does at scale.
        let mut x: u32 = 0x1234_5678;
        let mut buf = [0u8; 96];
        for round in 0..20_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x.to_le_bytes()[0];
            }
            // Give most rounds a plausible header so the checks past it run.
            if round % 4 != 0 {
                buf[0] = 0x45;
                buf[9] = PROTO_ICMP;
            }
            let n = round % buf.len();
            let _ = parse_echo_reply(&buf[..n]);
        }
    }
}
