//! The request as policy sees it: the parsed packet, with every option that
//! arrived split into several instances (RFC 3396 §4: "the receiving agent
//! MUST concatenate") joined before any decision looks at it, so a host
//! name or client identifier split in two is one value.

use core::ops::Deref;
use std::net::Ipv4Addr;

use crate::wire::dhcp::Packet;

/// A received BOOTREQUEST. Dereferences to the packet; [`Request::option`]
/// shadows [`Packet::option`] with the joined value.
pub(crate) struct Request<'a> {
    pkt: Packet<&'a [u8]>,
    /// Codes that occur more than once, with their data concatenated in
    /// scan order (options, then `file`, then `sname` when overloaded).
    /// Empty, and not allocated, for the usual packet.
    joined: Vec<(u8, Vec<u8>)>,
}

impl<'a> Request<'a> {
    /// Scans the options once for repeated codes and joins them.
    pub(crate) fn new(pkt: Packet<&'a [u8]>) -> Self {
        let mut seen = [0u64; 4];
        let mut repeated = [0u64; 4];
        for (c, _) in pkt.options().map_while(Result::ok) {
            let (word, bit) = (usize::from(c / 64), 1u64 << (c % 64));
            if let (Some(s), Some(r)) = (seen.get_mut(word), repeated.get_mut(word)) {
                if *s & bit != 0 {
                    *r |= bit;
                }
                *s |= bit;
            }
        }
        let mut joined = Vec::new();
        if repeated != [0; 4] {
            for c in 0..=255u8 {
                let hit = repeated
                    .get(usize::from(c / 64))
                    .is_some_and(|w| w & (1u64 << (c % 64)) != 0);
                if hit {
                    joined.push((c, pkt.option_concat(c).unwrap_or_default()));
                }
            }
        }
        Request { pkt, joined }
    }

    /// The value of option `code`, all its instances joined (RFC 3396).
    pub(crate) fn option(&self, code: u8) -> Option<&[u8]> {
        match self.joined.iter().find(|(c, _)| *c == code) {
            Some((_, v)) => Some(v),
            None => self.pkt.option(code),
        }
    }

    /// Option `code` if it is exactly `N` bytes, else `None` (a wrong-sized
    /// fixed option is treated as absent, CVE-2018-20679).
    fn option_exact<const N: usize>(&self, code: u8) -> Option<[u8; N]> {
        self.option(code).and_then(|d| <[u8; N]>::try_from(d).ok())
    }

    /// A 4-byte address option.
    pub(crate) fn option_ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        self.option_exact::<4>(code).map(Ipv4Addr::from)
    }

    /// A 32-bit option.
    pub(crate) fn option_u32(&self, code: u8) -> Option<u32> {
        self.option_exact::<4>(code).map(u32::from_be_bytes)
    }

    /// A 16-bit option.
    pub(crate) fn option_u16(&self, code: u8) -> Option<u16> {
        self.option_exact::<2>(code).map(u16::from_be_bytes)
    }

    /// True if the client's Parameter Request List (55) names `code`.
    pub(crate) fn requests(&self, code: u8) -> bool {
        self.option(crate::wire::dhcp::code::PARAM_REQUEST_LIST)
            .is_some_and(|l| l.contains(&code))
    }
}

impl<'a> Deref for Request<'a> {
    type Target = Packet<&'a [u8]>;

    fn deref(&self) -> &Self::Target {
        &self.pkt
    }
}
