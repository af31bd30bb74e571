//! Option bytes → script-environment text, in the formats BusyBox's udhcpc
//! exports (`xmalloc_optname_optval`), with its memory-safety fixes
//! (CVE-2011-2716, CVE-2016-2147, CVE-2016-2148, CVE-2019-5747) built in:
//! every read is bounds-checked, so any byte string formats without panic.
//!
//! Making the text safe for a careless shell script is not done here (the
//! script module does it for every variable); this module renders the
//! option faithfully.

use core::fmt::Write as _;
use std::net::Ipv4Addr;

use super::dns;
use super::table::{by_code, env_name, Kind};

/// Option 52 (overload) is consumed by the packet parser, never exported.
const OPT_OVERLOAD: u8 = 52;

/// Formats one option (all its instances already concatenated, RFC 3396)
/// as a script variable `(name, value)`.
///
/// `None` for zero-length data (BusyBox skips those since 1.33) and for
/// option 52. Codes without a table name give `optNN` and lower-case hex.
/// Malformed data for a known kind gives an empty value (`subnet=`), as
/// BusyBox does, so scripts see that the server sent the option.
pub fn format_option(code: u8, data: &[u8]) -> Option<(String, String)> {
    if data.is_empty() || code == OPT_OVERLOAD {
        return None;
    }
    let kind = match by_code(code) {
        Some(o) if o.is_named() => o.kind,
        _ => Kind::Bin,
    };
    Some((env_name(code), format_value(kind, data)))
}

/// The value text of `data` read as `kind`.
fn format_value(kind: Kind, data: &[u8]) -> String {
    match kind {
        Kind::Ip => ip_list(data),
        Kind::IpPair => join(data.chunks_exact(8).map(|p| {
            let (a, b) = p.split_at(4);
            format!("{}/{}", ip(a), ip(b))
        })),
        Kind::U8 => join(data.iter().map(u8::to_string)),
        Kind::U16 => join(data.chunks_exact(2).map(|c| be16(c).to_string())),
        Kind::U32 => join(data.chunks_exact(4).map(|c| be32(c).to_string())),
        // Signed, unlike BusyBox on 64-bit hosts (see docs/differences.md).
        Kind::S32 => join(data.chunks_exact(4).map(|c| (be32(c) as i32).to_string())),
        Kind::Str => render_bytes(until_nul(data)),
        Kind::HostStr => host_string(data),
        Kind::Bin => format_hex(data),
        Kind::StaticRoutes => static_routes(data),
        Kind::SixRd => six_rd(data),
        Kind::DnsList => dns_list(data),
        Kind::SipServers => match data.split_first() {
            Some((1, rest)) => ip_list(rest),
            Some((0, rest)) => dns_list(rest),
            _ => String::new(),
        },
    }
}

/// Lower-case hex of every byte (the `optNN=` format).
pub fn format_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The prefix length for the `mask` variable, from option 1's data.
///
/// Only exactly 4 bytes count (CVE-2019-5747: BusyBox read 4 bytes of a
/// shorter option). Unlike BusyBox, which exports the popcount, a
/// non-contiguous mask (`255.0.255.0`) gives `None`: no prefix length
/// describes it, and a popcount would silently configure a different
/// network than `subnet` says.
pub fn mask_prefix_len(data: &[u8]) -> Option<u8> {
    let m = u32::from_be_bytes(data.try_into().ok()?);
    // Contiguous means the inverted mask is 0…01…1, i.e. one below a power
    // of two (or all ones).
    if (!m).wrapping_add(1) & !m != 0 {
        return None;
    }
    u8::try_from(m.count_ones()).ok()
}

/// Big-endian value of the first two bytes of `c` (callers pass two).
fn be16(c: &[u8]) -> u16 {
    match *c {
        [a, b, ..] => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Big-endian value of the first four bytes of `c` (callers pass four).
fn be32(c: &[u8]) -> u32 {
    match *c {
        [a, b, d, e, ..] => u32::from_be_bytes([a, b, d, e]),
        _ => 0,
    }
}

/// Dotted quad of the first four bytes of `b` (callers pass exactly four).
fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::from(be32(b))
}

/// Space-separated dotted quads, trailing partial address ignored.
fn ip_list(data: &[u8]) -> String {
    join(data.chunks_exact(4).map(|c| ip(c).to_string()))
}

fn join(items: impl Iterator<Item = String>) -> String {
    let mut s = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&item);
    }
    s
}

