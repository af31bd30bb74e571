//! Option text → bytes: udhcpd.conf `option`/`opt` lines and udhcpc
//! `-x NAME:VALUE` / `-O NAME|CODE` (BusyBox `udhcp_str2optset`,
//! `udhcp_option_idx`, `hex2bin`, `dname_enc`).
//!
//! Where BusyBox silently truncates or cannot parse, we return an error or
//! implement the RFC; each such place says so and docs/differences.md lists
//! them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::dns;
use super::table::{by_name, Kind, OptSpec};
use super::OptError;

/// Longest option value in one option (RFC 2132 §2: one length byte).
/// The default cap of an [`OptionSet`], as in BusyBox: values that fit one
/// instance, which every receiver reads. A server configuration raises it
/// ([`OptionSet::with_limit`], [`MAX_LONG_OPTION_LEN`]): its reply builder
/// splits longer values over several instances (RFC 3396).
pub const MAX_OPTION_LEN: usize = 255;
/// Longest configured value a server accepts: four RFC 3396 instances,
/// about what a 1500-byte reply can carry (a 121 route list of 128 /24
/// routes).
pub const MAX_LONG_OPTION_LEN: usize = 1020;
/// Longest text value (BusyBox's `strnlen(val, 254)`).
const MAX_STRING_LEN: usize = 254;
/// Delimiters between an option name and its value.
const NAME_DELIMS: [char; 4] = [' ', '\t', '=', ':'];
/// Delimiters between values.
const VALUE_DELIMS: [char; 3] = [',', ' ', '\t'];
/// Delimiters before the second half of a pair (routes, static routes).
const PAIR_DELIMS: [char; 5] = [',', ' ', '\t', '/', '-'];

/// Parses an option given to udhcpc `-O`: a table name, or a code in
/// decimal, `0x` hex or leading-`0` octal up to 254.
pub fn parse_code(s: &str) -> Result<u8, OptError> {
    if let Some(code) = numeric_code(s) {
        return Ok(code);
    }
    by_name(s)
        .map(|o| o.code)
        .ok_or_else(|| OptError::UnknownOption(s.to_owned()))
}

/// A numeric option code (`bb_strtou(s, NULL, 0)` below 255).
fn numeric_code(s: &str) -> Option<u8> {
    parse_uint_base0(s).and_then(|n| u8::try_from(n).ok().filter(|&c| c < 255))
}

/// C `strtoul(s, &end, 0)` with the whole string consumed and no sign or
/// white space allowed (BusyBox `bb_strtou32`): `0x1f`, `017`, `15`.
/// `None` past `u32::MAX`.
pub(crate) fn parse_uint_base0(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if let Some(oct) = s.strip_prefix('0').filter(|r| !r.is_empty()) {
        (oct, 8)
    } else {
        (s, 10)
    };
    // from_str_radix would also take a leading '+'.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// C `strtol(s, &end, 0)` limited to `i32` (BusyBox `bb_strtoi32`): an
/// optional sign, then a base-0 magnitude.
fn parse_int_base0(s: &str) -> Option<i32> {
    let (neg, mag) = match s.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mag = i64::from(parse_uint_base0(mag)?);
    i32::try_from(if neg { -mag } else { mag }).ok()
}

/// An IPv4 address as `inet_aton(3)` reads it: 1 to 4 dot-separated parts,
/// each decimal, `0x` hex or leading-`0` octal; the last part fills the
/// remaining bytes (`10.1` is 10.0.0.1, `0x7f000001` is 127.0.0.1). No
/// white space, no name resolution.
pub fn parse_ipv4_aton(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u32; 4];
    let mut n = 0;
    for text in s.split('.') {
        let slot = parts.get_mut(n)?;
        *slot = parse_uint_base0(text)?;
        n += 1;
    }
    let (last, init) = parts.get(..n)?.split_last()?;
    let mut value = 0u32;
    for (i, &p) in init.iter().enumerate() {
        let byte = u8::try_from(p).ok()?;
        value |= u32::from(byte) << (24 - 8 * i);
    }
    // Bits left for the last part: 32, 24, 16 or 8.
    let bits = 32 - 8 * init.len();
    if bits < 32 && *last >> bits != 0 {
        return None;
    }
    Some(Ipv4Addr::from(value | last))
}

