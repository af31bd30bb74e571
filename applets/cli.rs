//! The command-line layer shared by the applets: a BusyBox-compatible getopt
//! normaliser in front of argh, usage/exit reporting, and the small value
//! parsers BusyBox applies to option arguments.
//!
//! BusyBox parses options with `getopt32`, i.e. GNU `getopt_long` semantics:
//! grouped switches (`-fqn`), attached values (`-ieth0`, `-t5`), a group
//! ending in a value-taking option (`-fieth0`, `-fi eth0`), optional values
//! that must be attached (`-a500`, `--arping=500`), `--long value`,
//! `--long=value`, unique long prefixes (`--inter eth0`), options after
//! positionals, and `--` to end options. argh matches whole words only, so
//! [`normalize`] rewrites BusyBox-style argv into one canonical argv that argh
//! accepts:
//!
//! - every option becomes its own word: the long name when the option has one
//!   (`--interface`), else the short one (`-x`, `-v`); a value is always the
//!   next word, even when it starts with `-`;
//! - an optional-value option (`Arg::Optional`) always gets a value word; when
//!   the user gave none it is [`NO_VALUE`] (a NUL, which no real argv word can
//!   contain, so it cannot collide with user input);
//! - a non-repeatable option given twice keeps the last value (getopt stores
//!   the last `optarg`), so argh never sees duplicates; repeatable ones
//!   (`-x`, `-O`, the `-v` counter) are kept in order;
//! - positionals follow a single `--`, so `-` (stdin for udhcpd) and words
//!   like `help` reach argh as positionals.
//!
//! Errors use glibc getopt's wording (`invalid option -- 'z'`,
//! `unrecognized option '--foo'`, ...). `--help` anywhere before `--` asks
//! for the usage (exit 0).

use std::io::{self, Write};

/// Banner printed above every usage text.
pub const BANNER: &str = concat!("udhcp v", env!("CARGO_PKG_VERSION"), " multi-call binary.");

/// The value [`normalize`] emits for an optional-value option given without a
/// value (`-a`, `--arping`). A NUL byte cannot occur in a real argv word.
pub const NO_VALUE: &str = "\0";

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A switch: `-f`, `--foreground`.
    None,
    /// A value: attached (`-ieth0`, `--interface=eth0`) or the next word
    /// (`-i eth0`, `--interface eth0`), whatever that word looks like.
    Required,
    /// An optional value that must be attached (`-a500`, `--arping=500`):
    /// in `-a eth0`, `eth0` is NOT the value of `-a` (getopt `a::`).
    Optional,
}

/// One option of an applet: the single table the normaliser reads.
#[derive(Clone, Copy, Debug)]
pub struct OptSpec {
    /// The short letter, if any.
    pub short: Option<char>,
    /// The long name without the dashes, if any.
    pub long: Option<&'static str>,
    /// Whether and how it takes a value.
    pub arg: Arg,
    /// Repeatable: every occurrence is passed on (`-x`, `-O`, `-v`).
    pub repeat: bool,
    /// A removed option: using it is a usage error carrying this hint.
    pub removed: Option<&'static str>,
}

impl OptSpec {
    /// An option with a short letter.
    pub const fn short(c: char, arg: Arg) -> Self {
        OptSpec {
            short: Some(c),
            long: None,
            arg,
            repeat: false,
            removed: None,
        }
    }

    /// An option with only a long name.
    pub const fn long_only(name: &'static str, arg: Arg) -> Self {
        OptSpec {
            short: None,
            long: Some(name),
            arg,
            repeat: false,
            removed: None,
        }
    }

    /// Adds the long name.
    pub const fn long(self, name: &'static str) -> Self {
        OptSpec {
            long: Some(name),
            ..self
        }
    }

    /// Marks the option repeatable.
    pub const fn repeat(self) -> Self {
        OptSpec {
            repeat: true,
            ..self
        }
    }

    /// Marks the option removed; `hint` says what replaces it.
    pub const fn removed(self, hint: &'static str) -> Self {
        OptSpec {
            removed: Some(hint),
            ..self
        }
    }

    /// The word argh knows this option by.
    fn canonical(&self) -> String {
        match (self.long, self.short) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(c)) => format!("-{c}"),
            (None, None) => String::new(),
        }
    }
}

/// Why [`normalize`] did not produce an argv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// `--help` was given: print the usage and exit 0.
    Help,
    /// Bad command line; the message is in getopt's words.
    Invalid(String),
}

impl UsageError {
    fn invalid(msg: String, removed: Option<&str>) -> Self {
        match removed {
            Some(hint) => UsageError::Invalid(format!("{msg} (removed: {hint})")),
            None => UsageError::Invalid(msg),
        }
    }
}

