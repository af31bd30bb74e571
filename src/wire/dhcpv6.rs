//! DHCPv6 messages (RFC 8415 §8, §21) for udhcpc6: a checked view of a
//! client/server message, the option walk, typed decoders for every option
//! the client reads, and a builder for what it sends.
//!
//! The contract is the one of [`crate::wire`]: [`Message::new_checked`]
//! walks every option once and rejects the message if any option length
//! runs past its container, so later walks cannot go out of bounds.
//! Encapsulated options (IA_NA, IA_PD, IAADDR, IAPREFIX) are checked the
//! same way when their decoder is called: a short IAADDR or IAPREFIX, or
//! one whose inner options overrun, is an [`Error`], never a panic and
//! never a half-read value. BusyBox's `d6_dhcpc.c` read IAADDR/IAPREFIX
//! fields at fixed offsets without checking the option length, and
//! dereferenced a missing IAADDR when only a prefix was leased; here every
//! decoder returns `Result`/`Option` and the caller decides.
//!
//! Names in DOMAIN_LIST (24) and FQDN (39) are RFC 1035 §3.1 wire names
//! without compression (RFC 8415 §10: "domain names ... MUST NOT be
//! compressed"); a pointer byte rejects the option.

use core::fmt;
use std::net::Ipv6Addr;

use super::{Error, Result};

/// Client port (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// Server and relay port (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// Message type and transaction id (RFC 8415 §8).
pub const HEADER_LEN: usize = 4;
/// Option code and length (RFC 8415 §21.1).
pub const OPTION_HEADER_LEN: usize = 4;
/// Longest DUID (RFC 8415 §11.1: at most 128 octets, type excluded; we
/// count the type too and allow 130).
pub const MAX_DUID_LEN: usize = 130;
/// Longest name on the wire (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Message types (RFC 8415 §7.3).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const RECONFIGURE: u8 = 10;
    pub const INFORMATION_REQUEST: u8 = 11;
}

/// Option codes (RFC 8415 §21, RFC 3646, RFC 4704, RFC 4833, RFC 5970).
pub mod opt {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const AUTH: u16 = 11;
    pub const UNICAST: u16 = 12;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const RECONF_MSG: u16 = 19;
    pub const RECONF_ACCEPT: u16 = 20;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const SNTP_SERVERS: u16 = 31;
    pub const FQDN: u16 = 39;
    pub const NEW_POSIX_TIMEZONE: u16 = 41;
    pub const NEW_TZDB_TIMEZONE: u16 = 42;
    pub const NTP_SERVER: u16 = 56;
    pub const BOOTFILE_URL: u16 = 59;
    pub const BOOTFILE_PARAM: u16 = 60;
    pub const SOL_MAX_RT: u16 = 82;
    pub const INF_MAX_RT: u16 = 83;
}

/// Status codes (RFC 8415 §21.13).
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// The option-name words of `-O` (BusyBox `d6_option_strings`) and the
/// codes they stand for.
pub const OPTION_NAMES: &[(&str, u16)] = &[
    ("dns", opt::DNS_SERVERS),
    ("search", opt::DOMAIN_LIST),
    ("fqdn", opt::FQDN),
    ("tz", opt::NEW_POSIX_TIMEZONE),
    ("timezone", opt::NEW_TZDB_TIMEZONE),
    ("bootfile_url", opt::BOOTFILE_URL),
    ("bootfile_param", opt::BOOTFILE_PARAM),
];

/// The option code of a `-O` word: a name above or a decimal number.
pub fn option_code(word: &str) -> Option<u16> {
    OPTION_NAMES
        .iter()
        .find(|(n, _)| *n == word)
        .map(|&(_, c)| c)
        .or_else(|| word.parse().ok())
}

/// The DUID-LL of a MAC address (RFC 8415 §11.4): type 3, hardware type 1
/// (Ethernet), then the address. No time part, so it is the same after
/// every boot, which is what lets a server give back the same lease.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

