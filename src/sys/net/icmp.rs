//! ICMP echo probing (ISC dhcpd's `ping-check`) without blocking the poll
//! loop: udhcpd's opt-in conflict check for relayed networks, where the
//! server is not on the client's link and ARP says nothing.
//!
//! As ISC dhcpd does, one echo request is sent per probe; an echo reply
//! from the probed address before the deadline means a host holds it, and
//! silence until the deadline means free. Nothing else counts: a
//! destination-unreachable, or a reply from another address, leaves the
//! probe waiting. Shaped like the ARP prober ([`super::arp`]):
//!
//! - [`Pings`] is pure: probes in flight with their deadlines and
//!   sequence numbers, fed with received datagrams and the current time,
//!   drained with [`Pings::poll_result`]. Bounded: at most `limit` probes
//!   in flight or unpolled; a start beyond that fails with [`Full`].
//!   Unit-tested on a virtual clock.
//! - [`IcmpProber`] owns the non-blocking raw `IPPROTO_ICMP` socket. It is
//!   not bound to a device: relayed subnets are reached by routing. The
//!   owner's poll loop calls [`handle_readable`](IcmpProber::handle_readable)
//!   when [`IcmpProber::fd`] is readable and
//!   [`handle_timeout`](IcmpProber::handle_timeout) at
//!   [`next_deadline`](IcmpProber::next_deadline).
//!
//! Matching: the identifier is the process's (the low 16 bits of its pid,
//! as ping(8) does), so other pingers on the host and other udhcpd
//! processes are told apart; the sequence number is the probe's own, so a
//! late reply to an earlier probe of the same address is not taken for
//! the answer to a new one. A reply counts only if it comes from the
//! probed address with our identifier and the probe's sequence number.

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{set_int_option, with_context};
use crate::time::Instant;
use crate::wire::icmp::{self, EchoReply, TYPE_ECHO_REPLY};

/// Most probes in flight (and unpolled results) an [`IcmpProber::open`]
/// prober keeps. udhcpd probes one address per pending DISCOVER, and
/// answers a DISCOVER it cannot probe as if the address were free, so the
/// bound only caps memory under a DISCOVER flood.
pub const MAX_IN_FLIGHT: usize = 64;

/// The payload of our echo requests: echoed back, never checked (the
/// identifier and sequence number do the matching), but it names the
/// sender to whoever captures it.
const PAYLOAD: &[u8; 8] = b"udhcpd\0\0";

/// The outcome of pinging one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingResult {
    /// The address answered our echo request: a host holds it.
    InUse,
    /// No answer before the deadline.
    Free,
}

/// A start refused because `limit` probes are already in flight or
/// waiting to be polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The bound that was reached.
    pub limit: usize,
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ICMP probes already in flight", self.limit)
    }
}

impl std::error::Error for Full {}

/// One probe in flight.
#[derive(Debug, Clone, Copy)]
struct Ping {
    ip: Ipv4Addr,
    seq: u16,
    deadline: Instant,
}

/// Bookkeeping of ICMP echo probes: no I/O, time comes from the caller.
///
/// "In use" is reported as soon as the matching reply is handed in; "free"
/// only once [`handle_timeout`](Self::handle_timeout) is called at or
/// after the probe's deadline without one.
#[derive(Debug)]
pub struct Pings {
    ident: u16,
    next_seq: u16,
    limit: usize,
    pending: Vec<Ping>,
    results: Vec<(Ipv4Addr, PingResult)>,
}

impl Pings {
    /// No probes; echo identifier `ident`; at most `limit` probes in
    /// flight plus results not yet polled.
    pub fn new(ident: u16, limit: usize) -> Pings {
        Pings {
            ident,
            next_seq: 0,
            limit,
            pending: Vec::new(),
            results: Vec::new(),
        }
    }

