//! Table invariants, golden text ⇄ byte vectors for every kind, the hostile
//! vectors of BusyBox's CVE history, and a deterministic fuzz pass.

use super::*;
use std::collections::HashSet;
use std::net::Ipv4Addr;

fn set(lines: &[&str]) -> OptionSet {
    let mut s = OptionSet::new();
    for l in lines {
        s.add_text(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
    }
    s
}

fn err(line: &str) -> OptError {
    let mut s = OptionSet::new();
    let e = s.add_text(line).expect_err(line);
    assert!(s.is_empty(), "{line:?} changed the set");
    e
}

fn fmt(code: u8, data: &[u8]) -> String {
    format_option(code, data).expect("some").1
}

/// text → golden bytes → text, and that text parses back to the same bytes.
fn round_trip(line: &str, code: u8, bytes: &[u8], text: &str) {
    let s = set(&[line]);
    assert_eq!(s.get(code), Some(bytes), "{line:?}");
    assert_eq!(s.len(), 1);
    let (name, value) = format_option(code, bytes).expect("formats");
    assert_eq!(value, text, "{line:?}");
    // `optNN` is how unknown options are exported; they are set by number.
    let name = name.strip_prefix("opt").unwrap_or(&name);
    let again = set(&[&format!("{name} {value}")]);
    assert_eq!(again.get(code), Some(bytes), "reparse of {value:?}");
}

// ---- table ----

#[test]
fn table_shape() {
    assert_eq!(OPTIONS.len(), 40);
    assert_eq!(OPTIONS.iter().filter(|o| o.is_named()).count(), 37);
    let codes: HashSet<u8> = OPTIONS.iter().map(|o| o.code).collect();
    assert_eq!(codes.len(), 40, "codes unique");
    let names: HashSet<&str> = known_names().collect();
    assert_eq!(names.len(), 37, "names unique");
    for o in OPTIONS {
        assert_eq!(by_code(o.code), Some(o));
        assert_ne!(o.kind, Kind::Bin, "Bin is for numbered options only");
        if o.is_named() {
            assert_eq!(by_name(o.name), Some(o));
            assert_eq!(env_name(o.code), o.name);
        } else {
            assert_eq!(env_name(o.code), format!("opt{}", o.code));
        }
    }
    assert!(OPTIONS
        .iter()
        .all(|o| o.is_named() || [50, 53, 57].contains(&o.code)));
    assert_eq!(by_name(""), None);
    assert_eq!(by_name("Router"), None, "case-sensitive like BusyBox");
    assert_eq!(
        default_request_list().collect::<Vec<_>>(),
        [1, 3, 6, 12, 15, 28, 42]
    );
    assert_eq!(env_name(224), "opt224");
}

#[test]
fn unknown_option_message_lists_names_in_table_order() {
    assert_eq!(
        err("foo 1").to_string(),
        "unknown option 'foo', known options: subnet timezone router dns lprsrv \
         hostname bootsize domain swapsrv rootpath ipttl mtu broadcast routes nisdomain \
         nissrv ntpsrv wins lease serverid message vendor tftp bootfile tzstr tzdbstr \
         search sipsrv staticroutes vlanid vlanpriority pxeconffile pxepathprefix \
         reboottime ip6rd msstaticroutes wpad"
    );
    assert_eq!(err("61 zz").to_string(), "malformed hex string 'zz'");
    assert_eq!(err("router nohost").to_string(), "bad address 'nohost'");
    assert_eq!(
        err("mtu 70000").to_string(),
        "bad value '70000' for option mtu"
    );
}

// ---- parse_code / parse_ipv4_aton ----

#[test]
fn codes() {
    assert_eq!(parse_code("dns"), Ok(6));
    assert_eq!(parse_code("0x3d"), Ok(61));
    assert_eq!(parse_code("0X3D"), Ok(61));
    assert_eq!(parse_code("075"), Ok(61));
    assert_eq!(parse_code("61"), Ok(61));
    assert_eq!(parse_code("254"), Ok(254));
    assert_eq!(parse_code("0"), Ok(0));
    for bad in [
        "255", "256", "foo", "", "0x", "08", "+6", "-1", " 6", "opt53",
    ] {
        assert_eq!(
            parse_code(bad),
            Err(OptError::UnknownOption(bad.to_owned())),
            "{bad:?}"
        );
    }
}

#[test]
fn aton() {
    let ok = [
        ("1.2.3.4", [1, 2, 3, 4]),
        ("10.1", [10, 0, 0, 1]),
        ("1.2.3", [1, 2, 0, 3]),
        ("1.2.300", [1, 2, 1, 44]),
        ("0x7f000001", [127, 0, 0, 1]),
        ("0177.0.0.01", [127, 0, 0, 1]),
        ("0x0A.0.0.00", [10, 0, 0, 0]),
        ("4294967295", [255, 255, 255, 255]),
        ("1.16777215", [1, 255, 255, 255]),
        ("0", [0, 0, 0, 0]),
    ];
    for (s, b) in ok {
        assert_eq!(parse_ipv4_aton(s), Some(Ipv4Addr::from(b)), "{s:?}");
    }
    for s in [
        "",
        "256.1.1.1",
        "1.2.3.4.5",
        "1..2",
        "1.2.3.4.",
        ".1.2.3",
        "08.1.1.1",
        "1.0x",
        "4294967296",
        "1.16777216",
        "1.2.65536",
        " 1.2.3.4",
        "1.2.3.4 ",
        "+1.2.3.4",
        "-1",
        "a.b.c.d",
        "1.2.3.4/8",
        "1.2.3.256",
    ] {
        assert_eq!(parse_ipv4_aton(s), None, "{s:?}");
    }
}

// ---- text ⇄ bytes round trips, one or more per kind ----

#[test]
fn round_trip_ip() {
    round_trip(
        "subnet 255.255.255.0",
        1,
        &[255, 255, 255, 0],
        "255.255.255.0",
    );
    round_trip(
        "router 10.0.0.1 10.0.0.2",
        3,
        &[10, 0, 0, 1, 10, 0, 0, 2],
        "10.0.0.1 10.0.0.2",
    );
    round_trip("dns=1.2.3.4", 6, &[1, 2, 3, 4], "1.2.3.4");
    round_trip("dns:1.2.3.4", 6, &[1, 2, 3, 4], "1.2.3.4");
    round_trip(
        "dns\t1.2.3.4,5.6.7.8",
        6,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        "1.2.3.4 5.6.7.8",
    );
    // inet_aton short form, as BusyBox (via inet_aton) accepts it.
    round_trip("router 1.2.3", 3, &[1, 2, 0, 3], "1.2.0.3");
    // Non-list: only the first value.
    round_trip("subnet 255.0.0.0 junk", 1, &[255, 0, 0, 0], "255.0.0.0");
}

#[test]
fn round_trip_ip_pair() {
    round_trip(
        "routes 1.2.3.4 5.6.7.8",
        33,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        "1.2.3.4/5.6.7.8",
    );
    // The exported `a/b` form is accepted too (BusyBox: bad address).
    round_trip(
        "routes 1.2.3.4/5.6.7.8, 9.9.9.9 - 8.8.8.8",
        33,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 8, 8, 8, 8],
        "1.2.3.4/5.6.7.8 9.9.9.9/8.8.8.8",
    );
    assert_eq!(
        err("routes 1.2.3.4"),
        OptError::BadValue {
            name: "routes".into(),
            value: "1.2.3.4".into()
        }
    );
    assert_eq!(err("routes 1.2.3.4/x"), OptError::BadAddress("x".into()));
}

