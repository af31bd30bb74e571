//! udhcpc6's DHCPv6 client, sans-I/O (RFC 8415 §18, BusyBox 1.37
//! `d6_dhcpc.c` behaviour for flags, scripts and signals, written anew).
//!
//! The driver contract is udhcpc's ([`crate::client`]): feed
//! [`Client6::handle_packet`] (a UDP payload from port 547),
//! [`Client6::handle_timeout`] and [`Client6::handle_command`]; after each,
//! drain [`Client6::poll_transmit`] (every message goes to ff02::1:2 port
//! 547 from the link-local address), then [`Client6::poll_event`] (script
//! runs, background, exit), then sleep until [`Client6::poll_timeout`].
//! There is no listen mode: one UDP socket on port 546 stays open.
//!
//! # Exchanges and timers
//!
//! | State | Sends | Retransmission (RFC 8415 §15, §7.6) | Ends |
//! |---|---|---|---|
//! | [`State6::Soliciting`] | Solicit | IRT `-T` (default SOL_TIMEOUT 1 s; BusyBox 3 s), ×2, cap SOL_MAX_RT (3600 s, or option 82); `-t` per round | leasefail, `-A` wait |
//! | [`State6::Requesting`] | Request | REQ_TIMEOUT 1 s, cap REQ_MAX_RT 30 s, REQ_MAX_RC 10 | leasefail |
//! | [`State6::Bound`] | – | – | T1 |
//! | [`State6::Renewing`] | Renew | REN_TIMEOUT 10 s, cap REN_MAX_RT 600 s | T2 |
//! | [`State6::Rebinding`] | Rebind | REB_TIMEOUT 10 s, cap REB_MAX_RT 600 s | valid lifetime: `deconfig`, Solicit |
//! | [`State6::Informing`] | Information-Request (`-l`) | INF_TIMEOUT `-T`, cap INF_MAX_RT (3600 s, or option 83); `-t` per round | leasefail |
//! | [`State6::InfoBound`] | – | – | refresh time (option 32, ≥ 600 s, default 1 day) |
//!
//! Every wait is `RT = 2·RTprev + RAND·RTprev` with RAND uniform in
//! ±0.1 ([`next_rt`]); the first Solicit's RAND is positive only (§15),
//! and no wait is shorter than [`MIN_WAIT`].
//!
//! Advertise selection (§18.2.1, [`State6::Soliciting`]): Advertises are
//! collected until the first RT ends; one with preference 255 is taken at
//! once; at the end of the first RT the highest preference wins (the
//! first one received among equals); after the first RT the first
//! Advertise is taken. An Advertise is ignored unless it offers an
//! address or a prefix that was asked for (§18.2.9), so NoAddrsAvail from
//! one server means the client keeps soliciting and takes another server.
//! A Reply carrying Rapid Commit is taken directly while soliciting (we
//! put Rapid Commit in every Solicit, RFC 8415 §18.2.1).
//!
//! T1/T2 come from the IAs (the smallest); when zero or inconsistent the
//! client uses 0.5 and 0.8 of the shortest preferred lifetime (§21.4,
//! §21.21); 0xffffffff is infinite. Lifetimes count from the time the
//! Request/Renew/Rebind was first sent (§18.2.10.1).
//!
//! Status codes (§18.2.10.1): NoAddrsAvail/NoPrefixAvail on one IA while
//! the other IA is bound → bound with what was given; on every IA →
//! `nak`, back to Solicit after [`NAK_BACKOFF`]. NoBinding in a Reply to
//! Renew/Rebind → Request for the same server. NotOnLink → `nak`,
//! Solicit. UseMulticast → we only ever multicast, so the next
//! retransmission already complies; the Reply is otherwise ignored.
//! UnspecFail and other non-zero top-level codes → `nak`, Solicit.
//!
//! Reconfigure (§18.2.11) is ignored: without RFC 8415 §20 authentication
//! it would let anyone on the link force a renewal.

mod env;
#[cfg(test)]
mod tests;

use core::time::Duration;
use std::collections::VecDeque;
use std::net::Ipv6Addr;

pub use env::{script_env, MAX_LIST_ITEMS};

use crate::time::Instant;
use crate::wire::dhcpv6::{
    self as w, msg, opt, status, Builder, Ia, IaAddr, IaPrefix, Message, Options, Status,
};

/// RFC 8415 §7.6 transmission and retransmission parameters.
pub mod params {
    use core::time::Duration;
    pub const SOL_MAX_RT: Duration = Duration::from_secs(3600);
    pub const REQ_TIMEOUT: Duration = Duration::from_secs(1);
    pub const REQ_MAX_RT: Duration = Duration::from_secs(30);
    pub const REQ_MAX_RC: u32 = 10;
    pub const REN_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REN_MAX_RT: Duration = Duration::from_secs(600);
    pub const REB_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REB_MAX_RT: Duration = Duration::from_secs(600);
    pub const INF_MAX_RT: Duration = Duration::from_secs(3600);
    /// Information refresh (RFC 8415 §21.23 IRT_DEFAULT, IRT_MINIMUM).
    pub const IRT_DEFAULT: u32 = 86400;
    pub const IRT_MINIMUM: u32 = 600;
}

