//! Signals as events in the poll loop: the self-pipe trick (BusyBox
//! `signalpipe.c` does the same; we reimplement it).
//!
//! A handler may only call async-signal-safe functions, so ours does one
//! thing: it writes the signal number as one byte to a non-blocking,
//! close-on-exec pipe, and restores `errno` (the interrupted code may be
//! about to read it). The main loop polls [`SignalPipe::fd`] with its sockets
//! and calls [`SignalPipe::take`] or [`SignalPipe::drain`] when it is
//! readable. Signals come out in arrival order; `SIGCHLD`s are coalesced
//! into one pending event (it only means "call waitpid").
//!
//! Why not `signalfd`: it needs the signals blocked, and the blocked mask
//! survives `exec`, so every script would start with TERM blocked unless each
//! spawn path remembers to reset it. With a self-pipe nothing is blocked in
//! normal operation; `sys::process` still resets the mask in children, and
//! blocks signals around `fork` so no handler runs in a half-made child.
//!
//! Dispositions are process-global, so there is at most one [`SignalPipe`]
//! per process: a second [`SignalPipe::install`] fails until the first is
//! dropped, which restores the previous dispositions.
//!
//! Handlers are installed with `SA_RESTART`: blocking calls outside the poll
//! loop (a lease-file write) are not cut short, while `poll(2)` itself is
//! never restarted, so the loop still wakes.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
pub use nix::sys::signal::Signal;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};

/// Write end of the pipe, for the handler; -1 when no pipe is installed.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Bit `n` set: signal `n` has our handler. Read by children after `fork`
/// (async-signal-safe: a plain load) to put those signals back to SIG_DFL.
/// 32 bits: nix's `Signal` has only the classic signals (1..=31), and
/// 32-bit MIPS (and ARMv5) have no 64-bit atomics at all.
static HANDLED: AtomicU32 = AtomicU32::new(0);
/// Whether a [`SignalPipe`] exists.
static ACTIVE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = Errno::last_raw();
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // Signal numbers on Linux are 1..=64: one byte is enough.
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a valid one-byte
        // buffer. A full pipe (EAGAIN) drops this byte: the reader already
        // has plenty queued, and nothing else can be done in a handler.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// The read end of the self-pipe plus the queue of signals read from it.
#[derive(Debug)]
pub struct SignalPipe {
    read: OwnedFd,
    // Kept open for the handler; closed after the handlers are removed.
    _write: OwnedFd,
    pending: VecDeque<Signal>,
    previous: Vec<(Signal, SigAction)>,
}

