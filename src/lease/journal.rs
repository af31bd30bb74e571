//! Our append-only durability journal beside the lease file
//! (`<lease_file>.journal`), as a pure codec.
//!
//! BusyBox rewrites its lease file in place without fsync, so a power cut
//! can lose every lease. We append each batch of lease changes here with one
//! write and one `fdatasync` before the ACKs leave (group commit, after ISC
//! dhcpd's delayed-ACK and Kea's memfile), and fold the journal into the
//! BusyBox-format file from time to time (`lease::store`).
//!
//! One entry (all integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       1     magic 0xD7
//! 1       1     version 1
//! 2       2     entry length, 51 + n (whole entry, CRC included)
//! 4       8     written_at: i64 Unix seconds (wall clock at append)
//! 12      4     IPv4 address
//! 16      6     MAC
//! 22      20    hostname field (as in the lease file)
//! 42      4     remaining: u32 seconds left at written_at
//! 46      1     n = client identifier length (0..=255)
//! 47      n     client identifier (option 61 payload)
//! 47+n    4     CRC-32 (IEEE 802.3) of bytes 0..47+n
//! ```
//!
//! A *forget* entry (the table dropped the entry at an address: eviction
//! under `max_leases`, reuse, a client that moved) is a short entry:
//!
//! ```text
//! 0       1     magic 0xD7
//! 1       1     version 1
//! 2       2     entry length, 20
//! 4       8     written_at
//! 12      4     IPv4 address
//! 16      4     CRC-32 of bytes 0..16
//! ```
//!
//! **Decoding resynchronises** ([`decode`]): an entry whose header or CRC
//! does not check is skipped and every later good entry kept. If the
//! header (magic, version, a valid length) is intact the decoder skips by
//! that length; otherwise it scans forward byte by byte for the next offset
//! where a whole entry with a good CRC starts. A file that ends inside an
//! entry (a power cut mid-append: those ACKs never left) is a torn tail,
//! cut without scanning inside it: a client identifier is client-chosen
//! bytes and could hold a well-formed entry, which must never be taken for
//! one. (A damaged header in the middle is still scanned past; that needs
//! bit rot at that exact spot.) The length field lets a later version grow
//! the entry.

use core::fmt;
use std::net::Ipv4Addr;

use super::{Change, Hostname, LeaseRecord};
use crate::time::UnixTime;
use crate::wire::MacAddr;

/// First byte of every entry.
pub const MAGIC: u8 = 0xD7;
/// The entry version this code writes and reads.
pub const VERSION: u8 = 1;
/// Size of an entry with an empty client identifier.
pub const MIN_ENTRY_LEN: usize = 51;
/// Longest client identifier stored (option 61's length is one byte).
pub const MAX_CLIENT_ID: usize = 255;

/// Size of a forget entry.
pub const FORGET_LEN: usize = 20;

/// Offset of the client-id length byte.
const CID_LEN_AT: usize = 46;

/// CRC-32 lookup table (reflected polynomial 0xEDB88320), built at compile
/// time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 as used by Ethernet, zlib and PNG (`crc32("123456789")` =
/// 0xCBF43926).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        let idx = usize::from((c as u8) ^ b);
        c = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
    }
    !c
}

