//! ARP probing (reference §5.8, §1.13; RFC 5227 §2.1.1) without blocking
//! the poll loop.
//!
//! BusyBox's `arpping` sends one request and then waits in place for up to
//! its timeout, so udhcpd answers nobody while it checks a candidate
//! address. Here the waiting is bookkeeping instead:
//!
//! - [`Probes`] is pure: probes in flight with their deadlines, fed with
//!   received ARP packets and the current time, drained with
//!   [`Probes::poll_result`]. Unit-tested on a virtual clock.
//! - [`ArpProber`] owns the `AF_PACKET`/`ETH_P_ARP` socket: it sends the
//!   request, and the owner's poll loop calls
//!   [`handle_readable`](ArpProber::handle_readable) when [`ArpProber::fd`]
//!   is readable and [`handle_timeout`](ArpProber::handle_timeout) at
//!   [`next_deadline`](ArpProber::next_deadline).
//! - [`arping`] is the bounded blocking form for udhcpc `-a`, where the
//!   client has nothing else to do until the answer.
//!
//! As in BusyBox, one request is sent per probe (RFC 5227 sends three;
//! the DHCP server and client each retry at their own level).

use std::collections::VecDeque;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use crate::sys::clock::now;
use crate::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::PacketSocket;
use crate::wire::arp::{self, answers_probe, ArpPacket, Operation, ProbeAnswer};
use crate::wire::ether::ETHERTYPE_ARP;
use crate::wire::MacAddr;

/// The outcome of probing one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Another host claims or is probing for the address; its MAC.
    InUse(MacAddr),
    /// No conflict before the deadline, or the answer came from the
    /// probe's `safe_mac` (the client the address is meant for).
    Free,
}

/// One probe in flight.
#[derive(Debug, Clone, Copy)]
struct Pending {
    ip: Ipv4Addr,
    our_mac: MacAddr,
    safe_mac: Option<MacAddr>,
    deadline: Instant,
}

/// Bookkeeping of ARP probes: no I/O, time comes from the caller.
///
/// A conflict is reported as soon as the packet that shows it is handed
/// in; "free" only once [`handle_timeout`](Self::handle_timeout) is called
/// at or after the probe's deadline without one.
#[derive(Debug, Default)]
pub struct Probes {
    pending: Vec<Pending>,
    results: VecDeque<(Ipv4Addr, ProbeResult)>,
}

impl Probes {
    /// No probes.
    pub fn new() -> Probes {
        Probes::default()
    }

    /// Starts probing `ip` as `our_mac` until `deadline`. Probing an
    /// address that is already pending restarts it: the old probe and any
    /// result of it not yet polled are forgotten.
    pub fn start(
        &mut self,
        ip: Ipv4Addr,
        our_mac: MacAddr,
        safe_mac: Option<MacAddr>,
        deadline: Instant,
    ) {
        self.cancel(ip);
        self.pending.push(Pending {
            ip,
            our_mac,
            safe_mac,
            deadline,
        });
    }

    /// Forgets the probe of `ip` and its unpolled result. True if there
    /// was anything to forget.
    pub fn cancel(&mut self, ip: Ipv4Addr) -> bool {
        let before = self.pending.len() + self.results.len();
        self.pending.retain(|p| p.ip != ip);
        self.results.retain(|(r, _)| *r != ip);
        before != self.pending.len() + self.results.len()
    }

    /// Feeds one received ARP packet (the body after the Ethernet header).
    /// Malformed or non-Ethernet/IPv4 packets are ignored.
    pub fn handle_arp(&mut self, body: &[u8]) {
        let Ok(pkt) = ArpPacket::new_checked(body) else {
            return;
        };
        let results = &mut self.results;
        self.pending
            .retain(|p| match answers_probe(&pkt, p.ip, p.our_mac, p.safe_mac) {
                ProbeAnswer::Ignore => true,
                ProbeAnswer::Conflict => {
                    let mac = pkt.sender_mac();
                    log::debug!("ARP: {} is in use by {mac}", p.ip);
                    results.push_back((p.ip, ProbeResult::InUse(mac)));
                    false
                }
                ProbeAnswer::Safe => {
                    log::debug!("ARP: {} answered by its intended owner", p.ip);
                    results.push_back((p.ip, ProbeResult::Free));
                    false
                }
            });
    }

