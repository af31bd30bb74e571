//! BusyBox's lease file, byte for byte (reference §3.1), as a pure codec,
//! plus the clock rule applied on load and dumpleases' row format (§3.2).
//!
//! ```text
//! offset  size  field (all integers big-endian)
//! 0       8     written_at: i64 Unix seconds when the file was written
//! 8+36k   36    record k:
//!   +0    4       remaining: u32 seconds left at written_at (0 = expired)
//!   +4    4       IPv4 address (dotted-quad byte order)
//!   +8    6       MAC (00…00 for declined / ARP-conflict holds)
//!   +14   20      hostname: ≤19 chars of [0-9A-Za-z._-], NUL-filled
//!   +34   2       pad (zero)
//! ```
//!
//! The format has no magic number, so [`decode`] judges "is this a lease
//! file at all?" from what BusyBox always writes: a plausible header time,
//! zero pad bytes and a NUL-terminated, NUL-filled hostname field. A record
//! that fails those checks is dropped and counted; a file in which every
//! record (or the header) fails them is [`FileError::Garbage`] (a text file,
//! or some other program's lease database, configured by mistake).
//!
//! Hostnames are re-sanitised on decode (BusyBox 9a5121766): a file written
//! by anyone cannot put shell metacharacters into dumpleases' output or the
//! lease table.

use core::fmt;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use super::{Change, Hostname, LeaseRecord};
use crate::time::UnixTime;
use crate::wire::MacAddr;

/// Size of the `written_at` header.
pub const HEADER_LEN: usize = 8;
/// Size of one record (BusyBox's packed `struct dyn_lease`).
pub const RECORD_LEN: usize = 36;

/// Largest header time accepted as a real clock reading (2^40 s, about
/// year 36800). Anything beyond, or negative, means "not a lease file":
/// the first 8 bytes of a text file read as a BE i64 are ≥ 2^61.
const MAX_PLAUSIBLE_TIME: i64 = 1 << 40;

/// Why bytes are not a lease file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileError {
    /// Fewer than 8 bytes: no header (BusyBox's dumpleases: `short read`).
    Short,
    /// Not a BusyBox lease file (see the module doc for the test).
    Garbage,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileError::Short => "short read",
            FileError::Garbage => "not a udhcpd lease file",
        })
    }
}

impl std::error::Error for FileError {}

/// A decoded lease file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// When the file was written (the writer's wall clock).
    pub written_at: UnixTime,
    /// The records with a non-zero IP, in file order; `remaining` is as of
    /// `written_at`; `client_id` is always empty (the format has no room).
    pub records: Vec<LeaseRecord>,
    /// Bytes after the last whole record (a write cut short); ignored.
    pub trailing_bytes: usize,
    /// Whole records dropped because their pad or hostname bytes are not
    /// what any BusyBox-compatible writer produces (bit rot).
    pub bad_records: usize,
}

/// Encodes a lease file: `written_at`, then one record per lease with a
/// non-zero IP (BusyBox never writes empty slots), in the given order.
pub fn encode<'a>(
    written_at: UnixTime,
    records: impl IntoIterator<Item = &'a LeaseRecord>,
) -> Vec<u8> {
    let records = records.into_iter();
    let mut out = Vec::with_capacity(HEADER_LEN + RECORD_LEN * records.size_hint().0);
    encode_header(written_at, &mut out);
    for r in records {
        encode_record(r, &mut out);
    }
    out
}

/// Appends the file's 8-byte header (the stamp `written_at`) to `out`: the
/// first bytes of [`encode`]'s output.
pub fn encode_header(written_at: UnixTime, out: &mut Vec<u8>) {
    out.extend_from_slice(&written_at.as_secs().to_be_bytes());
}

/// Appends the 36-byte record of `r` to `out`, or nothing for IP 0.0.0.0
/// (BusyBox never writes empty slots). A header then the records of
/// [`encode`], one call each: what a writer that streams the table (see
/// `LeaseStore::compact`) uses to produce the same bytes in pieces.
pub fn encode_record(r: &LeaseRecord, out: &mut Vec<u8>) {
    if r.ip.is_unspecified() {
        return;
    }
    out.extend_from_slice(&r.remaining.to_be_bytes());
    out.extend_from_slice(&r.ip.octets());
    out.extend_from_slice(&r.mac.octets());
    out.extend_from_slice(r.hostname.field());
    out.extend_from_slice(&[0, 0]);
}

/// True if a 20-byte hostname field looks like BusyBox wrote it: at least
/// one NUL, and nothing but NULs after the first one.
fn plausible_hostname(field: &[u8]) -> bool {
    match field.iter().position(|&b| b == 0) {
        Some(end) => field.get(end..).unwrap_or(&[]).iter().all(|&b| b == 0),
        None => false,
    }
}

