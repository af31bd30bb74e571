//! udhcpd.conf: the text form of the server configuration, parsed into the
//! validated [`ServerConfig`] the server consumes (reference §2.2–§2.6).
//!
//! Pure code: [`parse`] takes the file's text and its name (for messages);
//! the applet reads the file or stdin, reports invalid UTF-8, and logs the
//! warnings. Behaviour follows BusyBox 1.37 (`dhcpd/files.c` with libbb's
//! `config_read`), written anew; the deliberate differences are listed in
//! docs/differences.md and marked where they happen.
//!
//! # Syntax
//!
//! - `#` anywhere starts a comment (so values cannot contain `#`); blank
//!   lines are skipped.
//! - A line ending in `\` is joined with the next one (nothing is inserted
//!   between them); messages give the number of the first physical line.
//!   `\r\n` line ends are accepted.
//! - The keyword is the first blank-separated token (space or tab), matched
//!   case-insensitively; the value is the rest of the line with leading and
//!   trailing blanks removed and inner blanks kept.
//! - A known keyword without a value is an error; an unknown keyword is a
//!   warning and the line is ignored (so configs written for other udhcpd
//!   forks still load).
//! - Scalar keywords: the last line wins. `option`/`opt` and `static_lease`
//!   accumulate.
//! - Every bad value is an error naming the file, the line and the keyword:
//!   `/etc/udhcpd.conf:12: bad value for 'max_leases': 'abc'`.
//!
//! # Keywords
//!
//! | Keyword | Value | Default |
//! |---|---|---|
//! | `start` | first pool address | `192.168.0.20` |
//! | `end` | last pool address, inclusive | `192.168.0.254` |
//! | `interface` | interface to serve | `eth0` |
//! | `max_leases` | lease table size, at least 1, clamped to the pool size | `235` |
//! | `auto_time` | seconds between lease-file writes, 0 = never on a timer; at most 2147483 | `7200` |
//! | `decline_time` | seconds an address is held after DECLINE | `3600` |
//! | `conflict_time` | seconds an address is held after an ARP conflict | `3600` |
//! | `offer_time` | seconds an address is held after OFFER | `60` |
//! | `min_lease` | lower clamp for a requested lease time, seconds | `60` |
//! | `lease_file` | lease file path | `/var/lib/misc/udhcpd.leases` |
//! | `pidfile` | pidfile path | `/var/run/udhcpd.pid` |
//! | `notify_file` | program run as `PROG LEASEFILE` after lease-file writes | none |
//! | `siaddr` | BOOTP next-server address | `0.0.0.0` |
//! | `sname` | BOOTP server name, at most 63 bytes | none |
//! | `boot_file` | BOOTP file name, at most 127 bytes | none |
//! | `option`, `opt` | `NAME VALUE…` or `CODE HEX`/`CODE "TEXT"` ([`OptionSet::add_text`]); `option lease N` is also the maximum lease | none (maximum lease `864000`) |
//! | `static_lease` | `MAC IP [HOSTNAME]` | – |
//! | `remaining` | accepted and ignored (removed from BusyBox in 2009) | – |
//! | `rapid_commit` | `yes`/`no`: answer a DISCOVER carrying option 80 with a durable ACK (RFC 4039; not in BusyBox) | `no` |
//! | `t1_percent`, `t2_percent` | T1 (58) and T2 (59) sent with a lease as this percentage of it (one decimal allowed; 0 = not sent; never for an infinite lease; a configured `option 58`/`59` wins) | `50`, `87.5` |
//! | `authoritative` | `yes`/`no`: NAK an INIT-REBOOT or RENEW for an address the server does not know (ISC `authoritative;`) | `no` |
//! | `fqdn_suffix` | domain appended to a partial name in a client's option 81 (RFC 4702) | none |
//! | `lease_script` | program run as `PROG add\|old\|del MAC IP [HOSTNAME]` when a lease is granted, renewed, released or expires | none |
//! | `exclude` | `A.B.C.D` or `A.B.C.D-A.B.C.D` (repeatable): addresses of the pool never handed out dynamically (a router or printer inside the range); a lease on one is dropped at load and reload | none |
//! | `ping_check` | `yes`/`no`: before offering a new address of a relayed network, send it one ICMP echo and wait `-a` ms; an answer = in use (ISC `ping-check`). Local networks are ARP-probed whatever it says | `no` |
//!
//! Option values may be longer than 255 bytes (up to 1020, lists and raw
//! hex): replies carry them split over consecutive instances (RFC 3396).
//!
//! Numbers are unsigned 32-bit decimal (no sign, no blanks). Addresses are
//! `inet_aton` forms; host names are not resolved.

use core::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::wire::options::{by_code, good_hostname, parse_code, parse_ipv4_aton, OptionSet};
use crate::wire::MacAddr;

/// One `static_lease MAC IP [HOSTNAME]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticLease {
    /// The client's hardware address (matched against chaddr).
    pub mac: MacAddr,
    /// The fixed address; may lie outside start..end.
    pub ip: Ipv4Addr,
    /// Sent as option 12 to this client (replacing any `opt hostname`).
    pub hostname: Option<String>,
}

/// What a [`Class`] matches, exactly (no patterns: a table, not a
/// language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassMatch {
    /// The client's vendor class identifier (option 60).
    Vendor(Vec<u8>),
    /// The client's user class option (77), its whole data.
    User(Vec<u8>),
    /// The relay's circuit-id (option 82 sub-option 1), opaque bytes.
    Circuit(Vec<u8>),
    /// The first bytes of the client's MAC.
    MacPrefix(Vec<u8>),
}

/// `class NAME KIND VALUE` + `class_option NAME OPTION…` (our extension):
/// options for the clients a match selects, over the network's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The class's name.
    pub name: String,
    /// What selects it.
    pub matcher: ClassMatch,
    /// Its options (replace the network's option of the same code).
    pub options: OptionSet,
}

/// A `network NAME` section (our extension): a subnet reached through a
/// DHCP relay (`relay_subnet`) or attached to another local interface
/// (`interface`), with its own pool, options, lease times and static
/// leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The section's name (logs).
    pub name: String,
    /// `interface IFACE`: a local network, served on that interface (also
    /// `config.interface`); `None`: a relayed one.
    pub local: Option<String>,
    /// The link a relay's giaddr (or the link-selection address) lies on:
    /// `relay_subnet A.B.C.D/LEN`; for a local network the subnet of its
    /// pool (`start` masked with `option subnet`, else the shortest
    /// prefix holding `start` and `end`).
    pub subnet: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The network's settings: the top-level ones above the first section,
    /// then the section's own; `options`, `static_leases`, `start`, `end`
    /// and `max_leases` are the section's alone.
    pub config: ServerConfig,
}

impl Network {
    /// True if `ip` is on this network's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix);
        u32::from(ip) & mask == u32::from(self.subnet) & mask
    }
}

/// The netmask of a prefix length (0..=32).
pub fn prefix_mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

/// A validated udhcpd configuration (reference §2.3, BusyBox defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// First pool address (`start`, default 192.168.0.20).
    pub start: Ipv4Addr,
    /// Last pool address, inclusive (`end`, default 192.168.0.254).
    pub end: Ipv4Addr,
    /// Interface to serve (`interface`, default eth0).
    pub interface: String,
    /// Lease table size (`max_leases`, default 235), already clamped to the
    /// pool size.
    pub max_leases: u32,
    /// Seconds between lease-file writes (`auto_time`, default 7200; 0 =
    /// only on signals and ACKs).
    pub auto_time: u32,
    /// Hold after DECLINE, seconds (`decline_time`, default 3600).
    pub decline_time: u32,
    /// Hold after an ARP conflict, seconds (`conflict_time`, default 3600).
    pub conflict_time: u32,
    /// Hold after OFFER, seconds (`offer_time`, default 60).
    pub offer_time: u32,
    /// Lower clamp for a client-requested lease time (`min_lease`, default 60).
    pub min_lease: u32,
    /// Maximum (and default) lease time: `option lease N`, else 864000.
    pub max_lease: u32,
    /// Lease file (`lease_file`, default /var/lib/misc/udhcpd.leases).
    pub lease_file: String,
    /// Pidfile (`pidfile`, default /var/run/udhcpd.pid).
    pub pidfile: String,
    /// Program run as `PROG LEASEFILE` after lease-file writes.
    pub notify_file: Option<String>,
    /// BOOTP `siaddr` (next server) in replies (default 0.0.0.0).
    pub siaddr: Ipv4Addr,
    /// BOOTP `sname` (at most 63 bytes are sent).
    pub sname: Option<String>,
    /// BOOTP `file` (at most 127 bytes are sent).
    pub boot_file: Option<String>,
    /// `static_lease` lines, in file order.
    pub static_leases: Vec<StaticLease>,
    /// `exclude A.B.C.D[-A.B.C.D]` lines: addresses of the pool never
    /// handed out dynamically (first, last; inclusive).
    pub excludes: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// `option`/`opt` lines (option 51 included: it is also `max_lease`).
    pub options: OptionSet,
    /// `rapid_commit yes`: DISCOVER with option 80 → ACK (RFC 4039).
    pub rapid_commit: bool,
    /// T1 (option 58) as thousandths of the lease (`t1_percent`, default
    /// 50 %); 0 = not sent.
    pub t1_permille: u32,
    /// T2 (option 59) as thousandths of the lease (`t2_percent`, default
    /// 87.5 %, RFC 2131 §4.4.5); 0 = not sent.
    pub t2_permille: u32,
    /// `authoritative yes`: NAK requests for addresses we do not know.
    pub authoritative: bool,
    /// `fqdn_suffix`: completes a partial client FQDN (RFC 4702 §4).
    pub fqdn_suffix: Option<String>,
    /// `lease_script`: the per-lease event hook.
    pub lease_script: Option<String>,
    /// `subnet_selection yes`: honour option 118 (RFC 3011).
    pub subnet_selection: bool,
    /// `ping_check yes`: a relayed network's new addresses are checked
    /// with an ICMP echo first.
    pub ping_check: bool,
    /// `network` sections, in file order (empty: BusyBox's one network).
    pub networks: Vec<Network>,
    /// `class` lines of this network, in file order (the first match
    /// wins).
    pub classes: Vec<Class>,
    /// `host_option MAC OPTION…`: per-host options (over the class's and
    /// the network's), for static-lease clients.
    pub host_options: Vec<(MacAddr, OptionSet)>,
}

