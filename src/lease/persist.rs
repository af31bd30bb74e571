//! When udhcpd writes what: the persistence policy, sans-I/O.
//!
//! The [`Persister`] is told the time, the sizes of the pending work and the
//! results of the writes the driver did for it, and answers with the next
//! thing to do ([`Action`]) and when to ask again
//! ([`Persister::poll_timeout`]). It does no I/O and reads no clock, so
//! every rule below is a virtual-clock unit test; `applets/udhcpd.rs` only
//! executes its answers, and the client–server simulation drives it the
//! same way over a `MemDisk`.
//!
//! # The contract (one loop iteration of the driver)
//! ```text
//! loop {
//!     let sizes = Sizes { unsynced: server.unsynced_len(), journal_len: store.journal_len(),
//!                         compacted_len: store.compacted_len(), table_len: server.table().len() };
//!     match persister.poll_action(now, &sizes) {
//!         Action::Append => {
//!             let through = server.persist_seq();
//!             let r = store.append(wall_now, server.unsynced());
//!             if r.is_ok() { server.handle_persisted(now, through) }   // releases held ACKs
//!             persister.handle_append(now, r.as_ref().map(|_| ()));
//!         }
//!         Action::Compact => {
//!             let through = server.persist_seq();
//!             let r = store.compact(wall_now, || server.leases(now));
//!             if r.is_ok() { server.handle_persisted(now, through) }
//!             persister.handle_compact(now, r.as_ref().map(|_| ()));
//!         }
//!         Action::Notify => { let ok = spawn(notify_file); persister.handle_notify_started(now, ok) }
//!         Action::KillNotify => { kill(); persister.handle_notify_exited(now) }
//!         Action::Idle => break,
//!     }
//! }
//! sleep until min(persister.poll_timeout(), other timers) or I/O
//! ```
//! (`handle_notify_exited` also when the child is reaped on SIGCHLD.)
//! Each `Append`/`Compact` answer is followed by exactly one `handle_*`
//! call; `poll_action` never answers the same failing action again before
//! its back-off has passed, and `poll_timeout` is never in the past when
//! `poll_action` has just answered `Idle`: the loop cannot spin.
//!
//! # Rules
//! - **Append** whenever the server holds unsynced changes (one batch per
//!   answer: group commit), unless appends are backing off.
//! - **Compact** (rewrite the lease file from the table) at startup (no
//!   notify), every `auto_time` s, on request (SIGUSR1, SIGHUP), when the
//!   journal has grown by more than max([`JOURNAL_BUDGET_MIN`], 2 × the
//!   lease file) since the last compaction, right after a failed append
//!   (a compaction writes the whole table, so it covers the changes the
//!   journal could not take: disk full for the journal but not for the
//!   file), and with `notify_file` set, at most once per
//!   [`NOTIFY_DEBOUNCE`] after lease changes became durable (BusyBox runs
//!   the script after every ACK; the script sees a lease file holding the
//!   new lease, as with BusyBox).
//! - **Notify** after every compaction that notifies, one run at a time:
//!   a compaction while it runs queues exactly one rerun; a run past
//!   [`NOTIFY_LIMIT`] is killed.
//! - **Back-off**: a failed append or compaction is retried after
//!   [`backoff`] (1 s, doubling, capped at 60 s), separately for the two.
//!   The first failure is logged as an error, retries at debug level, the
//!   recovery once ("writable again"): a board whose disk is full logs
//!   O(1) lines and sleeps, it does not spin.

use core::fmt;
use core::time::Duration;

use log::{debug, error, info};

use crate::time::Instant;

/// The journal may grow by this much (or twice the lease file, if more)
/// before a compaction.
pub const JOURNAL_BUDGET_MIN: u64 = 64 * 1024;
/// At most one ACK-triggered rewrite + notify per this interval.
pub const NOTIFY_DEBOUNCE: Duration = Duration::from_secs(1);
/// A notify_file run still going after this is killed (its whole group).
pub const NOTIFY_LIMIT: Duration = Duration::from_secs(60);
/// First retry delay after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Bytes of the lease file's header and of one record (BusyBox's format,
/// `lease::file`): the budget compares the journal with the file.
const FILE_HEADER: u64 = super::file::HEADER_LEN as u64;
const FILE_RECORD: u64 = super::file::RECORD_LEN as u64;

