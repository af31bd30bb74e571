//! udhcpd's decision core, sans-I/O: no sockets, no clock, no files.
//!
//! The server is a function of (time, request bytes, lease table, ARP probe
//! results). The driver (applets/udhcpd.rs) feeds it and drains it, after
//! quinn-proto's contract (reference model-codebases §4, §9.2):
//!
//! - inputs, named `handle_*`: [`Server::handle_packet`] (a received
//!   BOOTREQUEST), [`Server::handle_probe`] (the answer to an ARP probe),
//!   [`Server::handle_persisted`] (changes up to a sequence number are
//!   durable),
//!   [`Server::handle_timeout`] (the clock reached [`Server::poll_timeout`]);
//! - outputs, named `poll_*`, to be drained after every input:
//!   [`Server::unsynced`] (lease changes to make durable; kept, not
//!   drained, until reported durable),
//!   [`Server::poll_probe`] (ARP probes to start),
//!   [`Server::poll_transmit`] (replies and where to send them),
//!   [`Server::poll_timeout`] (when to call `handle_timeout`),
//!   [`Server::poll_event`] (lease events for `lease_script`).
//!
//! The files of this module follow the concerns: `request.rs` (the
//! request, split options joined), `select.rs` and `nets.rs` (which
//! network and static lease serve it), `decide.rs` (what to do, RFC 2131
//! §4.3), `reply.rs` (building and routing the reply; classes), `fqdn.rs`
//! (option 81), `statics.rs` (static clients' records), `ahead.rs` (the
//! probe-ahead reserve); tests in `tests.rs` and `tests/`.
//!
//! # Durability barrier (group commit)
//! Every lease change that must survive a crash (ACK, RELEASE, DECLINE,
//! conflict hold, and the table forgetting an entry: eviction under
//! `max_leases`, reuse, a client moving) queues a [`Change`] with a
//! sequence number. The server keeps it, coalesced per address (a newer
//! change for an IP replaces an unsynced older one), until the driver
//! reports it durable with [`Server::handle_persisted`]`(now, through)`
//! (the changes [`Server::unsynced`] returned when
//! [`Server::persist_seq`] was `through` are on disk: appended to the
//! journal, or covered by a lease-file rewrite). An ACK for a dynamic
//! lease is *held* until its change is durable; only then does it come
//! out of [`Server::poll_transmit`]. So no client is told it owns an
//! address that a crash could forget, and one fsync covers every ACK
//! produced since the last one. OFFERs, NAKs, INFORM replies and ACKs for
//! static leases (the config is their durable form) are not held; OFFER
//! holds are not persisted. A newer change for an address drops the ACK
//! held for it (a newer REQUEST from the same client holds a new one):
//! at most one held ACK per address and per client.
//!
//! # Bounded while the disk fails
//! At most [`MAX_HELD`] ACKs are held and about [`MAX_UNSYNCED`] changes
//! kept. Past either cap, requests that would need a new record (DISCOVER,
//! REQUEST, DECLINE, RELEASE) are dropped and counted, not queued; the log
//! says so once when it starts and once, with the count, when changes are
//! durable again. (Probe results can add a few changes past the cap: at
//! most two per pending probe, [`MAX_PENDING_PROBES`].)
//!
//! # DECLINE
//! One client (client identifier, else chaddr) has at most
//! [`MAX_DECLINED_PER_CLIENT`] addresses parked by its DECLINEs at once
//! on each network (the parked list is the network's, see `nets.rs`): a
//! further DECLINE still parks the declined address but frees that
//! client's oldest parked one (RFC 2131 §4.3.3 leaves the policy to the
//! server; BusyBox has no limit, so one client can park the whole pool).
//! Logged at warning once per client per hour. Not persisted: after a
//! restart the count starts over, the holds stay.
//!
//! # Conflict detection without stalling
//! Before offering an address that is not already the client's, the server
//! asks for an ARP probe ([`Server::poll_probe`]) and keeps the DISCOVER;
//! other clients are served while the driver's non-blocking prober works.
//! In use → the address is held for `conflict_time` and another one is
//! tried; free, or no answer by `probe_ms` + 1 s → OFFER. BusyBox instead
//! blocks the whole server for `-a` ms per probed address.
//!
//! Decisions follow RFC 2131 §4.3 and BusyBox 1.37 (reference §2.7–§2.12);
//! each deliberate difference is marked `BusyBox:` where it happens.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use log::{debug, info, warn};

