//! dhcprelay, the DHCP relay agent applet: BusyBox's command line
//! `dhcprelay CLIENT_IFACE[,CLIENT_IFACE2]... SERVER_IFACE [SERVER_IP]`
//! (reference §7.1) and the poll loop that drives the sans-I/O
//! [`Relay`] (src/relay.rs).
//!
//! **Startup**, as BusyBox: foreground, no fork. Interfaces are queried
//! once (server interface first); the server interface's port-67 socket
//! is opened first, then one per client interface, each bound to its
//! device, plus a send-only raw socket per client interface for replies to
//! clients that have no address yet. Any failure: a message and exit 1.
//!
//! **Loop.** One `poll` over the signal pipe and every socket, no timeout
//! (the relay has no timers: expired requests are purged whenever a
//! packet arrives). Per wake-up at most [`BATCH`] datagrams per socket.
//! Sends never block (the sockets are non-blocking; a full buffer drops
//! the packet, DHCP retransmits).
//!
//! **Signals**: TERM/INT log `received SIGTERM`, remove the pidfile (if
//! `--pidfile`), exit 0. BusyBox installs no handler (it dies of the
//! signal).
//!
//! Added options, long only (BusyBox's dhcprelay has none):
//! `--pidfile FILE`, `--remote-id ID` (option 82 sub-option 2),
//! `--link-selection` (RFC 3527: giaddr = the server interface's address,
//! the client interface's in sub-option 5), `--no-option82`,
//! `--verbose` (repeatable; one shows every relayed and dropped packet),
//! `--syslog`.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;

use log::{debug, error, info, warn};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use udhcp::relay::{
    ClientDest, ClientIface, Dest, Note, Relay, RelayConfig, Transmit, CLIENT_PORT, SERVER_PORT,
};
use udhcp::sys::clock;
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::raw::RawSender;
use udhcp::sys::net::udp::UdpSocket;
use udhcp::sys::pidfile::{AlreadyRunning, Pidfile};
use udhcp::sys::signal::{Signal, SignalPipe};
use udhcp::wire::dhcp::MAX_LEN;

use crate::cli::{self, Arg, Exit, OptSpec};

/// Most datagrams read from one socket per wake-up.
pub const BATCH: usize = 32;

/// dhcprelay's command line: parsing and usage both come from these rows.
/// Long options only, none of them BusyBox's.
pub const SPEC: &[OptSpec] = &[
    OptSpec::long_only("pidfile", Arg::Required)
        .value("FILE")
        .help("Write the process id to FILE"),
    OptSpec::long_only("remote-id", Arg::Required)
        .value("ID")
        .help("Option 82 remote-id (default: none)"),
    OptSpec::long_only("link-selection", Arg::None).help(concat!(
        "giaddr = SERVER_IFACE's address, the client\n",
        "interface's address in option 82.5 (RFC 3527)"
    )),
    OptSpec::long_only("no-option82", Arg::None).help("Do not add option 82 (as BusyBox)"),
    OptSpec::long_only("verbose", Arg::None)
        .repeat()
        .help("Log every packet (repeatable)"),
    OptSpec::long_only("syslog", Arg::None).help("Log to syslog as well"),
];

/// The table with its operands and paragraph. The operands are counted
/// here, not by the table: too few prints the usage alone.
pub const CMD: cli::Command = cli::Command {
    opts: SPEC,
    operands: "CLIENT_IFACE[,CLIENT_IFACE2]... SERVER_IFACE [SERVER_IP]",
    max_operands: None,
    about: concat!(
        "Relay DHCP requests between clients and server.\n",
        "Without SERVER_IP, requests are broadcast on SERVER_IFACE."
    ),
    footer: "",
};