impl SignalPipe {
    /// Route `signals` to a new pipe. Also unblocks them, in case we were
    /// started with them blocked (an inherited mask would otherwise make
    /// `udhcpc` deaf to `SIGTERM`).
    ///
    /// Fails with `AlreadyExists` if a `SignalPipe` already exists.
    pub fn install(signals: &[Signal]) -> io::Result<SignalPipe> {
        if ACTIVE.swap(true, Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a signal pipe is already installed",
            ));
        }
        match Self::install_inner(signals) {
            Ok(pipe) => Ok(pipe),
            Err(e) => {
                ACTIVE.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn install_inner(signals: &[Signal]) -> io::Result<SignalPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let mut pipe = SignalPipe {
            read,
            _write: write,
            pending: VecDeque::new(),
            previous: Vec::new(),
        };
        let mut set = SigSet::empty();
        for &sig in signals {
            let mut flags = SaFlags::SA_RESTART;
            if sig == Signal::SIGCHLD {
                flags |= SaFlags::SA_NOCLDSTOP;
            }
            let action = SigAction::new(SigHandler::Handler(on_signal), flags, SigSet::empty());
            // SAFETY: `on_signal` is async-signal-safe (one write(2), errno
            // saved and restored) and touches only atomics.
            let old = unsafe { nix::sys::signal::sigaction(sig, &action) }?;
            pipe.previous.push((sig, old));
            HANDLED.fetch_or(1 << (sig as u32), Ordering::SeqCst);
            set.add(sig);
        }
        // On error `pipe` drops here and restores what was changed.
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None)?;
        Ok(pipe)
    }

    /// The fd to poll for `POLLIN`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Move every byte waiting in the pipe into the queue.
    fn fill(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    for &b in buf.iter().take(n) {
                        if let Ok(sig) = Signal::try_from(i32::from(b)) {
                            self.push(sig);
                        }
                    }
                }
                Err(Errno::EINTR) => continue,
                // EAGAIN: empty. Anything else cannot happen on our own pipe.
                Err(_) => return,
            }
        }
    }

    fn push(&mut self, sig: Signal) {
        if sig == Signal::SIGCHLD && self.pending.contains(&Signal::SIGCHLD) {
            return;
        }
        self.pending.push_back(sig);
    }

    /// The oldest pending signal, if any. Never blocks.
    pub fn take(&mut self) -> Option<Signal> {
        self.fill();
        self.pending.pop_front()
    }

    /// Append every pending signal to `out`, oldest first. Never blocks.
    pub fn drain(&mut self, out: &mut Vec<Signal>) {
        self.fill();
        out.extend(self.pending.drain(..));
    }

    /// Remove and return the oldest pending signal that satisfies `pred`,
    /// leaving the others queued in order (used by `sys::process`, which
    /// acts on TERM/INT while a script runs and keeps the rest for the main
    /// loop). Never blocks.
    pub fn take_if(&mut self, pred: impl Fn(Signal) -> bool) -> Option<Signal> {
        self.fill();
        let i = self.pending.iter().position(|&s| pred(s))?;
        self.pending.remove(i)
    }

    /// Block until a signal is pending or `timeout` passes (`None`: no
    /// bound), then return the oldest one. For simple programs without
    /// sockets; daemons poll [`fd`](Self::fd) in their own loop.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Option<Signal>> {
        if self.pending.is_empty() {
            self.wait_readable(timeout)?;
        }
        Ok(self.take())
    }

    /// Poll the pipe once for at most `timeout`. Returns early on EINTR
    /// (a signal arrived, so the pipe has data anyway).
    pub(crate) fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<()> {
        let t = match timeout {
            None => PollTimeout::NONE,
            // Round up, so a 0.5 ms wait does not become a busy loop.
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(self.read.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, t) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `sig` has our handler.
    pub fn handles(&self, sig: Signal) -> bool {
        self.previous.iter().any(|&(s, _)| s == sig)
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for (sig, old) in self.previous.drain(..).rev() {
            // SAFETY: restoring the disposition that was in place before
            // `install`, which was valid then.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &old) };
        }
        HANDLED.store(0, Ordering::SeqCst);
        WRITE_FD.store(-1, Ordering::SeqCst);
        ACTIVE.store(false, Ordering::SeqCst);
        // The fds close after this, when the fields drop.
    }
}

/// Put every signal that has our handler back to `SIG_DFL`, and stop the
/// handler from writing to the pipe.
///
/// For the child side of `fork` only (before `exec`, and in the waiting
/// parent of `sys::daemon`, which must not feed signals into the pipe it
/// shares with the daemon): async-signal-safe, no allocation, no locks.
pub(crate) fn reset_handlers_after_fork() {
    let handled = HANDLED.load(Ordering::Relaxed);
    for n in 1..32u32 {
        if handled & (1 << n) == 0 {
            continue;
        }
        // n < 32 by construction, so the cast is lossless.
        if let Ok(sig) = Signal::try_from(n as i32) {
            let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: installing SIG_DFL is always sound; sigaction(2) is
            // async-signal-safe.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &dfl) };
        }
    }
    WRITE_FD.store(-1, Ordering::Relaxed);
}

/// Empty the calling thread's signal mask (async-signal-safe).
pub(crate) fn unblock_all() -> io::Result<()> {
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// Block every signal; returns the previous mask, for [`restore_mask`].
pub(crate) fn block_all() -> io::Result<SigSet> {
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    Ok(old)
}

/// Put back a mask saved by [`block_all`].
pub(crate) fn restore_mask(old: &SigSet) {
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(old), None);
}
