//! udhcpd's core, `Server::handle_packet`, driven by a script the fuzzer
//! writes: raw packets of arbitrary bytes, well-formed requests from a few
//! clients (so that deep states are reached), time steps, timeouts, probe
//! answers, SIGHUP reconfigurations and durability confirmations, on a
//! small pool whose `max_leases` is below the pool size (eviction).
//! After every step every output is drained: `poll_transmit` (each reply
//! parsed back with `wire::dhcp::Packet` and, when the script says so,
//! answered the way a client would: OFFER → REQUEST, ACK → renew, RELEASE,
//! DECLINE or INFORM, NAK → DISCOVER, fed back into the server),
//! `poll_probe` (answered later by the script); the unsynced changes are
//! written in two steps the script interleaves with everything else, as
//! the daemon does: a write starts (`persist_seq` and a snapshot of
//! `unsynced`), later it completes (`handle_persisted` with that seq).
//!
//! Half the runs serve three networks (`Server::with_links`): the one of
//! link 0, a second local interface (link 1) and a relayed subnet; the
//! script says which link each packet comes in on (2: a link the server
//! was not given), clients answer on the link their reply went out of,
//! and a request may carry the relay's giaddr.
//!
//! Checks, besides "no panic": every reply parses as a BOOTREPLY with a
//! valid message type; a reply goes out of a link the server was given,
//! and an address offered or ACKed to a client on a link (not through a
//! relay) is of that link's network; no ACK for a dynamic address leaves before a record
//! of that address for that client was reported durable (the group-commit
//! barrier); the lease table never holds an address twice; unsynced
//! changes and held ACKs stay within `MAX_UNSYNCED` and `MAX_HELD`.
#![no_main]

#[path = "common/input.rs"]
mod input;

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use input::Input;
use libfuzzer_sys::fuzz_target;
use udhcp::conf::{self, ServerConfig};
use udhcp::lease::Change;
use udhcp::server::{Destination, Server, MAX_HELD, MAX_UNSYNCED};
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, MessageBuilder, MessageType, Packet, MAX_LEN, OP_REPLY, OP_REQUEST};
use udhcp::wire::MacAddr;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The second local link's address, and the relay of the relayed network.
const LINK1_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
/// The two other networks, appended to CONFIG / CONFIG2.
const SECTIONS: &str = "\nnetwork b\ninterface eth1\nstart 10.1.0.10\nend 10.1.0.17\nmax_leases 6\n\
    opt lease 60\nstatic_lease 02:00:00:00:00:06 10.1.0.60\n\
    network c\nrelay_subnet 10.2.0.0/24\nstart 10.2.0.10\nend 10.2.0.15\nping_check yes\n";
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

const CONFIG: &str = "start 10.0.0.10\nend 10.0.0.21\nmax_leases 8\n\
    offer_time 5\ndecline_time 30\nconflict_time 30\nmin_lease 10\n\
    opt lease 60\nopt router 10.0.0.1\nopt dns 10.0.0.1 10.0.0.2\nopt domain example.org\n\
    static_lease 02:00:00:00:00:07 10.0.0.50 seven\n";
/// The SIGHUP config: a smaller pool, the static client moved into it.
const CONFIG2: &str = "start 10.0.0.12\nend 10.0.0.19\nmax_leases 6\n\
    offer_time 5\ndecline_time 30\nconflict_time 30\nmin_lease 10\nopt lease 120\n\
    static_lease 02:00:00:00:00:07 10.0.0.13\n";

fn config(text: &str, multi: bool) -> ServerConfig {
    let text = if multi {
        format!("{text}{SECTIONS}")
    } else {
        text.to_owned()
    };
    conf::parse(&text, "fuzz.conf").expect("fuzz config").config
}

/// The network (0, 1: local links; 2: relayed) whose pool or static
/// leases hold `ip`.
fn net_of(ip: Ipv4Addr) -> Option<u8> {
    match ip.octets() {
        [10, n @ 0..=2, 0, _] => Some(n),
        _ => None,
    }
}

/// The eight clients the script can speak for; odd ones send option 61.
fn mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i & 7])
}

