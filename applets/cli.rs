//! The command-line layer shared by the applets: one table per applet
//! (design idiom 13, toybox's optstring idea) from which both the parser
//! and the usage text come, usage/exit reporting, and the small value
//! parsers BusyBox applies to option arguments.
//!
//! **The table.** An applet describes its command line once, as a
//! [`Command`]: rows of [`OptSpec`] (short letter, long name, whether it
//! takes a value, repeatable, value name, help text, removed-with-hint,
//! excluded partner), the operands' synopsis, an optional paragraph and a
//! footer. [`parse`] reads the rows; [`Command::usage`] renders the same
//! rows as BusyBox's usage (`[-fSv] [-I ADDR]... ` synopsis, then one
//! tab-aligned line per option). Adding a flag is one row.
//!
//! **Parsing.** BusyBox parses options with `getopt32`, i.e. GNU
//! `getopt_long` semantics, and so does [`parse`]: grouped switches
//! (`-fqn`), attached values (`-ieth0`, `-t5`), a group ending in a
//! value-taking option (`-fieth0`, `-fi eth0`), optional values that must be
//! attached (`-a500`, `--arping=500`), `--long value`, `--long=value`,
//! unique long prefixes (`--inter eth0`), options after operands, and `--`
//! to end options. A value is always the next word, even when it starts
//! with `-`. A non-repeatable option given twice keeps the last value
//! (getopt stores the last `optarg`); repeatable ones (`-x`, `-O`, the `-v`
//! counter) keep every occurrence in order. The result, [`Parsed`], is
//! queried by the row's name (its long name, else its letter).
//!
//! Errors use glibc getopt's wording (`invalid option -- 'z'`,
//! `unrecognized option '--foo'`, ...). `--help` anywhere before `--` asks
//! for the usage (exit 0).

use std::io::{self, Write};

/// Banner printed above every usage text.
pub const BANNER: &str = concat!("udhcp v", env!("CARGO_PKG_VERSION"), " multi-call binary.");

/// How an optional-value option given without a value (`-a`, `--arping`)
/// is spelt in the canonical argv of [`normalize`]. A NUL byte cannot occur
/// in a real argv word, so it cannot collide with user input.
#[cfg(test)]
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

/// One row of an applet's table: how the option is parsed and how it is
/// shown in the usage. A row with neither letter nor long name documents
/// an operand (its `value` is the operand's name).
#[derive(Clone, Copy, Debug)]
pub struct OptSpec {
    /// The short letter, if any.
    pub short: Option<char>,
    /// The long name without the dashes, if any.
    pub long: Option<&'static str>,
    /// Whether and how it takes a value.
    pub arg: Arg,
    /// Repeatable: every occurrence is kept (`-x`, `-O`, `-v`).
    pub repeat: bool,
    /// The value's name in the usage (`IFACE` in `-i IFACE`).
    pub value: &'static str,
    /// The help text; a `\n` continues it on the next line, aligned.
    pub help: &'static str,
    /// A removed option: using it is a usage error carrying this hint. Not
    /// shown in the usage.
    pub removed: Option<&'static str>,
    /// The letter of a switch this one cannot be combined with (dumpleases'
    /// `-a` and `-r`): a usage error, and `[-r|-a]` in the synopsis.
    pub excludes: Option<char>,
    /// Taken off the command line by the multi-call dispatcher (main.rs)
    /// before the applet parses it (`--monitor`): shown in the usage, never
    /// matched here, so a prefix like `--mon` stays an error rather than a
    /// silently ignored request.
    pub outer: bool,
}

impl OptSpec {
    const fn row(short: Option<char>, long: Option<&'static str>, arg: Arg) -> Self {
        OptSpec {
            short,
            long,
            arg,
            repeat: false,
            value: "",
            help: "",
            removed: None,
            excludes: None,
            outer: false,
        }
    }

    /// An option with a short letter.
    pub const fn short(c: char, arg: Arg) -> Self {
        Self::row(Some(c), None, arg)
    }

