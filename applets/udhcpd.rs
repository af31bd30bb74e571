//! udhcpd, the DHCPv4 server applet: its command line (BusyBox getopt
//! `fSI:va:P:`, no long options, optional CONFFILE), startup, and the poll
//! loop that drives the sans-I/O [`Server`] (src/server/).
//!
//! **Startup** (everything that can fail happens *before* the fork, so
//! `udhcpd || echo failed` in rcS is truthful; BusyBox forks before it even
//! reads the config): read CONFFILE (`-` = stdin) → `conf::parse` (warnings
//! logged, errors `udhcpd: FILE:N: …`, exit 1) → interface → server address
//! (`-I`, else the interface's) → pidfile → lease store (lease file +
//! journal; replayed, then compacted) → per local link (`interface`, then
//! each `network` section with an `interface`, whose interfaces were
//! checked with the first): UDP socket on `-P` (67) bound to the device,
//! raw sender, ARP prober → signal pipe → fork (unless `-f`) →
//! `started, vX` → ready (the parent exits 0 only now).
//!
//! **Loop.** One `poll` on the signal pipe and every link's UDP and ARP
//! sockets, with the earliest of: the server's probe deadline, the probers'
//! and the persister's (`auto_time`, a retry after back-off, the notify
//! debounce and kill deadline). Per wake-up at most [`BATCH`] datagrams go
//! into `Server::handle_packet`; then probes are started, the persister's
//! decisions are executed (`lease::persist`: append the server's unsynced
//! changes with **one** write + fdatasync — group commit —, compact, run
//! or kill `notify_file`) and only then are replies (the ACKs released by
//! a durable write among them) sent.
//!
//! This file decides nothing about persistence: when to append, retry,
//! compact (startup, `auto_time`, USR1, HUP, journal budget, after a
//! failed append, notify debounce) or run `notify_file` is
//! `lease::persist::Persister`'s (virtual-clock tested); which changes
//! wait and which ACKs are held is the server's; how files are written
//! safely is `lease::store`'s. A failing disk holds ACKs (clients
//! retransmit; OFFERs, NAKs and INFORM replies still go out), is retried
//! with back-off, and costs no CPU while it waits. `notify_file` runs as
//! `PROG LEASE_FILE`, started with `sys::process::start` (never waited for
//! in the loop; reaped on SIGCHLD; its process group killed when the
//! persister says it ran too long). On TERM the running script is killed,
//! then the final rewrite's run is waited for (bounded by
//! [`NOTIFY_FINAL_LIMIT`]), so no child outlives the daemon.
//! `lease_script` (`PROG add|old|del MAC IP [HOSTNAME]`, one per lease
//! event the server reports) goes through the same runner, its policy in
//! `lease::hook::Hook` (one at a time, bounded queue, killed after
//! `HOOK_LIMIT`, back-off on failed starts); killed on TERM.
//!
//! **Signals**: USR1 `received SIGUSR1`, rewrite + notify, `auto_time`
//! restarts; USR2 ignored (as BusyBox); HUP re-reads CONFFILE: a valid one
//! is applied by `Server::reconfigure` (leases kept; `interface`,
//! `lease_file` and `pidfile` changes are logged and ignored until a
//! restart, and so is a local section's interface that was not opened
//! at start), an invalid one is logged with its line and the old one stays;
//! TERM/INT `received SIGTERM`, final rewrite, pidfile removed, exit 0.

use std::fmt::Display;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{debug, error, info, warn};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use udhcp::conf::{self, ServerConfig};
use udhcp::lease::hook::{self, Hook, HOOK_LIMIT};
use udhcp::lease::persist::{Action, PersistConfig, Persister, Sizes, NOTIFY_LIMIT};
use udhcp::server::{Destination, Server};
use udhcp::sys::leasestore::{self, LeaseStore};
use udhcp::sys::net::arp::{ArpProber, ProbeResult};
use udhcp::sys::net::icmp::{IcmpProber, PingResult};
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::RawSender;
use udhcp::sys::net::udp::UdpSocket;
use udhcp::sys::pidfile::{AlreadyRunning, Pidfile};
use udhcp::sys::process::{self, Outcome, Running, Script};
use udhcp::sys::signal::{Signal, SignalPipe};
use udhcp::sys::{clock, daemon};
use udhcp::time::Instant;
use udhcp::wire::dhcp::MAX_LEN;
use udhcp::wire::MacAddr;