/// `strtok(3)` over a value: each call skips leading delimiters, returns
/// the next word and consumes the one delimiter after it.
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self, delims: &[char]) -> Option<&'a str> {
        let s = self.rest.trim_start_matches(delims);
        let end = s.find(delims).unwrap_or(s.len());
        let (word, mut tail) = s.split_at(end);
        let mut chars = tail.chars();
        if chars.next().is_some() {
            tail = chars.as_str();
        }
        self.rest = tail;
        (!word.is_empty()).then_some(word)
    }
}

/// Configured options, kept sorted by code: the order udhcpd emits them in.
/// Two sets are equal when they hold the same options, whatever their
/// caps.
#[derive(Debug, Clone)]
pub struct OptionSet {
    opts: Vec<(u8, Vec<u8>)>,
    /// Longest value [`OptionSet::add_text`] builds (lists stop growing,
    /// raw values are refused past it).
    limit: usize,
}

impl Default for OptionSet {
    fn default() -> Self {
        OptionSet {
            opts: Vec::new(),
            limit: MAX_OPTION_LEN,
        }
    }
}

impl PartialEq for OptionSet {
    fn eq(&self, other: &Self) -> bool {
        self.opts == other.opts
    }
}

impl Eq for OptionSet {}

impl OptionSet {
    /// An empty set whose values fit one option instance (255 bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set whose text values may grow to `limit` bytes (lists,
    /// raw hex, search domains; a quoted string stays within 254 bytes),
    /// to be sent split over several instances (RFC 3396).
    pub fn with_limit(limit: usize) -> Self {
        OptionSet {
            opts: Vec::new(),
            limit: limit.max(MAX_OPTION_LEN),
        }
    }

