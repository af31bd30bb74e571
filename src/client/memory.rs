//! The lease state file: what udhcpc remembers between runs so the next
//! start can verify its lease by INIT-REBOOT (RFC 2131 §3.2), and what other
//! tools read to learn the current lease. Pure: text in, text out; the
//! driver does the atomic write (`sys::statefile`).
//!
//! # Format (version 1)
//!
//! Plain text, one `key=value` per line, `#` lines are comments, order
//! free, unknown keys ignored (later versions may add some):
//!
//! ```text
//! # udhcpc lease state, written atomically on every bound/renew
//! format=udhcpc-lease-1
//! interface=eth0
//! mac=02:00:5e:10:20:30
//! ip=192.168.1.100
//! server=192.168.1.1
//! obtained=1764700000
//! lease=3600
//! expires=1764703600
//! ack=0201060011223344…
//! ```
//!
//! - `obtained`, `expires`: wall-clock seconds since the epoch (UTC);
//!   `lease=infinite` and `expires=never` for an infinite lease.
//! - `ack`: the whole ACK (BOOTP header onwards) in lower-case hex, for
//!   tools that want every option.
//!
//! A file that does not parse, has another `format`, or names another
//! interface or MAC ("foreign") is ignored with a warning; the client then
//! starts with DISCOVER as if there were none.

use core::fmt::Write as _;
use core::time::Duration;
use std::net::Ipv4Addr;

use super::{Lease, Remembered};
use crate::time::{Instant, UnixTime};
use crate::wire::options::format_hex;
use crate::wire::MacAddr;

/// The `format=` value this version writes and reads.
pub const FORMAT: &str = "udhcpc-lease-1";
/// Longest state file read (an ACK in hex is at most ~3 KB).
pub const MAX_FILE_LEN: usize = 16 * 1024;

/// One remembered lease, as in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The interface it was obtained on.
    pub interface: String,
    /// Our MAC then.
    pub mac: MacAddr,
    /// The address.
    pub ip: Ipv4Addr,
    /// The server that gave it.
    pub server_id: Ipv4Addr,
    /// When it began (wall clock).
    pub obtained: UnixTime,
    /// Its length in seconds (`None`: infinite).
    pub lease_secs: Option<u32>,
    /// When it ends (wall clock; `None`: never).
    pub expires: Option<UnixTime>,
    /// The ACK.
    pub ack: Vec<u8>,
}

