//! `--monitor`: supervision BusyBox lacks, after Open vSwitch's
//! `--monitor` (`lib/daemon-unix.c`, our own code). A small parent, the
//! **monitor**, stays; the daemon runs as its child and is started again
//! when it dies from a signal (abort, segfault, `kill -9`, the OOM killer),
//! never when it exits on its own. When and whether is decided by the pure
//! [`crate::restart::Backoff`]; this module only executes it.
//!
//! **Process layout.** Without `-f` the monitor first goes to the
//! background itself ([`daemon::daemonize`]): the command that started it
//! waits, as for a plain daemon, until the daemon is ready or has failed,
//! and exits with that result, so `udhcpd --monitor conf || echo failed` in
//! rcS still tells the truth. The monitor then forks a child that runs the
//! applet with the user's arguments unchanged. Without `-f` that child
//! daemonizes as usual (udhcpd at once, udhcpc after its first lease): it
//! forks the real daemon and exits 0 once the daemon is ready. The monitor
//! is a child subreaper (`PR_SET_CHILD_SUBREAPER`, Linux 3.4), so the
//! daemon is re-parented to it and it can `waitpid` the daemon: it finds
//! it as its child that leads its own session (the daemon calls `setsid`;
//! script leftovers re-parented to us do not, as a rule). With `-f`, the
//! child is the daemon.
//!
//! **Pidfile.** The daemon writes its own pidfile, so the file names the
//! daemon, not the monitor: `kill -USR1 $(cat pidfile)` reaches udhcpc as
//! before. The lock dies with the daemon and the new one takes it again at
//! once: between the two only a start with the same pidfile could take it,
//! which then wins and the restarted daemon exits with "already running"
//! (an exit, so the monitor stops rather than fight).
//!
//! **Stopping.** TERM (or INT) to the daemon: it exits on its own, so the
//! monitor exits too, with its status. TERM to the monitor: it passes TERM
//! on to the daemon and exits once it is gone.
//!
//! **Logging.** Each death and restart is logged with its cause, through
//! [`log::emit`] (stderr until the monitor is in the background, syslog
//! with `-S`), under the applet's name.

use std::io;
use std::path::PathBuf;

use ::log::Level;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::daemon::{self, Readiness};
use super::signal::{self, SignalPipe};
use super::{clock, log};
use crate::restart::{Backoff, Death, Decision};

/// What the monitor needs to know about the applet it runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The applet name, for log lines and syslog's ident.
    pub applet: &'static str,
    /// `-f`: the monitor stays in the foreground and so does the daemon.
    pub foreground: bool,
    /// `-S`: log to syslog too.
    pub syslog: bool,
}

/// Run `child_main` (the applet, with the user's arguments) under
/// supervision until it exits on its own or the monitor is told to stop;
/// returns the exit status. `child_main` runs in a forked child and its
/// return value is that child's exit status.
pub fn run(opts: &Options, child_main: &mut dyn FnMut() -> i32) -> i32 {
    if opts.syslog {
        log::open_syslog(opts.applet);
    }
    let say = |level: Level, msg: &str| log::emit(opts.applet, level, opts.syslog, msg);
    // daemonize() moves to `/`; the applet must still see relative paths
    // (a config file named on the command line) the way they were given.
    let cwd = std::env::current_dir().ok();
    let mut readiness = if opts.foreground {
        None
    } else {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                say(Level::Error, &format!("can't fork: {e}"));
                return 1;
            }
        }
    };
    // After daemonize: the setting is per process and not inherited.
    if let Err(e) = set_subreaper() {
        say(
            Level::Error,
            &format!("--monitor: can't become subreaper: {e}"),
        );
        return 1;
    }
    let mut signals = match SignalPipe::install(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD])
    {
        Ok(s) => Some(s),
        Err(e) => {
            say(Level::Error, &format!("signal pipe: {e}"));
            return 1;
        }
    };
    let mut backoff = Backoff::default();
    let mut m = Monitor {
        daemon: None,
        launcher: false,
        restart_at: Some(clock::now()),
        stop_requested: false,
        status: None,
    };
    loop {
        let now = clock::now();
        if m.daemon.is_none() {
            if let Some(status) = m.status {
                if m.stop_requested {
                    stop_leftovers();
                }
                return status;
            }
            if m.stop_requested {
                stop_leftovers();
                return 0;
            }
            if m.restart_at.is_some_and(|at| at <= now) {
                m.restart_at = None;
                let spawned = spawn(&mut signals, &mut readiness, cwd.as_ref(), child_main);
                match spawned {
                    Ok(pid) => {
                        m.daemon = Some(pid);
                        m.launcher = !opts.foreground;
                        backoff.started(now);
                    }
                    Err(e) => {
                        // fork failing is resource exhaustion: try again
                        // after the same back-off a crash gets.
                        say(Level::Error, &format!("can't fork: {e}"));
                        if let Decision::Restart { at, .. } = backoff.died(
                            now,
                            Death::Signaled {
                                signal: 0,
                                core: false,
                            },
                        ) {
                            m.restart_at = Some(at);
                        }
                    }
                }
            }
        }
        m.reap(&mut backoff, &mut readiness, &say);
        if m.daemon.is_none() && (m.status.is_some() || m.stop_requested) {
            continue;
        }
        let timeout = match (m.daemon, m.restart_at) {
            (None, Some(at)) => Some(at.saturating_duration_since(clock::now())),
            _ => None,
        };
        let Some(pipe) = signals.as_mut() else {
            return 1;
        };
        match pipe.wait(timeout) {
            Ok(Some(sig @ (Signal::SIGTERM | Signal::SIGINT))) => {
                m.stop_requested = true;
                m.restart_at = None;
                if let Some(pid) = m.daemon {
                    let _ = kill(pid, sig);
                }
            }
            Ok(_) => {}
            Err(e) => {
                say(Level::Error, &format!("signal pipe: {e}"));
                return 1;
            }
        }
    }
}

