//! A whole DHCP network in memory: one udhcpd core ([`Server`]), several
//! udhcpc cores ([`Client`]) and the server's durable store over an
//! in-memory disk, on one virtual clock, joined by a lossy link that drops,
//! duplicates, delays and so reorders packets.
//!
//! A seeded driver interleaves everything the real world does to a DHCP
//! server: DORA, renew and rebind (the clocks run through T1, T2 and
//! expiry), INIT-REBOOT (a rebooted client with its lease memory),
//! RELEASE (SIGUSR2), DECLINE (a client's `-a` probe finds the
//! address in use), NAK, forced renewals (SIGUSR1), SIGHUP, client reboots,
//! server `kill -9` (memory lost, unsynced writes kept by the page cache),
//! power cuts (unsynced writes lost too) and a disk that fails its writes
//! for a while. After every step it checks the promise of issue 8:
//!
//! 1. no address is held by two clients at once;
//! 2. every lease a client holds is in the server's *durable* state (what a
//!    power cut at this instant would leave), for that client, lasting at
//!    least as long as the client believes;
//! 3. no ACK leaves the server before its lease is durable.
//!
//! "Durable state" is computed the way udhcpd computes it at startup: a
//! copy of the disk suffers a power cut and the store is opened on it.
//!
//! Times compared across a restart are in whole seconds on the wire and in
//! the lease file, so the checks allow [`TOLERANCE`]: a lease that the
//! client believes lasts 0.9 s longer than the server's record is not a
//! second owner (no client renews that late; a real second owner differs
//! by the lease time).
//!
//! The same driver is the `pair_sim` fuzz target (fuzz/), which runs many
//! more seeds and lets libFuzzer choose the schedule.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use udhcp::client::{Client, Command, Config as ClientConfig, Event, Remembered, State};
use udhcp::conf::{self, ServerConfig};
use udhcp::lease::LeaseRecord;
use udhcp::server::{Destination, Server};
use udhcp::time::{Instant, UnixTime};
use udhcp::wire::dhcp::{code, MessageType, Packet, MAX_LEN};
use udhcp::wire::MacAddr;

use super::simdisk::Store;

/// Slack for whole-second rounding when comparing a client's idea of its
/// lease with the server's record (see the module doc).
pub const TOLERANCE: Duration = Duration::from_millis(2000);

/// The server's address on the simulated link.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Wall-clock time at virtual instant 0 (a 2026 date).
pub const WALL_BASE: i64 = 1_790_000_000;

/// xorshift64: the only source of randomness, so a seed replays exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never 0 (xorshift's fixed point); mix the seed a little.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// True with probability `permille`/1000.
    pub fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }
}

/// What one run looks like.
#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    /// Scheduler steps.
    pub steps: u32,
    pub clients: usize,
    /// Addresses in the pool (10.0.0.10 on).
    pub pool: u8,
    /// `max_leases`: below the pool size it forces evictions.
    pub max_leases: u32,
    /// `option lease`, seconds.
    pub lease_secs: u32,
    /// Per-packet probabilities, per mille.
    pub drop: u64,
    pub dup: u64,
    /// Largest one-way delay.
    pub max_delay_ms: u64,
    /// `udhcpd -a`: server-side ARP probes (0: none).
    pub probe_ms: u32,
}

impl Params {
    /// A mix that exercises everything, varied by the seed.
    pub fn from_seed(seed: u64) -> Params {
        let mut r = Rng::new(seed ^ 0x5eed);
        let pool = 4 + r.below(10) as u8;
        Params {
            seed,
            steps: 600,
            clients: 2 + r.below(8) as usize,
            pool,
            max_leases: if r.chance(500) {
                u32::from(pool)
            } else {
                2 + r.below(u64::from(pool) - 2) as u32
            },
            lease_secs: [60, 90, 120, 300][r.below(4) as usize],
            drop: r.below(300),
            dup: r.below(100),
            max_delay_ms: [0, 5, 200, 3000][r.below(4) as usize],
            probe_ms: if r.chance(300) { 500 } else { 0 },
        }
    }
}

/// Counters for the closing note.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub steps: u64,
    pub acks: u64,
    pub binds: u64,
    pub holdings_checked: u64,
    pub kills: u64,
    pub power_cuts: u64,
    pub reloads: u64,
    pub disk_faults: u64,
    pub declines: u64,
    pub releases: u64,
    pub naks: u64,
    pub init_reboots: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.steps += o.steps;
        self.acks += o.acks;
        self.binds += o.binds;
        self.holdings_checked += o.holdings_checked;
        self.kills += o.kills;
        self.power_cuts += o.power_cuts;
        self.reloads += o.reloads;
        self.disk_faults += o.disk_faults;
        self.declines += o.declines;
        self.releases += o.releases;
        self.naks += o.naks;
        self.init_reboots += o.init_reboots;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Server,
    Client(usize),
}

