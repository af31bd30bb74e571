//! dumpleases: prints udhcpd's lease file. Its command line (BusyBox getopt
//! `f:rad` with long names, no positionals, `-a`/`-r` exclusive) and, in a
//! later issue, the table printer.

use argh::FromArgs;

use crate::cli::{self, Arg, Exit, OptSpec};

/// Default `-f` (BusyBox `DHCPD_LEASES_FILE`).
pub const DEFAULT_LEASE_FILE: &str = "/var/lib/misc/udhcpd.leases";

/// The option table, in BusyBox's getopt order.
pub const SPEC: &[OptSpec] = &[
    OptSpec::short('f', Arg::Required).long("file"),
    OptSpec::short('r', Arg::None).long("remaining"),
    OptSpec::short('a', Arg::None).long("absolute"),
    OptSpec::short('d', Arg::None).long("decimal"),
];

/// Usage text, after `Usage: dumpleases `.
pub const USAGE: &str = concat!(
    "[-r|-a] [-d] [-f LEASEFILE]\n",
    "\n",
    "Show the leases udhcpd has granted\n",
    "\n",
    "\t-f,--file FILE\tLease file (default /var/lib/misc/udhcpd.leases)\n",
    "\t-r,--remaining\tShow the time left (default)\n",
    "\t-a,--absolute\tShow when each lease expires\n",
    "\t-d,--decimal\tShow times as seconds",
);

/// The argh view of the canonical argv produced by [`cli::normalize`].
#[derive(FromArgs)]
/// dumpleases
#[argh(help_triggers("--help"))]
struct RawArgs {
    /// option -f
    #[argh(option, short = 'f', long = "file")]
    file: Option<String>,
    /// option -r
    #[argh(switch, short = 'r', long = "remaining")]
    remaining: bool,
    /// option -a
    #[argh(switch, short = 'a', long = "absolute")]
    absolute: bool,
    /// option -d
    #[argh(switch, short = 'd', long = "decimal")]
    decimal: bool,
    /// refused
    #[argh(positional)]
    rest: Vec<String>,
}

/// dumpleases' validated command line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)] // read by the printer (later issue) and the tests
pub struct DumpleasesArgs {
    /// `-f`: the lease file.
    pub file: String,
    /// `-a`: show expiry times instead of time remaining (`-r`, default).
    pub absolute: bool,
    /// `-d`: seconds instead of formatted times.
    pub decimal: bool,
}

/// Parses dumpleases' arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<DumpleasesArgs, Exit> {
    let raw: RawArgs = cli::parse("dumpleases", SPEC, args)?;
    if let Some(extra) = raw.rest.first() {
        return Err(Exit::Usage(format!("unexpected argument '{extra}'")));
    }
    if raw.absolute && raw.remaining {
        return Err(Exit::Usage("-a and -r are mutually exclusive".into()));
    }
    Ok(DumpleasesArgs {
        file: raw.file.unwrap_or_else(|| DEFAULT_LEASE_FILE.to_string()),
        absolute: raw.absolute,
        decimal: raw.decimal,
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