/// Default `max_lease` when no `option lease` is configured: 10 days.
pub const DEFAULT_MAX_LEASE: u32 = 864_000;
/// `auto_time` ceiling (BusyBox: `INT_MAX / 1000`, so that the value in
/// milliseconds fits an `int`).
pub const MAX_AUTO_TIME: u32 = 2_147_483;
/// Longest `sname` sent (the 64-byte BOOTP field keeps a NUL).
pub const MAX_SNAME: usize = 63;
/// Longest `boot_file` sent (the 128-byte BOOTP field keeps a NUL).
pub const MAX_BOOT_FILE: usize = 127;
/// Longest `static_lease` host name (BusyBox's `strnlen(opt, 120)`).
pub const MAX_STATIC_HOSTNAME: usize = 120;
/// Longest Linux interface name (`IFNAMSIZ - 1`).
pub const MAX_IFNAME: usize = 15;
/// The lease-time option: its value is also `max_lease`.
const OPT_LEASE: u8 = 51;
/// Subnet mask (RFC 2132 §3.3).
const OPT_SUBNET: u8 = 1;

impl Default for ServerConfig {
    /// BusyBox's defaults (reference §2.3).
    fn default() -> Self {
        ServerConfig {
            start: Ipv4Addr::new(192, 168, 0, 20),
            end: Ipv4Addr::new(192, 168, 0, 254),
            interface: "eth0".to_owned(),
            max_leases: 235,
            auto_time: 7200,
            decline_time: 3600,
            conflict_time: 3600,
            offer_time: 60,
            min_lease: 60,
            max_lease: DEFAULT_MAX_LEASE,
            lease_file: "/var/lib/misc/udhcpd.leases".to_owned(),
            pidfile: "/var/run/udhcpd.pid".to_owned(),
            notify_file: None,
            siaddr: Ipv4Addr::UNSPECIFIED,
            sname: None,
            boot_file: None,
            static_leases: Vec::new(),
            excludes: Vec::new(),
            options: OptionSet::with_limit(crate::wire::options::MAX_LONG_OPTION_LEN),
            rapid_commit: false,
            t1_permille: 500,
            t2_permille: 875,
            authoritative: false,
            fqdn_suffix: None,
            lease_script: None,
            subnet_selection: false,
            ping_check: false,
            networks: Vec::new(),
            classes: Vec::new(),
            host_options: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Number of addresses in `start..=end` (0 if the range is reversed).
    pub fn pool_size(&self) -> u64 {
        let (s, e) = (
            u64::from(u32::from(self.start)),
            u64::from(u32::from(self.end)),
        );
        if e < s {
            0
        } else {
            e - s + 1
        }
    }

    /// The static lease for `mac`, if any.
    pub fn static_lease_for(&self, mac: &MacAddr) -> Option<&StaticLease> {
        self.static_leases.iter().find(|l| l.mac == *mac)
    }

    /// True if `ip` is some client's static address.
    pub fn is_static_ip(&self, ip: Ipv4Addr) -> bool {
        self.static_leases.iter().any(|l| l.ip == ip)
    }
}

/// A successfully parsed configuration and what was worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The validated configuration.
    pub config: ServerConfig,
    /// Complete messages (`FILE:N: …` where a line is concerned) for the
    /// applet to log; none of them stops the server.
    pub warnings: Vec<String>,
}

/// Why a configuration was rejected. The applet logs it and exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    file: String,
    line: Option<usize>,
    message: String,
}

impl ConfError {
    fn at(file: &str, line: usize, message: String) -> Self {
        ConfError {
            file: file.to_owned(),
            line: Some(line),
            message,
        }
    }

    fn whole(file: &str, message: String) -> Self {
        ConfError {
            file: file.to_owned(),
            line: None,
            message,
        }
    }