#[derive(Debug)]
struct Flight {
    at: Instant,
    seq: u64,
    to: Node,
    bytes: Vec<u8>,
}

struct SimClient {
    mac: MacAddr,
    core: Client,
    /// A pending `-a` probe: when it answers and what.
    probe: Option<(Instant, bool)>,
    /// Probe ARP before binding (drives DECLINE).
    arping: bool,
    /// When this client last sent a RELEASE.
    released_at: Option<Instant>,
    /// The lease memory (udhcpc's state file), kept across reboots.
    memory: Option<Remembered>,
}

/// The network. [`Sim::run`] drives it; every check failure panics with
/// the seed and the last lines of the trace.
pub struct Sim {
    p: Params,
    rng: Rng,
    now: Instant,
    config: ServerConfig,
    server: Option<Server>,
    store: Store,
    /// Server-side probes in flight: (answer time, address, in use).
    server_probes: Vec<(Instant, Ipv4Addr, bool)>,
    clients: Vec<SimClient>,
    flights: Vec<Flight>,
    seq: u64,
    trace: Vec<String>,
    pub stats: Stats,
    tx: Vec<u8>,
}

fn server_config(p: &Params) -> ServerConfig {
    let end = 10 + u32::from(p.pool) - 1;
    let text = format!(
        "interface sim0\nstart 10.0.0.10\nend 10.0.0.{end}\nmax_leases {}\n\
         option lease {}\noption subnet 255.255.255.0\noption router 10.0.0.1\n\
         decline_time 200\nconflict_time 200\noffer_time 10\nauto_time 0\n\
         lease_file /sim/udhcpd.leases\n",
        p.max_leases, p.lease_secs
    );
    match conf::parse(&text, "sim") {
        Ok(parsed) => parsed.config,
        Err(e) => panic!("sim config: {e}"),
    }
}

impl Sim {
    pub fn new(p: Params) -> Sim {
        let mut rng = Rng::new(p.seed);
        let config = server_config(&p);
        let now = Instant::from_millis(1_000);
        let mut clients = Vec::new();
        for i in 0..p.clients {
            let mac = MacAddr([0x02, 0x51, 0, 0, 0, i as u8 + 1]);
            let arping = rng.chance(400);
            clients.push(SimClient {
                mac,
                core: new_client(mac, arping, now, rng.next()),
                probe: None,
                arping,
                released_at: None,
                memory: None,
            });
        }
        let store = Store::new();
        let mut sim = Sim {
            rng,
            now,
            server: None,
            store,
            server_probes: Vec::new(),
            clients,
            flights: Vec::new(),
            seq: 0,
            trace: Vec::new(),
            stats: Stats::default(),
            tx: vec![0; MAX_LEN],
            config,
            p,
        };
        sim.start_server();
        sim
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if self.trace.len() >= 4000 {
            self.trace.drain(..2000);
        }
        let l = line();
        self.trace.push(format!("{:>9} {l}", self.now.as_millis()));
    }

