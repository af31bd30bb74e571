//! dumpleases against BusyBox's: the fixture written by the real BusyBox
//! 1.35 udhcpd (tests/fixtures/README.md), files we write, the journal
//! merge, and the error paths. Runs the built binary; BusyBox's applet is
//! compared when `busybox` is installed (else skipped with a message, or a
//! failure when UDHCP_REQUIRE_NETNS=1). All with TZ=UTC.

mod common;

use common::peers::busybox;
use common::tempdir::TempDir;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};

use udhcp::lease::{file, Hostname, LeaseRecord};
use udhcp::sys::clock;
use udhcp::sys::leasestore;
use udhcp::time::UnixTime;
use udhcp::wire::MacAddr;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/busybox-1.35.leases"
);
const HEADER_IN: &str = "Mac Address       IP Address      Host Name           Expires in";
const HEADER_AT: &str = "Mac Address       IP Address      Host Name           Expires at";

fn ours(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udhcp"))
        .arg("dumpleases")
        .args(args)
        .arg("-f")
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .expect("run udhcp dumpleases")
}

fn theirs(bb: &str, args: &[&str], file: &Path) -> Output {
    Command::new(bb)
        .arg("dumpleases")
        .args(args)
        .arg("-f")
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .expect("run busybox dumpleases")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Same header and rows: every column but the last exactly; the last
/// exactly, or within ±2 when numeric (the two runs read the clock at
/// slightly different moments).
fn assert_same_table(theirs: &str, ours: &str) {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    let show = format!("busybox:\n{theirs}\nours:\n{ours}");
    assert_eq!(a.len(), b.len(), "{show}");
    for (x, y) in a.iter().zip(&b) {
        let (xa, xb) = x.split_at(x.len().min(54));
        let (ya, yb) = y.split_at(y.len().min(54));
        assert_eq!(xa, ya, "{show}");
        match (xb.parse::<i64>(), yb.parse::<i64>()) {
            (Ok(p), Ok(q)) => assert!((p - q).abs() <= 2, "{show}"),
            _ => assert_eq!(xb, yb, "{show}"),
        }
    }
}

#[test]
fn decoder_reads_the_busybox_fixture() {
    let d = file::decode(&fs::read(FIXTURE).unwrap()).unwrap();
    assert_eq!(d.trailing_bytes, 0);
    assert_eq!(d.bad_records, 0);
    assert_eq!(d.written_at, UnixTime::from_secs(0x6b01_c9b0));
    let rows: Vec<(Ipv4Addr, MacAddr, String, u32)> = d
        .records
        .iter()
        .map(|r| (r.ip, r.mac, r.hostname.to_string(), r.remaining))
        .collect();
    // BusyBox's table order: the newest lease took the last empty slot.
    assert_eq!(
        rows,
        vec![
            (
                Ipv4Addr::new(192, 168, 77, 13),
                MacAddr([2, 0, 0x5e, 0x77, 0, 3]),
                ".rf...reboot.xxxxxx".to_string(),
                1_999_999_999
            ),
            (
                Ipv4Addr::new(192, 168, 77, 12),
                MacAddr([2, 0, 0x5e, 0x77, 0, 2]),
                "x...reboot.".to_string(),
                57
            ),
            (
                Ipv4Addr::new(192, 168, 77, 11),
                MacAddr([2, 0, 0x5e, 0x77, 0, 1]),
                "fixture1".to_string(),
                1_999_999_994
            ),
        ]
    );
    // Our encoder writes the very same bytes back.
    assert_eq!(
        file::encode(d.written_at, &d.records),
        fs::read(FIXTURE).unwrap()
    );
}

#[test]
fn fixture_output_matches_busybox() {
    let fixture = Path::new(FIXTURE);
    let Some(bb) = busybox() else { return };
    for args in [&["-d"][..], &["-a", "-d"], &["-r", "-d"]] {
        let (t, o) = (theirs(bb, args, fixture), ours(args, fixture));
        assert!(t.status.success() && o.status.success(), "{args:?}");
        assert_same_table(&text(&t.stdout), &text(&o.stdout));
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    }
    // Formatted columns: the expired row and the header are exact; the
    // live rows' text may tick over by a second, so compare the prefixes.
    for args in [&[][..], &["-a"]] {
        let (t, o) = (theirs(bb, args, fixture), ours(args, fixture));
        let (t, o) = (text(&t.stdout), text(&o.stdout));
        assert_eq!(t.lines().count(), o.lines().count());
        for (x, y) in t.lines().zip(o.lines()) {
            assert_eq!(x.get(..54), y.get(..54), "busybox:\n{t}\nours:\n{o}");
            if x.ends_with("expired") || x.starts_with("Mac") {
                assert_eq!(x, y);
            }
        }
    }
}

#[test]
fn header_and_rows_layout() {
    let out = ours(&[], Path::new(FIXTURE));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], HEADER_IN);
    assert_eq!(
        lines[2],
        "02:00:5e:77:00:02 192.168.77.12   x...reboot.         expired"
    );
    // ~63 years left: always "days", never a year.
    assert!(lines[1].starts_with("02:00:5e:77:00:03 192.168.77.13   .rf...reboot.xxxxxx "));
    assert!(lines[1].contains(" days "), "{}", lines[1]);
    let out = ours(&["-a"], Path::new(FIXTURE));
    assert_eq!(text(&out.stdout).lines().next(), Some(HEADER_AT));
    let out = ours(&["-d"], Path::new(FIXTURE));
    assert_eq!(text(&out.stdout).lines().next(), Some(HEADER_IN));
}

