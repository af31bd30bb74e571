//! DHCP/BOOTP messages: the fixed BOOTP header, the options field, and a
//! builder that emits messages into a caller-owned buffer.
//!
//! This module owns the on-the-wire layout of a DHCPv4 message (RFC 2131 §2,
//! RFC 951 for the BOOTP header it extends, RFC 1542 §2.1 for the 300-byte
//! minimum) and the generic option framing (RFC 2132 §2: PAD, END, code /
//! length / data; RFC 2132 §9.3 option overload into `file` and `sname`;
//! RFC 3396 long options split into several instances of one code). What an
//! option *means* (types, names, text codecs) lives in
//! [`crate::wire::options`]; which options a reply carries is the server's
//! and client's business.
//!
//! Three parts:
//! - [`Packet`], a zero-copy checked view (after smoltcp's `wire`): after
//!   [`Packet::new_checked`] no accessor can panic or read outside the slice
//!   it was given, whatever the bytes are.
//! - [`Options`], the option scanner, matching BusyBox's `udhcp_scan_options`
//!   semantics (PAD skipped, zero-length options skipped, option 52 consumed,
//!   scan order options → file → sname, malformation reported once).
//! - [`MessageBuilder`], which writes a message into `&mut [u8]` without
//!   allocating (the server's hot path), enforcing the size limits and
//!   padding every message to the BOOTP minimum.

use core::fmt;
use core::iter::FusedIterator;
use std::net::Ipv4Addr;

use super::ether::MacAddr;
use super::{Error, Result};

/// Byte offsets of the fixed BOOTP/DHCP header fields (RFC 2131 §2, figure 1).
pub mod field {
    use core::ops::Range;

    /// A fixed-size field: a byte range of the message.
    pub type Field = Range<usize>;

    /// `op`: message op code, 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub const OP: usize = 0;
    /// `htype`: hardware address type (1 = 10 Mb Ethernet, RFC 1700).
    pub const HTYPE: usize = 1;
    /// `hlen`: hardware address length (6 for Ethernet).
    pub const HLEN: usize = 2;
    /// `hops`: incremented by relay agents.
    pub const HOPS: usize = 3;
    /// `xid`: transaction ID chosen by the client.
    pub const XID: Field = 4..8;
    /// `secs`: seconds since the client began acquisition or renewal.
    pub const SECS: Field = 8..10;
    /// `flags`: the top bit is the BROADCAST flag (RFC 1542 §3.1.1).
    pub const FLAGS: Field = 10..12;
    /// `ciaddr`: client IP address (only when the client can answer ARP).
    pub const CIADDR: Field = 12..16;
    /// `yiaddr`: "your" (client) IP address offered or assigned.
    pub const YIADDR: Field = 16..20;
    /// `siaddr`: IP address of the next server to use in bootstrap.
    pub const SIADDR: Field = 20..24;
    /// `giaddr`: relay agent IP address.
    pub const GIADDR: Field = 24..28;
    /// `chaddr`: client hardware address (16 bytes, Ethernet uses 6).
    pub const CHADDR: Field = 28..44;
    /// `sname`: optional server host name, NUL terminated (or overloaded).
    pub const SNAME: Field = 44..108;
    /// `file`: boot file name, NUL terminated (or overloaded).
    pub const FILE: Field = 108..236;
    /// The magic cookie 99.130.83.99 (RFC 2131 §3, RFC 1497).
    pub const COOKIE: Field = 236..240;
    /// `options`: the variable-length options field starts here.
    pub const OPTIONS: usize = 240;
}

use field::Field;

/// The magic cookie that opens the options field (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Length of the fixed header including the magic cookie: the shortest
/// message we accept.
pub const HEADER_LEN: usize = 240;
/// Minimum BOOTP message size a relay or client must accept (RFC 1542 §2.1);
/// every message we build is zero-padded to at least this length.
pub const MIN_BOOTP_LEN: usize = 300;
/// Largest DHCP message carried by one 1500-byte IPv4/UDP frame
/// (1500 − 20 − 8). Longer buffers are rejected as [`Error::Oversize`].
pub const MAX_LEN: usize = 1472;
/// The builder's default size limit: 576 − 20 − 8, the message size every
/// DHCP participant must accept (RFC 2131 §2, BusyBox `DHCP_SIZE`); it leaves
/// 308 bytes for options including END.
pub const DEFAULT_MAX_LEN: usize = 548;
/// The BROADCAST bit of `flags` (RFC 1542 §3.1.1, RFC 2131 §2 figure 2).
pub const BROADCAST_FLAG: u16 = 0x8000;
/// `op` value BOOTREQUEST (client → server).
pub const OP_REQUEST: u8 = 1;
/// `op` value BOOTREPLY (server → client).
pub const OP_REPLY: u8 = 2;
/// `htype` value for Ethernet (RFC 1700 "Hardware Type").
pub const HTYPE_ETHERNET: u8 = 1;
/// Option overload (52) bit: the `file` field carries options (RFC 2132 §9.3).
pub const OVERLOAD_FILE: u8 = 1;
/// Option overload (52) bit: the `sname` field carries options (RFC 2132 §9.3).
pub const OVERLOAD_SNAME: u8 = 2;

/// Option codes the state machines read directly (RFC 2132 and later).
///
/// The full table with names and value types is in [`crate::wire::options`].
pub mod code {
    /// Pad (RFC 2132 §3.1): one byte, no length.
    pub const PAD: u8 = 0;
    /// End (RFC 2132 §3.2): one byte, ends the current field.
    pub const END: u8 = 255;
    /// Subnet Mask (RFC 2132 §3.3).
    pub const SUBNET_MASK: u8 = 1;
    /// Router (RFC 2132 §3.5).
    pub const ROUTER: u8 = 3;
    /// Host Name (RFC 2132 §3.14).
    pub const HOSTNAME: u8 = 12;
    /// Requested IP Address (RFC 2132 §9.1).
    pub const REQUESTED_IP: u8 = 50;
    /// IP Address Lease Time (RFC 2132 §9.2).
    pub const LEASE_TIME: u8 = 51;
    /// Option Overload (RFC 2132 §9.3): consumed by the scanner, never yielded.
    pub const OVERLOAD: u8 = 52;
    /// DHCP Message Type (RFC 2132 §9.6).
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server Identifier (RFC 2132 §9.7).
    pub const SERVER_ID: u8 = 54;
    /// Parameter Request List (RFC 2132 §9.8).
    pub const PARAM_REQUEST_LIST: u8 = 55;
    /// Message (RFC 2132 §9.9).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP Message Size (RFC 2132 §9.10).
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) Time Value (RFC 2132 §9.11).
    pub const RENEWAL_T1: u8 = 58;
    /// Rebinding (T2) Time Value (RFC 2132 §9.12).
    pub const REBINDING_T2: u8 = 59;
    /// Vendor class identifier (RFC 2132 §9.13).
    pub const VENDOR_CLASS: u8 = 60;
    /// Client-identifier (RFC 2132 §9.14).
    pub const CLIENT_ID: u8 = 61;
    /// Rapid Commit (RFC 4039): empty; DISCOVER → ACK in two messages.
    pub const RAPID_COMMIT: u8 = 80;
    /// Client FQDN (RFC 4702).
    pub const CLIENT_FQDN: u8 = 81;
    /// Relay Agent Information (RFC 3046).
    pub const RELAY_AGENT_INFO: u8 = 82;
}

// The accessors index a `[u8; HEADER_LEN]` with these constants; make a wrong
// constant a compile error rather than a runtime surprise.
const _: () = assert!(field::COOKIE.end == HEADER_LEN && field::OPTIONS == HEADER_LEN);
const _: () = assert!(HEADER_LEN < MIN_BOOTP_LEN && MIN_BOOTP_LEN <= DEFAULT_MAX_LEN);
const _: () = assert!(DEFAULT_MAX_LEN <= MAX_LEN);

/// DHCP Message Type, the value of option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// DHCPDISCOVER
    Discover = 1,
    /// DHCPOFFER
    Offer = 2,
    /// DHCPREQUEST
    Request = 3,
    /// DHCPDECLINE
    Decline = 4,
    /// DHCPACK
    Ack = 5,
    /// DHCPNAK
    Nak = 6,
    /// DHCPRELEASE
    Release = 7,
    /// DHCPINFORM
    Inform = 8,
}

impl MessageType {
    /// The type for an option-53 value; `None` outside 1..=8.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }

    /// BusyBox's upper-case name, as printed in its logs (`DISCOVER` …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Discover => "DISCOVER",
            Self::Offer => "OFFER",
            Self::Request => "REQUEST",
            Self::Decline => "DECLINE",
            Self::Ack => "ACK",
            Self::Nak => "NAK",
            Self::Release => "RELEASE",
            Self::Inform => "INFORM",
        }
    }
}

/// Prints the BusyBox log name, e.g. `DISCOVER`.
impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Stands in for the header of a view made with `new_unchecked` over fewer
/// than `HEADER_LEN` bytes, so even misuse reads zeros instead of panicking.
static ZERO_HEADER: [u8; HEADER_LEN] = [0; HEADER_LEN];

/// A fixed-size field of a header array. The fallback is unreachable with the
/// constants above (checked at compile time and by tests); it exists so this
/// function has no panic path at all.
fn sub<const N: usize>(h: &[u8; HEADER_LEN], r: Field) -> &[u8; N] {
    match h.get(r).and_then(|s| <&[u8; N]>::try_from(s).ok()) {
        Some(a) => a,
        None => const { &[0; N] },
    }
}

/// Mutable counterpart of [`sub`]; `None` is unreachable with our constants.
fn sub_mut<const N: usize>(h: &mut [u8; HEADER_LEN], r: Field) -> Option<&mut [u8; N]> {
    h.get_mut(r).and_then(|s| <&mut [u8; N]>::try_from(s).ok())
}

/// The bytes of a NUL-terminated fixed field up to (not including) the first
/// NUL, or the whole field when it has none.
fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => b.get(..n).unwrap_or(b),
        None => b,
    }
}

