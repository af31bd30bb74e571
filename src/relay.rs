//! dhcprelay's decisions, sans-I/O: a BOOTP/DHCP relay agent (RFC 1542
//! §4, RFC 2131 §4.1) with the Relay Agent Information option (RFC 3046)
//! and its link-selection sub-option (RFC 3527).
//!
//! The applet (applets/dhcprelay.rs) reads datagrams, hands them to
//! [`Relay::handle_client`] (received on a client interface) or
//! [`Relay::handle_server`] (received on the server interface), and sends
//! the [`Transmit`] that comes back, if any. A [`Discard`] says why a datagram
//! was discarded; nothing here does I/O or reads a clock.
//!
//! Where BusyBox's `dhcprelay.c` differs (reference §7.1): it overwrites a
//! non-zero giaddr, never touches `hops`, matches replies by xid alone,
//! ignores the broadcast flag and the source port, and reads the message
//! type without regard to the packet length. The rules here:
//!
//! **Client → server** ([`Relay::handle_client`]):
//! - a BOOTREQUEST (op 1) with a valid header, cookie and option field,
//!   `hlen` ≤ 16, a DHCP type a client sends (DISCOVER, REQUEST, DECLINE,
//!   RELEASE, INFORM) or none (BOOTP, RFC 1542 §4);
//! - from port 68 (a client) or 67 (a relay closer to the client, which
//!   must have set giaddr);
//! - `hops` > [`MAX_HOPS`] is dropped, otherwise incremented (RFC 1542
//!   §4.1.1);
//! - a non-zero giaddr is kept (RFC 1542 §4.1.1), unless it is one of ours
//!   (a loop: dropped). The server then answers that relay directly, so
//!   nothing is remembered and no option 82 is added (its echo would reach
//!   the client through the other relay, which cannot remove it);
//! - giaddr zero: we are the first hop. A packet that already carries
//!   option 82 is dropped (RFC 3046 §2.1: every client interface is an
//!   untrusted circuit). Otherwise giaddr is set (the client interface's
//!   address, or the server interface's with link selection or when the
//!   client interface has none), option 82 is appended (circuit-id = the
//!   interface name, remote-id if configured, link-selection = the client
//!   interface's address when giaddr is not on the client's link), and
//!   (xid, chaddr, interface) is remembered for [`PENDING_TTL`] in a table
//!   of at most [`MAX_PENDING`] entries;
//! - sent to the configured server address, port 67.
//!
//! **Server → client** ([`Relay::handle_server`]):
//! - a BOOTREPLY (op 2) from port 67, valid as above, type OFFER, ACK, NAK
//!   or none (BOOTP);
//! - giaddr one of ours and (xid, htype, chaddr\[..hlen\], giaddr) in the
//!   table (RFC 1542 §4.1.2: a reply for someone else is discarded);
//! - every option 82 removed from the option field (RFC 3046 §2.2);
//! - destination (RFC 2131 §4.1, RFC 1542 §5.4): broadcast flag set →
//!   255.255.255.255; else ciaddr set → ciaddr (the client has its
//!   address, the kernel can ARP); else yiaddr set and an Ethernet chaddr →
//!   a frame to chaddr/yiaddr (the client cannot answer ARP yet); else
//!   broadcast (a NAK, or a non-Ethernet client). Always port 68.
//!
//! An entry stays until it expires, not until the first reply: with
//! SERVER_IP 255.255.255.255 several servers may OFFER.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::time::Instant;
use crate::wire::dhcp::{
    code, field, MessageType, Packet, DEFAULT_MAX_LEN, HEADER_LEN, MAX_LEN, OP_REPLY, OP_REQUEST,
    OVERLOAD_FILE, OVERLOAD_SNAME,
};
use crate::wire::MacAddr;

/// RFC 1542 §4.1.1: a BOOTREQUEST whose `hops` exceeds this is discarded.
pub const MAX_HOPS: u8 = 16;
/// How long a relayed request waits for its replies (BusyBox: 120 s).
pub const PENDING_TTL: Duration = Duration::from_secs(120);
/// Most requests remembered at once; at the bound the oldest entry goes.
pub const MAX_PENDING: usize = 1024;
/// The server port (requests go there; replies come from there).
pub const SERVER_PORT: u16 = 67;
/// The client port (replies go there).
pub const CLIENT_PORT: u16 = 68;
/// Longest remote-id accepted: sub-options 1 (≤ 15 + 2), 5 (6) and 2 must
/// fit in one option 82 of at most 255 bytes.
pub const MAX_REMOTE_ID: usize = 128;