use crate::conf::{ServerConfig, StaticLease};
use crate::lease::hook;
use crate::lease::table::{Client, LeaseState, LeaseTable};
use crate::lease::{Change, LeaseRecord};
use crate::time::Instant;
use crate::wire::dhcp::{
    code, MessageBuilder, MessageType, Packet, DEFAULT_MAX_LEN, MAX_LEN, MIN_BOOTP_LEN, OP_REQUEST,
};
use crate::wire::{Error as WireError, MacAddr};

mod ahead;
mod decide;
mod fqdn;
mod nets;
mod reply;
mod request;
mod select;
mod statics;
#[cfg(test)]
mod tests;

pub use ahead::{FRESH_MS, PROBE_AHEAD};
use reply::{build_reply, route};
use request::Request;

/// Extra time a pending ARP probe is given beyond `probe_ms` before the
/// server stops waiting for the driver's answer and treats the address as
/// free (the driver's prober should answer within `probe_ms`; this only
/// keeps a lost answer from leaking the reservation and the client).
pub const PROBE_SLACK_MS: u64 = 1000;

/// At most this many DISCOVERs wait for probes at once; more are dropped
/// (the clients retransmit). Bounds memory under a DISCOVER flood.
pub const MAX_PENDING_PROBES: usize = 64;

/// Recycled reply buffers kept for reuse.
const MAX_SPARE_BUFFERS: usize = 16;

/// Most ACKs held waiting for their change to be durable.
pub const MAX_HELD: usize = 1024;
/// Unsynced changes past which requests that would add one are dropped.
pub const MAX_UNSYNCED: usize = 4 * MAX_HELD;
/// Most lease events kept for the driver between two drains (a drain
/// follows every batch of at most 64 requests).
pub const MAX_EVENTS: usize = 256;
/// With a `lease_script`, leases that expired are looked for this often
/// (a `del` event comes at most this late; leases expire lazily).
pub const EXPIRY_SWEEP_MS: u64 = 60_000;
/// Most addresses one client can have parked by DECLINE at once.
pub const MAX_DECLINED_PER_CLIENT: usize = 4;
/// At most one "declined too many" warning per client per this many ms.
const DECLINE_WARN_MS: u64 = 3_600_000;
/// Clients whose last DECLINE warning time is remembered.
const DECLINE_WARNED_MAX: usize = 64;

/// Items in sequence order, at most one live item per address: pushing an
/// item for an address supersedes (returns) the older one. Used for the
/// unsynced changes and the held ACKs. Superseded slots are dropped lazily
/// (the deque is compacted when they outnumber the live items), so memory
/// is bounded by the live count. Normally it holds one batch or less and
/// is searched linearly; past [`SeqQueue::SMALL`] items (the disk is
/// failing) an address index takes over. No allocation once warmed up.
#[derive(Debug)]
struct SeqQueue<T> {
    items: VecDeque<(u64, Ipv4Addr, Option<T>)>,
    live: usize,
    /// Address → seq of its live item; kept only while `indexed`.
    by_ip: HashMap<Ipv4Addr, u64>,
    indexed: bool,
}

impl<T> SeqQueue<T> {
    /// Items searched linearly before the index is built.
    const SMALL: usize = 32;

    fn new() -> Self {
        SeqQueue {
            items: VecDeque::new(),
            live: 0,
            by_ip: HashMap::new(),
            indexed: false,
        }
    }

    fn len(&self) -> usize {
        self.live
    }

    /// Position in `items` of the live item for `ip`.
    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        if self.indexed {
            let seq = *self.by_ip.get(&ip)?;
            self.items.binary_search_by_key(&seq, |(s, _, _)| *s).ok()
        } else {
            self.items
                .iter()
                .rposition(|(_, i, t)| *i == ip && t.is_some())
        }
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        self.find(ip).is_some()
    }

    /// Takes the live item for `ip` out, if any.
    fn remove(&mut self, ip: Ipv4Addr) -> Option<T> {
        let i = self.find(ip)?;
        let t = self.items.get_mut(i).and_then(|(_, _, t)| t.take())?;
        self.live -= 1;
        if self.indexed {
            self.by_ip.remove(&ip);
        }
        Some(t)
    }

    /// Adds `item` for `ip` at `seq` (greater than every seq so far);
    /// returns the item it supersedes.
    fn push(&mut self, seq: u64, ip: Ipv4Addr, item: T) -> Option<T> {
        let old = self.remove(ip);
        self.items.push_back((seq, ip, Some(item)));
        self.live += 1;
        if self.indexed {
            self.by_ip.insert(ip, seq);
        }
        if self.items.len() > 2 * self.live + 64 {
            self.items.retain(|(_, _, t)| t.is_some());
        }
        if !self.indexed && self.items.len() > Self::SMALL {
            self.indexed = true;
            for (s, i, t) in &self.items {
                if t.is_some() {
                    self.by_ip.insert(*i, *s);
                }
            }
        }
        old
    }

    /// Takes the first item if its seq is at most `through`.
    fn pop_through(&mut self, through: u64) -> Option<Option<T>> {
        if !self.items.front().is_some_and(|(s, _, _)| *s <= through) {
            return None;
        }
        let (seq, ip, t) = self.items.pop_front()?;
        if t.is_some() {
            self.live -= 1;
            if self.indexed && self.by_ip.get(&ip) == Some(&seq) {
                self.by_ip.remove(&ip);
            }
        }
        if self.items.is_empty() && self.indexed {
            self.indexed = false;
            self.by_ip.clear();
        }
        Some(t)
    }

    fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.items.iter().filter_map(|(_, _, t)| t.as_ref())
    }
}