impl LeaseRecord {
    /// The record for `lease`, with the wall clock `wall_now` read at the
    /// monotonic `now`.
    pub fn from_lease(
        lease: &Lease,
        interface: &str,
        mac: MacAddr,
        now: Instant,
        wall_now: UnixTime,
    ) -> LeaseRecord {
        let age = now - lease.start;
        let obtained = UnixTime::from_secs(
            wall_now
                .as_secs()
                .saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX)),
        );
        LeaseRecord {
            interface: interface.to_owned(),
            mac,
            ip: lease.ip,
            server_id: lease.server_id,
            obtained,
            lease_secs: lease.lease_secs,
            expires: lease
                .lease_secs
                .map(|s| obtained + Duration::from_secs(u64::from(s))),
            ack: lease.ack.clone(),
        }
    }

    /// The file's text (module docs).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# udhcpc lease state, written atomically on every bound/renew"
        );
        let _ = writeln!(s, "format={FORMAT}");
        let _ = writeln!(s, "interface={}", self.interface);
        let _ = writeln!(s, "mac={}", self.mac);
        let _ = writeln!(s, "ip={}", self.ip);
        let _ = writeln!(s, "server={}", self.server_id);
        let _ = writeln!(s, "obtained={}", self.obtained.as_secs());
        match self.lease_secs {
            Some(l) => {
                let _ = writeln!(s, "lease={l}");
            }
            None => {
                let _ = writeln!(s, "lease=infinite");
            }
        }
        match self.expires {
            Some(e) => {
                let _ = writeln!(s, "expires={}", e.as_secs());
            }
            None => {
                let _ = writeln!(s, "expires=never");
            }
        }
        let _ = writeln!(s, "ack={}", format_hex(&self.ack));
        s
    }

    /// Parses a state file; the error says what is wrong.
    pub fn parse(text: &str) -> Result<LeaseRecord, String> {
        if text.len() > MAX_FILE_LEN {
            return Err(format!("longer than {MAX_FILE_LEN} bytes"));
        }
        let mut format = None;
        let (mut interface, mut mac, mut ip, mut server) = (None, None, None, None);
        let (mut obtained, mut lease, mut expires, mut ack) = (None, None, None, None);
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!("line without '=': {:?}", trunc(line)));
            };
            let bad = |what: &str| format!("bad {what} {:?}", trunc(v));
            match k {
                "format" => format = Some(v),
                "interface" => interface = Some(v.to_owned()),
                "mac" => mac = Some(v.parse::<MacAddr>().map_err(|_| bad("mac"))?),
                "ip" => ip = Some(v.parse::<Ipv4Addr>().map_err(|_| bad("ip"))?),
                "server" => server = Some(v.parse::<Ipv4Addr>().map_err(|_| bad("server"))?),
                "obtained" => obtained = Some(v.parse::<i64>().map_err(|_| bad("obtained"))?),
                "lease" => {
                    lease = Some(match v {
                        "infinite" => None,
                        _ => Some(v.parse::<u32>().map_err(|_| bad("lease"))?),
                    });
                }
                "expires" => {
                    expires = Some(match v {
                        "never" => None,
                        _ => Some(UnixTime::from_secs(
                            v.parse::<i64>().map_err(|_| bad("expires"))?,
                        )),
                    });
                }
                "ack" => ack = Some(parse_hex(v).ok_or_else(|| bad("ack"))?),
                _ => {}
            }
        }
        match format {
            Some(FORMAT) => {}
            Some(other) => return Err(format!("format {:?}, not {FORMAT}", trunc(other))),
            None => return Err("no format line".to_owned()),
        }
        let missing = |k: &str| format!("no {k}");
        Ok(LeaseRecord {
            interface: interface.ok_or_else(|| missing("interface"))?,
            mac: mac.ok_or_else(|| missing("mac"))?,
            ip: ip.ok_or_else(|| missing("ip"))?,
            server_id: server.ok_or_else(|| missing("server"))?,
            obtained: UnixTime::from_secs(obtained.ok_or_else(|| missing("obtained"))?),
            lease_secs: lease.ok_or_else(|| missing("lease"))?,
            expires: expires.ok_or_else(|| missing("expires"))?,
            ack: ack.unwrap_or_default(),
        })
    }

    /// What the client should do with this record on `interface` with
    /// `mac` at `now` (monotonic) / `wall_now`: `Ok(None)` for an expired
    /// lease, `Err` for a foreign one.
    pub fn remembered(
        &self,
        interface: &str,
        mac: MacAddr,
        now: Instant,
        wall_now: UnixTime,
    ) -> Result<Option<Remembered>, String> {
        if self.interface != interface {
            return Err(format!("lease of interface {:?}", trunc(&self.interface)));
        }
        if self.mac != mac {
            return Err(format!("lease of MAC {}, ours is {mac}", self.mac));
        }
        let expiry = match self.expires {
            None => None,
            Some(e) => {
                let left = e - wall_now;
                if left <= 0 {
                    return Ok(None);
                }
                Some(now + Duration::from_secs(u64::try_from(left).unwrap_or(u64::MAX)))
            }
        };
        Ok(Some(Remembered {
            ip: self.ip,
            expiry,
        }))
    }
}

/// The default state file of `interface`: `/var/lib/udhcpc/IFACE.lease`.
pub fn default_path(interface: &str) -> String {
    format!("/var/lib/udhcpc/{interface}.lease")
}