    /// Ends every probe whose deadline is at or before `now` as free,
    /// earliest deadline first. Calling early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired: Vec<Pending> = Vec::new();
        self.pending.retain(|p| {
            if p.deadline <= now {
                expired.push(*p);
                false
            } else {
                true
            }
        });
        expired.sort_by_key(|p| p.deadline);
        for p in expired {
            log::debug!("ARP: no reply for {}", p.ip);
            self.results.push_back((p.ip, ProbeResult::Free));
        }
    }

    /// The next finished probe, in the order they finished.
    pub fn poll_result(&mut self) -> Option<(Ipv4Addr, ProbeResult)> {
        self.results.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called:
    /// the earliest pending deadline, or `None` with nothing pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// True while `ip` is being probed.
    pub fn is_pending(&self, ip: Ipv4Addr) -> bool {
        self.pending.iter().any(|p| p.ip == ip)
    }

    /// Number of probes in flight.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// Most frames read per [`ArpProber::handle_readable`] call, so that an
/// ARP flood cannot starve the loop's other sockets; the socket stays
/// readable and the next poll comes back to it.
const MAX_FRAMES_PER_CALL: usize = 256;

/// ARP probes on one interface, driven by the owner's poll loop.
#[derive(Debug)]
pub struct ArpProber {
    sock: PacketSocket,
    ifindex: u32,
    probes: Probes,
}

impl ArpProber {
    /// Opens the `AF_PACKET`/`SOCK_DGRAM`/`ETH_P_ARP` socket on `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<ArpProber> {
        let sock = PacketSocket::new(0)?;
        sock.bind(ifindex, ETHERTYPE_ARP)?;
        Ok(ArpProber {
            sock,
            ifindex,
            probes: Probes::new(),
        })
    }

    /// Sends an ARP request for `ip` to ff:ff:ff:ff:ff:ff and starts
    /// waiting for conflicts until `deadline`.
    ///
    /// `sender_ip` 0.0.0.0 makes it an RFC 5227 probe (udhcpc); udhcpd
    /// passes its server address, as BusyBox does. `sender_mac` goes into
    /// the ARP body (the Ethernet source is the interface's MAC); replies
    /// from it are ours and ignored. A reply from `safe_mac` ends the probe
    /// as free. If the send fails, nothing is pending.
    pub fn start(
        &mut self,
        ip: Ipv4Addr,
        sender_ip: Ipv4Addr,
        sender_mac: MacAddr,
        safe_mac: Option<MacAddr>,
        deadline: Instant,
    ) -> io::Result<()> {
        let mut body = [0u8; arp::PACKET_LEN];
        arp::emit(
            &mut body,
            Operation::Request,
            sender_mac,
            sender_ip,
            MacAddr::ZERO,
            ip,
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.sock
            .send_to(self.ifindex, ETHERTYPE_ARP, MacAddr::BROADCAST, &body)?;
        self.probes.start(ip, sender_mac, safe_mac, deadline);
        Ok(())
    }

    /// The socket to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads the pending frames (at most 256 per call), records conflicts,
    /// then expires probes whose deadline is at or before `now`. Packets
    /// are applied before the deadline check, so an answer read late still
    /// counts as a conflict.
    pub fn handle_readable(&mut self, now: Instant) -> io::Result<()> {
        // ARP bodies are 28 bytes; Ethernet padding brings frames to 46.
        let mut buf = [0u8; 64];
        for _ in 0..MAX_FRAMES_PER_CALL {
            match self.sock.recv(&mut buf)? {
                None => break,
                Some(info) if info.pkttype == libc::PACKET_OUTGOING => {}
                Some(info) => self.probes.handle_arp(buf.get(..info.len).unwrap_or(&[])),
            }
        }
        self.probes.handle_timeout(now);
        Ok(())
    }

    /// Expires probes whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.probes.handle_timeout(now);
    }

    /// The next finished probe: `InUse` as soon as a conflict was read,
    /// `Free` once the deadline passed.
    pub fn poll_result(&mut self) -> Option<(Ipv4Addr, ProbeResult)> {
        self.probes.poll_result()
    }

    /// The earliest deadline of the probes in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.probes.next_deadline()
    }

    /// The bookkeeping, for inspection.
    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// Forgets the probe of `ip` (the answer is no longer wanted).
    pub fn cancel(&mut self, ip: Ipv4Addr) -> bool {
        self.probes.cancel(ip)
    }
}

impl AsFd for ArpProber {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for ArpProber {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Probes `ip` on `ifindex` and waits at most `timeout` for an answer
/// (udhcpc `-a`, reference §1.13 and §5.8): `Ok(true)` if another host has
/// it, `Ok(false)` if nobody answered in time or `safe_mac` did. A zero
/// timeout returns `Ok(false)` at once without sending anything. Socket
/// errors are returned; BusyBox treats them as "free", and the caller may.
pub fn arping(
    ifindex: u32,
    ip: Ipv4Addr,
    sender_ip: Ipv4Addr,
    sender_mac: MacAddr,
    safe_mac: Option<MacAddr>,
    timeout: Duration,
) -> io::Result<bool> {
    if timeout.is_zero() {
        return Ok(false);
    }
    let mut prober = ArpProber::open(ifindex)?;
    let deadline = now() + timeout;
    prober.start(ip, sender_ip, sender_mac, safe_mac, deadline)?;
    loop {
        if let Some((_, result)) = prober.poll_result() {
            return Ok(matches!(result, ProbeResult::InUse(_)));
        }
        let left = deadline.saturating_duration_since(now());
        // Round up so the loop does not spin through the last millisecond.
        let ms = left.as_micros().div_ceil(1000);
        let wait = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(prober.fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, wait) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        prober.handle_readable(now())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);
    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
    const IP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 51);