/// RFC 8415 §7.6 SOL_TIMEOUT (and INF_TIMEOUT): the default `-T`.
pub const SOL_TIMEOUT: Duration = Duration::from_secs(1);
/// Option 32 (INFORMATION_REFRESH_TIME, RFC 8415 §21.23).
const OPT_INFORMATION_REFRESH_TIME: u16 = 32;
/// Shortest wait between two sends, whatever the arithmetic says.
pub const MIN_WAIT: Duration = Duration::from_secs(1);
/// Pause after a failing Reply before soliciting again (as udhcpc's NAK
/// back-off), so a server answering every Request with an error cannot
/// make us loop fast.
pub const NAK_BACKOFF: Duration = Duration::from_secs(3);
/// Infinite lifetime (RFC 8415 §7.7).
pub const INFINITY: u32 = u32::MAX;

/// The client's protocol state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State6 {
    /// Sending Solicits, collecting Advertises, or waiting `-A` after a
    /// failed round.
    Soliciting,
    /// Sending Request to the chosen server.
    Requesting,
    /// Addresses/prefixes held, waiting for T1.
    Bound,
    /// Past T1: Renew to our server.
    Renewing,
    /// Past T2: Rebind to any server.
    Rebinding,
    /// `-l`: sending Information-Request.
    Informing,
    /// `-l`: configuration received, waiting for the refresh time.
    InfoBound,
    /// After SIGUSR2: nothing held, idle until SIGUSR1 or SIGTERM.
    Released,
}

/// What the driver tells the client (from signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command6 {
    /// SIGUSR1: renew now (from Released: start again).
    Renew,
    /// SIGUSR2: release and idle.
    Release,
    /// SIGTERM: exit (releasing first with `-R`).
    Terminate,
}

/// udhcpc6's settings (from the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config6 {
    /// Interface MAC: DUID-LL and IAID come from it.
    pub mac: [u8; 6],
    /// Ask for an address (IA_NA); `-r no` clears it.
    pub request_address: bool,
    /// `-r IPv6`: hint put in the IA_NA's IAADDR.
    pub requested_ip: Option<Ipv6Addr>,
    /// `-d`: ask for a prefix (IA_PD).
    pub request_prefix: bool,
    /// `-l`: Information-Request only.
    pub stateless: bool,
    /// Option Request option contents (`-o`, `-O`).
    pub oro: Vec<u16>,
    /// `-x` options added to every message but Release.
    pub send_options: Vec<(u16, Vec<u8>)>,
    /// `-t`: Solicits / Information-Requests per round (0: unlimited).
    pub retries: u32,
    /// `-T`: first retransmission time of Solicit / Information-Request.
    pub timeout: Duration,
    /// `-A`: wait after a failed round.
    pub tryagain: Duration,
    /// `-n`: exit 1 at the first leasefail.
    pub exit_on_fail: bool,
    /// `-b`: background at the first leasefail (wins over `-n`).
    pub background_on_fail: bool,
    /// `-q`: exit after the first bound.
    pub quit_after_lease: bool,
    /// `-R`: release on exit.
    pub release_on_exit: bool,
    /// `-f`: never background.
    pub foreground: bool,
}

impl Config6 {
    /// BusyBox's defaults for `mac`: IA_NA, default ORO (dns, search),
    /// `-t 3 -A 20`; `-T` 1 s, RFC 8415's SOL_TIMEOUT (BusyBox: 3 s, which
    /// made every boot against a server without preference 255 wait 3 s
    /// for other Advertises, §18.2.1).
    pub fn new(mac: [u8; 6]) -> Self {
        Config6 {
            mac,
            request_address: true,
            requested_ip: None,
            request_prefix: false,
            stateless: false,
            oro: default_oro(),
            send_options: Vec::new(),
            retries: 3,
            timeout: SOL_TIMEOUT,
            tryagain: Duration::from_secs(20),
            exit_on_fail: false,
            background_on_fail: false,
            quit_after_lease: false,
            release_on_exit: false,
            foreground: false,
        }
    }
}

/// BusyBox's default ORO: DNS servers and domain list.
pub fn default_oro() -> Vec<u16> {
    vec![opt::DNS_SERVERS, opt::DOMAIN_LIST]
}

/// One message to multicast to ff02::1:2 port 547.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit6 {
    /// Message type (for logs and tests).
    pub kind: u8,
    /// The UDP payload.
    pub message: Vec<u8>,
}

/// A leased address (IAADDR) or prefix (IAPREFIX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    pub addr: Ipv6Addr,
    /// 128 for an address.
    pub prefix_len: u8,
    pub preferred: u32,
    pub valid: u32,
}

/// What a Reply bound: at least one of an address and a prefix (or
/// neither with `-l`), and the Reply itself for the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub server_id: Vec<u8>,
    pub address: Option<Leased>,
    pub prefix: Option<Leased>,
    /// T1 / T2 / end of the last valid lifetime; `None`: never.
    pub t1: Option<Instant>,
    pub t2: Option<Instant>,
    pub expiry: Option<Instant>,
    /// The Reply (UDP payload).
    pub reply: Vec<u8>,
}

