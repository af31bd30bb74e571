//! The logger behind the `log` macros, with BusyBox's conventions: every
//! message is `APPLET: message` on stderr; with `-S` it also goes to
//! syslog(3) (facility `LOG_DAEMON`, ident = applet name, `LOG_PID`). Once
//! the daemon is in the background, [`stderr_off`] leaves only syslog.
//!
//! Why not simplelog (removed from Cargo.toml): its loggers print the
//! module path as the target, not the applet name, so BusyBox's
//! `APPLET: message` needs our own prefix anyway; it has no syslog sink;
//! and it pulls in the `time` crate. The whole job is the code below.
//! Measured: the static x86_64 build is 448,224 bytes with and without the
//! (unused) dependency, so removing it costs nothing and drops 7 crates
//! from the build.
//!
//! Verbosity: 0 → `Info` (BusyBox's user-visible lines), 1 (`-v`) →
//! `Debug`, 2+ (`-vv`) → `Trace`. Levels map to syslog priorities error →
//! `LOG_ERR`, warn → `LOG_WARNING`, info → `LOG_INFO`, debug/trace →
//! `LOG_DEBUG`.
//!
//! Nothing is escaped. The contract with callers: bytes from the network
//! are logged only through formatting that cannot produce control
//! characters (dotted quads, MAC notation, hex, `{:?}` of strings), never as
//! raw text, so a hostile hostname cannot forge log lines or drive a
//! terminal. syslog gets the message through a `"%s"` format, and interior
//! NUL bytes become `?`.

use std::ffi::CString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

static STDERR_ON: AtomicBool = AtomicBool::new(true);

#[derive(Debug)]
struct Logger {
    applet: &'static str,
    syslog: bool,
}

/// Install the logger for `applet`. `verbosity` is the number of `-v`
/// flags; `syslog` is `-S`. Fails if a logger is already installed.
pub fn init(applet: &'static str, verbosity: u8, syslog: bool) -> Result<(), log::SetLoggerError> {
    if syslog {
        open_syslog(applet);
    }
    log::set_logger(Box::leak(Box::new(Logger { applet, syslog })))?;
    log::set_max_level(level_filter(verbosity));
    Ok(())
}

/// `openlog(applet, LOG_PID, LOG_DAEMON)`, as BusyBox's `-S`. Also for
/// `--monitor`, which logs through [`emit`] without installing a logger
/// (its children install theirs).
pub fn open_syslog(applet: &'static str) {
    // openlog(3) keeps the ident pointer, so it must live as long as the
    // process: leak it (once per call; callers call it once).
    let ident: &'static CString = Box::leak(Box::new(
        CString::new(applet.replace('\0', "?")).unwrap_or_default(),
    ));
    // SAFETY: `ident` is a valid NUL-terminated string that is never freed.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
}

/// Write one message the way the installed logger does: `APPLET: msg` on
/// stderr (unless [`stderr_off`]), and to syslog when `syslog` (after
/// [`open_syslog`]).
pub fn emit(applet: &str, level: Level, syslog: bool, msg: &str) {
    if STDERR_ON.load(Ordering::Relaxed) {
        // One write per line, so lines from two processes do not mix.
        let line = format!("{applet}: {msg}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    if syslog {
        let c = CString::new(msg.replace('\0', "?")).unwrap_or_default();
        // SAFETY: both strings are NUL-terminated and outlive the call;
        // the message is an argument of "%s", never a format itself.
        unsafe { libc::syslog(syslog_priority(level), c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// Stop writing to stderr (after backgrounding, when it is `/dev/null`).
pub fn stderr_off() {
    STDERR_ON.store(false, Ordering::Relaxed);
}

/// The maximum level shown for a number of `-v` flags.
pub fn level_filter(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// The syslog(3) priority for a log level.
pub fn syslog_priority(level: Level) -> libc::c_int {
    match level {
        Level::Error => libc::LOG_ERR,
        Level::Warn => libc::LOG_WARNING,
        Level::Info => libc::LOG_INFO,
        Level::Debug | Level::Trace => libc::LOG_DEBUG,
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        emit(
            self.applet,
            record.level(),
            self.syslog,
            &record.args().to_string(),
        );
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level_filter(0), LevelFilter::Info);
        assert_eq!(level_filter(1), LevelFilter::Debug);
        assert_eq!(level_filter(2), LevelFilter::Trace);
        assert_eq!(level_filter(9), LevelFilter::Trace);
        assert_eq!(syslog_priority(Level::Error), libc::LOG_ERR);
        assert_eq!(syslog_priority(Level::Info), libc::LOG_INFO);
        assert_eq!(syslog_priority(Level::Debug), libc::LOG_DEBUG);
        assert_eq!(syslog_priority(Level::Trace), libc::LOG_DEBUG);
    }
}