/// A read/write view of a DHCP/BOOTP message (RFC 2131 §2).
///
/// Create it with [`Packet::new_checked`]: the header length, the total
/// length and the magic cookie are validated once, and then no accessor can
/// panic. The options field is whatever follows the cookie in the buffer you
/// pass (give the exact received length: nothing beyond the slice is read,
/// unlike BusyBox before 1.37, see CVE-2023-28488 in connman).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. Accessors still never panic: a
    /// buffer shorter than [`HEADER_LEN`] reads as an all-zero header, and
    /// setters on it do nothing.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a received message after validating it: shorter than the
    /// 240-byte header → [`Error::Truncated`]; longer than [`MAX_LEN`] →
    /// [`Error::Oversize`]; cookie other than 99.130.83.99 →
    /// [`Error::BadCookie`]. Options are not validated here (see
    /// [`Packet::options_valid`]): like BusyBox, options before a malformation
    /// remain usable.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`Packet::new_checked`] on an existing view.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let Some(hdr) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        if buf.len() > MAX_LEN {
            return Err(Error::Oversize);
        }
        if *sub::<4>(hdr, field::COOKIE) != MAGIC_COOKIE {
            return Err(Error::BadCookie);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The fixed header, obtained once per accessor as a fixed-size array so
    /// that every field access below is a constant in-bounds index.
    fn hdr(&self) -> &[u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .unwrap_or(&ZERO_HEADER)
    }

    fn u16_at(&self, r: Field) -> u16 {
        u16::from_be_bytes(*sub::<2>(self.hdr(), r))
    }

    fn ipv4_at(&self, r: Field) -> Ipv4Addr {
        Ipv4Addr::from(*sub::<4>(self.hdr(), r))
    }

    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub fn op(&self) -> u8 {
        self.hdr()[field::OP]
    }

    /// `htype`: hardware address type (1 = Ethernet).
    pub fn htype(&self) -> u8 {
        self.hdr()[field::HTYPE]
    }

    /// `hlen`: hardware address length (6 for Ethernet).
    pub fn hlen(&self) -> u8 {
        self.hdr()[field::HLEN]
    }

    /// `hops`: relay hop count.
    pub fn hops(&self) -> u8 {
        self.hdr()[field::HOPS]
    }

    /// `xid`: transaction ID.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(*sub::<4>(self.hdr(), field::XID))
    }

    /// `secs`: seconds elapsed since the client began the exchange.
    pub fn secs(&self) -> u16 {
        self.u16_at(field::SECS)
    }

    /// `flags`: the whole 16-bit flags field.
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }

    /// The BROADCAST bit of `flags` (RFC 2131 §4.1: reply by broadcast).
    pub fn broadcast_flag(&self) -> bool {
        self.flags() & BROADCAST_FLAG != 0
    }

    /// `ciaddr`: client IP address.
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::CIADDR)
    }

    /// `yiaddr`: "your" (client) IP address.
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::YIADDR)
    }

    /// `siaddr`: next server IP address.
    pub fn siaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::SIADDR)
    }

    /// `giaddr`: relay agent IP address.
    pub fn giaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::GIADDR)
    }

    /// `chaddr`: all 16 bytes of the client hardware address field.
    pub fn chaddr(&self) -> &[u8; 16] {
        sub(self.hdr(), field::CHADDR)
    }

    /// The first six bytes of `chaddr` as an Ethernet address (BusyBox
    /// compares exactly these; `hlen` is the caller's business).
    pub fn client_mac(&self) -> MacAddr {
        MacAddr(*sub::<6>(
            self.hdr(),
            field::CHADDR.start..field::CHADDR.start + 6,
        ))
    }

    /// `sname`: the raw 64-byte server host name field (may hold options
    /// when option 52 says so).
    pub fn sname(&self) -> &[u8; 64] {
        sub(self.hdr(), field::SNAME)
    }

    /// `file`: the raw 128-byte boot file name field (may hold options when
    /// option 52 says so).
    pub fn file(&self) -> &[u8; 128] {
        sub(self.hdr(), field::FILE)
    }

    /// `sname` as a C string: the bytes before the first NUL (all 64 if
    /// there is none). Not text-validated; check [`Packet::overload`] first.
    pub fn sname_str(&self) -> &[u8] {
        until_nul(self.sname())
    }

    /// `file` as a C string: the bytes before the first NUL (all 128 if
    /// there is none). Not text-validated; check [`Packet::overload`] first.
    pub fn file_str(&self) -> &[u8] {
        until_nul(self.file())
    }

    /// The 4 bytes where the magic cookie belongs (always [`MAGIC_COOKIE`]
    /// after `new_checked`).
    pub fn cookie(&self) -> [u8; 4] {
        *sub(self.hdr(), field::COOKIE)
    }

    /// The options field: every byte after the cookie in the buffer.
    pub fn options_field(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }

    /// Iterates over the options in scan order (options, then `file`, then
    /// `sname` as option 52 directs). See [`Options`].
    pub fn options(&self) -> Options<'_> {
        let h = self.hdr();
        Options::new(
            self.options_field(),
            sub::<128>(h, field::FILE),
            sub::<64>(h, field::SNAME),
        )
    }

    /// Data of the first instance of `code` (`udhcp_get_option`), or `None`
    /// if absent, or if the option field is malformed before it.
    /// Zero-length instances are skipped, so they count as absent.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options()
            .map_while(core::result::Result::ok)
            .find(|&(c, _)| c == code)
            .map(|(_, d)| d)
    }

    /// True if a zero-length instance of `code` is present: a flag option
    /// such as Rapid Commit (RFC 4039), which [`Options`] skips like every
    /// empty option. Looks in the options field, and in `file`/`sname` when
    /// option 52 says so, with the scanner's bounds; a malformed field ends
    /// the search.
    pub fn has_empty_option(&self, code: u8) -> bool {
        let overload = self.overload();
        field_has_empty(self.options_field(), code)
            || (overload & OVERLOAD_FILE != 0 && field_has_empty(self.file(), code))
            || (overload & OVERLOAD_SNAME != 0 && field_has_empty(self.sname(), code))
    }

    /// All instances of `code`, concatenated in scan order (RFC 3396 long
    /// options, which may also continue into `file`/`sname`). `None` if there
    /// is no instance before the end or a malformation. Allocates.
    pub fn option_concat(&self, code: u8) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for (_, data) in self
            .options()
            .map_while(core::result::Result::ok)
            .filter(|&(c, _)| c == code)
        {
            out.get_or_insert_with(Vec::new).extend_from_slice(data);
        }
        out
    }

    /// The first instance of `code` if it is exactly `N` bytes long, else
    /// `None`: a short or long fixed-size option is treated as absent
    /// (CVE-2018-20679: 1–3 byte options 50/51/54 were read as 4 bytes).
    pub fn option_exact<const N: usize>(&self, code: u8) -> Option<[u8; N]> {
        self.option(code).and_then(|d| <[u8; N]>::try_from(d).ok())
    }

    /// A 4-byte address option (e.g. 50 requested IP, 54 server ID);
    /// `None` unless the first instance is exactly 4 bytes.
    pub fn option_ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        self.option_exact::<4>(code).map(Ipv4Addr::from)
    }

    /// A 32-bit big-endian option (e.g. 51 lease time, 58 T1, 59 T2);
    /// `None` unless the first instance is exactly 4 bytes.
    pub fn option_u32(&self, code: u8) -> Option<u32> {
        self.option_exact::<4>(code).map(u32::from_be_bytes)
    }

    /// A 16-bit big-endian option (e.g. 57 maximum message size);
    /// `None` unless the first instance is exactly 2 bytes.
    pub fn option_u16(&self, code: u8) -> Option<u16> {
        self.option_exact::<2>(code).map(u16::from_be_bytes)
    }

    /// A one-byte option; `None` unless the first instance is exactly 1 byte.
    pub fn option_u8(&self, code: u8) -> Option<u8> {
        self.option_exact::<1>(code).map(|[b]| b)
    }

    /// The DHCP Message Type (option 53): `None` unless the first instance
    /// is exactly one byte with a value in 1..=8.
    pub fn message_type(&self) -> Option<MessageType> {
        self.option_u8(code::MESSAGE_TYPE)
            .and_then(MessageType::from_u8)
    }

    /// The option overload bits (OR of every option 52 seen while scanning;
    /// [`OVERLOAD_FILE`] and [`OVERLOAD_SNAME`] are the meaningful ones).
    pub fn overload(&self) -> u8 {
        let mut it = self.options();
        it.by_ref().for_each(drop);
        it.overload()
    }

    /// A plain BOOTP message: no (non-empty) option 53 anywhere before a
    /// malformation, which is how BusyBox ≥ 1.37 tells BOOTP from DHCP.
    pub fn is_bootp(&self) -> bool {
        self.option(code::MESSAGE_TYPE).is_none()
    }

    /// `Err(MalformedOptions)` if scanning the options hits a malformation
    /// (missing length byte, or an option running past its field).
    pub fn options_valid(&self) -> Result<()> {
        self.options().try_for_each(|r| r.map(drop))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// The fixed header for writing; `None` only for an unchecked view over
    /// fewer than `HEADER_LEN` bytes, in which case setters do nothing.
    fn hdr_mut(&mut self) -> Option<&mut [u8; HEADER_LEN]> {
        self.buffer.as_mut().first_chunk_mut::<HEADER_LEN>()
    }

    fn set_array<const N: usize>(&mut self, r: Field, v: [u8; N]) {
        if let Some(f) = self.hdr_mut().and_then(|h| sub_mut::<N>(h, r)) {
            *f = v;
        }
    }

    fn set_byte(&mut self, at: usize, v: u8) {
        self.set_array::<1>(at..at + 1, [v]);
    }

    /// Sets `op`.
    pub fn set_op(&mut self, v: u8) {
        self.set_byte(field::OP, v);
    }

    /// Sets `htype`.
    pub fn set_htype(&mut self, v: u8) {
        self.set_byte(field::HTYPE, v);
    }

    /// Sets `hlen`.
    pub fn set_hlen(&mut self, v: u8) {
        self.set_byte(field::HLEN, v);
    }

    /// Sets `hops`.
    pub fn set_hops(&mut self, v: u8) {
        self.set_byte(field::HOPS, v);
    }

    /// Sets `xid`.
    pub fn set_xid(&mut self, v: u32) {
        self.set_array(field::XID, v.to_be_bytes());
    }

    /// Sets `secs`.
    pub fn set_secs(&mut self, v: u16) {
        self.set_array(field::SECS, v.to_be_bytes());
    }

    /// Sets the whole `flags` field.
    pub fn set_flags(&mut self, v: u16) {
        self.set_array(field::FLAGS, v.to_be_bytes());
    }

    /// Sets or clears the BROADCAST bit of `flags`, keeping the others.
    pub fn set_broadcast_flag(&mut self, on: bool) {
        let f = self.flags();
        self.set_flags(if on {
            f | BROADCAST_FLAG
        } else {
            f & !BROADCAST_FLAG
        });
    }

    /// Sets `ciaddr`.
    pub fn set_ciaddr(&mut self, a: Ipv4Addr) {
        self.set_array(field::CIADDR, a.octets());
    }

    /// Sets `yiaddr`.
    pub fn set_yiaddr(&mut self, a: Ipv4Addr) {
        self.set_array(field::YIADDR, a.octets());
    }

    /// Sets `siaddr`.
    pub fn set_siaddr(&mut self, a: Ipv4Addr) {
        self.set_array(field::SIADDR, a.octets());
    }

    /// Sets `giaddr`.
    pub fn set_giaddr(&mut self, a: Ipv4Addr) {
        self.set_array(field::GIADDR, a.octets());
    }

    /// Sets all 16 bytes of `chaddr`.
    pub fn set_chaddr(&mut self, v: &[u8; 16]) {
        self.set_array(field::CHADDR, *v);
    }

    /// Sets `chaddr` to a MAC address followed by ten zero bytes.
    pub fn set_client_mac(&mut self, mac: MacAddr) {
        let mut c = [0u8; 16];
        c[..6].copy_from_slice(&mac.0);
        self.set_chaddr(&c);
    }

    /// Sets the raw 64-byte `sname` field.
    pub fn set_sname(&mut self, v: &[u8; 64]) {
        self.set_array(field::SNAME, *v);
    }

    /// Sets the raw 128-byte `file` field.
    pub fn set_file(&mut self, v: &[u8; 128]) {
        self.set_array(field::FILE, *v);
    }

    /// Writes the magic cookie.
    pub fn set_cookie(&mut self) {
        self.set_array(field::COOKIE, MAGIC_COOKIE);
    }
}