/// The delay before retry number `failures` (1 = after the first
/// failure): 1 s, 2 s, 4 s, … capped at 60 s. Never zero, so a retry loop
/// driven by it cannot spin.
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(6);
    (BACKOFF_MIN * (1u32 << shift)).min(BACKOFF_MAX)
}

/// What the persister needs to know from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistConfig {
    /// `auto_time`: rewrite the lease file every this many seconds (0 =
    /// never).
    pub auto_time: u32,
    /// `notify_file` is set: run it after lease-file rewrites.
    pub notify: bool,
}

impl PersistConfig {
    /// The persistence settings of a server config.
    pub fn from_server(config: &crate::conf::ServerConfig) -> PersistConfig {
        PersistConfig {
            auto_time: config.auto_time,
            notify: config.notify_file.is_some(),
        }
    }
}

/// The sizes the persister decides on, read by the driver before each
/// [`Persister::poll_action`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Changes the server holds that are not durable yet
    /// (`Server::unsynced_len`).
    pub unsynced: usize,
    /// `LeaseStore::journal_len`.
    pub journal_len: u64,
    /// `LeaseStore::compacted_len`.
    pub compacted_len: u64,
    /// Entries in the lease table (the lease file has one record each).
    pub table_len: usize,
}

/// What the driver should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Append the server's unsynced changes to the journal (one write, one
    /// fdatasync); report with [`Persister::handle_append`].
    Append,
    /// Rewrite the lease file from the table; report with
    /// [`Persister::handle_compact`].
    Compact,
    /// Start `notify_file LEASE_FILE` (without waiting); report with
    /// [`Persister::handle_notify_started`].
    Notify,
    /// The running `notify_file` is past [`NOTIFY_LIMIT`]: kill its process
    /// group, then call [`Persister::handle_notify_exited`].
    KillNotify,
    /// Nothing to do now: wait for I/O or [`Persister::poll_timeout`].
    Idle,
}

/// What a `handle_*` call logged, so tests can count log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// Nothing (a success after successes).
    Nothing,
    /// An error: the first failure after a success.
    Error,
    /// A debug line: a retry that failed again.
    Debug,
    /// An info line: the first success after failures.
    Recovered,
}

/// A retry state: consecutive failures and when to try again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Failing {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Failing {
    fn ready(&self, now: Instant) -> bool {
        self.retry_at.map_or(true, |t| t <= now)
    }

    /// Records a failure; true if it is the first (log it loudly).
    fn fail(&mut self, now: Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + backoff(self.failures));
        self.failures == 1
    }

    /// Records a success; true if it ends a failing state.
    fn succeed(&mut self) -> bool {
        let was = self.failures > 0;
        *self = Failing::default();
        was
    }
}

/// A requested compaction: whether it runs `notify_file` afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Quiet,
    Notify,
}

/// The persistence policy. See the module documentation.
#[derive(Debug)]
pub struct Persister {
    config: PersistConfig,
    /// An explicit compaction request (startup, auto_time, signal).
    wanted: Option<Wanted>,
    /// A failed append asks for a compaction as a rescue.
    rescue: bool,
    next_auto: Option<Instant>,
    append: Failing,
    compact: Failing,
    /// Lease changes became durable since the last compaction (tracked
    /// only with notify).
    notify_dirty: bool,
    notify_not_before: Instant,
    /// A compaction finished and its notify run is still to start.
    notify_due: bool,
    /// The running notify_file's kill deadline.
    notify_running: Option<Instant>,
    /// A compaction happened while notify ran: run it once more after.
    notify_rerun: bool,
    /// Whether the last `poll_action` saw unsynced changes.
    unsynced: bool,
    /// Whether the last `poll_action` saw the journal past its budget.
    over_budget: bool,
}