/// Decodes one 36-byte record; `None` if it is implausible.
fn decode_record(rec: &[u8]) -> Option<LeaseRecord> {
    let rec: &[u8; RECORD_LEN] = rec.try_into().ok()?;
    let (remaining, rest) = rec.split_first_chunk::<4>()?;
    let (ip, rest) = rest.split_first_chunk::<4>()?;
    let (mac, rest) = rest.split_first_chunk::<6>()?;
    let (host, pad) = rest.split_first_chunk::<{ Hostname::LEN }>()?;
    if pad.iter().any(|&b| b != 0) || !plausible_hostname(host) {
        return None;
    }
    Some(LeaseRecord {
        ip: Ipv4Addr::from(*ip),
        mac: MacAddr(*mac),
        hostname: Hostname::from_field(host),
        remaining: u32::from_be_bytes(*remaining),
        client_id: Vec::new(),
    })
}

/// Decodes a lease file. A trailing partial record is reported in
/// `trailing_bytes` and otherwise ignored (as BusyBox does); records with
/// IP 0.0.0.0 are skipped.
pub fn decode(bytes: &[u8]) -> Result<Decoded, FileError> {
    let (header, body) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(FileError::Short)?;
    let written_at = i64::from_be_bytes(*header);
    if !(0..=MAX_PLAUSIBLE_TIME).contains(&written_at) {
        return Err(FileError::Garbage);
    }
    let chunks = body.chunks_exact(RECORD_LEN);
    let trailing_bytes = chunks.remainder().len();
    let mut records = Vec::with_capacity(body.len() / RECORD_LEN);
    let mut total = 0usize;
    let mut bad_records = 0usize;
    for rec in chunks {
        total += 1;
        match decode_record(rec) {
            Some(r) if r.ip.is_unspecified() => {}
            Some(r) => records.push(r),
            None => bad_records += 1,
        }
    }
    if total > 0 && bad_records == total {
        return Err(FileError::Garbage);
    }
    Ok(Decoded {
        written_at: UnixTime::from_secs(written_at),
        records,
        trailing_bytes,
        bad_records,
    })
}

/// 2020-01-01T00:00:00Z. A stamp before it was written with an unset clock
/// (an RTC-less board counting from 1970 before NTP stepped it); no
/// product of this code ran before then.
pub const CLOCK_SET_SINCE: i64 = 1_577_836_800;

/// Seconds that passed between `written_at` and `now`, by our clock rule
/// (docs/differences.md "Lease file and the clock"):
/// - `now` before `written_at` (the clock was set back, or an RTC-less
///   board boots at 1970 and reads a file written after NTP): 0, the lease
///   keeps its stored remaining time;
/// - `written_at` before [`CLOCK_SET_SINCE`] and `now` at or after it (the
///   file was written with an unset clock, NTP stepped it since): the
///   real elapsed time is unknown, taken as 0;
/// - otherwise `now - written_at`.
///
/// So a clock step in either direction neither expires every lease nor
/// makes one live forever (each keeps at most its stored remaining time,
/// which `Server::load` bounds by the config). BusyBox discards the whole
/// file if the stamp is in the future or more than 12 h old.
pub fn elapsed(written_at: UnixTime, now: UnixTime) -> u32 {
    let (w, n) = (written_at.as_secs(), now.as_secs());
    if n < w || (w < CLOCK_SET_SINCE && n >= CLOCK_SET_SINCE) {
        return 0;
    }
    u32::try_from(n.saturating_sub(w)).unwrap_or(u32::MAX)
}

/// `record` with `remaining` counted down from `written_at` to `now` per
/// [`elapsed`]; an expired lease stays, with 0.
pub fn age(mut record: LeaseRecord, written_at: UnixTime, now: UnixTime) -> LeaseRecord {
    record.remaining = record.remaining.saturating_sub(elapsed(written_at, now));
    record
}

/// The file's records with `remaining` as of `now` (see [`elapsed`]).
pub fn age_records(decoded: Decoded, now: UnixTime) -> Vec<LeaseRecord> {
    let written_at = decoded.written_at;
    decoded
        .records
        .into_iter()
        .map(|r| age(r, written_at, now))
        .collect()
}

/// Applies later lease records on top of `base`, in order (see
/// [`apply_changes`]).
pub fn apply_updates(
    base: Vec<LeaseRecord>,
    updates: impl IntoIterator<Item = LeaseRecord>,
) -> Vec<LeaseRecord> {
    apply_changes(base, updates.into_iter().map(Change::Lease))
}

/// The key a record is found by, as the lease table keys it: the client
/// identifier if it has one, else the MAC; none for a hold (MAC zero).
fn key_of(r: &LeaseRecord) -> Option<(MacAddr, &[u8])> {
    if r.mac.is_zero() {
        None
    } else if r.client_id.is_empty() {
        Some((r.mac, &[]))
    } else {
        Some((MacAddr::ZERO, &r.client_id[..]))
    }
}

/// No slot (end of a key chain).
const NO_SLOT: u32 = u32::MAX;

/// [`apply_changes`] one change at a time (startup feeds it the journal
/// as it decodes it): every record in a slot, found by IP and by client
/// key.
///
/// Invariants: `by_ip` maps the IP of every occupied slot to it; the chain
/// of a key hash (`heads`, then `next`) holds exactly the occupied slots
/// whose key has that hash (the members of one client are those of its
/// chain whose key is equal). Per record that is a `u32` in `next`, ~9
/// bytes in `by_ip` and ~17 in `heads` (at hashbrown's load), against ~150
/// for the owned keys and per-client `Vec`s this replaced: replaying 50,000
/// leases at startup peaked at 17.8 MB RSS (tests/udhcpd_rss.rs).
#[derive(Debug)]
pub struct Replay {
    slots: Vec<Option<LeaseRecord>>,
    next: Vec<u32>,
    by_ip: HashMap<u32, u32>,
    heads: HashMap<u64, u32>,
    hasher: RandomState,
    /// Reused list of one client's slots.
    members: Vec<u32>,
}