#[test]
fn round_trip_strings() {
    round_trip("hostname box", 12, b"box", "box");
    round_trip("domain example.com", 15, b"example.com", "example.com");
    round_trip("message hello world", 56, b"hello", "hello");
    round_trip("tftp 10.0.0.1", 66, b"10.0.0.1", "10.0.0.1");
    round_trip(
        "wpad http://wpad/wpad.dat",
        252,
        b"http://wpad/wpad.dat",
        "http://wpad/wpad.dat",
    );
    // An `=` or `:` inside the value is kept: only the first separator counts.
    round_trip("bootfile=pxelinux.0:x", 67, b"pxelinux.0:x", "pxelinux.0:x");
    let long = "x".repeat(254);
    round_trip(&format!("rootpath {long}"), 17, long.as_bytes(), &long);
    assert_eq!(err(&format!("rootpath {long}y")), OptError::TooLong);
}

#[test]
fn round_trip_integers() {
    round_trip("ipttl 64", 23, &[64], "64");
    round_trip("ipttl 0x40", 23, &[64], "64");
    round_trip("mtu 1500", 26, &[0x05, 0xdc], "1500");
    round_trip("vlanid 010", 132, &[0, 8], "8");
    round_trip("lease 86400", 51, &[0x00, 0x01, 0x51, 0x80], "86400");
    round_trip("reboottime 4294967295", 211, &[0xff; 4], "4294967295");
    round_trip("timezone -3600", 2, &[0xff, 0xff, 0xf1, 0xf0], "-3600");
    round_trip("timezone 3600", 2, &[0, 0, 0x0e, 0x10], "3600");
    round_trip("timezone -0x10", 2, &[0xff, 0xff, 0xff, 0xf0], "-16");
    round_trip("timezone -2147483648", 2, &[0x80, 0, 0, 0], "-2147483648");
    // Out of range is an error (BusyBox truncates U8/U16).
    for bad in [
        "ipttl 256",
        "mtu 70000",
        "mtu -1",
        "mtu +1",
        "mtu 1e3",
        "mtu 08",
        "mtu 0x",
        "lease 4294967296",
        "timezone 2147483648",
        "timezone -2147483649",
        "timezone --1",
    ] {
        let name = bad.split(' ').next().unwrap_or_default();
        let value = bad.split(' ').nth(1).unwrap_or_default();
        assert_eq!(
            err(bad),
            OptError::BadValue {
                name: name.into(),
                value: value.into()
            },
            "{bad:?}"
        );
    }
}

