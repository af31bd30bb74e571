//! udhcpc6, the DHCPv6 client applet: BusyBox's `d6_dhcpc.c` command line
//! (`i:np:qRr:s:T:t:SA:O:ox:fbdlP:v`, long names as BusyBox) and the thin
//! driver around [`udhcp::client6::Client6`].
//!
//! Startup as udhcpc: parse, query the interface (exit 1 if that fails),
//! logger, pidfile, signal pipe (USR1 renew, USR2 release, TERM/INT exit),
//! `started, vX`, then one `poll(2)` loop over the signal pipe and the
//! UDP socket ([`Client6Socket`], `[::]:546` on the interface) with the
//! client's deadline as timeout. Scripts run synchronously through
//! [`process::run`]; every exit returns through [`run`], which removes the
//! pidfile.

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use udhcp::client6::{default_oro, Client6, Command6, Config6, Event6, ScriptEvent6};
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::udp6::Client6Socket;
use udhcp::sys::pidfile::Pidfile;
use udhcp::sys::process::{self, Outcome, Script};
use udhcp::sys::signal::{Signal, SignalPipe};
use udhcp::sys::{clock, daemon};
use udhcp::wire::dhcpv6::{self, opt};

use crate::cli::{self, client_rows, Arg, Exit, OptSpec};

/// Default `-i`.
pub const DEFAULT_INTERFACE: &str = "eth0";
/// Default `-s`.
pub const DEFAULT_SCRIPT: &str = "/usr/share/udhcpc/default6.script";
/// Default client port (`-P`); servers are on PORT+1.
pub const DEFAULT_CLIENT_PORT: u16 = dhcpv6::CLIENT_PORT;

const INT_MAX: u32 = i32::MAX as u32;

/// udhcpc6's command line: parsing and usage both come from these rows.
/// The usage lists them in this order, which is also the order
/// getopt_long names ambiguous prefixes in; rows sharing a first letter
/// keep BusyBox's long option order (`--re`: release, request, retries,
/// request-option, requestprefix; `--s`: script, syslog, stateless).
pub const SPEC: &[OptSpec] = &[
    client_rows::INTERFACE,
    OptSpec::short('s', Arg::Required)
        .long("script")
        .value("PROG")
        .help("Program run on lease events\n(default /usr/share/udhcpc/default6.script)"),
    client_rows::PIDFILE,
    client_rows::BACKGROUND,
    client_rows::NOW,
    client_rows::QUIT,
    client_rows::RELEASE,
    OptSpec::short('r', Arg::Required)
        .long("request")
        .value("IPv6|no")
        .help("Ask for this address; 'no': ask for no address"),
    OptSpec::short('t', Arg::Required)
        .long("retries")
        .value("N")
        .help("Solicits per attempt (default 3; 0: no limit)"),
    OptSpec::short('T', Arg::Required)
        .long("timeout")
        .value("SEC")
        .help("First wait for a reply, doubled per retry (default 1)"),
    client_rows::TRYAGAIN,
    OptSpec::short('o', Arg::None)
        .long("no-default-options")
        .help("Do not request dns and search"),
    OptSpec::short('O', Arg::Required)
        .long("request-option")
        .value("OPT")
        .repeat()
        .help(concat!(
            "Also request option OPT: dns, search, fqdn, tz,\n",
            "timezone, bootfile_url, bootfile_param or a number"
        )),
    OptSpec::short('x', Arg::Required)
        .value("OPT:VAL")
        .repeat()
        .help("Send option OPT (number) with hex VAL, or\nfqdn:NAME (option 39), repeatable"),
    client_rows::FOREGROUND,
    client_rows::SYSLOG,
    OptSpec::short('d', Arg::None)
        .long("requestprefix")
        .help("Ask for a delegated prefix (IA_PD)"),
    OptSpec::short('l', Arg::None)
        .long("stateless")
        .help("Information-Request only (no address)"),
    OptSpec::short('P', Arg::Required)
        .long("client-port")
        .value("PORT")
        .help("Client port (default 546; servers are on PORT+1)"),
    OptSpec::short('v', Arg::None)
        .repeat()
        .help("More log output (repeatable)"),
];

/// The table with its footer; no operands.
pub const CMD: cli::Command = cli::Command {
    opts: SPEC,
    operands: "",
    max_operands: Some(0),
    about: "",
    footer: "Signals:\n\tUSR1\tRenew the lease now\n\tUSR2\tRelease the lease",
};

/// udhcpc6's validated command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Udhcpc6Args {
    pub interface: String,
    pub script: String,
    pub pidfile: Option<String>,
    pub syslog: bool,
    pub verbose: u8,
    pub client_port: u16,
    /// Everything the client core needs except the MAC.
    pub config: Config6,
}