fn ipv6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// Checks that `area` is a sequence of whole options (RFC 8415 §21.1).
pub fn validate_options(area: &[u8]) -> Result<()> {
    let mut rest = area;
    while !rest.is_empty() {
        let len = be16(rest, 2).ok_or(Error::MalformedOptions)?;
        let end = OPTION_HEADER_LEN + usize::from(len);
        rest = rest.get(end..).ok_or(Error::MalformedOptions)?;
    }
    Ok(())
}

/// Iterator over `(code, body)` of an option area; stops at the first
/// malformed option (areas from [`Message`] and the IA decoders are
/// validated first, so in practice it sees them all).
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// Walks `area` (validate it first to learn whether it is whole).
    pub fn new(area: &'a [u8]) -> Self {
        Options { rest: area }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let code = be16(self.rest, 0)?;
        let len = usize::from(be16(self.rest, 2)?);
        let body = self.rest.get(OPTION_HEADER_LEN..OPTION_HEADER_LEN + len);
        match body {
            Some(body) => {
                self.rest = self.rest.get(OPTION_HEADER_LEN + len..).unwrap_or_default();
                Some((code, body))
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The first option `code` in a validated area.
pub fn find(area: &[u8], code: u16) -> Option<&[u8]> {
    Options::new(area).find(|&(c, _)| c == code).map(|(_, b)| b)
}

/// A client/server message (not a relay message) whose options are whole.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Checks the header and every top-level option length.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        let area = bytes.get(HEADER_LEN..).ok_or(Error::Truncated)?;
        validate_options(area)?;
        Ok(Message { bytes })
    }

    /// The message type (RFC 8415 §7.3).
    pub fn msg_type(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// The 24-bit transaction id.
    pub fn xid(&self) -> u32 {
        let b = |i| u32::from(self.bytes.get(i).copied().unwrap_or(0));
        (b(1) << 16) | (b(2) << 8) | b(3)
    }

    /// The option area.
    pub fn options_area(&self) -> &'a [u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The top-level options.
    pub fn options(&self) -> Options<'a> {
        Options::new(self.options_area())
    }

    /// The first top-level option `code`.
    pub fn option(&self, code: u16) -> Option<&'a [u8]> {
        find(self.options_area(), code)
    }
}

/// IA_NA (RFC 8415 §21.4) or IA_PD (§21.21): the same 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ia<'a> {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    /// The IA's own options (IAADDR / IAPREFIX, STATUS_CODE), validated.
    pub options: &'a [u8],
}

impl<'a> Ia<'a> {
    /// Decodes an IA_NA or IA_PD body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let iaid = be32(body, 0).ok_or(Error::Truncated)?;
        let t1 = be32(body, 4).ok_or(Error::Truncated)?;
        let t2 = be32(body, 8).ok_or(Error::Truncated)?;
        let options = body.get(12..).ok_or(Error::Truncated)?;
        validate_options(options)?;
        Ok(Ia {
            iaid,
            t1,
            t2,
            options,
        })
    }

    /// The IA's status, if it carries one.
    pub fn status(&self) -> Option<Result<Status<'a>>> {
        find(self.options, opt::STATUS_CODE).map(Status::parse)
    }
}

/// IAADDR (RFC 8415 §21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddr<'a> {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub options: &'a [u8],
}

impl<'a> IaAddr<'a> {
    /// Decodes an IAADDR body: 24 bytes and whole inner options.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let addr = ipv6_at(body, 0).ok_or(Error::Truncated)?;
        let preferred = be32(body, 16).ok_or(Error::Truncated)?;
        let valid = be32(body, 20).ok_or(Error::Truncated)?;
        let options = body.get(24..).ok_or(Error::Truncated)?;
        validate_options(options)?;
        Ok(IaAddr {
            addr,
            preferred,
            valid,
            options,
        })
    }
}