#[test]
fn round_trip_bin() {
    round_trip("0x3d 01020304", 61, &[1, 2, 3, 4], "01020304");
    round_trip("61 01:02:03:04", 61, &[1, 2, 3, 4], "01020304");
    round_trip("224 'q w e'", 224, b"q w e", "7120772065");
    // Numeric codes are raw even when the code has a name.
    let s = set(&["6 c0a80001"]);
    assert_eq!(s.get(6), Some(&[192, 168, 0, 1][..]));
    assert_eq!(fmt(6, &[192, 168, 0, 1]), "192.168.0.1");
    // hex2bin details: odd nibbles before ':' or the end, doubled ':'.
    for (v, b) in [
        ("a:b", &[0x0a, 0x0b][..]),
        ("abc", &[0xab, 0x0c]),
        ("a::b", &[0x0a, 0x0b]),
        ("01:", &[0x01]),
        ("AbCd", &[0xab, 0xcd]),
    ] {
        assert_eq!(set(&[&format!("61 {v}")]).get(61), Some(b), "{v:?}");
    }
    assert_eq!(set(&["61 \"x y\""]).get(61), Some(&b"x y"[..]));
    assert_eq!(set(&["61  01 "]).get(61), Some(&[1][..]), "value trimmed");
    for v in ["zz", ":01", "ab::cd", "01 02", "\"x", "'x\"", "0g"] {
        assert_eq!(
            err(&format!("61 {v}")),
            OptError::MalformedHex(v.into()),
            "{v:?}"
        );
    }
    assert_eq!(err("61 \"\""), OptError::MissingValue("61".into()));
    assert_eq!(err(&format!("61 {}", "00".repeat(256))), OptError::TooLong);
    assert_eq!(
        set(&[&format!("61 {}", "00".repeat(255))])
            .get(61)
            .map(<[u8]>::len),
        Some(255)
    );
    assert_eq!(err(&format!("61 '{}'", "x".repeat(255))), OptError::TooLong);
}

#[test]
fn round_trip_static_routes() {
    round_trip(
        "staticroutes 10.0.0.0/8 10.0.0.1, 0.0.0.0/0 10.0.0.254",
        121,
        &[8, 10, 10, 0, 0, 1, 0, 10, 0, 0, 254],
        "10.0.0.0/8 10.0.0.1 0.0.0.0/0 10.0.0.254",
    );
    round_trip(
        "msstaticroutes 192.168.1.0/24 10.0.0.1 1.2.3.4/32 10.0.0.2 172.16.16.0/20 10.0.0.3",
        249,
        &[
            24, 192, 168, 1, 10, 0, 0, 1, 32, 1, 2, 3, 4, 10, 0, 0, 2, 20, 172, 16, 16, 10, 0, 0, 3,
        ],
        "192.168.1.0/24 10.0.0.1 1.2.3.4/32 10.0.0.2 172.16.16.0/20 10.0.0.3",
    );
    let one = [8, 10, 10, 0, 0, 1];
    for l in [
        "staticroutes 10.0.0.0/8-10.0.0.1",
        "staticroutes 10.0.0.0/8/10.0.0.1",
        "staticroutes 10.0.0.0/8 - 10.0.0.1",
        "staticroutes 10.0.0.0/8 /10.0.0.1",
        "staticroutes 10.0.0.0/8,10.0.0.1",
        "staticroutes 10.0.0.0/8\t10.0.0.1",
        "staticroutes=10.0.0.0/08 10.0.0.1",
    ] {
        assert_eq!(set(&[l]).get(121), Some(&one[..]), "{l:?}");
    }
    // Host bits are cleared (BusyBox sends them).
    assert_eq!(
        set(&["staticroutes 10.1.2.3/9 1.1.1.1"]).get(121),
        Some(&[9, 10, 0, 1, 1, 1, 1][..])
    );
    for bad in [
        "staticroutes 10.0.0.0/33 1.1.1.1",
        "staticroutes 10.0.0.0 1.1.1.1",
        "staticroutes 10.0.0.0/8",
        "staticroutes 10.0.0.0/ 1.1.1.1",
        "staticroutes 10.0.0.0/x 1.1.1.1",
        "staticroutes 10.0.0.0/8x1.1.1.1",
        "staticroutes 10.0.0.0/-8 1.1.1.1",
    ] {
        assert!(matches!(err(bad), OptError::BadValue { .. }), "{bad:?}");
    }
    assert_eq!(
        err("staticroutes 10.0.0.0/8 1.1.1.256"),
        OptError::BadAddress("1.1.1.256".into())
    );
    assert_eq!(
        err("staticroutes 10.0.0.256/8 1.1.1.1"),
        OptError::BadAddress("10.0.0.256".into())
    );
}