use crate::cli::{self, Arg, Exit, OptSpec};

/// Most datagrams read per wake-up: one group-commit batch.
pub const BATCH: usize = 64;
/// Bound on the notify_file run that follows the final rewrite on TERM.
pub const NOTIFY_FINAL_LIMIT: Duration = Duration::from_secs(5);
/// Most persister actions executed per wake-up (each answer is an append,
/// a compaction or a notify step; a handful per wake-up at most).
const MAX_ACTIONS: usize = 8;

/// Default CONFFILE.
pub const DEFAULT_CONF_FILE: &str = "/etc/udhcpd.conf";
/// Default `-a`.
pub const DEFAULT_ARPING_MS: u32 = 2000;
/// Default `-P`; clients are on the next port.
pub const DEFAULT_SERVER_PORT: u16 = 67;

/// udhcpd's command line: parsing and usage both come from these rows.
/// udhcpd has no long options (as BusyBox), except `--monitor`, which
/// main.rs takes off before parsing.
pub const SPEC: &[OptSpec] = &[
    OptSpec::short('f', Arg::None).help("Stay in the foreground"),
    OptSpec::short('S', Arg::None).help("Log to syslog as well"),
    OptSpec::short('I', Arg::Required)
        .value("ADDR")
        .help("Server address (default: the interface's address)"),
    OptSpec::short('a', Arg::Required)
        .value("MSEC")
        .help(concat!(
            "Wait MSEC ms for an ARP answer before offering an\n",
            "address (default 2000; 0: no probe)"
        )),
    OptSpec::short('P', Arg::Required)
        .value("PORT")
        .help("Server port (default 67; clients are on PORT+1)"),
    OptSpec::short('v', Arg::None)
        .repeat()
        .help("More log output (repeatable)"),
    cli::MONITOR,
    OptSpec::operand(
        "CONFFILE",
        "Configuration (default /etc/udhcpd.conf; -: stdin)",
    ),
];

/// The table with its operand, paragraph and footer.
pub const CMD: cli::Command = cli::Command {
    opts: SPEC,
    operands: "[CONFFILE]",
    max_operands: Some(1),
    about: "DHCP server",
    footer: "Signals:\n\tUSR1\tWrite the lease file now",
};

/// udhcpd's validated command line, with BusyBox's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdhcpdArgs {
    /// `-f`: do not daemonize.
    pub foreground: bool,
    /// `-S`: log to syslog too.
    pub syslog: bool,
    /// `-I`: server address as typed (BusyBox also resolves host names).
    pub server_ip: Option<String>,
    /// `-a`: ARP probe timeout in ms; 0 = no probe.
    pub arping_ms: u32,
    /// `-P`: server port (clients on port + 1).
    pub port: u16,
    /// `-v` count.
    pub verbose: u8,
    /// CONFFILE; `-` means standard input.
    pub conf_file: String,
}

impl UdhcpdArgs {
    /// CONFFILE was `-`: read the configuration from standard input.
    pub fn conf_from_stdin(&self) -> bool {
        self.conf_file == "-"
    }
}

/// Parses udhcpd's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<UdhcpdArgs, Exit> {
    let raw = cli::parse(&CMD, args)?;
    let conf_file = raw
        .operands
        .first()
        .cloned()
        .unwrap_or_else(|| DEFAULT_CONF_FILE.to_string());
    Ok(UdhcpdArgs {
        foreground: raw.flag("f"),
        syslog: raw.flag("S"),
        server_ip: raw.value("I"),
        arping_ms: match raw.value("a") {
            Some(text) => cli::number(&text, u32::MAX)?,
            None => DEFAULT_ARPING_MS,
        },
        port: match raw.value("P") {
            Some(text) => cli::port(&text)?,
            None => DEFAULT_SERVER_PORT,
        },
        verbose: raw.count("v"),
        conf_file,
    })
}

/// The applet entry point: `args` excludes argv\[0\].
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(args) => run(&args),
        Err(exit) => cli::report(name, &CMD, &exit),
    }
}