    /// The longest value [`OptionSet::add_text`] builds.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The value of option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.find(code)
            .ok()
            .and_then(|i| self.opts.get(i))
            .map(|(_, v)| v.as_slice())
    }

    /// All options in ascending code order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.opts.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// Removes option `code`, returning its value.
    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let i = self.find(code).ok()?;
        Some(self.opts.remove(i).1)
    }

    /// Sets option `code` to `value`, replacing any previous value. No
    /// length limit: the packet builder splits values over 255 bytes
    /// (RFC 3396) or refuses them.
    pub fn insert_raw(&mut self, code: u8, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.find(code) {
            Ok(i) => {
                if let Some(slot) = self.opts.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.opts.insert(i, (code, value)),
        }
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.opts.len()
    }

    /// True if no option is set.
    pub fn is_empty(&self) -> bool {
        self.opts.is_empty()
    }

    fn find(&self, code: u8) -> Result<usize, usize> {
        self.opts.binary_search_by_key(&code, |(c, _)| *c)
    }

    /// Adds one option from text: udhcpd.conf `option NAME VALUE` (the part
    /// after the keyword) or udhcpc `-x NAME:VALUE`.
    ///
    /// - Name and value are separated by the first space, tab, `=` or `:`.
    /// - A numeric name (decimal, `0x` hex, `0` octal, below 255) takes a raw
    ///   value, even if a table name exists for the code: hex bytes
    ///   (`01020304`, `01:02:03:04`, a single digit before `:` or the end
    ///   is one byte), or text in `"…"` or `'…'`.
    /// - Named values are split on comma, space and tab. List options take
    ///   every value and later lines append, as long as the total stays
    ///   within 255 bytes (values that do not fit are dropped silently, as
    ///   BusyBox does); other options take the first value, and a line for
    ///   an option already set is ignored.
    ///
    /// On error the set is unchanged.
    pub fn add_text(&mut self, text: &str) -> Result<(), OptError> {
        // C strings end at NUL: what follows was never seen by BusyBox.
        let text = text.split('\0').next().unwrap_or_default();
        let s = text.trim_start_matches(NAME_DELIMS);
        let end = s.find(NAME_DELIMS).unwrap_or(s.len());
        let (name, rest) = s.split_at(end);
        let mut chars = rest.chars();
        chars.next();
        let value = chars.as_str();
        if name.is_empty() {
            return Err(OptError::MissingValue(String::new()));
        }
        if let Some(code) = numeric_code(name) {
            return self.add_raw(code, value);
        }
        let spec = by_name(name).ok_or_else(|| OptError::UnknownOption(name.to_owned()))?;
        match spec.kind {
            Kind::DnsList => self.add_names(spec, value),
            Kind::SixRd => {
                let v = parse_6rd(spec, value)?;
                self.attach(spec, v);
                Ok(())
            }
            Kind::SipServers => {
                let v = parse_sip(spec, value)?;
                self.attach(spec, v);
                Ok(())
            }
            _ => {
                let mut words = Words { rest: value };
                let mut items = Vec::new();
                while let Some(word) = words.next(&VALUE_DELIMS) {
                    items.push(parse_item(spec, word, &mut words)?);
                    if !spec.list {
                        break;
                    }
                }
                if items.is_empty() {
                    return Err(OptError::MissingValue(spec.name.to_owned()));
                }
                for item in items {
                    self.attach(spec, item);
                }
                Ok(())
            }
        }
    }

    /// A numbered option: hex bytes or a quoted string, never a list.
    fn add_raw(&mut self, code: u8, value: &str) -> Result<(), OptError> {
        if code == 0 {
            // BusyBox accepts it and sends a PAD byte followed by a length
            // that receivers then misread as the next option code.
            return Err(OptError::Unsupported(
                "option 0 is the PAD byte and cannot carry a value",
            ));
        }
        let v = value.trim_matches(|c: char| c.is_ascii_whitespace());
        if v.is_empty() {
            // `udhcpc -x 0x3d:` crashed BusyBox before 1f1988d52.
            return Err(OptError::MissingValue(code.to_string()));
        }
        let bytes = match unquote(v) {
            Some("") => return Err(OptError::MissingValue(code.to_string())),
            Some(text) if text.len() > MAX_STRING_LEN => return Err(OptError::TooLong),
            Some(text) => text.as_bytes().to_vec(),
            None => hex2bin(v, self.limit)?,
        };
        let spec = OptSpec {
            code,
            name: "",
            kind: Kind::Bin,
            list: false,
            request: false,
        };
        self.attach(&spec, bytes);
        Ok(())
    }

    /// Stores one parsed value: new option, append (list kinds, within the
    /// 255-byte cap), or ignored (non-list option already set).
    fn attach(&mut self, spec: &OptSpec, value: Vec<u8>) {
        match self.find(spec.code) {
            Err(i) => self.opts.insert(i, (spec.code, value)),
            Ok(i) => {
                if let Some((_, old)) = self.opts.get_mut(i) {
                    if spec.list && old.len() + value.len() <= self.limit {
                        old.extend_from_slice(&value);
                    }
                }
            }
        }
    }

    /// Option 119: every word a domain name, compressed across the whole
    /// list including names from earlier lines (RFC 3397 §2).
    fn add_names(&mut self, spec: &OptSpec, value: &str) -> Result<(), OptError> {
        let mut words = Words { rest: value };
        let mut new = Vec::new();
        while let Some(word) = words.next(&VALUE_DELIMS) {
            new.push(dns::text_to_labels(word).map_err(|_| bad(spec, word))?);
        }
        if new.is_empty() {
            return Err(OptError::MissingValue(spec.name.to_owned()));
        }
        for name in new {
            let mut out = Vec::new();
            match self.get(spec.code) {
                None => dns::encode_into(&mut out, &[name], true),
                Some(old) => match dns::decode(old) {
                    Ok(old_names) => {
                        let mut all: Vec<Vec<&[u8]>> = old_names;
                        all.push(name.iter().map(Vec::as_slice).collect());
                        dns::encode_into(&mut out, &all, true);
                    }
                    // Not a name list we can read (set by number): keep it
                    // and append without pointing into it.
                    Err(_) => {
                        out.extend_from_slice(old);
                        dns::encode_into(&mut out, &[name], true);
                    }
                },
            }
            if out.len() <= self.limit {
                self.insert_raw(spec.code, out);
            }
        }
        Ok(())
    }
}