/// A run of the script (`PROG EVENT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEvent6 {
    /// Startup, lease lost, release.
    Deconfig,
    /// First Reply of a binding (or of `-l`).
    Bound(Binding),
    /// Reply to Renew/Rebind (or `-l` refresh).
    Renew(Binding),
    /// A round went unanswered.
    LeaseFail,
    /// A Reply with a failure status (the Reply's bytes).
    Nak(Vec<u8>),
}

impl ScriptEvent6 {
    /// The script's argument.
    pub const fn name(&self) -> &'static str {
        match self {
            ScriptEvent6::Deconfig => "deconfig",
            ScriptEvent6::Bound(_) => "bound",
            ScriptEvent6::Renew(_) => "renew",
            ScriptEvent6::LeaseFail => "leasefail",
            ScriptEvent6::Nak(_) => "nak",
        }
    }

    /// The script environment ([`script_env`]).
    pub fn env(&self, interface: &str) -> Vec<(String, String)> {
        match self {
            ScriptEvent6::Bound(b) | ScriptEvent6::Renew(b) => {
                script_env(interface, &b.reply, b.address.as_ref(), b.prefix.as_ref())
            }
            ScriptEvent6::Nak(reply) => script_env(interface, reply, None, None),
            ScriptEvent6::Deconfig | ScriptEvent6::LeaseFail => {
                crate::script::minimal_env(interface)
            }
        }
    }
}

/// Something the driver must do besides sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event6 {
    Script(ScriptEvent6),
    /// Daemonize (once).
    Background,
    Exit(i32),
}

/// The next retransmission time (RFC 8415 §15): `prev` doubled (or `irt`
/// for the first), each plus RAND·base with RAND in ±0.1 from `rnd`,
/// capped at `mrt` (then `mrt` ± 10 %). `first_positive`: the first
/// Solicit's RAND is in 0..0.1 so no Advertise wait is shorter than IRT.
pub fn next_rt(
    prev: Option<Duration>,
    irt: Duration,
    mrt: Duration,
    rnd: u32,
    first_positive: bool,
) -> Duration {
    let irt = irt.max(MIN_WAIT);
    let (base, positive) = match prev {
        None => (irt, first_positive),
        Some(p) => (p.saturating_mul(2), false),
    };
    let base = if base > mrt { mrt.max(MIN_WAIT) } else { base };
    // RAND in thousandths: -100..=100, or 0..=100.
    let rand = if positive {
        i64::from(rnd % 101)
    } else {
        i64::from(rnd % 201) - 100
    };
    let ms = i64::try_from(base.as_millis()).unwrap_or(i64::MAX / 2);
    let rt = ms.saturating_add(ms.saturating_mul(rand) / 1000);
    Duration::from_millis(u64::try_from(rt).unwrap_or(0)).max(MIN_WAIT)
}

/// One exchange's retransmission state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exchange {
    /// Message type sent.
    kind: u8,
    /// First send: elapsed-time origin and lifetime start.
    start: Instant,
    /// Sends so far.
    count: u32,
    /// Last RT.
    rt: Option<Duration>,
}

/// An Advertise worth requesting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    server_id: Vec<u8>,
    preference: u8,
    address: Option<Leased>,
    prefix: Option<Leased>,
}

/// What a reply says about our IAs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Answer {
    server_id: Vec<u8>,
    preference: u8,
    top_status: Option<u16>,
    rapid_commit: bool,
    address: Option<Leased>,
    prefix: Option<Leased>,
    /// Status of each IA we asked for (0 when absent).
    na_status: Option<u16>,
    pd_status: Option<u16>,
    /// Smallest non-zero T1/T2 over our IAs.
    t1: Option<u32>,
    t2: Option<u32>,
    refresh: Option<u32>,
}

/// The udhcpc6 state machine.
pub struct Client6 {
    cfg: Config6,
    duid: Vec<u8>,
    iaid: u32,
    rng: Box<dyn FnMut() -> u32 + Send>,
    state: State6,
    xid: u32,
    exchange: Option<Exchange>,
    deadline: Option<Instant>,
    /// Soliciting: end of the first RT (collect Advertises until then).
    collect_until: Option<Instant>,
    best: Option<Offer>,
    /// Requesting: the server and what it offered.
    chosen: Option<Offer>,
    binding: Option<Binding>,
    /// Soliciting: waiting `-A` / NAK back-off, no exchange open.
    waiting: bool,
    /// A Renew started by SIGUSR1 is outstanding (BusyBox
    /// RENEW_REQUESTED): a second SIGUSR1 starts over from Solicit.
    manual_renew: bool,
    /// SOL_MAX_RT / INF_MAX_RT in force (servers may change them).
    sol_max_rt: Duration,
    inf_max_rt: Duration,
    foreground: bool,
    exit_on_fail: bool,
    finished: bool,
    transmits: VecDeque<Transmit6>,
    events: VecDeque<Event6>,
}

