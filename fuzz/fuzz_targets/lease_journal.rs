//! The lease journal: `lease::journal::decode_all` on arbitrary bytes.
//!
//! Checks: decoding stops inside the input; the good prefix decodes alone
//! to the same entries with no damage; every decoded entry re-encodes to a
//! journal that decodes to the same entries, and to the very same bytes
//! when its hostname field was already in the sanitised form (decode
//! re-sanitises hostnames, so a CRC-valid entry with shell characters in
//! its name reads back cleaned, by design); a decoded journal replays over
//! an empty table without an IP twice.
//!
//! A random byte string almost never carries a valid CRC, so when the first
//! input byte is odd the rest is first made into a journal: at each offset
//! the magic, version and a plausible length are written and the CRC of
//! what follows is computed, and then, if the second bit is set, one byte
//! chosen by the input is damaged. That puts the decoder's whole body (and
//! its handling of damage between good entries) within the fuzzer's reach.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use udhcp::lease::{file, journal, Hostname};

/// Offset of the hostname field in an entry (see journal.rs).
const HOST_AT: usize = 22;

/// Writes headers and CRCs over `data` so that it decodes as entries.
fn make_journal(data: &mut [u8]) {
    let mut at = 0usize;
    while let Some(head) = data.get_mut(at..at + 4) {
        let want = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let len = journal::MIN_ENTRY_LEN + want % (journal::MAX_CLIENT_ID + 1);
        head[0] = journal::MAGIC;
        head[1] = journal::VERSION;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let Some(entry) = data.get_mut(at..at + len) else {
            return;
        };
        // The client-id length byte must agree with the entry length.
        entry[46] = (len - journal::MIN_ENTRY_LEN) as u8;
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
    let (entries, damage) = journal::decode_all(data);
    let good = match damage {
        Some(d) => {
            assert!(
                d.offset < data.len(),
                "damage at {} of {}",
                d.offset,
                data.len()
            );
            d.offset
        }
        None => data.len(),
    };
    let prefix = data.get(..good).expect("offset inside the input");
    let (again, none) = journal::decode_all(prefix);
    assert!(none.is_none(), "the good prefix is damaged: {none:?}");
    assert_eq!(again, entries);

    let mut out = Vec::new();
    let mut canonical = true;
    let mut at = 0usize;
    for (t, r) in &entries {
        let start = out.len();
        journal::encode_entry(*t, r, &mut out);
        let len = out.len() - start;
        let raw = prefix
            .get(at + HOST_AT..at + HOST_AT + Hostname::LEN)
            .expect("entry inside the prefix");
        if raw != r.hostname.field() {
            canonical = false;
        }
        at += len;
    }
    assert_eq!(at, good, "re-encoded entries have other lengths");
    let (back, none) = journal::decode_all(&out);
    assert!(none.is_none());
    assert_eq!(back, entries);
    if canonical {
        assert_eq!(out, prefix, "re-encoding changed the bytes");
    }

    let table = file::apply_updates(Vec::new(), entries.into_iter().map(|(_, r)| r));
    let mut ips = HashSet::new();
    assert!(table.iter().all(|r| ips.insert(r.ip)));
});
