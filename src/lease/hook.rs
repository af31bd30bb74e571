//! The per-lease event hook (`lease_script`), sans-I/O: which event runs
//! when, what is dropped, when a run is killed. The applet only executes
//! the decisions, with the same runner as `notify_file`
//! (`sys::process::start`, reaped on SIGCHLD, never waited for in the
//! loop).
//!
//! Contract, after `lease::persist`: [`Hook::push`] each event the server
//! reports; then, until [`Action::Idle`], execute [`Hook::poll_action`]:
//! `Run(event)` → start `PROG add|old|del MAC IP [HOSTNAME]` and report
//! [`Hook::handle_started`]; `Kill` → kill its process group, then
//! [`Hook::handle_exited`] (also when the child is reaped). Wake at
//! [`Hook::poll_timeout`].
//!
//! - One run at a time, in event order (dnsmasq's `--dhcp-script` runs
//!   its script serially too), so a hosts file sees `add` before `del`.
//! - At most [`MAX_QUEUED`] events wait; past that the newest are
//!   dropped and counted ([`Hook::take_dropped`]): a DISCOVER flood must
//!   not grow memory or fork a process per packet.
//! - A run still going after [`HOOK_LIMIT`] is killed.
//! - A program that cannot be started backs off: the next run waits
//!   [`RETRY_MIN`], doubling to [`RETRY_MAX`] (a missing program costs no
//!   CPU); a successful start resets it.

use core::fmt;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::lease::Hostname;
use crate::time::Instant;
use crate::wire::MacAddr;

/// Most events waiting for their run.
pub const MAX_QUEUED: usize = 64;
/// A run still going after this is killed (its whole group).
pub const HOOK_LIMIT: Duration = Duration::from_secs(10);
/// First wait after a program could not be started.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between start attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// What happened to a lease (dnsmasq `--dhcp-script` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new lease (a client bound an address it did not hold).
    Add,
    /// A lease renewed or re-ACKed.
    Old,
    /// A lease released (or expired).
    Del,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Add => "add",
            Kind::Old => "old",
            Kind::Del => "del",
        })
    }
}

/// One lease event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// add, old or del.
    pub kind: Kind,
    /// The client's MAC.
    pub mac: MacAddr,
    /// The address.
    pub ip: Ipv4Addr,
    /// The lease's host name (sanitised, so safe as an argument).
    pub hostname: Hostname,
}

impl Event {
    /// The program's arguments: `add|old|del MAC IP [HOSTNAME]`.
    pub fn args(&self) -> Vec<String> {
        let mut v = vec![
            self.kind.to_string(),
            self.mac.to_string(),
            self.ip.to_string(),
        ];
        if !self.hostname.is_empty() {
            v.push(self.hostname.to_string());
        }
        v
    }
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the program for this event.
    Run(Event),
    /// The running program is past [`HOOK_LIMIT`]: kill it.
    Kill,
    /// Nothing now.
    Idle,
}

/// The hook's state.
#[derive(Debug, Default)]
pub struct Hook {
    queue: VecDeque<Event>,
    /// Kill deadline of the run in progress.
    running: Option<Instant>,
    /// The run was already ordered killed.
    killing: bool,
    /// No start before this (after a failed start).
    not_before: Option<Instant>,
    /// The current back-off.
    retry: Duration,
    dropped: u64,
}

impl Hook {
    /// An idle hook.
    pub fn new() -> Hook {
        Hook::default()
    }

    /// Queues an event; dropped and counted when [`MAX_QUEUED`] wait.
    pub fn push(&mut self, e: Event) {
        if self.queue.len() >= MAX_QUEUED {
            self.dropped += 1;
        } else {
            self.queue.push_back(e);
        }
    }

