//! udhcpc's DHCPv4 client state machine, sans-I/O (RFC 2131 §4.4, BusyBox
//! 1.37 `dhcpc.c` behaviour, written anew).
//!
//! The client never touches a socket, a clock, a process or the random
//! number generator. The driver (`applets/udhcpc.rs`) feeds it inputs and
//! drains its outputs (the quinn-proto contract: `handle_*` then `poll_*`):
//!
//! - inputs: [`Client::handle_packet`] (a DHCP payload the driver already
//!   validated at the IP/UDP level), [`Client::handle_timeout`],
//!   [`Client::handle_command`] (SIGUSR1/SIGUSR2/SIGTERM),
//!   [`Client::handle_probe`] (the `-a` ARP check result),
//!   [`Client::handle_link`] (carrier from rtnetlink), and once at start
//!   [`Client::remember`] (the lease from the state file, [`memory`]);
//! - outputs, **in this order** after every input:
//!   1. [`Client::listen_mode`]: open or close the raw / kernel UDP socket
//!      first, so a fast server's reply to what is sent next is not missed;
//!   2. [`Client::poll_transmit`] until `None`: send each message;
//!   3. [`Client::poll_event`] until `None`: run the script synchronously,
//!      start the ARP probe, daemonize, or exit;
//!   4. [`Client::poll_timeout`]: sleep until then (or until a packet or a
//!      signal), then call [`Client::handle_timeout`].
//!
//! Transmits before events is always the right order: whenever a message
//! must follow a script run (the DISCOVER after the startup `deconfig`, the
//! RELEASE of `-q -R` after `bound`), the client schedules it on a timer that
//! is already due, so it comes out of the next `handle_timeout` after the
//! script has run. Script run time needs no special input: every lease
//! deadline is an absolute [`Instant`], so time spent in a script is simply
//! time that has passed (BusyBox subtracts it by hand).
//!
//! # States (BusyBox §1.3) and timers
//!
//! One deadline at a time ([`Client::poll_timeout`]); spurious or early
//! `handle_timeout` calls are no-ops.
//!
//! | State | Listen | Deadline |
//! |---|---|---|
//! | [`State::InitSelecting`] | raw while discovering, none while waiting | next DISCOVER / leasefail; `-A` after leasefail or DECLINE; 3 s after a NAK |
//! | [`State::Requesting`] | raw | next SELECT; leasefail after 3 |
//! | [`State::Bound`] | none | T1 |
//! | [`State::Renewing`], [`State::RenewRequested`] | kernel | next renew, T2 |
//! | [`State::Rebinding`] | raw | next rebind, expiry |
//! | [`State::Released`] | none | none (waits for a command) |
//! | [`State::InitReboot`] | raw | next INIT-REBOOT REQUEST; then DISCOVER |
//!
//! DISCOVER and SELECT retransmissions are BusyBox's fixed `-T` apart
//! (`-t 3 -T 3`: leasefail after about 9 s), randomised by up to ±1 s (at
//! most a quarter of the wait, RFC 2131 §4.1). With `-t 0` the wait doubles
//! from `-T` up to 64 s (or `-T` if larger), and consecutive `-A` waits
//! double the same way, so a board without a server does not flood. Without
//! carrier ([`Client::handle_link`]) nothing is sent but every timer runs.
//! Renew and rebind retransmissions follow RFC 2131
//! §4.4.5: half the time remaining to T2 (renewing) or to expiry
//! (rebinding), at least 60 s, and never past that boundary.
//!
//! Lease timers start when the first REQUEST of the exchange was sent (RFC
//! 2131 §4.4.1), not when the ACK arrived; every renewal, rebinding and
//! SIGUSR1 renewal is a new exchange with a new xid. T1/T2 come from options 58/59 when they satisfy
//! 15 s ≤ T1 ≤ T2 ≤ lease, else 50 % / 87.5 %. A lease of 0xffffffff is
//! infinite: no renewal at all.
//!
//! # Deliberate differences from BusyBox 1.37 (docs/differences.md)
//!
//! - T1/T2 (options 58/59) honoured, sanitised (15 s ≤ T1 ≤ T2 ≤ lease,
//!   else 50 %/87.5 %); BusyBox ignores them and rebinds only in the last
//!   30 s, so renewal stalls on an unreachable server.
//! - Renew/rebind retransmission per RFC 2131 §4.4.5 (half the time left,
//!   ≥ 60 s) instead of one unicast per halving and 3 broadcasts `-T` apart.
//! - DISCOVER/SELECT `-T` apart with ±1 s jitter (RFC 2131 §4.1): devices
//!   rebooting together after a power cut do not retransmit in lockstep;
//!   `-t 0` and the `-A` waits back off exponentially (cap 64 s).
//! - Lease memory and INIT-REBOOT (RFC 2131 §3.2): an unexpired remembered
//!   lease is verified by broadcast REQUESTs before any DISCOVER.
//! - Carrier awareness: nothing sent without carrier; carrier back while
//!   bound → INIT-REBOOT at once.
//! - REQUESTING accepts only the ACK of the server it selected (option 54);
//!   REBINDING accepts ACK and NAK from any server (RFC 2131 §4.4.5).
//! - No `sleep(3)` after a NAK: a 3 s timer, signals still served.
//! - Lease timers start when the exchange's first REQUEST was sent (RFC
//!   2131 §4.4.1), not when the ACK arrived; a new xid per renewal,
//!   rebinding and SIGUSR1 (BusyBox keeps one for the whole lease); 0xffffffff is infinite (RFC 2131 §3.3) instead
//!   of INT_MAX seconds.
//! - OFFER/ACK for 0.0.0.0, broadcast, multicast, loopback or class E
//!   addresses, and messages with `op` ≠ BOOTREPLY, are ignored.
//! - `-T 0` waits 1 s between retransmissions instead of spinning.
//! - The ARP probe (`-a`) does not block the client: [`Event::Probe`] and
//!   [`Client::handle_probe`]; an unanswered request counts as "free" after
//!   the probe time plus 1 s.
//! - SIGUSR1 caps the lease at 30 s as BusyBox does, but retransmits the
//!   rebind with the §4.4.5 halving (floor `-T`) until then instead of
//!   3 broadcasts `-T` apart.