/// Rewrites BusyBox/getopt-style `args` (without argv\[0\]) into the
/// canonical argv described in the module docs, per the option table `spec`.
pub fn normalize(spec: &[OptSpec], args: &[String]) -> Result<Vec<String>, UsageError> {
    let options_end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    if args.iter().take(options_end).any(|a| a == "--help") {
        return Err(UsageError::Help);
    }
    if args.iter().any(|a| a.contains('\0')) {
        // Impossible from a real argv; refusing it keeps NO_VALUE unambiguous.
        return Err(UsageError::Invalid("argument contains a NUL byte".into()));
    }

    let mut found: Vec<(usize, Option<String>)> = Vec::new();
    let mut positionals: Vec<String> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            positionals.extend(words.by_ref().cloned());
            break;
        }
        if let Some(body) = word.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let idx = find_long(spec, name, word)?;
            let Some(opt) = spec.get(idx) else { continue };
            let long = opt.long.unwrap_or(name);
            let value = match (opt.arg, inline) {
                (Arg::None, None) => None,
                (Arg::None, Some(_)) => {
                    let msg = format!("option '--{long}' doesn't allow an argument");
                    return Err(UsageError::Invalid(msg));
                }
                (Arg::Required, Some(v)) | (Arg::Optional, Some(v)) => Some(v.to_string()),
                (Arg::Required, None) => match words.next() {
                    Some(v) => Some(v.clone()),
                    None => {
                        let msg = format!("option '--{long}' requires an argument");
                        return Err(UsageError::Invalid(msg));
                    }
                },
                (Arg::Optional, None) => Some(NO_VALUE.to_string()),
            };
            record(spec, &mut found, idx, value);
        } else if let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) {
            let mut rest = cluster;
            while let Some(c) = rest.chars().next() {
                rest = rest.get(c.len_utf8()..).unwrap_or("");
                let idx = find_short(spec, c)?;
                let Some(opt) = spec.get(idx) else { break };
                match opt.arg {
                    Arg::None => record(spec, &mut found, idx, None),
                    Arg::Required => {
                        let value = if !rest.is_empty() {
                            rest.to_string()
                        } else if let Some(next) = words.next() {
                            next.clone()
                        } else {
                            let msg = format!("option requires an argument -- '{c}'");
                            return Err(UsageError::Invalid(msg));
                        };
                        record(spec, &mut found, idx, Some(value));
                        break;
                    }
                    Arg::Optional => {
                        let value = if rest.is_empty() { NO_VALUE } else { rest };
                        record(spec, &mut found, idx, Some(value.to_string()));
                        break;
                    }
                }
            }
        } else {
            // `-`, the empty word and anything not starting with `-`; GNU
            // getopt permutes, so options may follow positionals.
            positionals.push(word.clone());
        }
    }

    let mut out = Vec::with_capacity(found.len() * 2 + positionals.len() + 1);
    for (idx, value) in found {
        if let Some(opt) = spec.get(idx) {
            out.push(opt.canonical());
            out.extend(value);
        }
    }
    if !positionals.is_empty() {
        out.push("--".to_string());
        out.extend(positionals);
    }
    Ok(out)
}

/// Adds one occurrence; a non-repeatable option keeps only its last value.
fn record(
    spec: &[OptSpec],
    found: &mut Vec<(usize, Option<String>)>,
    idx: usize,
    value: Option<String>,
) {
    let repeat = spec.get(idx).is_some_and(|o| o.repeat);
    if !repeat {
        if let Some(slot) = found.iter_mut().find(|(i, _)| *i == idx) {
            slot.1 = value;
            return;
        }
    }
    found.push((idx, value));
}

fn find_short(spec: &[OptSpec], c: char) -> Result<usize, UsageError> {
    match spec.iter().position(|o| o.short == Some(c)) {
        Some(idx) => match spec.get(idx).and_then(|o| o.removed) {
            Some(hint) => Err(UsageError::invalid(
                format!("invalid option -- '{c}'"),
                Some(hint),
            )),
            None => Ok(idx),
        },
        None => Err(UsageError::Invalid(format!("invalid option -- '{c}'"))),
    }
}