    /// Events waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Events dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        core::mem::take(&mut self.dropped)
    }

    /// The next thing to do at `now`.
    pub fn poll_action(&mut self, now: Instant) -> Action {
        if let Some(deadline) = self.running {
            if now >= deadline && !self.killing {
                self.killing = true;
                return Action::Kill;
            }
            return Action::Idle;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return Action::Idle;
        }
        match self.queue.pop_front() {
            Some(e) => Action::Run(e),
            None => Action::Idle,
        }
    }

    /// The run ordered by `Run` started (`ok`) or could not be started
    /// (its event is lost; the next start backs off).
    pub fn handle_started(&mut self, now: Instant, ok: bool) {
        if ok {
            self.running = Some(now + HOOK_LIMIT);
            self.killing = false;
            self.retry = Duration::ZERO;
            self.not_before = None;
        } else {
            self.retry = if self.retry.is_zero() {
                RETRY_MIN
            } else {
                (self.retry * 2).min(RETRY_MAX)
            };
            self.not_before = Some(now + self.retry);
        }
    }

    /// The run ended (reaped, or killed).
    pub fn handle_exited(&mut self, _now: Instant) {
        self.running = None;
        self.killing = false;
    }

    /// True while a run is in progress.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// When to call [`Hook::poll_action`] without I/O.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.running {
            Some(d) if !self.killing => Some(d),
            Some(_) => None,
            None if self.queue.is_empty() => None,
            None => self.not_before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn ev(kind: Kind, n: u8) -> Event {
        Event {
            kind,
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            ip: Ipv4Addr::new(10, 0, 0, n),
            hostname: Hostname::sanitize(if n == 1 { b"pc" } else { b"" }),
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(
            ev(Kind::Add, 1).args(),
            ["add", "02:00:00:00:00:01", "10.0.0.1", "pc"]
        );
        assert_eq!(
            ev(Kind::Del, 2).args(),
            ["del", "02:00:00:00:00:02", "10.0.0.2"]
        );
    }

    #[test]
    fn one_run_at_a_time_in_order() {
        let mut h = Hook::new();
        h.push(ev(Kind::Add, 1));
        h.push(ev(Kind::Del, 1));
        assert_eq!(h.poll_action(t(0)), Action::Run(ev(Kind::Add, 1)));
        h.handle_started(t(0), true);
        assert_eq!(h.poll_action(t(5)), Action::Idle);
        assert_eq!(h.poll_timeout(), Some(t(0) + HOOK_LIMIT));
        h.handle_exited(t(6));
        assert_eq!(h.poll_action(t(6)), Action::Run(ev(Kind::Del, 1)));
        h.handle_started(t(6), true);
        h.handle_exited(t(7));
        assert_eq!(h.poll_action(t(7)), Action::Idle);
        assert_eq!(h.poll_timeout(), None);
    }

    #[test]
    fn queue_is_bounded_and_drops_are_counted() {
        let mut h = Hook::new();
        for i in 0..(MAX_QUEUED + 10) {
            h.push(ev(Kind::Old, (i % 250) as u8));
        }
        assert_eq!(h.queued(), MAX_QUEUED);
        assert_eq!(h.take_dropped(), 10);
        assert_eq!(h.take_dropped(), 0);
    }

    #[test]
    fn a_hung_run_is_killed_once() {
        let mut h = Hook::new();
        h.push(ev(Kind::Add, 1));
        assert!(matches!(h.poll_action(t(0)), Action::Run(_)));
        h.handle_started(t(0), true);
        let limit = t(0) + HOOK_LIMIT;
        assert_eq!(h.poll_action(limit), Action::Kill);
        assert_eq!(h.poll_action(limit), Action::Idle);
        assert_eq!(h.poll_timeout(), None);
        h.handle_exited(limit);
        assert!(!h.is_running());
    }

    /// A program that cannot start does not spin: each failure doubles
    /// the wait up to RETRY_MAX, and the loop's timeout says when.
    #[test]
    fn failed_starts_back_off_without_spinning() {
        let mut h = Hook::new();
        for i in 0..20 {
            h.push(ev(Kind::Add, i));
        }
        let mut now = t(0);
        let mut waits = Vec::new();
        for _ in 0..9 {
            let Action::Run(_) = h.poll_action(now) else {
                panic!("expected a run at {now:?}");
            };
            h.handle_started(now, false);
            assert_eq!(h.poll_action(now), Action::Idle, "no retry at once");
            let next = h.poll_timeout().unwrap();
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let Action::Run(_) = h.poll_action(now) else {
            panic!()
        };
        h.handle_started(now, true);
        h.handle_exited(now);
        let Action::Run(_) = h.poll_action(now) else {
            panic!("a success resets the back-off")
        };
    }
}