/// The monitor's state between loop turns.
#[derive(Debug)]
struct Monitor {
    /// The process that is the daemon now (or the child about to hand over
    /// to it).
    daemon: Option<Pid>,
    /// `daemon` is the forked applet that will daemonize: its exit 0 means
    /// "the daemon is ready in the background", not "stopped".
    launcher: bool,
    /// When to start the daemon (again).
    restart_at: Option<crate::time::Instant>,
    /// TERM/INT received: no more restarts.
    stop_requested: bool,
    /// The daemon exited on its own with this status: stop with it.
    status: Option<i32>,
}

impl Monitor {
    /// Reap every child that has ended and act on the daemon's end.
    fn reap(
        &mut self,
        backoff: &mut Backoff,
        readiness: &mut Option<Readiness>,
        say: &dyn Fn(Level, &str),
    ) {
        loop {
            let (pid, death) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Death::Exited(code)),
                Ok(WaitStatus::Signaled(pid, sig, core)) => (
                    pid,
                    Death::Signaled {
                        signal: sig as i32,
                        core,
                    },
                ),
                Err(Errno::EINTR) => continue,
                // StillAlive, ECHILD, or a stop/continue report.
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            // Anything else is a script's orphan re-parented to us: reaped,
            // nothing more.
            if Some(pid) != self.daemon {
                continue;
            }
            self.daemon = None;
            if self.launcher && death == Death::Exited(0) {
                self.launcher = false;
                if let Some(bg) = background_children().into_iter().next() {
                    self.daemon = Some(bg);
                    if let Some(r) = readiness.take() {
                        if let Err(e) = r.ready() {
                            say(Level::Warn, &format!("--monitor: {e}"));
                        }
                    }
                    continue;
                }
            }
            if self.stop_requested {
                self.status = Some(death.status());
                continue;
            }
            let now = clock::now();
            match backoff.died(now, death) {
                Decision::Stop { status } => self.status = Some(status),
                Decision::Restart { at, delay } => {
                    let when = if delay.is_zero() {
                        String::new()
                    } else {
                        // Whole seconds, rounded up; no float formatting (it
                        // costs 8 KB of the static binary).
                        format!(" in {} s", delay.as_millis().div_ceil(1000))
                    };
                    say(Level::Warn, &format!("pid {pid} {death}, restarting{when}"));
                    self.restart_at = Some(at);
                }
            }
        }
    }
}

/// Fork the child that runs the applet. In the child: the monitor's
/// signal handlers and pipe are removed, its readiness pipe is closed (the
/// waiting shell must see EOF only from the monitor), and the working
/// directory is the one the monitor was started in.
fn spawn(
    signals: &mut Option<SignalPipe>,
    readiness: &mut Option<Readiness>,
    cwd: Option<&PathBuf>,
    child_main: &mut dyn FnMut() -> i32,
) -> io::Result<Pid> {
    use std::io::Write;
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // No handler may run between fork and the child's reset: it would
    // write into the pipe the monitor reads.
    let mask = signal::block_all()?;
    // SAFETY: the process is single-threaded (the monitor starts before
    // any thread and creates none), so the child may run ordinary code.
    let forked = unsafe { nix::unistd::fork() };
    match forked {
        Ok(ForkResult::Parent { child }) => {
            signal::restore_mask(&mask);
            Ok(child)
        }
        Ok(ForkResult::Child) => {
            // Dropping restores the dispositions and frees the slot, so
            // the applet can install its own SignalPipe.
            drop(signals.take());
            drop(readiness.take());
            signal::restore_mask(&mask);
            if let Some(dir) = cwd {
                let _ = std::env::set_current_dir(dir);
            }
            let code = child_main();
            std::process::exit(code)
        }
        Err(e) => {
            signal::restore_mask(&mask);
            Err(e.into())
        }
    }
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: orphaned descendants (the daemon, once
/// the applet child that forked it exits) become our children.
fn set_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only; no memory is passed.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    Errno::result(r)?;
    Ok(())
}

/// Our children that lead their own session: the daemon after it went to
/// the background. Read from `/proc/PID/stat` (a zombie shows there too,
/// until we reap it, so a daemon that died at once is not missed).
fn background_children() -> Vec<Pid> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, session)) = parse_stat(&stat) {
            if ppid == me && session == pid {
                if let Ok(p) = i32::try_from(pid) {
                    found.push(Pid::from_raw(p));
                }
            }
        }
    }
    found
}

/// `(ppid, session)` from a `/proc/PID/stat` line. The command name is in
/// parentheses and may contain anything, so the fields are counted after
/// the last `)`: state, ppid, pgrp, session.
pub fn parse_stat(stat: &str) -> Option<(u32, u32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some((ppid, session))
}

/// On the way out: TERM to any daemon still re-parented to us (one that
/// was handed over while we were told to stop), so none is left running
/// unsupervised by surprise.
fn stop_leftovers() {
    for pid in background_children() {
        let _ = kill(pid, Signal::SIGTERM);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "4242 (udhcpd) S 1 4242 4242 0 -1 4194560 100 0 0 0";
        assert_eq!(parse_stat(line), Some((1, 4242)));
        // A name with spaces and parentheses cannot shift the fields.
        let line = "77 (a) b (c) S 55 77 77 0 -1";
        assert_eq!(parse_stat(line), Some((55, 77)));
        assert_eq!(parse_stat("77 (x) S"), None);
        assert_eq!(parse_stat("garbage"), None);
    }
}