#[test]
fn round_trip_search_compressed() {
    #[rustfmt::skip]
    let golden = [
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        3, b'f', b'o', b'o', 0xc0, 0x00,
    ];
    round_trip(
        "search example.com foo.example.com",
        119,
        &golden,
        "example.com foo.example.com",
    );
    // Lower-cased, trailing dot allowed, and lines append with compression
    // across them: the same bytes as one line.
    assert_eq!(
        set(&["search Example.COM.", "search foo.example.com"]).get(119),
        Some(&golden[..])
    );
    // A repeated name is one pointer; a shared suffix points into the middle.
    let s = set(&["search a.b.c x.b.c a.b.c c"]);
    let d = s.get(119).unwrap();
    assert_eq!(
        d,
        &[1, b'a', 1, b'b', 1, b'c', 0, 1, b'x', 0xc0, 2, 0xc0, 0, 0xc0, 4][..]
    );
    assert_eq!(fmt(119, d), "a.b.c x.b.c a.b.c c");
    for bad in [
        "search a..b",
        "search .",
        "search .com",
        "search com..",
        "search a.b.c..",
    ] {
        assert!(matches!(err(bad), OptError::BadValue { .. }), "{bad:?}");
    }
    let l63 = "a".repeat(63);
    assert!(set(&[&format!("search {l63}.com")]).get(119).is_some());
    assert!(matches!(
        err(&format!("search a{l63}.com")),
        OptError::BadValue { .. }
    ));
    // Names over 255 octets are refused: 4 × 63-octet labels = 257.
    let long = [l63.as_str(); 4].join(".");
    assert!(matches!(
        err(&format!("search {long}")),
        OptError::BadValue { .. }
    ));
    let ok = [
        l63.as_str(),
        l63.as_str(),
        l63.as_str(),
        "a".repeat(61).as_str(),
    ]
    .join(".");
    assert_eq!(
        set(&[&format!("search {ok}")]).get(119).map(<[u8]>::len),
        Some(255)
    );
}

/// Jumps a BusyBox-style decoder takes per name (top-level pointer
/// included), to check the encoder never needs more than 6.
fn max_jumps(data: &[u8]) -> usize {
    let mut worst = 0;
    let mut pos = 0;
    while pos < data.len() {
        let (mut cur, mut jumps, mut resume) = (pos, 0, None);
        loop {
            let b = data[cur];
            if b == 0 {
                cur += 1;
                break;
            } else if b >= 0xc0 {
                resume.get_or_insert(cur + 2);
                jumps += 1;
                cur = usize::from(data[cur + 1]);
            } else {
                cur += 1 + usize::from(b);
            }
        }
        worst = worst.max(jumps);
        pos = resume.unwrap_or(cur);
    }
    worst
}

