//! The durable lease store (`udhcp::sys::leasestore`): crash safety under
//! `kill -9`, torn and corrupt journal tails, compaction readable by
//! BusyBox's dumpleases, the clock rules, and bad lease files.
//!
//! The crash test drives `examples/lease_writer.rs` (built by `cargo test`;
//! with a filter such as `cargo test --test lease_store`, run `cargo build
//! --example lease_writer` first). Only processes started here are
//! signalled, by pid. `kill -9` exercises process death; power loss (the
//! page cache lost too) is covered by the ordering argument in the module
//! doc of `lease::store` plus the torn-tail tests (and, over `MemDisk`, the power-cut tests in `lease::store` and `server::tests::durable`), which cut the journal
//! at every byte.
//!
//! `UDHCP_CRASH_ROUNDS` sets the number of kill rounds (default 12).

mod common;

use common::peers::busybox;
use common::tempdir::TempDir;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use udhcp::lease::{file, journal, Hostname, LeaseRecord};
use udhcp::sys::clock;
use udhcp::sys::leasestore;
use udhcp::time::UnixTime;
use udhcp::wire::MacAddr;

/// `target/<profile>/examples/lease_writer`, next to this test's `deps/`.
fn writer_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test dir").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join("examples").join("lease_writer");
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it; with a filter, run \
         `cargo build --example lease_writer` first",
        path.display()
    );
    path
}

const BASE: u32 = 0x0A00_0000;

/// What examples/lease_writer.rs writes for lease `i`.
fn expected(i: u32) -> (MacAddr, Hostname, Vec<u8>) {
    let b = i.to_be_bytes();
    let cid = if i % 2 == 0 {
        vec![1, b[0], b[1], b[2], b[3]]
    } else {
        Vec::new()
    };
    (
        MacAddr([2, 0, b[0], b[1], b[2], b[3]]),
        Hostname::sanitize(format!("h{i}").as_bytes()),
        cid,
    )
}

fn rec(n: u8, host: &str, remaining: u32, cid: &[u8]) -> LeaseRecord {
    LeaseRecord {
        ip: Ipv4Addr::new(192, 168, 1, n),
        mac: MacAddr([2, 0, 0, 0, 1, n]),
        hostname: Hostname::sanitize(host.as_bytes()),
        remaining,
        client_id: cid.to_vec(),
    }
}

fn now() -> UnixTime {
    clock::wall_now()
}

/// Checks the recovered table: leases 0..m, each exactly once and as
/// written; returns m (the count).
fn check_recovered(records: &[LeaseRecord]) -> u32 {
    let mut seen = HashSet::new();
    for r in records {
        assert!(seen.insert(r.ip), "{} appears twice", r.ip);
        let i = u32::from(r.ip) - BASE;
        let (mac, host, cid) = expected(i);
        assert_eq!(r.mac, mac, "MAC of {}", r.ip);
        assert_eq!(r.hostname, host, "hostname of {}", r.ip);
        assert_eq!(r.client_id, cid, "client-id of {}", r.ip);
        assert!(r.remaining > 0, "{} aged to 0 within the test", r.ip);
    }
    let count = records.len() as u32;
    for i in 0..count {
        assert!(
            seen.contains(&Ipv4Addr::from(BASE + i)),
            "lease {i} missing though {count} leases were recovered (not a prefix)"
        );
    }
    count
}

