//! Leases: what udhcpd has granted, in memory and on disk.
//!
//! - [`table`]: the in-memory lease table and address allocation (pure,
//!   monotonic time).
//! - [`file`]: BusyBox's lease file, byte for byte (reference §3.1), as a
//!   pure codec: bytes ⇄ ([`UnixTime`] written_at, [`LeaseRecord`]s).
//! - [`journal`]: our append-only durability journal beside that file.
//! - [`disk`]: the file operations the store needs, as a trait;
//!   [`memdisk`]: an in-memory implementation that fails, tears and loses
//!   power on command (tests, simulation, fuzzing).
//! - [`store`]: lease file + journal over a [`disk::Disk`]: recovery,
//!   group-commit appends, atomic compaction (`sys::leasestore` gives it
//!   real files).
//! - [`persist`]: the sans-I/O policy that decides when to append, compact,
//!   retry (with back-off) and run `notify_file`.
//!
//! [`LeaseRecord`] is the one form a lease takes at the persistence
//! boundary: the table produces and consumes it, the file and journal
//! codecs encode it. Expiry is carried as seconds *remaining* at a wall-clock
//! moment (as BusyBox's file does), because monotonic time does not survive a
//! reboot and the wall clock of an RTC-less board may jump.

use core::fmt;
use std::net::Ipv4Addr;

use crate::wire::MacAddr;

pub mod disk;
pub mod file;
pub mod hook;
pub mod journal;
pub mod memdisk;
pub mod persist;
pub mod store;
pub mod table;

/// BusyBox's on-disk hostname field: 20 bytes, NUL-terminated, at most 19
/// characters from `[0-9A-Za-z._-]`, never starting with `-`, zero-filled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hostname([u8; Hostname::LEN]);

impl Hostname {
    /// Size of the field in the lease file.
    pub const LEN: usize = 20;
    /// Longest name the field holds (one byte stays NUL).
    pub const MAX: usize = Self::LEN - 1;

    /// The empty name.
    pub const EMPTY: Hostname = Hostname([0; Self::LEN]);

    /// Sanitises a client's option 12 the way BusyBox's udhcpd does before
    /// storing it: at most 19 bytes are kept (stopping at a NUL), a leading
    /// `-` becomes `.`, and every byte outside `[0-9A-Za-z_-]` becomes `.`
    /// (dots stay dots). So `x;$(reboot)` is stored as `x...reboot.` and a
    /// name can never be read as an option or expand in a shell.
    pub fn sanitize(raw: &[u8]) -> Hostname {
        let mut out = [0u8; Self::LEN];
        let name = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        for (i, (dst, &b)) in out.iter_mut().zip(name).take(Self::MAX).enumerate() {
            let ok = b.is_ascii_alphanumeric() || b == b'_' || (b == b'-' && i > 0);
            *dst = if ok { b } else { b'.' };
        }
        Hostname(out)
    }

    /// Reads a 20-byte field from a lease file and sanitises it again, as
    /// BusyBox does on load: a file written by anyone cannot inject bytes.
    pub fn from_field(field: &[u8; Self::LEN]) -> Hostname {
        Self::sanitize(field)
    }

    /// The 20 bytes as stored.
    pub fn field(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// The name without its NUL padding.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        self.0.get(..end).unwrap_or(&[])
    }

    /// True for the empty name.
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

/// Sanitised names are plain ASCII, so this is exact.
impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(core::str::from_utf8(self.as_bytes()).unwrap_or(""))
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hostname({self})")
    }
}

/// One lease at the persistence boundary (lease file, journal, dumpleases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The leased (or held) address.
    pub ip: Ipv4Addr,
    /// The client's MAC; 00:00:00:00:00:00 for declined and ARP-conflict
    /// holds (BusyBox's convention, kept so BusyBox tools read our files).
    pub mac: MacAddr,
    /// The client's option 12, sanitised.
    pub hostname: Hostname,
    /// Seconds left at the moment the record was written (0 = expired).
    pub remaining: u32,
    /// The client identifier (option 61) the lease is keyed by, if the
    /// client sent one. Empty when unknown. BusyBox's file cannot hold it
    /// (a lease loaded from it is matched by MAC); our journal does.
    pub client_id: Vec<u8>,
}

impl LeaseRecord {
    /// True for a declined or ARP-conflict hold (MAC zero, no client).
    pub fn is_hold(&self) -> bool {
        self.mac.is_zero()
    }
}

/// One change to the durable lease state, as the server queues it and the
/// journal stores it (`lease::journal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The entry at `record.ip` is now this (a new or renewed lease, a
    /// release, a declined or conflict hold).
    Lease(LeaseRecord),
    /// The table forgot the entry at this address (evicted to make room
    /// under `max_leases`, reused by another client, or left by a client
    /// that moved): replay removes it, so replay gives the table the server
    /// had and never more than `max_leases` entries.
    Forget(Ipv4Addr),
}

impl Change {
    /// The address the change is about.
    pub fn ip(&self) -> Ipv4Addr {
        match self {
            Change::Lease(r) => r.ip,
            Change::Forget(ip) => *ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_sanitising_matches_busybox() {
        assert_eq!(Hostname::sanitize(b"my-client").to_string(), "my-client");
        assert_eq!(
            Hostname::sanitize(b"x;$(reboot)").to_string(),
            "x...reboot."
        );
        // Leading dash mangled (BusyBox 020abc885), 19 characters kept.
        assert_eq!(
            Hostname::sanitize(b"-rf;$(reboot)xxxxxxxxxxxxxxx").to_string(),
            ".rf...reboot.xxxxxx"
        );
        assert_eq!(Hostname::sanitize(b"a.b_c").to_string(), "a.b_c");
        assert_eq!(Hostname::sanitize(b"ab\0cd").to_string(), "ab");
        assert_eq!(Hostname::sanitize(b"\xff\n").to_string(), "..");
        assert!(Hostname::sanitize(b"").is_empty());
        let h = Hostname::sanitize(&[b'a'; 40]);
        assert_eq!(h.as_bytes().len(), Hostname::MAX);
        assert_eq!(h.field()[19], 0);
    }
}
