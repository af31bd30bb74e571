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

/// What one network's probe deadline depends on (the server's fields, or
/// a network's that is not entered: `poll_timeout` takes `&self`).
pub(super) struct Probing<'a> {
    pub(super) probe_ms: u32,
    pub(super) ahead: &'a [Ahead],
    pub(super) probe_ahead: usize,
    pub(super) table: &'a LeaseTable,
    pub(super) pending: &'a [Pending],
    pub(super) max_leases: u32,
}

/// The earliest deadline of a network: a pending probe's, a reserve
/// probe's, or a reserve entry going stale.
pub(super) fn deadline(n: &Probing<'_>) -> Option<Instant> {
    let pending = n.pending.iter().map(|p| p.deadline).min();
    // Room for another reserve address (as `refill_ahead` judges it),
    // and a free address to take.
    let used = n.table.len() + n.pending.len() + n.ahead.len();
    let max = usize::try_from(n.max_leases).unwrap_or(usize::MAX);
    let room = used + n.probe_ahead < max && n.table.has_free();
    let refill = n.probe_ms > 0 && n.ahead.len() < n.probe_ahead && room;
    let first = n
        .ahead
        .iter()
        .map(|a| match a.state {
            AheadState::Probing { deadline } => deadline,
            AheadState::Free { since } => after(since, FRESH_MS),
        })
        .min();
    let ahead = match (refill, first) {
        // Topping up is due now: the driver calls handle_timeout at
        // once (a zero instant is always past).
        (true, _) => Some(Instant::from_millis(0)),
        (false, f) => f,
    };
    [pending, ahead].into_iter().flatten().min()
}

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
    /// Applies to every local network (relayed ones are never probed).
    pub fn set_probe_ahead(&mut self, n: usize) {
        for k in 0..=self.others.len() {
            self.enter(k);
            if k == 0 || self.probe_ms > 0 {
                self.probe_ahead = n;
            }
            while self.ahead.len() > self.probe_ahead {
                if let Some(a) = self.ahead.pop() {
                    self.probes.retain(|q| q.ip != a.ip);
                    self.table.unreserve(a.ip);
                }
            }
            self.enter(k);
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
                        link: self.link,
                        icmp: self.probe_icmp,
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
                link: self.link,
                icmp: self.probe_icmp,
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

    /// The earliest deadline of the network entered: a pending probe's,
    /// a reserve probe's, or a reserve entry going stale.
    pub(super) fn probe_deadline(&self) -> Option<Instant> {
        deadline(&Probing {
            probe_ms: self.probe_ms,
            ahead: &self.ahead,
            probe_ahead: self.probe_ahead,
            table: &self.table,
            pending: &self.pending,
            max_leases: self.config.max_leases,
        })
    }

    /// Forgets the reserve (reload: the table is rebuilt).
    pub(super) fn clear_ahead(&mut self) {
        self.ahead.clear();
    }
}