    /// The echo identifier every probe carries.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Starts probing `ip` until `deadline` and returns the sequence
    /// number its echo request must carry. Probing an address that is
    /// already pending restarts it with a new sequence number: the old
    /// probe and any result of it not yet polled are forgotten, and a late
    /// reply to it no longer matches.
    ///
    /// Fails with [`Full`], changing nothing, when `limit` probes are in
    /// flight or finished but not polled (a restart never fails: it frees
    /// the slot it takes).
    pub fn start(&mut self, ip: Ipv4Addr, deadline: Instant) -> Result<u16, Full> {
        self.cancel(ip);
        if self.pending.len() + self.results.len() >= self.limit {
            return Err(Full { limit: self.limit });
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.pending.push(Ping { ip, seq, deadline });
        Ok(seq)
    }

    /// Forgets the probe of `ip` and its unpolled result. True if there
    /// was anything to forget.
    pub fn cancel(&mut self, ip: Ipv4Addr) -> bool {
        // An address is at most once in each list: `start` cancels first,
        // and a result is queued only when its probe leaves `pending`.
        let probe = self.pending.iter().position(|p| p.ip == ip);
        if let Some(at) = probe {
            self.pending.swap_remove(at);
        }
        let result = self.results.iter().position(|(r, _)| *r == ip);
        if let Some(at) = result {
            self.results.remove(at);
        }
        probe.is_some() || result.is_some()
    }

    /// Applies one echo reply: if it comes from a probed address with our
    /// identifier and that probe's sequence number, the probe ends as
    /// [`PingResult::InUse`]. Returns whether it did.
    pub fn handle_reply(&mut self, reply: EchoReply) -> bool {
        if reply.ident != self.ident {
            return false;
        }
        let Some(at) = self.pending.iter().position(|p| p.ip == reply.src) else {
            return false;
        };
        if self.pending.get(at).is_some_and(|p| p.seq != reply.seq) {
            // The reply belongs to an earlier probe of this address.
            log::debug!(
                "ICMP: stale echo reply from {} (seq {})",
                reply.src,
                reply.seq
            );
            return false;
        }
        let p = self.pending.swap_remove(at);
        self.results.push((p.ip, PingResult::InUse));
        true
    }

    /// Feeds one datagram as a raw ICMP socket reads it (IPv4 header
    /// first). Anything but a valid echo reply is ignored.
    pub fn handle_datagram(&mut self, datagram: &[u8]) {
        if let Ok(reply) = icmp::parse_echo_reply(datagram) {
            self.handle_reply(reply);
        }
    }

    /// Ends every probe whose deadline is at or before `now` as free,
    /// earliest deadline first. Calling early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Repeated minimum search rather than a sort: the table is small
        // (bounded), and a sort of `Ping`s would add kilobytes of code.
        while let Some(at) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.deadline <= now)
            .min_by_key(|(_, p)| p.deadline)
            .map(|(at, _)| at)
        {
            let p = self.pending.swap_remove(at);
            self.results.push((p.ip, PingResult::Free));
        }
    }

    /// The next finished probe, in the order they finished.
    pub fn poll_result(&mut self) -> Option<(Ipv4Addr, PingResult)> {
        // A Vec, not a VecDeque: at most `limit` entries, and one fewer
        // generic container in the binary.
        (!self.results.is_empty()).then(|| self.results.remove(0))
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

    /// True when a start of a new address would fail with [`Full`].
    pub fn is_full(&self) -> bool {
        self.pending.len() + self.results.len() >= self.limit
    }
}

/// Most datagrams read per [`IcmpProber::handle_readable`] call, so that
/// an ICMP flood cannot starve the loop's other sockets; the socket stays
/// readable and the next poll comes back to it.
const MAX_DATAGRAMS_PER_CALL: usize = 256;

/// `ICMP_FILTER` (linux/icmp.h; not in the libc crate): a `SOL_RAW` option
/// whose 32-bit mask drops every ICMP type whose bit is set before it is
/// queued on the socket.
const ICMP_FILTER: libc::c_int = 1;

/// ICMP echo probes from this host, driven by the owner's poll loop.
#[derive(Debug)]
pub struct IcmpProber {
    sock: Socket,
    pings: Pings,
}

impl IcmpProber {
    /// Opens the raw `IPPROTO_ICMP` socket (root or `CAP_NET_RAW`), non-
    /// blocking and close-on-exec, bound to no device, for at most
    /// [`MAX_IN_FLIGHT`] probes at a time.
    pub fn open() -> io::Result<IcmpProber> {
        IcmpProber::with_limit(MAX_IN_FLIGHT)
    }

