//! The in-memory lease table of udhcpd and its address allocator. Pure: no
//! I/O, no clock (times are [`Instant`]s passed in by the caller).
//!
//! What it owns (reference §2.9, §2.10; RFC 2131 §4.3.1 for the order in
//! which an address is chosen):
//! - one entry per dynamic lease or hold: Offered, Bound, Released,
//!   Declined, Conflict, and expired-but-remembered entries, at most
//!   `max_leases` of them (BusyBox counts the same ones);
//! - clients keyed by client identifier (option 61) when they send one,
//!   else by chaddr (RFC 2131 §4.2: "client identifier or chaddr"); a lease
//!   loaded from BusyBox's file carries only a MAC and is *adopted* by the
//!   first client whose chaddr matches, which then keys it by its own id;
//! - which pool addresses are free, reserved (an ARP probe is pending), or
//!   excluded (the server's own address and every static-lease address).
//!
//! Static leases live in the config; the server consults them before the
//! table. The table only knows their addresses and MACs, to exclude them.
//!
//! # Data structures and costs (n = entries, P = pool size)
//! | Structure | Purpose | Cost |
//! |---|---|---|
//! | `entries: Vec<Entry>` (slab, 16 bytes each) | the leases | O(1) by slot |
//! | `names: Vec<Hostname>` (20 bytes per slot, none until a client sends a name) | host names | O(1) by slot |
//! | `by_ip`, `by_key`: open-addressing tables of `u32` slots, linear probing, load ≤ 3/4 | lookup by address and by client | O(1) expected; ~5.3–10.7 bytes per lease each |
//! | `free`: hierarchical bitmap of never-used pool offsets, 64-ary, one summary bit per word | next free address at or after the client's hash position | O(log₆₄ P) word reads: 3 for a /16, 4 for a /12; P/8 bytes |
//! | `reclaim`: the 128 earliest (expiry, slot) records and a floor below which every entry is recorded | the longest-expired entry to reclaim | O(1) to keep (one comparison for a new lease); reclaiming pops a record, with a rescan of the slab at most once per 128 reclaims: amortised O(n / 128); 1 KiB in all |
//! | `ids`: side map for client ids other than `01 ‖ chaddr` | exact keys for RFC 4361-style ids | only for such clients |
//!
//! So a request costs O(1) expected table work however large the pool
//! (BusyBox scans the whole table per lookup and the whole pool per
//! allocation). A lease costs about 35 bytes including index overhead and
//! capacity slack when no client sends a host name, 61 once one does
//! (BusyBox: 36 for every `max_leases` slot, with linear scans); see the
//! `entry_is_compact` and `memory_per_lease_large_table` tests.
//! [`LeaseTable::steps`] counts the
//! elementary operations (index probes, bitmap word reads, candidates
//! looked at, entries rescanned), so
//! tests can assert that allocation does not degrade without timing it.
//!
//! Expiry is kept in whole seconds of the monotonic clock (a `u32`, 136
//! years of uptime), rounded up when set; like BusyBox, which keeps
//! `time()` seconds.

use core::cell::Cell;
use core::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use super::{Hostname, LeaseRecord};
use crate::conf::ServerConfig;
use crate::time::Instant;
use crate::wire::MacAddr;

/// Largest pool the table manages (a /8). The free-address bitmap costs one
/// bit per pool address; a larger `start..end` is cut to this many
/// addresses from `start` (with a warning) instead of allocating up to
/// 512 MiB on an embedded box.
pub const MAX_POOL: u32 = 1 << 24;

/// The identity of a client (RFC 2131 §4.2): its client identifier (option
/// 61) if it sent one, else its hardware address. `mac` is chaddr either
/// way (used for the allocation hash, adoption of MAC-only leases, ARP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client<'a> {
    /// chaddr (first six bytes).
    pub mac: MacAddr,
    /// Option 61, if present and non-empty.
    pub client_id: Option<&'a [u8]>,
}

impl<'a> Client<'a> {
    /// A client; an empty client id counts as absent.
    pub fn new(mac: MacAddr, client_id: Option<&'a [u8]>) -> Self {
        Client {
            mac,
            client_id: client_id.filter(|id| !id.is_empty()),
        }
    }

    /// A client known only by its MAC.
    pub fn by_mac(mac: MacAddr) -> Client<'static> {
        Client {
            mac,
            client_id: None,
        }
    }
}

/// What an entry is (reference §2.10). Whether it has expired is a matter
/// of time, see [`Lease::is_expired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseState {
    /// Offered, held for `offer_time` (RFC 2131 §4.3.1: "the server need
    /// not reserve the offered address", BusyBox does, and so do we).
    Offered,
    /// ACKed (RFC 2131 §4.3.2).
    Bound,
    /// Released by the client (RFC 2131 §4.3.4): expired at once, binding
    /// kept so the client gets the same address back.
    Released,
    /// Declined by a client (RFC 2131 §4.3.3): MAC zeroed, held for
    /// `decline_time`.
    Declined,
    /// An ARP probe was answered: MAC zeroed, held for `conflict_time`.
    Conflict,
}

/// A copy of one entry, as the server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// The client's chaddr; zero for declined and conflict holds.
    pub mac: MacAddr,
    /// What the entry is.
    pub state: LeaseState,
    /// When it expires (whole seconds).
    pub expires: Instant,
    /// The client's sanitised option 12.
    pub hostname: Hostname,
}

impl Lease {
    /// True once `now` has reached the expiry time.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// Whole seconds left at `now` (0 once expired).
    pub fn remaining(&self, now: Instant) -> u32 {
        let ms = self.expires.as_millis().saturating_sub(now.as_millis());
        u32::try_from(ms / 1000).unwrap_or(u32::MAX)
    }
}

/// Entry state as stored, with the slab's vacancy marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Vacant,
    Live(LeaseState),
}

/// How an entry is keyed. `HwId` is the common client id `01 ‖ chaddr`
/// (BusyBox udhcpc, dhclient, Windows), stored as the MAC alone; other ids
/// are kept in the side map `ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    /// A hold (declined/conflict): not reachable by any client.
    None,
    /// Keyed by chaddr (the client sent no option 61).
    Mac,
    /// Keyed by chaddr, loaded from a file that cannot hold client ids:
    /// adoptable by a client with a client id and this chaddr.
    MacLegacy,
    /// Keyed by the client id `01 ‖ mac`.
    HwId,
    /// Keyed by the client id in `ids[slot]`.
    Other,
}

/// One lease. 16 bytes; its host name is in [`LeaseTable::names`], which
/// costs nothing until a client sends one (BusyBox's `struct dyn_lease`
/// holds the 20-byte name inline: 36 bytes).
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Expiry in whole seconds of the monotonic clock.
    expires: u32,
    /// Address as an offset from the pool start.
    off: u32,
    mac: [u8; 6],
    state: State,
    kind: Kind,
}

const VACANT: Entry = Entry {
    expires: 0,
    off: 0,
    mac: [0; 6],
    state: State::Vacant,
    kind: Kind::None,
};

/// A client key as looked up.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Mac([u8; 6]),
    Id(&'a [u8]),
}

fn key_of<'a>(c: &Client<'a>) -> Key<'a> {
    match c.client_id {
        Some(id) => Key::Id(id),
        None => Key::Mac(c.mac.0),
    }
}

/// `01 ‖ mac`: the client id most clients send (RFC 2132 §9.14, type 1).
fn hw_id(mac: &[u8; 6]) -> [u8; 7] {
    let mut b = [1u8; 7];
    for (d, s) in b.iter_mut().skip(1).zip(mac) {
        *d = *s;
    }
    b
}