/// IAPREFIX (RFC 8415 §21.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaPrefix<'a> {
    pub preferred: u32,
    pub valid: u32,
    pub prefix_len: u8,
    pub prefix: Ipv6Addr,
    pub options: &'a [u8],
}

impl<'a> IaPrefix<'a> {
    /// Decodes an IAPREFIX body: 25 bytes, a length ≤ 128, whole options.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let preferred = be32(body, 0).ok_or(Error::Truncated)?;
        let valid = be32(body, 4).ok_or(Error::Truncated)?;
        let prefix_len = body.get(8).copied().ok_or(Error::Truncated)?;
        if prefix_len > 128 {
            return Err(Error::BadLength);
        }
        let prefix = ipv6_at(body, 9).ok_or(Error::Truncated)?;
        let options = body.get(25..).ok_or(Error::Truncated)?;
        validate_options(options)?;
        Ok(IaPrefix {
            preferred,
            valid,
            prefix_len,
            prefix,
            options,
        })
    }
}

/// STATUS_CODE (RFC 8415 §21.13): a code and a UTF-8 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status<'a> {
    pub code: u16,
    pub message: &'a [u8],
}

impl<'a> Status<'a> {
    /// Decodes a STATUS_CODE body (at least the 2-byte code).
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let code = be16(body, 0).ok_or(Error::Truncated)?;
        Ok(Status {
            code,
            message: body.get(2..).unwrap_or_default(),
        })
    }
}

impl fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} '{}'",
            self.code,
            String::from_utf8_lossy(self.message)
        )
    }
}

/// PREFERENCE (RFC 8415 §21.8): exactly one byte.
pub fn preference(body: &[u8]) -> Result<u8> {
    match body {
        [p] => Ok(*p),
        _ => Err(Error::BadLength),
    }
}

/// A list of IPv6 addresses (DNS_SERVERS, SNTP_SERVERS): a non-empty
/// multiple of 16 bytes.
pub fn addresses(body: &[u8]) -> Result<Vec<Ipv6Addr>> {
    if body.is_empty() || body.len() % 16 != 0 {
        return Err(Error::BadLength);
    }
    Ok(body
        .chunks_exact(16)
        .filter_map(|c| <[u8; 16]>::try_from(c).ok().map(Ipv6Addr::from))
        .collect())
}

/// Decodes one uncompressed RFC 1035 name from the front of `data`:
/// `(name without the final dot, bytes used)`. A name without the root
/// label at the end of the data is accepted as complete (RFC 4704 §4.2's
/// partial names); pointers, over-long labels or names are errors.
fn decode_name(data: &[u8]) -> Result<(String, usize)> {
    let mut name = String::new();
    let mut at = 0usize;
    loop {
        let Some(&len) = data.get(at) else {
            return Ok((name, at));
        };
        at += 1;
        if len == 0 {
            return Ok((name, at));
        }
        if usize::from(len) > MAX_LABEL_LEN {
            return Err(Error::MalformedOptions); // 0xc0 pointers too
        }
        let label = data
            .get(at..at + usize::from(len))
            .ok_or(Error::Truncated)?;
        at += usize::from(len);
        if at > MAX_NAME_LEN {
            return Err(Error::Oversize);
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|&b| char::from(b)));
    }
}

/// DOMAIN_LIST (RFC 3646 §4): names until the data ends.
pub fn domain_list(body: &[u8]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (name, used) = decode_name(rest)?;
        if !name.is_empty() {
            out.push(name);
        }
        rest = rest.get(used..).unwrap_or_default();
    }
    Ok(out)
}

/// FQDN (RFC 4704 §4): flags byte, then one name.
pub fn fqdn(body: &[u8]) -> Result<String> {
    let data = body.get(1..).ok_or(Error::Truncated)?;
    let (name, used) = decode_name(data)?;
    if used != data.len() {
        return Err(Error::BadLength);
    }
    Ok(name)
}