/// dhcprelay's validated command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayArgs {
    /// Client interfaces, in order.
    pub clients: Vec<String>,
    /// Server interface.
    pub server_iface: String,
    /// Where requests go (default 255.255.255.255).
    pub server_ip: Ipv4Addr,
    /// `--pidfile`.
    pub pidfile: Option<String>,
    /// `--remote-id`.
    pub remote_id: Option<String>,
    /// `--link-selection`.
    pub link_selection: bool,
    /// Not `--no-option82`.
    pub option82: bool,
    /// `--verbose` count.
    pub verbose: u8,
    /// `--syslog`.
    pub syslog: bool,
}

/// How parsing ends without a configuration. A missing argument prints
/// the usage alone (BusyBox `bb_show_usage`).
#[derive(Debug, PartialEq, Eq)]
pub enum ParseEnd {
    /// Report this.
    Exit(Exit),
    /// Usage only, exit 1.
    BareUsage,
}

/// Parses dhcprelay's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<RelayArgs, ParseEnd> {
    let raw = cli::parse(&CMD, args).map_err(ParseEnd::Exit)?;
    let mut a = RelayArgs {
        clients: Vec::new(),
        server_iface: String::new(),
        server_ip: Ipv4Addr::BROADCAST,
        pidfile: raw.value("pidfile"),
        remote_id: raw.value("remote-id"),
        link_selection: raw.flag("link-selection"),
        option82: !raw.flag("no-option82"),
        verbose: raw.count("verbose"),
        syslog: raw.flag("syslog"),
    };
    let mut pos = raw.operands.into_iter();
    let (Some(clients), Some(server_iface)) = (pos.next(), pos.next()) else {
        return Err(ParseEnd::BareUsage);
    };
    if let Some(ip) = pos.next() {
        a.server_ip = ip
            .parse()
            .map_err(|_| ParseEnd::Exit(Exit::Fail("bad server IP".into())))?;
    }
    if let Some(extra) = pos.next() {
        return Err(ParseEnd::Exit(Exit::Usage(format!(
            "unexpected argument '{extra}'"
        ))));
    }
    a.clients = clients.split(',').map(str::to_string).collect();
    a.server_iface = server_iface;
    Ok(a)
}

/// The applet entry point: `args` excludes argv\[0\].
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(args) => run(&args),
        Err(ParseEnd::Exit(exit)) => cli::report(name, &CMD, &exit),
        Err(ParseEnd::BareUsage) => {
            let _ = cli::write_usage(&mut io::stderr().lock(), name, &CMD);
            1
        }
    }
}