impl Persister {
    /// A persister starting at `now`: a quiet compaction (the replayed
    /// journal folded into a fresh lease file, no notify) is the first
    /// thing it asks for; `auto_time` counts from `now`.
    pub fn new(config: PersistConfig, now: Instant) -> Persister {
        let mut p = Persister {
            config,
            wanted: Some(Wanted::Quiet),
            rescue: false,
            next_auto: None,
            append: Failing::default(),
            compact: Failing::default(),
            notify_dirty: false,
            notify_not_before: now,
            notify_due: false,
            notify_running: None,
            notify_rerun: false,
            unsynced: false,
            over_budget: false,
        };
        p.arm_auto(now);
        p
    }

    fn arm_auto(&mut self, now: Instant) {
        let secs = self.config.auto_time;
        self.next_auto = (secs > 0).then(|| now + Duration::from_secs(u64::from(secs)));
    }

    /// A new config (SIGHUP): `auto_time` and notify take effect now.
    pub fn set_config(&mut self, config: PersistConfig, now: Instant) {
        self.config = config;
        if !self.config.notify {
            self.notify_dirty = false;
            self.notify_due = false;
        }
        self.arm_auto(now);
    }

    /// Rewrite the lease file (and notify) as soon as possible: SIGUSR1, a
    /// reloaded config. `auto_time` restarts from `now`.
    pub fn request_compaction(&mut self, now: Instant) {
        self.wanted = Some(Wanted::Notify);
        self.arm_auto(now);
    }

    /// True while appends or compactions are failing (ACKs are held).
    pub fn is_failing(&self) -> bool {
        self.append.failures > 0 || self.compact.failures > 0
    }

    /// Consecutive failures of appends and of compactions.
    pub fn failures(&self) -> (u32, u32) {
        (self.append.failures, self.compact.failures)
    }

    /// Whether the journal has grown past its budget since the last
    /// compaction: max([`JOURNAL_BUDGET_MIN`], 2 × the lease file), so
    /// replay at startup stays short and the journal bounded.
    pub fn over_budget(sizes: &Sizes) -> bool {
        let grown = sizes.journal_len.saturating_sub(sizes.compacted_len);
        let file_len = FILE_HEADER + FILE_RECORD * sizes.table_len as u64;
        grown > JOURNAL_BUDGET_MIN.max(2 * file_len)
    }

    /// Whether a compaction is wanted at `now` (ignoring back-off).
    fn compaction_wanted(&self, now: Instant) -> bool {
        self.wanted.is_some()
            || (self.rescue && self.unsynced)
            || self.over_budget
            || (self.config.notify
                && self.notify_dirty
                && self.notify_running.is_none()
                && now >= self.notify_not_before)
    }

    /// The next thing to do at `now`, given `sizes`.
    pub fn poll_action(&mut self, now: Instant, sizes: &Sizes) -> Action {
        self.unsynced = sizes.unsynced > 0;
        self.over_budget = Self::over_budget(sizes);
        if self.notify_running.is_some_and(|t| now >= t) {
            return Action::KillNotify;
        }
        if self.next_auto.is_some_and(|t| now >= t) {
            self.wanted = Some(Wanted::Notify);
            self.arm_auto(now);
        }
        if self.unsynced && self.append.ready(now) {
            return Action::Append;
        }
        if self.compaction_wanted(now) && self.compact.ready(now) {
            return Action::Compact;
        }
        if self.notify_due && self.notify_running.is_none() {
            return Action::Notify;
        }
        Action::Idle
    }

    /// When to call [`poll_action`](Self::poll_action) again at the latest
    /// (besides after I/O). `None`: only after I/O.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = self.next_auto;
        let mut add = |x: Option<Instant>| {
            t = match (t, x) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        add(self.notify_running);
        if self.unsynced {
            add(self.append.retry_at);
        }
        if self.wanted.is_some() || (self.rescue && self.unsynced) || self.over_budget {
            add(self.compact.retry_at);
        }
        if self.config.notify && self.notify_dirty && self.notify_running.is_none() {
            add(Some(self.notify_not_before.max(
                self.compact.retry_at.unwrap_or(self.notify_not_before),
            )));
        }
        t
    }

