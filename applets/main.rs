//! The udhcp multi-call binary: the basename of argv\[0\] picks the applet
//! (`udhcpc`, `udhcpd`, `dumpleases`, `dhcprelay`), as with BusyBox. Run as `udhcp` (or any
//! name starting with `udhcp` that is not an applet, e.g. `udhcp-1.0`) it is
//! the multiplexer:
//!
//! - `udhcp APPLET ARGS...` runs APPLET (a path is reduced to its basename);
//! - `udhcp --help [APPLET]` prints the multiplexer usage on stdout (exit 0),
//!   or APPLET's usage; bare `udhcp` does the same (as `busybox_main`);
//! - `udhcp --list` prints the applet names, `--list-full` with install dirs;
//! - `udhcp --install [-s] [DIR]` links every applet name to this binary, in
//!   DIR or else in BusyBox's install dir per applet (/sbin, /usr/sbin,
//!   /usr/bin). `-s` makes symlinks, otherwise hard links. An existing file is
//!   left alone: silently when it already is this binary, with a note on
//!   stderr otherwise. Any other failure is reported per link and the exit
//!   status is 1 (BusyBox reports but exits 0).
//!
//! `udhcpd --monitor ...` and `udhcpc --monitor ...` (the option may stand
//! anywhere before `--`) run the applet under a monitor that restarts it
//! when it dies from a signal: see `udhcp::sys::monitor`. It is taken off
//! here, before the applet parses its arguments, so the applets need not
//! know about it.
//!
//! Unknown names print `NAME: applet not found` and exit 127 (BusyBox: 1),
//! the shell's "command not found" status.

mod cli;
mod dhcprelay;
mod dumpleases;
mod udhcpc;
mod udhcpc6;
mod udhcpd;

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One applet of the binary.
#[derive(Debug)]
pub struct Applet {
    /// The name it is invoked as.
    pub name: &'static str,
    /// Its entry point: (applet name, arguments after argv\[0\]) → exit status.
    pub main: fn(&str, &[String]) -> i32,
    /// Its command-line table: parser and usage text.
    pub cmd: &'static cli::Command,
    /// Where `udhcp --install` without DIR puts its link (as in BusyBox).
    pub install_dir: &'static str,
}

/// Every applet, sorted by name.
pub const APPLETS: &[Applet] = &[
    Applet {
        name: "dhcprelay",
        main: dhcprelay::main,
        cmd: &dhcprelay::CMD,
        install_dir: "/usr/sbin",
    },
    Applet {
        name: "dumpleases",
        main: dumpleases::main,
        cmd: &dumpleases::CMD,
        install_dir: "/usr/bin",
    },
    Applet {
        name: "udhcpc",
        main: udhcpc::main,
        cmd: &udhcpc::CMD,
        install_dir: "/sbin",
    },
    Applet {
        name: "udhcpc6",
        main: udhcpc6::main,
        cmd: &udhcpc6::CMD,
        // BusyBox: APPLET(udhcpc6, BB_DIR_USR_BIN, ...).
        install_dir: "/usr/bin",
    },
    Applet {
        name: "udhcpd",
        main: udhcpd::main,
        cmd: &udhcpd::CMD,
        install_dir: "/usr/sbin",
    },
];

/// The multiplexer's own name; names starting with it are the multiplexer.
const MULTIPLEXER: &str = "udhcp";

/// Exit status for a name that is no applet (the shell's "not found").
const EXIT_NOT_FOUND: i32 = 127;

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(run(&argv));
}

fn run(argv: &[OsString]) -> i32 {
    let argv0 = argv
        .first()
        .map_or(OsStr::new(MULTIPLEXER), OsString::as_os_str);
    let base = basename(argv0);
    // Login shells and some inits prefix argv[0] with `-`.
    let name = base.strip_prefix('-').unwrap_or(&base);
    dispatch(name, argv.get(1..).unwrap_or(&[]), argv0)
}

/// The last path component, lossily decoded (only used to match and print).
fn basename(path: &OsStr) -> String {
    let name = Path::new(path).file_name().unwrap_or(path);
    name.to_string_lossy().into_owned()
}

fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

fn dispatch(name: &str, args: &[OsString], argv0: &OsStr) -> i32 {
    if let Some(applet) = find(name) {
        run_applet(applet, args)
    } else if name.starts_with(MULTIPLEXER) {
        multiplexer(args, argv0)
    } else {
        eprintln!("{name}: applet not found");
        EXIT_NOT_FOUND
    }
}

fn run_applet(applet: &'static Applet, args: &[OsString]) -> i32 {
    let mut strings = Vec::with_capacity(args.len());
    for arg in args {
        match arg.to_str() {
            Some(s) => strings.push(s.to_owned()),
            None => {
                let msg = format!("argument is not valid UTF-8: '{}'", arg.to_string_lossy());
                return cli::report(applet.name, applet.cmd, &cli::Exit::Usage(msg));
            }
        }
    }
    if let Some(at) = monitor_option(&strings) {
        if let Some(flags) = monitor_flags(applet.name) {
            strings.remove(at);
            return monitor(applet, flags, strings);
        }
    }
    (applet.main)(applet.name, &strings)
}

/// Where `--monitor` (the [`cli::MONITOR`] row of the monitored applets'
/// tables, which shows it in their usage) is among `args`, if it is there
/// before any `--`. Only the exact word counts, as before it had a row.
fn monitor_option(args: &[String]) -> Option<usize> {
    let long = cli::MONITOR.long?;
    args.iter()
        .take_while(|a| *a != "--")
        .position(|a| a.strip_prefix("--") == Some(long))
}

/// For the applets that can run under `--monitor`: how to read `-f` and
/// `-S` from their arguments (their own parsers, so clusters like `-fS`
/// and long forms count the same).
type MonitorFlags = fn(&[String]) -> Result<(bool, bool), cli::Exit>;