/// Appends one entry for `record`, stamped `written_at`, to `out`.
///
/// A client identifier longer than 255 bytes (only possible through RFC
/// 3396 concatenation) is stored as empty ("unknown", matched by MAC)
/// rather than truncated, which could make it equal to another client's.
pub fn encode_entry(written_at: UnixTime, record: &LeaseRecord, out: &mut Vec<u8>) {
    let cid: &[u8] = if record.client_id.len() <= MAX_CLIENT_ID {
        &record.client_id
    } else {
        &[]
    };
    let start = out.len();
    let len = MIN_ENTRY_LEN + cid.len();
    out.reserve(len);
    out.push(MAGIC);
    out.push(VERSION);
    // ≤ 51 + 255, so it fits.
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&written_at.as_secs().to_be_bytes());
    out.extend_from_slice(&record.ip.octets());
    out.extend_from_slice(&record.mac.octets());
    out.extend_from_slice(record.hostname.field());
    out.extend_from_slice(&record.remaining.to_be_bytes());
    out.push(cid.len() as u8);
    out.extend_from_slice(cid);
    let crc = crc32(out.get(start..).unwrap_or(&[]));
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Appends one forget entry for `ip`, stamped `written_at`, to `out`.
pub fn encode_forget(written_at: UnixTime, ip: Ipv4Addr, out: &mut Vec<u8>) {
    let start = out.len();
    out.reserve(FORGET_LEN);
    out.push(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(FORGET_LEN as u16).to_be_bytes());
    out.extend_from_slice(&written_at.as_secs().to_be_bytes());
    out.extend_from_slice(&ip.octets());
    let crc = crc32(out.get(start..).unwrap_or(&[]));
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Appends the entry for `change`, stamped `written_at`, to `out`.
pub fn encode_change(written_at: UnixTime, change: &Change, out: &mut Vec<u8>) {
    match change {
        Change::Lease(r) => encode_entry(written_at, r, out),
        Change::Forget(ip) => encode_forget(written_at, *ip, out),
    }
}

/// Something the journal can hold: a [`LeaseRecord`] (a lease entry) or a
/// [`Change`]. Lets `LeaseStore::append` take either.
pub trait Journaled {
    /// Appends this item's entry, stamped `written_at`, to `out`.
    fn encode(&self, written_at: UnixTime, out: &mut Vec<u8>);
}

impl Journaled for LeaseRecord {
    fn encode(&self, written_at: UnixTime, out: &mut Vec<u8>) {
        encode_entry(written_at, self, out);
    }
}

impl Journaled for Change {
    fn encode(&self, written_at: UnixTime, out: &mut Vec<u8>) {
        encode_change(written_at, self, out);
    }
}

/// Why an entry was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageReason {
    /// The file ends inside an entry (an append cut short).
    Torn,
    /// The first byte is not [`MAGIC`].
    BadMagic,
    /// A version this code does not know.
    BadVersion(u8),
    /// The length field disagrees with the client-id length.
    BadLength,
    /// The CRC does not match (a write cut short after the size grew, or
    /// bit rot).
    BadCrc,
}

impl fmt::Display for DamageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageReason::Torn => f.write_str("torn entry"),
            DamageReason::BadMagic => f.write_str("bad magic"),
            DamageReason::BadVersion(v) => write!(f, "unknown version {v}"),
            DamageReason::BadLength => f.write_str("bad length"),
            DamageReason::BadCrc => f.write_str("CRC mismatch"),
        }
    }
}

/// Where and why an entry was not accepted: a skipped range in the middle
/// or the damaged tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalDamage {
    /// Offset of the first bad byte.
    pub offset: usize,
    /// How many bytes were skipped (for the tail: up to the end).
    pub len: usize,
    /// What was wrong with it.
    pub reason: DamageReason,
}

impl fmt::Display for JournalDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {} ({} bytes)",
            self.reason, self.offset, self.len
        )
    }
}