    /// The result of an [`Action::Append`]. On `Ok` the driver has called
    /// `Server::handle_persisted`.
    pub fn handle_append(&mut self, now: Instant, result: Result<(), &dyn fmt::Display>) -> Logged {
        match result {
            Ok(()) => {
                self.rescue = false;
                if self.config.notify {
                    self.notify_dirty = true;
                }
                if self.append.succeed() {
                    info!("lease journal writable again, sending held ACKs");
                    return Logged::Recovered;
                }
                Logged::Nothing
            }
            Err(e) => {
                self.rescue = true;
                if self.append.fail(now) {
                    error!("{e}; ACKs held until the lease journal can be written");
                    Logged::Error
                } else {
                    debug!("{e}; retry {} failed", self.append.failures);
                    Logged::Debug
                }
            }
        }
    }

    /// The result of an [`Action::Compact`]. On `Ok` the driver has called
    /// `Server::handle_persisted`.
    pub fn handle_compact(
        &mut self,
        now: Instant,
        result: Result<(), &dyn fmt::Display>,
    ) -> Logged {
        match result {
            Ok(()) => {
                let recovered = self.compact.succeed();
                if recovered {
                    info!("lease file written again");
                }
                if self.append.failures > 0 {
                    // The rewrite covered what the journal could not take.
                    info!("lease changes made durable by a lease file rewrite, sending held ACKs");
                }
                // Quiet only for the startup fold-in itself: changes that
                // became durable meanwhile (the rewrite was retried while
                // appends went on) are news for notify_file.
                let notify = self.wanted != Some(Wanted::Quiet) || self.notify_dirty;
                self.wanted = None;
                self.rescue = false;
                self.notify_dirty = false;
                if self.config.notify && notify {
                    if self.notify_running.is_some() {
                        self.notify_rerun = true;
                    } else {
                        self.notify_due = true;
                    }
                }
                if recovered {
                    Logged::Recovered
                } else {
                    Logged::Nothing
                }
            }
            Err(e) => {
                if self.compact.fail(now) {
                    error!("{e}");
                    Logged::Error
                } else {
                    debug!("{e}; retry {} failed", self.compact.failures);
                    Logged::Debug
                }
            }
        }
    }

    /// The result of an [`Action::Notify`]: `started` if the process runs
    /// (a missing script counts as not started; BusyBox ignores it).
    pub fn handle_notify_started(&mut self, now: Instant, started: bool) {
        self.notify_due = false;
        self.notify_not_before = now + NOTIFY_DEBOUNCE;
        self.notify_running = started.then(|| now + NOTIFY_LIMIT);
    }

    /// The notify_file run ended (reaped, or killed after
    /// [`Action::KillNotify`]).
    pub fn handle_notify_exited(&mut self, _now: Instant) {
        self.notify_running = None;
        if self.notify_rerun {
            self.notify_rerun = false;
            self.notify_due = true;
        }
    }