impl core::fmt::Debug for Client6 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client6")
            .field("state", &self.state)
            .field("xid", &format_args!("{:#08x}", self.xid))
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Client6 {
    /// A client at `now`: queues the startup `deconfig` and a timer due
    /// now for the first Solicit (or Information-Request). `rng` gives
    /// transaction ids and retransmission jitter.
    pub fn new(cfg: Config6, now: Instant, rng: impl FnMut() -> u32 + Send + 'static) -> Self {
        let m = cfg.mac;
        let mut c = Client6 {
            duid: w::duid_ll(m),
            // Stable across boots, like the DUID: the MAC's last 4 bytes.
            iaid: u32::from_be_bytes([m[2], m[3], m[4], m[5]]),
            rng: Box::new(rng),
            state: if cfg.stateless {
                State6::Informing
            } else {
                State6::Soliciting
            },
            xid: 0,
            exchange: None,
            deadline: Some(now),
            collect_until: None,
            best: None,
            chosen: None,
            binding: None,
            waiting: false,
            manual_renew: false,
            sol_max_rt: params::SOL_MAX_RT,
            inf_max_rt: params::INF_MAX_RT,
            foreground: cfg.foreground,
            exit_on_fail: cfg.exit_on_fail,
            finished: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            cfg,
        };
        c.script(ScriptEvent6::Deconfig);
        c
    }

    /// The current state.
    pub fn state(&self) -> State6 {
        self.state
    }

    /// The binding in force.
    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    /// Our DUID (DUID-LL of the MAC).
    pub fn duid(&self) -> &[u8] {
        &self.duid
    }

    /// Our IAID for IA_NA and IA_PD.
    pub fn iaid(&self) -> u32 {
        self.iaid
    }

    /// The current transaction id.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// True once [`Event6::Exit`] was emitted.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit6> {
        self.transmits.pop_front()
    }

    /// Next event, after the transmits.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event6> {
        self.events.pop_front()
    }

    /// When to call [`Client6::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            None
        } else {
            self.deadline
        }
    }

    fn script(&mut self, e: ScriptEvent6) {
        self.events.push_back(Event6::Script(e));
    }

    fn exit(&mut self, code: i32) {
        self.events.push_back(Event6::Exit(code));
        self.finished = true;
        self.deadline = None;
    }

    fn background(&mut self) {
        if !self.foreground {
            self.foreground = true;
            self.events.push_back(Event6::Background);
        }
    }

    // ------------------------------------------------------------------
    // Timers

    /// The deadline passed (early or repeated calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished || !self.deadline.is_some_and(|d| now >= d) {
            return;
        }
        self.deadline = None;
        match self.state {
            State6::Soliciting => self.solicit_timer(now),
            State6::Informing => self.round_timer(now, msg::INFORMATION_REQUEST),
            State6::Requesting => {
                if self.exchange.is_some_and(|e| e.count >= params::REQ_MAX_RC) {
                    log::info!("no reply to request");
                    self.lease_fail(now);
                } else {
                    self.send(now, msg::REQUEST);
                }
            }
            _ if self.binding_time(|b| b.expiry).is_some_and(|e| now >= e)
                && matches!(
                    self.state,
                    State6::Bound | State6::Renewing | State6::Rebinding
                ) =>
            {
                log::info!("lease lost, entering init state");
                self.lose_binding(now);
            }
            State6::Bound => {
                log::debug!("entering renew state");
                self.state = State6::Renewing;
                self.exchange = None;
                self.handle_renewing(now);
            }
            State6::Renewing => self.handle_renewing(now),
            State6::Rebinding => self.send(now, msg::REBIND),
            State6::InfoBound => {
                self.state = State6::Informing;
                self.exchange = None;
                self.send(now, msg::INFORMATION_REQUEST);
            }
            State6::Released => {}
        }
    }

    /// Renewing: Renew until T2, then Rebind (at once when T1 = T2).
    fn handle_renewing(&mut self, now: Instant) {
        if self.binding_time(|b| b.t2).is_some_and(|t2| now >= t2) {
            log::debug!("entering rebinding state");
            self.state = State6::Rebinding;
            self.manual_renew = false;
            self.exchange = None;
        }
        self.send(now, self.renew_kind());
    }

    fn renew_kind(&self) -> u8 {
        if self.state == State6::Rebinding {
            msg::REBIND
        } else {
            msg::RENEW
        }
    }

    fn binding_time(&self, f: impl Fn(&Binding) -> Option<Instant>) -> Option<Instant> {
        self.binding.as_ref().and_then(f)
    }

    fn solicit_timer(&mut self, now: Instant) {
        // End of the first RT with Advertises in hand: take the best.
        if self.collect_until.is_some_and(|t| now >= t) {
            self.collect_until = None;
            if let Some(offer) = self.best.take() {
                self.request(now, offer);
                return;
            }
        }
        self.round_timer(now, msg::SOLICIT);
    }

    /// Solicit / Information-Request rounds of `-t` sends, then leasefail.
    fn round_timer(&mut self, now: Instant, kind: u8) {
        if self.waiting {
            self.waiting = false;
            self.exchange = None;
        }
        let sent = self.exchange.map_or(0, |e| e.count);
        if self.cfg.retries != 0 && sent >= self.cfg.retries {
            self.lease_fail(now);
            return;
        }
        self.send(now, kind);
        if kind == msg::SOLICIT && sent == 0 {
            self.collect_until = self.deadline;
            self.best = None;
        }
    }

    fn lease_fail(&mut self, now: Instant) {
        self.exchange = None;
        self.chosen = None;
        self.collect_until = None;
        self.best = None;
        self.state = if self.cfg.stateless {
            State6::Informing
        } else {
            State6::Soliciting
        };
        self.script(ScriptEvent6::LeaseFail);
        if self.cfg.background_on_fail {
            if !self.foreground {
                log::info!("no lease, forking to background");
            }
            self.background();
            self.exit_on_fail = false;
        } else if self.exit_on_fail {
            log::info!("no lease, failing");
            self.exit(1);
            return;
        }
        self.wait(now, self.cfg.tryagain.max(MIN_WAIT));
    }

    fn wait(&mut self, now: Instant, d: Duration) {
        self.waiting = true;
        self.exchange = None;
        self.deadline = Some(now + d);
    }

    /// Sends (or resends) `kind` in the current exchange and arms the
    /// next retransmission.
    fn send(&mut self, now: Instant, kind: u8) {
        let ex = match self.exchange {
            Some(e) if e.kind == kind => e,
            _ => {
                self.xid = (self.rng)() & 0x00ff_ffff;
                Exchange {
                    kind,
                    start: now,
                    count: 0,
                    rt: None,
                }
            }
        };
        let (irt, mrt) = match kind {
            msg::SOLICIT => (self.cfg.timeout, self.sol_max_rt),
            msg::REQUEST => (params::REQ_TIMEOUT, params::REQ_MAX_RT),
            msg::RENEW => (params::REN_TIMEOUT, params::REN_MAX_RT),
            msg::REBIND => (params::REB_TIMEOUT, params::REB_MAX_RT),
            _ => (self.cfg.timeout, self.inf_max_rt),
        };
        let rnd = (self.rng)();
        let rt = next_rt(ex.rt, irt, mrt, rnd, kind == msg::SOLICIT);
        let elapsed = now.saturating_duration_since(ex.start);
        let message = self.build(kind, elapsed);
        log::info!("sending {}", kind_name(kind));
        self.transmits.push_back(Transmit6 { kind, message });
        self.exchange = Some(Exchange {
            kind,
            start: ex.start,
            count: ex.count + 1,
            rt: Some(rt),
        });
        // Renew stops at T2, Rebind at the end of the valid lifetime
        // (their MRD, §18.2.4/§18.2.5): wake then, not later.
        let mut next = now + rt;
        let limit = match kind {
            msg::RENEW => self.binding_time(|b| b.t2),
            msg::REBIND => self.binding_time(|b| b.expiry),
            _ => None,
        };
        if let Some(l) = limit {
            next = next.min(l.max(now + MIN_WAIT));
        }
        self.deadline = Some(next);
    }

    /// The message of `kind` for the current state (RFC 8415 §18.2).
    fn build(&self, kind: u8, elapsed: Duration) -> Vec<u8> {
        let mut b = Builder::new(kind, self.xid);
        let _ = b.option(opt::CLIENTID, &self.duid);
        let server = match kind {
            msg::REQUEST => self.chosen.as_ref().map(|o| o.server_id.clone()),
            msg::RENEW | msg::RELEASE => self.binding.as_ref().map(|b| b.server_id.clone()),
            _ => None,
        };
        if let Some(s) = server {
            let _ = b.option(opt::SERVERID, &s);
        }
        // Centiseconds, capped (RFC 8415 §21.9); Release carries it too.
        let cs = u16::try_from(elapsed.as_millis() / 10).unwrap_or(u16::MAX);
        let _ = b.option(opt::ELAPSED_TIME, &cs.to_be_bytes());
        if kind == msg::SOLICIT {
            let _ = b.option(opt::RAPID_COMMIT, &[]);
        }
        let (addr, prefix) = match kind {
            msg::SOLICIT => (
                self.cfg.requested_ip.map(|a| Leased {
                    addr: a,
                    prefix_len: 128,
                    preferred: 0,
                    valid: 0,
                }),
                None,
            ),
            msg::REQUEST => self
                .chosen
                .as_ref()
                .map_or((None, None), |o| (o.address, o.prefix)),
            msg::INFORMATION_REQUEST => (None, None),
            _ => self
                .binding
                .as_ref()
                .map_or((None, None), |b| (b.address, b.prefix)),
        };
        let stateful = kind != msg::INFORMATION_REQUEST;
        // Renew/Rebind/Release name only the IAs we hold; Solicit and
        // Request ask for every IA configured.
        let holding = matches!(kind, msg::RENEW | msg::REBIND | msg::RELEASE);
        if stateful && self.cfg.request_address && (!holding || addr.is_some()) {
            b.open(opt::IA_NA, &w::ia_header(self.iaid, 0, 0));
            if let Some(a) = addr {
                b.open(opt::IAADDR, &w::iaaddr_body(a.addr, 0, 0));
                let _ = b.close();
            }
            let _ = b.close();
        }
        if stateful && self.cfg.request_prefix && (!holding || prefix.is_some()) {
            b.open(opt::IA_PD, &w::ia_header(self.iaid, 0, 0));
            if let Some(p) = prefix {
                b.open(opt::IAPREFIX, &w::iaprefix_body(p.addr, p.prefix_len, 0, 0));
                let _ = b.close();
            }
            let _ = b.close();
        }
        if kind != msg::RELEASE {
            let mut oro: Vec<u16> = self.cfg.oro.clone();
            if kind == msg::INFORMATION_REQUEST {
                oro.push(OPT_INFORMATION_REFRESH_TIME);
            }
            if !oro.is_empty() {
                let bytes: Vec<u8> = oro.iter().flat_map(|c| c.to_be_bytes()).collect();
                let _ = b.option(opt::ORO, &bytes);
            }
            for (code, data) in &self.cfg.send_options {
                let _ = b.option(*code, data);
            }
        }
        b.finish().unwrap_or_default()
    }

    // ------------------------------------------------------------------
    // Packets

    /// A UDP payload that arrived on port 546.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        if self.finished {
            return;
        }
        let m = match Message::new_checked(bytes) {
            Ok(m) => m,
            Err(e) => {
                log::info!("bad packet: {e}, ignoring");
                return;
            }
        };
        if m.msg_type() == msg::RECONFIGURE {
            log::info!("Reconfigure ignored: no authentication support");
            return;
        }
        let Some(ex) = self.exchange else {
            return;
        };
        if m.xid() != self.xid {
            log::debug!("xid {:x} (our is {:x}), ignoring packet", m.xid(), self.xid);
            return;
        }
        if m.option(opt::CLIENTID) != Some(&self.duid[..]) {
            log::debug!("client id does not match, ignoring packet");
            return;
        }
        // RFC 8415 §18.2.9/§18.2.10: SOL_MAX_RT / INF_MAX_RT are taken
        // from any valid Advertise or Reply, even one we otherwise ignore.
        if let Some(v) = max_rt(m.option(opt::SOL_MAX_RT)) {
            self.sol_max_rt = v;
        }
        if let Some(v) = max_rt(m.option(opt::INF_MAX_RT)) {
            self.inf_max_rt = v;
        }
        let answer = match self.digest(&m) {
            Ok(a) => a,
            Err(why) => {
                log::info!("bad packet: {why}, ignoring");
                return;
            }
        };
        match (self.state, m.msg_type()) {
            (State6::Soliciting, msg::ADVERTISE) if !self.waiting => self.advertise(now, answer),
            (State6::Soliciting, msg::REPLY) if !self.waiting && answer.rapid_commit => {
                log::info!("rapid commit reply");
                self.reply(now, ex.start, bytes, answer);
            }
            (State6::Requesting | State6::Renewing | State6::Rebinding, msg::REPLY) => {
                self.reply(now, ex.start, bytes, answer);
            }
            (State6::Informing, msg::REPLY) if !self.waiting => {
                self.info_reply(now, bytes, &answer)
            }
            _ => log::debug!("unexpected message type {}, ignoring", m.msg_type()),
        }
    }

    /// Decodes what a reply says about our IAs. An option we rely on that
    /// is malformed rejects the whole message (nothing half-applied).
    fn digest(&self, m: &Message<'_>) -> Result<Answer, String> {
        let server_id = m.option(opt::SERVERID).ok_or("no server id")?;
        if server_id.is_empty() || server_id.len() > w::MAX_DUID_LEN {
            return Err("bad server id".into());
        }
        let mut a = Answer {
            server_id: server_id.to_vec(),
            rapid_commit: m.option(opt::RAPID_COMMIT).is_some(),
            ..Answer::default()
        };
        if let Some(p) = m.option(opt::PREFERENCE) {
            a.preference = w::preference(p).map_err(|e| format!("preference: {e}"))?;
        }
        if let Some(s) = m.option(opt::STATUS_CODE) {
            let s = Status::parse(s).map_err(|e| format!("status code: {e}"))?;
            a.top_status = Some(s.code);
        }
        if let Some(r) = m.option(OPT_INFORMATION_REFRESH_TIME) {
            let v: [u8; 4] = r.try_into().map_err(|_| "refresh time length")?;
            a.refresh = Some(u32::from_be_bytes(v));
        }
        for (code, body) in m.options() {
            if code != opt::IA_NA && code != opt::IA_PD {
                continue;
            }
            let ia = Ia::parse(body).map_err(|e| format!("IA: {e}"))?;
            if ia.iaid != self.iaid {
                continue;
            }
            let st = match ia.status() {
                Some(s) => s.map_err(|e| format!("IA status code: {e}"))?.code,
                None => status::SUCCESS,
            };
            let mut got = None;
            for (c, inner) in Options::new(ia.options) {
                let leased = match (code, c) {
                    (opt::IA_NA, opt::IAADDR) => {
                        let x = IaAddr::parse(inner).map_err(|e| format!("IAADDR: {e}"))?;
                        usable_address(x.addr).then_some(Leased {
                            addr: x.addr,
                            prefix_len: 128,
                            preferred: x.preferred,
                            valid: x.valid,
                        })
                    }
                    (opt::IA_PD, opt::IAPREFIX) => {
                        let x = IaPrefix::parse(inner).map_err(|e| format!("IAPREFIX: {e}"))?;
                        (x.prefix_len > 0 && usable_address(x.prefix)).then_some(Leased {
                            addr: x.prefix,
                            prefix_len: x.prefix_len,
                            preferred: x.preferred,
                            valid: x.valid,
                        })
                    }
                    _ => None,
                };
                // RFC 8415 §21.6/§21.22: preferred > valid is invalid;
                // valid 0 is the server withdrawing it.
                if let Some(l) = leased.filter(|l| l.valid > 0 && l.preferred <= l.valid) {
                    got.get_or_insert(l);
                }
            }
            let (t1, t2) = (ia.t1, ia.t2);
            if got.is_some() && t1 != 0 && t2 != 0 && t1 <= t2 {
                a.t1 = Some(a.t1.map_or(t1, |x| x.min(t1)));
                a.t2 = Some(a.t2.map_or(t2, |x| x.min(t2)));
            }
            if code == opt::IA_NA {
                a.na_status = Some(st);
                a.address = if st == status::SUCCESS { got } else { None };
            } else {
                a.pd_status = Some(st);
                a.prefix = if st == status::SUCCESS { got } else { None };
            }
        }
        if !self.cfg.request_address {
            a.address = None;
        }
        if !self.cfg.request_prefix {
            a.prefix = None;
        }
        Ok(a)
    }

    fn advertise(&mut self, now: Instant, a: Answer) {
        if a.top_status.is_some_and(|s| s != status::SUCCESS)
            || (a.address.is_none() && a.prefix.is_none())
        {
            log::info!("advertise without an address or prefix we asked for, ignoring");
            return;
        }
        let offer = Offer {
            server_id: a.server_id,
            preference: a.preference,
            address: a.address,
            prefix: a.prefix,
        };
        log::debug!("received advertise, preference {}", offer.preference);
        if offer.preference == 255 || self.collect_until.is_none() {
            self.collect_until = None;
            self.best = None;
            self.request(now, offer);
            return;
        }
        // Keep the first of the highest preference.
        if self
            .best
            .as_ref()
            .map_or(true, |b| offer.preference > b.preference)
        {
            self.best = Some(offer);
        }
    }

    fn request(&mut self, now: Instant, offer: Offer) {
        self.chosen = Some(offer);
        self.state = State6::Requesting;
        self.exchange = None;
        self.send(now, msg::REQUEST);
    }

    /// A Reply to Request/Renew/Rebind (or a rapid-commit Reply to
    /// Solicit); `sent` is when the exchange started (lifetime origin).
    fn reply(&mut self, now: Instant, sent: Instant, bytes: &[u8], a: Answer) {
        let top = a.top_status.unwrap_or(status::SUCCESS);
        if top == status::USE_MULTICAST {
            // We only multicast; the next retransmission is compliant.
            log::info!("server asks for multicast, which we use; retrying");
            return;
        }
        let renewing = matches!(self.state, State6::Renewing | State6::Rebinding);
        let no_binding = [a.na_status, a.pd_status].contains(&Some(status::NO_BINDING));
        if renewing && (top == status::NO_BINDING || no_binding) {
            // §18.2.10.1: the server lost our binding: Request it again.
            log::info!("server has no binding for us, requesting again");
            let b = self.binding.as_ref();
            let offer = Offer {
                server_id: a.server_id.clone(),
                preference: a.preference,
                address: b.and_then(|b| b.address),
                prefix: b.and_then(|b| b.prefix),
            };
            self.request(now, offer);
            return;
        }
        if top != status::SUCCESS || (a.address.is_none() && a.prefix.is_none()) {
            let code = [Some(top), a.na_status, a.pd_status]
                .into_iter()
                .flatten()
                .find(|&s| s != status::SUCCESS)
                .unwrap_or(status::UNSPEC_FAIL);
            log::info!("received DHCP NAK ({code})");
            self.script(ScriptEvent6::Nak(bytes.to_vec()));
            if renewing || self.binding.is_some() {
                self.binding = None;
                self.script(ScriptEvent6::Deconfig);
            }
            self.state = State6::Soliciting;
            self.chosen = None;
            self.wait(now, NAK_BACKOFF);
            return;
        }
        let binding = make_binding(sent, bytes, &a);
        let first = !renewing;
        if let Some(l) = binding.address {
            log::info!("IPv6 {} obtained, lease time {}", l.addr, l.valid);
        }
        if let Some(p) = binding.prefix {
            log::info!(
                "prefix {}/{} obtained, lease time {}",
                p.addr,
                p.prefix_len,
                p.valid
            );
        }
        self.state = State6::Bound;
        self.manual_renew = false;
        self.exchange = None;
        self.chosen = None;
        self.deadline = binding.t1.map(|t| t.max(now + MIN_WAIT));
        self.binding = Some(binding.clone());
        self.script(if first {
            ScriptEvent6::Bound(binding)
        } else {
            ScriptEvent6::Renew(binding)
        });
        self.after_lease();
    }

    fn after_lease(&mut self) {
        self.exit_on_fail = false;
        if self.cfg.quit_after_lease {
            if self.cfg.release_on_exit {
                self.release();
            }
            self.exit(0);
            return;
        }
        self.background();
    }

    fn info_reply(&mut self, now: Instant, bytes: &[u8], a: &Answer) {
        if a.top_status.is_some_and(|s| s != status::SUCCESS) {
            log::info!("information reply with an error status, ignoring");
            return;
        }
        // RFC 8415 §21.23: at least IRT_MINIMUM, IRT_DEFAULT if absent.
        let refresh = a
            .refresh
            .unwrap_or(params::IRT_DEFAULT)
            .max(params::IRT_MINIMUM);
        let binding = Binding {
            server_id: a.server_id.clone(),
            address: None,
            prefix: None,
            t1: (refresh != INFINITY).then(|| now + secs(refresh)),
            t2: None,
            expiry: None,
            reply: bytes.to_vec(),
        };
        let first = self.binding.is_none();
        self.state = State6::InfoBound;
        self.exchange = None;
        self.deadline = binding.t1;
        self.binding = Some(binding.clone());
        self.script(if first {
            ScriptEvent6::Bound(binding)
        } else {
            ScriptEvent6::Renew(binding)
        });
        self.after_lease();
    }

    fn lose_binding(&mut self, now: Instant) {
        self.manual_renew = false;
        self.binding = None;
        self.script(ScriptEvent6::Deconfig);
        self.state = State6::Soliciting;
        self.exchange = None;
        self.deadline = Some(now);
    }

    // ------------------------------------------------------------------
    // Commands

    /// SIGUSR1 / SIGUSR2 / SIGTERM.
    pub fn handle_command(&mut self, now: Instant, cmd: Command6) {
        if self.finished {
            return;
        }
        match cmd {
            // BusyBox: BOUND/RENEWING → renew now; a second SIGUSR1 before
            // the answer → deconfig, Solicit; ignored while soliciting,
            // requesting or rebinding.
            Command6::Renew => match self.state {
                State6::Renewing if self.manual_renew => {
                    self.manual_renew = false;
                    self.lose_binding(now);
                }
                State6::Bound | State6::Renewing => {
                    self.manual_renew = true;
                    self.state = State6::Renewing;
                    self.exchange = None;
                    self.send(now, msg::RENEW);
                }
                State6::InfoBound => {
                    self.state = State6::Informing;
                    self.exchange = None;
                    self.send(now, msg::INFORMATION_REQUEST);
                }
                State6::Released => {
                    self.state = if self.cfg.stateless {
                        State6::Informing
                    } else {
                        State6::Soliciting
                    };
                    self.exchange = None;
                    self.waiting = false;
                    self.deadline = Some(now);
                }
                _ => {}
            },
            Command6::Release => {
                self.release();
                self.state = State6::Released;
                self.exchange = None;
                self.deadline = None;
                log::info!("entering released state");
            }
            Command6::Terminate => {
                log::info!("received SIGTERM");
                if self.cfg.release_on_exit {
                    self.release();
                }
                self.exit(0);
            }
        }
    }

    /// BusyBox `perform_d6_release`: one Release for what we hold (no
    /// retransmission, as BusyBox), then `deconfig` always.
    fn release(&mut self) {
        let holds = self
            .binding
            .as_ref()
            .is_some_and(|b| b.address.is_some() || b.prefix.is_some());
        if holds {
            self.xid = (self.rng)() & 0x00ff_ffff;
            log::info!("sending release");
            let message = self.build(msg::RELEASE, Duration::ZERO);
            self.transmits.push_back(Transmit6 {
                kind: msg::RELEASE,
                message,
            });
        }
        self.binding = None;
        self.script(ScriptEvent6::Deconfig);
    }
}

