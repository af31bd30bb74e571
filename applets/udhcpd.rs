//! udhcpd, the DHCPv4 server applet: its command line (BusyBox getopt
//! `fSI:va:P:`, no long options, optional CONFFILE) and, in a later issue,
//! the server loop.

use argh::FromArgs;

use crate::cli::{self, Arg, Exit, OptSpec};

/// Default CONFFILE.
pub const DEFAULT_CONF_FILE: &str = "/etc/udhcpd.conf";
/// Default `-a`.
pub const DEFAULT_ARPING_MS: u32 = 2000;
/// Default `-P`; clients are on the next port.
pub const DEFAULT_SERVER_PORT: u16 = 67;

/// The option table, in BusyBox's getopt order. udhcpd has no long options.
pub const SPEC: &[OptSpec] = &[
    OptSpec::short('f', Arg::None),
    OptSpec::short('S', Arg::None),
    OptSpec::short('I', Arg::Required),
    OptSpec::short('v', Arg::None).repeat(),
    OptSpec::short('a', Arg::Required),
    OptSpec::short('P', Arg::Required),
];

/// Usage text, after `Usage: udhcpd `.
pub const USAGE: &str = concat!(
    "[-fSv] [-I ADDR] [-a MSEC] [-P PORT] [CONFFILE]\n",
    "\n",
    "DHCP server\n",
    "\n",
    "\t-f\t\tStay in the foreground\n",
    "\t-S\t\tLog to syslog as well\n",
    "\t-I ADDR\t\tServer address (default: the interface's address)\n",
    "\t-a MSEC\t\tWait MSEC ms for an ARP answer before offering an\n",
    "\t\t\taddress (default 2000; 0: no probe)\n",
    "\t-P PORT\t\tServer port (default 67; clients are on PORT+1)\n",
    "\t-v\t\tMore log output (repeatable)\n",
    "\tCONFFILE\tConfiguration (default /etc/udhcpd.conf; -: stdin)\n",
    "Signals:\n",
    "\tUSR1\tWrite the lease file now",
);

/// The argh view of the canonical argv produced by [`cli::normalize`].
#[derive(FromArgs)]
/// udhcpd
#[argh(help_triggers("--help"))]
struct RawArgs {
    /// option -f
    #[argh(switch, short = 'f', long = "foreground")]
    foreground: bool,
    /// option -S
    #[argh(switch, short = 'S', long = "syslog")]
    syslog: bool,
    /// option -I
    #[argh(option, short = 'I', long = "server-ip")]
    server_ip: Option<String>,
    /// option -v, counted
    #[argh(switch, short = 'v', long = "verbose")]
    verbose: u8,
    /// option -a
    #[argh(option, short = 'a', long = "arping")]
    arping: Option<String>,
    /// option -P
    #[argh(option, short = 'P', long = "port")]
    port: Option<String>,
    /// conffile; more than one is refused
    #[argh(positional)]
    positionals: Vec<String>,
}

/// udhcpd's validated command line, with BusyBox's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)] // read by the server loop (later issue) and the tests
pub struct UdhcpdArgs {
    /// `-f`: do not daemonize.
    pub foreground: bool,
    /// `-S`: log to syslog too.
    pub syslog: bool,
    /// `-I`: server address as typed (BusyBox also resolves host names).
    pub server_ip: Option<String>,
    /// `-a`: ARP probe timeout in ms; 0 = no probe.
    pub arping_ms: u32,
    /// `-P`: server port (clients on port + 1).
    pub port: u16,
    /// `-v` count.
    pub verbose: u8,
    /// CONFFILE; `-` means standard input.
    pub conf_file: String,
}

impl UdhcpdArgs {
    /// CONFFILE was `-`: read the configuration from standard input.
    #[allow(dead_code)] // used by the server loop (later issue) and the tests
    pub fn conf_from_stdin(&self) -> bool {
        self.conf_file == "-"
    }
}

/// Parses udhcpd's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<UdhcpdArgs, Exit> {
    let raw: RawArgs = cli::parse("udhcpd", SPEC, args)?;
    let mut positionals = raw.positionals.into_iter();
    let conf_file = positionals
        .next()
        .unwrap_or_else(|| DEFAULT_CONF_FILE.to_string());
    if let Some(extra) = positionals.next() {
        return Err(Exit::Usage(format!("unexpected argument '{extra}'")));
    }
    Ok(UdhcpdArgs {
        foreground: raw.foreground,
        syslog: raw.syslog,
        server_ip: raw.server_ip,
        arping_ms: match raw.arping {
            Some(text) => cli::number(&text, u32::MAX)?,
            None => DEFAULT_ARPING_MS,
        },
        port: match raw.port {
            Some(text) => cli::port(&text)?,
            None => DEFAULT_SERVER_PORT,
        },
        verbose: raw.verbose,
        conf_file,
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