/// Decodes one entry at the start of `bytes`: the entry and its length.
fn decode_entry(bytes: &[u8]) -> Result<((UnixTime, Change), usize), DamageReason> {
    let head = bytes.get(..4).ok_or(DamageReason::Torn)?;
    if head.first() != Some(&MAGIC) {
        return Err(DamageReason::BadMagic);
    }
    let version = head.get(1).copied().unwrap_or(0);
    if version != VERSION {
        return Err(DamageReason::BadVersion(version));
    }
    let len = usize::from(u16::from_be_bytes([
        head.get(2).copied().unwrap_or(0),
        head.get(3).copied().unwrap_or(0),
    ]));
    if len != FORGET_LEN && !(MIN_ENTRY_LEN..=MIN_ENTRY_LEN + MAX_CLIENT_ID).contains(&len) {
        return Err(DamageReason::BadLength);
    }
    let entry = bytes.get(..len).ok_or(DamageReason::Torn)?;
    let (body, crc) = entry
        .split_last_chunk::<4>()
        .ok_or(DamageReason::BadLength)?;
    if crc32(body) != u32::from_be_bytes(*crc) {
        return Err(DamageReason::BadCrc);
    }
    let stamp = |b: &[u8]| -> Result<UnixTime, DamageReason> {
        let t: [u8; 8] = b
            .get(4..12)
            .and_then(|s| s.try_into().ok())
            .ok_or(DamageReason::BadLength)?;
        Ok(UnixTime::from_secs(i64::from_be_bytes(t)))
    };
    if len == FORGET_LEN {
        let ip: [u8; 4] = body
            .get(12..16)
            .and_then(|s| s.try_into().ok())
            .ok_or(DamageReason::BadLength)?;
        return Ok(((stamp(body)?, Change::Forget(Ipv4Addr::from(ip))), len));
    }
    // From here the bytes are exactly what encode_entry wrote (CRC-checked),
    // but still read with checked accessors.
    let cid_len = usize::from(body.get(CID_LEN_AT).copied().unwrap_or(0));
    if MIN_ENTRY_LEN + cid_len != len {
        return Err(DamageReason::BadLength);
    }
    let field = |at: usize, n: usize| body.get(at..at + n).ok_or(DamageReason::BadLength);
    let written_at = stamp(body)?;
    let ip: [u8; 4] = field(12, 4)?
        .try_into()
        .map_err(|_| DamageReason::BadLength)?;
    let mac: [u8; 6] = field(16, 6)?
        .try_into()
        .map_err(|_| DamageReason::BadLength)?;
    let host: [u8; Hostname::LEN] = field(22, Hostname::LEN)?
        .try_into()
        .map_err(|_| DamageReason::BadLength)?;
    let remaining: [u8; 4] = field(42, 4)?
        .try_into()
        .map_err(|_| DamageReason::BadLength)?;
    let client_id = field(CID_LEN_AT + 1, cid_len)?.to_vec();
    let record = LeaseRecord {
        ip: Ipv4Addr::from(ip),
        mac: MacAddr(mac),
        hostname: Hostname::from_field(&host),
        remaining: u32::from_be_bytes(remaining),
        client_id,
    };
    Ok(((written_at, Change::Lease(record)), len))
}

/// A decoded journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Every good entry, in file order, with its `written_at`.
    pub entries: Vec<(UnixTime, Change)>,
    /// Damaged ranges in the middle that were skipped (good entries follow
    /// each one).
    pub skipped: Vec<JournalDamage>,
    /// The damaged tail after the last good entry, if any: a torn append
    /// ([`DamageReason::Torn`]) or bytes from which no good entry could be
    /// found.
    pub tail: Option<JournalDamage>,
}

impl Decoded {
    /// Length of the journal without its damaged tail: where the next
    /// append belongs.
    pub fn good_len(&self, total: usize) -> usize {
        self.tail.map_or(total, |t| t.offset)
    }
}

/// Decodes a journal, skipping damaged entries (see the module
/// documentation for the resynchronisation rule).
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut entries = Vec::with_capacity(bytes.len() / MIN_ENTRY_LEN);
    let mut out = decode_each(bytes, |t, c| entries.push((t, c)));
    out.entries = entries;
    out
}