mod config;
pub mod memory;
mod message;
#[cfg(test)]
mod tests;
mod types;

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

pub use config::{request_list, send_options, Config};
pub use types::{
    Command, Destination, Event, Lease, ListenMode, Nak, Remembered, ScriptEvent, State, Transmit,
    Via,
};

use crate::time::Instant;
use crate::wire::dhcp::{code, MessageType, Packet, OP_REPLY};

/// Option 57 value we send: the RFC 2131 §2 minimum every host must accept
/// (BusyBox sends the same).
pub const MAX_MESSAGE_SIZE: u16 = 576;
/// Lease applied when the ACK has no valid option 51 (BusyBox's default).
pub const DEFAULT_LEASE_SECS: u32 = 3600;
/// Shortest lease applied; shorter server values are raised to this
/// (BusyBox's clamp, so renewals cannot come faster than every 15 s).
pub const MIN_LEASE_SECS: u32 = 30;
/// Option 51 value meaning "infinite" (RFC 2131 §3.3).
pub const INFINITE_LEASE: u32 = u32::MAX;
/// SELECTs sent before giving up on an OFFER (BusyBox hard-codes 3).
pub const SELECT_PACKETS: u32 = 3;
/// Wait after a NAK before the next DISCOVER. BusyBox blocks in `sleep(3)`;
/// we arm a timer, so signals are still served, but keep the pause so a
/// NAK storm cannot make us loop fast.
pub const NAK_BACKOFF: Duration = Duration::from_secs(3);
/// RFC 2131 §4.4.5: renew/rebind retransmissions no closer than 60 s.
pub const RENEW_RETRANSMIT_MIN: Duration = Duration::from_secs(60);
/// RFC 2131 §4.1: the DISCOVER/SELECT back-off stops doubling at 64 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(64);
/// SIGUSR1 caps the lease at this much from now, as BusyBox does, so a
/// renewal that nobody answers (a new network) falls back to DISCOVER soon.
pub const MANUAL_RENEW_CAP: Duration = Duration::from_secs(30);
/// Smallest T1 honoured from option 58 (else the defaults apply): with
/// [`MIN_LEASE_SECS`] the earliest renewal BusyBox can make.
pub const MIN_T1_SECS: u32 = 15;
/// Extra time after the `-a` probe's own timeout before we stop waiting for
/// [`Client::handle_probe`] and treat the address as free (as BusyBox does
/// when it cannot probe).
pub const PROBE_GRACE: Duration = Duration::from_secs(1);
/// Shortest retransmission wait, whatever `-T` says (`-T 0` would spin).
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Lease deadlines, absolute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Timers {
    t1: Option<Instant>,
    t2: Option<Instant>,
    expiry: Option<Instant>,
    /// Minimum renew/rebind retransmission interval: 60 s (RFC 2131
    /// §4.4.5), `-T` after SIGUSR1.
    floor: Duration,
}

/// The bookkeeping of one exchange (a DISCOVER round, the SELECTs, the
/// INIT-REBOOT REQUESTs, or the renewals of one lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Exchange {
    /// Packets sent in this round/state (BusyBox `packet_num`).
    packet_num: u32,
    /// Start of the exchange, for `secs` (BusyBox `first_secs`).
    start: Option<Instant>,
    /// When the first REQUEST (or rapid-commit DISCOVER) of this exchange
    /// went out: the lease start of its ACK. RFC 2131 §4.4.1 times the
    /// lease from "the time at which the original request was sent"; the
    /// last retransmission is too late: an ACK answering the first REQUEST
    /// can arrive after the second was sent, and the server's lease began
    /// when it handled the first, so the client would hold the address past
    /// the server's expiry (found by tests/pair_sim.rs with 3 s delays).
    first_request: Option<Instant>,
}

impl Exchange {
    /// `secs`: seconds since the exchange began, capped at 0xffff.
    fn secs(&mut self, now: Instant) -> u16 {
        let start = *self.start.get_or_insert(now);
        u16::try_from((now - start).as_secs()).unwrap_or(u16::MAX)
    }
}

/// The phases of holding a lease (the public [`State`]s with a lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Bound,
    Renewing,
    RenewRequested,
    Rebinding,
}

/// The protocol state with the data valid in it and nowhere else (the
/// smoltcp DHCP socket's shape): the lease and its timers exist only while
/// one is held, the chosen server only while requesting, the address being
/// verified only in INIT-REBOOT.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// INIT/SELECTING; `requested` is option 50 of the next DISCOVER.
    Selecting {
        x: Exchange,
        requested: Option<Ipv4Addr>,
    },
    /// INIT-REBOOT for `ip`, valid until `expiry` (`None`: infinite).
    InitReboot {
        x: Exchange,
        ip: Ipv4Addr,
        expiry: Option<Instant>,
    },
    /// SELECTs for the OFFER of `ip` by `server_id`.
    Requesting {
        x: Exchange,
        ip: Ipv4Addr,
        server_id: Ipv4Addr,
    },
    /// A lease is held.
    Holding {
        step: Step,
        lease: Box<Lease>,
        timers: Timers,
        x: Exchange,
    },
    /// After SIGUSR2; `requested` is kept for the DISCOVER after SIGUSR1.
    Released { requested: Option<Ipv4Addr> },
}

/// An ACK waiting for the `-a` probe result.
#[derive(Debug, Clone)]
struct PendingProbe {
    lease: Lease,
    /// The state the ACK arrived in (decides `bound` vs `renew`, and
    /// whether a conflict runs `deconfig`).
    from: State,
}