fn trunc(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0x5e, 0x10, 0x20, 0x30]);

    fn record() -> LeaseRecord {
        LeaseRecord {
            interface: "eth0".into(),
            mac: MAC,
            ip: Ipv4Addr::new(192, 168, 1, 100),
            server_id: Ipv4Addr::new(192, 168, 1, 1),
            obtained: UnixTime::from_secs(1_764_700_000),
            lease_secs: Some(3600),
            expires: Some(UnixTime::from_secs(1_764_703_600)),
            ack: vec![2, 1, 6, 0, 0xab],
        }
    }

    #[test]
    fn text_round_trip_and_golden() {
        let r = record();
        let text = r.to_text();
        assert_eq!(
            text,
            "# udhcpc lease state, written atomically on every bound/renew\n\
             format=udhcpc-lease-1\ninterface=eth0\nmac=02:00:5e:10:20:30\n\
             ip=192.168.1.100\nserver=192.168.1.1\nobtained=1764700000\n\
             lease=3600\nexpires=1764703600\nack=02010600ab\n"
        );
        assert_eq!(LeaseRecord::parse(&text), Ok(r.clone()));
        let inf = LeaseRecord {
            lease_secs: None,
            expires: None,
            ..r
        };
        let text = inf.to_text();
        assert!(text.contains("lease=infinite\nexpires=never\n"));
        assert_eq!(LeaseRecord::parse(&text), Ok(inf));
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let good = record().to_text();
        for (bad, why) in [
            ("", "no format line"),
            ("garbage", "line without"),
            (&good.replace("udhcpc-lease-1", "udhcpc-lease-9"), "format"),
            (&good.replace("ip=192.168.1.100", "ip=300.1.1.1"), "bad ip"),
            (&good.replace("ack=02010600ab", "ack=0g"), "bad ack"),
            (&good.replace("ack=02010600ab", "ack=012"), "bad ack"),
            (&good.replace("mac=02:00:5e:10:20:30\n", ""), "no mac"),
            (
                &good.replace("expires=1764703600", "expires=soon"),
                "bad expires",
            ),
            (&"x".repeat(MAX_FILE_LEN + 1), "longer"),
            ("\u{ff}\u{fe}=\u{0}", "no format"),
        ] {
            let e = LeaseRecord::parse(bad).unwrap_err();
            assert!(e.contains(why), "{e} for {bad:?}");
        }
        // Unknown keys and comments are fine.
        let more = format!("{good}# later\nnewkey=1\n");
        assert!(LeaseRecord::parse(&more).is_ok());
    }

    #[test]
    fn remembered_on_this_clock_or_refused() {
        let r = record();
        let wall = UnixTime::from_secs(1_764_703_000);
        let now = Instant::from_millis(5_000);
        assert_eq!(
            r.remembered("eth0", MAC, now, wall),
            Ok(Some(Remembered {
                ip: r.ip,
                expiry: Some(Instant::from_millis(605_000))
            }))
        );
        let late = UnixTime::from_secs(1_764_703_600);
        assert_eq!(r.remembered("eth0", MAC, now, late), Ok(None));
        assert!(r.remembered("eth1", MAC, now, wall).is_err());
        assert!(r
            .remembered("eth0", MacAddr([2, 0, 0, 0, 0, 9]), now, wall)
            .is_err());
    }

    #[test]
    fn from_lease_uses_the_lease_start() {
        let lease = Lease {
            ip: Ipv4Addr::new(10, 0, 0, 5),
            server_id: Ipv4Addr::new(10, 0, 0, 1),
            server_lease_secs: Some(600),
            lease_secs: Some(600),
            t1_secs: Some(300),
            t2_secs: Some(525),
            start: Instant::from_millis(10_000),
            ack: vec![1, 2],
        };
        let r = LeaseRecord::from_lease(
            &lease,
            "eth0",
            MAC,
            Instant::from_millis(12_500),
            UnixTime::from_secs(1000),
        );
        assert_eq!(r.obtained, UnixTime::from_secs(998));
        assert_eq!(r.expires, Some(UnixTime::from_secs(1598)));
        assert_eq!(default_path("wlan0"), "/var/lib/udhcpc/wlan0.lease");
    }
}
