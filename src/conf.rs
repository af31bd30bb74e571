//! udhcpd.conf: placeholder until issue 4's config work; the validated form
//! the server consumes is fixed here so the server can be written against it.

use std::net::Ipv4Addr;

use crate::wire::options::OptionSet;
use crate::wire::MacAddr;

/// One `static_lease MAC IP [HOSTNAME]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticLease {
    /// The client's hardware address (matched against chaddr).
    pub mac: MacAddr,
    /// The fixed address; may lie outside start..end.
    pub ip: Ipv4Addr,
    /// Sent as option 12 to this client (replacing any `opt hostname`).
    pub hostname: Option<String>,
}

/// A validated udhcpd configuration (reference §2.3, BusyBox defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// First pool address (`start`, default 192.168.0.20).
    pub start: Ipv4Addr,
    /// Last pool address, inclusive (`end`, default 192.168.0.254).
    pub end: Ipv4Addr,
    /// Interface to serve (`interface`, default eth0).
    pub interface: String,
    /// Lease table size (`max_leases`, default 235), already clamped to the
    /// pool size.
    pub max_leases: u32,
    /// Seconds between lease-file writes (`auto_time`, default 7200; 0 =
    /// only on signals and ACKs).
    pub auto_time: u32,
    /// Hold after DECLINE, seconds (`decline_time`, default 3600).
    pub decline_time: u32,
    /// Hold after an ARP conflict, seconds (`conflict_time`, default 3600).
    pub conflict_time: u32,
    /// Hold after OFFER, seconds (`offer_time`, default 60).
    pub offer_time: u32,
    /// Lower clamp for a client-requested lease time (`min_lease`, default 60).
    pub min_lease: u32,
    /// Maximum (and default) lease time: `option lease N`, else 864000.
    pub max_lease: u32,
    /// Lease file (`lease_file`, default /var/lib/misc/udhcpd.leases).
    pub lease_file: String,
    /// Pidfile (`pidfile`, default /var/run/udhcpd.pid).
    pub pidfile: String,
    /// Program run as `PROG LEASEFILE` after lease-file writes.
    pub notify_file: Option<String>,
    /// BOOTP `siaddr` (next server) in replies (default 0.0.0.0).
    pub siaddr: Ipv4Addr,
    /// BOOTP `sname` (at most 63 bytes are sent).
    pub sname: Option<String>,
    /// BOOTP `file` (at most 127 bytes are sent).
    pub boot_file: Option<String>,
    /// `static_lease` lines, in file order.
    pub static_leases: Vec<StaticLease>,
    /// `option`/`opt` lines (option 51 included: it is also `max_lease`).
    pub options: OptionSet,
}