    /// A virtual clock: a fixed base plus milliseconds.
    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn reply(from: MacAddr, ip: Ipv4Addr) -> Vec<u8> {
        let mut b = vec![0u8; 46]; // with Ethernet padding
        arp::emit(
            &mut b,
            Operation::Reply,
            from,
            ip,
            OURS,
            Ipv4Addr::UNSPECIFIED,
        )
        .unwrap();
        b
    }

    fn probe_from(from: MacAddr, target: Ipv4Addr) -> Vec<u8> {
        let mut b = vec![0u8; 28];
        arp::emit_probe(&mut b, from, target).unwrap();
        b
    }

    #[test]
    fn free_exactly_at_deadline_not_before() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        assert_eq!(p.next_deadline(), None);
        p.start(IP, OURS, None, at(t0, 1000));
        assert_eq!(p.next_deadline(), Some(at(t0, 1000)));
        p.handle_timeout(at(t0, 999));
        assert_eq!(p.poll_result(), None);
        assert!(p.is_pending(IP));
        p.handle_timeout(at(t0, 1000));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::Free)));
        assert_eq!(p.poll_result(), None);
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.pending_len(), 0);
    }

    #[test]
    fn conflict_reported_at_once_and_ends_the_probe() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        p.start(IP, OURS, None, at(t0, 1000));
        p.handle_arp(&reply(OTHER, IP));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::InUse(OTHER))));
        // The deadline passing later gives no second result.
        p.handle_timeout(at(t0, 5000));
        assert_eq!(p.poll_result(), None);
    }

    #[test]
    fn unrelated_own_and_malformed_packets_ignored() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        p.start(IP, OURS, None, at(t0, 100));
        p.handle_arp(&reply(OTHER, IP2)); // about another address
        p.handle_arp(&reply(OURS, IP)); // our own, looped back
        p.handle_arp(&probe_from(OURS, IP)); // our own probe
        p.handle_arp(&[0u8; 10]); // truncated
        p.handle_arp(&[]);
        let mut bad = reply(OTHER, IP);
        bad[1] = 6; // hardware type 6 (IEEE 802): not Ethernet
        p.handle_arp(&bad);
        assert_eq!(p.poll_result(), None);
        assert!(p.is_pending(IP));
        p.handle_timeout(at(t0, 100));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::Free)));
    }

    #[test]
    fn competing_probe_is_a_conflict() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        p.start(IP, OURS, None, at(t0, 100));
        p.handle_arp(&probe_from(OTHER, IP));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::InUse(OTHER))));
    }

    #[test]
    fn safe_mac_answer_ends_probe_as_free_early() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        p.start(IP, OURS, Some(CLIENT), at(t0, 1000));
        p.handle_arp(&reply(CLIENT, IP));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::Free)));
        assert_eq!(p.next_deadline(), None);
        // Another host answering is still a conflict.
        p.start(IP, OURS, Some(CLIENT), at(t0, 1000));
        p.handle_arp(&reply(OTHER, IP));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::InUse(OTHER))));
    }

    #[test]
    fn several_probes_finish_in_deadline_order() {
        let t0 = Instant::from_millis(1_000_000);
        let ip3 = Ipv4Addr::new(10, 0, 0, 52);
        let mut p = Probes::new();
        p.start(IP, OURS, None, at(t0, 300));
        p.start(IP2, OURS, None, at(t0, 100));
        p.start(ip3, OURS, None, at(t0, 200));
        assert_eq!(p.next_deadline(), Some(at(t0, 100)));
        p.handle_timeout(at(t0, 150));
        assert_eq!(p.poll_result(), Some((IP2, ProbeResult::Free)));
        assert_eq!(p.next_deadline(), Some(at(t0, 200)));
        // One conflict for ip3 while IP keeps waiting.
        p.handle_arp(&reply(OTHER, ip3));
        assert_eq!(p.poll_result(), Some((ip3, ProbeResult::InUse(OTHER))));
        assert!(p.is_pending(IP));
        // A late call finishes everything due at once, earliest first.
        p.start(IP2, OURS, None, at(t0, 250));
        p.handle_timeout(at(t0, 1000));
        assert_eq!(p.poll_result(), Some((IP2, ProbeResult::Free)));
        assert_eq!(p.poll_result(), Some((IP, ProbeResult::Free)));
        assert_eq!(p.poll_result(), None);
    }

    #[test]
    fn restart_replaces_probe_and_stale_result() {
        let t0 = Instant::from_millis(1_000_000);
        let mut p = Probes::new();
        p.start(IP, OURS, None, at(t0, 100));
        p.handle_arp(&reply(OTHER, IP)); // result queued, not polled
        p.start(IP, OURS, None, at(t0, 500));
        assert_eq!(p.pending_len(), 1);
        assert_eq!(p.poll_result(), None, "stale result forgotten");
        p.handle_timeout(at(t0, 100));
        assert_eq!(p.poll_result(), None, "old deadline forgotten");
        assert!(p.cancel(IP));
        assert!(!p.cancel(IP));
        assert_eq!(p.next_deadline(), None);
    }
}
