//! IPv4 header (RFC 791 §3.1): a checked view over received datagrams and
//! a builder for the fixed 20-byte header udhcpc/udhcpd put on raw sends.
//!
//! Unlike BusyBox, which drops any datagram whose IHL is not 5, the view
//! honours IP options: the header is `IHL * 4` bytes and the payload starts
//! after it. The payload ends at the total length field, so link-layer
//! padding (Ethernet's 60-byte minimum frame) is dropped.

use std::net::Ipv4Addr;

use super::checksum::{self, be16, byte, ipv4_at};
use super::{Error, Result};

/// Length of a header without options (IHL 5).
pub const HEADER_LEN: usize = 20;
/// Protocol number of UDP (RFC 768; "Assigned Numbers").
pub const PROTO_UDP: u8 = 17;
/// Time to live of the datagrams we build (IPDEFTTL, as BusyBox uses).
pub const DEFAULT_TTL: u8 = 64;
/// Largest datagram the 16-bit total length field can describe.
pub const MAX_LEN: usize = 65535;

/// Byte offsets of the header fields (RFC 791 §3.1).
mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC_ADDR: usize = 12;
    pub const DST_ADDR: usize = 16;
}

/// Don't Fragment bit of the flags/fragment-offset word.
const FLAG_DF: u16 = 0x4000;
/// More Fragments bit of the flags/fragment-offset word.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset part of the flags/fragment-offset word.
const OFFSET_MASK: u16 = 0x1fff;

/// A read-only view of an IPv4 datagram whose lengths have been checked.
///
/// Built with [`Ipv4Packet::new_checked`]; afterwards no accessor panics,
/// whatever the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Validates the header and length fields of `buffer`:
    ///
    /// - fewer than 20 bytes → [`Error::Truncated`];
    /// - version ≠ 4 → [`Error::Unrecognized`];
    /// - IHL < 5, IHL * 4 beyond the buffer, or total length shorter than
    ///   the header → [`Error::BadLength`];
    /// - total length beyond the buffer → [`Error::Truncated`].
    ///
    /// Bytes after the total length (link padding) are allowed and ignored.
    /// The header checksum is *not* checked here: see
    /// [`verify_checksum`](Self::verify_checksum).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let vi = byte(b, field::VER_IHL);
        if vi >> 4 != 4 {
            return Err(Error::Unrecognized);
        }
        let header_len = usize::from(vi & 0x0f) * 4;
        let total_len = usize::from(be16(b, field::LENGTH));
        if header_len < HEADER_LEN || header_len > b.len() || total_len < header_len {
            return Err(Error::BadLength);
        }
        if total_len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version field (always 4 after `new_checked`).
    pub fn version(&self) -> u8 {
        byte(self.bytes(), field::VER_IHL) >> 4
    }

    /// Internet Header Length, in 32-bit words (5..=15).
    pub fn ihl(&self) -> u8 {
        byte(self.bytes(), field::VER_IHL) & 0x0f
    }

    /// Header length in bytes, options included (`IHL * 4`).
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Type of Service byte (RFC 791; DSCP and ECN in RFC 2474/3168).
    pub fn tos(&self) -> u8 {
        byte(self.bytes(), field::TOS)
    }

    /// Total Length: header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        be16(self.bytes(), field::LENGTH)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.bytes(), field::IDENT)
    }

    /// The three flag bits (reserved, DF, MF) as the top bits of a 3-bit value.
    pub fn flags(&self) -> u8 {
        // The word's top three bits, so the shifted value is < 8.
        (be16(self.bytes(), field::FLG_OFF) >> 13) as u8
    }

    /// The Don't Fragment flag.
    pub fn dont_fragment(&self) -> bool {
        be16(self.bytes(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_fragments(&self) -> bool {
        be16(self.bytes(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment Offset field, in units of 8 bytes as on the wire.
    pub fn frag_offset(&self) -> u16 {
        be16(self.bytes(), field::FLG_OFF) & OFFSET_MASK
    }

    /// True if this datagram is a fragment (MF set or a non-zero offset).
    /// We do not reassemble, so such datagrams are dropped by callers.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        byte(self.bytes(), field::TTL)
    }

    /// Protocol of the payload (17 = UDP).
    pub fn protocol(&self) -> u8 {
        byte(self.bytes(), field::PROTOCOL)
    }

    /// Header Checksum field as transmitted.
    pub fn checksum(&self) -> u16 {
        be16(self.bytes(), field::CHECKSUM)
    }

    /// Source Address.
    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::SRC_ADDR)
    }

    /// Destination Address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::DST_ADDR)
    }

    /// True if the header checksum over all `header_len` bytes (options
    /// included) verifies (RFC 791 §3.1, RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        match self.bytes().get(..self.header_len()) {
            Some(h) => checksum::fold(checksum::sum(h, 0)) == 0,
            None => false,
        }
    }

    /// The IP options: bytes 20..header_len (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        self.bytes()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload: bytes header_len..total_len. Anything after the total
    /// length (link padding) is not part of it.
    pub fn payload(&self) -> &[u8] {
        self.bytes()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }
}