    /// True while a notify_file run is in progress.
    pub fn notify_running(&self) -> bool {
        self.notify_running.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    /// A virtual-clock driver: the persister, a fake store whose appends
    /// and compactions succeed or fail on command, and a client that makes
    /// one lease change every `request_every` ms.
    struct Sim {
        p: Persister,
        now: Instant,
        unsynced: usize,
        journal_len: u64,
        compacted_len: u64,
        table_len: usize,
        append_ok: bool,
        compact_ok: bool,
        request_every: Option<u64>,
        next_request: Instant,
        appends: u32,
        compacts: u32,
        notifies: u32,
        errors: u32,
        debugs: u32,
        recovered: u32,
        steps: u32,
    }

    impl Sim {
        fn new(config: PersistConfig) -> Sim {
            Sim {
                p: Persister::new(config, ms(0)),
                now: ms(0),
                unsynced: 0,
                journal_len: 0,
                compacted_len: 0,
                table_len: 10,
                append_ok: true,
                compact_ok: true,
                request_every: None,
                next_request: ms(0),
                appends: 0,
                compacts: 0,
                notifies: 0,
                errors: 0,
                debugs: 0,
                recovered: 0,
                steps: 0,
            }
        }

        fn count(&mut self, l: Logged) {
            match l {
                Logged::Error => self.errors += 1,
                Logged::Debug => self.debugs += 1,
                Logged::Recovered => self.recovered += 1,
                Logged::Nothing => {}
            }
        }

        /// Runs until `until`, asserting the loop never spins: an `Idle`
        /// answer always comes with a future deadline (or none), and the
        /// number of answers stays far below one per millisecond.
        fn run(&mut self, until: u64) {
            let until = ms(until);
            while self.now < until {
                self.steps += 1;
                assert!(
                    self.steps < 200_000,
                    "persister loop spins at {:?}",
                    self.now
                );
                if let Some(every) = self.request_every {
                    if self.now >= self.next_request {
                        self.unsynced += 1;
                        self.next_request = self.now + Duration::from_millis(every);
                    }
                }
                let sizes = Sizes {
                    unsynced: self.unsynced,
                    journal_len: self.journal_len,
                    compacted_len: self.compacted_len,
                    table_len: self.table_len,
                };
                let now = self.now;
                match self.p.poll_action(now, &sizes) {
                    Action::Append => {
                        self.appends += 1;
                        let l = if self.append_ok {
                            self.journal_len += 51 * self.unsynced as u64;
                            self.unsynced = 0;
                            self.p.handle_append(now, Ok(()))
                        } else {
                            self.p
                                .handle_append(now, Err(&"can't write: No space left"))
                        };
                        self.count(l);
                    }
                    Action::Compact => {
                        self.compacts += 1;
                        let l = if self.compact_ok {
                            self.compacted_len = self.journal_len;
                            self.unsynced = 0;
                            self.p.handle_compact(now, Ok(()))
                        } else {
                            self.p
                                .handle_compact(now, Err(&"can't remove: Is a directory"))
                        };
                        self.count(l);
                    }
                    Action::Notify => {
                        self.notifies += 1;
                        self.p.handle_notify_started(now, true);
                        // A quick script: done 10 ms later (reaped at once
                        // here; the deadline logic is tested separately).
                        self.p.handle_notify_exited(now);
                    }
                    Action::KillNotify => self.p.handle_notify_exited(now),
                    Action::Idle => {
                        let next = self.p.poll_timeout();
                        assert!(
                            next.map_or(true, |t| t > now),
                            "idle with a deadline not in the future ({next:?} at {now:?}): spin"
                        );
                        let mut wake = next.unwrap_or(until).min(until);
                        if self.request_every.is_some() {
                            wake = wake.min(self.next_request.max(now + Duration::from_millis(1)));
                        }
                        self.now = wake;
                    }
                }
            }
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute() {
        let secs: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(backoff(0), BACKOFF_MIN, "never zero, even if misused");
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn startup_compaction_is_quiet_then_auto_time_notifies() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 60,
            notify: true,
        });
        s.run(1);
        assert_eq!(
            (s.compacts, s.notifies),
            (1, 0),
            "startup: rewrite, no notify"
        );
        s.run(59_999);
        assert_eq!(s.compacts, 1);
        s.run(60_001);
        assert_eq!((s.compacts, s.notifies), (2, 1));
        s.run(180_001);
        assert_eq!((s.compacts, s.notifies), (4, 3));
    }

    /// Issue 8 defect 2: with notify_file set and a compaction that can
    /// never complete (a `.tmp` that is a non-empty directory) while the
    /// journal still takes appends, every append made the loop want a
    /// rewrite at once, again and again: 100 % CPU and one error line per
    /// attempt. Now: back-off, one error line.
    #[test]
    fn failing_compaction_with_notify_backs_off_and_logs_once() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 7200,
            notify: true,
        });
        s.compact_ok = false;
        s.request_every = Some(500);
        s.run(600_000);
        // 1 + 2 + 4 + … + 32 s, then one a minute: 6 + 10 tries in 10 min.
        assert!(s.compacts <= 17, "{} compactions in 10 min", s.compacts);
        assert!(s.compacts >= 10, "{} compactions in 10 min", s.compacts);
        assert_eq!(s.errors, 1, "one error line, then debug");
        assert_eq!(s.debugs + s.errors, s.compacts);
        assert_eq!(s.unsynced, 0, "appends kept working: nothing held");
        assert_eq!(s.notifies, 0, "no rewrite, so no notify");
        // The disk is fixed: the next retry rewrites, notifies, logs once.
        s.compact_ok = true;
        s.errors = 0;
        s.run(700_000);
        assert_eq!(s.recovered, 1);
        assert!(s.notifies >= 1);
        assert_eq!(s.errors, 0);
        assert!(!s.p.is_failing());
    }

    /// A startup rewrite that fails leaves the quiet request pending; a
    /// lease ACKed meanwhile must still reach notify_file once the rewrite
    /// succeeds (BusyBox runs it after every ACK). Found end to end by
    /// tests/udhcpd_faults.rs: with one ACK and no later traffic, the
    /// retried rewrite was taken as the quiet startup one and the notify
    /// was lost for good.
    #[test]
    fn changes_made_while_the_startup_rewrite_fails_are_notified() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 7200,
            notify: true,
        });
        s.compact_ok = false;
        s.run(500);
        assert_eq!((s.compacts, s.notifies), (1, 0));
        s.unsynced = 1; // one ACK, then silence
        s.run(600);
        assert_eq!((s.appends, s.unsynced), (1, 0));
        s.compact_ok = true;
        s.run(120_000);
        assert_eq!(s.recovered, 1);
        assert_eq!(s.notifies, 1, "the ACKed lease is notified once");
    }

    #[test]
    fn failing_appends_back_off_try_a_rewrite_and_recover_once() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 0,
            notify: false,
        });
        s.run(1);
        s.append_ok = false;
        s.compact_ok = false;
        s.request_every = Some(100);
        s.run(300_000);
        assert!(s.appends <= 12, "{} appends in 5 min", s.appends);
        assert!(s.compacts <= 13, "{} rescue rewrites in 5 min", s.compacts);
        assert_eq!(s.errors, 2, "one line for appends, one for rewrites");
        assert!(s.unsynced > 0);
        assert!(s.p.is_failing());
        // Disk space comes back: the next append retry succeeds.
        s.append_ok = true;
        s.compact_ok = true;
        s.run(361_000);
        assert_eq!(s.unsynced, 0);
        assert!(s.recovered >= 1);
        assert!(!s.p.is_failing());
    }

    #[test]
    fn a_rewrite_rescues_changes_the_journal_cannot_take() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 0,
            notify: false,
        });
        s.run(1);
        s.append_ok = false;
        s.unsynced = 3;
        s.run(2);
        assert_eq!(
            (s.appends, s.compacts),
            (1, 2),
            "append failed, rewrite at once"
        );
        assert_eq!(s.unsynced, 0, "the rewrite made them durable");
    }

    #[test]
    fn journal_budget_triggers_a_compaction() {
        let mut s = Sim::new(PersistConfig {
            auto_time: 0,
            notify: false,
        });
        s.run(1);
        assert_eq!(s.compacts, 1);
        s.journal_len = JOURNAL_BUDGET_MIN;
        s.run(2);
        assert_eq!(s.compacts, 1, "at the budget: not yet");
        s.journal_len = JOURNAL_BUDGET_MIN + 1;
        s.run(3);
        assert_eq!(s.compacts, 2, "past it: compacted");
        // A big table raises the budget to twice the lease file.
        s.table_len = 10_000;
        s.journal_len = s.compacted_len + 2 * (8 + 36 * 10_000);
        s.run(4);
        assert_eq!(s.compacts, 2);
        s.journal_len += 1;
        s.run(5);
        assert_eq!(s.compacts, 3);
    }

    #[test]
    fn notify_is_debounced_and_rerun_once_after_a_busy_script() {
        let mut p = Persister::new(
            PersistConfig {
                auto_time: 0,
                notify: true,
            },
            ms(0),
        );
        let sz = |unsynced| Sizes {
            unsynced,
            ..Sizes::default()
        };
        assert_eq!(p.poll_action(ms(0), &sz(0)), Action::Compact);
        p.handle_compact(ms(0), Ok(()));
        assert_eq!(p.poll_action(ms(0), &sz(0)), Action::Idle, "startup: quiet");
        // An ACK made durable: rewrite + notify.
        assert_eq!(p.poll_action(ms(10), &sz(1)), Action::Append);
        p.handle_append(ms(10), Ok(()));
        assert_eq!(p.poll_action(ms(10), &sz(0)), Action::Compact);
        p.handle_compact(ms(10), Ok(()));
        assert_eq!(p.poll_action(ms(10), &sz(0)), Action::Notify);
        p.handle_notify_started(ms(10), true);
        // More ACKs while it runs: no rewrite until it ends and 1 s passed.
        assert_eq!(p.poll_action(ms(20), &sz(1)), Action::Append);
        p.handle_append(ms(20), Ok(()));
        assert_eq!(p.poll_action(ms(20), &sz(0)), Action::Idle);
        assert_eq!(p.poll_timeout(), Some(ms(10) + NOTIFY_LIMIT));
        // SIGUSR1 while it runs: rewrite now, rerun queued.
        p.request_compaction(ms(30));
        assert_eq!(p.poll_action(ms(30), &sz(0)), Action::Compact);
        p.handle_compact(ms(30), Ok(()));
        assert_eq!(p.poll_action(ms(30), &sz(0)), Action::Idle);
        p.handle_notify_exited(ms(500));
        assert_eq!(
            p.poll_action(ms(500), &sz(0)),
            Action::Notify,
            "the one rerun"
        );
        p.handle_notify_started(ms(500), true);
        // A script that hangs is killed at its limit.
        let limit = ms(500) + NOTIFY_LIMIT;
        assert_eq!(p.poll_timeout(), Some(limit));
        assert_eq!(p.poll_action(limit, &sz(0)), Action::KillNotify);
        p.handle_notify_exited(limit);
        assert_eq!(p.poll_action(limit, &sz(0)), Action::Idle);
        assert_eq!(p.poll_timeout(), None);
    }

    /// Random results and events for many seeds: the loop never sees a
    /// past deadline while idle, and every change is eventually durable
    /// once the disk works.
    #[test]
    fn never_idle_with_a_past_deadline_random() {
        for seed in 1..200u64 {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut rnd = move |n: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % n
            };
            let mut s = Sim::new(PersistConfig {
                auto_time: [0, 5, 60][rnd(3) as usize] as u32,
                notify: rnd(2) == 0,
            });
            s.request_every = Some(1 + rnd(3000));
            for phase in 0..20u64 {
                s.append_ok = rnd(3) != 0;
                s.compact_ok = rnd(3) != 0;
                if rnd(5) == 0 {
                    s.p.request_compaction(s.now);
                }
                s.run((phase + 1) * 30_000);
            }
            s.append_ok = true;
            s.compact_ok = true;
            s.request_every = None;
            s.run(20 * 30_000 + 125_000);
            assert_eq!(s.unsynced, 0, "seed {seed}");
            // A new change after the disk healed is durable within the
            // longest back-off.
            s.unsynced = 1;
            s.run(20 * 30_000 + 125_000 + 61_000);
            assert_eq!(s.unsynced, 0, "seed {seed}");
            assert_eq!(s.p.failures().0, 0, "seed {seed}");
        }
    }
}