/// Expiry `secs` after `now`, rounded up to whole seconds (never early).
fn secs_after(now: Instant, secs: u32) -> u32 {
    let ms = now.as_millis().saturating_add(u64::from(secs) * 1000);
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// `now` in whole seconds, rounded down: an expiry that has passed.
fn secs_now(now: Instant) -> u32 {
    u32::try_from(now.as_millis() / 1000).unwrap_or(u32::MAX)
}

fn is_expired(expires: u32, now: Instant) -> bool {
    u64::from(expires) * 1000 <= now.as_millis()
}

/// Seconds left, rounded down; 0 once expired.
fn remaining(expires: u32, now: Instant) -> u32 {
    let ms = (u64::from(expires) * 1000).saturating_sub(now.as_millis());
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// For [`LeaseTable::load`]: which records to keep when later records
/// replace earlier ones for the same address or client (`false` for every
/// record followed by one with its IP, or by one of its client: same
/// client id, or same MAC when neither has one; holds have no client).
///
/// Found by sorting record numbers (4 bytes each) by IP and then by client
/// key, not with hash sets of the keys, which at 50,000 records cost ~2 MB
/// at startup. O(n log n) once per start or reload.
fn last_per_ip_and_client(recs: &[LeaseRecord]) -> Vec<bool> {
    let mut keep = vec![true; recs.len()];
    let n = u32::try_from(recs.len()).unwrap_or(u32::MAX);
    let mut order: Vec<u32> = (0..n).collect();
    let ip = |i: u32| recs.get(i as usize).map(|r| r.ip);
    let key = |i: u32| {
        recs.get(i as usize)
            .filter(|r| !r.mac.is_zero())
            .map(|r| match r.client_id.is_empty() {
                true => (r.mac.0, &[][..]),
                false => ([0; 6], &r.client_id[..]),
            })
    };
    // Sorted by (IP, position), then by (client, position): in a run of one
    // IP or one client, all but the last go. (A small heapsort: each
    // `sort_unstable_by` instantiation costs ~3.5 KB of code.)
    let by_ip = |a: u32, b: u32| ip(a).cmp(&ip(b));
    let by_key = |a: u32, b: u32| key(a).cmp(&key(b));
    for (by, clients) in [
        (&by_ip as &dyn Fn(u32, u32) -> Ordering, false),
        (&by_key, true),
    ] {
        heapsort(&mut order, &|a, b| {
            by(a, b).then(a.cmp(&b)) == Ordering::Less
        });
        for w in order.windows(2) {
            if let [a, b] = *w {
                // Holds have no client: never the same one.
                if by(a, b) == Ordering::Equal && !(clients && key(a).is_none()) {
                    if let Some(k) = keep.get_mut(a as usize) {
                        *k = false;
                    }
                }
            }
        }
    }
    keep
}

/// Sorts `v` by `less` (a strict total order) in place: heapsort,
/// O(n log n) with no allocation, in a few hundred bytes of code.
fn heapsort(v: &mut [u32], less: &dyn Fn(u32, u32) -> bool) {
    // Moves v[root] down the max-heap v[..end].
    let sift = |v: &mut [u32], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        if child + 1 < end && less(at(child), at(child + 1)) {
            child += 1;
        }
        if !less(at(root), at(child)) {
            return;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// The SDBM hash BusyBox's FEATURE_UDHCPD_BASE_IP_ON_MAC uses to pick where
/// a client's search starts: `h = b + (h << 6) + (h << 16) - h`. Stable
/// across restarts, so a returning client whose lease was forgotten tends
/// to get its old address back.
pub fn sdbm_hash(mac: &MacAddr) -> u32 {
    mac.0.iter().fold(0u32, |h, &b| {
        u32::from(b)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// Fibonacci hashing of a pool offset for the by-address index: consecutive
/// offsets spread over the table.
fn ip_hash(off: u32) -> u64 {
    u64::from(off).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

const EMPTY: u32 = u32::MAX;

/// An open-addressing hash index of slab slots (linear probing,
/// backward-shift deletion). It stores only the `u32` slot; keys are read
/// from the entries through the closures, which is what keeps a lease at
/// ~60 bytes instead of paying for owned keys in a `HashMap`.
#[derive(Debug)]
struct Index {
    t: Vec<u32>,
    len: usize,
    /// Capacity beyond which the index never grows (load 3/4 at
    /// `max_leases`).
    cap_max: usize,
}

impl Index {
    fn new(max_items: usize) -> Index {
        let cap_max = (max_items * 4 / 3 + 1).max(8);
        Index {
            t: vec![EMPTY; cap_max.min(1024)],
            len: 0,
            cap_max,
        }
    }

    /// Home bucket: multiply-shift range reduction of the high 32 bits, so
    /// the capacity need not be a power of two (exactly sized at the end).
    fn home(&self, h: u64) -> usize {
        let n = self.t.len() as u64;
        usize::try_from(((h >> 32) * n) >> 32).unwrap_or(0)
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 >= self.t.len() {
            0
        } else {
            i + 1
        }
    }

    fn find(&self, h: u64, steps: &Cell<u64>, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(h);
        for _ in 0..self.t.len() {
            steps.set(steps.get() + 1);
            let s = *self.t.get(i)?;
            if s == EMPTY {
                return None;
            }
            if eq(s) {
                return Some(s);
            }
            i = self.next(i);
        }
        None
    }

    fn place(&mut self, h: u64, slot: u32) {
        let mut i = self.home(h);
        for _ in 0..self.t.len() {
            match self.t.get_mut(i) {
                Some(b) if *b == EMPTY => {
                    *b = slot;
                    return;
                }
                _ => i = self.next(i),
            }
        }
    }

    fn insert(&mut self, h: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 4 > self.t.len() * 3 {
            // Grow by doubling, but end exactly at `cap_max`; past it (the
            // table never holds more than max_leases) keep doubling.
            let want = if self.t.len() >= self.cap_max {
                self.t.len() * 2
            } else {
                (self.t.len() * 2).min(self.cap_max)
            };
            let old = core::mem::replace(&mut self.t, vec![EMPTY; want]);
            for s in old.into_iter().filter(|&s| s != EMPTY) {
                self.place(rehash(s), s);
            }
        }
        self.place(h, slot);
        self.len += 1;
    }

    fn remove(&mut self, h: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
        let mut i = self.home(h);
        let mut found = false;
        for _ in 0..self.t.len() {
            match self.t.get(i) {
                Some(&s) if s == slot => {
                    found = true;
                    break;
                }
                Some(&s) if s != EMPTY => i = self.next(i),
                _ => return,
            }
        }
        if !found {
            return;
        }
        // Backward shift: move later members of the cluster into the hole
        // unless their home lies cyclically in (hole, position].
        let mut j = i;
        loop {
            j = self.next(j);
            let s = match self.t.get(j) {
                Some(&s) if s != EMPTY => s,
                _ => break,
            };
            let k = self.home(rehash(s));
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                if let Some(b) = self.t.get_mut(i) {
                    *b = s;
                }
                i = j;
            }
        }
        if let Some(b) = self.t.get_mut(i) {
            *b = EMPTY;
        }
        self.len -= 1;
    }

    fn bytes(&self) -> usize {
        self.t.capacity() * 4
    }
}

/// A set of pool offsets as a 64-ary hierarchical bitmap: level 0 has one
/// bit per offset (set = free); each higher level has one bit per word
/// below (set = that word is non-zero). Finding the next set bit reads at
/// most two words per level.
#[derive(Debug)]
struct FreeSet {
    levels: Vec<Vec<u64>>,
}

impl FreeSet {
    /// True if no offset is set.
    fn is_empty(&self) -> bool {
        self.levels
            .last()
            .map_or(true, |top| top.iter().all(|&w| w == 0))
    }

    /// `n` offsets, all clear.
    fn new(n: u32) -> FreeSet {
        let mut levels = Vec::new();
        let mut bits = n as usize;
        loop {
            let words = bits.div_ceil(64).max(1);
            levels.push(vec![0u64; words]);
            if words == 1 {
                break;
            }
            bits = words;
        }
        FreeSet { levels }
    }

    /// Sets offsets 0..n, a word at a time.
    fn fill(&mut self, n: u32) {
        let mut bits = n as usize;
        for level in &mut self.levels {
            for (i, w) in level.iter_mut().enumerate() {
                let lo = i * 64;
                *w = if lo + 64 <= bits {
                    !0
                } else if lo < bits {
                    (1u64 << (bits - lo)) - 1
                } else {
                    0
                };
            }
            bits = bits.div_ceil(64);
        }
    }

    fn get(&self, i: u32) -> bool {
        let i = i as usize;
        self.levels
            .first()
            .and_then(|l| l.get(i / 64))
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: u32) {
        let mut i = i as usize;
        for level in &mut self.levels {
            let Some(w) = level.get_mut(i / 64) else {
                return;
            };
            let was = *w;
            *w |= 1 << (i % 64);
            if was != 0 {
                return;
            }
            i /= 64;
        }
    }

    fn clear(&mut self, i: u32) {
        let mut i = i as usize;
        for level in &mut self.levels {
            let Some(w) = level.get_mut(i / 64) else {
                return;
            };
            *w &= !(1 << (i % 64));
            if *w != 0 {
                return;
            }
            i /= 64;
        }
    }

    /// The first set offset ≥ `from`.
    fn next_from(&self, from: u32, steps: &Cell<u64>) -> Option<u32> {
        let mut idx = from as usize;
        let mut lvl = 0;
        // Up: the first level whose word (from idx on) has a set bit.
        loop {
            let level = self.levels.get(lvl)?;
            steps.set(steps.get() + 1);
            let word = *level.get(idx / 64)?;
            let masked = word & (!0u64 << (idx % 64));
            if masked != 0 {
                idx = (idx / 64) * 64 + masked.trailing_zeros() as usize;
                break;
            }
            idx = idx / 64 + 1;
            lvl += 1;
        }
        // Down: the lowest set bit of each word below.
        while lvl > 0 {
            lvl -= 1;
            steps.set(steps.get() + 1);
            let word = *self.levels.get(lvl)?.get(idx)?;
            if word == 0 {
                return None;
            }
            idx = idx * 64 + word.trailing_zeros() as usize;
        }
        u32::try_from(idx).ok()
    }

    /// The first set offset at or after `from`, wrapping around once.
    fn next_wrapping(&self, from: u32, steps: &Cell<u64>) -> Option<u32> {
        self.next_from(from, steps)
            .or_else(|| self.next_from(0, steps))
    }

    fn bytes(&self) -> usize {
        self.levels.iter().map(|l| l.capacity() * 8).sum()
    }
}

/// How many entries [`Reclaim`] keeps as candidates.
const CANDIDATES: usize = 128;

/// Which entry expired longest ago, without a heap over every entry (the
/// min-heap of (expiry, slot) it replaces cost 8–12 bytes per lease: 400 KB
/// of 50,000, a fifth of the table).
///
/// `cand` holds (expiry, slot) records sorted latest first, at most
/// [`CANDIDATES`] of them. Invariant: every live entry whose (expiry,
/// slot) is below `floor` has a record in `cand` with its current expiry.
/// A record whose entry is gone or has another expiry is stale and
/// skipped. So the earliest valid record is the earliest entry of the
/// table, ties going to the lowest slot as with the heap before (and the
/// first in BusyBox's array).
///
/// Keeping it: an entry that gets an expiry below `floor` is recorded
/// ([`Reclaim::note`]); if that makes `cand` too long, the latest record
/// goes and becomes the `floor`. Nothing is done for an entry that
/// leaves or expires later (its record goes stale). When every record is
/// used up or stale, [`LeaseTable::rescan`] refills `cand` from the slab.
/// New leases expire after everything in `cand` and are not recorded: the
/// request path pays one comparison.
#[derive(Debug)]
struct Reclaim {
    cand: Vec<(u32, u32)>,
    floor: (u32, u32),
}

/// No floor: every live entry is recorded.
const NO_FLOOR: (u32, u32) = (u32::MAX, u32::MAX);

impl Reclaim {
    fn new() -> Reclaim {
        Reclaim {
            cand: Vec::new(),
            floor: NO_FLOOR,
        }
    }

    /// The entry in `slot` now expires at `exp`.
    fn note(&mut self, exp: u32, slot: u32) {
        let rec = (exp, slot);
        if rec >= self.floor {
            return;
        }
        if self.cand.capacity() == 0 {
            self.cand.reserve_exact(CANDIDATES + 1);
        }
        // Latest first: insert before the first record that is earlier.
        let at = self.cand.partition_point(|&r| r > rec);
        self.cand.insert(at, rec);
        if self.cand.len() > CANDIDATES {
            self.floor = self.cand.remove(0);
        }
    }
}

/// The lease table. See the module documentation for structures and costs.
#[derive(Debug)]
pub struct LeaseTable {
    start: u32,
    /// Pool size (end − start + 1, at most [`MAX_POOL`]; 0 if end < start).
    size: u32,
    max: usize,
    entries: Vec<Entry>,
    /// Host name of the entry in each slot: empty (no allocation) until
    /// the first client sends a name, then exactly as long as `entries`.
    /// Most of a large table's clients (perfdhcp, IoT devices) send none;
    /// once one does, a slot costs 36 bytes, as in BusyBox.
    names: Vec<Hostname>,
    vacant: Vec<u32>,
    len: usize,
    by_ip: Index,
    by_key: Index,
    ids: HashMap<u32, Box<[u8]>>,
    free: FreeSet,
    reclaim: Reclaim,
    /// Pool offsets never handed out, as sorted, disjoint, inclusive
    /// ranges: the server IP, static-lease IPs, `exclude` lines.
    excluded: Vec<(u32, u32)>,
    static_macs: Vec<MacAddr>,
    /// Offsets held for pending ARP probes: neither free nor leased.
    reserved: Vec<u32>,
    /// Addresses whose entry was forgotten since the last
    /// [`take_forgotten`](LeaseTable::take_forgotten): the server journals
    /// them, so replay reproduces the table.
    forgotten: Vec<Ipv4Addr>,
    /// Keyed SipHash for client keys, randomly seeded as std's `HashMap`
    /// is, so clients cannot choose ids that collide (hash flooding).
    hasher: RandomState,
    steps: Cell<u64>,
}

fn key_hash(hasher: &RandomState, k: &Key) -> u64 {
    match k {
        Key::Mac(m) => hasher.hash_one((0u8, m)),
        Key::Id(b) => hasher.hash_one((1u8, *b)),
    }
}

/// The key hash of the entry in `slot` (0 for holds, which are not in the
/// key index).
fn entry_key_hash(
    entries: &[Entry],
    ids: &HashMap<u32, Box<[u8]>>,
    hasher: &RandomState,
    slot: u32,
) -> u64 {
    let Some(e) = entries.get(slot as usize) else {
        return 0;
    };
    match e.kind {
        Kind::None => 0,
        Kind::Mac | Kind::MacLegacy => key_hash(hasher, &Key::Mac(e.mac)),
        Kind::HwId => key_hash(hasher, &Key::Id(&hw_id(&e.mac))),
        Kind::Other => key_hash(
            hasher,
            &Key::Id(ids.get(&slot).map(|b| &b[..]).unwrap_or(&[])),
        ),
    }
}

fn entry_matches(entries: &[Entry], ids: &HashMap<u32, Box<[u8]>>, slot: u32, k: &Key) -> bool {
    let Some(e) = entries.get(slot as usize) else {
        return false;
    };
    match (e.kind, k) {
        (Kind::Mac | Kind::MacLegacy, Key::Mac(m)) => e.mac == *m,
        (Kind::HwId, Key::Id(b)) => hw_id(&e.mac)[..] == **b,
        (Kind::Other, Key::Id(b)) => ids.get(&slot).is_some_and(|s| &s[..] == *b),
        _ => false,
    }
}

impl LeaseTable {
    /// An empty table for `config`'s pool and `max_leases` (clamped to the
    /// pool size), excluding `server_ip` and every static-lease address.
    pub fn new(config: &ServerConfig, server_ip: Ipv4Addr) -> LeaseTable {
        let start = u32::from(config.start);
        let end = u32::from(config.end);
        let mut size = if end < start {
            0
        } else {
            (end - start).saturating_add(1)
        };
        if size > MAX_POOL {
            log::warn!(
                "pool {}-{} has more than {MAX_POOL} addresses, using the first {MAX_POOL}",
                config.start,
                config.end
            );
            size = MAX_POOL;
        }
        let max = (config.max_leases.min(size)) as usize;
        let mut t = LeaseTable {
            start,
            size,
            max,
            entries: Vec::with_capacity(max.min(1024)),
            names: Vec::new(),
            vacant: Vec::new(),
            len: 0,
            by_ip: Index::new(max),
            by_key: Index::new(max),
            ids: HashMap::new(),
            free: FreeSet::new(size),
            reclaim: Reclaim::new(),
            excluded: Vec::new(),
            static_macs: config.static_leases.iter().map(|s| s.mac).collect(),
            reserved: Vec::new(),
            forgotten: Vec::new(),
            hasher: RandomState::new(),
            steps: Cell::new(0),
        };
        let singles = core::iter::once(server_ip)
            .chain(config.static_leases.iter().map(|s| s.ip))
            .map(|ip| (ip, ip));
        let mut ranges: Vec<(u32, u32)> = singles
            .chain(config.excludes.iter().copied())
            .filter_map(|(a, b)| t.clip(a, b))
            .collect();
        ranges.sort_unstable();
        // Merge overlapping and adjacent ranges.
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        t.excluded = merged;
        t.free.fill(size);
        for &(a, b) in &t.excluded {
            for off in a..=b {
                t.free.clear(off);
            }
        }
        t
    }

    /// Number of entries (every state, expired ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bound on entries: `max_leases`, at most the pool size.
    pub fn max_leases(&self) -> usize {
        self.max
    }

    /// Elementary operations done so far (index probes, bitmap word reads,
    /// reclaim candidates and rescanned entries): a clock-free measure of
    /// how lookup and allocation scale.
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// Approximate heap bytes held by the table (entries, names, indexes,
    /// bitmap, reclaim candidates, side ids).
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<Entry>()
            + self.names.capacity() * Hostname::LEN
            + self.vacant.capacity() * 4
            + self.by_ip.bytes()
            + self.by_key.bytes()
            + self.free.bytes()
            + self.reclaim.cand.capacity() * 8
            + self
                .ids
                .values()
                .map(|b| b.len() + 16 + 8 + 8)
                .sum::<usize>()
    }

    /// The pool offset of `ip`, if it lies in start..=end.
    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).checked_sub(self.start)?;
        (off < self.size).then_some(off)
    }

    fn ip_at(&self, off: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.start.wrapping_add(off))
    }

    /// True if `ip` lies in the pool (start..=end).
    pub fn in_pool(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some()
    }

    /// True for the server's address, static-lease addresses and
    /// `exclude` ranges in the pool: never handed out dynamically.
    pub fn is_excluded(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some_and(|o| self.excluded_off(o))
    }

    fn excluded_off(&self, off: u32) -> bool {
        let i = self.excluded.partition_point(|&(a, _)| a <= off);
        i.checked_sub(1)
            .and_then(|i| self.excluded.get(i))
            .is_some_and(|&(_, b)| off <= b)
    }

    /// The pool offsets of `first..=last` that are in the pool, if any.
    fn clip(&self, first: Ipv4Addr, last: Ipv4Addr) -> Option<(u32, u32)> {
        let end = self.start.checked_add(self.size.checked_sub(1)?)?;
        let (a, b) = (u32::from(first).max(self.start), u32::from(last).min(end));
        (a <= b).then(|| (a - self.start, b - self.start))
    }

    fn tick(&self) {
        self.steps.set(self.steps.get() + 1);
    }

    fn entry(&self, slot: u32) -> Option<&Entry> {
        self.entries
            .get(slot as usize)
            .filter(|e| e.state != State::Vacant)
    }

    /// Every entry as a [`Lease`], in slab order.
    pub fn iter(&self) -> impl Iterator<Item = Lease> + '_ {
        (0..self.entries.len())
            .filter_map(|s| u32::try_from(s).ok())
            .filter_map(|s| self.lease_of(s))
    }

    /// The host name of the entry in `slot` (empty if none was sent).
    fn name_of(&self, slot: u32) -> Hostname {
        self.names
            .get(slot as usize)
            .copied()
            .unwrap_or(Hostname::EMPTY)
    }

    /// Sets the host name of `slot`; the first non-empty name allocates
    /// `names` for every slot.
    fn set_name(&mut self, slot: u32, name: Hostname) {
        if self.names.is_empty() {
            if name.is_empty() {
                return;
            }
            self.names.reserve_exact(self.entries.capacity());
            self.names.resize(self.entries.len(), Hostname::EMPTY);
        }
        if let Some(n) = self.names.get_mut(slot as usize) {
            *n = name;
        }
    }

    fn lease_of(&self, slot: u32) -> Option<Lease> {
        let e = self.entry(slot)?;
        let State::Live(state) = e.state else {
            return None;
        };
        Some(Lease {
            ip: self.ip_at(e.off),
            mac: MacAddr(e.mac),
            state,
            expires: Instant::from_millis(u64::from(e.expires) * 1000),
            hostname: self.name_of(slot),
        })
    }

    fn slot_of_ip(&self, off: u32) -> Option<u32> {
        let entries = &self.entries;
        self.by_ip.find(ip_hash(off), &self.steps, |s| {
            entries
                .get(s as usize)
                .is_some_and(|e| e.off == off && e.state != State::Vacant)
        })
    }

    fn slot_of_key(&self, k: &Key) -> Option<u32> {
        let (entries, ids) = (&self.entries, &self.ids);
        self.by_key
            .find(key_hash(&self.hasher, k), &self.steps, |s| {
                entry_matches(entries, ids, s, k)
            })
    }

    /// The slot of `client`'s entry, including a MAC-only (loaded) entry
    /// this client may adopt; the second value says adoption is needed.
    fn find_slot(&self, client: &Client) -> Option<(u32, bool)> {
        let key = key_of(client);
        if let Some(s) = self.slot_of_key(&key) {
            return Some((s, false));
        }
        if client.client_id.is_some() {
            let s = self.slot_of_key(&Key::Mac(client.mac.0))?;
            let legacy = self.entry(s).is_some_and(|e| e.kind == Kind::MacLegacy);
            return legacy.then_some((s, true));
        }
        None
    }

    /// `client`'s entry without changing anything (a MAC-only loaded lease
    /// matching its chaddr counts as its entry).
    pub fn find(&self, client: &Client) -> Option<Lease> {
        self.find_slot(client).and_then(|(s, _)| self.lease_of(s))
    }

    /// `client`'s entry, adopting a MAC-only lease loaded from BusyBox's
    /// file: from now on that lease is keyed by the client's id, so a
    /// second client id on the same MAC is a different client.
    pub fn lookup(&mut self, client: &Client) -> Option<Lease> {
        let (slot, adopt) = self.find_slot(client)?;
        if adopt {
            self.unkey(slot);
            self.set_key(slot, client);
        } else if let Some(e) = self.entries.get_mut(slot as usize) {
            if e.kind == Kind::MacLegacy {
                // Same key space (no client id): simply claimed.
                e.kind = Kind::Mac;
            }
        }
        self.lease_of(slot)
    }

    /// The entry holding `ip`, if any.
    pub fn get(&self, ip: Ipv4Addr) -> Option<Lease> {
        let off = self.offset(ip)?;
        self.slot_of_ip(off).and_then(|s| self.lease_of(s))
    }

    /// True if `ip` could be given to a new client now: in the pool, not
    /// excluded, not reserved for a probe, and either never used or its
    /// entry has expired (BusyBox's test for a requested address, §2.8).
    pub fn is_available(&self, now: Instant, ip: Ipv4Addr) -> bool {
        let Some(off) = self.offset(ip) else {
            return false;
        };
        if self.excluded_off(off) || self.reserved.contains(&off) {
            return false;
        }
        match self.slot_of_ip(off).and_then(|s| self.entry(s)) {
            Some(e) => is_expired(e.expires, now),
            None => self.free.get(off),
        }
    }

    /// True while `ip` is reserved for a pending probe.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some_and(|o| self.reserved.contains(&o))
    }

    /// Room for one more entry (entries plus reservations below
    /// `max_leases`), evicting the longest-expired entry if needed.
    fn make_room(&mut self, now: Instant) -> bool {
        self.len + self.reserved.len() < self.max || self.evict_oldest(now)
    }

    /// Reserves a specific address (a client's requested IP) for a probe
    /// and the OFFER that follows: it must be [available](Self::is_available);
    /// an expired entry there is forgotten. False if not available or the
    /// table is full of unexpired entries.
    pub fn reserve(&mut self, now: Instant, ip: Ipv4Addr) -> bool {
        if !self.is_available(now, ip) {
            return false;
        }
        let Some(off) = self.offset(ip) else {
            return false;
        };
        if let Some(s) = self.slot_of_ip(off) {
            self.vacate(s);
        }
        if !self.make_room(now) {
            return false;
        }
        self.free.clear(off);
        self.reserved.push(off);
        true
    }

    /// Picks and reserves an address for a client with chaddr `mac` that
    /// has no entry (RFC 2131 §4.3.1, "a new address allocated from the
    /// server's pool"; reference §2.9):
    /// 1. the first never-used address at or after
    ///    `start + sdbm(mac) % size`, wrapping once (excluded and reserved
    ///    addresses are never in the free set);
    /// 2. else the address of the entry that expired longest ago (any
    ///    state); never an unexpired one.
    ///
    /// If the table is at `max_leases`, the longest-expired entry is
    /// forgotten first to make room. `None`: no address (BusyBox: `no free
    /// IP addresses`). Cost: O(log₆₄ pool) bitmap words, plus amortised
    /// O(n / 128) work when reclaiming (see `Reclaim`).
    pub fn allocate(&mut self, now: Instant, mac: MacAddr) -> Option<Ipv4Addr> {
        if self.size == 0 || !self.make_room(now) {
            return None;
        }
        let from = sdbm_hash(&mac) % self.size;
        let off = match self.free.next_wrapping(from, &self.steps) {
            Some(o) => o,
            None => {
                if !self.evict_oldest(now) {
                    return None;
                }
                self.free.next_wrapping(from, &self.steps)?
            }
        };
        self.free.clear(off);
        self.reserved.push(off);
        Some(self.ip_at(off))
    }

    /// True if some never-used pool address is free (not leased, held,
    /// reserved or excluded).
    pub fn has_free(&self) -> bool {
        self.size > 0 && !self.free.is_empty()
    }

    /// Reserves a never-used free address as [`LeaseTable::allocate`]
    /// would, but never reclaims an expired entry nor forgets one to make
    /// room: for the probe-ahead reserve, which must not cost a client
    /// its old address. `None` if there is no such address or no room.
    pub fn allocate_no_evict(&mut self, mac: MacAddr) -> Option<Ipv4Addr> {
        if self.size == 0 || self.len + self.reserved.len() >= self.max {
            return None;
        }
        let from = sdbm_hash(&mac) % self.size;
        let off = self.free.next_wrapping(from, &self.steps)?;
        self.free.clear(off);
        self.reserved.push(off);
        Some(self.ip_at(off))
    }

    /// Gives back a reservation that will not be offered (probe abandoned):
    /// the address is free again.
    pub fn unreserve(&mut self, ip: Ipv4Addr) {
        let Some(off) = self.offset(ip) else {
            return;
        };
        if let Some(i) = self.reserved.iter().position(|&o| o == off) {
            self.reserved.swap_remove(i);
            if self.slot_of_ip(off).is_none() && !self.excluded_off(off) {
                self.free.set(off);
            }
        }
    }

    /// Records an OFFER of `ip` to `client`, held for `secs` (offer_time).
    ///
    /// If the client already holds `ip` with a later unexpired expiry (a
    /// bound client that re-DISCOVERs), the expiry and state are kept:
    /// BusyBox shortens such a lease to offer_time, so a client that
    /// reboots and then never REQUESTs loses its address after 60 s.
    /// `None` if `ip` is not in the pool, excluded, held by someone else
    /// and unexpired, or the table is full.
    pub fn offer(
        &mut self,
        now: Instant,
        client: &Client,
        ip: Ipv4Addr,
        secs: u32,
        hostname: Hostname,
    ) -> Option<Lease> {
        self.assign(now, client, ip, LeaseState::Offered, secs, hostname, true)
    }

    /// Records an ACK: `client` holds `ip` for `secs` (RFC 2131 §4.3.2).
    /// Same refusals as [`offer`](Self::offer).
    ///
    /// A renewal asking for less time than the client still holds does not
    /// move the expiry earlier: if that ACK is lost, the client keeps using
    /// the address until the expiry it was given before, so the server must
    /// not hand it out sooner (BusyBox shortens it).
    pub fn bind(
        &mut self,
        now: Instant,
        client: &Client,
        ip: Ipv4Addr,
        secs: u32,
        hostname: Hostname,
    ) -> Option<Lease> {
        self.assign(now, client, ip, LeaseState::Bound, secs, hostname, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn assign(
        &mut self,
        now: Instant,
        client: &Client,
        ip: Ipv4Addr,
        state: LeaseState,
        secs: u32,
        hostname: Hostname,
        keep_longer: bool,
    ) -> Option<Lease> {
        let off = self.offset(ip)?;
        if self.excluded_off(off) {
            return None;
        }
        let own = self.find_slot(client);
        let at_ip = self.slot_of_ip(off);
        let expires = secs_after(now, secs);
        if let (Some((s, adopt)), Some(t)) = (own, at_ip) {
            if s == t {
                if adopt {
                    self.unkey(s);
                    self.set_key(s, client);
                }
                self.update(s, client.mac, state, expires, hostname, now, keep_longer);
                return self.lease_of(s);
            }
        }
        if let Some(t) = at_ip {
            // Someone else's entry (or a hold) at this address.
            if !self.entry(t).is_some_and(|e| is_expired(e.expires, now)) {
                return None;
            }
            self.vacate(t);
        }
        if let Some((s, _)) = own {
            // The client moves: its old address becomes free again.
            self.vacate(s);
        }
        if !self.claim(now, off) {
            return None;
        }
        let slot = self.create(
            Entry {
                expires,
                off,
                mac: client.mac.0,
                state: State::Live(state),
                kind: Kind::None,
            },
            hostname,
        );
        self.set_key(slot, client);
        self.lease_of(slot)
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        slot: u32,
        mac: MacAddr,
        state: LeaseState,
        expires: u32,
        hostname: Hostname,
        now: Instant,
        keep_longer: bool,
    ) {
        let mut id_bytes = None;
        let mut changed = false;
        if let Some(e) = self.entries.get_mut(slot as usize) {
            if e.kind == Kind::HwId && e.mac != mac.0 {
                // Same client id, new chaddr: the id can no longer be
                // derived from the MAC, so keep its bytes (same key, same
                // hash: the index is unaffected).
                id_bytes = Some(hw_id(&e.mac));
                e.kind = Kind::Other;
            }
            e.mac = mac.0;
            let live = !is_expired(e.expires, now) && e.expires > expires;
            // An offer keeps any longer hold; an ACK only a longer lease
            // (an offer hold is no promise to the client).
            let longer_ok =
                state == LeaseState::Offered || e.state == State::Live(LeaseState::Bound);
            let keep = keep_longer && live && longer_ok;
            if keep && state == LeaseState::Bound {
                // Bound now, still until the later expiry.
                e.state = State::Live(state);
            } else if !keep {
                changed = expires != e.expires;
                e.expires = expires;
                e.state = State::Live(state);
            }
        }
        self.set_name(slot, hostname);
        if let Some(b) = id_bytes {
            self.ids.insert(slot, Box::from(&b[..]));
        }
        if changed {
            self.note_expiry(slot);
        }
    }

    /// RELEASE (RFC 2131 §4.3.4): the entry at `ip` expires now but keeps
    /// its client, so the client is offered the same address again.
    pub fn release(&mut self, now: Instant, ip: Ipv4Addr) -> Option<Lease> {
        self.set_expiry(now, ip, Some(LeaseState::Released))
    }

    /// Ends an OFFER hold now (the client chose another server, RFC 2131
    /// §3.1 step 3); the entry is remembered as expired.
    pub fn expire(&mut self, now: Instant, ip: Ipv4Addr) -> Option<Lease> {
        self.set_expiry(now, ip, None)
    }

    fn set_expiry(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        state: Option<LeaseState>,
    ) -> Option<Lease> {
        let slot = self.slot_of_ip(self.offset(ip)?)?;
        let e = self.entries.get_mut(slot as usize)?;
        e.expires = e.expires.min(secs_now(now));
        if let Some(st) = state {
            e.state = State::Live(st);
        }
        self.note_expiry(slot);
        self.lease_of(slot)
    }

    /// DECLINE (RFC 2131 §4.3.3): `ip` is held for `secs` with no client
    /// (MAC zeroed, as BusyBox writes it).
    pub fn decline(&mut self, now: Instant, ip: Ipv4Addr, secs: u32) -> Option<Lease> {
        self.hold(now, ip, LeaseState::Declined, secs)
    }

    /// An ARP probe found `ip` in use: held for `secs` with no client
    /// (reference §2.9). Works on a reserved address, an existing entry, or
    /// a free one.
    pub fn conflict(&mut self, now: Instant, ip: Ipv4Addr, secs: u32) -> Option<Lease> {
        self.hold(now, ip, LeaseState::Conflict, secs)
    }

    fn hold(&mut self, now: Instant, ip: Ipv4Addr, state: LeaseState, secs: u32) -> Option<Lease> {
        let off = self.offset(ip)?;
        if self.excluded_off(off) {
            return None;
        }
        let expires = secs_after(now, secs);
        if let Some(slot) = self.slot_of_ip(off) {
            self.unkey(slot);
            if let Some(e) = self.entries.get_mut(slot as usize) {
                e.mac = [0; 6];
                e.state = State::Live(state);
                e.expires = expires;
            }
            self.set_name(slot, Hostname::EMPTY);
            self.note_expiry(slot);
            return self.lease_of(slot);
        }
        if !self.claim(now, off) {
            return None;
        }
        let slot = self.create(
            Entry {
                expires,
                off,
                mac: [0; 6],
                state: State::Live(state),
                kind: Kind::None,
            },
            Hostname::EMPTY,
        );
        self.lease_of(slot)
    }

    /// Takes address `off` for a new entry: out of the reserved list (an
    /// offer waiting for its probe; reserved addresses are never in the free
    /// set) or the free set, and makes room in the table. `false`, with
    /// nothing changed, if the address was neither reserved nor free or the
    /// table is full of unexpired entries.
    fn claim(&mut self, now: Instant, off: u32) -> bool {
        let was_reserved = match self.reserved.iter().position(|&o| o == off) {
            Some(i) => {
                self.reserved.swap_remove(i);
                true
            }
            None if self.free.get(off) => {
                self.free.clear(off);
                false
            }
            None => return false,
        };
        if self.make_room(now) {
            return true;
        }
        if was_reserved {
            self.reserved.push(off);
        } else {
            self.free.set(off);
        }
        false
    }

    /// Removes the entry in `slot` from the key index (it becomes a hold).
    fn unkey(&mut self, slot: u32) {
        let Some(e) = self.entry(slot) else {
            return;
        };
        if e.kind != Kind::None {
            let h = entry_key_hash(&self.entries, &self.ids, &self.hasher, slot);
            let (entries, ids, hasher) = (&self.entries, &self.ids, &self.hasher);
            self.by_key
                .remove(h, slot, |s| entry_key_hash(entries, ids, hasher, s));
        }
        self.ids.remove(&slot);
        if let Some(e) = self.entries.get_mut(slot as usize) {
            e.kind = Kind::None;
        }
    }

    /// Keys the (unkeyed) entry in `slot` by `client`.
    fn set_key(&mut self, slot: u32, client: &Client) {
        let kind = match key_of(client) {
            Key::Mac(_) => Kind::Mac,
            Key::Id(id) if *id == hw_id(&client.mac.0)[..] => Kind::HwId,
            Key::Id(id) => {
                self.ids.insert(slot, Box::from(id));
                Kind::Other
            }
        };
        if let Some(e) = self.entries.get_mut(slot as usize) {
            e.kind = kind;
        }
        self.index_key(slot);
    }

    fn index_key(&mut self, slot: u32) {
        let h = entry_key_hash(&self.entries, &self.ids, &self.hasher, slot);
        let (entries, ids, hasher) = (&self.entries, &self.ids, &self.hasher);
        self.by_key
            .insert(h, slot, |s| entry_key_hash(entries, ids, hasher, s));
    }

    /// Stores a new unkeyed entry (room already made) and indexes it by
    /// address.
    fn create(&mut self, e: Entry, name: Hostname) -> u32 {
        let slot = match self.vacant.pop() {
            Some(s) => {
                if let Some(d) = self.entries.get_mut(s as usize) {
                    *d = e;
                }
                s
            }
            None => {
                if self.entries.len() == self.entries.capacity() {
                    // Grow towards max_leases exactly, not past it.
                    let more = self
                        .entries
                        .len()
                        .max(16)
                        .min(self.max.saturating_sub(self.entries.len()).max(1));
                    self.entries.reserve_exact(more);
                }
                self.entries.push(e);
                if !self.names.is_empty() {
                    // Grow with `entries`, exactly (no doubling).
                    let more = self.entries.capacity() - self.names.len();
                    self.names.reserve_exact(more);
                    self.names.push(Hostname::EMPTY);
                }
                u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.set_name(slot, name);
        let entries = &self.entries;
        self.by_ip.insert(ip_hash(e.off), slot, |s| {
            ip_hash(entries.get(s as usize).map_or(0, |e| e.off))
        });
        self.len += 1;
        self.note_expiry(slot);
        slot
    }

    /// Forgets the entry in `slot`; its address becomes free (never-used)
    /// again unless excluded or reserved.
    fn vacate(&mut self, slot: u32) {
        let Some(&e) = self.entry(slot) else {
            return;
        };
        self.unkey(slot);
        let entries = &self.entries;
        self.by_ip.remove(ip_hash(e.off), slot, |s| {
            ip_hash(entries.get(s as usize).map_or(0, |e| e.off))
        });
        if let Some(d) = self.entries.get_mut(slot as usize) {
            *d = VACANT;
        }
        self.set_name(slot, Hostname::EMPTY);
        self.vacant.push(slot);
        self.len -= 1;
        if !self.excluded_off(e.off) && !self.reserved.contains(&e.off) {
            self.free.set(e.off);
        }
        let ip = self.ip_at(e.off);
        self.forgotten.push(ip);
    }

    /// Moves the addresses whose entries were forgotten since the last call
    /// (evicted under `max_leases`, reused for another client, left by a
    /// client that moved, un-parked) into `out`, oldest first. The server
    /// journals each as a forget entry: without them, replay would bring
    /// back entries the table no longer has and, under `max_leases`, push
    /// out newer leases.
    pub fn take_forgotten(&mut self, out: &mut Vec<Ipv4Addr>) {
        out.append(&mut self.forgotten);
    }

    /// Forgets the entry at `ip` now (a DECLINE hold un-parked); its
    /// address is free again. `None` if there was none.
    pub fn forget(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let slot = self.slot_of_ip(self.offset(ip)?)?;
        let lease = self.lease_of(slot);
        self.vacate(slot);
        lease
    }

    /// Tells the reclaim candidates that the entry in `slot` has a new
    /// expiry (created, or its expiry changed): see [`Reclaim`].
    fn note_expiry(&mut self, slot: u32) {
        if let Some(e) = self.entry(slot) {
            let exp = e.expires;
            self.reclaim.note(exp, slot);
        }
    }

    /// Forgets the entry that expired longest ago (reference §2.9: "the
    /// oldest lease"), if it has expired. False if every entry is live.
    fn evict_oldest(&mut self, now: Instant) -> bool {
        loop {
            // Drop candidates whose entry is gone or has another expiry.
            while let Some(&(exp, slot)) = self.reclaim.cand.last() {
                self.tick();
                if self.entry(slot).is_some_and(|e| e.expires == exp) {
                    break;
                }
                self.reclaim.cand.pop();
            }
            if let Some(&(exp, slot)) = self.reclaim.cand.last() {
                // The oldest entry of all: everything outside `cand` is at or
                // after `floor`, above every candidate.
                if !is_expired(exp, now) {
                    return false;
                }
                self.reclaim.cand.pop();
                self.vacate(slot);
                return true;
            }
            if self.reclaim.floor == NO_FLOOR {
                // No candidate and none outside: the table is empty.
                return false;
            }
            self.rescan();
        }
    }

    /// Refills the reclaim candidates from every entry: the
    /// [`CANDIDATES`] earliest expiries, O(n log CANDIDATES). Runs only
    /// when an address must be reclaimed and every candidate was used up
    /// or went stale, so at most once per `CANDIDATES` reclaims or per
    /// full turnover of the oldest entries.
    fn rescan(&mut self) {
        let mut best: BinaryHeap<(u32, u32)> = BinaryHeap::with_capacity(CANDIDATES + 1);
        for (s, e) in self.entries.iter().enumerate() {
            self.steps.set(self.steps.get() + 1);
            if e.state == State::Vacant {
                continue;
            }
            let Ok(s) = u32::try_from(s) else { break };
            if best.len() <= CANDIDATES {
                best.push((e.expires, s));
            } else if best.peek().is_some_and(|&top| (e.expires, s) < top) {
                best.pop();
                best.push((e.expires, s));
            }
        }
        // With more than CANDIDATES entries, the largest kept one is the
        // (CANDIDATES+1)-th earliest: the floor, not a candidate.
        self.reclaim.floor = if best.len() > CANDIDATES {
            best.pop().unwrap_or(NO_FLOOR)
        } else {
            NO_FLOOR
        };
        let mut cand = best.into_sorted_vec();
        cand.reverse();
        self.reclaim.cand = cand;
    }

    fn record_of(&self, now: Instant, slot: u32) -> Option<LeaseRecord> {
        let e = self.entry(slot)?;
        let client_id = match e.kind {
            Kind::HwId => hw_id(&e.mac).to_vec(),
            Kind::Other => self.ids.get(&slot).map(|b| b.to_vec()).unwrap_or_default(),
            _ => Vec::new(),
        };
        Some(LeaseRecord {
            ip: self.ip_at(e.off),
            mac: MacAddr(e.mac),
            hostname: self.name_of(slot),
            remaining: remaining(e.expires, now),
            client_id,
        })
    }

    /// The record of the entry holding `ip` (what the server hands to the
    /// persistence layer after a change).
    pub fn record(&self, now: Instant, ip: Ipv4Addr) -> Option<LeaseRecord> {
        let off = self.offset(ip)?;
        self.slot_of_ip(off).and_then(|s| self.record_of(now, s))
    }

    /// Every entry as a [`LeaseRecord`], in slot order: remaining seconds
    /// from `now` (expired → 0), holds with MAC zero, as BusyBox writes its
    /// lease file (reference §3.1).
    pub fn records(&self, now: Instant) -> impl Iterator<Item = LeaseRecord> + '_ {
        (0..self.entries.len()).filter_map(move |s| self.record_of(now, u32::try_from(s).ok()?))
    }

    /// A table for a new configuration (SIGHUP) holding this table's
    /// entries with their state, client and expiry, except those outside
    /// the new pool or on a now-excluded address or static-lease MAC.
    /// Returns the table and how many entries did not fit a smaller
    /// `max_leases`. Reservations are not carried over.
    pub fn rebuilt(&self, config: &ServerConfig, server_ip: Ipv4Addr) -> (LeaseTable, usize) {
        let mut t = LeaseTable::new(config, server_ip);
        let mut dropped = 0;
        for (slot, e) in self.entries.iter().enumerate() {
            if e.state == State::Vacant {
                continue;
            }
            let Some(off) = t.offset(self.ip_at(e.off)) else {
                continue;
            };
            let keyed = e.kind != Kind::None;
            if t.excluded_off(off) || (keyed && t.static_macs.contains(&MacAddr(e.mac))) {
                continue;
            }
            if t.len >= t.max || !t.free.get(off) {
                dropped += 1;
                continue;
            }
            t.free.clear(off);
            let name = u32::try_from(slot).map_or(Hostname::EMPTY, |k| self.name_of(k));
            let s = t.create(
                Entry {
                    off,
                    kind: Kind::None,
                    ..*e
                },
                name,
            );
            if keyed {
                if e.kind == Kind::Other {
                    let id = u32::try_from(slot).ok().and_then(|k| self.ids.get(&k));
                    t.ids.insert(s, id.cloned().unwrap_or_default());
                }
                if let Some(d) = t.entries.get_mut(s as usize) {
                    d.kind = e.kind;
                }
                t.index_key(s);
            }
        }
        (t, dropped)
    }

    /// Loads records at startup (reference §3.3): records outside the pool,
    /// on an excluded address (server, static lease) or for a static-lease
    /// MAC are skipped; a later record for the same address or client
    /// replaces an earlier one; a record with remaining 0 is kept as
    /// expired. Records without a client id are keyed by MAC and adoptable
    /// (see [`lookup`](Self::lookup)).
    ///
    /// If more records remain than `max_leases` allows, expired entries go
    /// first (oldest first), then holds, then the oldest live leases:
    /// never an ACKed live lease in favour of an expired one. (BusyBox stops
    /// reading when the table is full, `too many leases while loading`,
    /// dropping the newest.) Returns how many were dropped.
    pub fn load(&mut self, now: Instant, records: impl IntoIterator<Item = LeaseRecord>) -> usize {
        let recs: Vec<LeaseRecord> = records
            .into_iter()
            .filter(|r| {
                self.offset(r.ip).is_some_and(|off| !self.excluded_off(off))
                    && !self.static_macs.contains(&r.mac)
            })
            .collect();
        let mut keep = last_per_ip_and_client(&recs);
        let room = self.max.saturating_sub(self.len);
        let kept = keep.iter().filter(|&&k| k).count();
        let mut dropped = kept.saturating_sub(room);
        // Drop the least valuable first: expired, then holds, then the
        // oldest live leases.
        let classes: [fn(&LeaseRecord) -> bool; 3] =
            [|r| r.remaining == 0, |r| r.mac.is_zero(), |_| true];
        let mut to_drop = dropped;
        for class in classes {
            for (i, r) in recs.iter().enumerate() {
                if to_drop == 0 {
                    break;
                }
                if let Some(k) = keep.get_mut(i).filter(|k| **k) {
                    if class(r) {
                        *k = false;
                        to_drop -= 1;
                    }
                }
            }
        }
        for (r, _) in recs.into_iter().zip(keep).filter(|(_, k)| *k) {
            let Some(off) = self.offset(r.ip) else {
                continue;
            };
            let held = r.mac.is_zero();
            let client = Client::new(r.mac, (!held).then_some(&r.client_id[..]));
            if let Some(s) = self.slot_of_ip(off) {
                self.vacate(s);
            }
            if !held {
                if let Some(s) = self.slot_of_key(&key_of(&client)) {
                    self.vacate(s);
                }
            }
            if self.len >= self.max {
                dropped += 1;
                continue;
            }
            let expires = if r.remaining == 0 {
                secs_now(now)
            } else {
                secs_after(now, r.remaining)
            };
            if !self.free.get(off) {
                continue;
            }
            self.free.clear(off);
            let state = if held {
                LeaseState::Declined
            } else {
                LeaseState::Bound
            };
            let slot = self.create(
                Entry {
                    expires,
                    off,
                    mac: r.mac.0,
                    state: State::Live(state),
                    kind: Kind::None,
                },
                Hostname::from_field(r.hostname.field()),
            );
            if !held {
                self.set_key(slot, &client);
                if client.client_id.is_none() {
                    if let Some(e) = self.entries.get_mut(slot as usize) {
                        e.kind = Kind::MacLegacy;
                    }
                }
            }
        }
        // Loading reproduces the durable state: nothing to journal.
        self.forgotten.clear();
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::StaticLease;

    pub(crate) fn config(start: &str, end: &str, max: u32) -> ServerConfig {
        ServerConfig {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            max_leases: max,
            lease_file: "/tmp/leases".into(),
            pidfile: "/tmp/pid".into(),
            ..ServerConfig::default()
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn mac(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([2, 0, b[0], b[1], b[2], b[3]])
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const SERVER: &str = "10.0.0.1";

    fn table(start: &str, end: &str, max: u32) -> LeaseTable {
        LeaseTable::new(&config(start, end, max), ip(SERVER))
    }

    fn bind_new(tb: &mut LeaseTable, now: Instant, m: MacAddr, secs: u32) -> Ipv4Addr {
        let a = tb.allocate(now, m).expect("free address");
        let c = Client::by_mac(m);
        tb.offer(now, &c, a, 60, Hostname::EMPTY).unwrap();
        tb.bind(now, &c, a, secs, Hostname::EMPTY).unwrap();
        a
    }

    #[test]
    fn entry_is_compact() {
        let n = core::mem::size_of::<Entry>();
        println!("size_of::<Entry>() = {n} bytes (BusyBox dyn_lease: 36)");
        assert!(n <= 16, "{n}");
    }

    /// Binds `n` new clients `mac(0..n)`, the ones in `named` with a name.
    fn bind_many(tb: &mut LeaseTable, n: u32, named: impl Fn(u32) -> bool) {
        for k in 0..n {
            let m = mac(k);
            let c = Client::by_mac(m);
            let name = if named(k) {
                Hostname::sanitize(format!("h{k}").as_bytes())
            } else {
                Hostname::EMPTY
            };
            let a = tb.allocate(t(0), m).expect("free address");
            tb.offer(t(0), &c, a, 60, name).unwrap();
            tb.bind(t(0), &c, a, 86_400, name).unwrap();
        }
    }

    #[test]
    fn heapsort_sorts() {
        let mut x: u32 = 12345;
        for n in [0usize, 1, 2, 3, 10, 100, 1000] {
            let mut v: Vec<u32> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    x >> 20
                })
                .collect();
            let mut want = v.clone();
            want.sort_unstable();
            heapsort(&mut v, &|a, b| a < b);
            assert_eq!(v, want, "{n}");
        }
    }

    #[test]
    fn load_dedup_matches_the_hash_set_model() {
        // The model: walk backwards, drop a record whose IP or client key
        // was seen later (LeaseTable::load as first written).
        fn model(recs: &[LeaseRecord]) -> Vec<bool> {
            let mut keep = vec![true; recs.len()];
            let mut seen_ip = std::collections::HashSet::new();
            let mut seen_key = std::collections::HashSet::new();
            for (i, r) in recs.iter().enumerate().rev() {
                let key = (!r.mac.is_zero()).then(|| {
                    if r.client_id.is_empty() {
                        (r.mac, &r.client_id[..])
                    } else {
                        (MacAddr::ZERO, &r.client_id[..])
                    }
                });
                let dup_ip = !seen_ip.insert(r.ip);
                let dup_key = key.is_some_and(|k| !seen_key.insert(k));
                if dup_ip || dup_key {
                    keep[i] = false;
                }
            }
            keep
        }
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut below = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..5_000 {
            let recs: Vec<LeaseRecord> = (0..below(12))
                .map(|_| {
                    let m = below(5) as u8;
                    LeaseRecord {
                        ip: Ipv4Addr::new(10, 0, 0, below(6) as u8),
                        mac: MacAddr([0, 0, 0, 0, 0, m]),
                        hostname: Hostname::EMPTY,
                        remaining: 1,
                        client_id: match below(3) {
                            0 => Vec::new(),
                            1 => vec![1, 0, 0, 0, 0, 0, m],
                            _ => vec![9, below(2) as u8],
                        },
                    }
                })
                .collect();
            assert_eq!(
                last_per_ip_and_client(&recs),
                model(&recs),
                "{round}: {recs:?}"
            );
        }
    }

    #[test]
    fn reclaim_picks_what_a_scan_of_every_entry_picks() {
        // The oldest expired entry (lowest slot on a tie), as BusyBox's
        // find_oldest_expired_lease scans for it.
        fn model(tb: &LeaseTable, now: Instant) -> Option<u32> {
            tb.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.state != State::Vacant && is_expired(e.expires, now))
                .map(|(s, e)| (e.expires, s as u32))
                .min()
                .map(|(_, s)| s)
        }
        let mut x: u64 = 0x853C_49E6_748F_EA9B;
        let mut below = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // More entries than CANDIDATES, so records overflow, go stale and
        // are rescanned; expiries collide often (whole seconds).
        let mut tb = table("10.0.0.2", "10.0.1.200", 300);
        let mut now_ms = 0u64;
        let (mut evicted, mut none, mut most) = (0, 0, 0);
        for round in 0..60_000 {
            // Alternating regimes: short leases and every kind of change
            // (many evictions), then only long leases (nothing expired once
            // the expired entries are reclaimed).
            let calm = (round / 2000) % 2 == 1;
            now_ms += below(if calm { 20 } else { 400 });
            let now = t(now_ms);
            let m = mac(below(500) as u32);
            let c = Client::by_mac(m);
            let op = if calm {
                [0, 8, 9][below(3) as usize]
            } else {
                below(10)
            };
            match op {
                0..=3 => {
                    if let Some(a) = tb
                        .find(&c)
                        .map(|l| l.ip)
                        .or_else(|| tb.allocate_no_evict(m))
                    {
                        let secs = if calm {
                            3600
                        } else {
                            [0, 1, 2, 5, 30, 60, 600, 3600][below(8) as usize]
                        };
                        let _ = tb.offer(now, &c, a, secs, Hostname::EMPTY);
                        if below(2) == 0 {
                            let _ = tb.bind(now, &c, a, secs + below(3) as u32, Hostname::EMPTY);
                        } else {
                            tb.unreserve(a);
                        }
                    }
                }
                4 => {
                    if let Some(l) = tb.find(&c) {
                        tb.release(now, l.ip);
                    }
                }
                5 => {
                    if let Some(l) = tb.find(&c) {
                        tb.decline(now, l.ip, below(20) as u32);
                    }
                }
                6 => {
                    if let Some(l) = tb.find(&c) {
                        tb.expire(now, l.ip);
                    }
                }
                7 => {
                    if let Some(l) = tb.find(&c) {
                        tb.forget(l.ip);
                    }
                }
                8 | 9 if !calm && below(3) > 0 => {}
                _ => {
                    let want = model(&tb, now);
                    let before = tb.len();
                    let got = tb.evict_oldest(now);
                    assert_eq!(got, want.is_some(), "round {round}");
                    if let Some(s) = want {
                        assert_eq!(tb.entries[s as usize].state, State::Vacant, "round {round}");
                        assert_eq!(tb.len(), before - 1);
                        evicted += 1;
                    } else {
                        none += 1;
                    }
                }
            }
            assert!(tb.reclaim.cand.len() <= CANDIDATES);
            most = most.max(tb.len());
        }
        println!("{evicted} evictions checked, {none} with nothing expired, up to {most} entries");
        assert!(evicted > 1000 && none > 500, "{evicted} {none}");
        assert!(most > 2 * CANDIDATES, "{most}");
    }

    #[test]
    fn reclaim_cost_at_max_leases() {
        // A table at max_leases (20,000) with varied expiries.
        let mut tb = table("10.1.0.0", "10.1.255.255", 20_000);
        for k in 0..20_000u32 {
            let m = mac(k);
            let c = Client::by_mac(m);
            let a = tb.allocate(t(0), m).unwrap();
            tb.bind(t(0), &c, a, 1000 + k % 100, Hostname::EMPTY)
                .unwrap();
        }
        // Nothing expired: newcomers are refused, and refusing does not
        // rescan the table each time (one rescan, then one comparison).
        let s0 = tb.steps();
        for k in 0..1000 {
            assert_eq!(tb.allocate(t(500_000), mac(100_000 + k)), None);
        }
        let refused = tb.steps() - s0;
        println!("1000 refusals: {refused} steps");
        assert!(refused < 20_000 + 1000 * 4, "{refused}");
        // Everything expired: each newcomer reclaims the oldest entry, at
        // an amortised O(n / CANDIDATES) rescan cost.
        let s0 = tb.steps();
        for k in 0..20_000u32 {
            let m = mac(200_000 + k);
            let a = tb.allocate(t(2_000_000), m).expect("reclaims");
            tb.offer(t(2_000_000), &Client::by_mac(m), a, 60, Hostname::EMPTY)
                .unwrap();
            assert_eq!(tb.len(), 20_000);
            // Oldest first: the 200 clients with the earliest expiry
            // (k % 100 == 0) go first.
            if k == 199 {
                assert!((0..20_000)
                    .filter(|j| j % 100 == 0)
                    .all(|j| tb.find(&Client::by_mac(mac(j))).is_none()));
            }
        }
        let per = (tb.steps() - s0) / 20_000;
        println!("20,000 reclaims: {per} steps each");
        assert!(per <= 20_000 / CANDIDATES as u64 + 64, "{per}");
    }

    #[test]
    fn memory_per_lease_large_table() {
        // Issue 9's case: 50,000 leases in the bench's /16 pool with
        // max_leases the pool. Bytes held (capacities) per lease.
        let mut tb = table("10.99.1.0", "10.99.255.254", 65_279);
        bind_many(&mut tb, 50_000, |_| false);
        let per = tb.memory_bytes() / 50_000;
        println!("50,000 leases without names: {per} bytes per lease");
        assert!(tb.names.capacity() == 0);
        assert!(per <= 36, "{per}");
        // One client sends a name: every slot has room for one now, as in
        // BusyBox's 36-byte dyn_lease.
        let c = Client::by_mac(mac(7));
        let a = tb.find(&c).unwrap().ip;
        tb.bind(t(1), &c, a, 86_400, Hostname::sanitize(b"seven"))
            .unwrap();
        let per = tb.memory_bytes() / 50_000;
        println!("with names: {per} bytes per lease");
        assert_eq!(tb.names.len(), tb.entries.len());
        // (`names` has the capacity of `entries`, 65,279 here.)
        assert!(per <= 62, "{per}");
        assert_eq!(tb.find(&c).unwrap().hostname.to_string(), "seven");
        assert!(tb
            .find(&Client::by_mac(mac(8)))
            .unwrap()
            .hostname
            .is_empty());
    }

    #[test]
    fn host_names_at_max_leases_and_across_slot_reuse() {
        // A full table (max_leases = the pool), odd clients named; the
        // first name arrives after slots exist without one.
        let mut tb = table("10.0.1.1", "10.0.1.16", 16);
        bind_many(&mut tb, 16, |k| k % 2 == 1);
        assert_eq!(tb.len(), 16);
        assert_eq!(tb.names.len(), tb.entries.len());
        for k in 0..16 {
            let l = tb.find(&Client::by_mac(mac(k))).unwrap();
            let want = if k % 2 == 1 {
                format!("h{k}")
            } else {
                String::new()
            };
            assert_eq!(l.hostname.to_string(), want, "{k}");
            let r = tb.record(t(0), l.ip).unwrap();
            assert_eq!(r.hostname, l.hostname);
        }
        // Full: no address for a newcomer until a lease expires.
        assert_eq!(tb.allocate(t(1_000), mac(99)), None);
        // A named client releases, then is evicted for a newcomer without a
        // name, which must not inherit the old name from the reused slot.
        let gone = tb.find(&Client::by_mac(mac(3))).unwrap().ip;
        tb.release(t(1_000), gone).unwrap();
        let a = tb.allocate(t(2_000), mac(99)).expect("evicts the released");
        let c = Client::by_mac(mac(99));
        let l = tb.offer(t(2_000), &c, a, 60, Hostname::EMPTY).unwrap();
        assert!(l.hostname.is_empty());
        assert_eq!(tb.find(&Client::by_mac(mac(3))), None);
        assert_eq!(tb.len(), 16);
        // A hold drops the name; a renewal with a new name replaces it.
        let h = tb.find(&Client::by_mac(mac(5))).unwrap().ip;
        assert!(tb.decline(t(2_000), h, 60).unwrap().hostname.is_empty());
        let c1 = Client::by_mac(mac(1));
        let a1 = tb.find(&c1).unwrap().ip;
        let l = tb
            .bind(t(2_000), &c1, a1, 600, Hostname::sanitize(b"new"))
            .unwrap();
        assert_eq!(l.hostname.to_string(), "new");
        for r in tb.records(t(2_000)) {
            assert!(r.hostname.is_empty() || r.mac == mac(1) || r.mac.0[5] % 2 == 1);
        }
    }

    #[test]
    fn sdbm_matches_the_formula() {
        // h = b + (h<<6) + (h<<16) - h over 00 00 00 00 00 01 is 1; over
        // 01 00 00 00 00 00 it is 65599^5 mod 2^32.
        assert_eq!(sdbm_hash(&MacAddr([0, 0, 0, 0, 0, 1])), 1);
        let mut h: u32 = 1;
        for _ in 0..5 {
            h = h.wrapping_mul(65599);
        }
        assert_eq!(sdbm_hash(&MacAddr([1, 0, 0, 0, 0, 0])), h);
    }

    #[test]
    fn free_set_finds_next_and_wraps() {
        let s = Cell::new(0);
        let mut f = FreeSet::new(70_000);
        assert_eq!(f.next_wrapping(5, &s), None);
        f.set(69_999);
        f.set(3);
        assert_eq!(f.next_from(4, &s), Some(69_999));
        assert_eq!(f.next_wrapping(4, &s), Some(69_999));
        f.clear(69_999);
        assert_eq!(f.next_wrapping(4, &s), Some(3));
        assert_eq!(f.next_from(4, &s), None);
        f.set(4096);
        assert_eq!(f.next_from(4, &s), Some(4096));
        assert!(f.get(4096) && !f.get(4097));
    }

    #[test]
    fn allocation_starts_at_the_mac_hash_and_skips_excluded() {
        let mut cfg = config("10.0.0.0", "10.0.0.255", 256);
        cfg.static_leases.push(StaticLease {
            mac: mac(99),
            ip: ip("10.0.0.50"),
            hostname: None,
        });
        let mut tb = LeaseTable::new(&cfg, ip(SERVER));
        let m = mac(7);
        let expect = sdbm_hash(&m) % 256;
        let a = tb.allocate(t(0), m).unwrap();
        assert_eq!(u32::from(a) - u32::from(ip("10.0.0.0")), expect);
        assert!(tb.is_reserved(a));
        tb.unreserve(a);
        // Exhaust the pool: the server and static addresses never come out.
        let mut got = std::collections::HashSet::new();
        for i in 0..300 {
            match tb.allocate(t(0), mac(i)) {
                Some(a) => assert!(got.insert(a)),
                None => break,
            }
        }
        assert_eq!(got.len(), 254);
        assert!(!got.contains(&ip(SERVER)) && !got.contains(&ip("10.0.0.50")));
    }

    /// `exclude` ranges (clipped to the pool, merged with the server and
    /// static addresses) are never allocated, reserved for a requested
    /// address, or loaded; a reload that excludes a leased address drops
    /// its lease.
    #[test]
    fn exclude_ranges_are_never_handed_out() {
        let mut cfg = config("10.0.0.10", "10.0.0.30", 21);
        cfg.excludes = vec![
            (ip("10.0.0.12"), ip("10.0.0.20")),
            (ip("10.0.0.25"), ip("10.0.0.25")),
            (ip("10.0.0.1"), ip("10.0.0.11")),
            (ip("10.0.0.19"), ip("10.0.0.21")),
            (ip("10.0.0.40"), ip("10.0.0.50")),
        ];
        let mut tb = LeaseTable::new(&cfg, ip(SERVER));
        for (a, excluded) in [
            ("10.0.0.10", true),
            ("10.0.0.11", true),
            ("10.0.0.21", true),
            ("10.0.0.22", false),
            ("10.0.0.24", false),
            ("10.0.0.25", true),
            ("10.0.0.26", false),
            ("10.0.0.30", false),
        ] {
            assert_eq!(tb.is_excluded(ip(a)), excluded, "{a}");
        }
        let mut got = std::collections::BTreeSet::new();
        for i in 0..100 {
            match tb.allocate(t(0), mac(i)) {
                Some(a) => assert!(got.insert(a)),
                None => break,
            }
        }
        let want: std::collections::BTreeSet<Ipv4Addr> = (22..=30)
            .filter(|&n| n != 25)
            .map(|n| Ipv4Addr::new(10, 0, 0, n))
            .collect();
        assert_eq!(got, want);
        let mut tb = LeaseTable::new(&cfg, ip(SERVER));
        assert!(
            !tb.reserve(t(0), ip("10.0.0.15")),
            "a requested excluded address"
        );
        let rec = |a: &str, m: u32| LeaseRecord {
            mac: mac(m),
            ip: ip(a),
            remaining: 100,
            hostname: Hostname::default(),
            client_id: Vec::new(),
        };
        tb.load(t(0), vec![rec("10.0.0.15", 1), rec("10.0.0.26", 2)]);
        assert_eq!(tb.len(), 1);
        assert!(tb.get(ip("10.0.0.26")).is_some());
        // A reload that excludes the leased address.
        let mut cfg2 = cfg.clone();
        cfg2.excludes.push((ip("10.0.0.26"), ip("10.0.0.26")));
        let (tb2, _) = tb.rebuilt(&cfg2, ip(SERVER));
        assert_eq!(tb2.len(), 0);
    }

    #[test]
    fn never_used_before_expired_then_longest_expired() {
        let mut tb = table("10.0.0.10", "10.0.0.13", 10);
        let a = bind_new(&mut tb, t(0), mac(1), 100);
        let b = bind_new(&mut tb, t(0), mac(2), 50);
        let c = bind_new(&mut tb, t(0), mac(3), 200);
        // One never-used address is left; it is preferred even though
        // leases have expired.
        let d = tb.allocate(t(1_000_000), mac(4)).unwrap();
        assert!(![a, b, c].contains(&d));
        tb.offer(
            t(1_000_000),
            &Client::by_mac(mac(4)),
            d,
            500,
            Hostname::EMPTY,
        )
        .unwrap();
        // Now: b expired longest ago (at 50 s), then a (100), then c (200).
        let steps = tb.steps();
        assert_eq!(tb.allocate(t(1_000_000), mac(5)), Some(b));
        assert!(tb.steps() - steps < 20);
        assert_eq!(tb.find(&Client::by_mac(mac(2))), None, "b forgotten");
        assert_eq!(tb.allocate(t(1_000_000), mac(6)), Some(a));
        assert_eq!(tb.allocate(t(1_000_000), mac(7)), Some(c));
        // d is unexpired: never reclaimed.
        assert_eq!(tb.allocate(t(1_000_000), mac(8)), None);
    }

    #[test]
    fn max_leases_bounds_entries_and_reuses_expired_first() {
        let mut tb = table("10.0.1.0", "10.0.1.255", 3);
        assert_eq!(tb.max_leases(), 3);
        bind_new(&mut tb, t(0), mac(1), 10);
        bind_new(&mut tb, t(0), mac(2), 1000);
        let held = tb.allocate(t(0), mac(3)).unwrap();
        assert_eq!(tb.len() + tb.reserved.len(), 3);
        // Full (2 entries + 1 reservation), nothing expired.
        assert_eq!(tb.allocate(t(5_000), mac(4)), None);
        tb.conflict(t(5_000), held, 3600).unwrap();
        assert_eq!(tb.len(), 3);
        // At 11 s mac(1)'s lease has expired: its entry is evicted and the
        // newcomer gets a never-used address.
        let a = tb.allocate(t(11_000), mac(4)).unwrap();
        assert_eq!(tb.find(&Client::by_mac(mac(1))), None);
        assert!(tb.len() + tb.reserved.len() <= 3);
        tb.offer(t(11_000), &Client::by_mac(mac(4)), a, 60, Hostname::EMPTY)
            .unwrap();
        assert_eq!(tb.len(), 3);
        assert_eq!(tb.records(t(11_000)).count(), 3);
    }

    #[test]
    fn offer_does_not_shorten_a_bound_lease() {
        let mut tb = table("10.0.0.10", "10.0.0.20", 10);
        let m = mac(1);
        let a = bind_new(&mut tb, t(0), m, 3600);
        let l = tb
            .offer(t(10_000), &Client::by_mac(m), a, 60, Hostname::EMPTY)
            .unwrap();
        assert_eq!(l.state, LeaseState::Bound);
        assert_eq!(l.expires, t(3_600_000));
        // Expired: a new offer hold replaces it.
        let l = tb
            .offer(t(4_000_000), &Client::by_mac(m), a, 60, Hostname::EMPTY)
            .unwrap();
        assert_eq!(l.state, LeaseState::Offered);
        assert_eq!(l.expires, t(4_060_000));
    }

    #[test]
    fn renewal_does_not_shorten_a_granted_lease() {
        let mut tb = table("10.0.0.10", "10.0.0.20", 10);
        let m = mac(1);
        let c = Client::by_mac(m);
        let a = bind_new(&mut tb, t(0), m, 3600);
        let l = tb.bind(t(1_000), &c, a, 100, Hostname::EMPTY).unwrap();
        assert_eq!(l.expires, t(3_600_000));
        let l = tb.bind(t(3_550_000), &c, a, 100, Hostname::EMPTY).unwrap();
        assert_eq!(l.expires, t(3_650_000));
    }

    #[test]
    fn client_id_keys_and_adoption() {
        let mut tb = table("10.0.0.10", "10.0.0.20", 10);
        let m = mac(1);
        let rec = LeaseRecord {
            ip: ip("10.0.0.15"),
            mac: m,
            hostname: Hostname::sanitize(b"old"),
            remaining: 500,
            client_id: Vec::new(),
        };
        assert_eq!(tb.load(t(0), [rec]), 0);
        // A client with an id on that MAC adopts the lease.
        let id1: &[u8] = b"\xffid-one";
        let c1 = Client::new(m, Some(id1));
        assert_eq!(tb.lookup(&c1).unwrap().ip, ip("10.0.0.15"));
        // Now keyed by id1: a second id on the same MAC is another client,
        // and so is the bare MAC.
        let id2: &[u8] = b"\xffid-two";
        assert_eq!(tb.lookup(&Client::new(m, Some(id2))), None);
        assert_eq!(tb.find(&Client::by_mac(m)), None);
        let r = tb.record(t(0), ip("10.0.0.15")).unwrap();
        assert_eq!(r.client_id, id1);
        // 01 ‖ chaddr is stored compactly but round-trips.
        let hw = hw_id(&mac(2).0);
        let c2 = Client::new(mac(2), Some(&hw));
        let a = tb.allocate(t(0), mac(2)).unwrap();
        tb.bind(t(0), &c2, a, 100, Hostname::EMPTY).unwrap();
        assert!(tb.ids.len() == 1);
        assert_eq!(tb.record(t(0), a).unwrap().client_id, hw.to_vec());
        // Same id from a new chaddr is still the same client.
        let c2b = Client::new(mac(3), Some(&hw));
        assert_eq!(tb.lookup(&c2b).unwrap().ip, a);
        tb.bind(t(1), &c2b, a, 100, Hostname::EMPTY).unwrap();
        assert_eq!(tb.lookup(&c2).unwrap().mac, mac(3));
        assert_eq!(tb.record(t(0), a).unwrap().client_id, hw.to_vec());
    }

    #[test]
    fn holds_and_release() {
        let mut tb = table("10.0.0.10", "10.0.0.20", 10);
        let m = mac(1);
        let a = bind_new(&mut tb, t(0), m, 3600);
        let l = tb.release(t(5_000), a).unwrap();
        assert_eq!(l.state, LeaseState::Released);
        assert!(l.is_expired(t(5_000)));
        assert_eq!(tb.find(&Client::by_mac(m)).unwrap().ip, a);
        let l = tb.decline(t(6_000), a, 3600).unwrap();
        assert_eq!((l.state, l.mac), (LeaseState::Declined, MacAddr::ZERO));
        assert_eq!(tb.find(&Client::by_mac(m)), None);
        assert!(!tb.is_available(t(3_605_999), a));
        assert!(tb.is_available(t(3_606_000), a));
        let r = tb.record(t(6_000), a).unwrap();
        assert_eq!((r.mac, r.remaining), (MacAddr::ZERO, 3600));
    }

    #[test]
    fn load_skips_like_busybox() {
        let mut cfg = config("10.0.0.10", "10.0.0.20", 5);
        cfg.static_leases.push(StaticLease {
            mac: mac(9),
            ip: ip("10.0.0.12"),
            hostname: None,
        });
        let mut tb = LeaseTable::new(&cfg, ip("10.0.0.11"));
        let rec = |a: &str, m: MacAddr, rem: u32| LeaseRecord {
            ip: ip(a),
            mac: m,
            hostname: Hostname::sanitize(b"h;x"),
            remaining: rem,
            client_id: Vec::new(),
        };
        let dropped = tb.load(
            t(1000),
            vec![
                rec("10.0.0.9", mac(1), 10),          // outside
                rec("10.0.0.11", mac(1), 10),         // server IP
                rec("10.0.0.12", mac(1), 10),         // static IP
                rec("10.0.0.13", mac(9), 10),         // static MAC
                rec("10.0.0.14", mac(1), 0),          // expired: kept
                rec("10.0.0.15", MacAddr::ZERO, 100), // hold
                rec("10.0.0.16", mac(2), 100),
                rec("10.0.0.17", mac(3), 100),
                rec("10.0.0.18", mac(4), 100), // the table is full here
                rec("10.0.0.19", mac(5), 100), // over max_leases
            ],
        );
        // Over max_leases the expired entry goes first (BusyBox would have
        // dropped the newest, 10.0.0.19).
        assert_eq!(dropped, 1);
        assert!(tb.get(ip("10.0.0.14")).is_none());
        assert!(tb.get(ip("10.0.0.19")).is_some());
        let mut tb = LeaseTable::new(&cfg, ip("10.0.0.11"));
        let dropped = tb.load(
            t(1000),
            vec![
                rec("10.0.0.14", mac(1), 0),          // expired: kept
                rec("10.0.0.15", MacAddr::ZERO, 100), // hold
                rec("10.0.0.16", mac(2), 100),
            ],
        );
        assert_eq!(dropped, 0);
        let recs: Vec<_> = tb.records(t(1000)).collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].remaining, 0);
        assert_eq!(recs[0].hostname.to_string(), "h.x");
        assert_eq!(tb.get(ip("10.0.0.15")).unwrap().state, LeaseState::Declined);
        assert_eq!(tb.get(ip("10.0.0.16")).unwrap().expires, t(101_000));
    }

    #[test]
    fn index_survives_churn() {
        // Random inserts and removals against a model.
        let mut tb = table("10.1.0.0", "10.1.3.255", 600);
        let mut model: HashMap<MacAddr, Ipv4Addr> = HashMap::new();
        let mut rng = crate::testutil::XorShift(0x1234_5678);
        for round in 0..6_000u64 {
            let x = rng.next();
            let m = mac((x % 900) as u32);
            let now = t(round * 1000);
            let c = Client::by_mac(m);
            if let Some(l) = tb.lookup(&c) {
                assert_eq!(model.get(&m), Some(&l.ip));
                if x % 3 == 0 {
                    tb.decline(now, l.ip, 10).unwrap();
                    model.remove(&m);
                } else {
                    tb.bind(now, &c, l.ip, 300, Hostname::EMPTY).unwrap();
                }
            } else if let Some(a) = tb.allocate(now, m) {
                tb.bind(now, &c, a, 300, Hostname::EMPTY).unwrap();
                model.insert(m, a);
            }
            // Entries forgotten by eviction vanish from the model.
            model.retain(|mm, a| tb.find(&Client::by_mac(*mm)).is_some_and(|l| l.ip == *a));
            assert!(tb.len() <= 600);
        }
        let mut seen = std::collections::HashSet::new();
        for r in tb.records(t(0)) {
            assert!(seen.insert(r.ip), "address twice in the table");
        }
    }
}