/// An address parked by a client's DECLINE (for the per-client limit).
#[derive(Debug)]
struct Parked {
    /// The client: (chaddr, client id) — the id empty when it sent none.
    client: (MacAddr, Vec<u8>),
    ip: Ipv4Addr,
}

/// Where a reply goes (RFC 2131 §4.1; reference §2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Through a relay agent: UDP from server:67 to giaddr:67.
    Relay(Ipv4Addr),
    /// Raw broadcast to 255.255.255.255:68, MAC ff:ff:ff:ff:ff:ff.
    Broadcast,
    /// Raw unicast to `ip`:68 at `mac` (the client's ciaddr and chaddr).
    Unicast {
        /// Destination IP (ciaddr).
        ip: Ipv4Addr,
        /// Destination MAC (chaddr).
        mac: MacAddr,
    },
}

/// A reply written by [`Server::poll_transmit`]: the first `len` bytes of
/// the caller's buffer are a DHCP message (no IP/UDP headers) for `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Message length in the caller's buffer.
    pub len: usize,
    /// Where to send it.
    pub dest: Destination,
    /// Out of which local link (see [`Server::with_links`]): the one the
    /// request came in on.
    pub link: usize,
}

/// An ARP probe the driver should run (reference §5.8): ARP request from
/// the server's IP and MAC for `ip`; a reply from `safe_mac` (the client
/// the address is meant for) is not a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Address to probe.
    pub ip: Ipv4Addr,
    /// The client's MAC.
    pub safe_mac: MacAddr,
    /// On which local link (see [`Server::with_links`]); for an ICMP
    /// probe, none in particular.
    pub link: usize,
    /// By ICMP echo (a relayed network with `ping_check`), not by ARP.
    pub icmp: bool,
}

/// A reply waiting to be transmitted; `buf` is recycled afterwards.
#[derive(Debug)]
struct Outgoing {
    buf: Vec<u8>,
    len: usize,
    dest: Destination,
    link: usize,
}

/// A DISCOVER waiting for the probe of `ip`.
#[derive(Debug)]
struct Pending {
    ip: Ipv4Addr,
    mac: MacAddr,
    /// Option 61; empty when absent.
    client_id: Vec<u8>,
    /// The latest DISCOVER from this client (the OFFER answers it).
    request: Vec<u8>,
    deadline: Instant,
    /// The link the DISCOVER came in on.
    link: usize,
}

impl Pending {
    fn is_for(&self, c: &Client) -> bool {
        match c.client_id {
            Some(id) => self.client_id == id,
            None => self.client_id.is_empty() && self.mac == c.mac,
        }
    }
}

/// The kinds of reply the server builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Offer,
    Ack,
    Nak,
    /// DHCPACK to an INFORM (RFC 2131 §4.3.5): no yiaddr, no lease time.
    InformAck,
    /// BOOTREPLY to a plain BOOTP client (RFC 951, RFC 1497 vendor area).
    Bootp,
}

