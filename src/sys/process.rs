//! Running scripts and hooks (udhcpc's event script, udhcpd's
//! `notify_file`): spawn, wait, reap, and never hang the daemon.
//!
//! **Environment.** The script gets our environment plus the variables in
//! [`Script`], added with `Command::envs`. We never mutate our own
//! environment (BusyBox does, with `putenv`).
//!
//! **The child starts clean.** Before `exec` (in `pre_exec`):
//! - every signal our [`SignalPipe`] handles goes back to `SIG_DFL`, then
//!   the signal mask is emptied. Signals are blocked in the parent around
//!   `fork`, so no handler of ours can run in the half-made child and write
//!   into our pipe; a signal sent to the child in that window stays pending
//!   and is delivered, with its default action, when the mask is emptied;
//! - every fd ≥ 3 is marked close-on-exec with `close_range(3, ~0,
//!   CLOSE_RANGE_CLOEXEC)` (Linux 5.11), or an `fcntl` loop up to the fd
//!   limit on older kernels. We open everything `O_CLOEXEC` anyway; this
//!   also catches fds inherited from whoever started us. (Closing them
//!   outright would also close std's exec-error pipe, and a missing script
//!   would no longer be reported.)
//! - the child leads its own process group (`setpgid(0, 0)`), so the whole
//!   tree it starts can be signalled at once.
//!
//! **Waiting.** [`run`] waits for the child while watching the
//! [`SignalPipe`]. `SIGTERM`/`SIGINT` interrupt it: the script's process
//! group gets `SIGTERM`, then `SIGKILL` after [`KILL_GRACE`], the script is
//! reaped and [`Outcome::Interrupted`] is returned, so the daemon can exit
//! cleanly. Other signals (USR1, …) stay queued in the pipe for the main
//! loop. A script running longer than its bound is logged, killed the same
//! way and reaped ([`Outcome::TimedOut`]).
//!
//! The group is killed *before* its leader is reaped (the exit is noticed
//! with `waitid(WNOWAIT)`), so the process-group id cannot have been reused
//! by an unrelated process when we signal it. Descendants that leave the
//! group (`setsid`, as real daemons started by a script do) are not ours to
//! kill. After a *normal* exit, background children the script left in its
//! group are left alone too, as with BusyBox: scripts may start services.
//!
//! Install `SIGCHLD` in the `SignalPipe` for an immediate wake when the
//! script exits; without it, `run` checks every 10 ms.
//!
//! **Not waiting.** [`start`] spawns with the same hygiene and returns a
//! [`Running`] handle; the daemon's own loop reaps it on `SIGCHLD`
//! ([`Running::try_reap`]) and kills its group past its deadline or on
//! shutdown ([`Running::kill`]; also on drop), so a hook never blocks the
//! loop and never outlives the daemon.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clock;
use super::signal::{self, SignalPipe};

/// The default bound on a script's run time: generous, since a script may
/// legitimately run `ip`, restart services or wait for a slow flash.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time between `SIGTERM` and `SIGKILL` to the script's process group.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

/// Poll interval when the `SignalPipe` does not handle `SIGCHLD`.
const CHILD_POLL: Duration = Duration::from_millis(10);

/// A program to run: argv is `[program, args…]`, environment is ours plus
/// `env`.
#[derive(Debug, Clone, Default)]
pub struct Script {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Script {
    /// Run `program` (a path; no `$PATH` search when it contains a `/`).
    pub fn new(program: impl Into<PathBuf>) -> Script {
        Script {
            program: program.into(),
            ..Script::default()
        }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Script {
        self.args.push(arg.into());
        self
    }

    /// Add (or override) environment variables for the child only.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Script
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The program path.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }
}

/// How a script run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this status.
    Exited(i32),
    /// It was killed by this signal number (not by us).
    Signaled(i32),
    /// It outran its bound; it was killed (whole group) and reaped.
    TimedOut,
    /// We received this signal (TERM or INT) meanwhile; the script was
    /// killed (whole group) and reaped. The caller should shut down.
    Interrupted(Signal),
    /// The program does not exist. BusyBox ignores this silently; callers
    /// decide.
    NotFound,
}