#[test]
fn search_compression_depth_stays_busybox_readable() {
    // d, c.d, b.c.d, … each pointing at the previous one: a chain that a
    // naive encoder makes 9 deep.
    let labels = ["j", "i", "h", "g", "f", "e", "d", "c", "b", "a"];
    let names: Vec<String> = (1..=labels.len())
        .map(|n| {
            labels[..n]
                .iter()
                .rev()
                .copied()
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let s = set(&[&format!("search {}", names.join(" "))]);
    let d = s.get(119).unwrap();
    assert!(max_jumps(d) <= 6, "{d:02x?}");
    assert_eq!(fmt(119, d), names.join(" "));
}

#[test]
fn round_trip_sip_servers() {
    round_trip(
        "sipsrv 1.2.3.4 5.6.7.8",
        120,
        &[1, 1, 2, 3, 4, 5, 6, 7, 8],
        "1.2.3.4 5.6.7.8",
    );
    #[rustfmt::skip]
    let names = [
        0, 3, b's', b'i', b'p', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        2, b's', b'2', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
    ];
    round_trip(
        "sipsrv sip.example.com S2.example.com",
        120,
        &names,
        "sip.example.com s2.example.com",
    );
    assert!(matches!(
        err("sipsrv 1.2.3.4 sip.example.com"),
        OptError::BadAddress(_)
    ));
    assert!(matches!(
        err("sipsrv sip.example.com 1.2.3.4"),
        OptError::BadValue { .. }
    ));
    assert!(matches!(err("sipsrv a..b"), OptError::BadValue { .. }));
    assert_eq!(err("sipsrv"), OptError::MissingValue("sipsrv".into()));
    let many = vec!["1.1.1.1"; 64].join(" ");
    assert_eq!(err(&format!("sipsrv {many}")), OptError::TooLong);
    // Non-list: a second line is ignored.
    let s = set(&["sipsrv 1.2.3.4", "sipsrv 5.6.7.8"]);
    assert_eq!(s.get(120), Some(&[1, 1, 2, 3, 4][..]));
}

#[test]
fn round_trip_6rd() {
    let mut golden = vec![16, 32, 0x20, 0x01, 0x0d, 0xb8];
    golden.extend([0; 12]);
    golden.extend([192, 0, 2, 1, 192, 0, 2, 2]);
    round_trip(
        "ip6rd 16 32 2001:db8:: 192.0.2.1 192.0.2.2",
        212,
        &golden,
        "16 32 2001:0db8:0000:0000:0000:0000:0000:0000 192.0.2.1 192.0.2.2",
    );
    for bad in [
        "ip6rd 33 32 2001:db8:: 1.1.1.1",
        "ip6rd 0 97 2001:db8:: 1.1.1.1",
        "ip6rd 16 129 2001:db8:: 1.1.1.1",
        "ip6rd 16 32 2001:db8::x 1.1.1.1",
        "ip6rd 16 32 1.1.1.1 1.1.1.1",
    ] {
        assert!(matches!(err(bad), OptError::BadValue { .. }), "{bad:?}");
    }
    assert!(matches!(
        err("ip6rd 16 32 2001:db8::"),
        OptError::MissingValue(_)
    ));
    assert!(matches!(err("ip6rd 16 32 ::"), OptError::MissingValue(_)));
    assert_eq!(
        err("ip6rd 16 32 :: 1.1.1.300"),
        OptError::BadAddress("1.1.1.300".into())
    );
    let brs = |n| vec!["1.1.1.1"; n].join(" ");
    assert_eq!(
        set(&[&format!("ip6rd 32 96 :: {}", brs(59))])
            .get(212)
            .map(<[u8]>::len),
        Some(254)
    );
    assert_eq!(
        err(&format!("ip6rd 32 96 :: {}", brs(60))),
        OptError::TooLong
    );
}

// ---- set semantics ----

#[test]
fn list_lines_append_and_non_list_lines_are_ignored() {
    let s = set(&[
        "router 1.1.1.1",
        "router 2.2.2.2 3.3.3.3",
        "mtu 1500",
        "mtu 1400",
    ]);
    assert_eq!(s.get(3), Some(&[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3][..]));
    assert_eq!(s.get(26), Some(&[0x05, 0xdc][..]));
    // Named list after a raw line for the same code appends; a raw line
    // after anything is ignored (raw options are never lists).
    let s = set(&["6 01020304", "dns 5.6.7.8", "6 ffffffff"]);
    assert_eq!(s.get(6), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
    // Emitted in code order whatever the line order.
    let s = set(&["wpad x", "lease 60", "subnet 255.0.0.0", "0x3d 01"]);
    assert_eq!(
        s.iter().map(|(c, _)| c).collect::<Vec<_>>(),
        [1, 51, 61, 252]
    );
}

#[test]
fn cap_at_255_bytes() {
    let addrs: Vec<String> = (0..70).map(|i| format!("10.0.0.{i}")).collect();
    let s = set(&[&format!("dns {}", addrs.join(" "))]);
    let d = s.get(6).unwrap();
    assert_eq!(
        d.len(),
        252,
        "63 addresses fit, the rest is dropped silently"
    );
    assert_eq!(&d[248..], &[10, 0, 0, 62]);
    let s = set(&[&format!("dns {}", addrs.join(" ")), "dns 1.1.1.1"]);
    assert_eq!(s.get(6).map(<[u8]>::len), Some(252));
    // Exactly 255 is allowed (BusyBox stops at 254).
    let s = set(&[&format!("6 {}", "00".repeat(251)), "dns 1.1.1.1"]);
    assert_eq!(s.get(6).map(<[u8]>::len), Some(255));
    // Search: names that do not fit are dropped, later ones that do are kept.
    let l63 = "a".repeat(63);
    let big = format!("{l63}.{l63}.{l63}.b");
    let c63 = "c".repeat(63);
    let s = set(&[&format!("search {big}"), &format!("search {c63}.{c63} x.y")]);
    assert_eq!(s.get(119).map(<[u8]>::len), Some(195 + 5));
    assert_eq!(fmt(119, s.get(119).unwrap()), format!("{big} x.y"));
}

#[test]
fn search_appends_after_raw_data_it_cannot_read() {
    let s = set(&["119 c000", "search foo.com"]);
    let d = s.get(119).unwrap();
    assert_eq!(
        d,
        &[0xc0, 0, 3, b'f', b'o', b'o', 3, b'c', b'o', b'm', 0][..]
    );
}

#[test]
fn set_accessors() {
    let mut s = OptionSet::new();
    assert!(s.is_empty());
    s.insert_raw(51, vec![0, 0, 0, 60]);
    s.insert_raw(3, [1, 2, 3, 4]);
    s.insert_raw(51, [0, 0, 1, 0]);
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(51), Some(&[0, 0, 1, 0][..]));
    assert_eq!(s.iter().map(|(c, _)| c).collect::<Vec<_>>(), [3, 51]);
    assert_eq!(s.remove(3), Some(vec![1, 2, 3, 4]));
    assert_eq!(s.remove(3), None);
    assert_eq!(s.get(3), None);
    assert_eq!(s.len(), 1);
}

#[test]
fn garbage_text_for_every_kind() {
    for (line, want) in [
        ("", OptError::MissingValue(String::new())),
        ("  =:", OptError::MissingValue(String::new())),
        ("router", OptError::MissingValue("router".into())),
        ("router ,, ", OptError::MissingValue("router".into())),
        ("router 1.2.3.256", OptError::BadAddress("1.2.3.256".into())),
        ("router 1.2.3.4.5", OptError::BadAddress("1.2.3.4.5".into())),
        ("dns = 1.2.3.4", OptError::BadAddress("=".into())),
        ("hostname", OptError::MissingValue("hostname".into())),
        ("0x3d:", OptError::MissingValue("61".into())),
        ("0x3d: ", OptError::MissingValue("61".into())),
        ("255 01", OptError::UnknownOption("255".into())),
        ("256 01", OptError::UnknownOption("256".into())),
        (
            "0 01",
            OptError::Unsupported("option 0 is the PAD byte and cannot carry a value"),
        ),
        ("61 zz", OptError::MalformedHex("zz".into())),
        ("search", OptError::MissingValue("search".into())),
    ] {
        assert_eq!(err(line), want, "{line:?}");
    }
    // Atomic: a bad later value leaves the set untouched.
    let mut s = set(&["router 9.9.9.9"]);
    assert!(s.add_text("router 1.1.1.1 bogus").is_err());
    assert_eq!(s.get(3), Some(&[9, 9, 9, 9][..]));
    // Text after NUL is invisible, as for BusyBox's C strings.
    assert_eq!(set(&["hostname box\0evil"]).get(12), Some(&b"box"[..]));
}

// ---- bytes → text ----

#[test]
fn format_fixed_kinds() {
    assert_eq!(fmt(3, &[1, 1, 1, 1, 2, 2, 2, 2, 3]), "1.1.1.1 2.2.2.2");
    assert_eq!(fmt(28, &[1, 1, 1, 1, 2, 2, 2, 2]), "1.1.1.1 2.2.2.2");
    assert_eq!(
        fmt(33, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]),
        "1.2.3.4/5.6.7.8"
    );
    assert_eq!(fmt(33, &[1, 2, 3, 4]), "");
    assert_eq!(fmt(26, &[0x05, 0xdc, 0x01]), "1500");
    assert_eq!(fmt(26, &[0x05]), "");
    assert_eq!(fmt(23, &[1, 2, 255]), "1 2 255");
    assert_eq!(fmt(51, &[0xff, 0xff, 0xff, 0xff]), "4294967295");
    assert_eq!(fmt(51, &[0, 0, 1]), "");
    // S32 is signed (BusyBox on 64-bit prints 4294963696).
    assert_eq!(fmt(2, &[0xff, 0xff, 0xf1, 0xf0]), "-3600");
    assert_eq!(
        fmt(2, &[0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0]),
        "2147483647 -2147483648"
    );
}

#[test]
fn format_unknown_and_skipped() {
    assert_eq!(
        format_option(224, &[1, 2, 0xab]),
        Some(("opt224".into(), "0102ab".into()))
    );
    assert_eq!(format_option(53, &[5]), Some(("opt53".into(), "05".into())));
    assert_eq!(
        format_option(50, &[1, 2, 3, 4]),
        Some(("opt50".into(), "01020304".into()))
    );
    assert_eq!(
        format_option(57, &[2, 64]),
        Some(("opt57".into(), "0240".into()))
    );
    assert_eq!(
        format_option(8, &[1, 2, 3, 4]),
        Some(("opt8".into(), "01020304".into()))
    );
    assert_eq!(format_option(1, &[]), None);
    assert_eq!(format_option(224, &[]), None);
    assert_eq!(format_option(52, &[3]), None);
    assert_eq!(format_hex(&[0, 0xff, 0x0a]), "00ff0a");
    assert_eq!(format_hex(&[]), "");
}

#[test]
fn format_strings() {
    assert_eq!(fmt(56, b"hello world"), "hello world");
    assert_eq!(fmt(56, b"up to\0nul"), "up to");
    assert_eq!(fmt(56, b"$(id);`x`"), "$(id);`x`", "not filtered here");
    assert_eq!(fmt(56, &[b'h', 0xff, b'i', 0xc3]), "h\\xffi\\xc3");
    assert_eq!(fmt(56, "é€".as_bytes()), "é€");
    assert_eq!(fmt(56, &[0]), "");
}

#[test]
fn cve_2011_2716_hostnames() {
    for code in [12, 15, 40, 66] {
        assert_eq!(fmt(code, b"host-1.example_x"), "host-1.example_x");
        assert_eq!(fmt(code, b"1host"), "1host");
        assert_eq!(fmt(code, b"evil;reboot"), "bad");
        assert_eq!(fmt(code, b"$(id)"), "bad");
        assert_eq!(fmt(code, b"a b"), "ba");
        assert_eq!(fmt(code, b"-rf"), "ba");
        assert_eq!(fmt(code, b"example.com foo.com"), "bad");
        assert_eq!(fmt(code, b"ok\0;evil"), "ok", "checked up to the NUL");
        assert_eq!(fmt(code, &[0xc3, 0xa9]), "b");
        assert_eq!(fmt(code, b";"), "");
        assert_eq!(fmt(code, b";;"), "b");
        assert_eq!(fmt(code, b";;;"), "ba");
        assert_eq!(fmt(code, b";;;;"), "bad");
        assert_eq!(fmt(code, b"-"), "");
        assert_eq!(fmt(code, b"\0"), "");
    }
    assert!(good_hostname(b""));
    assert!(!good_hostname(b"-x"));
    assert!(good_hostname(b"x-"));
}

#[test]
fn cve_2019_5747_subnet() {
    for len in 1..=3 {
        let d = vec![255; len];
        assert_eq!(format_option(1, &d), Some(("subnet".into(), String::new())));
        assert_eq!(mask_prefix_len(&d), None);
    }
    assert_eq!(mask_prefix_len(&[255, 255, 255, 0]), Some(24));
    assert_eq!(mask_prefix_len(&[255, 255, 255, 255]), Some(32));
    assert_eq!(mask_prefix_len(&[0, 0, 0, 0]), Some(0));
    assert_eq!(mask_prefix_len(&[255, 255, 240, 0]), Some(20));
    assert_eq!(mask_prefix_len(&[255, 255, 255, 0, 0]), None);
    assert_eq!(mask_prefix_len(&[]), None);
    // Non-contiguous: no prefix length (BusyBox exports the popcount).
    assert_eq!(mask_prefix_len(&[255, 0, 255, 0]), None);
    assert_eq!(mask_prefix_len(&[0, 0, 0, 1]), None);
    assert_eq!(mask_prefix_len(&[255, 255, 255, 254]), Some(31));
}

#[test]
fn static_routes_malformed() {
    assert_eq!(fmt(121, &[33, 10, 10, 0, 0, 1]), "");
    assert_eq!(
        fmt(121, &[8, 10, 1, 2, 3, 4, 33, 1, 1, 1, 1, 1]),
        "10.0.0.0/8 1.2.3.4"
    );
    assert_eq!(fmt(121, &[8, 10, 1, 2, 3]), "");
    assert_eq!(
        fmt(121, &[8, 10, 1, 2, 3, 4, 24, 1, 2, 3, 4]),
        "10.0.0.0/8 1.2.3.4"
    );
    assert_eq!(fmt(121, &[0, 1, 2, 3, 4]), "0.0.0.0/0 1.2.3.4");
    assert_eq!(
        fmt(249, &[32, 1, 2, 3, 4, 5, 6, 7, 8]),
        "1.2.3.4/32 5.6.7.8"
    );
    assert_eq!(fmt(121, &[255]), "");
}

#[test]
fn cve_2016_2148_6rd() {
    let mut d = vec![32, 96];
    d.extend([0x20, 0x01, 0x0d, 0xb8]);
    d.extend([0; 12]);
    d.extend((0..236).map(|i| i as u8));
    assert_eq!(d.len(), 254);
    let v = fmt(212, &d);
    let words: Vec<&str> = v.split(' ').collect();
    assert_eq!(words.len(), 3 + 59);
    assert_eq!(
        words[..3],
        ["32", "96", "2001:0db8:0000:0000:0000:0000:0000:0000"]
    );
    assert_eq!(words[3], "0.1.2.3");
    assert_eq!(words[61], "232.233.234.235");
    // Trailing partial address ignored.
    let v = fmt(212, &d[..25]);
    assert_eq!(v, "32 96 2001:0db8:0000:0000:0000:0000:0000:0000 0.1.2.3");
    assert_eq!(fmt(212, &d[..21]), "");
    let mut bad = d.clone();
    bad[0] = 33;
    assert_eq!(fmt(212, &bad), "");
    bad[0] = 0;
    bad[1] = 97;
    assert_eq!(fmt(212, &bad), "", "97 + 32 - 0 > 128");
    bad[1] = 96;
    assert!(!fmt(212, &bad).is_empty());
    let mut x = XorShift(0x2545_f491_4f6c_dd1d);
    for len in 0..=255 {
        let data: Vec<u8> = (0..len).map(|_| x.next() as u8).collect();
        let _ = format_option(212, &data);
    }
}

#[test]
fn cve_2016_2147_and_dns_decoding() {
    let root_first = [0, 0, 2, b'e', b'e', 0];
    assert_eq!(
        fmt(119, &root_first),
        "ee",
        "BusyBox: 'search ee', not exported"
    );
    let mut sip = vec![0];
    sip.extend(root_first);
    assert_eq!(fmt(120, &sip), "ee");
    for (what, d) in [
        ("self pointer", &[0xc0, 0x00][..]),
        ("pointer loop via a label", &[1, b'a', 0xc0, 0x00]),
        ("forward pointer", &[0xc0, 0x02, 1, b'a', 0]),
        ("pointer past the end", &[1, b'a', 0xc0, 0x50]),
        ("pointer missing its second byte", &[1, b'a', 0, 0xc0]),
        ("label 0x40", &[0x40, 0]),
        ("label 0x80", &[0x80, 0]),
        ("label 0xbf", &[0xbf, 0]),
        ("label past end", &[5, b'a', b'b', 0]),
        ("empty", &[0]),
        ("only roots", &[0, 0, 0]),
    ] {
        assert_eq!(fmt(119, d), "", "{what}");
        let mut s = vec![0];
        s.extend_from_slice(d);
        assert_eq!(fmt(120, &s), "", "sip {what}");
    }
    // A 256-octet name (four 63-octet labels) is refused, 255 is fine.
    let mut d = Vec::new();
    for _ in 0..4 {
        d.push(63);
        d.extend([b'a'; 63]);
    }
    d.push(0);
    assert_eq!(fmt(119, &d), "");
    d.drain(192..194);
    d[192] = 61;
    assert_eq!(fmt(119, &d).len(), 253);
    // Unterminated last name ends at the end of data, as in BusyBox.
    assert_eq!(fmt(119, &[3, b'c', b'o', b'm']), "com");
    // Label bytes are rendered, not interpreted.
    assert_eq!(fmt(119, &[3, b'a', 0xff, b'b', 0]), "a\\xffb");
    // SIP encodings.
    assert_eq!(fmt(120, &[1, 1, 2, 3, 4]), "1.2.3.4");
    assert_eq!(fmt(120, &[1, 1, 2, 3]), "");
    assert_eq!(fmt(120, &[2, 1, 2, 3, 4]), "");
    assert_eq!(fmt(120, &[0]), "");
}

// ---- deterministic fuzzing ----

use crate::testutil::XorShift;

#[test]
fn random_bytes_never_panic() {
    let mut x = XorShift(0x9e37_79b9_7f4a_7c15);
    for code in 0..=255u8 {
        for _ in 0..200 {
            let len = (x.next() % 300) as usize;
            let data: Vec<u8> = (0..len).map(|_| x.next() as u8).collect();
            let _ = format_option(code, &data);
            let _ = mask_prefix_len(&data);
        }
    }
    // DNS-shaped bytes: small label lengths and pointers are likelier.
    let alphabet = [0u8, 1, 2, 3, 0x3f, 0x40, 0xbf, 0xc0, 0xc1, 0xff, b'a'];
    for _ in 0..20_000 {
        let len = (x.next() % 40) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let r = x.next();
                if r % 3 == 0 {
                    (r >> 8) as u8 % 16
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        let _ = format_option(119, &data);
    }
}

#[test]
fn random_text_never_panics() {
    let pieces = [
        "1",
        "0",
        "0x",
        "08",
        "255",
        "256",
        "-",
        "+",
        ".",
        "/",
        ":",
        "=",
        " ",
        "\t",
        ",",
        "\"",
        "'",
        "a",
        "Z",
        "é",
        "\0",
        "10.0.0.1",
        "::",
        "2001:db8::",
        "ff",
        "z",
        "..",
        "32",
        "33",
    ];
    let mut names: Vec<&str> = known_names().collect();
    names.extend(["0x3d", "61", "0", "254", "255", "bogus", ""]);
    let mut x = XorShift(0x1234_5678_9abc_def1);
    for _ in 0..30_000 {
        let mut s = OptionSet::new();
        for _ in 0..3 {
            let mut line = String::from(names[(x.next() as usize) % names.len()]);
            line.push_str([" ", "=", ":", "\t"][(x.next() % 4) as usize]);
            for _ in 0..(x.next() % 12) {
                line.push_str(pieces[(x.next() as usize) % pieces.len()]);
            }
            let _ = s.add_text(&line);
            let _ = parse_code(&line);
            let _ = parse_ipv4_aton(&line);
        }
        for (code, data) in s.iter() {
            assert!(data.len() <= MAX_OPTION_LEN);
            let _ = format_option(code, data);
        }
    }
}

// Moved from applets/cli.rs when its private copy of inet_aton was
// replaced by this one: the forms udhcpc -r must accept and refuse.
#[test]
fn parse_ipv4_aton_accepts_what_inet_aton_does() {
    let ip = |s: &str| parse_ipv4_aton(s);
    assert_eq!(ip("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(ip("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(ip("10.1.2"), Some(Ipv4Addr::new(10, 1, 0, 2)));
    assert_eq!(ip("10.1.258"), Some(Ipv4Addr::new(10, 1, 1, 2)));
    assert_eq!(ip("167772161"), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(ip("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(ip("0X7F.0.0.01"), Some(Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(ip("010.0.0.010"), Some(Ipv4Addr::new(8, 0, 0, 8)));
    assert_eq!(ip("0"), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(ip("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
    assert_eq!(ip("4294967295"), Some(Ipv4Addr::BROADCAST));
    for bad in [
        "",
        ".",
        "1.",
        ".1",
        "1..2",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.2.3.256",
        "1.2.65536",
        "1.16777216",
        "4294967296",
        "08",
        "0x",
        "0xg",
        "1.2.3.4 ",
        " 1.2.3.4",
        "-1",
        "+1",
        "1.2.3.x",
        "eth0",
    ] {
        assert_eq!(ip(bad), None, "{bad:?}");
    }
}