impl Replay {
    fn key_hash(&self, k: (MacAddr, &[u8])) -> u64 {
        self.hasher.hash_one(k)
    }

    fn link(&mut self, i: u32, h: u64) {
        let head = self.heads.insert(h, i).unwrap_or(NO_SLOT);
        if let Some(n) = self.next.get_mut(i as usize) {
            *n = head;
        }
    }

    fn unlink(&mut self, i: u32, h: u64) {
        let after = self.next.get(i as usize).copied().unwrap_or(NO_SLOT);
        let Some(&head) = self.heads.get(&h) else {
            return;
        };
        if head == i {
            if after == NO_SLOT {
                self.heads.remove(&h);
            } else {
                self.heads.insert(h, after);
            }
        } else {
            let mut cur = head;
            while cur != NO_SLOT {
                let n = self.next.get(cur as usize).copied().unwrap_or(NO_SLOT);
                if n == i {
                    if let Some(c) = self.next.get_mut(cur as usize) {
                        *c = after;
                    }
                    break;
                }
                cur = n;
            }
        }
        if let Some(n) = self.next.get_mut(i as usize) {
            *n = NO_SLOT;
        }
    }

    /// Empties slot `i` (its IP stays in `by_ip`: the caller decides).
    fn take(&mut self, i: u32) -> Option<LeaseRecord> {
        let old = self.slots.get_mut(i as usize).and_then(Option::take)?;
        if let Some(k) = key_of(&old) {
            let h = self.key_hash(k);
            self.unlink(i, h);
        }
        Some(old)
    }

    /// Puts `r` in slot `i`, replacing what was there.
    fn put(&mut self, i: u32, r: LeaseRecord) {
        self.take(i);
        if let Some(k) = key_of(&r) {
            let h = self.key_hash(k);
            self.link(i, h);
        }
        if let Some(slot) = self.slots.get_mut(i as usize) {
            *slot = Some(r);
        }
    }

    /// Puts `r` in the slot of its IP, or a new slot at the end.
    fn insert(&mut self, r: LeaseRecord) {
        let ip = u32::from(r.ip);
        let i = match self.by_ip.get(&ip) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).unwrap_or(NO_SLOT);
                self.slots.push(None);
                self.next.push(NO_SLOT);
                self.by_ip.insert(ip, i);
                i
            }
        };
        self.put(i, r);
    }

    /// Starts from the snapshot `base`, with room for `more` records from
    /// changes (an upper bound avoids growing the indexes while replaying:
    /// a rehash holds the old and the new table at once). A duplicated IP
    /// in `base` keeps its last record, in the slot of its first.
    pub fn new(base: Vec<LeaseRecord>, more: usize) -> Replay {
        let n = base.len();
        // In place: `Option<LeaseRecord>` has the size of `LeaseRecord`.
        let mut slots: Vec<Option<LeaseRecord>> = base.into_iter().map(Some).collect();
        slots.reserve_exact(more);
        let mut next = Vec::with_capacity(n + more);
        next.resize(n, NO_SLOT);
        let mut st = Replay {
            slots,
            next,
            by_ip: HashMap::with_capacity(n + more),
            heads: HashMap::with_capacity(n + more),
            hasher: RandomState::new(),
            members: Vec::new(),
        };
        for i in 0..n {
            let Some(ip) = st.slots.get(i).and_then(Option::as_ref).map(|r| r.ip) else {
                continue;
            };
            let i = u32::try_from(i).unwrap_or(NO_SLOT);
            let at = match st.by_ip.get(&u32::from(ip)).copied() {
                Some(first) => first,
                None => {
                    st.by_ip.insert(u32::from(ip), i);
                    i
                }
            };
            if let Some(r) = st.slots.get_mut(i as usize).and_then(Option::take) {
                st.put(at, r);
            }
        }
        st
    }

    /// The records, each IP once, in slot order; in `base`'s allocation.
    pub fn finish(mut self) -> Vec<LeaseRecord> {
        let slots = core::mem::take(&mut self.slots);
        drop(self);
        // In place too (`filter_map` reuses the buffer, `flatten` does not).
        #[allow(clippy::unnecessary_filter_map, clippy::filter_map_identity)]
        slots.into_iter().filter_map(|r| r).collect()
    }

    /// Applies the change `c`, as [`apply_changes`] describes.
    pub fn apply(&mut self, c: Change) {
        match c {
            Change::Forget(ip) => {
                if let Some(i) = self.by_ip.remove(&u32::from(ip)) {
                    self.take(i);
                }
            }
            Change::Lease(r) => {
                if let Some(k) = key_of(&r) {
                    let h = self.key_hash(k);
                    let mut members = core::mem::take(&mut self.members);
                    members.clear();
                    let mut cur = self.heads.get(&h).copied().unwrap_or(NO_SLOT);
                    while cur != NO_SLOT {
                        let same = self
                            .slots
                            .get(cur as usize)
                            .and_then(Option::as_ref)
                            .is_some_and(|o| o.ip != r.ip && key_of(o) == Some(k));
                        if same {
                            members.push(cur);
                        }
                        cur = self.next.get(cur as usize).copied().unwrap_or(NO_SLOT);
                    }
                    for &i in &members {
                        if let Some(old) = self.take(i) {
                            self.by_ip.remove(&u32::from(old.ip));
                        }
                    }
                    self.members = members;
                }
                self.insert(r);
            }
        }
    }
}

