//! The restart policy of `--monitor` (Open vSwitch's `monitor_daemon()`
//! model, our own code): a small parent runs the daemon as its child and,
//! when the child dies, decides here whether and when to start it again.
//!
//! - A child that **exits** on its own (TERM handled, a config error, `-q`
//!   done, `-n` without a lease) is not restarted: the monitor exits with
//!   the same status. Restarting would only repeat the error, in a loop.
//! - A child **killed by a signal** (abort, segfault, `kill -9` from outside,
//!   the OOM killer) is restarted, but never sooner than
//!   [`Backoff::min`] after the previous start, and the spacing doubles
//!   while crashes keep coming, up to [`Backoff::max`]. A child that ran at
//!   least [`Backoff::stable`] resets the spacing, so a daemon that crashed
//!   after a day of service is back at once.
//!
//! Pure: the caller passes the monotonic time and how the child died;
//! `sys::monitor` executes the decision.

use std::fmt;
use std::time::Duration;

use crate::time::Instant;

/// How a supervised child ended, as `waitpid(2)` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// `exit(code)`: the daemon decided to stop.
    Exited(i32),
    /// Killed by signal `signal`; `core` when it dumped core.
    Signaled { signal: i32, core: bool },
}

impl Death {
    /// The status a shell would report for it (128 + signal number).
    pub fn status(self) -> i32 {
        match self {
            Death::Exited(code) => code,
            Death::Signaled { signal, .. } => 128 + signal,
        }
    }
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Death::Exited(code) => write!(f, "exited with status {code}"),
            Death::Signaled { signal, core } => {
                write!(f, "killed by signal {signal}")?;
                if let Some(name) = signal_name(signal) {
                    write!(f, " ({name})")?;
                }
                if core {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
        }
    }
}

/// The usual name of the signals a crash or an operator produces.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// What the monitor does after a death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Stop supervising and exit with `status`.
    Stop { status: i32 },
    /// Start the daemon again at `at` (possibly now); `delay` is `at` minus
    /// the time of death, for the log line.
    Restart { at: Instant, delay: Duration },
}

/// Restart spacing with doubling back-off (see the module doc).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The least time between two starts.
    pub min: Duration,
    /// The most the spacing grows to.
    pub max: Duration,
    /// A child that ran this long resets the spacing to `min`.
    pub stable: Duration,
    spacing: Duration,
    last_start: Option<Instant>,
}

impl Default for Backoff {
    /// 2 s, doubling up to 64 s; reset after 60 s of service. At most one
    /// restart per two seconds, as the issue asks, and a crash loop settles
    /// at one attempt a minute.
    fn default() -> Backoff {
        Backoff::new(
            Duration::from_secs(2),
            Duration::from_secs(64),
            Duration::from_secs(60),
        )
    }
}

impl Backoff {
    /// A policy with the given bounds (`min` ≤ `max`).
    pub fn new(min: Duration, max: Duration, stable: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            stable,
            spacing: min,
            last_start: None,
        }
    }

    /// Record that the child was started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// The current spacing between starts (for tests and the log).
    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    /// The child died at `now`: stop, or restart when.
    pub fn died(&mut self, now: Instant, death: Death) -> Decision {
        let Death::Signaled { .. } = death else {
            return Decision::Stop {
                status: death.status(),
            };
        };
        let start = self.last_start.unwrap_or(now);
        if now.saturating_duration_since(start) >= self.stable {
            self.spacing = self.min;
        }
        let earliest = start + self.spacing;
        let at = if earliest > now { earliest } else { now };
        self.spacing = (self.spacing * 2).min(self.max);
        Decision::Restart {
            at,
            delay: at.saturating_duration_since(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KILL: Death = Death::Signaled {
        signal: 9,
        core: false,
    };

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn restart_at(d: Decision) -> Instant {
        match d {
            Decision::Restart { at, .. } => at,
            Decision::Stop { status } => panic!("stopped with {status}"),
        }
    }

    #[test]
    fn exits_are_never_restarted() {
        let mut b = Backoff::default();
        b.started(t(0));
        assert_eq!(
            b.died(t(100), Death::Exited(1)),
            Decision::Stop { status: 1 }
        );
        assert_eq!(
            b.died(t(100_000), Death::Exited(0)),
            Decision::Stop { status: 0 }
        );
    }

    #[test]
    fn a_crash_after_long_service_restarts_at_once() {
        let mut b = Backoff::default();
        b.started(t(0));
        let d = b.died(t(3_600_000), KILL);
        assert_eq!(
            d,
            Decision::Restart {
                at: t(3_600_000),
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_crash_loop_backs_off_doubling_up_to_the_cap() {
        // The child dies 10 ms after every start: the starts must be at
        // least 2, 4, 8, ... 64 s apart and never closer.
        let mut b = Backoff::default();
        let mut now = t(0);
        let mut starts = vec![now];
        b.started(now);
        for _ in 0..10 {
            now += Duration::from_millis(10);
            now = restart_at(b.died(now, KILL));
            b.started(now);
            starts.push(now);
        }
        let gaps: Vec<u64> = starts
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]).as_secs())
            .collect();
        assert_eq!(gaps, [2, 4, 8, 16, 32, 64, 64, 64, 64, 64]);
    }

    #[test]
    fn never_more_than_one_start_per_min_spacing() {
        // Whatever the death times, two starts are never closer than min.
        let mut b = Backoff::default();
        let mut now = t(5);
        b.started(now);
        let mut last = now;
        for lived in [0u64, 1, 1999, 2000, 2001, 59_999, 60_000, 0, 7, 120_000] {
            now += Duration::from_millis(lived);
            let at = restart_at(b.died(now, KILL));
            assert!(at >= now);
            assert!(
                at.saturating_duration_since(last) >= b.min,
                "start {at:?} too close to {last:?}"
            );
            now = at;
            b.started(now);
            last = now;
        }
    }

    #[test]
    fn stable_service_resets_the_spacing() {
        let mut b = Backoff::default();
        b.started(t(0));
        let at = restart_at(b.died(t(0), KILL));
        b.started(at);
        let at = restart_at(b.died(at, KILL));
        assert_eq!(b.spacing(), Duration::from_secs(8));
        b.started(at);
        // Up for a minute: back to 2 s, and the restart is immediate.
        let dead = at + Duration::from_secs(60);
        assert_eq!(restart_at(b.died(dead, KILL)), dead);
        assert_eq!(b.spacing(), Duration::from_secs(4));
    }

    #[test]
    fn causes_read_like_a_shell() {
        assert_eq!(KILL.to_string(), "killed by signal 9 (SIGKILL)");
        assert_eq!(
            Death::Signaled {
                signal: 11,
                core: true
            }
            .to_string(),
            "killed by signal 11 (SIGSEGV), core dumped"
        );
        assert_eq!(
            Death::Signaled {
                signal: 40,
                core: false
            }
            .to_string(),
            "killed by signal 40"
        );
        assert_eq!(Death::Exited(3).to_string(), "exited with status 3");
        assert_eq!(KILL.status(), 137);
    }
}