fn monitor_flags(name: &str) -> Option<MonitorFlags> {
    match name {
        "udhcpd" => Some(|args| udhcpd::parse_args(args).map(|a| (a.foreground, a.syslog))),
        "udhcpc" => Some(|args| udhcpc::parse_args(args).map(|a| (a.foreground, a.syslog))),
        _ => None,
    }
}

/// Runs `applet` with `args` under the monitor. A usage error is reported
/// here, once, rather than by a child the monitor would then wait for.
fn monitor(applet: &'static Applet, flags: MonitorFlags, args: Vec<String>) -> i32 {
    let (foreground, syslog) = match flags(&args) {
        Ok(f) => f,
        Err(exit) => return cli::report(applet.name, applet.cmd, &exit),
    };
    let opts = udhcp::sys::monitor::Options {
        applet: applet.name,
        foreground,
        syslog,
    };
    udhcp::sys::monitor::run(&opts, &mut || (applet.main)(applet.name, &args))
}

fn multiplexer(args: &[OsString], argv0: &OsStr) -> i32 {
    let Some(first) = args.first() else {
        // As BusyBox's busybox_main: bare invocation is a request for help.
        let _ = write_multiplexer_usage(&mut io::stdout().lock());
        return 0;
    };
    let rest = args.get(1..).unwrap_or(&[]);
    match first.to_str() {
        Some("--help") => match rest.first() {
            None => {
                let _ = write_multiplexer_usage(&mut io::stdout().lock());
                0
            }
            // `udhcp --help APPLET` is `APPLET --help`.
            Some(applet) => dispatch(&basename(applet), &[OsString::from("--help")], argv0),
        },
        Some("--list") => list(false),
        Some("--list-full") => list(true),
        Some("--install") => install(rest, argv0),
        _ => dispatch(&basename(first), rest, argv0),
    }
}

fn write_multiplexer_usage(out: &mut dyn Write) -> io::Result<()> {
    let names: Vec<&str> = APPLETS.iter().map(|a| a.name).collect();
    write!(
        out,
        "{banner}\n\n\
         Usage: udhcp [function [arguments]...]\n   \
         or: udhcp --list[-full]\n   \
         or: udhcp --install [-s] [DIR]\n   \
         or: function [arguments]...\n\n\
         \tudhcp puts BusyBox's DHCP applets in one executable. Link each\n\
         \tfunction's name to it (udhcp --install does this) and it acts as\n\
         \tthat function when run under the name.\n\n\
         \tudhcpd and udhcpc also take --monitor: a parent process restarts\n\
         \tthe daemon when a signal kills it (not when it exits), with back-off.\n\n\
         Currently defined functions:\n\t{names}\n\n",
        banner = cli::BANNER,
        names = names.join(", "),
    )
}

fn list(full: bool) -> i32 {
    let mut out = io::stdout().lock();
    for applet in APPLETS {
        let dir = if full {
            applet.install_dir.trim_start_matches('/')
        } else {
            ""
        };
        let sep = if dir.is_empty() { "" } else { "/" };
        // A closed pipe (`udhcp --list | head -1`) is not an error worth a panic.
        if writeln!(out, "{dir}{sep}{}", applet.name).is_err() {
            return 1;
        }
    }
    0
}

fn install(args: &[OsString], argv0: &OsStr) -> i32 {
    let (symbolic, rest) = match args.split_first() {
        Some((flag, rest)) if flag == "-s" => (true, rest),
        _ => (false, args),
    };
    if rest.len() > 1 {
        eprintln!("{MULTIPLEXER}: --install: too many arguments");
        let _ = write_multiplexer_usage(&mut io::stderr().lock());
        return 1;
    }
    let exe = match own_path(argv0) {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("{MULTIPLEXER}: can't find own executable: {}", os_msg(&e));
            return 1;
        }
    };
    let mut failed = false;
    for applet in APPLETS {
        let dir = rest
            .first()
            .map_or(Path::new(applet.install_dir), Path::new);
        let link = dir.join(applet.name);
        let made = if symbolic {
            std::os::unix::fs::symlink(&exe, &link)
        } else {
            std::fs::hard_link(&exe, &link)
        };
        match made {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !same_file(&link, &exe) {
                    eprintln!("{MULTIPLEXER}: {}: exists, left alone", link.display());
                }
            }
            Err(e) => {
                eprintln!("{MULTIPLEXER}: {}: {}", link.display(), os_msg(&e));
                failed = true;
            }
        }
    }
    i32::from(failed)
}

/// This binary's path: /proc/self/exe, or argv\[0\] when /proc is missing
/// (early boot, chroots) and argv\[0\] is absolute, as BusyBox does.
fn own_path(argv0: &OsStr) -> io::Result<PathBuf> {
    std::env::current_exe().or_else(|e| {
        let path = Path::new(argv0);
        if path.is_absolute() {
            Ok(path.to_path_buf())
        } else {
            Err(e)
        }
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// An I/O error as `strerror` text, without Rust's " (os error N)" suffix.
fn os_msg(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The applets main.rs runs under `--monitor` are exactly those whose
    /// table shows the `--monitor` row.
    #[test]
    fn monitor_row_matches_the_monitored_applets() {
        for applet in APPLETS {
            let row = applet
                .cmd
                .opts
                .iter()
                .any(|o| o.outer && o.long == cli::MONITOR.long);
            assert_eq!(row, monitor_flags(applet.name).is_some(), "{}", applet.name);
        }
        let args: Vec<String> = ["-f", "--mon", "--monitor", "--", "--monitor"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(monitor_option(&args), Some(2));
        assert_eq!(monitor_option(&args[..2]), None);
    }
}