/// RFC 3046 §2.0 sub-option codes (and RFC 3527 §3).
pub mod sub {
    /// Agent Circuit ID.
    pub const CIRCUIT_ID: u8 = 1;
    /// Agent Remote ID.
    pub const REMOTE_ID: u8 = 2;
    /// Link Selection (RFC 3527).
    pub const LINK_SELECTION: u8 = 5;
}

/// One client-side interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIface {
    /// Its name: the circuit-id.
    pub name: String,
    /// Its IPv4 address, if it has one.
    pub addr: Option<Ipv4Addr>,
}

/// What the relay is told at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The client interfaces; [`Dest::Client`] refers to them by index.
    pub clients: Vec<ClientIface>,
    /// The server interface's address (giaddr fallback, link selection).
    pub server_iface_addr: Option<Ipv4Addr>,
    /// Where requests go: SERVER_IP, port 67 (255.255.255.255: broadcast
    /// on the server interface).
    pub server: Ipv4Addr,
    /// Add option 82 (on by default; `--no-option82` turns it off).
    pub option82: bool,
    /// Agent Remote ID, if any (`--remote-id`).
    pub remote_id: Option<Vec<u8>>,
    /// RFC 3527: giaddr = the server interface's address, the client
    /// interface's address in sub-option 5 (`--link-selection`).
    pub link_selection: bool,
}

/// A configuration the relay cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No client interface.
    NoClients,
    /// Neither the client interface nor the server interface has an IPv4
    /// address, so no giaddr exists for it.
    NoAddress(String),
    /// Link selection needs the server interface's address as giaddr.
    LinkSelectionNeedsServerAddr,
    /// Remote-id empty or longer than [`MAX_REMOTE_ID`].
    BadRemoteId,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoClients => f.write_str("no client interface"),
            ConfigError::NoAddress(name) => write!(
                f,
                "interface {name} has no IPv4 address and neither has the server interface"
            ),
            ConfigError::LinkSelectionNeedsServerAddr => {
                f.write_str("--link-selection: the server interface has no IPv4 address")
            }
            ConfigError::BadRemoteId => {
                write!(f, "--remote-id: 1 to {MAX_REMOTE_ID} bytes")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// How a reply reaches the client on its interface (always port 68).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDest {
    /// To 255.255.255.255 (broadcast flag, NAK, non-Ethernet client).
    Broadcast,
    /// Kernel unicast to the client's `ciaddr`.
    Unicast(Ipv4Addr),
    /// A frame built by hand to `mac`/`ip`: the client has no address yet
    /// and cannot answer ARP (RFC 2131 §4.1).
    Frame {
        /// The client's hardware address (chaddr).
        mac: MacAddr,
        /// The offered address (yiaddr).
        ip: Ipv4Addr,
        /// Source address of the frame: the client interface's address,
        /// else the giaddr.
        src: Ipv4Addr,
    },
}

/// Where a [`Transmit`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// To the server, from the server interface's port-67 socket.
    Server(SocketAddrV4),
    /// To a client, on client interface `iface` (an index into
    /// [`RelayConfig::clients`]).
    Client {
        /// Index of the interface.
        iface: usize,
        /// How.
        how: ClientDest,
    },
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dest: Dest,
    /// The DHCP message (UDP payload).
    pub payload: Vec<u8>,
    /// Something worth a log line that did not stop the packet.
    pub note: Option<Note>,
}

/// A remark on a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Option 82 would have made the request longer than allowed; it was
    /// forwarded without it.
    NoRoomForOption82,
}

/// Why a datagram was not forwarded. All are silent discards in the RFCs;
/// the applet logs them at debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Shorter than the header, longer than 1472 bytes, bad cookie, or a
    /// malformed option field.
    Malformed,
    /// `hlen` > 16.
    BadHlen,
    /// Wrong `op` for the direction.
    WrongOp,
    /// A DHCP message type this direction does not carry.
    WrongType,
    /// Source port not 68/67 (client side) or 67 (server side), or port 67
    /// with giaddr zero.
    WrongPort,
    /// `hops` above [`MAX_HOPS`].
    TooManyHops,
    /// giaddr is one of the relay's own addresses (a loop).
    OwnGiaddr,
    /// Option 82 from the client with giaddr zero (RFC 3046 §2.1).
    UntrustedOption82,
    /// A reply whose giaddr is not ours.
    NotOurGiaddr,
    /// A reply matching no outstanding request (xid, chaddr, giaddr).
    NoMatch,
    /// An interface index out of range (a caller error).
    UnknownIface,
}