fn client_id(i: u8) -> Option<[u8; 7]> {
    let m = mac(i).octets();
    (i & 1 == 1).then_some([1, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// A request from client `i`.
#[allow(clippy::too_many_arguments)]
fn request(
    out: &mut Vec<u8>,
    t: MessageType,
    i: u8,
    xid: u32,
    ciaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    giaddr: Ipv4Addr,
    extra: &[u8],
) {
    out.clear();
    out.resize(MAX_LEN, 0);
    let Ok(mut b) = MessageBuilder::new(out, OP_REQUEST, xid) else {
        return;
    };
    {
        let mut h = b.header();
        h.set_client_mac(mac(i));
        h.set_ciaddr(ciaddr);
        h.set_giaddr(giaddr);
    }
    let _ = b.add_message_type(t);
    if let Some(id) = client_id(i) {
        let _ = b.add_option(code::CLIENT_ID, &id);
    }
    if let Some(ip) = requested {
        let _ = b.add_ipv4(code::REQUESTED_IP, ip);
    }
    if let Some(ip) = server {
        let _ = b.add_ipv4(code::SERVER_ID, ip);
    }
    // Extra options as the fuzzer wrote them: (code, len, data)…
    let mut rest = extra;
    while let [c, n, tail @ ..] = rest {
        let n = usize::from(*n).min(tail.len());
        let (d, more) = tail.split_at(n);
        let _ = b.add_option(*c, d);
        rest = more;
    }
    let n = b.finish();
    out.truncate(n);
}

/// An address around the pool of network `n % 3` (of the first one
/// only with one network).
fn pool_ip(n: u8, multi: bool) -> Ipv4Addr {
    let net = if multi { (n >> 4) % 3 } else { 0 };
    Ipv4Addr::new(10, net, 0, 8 + (n % 16))
}

struct Harness {
    server: Server,
    /// Three networks on two links (else BusyBox's one).
    multi: bool,
    now: Instant,
    /// Replies sent, not yet answered, with the link they went out of.
    replies: VecDeque<(Vec<u8>, usize)>,
    probes: VecDeque<Ipv4Addr>,
    /// A write in progress: the sequence number it covers and the
    /// (address, MAC) of the leases it carries.
    writing: Option<(u64, Vec<(Ipv4Addr, MacAddr)>)>,
    /// Every (address, client MAC) pair ever confirmed durable.
    durable: HashSet<(Ipv4Addr, MacAddr)>,
    static_ips: HashSet<Ipv4Addr>,
    tx: Vec<u8>,
    msg: Vec<u8>,
}

impl Harness {
    fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit(&mut self.tx) {
            let bytes = self
                .tx
                .get(..t.len)
                .expect("reply length within the buffer");
            let p = Packet::new_checked(bytes).expect("a reply parses");
            assert_eq!(p.op(), OP_REPLY);
            let links = if self.multi { 2 } else { 1 };
            assert!(t.link < links, "reply out of link {}", t.link);
            let yi = p.yiaddr();
            if self.multi && !yi.is_unspecified() {
                let net = net_of(yi);
                match t.dest {
                    Destination::Relay(_) => assert!(
                        net.is_some(),
                        "relayed reply with {yi}, in no network"
                    ),
                    _ => assert_eq!(
                        net,
                        u8::try_from(t.link).ok(),
                        "{yi} offered on link {}",
                        t.link
                    ),
                }
            }
            assert!(p.options_valid().is_ok(), "reply options malformed");
            if let Some(mt) = p.message_type() {
                if mt == MessageType::Ack && !p.yiaddr().is_unspecified() {
                    let ip = p.yiaddr();
                    assert!(
                        self.static_ips.contains(&ip)
                            || self.durable.contains(&(ip, p.client_mac())),
                        "ACK of {ip} to {} left before its record was durable",
                        p.client_mac()
                    );
                }
            } else {
                assert!(p.is_bootp(), "a DHCP reply without option 53");
            }
            if self.replies.len() < 64 {
                self.replies.push_back((bytes.to_vec(), t.link));
            }
        }
        while let Some(p) = self.server.poll_probe() {
            if self.probes.len() < 64 {
                self.probes.push_back(p.ip);
            }
        }
        assert!(self.server.unsynced_len() <= MAX_UNSYNCED);
        assert!(self.server.held_len() <= MAX_HELD);
        let mut ips = HashSet::new();
        for r in self.server.leases(self.now) {
            assert!(ips.insert(r.ip), "{} twice in the lease table", r.ip);
        }
    }

    /// Starts a write of the unsynced changes (if none is in progress).
    fn start_write(&mut self) {
        if self.writing.is_none() {
            let seq = self.server.persist_seq();
            let leases = self
                .server
                .unsynced()
                .filter_map(|c| match c {
                    Change::Lease(r) => Some((r.ip, r.mac)),
                    _ => None,
                })
                .collect();
            self.writing = Some((seq, leases));
        }
    }

    /// The write in progress succeeded.
    fn complete_write(&mut self) {
        if let Some((seq, leases)) = self.writing.take() {
            self.durable.extend(leases);
            self.server.handle_persisted(self.now, seq);
        }
    }

    fn persist(&mut self) {
        self.complete_write();
        self.start_write();
        self.complete_write();
    }

    /// Answers the oldest reply as its client would (`how` picks what it
    /// does with an ACK).
    fn answer(&mut self, how: u8) {
        let Some((reply, link)) = self.replies.pop_front() else {
            return;
        };
        let Ok(p) = Packet::new_checked(&reply[..]) else {
            return;
        };
        let chaddr = p.client_mac().octets();
        if chaddr[..5] != [2, 0, 0, 0, 0] {
            return;
        }
        let i = chaddr[5];
        let (xid, yi, gi) = (p.xid(), p.yiaddr(), p.giaddr());
        let sid = p.option_ipv4(code::SERVER_ID);
        let mut msg = core::mem::take(&mut self.msg);
        match p.message_type() {
            Some(MessageType::Offer) => request(
                &mut msg,
                MessageType::Request,
                i,
                xid,
                Ipv4Addr::UNSPECIFIED,
                Some(yi),
                sid,
                gi,
                &[],
            ),
            Some(MessageType::Ack) if !yi.is_unspecified() => {
                let (t, ci, req, s) = match how % 5 {
                    0 => (MessageType::Request, yi, None, None),
                    1 => (MessageType::Release, yi, None, sid),
                    2 => (MessageType::Decline, Ipv4Addr::UNSPECIFIED, Some(yi), sid),
                    3 => (MessageType::Inform, yi, None, None),
                    _ => (MessageType::Request, Ipv4Addr::UNSPECIFIED, Some(yi), None),
                };
                request(&mut msg, t, i, xid.wrapping_add(1), ci, req, s, gi, &[]);
            }
            Some(MessageType::Nak) => request(
                &mut msg,
                MessageType::Discover,
                i,
                xid.wrapping_add(1),
                Ipv4Addr::UNSPECIFIED,
                None,
                None,
                gi,
                &[],
            ),
            _ => msg.clear(),
        }
        if !msg.is_empty() {
            self.server.handle_packet_on(self.now, link, &msg);
        }
        self.msg = msg;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let multi = inp.bool();
    let cfg = config(CONFIG, multi);
    let probe_ms = u32::from(inp.u8() % 3) * 500;
    let links = vec![("eth0".to_owned(), SERVER_IP), ("eth1".to_owned(), LINK1_IP)];
    let mut static_ips: HashSet<Ipv4Addr> = cfg.static_leases.iter().map(|s| s.ip).collect();
    for n in &cfg.networks {
        static_ips.extend(n.config.static_leases.iter().map(|s| s.ip));
    }
    let server = if multi {
        Server::with_links(cfg, links, probe_ms)
    } else {
        Server::new(cfg, SERVER_IP, probe_ms)
    };
    let mut h = Harness {
        static_ips,
        server,
        multi,
        now: Instant::from_millis(1_000_000),
        replies: VecDeque::new(),
        probes: VecDeque::new(),
        writing: None,
        durable: HashSet::new(),
        tx: vec![0; MAX_LEN],
        msg: Vec::new(),
    };
    let mut steps = 0;
    while !inp.is_empty() && steps < 256 {
        steps += 1;
        match inp.u8() % 10 {
            0 => {
                let link = usize::from(inp.u8() % 3);
                let bytes = inp.bytes(1600);
                h.server.handle_packet_on(h.now, link, bytes);
            }
            1 | 2 => {
                let t = MessageType::from_u8(inp.u8() % 8 + 1).unwrap_or(MessageType::Discover);
                let i = inp.u8();
                let xid = inp.u32();
                let flags = inp.u8();
                let ip = pool_ip(inp.u8(), multi);
                let ciaddr = if flags & 1 != 0 {
                    ip
                } else {
                    Ipv4Addr::UNSPECIFIED
                };
                let req = (flags & 2 != 0).then_some(ip);
                let sid = match (flags >> 2) & 3 {
                    0 => None,
                    1 => Some(OTHER_SERVER),
                    2 => Some(LINK1_IP),
                    _ => Some(SERVER_IP),
                };
                let gi = if flags & 16 != 0 {
                    RELAY
                } else {
                    Ipv4Addr::UNSPECIFIED
                };
                let link = usize::from((flags >> 5) % 3);
                let extra = inp.bytes(64);
                let mut msg = core::mem::take(&mut h.msg);
                request(&mut msg, t, i, xid, ciaddr, req, sid, gi, extra);
                h.server.handle_packet_on(h.now, link, &msg);
                h.msg = msg;
            }
            3 => h.now += Duration::from_millis(u64::from(inp.u16()) * 10),
            4 => {
                if inp.bool() {
                    h.start_write();
                } else {
                    h.complete_write();
                }
            }
            5 => {
                if let Some(t) = h.server.poll_timeout() {
                    h.now = h.now.max(t);
                }
                h.server.handle_timeout(h.now);
            }
            6 => {
                let in_use = inp.bool();
                if let Some(ip) = h.probes.pop_front() {
                    h.server.handle_probe(h.now, ip, in_use);
                }
            }
            7 => {
                let cfg = config(if inp.bool() { CONFIG2 } else { CONFIG }, multi);
                h.static_ips.extend(cfg.static_leases.iter().map(|s| s.ip));
                h.server.reconfigure(cfg, h.now);
            }
            _ => {
                let how = inp.u8();
                h.answer(how);
            }
        }
        h.drain();
    }
    h.persist();
    h.drain();
});
