//! udhcpc, the DHCPv4 client applet: its command line (BusyBox getopt
//! `CV:F:i:np:qRr:s:T:+t:+SA:+O:*ox:*fBba::P:v` with 21 long names) and, in a
//! later issue, the client loop.

use std::net::Ipv4Addr;

use argh::FromArgs;

use udhcp::wire::options::{self, OptionSet};

use crate::cli::{self, Arg, Exit, OptSpec};

/// Default `-i`.
pub const DEFAULT_INTERFACE: &str = "eth0";
/// Default `-s`.
pub const DEFAULT_SCRIPT: &str = "/usr/share/udhcpc/default.script";
/// Default `-V` (option 60).
pub const DEFAULT_VENDOR: &str = concat!("udhcp ", env!("CARGO_PKG_VERSION"));
/// `-a` given without a value.
pub const DEFAULT_ARPING_MS: u32 = 2000;
/// Default client port (`-P`); the server port is one less.
pub const DEFAULT_CLIENT_PORT: u16 = 68;

/// BusyBox `xatoi_positive`: `-t`, `-T` and `-A` are 0..=INT_MAX.
const INT_MAX: u32 = i32::MAX as u32;

/// The option table, in BusyBox's getopt order.
pub const SPEC: &[OptSpec] = &[
    OptSpec::short('C', Arg::None).long("clientid-none"),
    OptSpec::short('V', Arg::Required).long("vendorclass"),
    OptSpec::short('F', Arg::Required).long("fqdn"),
    OptSpec::short('i', Arg::Required).long("interface"),
    OptSpec::short('n', Arg::None).long("now"),
    OptSpec::short('p', Arg::Required).long("pidfile"),
    OptSpec::short('q', Arg::None).long("quit"),
    OptSpec::short('R', Arg::None).long("release"),
    OptSpec::short('r', Arg::Required).long("request"),
    OptSpec::short('s', Arg::Required).long("script"),
    OptSpec::short('T', Arg::Required).long("timeout"),
    OptSpec::short('t', Arg::Required).long("retries"),
    OptSpec::short('S', Arg::None).long("syslog"),
    OptSpec::short('A', Arg::Required).long("tryagain"),
    OptSpec::short('O', Arg::Required)
        .long("request-option")
        .repeat(),
    OptSpec::short('o', Arg::None).long("no-default-options"),
    OptSpec::short('x', Arg::Required).repeat(),
    OptSpec::short('f', Arg::None).long("foreground"),
    OptSpec::short('B', Arg::None).long("broadcast"),
    OptSpec::short('b', Arg::None).long("background"),
    OptSpec::short('a', Arg::Optional).long("arping"),
    OptSpec::short('P', Arg::Required).long("client-port"),
    OptSpec::short('v', Arg::None).repeat(),
    // Removed from BusyBox: -H/-h/--hostname in 1.34, -c in 2010.
    OptSpec::short('H', Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::short('h', Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::long_only("hostname", Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::short('c', Arg::Required).removed("use -x 61:HEX or -x 0x3d:HEX"),
];

/// Usage text, after `Usage: udhcpc `.
pub const USAGE: &str = concat!(
    "[-fbqnRBoCSv] [-i IFACE] [-s PROG] [-p PIDFILE] [-a[MSEC]]\n",
    "\t[-t N] [-T SEC] [-A SEC] [-r IP] [-P PORT] [-V VENDOR] [-F NAME]\n",
    "\t[-x OPT:VAL]... [-O OPT]...\n",
    "\n",
    "\t-i,--interface IFACE\tInterface to configure (default eth0)\n",
    "\t-s,--script PROG\tProgram run on lease events\n",
    "\t\t\t\t(default /usr/share/udhcpc/default.script)\n",
    "\t-p,--pidfile FILE\tWrite the process id to FILE\n",
    "\t-B,--broadcast\t\tAsk servers to broadcast their replies\n",
    "\t-t,--retries N\t\tDISCOVERs per attempt (default 3; 0: no limit)\n",
    "\t-T,--timeout SEC\tSeconds to wait for each reply (default 3)\n",
    "\t-A,--tryagain SEC\tSeconds to wait after a failed attempt (default 20)\n",
    "\t-b,--background\t\tGo to background if no lease is obtained\n",
    "\t-n,--now\t\tExit with status 1 if no lease is obtained\n",
    "\t-q,--quit\t\tExit once a lease is obtained\n",
    "\t-R,--release\t\tRelease the lease on exit\n",
    "\t-f,--foreground\t\tStay in the foreground\n",
    "\t-S,--syslog\t\tLog to syslog as well\n",
    "\t-a,--arping[=MSEC]\tARP-probe an offered address before using it,\n",
    "\t\t\t\twaiting MSEC ms for an answer (default 2000;\n",
    "\t\t\t\tthe value must be attached: -a500; -a0: no probe)\n",
    "\t-r,--request IP\t\tAsk for this address\n",
    "\t-o,--no-default-options\tRequest only the options named with -O\n",
    "\t-O,--request-option OPT\tAlso request option OPT (name or number; repeatable)\n",
    "\t-x OPT:VAL\t\tSend option OPT with value VAL (repeatable), e.g.\n",
    "\t\t\t\t-x hostname:mybox  -x lease:3600  -x 0x3d:0100BEEFC0FFEE\n",
    "\t-F,--fqdn NAME\t\tAsk the server to put NAME in DNS (option 81)\n",
    "\t-V,--vendorclass VENDOR\tVendor class (default 'udhcp ",
    env!("CARGO_PKG_VERSION"),
    "'; -V '': none)\n",
    "\t-C,--clientid-none\tSend no client identifier (default: 01 + MAC)\n",
    "\t-P,--client-port PORT\tClient port (default 68; servers are on PORT-1)\n",
    "\t-v\t\t\tMore log output (repeatable)\n",
    "Signals:\n",
    "\tUSR1\tRenew the lease now\n",
    "\tUSR2\tRelease the lease",
);

/// The argh view of the canonical argv produced by [`cli::normalize`]. Numbers
/// stay strings so that bad ones get BusyBox's messages, not argh's.
#[derive(FromArgs)]
/// udhcpc
#[argh(help_triggers("--help"))]
struct RawArgs {
    /// option -C
    #[argh(switch, short = 'C', long = "clientid-none")]
    clientid_none: bool,
    /// option -V
    #[argh(option, short = 'V', long = "vendorclass")]
    vendorclass: Option<String>,
    /// option -F
    #[argh(option, short = 'F', long = "fqdn")]
    fqdn: Option<String>,
    /// option -i
    #[argh(option, short = 'i', long = "interface")]
    interface: Option<String>,
    /// option -n
    #[argh(switch, short = 'n', long = "now")]
    now: bool,
    /// option -p
    #[argh(option, short = 'p', long = "pidfile")]
    pidfile: Option<String>,
    /// option -q
    #[argh(switch, short = 'q', long = "quit")]
    quit: bool,
    /// option -R
    #[argh(switch, short = 'R', long = "release")]
    release: bool,
    /// option -r
    #[argh(option, short = 'r', long = "request")]
    request: Option<String>,
    /// option -s
    #[argh(option, short = 's', long = "script")]
    script: Option<String>,
    /// option -T
    #[argh(option, short = 'T', long = "timeout")]
    timeout: Option<String>,
    /// option -t
    #[argh(option, short = 't', long = "retries")]
    retries: Option<String>,
    /// option -S
    #[argh(switch, short = 'S', long = "syslog")]
    syslog: bool,
    /// option -A
    #[argh(option, short = 'A', long = "tryagain")]
    tryagain: Option<String>,
    /// option -O
    #[argh(option, short = 'O', long = "request-option")]
    request_option: Vec<String>,
    /// option -o
    #[argh(switch, short = 'o', long = "no-default-options")]
    no_default_options: bool,
    /// option -x (no long form in BusyBox; the normaliser emits `-x`)
    #[argh(option, short = 'x', long = "send-option")]
    send_option: Vec<String>,
    /// option -f
    #[argh(switch, short = 'f', long = "foreground")]
    foreground: bool,
    /// option -B
    #[argh(switch, short = 'B', long = "broadcast")]
    broadcast: bool,
    /// option -b
    #[argh(switch, short = 'b', long = "background")]
    background: bool,
    /// option -a; `cli::NO_VALUE` when given without a value
    #[argh(option, short = 'a', long = "arping")]
    arping: Option<String>,
    /// option -P
    #[argh(option, short = 'P', long = "client-port")]
    client_port: Option<String>,
    /// option -v, counted
    #[argh(switch, short = 'v', long = "verbose")]
    verbose: u8,
    /// anything else: refused
    #[argh(positional)]
    rest: Vec<String>,
}

/// udhcpc's validated command line, with BusyBox's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)] // read by the client loop (later issue) and the tests
pub struct UdhcpcArgs {
    /// `-i`: interface name.
    pub interface: String,
    /// `-s`: program run at lease events (execvp: PATH search without `/`).
    pub script: String,
    /// `-p`: pidfile.
    pub pidfile: Option<String>,
    /// `-B`: set the BOOTP broadcast flag.
    pub broadcast: bool,
    /// `-t`: DISCOVERs per round, 0 = no limit.
    pub retries: u32,
    /// `-T`: seconds to wait for each reply.
    pub timeout: u32,
    /// `-A`: seconds to wait after a failed round or a DECLINE.
    pub tryagain: u32,
    /// `-b`: background at the first leasefail (wins over `-n`).
    pub background: bool,
    /// `-n`: exit 1 at the first leasefail.
    pub now: bool,
    /// `-q`: exit 0 after the first bound/renew.
    pub quit: bool,
    /// `-R`: release on exit.
    pub release: bool,
    /// `-f`: never daemonize.
    pub foreground: bool,
    /// `-S`: log to syslog too.
    pub syslog: bool,
    /// `-a`: ARP-probe timeout in ms; `None` = no probe (absent or `-a0`).
    pub arping_ms: Option<u32>,
    /// `-r`: requested address (option 50); `0.0.0.0` is stored as `None`.
    pub requested_ip: Option<Ipv4Addr>,
    /// `-o`: no default parameter request list.
    pub no_default_options: bool,
    /// `-O` option codes to add to the parameter request list, in the order
    /// given (names or numbers, decoded by the options table).
    pub request_options: Vec<u8>,
    /// `-x` options to send, decoded by the options codec (sorted by code).
    pub send_options: OptionSet,
    /// `-F`: FQDN for option 81.
    pub fqdn: Option<String>,
    /// `-V`: vendor class for option 60; `None` when `-V ""` suppresses it.
    pub vendor_class: Option<String>,
    /// `-C`: no default client identifier.
    pub clientid_none: bool,
    /// `-P`: client port (server port is one less).
    pub client_port: u16,
    /// `-v` count.
    pub verbose: u8,
}

/// Parses udhcpc's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<UdhcpcArgs, Exit> {
    let raw: RawArgs = cli::parse("udhcpc", SPEC, args)?;
    if let Some(extra) = raw.rest.first() {
        return Err(Exit::Usage(format!("unexpected argument '{extra}'")));
    }
    let count = |value: Option<String>, default: u32| match value {
        Some(text) => cli::number(&text, INT_MAX),
        None => Ok(default),
    };
    let arping_ms = match raw.arping.as_deref() {
        None => None,
        Some(cli::NO_VALUE) => Some(DEFAULT_ARPING_MS),
        Some(text) => Some(cli::number(text, u32::MAX)?).filter(|&ms| ms != 0),
    };
    let requested_ip = match raw.request {
        None => None,
        Some(text) => match options::parse_ipv4_aton(&text) {
            Some(ip) if ip.is_unspecified() => None,
            Some(ip) => Some(ip),
            None => return Err(Exit::Usage(format!("bad IP address '{text}'"))),
        },
    };
    // Like BusyBox, an unknown option name or a bad value is fatal at
    // startup (`unknown option 'X', known options: ...`), without usage.
    let request_options = raw
        .request_option
        .iter()
        .map(|text| options::parse_code(text))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| Exit::Fail(e.to_string()))?;
    let mut send_options = OptionSet::new();
    for text in &raw.send_option {
        send_options
            .add_text(text)
            .map_err(|e| Exit::Fail(e.to_string()))?;
    }
    let client_port = match raw.client_port {
        Some(text) => cli::port(&text)?,
        None => DEFAULT_CLIENT_PORT,
    };
    let vendor_class = match raw.vendorclass {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v),
        None => Some(DEFAULT_VENDOR.to_string()),
    };
    Ok(UdhcpcArgs {
        interface: raw
            .interface
            .unwrap_or_else(|| DEFAULT_INTERFACE.to_string()),
        script: raw.script.unwrap_or_else(|| DEFAULT_SCRIPT.to_string()),
        pidfile: raw.pidfile,
        broadcast: raw.broadcast,
        retries: count(raw.retries, 3)?,
        timeout: count(raw.timeout, 3)?,
        tryagain: count(raw.tryagain, 20)?,
        background: raw.background,
        now: raw.now,
        quit: raw.quit,
        release: raw.release,
        foreground: raw.foreground,
        syslog: raw.syslog,
        arping_ms,
        requested_ip,
        no_default_options: raw.no_default_options,
        request_options,
        send_options,
        fqdn: raw.fqdn,
        vendor_class,
        clientid_none: raw.clientid_none,
        client_port,
        verbose: raw.verbose,
    })
}

/// The applet entry point: `args` excludes argv\[0\].
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(_config) => {
            eprintln!("{name}: not implemented yet");
            1
        }
        Err(exit) => cli::report(name, USAGE, &exit),
    }
}