    /// As [`open`](Self::open), with another bound on probes in flight.
    pub fn with_limit(limit: usize) -> io::Result<IcmpProber> {
        // socket2 creates sockets with SOCK_CLOEXEC on Linux. Its
        // `Type::RAW` needs the crate's `all` feature; the number is the same.
        let raw = Type::from(libc::SOCK_RAW);
        let sock = Socket::new(Domain::IPV4, raw, Some(Protocol::ICMPV4))
            .map_err(|e| with_context("ICMP socket", e))?;
        sock.set_nonblocking(true)?;
        // Only echo replies are queued: a raw ICMP socket otherwise gets a
        // copy of every ICMP message the host receives. The mask is a u32
        // in the kernel, an int here: the bits are what count.
        let drop_all_but_echo_reply = !(1u32 << TYPE_ECHO_REPLY);
        set_int_option(
            sock.as_fd(),
            libc::SOL_RAW,
            ICMP_FILTER,
            libc::c_int::from_ne_bytes(drop_all_but_echo_reply.to_ne_bytes()),
        )
        .map_err(|e| with_context("ICMP_FILTER", e))?;
        // The identifier is per process, as ping(8)'s: the pid's low bits.
        let ident = (std::process::id() & 0xffff) as u16;
        Ok(IcmpProber {
            sock,
            pings: Pings::new(ident, limit),
        })
    }

    /// Sends one echo request to `ip` and waits for its reply until
    /// `deadline`. The kernel routes it (a relayed subnet is reached
    /// through its relay's router) and picks the source address.
    ///
    /// Errors: the bound is reached ([`Full`], as
    /// [`io::ErrorKind::Other`]), or the send failed (no route: "ICMP echo
    /// to 10.1.2.3: Network is unreachable"). On error nothing is pending
    /// for `ip`.
    pub fn start(&mut self, ip: Ipv4Addr, deadline: Instant) -> io::Result<()> {
        let seq = self
            .pings
            .start(ip, deadline)
            .map_err(|e| io::Error::other(format!("ICMP echo to {ip}: {e}")))?;
        let mut buf = [0u8; icmp::ECHO_HEADER_LEN + PAYLOAD.len()];
        let sent = icmp::emit_echo_request(&mut buf, self.pings.ident(), seq, PAYLOAD)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
            .and_then(|n| {
                let msg = buf.get(..n).unwrap_or(&[]);
                let dst = SockAddr::from(SocketAddrV4::new(ip, 0));
                match self.sock.send_to(msg, &dst) {
                    Ok(k) if k == n => Ok(()),
                    Ok(_) => Err(io::Error::new(io::ErrorKind::WriteZero, "short send")),
                    Err(e) => Err(with_context(&format!("ICMP echo to {ip}"), e)),
                }
            });
        if sent.is_err() {
            self.pings.cancel(ip);
        }
        sent
    }

    /// The socket to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads the pending datagrams (at most 256 per call), records
    /// matching echo replies, then expires probes whose deadline is at or
    /// before `now`. Replies are applied before the deadline check, so an
    /// answer read late still counts.
    pub fn handle_readable(&mut self, now: Instant) -> io::Result<()> {
        // Our replies are at most 60 + 8 + 8 bytes. A longer datagram
        // (someone else's ping) is cut short by the read and then fails
        // the length check: it is not ours anyway.
        let mut buf = [0u8; 128];
        for _ in 0..MAX_DATAGRAMS_PER_CALL {
            match (&self.sock).read(&mut buf) {
                Ok(n) => self.pings.handle_datagram(buf.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(with_context("ICMP read", e)),
            }
        }
        self.pings.handle_timeout(now);
        Ok(())
    }

    /// Expires probes whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pings.handle_timeout(now);
    }

    /// The next finished probe: `InUse` as soon as the reply was read,
    /// `Free` once the deadline passed.
    pub fn poll_result(&mut self) -> Option<(Ipv4Addr, PingResult)> {
        self.pings.poll_result()
    }

    /// The earliest deadline of the probes in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pings.next_deadline()
    }

    /// Forgets the probe of `ip` (the answer is no longer wanted).
    pub fn cancel(&mut self, ip: Ipv4Addr) -> bool {
        self.pings.cancel(ip)
    }

    /// Number of probes in flight.
    pub fn pending_len(&self) -> usize {
        self.pings.pending_len()
    }

    /// The bookkeeping, for inspection.
    pub fn pings(&self) -> &Pings {
        &self.pings
    }
}