    /// An option with only a long name.
    pub const fn long_only(name: &'static str, arg: Arg) -> Self {
        Self::row(None, Some(name), arg)
    }

    /// An operand's line in the usage (`CONFFILE`); not an option.
    pub const fn operand(name: &'static str, help: &'static str) -> Self {
        OptSpec {
            value: name,
            help,
            ..Self::row(None, None, Arg::None)
        }
    }

    /// Adds the long name.
    pub const fn long(self, name: &'static str) -> Self {
        OptSpec {
            long: Some(name),
            ..self
        }
    }

    /// Names the value in the usage.
    pub const fn value(self, name: &'static str) -> Self {
        OptSpec {
            value: name,
            ..self
        }
    }

    /// Sets the help text.
    pub const fn help(self, text: &'static str) -> Self {
        OptSpec { help: text, ..self }
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

    /// This switch and `-c` are mutually exclusive.
    pub const fn excludes(self, c: char) -> Self {
        OptSpec {
            excludes: Some(c),
            ..self
        }
    }

    /// Handled by the dispatcher before the applet runs (see [`Self::outer`]).
    pub const fn outer(self) -> Self {
        OptSpec {
            outer: true,
            ..self
        }
    }

    /// Whether the parser may match this row.
    fn live(&self) -> bool {
        self.removed.is_none() && !self.outer && (self.short.is_some() || self.long.is_some())
    }

    /// The name [`Parsed`] knows the row by: the long name, else the letter.
    fn is_named(&self, name: &str) -> bool {
        match (self.long, self.short) {
            (Some(long), _) => long == name,
            (None, Some(c)) => name.len() == c.len_utf8() && name.starts_with(c),
            (None, None) => false,
        }
    }

    /// How the row is shown in the usage's option list.
    fn label(&self) -> String {
        let mut text = String::new();
        if let Some(c) = self.short {
            text.push('-');
            text.push(c);
        }
        if let Some(long) = self.long {
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str("--");
            text.push_str(long);
        }
        match self.arg {
            _ if text.is_empty() => text.push_str(self.value),
            Arg::None => {}
            Arg::Required => {
                text.push(' ');
                text.push_str(self.value);
            }
            Arg::Optional if self.long.is_some() => {
                text.push_str("[=");
                text.push_str(self.value);
                text.push(']');
            }
            Arg::Optional => {
                text.push('[');
                text.push_str(self.value);
                text.push(']');
            }
        }
        text
    }
}

/// Rows udhcpc and udhcpc6 share word for word (BusyBox gives both
/// clients these flags): one definition, so their help cannot drift apart.
pub mod client_rows {
    use super::{Arg, OptSpec};