/// The udhcpc state machine. See the module documentation for the driver
/// contract.
pub struct Client {
    cfg: Config,
    rng: Box<dyn FnMut() -> u32 + Send>,
    phase: Phase,
    listen: ListenMode,
    xid: u32,
    deadline: Option<Instant>,
    probe: Option<PendingProbe>,
    /// `-q -R`: release and exit at the next (already due) timeout.
    quit_pending: bool,
    exit_on_fail: bool,
    background_on_fail: bool,
    /// Failed rounds since the last lease: the `-A` back-off.
    failed_rounds: u32,
    /// The interface has carrier (the driver says so by
    /// [`Client::handle_link`]); without it nothing is sent.
    link_up: bool,
    /// When the last carrier return restarted an exchange: a flapping link
    /// restarts one at most every [`MIN_WAIT`].
    last_link_kick: Option<Instant>,
    /// The script was last run with `bound`/`renew` (an address is
    /// configured), not `deconfig`.
    configured: bool,
    /// No (further) backgrounding: `-f`, or already done.
    foreground: bool,
    finished: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .field("listen", &self.listen)
            .field("xid", &format_args!("{:#010x}", self.xid))
            .field("deadline", &self.deadline)
            .field("lease", &self.lease().map(|l| l.ip))
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// `s` seconds as a duration.
const fn secs(s: u32) -> Duration {
    Duration::from_secs(s as u64)
}

impl Client {
    /// A client in INIT at `now`. Queues the startup `deconfig` script run
    /// (BusyBox runs it always) and a timer due at `now` for the first
    /// DISCOVER. `xid_source` supplies transaction ids (and retransmission
    /// jitter); the driver backs it with getrandom, tests with a sequence.
    pub fn new(
        config: Config,
        now: Instant,
        xid_source: impl FnMut() -> u32 + Send + 'static,
    ) -> Client {
        let mut c = Client {
            exit_on_fail: config.exit_on_fail,
            background_on_fail: config.background_on_fail,
            foreground: config.foreground,
            phase: Phase::Selecting {
                x: Exchange::default(),
                requested: config.requested_ip.filter(|ip| !ip.is_unspecified()),
            },
            cfg: config,
            rng: Box::new(xid_source),
            listen: ListenMode::None,
            xid: 0,
            deadline: Some(now),
            probe: None,
            quit_pending: false,
            failed_rounds: 0,
            link_up: true,
            last_link_kick: None,
            configured: false,
            finished: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        c.script(ScriptEvent::Deconfig);
        c
    }

    /// The current state.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Selecting { .. } => State::InitSelecting,
            Phase::InitReboot { .. } => State::InitReboot,
            Phase::Requesting { .. } => State::Requesting,
            Phase::Holding { step, .. } => match step {
                Step::Bound => State::Bound,
                Step::Renewing => State::Renewing,
                Step::RenewRequested => State::RenewRequested,
                Step::Rebinding => State::Rebinding,
            },
            Phase::Released { .. } => State::Released,
        }
    }