    fn fail(&self, what: &str) -> ! {
        let mut s = String::new();
        let _ = writeln!(s, "seed {} ({:?}): {what}", self.p.seed, self.p);
        let _ = writeln!(s, "last events:");
        for l in self
            .trace
            .iter()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let _ = writeln!(s, "  {l}");
        }
        panic!("{s}");
    }

    /// Runs `p.steps` scheduler steps, checking after each.
    pub fn run(mut self) -> Stats {
        for _ in 0..self.p.steps {
            self.step();
            self.check();
            self.stats.steps += 1;
        }
        self.stats
    }

    /// udhcpd's startup. If the store cannot be opened (the disk fails),
    /// udhcpd exits 1; it is started again when the disk is healthy.
    fn start_server(&mut self) {
        self.server = None;
        self.server_probes.clear();
        let Some(records) = self.store.open(wall(self.now), self.now, &self.config) else {
            self.log(|| "server cannot open its lease store, exits 1".into());
            return;
        };
        let mut s = Server::new(self.config.clone(), SERVER_IP, self.p.probe_ms);
        let n = records.len();
        s.load(self.now, records);
        self.log(|| format!("server started with {n} records"));
        self.server = Some(s);
        self.pump_server();
    }

    // ------------------------------------------------------------------
    // The scheduler

    fn step(&mut self) {
        let r = self.rng.below(1000);
        match r {
            0..=699 => {
                if let Some(t) = self.next_event() {
                    self.advance(t);
                } else {
                    let t = self.now + Duration::from_secs(1);
                    self.advance(t);
                }
            }
            700..=799 => {
                let skip = Duration::from_millis(self.rng.below(90_000));
                let t = self.now + skip;
                self.advance(t);
            }
            800..=839 => {
                let i = self.rng.below(self.clients.len() as u64) as usize;
                if !self.release_settled(i) {
                    return;
                }
                self.log(|| format!("client {i}: SIGUSR1"));
                let now = self.now;
                self.clients[i].core.handle_command(now, Command::Renew);
                self.pump_client(i);
            }
            840..=859 => {
                let i = self.rng.below(self.clients.len() as u64) as usize;
                self.log(|| format!("client {i}: SIGUSR2 (release)"));
                self.stats.releases += 1;
                let now = self.now;
                self.clients[i].core.handle_command(now, Command::Release);
                self.pump_client(i);
            }
            860..=874 => {
                // A released client asks again; others ignore it.
                let i = self.rng.below(self.clients.len() as u64) as usize;
                if self.clients[i].core.state() == State::Released && self.release_settled(i) {
                    self.log(|| format!("client {i}: SIGUSR1 after release"));
                    let now = self.now;
                    self.clients[i].core.handle_command(now, Command::Renew);
                    self.pump_client(i);
                }
            }
            875..=889 => {
                let i = self.rng.below(self.clients.len() as u64) as usize;
                if self.release_settled(i) {
                    self.reboot_client(i);
                }
            }
            890..=909 => {
                self.log(|| "server: kill -9".into());
                self.stats.kills += 1;
                self.server = None;
                self.store.crash();
                self.start_server();
            }
            910..=929 => {
                self.log(|| "POWER CUT".into());
                self.stats.power_cuts += 1;
                self.server = None;
                self.store.power_cut();
                self.start_server();
            }
            930..=949 => {
                self.log(|| "server: SIGHUP".into());
                self.stats.reloads += 1;
                let (now, config) = (self.now, self.config.clone());
                if let Some(s) = self.server.as_mut() {
                    s.reconfigure(config, now);
                    self.store.request_compaction(now);
                }
                self.pump_server();
            }
            950..=979 => {
                let failing = !self.store.failing();
                self.log(|| {
                    format!(
                        "disk {}",
                        if failing {
                            "starts failing"
                        } else {
                            "healthy again"
                        }
                    )
                });
                if failing {
                    self.stats.disk_faults += 1;
                }
                self.store.set_failing(failing);
                if self.server.is_none() && !failing {
                    self.start_server();
                }
                self.pump_server();
            }
            _ => {
                // Compaction (auto_time, SIGUSR1).
                self.log(|| "server: SIGUSR1 (lease file rewrite)".into());
                self.store.request_compaction(self.now);
                self.pump_server();
            }
        }
    }

    /// The one ordering the link keeps: a client's RELEASE is delivered
    /// (or lost) before that client's next exchange begins. RFC 2131 ties a
    /// RELEASE to no transaction, so no server can tell a RELEASE that
    /// overtook the same client's later REQUEST from a fresh one; on a
    /// real LAN the client's next exchange starts long after.
    fn release_settled(&self, i: usize) -> bool {
        self.clients[i].released_at.map_or(true, |t| {
            self.now > t + Duration::from_millis(self.p.max_delay_ms)
        })
    }

    fn reboot_client(&mut self, i: usize) {
        self.log(|| format!("client {i}: reboot (lease forgotten)"));
        let (mac, arping, now, x) = (
            self.clients[i].mac,
            self.clients[i].arping,
            self.now,
            self.rng.next(),
        );
        self.clients[i].core = new_client(mac, arping, now, x);
        self.clients[i].probe = None;
        // Half the reboots keep the state file: INIT-REBOOT first.
        if let Some(m) = self.clients[i].memory.filter(|_| self.rng.chance(500)) {
            self.log(|| format!("client {i}: INIT-REBOOT for {}", m.ip));
            self.stats.init_reboots += 1;
            self.clients[i].core.remember(now, m);
        }
        self.pump_client(i);
    }

    /// The earliest pending event, if any.
    fn next_event(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut take = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for f in &self.flights {
            take(Some(f.at));
        }
        for c in &self.clients {
            take(c.core.poll_timeout());
            take(c.probe.map(|p| p.0));
        }
        if let Some(s) = &self.server {
            take(s.poll_timeout());
        }
        for p in &self.server_probes {
            take(Some(p.0));
        }
        take(self.store.retry_at());
        t.map(|t| t.max(self.now))
    }

    /// Processes every event up to `until`, in time order.
    fn advance(&mut self, until: Instant) {
        let mut guard = 0u32;
        while let Some(t) = self.next_event().filter(|&t| t <= until) {
            self.now = t;
            self.run_due();
            guard += 1;
            if guard > 100_000 {
                self.fail("more than 100000 events without time passing: a spin");
            }
        }
        self.now = self.now.max(until);
    }

    fn run_due(&mut self) {
        let now = self.now;
        // Packets, in arrival order.
        while let Some(i) = self
            .flights
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= now)
            .min_by_key(|(_, f)| (f.at, f.seq))
            .map(|(i, _)| i)
        {
            let f = self.flights.swap_remove(i);
            self.deliver(f);
        }
        for i in 0..self.clients.len() {
            if let Some((at, in_use)) = self.clients[i].probe {
                if at <= now {
                    self.clients[i].probe = None;
                    if in_use {
                        self.stats.declines += 1;
                    }
                    self.log(|| format!("client {i}: probe answered in_use={in_use}"));
                    self.clients[i].core.handle_probe(now, in_use);
                    self.pump_client(i);
                }
            }
            if self.clients[i]
                .core
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.clients[i].core.handle_timeout(now);
                self.pump_client(i);
            }
        }
        let due: Vec<_> = self
            .server_probes
            .iter()
            .filter(|p| p.0 <= now)
            .copied()
            .collect();
        self.server_probes.retain(|p| p.0 > now);
        for (_, ip, in_use) in due {
            if let Some(s) = self.server.as_mut() {
                s.handle_probe(now, ip, in_use);
            }
        }
        if let Some(s) = self.server.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        self.pump_server();
    }

    fn deliver(&mut self, f: Flight) {
        let now = self.now;
        match f.to {
            Node::Server => {
                if let Some(s) = self.server.as_mut() {
                    s.handle_packet(now, &f.bytes);
                    self.pump_server();
                }
            }
            Node::Client(i) => {
                self.clients[i].core.handle_packet(now, &f.bytes);
                self.pump_client(i);
            }
        }
    }

    fn send(&mut self, to: Node, bytes: Vec<u8>) {
        if self.rng.chance(self.p.drop) {
            return;
        }
        let copies = if self.rng.chance(self.p.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_millis(self.rng.below(self.p.max_delay_ms + 1));
            self.seq += 1;
            self.flights.push(Flight {
                at: self.now + delay,
                seq: self.seq,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    fn pump_client(&mut self, i: usize) {
        let now = self.now;
        while let Some(t) = self.clients[i].core.poll_transmit() {
            let kind = t.kind;
            if kind == MessageType::Release {
                self.clients[i].released_at = Some(now);
            }
            self.log(|| format!("client {i} sends {kind:?}"));
            self.send(Node::Server, t.message);
        }
        while let Some(e) = self.clients[i].core.poll_event() {
            match e {
                Event::Probe { ip, timeout } => {
                    // Rarely, another host answers: the client DECLINEs.
                    let in_use = self.rng.chance(150);
                    let at = now + timeout.min(Duration::from_millis(self.rng.below(1500)));
                    self.log(|| format!("client {i}: probing {ip}"));
                    self.clients[i].probe = Some((at, in_use));
                }
                Event::Script(s) => {
                    let name = s.name();
                    let ip = self.clients[i].core.lease().map(|l| l.ip);
                    if name == "bound" || name == "renew" {
                        self.stats.binds += 1;
                    }
                    if name == "nak" {
                        self.stats.naks += 1;
                    }
                    self.log(|| format!("client {i}: script {name} {ip:?}"));
                }
                Event::Remember(l) => {
                    self.clients[i].memory = Some(Remembered {
                        ip: l.ip,
                        expiry: l.expiry(),
                    });
                }
                Event::Forget => self.clients[i].memory = None,
                Event::Background => {}
                Event::Exit(code) => {
                    self.log(|| format!("client {i}: exit {code}"));
                    self.reboot_client(i);
                    return;
                }
            }
        }
    }

    /// Drains the server: probes, the durability barrier, then replies.
    fn pump_server(&mut self) {
        let now = self.now;
        let Some(s) = self.server.as_mut() else {
            return;
        };
        while let Some(p) = s.poll_probe() {
            let in_use = self.rng.chance(50);
            let at = now + Duration::from_millis(self.rng.below(u64::from(self.p.probe_ms) + 1));
            self.server_probes.push((at, p.ip, in_use));
        }
        self.store.persist(wall(now), now, s);
        let mut out = Vec::new();
        while let Some(t) = s.poll_transmit(&mut self.tx) {
            out.push((self.tx[..t.len].to_vec(), t.dest));
        }
        for (bytes, dest) in out {
            self.check_reply(&bytes);
            match dest {
                Destination::Broadcast => {
                    for i in 0..self.clients.len() {
                        self.send(Node::Client(i), bytes.clone());
                    }
                }
                Destination::Unicast { mac, .. } => {
                    if let Some(i) = self.clients.iter().position(|c| c.mac == mac) {
                        self.send(Node::Client(i), bytes);
                    }
                }
                Destination::Relay(_) => self.fail("a reply to a relay on a link without one"),
            }
        }
    }

    // ------------------------------------------------------------------
    // The promise

    /// The server's durable leases, as a power cut now would leave them.
    fn durable(&self) -> Vec<LeaseRecord> {
        self.store.durable_records(wall(self.now))
    }

    /// Check 3: an ACK with a lease leaves only once that lease is durable:
    /// the durable state has the address for this client. (How long it
    /// lasts is check 2's business, on the client's side: a held ACK
    /// promises the lease time as of the REQUEST it answers, and the
    /// client times its lease from that REQUEST, RFC 2131 §4.4.1, not from
    /// the ACK's arrival.)
    fn check_reply(&mut self, bytes: &[u8]) {
        let Ok(p) = Packet::new_checked(bytes) else {
            self.fail("the server sent a reply that does not parse");
        };
        if p.message_type() != Some(MessageType::Ack) || p.yiaddr().is_unspecified() {
            return;
        }
        self.stats.acks += 1;
        let (ip, mac) = (p.yiaddr(), p.client_mac());
        let secs = p.option_u32(code::LEASE_TIME).unwrap_or(0);
        self.log(|| format!("server ACKs {ip} to {mac} for {secs} s"));
        let durable = self.durable();
        if !durable.iter().any(|r| r.ip == ip && r.mac == mac) {
            self.fail(&format!(
                "ACK of {ip} to {mac} left before its lease was durable"
            ));
        }
    }

    /// Checks 1 and 2 (module doc), after every step.
    fn check(&mut self) {
        let now = self.now;
        let mut held: Vec<(Ipv4Addr, usize, Instant)> = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let holding = matches!(
                c.core.state(),
                State::Bound | State::Renewing | State::Rebinding | State::RenewRequested
            );
            let Some(l) = c.core.lease().filter(|_| holding) else {
                continue;
            };
            let until = l.expiry().unwrap_or(Instant::from_millis(u64::MAX));
            if until <= now + TOLERANCE {
                continue;
            }
            held.push((l.ip, i, until));
        }
        for (n, a) in held.iter().enumerate() {
            if let Some(b) = held.iter().skip(n + 1).find(|b| b.0 == a.0) {
                self.fail(&format!(
                    "{} is held by client {} (until {}) and client {} (until {})",
                    a.0, a.1, a.2, b.1, b.2
                ));
            }
        }
        if held.is_empty() {
            return;
        }
        let durable = self.durable();
        for (ip, i, until) in held {
            self.stats.holdings_checked += 1;
            let mac = self.clients[i].mac;
            let Some(r) = durable.iter().find(|r| r.ip == ip) else {
                self.fail(&format!(
                    "client {i} holds {ip}, which the durable state does not have"
                ));
            };
            if r.mac != mac {
                self.fail(&format!(
                    "client {i} ({mac}) holds {ip}, durably leased to {}",
                    r.mac
                ));
            }
            let server_until = now + Duration::from_secs(u64::from(r.remaining)) + TOLERANCE;
            if server_until < until {
                self.fail(&format!(
                    "client {i} holds {ip} until {until}, the durable record ends at {server_until}"
                ));
            }
        }
    }
}

fn new_client(mac: MacAddr, arping: bool, now: Instant, seed: u64) -> Client {
    let mut cfg = ClientConfig::new(mac);
    cfg.foreground = true;
    cfg.retries = 0; // retry forever, as a daemon would
    cfg.timeout = Duration::from_secs(2);
    cfg.tryagain = Duration::from_secs(5);
    if arping {
        cfg.arping = Some(Duration::from_millis(1000));
    }
    let mut r = Rng::new(seed);
    Client::new(cfg, now, move || r.next() as u32)
}

/// The wall clock at `now` (seconds).
pub fn wall(now: Instant) -> UnixTime {
    UnixTime(WALL_BASE + (now.as_millis() / 1000) as i64)
}
