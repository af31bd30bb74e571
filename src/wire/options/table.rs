//! The one options table: code, name, value kind and flags per option, as
//! data (BusyBox keeps `dhcp_optflags` and `dhcp_option_strings` as two
//! parallel arrays that must stay in step; here each row carries both).

/// How an option's value is encoded on the wire and written as text.
///
/// One variant per BusyBox `OPTION_*` type (common.h), same meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 addresses, 4 bytes each (`OPTION_IP`).
    Ip,
    /// Pairs of IPv4 addresses, 8 bytes each (`OPTION_IP_PAIR`, option 33).
    IpPair,
    /// Free text, exported unfiltered (`OPTION_STRING`).
    Str,
    /// Host or domain name, exported only if it looks like one
    /// (`OPTION_STRING_HOST`, the CVE-2011-2716 fix).
    HostStr,
    /// Unsigned 8-bit integers.
    U8,
    /// Unsigned 16-bit integers, big-endian.
    U16,
    /// Unsigned 32-bit integers, big-endian.
    U32,
    /// Signed 32-bit integers, big-endian (option 2, time offset).
    S32,
    /// Opaque bytes: options given by number rather than by name.
    Bin,
    /// RFC 3442 classless static routes (121, and Microsoft's 249).
    StaticRoutes,
    /// RFC 5969 6rd parameters (212).
    SixRd,
    /// RFC 1035 encoded domain-name list (RFC 3397 option 119).
    DnsList,
    /// RFC 3361 SIP servers: an encoding byte, then addresses or names (120).
    SipServers,
}

/// One row of the options table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    /// Option code (RFC 2132 and later).
    pub code: u8,
    /// Name used in udhcpd.conf, in `-x`/`-O`, and as the script variable.
    /// Empty for the internal rows (50, 53, 57), which are never looked up
    /// by name and are exported as `optNN`.
    pub name: &'static str,
    /// Value encoding.
    pub kind: Kind,
    /// Several values may be given, and later config lines append
    /// (BusyBox `OPTION_LIST`).
    pub list: bool,
    /// Requested by udhcpc by default (BusyBox `OPTION_REQ`).
    pub request: bool,
}

impl OptSpec {
    /// True for rows that have a name (all but 50, 53 and 57).
    pub fn is_named(&self) -> bool {
        !self.name.is_empty()
    }
}

const fn row(code: u8, name: &'static str, kind: Kind, list: bool, request: bool) -> OptSpec {
    OptSpec {
        code,
        name,
        kind,
        list,
        request,
    }
}

const L: bool = true;
const R: bool = true;
const N: bool = false;

/// BusyBox's 40 entries, in BusyBox's order (which fixes the order of the
/// `known options:` list in error messages): 37 named ones by ascending code,
/// then the three internal ones that udhcpc only ever adds itself.
pub static OPTIONS: &[OptSpec] = &[
    row(1, "subnet", Kind::Ip, N, R),
    row(2, "timezone", Kind::S32, N, N),
    row(3, "router", Kind::Ip, L, R),
    row(6, "dns", Kind::Ip, L, R),
    row(9, "lprsrv", Kind::Ip, L, N),
    row(12, "hostname", Kind::HostStr, N, R),
    row(13, "bootsize", Kind::U16, N, N),
    row(15, "domain", Kind::HostStr, N, R),
    row(16, "swapsrv", Kind::Ip, N, N),
    row(17, "rootpath", Kind::Str, N, N),
    row(23, "ipttl", Kind::U8, N, N),
    row(26, "mtu", Kind::U16, N, N),
    // BusyBox asks: "why do we request DHCP_BROADCAST?" We keep the default
    // request list identical so servers answer us exactly as they answer it.
    row(28, "broadcast", Kind::Ip, N, R),
    row(33, "routes", Kind::IpPair, L, N),
    row(40, "nisdomain", Kind::HostStr, N, N),
    row(41, "nissrv", Kind::Ip, L, N),
    row(42, "ntpsrv", Kind::Ip, L, R),
    row(44, "wins", Kind::Ip, L, N),
    row(51, "lease", Kind::U32, N, N),
    row(54, "serverid", Kind::Ip, N, N),
    row(56, "message", Kind::Str, N, N),
    row(60, "vendor", Kind::Str, N, N),
    row(66, "tftp", Kind::HostStr, N, N),
    row(67, "bootfile", Kind::Str, N, N),
    row(100, "tzstr", Kind::Str, N, N),
    row(101, "tzdbstr", Kind::Str, N, N),
    row(119, "search", Kind::DnsList, L, N),
    row(120, "sipsrv", Kind::SipServers, N, N),
    row(121, "staticroutes", Kind::StaticRoutes, L, N),
    row(132, "vlanid", Kind::U16, N, N),
    row(133, "vlanpriority", Kind::U8, N, N),
    row(209, "pxeconffile", Kind::Str, N, N),
    row(210, "pxepathprefix", Kind::Str, N, N),
    row(211, "reboottime", Kind::U32, N, N),
    row(212, "ip6rd", Kind::SixRd, N, N),
    row(249, "msstaticroutes", Kind::StaticRoutes, L, N),
    row(252, "wpad", Kind::Str, N, N),
    // Internal: requested IP, message type, max message size. udhcpc adds
    // them itself; they are exported as opt50/opt53/opt57.
    row(50, "", Kind::Ip, N, N),
    row(53, "", Kind::U8, N, N),
    row(57, "", Kind::U16, N, N),
];

/// The table row for `code`, named or internal.
pub fn by_code(code: u8) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.code == code)
}

/// The named row called `name` (case-sensitive, as BusyBox's
/// `index_in_strings`). Internal rows are never found.
pub fn by_name(name: &str) -> Option<&'static OptSpec> {
    if name.is_empty() {
        return None;
    }
    OPTIONS.iter().find(|o| o.name == name)
}

/// udhcpc's default parameter request list: the `request` codes in
/// ascending order (1 3 6 12 15 28 42).
pub fn default_request_list() -> impl Iterator<Item = u8> {
    // The table is ascending except for the unnamed tail, which has no
    // requested rows, so table order is code order here.
    OPTIONS.iter().filter(|o| o.request).map(|o| o.code)
}

/// Every option name in table order (for `unknown option … known options:`).
pub fn known_names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().filter(|o| o.is_named()).map(|o| o.name)
}

/// The script variable name for `code`: the table name, or `optNN` (decimal,
/// no padding) for codes without one, including 50, 53 and 57.
pub fn env_name(code: u8) -> String {
    match by_code(code) {
        Some(o) if o.is_named() => o.name.to_owned(),
        _ => format!("opt{code}"),
    }
}