/// Parses udhcpc6's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<Udhcpc6Args, Exit> {
    let raw = cli::parse(&CMD, args)?;
    let count = |value: Option<String>, default: u32| match value {
        Some(text) => cli::number(&text, INT_MAX),
        None => Ok(default),
    };
    let mut cfg = Config6::new([0; 6]);
    match raw.value("request").as_deref() {
        None => {}
        Some("no") => cfg.request_address = false,
        Some(text) => match text.parse::<Ipv6Addr>() {
            Ok(a) => cfg.requested_ip = Some(a),
            Err(_) => return Err(Exit::Usage(format!("bad IPv6 address '{text}'"))),
        },
    }
    cfg.request_prefix = raw.flag("requestprefix");
    cfg.stateless = raw.flag("stateless");
    if cfg.stateless {
        cfg.request_address = false;
        cfg.request_prefix = false;
    }
    cfg.oro = if raw.flag("no-default-options") {
        Vec::new()
    } else {
        default_oro()
    };
    for word in &raw.values("request-option") {
        let code = dhcpv6::option_code(word).ok_or_else(|| {
            let known: Vec<&str> = dhcpv6::OPTION_NAMES.iter().map(|(n, _)| *n).collect();
            Exit::Fail(format!(
                "unknown option '{word}', known options: {}",
                known.join(" ")
            ))
        })?;
        if !cfg.oro.contains(&code) {
            cfg.oro.push(code);
        }
    }
    for text in &raw.values("x") {
        cfg.send_options.push(send_option(text)?);
    }
    cfg.retries = count(raw.value("retries"), 3)?;
    cfg.timeout = Duration::from_secs(u64::from(count(raw.value("timeout"), 1)?));
    cfg.tryagain = Duration::from_secs(u64::from(count(raw.value("tryagain"), 20)?));
    cfg.exit_on_fail = raw.flag("now");
    cfg.background_on_fail = raw.flag("background");
    cfg.quit_after_lease = raw.flag("quit");
    cfg.release_on_exit = raw.flag("release");
    cfg.foreground = raw.flag("foreground") || raw.flag("quit");
    let client_port = match raw.value("client-port") {
        Some(text) => cli::port(&text)?,
        None => DEFAULT_CLIENT_PORT,
    };
    Ok(Udhcpc6Args {
        interface: raw
            .value("interface")
            .unwrap_or_else(|| DEFAULT_INTERFACE.to_string()),
        script: raw
            .value("script")
            .unwrap_or_else(|| DEFAULT_SCRIPT.to_string()),
        pidfile: raw.value("pidfile"),
        syslog: raw.flag("syslog"),
        verbose: raw.count("v"),
        client_port,
        config: cfg,
    })
}

/// `-x`: `fqdn:NAME` (option 39, flags 0, RFC 1035 name) or `CODE:HEX`.
fn send_option(text: &str) -> Result<(u16, Vec<u8>), Exit> {
    let bad = || Exit::Fail(format!("bad option '{text}'"));
    let (name, value) = text.split_once(':').ok_or_else(bad)?;
    if name == "fqdn" {
        let mut data = vec![0u8];
        data.extend(dhcpv6::encode_names(&[value]).map_err(|_| bad())?);
        return Ok((opt::FQDN, data));
    }
    let code: u16 = name.parse().map_err(|_| bad())?;
    let hex: Vec<u8> = value.bytes().filter(|b| *b != b':').collect();
    if hex.len() % 2 != 0 || hex.len() > 2 * usize::from(u16::MAX) {
        return Err(Exit::Fail(format!("malformed hex string '{value}'")));
    }
    let mut data = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        let b = u8::from_str_radix(s, 16)
            .map_err(|_| Exit::Fail(format!("malformed hex string '{value}'")))?;
        data.push(b);
    }
    Ok((code, data))
}

/// The applet entry point.
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(args) => run(&args),
        Err(exit) => cli::report(name, &CMD, &exit),
    }
}

const SIGNALS: &[Signal] = &[
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGCHLD,
];

/// Receive buffer: any UDP payload (a DHCPv6 Reply with long lists may
/// exceed one Ethernet frame and arrive fragmented; a cut one would be
/// rejected as malformed).
const RECV_BUF: usize = 65536;
/// Datagrams read per wake-up before signals are looked at again.
const MAX_PACKETS_PER_WAKE: usize = 64;