fn rec(n: u8, host: &str, remaining: u32) -> LeaseRecord {
    LeaseRecord {
        ip: Ipv4Addr::new(10, 9, 0, n),
        mac: MacAddr([2, 0, 0, 0, 9, n]),
        hostname: Hostname::sanitize(host.as_bytes()),
        remaining,
        client_id: Vec::new(),
    }
}

#[test]
fn journal_is_merged_busybox_sees_the_last_compaction() {
    let dir = TempDir::new("journal");
    let path = dir.path("udhcpd.leases");
    let now = clock::wall_now();
    let (mut store, _, _) = leasestore::open(&path, now).unwrap();
    let table = [rec(1, "one", 3600), rec(2, "two", 7200)];
    store.compact(now, || table.iter().cloned()).unwrap();
    store
        .append(now, &[rec(3, "three", 100), rec(1, "one-renewed", 9000)])
        .unwrap();
    let o = ours(&["-d"], &path);
    assert!(o.status.success());
    let s = text(&o.stdout);
    let rows: Vec<&str> = s.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{s}");
    assert!(rows[0].starts_with("02:00:00:00:09:01 10.9.0.1        one-renewed         "));
    assert!(rows[2].starts_with("02:00:00:00:09:03 10.9.0.3        three               "));
    if let Some(bb) = busybox() {
        let t = text(&theirs(bb, &["-d"], &path).stdout);
        assert_eq!(t.lines().count(), 3, "BusyBox sees the compacted file: {t}");
        assert!(t.contains(" one "));
    }
    // Without the lease file (before the first compaction) the journal
    // alone is shown: here the two entries appended since.
    fs::remove_file(&path).unwrap();
    let o = ours(&["-d"], &path);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 3);
    // A torn journal tail is ignored with a warning, never a failure.
    let j = dir.path("udhcpd.leases.journal");
    let mut bytes = fs::read(&j).unwrap();
    bytes.truncate(bytes.len() - 3);
    fs::write(&j, &bytes).unwrap();
    let o = ours(&["-d"], &path);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).lines().count(), 2);
    assert!(
        text(&o.stderr).contains("torn entry"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn errors_match_busybox() {
    let dir = TempDir::new("errors");
    let missing = dir.path("nope.leases");
    let o = ours(&[], &missing);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        text(&o.stderr),
        format!(
            "dumpleases: can't open '{}': No such file or directory\n",
            missing.display()
        )
    );
    let short = dir.path("short.leases");
    fs::write(&short, b"\0\0\0\0\x6b").unwrap();
    let o = ours(&[], &short);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), format!("{HEADER_IN}\n"));
    assert_eq!(text(&o.stderr), "dumpleases: short read\n");
    if let Some(bb) = busybox() {
        for f in [&missing, &short] {
            let t = theirs(bb, &[], f);
            assert_eq!(t.status.code(), Some(1));
            assert_eq!(t.stdout, ours(&[], f).stdout);
            assert_eq!(t.stderr, ours(&[], f).stderr);
        }
    }
    // Garbage: a clear error, exit 1, no panic, no rows.
    for (i, junk) in [
        &b"hello, this is a text file and not leases\n"[..],
        &[0xff; 100],
        &[0u8; 8 + 36 + 36].map(|_| 0x41),
    ]
    .iter()
    .enumerate()
    {
        let f = dir.path(&format!("junk{i}"));
        fs::write(&f, junk).unwrap();
        let o = ours(&["-a"], &f);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(text(&o.stdout), format!("{HEADER_AT}\n"));
        assert_eq!(
            text(&o.stderr),
            format!("dumpleases: '{}': not a udhcpd lease file\n", f.display())
        );
    }
    // Partial last record: rows of the whole ones, like BusyBox.
    let mut bytes = fs::read(FIXTURE).unwrap();
    bytes.truncate(bytes.len() - 10);
    let cut = dir.path("cut.leases");
    fs::write(&cut, &bytes).unwrap();
    let o = ours(&["-d"], &cut);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).lines().count(), 3);
    if let Some(bb) = busybox() {
        assert_same_table(&text(&theirs(bb, &["-d"], &cut).stdout), &text(&o.stdout));
    }
    // Usage errors stay as before.
    let o = Command::new(env!("CARGO_BIN_EXE_udhcp"))
        .args(["dumpleases", "-a", "-r"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}