    pub const INTERFACE: OptSpec = OptSpec::short('i', Arg::Required)
        .long("interface")
        .value("IFACE")
        .help("Interface to configure (default eth0)");
    pub const PIDFILE: OptSpec = OptSpec::short('p', Arg::Required)
        .long("pidfile")
        .value("FILE")
        .help("Write the process id to FILE");
    pub const BACKGROUND: OptSpec = OptSpec::short('b', Arg::None)
        .long("background")
        .help("Go to background if no lease is obtained");
    pub const NOW: OptSpec = OptSpec::short('n', Arg::None)
        .long("now")
        .help("Exit with status 1 if no lease is obtained");
    pub const QUIT: OptSpec = OptSpec::short('q', Arg::None)
        .long("quit")
        .help("Exit once a lease is obtained");
    pub const RELEASE: OptSpec = OptSpec::short('R', Arg::None)
        .long("release")
        .help("Release the lease on exit");
    pub const TRYAGAIN: OptSpec = OptSpec::short('A', Arg::Required)
        .long("tryagain")
        .value("SEC")
        .help("Seconds to wait after a failed attempt (default 20)");
    pub const FOREGROUND: OptSpec = OptSpec::short('f', Arg::None)
        .long("foreground")
        .help("Stay in the foreground");
    pub const SYSLOG: OptSpec = OptSpec::short('S', Arg::None)
        .long("syslog")
        .help("Log to syslog as well");
}

/// An applet's whole command line: the one table parsing and usage share.
#[derive(Clone, Copy, Debug)]
pub struct Command {
    /// The rows, options and documented operands, in the order the usage
    /// lists them (also the order getopt_long lists ambiguous prefixes in).
    pub opts: &'static [OptSpec],
    /// The operands' part of the synopsis (`[CONFFILE]`), after the options.
    pub operands: &'static str,
    /// Most operands [`parse`] accepts (`unexpected argument 'X'` beyond);
    /// `None`: the applet counts them itself.
    pub max_operands: Option<usize>,
    /// A paragraph between the synopsis and the option list, or "".
    pub about: &'static str,
    /// Text after the option list (`Signals:` ...), or "".
    pub footer: &'static str,
}

/// The synopsis wraps before this column (tabs count to the next multiple
/// of 8), as BusyBox's hand-wrapped trivial usages do.
const SYNOPSIS_WIDTH: usize = 80;

/// Column width of a tab in the usage.
const TAB: usize = 8;

impl Command {
    /// The usage text printed after `Usage: APPLET ` (BusyBox layout:
    /// synopsis, optional paragraph, then `\t-x,--long VALUE\tHelp` lines
    /// with the help aligned on one tab stop, then the footer).
    pub fn usage(&self, applet: &str) -> String {
        let mut text = self.synopsis(applet);
        if !self.about.is_empty() {
            text.push_str("\n\n");
            text.push_str(self.about);
        }
        let shown: Vec<(String, &str)> = self
            .opts
            .iter()
            .filter(|o| o.removed.is_none())
            .map(|o| (o.label(), o.help))
            .collect();
        if !shown.is_empty() {
            // The help column: the first tab stop past the longest label.
            let widest = shown.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
            let column = (TAB + widest) / TAB * TAB + TAB;
            text.push('\n');
            for (label, help) in &shown {
                text.push_str("\n\t");
                text.push_str(label);
                let at = TAB + label.len();
                text.push_str(&"\t".repeat((column - at).div_ceil(TAB)));
                for (i, line) in help.split('\n').enumerate() {
                    if i > 0 {
                        text.push('\n');
                        text.push_str(&"\t".repeat(column / TAB));
                    }
                    text.push_str(line);
                }
            }
        }
        if !self.footer.is_empty() {
            text.push('\n');
            text.push_str(self.footer);
        }
        text
    }

    /// BusyBox's trivial usage: exclusive pairs (`[-r|-a]`), the switches
    /// with letters in one group (`[-fSv]`), then each lettered option with
    /// a value (`[-i IFACE]`, `[-a[MSEC]]`, `[-x OPT:VAL]...`), then the
    /// operands. Long-only options are in the list below, not here.
    fn synopsis(&self, applet: &str) -> String {
        let live = || self.opts.iter().filter(|o| o.removed.is_none() && !o.outer);
        let paired = |c: char| live().any(|o| o.excludes == Some(c));
        let mut items: Vec<String> = Vec::new();
        for o in live() {
            let (Some(c), Some(other)) = (o.short, o.excludes) else {
                continue;
            };
            items.push(format!("[-{other}|-{c}]"));
        }
        let switches: String = live()
            .filter(|o| o.arg == Arg::None && o.excludes.is_none())
            .filter_map(|o| o.short)
            .filter(|&c| !paired(c))
            .collect();
        if !switches.is_empty() {
            items.push(format!("[-{switches}]"));
        }
        for o in live().filter(|o| o.arg != Arg::None) {
            let Some(c) = o.short else { continue };
            let dots = if o.repeat { "..." } else { "" };
            items.push(match o.arg {
                Arg::Optional => format!("[-{c}[{}]]{dots}", o.value),
                _ => format!("[-{c} {}]{dots}", o.value),
            });
        }
        if !self.operands.is_empty() {
            items.push(self.operands.to_string());
        }
        // "Usage: APPLET " precedes the first line.
        let mut col = "Usage: ".len() + applet.len() + 1;
        let mut text = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                if col + 1 + item.len() >= SYNOPSIS_WIDTH {
                    text.push_str("\n\t");
                    col = TAB;
                } else {
                    text.push(' ');
                    col += 1;
                }
            }
            text.push_str(item);
            col += item.len();
        }
        text
    }
}

