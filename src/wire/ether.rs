//! Ethernet II (IEEE 802.3 with EtherType) addresses and frames.
//!
//! [`MacAddr`] is the one type every layer uses for a 48-bit hardware
//! address (chaddr's first six bytes, ARP sender/target, lease records).

use core::fmt;
use core::str::FromStr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
