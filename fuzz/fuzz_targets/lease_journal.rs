//! The lease journal: `lease::journal::decode` on arbitrary bytes.
//!
//! Checks: the input splits exactly into decoded entries, skipped damaged
//! ranges and a torn or damaged tail, in order and without overlap; the
//! bytes the store keeps (the good entries, byte for byte) decode alone to
//! the same entries without damage; every decoded entry re-encodes to a journal that decodes to the
//! same entries with no damage, and to the very same bytes when its
//! hostname field was already in the sanitised form (decode re-sanitises
//! hostnames, so a CRC-valid entry with shell characters in its name reads
//! back cleaned, by design); the entries replay over an empty table
//! without an IP twice.
//!
//! A random byte string almost never carries a valid CRC, so when the first
//! input byte is odd the rest is first made into a journal: at each offset
//! the magic, version and a plausible length are written (lease entries,
//! and forget entries when the length's low bits say so) and the CRC of
//! what follows is computed, and then, if the second bit is set, one byte
//! chosen by the input is damaged. That puts the decoder's whole body, and
//! its resynchronisation past damage, within the fuzzer's reach.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use udhcp::lease::{file, journal, Change, Hostname};

/// Offset of the hostname field in a lease entry (see journal.rs).
const HOST_AT: usize = 22;

/// Writes headers and CRCs over `data` so that it decodes as entries.
fn make_journal(data: &mut [u8]) {
    let mut at = 0usize;
    while let Some(head) = data.get_mut(at..at + 4) {
        let want = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let len = if want % 4 == 0 {
            journal::FORGET_LEN
        } else {
            journal::MIN_ENTRY_LEN + want % (journal::MAX_CLIENT_ID + 1)
        };
        head[0] = journal::MAGIC;
        head[1] = journal::VERSION;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let Some(entry) = data.get_mut(at..at + len) else {
            return;
        };
        if len != journal::FORGET_LEN {
            // The client-id length byte must agree with the entry length.
            entry[46] = (len - journal::MIN_ENTRY_LEN) as u8;
        }
        let crc = journal::crc32(&entry[..len - 4]);
        entry[len - 4..].copy_from_slice(&crc.to_be_bytes());
        at += len;
    }
}

fuzz_target!(|input: &[u8]| {
    let mut owned;
    let data = match input.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => {
            owned = rest.to_vec();
            make_journal(&mut owned);
            if mode & 2 == 2 && !owned.is_empty() {
                let at = usize::from(mode >> 2) * 7 % owned.len();
                owned[at] ^= 0x5a;
            }
            &owned[..]
        }
        Some((_, rest)) => rest,
        None => return,
    };
    let d = journal::decode(data);

    // Walk the input: entries, skipped ranges and the tail cover it
    // exactly, in order.
    let mut at = 0usize;
    let mut entries = d.entries.iter();
    let mut skipped = d.skipped.iter().peekable();
    let mut out = Vec::new();
    let mut canonical = true;
    loop {
        if let Some(s) = skipped.peek() {
            if s.offset == at {
                assert!(s.len > 0, "empty skipped range at {at}");
                at += s.len;
                skipped.next();
                continue;
            }
            assert!(s.offset > at, "skipped range {s} overlaps an entry at {at}");
        }
        if d.tail.is_some_and(|t| t.offset == at) {
            break;
        }
        let Some((t, c)) = entries.next() else {
            break;
        };
        let start = out.len();
        journal::encode_change(*t, c, &mut out);
        let len = out.len() - start;
        if let Change::Lease(r) = c {
            let raw = data
                .get(at + HOST_AT..at + HOST_AT + Hostname::LEN)
                .expect("entry inside the input");
            canonical &= raw == r.hostname.field();
        }
        at += len;
    }
    assert!(entries.next().is_none(), "entries left after the walk");
    assert!(
        skipped.next().is_none(),
        "skipped ranges left after the walk"
    );
    match d.tail {
        Some(t) => {
            assert_eq!(t.offset, at);
            assert_eq!(t.offset + t.len, data.len(), "the tail ends the input");
        }
        None => assert_eq!(at, data.len(), "the walk ends the input"),
    }
    let good = d.good_len(data.len());

    // What the store keeps: the good prefix when nothing was skipped
    // (a torn tail cut), else the good entries alone, byte for byte (it
    // rewrites the journal: a damaged length left in place could read as a
    // torn tail once the file is shorter). Either decodes to the same
    // entries with no damage.
    let mut kept = Vec::with_capacity(good);
    let mut from = 0usize;
    for s in &d.skipped {
        kept.extend_from_slice(
            data.get(from..s.offset)
                .expect("skipped range in the input"),
        );
        from = s.offset + s.len;
    }
    kept.extend_from_slice(data.get(from..good).expect("good prefix"));
    let alone = journal::decode(&kept);
    assert!(
        alone.tail.is_none() && alone.skipped.is_empty(),
        "kept bytes are damaged: {alone:?}"
    );
    assert_eq!(alone.entries, d.entries);

    let back = journal::decode(&out);
    assert!(back.skipped.is_empty() && back.tail.is_none());
    assert_eq!(back.entries, d.entries);
    if canonical && d.skipped.is_empty() {
        assert_eq!(&out[..], &data[..good], "re-encoding changed the bytes");
    }

    let table = file::apply_changes(Vec::new(), d.entries.into_iter().map(|(_, c)| c));
    let mut ips = HashSet::new();
    assert!(table.iter().all(|r| ips.insert(r.ip)));
});
