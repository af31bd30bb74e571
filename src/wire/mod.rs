//! Wire formats: zero-copy checked views over received bytes and builders
//! that emit into caller-owned buffers. No I/O happens here.
//!
//! The contract (after smoltcp's `wire`): a view is created with
//! `new_checked`, which validates every length it will later rely on; after
//! that no accessor can panic or read out of bounds, whatever the bytes were.
//! Hostile input is an [`Error`] value, never a panic.

pub mod arp;
pub mod checksum;
pub mod dhcp;
pub mod dhcpv6;
pub mod ether;
pub mod icmp;
pub mod ipv4;
pub mod options;
pub mod udp;

pub use arp::{ArpPacket, ProbeAnswer};
pub use dhcp::{
    MessageBuilder as DhcpBuilder, MessageType as DhcpMessageType, Packet as DhcpPacket,
};
pub use ether::{EthernetFrame, MacAddr};
pub use ipv4::Ipv4Packet;
pub use udp::{UdpDatagram, UdpPacket};

use core::fmt;

/// Why bytes were rejected by a wire parser or could not be emitted.
///
/// Small and `Copy`, so the hot path can return it without allocating; the
/// caller logs it at debug level and drops the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before a header, or before a length field says it should.
    Truncated,
    /// The buffer is larger than the format allows.
    Oversize,
    /// The DHCP magic cookie is not 99.130.83.99 (RFC 2131 §3).
    BadCookie,
    /// A length field is inconsistent (IP total length, IHL, UDP length).
    BadLength,
    /// An IPv4 header or UDP checksum does not verify (RFC 1071).
    BadChecksum,
    /// The option area is malformed: a length byte is missing or an option
    /// runs past the end of its field (RFC 2132 §2).
    MalformedOptions,
    /// A header field has a value this implementation does not handle
    /// (IP version, protocol, fragment, hardware type, ...).
    Unrecognized,
    /// A builder ran out of room in its buffer or in the option area.
    NoSpace,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Oversize => "oversized packet",
            Error::BadCookie => "bad magic cookie",
            Error::BadLength => "bad length field",
            Error::BadChecksum => "bad checksum",
            Error::MalformedOptions => "malformed option field",
            Error::Unrecognized => "unrelated/bogus packet",
            Error::NoSpace => "no space left in packet",
        })
    }
}

impl std::error::Error for Error {}

/// Result type of the wire parsers and builders.
pub type Result<T> = core::result::Result<T, Error>;