/// The DHCP server core. See the module documentation for the contract.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    server_ip: Ipv4Addr,
    /// The local links (interface name, server address), 0 = the
    /// top-level network's; see [`Server::with_links`].
    links: Vec<(String, Ipv4Addr)>,
    /// The current network's own link (its probes go there).
    link: usize,
    /// The current network is probed by ICMP echo (relayed, `ping_check`).
    probe_icmp: bool,
    /// The link the request being handled came in on (replies go there).
    arrival: usize,
    probe_ms: u32,
    table: LeaseTable,
    pending: Vec<Pending>,
    probes: VecDeque<Probe>,
    ready: VecDeque<Outgoing>,
    /// ACKs waiting for their change (same seq) to be durable, one per
    /// address.
    held: SeqQueue<Outgoing>,
    /// Changes not yet durable, one per address.
    unsynced: SeqQueue<Change>,
    /// Sequence number of the last change queued.
    persist_seq: u64,
    /// Requests dropped because the caps were reached, since the last
    /// report.
    dropped: u64,
    /// Addresses parked by DECLINE, oldest first.
    parked: Vec<Parked>,
    /// When each of the last few clients was warned about its DECLINEs.
    decline_warned: VecDeque<((MacAddr, Vec<u8>), Instant)>,
    /// Reused buffer for addresses the table forgot.
    forgotten: Vec<Ipv4Addr>,
    spare: Vec<Vec<u8>>,
    /// Static clients' last ACKs, for the lease file (one per
    /// `static_lease` line at most).
    statics: Vec<statics::StaticBound>,
    /// Lease events for the `lease_script` hook, oldest first (only with
    /// a script configured), at most [`MAX_EVENTS`].
    events: VecDeque<hook::Event>,
    /// Events dropped because the driver did not drain them.
    events_dropped: u64,
    /// The probe-ahead reserve (see `ahead.rs`) and its target size.
    ahead: Vec<ahead::Ahead>,
    probe_ahead: usize,
    /// Last sweep for expired leases (`lease_script` `del` events).
    expiry_swept: Option<Instant>,
    /// The relayed networks (`network` sections), see `nets.rs`.
    others: Vec<nets::Net>,
    /// Leases in no network, kept until they expire.
    orphans: Vec<nets::Orphan>,
}

/// The client's identity in a request: option 61 if present, else chaddr.
fn client_of<'a>(pkt: &'a Request<'_>) -> Client<'a> {
    Client::new(pkt.client_mac(), pkt.option(code::CLIENT_ID))
}

