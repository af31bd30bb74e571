//! dumpleases: prints udhcpd's lease file. Its command line (BusyBox getopt
//! `f:rad` with long names, no positionals, `-a`/`-r` exclusive) and the
//! table, byte for byte as BusyBox prints it (reference §3.2; the row
//! format is `udhcp::lease::file::format_row`).
//!
//! Unlike BusyBox's, ours also replays `FILE.journal` (if present) over the
//! file, so it shows the server's state as of its last ACK; BusyBox's
//! dumpleases reading the same file shows the state as of the server's
//! last compaction.

use std::io::{self, Write};
use std::path::Path;

use udhcp::lease::file::{self, RowMode};
use udhcp::sys::clock;
use udhcp::sys::leasestore::{self, SnapshotError};
use udhcp::sys::localtime;

use crate::cli::{self, Arg, Exit, OptSpec};

/// Default `-f` (BusyBox `DHCPD_LEASES_FILE`).
pub const DEFAULT_LEASE_FILE: &str = "/var/lib/misc/udhcpd.leases";

/// dumpleases' command line: parsing and usage both come from these rows.
pub const SPEC: &[OptSpec] = &[
    OptSpec::short('f', Arg::Required)
        .long("file")
        .value("FILE")
        .help("Lease file (default /var/lib/misc/udhcpd.leases)"),
    OptSpec::short('r', Arg::None)
        .long("remaining")
        .help("Show the time left (default)"),
    OptSpec::short('a', Arg::None)
        .long("absolute")
        .excludes('r')
        .help("Show when each lease expires"),
    OptSpec::short('d', Arg::None)
        .long("decimal")
        .help("Show times as seconds"),
];

/// The table with its paragraph; no operands.
pub const CMD: cli::Command = cli::Command {
    opts: SPEC,
    operands: "",
    max_operands: Some(0),
    about: "Show the leases udhcpd has granted",
    footer: "",
};

/// dumpleases' validated command line.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    // `-a` with `-r` and operands are refused by the table.
    let raw = cli::parse(&CMD, args)?;
    Ok(DumpleasesArgs {
        file: raw
            .value("file")
            .unwrap_or_else(|| DEFAULT_LEASE_FILE.to_string()),
        absolute: raw.flag("absolute"),
        decimal: raw.flag("decimal"),
    })
}

/// The applet entry point: `args` excludes argv\[0\].
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(config) => run(name, &config),
        Err(exit) => cli::report(name, &CMD, &exit),
    }
}

/// Prints the table. As BusyBox does, the header is printed once the file
/// is open, before its contents are judged (`short read` follows it).
fn run(name: &str, config: &DumpleasesArgs) -> i32 {
    let fail = |msg: String| cli::report(name, &CMD, &Exit::Fail(msg));
    let now = clock::wall_now();
    let snapshot = leasestore::read_snapshot(Path::new(&config.file), now);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(SnapshotError::Open(e)) => return fail(e.to_string()),
        Err(SnapshotError::Format(e)) => {
            let _ = writeln!(out, "{}", file::header(config.absolute));
            let _ = out.flush();
            let msg = match e {
                file::FileError::Short => e.to_string(),
                file::FileError::Garbage => format!("'{}': {e}", config.file),
            };
            return fail(msg);
        }
    };
    let mode = match (config.absolute, config.decimal) {
        (false, false) => RowMode::Remaining,
        (false, true) => RowMode::RemainingSecs,
        (true, false) => RowMode::At(localtime::local),
        (true, true) => RowMode::AtSecs,
    };
    let mut text = file::header(config.absolute);
    text.push('\n');
    // The records are aged to `now`, so they print as a file written now.
    for r in &snapshot.records {
        text.push_str(&file::format_row(r, now, now, mode));
        text.push('\n');
    }
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    for w in &snapshot.warnings {
        eprintln!("{name}: {w}");
    }
    match written {
        Ok(()) => 0,
        // `dumpleases | head`: the reader left; nothing to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 1,
        Err(e) => fail(format!("write error: {e}")),
    }
}