impl std::fmt::Display for Discard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Discard::Malformed => "malformed packet",
            Discard::BadHlen => "hlen over 16",
            Discard::WrongOp => "wrong op for this side",
            Discard::WrongType => "wrong message type for this side",
            Discard::WrongPort => "wrong source port",
            Discard::TooManyHops => "hop limit exceeded",
            Discard::OwnGiaddr => "giaddr is our own address (loop)",
            Discard::UntrustedOption82 => "option 82 from an untrusted client (giaddr 0)",
            Discard::NotOurGiaddr => "reply for another relay",
            Discard::NoMatch => "reply to no request of ours",
            Discard::UnknownIface => "unknown interface",
        })
    }
}

/// A relayed request waiting for replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    xid: u32,
    htype: u8,
    hlen: u8,
    chaddr: [u8; 16],
    giaddr: Ipv4Addr,
    iface: usize,
    expires: Instant,
}

impl Pending {
    fn matches(&self, xid: u32, htype: u8, hlen: u8, chaddr: &[u8; 16], giaddr: Ipv4Addr) -> bool {
        self.xid == xid
            && self.htype == htype
            && self.hlen == hlen
            && self.giaddr == giaddr
            && chaddr_prefix(&self.chaddr, hlen) == chaddr_prefix(chaddr, hlen)
    }
}

/// The first `hlen` bytes of chaddr (hlen ≤ 16 is checked before).
fn chaddr_prefix(c: &[u8; 16], hlen: u8) -> &[u8] {
    c.get(..usize::from(hlen)).unwrap_or(c)
}

/// The relay agent's state: its configuration and the outstanding requests.
#[derive(Debug, Clone)]
pub struct Relay {
    config: RelayConfig,
    /// The giaddr used for each client interface.
    giaddrs: Vec<Ipv4Addr>,
    pending: Vec<Pending>,
}

