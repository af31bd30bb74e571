//! udhcpc's core, `client::Client::handle_packet`, in every state. A
//! scripted prefix against a real in-memory `Server` brings the client to
//! the state the input picks (INIT/SELECTING, REQUESTING, BOUND, RENEWING,
//! REBINDING, RENEW_REQUESTED, RELEASED); then the fuzzer's script feeds it
//! arbitrary bytes, replies built for its current xid and MAC with
//! arbitrary type, address and options, mutated real server replies, time,
//! commands and ARP probe answers. After every step every output is
//! drained: each transmit must parse as a BOOTREQUEST from our MAC of the
//! kind it claims, and is fed into the server (its changes made durable at
//! once), whose replies go back to the
//! client when the script says so; events are acted on (probe answers
//! queued, exits end the run).
//!
//! Checks, besides "no panic": transmits are well-formed; a lease the
//! client holds is a usable unicast address (never 0.0.0.0, broadcast,
//! multicast, loopback or class E); a lease exists exactly in the states
//! that have one.
#![no_main]

#[path = "common/input.rs"]
mod input;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use input::Input;
use libfuzzer_sys::fuzz_target;
use udhcp::client::{Client, Command, Config, Event, State};
use udhcp::conf;
use udhcp::server::Server;
use udhcp::time::Instant;
use udhcp::wire::dhcp::{code, MessageBuilder, Packet, MAX_LEN, OP_REPLY, OP_REQUEST};
use udhcp::wire::MacAddr;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
const CONFIG: &str = "start 10.0.0.10\nend 10.0.0.20\nmax_leases 4\nmin_lease 30\n\
    opt lease 120\nopt router 10.0.0.1\nopt dns 10.0.0.1\nopt subnet 255.255.255.0\n";

fn usable(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip.octets()[0] >= 240)
}

struct Harness {
    client: Client,
    server: Server,
    now: Instant,
    /// Replies from the server not yet given to the client.
    replies: VecDeque<Vec<u8>>,
    probe_pending: bool,
    tx: Vec<u8>,
}

impl Harness {
    /// Drains the client (transmits into the server, events) and the
    /// server (records made durable at once, replies queued).
    fn drain(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            let p = Packet::new_checked(&t.message[..]).expect("a transmit parses");
            assert_eq!(p.op(), OP_REQUEST);
            assert_eq!(p.message_type(), Some(t.kind));
            assert_eq!(p.client_mac(), MAC);
            assert!(p.options_valid().is_ok());
            self.server.handle_packet(self.now, &t.message);
        }
        while let Some(e) = self.client.poll_event() {
            if let Event::Probe { .. } = e {
                self.probe_pending = true;
            }
        }
        let seq = self.server.persist_seq();
        self.server.handle_persisted(self.now, seq);
        while self.server.poll_probe().is_some() {}
        while let Some(t) = self.server.poll_transmit(&mut self.tx) {
            if self.replies.len() < 16 {
                if let Some(b) = self.tx.get(..t.len) {
                    self.replies.push_back(b.to_vec());
                }
            }
        }
        let has_lease = matches!(
            self.client.state(),
            State::Bound | State::Renewing | State::Rebinding | State::RenewRequested
        );
        if self.client.is_finished() {
            return;
        }
        match self.client.lease() {
            Some(l) => {
                assert!(usable(l.ip), "lease of unusable {}", l.ip);
                assert!(has_lease, "lease in state {:?}", self.client.state());
            }
            None => assert!(!has_lease, "no lease in {:?}", self.client.state()),
        }
    }

    fn tick(&mut self) {
        if let Some(t) = self.client.poll_timeout() {
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
        }
        if let Some(t) = self.server.poll_timeout() {
            if t <= self.now {
                self.server.handle_timeout(self.now);
            }
        }
        self.drain();
    }

    fn deliver(&mut self) {
        if let Some(r) = self.replies.pop_front() {
            self.client.handle_packet(self.now, &r);
            self.drain();
        }
    }

    /// Runs the exchange with the server until the client is in `want`
    /// (bounded).
    fn reach(&mut self, want: State) {
        for _ in 0..64 {
            if self.client.state() == want {
                return;
            }
            if self.probe_pending {
                self.probe_pending = false;
                self.client.handle_probe(self.now, false);
                self.drain();
            } else if !self.replies.is_empty() {
                self.deliver();
            } else {
                self.tick();
            }
        }
    }
}