#[test]
fn kill_9_never_loses_an_acked_lease() {
    let rounds: u32 = std::env::var("UDHCP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let dir = TempDir::new("crash");
    let path = dir.path("udhcpd.leases");
    let bin = writer_bin();
    let mut acked_max: Option<u32> = None;
    let mut killed_with_output = 0;
    for round in 0..rounds {
        let mut child = Command::new(&bin)
            .arg(&path)
            .args(["--compact-every", &(2 + round % 5).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lease_writer");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map(|l| l.expect("line"))
                .collect::<Vec<String>>()
        });
        // Random moment: sometimes during open, mostly mid-stream.
        let wait_ms = u64::from(clock::random_u32() % 400);
        std::thread::sleep(Duration::from_millis(wait_ms));
        kill(pid, Signal::SIGKILL).expect("kill our lease_writer");
        let status = child.wait().expect("wait");
        let lines = reader.join().expect("reader");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        assert!(
            !status.success() && !err.contains("lease_writer: can't"),
            "writer failed on its own: {err}"
        );
        for line in &lines {
            let ip: Ipv4Addr = line.parse().expect("IP line");
            let i = u32::from(ip) - BASE;
            acked_max = Some(acked_max.map_or(i, |m| m.max(i)));
        }
        if !lines.is_empty() {
            killed_with_output += 1;
        }

        let (_store, records, warnings) = leasestore::open(&path, now()).expect("reopen");
        let count = check_recovered(&records);
        if let Some(m) = acked_max {
            assert!(
                count > m,
                "round {round}: lease {m} was acknowledged but only {count} recovered \
                 (warnings: {warnings:?})"
            );
        }
        println!(
            "round {round}: killed after {wait_ms} ms, {} batches acked, {count} leases recovered, \
             warnings {warnings:?}",
            lines.len()
        );
    }
    assert!(
        killed_with_output > 0,
        "the writer never acknowledged anything before being killed"
    );
}

/// Writes two batches; returns (dir, lease file, journal length after the
/// first batch, full journal bytes).
fn two_batches(tag: &str) -> (TempDir, PathBuf, usize, Vec<u8>) {
    let dir = TempDir::new(tag);
    let path = dir.path("udhcpd.leases");
    let (mut store, recs, _) = leasestore::open(&path, now()).unwrap();
    assert!(recs.is_empty());
    store
        .append(
            now(),
            &[
                rec(1, "a", 600, b"\x01a"),
                rec(2, "b", 600, b""),
                rec(3, "", 600, b""),
            ],
        )
        .unwrap();
    let first = store.journal_len() as usize;
    store
        .append(now(), &[rec(4, "last", 600, b"\x01dd")])
        .unwrap();
    let bytes = fs::read(store.journal_path()).unwrap();
    assert_eq!(bytes.len() as u64, store.journal_len());
    (dir, path, first, bytes)
}

fn ips(records: &[LeaseRecord]) -> Vec<u8> {
    records.iter().map(|r| r.ip.octets()[3]).collect()
}

#[test]
fn torn_tail_at_every_offset_loses_only_that_entry() {
    let (dir, path, first, bytes) = two_batches("torn");
    let journal = dir.path("udhcpd.leases.journal");
    for cut in first..bytes.len() {
        fs::write(&journal, &bytes[..cut]).unwrap();
        let (mut store, records, warnings) = leasestore::open(&path, now()).unwrap();
        assert_eq!(ips(&records), vec![1, 2, 3], "cut at {cut}");
        assert_eq!(
            warnings.is_empty(),
            cut == first,
            "cut at {cut}: {warnings:?}"
        );
        // The torn bytes are gone, so a new entry is readable after reopen.
        assert_eq!(store.journal_len() as usize, first);
        assert_eq!(fs::metadata(&journal).unwrap().len() as usize, first);
        store.append(now(), &[rec(9, "new", 60, b"")]).unwrap();
        drop(store);
        let (_s, records, warnings) = leasestore::open(&path, now()).unwrap();
        assert_eq!(ips(&records), vec![1, 2, 3, 9], "cut at {cut}");
        assert!(warnings.is_empty());
        // A plain tear leaves no .bad file behind.
        assert!(!dir.path("udhcpd.leases.journal.bad").exists());
    }
}

#[test]
fn crc_corruption_is_detected_and_kept_aside() {
    let (dir, path, first, bytes) = two_batches("crc");
    let journal = dir.path("udhcpd.leases.journal");
    // Corrupt the second entry (lease .2): it alone is skipped (issue 8:
    // it used to cut .3 and .4 as well), kept aside and reported.
    let mut bad = bytes.clone();
    bad[journal::MIN_ENTRY_LEN + 20] ^= 0x40;
    fs::write(&journal, &bad).unwrap();
    let (_s, records, warnings) = leasestore::open(&path, now()).unwrap();
    assert_eq!(ips(&records), vec![1, 3, 4]);
    assert_eq!(records[0].client_id, b"\x01a");
    assert!(
        warnings.len() == 1 && warnings[0].contains("CRC mismatch"),
        "{warnings:?}"
    );
    let second = journal::MIN_ENTRY_LEN + 2..2 * journal::MIN_ENTRY_LEN + 2;
    let saved = fs::read(dir.path("udhcpd.leases.journal.bad")).unwrap();
    assert_eq!(saved, &bad[second.clone()]);
    // Later entries stay; the damaged one leaves the live journal (kept in
    // .journal.bad), so a later cut cannot turn it into a torn tail.
    let mut good = bad[..second.start].to_vec();
    good.extend_from_slice(&bad[second.end..]);
    assert_eq!(fs::read(&journal).unwrap(), good, "later entries stay");
    let _ = first;
}

#[test]
fn compaction_is_readable_by_decoder_and_busybox() {
    let dir = TempDir::new("compact");
    let path = dir.path("udhcpd.leases");
    let (mut store, _, _) = leasestore::open(&path, now()).unwrap();
    let table = vec![
        rec(10, "alpha", 86_400 * 3 + 5, b"\x01\x02\x00\x00\x00\x01\x0a"),
        rec(11, "b-2", 3600, b""),
        rec(12, "", 0, b""),
        LeaseRecord {
            mac: MacAddr::ZERO,
            ..rec(13, "", 600, b"")
        },
        rec(14, "nineteen-chars-long", 59, b"\x00xyz"),
    ];
    store.append(now(), &table).unwrap();
    let t = now();
    store.compact(t, || table.iter().cloned()).unwrap();
    assert!(!dir.path("udhcpd.leases.tmp").exists());
    assert!(!dir.path("udhcpd.leases.journal.tmp").exists());

    // The pure decoder reads exactly the table (minus client-ids).
    let d = file::decode(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(d.written_at, t);
    assert_eq!(d.trailing_bytes, 0);
    let no_cid: Vec<LeaseRecord> = table
        .iter()
        .cloned()
        .map(|mut r| {
            r.client_id.clear();
            r
        })
        .collect();
    assert_eq!(d.records, no_cid);
    // The journal keeps only the client-ids the file cannot hold.
    let decoded = journal::decode(&fs::read(store.journal_path()).unwrap());
    assert_eq!((decoded.skipped.len(), decoded.tail), (0, None));
    assert_eq!(decoded.entries.len(), 2);
    assert_eq!(store.journal_len(), store.compacted_len());
    drop(store);
    let (_s, back, warnings) = leasestore::open(&path, t).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(back, table);

    // BusyBox's dumpleases reads our file like ours does.
    let Some(bb) = busybox() else { return };
    let theirs = Command::new(bb)
        .args(["dumpleases", "-d", "-f"])
        .arg(&path)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_udhcp"))
        .args(["dumpleases", "-d", "-f"])
        .arg(&path)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(theirs.status.success() && ours.status.success());
    assert_same_table(
        &String::from_utf8_lossy(&theirs.stdout),
        &String::from_utf8_lossy(&ours.stdout),
    );
    assert_eq!(String::from_utf8_lossy(&theirs.stdout).lines().count(), 6);
}

/// Same header and rows; the last column may differ by 2 s when numeric.
fn assert_same_table(theirs: &str, ours: &str) {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    assert_eq!(a.len(), b.len(), "busybox:\n{theirs}\nours:\n{ours}");
    for (x, y) in a.iter().zip(&b) {
        let (xa, xb) = x.split_at(x.len().min(54));
        let (ya, yb) = y.split_at(y.len().min(54));
        assert_eq!(xa, ya, "busybox:\n{theirs}\nours:\n{ours}");
        match (xb.parse::<i64>(), yb.parse::<i64>()) {
            (Ok(p), Ok(q)) => assert!((p - q).abs() <= 2, "{x} vs {y}"),
            _ => assert_eq!(xb, yb, "busybox:\n{theirs}\nours:\n{ours}"),
        }
    }
}

#[test]
fn clock_rules() {
    let dir = TempDir::new("clock");
    let path = dir.path("udhcpd.leases");
    let written = UnixTime::from_secs(1_795_270_714);
    let leases = [rec(1, "day", 86_400, b""), rec(2, "three", 3 * 86_400, b"")];
    fs::write(&path, file::encode(written, &leases)).unwrap();
    let remaining = |now: i64| {
        let (_s, r, w) = leasestore::open(&path, UnixTime::from_secs(now)).unwrap();
        assert!(w.is_empty(), "{w:?}");
        r.iter().map(|r| r.remaining).collect::<Vec<_>>()
    };
    // File from the future (clock set back): no time passed, nothing lost.
    assert_eq!(remaining(written.0 - 5000), vec![86_400, 3 * 86_400]);
    // RTC-less board booting at 1970.
    assert_eq!(remaining(42), vec![86_400, 3 * 86_400]);
    // 100 s later.
    assert_eq!(remaining(written.0 + 100), vec![86_300, 3 * 86_400 - 100]);
    // Two days old (BusyBox would discard the file after 12 h): expired
    // lease kept with 0, the other counted down.
    assert_eq!(remaining(written.0 + 2 * 86_400), vec![0, 86_400]);
    // Journal entries are aged by their own stamps.
    let (mut s, _, _) = leasestore::open(&path, written).unwrap();
    s.append(UnixTime(written.0 + 1000), &[rec(3, "j", 500, b"")])
        .unwrap();
    drop(s);
    assert_eq!(
        remaining(written.0 + 1200),
        vec![86_400 - 1200, 3 * 86_400 - 1200, 300]
    );
}

#[test]
fn bad_lease_files() {
    let dir = TempDir::new("bad");
    let path = dir.path("udhcpd.leases");
    let bad = dir.path("udhcpd.leases.bad");
    let good = file::encode(now(), &[rec(1, "a", 600, b""), rec(2, "b", 600, b"")]);

    // Partial last record: the whole ones are kept, with a warning.
    fs::write(&path, &good[..good.len() - 7]).unwrap();
    let (_s, r, w) = leasestore::open(&path, now()).unwrap();
    assert_eq!(ips(&r), vec![1]);
    assert!(w.len() == 1 && w[0].contains("partial"), "{w:?}");
    assert!(path.exists() && !bad.exists());
    drop(_s);
    fs::remove_file(dir.path("udhcpd.leases.journal")).unwrap();

    // Shorter than the header, and garbage: start empty, file kept aside.
    for content in [
        &b"\x00\x01\x02"[..],
        b"this is not a lease file, it is text\n",
    ] {
        let _ = fs::remove_file(&bad);
        fs::write(&path, content).unwrap();
        let (_s, r, w) = leasestore::open(&path, now()).unwrap();
        assert!(r.is_empty());
        assert!(w.len() == 1 && w[0].contains(".bad"), "{w:?}");
        assert_eq!(fs::read(&bad).unwrap(), content);
        assert!(!path.exists());
    }

    // Missing directory: a clear error naming the path.
    let missing = dir.path("no/such/dir/udhcpd.leases");
    let err = leasestore::open(&missing, now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "can't open '{}': No such file or directory",
            missing.display()
        )
    );
    // The lease file is a directory.
    let d = dir.path("adir");
    fs::create_dir(&d).unwrap();
    let err = leasestore::open(&d, now()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("can't open '{}': ", d.display())),
        "{err}"
    );
}

