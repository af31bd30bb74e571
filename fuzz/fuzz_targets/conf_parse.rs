//! udhcpd.conf text → `conf::parse`. Any text gives a config or an error
//! with a line number inside the file, never a panic. A config that parsed
//! passes `conf::validate` (parse runs it last), feeds `Server::new`
//! without a panic, and, where its strings can be written back as
//! udhcpd.conf lines (no `#`, `\`, CR or blanks at the ends), renders to a
//! text that parses to the same config: what the parser keeps is exactly
//! what the file said.
#![no_main]

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use udhcp::conf::{self, ServerConfig};
use udhcp::server::Server;

/// True if `s` survives a trip through a udhcpd.conf line unchanged.
fn writable(s: &str) -> bool {
    !s.is_empty() && !s.contains(['#', '\\', '\r', '\n', '\0']) && s.trim_matches([' ', '\t']) == s
}

/// The config as udhcpd.conf text, or `None` if a string cannot be written.
fn render(c: &ServerConfig) -> Option<String> {
    let mut t = String::new();
    let _ = writeln!(t, "start {}\nend {}", c.start, c.end);
    for (k, v) in [
        ("interface", &c.interface),
        ("lease_file", &c.lease_file),
        ("pidfile", &c.pidfile),
    ] {
        if !writable(v) {
            return None;
        }
        let _ = writeln!(t, "{k} {v}");
    }
    for (k, v) in [
        ("notify_file", &c.notify_file),
        ("sname", &c.sname),
        ("boot_file", &c.boot_file),
    ] {
        if let Some(v) = v {
            if !writable(v) {
                return None;
            }
            let _ = writeln!(t, "{k} {v}");
        }
    }
    let _ = writeln!(
        t,
        "max_leases {}\nauto_time {}\ndecline_time {}\nconflict_time {}\n\
         offer_time {}\nmin_lease {}\nsiaddr {}",
        c.max_leases,
        c.auto_time,
        c.decline_time,
        c.conflict_time,
        c.offer_time,
        c.min_lease,
        c.siaddr
    );
    for s in &c.static_leases {
        let _ = write!(t, "static_lease {} {}", s.mac, s.ip);
        if let Some(h) = &s.hostname {
            if !writable(h) {
                return None;
            }
            let _ = write!(t, " {h}");
        }
        t.push('\n');
    }
    for (code, bytes) in c.options.iter() {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(t, "opt {code} {}", hex.join(":"));
    }
    Some(t)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1);
    match conf::parse(&text, "fuzz.conf") {
        Err(e) => {
            if let Some(n) = e.line() {
                assert!(n >= 1 && n <= lines + 1, "line {n} of {lines}: {e}");
            }
            let _ = e.to_string();
        }
        Ok(parsed) => {
            let c = parsed.config;
            conf::validate(&c, "fuzz.conf").expect("a parsed config validates");
            assert!(c.start <= c.end && u64::from(c.max_leases) <= c.pool_size());
            let mut server = Server::new(c.clone(), Ipv4Addr::new(192, 168, 0, 1), 0);
            server.reconfigure(c.clone(), udhcp::time::Instant::from_millis(0));
            if let Some(t) = render(&c) {
                let again = conf::parse(&t, "fuzz.conf")
                    .unwrap_or_else(|e| panic!("rendered config rejected: {e}\n{t}"));
                assert_eq!(again.config, c, "rendered:\n{t}");
            }
        }
    }
});
