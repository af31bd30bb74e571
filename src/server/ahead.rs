//! Probe ahead: a small reserve of addresses found free by an ARP probe
//! within the last [`FRESH_MS`], so the OFFER for a new client goes out at
//! once instead of after `-a` milliseconds.
//!
//! BusyBox's `-a` semantics stay: no address is offered to a new client
//! unless a probe of it found nobody within the last few seconds (a
//! probe older than that is redone, on the client's time, as before).
//! The reserve is [`Server::set_probe_ahead`] addresses (default
//! [`PROBE_AHEAD`]), taken from the pool like any new address (reserved
//! in the table, never offered to anyone else, not persisted), re-probed
//! when stale, so an idle server sends `PROBE_AHEAD` ARP requests per
//! `FRESH_MS` (0.2 a second). It never takes the last free slots of a
//! table near `max_leases`, and a conflict is held for `conflict_time` as
//! a client's probe's would be. Off when probing is off (`-a 0`).

use super::*;

/// Default number of addresses kept probed ahead.
pub const PROBE_AHEAD: usize = 2;
/// How long a probe's "free" answer is trusted.
pub const FRESH_MS: u64 = 10_000;
/// Ahead probe marker MAC: no client (answers from it are not filtered).
const NO_CLIENT: MacAddr = MacAddr([0; 6]);

/// An address of the reserve.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ahead {
    pub(super) ip: Ipv4Addr,
    /// Probe in flight: its deadline; else when it was found free.
    state: AheadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AheadState {
    Probing { deadline: Instant },
    Free { since: Instant },
}

fn after(now: Instant, ms: u64) -> Instant {
    Instant::from_millis(now.as_millis().saturating_add(ms))
}

impl Server {
    /// Sets how many addresses are kept probed ahead (0 turns it off;
    /// pending reserve addresses are given back).
    pub fn set_probe_ahead(&mut self, n: usize) {
        self.probe_ahead = n;
        while self.ahead.len() > n {
            if let Some(a) = self.ahead.pop() {
                self.probes.retain(|q| q.ip != a.ip);
                self.table.unreserve(a.ip);
            }
        }
    }

    /// A fresh reserve address for a new client, taken out of the
    /// reserve (still reserved in the table); `None` if there is none.
    pub(super) fn take_fresh(&mut self, now: Instant) -> Option<Ipv4Addr> {
        let i = self.ahead.iter().position(|a| match a.state {
            AheadState::Free { since } => now.as_millis() < since.as_millis() + FRESH_MS,
            AheadState::Probing { .. } => false,
        })?;
        let a = self.ahead.swap_remove(i);
        debug!("{} probed free ahead, offering at once", a.ip);
        Some(a.ip)
    }

    /// A stale reserve address (reserved in the table), to be probed for
    /// a client when the pool has nothing else.
    pub(super) fn take_stale(&mut self) -> Option<Ipv4Addr> {
        let i = self
            .ahead
            .iter()
            .position(|a| matches!(a.state, AheadState::Free { .. }))?;
        Some(self.ahead.swap_remove(i).ip)
    }

    /// Tops the reserve up and re-probes stale entries.
    pub(super) fn refill_ahead(&mut self, now: Instant) {
        if self.probe_ms == 0 || self.probe_ahead == 0 {
            return;
        }
        let deadline = after(now, u64::from(self.probe_ms) + PROBE_SLACK_MS);
        for a in &mut self.ahead {
            if let AheadState::Free { since } = a.state {
                if now.as_millis() >= since.as_millis() + FRESH_MS {
                    a.state = AheadState::Probing { deadline };
                    self.probes.push_back(Probe {
                        ip: a.ip,
                        safe_mac: NO_CLIENT,
                    });
                }
            }
        }
        while self.ahead.len() < self.probe_ahead {
            // Never the last free slots: keep room for pending clients.
            let used = self.table.len() + self.pending.len() + self.ahead.len();
            let max = usize::try_from(self.config.max_leases).unwrap_or(usize::MAX);
            if used + self.probe_ahead + 1 > max {
                return;
            }
            let Some(ip) = self.table.allocate_no_evict(NO_CLIENT) else {
                return;
            };
            self.ahead.push(Ahead {
                ip,
                state: AheadState::Probing { deadline },
            });
            self.probes.push_back(Probe {
                ip,
                safe_mac: NO_CLIENT,
            });
        }
    }

    /// An answer for a reserve address; false if `ip` is not one.
    pub(super) fn ahead_probed(&mut self, now: Instant, ip: Ipv4Addr, in_use: bool) -> bool {
        let Some(i) = self.ahead.iter().position(|a| a.ip == ip) else {
            return false;
        };
        if in_use {
            self.ahead.swap_remove(i);
            let secs = self.config.conflict_time;
            info!("{ip} belongs to someone, reserving it for {secs} seconds");
            if self.table.conflict(now, ip, secs).is_some() {
                self.queue_record(now, ip);
            } else {
                self.table.unreserve(ip);
            }
        } else if let Some(a) = self.ahead.get_mut(i) {
            a.state = AheadState::Free { since: now };
        }
        true
    }

    /// Reserve probes past their deadline count as free (as a client's).
    pub(super) fn ahead_timeout(&mut self, now: Instant) {
        for a in &mut self.ahead {
            if let AheadState::Probing { deadline } = a.state {
                if deadline <= now {
                    a.state = AheadState::Free { since: now };
                }
            }
        }
    }

    /// The earliest reserve deadline: a probe's, or an entry going stale.
    pub(super) fn ahead_deadline(&self) -> Option<Instant> {
        let refill = self.probe_ms > 0 && self.ahead.len() < self.probe_ahead && self.ahead_room();
        let first = self
            .ahead
            .iter()
            .map(|a| match a.state {
                AheadState::Probing { deadline } => deadline,
                AheadState::Free { since } => after(since, FRESH_MS),
            })
            .min();
        match (refill, first) {
            // Topping up is due now: the driver calls handle_timeout at
            // once (a zero instant is always past).
            (true, _) => Some(Instant::from_millis(0)),
            (false, f) => f,
        }
    }

    /// Room for another reserve address (as [`Server::refill_ahead`]
    /// judges it), and a free address to take.
    fn ahead_room(&self) -> bool {
        let used = self.table.len() + self.pending.len() + self.ahead.len();
        let max = usize::try_from(self.config.max_leases).unwrap_or(usize::MAX);
        used + self.probe_ahead < max && self.table.has_free()
    }

    /// Forgets the reserve (reload: the table is rebuilt).
    pub(super) fn clear_ahead(&mut self) {
        self.ahead.clear();
    }
}