fn bad(spec: &OptSpec, value: &str) -> OptError {
    OptError::BadValue {
        name: spec.name.to_owned(),
        value: value.to_owned(),
    }
}

fn addr(s: &str) -> Result<Ipv4Addr, OptError> {
    parse_ipv4_aton(s).ok_or_else(|| OptError::BadAddress(s.to_owned()))
}

/// One value of a fixed-layout kind; pairs take their second half from
/// `words`.
fn parse_item(spec: &OptSpec, word: &str, words: &mut Words<'_>) -> Result<Vec<u8>, OptError> {
    let uint = |max: u32| {
        parse_uint_base0(word)
            .filter(|&n| n <= max)
            .ok_or_else(|| bad(spec, word))
    };
    Ok(match spec.kind {
        Kind::Ip => addr(word)?.octets().to_vec(),
        Kind::IpPair => {
            // BusyBox needs blanks between the two; `a/b` (the form udhcpc
            // exports) failed with `bad address`, so accept it too.
            let (a, b) = match word.split_once('/') {
                Some((a, b)) => (a, b),
                None => (
                    word,
                    words.next(&PAIR_DELIMS).ok_or_else(|| bad(spec, word))?,
                ),
            };
            let mut v = addr(a)?.octets().to_vec();
            v.extend_from_slice(&addr(b)?.octets());
            v
        }
        Kind::Str | Kind::HostStr => {
            if word.len() > MAX_STRING_LEN {
                return Err(OptError::TooLong);
            }
            word.as_bytes().to_vec()
        }
        // Out-of-range values are errors; BusyBox truncates U8/U16.
        Kind::U8 => vec![u8::try_from(uint(0xff)?).unwrap_or_default()],
        Kind::U16 => u16::try_from(uint(0xffff)?)
            .unwrap_or_default()
            .to_be_bytes()
            .to_vec(),
        Kind::U32 => uint(u32::MAX)?.to_be_bytes().to_vec(),
        Kind::S32 => parse_int_base0(word)
            .ok_or_else(|| bad(spec, word))?
            .to_be_bytes()
            .to_vec(),
        Kind::StaticRoutes => parse_route(spec, word, words)?,
        // Handled by add_text before values are split.
        Kind::Bin | Kind::DnsList | Kind::SixRd | Kind::SipServers => return Err(bad(spec, word)),
    })
}

/// RFC 3442 entry from `NET/LEN GW` (gateway after `/`, `-`, blank or
/// comma): the length byte, the significant prefix bytes, the gateway.
fn parse_route(spec: &OptSpec, word: &str, words: &mut Words<'_>) -> Result<Vec<u8>, OptError> {
    let (net, rest) = word.split_once('/').ok_or_else(|| bad(spec, word))?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (len, tail) = rest.split_at(digits);
    let len: u8 = len
        .parse()
        .ok()
        .filter(|&l| l <= 32)
        .ok_or_else(|| bad(spec, word))?;
    // `10.0.0.0/8-10.0.0.1` in one word (BusyBox wants a blank before the
    // `-`); otherwise the gateway is the next word.
    let gw = match tail.strip_prefix(['/', '-']) {
        Some(g) if !g.is_empty() => g,
        Some(_) => words.next(&PAIR_DELIMS).ok_or_else(|| bad(spec, word))?,
        None if tail.is_empty() => words.next(&PAIR_DELIMS).ok_or_else(|| bad(spec, word))?,
        None => return Err(bad(spec, word)),
    };
    let net = u32::from(addr(net)?);
    // Host bits cleared: BusyBox copies them, and `ip route` then rejects
    // the route on the client ("Invalid prefix for given prefix length").
    let masked = if len == 0 {
        0
    } else {
        net & (u32::MAX << (32 - len))
    };
    let mut v = vec![len];
    v.extend(
        masked
            .to_be_bytes()
            .iter()
            .take(usize::from(len).div_ceil(8)),
    );
    v.extend_from_slice(&addr(gw)?.octets());
    Ok(v)
}