fn run(args: &Udhcpc6Args) -> i32 {
    let iface = match Interface::query(&args.interface) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("udhcpc6: {e}");
            return 1;
        }
    };
    let _ = udhcp::sys::log::init("udhcpc6", args.verbose, args.syslog);
    let sock = match Client6Socket::open(&args.interface, iface.ifindex, args.client_port) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    let mut pidfile = match args.pidfile.as_deref().map(Pidfile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            log::error!("{}: {e}", args.pidfile.as_deref().unwrap_or_default());
            return 1;
        }
    };
    let mut signals = match SignalPipe::install(SIGNALS) {
        Ok(s) => s,
        Err(e) => {
            log::error!("signal pipe: {e}");
            return 1;
        }
    };
    log::info!("started, v{}", env!("CARGO_PKG_VERSION"));
    let mut cfg = args.config.clone();
    cfg.mac = iface.mac.octets();
    let client = Client6::new(cfg, clock::now(), clock::random_u32);
    let mut d = Driver {
        args,
        client,
        sock,
        ifindex: iface.ifindex,
        signals: &mut signals,
        pidfile: &mut pidfile,
    };
    let code = d.run();
    if let Some(p) = pidfile.as_mut() {
        if let Err(e) = p.remove() {
            log::error!("{}: {e}", p.path().display());
        }
    }
    code
}

struct Driver<'a> {
    args: &'a Udhcpc6Args,
    client: Client6,
    sock: Client6Socket,
    ifindex: u32,
    signals: &'a mut SignalPipe,
    pidfile: &'a mut Option<Pidfile>,
}