impl Relay {
    /// Checks `config` and builds the relay.
    pub fn new(config: RelayConfig) -> Result<Relay, ConfigError> {
        if config.clients.is_empty() {
            return Err(ConfigError::NoClients);
        }
        if let Some(id) = &config.remote_id {
            if id.is_empty() || id.len() > MAX_REMOTE_ID {
                return Err(ConfigError::BadRemoteId);
            }
        }
        let mut giaddrs = Vec::with_capacity(config.clients.len());
        for c in &config.clients {
            let g = if config.link_selection {
                config
                    .server_iface_addr
                    .ok_or(ConfigError::LinkSelectionNeedsServerAddr)?
            } else {
                // BusyBox's fallback: an unnumbered client interface relays
                // with the server interface's address.
                c.addr
                    .or(config.server_iface_addr)
                    .ok_or_else(|| ConfigError::NoAddress(c.name.clone()))?
            };
            giaddrs.push(g);
        }
        Ok(Relay {
            config,
            giaddrs,
            pending: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The giaddr used for client interface `iface`.
    pub fn giaddr(&self, iface: usize) -> Option<Ipv4Addr> {
        self.giaddrs.get(iface).copied()
    }

    /// Requests remembered now (expired ones included until the next call
    /// that purges).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn is_own(&self, a: Ipv4Addr) -> bool {
        self.giaddrs.contains(&a)
            || self.config.server_iface_addr == Some(a)
            || self.config.clients.iter().any(|c| c.addr == Some(a))
    }

    /// A datagram from `src` received on client interface `iface`.
    pub fn handle_client(
        &mut self,
        now: Instant,
        iface: usize,
        src: SocketAddrV4,
        bytes: &[u8],
    ) -> Result<Transmit, Discard> {
        let giaddr_ours = self.giaddr(iface).ok_or(Discard::UnknownIface)?;
        let p = checked(bytes)?;
        if p.op() != OP_REQUEST {
            return Err(Discard::WrongOp);
        }
        match p.message_type() {
            None if p.is_bootp() => {}
            Some(
                MessageType::Discover
                | MessageType::Request
                | MessageType::Decline
                | MessageType::Release
                | MessageType::Inform,
            ) => {}
            _ => return Err(Discard::WrongType),
        }
        let giaddr = p.giaddr();
        match src.port() {
            CLIENT_PORT => {}
            SERVER_PORT if !giaddr.is_unspecified() => {}
            _ => return Err(Discard::WrongPort),
        }
        if p.hops() > MAX_HOPS {
            return Err(Discard::TooManyHops);
        }
        let server = Dest::Server(SocketAddrV4::new(self.config.server, SERVER_PORT));
        if !giaddr.is_unspecified() {
            if self.is_own(giaddr) {
                return Err(Discard::OwnGiaddr);
            }
            let mut out = bytes.to_vec();
            bump_hops(&mut out);
            return Ok(Transmit {
                dest: server,
                payload: out,
                note: None,
            });
        }
        if has_option82(&p) {
            return Err(Discard::UntrustedOption82);
        }
        let mut out = bytes.to_vec();
        bump_hops(&mut out);
        let mut note = None;
        if self.config.option82 {
            let info = self.agent_info(iface);
            match with_option82(&out, &info) {
                Some(v) => out = v,
                None => note = Some(Note::NoRoomForOption82),
            }
        }
        {
            let mut w = Packet::new_unchecked(&mut out[..]);
            w.set_giaddr(giaddr_ours);
        }
        self.remember(now, &p, giaddr_ours, iface);
        Ok(Transmit {
            dest: server,
            payload: out,
            note,
        })
    }

    /// A datagram from `src` received on the server interface.
    pub fn handle_server(
        &mut self,
        now: Instant,
        src: SocketAddrV4,
        bytes: &[u8],
    ) -> Result<Transmit, Discard> {
        self.purge(now);
        let p = checked(bytes)?;
        if p.op() != OP_REPLY {
            return Err(Discard::WrongOp);
        }
        match p.message_type() {
            None if p.is_bootp() => {}
            Some(MessageType::Offer | MessageType::Ack | MessageType::Nak) => {}
            _ => return Err(Discard::WrongType),
        }
        if src.port() != SERVER_PORT {
            return Err(Discard::WrongPort);
        }
        let giaddr = p.giaddr();
        if !self.giaddrs.contains(&giaddr) {
            return Err(Discard::NotOurGiaddr);
        }
        let (xid, htype, hlen) = (p.xid(), p.htype(), p.hlen());
        let iface = self
            .pending
            .iter()
            .find(|e| e.matches(xid, htype, hlen, p.chaddr(), giaddr))
            .map(|e| e.iface)
            .ok_or(Discard::NoMatch)?;
        let how = if p.broadcast_flag() {
            ClientDest::Broadcast
        } else if !p.ciaddr().is_unspecified() {
            ClientDest::Unicast(p.ciaddr())
        } else if !p.yiaddr().is_unspecified()
            && htype == crate::wire::dhcp::HTYPE_ETHERNET
            && hlen == 6
        {
            // From our address on the client's link; with link selection
            // the giaddr is the server-side one.
            let src = self
                .config
                .clients
                .get(iface)
                .and_then(|c| c.addr)
                .unwrap_or(giaddr);
            ClientDest::Frame {
                mac: p.client_mac(),
                ip: p.yiaddr(),
                src,
            }
        } else {
            ClientDest::Broadcast
        };
        Ok(Transmit {
            dest: Dest::Client { iface, how },
            payload: without_option82(bytes),
            note: None,
        })
    }

    /// Forgets requests older than [`PENDING_TTL`].
    pub fn purge(&mut self, now: Instant) {
        self.pending.retain(|e| e.expires > now);
    }

    fn remember(&mut self, now: Instant, p: &Packet<&[u8]>, giaddr: Ipv4Addr, iface: usize) {
        self.purge(now);
        let expires = now + PENDING_TTL;
        let (xid, htype, hlen) = (p.xid(), p.htype(), p.hlen());
        if let Some(e) = self
            .pending
            .iter_mut()
            .find(|e| e.iface == iface && e.matches(xid, htype, hlen, p.chaddr(), giaddr))
        {
            // A retransmission: keep one entry, later expiry.
            e.expires = expires;
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            // Full of live entries: the oldest one goes (its client has
            // retransmitted the least recently).
            if let Some(at) = self
                .pending
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.expires)
                .map(|(i, _)| i)
            {
                self.pending.swap_remove(at);
            }
        }
        self.pending.push(Pending {
            xid,
            htype,
            hlen,
            chaddr: *p.chaddr(),
            giaddr,
            iface,
            expires,
        });
    }

    /// Option 82's data for client interface `iface`: circuit-id, then
    /// remote-id, then link selection (RFC 3527) when giaddr is not the
    /// interface's own address.
    fn agent_info(&self, iface: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let Some(c) = self.config.clients.get(iface) else {
            return v;
        };
        // Interface names are at most 15 bytes (IFNAMSIZ - 1).
        let name = c.name.as_bytes();
        let name = name.get(..15).unwrap_or(name);
        push_sub(&mut v, sub::CIRCUIT_ID, name);
        if let Some(id) = &self.config.remote_id {
            push_sub(&mut v, sub::REMOTE_ID, id);
        }
        if let (Some(addr), Some(g)) = (c.addr, self.giaddr(iface)) {
            if addr != g {
                push_sub(&mut v, sub::LINK_SELECTION, &addr.octets());
            }
        }
        v
    }
}

/// Appends one sub-option (`data` is at most 255 bytes by construction).
fn push_sub(v: &mut Vec<u8>, code: u8, data: &[u8]) {
    let len = u8::try_from(data.len()).unwrap_or(u8::MAX);
    v.push(code);
    v.push(len);
    v.extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
}

/// The header, length, cookie and option field checks shared by both
/// directions (BusyBox's FIXME "does not consider packet_len").
fn checked(bytes: &[u8]) -> Result<Packet<&[u8]>, Discard> {
    let p = Packet::new_checked(bytes).map_err(|_| Discard::Malformed)?;
    p.options_valid().map_err(|_| Discard::Malformed)?;
    if p.hlen() > 16 {
        return Err(Discard::BadHlen);
    }
    Ok(p)
}

fn bump_hops(out: &mut [u8]) {
    if let Some(h) = out.get_mut(field::HOPS) {
        *h = h.saturating_add(1);
    }
}

/// Whether option 82 appears anywhere the options are scanned: the option
/// field, then `file` and `sname` if option 52 says so. Zero-length
/// instances count (the wire iterator skips them).
fn has_option82(p: &Packet<&[u8]>) -> bool {
    let ov = p.overload();
    let fields = [
        Some(p.options_field()),
        (ov & OVERLOAD_FILE != 0).then(|| &p.file()[..]),
        (ov & OVERLOAD_SNAME != 0).then(|| &p.sname()[..]),
    ];
    fields.into_iter().flatten().any(|f| {
        let mut i = 0;
        while let Some(&c) = f.get(i) {
            match c {
                code::PAD => i += 1,
                code::END => return false,
                code::RELAY_AGENT_INFO => return true,
                _ => i += 2 + f.get(i + 1).map_or(0, |&l| usize::from(l)),
            }
        }
        false
    })
}

/// Where the top-level option field's END is (or its length if it has
/// none: BusyBox accepts that too). `None` if the field is malformed.
fn options_end(opts: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&c) = opts.get(i) {
        match c {
            code::PAD => i += 1,
            code::END => return Some(i),
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                i += 2 + len;
                if i > opts.len() {
                    return None;
                }
            }
        }
    }
    Some(opts.len())
}