/// BusyBox prints a static lease's address as `%x` of the network-order
/// 32-bit value on a little-endian CPU: 192.168.0.99 → `6300a8c0`.
fn busybox_hex(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// Bytes an option of `len` data bytes takes, split per RFC 3396.
fn encoded_len(len: usize) -> usize {
    len + 2 * len.div_ceil(255).max(1)
}

impl Server {
    /// A server for `config`, answering as `server_ip` (udhcpd `-I`, else
    /// the interface address), probing candidate addresses for `probe_ms`
    /// milliseconds (udhcpd `-a`; 0 disables probing).
    pub fn new(config: ServerConfig, server_ip: Ipv4Addr, probe_ms: u32) -> Server {
        let links = vec![(config.interface.clone(), server_ip)];
        Server::with_links(config, links, probe_ms)
    }

    /// A server for `config` on several local links: `links[0]` is the
    /// top-level network's interface and server address (as for
    /// [`Server::new`]), the others the interfaces of the config's local
    /// `network` sections with their addresses. Packets say which link
    /// they came in on ([`Server::handle_packet_on`]); replies and probes
    /// say which link they go out on. A local section whose interface is
    /// not among `links` is not served (logged).
    pub fn with_links(
        config: ServerConfig,
        mut links: Vec<(String, Ipv4Addr)>,
        probe_ms: u32,
    ) -> Server {
        if links.is_empty() {
            links.push((config.interface.clone(), Ipv4Addr::UNSPECIFIED));
        }
        let server_ip = links.first().map_or(Ipv4Addr::UNSPECIFIED, |l| l.1);
        let table = LeaseTable::new(&config, server_ip);
        let others = nets::build(&config, &links, probe_ms);
        Server {
            config,
            server_ip,
            links,
            link: 0,
            probe_icmp: false,
            arrival: 0,
            probe_ms,
            table,
            pending: Vec::new(),
            probes: VecDeque::new(),
            ready: VecDeque::new(),
            held: SeqQueue::new(),
            unsynced: SeqQueue::new(),
            persist_seq: 0,
            dropped: 0,
            parked: Vec::new(),
            decline_warned: VecDeque::new(),
            forgotten: Vec::new(),
            spare: Vec::new(),
            statics: Vec::new(),
            events: VecDeque::new(),
            events_dropped: 0,
            ahead: Vec::new(),
            probe_ahead: ahead::PROBE_AHEAD,
            others,
            orphans: Vec::new(),
            expiry_swept: None,
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The lease table (read-only).
    pub fn table(&self) -> &LeaseTable {
        &self.table
    }

    /// Loads leases at startup (reference §3.3; see [`LeaseTable::load`]).
    /// Returns how many records did not fit (logged as BusyBox does).
    ///
    /// A record whose remaining time exceeds the longest the config can
    /// grant (max of `max_lease` and `min_lease` for a lease; of
    /// `decline_time`, `conflict_time` and `offer_time` for a hold) is
    /// clamped to it, with one warning counting them: a damaged or forged
    /// record, or a clock rule gone wrong, must not make a lease live
    /// forever.
    pub fn load(&mut self, now: Instant, records: impl IntoIterator<Item = LeaseRecord>) -> usize {
        if self.config.networks.is_empty() {
            return self.load_one(now, records);
        }
        self.load_all(now, records)
    }

    /// [`Server::load`] into the network currently entered.
    fn load_one(&mut self, now: Instant, records: impl IntoIterator<Item = LeaseRecord>) -> usize {
        let (lease_max, hold_max) = self.record_limits();
        let mut clamped = 0usize;
        let (statics, static_leases) = (&mut self.statics, &self.config.static_leases);
        let records = records.into_iter().filter_map(|mut r| {
            let max = if r.is_hold() { hold_max } else { lease_max };
            if r.remaining > max {
                r.remaining = max;
                clamped += 1;
            }
            statics::divert(statics, static_leases, now, r)
        });
        let dropped = self.table.load(now, records);
        if clamped > 0 {
            warn!(
                "{clamped} leases in {} had more time left than the config grants, clamped",
                self.config.lease_file
            );
        }
        if dropped > 0 {
            warn!(
                "too many leases while loading {}: {dropped} expired or oldest dropped",
                self.config.lease_file
            );
        }
        debug!("read {} leases", self.table.len());
        dropped
    }

    /// The longest remaining time a loaded lease and a loaded hold may
    /// have under the current config.
    pub fn record_limits(&self) -> (u32, u32) {
        let c = &self.config;
        (
            c.max_lease.max(c.min_lease),
            c.decline_time.max(c.conflict_time).max(c.offer_time),
        )
    }

    /// Applies a new configuration (SIGHUP) without losing leases: entries
    /// still inside the new pool and not on a new static or server address
    /// are kept with their state, client and expiry; pending probes are
    /// abandoned (their clients retransmit). Replies and records already
    /// queued are unaffected.
    pub fn reconfigure(&mut self, config: ServerConfig, now: Instant) {
        let multi =
            !self.others.is_empty() || !config.networks.is_empty() || !self.orphans.is_empty();
        let old: Vec<LeaseRecord> = if multi {
            self.leases(now).collect()
        } else {
            Vec::new()
        };
        for p in core::mem::take(&mut self.pending) {
            self.recycle(p.request);
        }
        self.probes.clear();
        self.clear_ahead();
        let (table, dropped) = self.table.rebuilt(&config, self.server_ip);
        if dropped > 0 {
            warn!(
                "max_leases={} too small: {dropped} leases forgotten",
                config.max_leases
            );
        }
        self.table = table;
        self.config = config;
        self.retain_statics();
        if multi {
            self.rebuild_others(now, old);
        }
    }

    /// Every lease as a record, for the lease-file writer (see
    /// [`LeaseTable::records`]).
    pub fn leases(&self, now: Instant) -> impl Iterator<Item = LeaseRecord> + '_ {
        self.table
            .records(now)
            .chain(self.static_records(now))
            .chain(self.other_records(now))
    }

    // ------------------------------------------------------------------
    // Outputs

    /// The next reply to send, copied into `buf` (which should hold
    /// [`MAX_LEN`] = 1472 bytes; 576 is enough unless clients advertise a
    /// larger option 57). A reply longer than `buf` is dropped with a
    /// warning. Internally replies live in recycled buffers: no allocation
    /// once warmed up.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(out) = self.ready.pop_front() {
            let len = out.len;
            let dest = out.dest;
            let link = out.link;
            let copied = match (buf.get_mut(..len), out.buf.get(..len)) {
                (Some(d), Some(s)) => {
                    d.copy_from_slice(s);
                    true
                }
                _ => false,
            };
            self.recycle(out.buf);
            if copied {
                return Some(Transmit { len, dest, link });
            }
            warn!("reply of {len} bytes does not fit the transmit buffer, dropped");
        }
        None
    }

    /// The changes not yet durable, oldest first, at most one per address:
    /// the batch to append (`LeaseStore::append`). They stay here until
    /// [`handle_persisted`](Self::handle_persisted) says they are durable.
    pub fn unsynced(&self) -> impl Iterator<Item = &Change> + '_ {
        self.unsynced.iter()
    }

    /// How many changes are not yet durable.
    #[must_use]
    pub fn unsynced_len(&self) -> usize {
        self.unsynced.len()
    }

    /// The sequence number of the newest change queued: read it before
    /// writing [`unsynced`](Self::unsynced) (or the whole table), and pass
    /// it to [`handle_persisted`](Self::handle_persisted) when the write
    /// succeeded.
    #[must_use]
    pub fn persist_seq(&self) -> u64 {
        self.persist_seq
    }

    /// How many ACKs are held waiting for durability.
    #[must_use]
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Requests dropped at the caps since the last time changes became
    /// durable.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The next lease event for the `lease_script` hook (granted, renewed,
    /// released), in order; none unless a script is configured.
    pub fn poll_event(&mut self) -> Option<hook::Event> {
        self.events.pop_front()
    }

    /// Lease events dropped (not drained in time) since the last call.
    pub fn take_events_dropped(&mut self) -> u64 {
        core::mem::take(&mut self.events_dropped)
    }

    /// The next ARP probe to start; answer with
    /// [`handle_probe`](Self::handle_probe).
    #[must_use]
    pub fn poll_probe(&mut self) -> Option<Probe> {
        self.probes.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called:
    /// the earliest deadline of a pending probe (of any network), of the
    /// probe-ahead reserve, or of the expiry sweep. `None`: no timer
    /// needed (leases expire lazily, as in BusyBox).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let p = self.nets_deadline();
        let sweep = self
            .config
            .lease_script
            .as_ref()
            .map(|_| match self.expiry_swept {
                Some(t) => Instant::from_millis(t.as_millis().saturating_add(EXPIRY_SWEEP_MS)),
                None => Instant::from_millis(0),
            });
        [p, sweep].into_iter().flatten().min()
    }

    // ------------------------------------------------------------------
    // Inputs

    /// Every change queued up to sequence number `through` (see
    /// [`persist_seq`](Self::persist_seq)) is durable: they are forgotten
    /// here and the ACKs that waited for them move to the transmit queue.
    pub fn handle_persisted(&mut self, _now: Instant, through: u64) {
        while self.unsynced.pop_through(through).is_some() {}
        while let Some(out) = self.held.pop_through(through) {
            if let Some(out) = out {
                self.ready.push_back(out);
            }
        }
        if self.dropped > 0 && self.unsynced.len() < MAX_UNSYNCED && self.held.len() < MAX_HELD {
            info!(
                "{} requests dropped while lease journal unwritable",
                self.dropped
            );
            self.dropped = 0;
        }
    }

    /// Pending probes past their deadline (`probe_ms` + [`PROBE_SLACK_MS`])
    /// count as unanswered: the address is free and offered. Spurious
    /// calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        for k in 0..=self.others.len() {
            self.enter(k);
            while let Some(i) = self.pending.iter().position(|p| p.deadline <= now) {
                let p = self.pending.swap_remove(i);
                debug!("no ARP reply received for this address");
                self.probed(now, p, false);
            }
            self.ahead_timeout(now);
            self.refill_ahead(now);
            self.queue_forgotten();
            self.enter(k);
        }
        self.sweep_expired(now);
        self.queue_forgotten();
    }

    /// With a `lease_script`: a `del` event for every bound lease (of any
    /// network, static ones included) that expired since the last sweep,
    /// at most every [`EXPIRY_SWEEP_MS`]. The first sweep only sets the
    /// mark (leases that ran out while the daemon was down are not
    /// reported).
    fn sweep_expired(&mut self, now: Instant) {
        if self.config.lease_script.is_none() {
            return;
        }
        let Some(since) = self.expiry_swept else {
            self.expiry_swept = Some(now);
            return;
        };
        if now.as_millis() < since.as_millis().saturating_add(EXPIRY_SWEEP_MS) {
            return;
        }
        self.expiry_swept = Some(now);
        for k in 0..=self.others.len() {
            self.enter(k);
            let gone: Vec<_> = self
                .table
                .iter()
                .filter(|l| l.state == LeaseState::Bound && since < l.expires && l.expires <= now)
                .map(|l| (l.mac, l.ip, l.hostname))
                .chain(self.static_expired(since, now))
                .collect();
            for (mac, ip, host) in gone {
                self.event(hook::Kind::Del, mac, ip, host);
            }
            self.enter(k);
        }
    }

    /// The answer to the probe of `ip`: `in_use` if another host answered
    /// (not the client itself: the driver filters `safe_mac`). In use →
    /// `%s belongs to someone, reserving it for %u seconds`, hold for
    /// conflict_time (persisted), and probe another address; free → OFFER.
    /// An answer for no pending probe is ignored.
    pub fn handle_probe(&mut self, now: Instant, ip: Ipv4Addr, in_use: bool) {
        // Pools do not overlap: the address names its network.
        let k = self.pool_of(ip).unwrap_or(0);
        self.enter(k);
        self.probe_answer(now, ip, in_use);
        self.enter(k);
    }

    /// [`Server::handle_probe`] in the network entered.
    fn probe_answer(&mut self, now: Instant, ip: Ipv4Addr, in_use: bool) {
        if self.ahead_probed(now, ip, in_use) {
            self.probes.retain(|q| q.ip != ip);
            self.refill_ahead(now);
            self.queue_forgotten();
            return;
        }
        let Some(i) = self.pending.iter().position(|p| p.ip == ip) else {
            debug!("probe result for {ip}, not pending: ignored");
            return;
        };
        let p = self.pending.swap_remove(i);
        self.probes.retain(|q| q.ip != ip);
        self.probed(now, p, in_use);
        self.queue_forgotten();
    }

    /// Handles one received DHCP/BOOTP message (the UDP payload) that came
    /// in on the top-level network's link (link 0).
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_packet_on(now, 0, bytes);
    }

    /// Handles one received DHCP/BOOTP message (the UDP payload) that came
    /// in on local link `link` (see [`Server::with_links`]).
    ///
    /// Acceptance (reference §2.7), each refusal a debug log and no reply:
    /// shorter than 240 bytes or bad cookie; `hlen` ≠ 6; `op` ≠ BOOTREQUEST;
    /// a malformed option field (BusyBox: uses the options before the
    /// malformation); option 53 not one byte in 1..=8; option 54 not four
    /// bytes (BusyBox: treated as absent) or not our address. No option 53
    /// at all → BOOTP. Then per message type, RFC 2131 §4.3.
    pub fn handle_packet_on(&mut self, now: Instant, link: usize, bytes: &[u8]) {
        if link >= self.links.len() {
            debug!("packet from unknown link {link}, ignoring");
            return;
        }
        let pkt = match Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(WireError::Truncated | WireError::BadCookie) => {
                debug!("packet with bad magic, ignoring");
                return;
            }
            Err(e) => {
                debug!("{e}, ignoring packet");
                return;
            }
        };
        if pkt.hlen() != 6 {
            debug!("MAC length != 6, ignoring packet");
            return;
        }
        if pkt.op() != OP_REQUEST {
            debug!("not a REQUEST, ignoring packet");
            return;
        }
        if pkt.options_valid().is_err() {
            debug!("bad packet, malformed option field");
            return;
        }
        let pkt = Request::new(pkt);
        let mtype = match pkt.option(code::MESSAGE_TYPE) {
            None => None,
            Some(&[v]) => match MessageType::from_u8(v) {
                Some(t) => Some(t),
                None => {
                    debug!("bad message type option, ignoring packet");
                    return;
                }
            },
            Some(_) => {
                debug!("bad message type option, ignoring packet");
                return;
            }
        };
        // RFC 2132 §9.7: the server identifier is 4 bytes. A shorter one is
        // not "absent": it might be a SELECTING REQUEST for another server.
        let server_id = match pkt.option(code::SERVER_ID) {
            None => None,
            Some(d) => match <[u8; 4]>::try_from(d) {
                Ok(b) => Some(Ipv4Addr::from(b)),
                Err(_) => {
                    debug!("bad server ID option, ignoring packet");
                    return;
                }
            },
        };
        let Some(net) = self.select_net(&pkt, link) else {
            return;
        };
        self.arrival = link;
        let our_ip = self.net_ip(net, link);
        if let Some(sid) = server_id {
            if sid != our_ip {
                if mtype == Some(MessageType::Request) {
                    self.enter(net);
                    self.chose_other_server(now, &pkt);
                    self.queue_forgotten();
                    self.enter(net);
                }
                debug!("server ID doesn't match, ignoring packet");
                return;
            }
        }
        let mac = pkt.client_mac();
        self.enter(net);
        let stat = self.config.static_leases.iter().position(|s| s.mac == mac);
        if let Some(s) = stat.and_then(|i| self.config.static_leases.get(i)) {
            info!("found static lease: {:x}", busybox_hex(s.ip));
        }
        self.dispatch(now, &pkt, mtype, stat, server_id.is_some());
        // Addresses the table forgot on the way (evictions at DISCOVER).
        self.queue_forgotten();
        self.enter(net);
    }
}