/// A SOL_MAX_RT / INF_MAX_RT option value: 4 bytes, 60..=86400 s, else
/// ignored (RFC 8415 §21.24, §21.25).
fn max_rt(body: Option<&[u8]>) -> Option<Duration> {
    let v: [u8; 4] = body?.try_into().ok()?;
    let secs = u32::from_be_bytes(v);
    (60..=86400)
        .contains(&secs)
        .then(|| Duration::from_secs(u64::from(secs)))
}

/// Unicast global-or-ULA-or-link addresses only: a server handing out
/// ::, ::1 or a multicast address is not followed.
fn usable_address(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast())
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        msg::SOLICIT => "solicit",
        msg::REQUEST => "request",
        msg::RENEW => "renew",
        msg::REBIND => "rebind",
        msg::RELEASE => "release",
        msg::INFORMATION_REQUEST => "information request",
        _ => "message",
    }
}

/// The lease timers of a Reply received for an exchange started at
/// `sent` (RFC 8415 §21.4: T1/T2 zero or T1 > T2 → client's choice:
/// 0.5 / 0.8 of the shortest preferred lifetime).
fn make_binding(sent: Instant, bytes: &[u8], a: &Answer) -> Binding {
    let leased: Vec<Leased> = [a.address, a.prefix].into_iter().flatten().collect();
    let min_pref = leased.iter().map(|l| l.preferred).min().unwrap_or(0);
    let max_valid = leased.iter().map(|l| l.valid).max().unwrap_or(0);
    let at = |s: u32| (s != INFINITY).then(|| sent + secs(s));
    let (t1, t2) = match (a.t1, a.t2) {
        (Some(t1), Some(t2)) => (t1, t2),
        _ if min_pref == INFINITY => (INFINITY, INFINITY),
        _ => (min_pref / 2, min_pref / 10 * 8 + min_pref % 10 * 8 / 10),
    };
    // T1/T2 past the valid lifetime would renew an expired binding: a
    // server sending them gets Rebind at expiry and then Solicit.
    let (t1, t2) = if max_valid == INFINITY {
        (t1, t2)
    } else {
        (t1.min(max_valid), t2.min(max_valid))
    };
    Binding {
        server_id: a.server_id.clone(),
        address: a.address,
        prefix: a.prefix,
        t1: at(t1),
        t2: at(t2),
        expiry: at(max_valid),
        reply: bytes.to_vec(),
    }
}