/// Writes a 20-byte IPv4 header for a datagram carrying `payload_len` bytes
/// of `protocol` into the front of `buf`, and returns 20.
///
/// The header is the one BusyBox sends (its §5.4): version 4, IHL 5, TOS 0,
/// identification 0, no flags (DF clear), fragment offset 0, the given TTL
/// (use [`DEFAULT_TTL`]), and a correct header checksum.
///
/// Errors: [`Error::Oversize`] if 20 + `payload_len` exceeds 65535,
/// [`Error::NoSpace`] if `buf` is shorter than 20 bytes. Only the header is
/// written; the payload is the caller's.
pub fn emit_header(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    payload_len: usize,
    ttl: u8,
) -> Result<usize> {
    let total = payload_len
        .checked_add(HEADER_LEN)
        .and_then(|t| u16::try_from(t).ok())
        .ok_or(Error::Oversize)?;
    // A fixed-size array: every index below is checked at compile time.
    let h: &mut [u8; HEADER_LEN] = buf
        .get_mut(..HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::NoSpace)?;
    h.fill(0);
    h[field::VER_IHL] = 0x45;
    h[field::LENGTH..field::LENGTH + 2].copy_from_slice(&total.to_be_bytes());
    h[field::TTL] = ttl;
    h[field::PROTOCOL] = protocol;
    h[field::SRC_ADDR..field::SRC_ADDR + 4].copy_from_slice(&src.octets());
    h[field::DST_ADDR..field::DST_ADDR + 4].copy_from_slice(&dst.octets());
    let sum = checksum::fold(checksum::sum(&h[..], 0));
    h[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 header of a DHCP DISCOVER (total length 328, TTL 128, UDP,
    /// 0.0.0.0 → 255.255.255.255), checksum 0x3996.
    const DISCOVER_HDR: [u8; 20] = [
        0x45, 0x10, 0x01, 0x48, 0x00, 0x00, 0x00, 0x00, 0x80, 0x11, 0x39, 0x96, 0x00, 0x00, 0x00,
        0x00, 0xff, 0xff, 0xff, 0xff,
    ];

    fn discover() -> Vec<u8> {
        let mut v = DISCOVER_HDR.to_vec();
        v.resize(328, 0);
        v
    }

    #[test]
    fn parse_discover_header() {
        let d = discover();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0x10);
        assert_eq!(p.total_len(), 328);
        assert_eq!(p.ident(), 0);
        assert_eq!(p.flags(), 0);
        assert!(!p.dont_fragment());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 128);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.checksum(), 0x3996);
        assert_eq!(p.src_addr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(p.dst_addr(), Ipv4Addr::BROADCAST);
        assert!(p.verify_checksum());
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 308);
    }

    #[test]
    fn emit_matches_parse() {
        let mut buf = [0xaau8; 20];
        let src = Ipv4Addr::new(192, 168, 1, 1);
        let dst = Ipv4Addr::new(192, 168, 1, 77);
        assert_eq!(
            emit_header(&mut buf, src, dst, PROTO_UDP, 300, DEFAULT_TTL),
            Ok(20)
        );
        // Only the header is present: give the view room for the payload.
        let mut d = buf.to_vec();
        d.resize(320, 0);
        let p = Ipv4Packet::new_checked(&d).unwrap();
        assert_eq!(p.total_len(), 320);
        assert_eq!(
            (p.tos(), p.ident(), p.flags(), p.frag_offset()),
            (0, 0, 0, 0)
        );
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), src);
        assert_eq!(p.dst_addr(), dst);
        assert!(p.verify_checksum());
    }

    #[test]
    fn emit_golden_discover_shape() {
        // Same fields as DISCOVER_HDR apart from TOS 0 and TTL 64:
        // 4500 + 0148 + 4011 + ffff + ffff = 2 8657 → 8659, complement 79a6.
        let mut buf = [0u8; 20];
        emit_header(
            &mut buf,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            PROTO_UDP,
            308,
            DEFAULT_TTL,
        )
        .unwrap();
        assert_eq!(
            buf,
            [
                0x45, 0x00, 0x01, 0x48, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x79, 0xa6, 0x00, 0x00,
                0x00, 0x00, 0xff, 0xff, 0xff, 0xff
            ]
        );
    }

    #[test]
    fn emit_errors() {
        let mut small = [0u8; 19];
        let a = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            emit_header(&mut small, a, a, 17, 0, 64),
            Err(Error::NoSpace)
        );
        let mut buf = [0u8; 20];
        assert_eq!(
            emit_header(&mut buf, a, a, 17, MAX_LEN - 19, 64),
            Err(Error::Oversize)
        );
        assert_eq!(
            emit_header(&mut buf, a, a, 17, usize::MAX, 64),
            Err(Error::Oversize)
        );
        assert_eq!(emit_header(&mut buf, a, a, 17, MAX_LEN - 20, 64), Ok(20));
    }

    #[test]
    fn new_checked_rules() {
        let good = discover();
        assert_eq!(
            Ipv4Packet::new_checked(&good[..19]).err(),
            Some(Error::Truncated)
        );
        let mut v = good.clone();
        v[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v).err(), Some(Error::Unrecognized));
        v[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&v).err(), Some(Error::BadLength));
        // IHL 15 = 60 bytes, but only 20 bytes present.
        let mut v = DISCOVER_HDR.to_vec();
        v[0] = 0x4f;
        v[2] = 0;
        v[3] = 20;
        assert_eq!(Ipv4Packet::new_checked(&v).err(), Some(Error::BadLength));
        // total length shorter than the header
        let mut v = good.clone();
        v[2] = 0;
        v[3] = 19;
        assert_eq!(Ipv4Packet::new_checked(&v).err(), Some(Error::BadLength));
        // total length beyond the buffer
        assert_eq!(
            Ipv4Packet::new_checked(&good[..327]).err(),
            Some(Error::Truncated)
        );
        // header-only datagram is fine
        let mut v = DISCOVER_HDR.to_vec();
        v[2] = 0;
        v[3] = 20;
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert!(p.payload().is_empty());
    }

    #[test]
    fn options_and_padding() {
        let mut v = vec![0u8; 24 + 4 + 10];
        emit_header(&mut v, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 17, 8, 64).unwrap();
        // Turn it into IHL 6 with a 4-byte option (NOP NOP NOP EOL), total
        // length 28, and 10 bytes of trailing link padding.
        v[0] = 0x46;
        v[2] = 0;
        v[3] = 28;
        v[10] = 0;
        v[11] = 0;
        v[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let c = checksum::fold(checksum::sum(&v[..24], 0));
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v[24..28].copy_from_slice(&[9, 8, 7, 6]);
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
    }

    #[test]
    fn fragment_flags() {
        let mut v = discover();
        v[6] = 0x20; // MF
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert!(p.more_fragments() && p.is_fragment());
        assert_eq!(p.flags(), 0b001);
        v[6] = 0x40; // DF only: not a fragment
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert!(p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.flags(), 0b010);
        v[6] = 0x00;
        v[7] = 0x01; // offset 1 (8 bytes)
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert_eq!(p.frag_offset(), 1);
        assert!(p.is_fragment());
    }

    #[test]
    fn bad_checksum_detected() {
        let mut v = discover();
        v[8] ^= 1;
        let p = Ipv4Packet::new_checked(&v).unwrap();
        assert!(!p.verify_checksum());
    }

    #[test]
    fn soup_never_panics() {
        let mut rng = crate::testutil::XorShift(0x0123_4567_89ab_cdef);
        let mut next = move || rng.next();
        let mut parsed = 0;
        for _ in 0..20_000 {
            let n = (next() % 100) as usize;
            let mut b: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            if let Some(first) = b.first_mut() {
                *first = 0x40 | (*first & 0x0f);
            }
            if let Some(len) = b.get_mut(2..4) {
                let want = (next() % (n as u64 + 8)) as u16;
                len.copy_from_slice(&want.to_be_bytes());
            }
            if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
                parsed += 1;
                assert!(p.header_len() + p.payload().len() <= n);
                let _ = (p.tos(), p.ident(), p.flags(), p.ttl(), p.checksum());
                let _ = (p.src_addr(), p.dst_addr(), p.options(), p.is_fragment());
                let _ = p.verify_checksum();
            }
        }
        assert!(parsed > 0);
    }

    #[test]
    fn truncation_never_panics() {
        let d = discover();
        for n in 0..d.len() {
            assert!(Ipv4Packet::new_checked(&d[..n]).is_err(), "len {n}");
        }
    }
}