/// BOOTFILE_PARAM (RFC 5970 §3.2): a list of 16-bit-length strings.
pub fn bootfile_params(body: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = usize::from(be16(rest, 0).ok_or(Error::Truncated)?);
        out.push(rest.get(2..2 + len).ok_or(Error::Truncated)?);
        rest = rest.get(2 + len..).unwrap_or_default();
    }
    Ok(out)
}

/// Builds a client message. Lengths are computed when a nested option is
/// closed, so callers never write a length by hand.
#[derive(Debug, Clone)]
pub struct Builder {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl Builder {
    /// A message of `msg_type` with the low 24 bits of `xid`.
    pub fn new(msg_type: u8, xid: u32) -> Self {
        let x = xid.to_be_bytes();
        Builder {
            buf: vec![msg_type, x[1], x[2], x[3]],
            open: Vec::new(),
        }
    }

    /// Adds one option; `Err(Oversize)` if `data` exceeds a 16-bit length.
    pub fn option(&mut self, code: u16, data: &[u8]) -> Result<&mut Self> {
        let len = u16::try_from(data.len()).map_err(|_| Error::Oversize)?;
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(data);
        Ok(self)
    }

    /// Opens an option whose body follows (`data` first, then nested
    /// options); close it with [`Builder::close`].
    pub fn open(&mut self, code: u16, data: &[u8]) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(data);
        self
    }

    /// Closes the innermost open option, writing its length.
    pub fn close(&mut self) -> Result<&mut Self> {
        let start = self.open.pop().ok_or(Error::MalformedOptions)?;
        let len = self.buf.len() - start - OPTION_HEADER_LEN;
        let len = u16::try_from(len).map_err(|_| Error::Oversize)?;
        if let Some(slot) = self.buf.get_mut(start + 2..start + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        Ok(self)
    }

    /// The finished message; every open option is closed.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        while !self.open.is_empty() {
            self.close()?;
        }
        Ok(self.buf)
    }
}

/// IA_NA / IA_PD header bytes (the IA's body before its options).
pub fn ia_header(iaid: u32, t1: u32, t2: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&iaid.to_be_bytes());
    h[4..8].copy_from_slice(&t1.to_be_bytes());
    h[8..].copy_from_slice(&t2.to_be_bytes());
    h
}

/// IAADDR body without options.
pub fn iaaddr_body(addr: Ipv6Addr, preferred: u32, valid: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[..16].copy_from_slice(&addr.octets());
    b[16..20].copy_from_slice(&preferred.to_be_bytes());
    b[20..].copy_from_slice(&valid.to_be_bytes());
    b
}

/// IAPREFIX body without options.
pub fn iaprefix_body(prefix: Ipv6Addr, len: u8, preferred: u32, valid: u32) -> [u8; 25] {
    let mut b = [0u8; 25];
    b[..4].copy_from_slice(&preferred.to_be_bytes());
    b[4..8].copy_from_slice(&valid.to_be_bytes());
    b[8] = len;
    b[9..].copy_from_slice(&prefix.octets());
    b
}