/// Why scanning the words did not produce a [`Parsed`].
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

/// The options and operands found on a command line, per an applet's rows.
/// Options are looked up by the row's name: its long name, else its letter
/// (`"interface"`, `"x"`).
#[derive(Clone, Debug)]
pub struct Parsed {
    opts: &'static [OptSpec],
    /// (row index, value) per occurrence; a non-repeatable row appears at
    /// most once, with its last value. An optional value not given is None.
    found: Vec<(usize, Option<String>)>,
    /// The operands, in order.
    pub operands: Vec<String>,
}

impl Parsed {
    fn row(&self, name: &str) -> Option<usize> {
        let idx = self.opts.iter().position(|o| o.is_named(name));
        // A name not in the table is a mistake in the applet, which its
        // tests catch; in a release build the option just reads as absent.
        debug_assert!(idx.is_some(), "no option named {name:?} in the table");
        idx
    }

    fn occurrences<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Option<String>> + 'a {
        let idx = self.row(name);
        self.found
            .iter()
            .filter(move |(i, _)| Some(*i) == idx)
            .map(|(_, v)| v)
    }

    /// Whether the option was given.
    pub fn flag(&self, name: &str) -> bool {
        self.occurrences(name).next().is_some()
    }

    /// How often the option was given (`-vv`), saturating.
    pub fn count(&self, name: &str) -> u8 {
        let n = self.occurrences(name).count();
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    /// The (last) value of a value-taking option.
    pub fn value(&self, name: &str) -> Option<String> {
        self.occurrences(name).last().cloned().flatten()
    }

    /// An optional-value option: `None` if absent, `Some(None)` if given
    /// without a value (`-a`), `Some(Some(v))` with one (`-a500`).
    pub fn optional(&self, name: &str) -> Option<Option<&str>> {
        self.occurrences(name).last().map(Option::as_deref)
    }

    /// Every value of a repeatable option, in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.occurrences(name).flatten().cloned().collect()
    }

    /// The canonical argv of this parse (each option its own word, the long
    /// name when it has one, the value as the next word, [`NO_VALUE`] for
    /// an optional value not given, operands after one `--`): a compact
    /// view for tests.
    #[cfg(test)]
    pub fn canonical(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (idx, value) in &self.found {
            let Some(opt) = self.opts.get(*idx) else {
                continue;
            };
            out.push(match (opt.long, opt.short) {
                (Some(long), _) => format!("--{long}"),
                (None, Some(c)) => format!("-{c}"),
                (None, None) => continue,
            });
            match (opt.arg, value) {
                (Arg::None, _) => {}
                (Arg::Optional, None) => out.push(NO_VALUE.to_string()),
                (_, v) => out.extend(v.clone()),
            }
        }
        if !self.operands.is_empty() {
            out.push("--".to_string());
            out.extend(self.operands.iter().cloned());
        }
        out
    }
}