/// As [`decode`], but each good entry goes to `each`, in file order, as it
/// is decoded, and the returned `entries` is empty: startup replays a
/// journal of 60,000 entries without holding them all (~72 bytes each).
pub fn decode_each(bytes: &[u8], mut each: impl FnMut(UnixTime, Change)) -> Decoded {
    let mut out = Decoded::default();
    let mut offset = 0usize;
    while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
        let reason = match decode_entry(rest) {
            Ok(((t, c), len)) => {
                each(t, c);
                offset += len;
                continue;
            }
            Err(reason) => reason,
        };
        // The file ends inside the entry (its length is valid, so this is
        // within the last 306 bytes): a torn append, cut.
        if reason == DamageReason::Torn {
            out.tail = Some(JournalDamage {
                offset,
                len: rest.len(),
                reason,
            });
            break;
        }
        // Header intact, CRC bad: the entry's own length says where the
        // next one starts, if a good entry starts there. Else (a bad
        // header, or a length that leads nowhere): scan.
        let claimed = match reason {
            DamageReason::BadCrc => rest
                .get(2..4)
                .and_then(|l| l.try_into().ok())
                .map(|l: [u8; 2]| usize::from(u16::from_be_bytes(l))),
            _ => None,
        };
        let scan = || {
            (1..rest.len()).find(|&i| {
                rest.get(i) == Some(&MAGIC) && decode_entry(rest.get(i..).unwrap_or(&[])).is_ok()
            })
        };
        let next = match claimed {
            // The entry reaches the end of the file: a damaged last entry.
            Some(len) if len >= rest.len() => None,
            // Its length leads to a good entry: trust it.
            Some(len) if decode_entry(rest.get(len..).unwrap_or(&[])).is_ok() => Some(len),
            // The length itself is damaged: scan.
            _ => scan(),
        };
        match next {
            Some(skip) => {
                out.skipped.push(JournalDamage {
                    offset,
                    len: skip,
                    reason,
                });
                offset += skip;
            }
            None => {
                out.tail = Some(JournalDamage {
                    offset,
                    len: rest.len(),
                    reason,
                });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leases and the first damage, as the decoder before resync
    /// reported them.
    fn decode_all(bytes: &[u8]) -> (Vec<(UnixTime, LeaseRecord)>, Option<JournalDamage>) {
        let d = decode(bytes);
        let leases = d
            .entries
            .into_iter()
            .filter_map(|(t, c)| match c {
                Change::Lease(r) => Some((t, r)),
                Change::Forget(_) => None,
            })
            .collect();
        (leases, d.skipped.first().copied().or(d.tail))
    }

    fn rec(n: u8, cid: &[u8]) -> LeaseRecord {
        LeaseRecord {
            ip: Ipv4Addr::new(10, 0, 0, n),
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            hostname: Hostname::sanitize(format!("host{n}").as_bytes()),
            remaining: 3600 + u32::from(n),
            client_id: cid.to_vec(),
        }
    }

    #[test]
    fn decode_each_streams_what_decode_collects() {
        // Good entries, a damaged one in the middle, a torn tail.
        let t = UnixTime::from_secs(1_750_000_000);
        let mut bytes = Vec::new();
        encode_entry(t, &rec(1, b""), &mut bytes);
        encode_forget(t, Ipv4Addr::new(10, 0, 0, 9), &mut bytes);
        let bad_at = bytes.len();
        encode_entry(t, &rec(2, &[1, 2, 3]), &mut bytes);
        bytes[bad_at + 20] ^= 0xff;
        encode_entry(t, &rec(3, &[7; 255]), &mut bytes);
        let mut torn = Vec::new();
        encode_entry(t, &rec(4, b""), &mut torn);
        bytes.extend_from_slice(&torn[..30]);
        let all = decode(&bytes);
        let mut seen = Vec::new();
        let each = decode_each(&bytes, |t, c| seen.push((t, c)));
        assert_eq!(seen, all.entries);
        assert_eq!(seen.len(), 3);
        assert!(each.entries.is_empty());
        assert_eq!((&each.skipped, each.tail), (&all.skipped, all.tail));
        assert_eq!(all.skipped.len(), 1);
        assert_eq!(all.tail.map(|d| d.reason), Some(DamageReason::Torn));
    }

    #[test]
    fn crc_vectors() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    }

    #[test]
    fn golden_entry() {
        let mut out = Vec::new();
        encode_entry(UnixTime(0x6b01_a83a), &rec(1, b"\x01\x02"), &mut out);
        let mut expect = vec![0xD7, 1, 0, 53, 0, 0, 0, 0, 0x6b, 0x01, 0xa8, 0x3a];
        expect.extend_from_slice(&[10, 0, 0, 1, 2, 0, 0, 0, 0, 1]);
        expect.extend_from_slice(b"host1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        expect.extend_from_slice(&[0, 0, 0x0e, 0x11, 2, 1, 2]);
        let crc = crc32(&expect);
        expect.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(out, expect);
        assert_eq!(out.len(), MIN_ENTRY_LEN + 2);
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        let cid = vec![0xAB; MAX_CLIENT_ID];
        let rs = [rec(1, b""), rec(2, b"\x01abc"), rec(3, &cid)];
        for (i, r) in rs.iter().enumerate() {
            encode_entry(UnixTime(i as i64 * 10), r, &mut out);
        }
        let (entries, damage) = decode_all(&out);
        assert_eq!(damage, None);
        assert_eq!(entries.len(), 3);
        for (i, (t, r)) in entries.iter().enumerate() {
            assert_eq!(*t, UnixTime(i as i64 * 10));
            assert_eq!(r, &rs[i]);
        }
        // Over-long client-id: stored as unknown.
        let mut long = Vec::new();
        encode_entry(UnixTime(0), &rec(4, &[1; 300]), &mut long);
        let (entries, damage) = decode_all(&long);
        assert_eq!(damage, None);
        assert!(entries[0].1.client_id.is_empty());
    }

    #[test]
    fn torn_tail_at_every_offset() {
        let mut out = Vec::new();
        encode_entry(UnixTime(1), &rec(1, b""), &mut out);
        encode_entry(UnixTime(2), &rec(2, b"\x01x"), &mut out);
        let first = MIN_ENTRY_LEN;
        for cut in first + 1..out.len() {
            let (entries, damage) = decode_all(&out[..cut]);
            assert_eq!(entries.len(), 1, "cut at {cut}");
            let damage = damage.unwrap();
            assert_eq!(damage.offset, first);
            assert!(
                matches!(damage.reason, DamageReason::Torn),
                "cut at {cut}: {damage}"
            );
        }
        assert_eq!(decode_all(&out[..first]).1, None);
    }

    #[test]
    fn corruption_detected() {
        let mut out = Vec::new();
        encode_entry(UnixTime(1), &rec(1, b""), &mut out);
        encode_entry(UnixTime(2), &rec(2, b"\x01x"), &mut out);
        // Flip every bit of the second entry in turn: never accepted.
        for byte in MIN_ENTRY_LEN..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[byte] ^= 1 << bit;
                let (entries, damage) = decode_all(&bad);
                assert_eq!(entries.len(), 1, "byte {byte} bit {bit}");
                assert_eq!(damage.unwrap().offset, MIN_ENTRY_LEN);
            }
        }
        // Zeros where an entry should be (size grew, data never written).
        let mut zeros = out.clone();
        zeros.extend_from_slice(&[0; 60]);
        let (entries, damage) = decode_all(&zeros);
        assert_eq!(entries.len(), 2);
        assert_eq!(damage.unwrap().reason, DamageReason::BadMagic);
        // Unknown version.
        let mut v2 = out.clone();
        v2[1] = 2;
        assert_eq!(
            decode_all(&v2).1.unwrap().reason,
            DamageReason::BadVersion(2)
        );
    }

    #[test]
    fn hostnames_resanitised() {
        let mut out = Vec::new();
        encode_entry(UnixTime(1), &rec(1, b""), &mut out);
        out[22..27].copy_from_slice(b"$(rm)");
        let body_len = out.len() - 4;
        let crc = crc32(&out[..body_len]);
        out[body_len..].copy_from_slice(&crc.to_be_bytes());
        let (entries, _) = decode_all(&out);
        assert_eq!(entries[0].1.hostname.to_string(), "..rm.");
    }

    /// Issue 8 defect 6: one bad entry in the middle used to discard
    /// every later entry (and their ACKed leases).
    #[test]
    fn one_bad_entry_in_the_middle_keeps_every_later_entry() {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for n in 1..=5u8 {
            starts.push(out.len());
            encode_entry(UnixTime(i64::from(n)), &rec(n, &[n; 3]), &mut out);
        }
        let ends: Vec<usize> = starts.iter().skip(1).copied().chain([out.len()]).collect();
        // A flipped bit in entry 2's body: bad CRC, header intact.
        let mut bad = out.clone();
        bad[starts[1] + 20] ^= 0x10;
        let d = decode(&bad);
        let got: Vec<u8> = d.entries.iter().map(|(_, c)| c.ip().octets()[3]).collect();
        assert_eq!(got, [1, 3, 4, 5]);
        assert_eq!(d.tail, None);
        assert_eq!(
            d.skipped,
            [JournalDamage {
                offset: starts[1],
                len: ends[1] - starts[1],
                reason: DamageReason::BadCrc
            }]
        );
        // A smashed header (magic and length) in entry 3: scanned past.
        let mut bad = out.clone();
        bad[starts[2]..starts[2] + 4].copy_from_slice(&[0, 0, 0xff, 0xff]);
        let d = decode(&bad);
        let got: Vec<u8> = d.entries.iter().map(|(_, c)| c.ip().octets()[3]).collect();
        assert_eq!(got, [1, 2, 4, 5]);
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].offset, starts[2]);
        assert_eq!(d.skipped[0].reason, DamageReason::BadMagic);
        // Every single-bit flip anywhere loses at most the entry it hits.
        for byte in 0..out.len() {
            let mut bad = out.clone();
            bad[byte] ^= 0x01;
            let d = decode(&bad);
            assert!(d.entries.len() >= 4, "byte {byte}: {d:?}");
        }
    }

    /// A damaged length in the middle of a journal: later entries kept.
    #[test]
    fn a_damaged_length_in_the_middle_is_scanned_past() {
        let mut out = Vec::new();
        for n in 1..=9u8 {
            encode_entry(UnixTime(1), &rec(n, b""), &mut out);
        }
        out[MIN_ENTRY_LEN + 2] = 0x01; // entry 2 claims 256 + 51 bytes
        let d = decode(&out);
        let got: Vec<u8> = d.entries.iter().map(|(_, c)| c.ip().octets()[3]).collect();
        assert_eq!(got, [1, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(d.tail, None);
    }

    /// A torn tail is cut without looking inside it: a client identifier
    /// holding a well-formed entry must never be taken for one.
    #[test]
    fn an_entry_hidden_in_a_client_id_is_never_resynced_to() {
        let mut fake = Vec::new();
        encode_entry(UnixTime(9), &rec(99, b""), &mut fake);
        let mut cid = vec![0x42; 20];
        cid.extend_from_slice(&fake);
        let mut out = Vec::new();
        encode_entry(UnixTime(1), &rec(1, b""), &mut out);
        let start = out.len();
        encode_entry(UnixTime(2), &rec(2, &cid), &mut out);
        // Torn just after the hidden entry, before the real entry's CRC.
        for cut in start + 47 + cid.len()..out.len() {
            let d = decode(&out[..cut]);
            let got: Vec<u8> = d.entries.iter().map(|(_, c)| c.ip().octets()[3]).collect();
            assert_eq!(got, [1], "cut at {cut}");
            assert_eq!(d.tail.map(|t| t.reason), Some(DamageReason::Torn));
        }
        // Its CRC broken (bit rot) with the header intact: skipped by length.
        let mut bad = out.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let d = decode(&bad);
        assert_eq!(d.entries.len(), 1);
    }

    #[test]
    fn forget_entries_round_trip() {
        let mut out = Vec::new();
        encode_change(UnixTime(5), &Change::Lease(rec(1, b"")), &mut out);
        encode_change(
            UnixTime(6),
            &Change::Forget(Ipv4Addr::new(10, 0, 0, 1)),
            &mut out,
        );
        assert_eq!(out.len(), MIN_ENTRY_LEN + FORGET_LEN);
        let d = decode(&out);
        assert_eq!(
            d.entries,
            [
                (UnixTime(5), Change::Lease(rec(1, b""))),
                (UnixTime(6), Change::Forget(Ipv4Addr::new(10, 0, 0, 1)))
            ]
        );
        for cut in MIN_ENTRY_LEN + 1..out.len() {
            assert_eq!(decode(&out[..cut]).entries.len(), 1);
        }
    }

    /// Byte soup and mutated journals: never a panic; the entries found
    /// re-encode to bytes present in the input (nothing invented).
    #[test]
    fn decode_byte_soup() {
        let mut rng = crate::testutil::XorShift(0x5EED_1234_ABCD_0001);
        let mut base = Vec::new();
        for n in 1..=12u8 {
            if n % 4 == 0 {
                encode_forget(
                    UnixTime(i64::from(n)),
                    Ipv4Addr::new(10, 0, 0, n),
                    &mut base,
                );
            } else {
                encode_entry(
                    UnixTime(i64::from(n)),
                    &rec(n, &vec![n; usize::from(n)]),
                    &mut base,
                );
            }
        }
        for round in 0..3000 {
            let mut b = if round % 3 == 0 {
                (0..rng.below(700)).map(|_| rng.next() as u8).collect()
            } else {
                base.clone()
            };
            for _ in 0..rng.below(6) {
                if b.is_empty() {
                    break;
                }
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = rng.next() as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            let d = decode(&b);
            assert!(d.good_len(b.len()) <= b.len());
            for (t, c) in &d.entries {
                let mut again = Vec::new();
                encode_change(*t, c, &mut again);
                if let Change::Lease(r) = c {
                    assert!(r.client_id.len() <= MAX_CLIENT_ID);
                }
                assert!(
                    b.windows(again.len()).any(|w| w == &again[..]),
                    "round {round}: an entry not in the input"
                );
            }
        }
    }
}