/// `msg` with option 82 (`info`) appended to its option field before END.
/// The result is no longer than the request was, or 548 bytes (the
/// 576-byte IP datagram every server must accept, RFC 2131 §2), whichever
/// is more; `None` if option 82 does not fit (or cannot be encoded).
fn with_option82(msg: &[u8], info: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(info.len()).ok()?;
    let opts = msg.get(HEADER_LEN..)?;
    let end = options_end(opts)?;
    let limit = msg.len().clamp(DEFAULT_MAX_LEN, MAX_LEN);
    let need = HEADER_LEN + end + 2 + info.len() + 1;
    if need > limit {
        return None;
    }
    let mut out = Vec::with_capacity(limit);
    out.extend_from_slice(msg.get(..HEADER_LEN + end)?);
    out.push(code::RELAY_AGENT_INFO);
    out.push(len);
    out.extend_from_slice(info);
    out.push(code::END);
    // Keep at least the original length (BOOTP's 300-byte minimum and any
    // padding the client chose), zero-filled.
    if out.len() < msg.len() {
        out.resize(msg.len(), code::PAD);
    }
    Some(out)
}

/// `msg` with every option 82 removed from its option field, padded back
/// to its original length. A malformed field is returned unchanged (it
/// was checked before, so this does not happen).
fn without_option82(msg: &[u8]) -> Vec<u8> {
    let Some(opts) = msg.get(HEADER_LEN..) else {
        return msg.to_vec();
    };
    let mut out = Vec::with_capacity(msg.len());
    out.extend_from_slice(msg.get(..HEADER_LEN).unwrap_or(msg));
    let mut i = 0;
    while let Some(&c) = opts.get(i) {
        match c {
            code::PAD => i += 1,
            code::END => {
                out.push(code::END);
                break;
            }
            _ => {
                let Some(len) = opts.get(i + 1).map(|&l| usize::from(l)) else {
                    return msg.to_vec();
                };
                let Some(whole) = opts.get(i..i + 2 + len) else {
                    return msg.to_vec();
                };
                if c != code::RELAY_AGENT_INFO {
                    out.extend_from_slice(whole);
                }
                i += 2 + len;
            }
        }
    }
    out.resize(msg.len().max(out.len()), code::PAD);
    out
}

#[cfg(test)]
mod tests;