/// Exact long name first, then a unique prefix among the live options (as
/// getopt_long does). Removed options match only exactly.
fn find_long(spec: &[OptSpec], name: &str, word: &str) -> Result<usize, UsageError> {
    let unrecognized = || format!("unrecognized option '{word}'");
    if let Some(idx) = spec.iter().position(|o| o.long == Some(name)) {
        return match spec.get(idx).and_then(|o| o.removed) {
            Some(hint) => Err(UsageError::invalid(unrecognized(), Some(hint))),
            None => Ok(idx),
        };
    }
    if name.is_empty() {
        return Err(UsageError::Invalid(unrecognized()));
    }
    let candidates: Vec<usize> = spec
        .iter()
        .enumerate()
        .filter(|(_, o)| o.removed.is_none() && o.long.is_some_and(|l| l.starts_with(name)))
        .map(|(i, _)| i)
        .collect();
    match candidates.as_slice() {
        [] => Err(UsageError::Invalid(unrecognized())),
        [idx] => Ok(*idx),
        many => {
            let mut msg = format!("option '{word}' is ambiguous; possibilities:");
            for long in many
                .iter()
                .filter_map(|&i| spec.get(i).and_then(|o| o.long))
            {
                msg.push_str(" '--");
                msg.push_str(long);
                msg.push('\'');
            }
            Err(UsageError::Invalid(msg))
        }
    }
}

/// How an applet's argument parsing ends when it does not produce a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `--help`: usage on stderr, exit 0.
    Help,
    /// Usage error: `applet: message`, then the usage, on stderr; exit 1.
    Usage(String),
    /// Fatal error without usage (BusyBox `bb_error_msg_and_die`): exit 1.
    Fail(String),
}

impl From<UsageError> for Exit {
    fn from(e: UsageError) -> Self {
        match e {
            UsageError::Help => Exit::Help,
            UsageError::Invalid(msg) => Exit::Usage(msg),
        }
    }
}

/// Normalises `args` per `spec` and hands the result to argh.
pub fn parse<T: argh::FromArgs>(
    applet: &str,
    spec: &[OptSpec],
    args: &[String],
) -> Result<T, Exit> {
    let argv = normalize(spec, args)?;
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    T::from_args(&[applet], &words).map_err(|early| match early.status {
        // Unreachable with a well-formed table: the normaliser emits only
        // words argh knows. Kept so a table mistake is a usage error.
        Ok(()) => Exit::Help,
        Err(()) => Exit::Usage(early.output.trim_end().to_string()),
    })
}

/// Writes the banner and `Usage: APPLET USAGE` (BusyBox `bb_show_usage`).
pub fn write_usage(out: &mut dyn Write, applet: &str, usage: &str) -> io::Result<()> {
    writeln!(out, "{BANNER}\n\nUsage: {applet} {usage}\n")
}

/// Prints what `exit` calls for on stderr and returns the exit status.
pub fn report(applet: &str, usage: &str, exit: &Exit) -> i32 {
    let stderr = io::stderr();
    let mut err = stderr.lock();
    // Nothing useful can be done if stderr is gone; the status still tells.
    match exit {
        Exit::Help => {
            let _ = write_usage(&mut err, applet, usage);
            0
        }
        Exit::Usage(msg) => {
            let _ = writeln!(err, "{applet}: {msg}");
            let _ = write_usage(&mut err, applet, usage);
            1
        }
        Exit::Fail(msg) => {
            let _ = writeln!(err, "{applet}: {msg}");
            1
        }
    }
}

/// A non-negative decimal number no larger than `max`, as BusyBox's
/// `xatou_range(text, 0, max)` accepts it (no sign, no spaces, no 0x).
pub fn number(text: &str, max: u32) -> Result<u32, Exit> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Exit::Fail(format!("invalid number '{text}'")));
    }
    text.parse::<u64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= max)
        .ok_or_else(|| Exit::Fail(format!("number {text} is not in 0..{max} range")))
}