/// Starts the daemon and runs it until TERM/INT; the exit status.
fn run(args: &UdhcpdArgs) -> i32 {
    if udhcp::sys::log::init("udhcpd", args.verbose, args.syslog).is_err() {
        eprintln!("udhcpd: can't install the logger");
        return 1;
    }
    match Daemon::start(args) {
        Ok(mut d) => d.run(),
        Err(msg) => {
            error!("{msg}");
            1
        }
    }
}

/// The name CONFFILE is reported under.
fn conf_name(args: &UdhcpdArgs) -> &str {
    if args.conf_from_stdin() {
        "stdin"
    } else {
        &args.conf_file
    }
}

/// Reads and validates the configuration: `Ok` with the config and its
/// warnings, or the message to log (`can't open 'F': …`, `F:N: …`).
///
/// Relative paths (CONFFILE, `lease_file`, `pidfile`) are taken relative
/// to `base`, the directory udhcpd was started in, also after the daemon
/// has moved to `/` (a SIGHUP re-read). BusyBox daemonizes before reading
/// anything, so its relative paths are relative to `/` in the background
/// and to the start directory with `-f`.
fn load_config(args: &UdhcpdArgs, base: &Path) -> Result<(ServerConfig, Vec<String>), String> {
    let name = conf_name(args);
    let bytes = if args.conf_from_stdin() {
        let mut b = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut b)
            .map_err(|e| format!("can't read {name}: {}", strerror(&e)))?;
        b
    } else {
        std::fs::read(base.join(&args.conf_file))
            .map_err(|e| format!("can't open '{name}': {}", strerror(&e)))?
    };
    let (mut config, warnings) = parse_config(&bytes, name)?;
    for path in [&mut config.lease_file, &mut config.pidfile] {
        if Path::new(path.as_str()).is_relative() {
            *path = base.join(path.as_str()).to_string_lossy().into_owned();
        }
    }
    Ok((config, warnings))
}

/// Parses config bytes; invalid UTF-8 is reported with its line.
pub fn parse_config(bytes: &[u8], name: &str) -> Result<(ServerConfig, Vec<String>), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        format!("{name}:{line}: not valid UTF-8")
    })?;
    let parsed = conf::parse(text, name).map_err(|e| e.to_string())?;
    Ok((parsed.config, parsed.warnings))
}