/// Run `script` to completion, bounded by `timeout`, reacting to TERM/INT
/// from `signals` (see the module doc). Errors are spawn failures other
/// than "not found" (e.g. permission denied) and wait failures.
pub fn run(script: &Script, signals: &mut SignalPipe, timeout: Duration) -> io::Result<Outcome> {
    let pid = match spawn(script) {
        Ok(pid) => pid,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Outcome::NotFound),
        Err(e) => return Err(e),
    };
    let deadline = clock::now() + timeout;
    let slice = if signals.handles(Signal::SIGCHLD) {
        None
    } else {
        Some(CHILD_POLL)
    };
    loop {
        if let Some(status) = try_reap(pid)? {
            return Ok(status);
        }
        if let Some(sig) = signals.take_if(|s| matches!(s, Signal::SIGTERM | Signal::SIGINT)) {
            kill_group_and_reap(pid)?;
            return Ok(Outcome::Interrupted(sig));
        }
        let now = clock::now();
        if now >= deadline {
            log::error!(
                "script '{}' still running after {} ms, killing it",
                script.program.display(),
                timeout.as_millis()
            );
            kill_group_and_reap(pid)?;
            return Ok(Outcome::TimedOut);
        }
        let left = deadline - now;
        signals.wait_readable(Some(slice.map_or(left, |s| s.min(left))))?;
    }
}

/// A script started by [`start`], not yet reaped: the non-blocking
/// counterpart of [`run`] for daemons that must keep serving while a hook
/// runs (udhcpd's `notify_file`).
///
/// The owner polls [`try_reap`](Running::try_reap) (on `SIGCHLD`, which
/// the [`SignalPipe`] should handle) and calls [`kill`](Running::kill) once
/// [`deadline`](Running::deadline) has passed or on shutdown. Dropping a
/// `Running` that was not reaped kills its process group and reaps it, so
/// no child outlives its owner.
#[derive(Debug)]
pub struct Running {
    pid: Pid,
    program: PathBuf,
    deadline: crate::time::Instant,
    reaped: bool,
}

/// Start `script` without waiting for it, with the same child hygiene as
/// [`run`] (default dispositions, empty signal mask, own process group,
/// every fd above 2 close-on-exec). `timeout` only sets
/// [`Running::deadline`]; enforcing it is the owner's job. A missing
/// program is an error of kind `NotFound`.
pub fn start(script: &Script, timeout: Duration) -> io::Result<Running> {
    let pid = spawn(script)?;
    Ok(Running {
        pid,
        program: script.program.clone(),
        deadline: clock::now() + timeout,
        reaped: false,
    })
}

impl Running {
    /// The child's pid (also its process-group id).
    pub fn pid(&self) -> u32 {
        u32::try_from(self.pid.as_raw()).unwrap_or(0)
    }

    /// The program started.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// When the owner should give up on it and [`kill`](Self::kill) it.
    pub fn deadline(&self) -> crate::time::Instant {
        self.deadline
    }

    /// Reaps the child if it has exited: `Some(Exited|Signaled)`, else
    /// `None` (still running). Never blocks. After `Some`, the value is
    /// spent: dropping it does nothing more.
    pub fn try_reap(&mut self) -> io::Result<Option<Outcome>> {
        if self.reaped {
            return Ok(None);
        }
        let got = try_reap(self.pid);
        if !matches!(got, Ok(None)) {
            // Reaped, or not our child any more (ECHILD): never signal
            // its group again.
            self.reaped = true;
        }
        got
    }

    /// Kills the whole process group (TERM, then KILL after
    /// [`KILL_GRACE`]) and reaps the child. Blocks for at most
    /// `KILL_GRACE` plus the reap.
    pub fn kill(mut self) -> io::Result<()> {
        self.kill_inner()
    }

    fn kill_inner(&mut self) -> io::Result<()> {
        if self.reaped {
            return Ok(());
        }
        self.reaped = true;
        kill_group_and_reap(self.pid)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill_inner();
    }
}

/// Fork and exec the script with signals blocked around the fork.
fn spawn(script: &Script) -> io::Result<Pid> {
    let mut cmd = Command::new(&script.program);
    cmd.args(&script.args)
        .envs(script.env.iter().map(|(k, v)| (k, v)));
    cmd.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (sigaction, sigprocmask, close_range,
    // getrlimit, fcntl); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            signal::reset_handlers_after_fork();
            signal::unblock_all()?;
            cloexec_from(3);
            Ok(())
        });
    }
    let old = signal::block_all()?;
    let spawned = cmd.spawn();
    signal::restore_mask(&old);
    let child = spawned?;
    // Dropping `Child` neither kills nor waits; we reap it by pid.
    let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
    Ok(Pid::from_raw(pid))
}

