//! The udhcpc script environment: a received ACK or NAK → the variables
//! passed to `PROG bound|renew|nak` (BusyBox 1.37 `fill_envp`, §1.9 of the
//! reference), checked so a shell that forgets to quote cannot be made to
//! run anything. Pure: no spawning and no process environment here (the
//! driver passes the list with `Command::envs`).
//!
//! # Variables
//!
//! - `interface`: always (the only one for `deconfig` and `leasefail`).
//! - `ip`: `yiaddr` (also in a NAK, usually `0.0.0.0`).
//! - `siaddr`, `giaddr`: only when non-zero.
//! - one variable per option code present, all instances concatenated
//!   first (RFC 3396), named and formatted by [`format_option`]: `subnet`,
//!   `router`, `dns`, `lease`, `staticroutes`, … or `optNN` with hex for
//!   codes without a name (`opt53=05` is always there). Option 52 is
//!   consumed by the scanner; zero-length options are skipped.
//! - `mask`: the prefix length of a 4-byte contiguous option 1, right after
//!   `subnet` (BusyBox exports a popcount even for `255.0.255.0`).
//! - `boot_file`, `sname`: the BOOTP fields, when non-empty and not used for
//!   option overload.
//!
//! `lease` is the server's raw option 51, as BusyBox exports it (absent
//! when the server sent none); the lease the client really applies (at
//! least 30 s, 3600 s by default) is in [`crate::client::Lease`]. The order
//! of the list is the order above, options in the order they first appear;
//! scripts cannot see the order anyway.
//!
//! # Shell safety (beyond BusyBox): per-option character classes
//!
//! BusyBox filters only the host-name options 12, 15, 40 and 66
//! (CVE-2011-2716) and exports `message`, `rootpath`, `bootfile`, `wpad`,
//! `tzstr`, `boot_file`, `sname`, search labels … as the server sent them.
//! Here every value is checked against the character class of its option
//! ([`class_of`], [`value_ok`]) and is either exported **exactly as the
//! server sent it** or **not at all** (dropped whole, logged at warning
//! level): a value is never silently altered.
//!
//! - [`Class::Plain`] (every option not listed below, `boot_file`,
//!   `sname`): bytes `A–Z a–z 0–9`, space and `. - _ / : , + = @ %`, and no
//!   word that starts with `-` unless it is a negative number
//!   (`timezone=-3600`). Unquoted, even under `eval echo $value`, such a
//!   value gives plain words: no command substitution, variable expansion,
//!   separator, redirection, quote, glob or option injection. Dotted quads,
//!   routes, 6rd, host and domain names and simple URLs pass.
//! - [`Class::Host`] (12, 15, 40, 66): BusyBox's rule first (a name that
//!   fails `good_hostname` becomes `bad`), then the plain class.
//! - [`Class::Tz`] (100 POSIX TZ, 101 tzdb name): only a string that
//!   parses as a POSIX TZ (`EST5EDT,M3.2.0/2,M11.1.0`, `<+03>-3`,
//!   `:Europe/Paris`) or a tzdb name (`America/Argentina/Buenos_Aires`,
//!   `Etc/GMT+3`). Under `eval`, the `<…>` of a quoted-name TZ are
//!   redirections: at worst an `eval echo $tzstr` reads a file named like
//!   the zone name and writes an empty file named like the offset; the
//!   grammar leaves no room for anything that runs a command.
//! - [`Class::Url`] (252 WPAD; 114 captive portal is in the class too,
//!   but has no name in the BusyBox options table, so it is exported as
//!   `opt114` hex like every unnamed option): the plain class without
//!   spaces plus `? & # ~`, and every `&` must start a lower-case
//!   assignment word (`&name=`), so under `eval` the `&` can only
//!   background the script's own command and assign a lower-case
//!   variable: `http://wpad.lan/proxy.pac?a=1&b=x%20y#top` passes,
//!   `http://x/?a&reboot` does not.
//!
//! # Size
//!
//! A compressed domain list (119, 120) can expand to hundreds of kilobytes,
//! past the kernel's per-string limit (`MAX_ARG_STRLEN`, 128 KiB), and then
//! the script could not be started at all. Every value is capped at
//! [`MAX_VALUE_LEN`] bytes, cut after the last whole space-separated entry
//! that fits (a single entry longer than that drops the value), and the
//! whole environment at [`MAX_ENV_LEN`] bytes (variables past it are
//! dropped whole). Both are logged.
//!
//! # MTU
//!
//! An option 26 below [`MIN_MTU`] (576, the smallest datagram every host
//! must accept, RFC 791; a DISCOVER needs 328 octets) is not exported: a
//! server sending 68 would otherwise leave the board unable to send its
//! own DHCP messages. Logged at warning level.
//!
//! Variable names come only from the options table (`optNN` otherwise).