/// The bytes before the first NUL: what a C string of the option holds.
fn until_nul(data: &[u8]) -> &[u8] {
    data.split(|&b| b == 0).next().unwrap_or_default()
}

/// Bytes as text: valid UTF-8 passes unchanged (so ASCII matches BusyBox
/// byte for byte); each byte of an invalid sequence, and NUL (which an
/// environment variable cannot hold), becomes `\xNN`. Lossless except that
/// a literal `\x41` in the data reads the same as an escaped byte; a
/// `String` cannot carry the raw bytes.
pub(crate) fn render_bytes(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\0' {
                s.push_str("\\x00");
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// BusyBox's current `good_hostname()`: does not start with `-`, and every
/// byte is an ASCII letter, digit, `-`, `_` or `.` (empty passes).
pub fn good_hostname(name: &[u8]) -> bool {
    name.first() != Some(&b'-')
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Options 12, 15, 40, 66 (CVE-2011-2716): the string if it is a good host
/// name, else `bad` cut to the option length minus one, exactly as
/// BusyBox's `safe_strncpy(dest, "bad", len)`.
fn host_string(data: &[u8]) -> String {
    let s = until_nul(data);
    if good_hostname(s) {
        // Only ASCII passed the check, so this is exact.
        return render_bytes(s);
    }
    let keep = data.len().saturating_sub(1).min(3);
    "bad".get(..keep).unwrap_or_default().to_owned()
}

/// RFC 3442 routes: `net/len router` per entry; stops at a mask over 32 or
/// at an entry the data does not hold completely.
fn static_routes(data: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&mask, tail)) = rest.split_first() {
        if mask > 32 {
            break;
        }
        let n = usize::from(mask).div_ceil(8);
        let (Some(prefix), Some(router)) = (tail.get(..n), tail.get(n..n + 4)) else {
            break;
        };
        let mut net = [0u8; 4];
        for (d, s) in net.iter_mut().zip(prefix) {
            *d = *s;
        }
        out.push(format!("{}/{mask} {}", Ipv4Addr::from(net), ip(router)));
        rest = tail.get(n + 4..).unwrap_or_default();
    }
    out.join(" ")
}

/// RFC 5969 §7.1.1: `MASKLEN PREFIXLEN PREFIX BR…`, the prefix as eight
/// groups of four hex digits (BusyBox's `sprint_nip6`). Only when the header
/// is consistent (the CVE-2016-2148 sanity checks); otherwise empty.
fn six_rd(data: &[u8]) -> String {
    let (Some(&masklen), Some(&prefixlen), Some(prefix), Some(brs)) =
        (data.first(), data.get(1), data.get(2..18), data.get(18..))
    else {
        return String::new();
    };
    if brs.len() < 4 || masklen > 32 || u32::from(prefixlen) + 32 - u32::from(masklen) > 128 {
        return String::new();
    }
    let mut s = format!("{masklen} {prefixlen} ");
    for (i, g) in prefix.chunks_exact(2).enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{:04x}", be16(g));
    }
    for br in brs.chunks_exact(4) {
        let _ = write!(s, " {}", ip(br));
    }
    s
}

/// Option 119 (and 120 with encoding 0): names space-separated, no trailing
/// dot; empty on any decoding error (BusyBox exports `search=` too).
fn dns_list(data: &[u8]) -> String {
    let Ok(names) = dns::decode(data) else {
        return String::new();
    };
    let mut s = String::new();
    for (i, labels) in names.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        for (j, label) in labels.iter().enumerate() {
            if j > 0 {
                s.push('.');
            }
            s.push_str(&render_bytes(label));
        }
    }
    s
}