fn run(args: &RelayArgs) -> i32 {
    if udhcp::sys::log::init("dhcprelay", args.verbose, args.syslog).is_err() {
        eprintln!("dhcprelay: can't install the logger");
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

/// One client interface's sockets.
#[derive(Debug)]
struct ClientSide {
    name: String,
    udp: UdpSocket,
    raw: RawSender,
}

#[derive(Debug)]
struct Daemon {
    relay: Relay,
    server: UdpSocket,
    clients: Vec<ClientSide>,
    signals: SignalPipe,
    pidfile: Option<Pidfile>,
    rx: Vec<u8>,
}

impl Daemon {
    fn start(args: &RelayArgs) -> Result<Daemon, String> {
        // First: a TERM while the sockets are being opened is then handled
        // by the loop, not by the default action.
        let signals = SignalPipe::install(&[Signal::SIGTERM, Signal::SIGINT])
            .map_err(|e| format!("can't install signal handlers: {e}"))?;
        let server_iface = Interface::query(&args.server_iface).map_err(|e| e.to_string())?;
        let mut ifaces = Vec::with_capacity(args.clients.len());
        for name in &args.clients {
            ifaces.push(Interface::query(name).map_err(|e| e.to_string())?);
        }
        let config = RelayConfig {
            clients: ifaces
                .iter()
                .map(|i| ClientIface {
                    name: i.name.clone(),
                    addr: i.ipv4,
                })
                .collect(),
            server_iface_addr: server_iface.ipv4,
            server: args.server_ip,
            option82: args.option82,
            remote_id: args.remote_id.as_ref().map(|s| s.as_bytes().to_vec()),
            link_selection: args.link_selection,
        };
        let relay = Relay::new(config).map_err(|e| e.to_string())?;
        let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        let server =
            UdpSocket::open(&args.server_iface, any(SERVER_PORT)).map_err(|e| e.to_string())?;
        let mut clients = Vec::with_capacity(ifaces.len());
        for (k, i) in ifaces.iter().enumerate() {
            let udp = UdpSocket::open(&i.name, any(SERVER_PORT)).map_err(|e| e.to_string())?;
            let raw = RawSender::open(i.ifindex).map_err(|e| format!("socket(PACKET): {e}"))?;
            debug!(
                "client interface {} giaddr {}",
                i.name,
                relay.giaddr(k).unwrap_or(Ipv4Addr::UNSPECIFIED)
            );
            clients.push(ClientSide {
                name: i.name.clone(),
                udp,
                raw,
            });
        }
        let pidfile = match &args.pidfile {
            None => None,
            Some(path) => Some(Pidfile::create(path).map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<AlreadyRunning>()) {
                    Some(ar) => format!("'{path}': {ar}"),
                    None => format!("can't open '{path}': {}", strerror(&e)),
                }
            })?),
        };
        info!("started, v{}", env!("CARGO_PKG_VERSION"));
        Ok(Daemon {
            relay,
            server,
            clients,
            signals,
            pidfile,
            rx: vec![0; MAX_LEN],
        })
    }

    fn run(&mut self) -> i32 {
        let n = self.clients.len();
        loop {
            let ready: Vec<bool> = {
                let mut fds = Vec::with_capacity(n + 2);
                fds.push(PollFd::new(self.signals.fd(), PollFlags::POLLIN));
                fds.push(PollFd::new(self.server.as_fd(), PollFlags::POLLIN));
                for c in &self.clients {
                    fds.push(PollFd::new(c.udp.as_fd(), PollFlags::POLLIN));
                }
                match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        error!("poll: {e}");
                        return 1;
                    }
                }
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect()
            };
            if ready.first() == Some(&true) {
                while let Some(sig) = self.signals.take() {
                    if matches!(sig, Signal::SIGTERM | Signal::SIGINT) {
                        info!("received {}", sig.as_str());
                        if let Some(p) = &mut self.pidfile {
                            let _ = p.remove();
                        }
                        return 0;
                    }
                }
            }
            if ready.get(1) == Some(&true) {
                if let Err(msg) = self.receive(None) {
                    error!("{msg}");
                    return 1;
                }
            }
            for k in 0..n {
                if ready.get(k + 2) == Some(&true) {
                    if let Err(msg) = self.receive(Some(k)) {
                        error!("{msg}");
                        return 1;
                    }
                }
            }
        }
    }

    /// Reads up to [`BATCH`] datagrams from the server socket (`None`) or
    /// client socket `k` and relays them. `Err` only for a socket that is
    /// unusable (not a transient error such as a queued ICMP error).
    fn receive(&mut self, side: Option<usize>) -> Result<(), String> {
        for _ in 0..BATCH {
            let sock = match side {
                None => &self.server,
                Some(k) => match self.clients.get(k) {
                    Some(c) => &c.udp,
                    None => return Ok(()),
                },
            };
            let got = match sock.recv(&mut self.rx) {
                Ok(None) => return Ok(()),
                Ok(Some(got)) => got,
                Err(e) => match e.raw_os_error().map(Errno::from_raw) {
                    Some(Errno::EINTR | Errno::ECONNREFUSED | Errno::EHOSTUNREACH)
                    | Some(Errno::ENETUNREACH | Errno::ENOBUFS | Errno::ENOMEM) => {
                        debug!("recv: {}", strerror(&e));
                        continue;
                    }
                    _ => return Err(format!("recv: {}", strerror(&e))),
                },
            };
            if got.truncated {
                debug!("oversized packet from {}, ignoring", got.src);
                continue;
            }
            let now = clock::now();
            let bytes = self.rx.get(..got.len).unwrap_or_default();
            let (from, result) = match side {
                None => ("server side", self.relay.handle_server(now, got.src, bytes)),
                Some(k) => (
                    self.clients.get(k).map_or("?", |c| c.name.as_str()),
                    self.relay.handle_client(now, k, got.src, bytes),
                ),
            };
            match result {
                Ok(tx) => self.send(&tx),
                Err(why) => debug!("dropped packet from {} on {from}: {why}", got.src),
            }
        }
        Ok(())
    }

    fn send(&self, tx: &Transmit) {
        if tx.note == Some(Note::NoRoomForOption82) {
            warn!("no room for option 82, relaying without it");
        }
        let result = match tx.dest {
            Dest::Server(dst) => {
                debug!("relaying {} bytes to {dst}", tx.payload.len());
                self.server.send_to(&tx.payload, dst)
            }
            Dest::Client { iface, how } => {
                let Some(c) = self.clients.get(iface) else {
                    return;
                };
                debug!(
                    "relaying {} bytes to client on {} ({how:?})",
                    tx.payload.len(),
                    c.name
                );
                match how {
                    ClientDest::Broadcast => c.udp.send_to(
                        &tx.payload,
                        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
                    ),
                    ClientDest::Unicast(ip) => c
                        .udp
                        .send_to(&tx.payload, SocketAddrV4::new(ip, CLIENT_PORT)),
                    ClientDest::Frame { mac, ip, src } => {
                        c.raw
                            .send(mac, src, SERVER_PORT, ip, CLIENT_PORT, &tx.payload)
                    }
                }
            }
        };
        if let Err(e) = result {
            // BusyBox: bb_perror_msg("sendto"); carries on.
            warn!("sendto: {}", strerror(&e));
        }
    }
}