/// A port number, 0..=65535 (BusyBox `xatou16`).
pub fn port(text: &str) -> Result<u16, Exit> {
    let n = number(text, u32::from(u16::MAX))?;
    u16::try_from(n).map_err(|_| Exit::Fail(format!("invalid number '{text}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dumpleases, udhcpc, udhcpd};

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn norm(spec: &[OptSpec], words: &[&str]) -> Vec<String> {
        normalize(spec, &argv(words)).unwrap()
    }

    fn err(spec: &[OptSpec], words: &[&str]) -> String {
        match normalize(spec, &argv(words)) {
            Err(UsageError::Invalid(msg)) => msg,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn client(words: &[&str]) -> udhcpc::UdhcpcArgs {
        udhcpc::parse_args(&argv(words)).unwrap()
    }

    fn sent(c: &udhcpc::UdhcpcArgs) -> Vec<(u8, Vec<u8>)> {
        c.send_options
            .iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect()
    }

    fn client_err(words: &[&str]) -> Exit {
        udhcpc::parse_args(&argv(words)).unwrap_err()
    }

    // ---- the normaliser on real-world invocations ----

    #[test]
    fn ifupdown_invocation() {
        let spec = udhcpc::SPEC;
        let words = ["-R", "-n", "-p", "/var/run/udhcpc.eth0.pid", "-i", "eth0"];
        assert_eq!(
            norm(spec, &words),
            [
                "--release",
                "--now",
                "--pidfile",
                "/var/run/udhcpc.eth0.pid",
                "--interface",
                "eth0"
            ]
        );
        let c = client(&words);
        assert!(c.release && c.now && !c.quit);
        assert_eq!(c.pidfile.as_deref(), Some("/var/run/udhcpc.eth0.pid"));
        assert_eq!(c.interface, "eth0");
    }

    #[test]
    fn background_hostname_and_request_option() {
        let words = ["-b", "-i", "eth0", "-x", "hostname:box", "-O", "121"];
        assert_eq!(
            norm(udhcpc::SPEC, &words),
            [
                "--background",
                "--interface",
                "eth0",
                "-x",
                "hostname:box",
                "--request-option",
                "121"
            ]
        );
        let c = client(&words);
        assert!(c.background);
        assert_eq!(sent(&c), [(12, b"box".to_vec())]);
        assert_eq!(c.request_options, [121]);
    }

    #[test]
    fn grouped_switches_and_attached_values() {
        let words = ["-fqn", "-t", "5", "-T", "1", "-a500"];
        assert_eq!(
            norm(udhcpc::SPEC, &words),
            [
                "--foreground",
                "--quit",
                "--now",
                "--retries",
                "5",
                "--timeout",
                "1",
                "--arping",
                "500"
            ]
        );
        let c = client(&words);
        assert!(c.foreground && c.quit && c.now);
        assert_eq!((c.retries, c.timeout, c.arping_ms), (5, 1, Some(500)));
    }

    #[test]
    fn optional_value_is_never_the_next_word() {
        let words = ["-a", "-i", "eth0"];
        assert_eq!(
            norm(udhcpc::SPEC, &words),
            ["--arping", NO_VALUE, "--interface", "eth0"]
        );
        let c = client(&words);
        assert_eq!(c.arping_ms, Some(2000));
        assert_eq!(c.interface, "eth0");
        // `-a 500`: 500 is a stray positional, which udhcpc refuses.
        assert_eq!(
            norm(udhcpc::SPEC, &["-a", "500"]),
            ["--arping", NO_VALUE, "--", "500"]
        );
        assert_eq!(
            client_err(&["-a", "500"]),
            Exit::Usage("unexpected argument '500'".into())
        );
        // `-a0` turns probing off.
        assert_eq!(client(&["-a0"]).arping_ms, None);
        assert_eq!(client(&[]).arping_ms, None);
    }

    #[test]
    fn long_options_with_equals() {
        let words = ["--arping=500", "--interface=eth0"];
        assert_eq!(
            norm(udhcpc::SPEC, &words),
            ["--arping", "500", "--interface", "eth0"]
        );
        let c = client(&words);
        assert_eq!((c.arping_ms, c.interface.as_str()), (Some(500), "eth0"));
        assert_eq!(client(&["--arping"]).arping_ms, Some(2000));
        assert_eq!(
            client_err(&["--arping="]),
            Exit::Fail("invalid number ''".into()),
            "an explicit empty value is a bad number, as in BusyBox"
        );
        assert_eq!(client(&["--interface", "wlan0"]).interface, "wlan0");
        assert_eq!(client(&["--interface="]).interface, "");
    }

    #[test]
    fn attached_values() {
        let c = client(&["-ieth0", "-t5", "-T2"]);
        assert_eq!((c.interface.as_str(), c.retries, c.timeout), ("eth0", 5, 2));
    }

    #[test]
    fn group_ending_in_value_option() {
        assert_eq!(
            norm(udhcpc::SPEC, &["-fi", "eth0"]),
            ["--foreground", "--interface", "eth0"]
        );
        assert_eq!(
            norm(udhcpc::SPEC, &["-fieth0"]),
            ["--foreground", "--interface", "eth0"]
        );
        let c = client(&["-fi", "eth0"]);
        assert!(c.foreground);
        assert_eq!(c.interface, "eth0");
        // Letters after a value-taking option are its value, not switches.
        assert_eq!(client(&["-iqf"]).interface, "qf");
    }

    #[test]
    fn verbosity_counts() {
        assert_eq!(norm(udhcpc::SPEC, &["-vv"]), ["-v", "-v"]);
        assert_eq!(client(&["-vv"]).verbose, 2);
        assert_eq!(client(&["-v", "-fv", "-v"]).verbose, 3);
        assert_eq!(client(&[]).verbose, 0);
    }

    #[test]
    fn value_may_look_like_an_option() {
        assert_eq!(client(&["-i", "-q"]).interface, "-q");
        assert!(!client(&["-i", "-q"]).quit);
        assert_eq!(client(&["-s", "--", "-f"]).script, "--");
        assert!(client(&["-s", "--", "-f"]).foreground);
    }

    #[test]
    fn bad_option_names_and_values_are_fatal_without_usage() {
        match client_err(&["-O", "bogus"]) {
            Exit::Fail(msg) => {
                assert!(
                    msg.starts_with(
                        "unknown option 'bogus', known options: subnet timezone router "
                    ),
                    "{msg}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(client_err(&["-x", "nosuch:1"]), Exit::Fail(m) if m.starts_with("unknown option 'nosuch'"))
        );
        assert!(
            matches!(client_err(&["-x", "0x3d:zz"]), Exit::Fail(m) if m.contains("malformed hex string 'zz'"))
        );
        assert!(matches!(client_err(&["-x", "mtu:70000"]), Exit::Fail(_)));
        assert!(matches!(client_err(&["-O", "255"]), Exit::Fail(_)));
    }

    #[test]
    fn repeatable_options_keep_order_and_others_keep_the_last() {
        let c = client(&[
            "-x",
            "mtu:1400",
            "-x",
            "dns:1.2.3.4",
            "-x",
            "dns:5.6.7.8",
            "-O",
            "121",
            "-O",
            "mtu",
            "-i",
            "a",
            "-i",
            "b",
        ]);
        // Kept sorted by code; a list option accumulates across -x.
        assert_eq!(
            sent(&c),
            [(6, vec![1, 2, 3, 4, 5, 6, 7, 8]), (26, vec![0x05, 0x78])]
        );
        assert_eq!(c.request_options, [121, 26]);
        assert_eq!(c.interface, "b");
        assert_eq!(client(&["-a", "-a300"]).arping_ms, Some(300));
        assert_eq!(client(&["-a300", "-a"]).arping_ms, Some(2000));
        assert_eq!(norm(udhcpc::SPEC, &["-f", "-f"]), ["--foreground"]);
    }

    #[test]
    fn long_prefixes() {
        assert_eq!(
            norm(udhcpc::SPEC, &["--inter", "eth1"]),
            ["--interface", "eth1"]
        );
        assert_eq!(
            norm(udhcpc::SPEC, &["--fore", "--back"]),
            ["--foreground", "--background"]
        );
        // An exact name wins over longer names it prefixes.
        assert_eq!(
            norm(udhcpc::SPEC, &["--request", "1.2.3.4"]),
            ["--request", "1.2.3.4"]
        );
        assert_eq!(
            norm(udhcpc::SPEC, &["--request-o=3"]),
            ["--request-option", "3"]
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--re"]),
            "option '--re' is ambiguous; possibilities: '--release' '--request' '--retries' '--request-option'"
        );
        // Removed names are not reachable by prefix.
        assert_eq!(
            err(udhcpc::SPEC, &["--host", "x"]),
            "unrecognized option '--host'"
        );
        // Errors name the full option.
        assert_eq!(
            err(udhcpc::SPEC, &["--qu=1"]),
            "option '--quit' doesn't allow an argument"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--inter"]),
            "option '--interface' requires an argument"
        );
    }

    #[test]
    fn double_dash_ends_options() {
        assert_eq!(norm(udhcpd::SPEC, &["-f", "--", "-S"]), ["-f", "--", "-S"]);
        let d = udhcpd::parse_args(&argv(&["-f", "--", "-S"])).unwrap();
        assert!(d.foreground && !d.syslog);
        assert_eq!(d.conf_file, "-S");
        // `--help` after `--` is a positional.
        let d = udhcpd::parse_args(&argv(&["--", "--help"])).unwrap();
        assert_eq!(d.conf_file, "--help");
        assert_eq!(
            client_err(&["--", "-f"]),
            Exit::Usage("unexpected argument '-f'".into())
        );
        // Only the first `--` is special.
        assert_eq!(norm(udhcpd::SPEC, &["--", "--"]), ["--", "--"]);
    }

    #[test]
    fn options_may_follow_positionals() {
        let d = udhcpd::parse_args(&argv(&["/etc/u.conf", "-f"])).unwrap();
        assert!(d.foreground);
        assert_eq!(d.conf_file, "/etc/u.conf");
        // `help` is just a file name, not argh's help trigger.
        assert_eq!(
            udhcpd::parse_args(&argv(&["help"])).unwrap().conf_file,
            "help"
        );
    }

    // ---- every error class ----

    #[test]
    fn error_messages_follow_getopt() {
        assert_eq!(err(udhcpc::SPEC, &["-z"]), "invalid option -- 'z'");
        assert_eq!(err(udhcpc::SPEC, &["-fz"]), "invalid option -- 'z'");
        assert_eq!(err(udhcpc::SPEC, &["--foo"]), "unrecognized option '--foo'");
        assert_eq!(
            err(udhcpc::SPEC, &["--foo=bar"]),
            "unrecognized option '--foo=bar'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["-i"]),
            "option requires an argument -- 'i'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["-fi"]),
            "option requires an argument -- 'i'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--interface"]),
            "option '--interface' requires an argument"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--quit=1"]),
            "option '--quit' doesn't allow an argument"
        );
        assert_eq!(err(udhcpc::SPEC, &["--=x"]), "unrecognized option '--=x'");
        // udhcpd has no long options at all (as in BusyBox).
        assert_eq!(
            err(udhcpd::SPEC, &["--foreground"]),
            "unrecognized option '--foreground'"
        );
        assert_eq!(err(udhcpc::SPEC, &["-é"]), "invalid option -- 'é'");
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert_eq!(
            err(udhcpc::SPEC, &["-i", "a\0b"]),
            "argument contains a NUL byte"
        );
    }

    #[test]
    fn help_anywhere_before_double_dash() {
        for words in [
            &["--help"][..],
            &["-i", "eth0", "--help"],
            &["-z", "--help"],
            &["--help", "--bogus"],
        ] {
            assert_eq!(
                normalize(udhcpc::SPEC, &argv(words)),
                Err(UsageError::Help),
                "{words:?}"
            );
        }
        assert_eq!(client_err(&["-q", "--help"]), Exit::Help);
        assert_eq!(
            udhcpd::parse_args(&argv(&["--help"])).unwrap_err(),
            Exit::Help
        );
        assert_eq!(
            dumpleases::parse_args(&argv(&["--help"])).unwrap_err(),
            Exit::Help
        );
        // `-h` is not help: it was udhcpc's hostname option.
        assert!(matches!(client_err(&["-h"]), Exit::Usage(_)));
    }

    #[test]
    fn removed_udhcpc_options_say_what_replaces_them() {
        let msg = |words: &[&str]| match client_err(words) {
            Exit::Usage(msg) => msg,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg(&["-H", "box"]),
            "invalid option -- 'H' (removed: use -x hostname:NAME)"
        );
        assert_eq!(
            msg(&["-h", "box"]),
            "invalid option -- 'h' (removed: use -x hostname:NAME)"
        );
        assert_eq!(
            msg(&["-fhbox"]),
            "invalid option -- 'h' (removed: use -x hostname:NAME)"
        );
        assert_eq!(
            msg(&["--hostname", "box"]),
            "unrecognized option '--hostname' (removed: use -x hostname:NAME)"
        );
        assert_eq!(
            msg(&["--hostname=box"]),
            "unrecognized option '--hostname=box' (removed: use -x hostname:NAME)"
        );
        assert_eq!(
            msg(&["-c", "0100"]),
            "invalid option -- 'c' (removed: use -x 61:HEX or -x 0x3d:HEX)"
        );
    }

    // ---- udhcpc typed config ----

    #[test]
    fn udhcpc_defaults() {
        let c = client(&[]);
        assert_eq!(c.interface, "eth0");
        assert_eq!(c.script, "/usr/share/udhcpc/default.script");
        assert_eq!(c.pidfile, None);
        assert_eq!((c.retries, c.timeout, c.tryagain), (3, 3, 20));
        assert_eq!(
            c.vendor_class.as_deref(),
            Some(concat!("udhcp ", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(c.requested_ip, None);
        assert_eq!(c.client_port, 68);
        assert_eq!(c.fqdn, None);
        assert!(c.send_options.is_empty() && c.request_options.is_empty());
        assert!(
            !(c.broadcast
                || c.background
                || c.now
                || c.quit
                || c.release
                || c.foreground
                || c.syslog
                || c.no_default_options
                || c.clientid_none)
        );
    }

    #[test]
    fn udhcpc_every_flag() {
        let c = client(&[
            "-i",
            "wlan0",
            "-s",
            "/bin/true",
            "-p",
            "/run/c.pid",
            "-B",
            "-t",
            "0",
            "-T",
            "7",
            "-A",
            "9",
            "-b",
            "-n",
            "-q",
            "-R",
            "-f",
            "-S",
            "-a250",
            "-r",
            "10.1",
            "-o",
            "-O",
            "mtu",
            "-x",
            "lease:60",
            "-F",
            "box.lan",
            "-V",
            "acme",
            "-C",
            "-P",
            "1068",
            "-v",
        ]);
        assert_eq!(c.interface, "wlan0");
        assert_eq!(c.script, "/bin/true");
        assert_eq!(c.pidfile.as_deref(), Some("/run/c.pid"));
        assert!(c.broadcast && c.background && c.now && c.quit && c.release);
        assert!(c.foreground && c.syslog && c.no_default_options && c.clientid_none);
        assert_eq!((c.retries, c.timeout, c.tryagain), (0, 7, 9));
        assert_eq!(c.arping_ms, Some(250));
        assert_eq!(c.requested_ip, Some(std::net::Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.request_options, [26]);
        assert_eq!(sent(&c), [(51, vec![0, 0, 0, 60])]);
        assert_eq!(c.fqdn.as_deref(), Some("box.lan"));
        assert_eq!(c.vendor_class.as_deref(), Some("acme"));
        assert_eq!(c.client_port, 1068);
        assert_eq!(c.verbose, 1);
        // The same with long names.
        let l = client(&[
            "--interface=wlan0",
            "--script=/bin/true",
            "--pidfile=/run/c.pid",
            "--broadcast",
            "--retries=0",
            "--timeout=7",
            "--tryagain=9",
            "--background",
            "--now",
            "--quit",
            "--release",
            "--foreground",
            "--syslog",
            "--arping=250",
            "--request=10.1",
            "--no-default-options",
            "--request-option=mtu",
            "-x",
            "lease:60",
            "--fqdn=box.lan",
            "--vendorclass=acme",
            "--clientid-none",
            "--client-port=1068",
            "-v",
        ]);
        assert_eq!(l, c);
    }

    #[test]
    fn udhcpc_empty_vendor_suppresses_option_60() {
        assert_eq!(client(&["-V", ""]).vendor_class, None);
    }

    #[test]
    fn udhcpc_numbers() {
        for flag in ["-t", "-T", "-A"] {
            assert_eq!(
                client_err(&[flag, "x"]),
                Exit::Fail("invalid number 'x'".into())
            );
            assert_eq!(
                client_err(&[flag, "-1"]),
                Exit::Fail("invalid number '-1'".into())
            );
            assert_eq!(
                client_err(&[flag, "+1"]),
                Exit::Fail("invalid number '+1'".into())
            );
            assert_eq!(
                client_err(&[flag, " 1"]),
                Exit::Fail("invalid number ' 1'".into())
            );
            assert_eq!(
                client_err(&[flag, "0x10"]),
                Exit::Fail("invalid number '0x10'".into())
            );
            assert_eq!(
                client_err(&[flag, "2147483648"]),
                Exit::Fail("number 2147483648 is not in 0..2147483647 range".into())
            );
        }
        assert_eq!(client(&["-t", "2147483647"]).retries, 2_147_483_647);
        assert_eq!(client(&["-a4294967295"]).arping_ms, Some(u32::MAX));
        assert_eq!(
            client_err(&["-ax"]),
            Exit::Fail("invalid number 'x'".into())
        );
        assert_eq!(
            client_err(&["-P", "65536"]),
            Exit::Fail("number 65536 is not in 0..65535 range".into())
        );
    }

    #[test]
    fn udhcpc_requested_ip() {
        assert_eq!(
            client(&["-r", "192.168.1.7"]).requested_ip,
            Some(std::net::Ipv4Addr::new(192, 168, 1, 7))
        );
        assert_eq!(
            client(&["-r", "0xc0a80107"]).requested_ip,
            Some(std::net::Ipv4Addr::new(192, 168, 1, 7))
        );
        assert_eq!(client(&["-r", "0.0.0.0"]).requested_ip, None);
        assert_eq!(
            client_err(&["-r", "1.2.3.256"]),
            Exit::Usage("bad IP address '1.2.3.256'".into())
        );
        assert_eq!(
            client_err(&["-r", "eth0"]),
            Exit::Usage("bad IP address 'eth0'".into())
        );
    }

    #[test]
    fn udhcpc_refuses_positionals() {
        assert_eq!(
            client_err(&["eth0"]),
            Exit::Usage("unexpected argument 'eth0'".into())
        );
        assert_eq!(
            client_err(&["-"]),
            Exit::Usage("unexpected argument '-'".into())
        );
    }

    // ---- udhcpd ----

    #[test]
    fn udhcpd_invocations() {
        let d = udhcpd::parse_args(&argv(&["-f", "-S", "/etc/udhcpd.conf"])).unwrap();
        assert!(d.foreground && d.syslog);
        assert_eq!(d.conf_file, "/etc/udhcpd.conf");

        let words = ["-fS", "-a", "0", "-I", "10.0.0.1", "-"];
        assert_eq!(
            norm(udhcpd::SPEC, &words),
            ["-f", "-S", "-a", "0", "-I", "10.0.0.1", "--", "-"]
        );
        let d = udhcpd::parse_args(&argv(&words)).unwrap();
        assert!(d.foreground && d.syslog);
        assert_eq!(d.arping_ms, 0);
        assert_eq!(d.server_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(d.conf_file, "-");
        assert!(d.conf_from_stdin());

        let d = udhcpd::parse_args(&argv(&["-vv", "-P1067", "-a1500"])).unwrap();
        assert_eq!((d.verbose, d.port, d.arping_ms), (2, 1067, 1500));
    }

    #[test]
    fn udhcpd_defaults_and_errors() {
        let d = udhcpd::parse_args(&[]).unwrap();
        assert_eq!(d.conf_file, "/etc/udhcpd.conf");
        assert!(!d.conf_from_stdin());
        assert_eq!((d.arping_ms, d.port, d.verbose), (2000, 67, 0));
        assert!(!d.foreground && !d.syslog && d.server_ip.is_none());
        assert_eq!(
            udhcpd::parse_args(&argv(&["-a", "soon"])).unwrap_err(),
            Exit::Fail("invalid number 'soon'".into())
        );
        assert_eq!(
            udhcpd::parse_args(&argv(&["a.conf", "b.conf"])).unwrap_err(),
            Exit::Usage("unexpected argument 'b.conf'".into())
        );
        assert_eq!(
            udhcpd::parse_args(&argv(&["-a"])).unwrap_err(),
            Exit::Usage("option requires an argument -- 'a'".into())
        );
    }

    // ---- dumpleases ----

    #[test]
    fn dumpleases_invocations() {
        let words = ["-f", "/tmp/x", "-d", "-a"];
        assert_eq!(
            norm(dumpleases::SPEC, &words),
            ["--file", "/tmp/x", "--decimal", "--absolute"]
        );
        let l = dumpleases::parse_args(&argv(&words)).unwrap();
        assert_eq!(l.file, "/tmp/x");
        assert!(l.decimal && l.absolute);

        let l = dumpleases::parse_args(&[]).unwrap();
        assert_eq!(l.file, "/var/lib/misc/udhcpd.leases");
        assert!(!l.decimal && !l.absolute);

        let l = dumpleases::parse_args(&argv(&["-rd", "--file=/a"])).unwrap();
        assert_eq!(l.file, "/a");
        assert!(l.decimal && !l.absolute);
        assert_eq!(
            dumpleases::parse_args(&argv(&["--abs"])).map(|l| l.absolute),
            Ok(true)
        );
    }

    #[test]
    fn dumpleases_errors() {
        let e = |words: &[&str]| dumpleases::parse_args(&argv(words)).unwrap_err();
        assert_eq!(
            e(&["-a", "-r"]),
            Exit::Usage("-a and -r are mutually exclusive".into())
        );
        assert_eq!(
            e(&["-ra"]),
            Exit::Usage("-a and -r are mutually exclusive".into())
        );
        assert_eq!(
            e(&["leases"]),
            Exit::Usage("unexpected argument 'leases'".into())
        );
        assert_eq!(
            e(&["-f"]),
            Exit::Usage("option requires an argument -- 'f'".into())
        );
        assert_eq!(e(&["-x"]), Exit::Usage("invalid option -- 'x'".into()));
    }

    // ---- value parsers ----

    #[test]
    fn numbers() {
        assert_eq!(number("0", 10), Ok(0));
        assert_eq!(number("010", 10), Ok(10));
        assert_eq!(
            number("11", 10),
            Err(Exit::Fail("number 11 is not in 0..10 range".into()))
        );
        assert_eq!(
            number("99999999999999999999999", u32::MAX),
            Err(Exit::Fail(
                "number 99999999999999999999999 is not in 0..4294967295 range".into()
            ))
        );
        assert_eq!(number("", 10), Err(Exit::Fail("invalid number ''".into())));
    }

    #[test]
    fn usage_layout() {
        let mut out = Vec::new();
        write_usage(&mut out, "udhcpc", udhcpc::USAGE).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(concat!(
            "udhcp v",
            env!("CARGO_PKG_VERSION"),
            " multi-call binary.\n\nUsage: udhcpc ["
        )));
        // Every flag of the table is documented in the usage text.
        for (spec, usage) in [
            (udhcpc::SPEC, udhcpc::USAGE),
            (udhcpd::SPEC, udhcpd::USAGE),
            (dumpleases::SPEC, dumpleases::USAGE),
        ] {
            for opt in spec.iter().filter(|o| o.removed.is_none()) {
                if let Some(c) = opt.short {
                    assert!(
                        usage.contains(&format!("\t-{c}")),
                        "-{c} missing from usage"
                    );
                }
                if let Some(l) = opt.long {
                    assert!(
                        usage.contains(&format!("--{l}")),
                        "--{l} missing from usage"
                    );
                }
            }
        }
    }
}