impl AsFd for IcmpProber {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for IcmpProber {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::{emit_echo, PROTO_ICMP, TYPE_ECHO_REQUEST};
    use crate::wire::ipv4::{emit_header, DEFAULT_TTL, HEADER_LEN};
    use std::time::Duration;

    const ID: u16 = 0x4242;
    const IP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 50);
    const IP2: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 51);

    /// A virtual clock: a fixed base plus milliseconds.
    fn at(ms: u64) -> Instant {
        Instant::from_millis(1_000_000) + Duration::from_millis(ms)
    }

    /// The datagram a raw socket would read for an ICMP echo message of
    /// `icmp_type` from `src`.
    fn datagram(icmp_type: u8, src: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
        let mut d = vec![0u8; HEADER_LEN + 16];
        let n = emit_echo(&mut d[HEADER_LEN..], icmp_type, ident, seq, PAYLOAD).unwrap();
        let dst = Ipv4Addr::new(10, 99, 0, 1);
        emit_header(&mut d, src, dst, PROTO_ICMP, n, DEFAULT_TTL).unwrap();
        d
    }

    fn reply(src: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
        datagram(TYPE_ECHO_REPLY, src, ident, seq)
    }

    #[test]
    fn free_exactly_at_deadline_not_before() {
        let mut p = Pings::new(ID, 4);
        assert_eq!(p.next_deadline(), None);
        p.start(IP, at(1000)).unwrap();
        assert_eq!(p.next_deadline(), Some(at(1000)));
        p.handle_timeout(at(999));
        assert_eq!(p.poll_result(), None);
        assert!(p.is_pending(IP));
        p.handle_timeout(at(1000));
        assert_eq!(p.poll_result(), Some((IP, PingResult::Free)));
        assert_eq!(p.poll_result(), None);
        assert_eq!((p.next_deadline(), p.pending_len()), (None, 0));
    }

    #[test]
    fn matching_reply_is_in_use_at_once() {
        let mut p = Pings::new(ID, 4);
        let seq = p.start(IP, at(1000)).unwrap();
        p.handle_datagram(&reply(IP, ID, seq));
        assert_eq!(p.poll_result(), Some((IP, PingResult::InUse)));
        // The deadline passing later, or the same reply again (a
        // duplicate), gives no second result.
        p.handle_datagram(&reply(IP, ID, seq));
        p.handle_timeout(at(5000));
        assert_eq!(p.poll_result(), None);
    }

    #[test]
    fn only_our_reply_from_the_probed_address_counts() {
        let mut p = Pings::new(ID, 4);
        let seq = p.start(IP, at(100)).unwrap();
        // Another pinger on this host (another identifier).
        p.handle_datagram(&reply(IP, ID ^ 1, seq));
        // Another address answering with our identifier and sequence.
        p.handle_datagram(&reply(IP2, ID, seq));
        // A wrong sequence number.
        p.handle_datagram(&reply(IP, ID, seq.wrapping_add(1)));
        // An echo *request* from the address (it pinging us), and our
        // own request looped back.
        p.handle_datagram(&datagram(TYPE_ECHO_REQUEST, IP, ID, seq));
        // Damaged and truncated copies of the right reply.
        let mut bad = reply(IP, ID, seq);
        *bad.last_mut().unwrap() ^= 0x80;
        p.handle_datagram(&bad);
        let good = reply(IP, ID, seq);
        p.handle_datagram(&good[..good.len() - 1]);
        p.handle_datagram(&[]);
        assert_eq!(p.poll_result(), None);
        assert!(p.is_pending(IP));
        p.handle_timeout(at(100));
        assert_eq!(p.poll_result(), Some((IP, PingResult::Free)));
    }

    #[test]
    fn late_reply_to_an_earlier_probe_is_not_the_new_answer() {
        let mut p = Pings::new(ID, 4);
        let old = p.start(IP, at(100)).unwrap();
        p.handle_timeout(at(100));
        assert_eq!(p.poll_result(), Some((IP, PingResult::Free)));
        let new = p.start(IP, at(1100)).unwrap();
        assert_ne!(old, new);
        // The first probe's reply arrives now: not an answer to this one.
        assert!(!p.handle_reply(EchoReply {
            src: IP,
            ident: ID,
            seq: old
        }));
        assert_eq!(p.poll_result(), None);
        assert!(p.is_pending(IP));
        assert!(p.handle_reply(EchoReply {
            src: IP,
            ident: ID,
            seq: new
        }));
        assert_eq!(p.poll_result(), Some((IP, PingResult::InUse)));
    }

    #[test]
    fn restart_replaces_probe_and_stale_result() {
        let mut p = Pings::new(ID, 4);
        let first = p.start(IP, at(100)).unwrap();
        p.handle_datagram(&reply(IP, ID, first)); // result queued, not polled
        let second = p.start(IP, at(500)).unwrap();
        assert_eq!(p.pending_len(), 1);
        assert_eq!(p.poll_result(), None, "stale result forgotten");
        p.handle_datagram(&reply(IP, ID, first));
        assert_eq!(p.poll_result(), None, "the first probe's reply is stale");
        p.handle_timeout(at(100));
        assert_eq!(p.poll_result(), None, "old deadline forgotten");
        assert!(p.is_pending(IP));
        p.handle_datagram(&reply(IP, ID, second));
        assert_eq!(p.poll_result(), Some((IP, PingResult::InUse)));
        assert!(!p.cancel(IP));
        p.start(IP, at(600)).unwrap();
        assert!(p.cancel(IP));
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn several_probes_finish_in_deadline_order() {
        let ip3 = Ipv4Addr::new(10, 98, 0, 52);
        let mut p = Pings::new(ID, 8);
        p.start(IP, at(300)).unwrap();
        p.start(IP2, at(100)).unwrap();
        let s3 = p.start(ip3, at(200)).unwrap();
        assert_eq!(p.next_deadline(), Some(at(100)));
        p.handle_timeout(at(150));
        assert_eq!(p.poll_result(), Some((IP2, PingResult::Free)));
        assert_eq!(p.next_deadline(), Some(at(200)));
        p.handle_datagram(&reply(ip3, ID, s3));
        assert_eq!(p.poll_result(), Some((ip3, PingResult::InUse)));
        assert!(p.is_pending(IP));
        // A late call finishes everything due at once, earliest first.
        p.start(IP2, at(250)).unwrap();
        p.handle_timeout(at(1000));
        assert_eq!(p.poll_result(), Some((IP2, PingResult::Free)));
        assert_eq!(p.poll_result(), Some((IP, PingResult::Free)));
        assert_eq!(p.poll_result(), None);
    }

    #[test]
    fn bound_holds_at_the_limit() {
        let mut p = Pings::new(ID, MAX_IN_FLIGHT);
        let ip = |i: usize| Ipv4Addr::from(0x0a62_0000 + u32::try_from(i).unwrap());
        for i in 0..MAX_IN_FLIGHT {
            assert!(!p.is_full());
            p.start(ip(i), at(100 + i as u64)).unwrap();
        }
        assert!(p.is_full());
        assert_eq!(
            p.start(ip(MAX_IN_FLIGHT), at(1)),
            Err(Full {
                limit: MAX_IN_FLIGHT
            })
        );
        assert_eq!(
            Full { limit: 64 }.to_string(),
            "64 ICMP probes already in flight"
        );
        // The refused start changed nothing.
        assert_eq!(p.pending_len(), MAX_IN_FLIGHT);
        assert!(!p.is_pending(ip(MAX_IN_FLIGHT)));
        assert_eq!(p.next_deadline(), Some(at(100)));
        // Restarting an address in flight still works at the bound.
        p.start(ip(0), at(5000)).unwrap();
        assert_eq!(p.pending_len(), MAX_IN_FLIGHT);
        // Finished but unpolled results still take their slot.
        p.handle_timeout(at(100 + MAX_IN_FLIGHT as u64));
        assert_eq!(p.pending_len(), 1);
        assert!(p.start(ip(MAX_IN_FLIGHT), at(1)).is_err());
        // Polling one frees one.
        assert!(p.poll_result().is_some());
        p.start(ip(MAX_IN_FLIGHT), at(1)).unwrap();
        assert!(p.is_full());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut p = Pings::new(ID, 1);
        let mut last = None;
        for _ in 0..=u32::from(u16::MAX) + 1 {
            let s = p.start(IP, at(1)).unwrap();
            if let Some(l) = last {
                assert_eq!(s, u16::wrapping_add(l, 1));
            }
            last = Some(s);
        }
        assert_eq!(p.pending_len(), 1);
    }
}
