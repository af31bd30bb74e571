//! Going to the background without lying to the caller.
//!
//! [`daemonize`] forks. The **parent** never returns: it waits on a pipe and
//! exits 0 once the child calls [`Readiness::ready`], or, if the child exits
//! first, with the child's exit status (128 + signal number for a signal
//! death, as shells report it). So `udhcpd || echo failed` in rcS is
//! truthful: a bad config or a busy port found after the fork still fails
//! the command, and its message still reaches the console, because the
//! **child** keeps stdin/stdout/stderr until it is ready.
//!
//! The child calls `setsid` (no controlling terminal, out of the shell's
//! job control) and `chdir("/")` (so it does not pin a mounted filesystem).
//! One fork is enough: the child is a session leader, but it opens
//! `/dev/null` with `O_NOCTTY` and never opens a terminal, so it cannot
//! acquire one; a second fork would only make the exit-status relay harder.
//!
//! udhcpd goes to the background at startup (`daemonize()`, set up, then
//! `ready()`); udhcpc does it after its first lease (`daemonize()` then
//! `ready()` at once). A [`Pidfile`](super::pidfile::Pidfile) taken before
//! the fork stays locked in the child (open-file-description lock); call
//! its `rewrite_pid` in the child.
//!
//! **The caller must be single-threaded**: after `fork` only the calling
//! thread exists in the child, and a lock held by another thread (the
//! allocator's, stdout's) would stay locked forever. `daemonize` refuses
//! to run when `/proc/self/task` shows more than one thread.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::signal;

/// The child's promise to report readiness. Dropping it without calling
/// [`ready`](Readiness::ready) closes the pipe: the parent then waits for
/// the child to exit and exits with its status.
#[derive(Debug)]
pub struct Readiness {
    pipe: OwnedFd,
}

/// Fork into the background (see the module doc). Returns only in the child.
pub fn daemonize() -> io::Result<Readiness> {
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        let n = tasks.count();
        if n > 1 + usize::from(under_qemu_user()) {
            return Err(io::Error::other(format!(
                "cannot fork into the background with {n} threads"
            )));
        }
    }
    // Anything still buffered would otherwise be written twice.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded (checked above), so the child
    // inherits no lock held by another thread and may run ordinary code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => {
            drop(write);
            parent_wait(read, child)
        }
        ForkResult::Child => {
            drop(read);
            nix::unistd::setsid()?;
            nix::unistd::chdir("/")?;
            Ok(Readiness { pipe: write })
        }
    }
}

/// Whether we run under qemu-user (how CI runs the ARM build). qemu adds
/// one thread of its own (its RCU thread), which holds no lock of ours;
/// `daemonize` allows for it. Detected because qemu fakes
/// `/proc/self/exe` (the guest binary) but not the per-thread
/// `/proc/self/task/TID/exe` (qemu itself); natively both are the same.
fn under_qemu_user() -> bool {
    let tid = nix::unistd::gettid();
    match (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_link(format!("/proc/self/task/{tid}/exe")),
    ) {
        (Ok(a), Ok(b)) => a != b,
        _ => false,
    }
}

/// The parent's side: relay readiness or the child's exit status.
fn parent_wait(read: OwnedFd, child: Pid) -> ! {
    // A signal to the waiting parent must not be written into the signal
    // pipe it shares with the child: give the parent default dispositions.
    signal::reset_handlers_after_fork();
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(&read, &mut byte) {
            Ok(1) => exit_now(0),
            Err(Errno::EINTR) => continue,
            // EOF: the child exited (or dropped its Readiness) before ready.
            _ => break,
        }
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => exit_now(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => exit_now(128 + sig as i32),
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(_) => exit_now(1),
        }
    }
}

impl Readiness {
    /// Report that startup succeeded: stdin, stdout and stderr go to
    /// `/dev/null` (stderr logging is switched off; syslog, if enabled,
    /// continues), then the parent is told and exits 0.
    ///
    /// If the parent is already gone the notification is simply lost.
    pub fn ready(self) -> io::Result<()> {
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/null")?;
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        nix::unistd::dup2_stdin(&null)?;
        nix::unistd::dup2_stdout(&null)?;
        nix::unistd::dup2_stderr(&null)?;
        drop(null);
        super::log::stderr_off();
        // EPIPE: the parent was killed; nobody is waiting any more.
        while let Err(Errno::EINTR) = nix::unistd::write(&self.pipe, b"R") {}
        Ok(())
    }
}

/// Exit the waiting parent at once: no destructors, no atexit handlers, no
/// stdio flush (the child owns everything that was duplicated by `fork`,
/// including the pidfile, which the parent must not remove).
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is always sound to call; it does not return.
    unsafe { libc::_exit(code) }
}