/// Mark every fd ≥ `first` close-on-exec (async-signal-safe).
fn cloexec_from(first: libc::c_int) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let first_u = libc::c_uint::try_from(first).unwrap_or(3);
    // SAFETY: close_range(2) with the CLOEXEC flag only changes fd flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first_u,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    // Older kernel: walk the fd table up to the soft limit (bounded).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        libc::c_int::try_from(lim.rlim_cur.min(65_536)).unwrap_or(1024)
    } else {
        1024
    };
    for fd in first..max {
        // SAFETY: F_SETFD on an fd that may not be open just fails (EBADF).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Reap `pid` if it has exited.
fn try_reap(pid: Pid) -> io::Result<Option<Outcome>> {
    loop {
        return match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(Outcome::Exited(code))),
            Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(Outcome::Signaled(sig as i32))),
            Ok(_) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// Whether `pid` has exited, without reaping it (so its pid, and with it
/// the process-group id, stays reserved).
fn has_exited(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        return match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => false,
            Ok(_) => true,
            Err(Errno::EINTR) => continue,
            // ECHILD: already reaped, which `run` never does before here.
            Err(_) => true,
        };
    }
}

/// TERM the group, give it [`KILL_GRACE`], KILL the group, reap the leader.
fn kill_group_and_reap(pid: Pid) -> io::Result<()> {
    // ESRCH: the group is already empty. Our leader is unreaped, so the
    // group id is still ours.
    let _ = killpg(pid, Signal::SIGTERM);
    let deadline = clock::now() + KILL_GRACE;
    while !has_exited(pid) && clock::now() < deadline {
        std::thread::sleep(CHILD_POLL);
    }
    // Stragglers in the group (a backgrounded `sleep` that ignores TERM)
    // die here, before the leader's pid is released.
    let _ = killpg(pid, Signal::SIGKILL);
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) -> Script {
        Script::new("/bin/sh").arg("-c").arg(cmd)
    }

    fn reap_within(r: &mut Running, limit: Duration) -> Option<Outcome> {
        let end = clock::now() + limit;
        while clock::now() < end {
            if let Some(o) = r.try_reap().expect("waitpid") {
                return Some(o);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// No live (non-zombie) process is left in group `pgid`. Killed
    /// grandchildren are reparented to init or a subreaper, which reaps
    /// them in its own time, so zombies are not counted.
    fn group_gone(pgid: u32) -> bool {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return true;
        };
        for e in dir.flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp ...
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.get(2) == Some(&pgid.to_string().as_str()) && f.first() != Some(&"Z") {
                return false;
            }
        }
        true
    }

    #[test]
    fn start_does_not_wait_and_reports_the_exit_status() {
        let t0 = clock::now();
        let mut r = start(&sh("sleep 0.2; exit 3"), DEFAULT_TIMEOUT).expect("start");
        assert!(
            clock::now() - t0 < Duration::from_millis(150),
            "start waited"
        );
        assert_eq!(r.try_reap().expect("waitpid"), None);
        assert_eq!(
            reap_within(&mut r, Duration::from_secs(5)),
            Some(Outcome::Exited(3))
        );
        assert_eq!(r.try_reap().expect("spent"), None);
        assert!(r.deadline() >= t0 + DEFAULT_TIMEOUT);
    }

    #[test]
    fn kill_takes_the_whole_group() {
        let r = start(&sh("sleep 30 & sleep 30"), DEFAULT_TIMEOUT).expect("start");
        let pgid = r.pid();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!group_gone(pgid));
        r.kill().expect("kill");
        assert!(group_gone(pgid), "a member of group {pgid} survived");
    }

    #[test]
    fn drop_kills_and_reaps() {
        let r = start(&sh("sleep 30"), DEFAULT_TIMEOUT).expect("start");
        let pid = r.pid();
        drop(r);
        assert!(group_gone(pid));
        // Reaped: no zombie left under our pid.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = start(&Script::new("/nonexistent/notify"), DEFAULT_TIMEOUT).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
