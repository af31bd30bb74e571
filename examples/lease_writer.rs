//! Test harness for `tests/lease_store.rs`; it exists only for those tests.
//!
//! Plays the part of udhcpd's lease saving so the test can `kill -9` it at
//! random moments:
//!
//! ```text
//! lease_writer LEASE_FILE [--batches N] [--compact-every K]
//! ```
//!
//! Opens the store (warnings on stderr), then appends batches of 1..=7 new
//! leases plus one renewal of an older one, group-committed by one
//! `LeaseStore::append` each, and prints each batch's highest new IP on
//! stdout only after `append` returned (the moment udhcpd would send the
//! ACKs). Every K batches (default 5) it compacts the whole table. Lease
//! `i` is 10.0.0.0 + i with MAC 02:00:<i as 4 bytes>, hostname `h<i>`, and
//! a client-id `01 <i as 4 bytes>` when `i` is even, so the test can check
//! every recovered record. Runs until killed, or for N batches.
//!
//! Errors are printed as `lease_writer: message` and exit 1.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use udhcp::lease::{Hostname, LeaseRecord};
use udhcp::sys::clock;
use udhcp::sys::leasestore;
use udhcp::wire::MacAddr;

/// First address; lease `i` is `BASE + i`.
const BASE: u32 = 0x0A00_0000;

/// The record the test expects for lease `i`.
fn record(i: u32, remaining: u32) -> LeaseRecord {
    let b = i.to_be_bytes();
    LeaseRecord {
        ip: Ipv4Addr::from(BASE + i),
        mac: MacAddr([2, 0, b[0], b[1], b[2], b[3]]),
        hostname: Hostname::sanitize(format!("h{i}").as_bytes()),
        remaining,
        client_id: if i % 2 == 0 {
            vec![1, b[0], b[1], b[2], b[3]]
        } else {
            Vec::new()
        },
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: lease_writer LEASE_FILE [--batches N] [--compact-every K]")?,
    );
    let mut batches = u64::MAX;
    let mut compact_every = 5u64;
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let n: u64 = value.parse().map_err(|_| format!("bad number '{value}'"))?;
        match arg.as_str() {
            "--batches" => batches = n,
            "--compact-every" => compact_every = n.max(1),
            _ => return Err(format!("unknown argument '{arg}'")),
        }
    }

    let (mut store, mut table, warnings) =
        leasestore::open(&path, clock::wall_now()).map_err(|e| e.to_string())?;
    for w in warnings {
        eprintln!("lease_writer: {w}");
    }
    table.sort_by_key(|r| u32::from(r.ip));
    let mut next = table.last().map_or(0, |r| u32::from(r.ip) - BASE + 1);
    let stdout = std::io::stdout();
    for batch in 0..batches {
        let size = 1 + next % 7;
        let mut changes: Vec<LeaseRecord> = (next..next + size).map(|i| record(i, 3600)).collect();
        // A renewal of an older lease: same IP, same MAC, new time.
        if next > 0 {
            let old = next / 2;
            changes.push(record(old, 7200 + batch as u32 % 100));
        }
        store
            .append(clock::wall_now(), &changes)
            .map_err(|e| e.to_string())?;
        for c in changes {
            let idx = (u32::from(c.ip) - BASE) as usize;
            match table.get_mut(idx) {
                Some(slot) => *slot = c,
                None => table.push(c),
            }
        }
        next += size;
        // "ACK sent": only now may the test count this batch as durable.
        let mut out = stdout.lock();
        writeln!(out, "{}", Ipv4Addr::from(BASE + next - 1)).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        drop(out);
        if (batch + 1) % compact_every == 0 {
            store
                .compact(clock::wall_now(), || table.iter().cloned())
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lease_writer: {e}");
            ExitCode::from(1)
        }
    }
}