/// An OS error as `strerror` text.
fn strerror(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn busybox_command_line() {
        let a = parse_args(&args(&["eth0,eth2", "eth1"])).unwrap();
        assert_eq!(a.clients, vec!["eth0", "eth2"]);
        assert_eq!(a.server_iface, "eth1");
        assert_eq!(a.server_ip, Ipv4Addr::BROADCAST);
        assert!(a.option82);
        let a = parse_args(&args(&["eth0", "eth1", "10.0.0.2"])).unwrap();
        assert_eq!(a.server_ip, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn missing_arguments_are_bare_usage() {
        assert_eq!(parse_args(&[]).unwrap_err(), ParseEnd::BareUsage);
        assert_eq!(
            parse_args(&args(&["eth0"])).unwrap_err(),
            ParseEnd::BareUsage
        );
    }

    #[test]
    fn bad_server_ip() {
        for bad in ["10.0.0", "host", "1.2.3.256", ""] {
            assert_eq!(
                parse_args(&args(&["eth0", "eth1", bad])).unwrap_err(),
                ParseEnd::Exit(Exit::Fail("bad server IP".into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn long_options() {
        let a = parse_args(&args(&[
            "--pidfile",
            "/run/r.pid",
            "eth0",
            "--remote-id=gw1",
            "eth1",
            "--link-selection",
            "--no-option82",
            "--verbose",
            "--verbose",
            "--syslog",
        ]))
        .unwrap();
        assert_eq!(a.pidfile.as_deref(), Some("/run/r.pid"));
        assert_eq!(a.remote_id.as_deref(), Some("gw1"));
        assert!(a.link_selection && !a.option82 && a.syslog);
        assert_eq!(a.verbose, 2);
        assert_eq!(
            parse_args(&args(&["--help"])).unwrap_err(),
            ParseEnd::Exit(Exit::Help)
        );
        assert!(matches!(
            parse_args(&args(&["-v", "eth0", "eth1"])).unwrap_err(),
            ParseEnd::Exit(Exit::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["eth0", "eth1", "1.2.3.4", "x"])).unwrap_err(),
            ParseEnd::Exit(Exit::Usage(_))
        ));
    }
}