/// Which field the option scanner is in; fields are visited in this order,
/// each at most once (RFC 2131 §4.1 and BusyBox: options, file, sname).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Area {
    Options,
    File,
    Sname,
    Done,
}

/// True if `field` holds a zero-length `code` before END or its end.
fn field_has_empty(mut rest: &[u8], code: u8) -> bool {
    while let Some((&c, tail)) = rest.split_first() {
        match c {
            code::PAD => {
                rest = tail;
                continue;
            }
            code::END => return false,
            _ => {}
        }
        let Some((&len, data)) = tail.split_first() else {
            return false;
        };
        if c == code && len == 0 {
            return true;
        }
        let Some(next) = data.get(usize::from(len)..) else {
            return false;
        };
        rest = next;
    }
    false
}

/// Iterator over the options of a message, in scan order; yields
/// `Ok((code, data))`.
///
/// Rules (RFC 2132 §2, §9.3; BusyBox `udhcp_scan_options`):
/// - PAD (0) is skipped; END (255) ends the current field, as does reaching
///   its exact end without END (accepted silently, as BOOTP allows).
/// - After the options field, `file` is scanned if the overload bits have
///   [`OVERLOAD_FILE`], then `sname` if they have [`OVERLOAD_SNAME`]. Each
///   field is scanned at most once, so no overload value can cause a loop.
/// - Option 52 is consumed: its first data byte is OR-ed into the overload
///   bits (several 52s accumulate), it is never yielded.
/// - Zero-length options are skipped (BusyBox ≥ 1.34: a zero-length option
///   12 from TrendNet routers used to hide the router and DNS options).
/// - A code without a length byte, or data running past the end of its
///   field, yields `Err(MalformedOptions)` exactly once, then `None`;
///   options already yielded remain valid.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// Unscanned bytes of the current field.
    rest: &'a [u8],
    file: &'a [u8],
    sname: &'a [u8],
    area: Area,
    overload: u8,
}

impl<'a> Options<'a> {
    fn new(options: &'a [u8], file: &'a [u8], sname: &'a [u8]) -> Self {
        Options {
            rest: options,
            file,
            sname,
            area: Area::Options,
            overload: 0,
        }
    }

    /// Overload bits accumulated from the option-52 instances seen so far.
    pub fn overload(&self) -> u8 {
        self.overload
    }

    /// Moves to the next field the overload bits allow; `false` when done.
    fn advance(&mut self) -> bool {
        let next = match self.area {
            Area::Options if self.overload & OVERLOAD_FILE != 0 => Area::File,
            Area::Options | Area::File if self.overload & OVERLOAD_SNAME != 0 => Area::Sname,
            _ => Area::Done,
        };
        self.area = next;
        self.rest = match next {
            Area::File => self.file,
            Area::Sname => self.sname,
            Area::Options | Area::Done => &[],
        };
        next != Area::Done
    }

    fn fail(&mut self) -> Option<Result<(u8, &'a [u8])>> {
        self.area = Area::Done;
        self.rest = &[];
        Some(Err(Error::MalformedOptions))
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((&c, after_code)) = self.rest.split_first() else {
                // Exact end of the field without END: accepted.
                if self.advance() {
                    continue;
                }
                return None;
            };
            match c {
                code::PAD => self.rest = after_code,
                code::END => {
                    if !self.advance() {
                        return None;
                    }
                }
                _ => {
                    let Some((&len, after_len)) = after_code.split_first() else {
                        return self.fail();
                    };
                    let Some((data, after)) = after_len.split_at_checked(usize::from(len)) else {
                        return self.fail();
                    };
                    self.rest = after;
                    match (c, data.first()) {
                        // Zero-length option: skipped. This includes a 52
                        // with no data byte (busybox f11c6989b).
                        (_, None) => {}
                        (code::OVERLOAD, Some(&bits)) => self.overload |= bits,
                        _ => return Some(Ok((c, data))),
                    }
                }
            }
        }
    }
}

impl FusedIterator for Options<'_> {}

/// Where the builder's next option goes: the options field, or (with
/// overload enabled) the `file` then `sname` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    area: Area,
    /// Bytes used in the options field (including a 3-byte option 52 once
    /// overload is in use); END is not counted.
    used: usize,
    file_used: usize,
    sname_used: usize,
    /// Overload bits in use; non-zero means option 52 sits at the start of
    /// the options field.
    overload: u8,
}

/// Length of the option-52 instance the builder puts first when it spills
/// options into `file`/`sname`.
const OVERLOAD_OPT_LEN: usize = 3;