/// Applies journal changes on top of `base`, in order, as the lease table
/// would: a lease record replaces the record with the same IP (in place)
/// and removes every record of the same client (same client identifier, or
/// same MAC when neither has one) at another IP; a forget removes the
/// record at its IP. The result holds each IP at most once, and each client
/// that a change touched at most once.
///
/// This is how the journal is replayed over the lease file. Replaying a
/// change twice gives the same result, so replaying a journal over a lease
/// file that already includes it (a crash between a compaction's rename
/// and its journal reset) is harmless.
///
/// The records stay in `base`'s allocation (no copy of the table); the
/// indexes cost ~30 bytes per record (see [`Replay`]).
pub fn apply_changes(
    base: Vec<LeaseRecord>,
    changes: impl IntoIterator<Item = Change>,
) -> Vec<LeaseRecord> {
    let mut st = Replay::new(base, 0);
    for c in changes {
        st.apply(c);
    }
    st.finish()
}

// ---------------------------------------------------------------------------
// dumpleases rows (reference §3.2)

/// The header line (without newline), BusyBox's
/// `"Mac %-14sIP %-13sHost %-15sExpires %s"`; `-d` does not change it.
pub fn header(absolute: bool) -> String {
    format!(
        "Mac {:<14}IP {:<13}Host {:<15}Expires {}",
        "Address",
        "Address",
        "Name",
        if absolute { "at" } else { "in" }
    )
}

/// A broken-down calendar time, as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Full year (e.g. 2026).
    pub year: i64,
    /// Month, 0 = January.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub mday: u8,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub min: u8,
    /// 0..=60
    pub sec: u8,
    /// Day of the week, 0 = Sunday.
    pub wday: u8,
}

impl CivilTime {
    /// `secs` since the epoch in UTC (Howard Hinnant's days-to-civil
    /// algorithm), for tests and for TZ=UTC.
    pub fn from_utc(secs: i64) -> CivilTime {
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let mday = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 2 } else { mp - 10 };
        let year = yoe + era * 400 + i64::from(month < 2);
        // 1970-01-01 was a Thursday (4).
        let wday = (days + 4).rem_euclid(7);
        let small = |v: i64| u8::try_from(v).unwrap_or(0);
        CivilTime {
            year,
            month: small(month),
            mday: small(mday),
            hour: small(tod / 3600),
            min: small(tod / 60 % 60),
            sec: small(tod % 60),
            wday: small(wday),
        }
    }

    /// `ctime(3)` without its newline: `Sat Nov 21 15:18:33 2026`.
    pub fn ctime(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            DAYS.get(usize::from(self.wday)).unwrap_or(&"???"),
            MONTHS.get(usize::from(self.month)).unwrap_or(&"???"),
            self.mday,
            self.hour,
            self.min,
            self.sec,
            self.year
        )
    }
}

/// How dumpleases shows the last column.
#[derive(Debug, Clone, Copy)]
pub enum RowMode {
    /// Default (`-r`): `[N days ]HH:MM:SS` left.
    Remaining,
    /// `-d`: seconds left.
    RemainingSecs,
    /// `-a`: expiry as `ctime`, using this calendar conversion (local time
    /// in the applet, [`CivilTime::from_utc`] in tests).
    At(fn(UnixTime) -> Option<CivilTime>),
    /// `-a -d`: expiry as Unix seconds.
    AtSecs,
}