impl Server {
    // ------------------------------------------------------------------
    // Replies

    /// Queues a forget change for every address the table dropped since
    /// the last call (evictions, reuse, moves).
    fn queue_forgotten(&mut self) {
        let mut ips = core::mem::take(&mut self.forgotten);
        self.table.take_forgotten(&mut ips);
        for &ip in &ips {
            self.queue(Change::Forget(ip));
        }
        ips.clear();
        self.forgotten = ips;
    }

    /// Reports a lease event to the hook, if one is configured.
    fn event(
        &mut self,
        kind: hook::Kind,
        mac: MacAddr,
        ip: Ipv4Addr,
        hostname: crate::lease::Hostname,
    ) {
        if self.config.lease_script.is_none() {
            return;
        }
        if self.events.len() >= MAX_EVENTS {
            self.events_dropped += 1;
            return;
        }
        self.events.push_back(hook::Event {
            kind,
            mac,
            ip,
            hostname,
        });
    }

    /// Queues `change`, superseding an unsynced change for the same address
    /// and dropping the ACK held for it; returns its sequence number.
    fn queue(&mut self, change: Change) -> u64 {
        let ip = change.ip();
        self.persist_seq += 1;
        self.unsynced.push(self.persist_seq, ip, change);
        if let Some(out) = self.held.remove(ip) {
            self.recycle(out.buf);
        }
        self.persist_seq
    }

