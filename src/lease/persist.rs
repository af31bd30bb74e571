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
//!             let r = store.compact(wall_now, server.leases(now));
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
    pub fn handle_append(&mut self, now: Instant, result: Result<(), &dyn fmt::Display>) {
        match result {
            Ok(()) => {
                if self.append.succeed() {
                    info!("lease journal writable again, sending held ACKs");
                }
                self.rescue = false;
                if self.config.notify {
                    self.notify_dirty = true;
                }
            }
            Err(e) => {
                if self.append.fail(now) {
                    error!("{e}; ACKs held until the lease journal can be written");
                } else {
                    debug!("{e}; retry {} failed", self.append.failures);
                }
                self.rescue = true;
            }
        }
    }

    /// The result of an [`Action::Compact`]. On `Ok` the driver has called
    /// `Server::handle_persisted`.
    pub fn handle_compact(&mut self, now: Instant, result: Result<(), &dyn fmt::Display>) {
        match result {
            Ok(()) => {
                if self.compact.succeed() {
                    info!("lease file written again");
                }
                if self.append.failures > 0 {
                    // The rewrite covered what the journal could not take.
                    info!("lease changes made durable by a lease file rewrite, sending held ACKs");
                }
                let notify = self.wanted != Some(Wanted::Quiet);
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
            }
            Err(e) => {
                self.compact.failures = self.compact.failures.saturating_add(1);
                let _ = now;
                error!("{e}");
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