/// `"text"` or `'text'` → `text`.
fn unquote(v: &str) -> Option<&str> {
    let q = v.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    v.get(1..)?.strip_suffix(q)
}

/// BusyBox `hex2bin`: pairs of hex digits, optionally `:`-separated; a
/// single digit before `:` or the end is one byte.
fn hex2bin(v: &str, limit: usize) -> Result<Vec<u8>, OptError> {
    let malformed = || OptError::MalformedHex(v.to_owned());
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::new();
    let mut s = v.as_bytes();
    while let Some((&c, rest)) = s.split_first() {
        let hi = digit(c).ok_or_else(malformed)?;
        s = rest;
        let byte = match s.split_first() {
            Some((&c2, rest)) if c2 != b':' => {
                s = rest;
                (hi << 4) | digit(c2).ok_or_else(malformed)?
            }
            Some((_, rest)) => {
                s = rest;
                hi
            }
            None => hi,
        };
        // A ':' right after a two-digit byte.
        if let Some(rest) = s.strip_prefix(b":") {
            s = rest;
        }
        out.push(byte);
    }
    if out.len() > limit {
        return Err(OptError::TooLong);
    }
    Ok(out)
}

/// RFC 5969 option 212 from `MASKLEN PREFIXLEN PREFIX BR [BR…]` (the form
/// udhcpc exports). BusyBox cannot parse it.
fn parse_6rd(spec: &OptSpec, value: &str) -> Result<Vec<u8>, OptError> {
    let mut words = Words { rest: value };
    let mut next = |what: &str| {
        words
            .next(&VALUE_DELIMS)
            .ok_or_else(|| OptError::MissingValue(format!("{} {what}", spec.name)))
    };
    let m = next("IPv4 mask length")?;
    let masklen = parse_uint_base0(m)
        .filter(|&n| n <= 32)
        .ok_or_else(|| bad(spec, m))?;
    let p = next("6rd prefix length")?;
    let prefixlen = parse_uint_base0(p)
        .filter(|&n| n <= 128 && n + 32 - masklen <= 128)
        .ok_or_else(|| bad(spec, p))?;
    let x = next("6rd prefix")?;
    let prefix: Ipv6Addr = x.parse().map_err(|_| bad(spec, x))?;
    let mut v = vec![
        u8::try_from(masklen).unwrap_or_default(),
        u8::try_from(prefixlen).unwrap_or_default(),
    ];
    v.extend_from_slice(&prefix.octets());
    v.extend_from_slice(&addr(next("border relay")?)?.octets());
    while let Some(br) = words.next(&VALUE_DELIMS) {
        v.extend_from_slice(&addr(br)?.octets());
    }
    if v.len() > MAX_OPTION_LEN {
        return Err(OptError::TooLong);
    }
    Ok(v)
}

/// RFC 3361 option 120 from a list of addresses (encoding 1) or of domain
/// names (encoding 0; the RFC forbids mixing). Names are not compressed:
/// RFC 3361 does not say where pointer offsets count from, and decoders
/// disagree. BusyBox cannot parse it.
fn parse_sip(spec: &OptSpec, value: &str) -> Result<Vec<u8>, OptError> {
    let mut words = Words { rest: value };
    let first = words
        .next(&VALUE_DELIMS)
        .ok_or_else(|| OptError::MissingValue(spec.name.to_owned()))?;
    let mut v;
    if let Some(ip) = parse_ipv4_aton(first) {
        v = vec![1];
        v.extend_from_slice(&ip.octets());
        while let Some(w) = words.next(&VALUE_DELIMS) {
            v.extend_from_slice(&addr(w)?.octets());
        }
    } else {
        let mut names = vec![dns::text_to_labels(first).map_err(|_| bad(spec, first))?];
        while let Some(w) = words.next(&VALUE_DELIMS) {
            if parse_ipv4_aton(w).is_some() {
                return Err(bad(spec, w));
            }
            names.push(dns::text_to_labels(w).map_err(|_| bad(spec, w))?);
        }
        v = vec![0];
        dns::encode_into(&mut v, &names, false);
    }
    if v.len() > MAX_OPTION_LEN {
        return Err(OptError::TooLong);
    }
    Ok(v)
}