/// The bare strerror text of an I/O error.
fn strerror(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// `-I ADDR`: a dotted quad, else a host name resolved with the system
/// resolver (std's `getaddrinfo`), first IPv4 address; BusyBox resolves too.
fn resolve_server_ip(text: &str) -> Result<Ipv4Addr, String> {
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    (text, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| {
            it.find_map(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            })
        })
        .ok_or_else(|| format!("bad address '{text}'"))
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One local link: the interface of the top-level network (link 0) or of
/// a local `network` section, with its sockets.
#[derive(Debug)]
struct Link {
    iface: Interface,
    /// The address replies and probes on this link come from.
    ip: Ipv4Addr,
    udp: UdpSocket,
    raw: RawSender,
    prober: Option<ArpProber>,
}

impl Link {
    /// Opens the UDP socket on `port` (bound to the interface), the raw
    /// sender and, with probing on, the ARP prober.
    fn open(iface: Interface, ip: Ipv4Addr, port: u16, arping_ms: u32) -> Result<Link, String> {
        let udp = UdpSocket::open(&iface.name, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| e.to_string())?;
        let raw = RawSender::open(iface.ifindex).map_err(|e| format!("socket(PACKET): {e}"))?;
        let prober = if arping_ms == 0 {
            None
        } else {
            match ArpProber::open(iface.ifindex) {
                Ok(p) => Some(p),
                Err(e) => {
                    // BusyBox treats an ARP socket failure as "free".
                    warn!("can't open ARP socket, offering without probing: {e}");
                    None
                }
            }
        };
        Ok(Link {
            iface,
            ip,
            udp,
            raw,
            prober,
        })
    }
}

/// Opens the ICMP prober if `config` has a relayed network with
/// `ping_check` and probing is on; a failure is logged and those
/// networks' addresses count as free (as BusyBox does for ARP).
fn open_icmp(config: &ServerConfig, arping_ms: u32) -> Option<IcmpProber> {
    let wanted = config
        .networks
        .iter()
        .any(|n| n.local.is_none() && n.config.ping_check);
    if !wanted || arping_ms == 0 {
        return None;
    }
    match IcmpProber::open() {
        Ok(p) => Some(p),
        Err(e) => {
            warn!("can't open ICMP socket, ping_check off: {e}");
            None
        }
    }
}

/// The interface `name` and its address (`-I` for the top-level one).
fn query_link(name: &str, ip: Option<Ipv4Addr>) -> Result<(Interface, Ipv4Addr), String> {
    let iface = Interface::query(name).map_err(|e| e.to_string())?;
    let ip = match ip.or(iface.ipv4) {
        Some(ip) => ip,
        None => {
            return Err(format!(
                "is interface {name} up and configured?: {}",
                Errno::EADDRNOTAVAIL.desc()
            ))
        }
    };
    Ok((iface, ip))
}

/// The running server with everything it owns.
#[derive(Debug)]
struct Daemon {
    args: UdhcpdArgs,
    /// The start directory (relative paths in the config).
    cwd: PathBuf,
    /// The local links, in the server's link order (0: `interface`).
    links: Vec<Link>,
    /// The ICMP echo prober of relayed networks with `ping_check`.
    icmp: Option<IcmpProber>,
    server: Server,
    store: LeaseStore,
    persister: Persister,
    signals: SignalPipe,
    pidfile: Pidfile,
    /// The notify_file run in progress.
    notify: Option<Running>,
    /// The lease_script policy (`lease::hook`) and its run in progress.
    hook: Hook,
    hook_run: Option<Running>,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Daemon {
    /// Everything up to and including "ready" (see the module doc).
    fn start(args: &UdhcpdArgs) -> Result<Daemon, String> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let (config, warnings) = load_config(args, &cwd)?;
        for w in &warnings {
            warn!("{w}");
        }
        let fixed_ip = match &args.server_ip {
            Some(text) => Some(resolve_server_ip(text)?),
            None => None,
        };
        let (iface, server_ip) = query_link(&config.interface, fixed_ip)?;
        debug!("IP {server_ip}");
        // The interfaces of local `network` sections. One that is missing
        // or has no address costs its network only (a guest Wi-Fi that is
        // not up yet must not keep the LAN from its DHCP server): logged,
        // and the server leaves that network unserved until a restart.
        let mut locals = Vec::new();
        for n in &config.networks {
            if let Some(name) = &n.local {
                match query_link(name, None) {
                    Ok((i, ip)) => {
                        debug!("network {}: {name}, IP {ip}", n.name);
                        locals.push((i, ip));
                    }
                    Err(e) => warn!("network {}: {e}", n.name),
                }
            }
        }
        let pidfile = Pidfile::create(&config.pidfile).map_err(|e| {
            match e.get_ref().and_then(|i| i.downcast_ref::<AlreadyRunning>()) {
                Some(ar) => format!("'{}': {ar}", config.pidfile),
                None => format!("can't open '{}': {}", config.pidfile, strerror(&e)),
            }
        })?;
        let (store, records, store_warnings) =
            leasestore::open(Path::new(&config.lease_file), clock::wall_now())
                .map_err(|e| e.to_string())?;
        for w in &store_warnings {
            warn!("{w}");
        }
        let mut links = vec![Link::open(iface, server_ip, args.port, args.arping_ms)?];
        for (i, ip) in locals {
            let name = i.name.clone();
            match Link::open(i, ip, args.port, args.arping_ms) {
                Ok(l) => links.push(l),
                Err(e) => warn!("interface {name}: {e}"),
            }
        }
        let signals = SignalPipe::install(&[
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGCHLD,
        ])
        .map_err(|e| format!("can't install signal handlers: {e}"))?;
        let now = clock::now();
        let persister = Persister::new(PersistConfig::from_server(&config), now);
        let icmp = open_icmp(&config, args.arping_ms);
        let names = links.iter().map(|l| (l.iface.name.clone(), l.ip)).collect();
        let mut server = Server::with_links(config, names, args.arping_ms);
        server.load(now, records);
        let mut d = Daemon {
            args: args.clone(),
            cwd,
            links,
            icmp,
            server,
            store,
            persister,
            signals,
            pidfile,
            notify: None,
            hook: Hook::new(),
            hook_run: None,
            rx: vec![0; MAX_LEN],
            tx: vec![0; MAX_LEN],
        };
        // The persister's first answer: the replayed journal folded into a
        // fresh lease file. A failure is not fatal: the journal still holds
        // every lease, and it is retried with back-off.
        d.persist(now);
        if !d.args.foreground {
            let ready = daemon::daemonize().map_err(|e| format!("can't fork: {e}"))?;
            d.pidfile
                .rewrite_pid()
                .map_err(|e| format!("can't write '{}': {e}", d.server.config().pidfile))?;
            info!("started, v{}", env!("CARGO_PKG_VERSION"));
            ready.ready().map_err(|e| format!("can't detach: {e}"))?;
        } else {
            info!("started, v{}", env!("CARGO_PKG_VERSION"));
        }
        Ok(d)
    }

    /// The client port: server port + 1.
    fn client_port(&self) -> u16 {
        self.args.port.wrapping_add(1)
    }

    /// The loop; returns the exit status.
    fn run(&mut self) -> i32 {
        let mut sigs = Vec::new();
        let mut ready: Vec<(bool, bool)> = Vec::new();
        loop {
            let now = clock::now();
            let timeout = match self.next_deadline() {
                None => PollTimeout::NONE,
                Some(d) => {
                    let ms = d.saturating_duration_since(now).as_millis();
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
            };
            // Readiness of the signal pipe, then of each link's UDP and
            // ARP sockets.
            let sig_ready;
            let icmp_ready;
            ready.clear();
            {
                let mut fds = vec![PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
                for l in &self.links {
                    fds.push(PollFd::new(l.udp.as_fd(), PollFlags::POLLIN));
                    if let Some(p) = &l.prober {
                        fds.push(PollFd::new(p.fd(), PollFlags::POLLIN));
                    }
                }
                if let Some(p) = &self.icmp {
                    fds.push(PollFd::new(p.fd(), PollFlags::POLLIN));
                }
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        error!("poll: {e}");
                        return 1;
                    }
                }
                let mut next = fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()));
                sig_ready = next.next().unwrap_or(false);
                for l in &self.links {
                    let udp = next.next().unwrap_or(false);
                    let arp = l.prober.is_some() && next.next().unwrap_or(false);
                    ready.push((udp, arp));
                }
                icmp_ready = self.icmp.is_some() && next.next().unwrap_or(false);
            }
            let now = clock::now();
            if sig_ready {
                sigs.clear();
                self.signals.drain(&mut sigs);
                for &sig in &sigs {
                    if let Some(code) = self.handle_signal(sig) {
                        return code;
                    }
                }
            }
            for (i, &(udp, arp)) in ready.iter().enumerate() {
                if udp {
                    if let Err(msg) = self.receive(now, i) {
                        error!("{msg}");
                        return 1;
                    }
                }
                self.handle_probes(now, i, arp);
            }
            self.handle_pings(now, icmp_ready);
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
            self.pump(now);
        }
    }

    /// The earliest moment the loop must wake without I/O.
    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.server.poll_timeout();
        for l in &self.links {
            d = earliest(d, l.prober.as_ref().and_then(ArpProber::next_deadline));
        }
        d = earliest(d, self.icmp.as_ref().and_then(IcmpProber::next_deadline));
        d = earliest(d, self.hook.poll_timeout());
        earliest(d, self.persister.poll_timeout())
    }

    /// Reads up to [`BATCH`] datagrams of link `link` into the server.
    /// `Err`: the socket failed and could not be reopened (BusyBox dies
    /// there too).
    fn receive(&mut self, now: Instant, link: usize) -> Result<(), String> {
        let Some(l) = self.links.get_mut(link) else {
            return Ok(());
        };
        for _ in 0..BATCH {
            match l.udp.recv(&mut self.rx) {
                Ok(None) => break,
                Ok(Some(got)) if got.truncated => {
                    debug!("oversized packet from {}, ignoring", got.src);
                }
                Ok(Some(got)) => {
                    let bytes = self.rx.get(..got.len).unwrap_or_default();
                    self.server.handle_packet_on(now, link, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("read error: {}, reopening socket", strerror(&e));
                    l.udp = UdpSocket::open(
                        &l.iface.name,
                        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.args.port),
                    )
                    .map_err(|e| e.to_string())?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Reads ARP answers of link `link`, expires its probes, and feeds
    /// results to the server.
    fn handle_probes(&mut self, now: Instant, link: usize, readable: bool) {
        let Some(prober) = self.links.get_mut(link).and_then(|l| l.prober.as_mut()) else {
            return;
        };
        if readable {
            if let Err(e) = prober.handle_readable(now) {
                debug!("ARP read error: {e}");
            }
        }
        prober.handle_timeout(now);
        while let Some((ip, result)) = prober.poll_result() {
            let in_use = match result {
                ProbeResult::InUse(mac) => {
                    debug!("ARP reply received for this address ({ip} at {mac})");
                    true
                }
                ProbeResult::Free => false,
            };
            self.server.handle_probe(now, ip, in_use);
        }
    }

    /// Reads ICMP echo replies, expires pings, and feeds results to the
    /// server.
    fn handle_pings(&mut self, now: Instant, readable: bool) {
        let Some(icmp) = self.icmp.as_mut() else {
            return;
        };
        if readable {
            if let Err(e) = icmp.handle_readable(now) {
                debug!("ICMP read error: {e}");
            }
        }
        icmp.handle_timeout(now);
        while let Some((ip, result)) = icmp.poll_result() {
            let in_use = result == PingResult::InUse;
            if in_use {
                debug!("ICMP echo reply received from {ip}");
            } else {
                debug!("ICMP: no echo reply from {ip}");
            }
            self.server.handle_probe(now, ip, in_use);
        }
    }

    /// Drains the server's outputs: probes, then durability, then replies.
    fn pump(&mut self, now: Instant) {
        while let Some(p) = self.server.poll_probe() {
            let deadline = now + Duration::from_millis(u64::from(self.args.arping_ms));
            let link = self.links.get_mut(p.link);
            let started = if p.icmp {
                self.icmp.as_mut().is_some_and(|icmp| {
                    icmp.start(p.ip, deadline)
                        .map_err(|e| debug!("ICMP probe of {} not sent: {e}", p.ip))
                        .is_ok()
                })
            } else {
                match link.and_then(|l| Some((l.ip, l.iface.mac, l.prober.as_mut()?))) {
                    Some((ip, mac, prober)) => prober
                        .start(p.ip, ip, mac, Some(p.safe_mac), deadline)
                        .map_err(|e| debug!("ARP probe of {} not sent: {e}", p.ip))
                        .is_ok(),
                    None => false,
                }
            };
            if !started {
                // No prober, or the send failed: the address counts as free.
                self.server.handle_probe(now, p.ip, false);
            }
        }
        self.persist(now);
        self.transmit();
        self.run_hook(now);
    }

    /// Moves the server's lease events to the hook and executes its
    /// decisions (`lease::hook`): one `lease_script` run at a time, never
    /// waited for here (reaped on SIGCHLD), killed past [`HOOK_LIMIT`].
    fn run_hook(&mut self, now: Instant) {
        while let Some(e) = self.server.poll_event() {
            self.hook.push(e);
        }
        let dropped = self.hook.take_dropped() + self.server.take_events_dropped();
        if dropped > 0 {
            warn!("lease_script: {dropped} events dropped (script too slow)");
        }
        for _ in 0..MAX_ACTIONS {
            match self.hook.poll_action(now) {
                hook::Action::Run(e) => {
                    let started = self.spawn_hook(&e);
                    self.hook.handle_started(now, started);
                }
                hook::Action::Kill => {
                    if let Some(r) = self.hook_run.take() {
                        error!(
                            "lease_script '{}' still running after {} s, killing it",
                            r.program().display(),
                            HOOK_LIMIT.as_secs()
                        );
                        let _ = r.kill();
                    }
                    self.hook.handle_exited(now);
                }
                hook::Action::Idle => break,
            }
        }
    }

    /// Starts `lease_script add|old|del MAC IP [HOSTNAME]`; true if it runs.
    fn spawn_hook(&mut self, e: &hook::Event) -> bool {
        let Some(prog) = self.server.config().lease_script.clone() else {
            return false;
        };
        let mut script = Script::new(&prog);
        for a in e.args() {
            script = script.arg(a);
        }
        match process::start(&script, HOOK_LIMIT) {
            Ok(r) => {
                debug!("lease_script '{prog}' started, pid {}", r.pid());
                self.hook_run = Some(r);
                true
            }
            Err(err) => {
                warn!("can't run lease_script '{prog}': {}", strerror(&err));
                false
            }
        }
    }

    /// Reaps a finished lease_script run.
    fn reap_hook(&mut self) {
        let Some(r) = self.hook_run.as_mut() else {
            return;
        };
        match r.try_reap() {
            Ok(None) => {}
            Ok(Some(outcome)) => {
                debug!("lease_script '{}': {outcome:?}", r.program().display());
                self.hook_run = None;
                self.hook.handle_exited(clock::now());
            }
            Err(e) => {
                debug!("lease_script: {e}");
                self.hook_run = None;
                self.hook.handle_exited(clock::now());
            }
        }
    }

    /// Executes the persister's decisions until it has nothing to do now.
    fn persist(&mut self, now: Instant) {
        for _ in 0..MAX_ACTIONS {
            let sizes = Sizes {
                unsynced: self.server.unsynced_len(),
                journal_len: self.store.journal_len(),
                compacted_len: self.store.compacted_len(),
                table_len: self.server.table_len(),
            };
            match self.persister.poll_action(now, &sizes) {
                Action::Append => {
                    let through = self.server.persist_seq();
                    let r = self.store.append(clock::wall_now(), self.server.unsynced());
                    if r.is_ok() {
                        self.server.handle_persisted(now, through);
                    }
                    let r = r.as_ref().map(|_| ()).map_err(|e| e as &dyn Display);
                    self.persister.handle_append(now, r);
                }
                Action::Compact => {
                    let through = self.server.persist_seq();
                    let r = self
                        .store
                        .compact(clock::wall_now(), || self.server.leases(now));
                    if r.is_ok() {
                        self.server.handle_persisted(now, through);
                    }
                    let r = r.as_ref().map(|_| ()).map_err(|e| e as &dyn Display);
                    self.persister.handle_compact(now, r);
                }
                Action::Notify => {
                    let started = self.spawn_notify();
                    self.persister.handle_notify_started(now, started);
                }
                Action::KillNotify => {
                    if let Some(r) = self.notify.take() {
                        error!(
                            "notify_file '{}' still running after {} s, killing it",
                            r.program().display(),
                            NOTIFY_LIMIT.as_secs()
                        );
                        let _ = r.kill();
                    }
                    self.persister.handle_notify_exited(now);
                }
                Action::Idle => break,
            }
        }
    }

    /// Sends every queued reply.
    fn transmit(&mut self) {
        let (sport, cport) = (self.args.port, self.client_port());
        while let Some(t) = self.server.poll_transmit(&mut self.tx) {
            let payload = self.tx.get(..t.len).unwrap_or_default();
            let Some(l) = self.links.get(t.link) else {
                continue;
            };
            let sent = match t.dest {
                Destination::Relay(giaddr) => {
                    l.udp.send_to(payload, SocketAddrV4::new(giaddr, sport))
                }
                Destination::Broadcast => l.raw.send(
                    MacAddr::BROADCAST,
                    l.ip,
                    sport,
                    Ipv4Addr::BROADCAST,
                    cport,
                    payload,
                ),
                Destination::Unicast { ip, mac } => {
                    l.raw.send(mac, l.ip, sport, ip, cport, payload)
                }
            };
            if let Err(e) = sent {
                warn!("sendto {:?}: {}", t.dest, strerror(&e));
            }
        }
    }

    /// Starts `notify_file LEASE_FILE` without waiting; true if it runs.
    fn spawn_notify(&mut self) -> bool {
        let config = self.server.config();
        let Some(prog) = config.notify_file.clone() else {
            return false;
        };
        let script = Script::new(&prog).arg(&config.lease_file);
        match process::start(&script, NOTIFY_LIMIT) {
            Ok(r) => {
                debug!("notify_file '{prog}' started, pid {}", r.pid());
                self.notify = Some(r);
                true
            }
            // BusyBox ignores a missing script silently.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                debug!("notify_file '{prog}': {}", strerror(&e));
                false
            }
            Err(e) => {
                warn!("can't run notify_file '{prog}': {}", strerror(&e));
                false
            }
        }
    }

    /// Reaps a finished notify_file run.
    fn reap_notify(&mut self) {
        let Some(r) = self.notify.as_mut() else {
            return;
        };
        match r.try_reap() {
            Ok(None) => {}
            Ok(Some(outcome)) => {
                debug!("notify_file '{}': {outcome:?}", r.program().display());
                self.notify = None;
                self.persister.handle_notify_exited(clock::now());
            }
            Err(e) => {
                debug!("notify_file: {e}");
                self.notify = None;
                self.persister.handle_notify_exited(clock::now());
            }
        }
    }

    /// One signal; `Some(status)` to exit.
    fn handle_signal(&mut self, sig: Signal) -> Option<i32> {
        let now = clock::now();
        match sig {
            Signal::SIGUSR1 => {
                info!("received SIGUSR1");
                self.persister.request_compaction(now);
            }
            Signal::SIGUSR2 => {}
            Signal::SIGCHLD => {
                self.reap_notify();
                self.reap_hook();
            }
            Signal::SIGHUP => self.reload(now),
            Signal::SIGTERM | Signal::SIGINT => return Some(self.shutdown(sig)),
            _ => {}
        }
        None
    }

    /// SIGHUP: re-read CONFFILE; apply it if valid, else keep the old one.
    fn reload(&mut self, now: Instant) {
        info!("received SIGHUP");
        if self.args.conf_from_stdin() {
            warn!("config was read from stdin, can't re-read it; keeping it");
            return;
        }
        let (mut config, warnings) = match load_config(&self.args, &self.cwd) {
            Ok(c) => c,
            Err(msg) => {
                error!("{msg}; keeping the old config");
                return;
            }
        };
        for w in &warnings {
            warn!("{w}");
        }
        let old = self.server.config();
        let fixed: [(&str, &mut String, &String); 3] = [
            ("interface", &mut config.interface, &old.interface),
            ("lease_file", &mut config.lease_file, &old.lease_file),
            ("pidfile", &mut config.pidfile, &old.pidfile),
        ];
        for (kw, new, old) in fixed {
            if new != old {
                warn!("{kw} changed to '{new}': ignored until restart");
                new.clone_from(old);
            }
        }
        // Replies and records already queued stay; so do the leases.
        self.pump(now);
        self.persister
            .set_config(PersistConfig::from_server(&config), now);
        if self.icmp.is_none() {
            self.icmp = open_icmp(&config, self.args.arping_ms);
        }
        self.server.reconfigure(config, now);
        info!("config '{}' reloaded", self.args.conf_file);
        // Entries the new pool or max_leases dropped are in no journal
        // entry: the rewrite makes the table on disk the new one.
        self.persister.request_compaction(now);
    }

    /// TERM/INT: final rewrite (+ notify, bounded), pidfile removed, exit 0.
    fn shutdown(&mut self, sig: Signal) -> i32 {
        info!("received {}", sig.as_str());
        if let Some(r) = self.notify.take() {
            let _ = r.kill();
        }
        if let Some(r) = self.hook_run.take() {
            let _ = r.kill();
        }
        let now = clock::now();
        // ACKs still held are not sent; their records are still written.
        let through = self.server.persist_seq();
        let written = self
            .store
            .compact(clock::wall_now(), || self.server.leases(now));
        if let Err(e) = &written {
            error!("{e}");
        } else {
            self.server.handle_persisted(now, through);
        }
        if written.is_ok() {
            if let Some(prog) = self.server.config().notify_file.clone() {
                let script = Script::new(&prog).arg(&self.server.config().lease_file);
                match process::run(&script, &mut self.signals, NOTIFY_FINAL_LIMIT) {
                    Ok(o @ (Outcome::TimedOut | Outcome::Interrupted(_))) => {
                        warn!("notify_file '{prog}': {o:?}");
                    }
                    Ok(_) => {}
                    Err(e) => warn!("can't run notify_file '{prog}': {e}"),
                }
            }
        }
        if let Err(e) = self.pidfile.remove() {
            warn!("can't remove '{}': {e}", self.pidfile.path().display());
        }
        0
    }
}