    /// The file name given to [`parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The (first physical) line at fault, or `None` for a check over the
    /// whole configuration.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

/// `FILE:N: message`; whole-file errors name the file in their message
/// (`bad start/end IP range in FILE`, BusyBox's wording).
impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.file, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfError {}

/// How one line failed; [`parse`] adds `FILE:N: `.
enum LineError {
    /// Becomes `bad value for 'KEYWORD': DETAIL`.
    Bad(String),
    /// A complete message.
    Msg(String),
}

/// Applies one keyword's value. Gets the parse state, the value (never
/// empty) and the line number.
type Handler = fn(&mut State<'_>, &str, usize) -> Result<(), LineError>;

/// One row of the keyword table.
struct Keyword {
    /// Canonical (lower-case) spelling.
    name: &'static str,
    handler: Handler,
}

/// The one keyword table (reference §2.3), in BusyBox's order.
static KEYWORDS: &[Keyword] = &[
    Keyword {
        name: "start",
        handler: |st, v, _| {
            let ip = ipv4(v)?;
            if ip.is_unspecified() {
                return Err(LineError::Bad(format!(
                    "'{}' is not a usable pool address",
                    shown(v)
                )));
            }
            st.config.start = ip;
            Ok(())
        },
    },
    Keyword {
        name: "end",
        handler: |st, v, _| {
            st.config.end = ipv4(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "interface",
        handler: |st, v, _| {
            // An early, precise error for what would fail at startup anyway.
            if v.len() > MAX_IFNAME || v.contains([' ', '\t', '/']) {
                return Err(LineError::Bad(format!(
                    "'{}' (an interface name: at most {MAX_IFNAME} bytes, no blanks or '/')",
                    shown(v)
                )));
            }
            // In a section: the network is local to that interface.
            if let Some(sec) = st.section.as_mut() {
                sec.iface = Some(v.to_owned());
            }
            st.config.interface = v.to_owned();
            Ok(())
        },
    },
    Keyword {
        name: "max_leases",
        handler: |st, v, _| {
            // BusyBox allocates a table of 0 leases and never offers
            // anything: refuse.
            let n = number(v)?;
            if n == 0 {
                return Err(LineError::Bad(format!(
                    "'{}' (must be at least 1)",
                    shown(v)
                )));
            }
            st.config.max_leases = n;
            Ok(())
        },
    },
    Keyword {
        name: "auto_time",
        handler: |st, v, line| {
            let n = number(v)?;
            if n > MAX_AUTO_TIME {
                // BusyBox clamps silently.
                st.warn(
                    line,
                    format!("auto_time {n} is too big, setting to {MAX_AUTO_TIME}"),
                );
            }
            st.config.auto_time = n.min(MAX_AUTO_TIME);
            Ok(())
        },
    },
    Keyword {
        name: "decline_time",
        handler: |st, v, _| {
            st.config.decline_time = number(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "conflict_time",
        handler: |st, v, _| {
            st.config.conflict_time = number(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "offer_time",
        handler: |st, v, _| {
            st.config.offer_time = number(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "min_lease",
        handler: |st, v, _| {
            st.config.min_lease = number(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "lease_file",
        handler: |st, v, _| {
            st.config.lease_file = v.to_owned();
            Ok(())
        },
    },
    Keyword {
        name: "pidfile",
        handler: |st, v, _| {
            st.config.pidfile = v.to_owned();
            Ok(())
        },
    },
    Keyword {
        name: "siaddr",
        handler: |st, v, _| {
            st.config.siaddr = ipv4(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "option",
        handler: |st, v, n| st.option(v, n),
    },
    Keyword {
        name: "opt",
        handler: |st, v, n| st.option(v, n),
    },
    Keyword {
        name: "notify_file",
        handler: |st, v, _| {
            st.config.notify_file = Some(v.to_owned());
            Ok(())
        },
    },
    Keyword {
        name: "sname",
        handler: |st, v, line| {
            st.config.sname = Some(st.truncated(line, "sname", v, MAX_SNAME));
            Ok(())
        },
    },
    Keyword {
        name: "boot_file",
        handler: |st, v, line| {
            st.config.boot_file = Some(st.truncated(line, "boot_file", v, MAX_BOOT_FILE));
            Ok(())
        },
    },
    Keyword {
        name: "static_lease",
        handler: |st, v, n| st.static_lease(v, n),
    },
    Keyword {
        name: "exclude",
        handler: |st, v, _| {
            let (a, b) = match v.split_once('-') {
                Some((a, b)) => (ipv4(a.trim_matches(BLANKS))?, ipv4(b.trim_matches(BLANKS))?),
                None => {
                    let a = ipv4(v)?;
                    (a, a)
                }
            };
            if a > b {
                return Err(LineError::Bad(format!(
                    "'{}' (FIRST-LAST with FIRST <= LAST)",
                    shown(v)
                )));
            }
            st.config.excludes.push((a, b));
            Ok(())
        },
    },
    Keyword {
        name: "rapid_commit",
        handler: |st, v, _| {
            st.config.rapid_commit = yes_no(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "t1_percent",
        handler: |st, v, _| {
            st.config.t1_permille = permille(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "t2_percent",
        handler: |st, v, _| {
            st.config.t2_permille = permille(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "authoritative",
        handler: |st, v, _| {
            st.config.authoritative = yes_no(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "fqdn_suffix",
        handler: |st, v, _| {
            let name = v.trim_matches('.');
            if crate::wire::options::dns::text_to_labels(name).is_err() {
                return Err(LineError::Bad(format!(
                    "'{}' (not a domain name)",
                    shown(v)
                )));
            }
            st.config.fqdn_suffix = Some(name.to_owned());
            Ok(())
        },
    },
    Keyword {
        name: "lease_script",
        handler: |st, v, _| {
            st.config.lease_script = Some(v.to_owned());
            Ok(())
        },
    },
    Keyword {
        name: "subnet_selection",
        handler: |st, v, _| {
            st.config.subnet_selection = yes_no(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "ping_check",
        handler: |st, v, _| {
            st.config.ping_check = yes_no(v)?;
            Ok(())
        },
    },
    Keyword {
        name: "network",
        handler: |st, v, n| st.network(v, n),
    },
    Keyword {
        name: "class",
        handler: |st, v, _| st.class(v),
    },
    Keyword {
        name: "class_option",
        handler: |st, v, _| st.class_option(v),
    },
    Keyword {
        name: "host_option",
        handler: |st, v, _| st.host_option(v),
    },
    Keyword {
        name: "relay_subnet",
        handler: |st, v, _| st.relay_subnet(v),
    },
    Keyword {
        // `remaining yes|no` (lease file holds remaining vs absolute time)
        // left BusyBox in 2009; old configs still carry it.
        name: "remaining",
        handler: |_, _, _| Ok(()),
    },
];

/// Parsing state: the configuration so far, warnings, and the lines
/// things were first set on (for messages naming two lines).
struct State<'a> {
    file: &'a str,
    config: ServerConfig,
    warnings: Vec<String>,
    /// Line of each entry of `config.static_leases`.
    static_lines: Vec<usize>,
    /// Line that first set each option code.
    option_lines: [Option<usize>; 256],
    /// The top-level config while a `network` section is being read.
    top: Option<ServerConfig>,
    /// Finished sections with their configs.
    sections: Vec<(Section, ServerConfig)>,
    /// The section being read.
    section: Option<Section>,
}

/// A `network` section's own lines.
struct Section {
    name: String,
    /// `relay_subnet`: address and prefix length.
    subnet: Option<(Ipv4Addr, u8)>,
    /// `interface`.
    iface: Option<String>,
    /// The `network` line.
    line: usize,
}

/// Keywords that only make sense for the whole process: before the first
/// `network` section only.
const GLOBAL_ONLY: &[&str] = &[
    "lease_file",
    "pidfile",
    "auto_time",
    "notify_file",
    "lease_script",
    "subnet_selection",
    "remaining",
];

impl State<'_> {
    /// `network NAME`: ends the section being read (if any) and starts
    /// one from the top-level settings (without their pool, options and
    /// static leases).
    fn network(&mut self, v: &str, line: usize) -> Result<(), LineError> {
        if v.split_whitespace().count() != 1 {
            return Err(LineError::Bad(format!("'{}' (one word)", shown(v))));
        }
        let taken = self.sections.iter().any(|(sec, _)| sec.name == v)
            || self.section.as_ref().is_some_and(|sec| sec.name == v);
        if taken {
            return Err(LineError::Msg(format!(
                "network '{}' defined twice",
                shown(v)
            )));
        }
        let base = self.top.clone().unwrap_or_else(|| self.config.clone());
        let fresh = ServerConfig {
            options: OptionSet::with_limit(crate::wire::options::MAX_LONG_OPTION_LEN),
            static_leases: Vec::new(),
            excludes: Vec::new(),
            networks: Vec::new(),
            classes: Vec::new(),
            host_options: Vec::new(),
            ..base
        };
        let prev = core::mem::replace(&mut self.config, fresh);
        match self.section.take() {
            None => self.top = Some(prev),
            Some(sec) => self.sections.push((sec, prev)),
        }
        self.section = Some(Section {
            name: v.to_owned(),
            subnet: None,
            iface: None,
            line,
        });
        self.static_lines.clear();
        self.option_lines = [None; 256];
        Ok(())
    }

    /// `class NAME vendor|user|circuit|mac VALUE`; VALUE is hex bytes
    /// (`01:02` or `0102`) or `"text"`.
    fn class(&mut self, v: &str) -> Result<(), LineError> {
        let bad = || {
            LineError::Bad(format!(
                "'{}' (NAME vendor|user|circuit|mac VALUE)",
                shown(v)
            ))
        };
        let mut f = v.splitn(3, BLANKS);
        let (Some(name), Some(kind), Some(value)) = (f.next(), f.next(), f.next()) else {
            return Err(bad());
        };
        let bytes = match_bytes(value.trim_matches(BLANKS)).ok_or_else(bad)?;
        let matcher = match kind {
            "vendor" => ClassMatch::Vendor(bytes),
            "user" => ClassMatch::User(bytes),
            "circuit" => ClassMatch::Circuit(bytes),
            "mac" if bytes.len() <= 6 => ClassMatch::MacPrefix(bytes),
            _ => return Err(bad()),
        };
        if self.config.classes.iter().any(|c| c.name == name) {
            return Err(LineError::Msg(format!(
                "class '{}' defined twice",
                shown(name)
            )));
        }
        self.config.classes.push(Class {
            name: name.to_owned(),
            matcher,
            options: OptionSet::with_limit(crate::wire::options::MAX_LONG_OPTION_LEN),
        });
        Ok(())
    }

    /// `class_option NAME OPTION…` (the `option` syntax).
    fn class_option(&mut self, v: &str) -> Result<(), LineError> {
        let (name, opt) = v
            .split_once(BLANKS)
            .ok_or_else(|| LineError::Bad(format!("'{}' (NAME OPTION VALUE)", shown(v))))?;
        let Some(c) = self.config.classes.iter_mut().find(|c| c.name == name) else {
            return Err(LineError::Msg(format!(
                "class '{}' not defined (above, in this network)",
                shown(name)
            )));
        };
        c.options
            .add_text(opt.trim_matches(BLANKS))
            .map_err(|e| LineError::Bad(e.to_string()))
    }

    /// `host_option MAC OPTION…` (the `option` syntax).
    fn host_option(&mut self, v: &str) -> Result<(), LineError> {
        let (mac_text, opt) = v
            .split_once(BLANKS)
            .ok_or_else(|| LineError::Bad(format!("'{}' (MAC OPTION VALUE)", shown(v))))?;
        let mac = MacAddr::from_str(mac_text)
            .map_err(|_| LineError::Bad(format!("bad MAC address '{}'", shown(mac_text))))?;
        let hosts = &mut self.config.host_options;
        let i = match hosts.iter().position(|(m, _)| *m == mac) {
            Some(i) => i,
            None => {
                hosts.push((
                    mac,
                    OptionSet::with_limit(crate::wire::options::MAX_LONG_OPTION_LEN),
                ));
                hosts.len() - 1
            }
        };
        let Some((_, set)) = hosts.get_mut(i) else {
            return Ok(());
        };
        set.add_text(opt.trim_matches(BLANKS))
            .map_err(|e| LineError::Bad(e.to_string()))
    }

    /// `relay_subnet A.B.C.D/LEN` inside a section.
    fn relay_subnet(&mut self, v: &str) -> Result<(), LineError> {
        let bad = || LineError::Bad(format!("'{}' (A.B.C.D/LEN)", shown(v)));
        let (a, l) = v.split_once('/').ok_or_else(bad)?;
        let ip = ipv4(a)?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        match self.section.as_mut() {
            Some(sec) => {
                sec.subnet = Some((ip, len));
                Ok(())
            }
            None => Err(LineError::Msg(
                "'relay_subnet' belongs in a 'network' section".to_owned(),
            )),
        }
    }
}

/// Range check, `max_leases` clamp and `max_lease` from option 51: the
/// end of parsing for the top level and every section.
fn finish(
    config: &mut ServerConfig,
    warnings: &mut Vec<String>,
    file_name: &str,
) -> Result<(), ConfError> {
    if config.start > config.end {
        return Err(range_error(file_name));
    }
    let pool = config.pool_size();
    if u64::from(config.max_leases) > pool {
        // pool ≤ 2^32 - 1: start is never 0.0.0.0.
        let clamped = u32::try_from(pool).unwrap_or(u32::MAX);
        warnings.push(format!(
            "max_leases={} is too big, setting to {clamped}",
            config.max_leases
        ));
        config.max_leases = clamped;
    }
    config.max_lease = lease_option(&config.options).unwrap_or(DEFAULT_MAX_LEASE);
    validate(config, file_name)
}

impl State<'_> {
    fn warn(&mut self, line: usize, message: String) {
        self.warnings
            .push(format!("{}:{line}: {message}", self.file));
    }

    /// `v` cut to `max` bytes (at a character boundary), with a warning
    /// if anything was cut. BusyBox cuts silently when building replies.
    fn truncated(&mut self, line: usize, keyword: &str, v: &str, max: usize) -> String {
        if v.len() <= max {
            return v.to_owned();
        }
        let mut end = max;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        let kept = v.get(..end).unwrap_or_default();
        self.warn(
            line,
            format!(
                "'{keyword}' is longer than {max} bytes, truncated to '{}'",
                shown(kept)
            ),
        );
        kept.to_owned()
    }

    /// `option`/`opt`: the codec's rules ([`OptionSet::add_text`]); lines
    /// that change nothing (a non-list option already set, a full list)
    /// are warned about, where BusyBox is silent.
    fn option(&mut self, v: &str, line: usize) -> Result<(), LineError> {
        let before = self.config.options.clone();
        self.config
            .options
            .add_text(v)
            .map_err(|e| LineError::Bad(e.to_string()))?;
        // add_text accepted the name, so this finds the code.
        let name = v
            .trim_start_matches(OPT_NAME_DELIMS)
            .split(OPT_NAME_DELIMS)
            .next()
            .unwrap_or_default();
        let Ok(code) = parse_code(name) else {
            return Ok(());
        };
        let slot = self.option_lines.get_mut(usize::from(code));
        if self.config.options == before {
            let list = !name.starts_with(|c: char| c.is_ascii_digit())
                && by_code(code).is_some_and(|s| s.list);
            let first = slot.and_then(|s| *s).unwrap_or(line);
            let msg = if list {
                format!(
                    "option '{}' is full ({} bytes), values dropped",
                    shown(name),
                    self.config.options.limit()
                )
            } else {
                format!(
                    "option '{}' already set at line {first}, line ignored",
                    shown(name)
                )
            };
            self.warn(line, msg);
            return Ok(());
        }
        if let Some(slot @ None) = slot {
            *slot = Some(line);
            if code == OPT_LEASE {
                // BusyBox reads 4 bytes whatever the length (`option 51 0e10`).
                let len = self.config.options.get(OPT_LEASE).map_or(0, <[u8]>::len);
                if len != 4 {
                    return Err(LineError::Bad(format!(
                        "option 51 (lease) must be 4 bytes, not {len}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// `static_lease MAC IP [HOSTNAME]`.
    fn static_lease(&mut self, v: &str, line: usize) -> Result<(), LineError> {
        let mut fields = v.split([' ', '\t']).filter(|f| !f.is_empty());
        let mac_text = fields.next().unwrap_or_default();
        let mac = MacAddr::from_str(mac_text)
            .map_err(|_| LineError::Bad(format!("bad MAC address '{}'", shown(mac_text))))?;
        if mac.is_zero() {
            // The lease table marks declined and conflicting addresses
            // with this MAC.
            return Err(LineError::Bad(
                "MAC 00:00:00:00:00:00 cannot have a static lease".to_owned(),
            ));
        }
        let ip_text = fields
            .next()
            .ok_or_else(|| LineError::Bad("missing IP address (MAC IP [HOSTNAME])".to_owned()))?;
        let ip = ipv4(ip_text)?;
        if ip.is_unspecified() || ip.is_broadcast() {
            return Err(LineError::Bad(format!("{ip} is not a usable address")));
        }
        let hostname = fields.next().map(str::to_owned);
        if fields.next().is_some() {
            // BusyBox ignores everything after the third field.
            return Err(LineError::Bad(format!(
                "'{}': too many fields (MAC IP [HOSTNAME])",
                shown(v)
            )));
        }
        if let Some(h) = &hostname {
            if h.len() > MAX_STATIC_HOSTNAME {
                // BusyBox cuts it to 120 bytes.
                return Err(LineError::Bad(format!(
                    "host name longer than {MAX_STATIC_HOSTNAME} bytes"
                )));
            }
            if !good_hostname(h.as_bytes()) {
                self.warn(
                    line,
                    format!(
                        "static_lease host name '{}' is not a valid host name; udhcpc clients will see 'bad'",
                        shown(h)
                    ),
                );
            }
        }
        for (old, &old_line) in self.config.static_leases.iter().zip(&self.static_lines) {
            // BusyBox: the first MAC match wins; two MACs share one IP.
            if old.mac == mac {
                return Err(LineError::Msg(format!(
                    "duplicate MAC {mac} in 'static_lease' (first at line {old_line})"
                )));
            }
            if old.ip == ip {
                return Err(LineError::Msg(format!(
                    "duplicate IP {ip} in 'static_lease' (first at line {old_line})"
                )));
            }
        }
        self.config
            .static_leases
            .push(StaticLease { mac, ip, hostname });
        self.static_lines.push(line);
        Ok(())
    }
}

/// Separators between an option name and its value (the codec's rule).
const OPT_NAME_DELIMS: [char; 4] = [' ', '\t', '=', ':'];

/// Blanks between the keyword and the value (BusyBox's delimiters).
const BLANKS: [char; 2] = [' ', '\t'];

/// Control characters escaped, so a message cannot mess up a terminal or
/// a log line.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// An IPv4 address in `inet_aton` form.
fn ipv4(v: &str) -> Result<Ipv4Addr, LineError> {
    // BusyBox resolves names here; pure code cannot.
    parse_ipv4_aton(v).ok_or_else(|| {
        LineError::Bad(format!(
            "bad address '{}' (host names are not resolved)",
            shown(v)
        ))
    })
}

/// BusyBox `bb_strtou32(v, NULL, 10)`: decimal digits only (no sign, no
/// blanks), at most `u32::MAX`.
/// A class's match value: `"text"`, or hex bytes with optional `:`.
fn match_bytes(v: &str) -> Option<Vec<u8>> {
    if let Some(t) = v.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return (!t.is_empty()).then(|| t.as_bytes().to_vec());
    }
    let hex: Vec<u8> = v.bytes().filter(|&c| c != b':').collect();
    if hex.is_empty() || hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks(2)
        .map(|p| {
            let s = core::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// `yes` or `no`.
fn yes_no(v: &str) -> Result<bool, LineError> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(LineError::Bad(format!("'{}' (yes or no)", shown(v)))),
    }
}

/// A percentage 0..=100 with at most one decimal (`87.5`), as thousandths.
fn permille(v: &str) -> Result<u32, LineError> {
    let bad = || LineError::Bad(format!("'{}' (a percentage, 0 to 100)", shown(v)));
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() > 1 || int.len() > 3 {
        return Err(bad());
    }
    let n = int.parse::<u32>().map_err(|_| bad())? * 10 + frac.parse::<u32>().map_err(|_| bad())?;
    if n > 1000 {
        return Err(bad());
    }
    Ok(n)
}

fn number(v: &str) -> Result<u32, LineError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::Bad(format!("'{}'", shown(v))));
    }
    v.parse()
        .map_err(|_| LineError::Bad(format!("'{}' (larger than {})", shown(v), u32::MAX)))
}

/// Logical lines: `(first physical line number, text)`, continuations
/// joined, line ends (`\n`, `\r\n`) removed.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut physical = text.split('\n').enumerate();
    while let Some((i, first)) = physical.next() {
        let mut buf = first.strip_suffix('\r').unwrap_or(first).to_owned();
        while buf.ends_with('\\') {
            buf.pop();
            match physical.next() {
                Some((_, next)) => buf.push_str(next.strip_suffix('\r').unwrap_or(next)),
                None => break,
            }
        }
        out.push((i + 1, buf));
    }
    out
}

/// Parses udhcpd.conf text (see the module documentation for the syntax).
///
/// `file_name` is only used in messages. Startup order follows BusyBox
/// (reference §2.6): every line, then the range check, the `max_leases`
/// clamp (`max_leases=%u is too big, setting to %u`), `max_lease` from
/// `option lease`, and [`validate`].
pub fn parse(text: &str, file_name: &str) -> Result<Parsed, ConfError> {
    let mut st = State {
        file: file_name,
        config: ServerConfig::default(),
        warnings: Vec::new(),
        static_lines: Vec::new(),
        option_lines: [None; 256],
        top: None,
        sections: Vec::new(),
        section: None,
    };
    for (n, raw) in logical_lines(text) {
        let line = raw.split('#').next().unwrap_or_default();
        let line = line.trim_matches(BLANKS);
        if line.is_empty() {
            continue;
        }
        if line.contains('\0') {
            // C would stop reading the line there.
            return Err(ConfError::at(file_name, n, "NUL byte in line".to_owned()));
        }
        let (word, value) = line.split_once(BLANKS).unwrap_or((line, ""));
        let value = value.trim_matches(BLANKS);
        let Some(kw) = KEYWORDS.iter().find(|k| k.name.eq_ignore_ascii_case(word)) else {
            st.warn(n, format!("unknown keyword '{}', ignored", shown(word)));
            continue;
        };
        if value.is_empty() {
            return Err(ConfError::at(
                file_name,
                n,
                format!("missing value for '{}'", kw.name),
            ));
        }
        if st.section.is_some() && GLOBAL_ONLY.contains(&kw.name) {
            return Err(ConfError::at(
                file_name,
                n,
                format!(
                    "'{}' applies to the whole server: put it before the first 'network'",
                    kw.name
                ),
            ));
        }
        (kw.handler)(&mut st, value, n).map_err(|e| {
            let message = match e {
                LineError::Bad(detail) => format!("bad value for '{}': {detail}", kw.name),
                LineError::Msg(m) => m,
            };
            ConfError::at(file_name, n, message)
        })?;
    }

    let State {
        config: last,
        mut warnings,
        top,
        mut sections,
        section,
        ..
    } = st;
    let mut config = match (top, section) {
        (Some(top), Some(sec)) => {
            sections.push((sec, last));
            top
        }
        _ => last,
    };
    finish(&mut config, &mut warnings, file_name)?;
    for (sec, mut c) in sections {
        let Section {
            name,
            subnet,
            iface,
            line: first,
        } = sec;
        let at = |m: String| Err(ConfError::at(file_name, first, m));
        finish(&mut c, &mut warnings, file_name)?;
        let (ip, prefix) = match (subnet, &iface) {
            (Some(s), None) => s,
            (None, Some(_)) => pool_subnet(&c),
            (None, None) => {
                return at(format!(
                    "network '{name}' has no 'relay_subnet' (relayed) or 'interface' (local)"
                ))
            }
            (Some(_), Some(_)) => {
                return at(format!(
                    "network '{name}': 'relay_subnet' (relayed) and 'interface' (local) exclude each other"
                ))
            }
        };
        if let Some(i) = &iface {
            let taken = *i == config.interface
                || config.networks.iter().any(|n| n.local.as_ref() == Some(i));
            if taken {
                return at(format!(
                    "network '{name}': interface {i} is already another network's"
                ));
            }
        }
        let net = Network {
            name,
            local: iface,
            subnet: ip,
            prefix,
            config: c,
        };
        let overlaps = |a: &ServerConfig| net.config.start <= a.end && a.start <= net.config.end;
        if overlaps(&config) || config.networks.iter().any(|o| overlaps(&o.config)) {
            return Err(ConfError::at(
                file_name,
                first,
                format!(
                    "network '{}': its pool overlaps another network's",
                    net.name
                ),
            ));
        }
        config.networks.push(net);
    }
    Ok(Parsed { config, warnings })
}

/// A local network's subnet from its pool: `start` masked with a
/// contiguous `option subnet`, else the shortest prefix holding both
/// `start` and `end`.
fn pool_subnet(c: &ServerConfig) -> (Ipv4Addr, u8) {
    let (start, end) = (u32::from(c.start), u32::from(c.end));
    let mask = c
        .options
        .get(OPT_SUBNET)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
        .map(u32::from_be_bytes)
        .filter(|m| m.leading_ones() + m.trailing_zeros() == 32);
    let prefix = match mask {
        Some(m) => m.leading_ones(),
        None => (start ^ end).leading_zeros(),
    };
    let prefix = u8::try_from(prefix).unwrap_or(32);
    (Ipv4Addr::from(start & prefix_mask(prefix)), prefix)
}

/// The value of option 51, if configured as 4 bytes.
fn lease_option(options: &OptionSet) -> Option<u32> {
    let v = options.get(OPT_LEASE)?;
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

fn range_error(file_name: &str) -> ConfError {
    ConfError::whole(file_name, format!("bad start/end IP range in {file_name}"))
}

/// Checks a configuration however it was built ([`parse`] runs it last):
/// `start ≤ end` (BusyBox's `bad start/end IP range in FILE`), start not
/// 0.0.0.0, `1 ≤ max_leases ≤` pool size, a plausible interface name,
/// `sname`/`boot_file` within their BOOTP fields, `max_lease` equal to
/// option 51 when that is set, and static leases with distinct MACs and
/// IPs, no zero MAC, no 0.0.0.0 or broadcast IP, and host names of 1 to
/// 120 bytes without blanks.
///
/// `min_lease > max_lease` is allowed, as in BusyBox (the minimum wins).
pub fn validate(config: &ServerConfig, file_name: &str) -> Result<(), ConfError> {
    let fail = |m: String| Err(ConfError::whole(file_name, format!("{file_name}: {m}")));
    if config.start > config.end {
        return Err(range_error(file_name));
    }
    if config.start.is_unspecified() {
        return fail("start address 0.0.0.0 is not usable".to_owned());
    }
    let pool = config.pool_size();
    if config.max_leases == 0 || u64::from(config.max_leases) > pool {
        return fail(format!(
            "max_leases={} is not between 1 and the pool size {pool}",
            config.max_leases
        ));
    }
    let ifname = &config.interface;
    if ifname.is_empty() || ifname.len() > MAX_IFNAME || ifname.contains([' ', '\t', '/', '\0']) {
        return fail(format!("bad interface name '{}'", shown(ifname)));
    }
    if config.auto_time > MAX_AUTO_TIME {
        return fail(format!(
            "auto_time {} is above {MAX_AUTO_TIME}",
            config.auto_time
        ));
    }
    if config.sname.as_ref().is_some_and(|s| s.len() > MAX_SNAME) {
        return fail(format!("sname is longer than {MAX_SNAME} bytes"));
    }
    if config
        .boot_file
        .as_ref()
        .is_some_and(|s| s.len() > MAX_BOOT_FILE)
    {
        return fail(format!("boot_file is longer than {MAX_BOOT_FILE} bytes"));
    }
    if config.options.get(OPT_LEASE).is_some()
        && lease_option(&config.options) != Some(config.max_lease)
    {
        return fail("max_lease differs from option 51 (lease)".to_owned());
    }
    for (i, l) in config.static_leases.iter().enumerate() {
        if l.mac.is_zero() {
            return fail("static lease for MAC 00:00:00:00:00:00".to_owned());
        }
        if l.ip.is_unspecified() || l.ip.is_broadcast() {
            return fail(format!("static lease for {} with IP {}", l.mac, l.ip));
        }
        if let Some(h) = &l.hostname {
            if h.is_empty() || h.len() > MAX_STATIC_HOSTNAME || h.contains(char::is_whitespace) {
                return fail(format!("bad static lease host name '{}'", shown(h)));
            }
        }
        for other in config.static_leases.iter().skip(i + 1) {
            if other.mac == l.mac {
                return fail(format!("duplicate static lease MAC {}", l.mac));
            }
            if other.ip == l.ip {
                return fail(format!("duplicate static lease IP {}", l.ip));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/udhcpd.conf";

    fn ok(text: &str) -> Parsed {
        match parse(text, FILE) {
            Ok(p) => p,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn cfg(text: &str) -> ServerConfig {
        ok(text).config
    }

    fn err(text: &str) -> String {
        match parse(text, FILE) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn opts(lines: &[&str]) -> OptionSet {
        let mut set = OptionSet::new();
        for l in lines {
            set.add_text(l).unwrap();
        }
        set
    }

    const FULL: &str = "\
# udhcpd for the lab network
START 10.0.0.100
end\t10.0.0.200   # inclusive
Interface br-lan
max_leases 50
auto_time 600
Decline_Time 1800
conflict_time 900
offer_time 30
min_lease 120
lease_file /tmp/udhcpd leases.db
pidfile /run/udhcpd.pid
notify_file /usr/bin/lease-hook --quiet
siaddr 10.0.0.1
sname tftp.lab
boot_file /pxelinux.0
remaining yes

opt dns=10.0.0.1
option dns 10.0.0.2, 10.0.0.3
option router:10.0.0.1
OPT subnet 255.255.255.0
option domain lab.example
option lease 3600
opt 0x2a 0a000001
option search lab.example \\
    example.org
   # indented comment
static_lease 02:00:00:00:00:01 10.0.0.10
static_lease 2:0:0:0:0:2\t10.0.0.11   printer
static_lease 02:00:00:00:00:03 192.168.5.5 nas-1
";

    #[test]
    fn full_config() {
        let p = ok(FULL);
        assert_eq!(p.warnings, Vec::<String>::new());
        let expected = ServerConfig {
            start: Ipv4Addr::new(10, 0, 0, 100),
            end: Ipv4Addr::new(10, 0, 0, 200),
            interface: "br-lan".into(),
            max_leases: 50,
            auto_time: 600,
            decline_time: 1800,
            conflict_time: 900,
            offer_time: 30,
            min_lease: 120,
            max_lease: 3600,
            lease_file: "/tmp/udhcpd leases.db".into(),
            pidfile: "/run/udhcpd.pid".into(),
            notify_file: Some("/usr/bin/lease-hook --quiet".into()),
            siaddr: Ipv4Addr::new(10, 0, 0, 1),
            sname: Some("tftp.lab".into()),
            boot_file: Some("/pxelinux.0".into()),
            static_leases: vec![
                StaticLease {
                    mac: MacAddr([2, 0, 0, 0, 0, 1]),
                    ip: Ipv4Addr::new(10, 0, 0, 10),
                    hostname: None,
                },
                StaticLease {
                    mac: MacAddr([2, 0, 0, 0, 0, 2]),
                    ip: Ipv4Addr::new(10, 0, 0, 11),
                    hostname: Some("printer".into()),
                },
                StaticLease {
                    mac: MacAddr([2, 0, 0, 0, 0, 3]),
                    ip: Ipv4Addr::new(192, 168, 5, 5),
                    hostname: Some("nas-1".into()),
                },
            ],
            options: opts(&[
                "dns 10.0.0.1 10.0.0.2 10.0.0.3",
                "router 10.0.0.1",
                "subnet 255.255.255.0",
                "domain lab.example",
                "lease 3600",
                "42 0a000001",
                "search lab.example example.org",
            ]),
            rapid_commit: false,
            ..ServerConfig::default()
        };
        assert_eq!(p.config, expected);
        assert_eq!(
            p.config.options.get(6),
            Some(&[10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 3][..])
        );
        assert_eq!(p.config.options.get(51), Some(&3600u32.to_be_bytes()[..]));
        assert_eq!(p.config.pool_size(), 101);
        assert!(p.config.is_static_ip(Ipv4Addr::new(192, 168, 5, 5)));
        assert_eq!(
            p.config
                .static_lease_for(&mac("02:00:00:00:00:02"))
                .and_then(|l| l.hostname.as_deref()),
            Some("printer")
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        for text in ["", "\n\n", "# nothing\n   \t\n#start 1.2.3.4\n", "\\"] {
            let p = ok(text);
            assert!(p.warnings.is_empty(), "{text:?}");
            assert_eq!(p.config, ServerConfig::default());
        }
        let d = ServerConfig::default();
        assert_eq!(d.start, Ipv4Addr::new(192, 168, 0, 20));
        assert_eq!(d.end, Ipv4Addr::new(192, 168, 0, 254));
        assert_eq!(d.interface, "eth0");
        assert_eq!(
            (d.max_leases, d.auto_time, d.decline_time, d.conflict_time),
            (235, 7200, 3600, 3600)
        );
        assert_eq!((d.offer_time, d.min_lease, d.max_lease), (60, 60, 864_000));
        assert_eq!(d.lease_file, "/var/lib/misc/udhcpd.leases");
        assert_eq!(d.pidfile, "/var/run/udhcpd.pid");
        assert_eq!(d.notify_file, None);
        assert_eq!(d.siaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!((d.sname.clone(), d.boot_file.clone()), (None, None));
        assert!(d.static_leases.is_empty() && d.options.is_empty());
        assert_eq!(validate(&d, FILE), Ok(()));
        // The default pool is exactly the default table size.
        assert_eq!(d.pool_size(), 235);
    }

    #[test]
    fn syntax_details() {
        // Comments anywhere, CRLF, continuation without inserted blank.
        let c = cfg("start 10.0.\\\r\n0.5#x\r\nend 10.0.0.9\r\npidfile  /a b\t \n");
        assert_eq!(c.start, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(c.end, Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(c.pidfile, "/a b");
        // inet_aton forms.
        assert_eq!(cfg("siaddr 10.1").siaddr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(cfg("siaddr 0x7f000001").siaddr, Ipv4Addr::LOCALHOST);
        // Leading zeros are decimal for numbers (bb_strtou base 10).
        assert_eq!(cfg("offer_time 010").offer_time, 10);
        assert_eq!(cfg("offer_time 4294967295").offer_time, u32::MAX);
        // Continued lines count from their first physical line.
        assert_eq!(
            err("# one\nstart 1.2.\\\n3\\\n.4\nend x\n"),
            "/etc/udhcpd.conf:5: bad value for 'end': bad address 'x' (host names are not resolved)"
        );
        assert_eq!(
            err("# one\nmax_leases 1\\\n2x\n"),
            "/etc/udhcpd.conf:2: bad value for 'max_leases': '12x'"
        );
    }

    #[test]
    fn later_scalars_override() {
        let c = cfg("interface eth1\ninterface eth2\nauto_time 5\nauto_time 0\n\
                     sname a\nsname b\nnotify_file /x\nnotify_file /y\nstart 192.168.0.30\n\
                     start 192.168.0.40\n");
        assert_eq!(c.interface, "eth2");
        assert_eq!(c.auto_time, 0);
        assert_eq!(c.sname.as_deref(), Some("b"));
        assert_eq!(c.notify_file.as_deref(), Some("/y"));
        assert_eq!(c.start, Ipv4Addr::new(192, 168, 0, 40));
    }

    #[test]
    fn option_lines_accumulate() {
        let p = ok("opt router 10.0.0.1\noption router 10.0.0.2\n\
                    option hostname one\noption hostname two\nopt mtu 1500\nopt 26 0100\n");
        let c = p.config;
        assert_eq!(c.options.get(3), Some(&[10, 0, 0, 1, 10, 0, 0, 2][..]));
        assert_eq!(c.options.get(12), Some(&b"one"[..]));
        assert_eq!(c.options.get(26), Some(&1500u16.to_be_bytes()[..]));
        assert_eq!(
            p.warnings,
            [
                "/etc/udhcpd.conf:4: option 'hostname' already set at line 3, line ignored",
                "/etc/udhcpd.conf:6: option '26' already set at line 5, line ignored",
            ]
        );
        // A list grows past one instance (RFC 3396) up to 1020 bytes; a
        // full list: the line has no effect and says so.
        let mut text = String::new();
        for i in 0..256 {
            text.push_str(&format!("opt dns 10.0.{}.{}\n", i / 200, i % 200));
        }
        let p = ok(&text);
        assert_eq!(p.config.options.get(6).map(<[u8]>::len), Some(1020));
        assert_eq!(
            p.warnings,
            ["/etc/udhcpd.conf:256: option 'dns' is full (1020 bytes), values dropped"]
        );
    }

    #[test]
    fn long_raw_option_accepted_up_to_the_cap() {
        // BusyBox refuses hex over 255 bytes; a server set holds 1020.
        let p = ok(&format!("opt 121 {}\n", "18".repeat(300)));
        assert_eq!(p.config.options.get(121).map(<[u8]>::len), Some(300));
        let e = err(&format!("opt 121 {}\n", "18".repeat(1021)));
        assert!(e.contains("too long"), "{e}");
    }

    #[test]
    fn site_keywords() {
        let d = ok("").config;
        assert_eq!((d.t1_permille, d.t2_permille), (500, 875));
        assert!(!d.authoritative);
        assert_eq!((d.fqdn_suffix, d.lease_script), (None, None));
        let c = ok("t1_percent 40\nt2_percent 87.5\nauthoritative yes\nfqdn_suffix lan.example.\nlease_script /bin/hook -x\n").config;
        assert_eq!((c.t1_permille, c.t2_permille), (400, 875));
        assert!(c.authoritative);
        assert_eq!(c.fqdn_suffix.as_deref(), Some("lan.example"));
        assert_eq!(c.lease_script.as_deref(), Some("/bin/hook -x"));
        for bad in [
            "t1_percent 101",
            "t1_percent 5.55",
            "t2_percent -1",
            "t2_percent x",
            "authoritative maybe",
            "fqdn_suffix a..b",
        ] {
            assert!(err(&format!("{bad}\n")).contains("bad value"), "{bad}");
        }
    }

    const SITE: &str = "\
interface eth0
start 192.168.0.20
end 192.168.0.200
opt subnet 255.255.255.0
opt lease 3600
min_lease 30
subnet_selection yes

network guest
relay_subnet 10.2.0.0/24
start 10.2.0.10
end 10.2.0.99
opt router 10.2.0.1
opt lease 600
static_lease 02:00:00:00:00:07 10.2.0.7

network lab
relay_subnet 10.3.0.0/16
start 10.3.1.1
end 10.3.1.9
";

    #[test]
    fn network_sections() {
        let p = ok(SITE);
        let c = p.config;
        assert_eq!(c.end, Ipv4Addr::new(192, 168, 0, 200));
        assert_eq!(c.max_lease, 3600);
        assert!(c.subnet_selection);
        assert_eq!(c.options.get(3), None, "the top level has no router");
        assert_eq!(c.networks.len(), 2);
        let g = &c.networks[0];
        assert_eq!(
            (g.name.as_str(), g.subnet, g.prefix),
            ("guest", Ipv4Addr::new(10, 2, 0, 0), 24)
        );
        assert_eq!(
            (g.config.start, g.config.end),
            (Ipv4Addr::new(10, 2, 0, 10), Ipv4Addr::new(10, 2, 0, 99))
        );
        assert_eq!(g.config.max_lease, 600);
        assert_eq!(g.config.min_lease, 30, "inherited from the top level");
        assert_eq!(g.config.max_leases, 90, "clamped to its pool");
        assert_eq!(g.config.options.get(3), Some(&[10, 2, 0, 1][..]));
        assert_eq!(g.config.options.get(1), None, "options are per network");
        assert_eq!(g.config.static_leases.len(), 1);
        assert!(g.contains(Ipv4Addr::new(10, 2, 0, 250)));
        assert!(!g.contains(Ipv4Addr::new(10, 2, 1, 1)));
        let l = &c.networks[1];
        assert_eq!(l.config.max_lease, DEFAULT_MAX_LEASE);
        assert!(l.contains(Ipv4Addr::new(10, 3, 200, 1)));
        // A config without sections has none (BusyBox configs unchanged).
        assert!(ok(FULL).config.networks.is_empty());
    }

    #[test]
    fn network_section_errors() {
        let e = err("network a\nstart 10.2.0.1\nend 10.2.0.5\n");
        assert!(e.contains("network 'a' has no 'relay_subnet'"), "{e}");
        let e = err(
            "network a\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.1\nend 10.2.0.5\nlease_file /x\n",
        );
        assert!(e.contains("before the first 'network'"), "{e}");
        let e = err("relay_subnet 10.2.0.0/24\n");
        assert!(e.contains("belongs in a 'network' section"), "{e}");
        let e = err("network a\nrelay_subnet 10.2.0.0/33\n");
        assert!(e.contains("bad value for 'relay_subnet'"), "{e}");
        let e = err("network a\nrelay_subnet 10.0.0.0/8\nstart 192.168.0.50\nend 192.168.0.60\n");
        assert!(e.contains("overlaps"), "{e}");
        let e =
            err("network a\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.1\nend 10.2.0.5\nnetwork a\n");
        assert!(e.contains("defined twice"), "{e}");
    }

    /// `exclude`: one address or an inclusive range, repeatable, per
    /// network (a section's list is its own).
    #[test]
    fn exclude_lines() {
        let c = ok("exclude 192.168.0.30\nexclude 192.168.0.40 - 192.168.0.49\n\
                    network g\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.10\nend 10.2.0.99\nexclude 10.2.0.50-10.2.0.59\n")
        .config;
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            c.excludes,
            [
                (a("192.168.0.30"), a("192.168.0.30")),
                (a("192.168.0.40"), a("192.168.0.49"))
            ]
        );
        assert_eq!(
            c.networks[0].config.excludes,
            [(a("10.2.0.50"), a("10.2.0.59"))]
        );
        for bad in [
            "exclude 10.0.0.9-10.0.0.1\n",
            "exclude 10.0.0.1-\n",
            "exclude x\n",
        ] {
            assert!(err(bad).contains("bad value for 'exclude'"), "{bad}");
        }
    }

    /// `interface` in a section makes a local network: its subnet comes
    /// from its pool and `option subnet`; an interface serves one network.
    #[test]
    fn local_network_sections() {
        let c = ok("interface eth0\nnetwork guest\ninterface eth1\nstart 10.9.0.10\nend 10.9.0.99\nopt subnet 255.255.0.0\n\
                    network lab\ninterface eth2\nstart 10.8.1.1\nend 10.8.1.6\n")
        .config;
        assert_eq!(c.interface, "eth0");
        let g = &c.networks[0];
        assert_eq!(g.local.as_deref(), Some("eth1"));
        assert_eq!(g.config.interface, "eth1");
        assert_eq!((g.subnet, g.prefix), (Ipv4Addr::new(10, 9, 0, 0), 16));
        let l = &c.networks[1];
        assert_eq!((l.subnet, l.prefix), (Ipv4Addr::new(10, 8, 1, 0), 29));
        assert!(l.contains(Ipv4Addr::new(10, 8, 1, 7)));
        assert!(!l.contains(Ipv4Addr::new(10, 8, 1, 8)));
        let relayed = ok(SITE).config;
        assert!(relayed.networks.iter().all(|n| n.local.is_none()));
        let e = err("interface eth0\nnetwork a\ninterface eth0\nstart 10.2.0.1\nend 10.2.0.5\n");
        assert!(
            e.contains("interface eth0 is already another network's"),
            "{e}"
        );
        let e = err("network a\ninterface eth1\nstart 10.2.0.1\nend 10.2.0.5\nnetwork b\ninterface eth1\nstart 10.3.0.1\nend 10.3.0.5\n");
        assert!(e.contains("interface eth1 is already"), "{e}");
        let e = err(
            "network a\ninterface eth1\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.1\nend 10.2.0.5\n",
        );
        assert!(e.contains("exclude each other"), "{e}");
    }

    #[test]
    fn class_lines() {
        let c = ok("class a vendor \"MSFT 5.0\"\nclass_option a dns 10.0.0.1\nclass b mac 00:1A:4b\nhost_option 02:00:00:00:00:01 router 10.0.0.9\n").config;
        assert_eq!(
            c.classes[0].matcher,
            ClassMatch::Vendor(b"MSFT 5.0".to_vec())
        );
        assert_eq!(c.classes[0].options.get(6), Some(&[10, 0, 0, 1][..]));
        assert_eq!(
            c.classes[1].matcher,
            ClassMatch::MacPrefix(vec![0, 0x1a, 0x4b])
        );
        assert_eq!(c.host_options.len(), 1);
        for (bad, want) in [
            ("class_option x dns 1.2.3.4", "not defined"),
            ("class a colour 01", "bad value for 'class'"),
            ("class a mac 01020304050607", "bad value for 'class'"),
            ("class a vendor 0", "bad value for 'class'"),
            ("class a vendor 01\nclass a user 02", "defined twice"),
            ("host_option nomac dns 1.2.3.4", "bad MAC"),
        ] {
            let e = err(&format!("{bad}\n"));
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn option_lease_sets_max_lease() {
        let c = cfg("option lease 3600\n");
        assert_eq!(c.max_lease, 3600);
        assert_eq!(c.options.get(51), Some(&[0, 0, 0x0e, 0x10][..]));
        assert_eq!(cfg("opt 51 00000e10\n").max_lease, 3600);
        assert_eq!(cfg("opt lease=60\nopt lease 90\n").max_lease, 60);
        // min_lease above max_lease is allowed (BusyBox: the minimum wins).
        let c = cfg("opt lease 30\nmin_lease 600\n");
        assert_eq!((c.min_lease, c.max_lease), (600, 30));
        assert_eq!(
            err("opt 51 0e10\n"),
            "/etc/udhcpd.conf:1: bad value for 'opt': option 51 (lease) must be 4 bytes, not 2"
        );
    }

    #[test]
    fn value_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "\n\nstart 10.0.0.300\n",
                "/etc/udhcpd.conf:3: bad value for 'start': bad address '10.0.0.300' (host names are not resolved)",
            ),
            (
                "siaddr tftp.lab\n",
                "/etc/udhcpd.conf:1: bad value for 'siaddr': bad address 'tftp.lab' (host names are not resolved)",
            ),
            (
                "start 0.0.0.0\n",
                "/etc/udhcpd.conf:1: bad value for 'start': '0.0.0.0' is not a usable pool address",
            ),
            ("max_leases abc\n", "/etc/udhcpd.conf:1: bad value for 'max_leases': 'abc'"),
            ("auto_time -1\n", "/etc/udhcpd.conf:1: bad value for 'auto_time': '-1'"),
            ("offer_time +5\n", "/etc/udhcpd.conf:1: bad value for 'offer_time': '+5'"),
            ("min_lease 1 2\n", "/etc/udhcpd.conf:1: bad value for 'min_lease': '1 2'"),
            ("decline_time 0x10\n", "/etc/udhcpd.conf:1: bad value for 'decline_time': '0x10'"),
            (
                "conflict_time 4294967296\n",
                "/etc/udhcpd.conf:1: bad value for 'conflict_time': '4294967296' (larger than 4294967295)",
            ),
            (
                "max_leases 0\n",
                "/etc/udhcpd.conf:1: bad value for 'max_leases': '0' (must be at least 1)",
            ),
            (
                "interface a-very-long-interface-name\n",
                "/etc/udhcpd.conf:1: bad value for 'interface': 'a-very-long-interface-name' (an interface name: at most 15 bytes, no blanks or '/')",
            ),
            (
                "option dns 1.2.3.4.5\n",
                "/etc/udhcpd.conf:1: bad value for 'option': bad address '1.2.3.4.5'",
            ),
            (
                "OPT 61 0102zz\n",
                "/etc/udhcpd.conf:1: bad value for 'opt': malformed hex string '0102zz'",
            ),
            (
                "opt mtu 70000\n",
                "/etc/udhcpd.conf:1: bad value for 'opt': bad value '70000' for option mtu",
            ),
            ("start\n", "/etc/udhcpd.conf:1: missing value for 'start'"),
            ("# c\n  Static_Lease   # no value\n", "/etc/udhcpd.conf:2: missing value for 'static_lease'"),
            ("remaining\n", "/etc/udhcpd.conf:1: missing value for 'remaining'"),
            ("pidfile \\\n\n", "/etc/udhcpd.conf:1: missing value for 'pidfile'"),
            ("interface eth0\0x\n", "/etc/udhcpd.conf:1: NUL byte in line"),
        ];
        for (text, want) in cases {
            assert_eq!(&err(text), want, "{text:?}");
        }
    }

    #[test]
    fn unknown_option_names_known_ones() {
        let e = err("start 10.0.0.1\nend 10.0.0.2\nopt nosuch 1\n");
        assert!(
            e.starts_with(
                "/etc/udhcpd.conf:3: bad value for 'opt': unknown option 'nosuch', known options: subnet timezone router dns"
            ),
            "{e}"
        );
        assert!(e.ends_with(" wpad"), "{e}");
    }

    #[test]
    fn range_errors() {
        assert_eq!(
            err("start 10.0.0.9\nend 10.0.0.1\n"),
            "bad start/end IP range in /etc/udhcpd.conf"
        );
        // Default end below a configured start.
        assert_eq!(
            err("start 192.168.1.1\n"),
            "bad start/end IP range in /etc/udhcpd.conf"
        );
        let e = parse("end 1.1.1.1", "x.conf").unwrap_err();
        assert_eq!((e.file(), e.line()), ("x.conf", None));
        assert_eq!(e.to_string(), "bad start/end IP range in x.conf");
        // A one-address pool is fine.
        let c = cfg("start 10.0.0.1\nend 10.0.0.1\n");
        assert_eq!((c.pool_size(), c.max_leases), (1, 1));
    }

    #[test]
    fn static_lease_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "static_lease 00:60:08:11:CE 10.0.0.1\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': bad MAC address '00:60:08:11:CE'",
            ),
            (
                "static_lease 00-60-08-11-CE-4E 10.0.0.1\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': bad MAC address '00-60-08-11-CE-4E'",
            ),
            (
                "static_lease 00:60:08:11:CE:4E\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': missing IP address (MAC IP [HOSTNAME])",
            ),
            (
                "static_lease 00:60:08:11:CE:4E host.lan\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': bad address 'host.lan' (host names are not resolved)",
            ),
            (
                "static_lease 00:60:08:11:CE:4E 10.0.0.1 pc extra\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': '00:60:08:11:CE:4E 10.0.0.1 pc extra': too many fields (MAC IP [HOSTNAME])",
            ),
            (
                "static_lease 0:0:0:0:0:0 10.0.0.1\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': MAC 00:00:00:00:00:00 cannot have a static lease",
            ),
            (
                "static_lease 2:0:0:0:0:1 0.0.0.0\n",
                "/etc/udhcpd.conf:1: bad value for 'static_lease': 0.0.0.0 is not a usable address",
            ),
            (
                "static_lease 02:00:00:00:00:01 10.0.0.1\n#\nstatic_lease 2:0:0:0:0:1 10.0.0.2\n",
                "/etc/udhcpd.conf:3: duplicate MAC 02:00:00:00:00:01 in 'static_lease' (first at line 1)",
            ),
            (
                "static_lease 02:00:00:00:00:01 10.0.0.1\nstatic_lease 02:00:00:00:00:02 10.1\n",
                "/etc/udhcpd.conf:2: duplicate IP 10.0.0.1 in 'static_lease' (first at line 1)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&err(text), want, "{text:?}");
        }
        let long = "h".repeat(121);
        assert_eq!(
            err(&format!("static_lease 2:0:0:0:0:1 10.0.0.1 {long}")),
            "/etc/udhcpd.conf:1: bad value for 'static_lease': host name longer than 120 bytes"
        );
        let ok120 = "h".repeat(120);
        let c = cfg(&format!("static_lease 2:0:0:0:0:1 10.0.0.1 {ok120}"));
        assert_eq!(c.static_leases[0].hostname.as_deref(), Some(ok120.as_str()));
    }

    #[test]
    fn warnings() {
        let p = ok("dhcp-range 1 2\nfoo\nsname a\n");
        assert_eq!(
            p.warnings,
            [
                "/etc/udhcpd.conf:1: unknown keyword 'dhcp-range', ignored",
                "/etc/udhcpd.conf:2: unknown keyword 'foo', ignored",
            ]
        );
        let p = ok("start 10.0.0.1\nend 10.0.0.10\nmax_leases 100\n");
        assert_eq!(p.config.max_leases, 10);
        assert_eq!(p.warnings, ["max_leases=100 is too big, setting to 10"]);
        // The default max_leases against a small pool.
        let p = ok("start 10.0.0.1\nend 10.0.0.4\n");
        assert_eq!(p.config.max_leases, 4);
        assert_eq!(p.warnings, ["max_leases=235 is too big, setting to 4"]);

        let long = format!("{}XYZ", "s".repeat(62));
        let p = ok(&format!("sname {long}\n"));
        assert_eq!(p.config.sname.as_deref(), Some(&long[..63]));
        assert_eq!(
            p.warnings,
            [format!(
                "/etc/udhcpd.conf:1: 'sname' is longer than 63 bytes, truncated to '{}X'",
                "s".repeat(62)
            )]
        );
        // Never cut inside a character.
        let p = ok(&format!("sname {}é\n", "s".repeat(62)));
        assert_eq!(p.config.sname, Some("s".repeat(62)));
        let p = ok(&format!("boot_file {}\n", "b".repeat(200)));
        assert_eq!(p.config.boot_file, Some("b".repeat(127)));
        assert_eq!(p.warnings.len(), 1);

        let p = ok("auto_time 4000000000\n");
        assert_eq!(p.config.auto_time, MAX_AUTO_TIME);
        assert_eq!(
            p.warnings,
            ["/etc/udhcpd.conf:1: auto_time 4000000000 is too big, setting to 2147483"]
        );
        let p = ok("static_lease 2:0:0:0:0:1 10.0.0.1 my\x01pc\n");
        assert_eq!(
            p.warnings,
            ["/etc/udhcpd.conf:1: static_lease host name 'my\\u{1}pc' is not a valid host name; udhcpc clients will see 'bad'"]
        );
    }

    #[test]
    fn validate_hand_built() {
        let good = ServerConfig::default();
        let check = |f: fn(&mut ServerConfig)| {
            let mut c = good.clone();
            f(&mut c);
            validate(&c, "f").map_err(|e| e.to_string())
        };
        assert_eq!(check(|_| {}), Ok(()));
        assert_eq!(
            check(|c| c.end = Ipv4Addr::new(1, 1, 1, 1)),
            Err("bad start/end IP range in f".into())
        );
        assert_eq!(
            check(|c| c.start = Ipv4Addr::UNSPECIFIED),
            Err("f: start address 0.0.0.0 is not usable".into())
        );
        assert_eq!(
            check(|c| c.max_leases = 0),
            Err("f: max_leases=0 is not between 1 and the pool size 235".into())
        );
        assert_eq!(
            check(|c| c.max_leases = 236),
            Err("f: max_leases=236 is not between 1 and the pool size 235".into())
        );
        assert!(check(|c| c.interface.clear()).is_err());
        assert!(check(|c| c.sname = Some("s".repeat(64))).is_err());
        assert!(check(|c| c.boot_file = Some("b".repeat(128))).is_err());
        assert!(check(|c| c.auto_time = MAX_AUTO_TIME + 1).is_err());
        assert_eq!(
            check(|c| c.options.insert_raw(51, 60u32.to_be_bytes())),
            Err("f: max_lease differs from option 51 (lease)".into())
        );
        let lease = |m: u8, ip: u8| StaticLease {
            mac: MacAddr([2, 0, 0, 0, 0, m]),
            ip: Ipv4Addr::new(10, 0, 0, ip),
            hostname: None,
        };
        let mut c = good.clone();
        c.static_leases = vec![lease(1, 1), lease(2, 1)];
        assert_eq!(
            validate(&c, "f").unwrap_err().to_string(),
            "f: duplicate static lease IP 10.0.0.1"
        );
        c.static_leases = vec![lease(1, 1), lease(1, 2)];
        assert_eq!(
            validate(&c, "f").unwrap_err().to_string(),
            "f: duplicate static lease MAC 02:00:00:00:00:01"
        );
        c.static_leases = vec![StaticLease {
            hostname: Some("a b".into()),
            ..lease(1, 1)
        }];
        assert!(validate(&c, "f").is_err());
    }

    use crate::testutil::XorShift as Rng;

    #[test]
    fn random_text_never_panics() {
        const FRAGMENTS: &[&str] = &[
            "start",
            "end",
            "interface",
            "max_leases",
            "auto_time",
            "decline_time",
            "conflict_time",
            "offer_time",
            "min_lease",
            "lease_file",
            "pidfile",
            "siaddr",
            "option",
            "opt",
            "notify_file",
            "sname",
            "boot_file",
            "static_lease",
            "remaining",
            "STATIC_LEASE",
            "Opt",
            " ",
            "\t",
            "\n",
            "\r\n",
            "\\",
            "\\\n",
            "#",
            "=",
            ":",
            ",",
            "/",
            "-",
            "\"",
            "'",
            "0",
            "1",
            "255",
            "4294967296",
            "0x",
            "10.0.0.1",
            "10.0.0.",
            "192.168.0.20",
            "0.0.0.0",
            "255.255.255.255",
            "02:00:00:00:00:01",
            "2:0:0:0:0:",
            "dns",
            "router",
            "lease",
            "search",
            "routes",
            "staticroutes",
            "hostname",
            "mtu",
            "ip6rd",
            "sipsrv",
            "51",
            "0e10",
            "00000e10",
            "é",
            "\u{1}",
            "\0",
            "\u{feff}",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..rng.below(40) {
                if rng.below(3) == 0 {
                    // A printable ASCII byte (or a newline).
                    let b = 0x20 + rng.below(0x60) as u8;
                    text.push(if b == 0x7f { '\n' } else { char::from(b) });
                } else {
                    text.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
                }
            }
            match parse(&text, FILE) {
                Ok(p) => {
                    accepted += 1;
                    assert_eq!(validate(&p.config, FILE), Ok(()), "{text:?}");
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        assert!(accepted > 0);
    }

    #[test]
    fn rapid_commit_keyword() {
        assert!(!ServerConfig::default().rapid_commit);
        assert!(ok("rapid_commit yes\n").config.rapid_commit);
        assert!(!ok("rapid_commit no\n").config.rapid_commit);
        assert!(err("rapid_commit maybe\n").contains("yes or no"));
    }
}