/// One dumpleases row (without newline) for a record of a file written at
/// `written_at`, shown at `now`: MAC, space, IP in 16 columns, hostname in
/// 20, then `expired` or the time per `mode`.
///
/// As in BusyBox, a `written_at` in the future counts as `now`; a lease is
/// expired when `remaining + written_at ≤ now`. The formatted time always
/// says `days`, even for 1 (`1 days 00:00:00`): BusyBox's output, kept
/// byte for byte so scripts parsing it keep working.
pub fn format_row(
    record: &LeaseRecord,
    written_at: UnixTime,
    now: UnixTime,
    mode: RowMode,
) -> String {
    let base = written_at.min(now);
    let expires = base.as_secs().saturating_add(i64::from(record.remaining));
    let left = expires.saturating_sub(now.as_secs());
    let tail = if left <= 0 {
        "expired".to_string()
    } else {
        match mode {
            RowMode::RemainingSecs => left.to_string(),
            RowMode::AtSecs => expires.to_string(),
            RowMode::Remaining => {
                let days = left / 86_400;
                let rest = left % 86_400;
                let hms = format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
                if days > 0 {
                    format!("{days} days {hms}")
                } else {
                    hms
                }
            }
            RowMode::At(local) => match local(UnixTime::from_secs(expires)) {
                Some(tm) => tm.ctime(),
                // localtime failed (year out of range): seconds, not nothing.
                None => expires.to_string(),
            },
        }
    };
    format!(
        "{} {:<16}{:<20}{}",
        record.mac,
        record.ip.to_string(),
        record.hostname.to_string(),
        tail
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ip: [u8; 4], mac: u8, host: &str, remaining: u32) -> LeaseRecord {
        LeaseRecord {
            ip: Ipv4Addr::from(ip),
            mac: if mac == 0 {
                MacAddr::ZERO
            } else {
                MacAddr([2, 0, 0, 0, 0, mac])
            },
            hostname: Hostname::sanitize(host.as_bytes()),
            remaining,
            client_id: Vec::new(),
        }
    }

    // The replay as first written (owned keys, a Vec per client): the
    // model the leaner `apply_changes` is checked against.
    /// The key a record is found by, as the lease table keys it: the client
    /// identifier if it has one, else the MAC; none for a hold (MAC zero).
    fn ref_key_of(r: &LeaseRecord) -> Option<(MacAddr, Vec<u8>)> {
        if r.mac.is_zero() {
            None
        } else if r.client_id.is_empty() {
            Some((r.mac, Vec::new()))
        } else {
            Some((MacAddr::ZERO, r.client_id.clone()))
        }
    }

    /// Applies journal changes on top of `base`, in order, as the lease table
    /// would: a lease record replaces the record with the same IP (in place)
    /// and removes every record of the same client (same client identifier, or
    /// same MAC when neither has one) at another IP; a forget removes the
    /// record at its IP. The result holds each IP at most once, and each client
    /// that a change touched at most once.
    ///
    /// This is how the journal is replayed over the lease file. Replaying a
    /// change twice gives the same result, so replaying a journal over a lease
    /// file that already includes it (a crash between a compaction's rename
    /// and its journal reset) is harmless.
    fn reference_apply_changes(
        base: Vec<LeaseRecord>,
        changes: impl IntoIterator<Item = Change>,
    ) -> Vec<LeaseRecord> {
        let mut slots: Vec<Option<LeaseRecord>> = Vec::with_capacity(base.len());
        let mut by_ip: HashMap<Ipv4Addr, usize> = HashMap::with_capacity(base.len());
        // Every slot of a client: a base from elsewhere may hold one client at
        // several addresses, and its next record must remove them all, or a
        // second replay would remove one more (not idempotent).
        let mut by_key: HashMap<(MacAddr, Vec<u8>), Vec<usize>> = HashMap::new();
        // The base is a snapshot: index it as is (a duplicated IP keeps its last).
        for r in base {
            ref_insert(&mut slots, &mut by_ip, &mut by_key, r);
        }
        for c in changes {
            match c {
                Change::Forget(ip) => {
                    if let Some(i) = by_ip.remove(&ip) {
                        if let Some(old) = slots.get_mut(i).and_then(Option::take) {
                            ref_unindex(&mut by_key, &old, i);
                        }
                    }
                }
                Change::Lease(r) => {
                    if let Some(k) = ref_key_of(&r) {
                        for i in by_key.remove(&k).unwrap_or_default() {
                            let Some(slot) = slots.get_mut(i) else {
                                continue;
                            };
                            if slot.as_ref().is_some_and(|o| o.ip != r.ip) {
                                if let Some(old) = slot.take() {
                                    by_ip.remove(&old.ip);
                                }
                            } else if slot.is_some() {
                                // The slot the record itself goes to.
                                by_key.entry(k.clone()).or_default().push(i);
                            }
                        }
                    }
                    ref_insert(&mut slots, &mut by_ip, &mut by_key, r);
                }
            }
        }
        slots.into_iter().flatten().collect()
    }

    /// Drops slot `i` from the index of `old`'s client.
    fn ref_unindex(
        by_key: &mut HashMap<(MacAddr, Vec<u8>), Vec<usize>>,
        old: &LeaseRecord,
        i: usize,
    ) {
        if let Some(k) = ref_key_of(old) {
            if let Some(list) = by_key.get_mut(&k) {
                list.retain(|&j| j != i);
                if list.is_empty() {
                    by_key.remove(&k);
                }
            }
        }
    }

    /// Puts `r` in the slot of its IP (or a new one) and indexes it.
    fn ref_insert(
        slots: &mut Vec<Option<LeaseRecord>>,
        by_ip: &mut HashMap<Ipv4Addr, usize>,
        by_key: &mut HashMap<(MacAddr, Vec<u8>), Vec<usize>>,
        r: LeaseRecord,
    ) {
        let idx = match by_ip.get(&r.ip).copied() {
            Some(idx) => idx,
            None => {
                slots.push(None);
                let idx = slots.len() - 1;
                by_ip.insert(r.ip, idx);
                idx
            }
        };
        if let Some(old) = slots.get_mut(idx).and_then(Option::take) {
            ref_unindex(by_key, &old, idx);
        }
        if let Some(k) = ref_key_of(&r) {
            let list = by_key.entry(k).or_default();
            if !list.contains(&idx) {
                list.push(idx);
            }
        }
        if let Some(slot) = slots.get_mut(idx) {
            *slot = Some(r);
        }
    }

    /// A small deterministic generator (xorshift64*), for the differential
    /// test below.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// A record from a small space, so IPs, MACs and client ids collide
    /// often: holds, MAC-keyed leases, `01 ‖ mac` ids and other ids.
    fn random_record(g: &mut Rng) -> LeaseRecord {
        let mac = g.below(6) as u8;
        let client_id = match g.below(4) {
            0 | 1 => Vec::new(),
            2 => vec![1, 2, 0, 0, 0, 0, mac],
            _ => vec![0xff, g.below(3) as u8],
        };
        let mut r = rec([10, 0, 0, g.below(8) as u8], mac, "", g.below(3) as u32);
        r.client_id = if mac == 0 { Vec::new() } else { client_id };
        r
    }

    #[test]
    fn apply_changes_matches_the_reference_model() {
        let mut g = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let base: Vec<LeaseRecord> = (0..g.below(10)).map(|_| random_record(&mut g)).collect();
            let changes: Vec<Change> = (0..g.below(12))
                .map(|_| {
                    if g.below(4) == 0 {
                        Change::Forget(Ipv4Addr::new(10, 0, 0, g.below(8) as u8))
                    } else {
                        Change::Lease(random_record(&mut g))
                    }
                })
                .collect();
            let want = reference_apply_changes(base.clone(), changes.clone());
            let got = apply_changes(base.clone(), changes.clone());
            assert_eq!(
                got, want,
                "round {round}: base {base:?} changes {changes:?}"
            );
            // Replayed again over its own result (a crash between a
            // compaction's two renames).
            let again = reference_apply_changes(got.clone(), changes.clone());
            assert_eq!(apply_changes(got, changes), again, "round {round} again");
        }
    }

    #[test]
    fn apply_changes_keeps_the_table_in_place() {
        // 50,000 records and no change: the result is the base's buffer.
        let base: Vec<LeaseRecord> = (0..50_000u32)
            .map(|n| {
                let b = n.to_be_bytes();
                LeaseRecord {
                    ip: Ipv4Addr::new(10, b[1], b[2], b[3]),
                    mac: MacAddr([2, 1, b[0], b[1], b[2], b[3]]),
                    hostname: Hostname::EMPTY,
                    remaining: n,
                    client_id: Vec::new(),
                }
            })
            .collect();
        let ptr = base.as_ptr();
        let want = base.clone();
        let out = apply_changes(base, core::iter::empty());
        assert_eq!(out, want);
        assert_eq!(out.as_ptr(), ptr, "the records were copied");
    }

    /// The reference's example (§3.1), from a real BusyBox run.
    const EXAMPLE: &[u8] = b"\x00\x00\x00\x00\x6b\x01\xa8\x3a\
        \x00\x00\x0e\x0f\xc0\xa8\x00\x14\x02\x00\x00\x00\x00\x01\
        my-client\0\0\0\0\0\0\0\0\0\0\0\0\0";

    #[test]
    fn golden_encode() {
        let r = rec([192, 168, 0, 20], 1, "my-client", 0xe0f);
        let bytes = encode(UnixTime::from_secs(0x6b01_a83a), [&r]);
        assert_eq!(bytes, EXAMPLE);
        assert_eq!(bytes.len(), HEADER_LEN + RECORD_LEN);
    }

    #[test]
    fn golden_decode() {
        let d = decode(EXAMPLE).unwrap();
        assert_eq!(d.written_at, UnixTime::from_secs(1_795_270_714));
        assert_eq!(d.trailing_bytes, 0);
        assert_eq!(d.bad_records, 0);
        assert_eq!(
            d.records,
            vec![rec([192, 168, 0, 20], 1, "my-client", 3599)]
        );
    }

    #[test]
    fn round_trip_skips_zero_ip_and_keeps_order() {
        let rs = vec![
            rec([10, 0, 0, 9], 9, "", 0),
            rec([0, 0, 0, 0], 7, "nobody", 5),
            rec([10, 0, 0, 1], 1, "a.b_c-d", u32::MAX),
        ];
        let bytes = encode(UnixTime::from_secs(5), &rs);
        assert_eq!(bytes.len(), HEADER_LEN + 2 * RECORD_LEN);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.records, vec![rs[0].clone(), rs[2].clone()]);
        // A zero-IP record someone else wrote is skipped on decode too.
        let mut raw = encode(UnixTime::from_secs(5), [&rs[2]]);
        raw.get_mut(12..16).unwrap().fill(0);
        assert!(decode(&raw).unwrap().records.is_empty());
    }

    #[test]
    fn short_truncated_and_garbage() {
        assert_eq!(decode(b""), Err(FileError::Short));
        assert_eq!(decode(&EXAMPLE[..7]), Err(FileError::Short));
        let empty = decode(&EXAMPLE[..8]).unwrap();
        assert!(empty.records.is_empty());
        for cut in 9..EXAMPLE.len() {
            let d = decode(&EXAMPLE[..cut]).unwrap();
            assert!(d.records.is_empty());
            assert_eq!(d.trailing_bytes, cut - 8);
        }
        // A text file configured by mistake.
        assert_eq!(
            decode(b"1700000000 02:00:00:00:00:01 10.0.0.5 host *\n"),
            Err(FileError::Garbage)
        );
        // Header fine, every record implausible.
        let mut bad = EXAMPLE.to_vec();
        bad[42] = 1; // pad
        assert_eq!(decode(&bad), Err(FileError::Garbage));
        let mut bad = EXAMPLE.to_vec();
        bad[40] = b'x'; // byte after the hostname's NUL
        assert_eq!(decode(&bad), Err(FileError::Garbage));
        let mut bad = EXAMPLE.to_vec();
        bad[22..42].fill(b'a'); // no NUL at all
        assert_eq!(decode(&bad), Err(FileError::Garbage));
        // Negative header time.
        let mut bad = EXAMPLE.to_vec();
        bad[0] = 0x80;
        assert_eq!(decode(&bad), Err(FileError::Garbage));
        // One bad record among good ones is dropped and counted.
        let mut two = EXAMPLE.to_vec();
        two.extend_from_slice(&EXAMPLE[8..]);
        two[8 + 36 + 35] = 9;
        let d = decode(&two).unwrap();
        assert_eq!((d.records.len(), d.bad_records), (1, 1));
    }

    #[test]
    fn decode_resanitises_hostnames() {
        let mut bytes = EXAMPLE.to_vec();
        bytes[22..33].copy_from_slice(b"x;$(reboot)");
        let d = decode(&bytes).unwrap();
        assert_eq!(d.records[0].hostname.to_string(), "x...reboot.");
        bytes[22] = b'-';
        let d = decode(&bytes).unwrap();
        assert_eq!(d.records[0].hostname.to_string(), "....reboot.");
    }

    #[test]
    fn clock_rules() {
        let w = UnixTime::from_secs(1_000_000);
        let d = Decoded {
            written_at: w,
            records: vec![
                rec([10, 0, 0, 1], 1, "", 3600),
                rec([10, 0, 0, 2], 2, "", 0),
            ],
            trailing_bytes: 0,
            bad_records: 0,
        };
        // Clock behind the file (RTC-less board at 1970): no time passed.
        let aged = age_records(d.clone(), UnixTime::from_secs(30));
        assert_eq!(aged[0].remaining, 3600);
        // 100 s later.
        let aged = age_records(d.clone(), UnixTime::from_secs(1_000_100));
        assert_eq!(aged[0].remaining, 3500);
        // Two days later: everything expired, nothing dropped.
        let aged = age_records(d.clone(), UnixTime::from_secs(1_000_000 + 2 * 86_400));
        assert_eq!(aged.len(), 2);
        assert!(aged.iter().all(|r| r.remaining == 0));
        // Absurdly far ahead of a file written with a set clock.
        let w = UnixTime::from_secs(CLOCK_SET);
        assert_eq!(elapsed(w, UnixTime(i64::MAX)), u32::MAX);
    }

    /// 2026-01-01, a clock that NTP has set.
    const CLOCK_SET: i64 = 1_767_225_600;

    /// Issue 8 defect 6: a wall-clock step between writing and reading
    /// must neither expire every lease nor make one live forever.
    #[test]
    fn clock_steps_neither_expire_nor_immortalise() {
        let at = UnixTime::from_secs;
        // Written after NTP, read on a board that booted at 1970 (no RTC):
        // no time passed; the lease keeps its stored 3600 s, no more.
        assert_eq!(elapsed(at(CLOCK_SET), at(42)), 0);
        // Written at 1970 + 1000 s (before NTP), read after NTP stepped the
        // clock to 2026: the real elapsed time is unknown, taken as 0 (the
        // naive difference, 56 years, would expire every lease).
        assert_eq!(elapsed(at(1000), at(CLOCK_SET)), 0);
        assert_eq!(elapsed(at(CLOCK_SET_SINCE - 1), at(CLOCK_SET_SINCE)), 0);
        // Both before 2020 (the board never got NTP) or both after: the
        // difference.
        assert_eq!(elapsed(at(1000), at(1100)), 100);
        assert_eq!(elapsed(at(CLOCK_SET), at(CLOCK_SET + 100)), 100);
        assert_eq!(elapsed(at(CLOCK_SET_SINCE), at(CLOCK_SET_SINCE + 5)), 5);
        let r = rec([10, 0, 0, 1], 1, "", 3600);
        assert_eq!(age(r.clone(), at(1000), at(CLOCK_SET)).remaining, 3600);
        assert_eq!(age(r.clone(), at(CLOCK_SET), at(42)).remaining, 3600);
        assert_eq!(age(r, at(CLOCK_SET), at(CLOCK_SET + 3000)).remaining, 600);
    }

    #[test]
    fn updates_replace_by_ip_and_by_mac() {
        let base = vec![
            rec([10, 0, 0, 1], 1, "one", 10),
            rec([10, 0, 0, 2], 2, "two", 20),
            rec([10, 0, 0, 3], 0, "", 30), // declined hold: MAC 0
        ];
        let out = apply_updates(
            base.clone(),
            vec![
                rec([10, 0, 0, 2], 2, "two-b", 99), // same IP: in place
                rec([10, 0, 0, 4], 1, "one", 50),   // client 1 moved: .1 gone
                rec([10, 0, 0, 5], 0, "", 5),       // another hold: keeps .3
            ],
        );
        let ips: Vec<_> = out.iter().map(|r| r.ip.octets()[3]).collect();
        assert_eq!(ips, vec![2, 3, 4, 5]);
        assert_eq!(out[0].hostname.to_string(), "two-b");

        // Same MAC, different client-ids: both kept; same client-id moves.
        let mut a = rec([10, 0, 0, 6], 6, "", 1);
        a.client_id = b"\x01A".to_vec();
        let mut b = rec([10, 0, 0, 7], 6, "", 1);
        b.client_id = b"\x01B".to_vec();
        let mut a2 = rec([10, 0, 0, 8], 6, "", 1);
        a2.client_id = b"\x01A".to_vec();
        let out = apply_updates(vec![], vec![a.clone(), b.clone(), a2.clone()]);
        assert_eq!(out, vec![b, a2]);

        // Replaying the same updates twice changes nothing.
        let ups = vec![
            rec([10, 0, 0, 4], 1, "one", 50),
            rec([10, 0, 0, 1], 2, "x", 1),
        ];
        let once = apply_updates(base.clone(), ups.clone());
        let twice = apply_updates(once.clone(), ups);
        assert_eq!(once, twice);
    }

    /// Found by the lease_file fuzz target: a base that already holds one
    /// client at several addresses (a lease file from elsewhere, or bit rot)
    /// lost only one of them per replay, so replaying the same journal
    /// again gave another table. A client's record removes every record of
    /// that client at another address, as BusyBox's add_lease does for the
    /// MAC.
    #[test]
    fn replay_is_idempotent_when_the_base_holds_a_client_twice() {
        let base = vec![
            rec([10, 0, 0, 1], 1, "a", 10),
            rec([10, 0, 0, 2], 1, "b", 10),
            rec([10, 0, 0, 3], 1, "c", 10),
        ];
        let ups = vec![rec([10, 0, 0, 1], 1, "d", 99)];
        let once = apply_updates(base, ups.clone());
        assert_eq!(once, ups, "the client's other records go");
        assert_eq!(apply_updates(once.clone(), ups), once);
    }

    #[test]
    fn header_matches_busybox() {
        assert_eq!(
            header(false),
            "Mac Address       IP Address      Host Name           Expires in"
        );
        assert_eq!(
            header(true),
            "Mac Address       IP Address      Host Name           Expires at"
        );
    }

    #[test]
    fn rows() {
        let now = UnixTime::from_secs(1_795_270_714);
        let r = rec([192, 168, 0, 20], 1, "my-client", 9 * 86_400 + 86_394);
        let row = |r: &LeaseRecord, w: i64, mode| format_row(r, UnixTime(w), now, mode);
        assert_eq!(
            row(&r, now.0, RowMode::Remaining),
            "02:00:00:00:00:01 192.168.0.20    my-client           9 days 23:59:54"
        );
        assert_eq!(
            row(&r, now.0, RowMode::RemainingSecs),
            format!(
                "02:00:00:00:00:01 192.168.0.20    my-client           {}",
                9 * 86_400 + 86_394
            )
        );
        // Written 10 s ago.
        let short = rec([10, 0, 0, 1], 1, "", 3609);
        assert!(row(&short, now.0 - 10, RowMode::Remaining)
            .ends_with("10.0.0.1                            00:59:59"));
        // Plural quirk kept.
        let one_day = rec([10, 0, 0, 1], 1, "", 86_400);
        assert!(row(&one_day, now.0, RowMode::Remaining).ends_with(" 1 days 00:00:00"));
        // Expired, and exactly at the boundary.
        assert!(row(&short, now.0 - 3609, RowMode::RemainingSecs).ends_with(" expired"));
        assert!(row(&short, now.0 - 5000, RowMode::At(|_| None)).ends_with(" expired"));
        // Written in the future: counts as written now.
        assert!(row(&short, now.0 + 500, RowMode::RemainingSecs).ends_with(" 3609"));
        // Absolute.
        assert!(row(&short, now.0, RowMode::AtSecs).ends_with(&format!(" {}", now.0 + 3609)));
        let at = row(&r, now.0, RowMode::At(|t| Some(CivilTime::from_utc(t.0))));
        assert!(at.ends_with(" Tue Dec  1 14:18:28 2026"), "{at}");
        let fallback = row(&short, now.0, RowMode::At(|_| None));
        assert!(fallback.ends_with(&format!(" {}", now.0 + 3609)));
    }

    #[test]
    fn civil_time() {
        assert_eq!(CivilTime::from_utc(0).ctime(), "Thu Jan  1 00:00:00 1970");
        assert_eq!(
            CivilTime::from_utc(951_782_400).ctime(),
            "Tue Feb 29 00:00:00 2000"
        );
        assert_eq!(
            CivilTime::from_utc(1_795_270_714).ctime(),
            "Sat Nov 21 14:18:34 2026"
        );
        assert_eq!(CivilTime::from_utc(-1).ctime(), "Wed Dec 31 23:59:59 1969");
    }
}
