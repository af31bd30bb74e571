//! udhcp: BusyBox's DHCPv4 applets rebuilt as one multi-call binary.
//!
//! The library holds everything worth testing; the binary in `applets/` is a
//! set of thin drivers. Layering rule: only `sys/` (the OS layer) performs
//! I/O, reads clocks or spawns processes; everything else is a pure function
//! of its inputs, so every protocol rule can be tested on byte vectors and a
//! virtual clock.
//!
//! - [`wire`]: checked views and builders for DHCP/BOOTP, IPv4, UDP, Ethernet
//!   and ARP, and the one DHCP options table with its text codecs.
//! - [`server`]: udhcpd's decisions, sans-I/O; [`lease`]: its lease table,
//!   the lease file/journal codecs, the store over a `Disk` trait (real
//!   files in `sys::leasestore`, an in-memory disk with fault injection for
//!   tests) and the sans-I/O persistence policy; [`conf`]: udhcpd.conf.
//! - [`relay`]: dhcprelay's decisions (RFC 1542, RFC 3046 option 82),
//!   sans-I/O.
//! - [`client`]: udhcpc's state machine, sans-I/O; [`script`]: its script
//!   environment, made safe for careless shells.
//! - [`restart`]: when `--monitor` starts a dead daemon again (back-off).
//! - [`client6`]: udhcpc6's RFC 8415 client, sans-I/O, and its script
//!   environment (DHCPv6 wire format in [`wire::dhcpv6`]).
//! - [`time`]: `Instant` (monotonic, ms) and `UnixTime` (s) as plain values.
//! - [`sys`]: the OS layer: clock, signals, pidfile, daemon, logging,
//!   scripts, and (in [`sys::net`]) interfaces, raw and UDP sockets, ARP.

pub mod client;
pub mod client6;
pub mod conf;
pub mod lease;
pub mod relay;
pub mod restart;
pub mod script;
pub mod server;
pub mod sys;
pub mod time;
pub mod wire;

#[cfg(test)]
mod testutil;