/// Encodes names as an uncompressed RFC 1035 list (for tests and servers
/// in tests; the client sends only the empty FQDN).
pub fn encode_names<S: AsRef<str>>(names: &[S]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for n in names {
        for label in n.as_ref().split('.').filter(|l| !l.is_empty()) {
            let len = u8::try_from(label.len()).map_err(|_| Error::Oversize)?;
            if usize::from(len) > MAX_LABEL_LEN {
                return Err(Error::Oversize);
            }
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn reply_with(extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = Builder::new(msg::REPLY, 0x123456);
        b.option(opt::CLIENTID, &duid_ll(MAC)).unwrap();
        for (c, d) in extra {
            b.option(*c, d).unwrap();
        }
        b.finish().unwrap()
    }

    #[test]
    fn header_and_xid_24_bits() {
        let m = Builder::new(msg::SOLICIT, 0xff_abcdef).finish().unwrap();
        assert_eq!(m, [1, 0xab, 0xcd, 0xef]);
        let v = Message::new_checked(&m).unwrap();
        assert_eq!((v.msg_type(), v.xid()), (1, 0xabcdef));
        assert_eq!(v.options().count(), 0);
    }

    #[test]
    fn short_header_and_overrunning_option_rejected() {
        assert_eq!(
            Message::new_checked(&[7, 0, 0]).unwrap_err(),
            Error::Truncated
        );
        // Option length 5 with 4 bytes of body.
        let bad = [7, 0, 0, 1, 0, 23, 0, 5, 1, 2, 3, 4];
        assert_eq!(
            Message::new_checked(&bad).unwrap_err(),
            Error::MalformedOptions
        );
        // A lone code byte at the end.
        assert!(Message::new_checked(&[7, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn duid_ll_layout() {
        assert_eq!(duid_ll(MAC), [0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn nested_ia_na_round_trip() {
        let addr: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let mut b = Builder::new(msg::REPLY, 1);
        b.open(opt::IA_NA, &ia_header(7, 100, 160));
        b.open(opt::IAADDR, &iaaddr_body(addr, 150, 200));
        b.close().unwrap();
        b.option(opt::STATUS_CODE, b"\x00\x00ok").unwrap();
        let m = b.finish().unwrap();
        let v = Message::new_checked(&m).unwrap();
        let ia = Ia::parse(v.option(opt::IA_NA).unwrap()).unwrap();
        assert_eq!((ia.iaid, ia.t1, ia.t2), (7, 100, 160));
        let a = IaAddr::parse(find(ia.options, opt::IAADDR).unwrap()).unwrap();
        assert_eq!((a.addr, a.preferred, a.valid), (addr, 150, 200));
        let st = ia.status().unwrap().unwrap();
        assert_eq!((st.code, st.message), (0, &b"ok"[..]));
        assert_eq!(st.to_string(), "0 'ok'");
    }

    #[test]
    fn short_iaaddr_iaprefix_status_rejected() {
        assert_eq!(IaAddr::parse(&[0; 23]).unwrap_err(), Error::Truncated);
        assert_eq!(IaPrefix::parse(&[0; 24]).unwrap_err(), Error::Truncated);
        assert_eq!(Status::parse(&[0]).unwrap_err(), Error::Truncated);
        assert_eq!(Ia::parse(&[0; 11]).unwrap_err(), Error::Truncated);
        let mut p = iaprefix_body(Ipv6Addr::UNSPECIFIED, 129, 1, 2).to_vec();
        assert_eq!(IaPrefix::parse(&p).unwrap_err(), Error::BadLength);
        p[8] = 56;
        assert_eq!(IaPrefix::parse(&p).unwrap().prefix_len, 56);
        // Inner option overrunning the IAADDR.
        let mut a = iaaddr_body(Ipv6Addr::LOCALHOST, 1, 2).to_vec();
        a.extend_from_slice(&[0, 13, 0, 9, 0]);
        assert_eq!(IaAddr::parse(&a).unwrap_err(), Error::MalformedOptions);
    }

    #[test]
    fn preference_and_address_lists() {
        assert_eq!(preference(&[255]), Ok(255));
        assert!(preference(&[]).is_err() && preference(&[1, 2]).is_err());
        assert!(addresses(&[0; 15]).is_err() && addresses(&[]).is_err());
        let two = addresses(&[0; 32]).unwrap();
        assert_eq!(two, [Ipv6Addr::UNSPECIFIED; 2]);
    }

    #[test]
    fn domain_names_uncompressed_only() {
        let wire = encode_names(&["example.com", "lan"]).unwrap();
        assert_eq!(domain_list(&wire).unwrap(), ["example.com", "lan"]);
        // A compression pointer is refused.
        let mut c = encode_names(&["a.example.com"]).unwrap();
        c.extend_from_slice(&[1, b'b', 0xc0, 2]);
        assert!(domain_list(&c).is_err());
        // A label running past the data.
        assert_eq!(domain_list(&[5, b'a', b'b']).unwrap_err(), Error::Truncated);
        // 64-byte label.
        let mut long = vec![64];
        long.extend([b'a'; 64]);
        assert!(domain_list(&long).is_err());
        // More than 255 bytes in one name.
        let mut huge = Vec::new();
        for _ in 0..5 {
            huge.push(63);
            huge.extend([b'x'; 63]);
        }
        huge.push(0);
        assert_eq!(domain_list(&huge).unwrap_err(), Error::Oversize);
    }

    #[test]
    fn fqdn_and_bootfile_params() {
        let mut f = vec![0];
        f.extend(encode_names(&["host.example"]).unwrap());
        assert_eq!(fqdn(&f).unwrap(), "host.example");
        assert!(fqdn(&[]).is_err());
        f.push(9); // trailing junk after the root label
        assert!(fqdn(&f).is_err());
        assert_eq!(
            bootfile_params(&[0, 2, b'a', b'b', 0, 0]).unwrap(),
            [&b"ab"[..], &b""[..]]
        );
        assert!(bootfile_params(&[0, 3, b'a']).is_err());
    }

    #[test]
    fn option_names() {
        assert_eq!(option_code("dns"), Some(23));
        assert_eq!(option_code("bootfile_url"), Some(59));
        assert_eq!(option_code("82"), Some(82));
        assert_eq!(option_code("nope"), None);
    }

    #[test]
    fn builder_rejects_oversize_and_unbalanced() {
        let mut b = Builder::new(msg::SOLICIT, 0);
        assert_eq!(b.option(1, &vec![0; 65536]).unwrap_err(), Error::Oversize);
        assert!(b.close().is_err());
    }

    /// Byte soup: every decoder on every prefix and mutation of a real
    /// reply, and on pseudo-random bytes, without a panic.
    #[test]
    fn byte_soup_never_panics() {
        let mut pd = Builder::new(0, 0);
        pd.open(opt::IA_PD, &ia_header(1, 2, 3));
        pd.option(opt::IAPREFIX, &iaprefix_body(Ipv6Addr::LOCALHOST, 56, 1, 2))
            .unwrap();
        let pd = pd.finish().unwrap();
        let base = reply_with(&[
            (opt::SERVERID, duid_ll([1; 6])),
            (opt::DNS_SERVERS, vec![0x20; 32]),
            (opt::DOMAIN_LIST, encode_names(&["a.b"]).unwrap()),
            (opt::IA_PD, pd.get(8..).unwrap().to_vec()),
            (opt::PREFERENCE, vec![9]),
        ]);
        let mut seed = 0x2545_f491u32;
        let mut inputs: Vec<Vec<u8>> = (0..base.len()).map(|n| base[..n].to_vec()).collect();
        for i in 0..base.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut m = base.clone();
                m[i] = v;
                inputs.push(m);
            }
        }
        for _ in 0..2000 {
            let len = (seed % 80) as usize;
            let mut m = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                m.push((seed % 7) as u8 * 37);
            }
            inputs.push(m);
        }
        for m in &inputs {
            exercise(m);
        }
    }

    fn exercise(bytes: &[u8]) {
        let Ok(m) = Message::new_checked(bytes) else {
            return;
        };
        let _ = (m.msg_type(), m.xid());
        for (code, body) in m.options() {
            let _ = (
                preference(body),
                addresses(body),
                domain_list(body),
                fqdn(body),
            );
            let _ = (Status::parse(body), bootfile_params(body));
            if let Ok(ia) = Ia::parse(body) {
                let _ = ia.status();
                for (_, inner) in Options::new(ia.options) {
                    let _ = (IaAddr::parse(inner), IaPrefix::parse(inner));
                }
            }
            let _ = code;
        }
    }
}