    /// Queues the record of `ip` (after the addresses the table forgot on
    /// the way); returns its sequence number (an ACK waits until that
    /// change is durable).
    fn queue_record(&mut self, now: Instant, ip: Ipv4Addr) -> u64 {
        self.queue_forgotten();
        match self.table.record(now, ip) {
            Some(r) => self.queue(Change::Lease(r)),
            None => self.persist_seq,
        }
    }

    /// True (and counted, and logged once) if a request that may need a
    /// new record must be dropped: too many changes or held ACKs waiting
    /// for the disk. `ip`: the address the record would be for (a change
    /// for an address already waiting replaces it, so it needs no room);
    /// `holds`: the request would hold an ACK for `ip`.
    fn at_cap(&mut self, ip: Option<Ipv4Addr>, holds: bool) -> bool {
        let new_change = ip.map_or(true, |ip| !self.unsynced.contains(ip));
        let new_held = ip.map_or(true, |ip| !self.held.contains(ip));
        let full = (new_change && self.unsynced.len() >= MAX_UNSYNCED)
            || (holds && new_held && self.held.len() >= MAX_HELD);
        if full {
            if self.dropped == 0 {
                warn!(
                    "lease journal unwritable: {} changes and {} ACKs waiting, dropping requests",
                    self.unsynced.len(),
                    self.held.len()
                );
            }
            self.dropped += 1;
        }
        full
    }

