//! Ethernet II (IEEE 802.3 with EtherType; RFC 894 for IPv4 over it)
//! addresses and frames.
//!
//! [`MacAddr`] is the one type every layer uses for a 48-bit hardware
//! address (chaddr's first six bytes, ARP sender/target, lease records).
//! [`EthernetFrame`] is a checked view of a received frame and
//! [`emit_header`] writes the 14-byte header for frames we build (ARP
//! probes). The IPv4 raw path uses `SOCK_DGRAM`, where the kernel owns this
//! header.

use core::fmt;
use core::str::FromStr;

use super::checksum::be16;
use super::Error;

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;
/// EtherType of IPv4 (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// Byte offsets of the header fields.
mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00 (BusyBox's marker for declined and conflict leases)
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address as bytes.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True for 00:00:00:00:00:00.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// The address at `at..at + 6` of `data`, or [`MacAddr::ZERO`] if the
    /// slice is too short (views only call this on checked offsets).
    pub(crate) fn read(data: &[u8], at: usize) -> MacAddr {
        match data
            .get(at..at.saturating_add(6))
            .and_then(|s| <[u8; 6]>::try_from(s).ok())
        {
            Some(b) => MacAddr(b),
            None => MacAddr::ZERO,
        }
    }
}

/// Lower-case, colon-separated, two digits per byte: `02:00:00:00:00:01`
/// (the form dumpleases and the logs print).
impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Why a MAC address string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacError;

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid MAC address")
    }
}

impl std::error::Error for ParseMacError {}

/// Parses what `ether_aton(3)` accepts, as udhcpd.conf `static_lease` does:
/// six groups of one or two hex digits separated by `:`, either case
/// (`0:60:8:11:CE:4E` is valid).
impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut groups = s.split(':');
        for byte in &mut out {
            let g = groups.next().ok_or(ParseMacError)?;
            if g.is_empty() || g.len() > 2 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(g, 16).map_err(|_| ParseMacError)?;
        }
        if groups.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

/// A read-only view of an Ethernet II frame (without the FCS) whose
/// header is known to be complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks that `buffer` holds at least the 14-byte header, else
    /// [`Error::Truncated`].
    pub fn new_checked(buffer: T) -> super::Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::read(self.buffer.as_ref(), field::DST)
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::read(self.buffer.as_ref(), field::SRC)
    }

    /// EtherType (0x0800 IPv4, 0x0806 ARP). 802.1Q tags are not decoded.
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Everything after the header, including any padding up to the
    /// 60-byte minimum frame.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// Writes a 14-byte Ethernet II header into the front of `buf` and returns
/// 14, or [`Error::NoSpace`] if `buf` is shorter.
pub fn emit_header(
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    ethertype: u16,
) -> super::Result<usize> {
    // A fixed-size array: every index below is checked at compile time.
    let h: &mut [u8; HEADER_LEN] = buf
        .get_mut(..HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::NoSpace)?;
    h[field::DST..field::DST + 6].copy_from_slice(&dst.0);
    h[field::SRC..field::SRC + 6].copy_from_slice(&src.0);
    h[field::ETHERTYPE..field::ETHERTYPE + 2].copy_from_slice(&ethertype.to_be_bytes());
    Ok(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

    #[test]
    fn frame_emit_and_parse() {
        let mut buf = [0u8; 20];
        assert_eq!(
            emit_header(&mut buf, MacAddr::BROADCAST, OURS, ETHERTYPE_ARP),
            Ok(14)
        );
        assert_eq!(
            &buf[..14],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]
        );
        buf[14..].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), OURS);
        assert_eq!(f.ethertype(), ETHERTYPE_ARP);
        assert_eq!(f.payload(), &[1, 2, 3, 4, 5, 6]);
        let f = EthernetFrame::new_checked(&buf[..14]).unwrap();
        assert!(f.payload().is_empty());
        assert_eq!(f.into_inner().len(), 14);
    }

    #[test]
    fn frame_errors() {
        let mut small = [0u8; 13];
        assert_eq!(
            emit_header(&mut small, OURS, OURS, ETHERTYPE_IPV4),
            Err(Error::NoSpace)
        );
        for n in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&small[..n]).err(),
                Some(Error::Truncated)
            );
        }
    }

    #[test]
    fn frame_soup_never_panics() {
        let mut rng = crate::testutil::XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5_000 {
            let x = rng.next();
            let n = (x % 64) as usize;
            let bytes: Vec<u8> = (0..n).map(|i| (x >> (i % 56)) as u8).collect();
            if let Ok(f) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload());
            } else {
                assert!(n < HEADER_LEN);
            }
        }
        assert_eq!(MacAddr::read(&[1, 2, 3], 0), MacAddr::ZERO);
        assert_eq!(MacAddr::read(&[0; 6], usize::MAX), MacAddr::ZERO);
    }

    #[test]
    fn mac_text_round_trip() {
        let m: MacAddr = "00:60:08:11:CE:4E".parse().unwrap();
        assert_eq!(m.0, [0x00, 0x60, 0x08, 0x11, 0xce, 0x4e]);
        assert_eq!(m.to_string(), "00:60:08:11:ce:4e");
        let short: MacAddr = "0:60:8:11:ce:4e".parse().unwrap();
        assert_eq!(short, m);
    }

    #[test]
    fn mac_rejects_garbage() {
        for bad in [
            "",
            "00:60:08:11:ce",
            "00:60:08:11:ce:4e:00",
            "000:60:08:11:ce:4e",
            "00:60:08:11:ce:4g",
            "00:60:08:11::4e",
            "00-60-08-11-ce-4e",
            "+0:60:08:11:ce:4e",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacError), "{bad:?}");
        }
    }
}