    /// The lease in force (`None` outside BOUND/RENEWING/REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.phase {
            Phase::Holding { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// The transaction id of the current exchange.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True once [`Event::Exit`] has been emitted.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The interface's MAC changed (BusyBox re-reads it at every timer):
    /// use `mac` for `chaddr` and, if the client id is the default
    /// `01`+MAC, for option 61 too.
    pub fn set_mac(&mut self, mac: crate::wire::MacAddr) {
        let mut old = vec![1u8];
        old.extend(self.cfg.mac.octets());
        if self.cfg.send_options.get(code::CLIENT_ID) == Some(&old[..]) {
            let mut new = vec![1u8];
            new.extend(mac.octets());
            self.cfg.send_options.insert_raw(code::CLIENT_ID, new);
        }
        self.cfg.mac = mac;
    }

    /// Start from a remembered lease: while it is unexpired at `now`, the
    /// first exchange is INIT-REBOOT for its address instead of DISCOVER
    /// (RFC 2131 §3.2). Call before the first [`Client::handle_timeout`];
    /// ignored afterwards, when `-r` asks for another address, or for an
    /// unusable or expired lease.
    pub fn remember(&mut self, now: Instant, r: Remembered) {
        let Phase::Selecting { x, requested } = &self.phase else {
            return;
        };
        if x.packet_num != 0 {
            return;
        }
        if requested.is_some_and(|ip| ip != r.ip) {
            log::debug!("-r given, not verifying the remembered lease of {}", r.ip);
            return;
        }
        if !usable_address(r.ip) || r.expiry.is_some_and(|e| e <= now) {
            log::debug!("remembered lease of {} expired", r.ip);
            return;
        }
        self.phase = Phase::InitReboot {
            x: Exchange::default(),
            ip: r.ip,
            expiry: r.expiry,
        };
    }

    /// The interface's carrier changed (rtnetlink, or the first query).
    ///
    /// Down: nothing is sent until it returns; every timer goes on, so
    /// `-t`/`-T`/`-A`/`-n`/`-b` keep their times (no cable at boot with
    /// `-t 3 -T 3 -b` still backgrounds after about 9 s), and a lease in
    /// force is kept. Up: a held lease is verified at once by INIT-REBOOT
    /// (a cable moved to another network is noticed now, not at T1);
    /// while acquiring, a new round starts at once. A flapping link
    /// restarts at most once per second.
    pub fn handle_link(&mut self, now: Instant, up: bool) {
        if self.finished || up == self.link_up {
            return;
        }
        self.link_up = up;
        if !up {
            log::info!("link down, not sending until it returns");
            return;
        }
        log::info!("link up");
        let at = self.last_link_kick.map_or(now, |t| now.max(t + MIN_WAIT));
        let x = Exchange::default();
        self.phase = match &self.phase {
            Phase::Holding { lease, timers, .. } => {
                self.probe = None;
                Phase::InitReboot {
                    x,
                    ip: lease.ip,
                    expiry: timers.expiry,
                }
            }
            // Its SELECTs were not sent; the OFFER is stale by now.
            Phase::Requesting { ip, .. } => Phase::Selecting {
                x,
                requested: Some(*ip),
            },
            _ if self.probe.is_some() => return,
            Phase::Selecting { requested, .. } => Phase::Selecting {
                x,
                requested: *requested,
            },
            Phase::InitReboot { ip, expiry, .. } => Phase::InitReboot {
                x,
                ip: *ip,
                expiry: *expiry,
            },
            Phase::Released { .. } => return,
        };
        self.last_link_kick = Some(at);
        self.deadline = Some(at);
    }

    // ----------------------------------------------------------------
    // Outputs

    /// The next message to send, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event to act on, in order (after the transmits).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`] next (`None`: only packets
    /// and commands matter). May be in the past: call it at once.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            None
        } else {
            self.deadline
        }
    }

    /// The socket the driver should have open now.
    #[must_use]
    pub fn listen_mode(&self) -> ListenMode {
        if self.finished {
            ListenMode::None
        } else {
            self.listen
        }
    }

    // ----------------------------------------------------------------
    // Inputs

    /// The deadline from [`Client::poll_timeout`] has passed (earlier or
    /// repeated calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        match self.deadline {
            Some(d) if now >= d => self.deadline = None,
            _ => return,
        }
        if let Some(p) = self.probe.take() {
            // No answer from the driver in time: as BusyBox treats a probe
            // that could not be made, the address counts as free.
            log::debug!("no ARP reply received for this address");
            self.bind(now, p.lease, p.from);
            return;
        }
        if self.quit_pending {
            self.quit_pending = false;
            self.exit(now, 0);
            return;
        }
        match self.phase {
            Phase::Selecting { .. } => self.discover_timer(now),
            Phase::InitReboot { .. } => self.reboot_timer(now),
            Phase::Requesting { .. } => self.select_timer(now),
            Phase::Holding { .. } => self.lease_timer(now),
            Phase::Released { .. } => {}
        }
    }

    /// A command from a signal.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        if self.finished {
            return;
        }
        match command {
            Command::Renew => self.manual_renew(now),
            Command::Release => self.release(now),
            Command::Terminate => {
                log::info!("received SIGTERM");
                if self.cfg.release_on_exit {
                    self.release(now);
                }
                self.finish(0);
            }
        }
    }

    /// The result of the ARP probe asked for by [`Event::Probe`]: `in_use`
    /// if another host answered for the address. Ignored when no probe is
    /// pending.
    pub fn handle_probe(&mut self, now: Instant, in_use: bool) {
        if self.finished {
            return;
        }
        let Some(p) = self.probe.take() else {
            log::debug!("ARP probe result with no probe pending, ignoring");
            return;
        };
        if !in_use {
            log::debug!("no ARP reply received for this address");
            self.bind(now, p.lease, p.from);
            return;
        }
        log::debug!("ARP reply received for this address");
        log::info!("offered address is in use (got ARP reply), declining");
        self.xid = (self.rng)();
        log::info!("broadcasting decline");
        let msg = self.build(
            MessageType::Decline,
            0,
            Ipv4Addr::UNSPECIFIED,
            Some(p.lease.ip),
            Some(p.lease.server_id),
            false,
        );
        self.send(
            MessageType::Decline,
            msg,
            Destination::Broadcast,
            Ipv4Addr::UNSPECIFIED,
            Via::Raw,
        );
        if self.configured {
            self.script(ScriptEvent::Deconfig);
        }
        if p.from != State::Requesting {
            self.events.push_back(Event::Forget);
        }
        self.enter_selecting(None);
        self.deadline = Some(now + self.cfg.tryagain);
    }

    /// A received DHCP payload (BOOTP header onwards). Applies BusyBox's
    /// receive checks (§1.6) plus `op` = BOOTREPLY; anything that fails
    /// them, or is not expected in the current state, is logged at debug
    /// level and dropped without any state change.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        if self.finished || self.listen_mode() == ListenMode::None {
            log::debug!("packet while not listening, ignoring");
            return;
        }
        let p = match Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("{e}, ignoring packet");
                return;
            }
        };
        if p.op() != OP_REPLY {
            log::debug!("op {} is not a reply, ignoring packet", p.op());
            return;
        }
        if p.xid() != self.xid {
            log::debug!("xid {:x} (our is {:x}), ignoring packet", p.xid(), self.xid);
            return;
        }
        if p.hlen() != 6 || p.chaddr().get(..6) != Some(&self.cfg.mac.octets()[..]) {
            log::debug!("chaddr does not match, ignoring packet");
            return;
        }
        if p.options_valid().is_err() {
            log::debug!("bad packet, malformed option field");
        }
        let Some(kind) = p.message_type() else {
            log::debug!("no message type option, ignoring packet");
            return;
        };
        match (&self.phase, kind) {
            (Phase::Selecting { .. }, MessageType::Offer) => self.on_offer(now, &p),
            (Phase::Selecting { .. }, MessageType::Ack) if self.cfg.rapid_commit => {
                // RFC 4039 §4: an ACK to our DISCOVER counts only with an
                // empty option 80; a malformed one is ignored.
                if p.has_empty_option(code::RAPID_COMMIT) && p.option(code::RAPID_COMMIT).is_none()
                {
                    log::debug!("rapid commit ACK");
                    self.on_ack(now, &p);
                } else {
                    log::debug!("ACK to DISCOVER without a valid option 80, ignoring packet");
                }
            }
            (
                Phase::Requesting { .. } | Phase::Holding { .. } | Phase::InitReboot { .. },
                MessageType::Ack,
            ) if self.state() != State::Bound => self.on_ack(now, &p),
            (
                Phase::Requesting { .. } | Phase::Holding { .. } | Phase::InitReboot { .. },
                MessageType::Nak,
            ) if self.state() != State::Bound => self.on_nak(now, &p),
            (_, kind) => log::debug!("{kind} in state {:?}, ignoring packet", self.state()),
        }
    }

    // ----------------------------------------------------------------
    // Transitions

    /// The server of the current exchange: the one selected, or the one
    /// that gave the lease (0.0.0.0 when none).
    fn server_id(&self) -> Ipv4Addr {
        match &self.phase {
            Phase::Requesting { server_id, .. } => *server_id,
            Phase::Holding { lease, .. } => lease.server_id,
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The exchange in progress (none while released).
    fn exchange(&self) -> Option<Exchange> {
        match &self.phase {
            Phase::Selecting { x, .. }
            | Phase::InitReboot { x, .. }
            | Phase::Requesting { x, .. }
            | Phase::Holding { x, .. } => Some(*x),
            Phase::Released { .. } => None,
        }
    }

    /// Writes back the exchange of the current phase.
    fn set_exchange(&mut self, new: Exchange) {
        match &mut self.phase {
            Phase::Selecting { x, .. }
            | Phase::InitReboot { x, .. }
            | Phase::Requesting { x, .. }
            | Phase::Holding { x, .. } => *x = new,
            Phase::Released { .. } => {}
        }
    }

    fn on_offer(&mut self, now: Instant, p: &Packet<&[u8]>) {
        let yiaddr = p.yiaddr();
        if !usable_address(yiaddr) {
            log::debug!("offer of unusable address {yiaddr}, ignoring packet");
            return;
        }
        log::debug!("received offer of {yiaddr}");
        let server_id = p.option_ipv4(code::SERVER_ID).unwrap_or_else(|| {
            log::info!("no server ID, using 0.0.0.0");
            Ipv4Addr::UNSPECIFIED
        });
        // `secs` goes on counting from the first DISCOVER.
        let start = self.exchange().and_then(|x| x.start);
        self.phase = Phase::Requesting {
            x: Exchange {
                start,
                ..Exchange::default()
            },
            ip: yiaddr,
            server_id,
        };
        self.select_timer(now);
    }

    fn on_ack(&mut self, now: Instant, p: &Packet<&[u8]>) {
        let ip = p.yiaddr();
        if !usable_address(ip) {
            log::debug!("ACK of unusable address {ip}, ignoring packet");
            return;
        }
        let ack_server = p.option_ipv4(code::SERVER_ID);
        if let Phase::Requesting { server_id, .. } = self.phase {
            // RFC 2131 §4.4.1: the REQUEST named one server; only its ACK
            // counts (BusyBox accepts any). No option 54 at all is let
            // through, as BusyBox would.
            if !server_id.is_unspecified() {
                if let Some(s) = ack_server.filter(|&s| s != server_id) {
                    log::debug!("ACK from server {s}, not {server_id}, ignoring packet");
                    return;
                }
            }
        }
        let server_id = ack_server.unwrap_or_else(|| self.server_id());
        let raw = p.option_u32(code::LEASE_TIME);
        log::info!(
            "lease of {ip} obtained from {server_id}, lease time {}{}",
            raw.unwrap_or(DEFAULT_LEASE_SECS),
            if raw.is_none() { " (default)" } else { "" }
        );
        let lease_secs = match raw {
            None => Some(DEFAULT_LEASE_SECS),
            Some(INFINITE_LEASE) => None,
            Some(v) => Some(v.max(MIN_LEASE_SECS)),
        };
        let (t1_secs, t2_secs) = match lease_secs {
            Some(l) => {
                let (t1, t2) = renewal_times(
                    l,
                    p.option_u32(code::RENEWAL_T1),
                    p.option_u32(code::REBINDING_T2),
                );
                (Some(t1), Some(t2))
            }
            None => (None, None),
        };
        let first_request = self.exchange().and_then(|x| x.first_request);
        let lease = Lease {
            ip,
            server_id,
            server_lease_secs: raw,
            lease_secs,
            t1_secs,
            t2_secs,
            start: first_request.unwrap_or(now).min(now),
            ack: p.as_bytes().to_vec(),
        };
        let from = self.state();
        self.set_listen(ListenMode::None);
        if let Some(timeout) = self.cfg.arping {
            self.probe = Some(PendingProbe { lease, from });
            self.deadline = Some(now + timeout + PROBE_GRACE);
            self.events.push_back(Event::Probe { ip, timeout });
            return;
        }
        self.bind(now, lease, from);
    }

    /// Enter BOUND with `lease` (after the probe, if any).
    fn bind(&mut self, now: Instant, lease: Lease, from: State) {
        let timers = Timers {
            t1: lease.t1_secs.map(|s| lease.start + secs(s)),
            t2: lease.t2_secs.map(|s| lease.start + secs(s)),
            expiry: lease.expiry(),
            floor: RENEW_RETRANSMIT_MIN,
        };
        self.phase = Phase::Holding {
            step: Step::Bound,
            lease: Box::new(lease.clone()),
            timers,
            x: Exchange::default(),
        };
        self.set_listen(ListenMode::None);
        // `bound` for a new configuration (also an INIT-REBOOT at start),
        // `renew` for one already in place (also the check after the
        // carrier returned).
        let first = matches!(from, State::Requesting | State::InitSelecting)
            || (from == State::InitReboot && !self.configured);
        self.script(if first {
            ScriptEvent::Bound(lease.clone())
        } else {
            ScriptEvent::Renew(lease.clone())
        });
        self.events.push_back(Event::Remember(lease));
        // BusyBox: -n only matters until the first lease.
        self.exit_on_fail = false;
        self.failed_rounds = 0;
        if self.cfg.quit_after_lease {
            if self.cfg.release_on_exit {
                // The RELEASE must follow the `bound` run (the script
                // configures the address it is sent from): next timeout.
                self.quit_pending = true;
                self.deadline = Some(now);
            } else {
                self.finish(0);
            }
            return;
        }
        if !self.foreground {
            self.foreground = true;
            self.events.push_back(Event::Background);
        }
        self.deadline = timers.t1;
        if let Some(t1) = timers.t1 {
            log::debug!("waiting {} seconds", (t1 - now).as_secs());
        }
    }

    fn on_nak(&mut self, now: Instant, p: &Packet<&[u8]>) {
        let state = self.state();
        // In REBINDING any server may answer (RFC 2131 §4.4.5), and in
        // INIT-REBOOT, which names none; elsewhere only ours, as BusyBox
        // checks (option 54 absent reads 0.0.0.0).
        if !matches!(state, State::Rebinding | State::InitReboot) {
            let sid = p
                .option_ipv4(code::SERVER_ID)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            if sid != self.server_id() {
                log::debug!("received DHCP NAK with wrong server ID, ignoring packet");
                return;
            }
        }
        log::info!("received DHCP NAK");
        self.script(ScriptEvent::Nak(Nak {
            message: p.as_bytes().to_vec(),
        }));
        // After INIT-REBOOT too, though nothing may be configured yet: the
        // issue's contract is `nak` + `deconfig`, then DISCOVER.
        if state != State::Requesting {
            self.script(ScriptEvent::Deconfig);
            self.events.push_back(Event::Forget);
        }
        self.enter_selecting(None);
        // RFC 2131 §3.2: a NAKed INIT-REBOOT restarts at INIT at once;
        // elsewhere BusyBox's 3 s pause keeps a NAK storm from looping.
        self.deadline = Some(if state == State::InitReboot {
            now
        } else {
            now + NAK_BACKOFF
        });
    }

    /// INIT-REBOOT timer: the next broadcast REQUEST for the remembered
    /// address, or DISCOVER once [`reboot_packets`] went unanswered.
    ///
    /// The REQUESTs are the first packets of the round, paced like
    /// DISCOVERs, so `-t`/`-T`/`-b`/`-n` keep their times; the round then
    /// goes on with DISCOVERs (asking for the same address, option 50).
    /// Falling back to DISCOVER rather than keeping the address until it
    /// expires (which RFC 2131 §3.2 allows) is a choice: a silent network
    /// may well be another network (docs/differences.md).
    fn reboot_timer(&mut self, now: Instant) {
        let Phase::InitReboot { mut x, ip, expiry } = self.phase else {
            return;
        };
        if expiry.is_some_and(|e| now >= e) {
            // Out of carrier (or unanswered) for the rest of the lease.
            log::info!("lease of {ip} expired before it could be verified");
            if self.configured {
                self.script(ScriptEvent::Deconfig);
            }
            self.events.push_back(Event::Forget);
            self.enter_selecting(Some(ip));
            self.deadline = Some(now);
            return;
        }
        if !self.link_up {
            // Nothing went out, so nothing was refused: keep the lease to
            // verify once the carrier returns, but let the round end on
            // time (`-b`/`-n`).
            if self.cfg.retries != 0 && x.packet_num >= self.cfg.retries {
                self.lease_fail(now);
                return;
            }
        } else if x.packet_num >= reboot_packets(self.cfg.retries) {
            log::info!("no answer to INIT-REBOOT for {ip}, discovering");
            if self.configured {
                self.script(ScriptEvent::Deconfig);
            }
            self.events.push_back(Event::Forget);
            // The round goes on: same packet count and `secs`.
            self.phase = Phase::Selecting {
                x,
                requested: Some(ip),
            };
            self.xid = (self.rng)();
            self.discover_timer(now);
            return;
        }
        if x.packet_num == 0 {
            self.xid = (self.rng)();
        }
        self.set_listen(ListenMode::Raw);
        if self.link_up {
            log::info!("broadcasting INIT-REBOOT request for {ip}");
        }
        let secs = x.secs(now);
        let msg = self.build(
            MessageType::Request,
            secs,
            Ipv4Addr::UNSPECIFIED,
            Some(ip),
            None,
            true,
        );
        x.first_request.get_or_insert(now);
        self.send(
            MessageType::Request,
            msg,
            Destination::Broadcast,
            Ipv4Addr::UNSPECIFIED,
            Via::Raw,
        );
        let wait = self.backoff(x.packet_num, self.cfg.retries == 0);
        x.packet_num = x.packet_num.saturating_add(1);
        self.set_exchange(x);
        self.wait(now, wait);
        self.cap_at_reboot_expiry();
    }

    /// In INIT-REBOOT, wake up no later than the lease's expiry.
    fn cap_at_reboot_expiry(&mut self) {
        if let Phase::InitReboot {
            expiry: Some(e), ..
        } = self.phase
        {
            self.deadline = self.deadline.map(|d| d.min(e));
        }
    }

    /// INIT_SELECTING timer: next DISCOVER, or the end of a round.
    fn discover_timer(&mut self, now: Instant) {
        let Phase::Selecting { mut x, requested } = self.phase else {
            return;
        };
        if self.cfg.retries != 0 && x.packet_num >= self.cfg.retries {
            self.lease_fail(now);
            return;
        }
        if x.packet_num == 0 {
            self.xid = (self.rng)();
        }
        self.set_listen(ListenMode::Raw);
        if self.link_up {
            log::info!("broadcasting discover");
        }
        let secs = x.secs(now);
        let msg = self.build(
            MessageType::Discover,
            secs,
            Ipv4Addr::UNSPECIFIED,
            requested,
            None,
            true,
        );
        // A rapid-commit ACK's lease starts at its DISCOVER (RFC 4039 §4).
        x.first_request.get_or_insert(now);
        self.send(
            MessageType::Discover,
            msg,
            Destination::Broadcast,
            Ipv4Addr::UNSPECIFIED,
            Via::Raw,
        );
        let wait = self.backoff(x.packet_num, self.cfg.retries == 0);
        x.packet_num = x.packet_num.saturating_add(1);
        self.set_exchange(x);
        self.wait(now, wait);
    }

    /// REQUESTING timer: next SELECT, or leasefail after three.
    fn select_timer(&mut self, now: Instant) {
        let Phase::Requesting {
            mut x,
            ip,
            server_id,
        } = self.phase
        else {
            return;
        };
        if x.packet_num >= SELECT_PACKETS {
            self.lease_fail(now);
            return;
        }
        self.set_listen(ListenMode::Raw);
        log::info!("broadcasting select for {ip}, server {server_id}");
        let secs = x.secs(now);
        let msg = self.build(
            MessageType::Request,
            secs,
            Ipv4Addr::UNSPECIFIED,
            Some(ip),
            Some(server_id),
            true,
        );
        x.first_request.get_or_insert(now);
        self.send(
            MessageType::Request,
            msg,
            Destination::Broadcast,
            Ipv4Addr::UNSPECIFIED,
            Via::Raw,
        );
        let wait = self.backoff(x.packet_num, false);
        x.packet_num += 1;
        self.set_exchange(x);
        self.wait(now, wait);
    }

    /// A DISCOVER round (or the SELECTs) went unanswered.
    fn lease_fail(&mut self, now: Instant) {
        // `secs` keeps counting across rounds: the acquisition goes on.
        // The next DISCOVER asks for the offered address again (BusyBox).
        let (start, requested, reboot) = match self.phase {
            Phase::Selecting { x, requested } => (x.start, requested, None),
            Phase::Requesting { x, ip, .. } => (x.start, Some(ip), None),
            // Only without carrier: the next round verifies it again.
            Phase::InitReboot { x, ip, expiry } => (x.start, None, Some((ip, expiry))),
            _ => (None, None, None),
        };
        self.enter_selecting(requested);
        if let Some((ip, expiry)) = reboot {
            self.phase = Phase::InitReboot {
                x: Exchange::default(),
                ip,
                expiry,
            };
        }
        self.set_exchange(Exchange {
            start,
            ..Exchange::default()
        });
        self.script(ScriptEvent::LeaseFail);
        if self.background_on_fail {
            log::info!("no lease, forking to background");
            self.events.push_back(Event::Background);
            // Never background twice; -b wins over -n.
            self.background_on_fail = false;
            self.exit_on_fail = false;
            self.foreground = true;
        } else if self.exit_on_fail {
            log::info!("no lease, failing");
            self.finish(1);
            return;
        }
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        let wait = self.tryagain_wait(self.failed_rounds);
        self.wait(now, wait);
        self.cap_at_reboot_expiry();
    }

    /// A lease timer fired in BOUND/RENEWING/RENEW_REQUESTED/REBINDING: the
    /// phase follows from the time, so a late wake-up (suspend) goes
    /// straight to the right one.
    fn lease_timer(&mut self, now: Instant) {
        let Phase::Holding {
            step,
            ref lease,
            timers: t,
            mut x,
        } = self.phase
        else {
            return;
        };
        let (ip, server_id) = (lease.ip, lease.server_id);
        if t.expiry.is_some_and(|e| now >= e) {
            log::info!("lease lost, entering init state");
            self.script(ScriptEvent::Deconfig);
            self.events.push_back(Event::Forget);
            self.enter_selecting(Some(ip));
            self.deadline = Some(now);
            return;
        }
        let secs = x.secs(now);
        let mut next_step = step;
        if t.t2.is_some_and(|t2| now >= t2) {
            if step != Step::Rebinding {
                log::debug!("entering rebinding state");
                next_step = Step::Rebinding;
                x.packet_num = 0;
                x.first_request = None;
                self.xid = (self.rng)();
            }
            self.set_listen(ListenMode::Raw);
            log::info!("broadcasting renew");
            let msg = self.build(MessageType::Request, secs, ip, None, None, true);
            x.first_request.get_or_insert(now);
            self.send(
                MessageType::Request,
                msg,
                Destination::Broadcast,
                ip,
                Via::Raw,
            );
            self.deadline = next_retransmit(now, t.expiry, t.floor);
        } else {
            if step == Step::Bound {
                log::debug!("entering renew state");
                next_step = Step::Renewing;
                x.packet_num = 0;
                x.first_request = None;
                self.xid = (self.rng)();
            } else if x.packet_num > 0 {
                log::debug!("no response to renew");
            }
            self.set_listen(ListenMode::Kernel);
            let msg = self.build(MessageType::Request, secs, ip, None, None, true);
            x.first_request.get_or_insert(now);
            if server_id.is_unspecified() {
                log::info!("broadcasting renew");
                self.send(
                    MessageType::Request,
                    msg,
                    Destination::Broadcast,
                    ip,
                    Via::Raw,
                );
            } else {
                log::info!("sending renew to server {server_id}");
                let dest = Destination::Unicast(server_id);
                self.send(MessageType::Request, msg, dest, ip, Via::Kernel);
            }
            self.deadline = next_retransmit(now, t.t2, t.floor);
        }
        x.packet_num = x.packet_num.saturating_add(1);
        if let Phase::Holding { step, x: old, .. } = &mut self.phase {
            *step = next_step;
            *old = x;
        }
    }

    /// SIGUSR1 (BusyBox §1.4).
    fn manual_renew(&mut self, now: Instant) {
        if self.probe.is_some() {
            log::debug!("renew request while probing, ignoring");
            return;
        }
        let floor = self.cfg.timeout.max(MIN_WAIT);
        match &mut self.phase {
            Phase::Holding {
                step: step @ (Step::Bound | Step::Renewing),
                timers,
                x,
                ..
            } => {
                // BusyBox caps the lease at 30 s: one unicast renew, then
                // rebinding, then DISCOVER if nobody answers (the usual use
                // is "the link changed, check the lease now").
                let cap = now + MANUAL_RENEW_CAP;
                let expiry = timers.expiry.map_or(cap, |e| e.min(cap));
                let t2 = timers
                    .t2
                    .map_or(now + floor, |t| t.min(now + floor))
                    .min(expiry);
                *timers = Timers {
                    t1: Some(now),
                    t2: Some(t2),
                    expiry: Some(expiry),
                    floor,
                };
                *step = Step::RenewRequested;
                *x = Exchange::default();
                self.xid = (self.rng)();
                self.deadline = Some(now);
                self.lease_timer(now);
            }
            Phase::Holding {
                step: Step::RenewRequested,
                lease,
                ..
            } => {
                let ip = lease.ip;
                self.script(ScriptEvent::Deconfig);
                self.enter_selecting(Some(ip));
                self.deadline = Some(now);
            }
            Phase::Released { requested } => {
                let requested = *requested;
                self.enter_selecting(requested);
                self.deadline = Some(now);
            }
            _ => {
                log::debug!("renew request in state {:?}, ignoring", self.state());
            }
        }
    }

    /// BusyBox's `perform_release` (§1.12): RELEASE if we hold a lease,
    /// `deconfig` always, then RELEASED.
    fn release(&mut self, _now: Instant) {
        self.probe = None;
        self.quit_pending = false;
        self.set_listen(ListenMode::None);
        let requested = match &self.phase {
            Phase::Selecting { requested, .. } | Phase::Released { requested } => *requested,
            Phase::InitReboot { ip, .. } | Phase::Requesting { ip, .. } => Some(*ip),
            Phase::Holding { lease, .. } => Some(lease.ip),
        };
        let forget = matches!(self.phase, Phase::Holding { .. } | Phase::InitReboot { .. });
        if let Some((ip, server_id)) = self.lease().map(|l| (l.ip, l.server_id)) {
            log::info!("unicasting a release of {ip} to {server_id}");
            self.xid = (self.rng)();
            log::info!("sending release");
            let msg = self.build(MessageType::Release, 0, ip, None, Some(server_id), false);
            if server_id.is_unspecified() {
                self.send(
                    MessageType::Release,
                    msg,
                    Destination::Broadcast,
                    ip,
                    Via::Raw,
                );
            } else {
                let dest = Destination::Unicast(server_id);
                self.send(MessageType::Release, msg, dest, ip, Via::Kernel);
            }
        }
        log::info!("entering released state");
        self.script(ScriptEvent::Deconfig);
        if forget {
            self.events.push_back(Event::Forget);
        }
        self.enter_selecting(requested);
        self.phase = Phase::Released { requested };
    }

    /// `-q`: release first with `-R`, then exit 0.
    fn exit(&mut self, now: Instant, code: i32) {
        if self.cfg.release_on_exit {
            self.release(now);
        }
        self.finish(code);
    }

    fn finish(&mut self, code: i32) {
        self.events.push_back(Event::Exit(code));
        self.finished = true;
        self.deadline = None;
        self.probe = None;
        self.set_listen(ListenMode::None);
    }

    /// Back to INIT_SELECTING without a lease, a new exchange asking for
    /// `requested`; the caller sets the deadline.
    fn enter_selecting(&mut self, requested: Option<Ipv4Addr>) {
        self.phase = Phase::Selecting {
            x: Exchange::default(),
            requested,
        };
        self.set_listen(ListenMode::None);
        self.probe = None;
        self.deadline = None;
    }

    // ----------------------------------------------------------------
    // Helpers

    fn script(&mut self, e: ScriptEvent) {
        log::debug!("executing script {}", e.name());
        match e {
            ScriptEvent::Deconfig => self.configured = false,
            ScriptEvent::Bound(_) | ScriptEvent::Renew(_) => self.configured = true,
            ScriptEvent::LeaseFail | ScriptEvent::Nak(_) => {}
        }
        self.events.push_back(Event::Script(e));
    }

    fn set_listen(&mut self, mode: ListenMode) {
        if self.listen != mode {
            log::debug!("entering listen mode: {}", mode.name());
            self.listen = mode;
        }
    }

    fn wait(&mut self, now: Instant, d: Duration) {
        log::debug!("waiting {} seconds", d.as_secs());
        self.deadline = Some(now + d);
    }

    /// Wait after the `n`th (0-based) DISCOVER or SELECT of a round:
    /// BusyBox's fixed `-T`, so `-t 3 -T 3` fails a round after about 9 s
    /// as rcS files expect; with `-t 0` (no end to the round) it doubles
    /// from `-T` up to 64 s (RFC 2131 §4.1) so a board without a server
    /// does not broadcast every `-T` forever. Randomised by ±1 s.
    fn backoff(&mut self, n: u32, doubling: bool) -> Duration {
        let base = self.cfg.timeout.max(MIN_WAIT);
        let d = if doubling { doubled(base, n) } else { base };
        self.jitter(d)
    }

    /// The `-A` wait after `failed` consecutive failed rounds (1 = the
    /// first): `-A`, 2×, 4×, … capped at 64 s (or `-A` if larger), so a
    /// small `-A` cannot make a board without a server flood; ±1 s.
    fn tryagain_wait(&mut self, failed: u32) -> Duration {
        let base = self.cfg.tryagain.max(MIN_WAIT);
        let d = doubled(base, failed.saturating_sub(1));
        self.jitter(d)
    }

    /// RFC 2131 §4.1: `d` randomised by ±1 s, at most a quarter of `d` so
    /// short waits stay positive (`cfg.jitter` off: exact, for tests).
    fn jitter(&mut self, d: Duration) -> Duration {
        if !self.cfg.jitter {
            return d;
        }
        let j = u64::try_from(d.as_millis() / 4)
            .unwrap_or(u64::MAX)
            .min(1000);
        if j == 0 {
            return d;
        }
        let r = u64::from((self.rng)()) % (2 * j + 1);
        (d + Duration::from_millis(r)).saturating_sub(Duration::from_millis(j))
    }

    fn send(
        &mut self,
        kind: MessageType,
        message: Vec<u8>,
        dest: Destination,
        src_ip: Ipv4Addr,
        via: Via,
    ) {
        if !self.link_up {
            log::debug!("no carrier, {kind} not sent");
            return;
        }
        self.transmits.push_back(Transmit {
            kind,
            message,
            dest,
            src_ip,
            via,
        });
    }
}

/// An address a server may give us: not 0.0.0.0, broadcast, multicast,
/// loopback or class E (a hostile `yiaddr` would otherwise be configured
/// by the script).
fn usable_address(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip.octets()[0] >= 240)
}