    fn take_buf(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_else(|| vec![0; MAX_LEN])
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            buf.clear();
            buf.resize(MAX_LEN, 0);
            self.spare.push(buf);
        }
    }

    /// Builds a reply and queues it (held until `hold_for` is durable, if
    /// given).
    fn reply(
        &mut self,
        kind: Reply,
        pkt: &Request<'_>,
        yiaddr: Ipv4Addr,
        secs: u32,
        stat: Option<usize>,
        hold_for: Option<u64>,
    ) {
        let mut buf = self.take_buf();
        buf.resize(MAX_LEN, 0);
        let host = match kind {
            Reply::Offer | Reply::Ack | Reply::InformAck | Reply::Bootp => self
                .static_lease(stat)
                .and_then(|s| s.hostname.as_deref())
                .map(str::as_bytes),
            Reply::Nak => None,
        };
        let built = build_reply(
            &self.config,
            self.server_ip,
            kind,
            pkt,
            yiaddr,
            secs,
            host,
            &mut buf,
        );
        let Some(len) = built else {
            self.recycle(buf);
            return;
        };
        match kind {
            Reply::Offer => info!("sending OFFER to {yiaddr}"),
            Reply::Ack => info!("sending ACK to {yiaddr}"),
            Reply::Nak => debug!("sending NAK"),
            Reply::InformAck | Reply::Bootp => {}
        }
        let out = Outgoing {
            buf,
            len,
            dest: route(kind, pkt),
            link: self.arrival,
        };
        match hold_for {
            Some(seq) => {
                if let Some(old) = self.held.push(seq, yiaddr, out) {
                    self.recycle(old.buf);
                }
            }
            None => self.ready.push_back(out),
        }
    }
}