/// Scans `args` (without argv\[0\]) per the rows `opts` with getopt_long's
/// rules (module docs). Operand counts and exclusions are [`parse`]'s.
pub fn scan(opts: &'static [OptSpec], args: &[String]) -> Result<Parsed, UsageError> {
    let options_end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    if args.iter().take(options_end).any(|a| a == "--help") {
        return Err(UsageError::Help);
    }
    if args.iter().any(|a| a.contains('\0')) {
        // Impossible from a real argv; refused as before so no word can
        // carry a hidden terminator into a path or a script's environment.
        return Err(UsageError::Invalid("argument contains a NUL byte".into()));
    }

    let mut found: Vec<(usize, Option<String>)> = Vec::new();
    let mut operands: Vec<String> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            operands.extend(words.by_ref().cloned());
            break;
        }
        if let Some(body) = word.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let idx = find_long(opts, name, word)?;
            let Some(opt) = opts.get(idx) else { continue };
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
                (Arg::Optional, None) => None,
            };
            record(opts, &mut found, idx, value);
        } else if let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) {
            let mut rest = cluster;
            while let Some(c) = rest.chars().next() {
                rest = rest.get(c.len_utf8()..).unwrap_or("");
                let idx = find_short(opts, c)?;
                let Some(opt) = opts.get(idx) else { break };
                match opt.arg {
                    Arg::None => record(opts, &mut found, idx, None),
                    Arg::Required => {
                        let value = if !rest.is_empty() {
                            rest.to_string()
                        } else if let Some(next) = words.next() {
                            next.clone()
                        } else {
                            let msg = format!("option requires an argument -- '{c}'");
                            return Err(UsageError::Invalid(msg));
                        };
                        record(opts, &mut found, idx, Some(value));
                        break;
                    }
                    Arg::Optional => {
                        let value = (!rest.is_empty()).then(|| rest.to_string());
                        record(opts, &mut found, idx, value);
                        break;
                    }
                }
            }
        } else {
            // `-`, the empty word and anything not starting with `-`; GNU
            // getopt permutes, so options may follow operands.
            operands.push(word.clone());
        }
    }
    Ok(Parsed {
        opts,
        found,
        operands,
    })
}

/// [`scan`] spelt as the canonical argv of [`Parsed::canonical`] (tests).
#[cfg(test)]
pub fn normalize(opts: &'static [OptSpec], args: &[String]) -> Result<Vec<String>, UsageError> {
    scan(opts, args).map(|p| p.canonical())
}

/// Adds one occurrence; a non-repeatable option keeps only its last value.
fn record(
    opts: &[OptSpec],
    found: &mut Vec<(usize, Option<String>)>,
    idx: usize,
    value: Option<String>,
) {
    let repeat = opts.get(idx).is_some_and(|o| o.repeat);
    if !repeat {
        if let Some(slot) = found.iter_mut().find(|(i, _)| *i == idx) {
            slot.1 = value;
            return;
        }
    }
    found.push((idx, value));
}

fn find_short(opts: &[OptSpec], c: char) -> Result<usize, UsageError> {
    let invalid = || format!("invalid option -- '{c}'");
    match opts.iter().position(|o| o.short == Some(c) && !o.outer) {
        Some(idx) => match opts.get(idx).and_then(|o| o.removed) {
            Some(hint) => Err(UsageError::invalid(invalid(), Some(hint))),
            None => Ok(idx),
        },
        None => Err(UsageError::Invalid(invalid())),
    }
}