/// T1 and T2 in seconds for a finite lease of `lease` seconds: the server's
/// options 58/59 when `MIN_T1_SECS ≤ T1 ≤ T2 ≤ lease` (a missing one takes
/// its default first), otherwise 50 % and 87.5 % (RFC 2131 §4.4.5).
pub fn renewal_times(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (u32, u32) {
    let d1 = lease / 2;
    let d2 = u32::try_from(u64::from(lease) * 7 / 8).unwrap_or(lease);
    let (a, b) = (t1.unwrap_or(d1), t2.unwrap_or(d2));
    if MIN_T1_SECS <= a && a <= b && b <= lease {
        (a, b)
    } else {
        if t1.is_some() || t2.is_some() {
            log::debug!("T1 {t1:?} / T2 {t2:?} inconsistent with lease {lease}, using defaults");
        }
        (d1, d2)
    }
}

/// INIT-REBOOT REQUESTs before the round goes on with DISCOVERs: two,
/// but always leaving one DISCOVER in a round of `-t` packets (one REQUEST
/// when `-t 1`).
pub fn reboot_packets(retries: u32) -> u32 {
    if retries == 0 {
        2
    } else {
        retries.saturating_sub(1).clamp(1, 2)
    }
}

/// `base` doubled `n` times, capped at [`MAX_BACKOFF`] (or `base` if
/// larger).
fn doubled(base: Duration, n: u32) -> Duration {
    let cap = MAX_BACKOFF.max(base);
    base.saturating_mul(1u32 << n.min(6)).min(cap)
}

/// RFC 2131 §4.4.5: the next renew/rebind retransmission after `now`, half
/// the time left until `boundary` (T2 or expiry) but at least `floor`, and
/// never past `boundary` (where the next phase begins).
fn next_retransmit(now: Instant, boundary: Option<Instant>, floor: Duration) -> Option<Instant> {
    let b = boundary?;
    let remaining = b - now;
    let wait = (remaining / 2).max(floor);
    Some(if wait >= remaining { b } else { now + wait })
}