impl Driver<'_> {
    fn run(&mut self) -> i32 {
        let mut buf = vec![0u8; RECV_BUF];
        if let Some(code) = self.drive() {
            return code;
        }
        loop {
            let (sig, sock) = match self.wait() {
                Ok(r) => r,
                Err(e) => {
                    log::error!("poll: {e}");
                    return 1;
                }
            };
            if sig {
                while let Some(s) = self.signals.take() {
                    let cmd = match s {
                        Signal::SIGUSR1 => Command6::Renew,
                        Signal::SIGUSR2 => Command6::Release,
                        Signal::SIGTERM | Signal::SIGINT => Command6::Terminate,
                        _ => continue,
                    };
                    self.client.handle_command(clock::now(), cmd);
                    if let Some(code) = self.drive() {
                        return code;
                    }
                }
            }
            if sock {
                for _ in 0..MAX_PACKETS_PER_WAKE {
                    match self.sock.recv(&mut buf) {
                        Ok(None) => break,
                        Ok(Some((len, from))) => {
                            // RFC 8415 §7.2: servers and relays send from
                            // port 547; anything else is not for us.
                            let SocketAddr::V6(from) = from else { continue };
                            if from.port() != self.sock.server_port() {
                                log::debug!("packet from port {}, ignoring", from.port());
                                continue;
                            }
                            let data = buf.get(..len).unwrap_or_default();
                            self.client.handle_packet(clock::now(), data);
                        }
                        Err(e) => {
                            log::info!("read error: {e}");
                            break;
                        }
                    }
                    if let Some(code) = self.drive() {
                        return code;
                    }
                }
            }
            let now = clock::now();
            if self.client.poll_timeout().is_some_and(|d| now >= d) {
                self.recheck_interface(now);
                self.client.handle_timeout(now);
                if let Some(code) = self.drive() {
                    return code;
                }
            }
        }
    }

    /// BusyBox re-reads the interface whenever a timer fires: a vanished
    /// interface ends the client as SIGTERM would (release first with
    /// `-R`); a new ifindex (the interface was recreated) gets a new
    /// socket. The DUID keeps the startup MAC: it must stay stable.
    fn recheck_interface(&mut self, now: udhcp::time::Instant) {
        match Interface::query(&self.args.interface) {
            Ok(i) if i.ifindex != self.ifindex => {
                log::trace!("ifindex {}", i.ifindex);
                match Client6Socket::open(&self.args.interface, i.ifindex, self.args.client_port) {
                    Ok(s) => {
                        self.sock = s;
                        self.ifindex = i.ifindex;
                    }
                    Err(e) => log::error!("{e}"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                log::error!("{e}");
                self.client.handle_command(now, Command6::Terminate);
            }
        }
    }

    /// Transmits, then events, until none are left.
    fn drive(&mut self) -> Option<i32> {
        loop {
            while let Some(t) = self.client.poll_transmit() {
                if let Err(e) = self.sock.send(&t.message) {
                    // The schedule retransmits (e.g. link-local still
                    // tentative); nothing else to do.
                    log::error!("sendto: {e}");
                }
            }
            match self.client.poll_event()? {
                Event6::Script(e) => self.script(&e),
                Event6::Background => self.background(),
                Event6::Exit(code) => return Some(code),
            }
        }
    }

    fn script(&mut self, e: &ScriptEvent6) {
        let script = Script::new(&self.args.script)
            .arg(e.name())
            .envs(e.env(&self.args.interface));
        log::debug!("executing {} {}", self.args.script, e.name());
        match process::run(&script, self.signals, process::DEFAULT_TIMEOUT) {
            Ok(Outcome::Interrupted(_)) => {
                self.client
                    .handle_command(clock::now(), Command6::Terminate);
            }
            Ok(Outcome::NotFound) => log::debug!("script {} not found", self.args.script),
            Ok(_) => {}
            Err(e) => log::error!("{}: {e}", self.args.script),
        }
    }

    fn background(&mut self) {
        if self.client.is_finished() {
            return;
        }
        match daemon::daemonize() {
            Ok(readiness) => {
                if let Some(p) = self.pidfile.as_mut() {
                    if let Err(e) = p.rewrite_pid() {
                        log::error!("{}: {e}", p.path().display());
                    }
                }
                if let Err(e) = readiness.ready() {
                    log::error!("daemon: {e}");
                }
            }
            Err(e) => log::error!("can't go to the background: {e}"),
        }
    }

    fn wait(&self) -> nix::Result<(bool, bool)> {
        let timeout = match self.client.poll_timeout() {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d
                    .saturating_duration_since(clock::now())
                    .as_micros()
                    .div_ceil(1000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [
            PollFd::new(self.signals.fd(), PollFlags::POLLIN),
            PollFd::new(std::os::fd::AsFd::as_fd(&self.sock), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok((false, false)),
            Err(e) => return Err(e),
        }
        let hit = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        Ok((hit(&fds[0]), hit(&fds[1])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Udhcpc6Args, Exit> {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        parse_args(&args)
    }

    #[test]
    fn defaults_are_busybox_ones() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.interface, "eth0");
        assert_eq!(a.script, DEFAULT_SCRIPT);
        assert_eq!(a.client_port, 546);
        let c = a.config;
        assert!(c.request_address && !c.request_prefix && !c.stateless);
        assert_eq!(
            (c.retries, c.timeout.as_secs(), c.tryagain.as_secs()),
            (3, 1, 20)
        );
        assert_eq!(c.oro, [23, 24]);
    }

    #[test]
    fn flags_map_to_the_config() {
        let a = parse(&[
            "-i",
            "wan",
            "-fqnRbSvv",
            "-d",
            "-r",
            "no",
            "-o",
            "-O",
            "tz",
            "-O",
            "82",
            "-x",
            "fqdn:box.lan",
            "-x",
            "1234:0a0B",
            "-t",
            "0",
            "-T",
            "1",
            "-A",
            "5",
            "-P",
            "1546",
        ])
        .unwrap();
        assert_eq!(
            (a.interface.as_str(), a.verbose, a.client_port),
            ("wan", 2, 1546)
        );
        let c = a.config;
        assert!(!c.request_address && c.request_prefix);
        assert!(c.foreground && c.quit_after_lease && c.exit_on_fail);
        assert!(c.release_on_exit && c.background_on_fail);
        assert_eq!(c.oro, [41, 82]);
        assert_eq!(c.send_options[0], (39, b"\0\x03box\x03lan\0".to_vec()));
        assert_eq!(c.send_options[1], (1234, vec![0x0a, 0x0b]));
        assert_eq!(
            (c.retries, c.timeout.as_secs(), c.tryagain.as_secs()),
            (0, 1, 5)
        );
        let l = parse(&["-l"]).unwrap().config;
        assert!(l.stateless && !l.request_address);
        let r = parse(&["-r", "2001:db8::7"]).unwrap().config;
        assert_eq!(r.requested_ip, Some("2001:db8::7".parse().unwrap()));
    }

    #[test]
    fn bad_arguments_fail() {
        assert!(matches!(parse(&["-r", "1.2.3.4"]), Err(Exit::Usage(_))));
        assert!(matches!(parse(&["-O", "bogus"]), Err(Exit::Fail(_))));
        assert!(matches!(parse(&["-x", "12:abc"]), Err(Exit::Fail(_))));
        assert!(matches!(parse(&["-x", "nocolon"]), Err(Exit::Fail(_))));
        assert!(matches!(parse(&["-T", "x"]), Err(Exit::Fail(_))));
        assert!(matches!(parse(&["extra"]), Err(Exit::Usage(_))));
        assert!(matches!(parse(&["-a"]), Err(Exit::Usage(_))));
    }
}