use crate::wire::dhcp::{Packet, OVERLOAD_FILE, OVERLOAD_SNAME};
use crate::wire::options::{format_option, mask_prefix_len};

/// What replaces every unsafe byte of the interface name (the only value
/// [`sanitize`] still rewrites; it comes from our own command line).
pub const REPLACEMENT: u8 = b'_';

/// Longest value exported, in bytes (module docs, "Size").
pub const MAX_VALUE_LEN: usize = 4096;
/// Longest environment exported, names and values, in bytes.
pub const MAX_ENV_LEN: usize = 64 * 1024;
/// Smallest option 26 (MTU) exported (module docs, "MTU").
pub const MIN_MTU: u32 = 576;

/// Option 26, Interface MTU (RFC 2132 §5.1).
const OPT_MTU: u8 = 26;

/// The character class a value must fit to be exported (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The strict default.
    Plain,
    /// Host and domain names: BusyBox's `bad` rule, then [`Class::Plain`].
    Host,
    /// POSIX TZ strings and tzdb names (options 100, 101).
    Tz,
    /// URLs (options 114, 252).
    Url,
}

/// The class of option `code`.
pub fn class_of(code: u8) -> Class {
    match code {
        12 | 15 | 40 | 66 => Class::Host,
        100 | 101 => Class::Tz,
        114 | 252 => Class::Url,
        _ => Class::Plain,
    }
}

/// True for the bytes a [`Class::Plain`] value may carry.
pub fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'.' | b'-' | b'_' | b'/' | b':' | b',' | b'+' | b'=' | b'@' | b'%'
        )
}

/// True if `value` may be exported as it is under `class`.
pub fn value_ok(class: Class, value: &[u8]) -> bool {
    match class {
        Class::Plain | Class::Host => plain_ok(value),
        Class::Tz => posix_tz(value) || tzdb_name(value),
        Class::Url => url_ok(value),
    }
}

/// [`Class::Plain`]: safe bytes, no word starting with `-` unless it is a
/// negative number.
fn plain_ok(value: &[u8]) -> bool {
    value.iter().all(|&b| is_safe_byte(b))
        && value
            .split(|&b| b == b' ')
            .all(|w| w.first() != Some(&b'-') || is_negative_number(w))
}

/// [`Class::Url`]: one word of safe bytes and `? & # ~`, not starting
/// with `-`, every `&` followed by `[a-z][a-z0-9_]*=`.
fn url_ok(value: &[u8]) -> bool {
    if value.is_empty() || value.first() == Some(&b'-') {
        return false;
    }
    let bytes_ok = value
        .iter()
        .all(|&b| b != b' ' && (is_safe_byte(b) || matches!(b, b'?' | b'&' | b'#' | b'~')));
    bytes_ok && value.split(|&b| b == b'&').skip(1).all(lower_assignment)
}