/// Writes one DHCP message into a caller buffer without allocating.
///
/// [`MessageBuilder::new`] zeroes the header and sets `op`, `htype` = 1,
/// `hlen` = 6, `xid` and the cookie. Header setters can then be called in any
/// order; options are appended in call order; [`MessageBuilder::finish`]
/// writes END, pads to [`MIN_BOOTP_LEN`], and returns the length to send.
///
/// The message never exceeds the size limit ([`DEFAULT_MAX_LEN`] = 548 by
/// default, i.e. 308 bytes of options including END, as BusyBox; see
/// [`MessageBuilder::max_len`]). An option that does not fit is refused with
/// [`Error::NoSpace`] and leaves the message unchanged.
///
/// Option overload (RFC 2132 §9.3) is off by default, as in BusyBox; with
/// [`MessageBuilder::allow_overload`] options that do not fit continue in
/// `file` and then `sname`, when those fields are empty.
#[derive(Debug)]
pub struct MessageBuilder<'a> {
    hdr: &'a mut [u8; HEADER_LEN],
    /// Everything after the cookie: the options field.
    opts: &'a mut [u8],
    /// Usable bytes of `opts` (size limit − 240), END included.
    limit: usize,
    cur: Cursor,
    overload_ok: bool,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a message in `buf`: zeroes the header, sets `op`, `htype` 1,
    /// `hlen` 6, `xid` and the magic cookie. The options field starts empty.
    /// `buf` shorter than [`MIN_BOOTP_LEN`] → [`Error::NoSpace`].
    pub fn new(buf: &'a mut [u8], op: u8, xid: u32) -> Result<Self> {
        let total = buf.len();
        if total < MIN_BOOTP_LEN {
            return Err(Error::NoSpace);
        }
        let Some((hdr, opts)) = buf.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(Error::NoSpace);
        };
        hdr.fill(0);
        let mut b = MessageBuilder {
            hdr,
            opts,
            limit: total.min(DEFAULT_MAX_LEN) - HEADER_LEN,
            cur: Cursor {
                area: Area::Options,
                used: 0,
                file_used: 0,
                sname_used: 0,
                overload: 0,
            },
            overload_ok: false,
        };
        let mut h = b.header();
        h.set_op(op);
        h.set_htype(HTYPE_ETHERNET);
        h.set_hlen(6);
        h.set_xid(xid);
        h.set_cookie();
        Ok(b)
    }

    /// Starts a BOOTREPLY to `request` the way BusyBox's server `init_packet`
    /// does: copies `xid`, `flags`, `ciaddr`, `giaddr` and all 16 bytes of
    /// `chaddr`; `op` = 2, `htype` 1, `hlen` 6.
    pub fn reply_to<T: AsRef<[u8]>>(buf: &'a mut [u8], request: &Packet<T>) -> Result<Self> {
        let mut b = Self::new(buf, OP_REPLY, request.xid())?;
        let mut h = b.header();
        h.set_flags(request.flags());
        h.set_ciaddr(request.ciaddr());
        h.set_giaddr(request.giaddr());
        h.set_chaddr(request.chaddr());
        Ok(b)
    }

    fn put<const N: usize>(&mut self, r: Field, v: [u8; N]) {
        if let Some(f) = sub_mut::<N>(self.hdr, r) {
            *f = v;
        }
    }

    /// The fixed header (`op` … cookie) as a [`Packet`] view, so a reply is
    /// filled in with the same setters a received message has:
    /// `b.header().set_yiaddr(addr)`. `sname` and `file` are set through
    /// [`set_sname`](Self::set_sname)/[`set_file`](Self::set_file) instead,
    /// because option overload may own them.
    pub fn header(&mut self) -> Packet<&mut [u8; HEADER_LEN]> {
        Packet::new_unchecked(&mut *self.hdr)
    }

    /// Sets `sname` from a name, truncated to 63 bytes so a NUL always ends
    /// it (as BusyBox copies the `sname` config keyword). `Err(NoSpace)` if
    /// the field already carries overloaded options.
    pub fn set_sname(&mut self, name: &[u8]) -> Result<&mut Self> {
        if self.cur.overload & OVERLOAD_SNAME != 0 {
            return Err(Error::NoSpace);
        }
        let mut f = [0u8; 64];
        for (d, s) in f.iter_mut().take(63).zip(name) {
            *d = *s;
        }
        self.put(field::SNAME, f);
        Ok(self)
    }

    /// Sets `file` from a name, truncated to 127 bytes so a NUL always ends
    /// it (as BusyBox copies `boot_file`). `Err(NoSpace)` if the field
    /// already carries overloaded options.
    pub fn set_file(&mut self, name: &[u8]) -> Result<&mut Self> {
        if self.cur.overload & OVERLOAD_FILE != 0 {
            return Err(Error::NoSpace);
        }
        let mut f = [0u8; 128];
        for (d, s) in f.iter_mut().take(127).zip(name) {
            *d = *s;
        }
        self.put(field::FILE, f);
        Ok(self)
    }

    /// Limits the total message length to `n` bytes (e.g. 548 = 576 − 28
    /// when a peer's option 57 says 576). Clamped to at least
    /// [`MIN_BOOTP_LEN`] and to what is already written, and to at most the
    /// buffer length and [`MAX_LEN`].
    pub fn max_len(&mut self, n: usize) -> &mut Self {
        let hi = (HEADER_LEN + self.opts.len()).min(MAX_LEN);
        let lo = MIN_BOOTP_LEN.max(HEADER_LEN + self.cur.used + 1);
        self.limit = n.max(lo).min(hi) - HEADER_LEN;
        self
    }

    /// Lets options that do not fit in the options field continue in `file`
    /// and then `sname` (RFC 2132 §9.3), when those fields are still all
    /// zero; option 52 is then inserted first in the options field. Off by
    /// default (BusyBox never overloads). Turning it off later does not move
    /// options already placed. While it is on the builder owns option 52:
    /// do not add one yourself.
    pub fn allow_overload(&mut self, on: bool) -> &mut Self {
        self.overload_ok = on;
        self
    }

    /// Bytes still free in the options field for option data and headers
    /// (END excluded), before any overload.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.cur.used + 1)
    }

    /// The total length [`MessageBuilder::finish`] would return now.
    pub fn len(&self) -> usize {
        (HEADER_LEN + self.cur.used + 1).max(MIN_BOOTP_LEN)
    }

    /// Always false: a message has at least its header. (For clippy's
    /// `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where an option instance of `n` bytes (code + length + data) goes,
    /// moving `cur` on; the same deterministic walk is first run on a copy so
    /// that [`MessageBuilder::add_option`] is all-or-nothing.
    fn place(&self, cur: &mut Cursor, n: usize) -> Result<(Area, usize)> {
        loop {
            match cur.area {
                Area::Options => {
                    if cur.used + n < self.limit {
                        cur.used += n;
                        return Ok((Area::Options, cur.used - n));
                    }
                    // Spilling needs room for option 52 (and END) up front.
                    if !self.overload_ok || cur.used + OVERLOAD_OPT_LEN >= self.limit {
                        return Err(Error::NoSpace);
                    }
                    cur.used += OVERLOAD_OPT_LEN;
                    cur.area = Area::File;
                }
                Area::File => {
                    // Options already placed here keep the field ours.
                    let free = cur.file_used > 0 || sub::<128>(self.hdr, field::FILE) == &[0; 128];
                    if free && cur.file_used + n < 128 {
                        cur.file_used += n;
                        cur.overload |= OVERLOAD_FILE;
                        return Ok((Area::File, cur.file_used - n));
                    }
                    if !self.overload_ok {
                        return Err(Error::NoSpace);
                    }
                    cur.area = Area::Sname;
                }
                Area::Sname => {
                    let free = cur.sname_used > 0 || sub::<64>(self.hdr, field::SNAME) == &[0; 64];
                    if free && cur.sname_used + n < 64 {
                        cur.sname_used += n;
                        cur.overload |= OVERLOAD_SNAME;
                        return Ok((Area::Sname, cur.sname_used - n));
                    }
                    return Err(Error::NoSpace);
                }
                Area::Done => return Err(Error::NoSpace),
            }
        }
    }

    /// Appends option `code` with `data`. Data longer than 255 bytes is split
    /// into consecutive instances of the same code (RFC 3396), which a
    /// receiver concatenates. If it does not all fit (keeping room for END),
    /// returns `Err(NoSpace)` and nothing is written. PAD and END are not
    /// options → `Err(Unrecognized)`; so is 52 while overload is allowed (the
    /// builder owns it then).
    pub fn add_option(&mut self, code: u8, data: &[u8]) -> Result<()> {
        if code == code::PAD || code == code::END || (code == code::OVERLOAD && self.overload_ok) {
            return Err(Error::Unrecognized);
        }
        // An empty option is still one (zero-length) instance, e.g. Rapid
        // Commit (RFC 4039).
        let chunks = || data.chunks(255).chain(data.is_empty().then_some(&[][..]));
        let mut trial = self.cur;
        let whole =
            chunks().try_for_each(|chunk| self.place(&mut trial, 2 + chunk.len()).map(|_| ()));
        if whole.is_err() {
            if !self.overload_ok || data.is_empty() {
                return Err(Error::NoSpace);
            }
            return self.add_split(code, data);
        }
        // Same walk again, now writing; it cannot fail after the trial (the
        // `?`s below come before any write).
        for chunk in chunks() {
            let mut cur = self.cur;
            let before = cur.overload;
            let (area, at) = self.place(&mut cur, 2 + chunk.len())?;
            self.commit_instance(code, chunk, before, cur, area, at);
        }
        Ok(())
    }

    /// Writes one placed instance and moves the cursor to `cur`.
    fn commit_instance(
        &mut self,
        code: u8,
        chunk: &[u8],
        before: u8,
        cur: Cursor,
        area: Area,
        at: usize,
    ) {
        let len = u8::try_from(chunk.len()).unwrap_or(u8::MAX);
        if before == 0 && cur.overload != 0 {
            // First spill: move what is in the options field up by three
            // bytes so option 52 comes first (RFC 2132 §9.3 wants it in
            // the options field; first keeps it out of the way of END).
            let used = self.cur.used;
            if let Some(region) = self.opts.get_mut(..used + OVERLOAD_OPT_LEN) {
                region.copy_within(..used, OVERLOAD_OPT_LEN);
            }
        }
        if cur.overload != 0 {
            self.write_opts(0, &[code::OVERLOAD, 1, cur.overload]);
        }
        self.cur = cur;
        self.write_area(area, at, &[code, len]);
        self.write_area(area, at + 2, chunk);
    }

    /// Bytes an instance (code + length + data) may take in the cursor's
    /// current area, keeping room for END and, in the options field, for
    /// the option 52 a spill needs.
    fn room(&self, cur: &Cursor) -> usize {
        match cur.area {
            Area::Options => self.limit.saturating_sub(cur.used + 1 + OVERLOAD_OPT_LEN),
            Area::File => {
                let free = cur.file_used > 0 || sub::<128>(self.hdr, field::FILE) == &[0; 128];
                if free {
                    127 - cur.file_used
                } else {
                    0
                }
            }
            Area::Sname => {
                let free = cur.sname_used > 0 || sub::<64>(self.hdr, field::SNAME) == &[0; 64];
                if free {
                    63 - cur.sname_used
                } else {
                    0
                }
            }
            Area::Done => 0,
        }
    }

    /// Moves the cursor to the next area as [`MessageBuilder::place`]
    /// does when an instance does not fit.
    fn advance(&self, cur: &mut Cursor) -> Result<()> {
        match cur.area {
            Area::Options => {
                if cur.used + OVERLOAD_OPT_LEN >= self.limit {
                    return Err(Error::NoSpace);
                }
                cur.used += OVERLOAD_OPT_LEN;
                cur.area = Area::File;
            }
            Area::File => cur.area = Area::Sname,
            Area::Sname | Area::Done => return Err(Error::NoSpace),
        }
        Ok(())
    }

    /// RFC 3396 §7 lets a long option be split into instances of any
    /// size: with overload on, one that does not fit as 255-byte
    /// instances fills what is left of each area (options, `file`,
    /// `sname`) in turn. All or nothing, as [`MessageBuilder::add_option`].
    fn add_split(&mut self, code: u8, data: &[u8]) -> Result<()> {
        /// Most instances one option takes this way.
        const MAX_PARTS: usize = 16;
        // (advance to the next area first, instance data length)
        let mut plan = [(false, 0usize); MAX_PARTS];
        let mut parts = 0;
        let mut trial = self.cur;
        let mut rest = data.len();
        while rest > 0 {
            let mut adv = false;
            while self.room(&trial) < 3 {
                self.advance(&mut trial)?;
                adv = true;
            }
            let len = rest.min(255).min(self.room(&trial) - 2);
            self.place(&mut trial, 2 + len)?;
            let slot = plan.get_mut(parts).ok_or(Error::NoSpace)?;
            *slot = (adv, len);
            parts += 1;
            rest -= len;
        }
        let mut off = 0;
        for &(adv, len) in plan.get(..parts).unwrap_or_default() {
            let mut cur = self.cur;
            if adv {
                while self.room(&cur) < 3 {
                    self.advance(&mut cur)?;
                }
            }
            let before = cur.overload;
            let (area, at) = self.place(&mut cur, 2 + len)?;
            let chunk = data.get(off..off + len).ok_or(Error::NoSpace)?;
            self.commit_instance(code, chunk, before, cur, area, at);
            off += len;
        }
        Ok(())
    }

    fn write_opts(&mut self, at: usize, bytes: &[u8]) {
        if let Some(d) = self.opts.get_mut(at..at + bytes.len()) {
            d.copy_from_slice(bytes);
        }
    }

    fn write_area(&mut self, area: Area, at: usize, bytes: &[u8]) {
        let dst = match area {
            Area::Options => return self.write_opts(at, bytes),
            Area::File => self.hdr.get_mut(field::FILE),
            Area::Sname => self.hdr.get_mut(field::SNAME),
            Area::Done => None,
        };
        if let Some(d) = dst.and_then(|f| f.get_mut(at..at + bytes.len())) {
            d.copy_from_slice(bytes);
        }
    }

    /// Appends a one-byte option.
    pub fn add_u8(&mut self, code: u8, v: u8) -> Result<()> {
        self.add_option(code, &[v])
    }

    /// Appends a 16-bit big-endian option (e.g. 57 maximum message size).
    pub fn add_u16(&mut self, code: u8, v: u16) -> Result<()> {
        self.add_option(code, &v.to_be_bytes())
    }

    /// Appends a 32-bit big-endian option (e.g. 51 lease time).
    pub fn add_u32(&mut self, code: u8, v: u32) -> Result<()> {
        self.add_option(code, &v.to_be_bytes())
    }

    /// Appends an address option (e.g. 54 server identifier).
    pub fn add_ipv4(&mut self, code: u8, a: Ipv4Addr) -> Result<()> {
        self.add_option(code, &a.octets())
    }

    /// Appends option 53, DHCP Message Type. BusyBox puts it first; call
    /// this before the other options to match.
    pub fn add_message_type(&mut self, t: MessageType) -> Result<()> {
        self.add_u8(code::MESSAGE_TYPE, t as u8)
    }

    /// Writes END (in every field that carries options), zero-pads to
    /// [`MIN_BOOTP_LEN`], and returns the message length: up to and including
    /// the END byte of the options field, but never less than 300.
    pub fn finish(mut self) -> usize {
        let cur = self.cur;
        self.write_opts(cur.used, &[code::END]);
        if cur.overload & OVERLOAD_FILE != 0 {
            self.write_area(Area::File, cur.file_used, &[code::END]);
        }
        if cur.overload & OVERLOAD_SNAME != 0 {
            self.write_area(Area::Sname, cur.sname_used, &[code::END]);
        }
        let total = self.len();
        if let Some(pad) = self.opts.get_mut(cur.used + 1..total - HEADER_LEN) {
            pad.fill(0);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_flag_options_found_though_the_scanner_skips_them() {
        let p = |o: &[u8]| raw(o);
        let has = |v: &Vec<u8>| Packet::new_checked(&v[..]).unwrap().has_empty_option(80);
        assert!(has(&p(&[53, 1, 5, 80, 0, 255])));
        assert!(has(&p(&[0, 0, 80, 0])));
        let v = p(&[53, 1, 5, 80, 0, 255]);
        assert_eq!(Packet::new_checked(&v[..]).unwrap().option(80), None);
        assert!(
            !has(&p(&[53, 1, 5, 80, 1, 7, 255])),
            "non-empty is not the flag"
        );
        assert!(!has(&p(&[53, 1, 5, 255, 80, 0])), "after END");
        assert!(!has(&p(&[12, 200, 80, 0])), "inside a truncated option");
        assert!(!has(&p(&[53, 1, 5])));
        // In `file` when option 52 says so.
        let mut v = p(&[52, 1, 1, 255]);
        v[field::FILE.start] = 80;
        v[field::FILE.start + 1] = 0;
        assert!(has(&v));
        let mut v = p(&[255]);
        v[field::FILE.start] = 80;
        assert!(!has(&v), "file not overloaded");
    }

    /// A minimal valid message: header + cookie + `opts`, padded to 300.
    fn raw(opts: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN];
        v[0] = 1;
        v[1] = 1;
        v[2] = 6;
        v[field::COOKIE].copy_from_slice(&MAGIC_COOKIE);
        v.extend_from_slice(opts);
        if v.len() < MIN_BOOTP_LEN {
            v.resize(MIN_BOOTP_LEN, 0);
        }
        v
    }

    fn collect(p: &Packet<&[u8]>) -> Vec<Result<(u8, Vec<u8>)>> {
        p.options()
            .map(|r| r.map(|(c, d)| (c, d.to_vec())))
            .collect()
    }

    fn oks(p: &Packet<&[u8]>) -> Vec<(u8, Vec<u8>)> {
        collect(p).into_iter().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn field_ranges_match_rfc2131_layout() {
        let ranges = [
            (field::XID, 4),
            (field::SECS, 2),
            (field::FLAGS, 2),
            (field::CIADDR, 4),
            (field::YIADDR, 4),
            (field::SIADDR, 4),
            (field::GIADDR, 4),
            (field::CHADDR, 16),
            (field::SNAME, 64),
            (field::FILE, 128),
            (field::COOKIE, 4),
        ];
        let mut at = 4;
        for (r, len) in ranges {
            assert_eq!(r.start, at);
            assert_eq!(r.len(), len);
            at = r.end;
        }
        assert_eq!(at, HEADER_LEN);
        // Distinct non-zero markers prove `sub` never took its fallback.
        let mut b = raw(&[255]);
        for (i, x) in b[..236].iter_mut().enumerate() {
            *x = i as u8 | 1;
        }
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.xid(), u32::from_be_bytes([5, 5, 7, 7]));
        assert_eq!(p.chaddr()[0], 29);
        assert_eq!(p.sname()[63], 107);
        assert_eq!(p.file()[127], 235);
    }

    #[test]
    fn message_type_names_and_values() {
        let names = [
            "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM",
        ];
        for (i, name) in names.iter().enumerate() {
            let t = MessageType::from_u8(i as u8 + 1).unwrap();
            assert_eq!(t as u8, i as u8 + 1);
            assert_eq!(t.to_string(), *name);
        }
        assert_eq!(MessageType::from_u8(0), None);
        assert_eq!(MessageType::from_u8(9), None);
        assert_eq!(MessageType::from_u8(255), None);
    }

    #[test]
    fn round_trip_every_message_type() {
        for t in 1..=8u8 {
            let t = MessageType::from_u8(t).unwrap();
            let mut buf = [0xaau8; 600];
            let op = match t {
                MessageType::Offer | MessageType::Ack | MessageType::Nak => OP_REPLY,
                _ => OP_REQUEST,
            };
            let mut b = MessageBuilder::new(&mut buf, op, 0xdead_beef ^ t as u32).unwrap();
            let mut h = b.header();
            h.set_secs(7);
            h.set_broadcast_flag(true);
            h.set_hops(2);
            h.set_ciaddr(ip("10.0.0.1"));
            h.set_yiaddr(ip("10.0.0.2"));
            h.set_siaddr(ip("10.0.0.3"));
            h.set_giaddr(ip("10.0.0.4"));
            h.set_client_mac(MacAddr(MAC));
            b.set_sname(b"server").unwrap();
            b.set_file(b"pxelinux.0").unwrap();
            b.add_message_type(t).unwrap();
            b.add_ipv4(code::SERVER_ID, ip("10.0.0.254")).unwrap();
            b.add_u32(code::LEASE_TIME, 3600).unwrap();
            b.add_u16(code::MAX_MESSAGE_SIZE, 576).unwrap();
            b.add_option(code::HOSTNAME, b"box").unwrap();
            b.add_option(code::PARAM_REQUEST_LIST, &[1, 3, 6]).unwrap();
            let n = b.finish();
            assert!(n >= MIN_BOOTP_LEN);
            let p = Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(p.op(), op);
            assert_eq!(p.htype(), 1);
            assert_eq!(p.hlen(), 6);
            assert_eq!(p.hops(), 2);
            assert_eq!(p.xid(), 0xdead_beef ^ t as u32);
            assert_eq!(p.secs(), 7);
            assert_eq!(p.flags(), BROADCAST_FLAG);
            assert!(p.broadcast_flag());
            assert_eq!(p.ciaddr(), ip("10.0.0.1"));
            assert_eq!(p.yiaddr(), ip("10.0.0.2"));
            assert_eq!(p.siaddr(), ip("10.0.0.3"));
            assert_eq!(p.giaddr(), ip("10.0.0.4"));
            assert_eq!(p.client_mac(), MacAddr(MAC));
            assert_eq!(&p.chaddr()[6..], &[0; 10]);
            assert_eq!(p.sname_str(), b"server");
            assert_eq!(p.file_str(), b"pxelinux.0");
            assert_eq!(p.cookie(), MAGIC_COOKIE);
            assert_eq!(p.message_type(), Some(t));
            assert!(!p.is_bootp());
            assert_eq!(p.overload(), 0);
            assert_eq!(p.options_valid(), Ok(()));
            assert_eq!(
                oks(&p),
                vec![
                    (53, vec![t as u8]),
                    (54, vec![10, 0, 0, 254]),
                    (51, 3600u32.to_be_bytes().to_vec()),
                    (57, vec![2, 64]),
                    (12, b"box".to_vec()),
                    (55, vec![1, 3, 6]),
                ]
            );
            assert_eq!(p.option_ipv4(code::SERVER_ID), Some(ip("10.0.0.254")));
            assert_eq!(p.option_u32(code::LEASE_TIME), Some(3600));
            assert_eq!(p.option_u16(code::MAX_MESSAGE_SIZE), Some(576));
            assert_eq!(p.option(code::ROUTER), None);
            // Padding after END is zero even though the buffer was dirty.
            assert!(buf[..n]
                .iter()
                .rev()
                .take_while(|&&b| b != 255)
                .all(|&b| b == 0));
        }
    }

    #[test]
    fn golden_busybox_discover() {
        let mut golden = vec![0u8; 300];
        golden[..12].copy_from_slice(&[1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        golden[28..34].copy_from_slice(&MAC);
        golden[236..240].copy_from_slice(&[0x63, 0x82, 0x53, 0x63]);
        let opts: &[u8] = &[
            0x35, 0x01, 0x01, // 53 DISCOVER
            0x39, 0x02, 0x02, 0x40, // 57 max size 576
            0x37, 0x07, 0x01, 0x03, 0x06, 0x0c, 0x0f, 0x1c, 0x2a, // 55 PRL
            0x3d, 0x07, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // 61 client-id
            0xff, // END
        ];
        golden[240..240 + opts.len()].copy_from_slice(opts);

        let mut buf = [0x55u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REQUEST, 0x1234_5678).unwrap();
        b.header().set_client_mac(MacAddr(MAC));
        b.add_message_type(MessageType::Discover).unwrap();
        b.add_u16(code::MAX_MESSAGE_SIZE, 576).unwrap();
        b.add_option(code::PARAM_REQUEST_LIST, &[1, 3, 6, 12, 15, 28, 42])
            .unwrap();
        let mut cid = vec![1u8];
        cid.extend_from_slice(&MAC);
        b.add_option(code::CLIENT_ID, &cid).unwrap();
        let n = b.finish();
        assert_eq!(n, 300);
        assert_eq!(&buf[..n], &golden[..]);
    }

    #[test]
    fn reply_to_copies_busybox_init_packet_fields() {
        let mut req = [0u8; 548];
        let mut b = MessageBuilder::new(&mut req, OP_REQUEST, 42).unwrap();
        let mut h = b.header();
        h.set_flags(BROADCAST_FLAG);
        h.set_ciaddr(ip("1.2.3.4"));
        h.set_giaddr(ip("5.6.7.8"));
        h.set_chaddr(&[9; 16]);
        h.set_secs(3);
        b.add_message_type(MessageType::Request).unwrap();
        let n = b.finish();
        let req = Packet::new_checked(&req[..n]).unwrap();
        let mut out = [0u8; 548];
        let b = MessageBuilder::reply_to(&mut out, &req).unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&out[..n]).unwrap();
        assert_eq!((p.op(), p.xid(), p.flags()), (OP_REPLY, 42, BROADCAST_FLAG));
        assert_eq!((p.ciaddr(), p.giaddr()), (ip("1.2.3.4"), ip("5.6.7.8")));
        assert_eq!(p.chaddr(), &[9; 16]);
        assert_eq!(p.secs(), 0);
        assert!(p.is_bootp());
    }

    #[test]
    fn packet_setters_round_trip() {
        let mut v = raw(&[255]);
        let mut p = Packet::new_checked(&mut v[..]).unwrap();
        p.set_op(2);
        p.set_htype(6);
        p.set_hlen(16);
        p.set_hops(1);
        p.set_xid(0x0102_0304);
        p.set_secs(0xffff);
        p.set_flags(0x0001);
        p.set_broadcast_flag(true);
        p.set_ciaddr(ip("1.1.1.1"));
        p.set_yiaddr(ip("2.2.2.2"));
        p.set_siaddr(ip("3.3.3.3"));
        p.set_giaddr(ip("4.4.4.4"));
        p.set_client_mac(MacAddr(MAC));
        p.set_sname(&[b'a'; 64]);
        p.set_file(&[b'b'; 128]);
        p.set_cookie();
        assert_eq!((p.op(), p.htype(), p.hlen(), p.hops()), (2, 6, 16, 1));
        assert_eq!(
            (p.xid(), p.secs(), p.flags()),
            (0x0102_0304, 0xffff, 0x8001)
        );
        p.set_broadcast_flag(false);
        assert_eq!(p.flags(), 1);
        assert_eq!(
            (p.ciaddr(), p.yiaddr(), p.siaddr(), p.giaddr()),
            (ip("1.1.1.1"), ip("2.2.2.2"), ip("3.3.3.3"), ip("4.4.4.4"))
        );
        assert_eq!(p.client_mac(), MacAddr(MAC));
        // No NUL: the whole field is the name.
        assert_eq!(p.sname_str(), &[b'a'; 64]);
        assert_eq!(p.file_str(), &[b'b'; 128]);
        assert!(p.check_len().is_ok());
        let v = p.into_inner();
        assert_eq!(v.len(), 300);
    }

    #[test]
    fn unchecked_short_view_never_panics() {
        let mut short = [0xffu8; 10];
        let mut p = Packet::new_unchecked(&mut short[..]);
        assert_eq!(p.check_len(), Err(Error::Truncated));
        p.set_xid(1);
        p.set_client_mac(MacAddr(MAC));
        assert_eq!(p.xid(), 0);
        assert_eq!(p.options().count(), 0);
        assert_eq!(short, [0xff; 10]);
    }

    // ---- option overload (RFC 2132 §9.3) ----

    /// Options field with 52=`ov`, file and sname carrying options + END.
    fn overloaded(ov: &[u8], main: &[u8], file: &[u8], sname: &[u8]) -> Vec<u8> {
        let mut opts = ov.to_vec();
        opts.extend_from_slice(main);
        opts.push(255);
        let mut v = raw(&opts);
        v[field::FILE][..file.len()].copy_from_slice(file);
        v[field::SNAME][..sname.len()].copy_from_slice(sname);
        v
    }

    #[test]
    fn overload_both_scans_options_file_sname_in_order() {
        let v = overloaded(
            &[52, 1, 3],
            &[53, 1, 5, 0, 0],
            &[3, 4, 10, 0, 0, 1, 255, 6, 4, 9, 9, 9, 9],
            &[0, 1, 4, 255, 255, 255, 0, 255, 12, 1, b'x'],
        );
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(
            oks(&p),
            vec![
                (53, vec![5]),
                (3, vec![10, 0, 0, 1]),
                (1, vec![255, 255, 255, 0]),
            ]
        );
        assert_eq!(p.overload(), 3);
        assert_eq!(p.option(code::HOSTNAME), None, "after END in sname");
        assert_eq!(p.option_ipv4(code::SUBNET_MASK), Some(ip("255.255.255.0")));
    }

    #[test]
    fn overload_file_only() {
        let v = overloaded(
            &[52, 1, 1],
            &[],
            &[3, 4, 10, 0, 0, 1, 255],
            &[1, 4, 255, 0, 0, 0, 255],
        );
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(oks(&p), vec![(3, vec![10, 0, 0, 1])]);
        // sname text is untouched by the scan (the field is a name here).
        assert_eq!(p.sname_str(), &[1, 4, 255]);
    }

    #[test]
    fn repeated_overload_options_accumulate() {
        let v = overloaded(
            &[52, 1, 1, 52, 1, 2],
            &[],
            &[3, 4, 10, 0, 0, 1, 255],
            &[6, 4, 8, 8, 8, 8, 255],
        );
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(oks(&p), vec![(3, vec![10, 0, 0, 1]), (6, vec![8, 8, 8, 8])]);
        assert_eq!(p.overload(), 3);
        // A 52 met inside `file` asking for `file` again does not rescan it,
        // and one asking for sname still reaches sname.
        let v = overloaded(
            &[52, 1, 1],
            &[],
            &[52, 1, 3, 3, 1, 7, 255],
            &[52, 1, 3, 6, 1, 8, 255],
        );
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(oks(&p), vec![(3, vec![7]), (6, vec![8])]);
    }

    #[test]
    fn every_overloaded_field_without_end_is_scanned_once() {
        // Every field without END, all overloaded: each still scanned once.
        let mut v = raw(&[52, 1, 3, 1, 1, 1]);
        v.truncate(246);
        v[field::FILE].fill(0);
        v[field::FILE][..3].copy_from_slice(&[2, 1, 2]);
        v[field::SNAME][..3].copy_from_slice(&[4, 1, 4]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(oks(&p), vec![(1, vec![1]), (2, vec![2]), (4, vec![4])]);
    }

    #[test]
    fn overload_with_rfc3396_split_concatenates_across_fields() {
        let v = overloaded(
            &[52, 1, 3],
            &[121, 3, 1, 2, 3],
            &[121, 2, 4, 5, 255],
            &[121, 1, 6, 255],
        );
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.option_concat(121), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(p.option(121), Some(&[1u8, 2, 3][..]));
        assert_eq!(p.option_concat(120), None);
    }

    #[test]
    fn builder_overload_round_trips() {
        let mut buf = [0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 9).unwrap();
        b.allow_overload(true);
        b.add_message_type(MessageType::Ack).unwrap();
        assert_eq!(b.add_option(code::OVERLOAD, &[1]), Err(Error::Unrecognized));
        let big: Vec<u8> = (0..=255u8).cycle().take(290).collect();
        b.add_option(121, &big).unwrap(); // 255 in options, 35 in options
                                          // 3 + 257 + 37 = 297 bytes used; 102 more do not fit in 308.
        assert_eq!(
            b.add_option(43, &[7; 200]),
            Err(Error::NoSpace),
            "fits nowhere"
        );
        b.add_option(224, &[1; 100]).unwrap(); // → file (52 inserted first)
        b.add_option(225, &[2; 50]).unwrap(); // file full → sname
        b.add_option(226, &[3; 5]).unwrap(); // stays in sname, keeping order
        assert_eq!(b.set_file(b"x").err(), Some(Error::NoSpace));
        assert_eq!(b.set_sname(b"x").err(), Some(Error::NoSpace));
        let n = b.finish();
        assert!(n <= DEFAULT_MAX_LEN);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.overload(), 3);
        assert_eq!(&buf[240..243], &[52, 1, 3], "option 52 comes first");
        assert_eq!(p.message_type(), Some(MessageType::Ack));
        assert_eq!(p.option_concat(121), Some(big));
        assert_eq!(p.option(43), None);
        assert_eq!(p.option(226), Some(&[3u8; 5][..]));
        assert_eq!(p.option(224), Some(&[1u8; 100][..]));
        assert_eq!(p.option(225), Some(&[2u8; 50][..]));
        let codes: Vec<u8> = oks(&p).iter().map(|o| o.0).collect();
        assert_eq!(codes, [53, 121, 121, 224, 225, 226]);
    }

    #[test]
    fn builder_overload_skips_fields_in_use_and_keeps_order() {
        let mut buf = [0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 9).unwrap();
        b.set_file(b"boot.img").unwrap();
        b.allow_overload(true);
        b.add_option(200, &[0; 250]).unwrap();
        b.add_option(201, &[1; 40]).unwrap(); // 252 + 42 + 1 ≤ 308
                                              // 22 bytes do not fit in the options field; `file` is taken, so
                                              // they go to sname, and a later 3-byte option (which would still fit
                                              // in the options field) follows them there to keep scan order.
        b.add_option(202, &[2; 20]).unwrap();
        b.add_option(203, &[3; 1]).unwrap();
        assert_eq!(b.add_option(204, &[4; 40]), Err(Error::NoSpace));
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.overload(), OVERLOAD_SNAME);
        assert_eq!(p.file_str(), b"boot.img");
        let codes: Vec<u8> = oks(&p).iter().map(|o| o.0).collect();
        assert_eq!(codes, [200, 201, 202, 203]);
    }

    #[test]
    fn builder_without_overload_leaves_options_where_busybox_does() {
        let mut buf = [0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 9).unwrap();
        b.allow_overload(true);
        b.add_option(200, &[0; 10]).unwrap();
        let n = b.finish();
        assert_eq!(
            &buf[240..253],
            &[200, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255]
        );
        assert_eq!(n, 300);
    }

    // ---- RFC 3396 ----

    #[test]
    fn rfc3396_builder_splits_300_bytes_into_255_plus_45() {
        let data: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let mut buf = [0u8; 1000];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 1).unwrap();
        b.max_len(1000);
        b.add_option(121, &data).unwrap();
        let n = b.finish();
        assert_eq!(n, 240 + 2 + 255 + 2 + 45 + 1);
        assert_eq!(&buf[240..242], &[121, 255]);
        assert_eq!(&buf[497..499], &[121, 45]);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.option_concat(121), Some(data.clone()));
        assert_eq!(p.option(121).map(<[u8]>::len), Some(255));
        // At the default 308-byte limit: 300 bytes fit (304 + END), 310
        // bytes (314 + END) do not.
        let mut buf = [0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 1).unwrap();
        assert_eq!(b.add_option(121, &[0; 310]), Err(Error::NoSpace));
        b.add_option(121, &data).unwrap();
        assert_eq!(b.finish(), 240 + 305);
    }

    // ---- builder limits ----

    #[test]
    fn builder_rejects_short_buffer() {
        let mut buf = [0u8; 299];
        assert_eq!(
            MessageBuilder::new(&mut buf, 1, 1).err(),
            Some(Error::NoSpace)
        );
        let mut buf = [0u8; 300];
        let b = MessageBuilder::new(&mut buf, 1, 1).unwrap();
        assert_eq!(b.remaining(), 59);
        assert_eq!(b.finish(), 300);
        assert_eq!(buf[240], 255);
    }

    #[test]
    fn builder_option_area_is_308_bytes_by_default_and_all_or_nothing() {
        let mut buf = [0u8; 1472];
        let mut b = MessageBuilder::new(&mut buf, 1, 1).unwrap();
        assert_eq!(b.remaining(), 307);
        b.add_option(200, &[1; 255]).unwrap(); // 257 used
        b.add_option(201, &[2; 46]).unwrap(); // 305 used
        assert_eq!(b.remaining(), 2);
        let before = b.len();
        assert_eq!(b.add_option(202, &[3; 1]), Err(Error::NoSpace)); // needs 3
        assert_eq!(b.add_option(203, &[3; 300]), Err(Error::NoSpace));
        assert_eq!(b.len(), before);
        b.add_option(204, &[]).unwrap(); // 2 bytes: exactly fills it
        assert_eq!(b.remaining(), 0);
        assert_eq!(b.add_option(205, &[]), Err(Error::NoSpace));
        assert_eq!(b.add_option(code::PAD, &[]), Err(Error::Unrecognized));
        assert_eq!(b.add_option(code::END, &[]), Err(Error::Unrecognized));
        let n = b.finish();
        assert_eq!(n, DEFAULT_MAX_LEN);
        assert_eq!(buf[n - 1], 255);
        assert_eq!(&buf[n - 3..n - 1], &[204, 0]);
        // The refused options wrote nothing past END.
        assert!(buf[n..].iter().all(|&b| b == 0));
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            p.options().count(),
            2,
            "zero-length 204 is skipped on parse"
        );
    }

    #[test]
    fn builder_all_or_nothing_keeps_bytes_identical() {
        let mut a = [0u8; 548];
        let mut b = MessageBuilder::new(&mut a, 1, 1).unwrap();
        b.add_option(200, &[1; 250]).unwrap();
        assert_eq!(b.add_option(201, &[2; 300]), Err(Error::NoSpace));
        let na = b.finish();
        let mut c = [0u8; 548];
        let mut b = MessageBuilder::new(&mut c, 1, 1).unwrap();
        b.add_option(200, &[1; 250]).unwrap();
        let nc = b.finish();
        assert_eq!(a[..na], c[..nc]);
    }

    #[test]
    fn builder_max_len_is_respected_and_clamped() {
        let mut buf = [0u8; 1472];
        let mut b = MessageBuilder::new(&mut buf, 1, 1).unwrap();
        b.max_len(576 - 28);
        assert_eq!(b.remaining(), 307);
        b.max_len(100); // clamped up to the BOOTP minimum
        assert_eq!(b.remaining(), 59);
        b.add_option(200, &[0; 57]).unwrap();
        assert_eq!(b.add_option(201, &[]), Err(Error::NoSpace));
        b.max_len(5000); // clamped to the buffer and MAX_LEN
        assert_eq!(b.remaining(), MAX_LEN - HEADER_LEN - 59 - 1);
        b.max_len(0); // never below what is already written
        assert_eq!(b.remaining(), 0);
        assert_eq!(b.finish(), 300);

        let mut buf = [0u8; 400];
        let mut b = MessageBuilder::new(&mut buf, 1, 1).unwrap();
        assert_eq!(b.remaining(), 159, "default limit is min(buf, 548)");
        b.max_len(1000);
        assert_eq!(b.remaining(), 159);
        b.add_option(200, &[9; 157]).unwrap();
        assert_eq!(b.finish(), 400);
    }

    #[test]
    fn builder_sname_file_truncation_keeps_nul() {
        let mut buf = [0xffu8; 548];
        let mut b = MessageBuilder::new(&mut buf, 2, 1).unwrap();
        b.set_sname(&[b's'; 100]).unwrap();
        b.set_file(&[b'f'; 200]).unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.sname_str(), &[b's'; 63]);
        assert_eq!(p.sname()[63], 0);
        assert_eq!(p.file_str(), &[b'f'; 127]);
        assert_eq!(p.file()[127], 0);
        // Shorter names overwrite longer ones completely.
        let mut b = MessageBuilder::new(&mut buf, 2, 1).unwrap();
        b.set_sname(b"long-name").unwrap();
        b.set_sname(b"ab").unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.sname_str(), b"ab");
        assert!(p.sname()[2..].iter().all(|&b| b == 0));
    }

    // ---- hostile and malformed input ----

    /// Calls every accessor; returns nothing, must not panic.
    fn exercise<T: AsRef<[u8]>>(p: &Packet<T>) {
        let _ = (p.op(), p.htype(), p.hlen(), p.hops(), p.xid(), p.secs());
        let _ = (p.flags(), p.broadcast_flag(), p.ciaddr(), p.yiaddr());
        let _ = (p.siaddr(), p.giaddr(), p.chaddr(), p.client_mac());
        let _ = (p.sname(), p.file(), p.sname_str(), p.file_str(), p.cookie());
        let _ = (
            p.options_field(),
            p.message_type(),
            p.overload(),
            p.is_bootp(),
        );
        let _ = (p.options_valid(), p.option(53), p.option_concat(121));
        let _ = (
            p.option_ipv4(54),
            p.option_u32(51),
            p.option_u16(57),
            p.option_u8(53),
        );
        let _ = p.option_exact::<3>(1);
        // The iterator is bounded (every step consumes ≥ 1 byte), reports at
        // most one error, and is fused.
        let mut it = p.options();
        let mut errors = 0;
        let mut steps = 0;
        for r in it.by_ref() {
            steps += 1;
            assert!(steps <= MAX_LEN + 192);
            if let Ok((c, d)) = r {
                assert!(c != 0 && c != 255 && c != 52 && !d.is_empty());
            } else {
                errors += 1;
            }
        }
        assert!(errors <= 1);
        assert!(it.next().is_none());
    }

    #[test]
    fn every_short_length_of_zeros_and_ones_is_handled() {
        for fill in [0u8, 0xff] {
            for len in 0..=300 {
                let v = vec![fill; len];
                let r = Packet::new_checked(&v[..]);
                if len < HEADER_LEN {
                    assert_eq!(r.err(), Some(Error::Truncated));
                } else {
                    assert_eq!(r.err(), Some(Error::BadCookie));
                }
                exercise(&Packet::new_unchecked(&v[..]));
            }
        }
        // Zero header + cookie, every length: all-PAD options are fine.
        for len in 240..=300 {
            let v = raw(&[]);
            let p = Packet::new_checked(&v[..len]).unwrap();
            assert_eq!(p.options_valid(), Ok(()));
            assert!(p.is_bootp());
            exercise(&p);
        }
    }

    #[test]
    fn bad_cookie_and_oversize() {
        let mut v = raw(&[255]);
        v[239] = 0x64;
        assert_eq!(Packet::new_checked(&v[..]).err(), Some(Error::BadCookie));
        let mut v = raw(&[255]);
        v.resize(MAX_LEN, 0);
        assert!(Packet::new_checked(&v[..]).is_ok());
        v.push(0);
        assert_eq!(Packet::new_checked(&v[..]).err(), Some(Error::Oversize));
    }

    #[test]
    fn code_without_length_byte_at_field_end() {
        // busybox f9beeb22e: last byte of the options field is a code.
        let mut v = raw(&[53, 1, 1, 3, 4, 1, 2, 3, 4]);
        v.truncate(240 + 9);
        v.push(6);
        let p = Packet::new_checked(&v[..]).unwrap();
        let all = collect(&p);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], Ok((53, vec![1])));
        assert_eq!(all[1], Ok((3, vec![1, 2, 3, 4])));
        assert_eq!(all[2], Err(Error::MalformedOptions));
        assert_eq!(p.options_valid(), Err(Error::MalformedOptions));
        assert_eq!(p.message_type(), Some(MessageType::Discover));
        assert_eq!(p.option(6), None);
    }

    #[test]
    fn overload_with_zero_length_at_very_end() {
        // busybox f11c6989b: 52 with length 0 as the last two bytes.
        let mut v = raw(&[53, 1, 2, 52, 0]);
        v.truncate(245);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(oks(&p), vec![(53, vec![2])]);
        assert_eq!(p.overload(), 0);
        assert_eq!(p.options_valid(), Ok(()));
        // 52 with a length byte but no data byte left: malformed, no panic.
        let mut v = raw(&[53, 1, 2, 52, 1]);
        v.truncate(245);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.options_valid(), Err(Error::MalformedOptions));
        assert_eq!(p.overload(), 0);
    }

    #[test]
    fn option_running_past_its_field() {
        let mut v = raw(&[53, 1, 5, 12, 200, b'a', b'b']);
        v.truncate(300);
        let p = Packet::new_checked(&v[..]).unwrap();
        let all = collect(&p);
        assert_eq!(all, vec![Ok((53, vec![5])), Err(Error::MalformedOptions)]);
        // Past the end of `file` (it must not continue into the cookie).
        let mut v = overloaded(&[52, 1, 1], &[], &[], &[]);
        v[field::FILE][120..128].copy_from_slice(&[0, 0, 0, 0, 0, 3, 4, 1]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.options_valid(), Err(Error::MalformedOptions));
        // Past the end of `sname` into `file`.
        let mut v = overloaded(&[52, 1, 2], &[], &[], &[]);
        v[field::SNAME][62..64].copy_from_slice(&[3, 4]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.options_valid(), Err(Error::MalformedOptions));
    }

    #[test]
    fn cve_2018_20679_short_fixed_options_are_absent() {
        for code in [code::SERVER_ID, code::LEASE_TIME, code::REQUESTED_IP] {
            for len in 1..=3u8 {
                let mut opts = vec![53, 1, 2, code, len];
                opts.extend_from_slice(&vec![0xab; len as usize]);
                let mut v = raw(&opts);
                v.truncate(240 + opts.len());
                let p = Packet::new_checked(&v[..]).unwrap();
                assert_eq!(p.options_valid(), Ok(()));
                assert_eq!(p.option_ipv4(code), None);
                assert_eq!(p.option_u32(code), None);
                assert_eq!(p.option(code).map(<[u8]>::len), Some(len as usize));
            }
        }
        // Too long counts as absent too; and only the FIRST instance counts.
        let v = raw(&[54, 5, 1, 2, 3, 4, 5, 54, 4, 1, 2, 3, 4, 255]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.option_ipv4(54), None);
    }

    #[test]
    fn zero_length_message_type_is_absent() {
        let v = raw(&[53, 0, 255]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.message_type(), None);
        assert!(p.is_bootp());
        for bad in [[53u8, 2, 1, 1], [53, 1, 0, 0], [53, 1, 9, 0]] {
            let v = raw(&bad);
            let p = Packet::new_checked(&v[..]).unwrap();
            assert_eq!(p.message_type(), None, "{bad:?}");
        }
        let v = raw(&[53, 2, 1, 1]);
        assert!(!Packet::new_checked(&v[..]).unwrap().is_bootp());
    }

    #[test]
    fn zero_length_hostname_does_not_hide_later_options() {
        // TrendNet: 12 with length 0 before router and DNS (busybox 1c461df70).
        let v = raw(&[53, 1, 5, 12, 0, 3, 4, 192, 168, 1, 1, 6, 4, 8, 8, 8, 8, 255]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.options_valid(), Ok(()));
        assert_eq!(p.option(code::HOSTNAME), None);
        assert_eq!(p.option_ipv4(code::ROUTER), Some(ip("192.168.1.1")));
        assert_eq!(p.option_ipv4(6), Some(ip("8.8.8.8")));
    }

    #[test]
    fn short_packet_without_end_reads_nothing_beyond_slice() {
        // connman CVE-2023-28488 analogue: the backing array holds stale data
        // after the received bytes; it must stay invisible.
        let mut backing = raw(&[53, 1, 2, 3, 4, 10, 0, 0, 1, 6, 8]);
        backing.resize(400, 0);
        backing[251..259].copy_from_slice(&[8, 8, 8, 8, 9, 9, 9, 9]);
        backing[259] = 255;
        let p = Packet::new_checked(&backing[..251]).unwrap();
        let all = collect(&p);
        assert_eq!(
            all,
            vec![
                Ok((53, vec![2])),
                Ok((3, vec![10, 0, 0, 1])),
                Err(Error::MalformedOptions)
            ]
        );
        // Ending exactly at a field boundary without END is fine.
        let p = Packet::new_checked(&backing[..249]).unwrap();
        assert_eq!(p.options_valid(), Ok(()));
        assert_eq!(p.option_ipv4(3), Some(ip("10.0.0.1")));
        assert_eq!(p.option(6), None);
    }

    use crate::testutil::XorShift as Rng;

    #[test]
    fn byte_soup_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let seed = overloaded(
            &[52, 1, 3],
            &[
                53, 1, 1, 54, 4, 1, 2, 3, 4, 51, 4, 0, 0, 14, 16, 12, 3, b'a', b'b', b'c',
            ],
            &[121, 5, 24, 10, 0, 0, 1, 255],
            &[3, 4, 1, 1, 1, 1, 255],
        );
        let interesting = [0u8, 1, 2, 3, 4, 52, 53, 54, 255, 254, 128];
        let mut accepted = 0;
        for _ in 0..5000 {
            let len = rng.below(MAX_LEN + 50);
            let mut v = seed.clone();
            v.resize(len, 0);
            for _ in 0..rng.below(12) {
                if v.is_empty() {
                    break;
                }
                let i = rng.below(v.len());
                // Keep the cookie intact most of the time so the option
                // scanner gets exercised, and mutate near options often.
                if (236..240).contains(&i) && rng.below(8) != 0 {
                    continue;
                }
                v[i] = if rng.below(2) == 0 {
                    interesting[rng.below(interesting.len())]
                } else {
                    rng.next() as u8
                };
            }
            if v.len() > 300 && rng.below(2) == 0 {
                // Random garbage in the options field.
                for b in &mut v[240..] {
                    *b = rng.next() as u8;
                }
            }
            match Packet::new_checked(&v[..]) {
                Ok(p) => {
                    accepted += 1;
                    exercise(&p);
                }
                Err(e) => assert!(matches!(
                    e,
                    Error::Truncated | Error::Oversize | Error::BadCookie
                )),
            }
            exercise(&Packet::new_unchecked(&v[..]));
        }
        assert!(
            accepted > 1000,
            "only {accepted} packets reached the scanner"
        );
    }

    #[test]
    fn builder_random_options_round_trip() {
        let mut rng = Rng(12345);
        for _ in 0..500 {
            let mut buf = [0u8; MAX_LEN];
            let mut b = MessageBuilder::new(&mut buf, 2, 1).unwrap();
            b.max_len(300 + rng.below(MAX_LEN));
            let overload = rng.below(2) == 0;
            b.allow_overload(overload);
            let mut expect: Vec<(u8, Vec<u8>)> = Vec::new();
            for _ in 0..rng.below(20) {
                let code = 60 + rng.below(150) as u8;
                let len = 1 + if rng.below(4) == 0 {
                    rng.below(600)
                } else {
                    rng.below(30)
                };
                let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let before = b.len();
                match b.add_option(code, &data) {
                    Ok(()) => match expect.iter_mut().find(|e| e.0 == code) {
                        Some(e) => e.1.extend_from_slice(&data),
                        None => expect.push((code, data)),
                    },
                    Err(e) => {
                        assert_eq!(e, Error::NoSpace);
                        assert_eq!(b.len(), before);
                    }
                }
            }
            let n = b.finish();
            assert!((MIN_BOOTP_LEN..=MAX_LEN).contains(&n));
            let p = Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(p.options_valid(), Ok(()));
            if !overload {
                assert_eq!(p.overload(), 0);
            }
            for (code, data) in expect {
                assert_eq!(p.option_concat(code), Some(data), "code {code}");
            }
        }
    }

    /// RFC 3396 §7 split to fit: with overload on, a long option that does
    /// not fit as 255-byte instances fills the options field, `file`, then
    /// `sname`; it reads back whole. One that cannot fit at all changes
    /// nothing.
    #[test]
    fn long_option_split_across_fields_all_or_nothing() {
        let data: Vec<u8> = (0..450u32).map(|i| (i % 251) as u8).collect();
        let mut buf = [0u8; MAX_LEN];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 7).unwrap();
        b.max_len(548);
        b.allow_overload(true);
        b.add_message_type(MessageType::Ack).unwrap();
        b.add_option(121, &data).unwrap();
        let before = b.len();
        assert_eq!(b.add_option(43, &[1; 200]), Err(Error::NoSpace));
        assert_eq!(b.len(), before, "nothing written");
        let n = b.finish();
        assert!(n <= 548);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.overload(), 3);
        assert_eq!(p.option_concat(121).unwrap(), data);
        assert_eq!(p.message_type(), Some(MessageType::Ack));
        assert_eq!(p.option(43), None);
    }
}