/// A reply for the client's current exchange, with fuzzer-chosen fields.
fn crafted(inp: &mut Input<'_>, xid: u32) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_LEN];
    let Ok(mut b) = MessageBuilder::new(&mut buf, OP_REPLY, xid) else {
        return Vec::new();
    };
    {
        let mut h = b.header();
        h.set_client_mac(MAC);
        h.set_yiaddr(Ipv4Addr::from(if inp.bool() {
            inp.u32()
        } else {
            0x0a00_000a + u32::from(inp.u8() % 16)
        }));
    }
    let _ = b.add_u8(code::MESSAGE_TYPE, inp.u8() % 9);
    if inp.bool() {
        let _ = b.add_ipv4(
            code::SERVER_ID,
            if inp.bool() {
                SERVER_IP
            } else {
                Ipv4Addr::from(inp.u32())
            },
        );
    }
    if inp.bool() {
        let _ = b.add_u32(code::LEASE_TIME, inp.u32());
    }
    let mut extra = inp.bytes(128);
    while let [c, n, tail @ ..] = extra {
        let n = usize::from(*n).min(tail.len());
        let (d, more) = tail.split_at(n);
        let _ = b.add_option(*c, d);
        extra = more;
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let mut cfg = Config::new(MAC);
    cfg.foreground = true;
    cfg.jitter = flags & 1 != 0;
    cfg.arping = (flags & 2 != 0).then_some(Duration::from_millis(500));
    cfg.retries = u32::from(flags >> 2 & 3);
    cfg.quit_after_lease = flags & 0x10 != 0;
    cfg.release_on_exit = flags & 0x20 != 0;
    let now = Instant::from_millis(5_000_000);
    let mut seed = u32::from_be_bytes([flags, 1, 2, 3]);
    let xids = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed
    };
    let server_cfg = conf::parse(CONFIG, "fuzz.conf").expect("config").config;
    let mut h = Harness {
        client: Client::new(cfg, now, xids),
        server: Server::new(server_cfg, SERVER_IP, 0),
        now,
        replies: VecDeque::new(),
        probe_pending: false,
        tx: vec![0; MAX_LEN],
    };
    h.drain();

    // The scripted prefix.
    match inp.u8() % 7 {
        0 => {}
        1 => {
            h.tick();
            h.deliver(); // OFFER → REQUESTING
        }
        2 => h.reach(State::Bound),
        3 | 4 | 5 => {
            h.reach(State::Bound);
            if let Some(l) = h.client.lease() {
                let (t1, t2) = (l.t1_secs.unwrap_or(60), l.t2_secs.unwrap_or(100));
                let at = l.start;
                let (t, want) = match inp.u8() % 3 {
                    0 => (t1, State::Renewing),
                    1 => (t2, State::Rebinding),
                    _ => (0, State::RenewRequested),
                };
                if want == State::RenewRequested {
                    h.client.handle_command(h.now, Command::Renew);
                } else {
                    h.now = h.now.max(at + Duration::from_secs(u64::from(t)));
                    h.client.handle_timeout(h.now);
                }
                // Replies to the renewal stay queued for the script.
                h.drain();
            }
        }
        _ => {
            h.reach(State::Bound);
            h.client.handle_command(h.now, Command::Release);
            h.drain();
        }
    }

    let mut steps = 0;
    while !inp.is_empty() && steps < 128 && !h.client.is_finished() {
        steps += 1;
        match inp.u8() % 9 {
            0 => {
                let bytes = inp.bytes(1600);
                h.client.handle_packet(h.now, bytes);
            }
            1 | 2 => {
                let msg = crafted(&mut inp, h.client.xid());
                h.client.handle_packet(h.now, &msg);
            }
            3 => {
                // A real server reply with a few bytes overwritten.
                if let Some(mut r) = h.replies.pop_front() {
                    for _ in 0..inp.u8() % 4 {
                        let at = usize::from(inp.u16());
                        let v = inp.u8();
                        if let Some(len) = r.len().checked_sub(1) {
                            if let Some(b) = r.get_mut(at % (len + 1)) {
                                *b = v;
                            }
                        }
                    }
                    h.client.handle_packet(h.now, &r);
                }
            }
            4 => h.deliver(),
            5 => h.tick(),
            6 => h.now += Duration::from_millis(u64::from(inp.u16()) * 50),
            7 => {
                let c = match inp.u8() % 3 {
                    0 => Command::Renew,
                    1 => Command::Release,
                    _ => Command::Terminate,
                };
                h.client.handle_command(h.now, c);
            }
            _ => {
                let in_use = inp.bool();
                if h.probe_pending {
                    h.probe_pending = false;
                    h.client.handle_probe(h.now, in_use);
                }
            }
        }
        h.drain();
    }
});