#[test]
fn symlinked_lease_file_stays_a_symlink() {
    let dir = TempDir::new("link");
    fs::create_dir(dir.path("data")).unwrap();
    let link = dir.path("udhcpd.leases");
    std::os::unix::fs::symlink("data/real.leases", &link).unwrap();
    let (mut s, _, _) = leasestore::open(&link, now()).unwrap();
    assert_eq!(s.path(), dir.path("data/real.leases"));
    let table = [rec(1, "x", 60, b"")];
    s.append(now(), &table).unwrap();
    s.compact(now(), || table.iter().cloned()).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(dir.path("data/real.leases.journal").exists());
    let d = file::decode(&fs::read(&link).unwrap()).unwrap();
    assert_eq!(ips(&d.records), vec![1]);
}

#[test]
fn compaction_then_more_appends_replay_in_order() {
    let dir = TempDir::new("order");
    let path = dir.path("udhcpd.leases");
    let (mut s, _, _) = leasestore::open(&path, now()).unwrap();
    let mut table: Vec<LeaseRecord> = (1..=5).map(|n| rec(n, "", 600, b"")).collect();
    s.append(now(), &table).unwrap();
    s.compact(now(), || table.iter().cloned()).unwrap();
    assert_eq!(s.journal_len(), 0);
    // Client 2 moves to .6 (same MAC); .4 is renewed with a new name.
    let moved = LeaseRecord {
        ip: Ipv4Addr::new(192, 168, 1, 6),
        ..table[1].clone()
    };
    let renewed = rec(4, "renewed", 900, b"");
    s.append(now(), &[moved.clone(), renewed.clone()]).unwrap();
    drop(s);
    let (_s, back, _) = leasestore::open(&path, now()).unwrap();
    table.remove(1);
    table[2] = renewed;
    table.push(moved);
    let got: BTreeSet<_> = back
        .iter()
        .map(|r| (r.ip, r.hostname.to_string()))
        .collect();
    let want: BTreeSet<_> = table
        .iter()
        .map(|r| (r.ip, r.hostname.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(ips(&back), vec![1, 3, 4, 5, 6]);
}

#[test]
fn append_of_nothing_writes_nothing() {
    let dir = TempDir::new("empty");
    let (mut s, _, _) = leasestore::open(&dir.path("l"), now()).unwrap();
    s.append::<LeaseRecord>(now(), &[]).unwrap();
    assert_eq!(s.journal_len(), 0);
    assert!(Path::new(s.journal_path()).exists());
}

#[test]
fn crash_between_compaction_renames_is_harmless() {
    // State on disk after a crash between compact()'s two renames: the new
    // lease file is in place, the old journal is still there.
    let dir = TempDir::new("window");
    let path = dir.path("udhcpd.leases");
    let (mut s, _, _) = leasestore::open(&path, now()).unwrap();
    let mut table: Vec<LeaseRecord> = (1..=4).map(|n| rec(n, "", 600, b"")).collect();
    table[0].client_id = b"\x01one".to_vec();
    s.append(now(), &table).unwrap();
    // Client 2 moves to .9; .3 is renewed.
    let moved = LeaseRecord {
        ip: Ipv4Addr::new(192, 168, 1, 9),
        ..table[1].clone()
    };
    let renewed = rec(3, "again", 900, b"");
    s.append(now(), &[moved.clone(), renewed.clone()]).unwrap();
    drop(s);
    let (_s, expected_table, _) = leasestore::open(&path, now()).unwrap();
    drop(_s);
    let journal_before = fs::read(dir.path("udhcpd.leases.journal")).unwrap();
    // Simulate: the new main file written and renamed, journal untouched.
    fs::write(&path, file::encode(now(), &expected_table)).unwrap();
    assert_eq!(
        fs::read(dir.path("udhcpd.leases.journal")).unwrap(),
        journal_before
    );
    let (_s, back, warnings) = leasestore::open(&path, now()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(back, expected_table);
    assert_eq!(ips(&back), vec![1, 3, 4, 9]);
    assert_eq!(back[0].client_id, b"\x01one");
}

#[test]
fn failed_append_is_rolled_back() {
    // RLIMIT_FSIZE makes a write fail part-way (EFBIG), as a full flash
    // would (ENOSPC). The writer must cut its partial batch off again, so
    // recovery finds every acknowledged lease and no damaged tail.
    let dir = TempDir::new("efbig");
    let path = dir.path("udhcpd.leases");
    let out = Command::new("/bin/sh")
        .arg("-c")
        // SIGXFSZ ignored (inherited through exec), limit in 512/1024-byte
        // blocks depending on the shell: either way a few kilobytes.
        .arg("trap '' XFSZ; ulimit -f 8 && exec \"$0\" \"$1\" --compact-every 1000000")
        .arg(writer_bin())
        .arg(&path)
        .output()
        .expect("run lease_writer under ulimit -f");
    let err = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("can't write") && err.contains("File too large"),
        "{err}"
    );
    let acked = String::from_utf8(out.stdout).unwrap();
    let last: Ipv4Addr = acked
        .lines()
        .last()
        .expect("some batches acked")
        .parse()
        .unwrap();
    let (s, records, warnings) = leasestore::open(&path, now()).unwrap();
    assert!(
        warnings.is_empty(),
        "partial batch left behind: {warnings:?}"
    );
    let count = check_recovered(&records);
    assert_eq!(
        count,
        u32::from(last) - BASE + 1,
        "nothing beyond the acked batches"
    );
    assert_eq!(
        s.journal_len(),
        fs::metadata(s.journal_path()).unwrap().len()
    );
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Issue 8 defect 5: the journal, `.tmp` and `.journal.bad` were opened
/// following symlinks, so in a lease directory others can write, a link
/// planted there turned root's writes (truncation of a "torn" journal,
/// a compaction's temp file) into a clobber of the link's target.
#[test]
fn symlinks_at_our_file_names_are_removed_never_followed() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("links");
    let victim = dir.path("victim");
    let content = b"root:x:0:0:root:/root:/bin/sh\n".repeat(3);
    fs::write(&victim, &content).unwrap();
    let path = dir.path("udhcpd.leases");
    for suffix in [".journal", ".tmp", ".journal.tmp", ".journal.bad"] {
        symlink(&victim, dir.path(&format!("udhcpd.leases{suffix}"))).unwrap();
    }
    let (mut s, recs, warnings) = leasestore::open(&path, now()).unwrap();
    assert!(recs.is_empty());
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("udhcpd.leases.journal") && w.contains("symlink")),
        "{warnings:?}"
    );
    let table = [rec(1, "x", 60, b"\x01a")];
    s.append(now(), &table).unwrap();
    s.compact(now(), || table.iter().cloned()).unwrap();
    s.append(now(), &[rec(2, "y", 60, b"")]).unwrap();
    assert_eq!(
        fs::read(&victim).unwrap(),
        content,
        "the link's target was written"
    );
    for suffix in [".journal", ".tmp", ".journal.tmp"] {
        let p = dir.path(&format!("udhcpd.leases{suffix}"));
        assert!(
            fs::symlink_metadata(&p).map_or(true, |m| !m.file_type().is_symlink()),
            "{} is still a symlink",
            p.display()
        );
    }
    drop(s);
    let (_s, back, _) = leasestore::open(&path, now()).unwrap();
    assert_eq!(ips(&back), vec![1, 2]);
    assert_eq!(fs::read(&victim).unwrap(), content);
}

/// Files the store creates are owner-only; the lease file gets 0644 (or
/// the old lease file's mode), so BusyBox's dumpleases reads it as non-root.
#[test]
fn created_files_are_owner_only_and_the_lease_file_stays_readable() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = TempDir::new("modes");
    let path = dir.path("udhcpd.leases");
    let (mut s, _, _) = leasestore::open(&path, now()).unwrap();
    assert_eq!(mode(s.journal_path()), 0o600);
    let table = [rec(1, "x", 60, b"\x01a")];
    s.compact(now(), || table.iter().cloned()).unwrap();
    assert_eq!(mode(&path), 0o644);
    assert_eq!(mode(s.journal_path()), 0o600);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    s.compact(now(), || table.iter().cloned()).unwrap();
    assert_eq!(mode(&path), 0o640, "the old lease file's mode is kept");
}
