//! BusyBox's lease file: `lease::file::decode` on arbitrary bytes, then the
//! load path udhcpd runs on what decoded: `age_records` at an arbitrary
//! "now" and `apply_updates` of a second record list over it (the journal
//! replay).
//!
//! Checks: what decodes re-encodes to a file that decodes to the same
//! records (nothing damaged, nothing trailing); ageing never adds time;
//! replay leaves each IP once, keeps the last update exactly, and is
//! idempotent (replaying the same updates over its own result gives the
//! same table: the property a crash between a compaction's two renames
//! relies on).
#![no_main]

#[path = "common/input.rs"]
mod input;

use input::Input;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use udhcp::lease::{file, LeaseRecord};
use udhcp::time::UnixTime;

/// The records sorted, for comparing tables as sets.
fn sorted(mut v: Vec<LeaseRecord>) -> Vec<LeaseRecord> {
    v.sort_by(|a, b| {
        (a.ip, a.mac.octets(), &a.client_id).cmp(&(b.ip, b.mac.octets(), &b.client_id))
    });
    v
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let now = UnixTime::from_secs(i64::from(inp.u32()) * 4);
    let file_bytes = inp.bytes(4096);
    let update_bytes = inp.bytes(4096);
    let cids = inp.rest();

    let Ok(decoded) = file::decode(file_bytes) else {
        return;
    };
    assert!(decoded.trailing_bytes < file::RECORD_LEN);
    assert!(decoded.records.iter().all(|r| !r.ip.is_unspecified()));
    let again = file::decode(&file::encode(decoded.written_at, &decoded.records))
        .expect("an encoded file decodes");
    assert_eq!(again.written_at, decoded.written_at);
    assert_eq!(again.records, decoded.records);
    assert_eq!((again.trailing_bytes, again.bad_records), (0, 0));

    let base = file::age_records(decoded.clone(), now);
    for (aged, orig) in base.iter().zip(&decoded.records) {
        assert!(aged.remaining <= orig.remaining);
        assert_eq!((aged.ip, aged.mac), (orig.ip, orig.mac));
    }

    // Updates: records of a second "file", some given client identifiers
    // (the journal has them, the file does not).
    let Ok(upd) = file::decode(update_bytes) else {
        return;
    };
    let updates: Vec<LeaseRecord> = upd
        .records
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            if let Some(&b) = cids.get(i) {
                if b & 0x80 != 0 {
                    r.client_id = vec![1, b & 0x7];
                }
            }
            file::age(r, upd.written_at, now)
        })
        .collect();
    let table = file::apply_updates(base.clone(), updates.clone());
    let mut ips = HashSet::new();
    for r in &table {
        assert!(ips.insert(r.ip), "{} twice after replay", r.ip);
    }
    if let Some(last) = updates.last() {
        assert!(
            table.contains(last),
            "the last update {last:?} is not in the table"
        );
    }
    let replayed = file::apply_updates(table.clone(), updates);
    assert_eq!(sorted(replayed), sorted(table), "replay is not idempotent");
});