/// `[a-z][a-z0-9_]*=` at the start of `s`.
fn lower_assignment(s: &[u8]) -> bool {
    let Some(eq) = s.iter().position(|&b| b == b'=') else {
        return false;
    };
    let name = s.get(..eq).unwrap_or_default();
    name.first().is_some_and(u8::is_ascii_lowercase)
        && name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A tzdb name (RFC 4833 option 101): `Area/Location` words of letters,
/// digits and `_ + -`, no word starting with `-` or `.`.
fn tzdb_name(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.split(|&b| b == b'/').all(|w| {
            !w.is_empty()
                && !matches!(w.first(), Some(b'-' | b'.'))
                && w.iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
        })
}

/// A POSIX TZ string (XBD 8.3): `:tzdbname`, or
/// `std offset [dst [offset] [,rule]]` with quoted (`<+03>`) or
/// alphabetic names.
pub fn posix_tz(value: &[u8]) -> bool {
    if let Some(rest) = value.strip_prefix(b":") {
        return tzdb_name(rest);
    }
    let mut p = TzParser { s: value, i: 0 };
    p.name() && p.offset() && (p.done() || (p.name() && p.dst_tail()))
}

/// A cursor over a TZ string.
struct TzParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl TzParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    /// Bytes while `f` holds; how many.
    fn run(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.i - start
    }

    /// `[A-Za-z]{3,}` or `<[A-Za-z0-9+-]{3,}>`.
    fn name(&mut self) -> bool {
        if self.eat(b'<') {
            self.run(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-') >= 3 && self.eat(b'>')
        } else {
            self.run(|b| b.is_ascii_alphabetic()) >= 3
        }
    }

    /// `[+-]hh[:mm[:ss]]`, 1 to 3 digits of hours (the rule times allow
    /// up to 167).
    fn offset(&mut self) -> bool {
        let _ = self.eat(b'+') || self.eat(b'-');
        if !(1..=3).contains(&self.run(|b| b.is_ascii_digit())) {
            return false;
        }
        for _ in 0..2 {
            if !self.eat(b':') {
                break;
            }
            if !(1..=2).contains(&self.run(|b| b.is_ascii_digit())) {
                return false;
            }
        }
        true
    }

    /// After the dst name: `[offset] [,date[/time],date[/time]]`.
    fn dst_tail(&mut self) -> bool {
        if self.done() {
            return true;
        }
        if self.peek() != Some(b',') && !self.offset() {
            return false;
        }
        if self.done() {
            return true;
        }
        for _ in 0..2 {
            if !(self.eat(b',') && self.date()) {
                return false;
            }
            if self.eat(b'/') && !self.offset() {
                return false;
            }
        }
        self.done()
    }

    /// `Jn`, `n` or `Mm.w.d`.
    fn date(&mut self) -> bool {
        if self.eat(b'M') {
            for k in 0..3 {
                if k > 0 && !self.eat(b'.') {
                    return false;
                }
                if !(1..=2).contains(&self.run(|b| b.is_ascii_digit())) {
                    return false;
                }
            }
            return true;
        }
        let _ = self.eat(b'J');
        (1..=3).contains(&self.run(|b| b.is_ascii_digit()))
    }
}

/// Makes the interface name safe to expand unquoted: unsafe bytes → `_`;
/// a `-` starting a word → `_` unless the word is a (negative) decimal
/// number. Server values are never rewritten (module docs).
pub fn sanitize(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut word_start = true;
    for (i, &b) in value.iter().enumerate() {
        let unsafe_dash =
            b == b'-' && word_start && !is_negative_number(value.get(i..).unwrap_or_default());
        let c = if !is_safe_byte(b) || unsafe_dash {
            REPLACEMENT
        } else {
            b
        };
        out.push(char::from(c));
        word_start = b == b' ';
    }
    out
}

/// `-` followed by at least one digit and nothing else up to the word's end.
fn is_negative_number(word: &[u8]) -> bool {
    let word = word.split(|&b| b == b' ').next().unwrap_or_default();
    match word.split_first() {
        Some((b'-', digits)) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `value` cut to at most `max` bytes after its last whole space-separated
/// entry, or `None` if not even the first entry fits.
pub fn cap_value(value: &str, max: usize) -> Option<&str> {
    if value.len() <= max {
        return Some(value);
    }
    // Only ASCII passes the classes, but stay on a char boundary anyway.
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let head = value.get(..=end).unwrap_or(value);
    let cut = head.rfind(' ')?;
    value.get(..cut).filter(|v| !v.is_empty())
}

/// The environment of the events without a packet (`deconfig`,
/// `leasefail`): just `interface`.
pub fn minimal_env(interface: &str) -> Vec<(String, String)> {
    vec![("interface".to_owned(), sanitize(interface.as_bytes()))]
}

/// Accumulates the environment under the class and size rules.
struct EnvBuilder {
    env: Vec<(String, String)>,
    total: usize,
}

impl EnvBuilder {
    /// Exports `name=value` if `value` fits `class` and the size caps,
    /// else logs why not and drops it whole.
    fn push(&mut self, name: &str, class: Class, value: &str) {
        if !value_ok(class, value.as_bytes()) {
            log::warn!(
                "{name}: value with characters a shell would act on, not exported: {:?}",
                value.get(..value.len().min(64)).unwrap_or_default()
            );
            return;
        }
        let Some(v) = cap_value(value, MAX_VALUE_LEN) else {
            log::warn!(
                "{name}: {} bytes with no entry under {MAX_VALUE_LEN}, not exported",
                value.len()
            );
            return;
        };
        if v.len() < value.len() {
            log::warn!(
                "{name}: {} bytes cut to {} (whole entries up to {MAX_VALUE_LEN} bytes)",
                value.len(),
                v.len()
            );
        }
        let size = name.len() + 1 + v.len() + 1;
        if self.total + size > MAX_ENV_LEN {
            log::warn!("{name}: environment would exceed {MAX_ENV_LEN} bytes, not exported");
            return;
        }
        self.total += size;
        self.env.push((name.to_owned(), v.to_owned()));
    }
}

/// The environment for `bound`, `renew` and `nak` from the ACK or NAK
/// (module docs for the variables, the classes and the caps).
pub fn script_env<T: AsRef<[u8]>>(interface: &str, packet: &Packet<T>) -> Vec<(String, String)> {
    let env = minimal_env(interface);
    let total = env.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut b = EnvBuilder { env, total };
    b.push("ip", Class::Plain, &packet.yiaddr().to_string());
    if !packet.siaddr().is_unspecified() {
        b.push("siaddr", Class::Plain, &packet.siaddr().to_string());
    }
    if !packet.giaddr().is_unspecified() {
        b.push("giaddr", Class::Plain, &packet.giaddr().to_string());
    }
    // Codes in order of first appearance; each exported once, with every
    // instance concatenated (RFC 3396).
    let mut seen = [false; 256];
    let mut codes = Vec::new();
    for (code, _) in packet.options().map_while(Result::ok) {
        if let Some(s) = seen.get_mut(usize::from(code)) {
            if !*s {
                *s = true;
                codes.push(code);
            }
        }
    }
    for code in codes {
        let Some(data) = packet.option_concat(code) else {
            continue;
        };
        if code == OPT_MTU {
            if let Ok(raw) = <[u8; 2]>::try_from(data.as_slice()) {
                let mtu = u32::from(u16::from_be_bytes(raw));
                if mtu < MIN_MTU {
                    log::warn!("server MTU {mtu} is below {MIN_MTU}, ignored");
                    continue;
                }
            }
        }
        let Some((name, value)) = format_option(code, &data) else {
            continue;
        };
        b.push(&name, class_of(code), &value);
        if code == 1 {
            if let Some(len) = mask_prefix_len(&data) {
                b.push("mask", Class::Plain, &len.to_string());
            }
        }
    }
    let overload = packet.overload();
    if overload & OVERLOAD_FILE == 0 && !packet.file_str().is_empty() {
        b.push(
            "boot_file",
            Class::Plain,
            &String::from_utf8_lossy(packet.file_str()),
        );
    }
    if overload & OVERLOAD_SNAME == 0 && !packet.sname_str().is_empty() {
        b.push(
            "sname",
            Class::Plain,
            &String::from_utf8_lossy(packet.sname_str()),
        );
    }
    b.env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dhcp::{MessageBuilder, MessageType, OP_REPLY};
    use crate::wire::options::by_code;
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    /// An ACK with `opts` (in order) and the given BOOTP fields.
    fn ack(opts: &[(u8, &[u8])], sname: &[u8], file: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 1472];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 7).unwrap();
        b.header().set_client_mac(MAC);
        b.header().set_yiaddr(Ipv4Addr::new(192, 168, 1, 100));
        b.header().set_siaddr(Ipv4Addr::new(192, 168, 1, 1));
        b.set_sname(sname).unwrap();
        b.set_file(file).unwrap();
        b.max_len(1472);
        b.add_message_type(MessageType::Ack).unwrap();
        for (c, d) in opts {
            b.add_option(*c, d).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn env_of(bytes: &[u8]) -> Vec<(String, String)> {
        script_env("eth0", &Packet::new_checked(bytes).unwrap())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn golden_ack_environment() {
        let search = b"\x07example\x03com\x00\x03foo\xc0\x08";
        let routes = [24, 10, 0, 0, 192, 168, 1, 1, 0, 192, 168, 1, 254];
        let mut six_rd = vec![16, 32, 0x20, 0x01, 0x0d, 0xb8];
        six_rd.extend([0; 12]);
        six_rd.extend([192, 0, 2, 1]);
        let bytes = ack(
            &[
                (54, &[192, 168, 1, 1]),
                (51, &3600u32.to_be_bytes()),
                (1, &[255, 255, 255, 0]),
                (3, &[192, 168, 1, 1]),
                (6, &[8, 8, 8, 8]),
                (15, b"example.com"),
                (12, b"host-1"),
                (119, search),
                (121, &routes),
                (120, &[1, 10, 0, 0, 5]),
                (212, &six_rd),
                (26, &1500u16.to_be_bytes()),
                (2, &(-3600i32).to_be_bytes()),
                (224, &[1, 2, 0xab]),
                (6, &[1, 1, 1, 1]),
                (8, &[1, 2, 3, 4]),
                (58, &1800u32.to_be_bytes()),
                (12, b""),
                (42, &[10, 0, 0, 1, 10, 0, 0, 2]),
            ],
            b"boot-server",
            b"pxelinux.0",
        );
        assert_eq!(
            env_of(&bytes),
            pairs(&[
                ("interface", "eth0"),
                ("ip", "192.168.1.100"),
                ("siaddr", "192.168.1.1"),
                ("opt53", "05"),
                ("serverid", "192.168.1.1"),
                ("lease", "3600"),
                ("subnet", "255.255.255.0"),
                ("mask", "24"),
                ("router", "192.168.1.1"),
                ("dns", "8.8.8.8 1.1.1.1"),
                ("domain", "example.com"),
                ("hostname", "host-1"),
                ("search", "example.com foo.com"),
                (
                    "staticroutes",
                    "10.0.0.0/24 192.168.1.1 0.0.0.0/0 192.168.1.254"
                ),
                ("sipsrv", "10.0.0.5"),
                (
                    "ip6rd",
                    "16 32 2001:0db8:0000:0000:0000:0000:0000:0000 192.0.2.1"
                ),
                ("mtu", "1500"),
                ("timezone", "-3600"),
                ("opt224", "0102ab"),
                ("opt8", "01020304"),
                ("opt58", "00000708"),
                ("ntpsrv", "10.0.0.1 10.0.0.2"),
                ("boot_file", "pxelinux.0"),
                ("sname", "boot-server"),
            ])
        );
    }

    #[test]
    fn nak_and_minimal_environments() {
        let mut buf = vec![0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 7).unwrap();
        b.add_message_type(MessageType::Nak).unwrap();
        b.add_option(54, &[10, 0, 0, 1]).unwrap();
        b.add_option(56, b"address not available").unwrap();
        let n = b.finish();
        assert_eq!(
            env_of(&buf[..n]),
            pairs(&[
                ("interface", "eth0"),
                ("ip", "0.0.0.0"),
                ("opt53", "06"),
                ("serverid", "10.0.0.1"),
                ("message", "address not available"),
            ])
        );
        assert_eq!(minimal_env("wlan0"), pairs(&[("interface", "wlan0")]));
        assert_eq!(minimal_env("e$(x)"), pairs(&[("interface", "e__x_")]));
    }

    #[test]
    fn mask_only_for_contiguous_four_bytes_and_giaddr() {
        let bytes = ack(&[(1, &[255, 0, 255, 0])], b"", b"");
        let env = env_of(&bytes);
        assert!(env.contains(&("subnet".into(), "255.0.255.0".into())));
        assert!(!env.iter().any(|(n, _)| n == "mask"));
        // Short subnet (CVE-2019-5747): empty value, no mask.
        let mut bytes = ack(&[(1, &[255, 255])], b"", b"");
        Packet::new_unchecked(&mut bytes[..]).set_giaddr(Ipv4Addr::new(10, 9, 8, 7));
        let env = env_of(&bytes);
        assert!(env.contains(&("subnet".into(), String::new())));
        assert!(env.contains(&("giaddr".into(), "10.9.8.7".into())));
        assert!(!env.iter().any(|(n, _)| n == "mask"));
    }

    #[test]
    fn overloaded_fields_are_options_not_names() {
        let mut bytes = ack(&[(52, &[3])], b"", b"");
        let mut file = [0u8; 128];
        file[..8].copy_from_slice(b"\x0f\x05a-b.c\xff");
        let mut sname = [0u8; 64];
        sname[..7].copy_from_slice(b"\x38\x04 hi!\xff");
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_file(&file);
        p.set_sname(&sname);
        let env = env_of(&bytes);
        assert!(env.contains(&("domain".into(), "a-b.c".into())));
        // `!` is outside the plain class: dropped, not rewritten.
        assert!(!env.iter().any(|(n, _)| n == "message"));
        assert!(!env
            .iter()
            .any(|(n, _)| n == "boot_file" || n == "sname" || n == "opt52"));
    }

    #[test]
    fn long_options_are_concatenated() {
        // 300 bytes of routes: the builder splits them (RFC 3396).
        let route = [32, 10, 0, 0, 1, 192, 168, 1, 1];
        let routes: Vec<u8> = route.iter().copied().cycle().take(9 * 33).collect();
        let bytes = ack(&[(121, &routes)], b"", b"");
        let env = env_of(&bytes);
        let (_, v) = env.iter().find(|(n, _)| n == "staticroutes").unwrap();
        assert_eq!(v.matches("10.0.0.1/32 192.168.1.1").count(), 33);
    }

    #[test]
    fn sanitize_rules() {
        assert_eq!(sanitize(b"10.0.0.0/8 10.0.0.1"), "10.0.0.0/8 10.0.0.1");
        assert_eq!(
            sanitize(b"http://wpad.lan:8080/wpad.dat"),
            "http://wpad.lan:8080/wpad.dat"
        );
        assert_eq!(sanitize(b"$(reboot)"), "__reboot_");
        assert_eq!(
            sanitize(b"`id`;a|b&c<d>e'f\"g\\h\ni\tj"),
            "_id__a_b_c_d_e_f_g_h_i_j"
        );
        assert_eq!(sanitize(b"-rf x -y z-w"), "_rf x _y z-w");
        assert_eq!(sanitize(b"-3600 -12a -"), "-3600 _12a _");
        assert_eq!(sanitize(b"*?[]{}~!#^"), "__________");
        assert_eq!(sanitize("café".as_bytes()), "caf__");
        assert_eq!(sanitize(b""), "");
    }

    /// Every string a hostile server controls, carrying shell syntax.
    const PAYLOAD: &[u8] =
        b"-x $(touch canary) `touch canary`;touch canary|touch canary&touch canary \"'\\\n<canary >canary *";

    /// `sname` and `file` carrying the payload, plus a few string options.
    fn hostile_ack() -> Vec<u8> {
        let opts: Vec<(u8, &[u8])> = [12u8, 56, 17].iter().map(|&c| (c, PAYLOAD)).collect();
        ack(&opts, PAYLOAD, PAYLOAD)
    }

    fn hostile_messages() -> Vec<Vec<u8>> {
        let mut label = vec![63u8];
        label.extend(&PAYLOAD[..63]);
        label.push(0);
        let mut sip = vec![0u8];
        sip.extend(&label);
        let codes = [12u8, 15, 40, 66, 56, 17, 67, 100, 101, 209, 210, 252, 60];
        let mut msgs = vec![hostile_ack()];
        for chunk in codes.chunks(4) {
            let opts: Vec<(u8, &[u8])> = chunk.iter().map(|&c| (c, PAYLOAD)).collect();
            msgs.push(ack(&opts, b"", b""));
        }
        msgs.push(ack(&[(119, &label), (120, &sip), (224, PAYLOAD)], b"", b""));
        msgs
    }

    #[test]
    fn hostile_server_strings_are_dropped_never_altered() {
        for msg in hostile_messages() {
            let p = Packet::new_checked(&msg[..]).unwrap();
            for (name, value) in env_of(&msg) {
                // Names only from the table or optNN.
                let code_ok = match name.strip_prefix("opt") {
                    Some(n) if n.parse::<u8>().is_ok() => true,
                    _ => {
                        [
                            "interface",
                            "ip",
                            "siaddr",
                            "giaddr",
                            "mask",
                            "boot_file",
                            "sname",
                        ]
                        .contains(&name.as_str())
                            || (1..=254).any(|c| by_code(c).is_some_and(|o| o.name == name))
                    }
                };
                assert!(code_ok, "name {name}");
                for bad in ["$(", "`", ";", "|", "\"", "'", "\\", "\n", "*", "-x"] {
                    assert!(!value.contains(bad), "{name}={value:?} has {bad:?}");
                }
                // Whatever is exported is exactly what the server sent.
                if let Some(o) = (1..=254u8).find(|&c| by_code(c).is_some_and(|o| o.name == name)) {
                    let data = p.option_concat(o).unwrap();
                    assert_eq!(Some((name.clone(), value.clone())), format_option(o, &data));
                }
            }
        }
        // The payload-carrying variables are absent, not rewritten.
        let env = env_of(&hostile_messages()[0]);
        for name in ["message", "rootpath", "boot_file", "sname"] {
            assert!(!env.iter().any(|(n, _)| n == name), "{name} in {env:?}");
        }
        // Host-name options keep BusyBox's `bad`.
        let env = env_of(&hostile_messages()[1]);
        assert!(env.contains(&("hostname".into(), "bad".into())));
    }

    #[test]
    fn tz_strings_kept_intact() {
        for tz in [
            "<+03>-3",
            "EST5EDT,M3.2.0/2,M11.1.0",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "<-0330>3:30",
            "NZST-12NZDT,M9.5.0,M4.1.0/3",
            "IST-5:30",
            "AAA3BBB,J60/2,300",
            "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
            ":Europe/Paris",
        ] {
            assert!(value_ok(Class::Tz, tz.as_bytes()), "{tz}");
            let bytes = ack(&[(100, tz.as_bytes())], b"", b"");
            assert!(
                env_of(&bytes).contains(&("tzstr".into(), tz.into())),
                "{tz}"
            );
        }
        for name in [
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+3",
            "UTC",
        ] {
            let bytes = ack(&[(101, name.as_bytes())], b"", b"");
            assert!(
                env_of(&bytes).contains(&("tzdbstr".into(), name.into())),
                "{name}"
            );
        }
        for bad in [
            "<+03>reboot",
            "<+03>-3;reboot",
            "UTC0 $(reboot)",
            "<a>1",
            "EST5EDT,M3.2.0/2,M11.1.0,x",
            "<+03>/etc/shadow",
            "-rf",
            "../etc",
            "",
        ] {
            assert!(!value_ok(Class::Tz, bad.as_bytes()), "{bad}");
        }
        let bytes = ack(&[(100, b"<+03>3>x")], b"", b"");
        assert!(!env_of(&bytes).iter().any(|(n, _)| n == "tzstr"));
    }

    #[test]
    fn urls_kept_intact() {
        for url in [
            "http://wpad.lan/proxy.pac?a=1&b=x%20y#top",
            "https://portal.example/?session=abc~1&lang=en",
            "http://10.0.0.1:8080/wpad.dat",
        ] {
            assert!(value_ok(Class::Url, url.as_bytes()), "{url}");
            let bytes = ack(&[(252, url.as_bytes())], b"", b"");
            assert!(
                env_of(&bytes).contains(&("wpad".into(), url.into())),
                "{url}"
            );
        }
        for bad in [
            "http://x/?a&reboot",
            "http://x/?a=1&PATH=/tmp",
            "http://x/?a=1&b",
            "http://x/ reboot",
            "http://x/$(reboot)",
            "-x",
            "http://x/;reboot",
            "http://x/<y",
        ] {
            assert!(!value_ok(Class::Url, bad.as_bytes()), "{bad}");
        }
        // `&` is not in the plain class: a message with one is dropped.
        let bytes = ack(&[(56, b"a=1&b=2")], b"", b"");
        assert!(!env_of(&bytes).iter().any(|(n, _)| n == "message"));
    }

    #[test]
    fn tiny_mtu_not_exported() {
        for (mtu, want) in [
            (68u16, None),
            (575, None),
            (576, Some("576")),
            (1500, Some("1500")),
        ] {
            let bytes = ack(&[(26, &mtu.to_be_bytes())], b"", b"");
            let got = env_of(&bytes)
                .into_iter()
                .find(|(n, _)| n == "mtu")
                .map(|(_, v)| v);
            assert_eq!(got.as_deref(), want, "{mtu}");
        }
    }

    /// A domain-search list of `n` names, each a pointer-shared 200-byte
    /// name: a few hundred bytes on the wire, `n` × 200 bytes decoded.
    fn exploding_search(n: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for _ in 0..4 {
            data.push(49);
            data.extend([b'a'; 49]);
        }
        data.push(0);
        for _ in 1..n {
            data.extend([0xc0, 0]);
        }
        data
    }

    #[test]
    fn values_capped_at_whole_entries() {
        assert_eq!(cap_value("a b c", 10), Some("a b c"));
        assert_eq!(cap_value("aa bb cc", 5), Some("aa bb"));
        assert_eq!(cap_value("aa bb cc", 6), Some("aa bb"));
        assert_eq!(cap_value("aaaaaa bb", 5), None);
        // 500 names of 199 bytes: 100 KB decoded from 1.2 KB.
        let bytes = ack(&[(119, &exploding_search(500))], b"", b"");
        let env = env_of(&bytes);
        let (_, v) = env.iter().find(|(n, _)| n == "search").unwrap();
        assert!(
            v.len() <= MAX_VALUE_LEN && v.len() > MAX_VALUE_LEN - 200,
            "{}",
            v.len()
        );
        assert!(v.split(' ').all(|w| w.len() == 199), "whole names only");
        let total: usize = env.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        assert!(total <= MAX_ENV_LEN);
    }

    #[test]
    fn environment_total_is_capped() {
        // A 1500-byte packet cannot reach the total with the per-value cap;
        // the bound is checked on the builder directly.
        let mut b = EnvBuilder {
            env: Vec::new(),
            total: 0,
        };
        let v = "ab ".repeat(1500);
        for i in 0..40 {
            b.push(&format!("opt{i}"), Class::Plain, &v);
        }
        assert!(b.total <= MAX_ENV_LEN, "{}", b.total);
        let exported: usize = b.env.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        assert_eq!(exported, b.total);
        assert_eq!(b.env.len(), MAX_ENV_LEN / 4102, "whole variables only");
    }

    /// Runs `eval echo $var` (unquoted, through eval) for every variable in
    /// `env` in a scratch directory; true if the canary file appeared.
    fn shell_runs_payload(env: &[(String, String)]) -> bool {
        let dir = std::env::temp_dir().join(format!(
            "udhcp-script-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        let script = format!(
            "cd \"$1\" || exit 9\nfor v in {}; do eval \"eval echo \\${{$v}}\"; echo $(eval echo \\$$v) >/dev/null; done\n",
            names.join(" ")
        );
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .arg("sh")
            .arg(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_ne!(status.code(), Some(9));
        let hit = dir.join("canary").exists();
        let _ = std::fs::remove_dir_all(&dir);
        hit
    }

    #[test]
    fn unquoted_eval_in_a_real_shell_executes_nothing() {
        // Control: BusyBox's unfiltered `message` does run the payload.
        let raw = vec![("message".to_owned(), "x $(touch canary)".to_owned())];
        assert!(
            shell_runs_payload(&raw),
            "the harness must detect execution"
        );
        let mut all = Vec::new();
        for msg in hostile_messages() {
            all.extend(env_of(&msg));
        }
        all.sort();
        all.dedup_by(|a, b| a.0 == b.0);
        assert!(!shell_runs_payload(&all));
        // The values kept intact under the wider classes run nothing either.
        let legit = ack(
            &[
                (100, b"<+03>-3"),
                (101, b"Etc/GMT+3"),
                (252, b"http://x/?a=1&b=canary#c"),
            ],
            b"",
            b"",
        );
        let env = env_of(&legit);
        assert!(env.iter().any(|(n, _)| n == "wpad"));
        assert!(!shell_runs_payload(&env));
    }
}