/// Exact long name first, then a unique prefix among the live options (as
/// getopt_long does). Removed options match only exactly; options the
/// dispatcher takes (`--monitor`) not at all.
fn find_long(opts: &[OptSpec], name: &str, word: &str) -> Result<usize, UsageError> {
    let unrecognized = || format!("unrecognized option '{word}'");
    if let Some(idx) = opts.iter().position(|o| o.long == Some(name) && !o.outer) {
        return match opts.get(idx).and_then(|o| o.removed) {
            Some(hint) => Err(UsageError::invalid(unrecognized(), Some(hint))),
            None => Ok(idx),
        };
    }
    if name.is_empty() {
        return Err(UsageError::Invalid(unrecognized()));
    }
    let candidates: Vec<usize> = opts
        .iter()
        .enumerate()
        .filter(|(_, o)| o.live() && o.long.is_some_and(|l| l.starts_with(name)))
        .map(|(i, _)| i)
        .collect();
    match candidates.as_slice() {
        [] => Err(UsageError::Invalid(unrecognized())),
        [idx] => Ok(*idx),
        many => {
            let mut msg = format!("option '{word}' is ambiguous; possibilities:");
            for long in many
                .iter()
                .filter_map(|&i| opts.get(i).and_then(|o| o.long))
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

/// Parses `args` per `cmd`: [`scan`], then the operand count (when the
/// table bounds it), then the exclusions, in that order (the order the
/// applets checked them in before the table).
pub fn parse(cmd: &Command, args: &[String]) -> Result<Parsed, Exit> {
    let parsed = scan(cmd.opts, args)?;
    if let Some(max) = cmd.max_operands {
        if let Some(extra) = parsed.operands.get(max) {
            return Err(Exit::Usage(format!("unexpected argument '{extra}'")));
        }
    }
    for o in cmd.opts {
        let (Some(c), Some(other)) = (o.short, o.excludes) else {
            continue;
        };
        let given = |x: char| {
            cmd.opts
                .iter()
                .position(|r| r.short == Some(x))
                .is_some_and(|i| parsed.found.iter().any(|(f, _)| *f == i))
        };
        if given(c) && given(other) {
            return Err(Exit::Usage(format!(
                "-{c} and -{other} are mutually exclusive"
            )));
        }
    }
    Ok(parsed)
}

/// Writes the banner and `Usage: APPLET USAGE` (BusyBox `bb_show_usage`).
pub fn write_usage(out: &mut dyn Write, applet: &str, cmd: &Command) -> io::Result<()> {
    writeln!(out, "{BANNER}\n\nUsage: {applet} {}\n", cmd.usage(applet))
}

/// Prints what `exit` calls for on stderr and returns the exit status.
pub fn report(applet: &str, cmd: &Command, exit: &Exit) -> i32 {
    let stderr = io::stderr();
    let mut err = stderr.lock();
    // Nothing useful can be done if stderr is gone; the status still tells.
    match exit {
        Exit::Help => {
            let _ = write_usage(&mut err, applet, cmd);
            0
        }
        Exit::Usage(msg) => {
            let _ = writeln!(err, "{applet}: {msg}");
            let _ = write_usage(&mut err, applet, cmd);
            1
        }
        Exit::Fail(msg) => {
            let _ = writeln!(err, "{applet}: {msg}");
            1
        }
    }
}

/// The `--monitor` row of udhcpc's and udhcpd's tables: main.rs takes the
/// option off before the applet parses (see [`OptSpec::outer`]).
pub const MONITOR: OptSpec = OptSpec::long_only("monitor", Arg::None)
    .outer()
    .help("Restart when a signal kills the daemon (with back-off)");

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
    use crate::{dhcprelay, dumpleases, udhcpc, udhcpc6, udhcpd};

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn norm(spec: &'static [OptSpec], words: &[&str]) -> Vec<String> {
        normalize(spec, &argv(words)).unwrap()
    }

    fn err(spec: &'static [OptSpec], words: &[&str]) -> String {
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
        // `help` is just a file name, not a help trigger.
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
        write_usage(&mut out, "udhcpc", &udhcpc::CMD).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(concat!(
            "udhcp v",
            env!("CARGO_PKG_VERSION"),
            " multi-call binary.\n\nUsage: udhcpc ["
        )));
        // Every flag of the table is documented in the usage text.
        for (spec, usage) in [
            (udhcpc::SPEC, udhcpc::CMD.usage("udhcpc")),
            (udhcpd::SPEC, udhcpd::CMD.usage("udhcpd")),
            (dumpleases::SPEC, dumpleases::CMD.usage("dumpleases")),
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

    // ---- the table: one place for parsing and usage ----

    fn tables() -> [(&'static str, &'static Command); 5] {
        [
            ("udhcpc", &udhcpc::CMD),
            ("udhcpc6", &udhcpc6::CMD),
            ("udhcpd", &udhcpd::CMD),
            ("dumpleases", &dumpleases::CMD),
            ("dhcprelay", &dhcprelay::CMD),
        ]
    }

    /// A row added without help or value name, or a letter or long name
    /// used twice, fails here rather than in a user's terminal.
    #[test]
    fn every_table_is_well_formed() {
        for (name, cmd) in tables() {
            let shown = cmd.opts.iter().filter(|o| o.removed.is_none());
            for o in shown {
                assert!(!o.help.is_empty(), "{name}: {o:?} has no help");
                let needs_value = o.arg != Arg::None || (o.short.is_none() && o.long.is_none());
                assert_eq!(!o.value.is_empty(), needs_value, "{name}: {o:?}");
            }
            for (i, a) in cmd.opts.iter().enumerate() {
                for b in cmd.opts.iter().skip(i + 1) {
                    assert!(a.short.is_none() || a.short != b.short, "{name}: {a:?}");
                    assert!(a.long.is_none() || a.long != b.long, "{name}: {a:?}");
                }
            }
        }
    }

    /// The option list is byte for byte the hand-written text it replaced
    /// (BusyBox's layout: help aligned on the first tab stop past the
    /// longest label, continuation lines on the same stop).
    #[test]
    fn usage_is_rendered_from_the_rows() {
        assert_eq!(
            udhcpd::CMD.usage("udhcpd"),
            concat!(
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
                "\t--monitor\tRestart when a signal kills the daemon (with back-off)\n",
                "\tCONFFILE\tConfiguration (default /etc/udhcpd.conf; -: stdin)\n",
                "Signals:\n",
                "\tUSR1\tWrite the lease file now",
            )
        );
        assert_eq!(
            dumpleases::CMD.usage("dumpleases"),
            concat!(
                "[-r|-a] [-d] [-f FILE]\n",
                "\n",
                "Show the leases udhcpd has granted\n",
                "\n",
                "\t-f,--file FILE\tLease file (default /var/lib/misc/udhcpd.leases)\n",
                "\t-r,--remaining\tShow the time left (default)\n",
                "\t-a,--absolute\tShow when each lease expires\n",
                "\t-d,--decimal\tShow times as seconds",
            )
        );
        let c = udhcpc::CMD.usage("udhcpc");
        for line in [
            "\n\t-i,--interface IFACE\tInterface to configure (default eth0)\n",
            "\n\t-B,--broadcast\t\tAsk servers to broadcast their replies\n",
            "\n\t-o,--no-default-options\tRequest only the options named with -O\n",
            "\n\t-a,--arping[=MSEC]\tARP-probe an offered address before using it,\n\t\t\t\twaiting",
            "\n\t-x OPT:VAL\t\tSend option OPT",
            "\n\t-v\t\t\tMore log output (repeatable)\n",
            "\n\t--rapid-commit\t\tAsk for",
            "\n\t--monitor\t\tRestart when",
        ] {
            assert!(c.contains(line), "{line:?} not in\n{c}");
        }
        assert!(c.starts_with("[-BbnqRoCfSv] [-i IFACE] [-s PROG] [-p FILE] [-r IP]"));
        assert!(
            c.contains(" [-a[MSEC]] [-O OPT]... [-x OPT:VAL]... "),
            "{c}"
        );
        assert!(!c.contains("-H") && !c.contains("hostname NAME"), "{c}");
        assert!(dhcprelay::CMD
            .usage("dhcprelay")
            .starts_with("CLIENT_IFACE[,CLIENT_IFACE2]... SERVER_IFACE [SERVER_IP]\n\nRelay"));
    }

    /// The synopsis wraps as BusyBox's do: no line of `Usage: APPLET ...`
    /// reaches 80 columns (a tab counts to the next multiple of 8).
    #[test]
    fn synopsis_fits_in_80_columns() {
        for (name, cmd) in tables() {
            let text = format!("Usage: {name} {}", cmd.usage(name));
            let synopsis = text.split("\n\n").next().unwrap_or_default();
            for line in synopsis.lines() {
                let cols = line.chars().fold(
                    0,
                    |col, c| if c == '\t' { col / 8 * 8 + 8 } else { col + 1 },
                );
                assert!(cols < 80, "{name}: {line:?} is {cols} columns");
            }
            // Every lettered option is in the synopsis.
            for o in cmd.opts.iter().filter(|o| o.removed.is_none()) {
                if let Some(c) = o.short {
                    let listed = synopsis
                        .split(['[', ']', ' ', '|'])
                        .any(|w| w.starts_with('-') && w.contains(c));
                    assert!(listed, "{name}: -{c} not in {synopsis:?}");
                }
            }
        }
    }

    /// `--monitor` is in the usage but main.rs takes it; the applets'
    /// parsers never match it, not even by a prefix.
    #[test]
    fn dispatcher_rows_are_shown_but_not_parsed() {
        assert_eq!(
            err(udhcpd::SPEC, &["--monitor"]),
            "unrecognized option '--monitor'"
        );
        assert_eq!(err(udhcpc::SPEC, &["--mon"]), "unrecognized option '--mon'");
        assert_eq!(
            err(udhcpc::SPEC, &["--monitor=1"]),
            "unrecognized option '--monitor=1'"
        );
        assert!(udhcpc::CMD.usage("udhcpc").contains("\t--monitor\t"));
        assert!(!dumpleases::CMD.usage("dumpleases").contains("--monitor"));
    }

    /// The rows were reordered for the usage; getopt_long names ambiguous
    /// prefixes in table order, so rows sharing a first letter keep the
    /// order they had (BusyBox's long option order).
    #[test]
    fn ambiguous_prefixes_list_in_the_old_order() {
        assert_eq!(
            err(udhcpc::SPEC, &["--f"]),
            "option '--f' is ambiguous; possibilities: '--fqdn' '--foreground'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--s"]),
            "option '--s' is ambiguous; possibilities: '--script' '--syslog' '--script-timeout'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--c"]),
            "option '--c' is ambiguous; possibilities: '--clientid-none' '--client-port'"
        );
        assert_eq!(
            err(udhcpc::SPEC, &["--b"]),
            "option '--b' is ambiguous; possibilities: '--broadcast' '--background'"
        );
        assert_eq!(
            err(udhcpc6::SPEC, &["--re"]),
            "option '--re' is ambiguous; possibilities: '--release' '--request' '--retries' '--request-option' '--requestprefix'"
        );
        assert_eq!(
            err(udhcpc6::SPEC, &["--s"]),
            "option '--s' is ambiguous; possibilities: '--script' '--syslog' '--stateless'"
        );
    }

    #[test]
    fn parsed_accessors() {
        let p = scan(
            udhcpc::SPEC,
            &argv(&[
                "-vv", "-a", "-x", "a:1", "-x", "b:2", "-i", "e0", "-i", "e1",
            ]),
        )
        .unwrap();
        assert_eq!(p.count("v"), 2);
        assert!(p.flag("arping") && !p.flag("quit"));
        assert_eq!(p.optional("arping"), Some(None));
        assert_eq!(p.optional("request"), None);
        assert_eq!(p.values("x"), ["a:1", "b:2"]);
        assert_eq!(p.value("interface").as_deref(), Some("e1"));
        assert_eq!(p.value("script"), None);
        let many: Vec<String> = (0..300).map(|_| "-v".to_string()).collect();
        assert_eq!(scan(udhcpc::SPEC, &many).unwrap().count("v"), u8::MAX);
        // Operands past the table's bound are refused by parse, in order.
        assert_eq!(
            parse(&udhcpd::CMD, &argv(&["a", "b", "c"])).unwrap_err(),
            Exit::Usage("unexpected argument 'b'".into())
        );
    }
}
