//! udhcpc, the DHCPv4 client applet: its command line (BusyBox getopt
//! `CV:F:i:np:qRr:s:T:+t:+SA:+O:*ox:*fBba::P:v` with 21 long names) and the
//! thin driver around the sans-I/O [`udhcp::client::Client`].
//!
//! Startup (BusyBox §1.2): parse, query the interface (exit 1 if that
//! fails), logger (`-v`, `-S`), pidfile (`-p`; a second instance on the
//! same pidfile exits 1 with `already running as pid N`), signal pipe
//! (USR1 renew, USR2 release, TERM/INT exit, CHLD), `started, vX`.
//!
//! Then one `poll(2)` loop over the signal pipe, the socket of the
//! client's listen mode ([`ClientSocket`]) and, during `-a`, the ARP
//! prober, with the client's deadline as timeout. After every input the
//! client's outputs are applied in its contract order ([`Driver::drive`]):
//! listen mode, transmits, events. Scripts run synchronously through
//! [`process::run`] (bounded, killed with their process group on TERM/INT,
//! always reaped), so no child outlives us. When a timer fires the
//! interface is re-read as BusyBox does: a new MAC goes to the client, a
//! new ifindex reopens the socket, a vanished interface is treated like
//! SIGTERM (exit 0, release first with `-R`). Every exit path returns
//! through [`run`], which removes the pidfile.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use std::path::Path;

use udhcp::client::memory::LeaseRecord;
use udhcp::client::{self, Client, Command, Event, ListenMode, ScriptEvent};
use udhcp::sys::net::arp::{ArpProber, ProbeResult};
use udhcp::sys::net::client::{ClientSocket, Link, Recv};
use udhcp::sys::net::iface::Interface;
use udhcp::sys::net::link::{LinkNews, LinkWatcher};
use udhcp::sys::pidfile::Pidfile;
use udhcp::sys::process::{self, Outcome, Script};
use udhcp::sys::signal::{Signal, SignalPipe};
use udhcp::sys::{clock, daemon, statefile};
use udhcp::time::Instant;
use udhcp::wire::options::{self, OptionSet};
use udhcp::wire::MacAddr;

use crate::cli::{self, client_rows, Arg, Exit, OptSpec};

/// Default `-i`.
pub const DEFAULT_INTERFACE: &str = "eth0";
/// Default `-s`.
pub const DEFAULT_SCRIPT: &str = "/usr/share/udhcpc/default.script";
/// Default `-V` (option 60).
pub const DEFAULT_VENDOR: &str = concat!("udhcp ", env!("CARGO_PKG_VERSION"));
/// `-a` given without a value.
pub const DEFAULT_ARPING_MS: u32 = 2000;
/// Default client port (`-P`); the server port is one less.
pub const DEFAULT_CLIENT_PORT: u16 = 68;

/// BusyBox `xatoi_positive`: `-t`, `-T` and `-A` are 0..=INT_MAX.
const INT_MAX: u32 = i32::MAX as u32;

/// udhcpc's command line: parsing and usage both come from these rows. The
/// usage lists them in this order, which is also the order getopt_long
/// names ambiguous prefixes in (`--re`: release, request, retries,
/// request-option, as BusyBox's long option table has them).
pub const SPEC: &[OptSpec] = &[
    client_rows::INTERFACE,
    OptSpec::short('s', Arg::Required)
        .long("script")
        .value("PROG")
        .help("Program run on lease events\n(default /usr/share/udhcpc/default.script)"),
    client_rows::PIDFILE,
    OptSpec::short('B', Arg::None)
        .long("broadcast")
        .help("Ask servers to broadcast their replies"),
    client_rows::BACKGROUND,
    client_rows::NOW,
    client_rows::QUIT,
    client_rows::RELEASE,
    OptSpec::short('r', Arg::Required)
        .long("request")
        .value("IP")
        .help("Ask for this address"),
    OptSpec::short('t', Arg::Required)
        .long("retries")
        .value("N")
        .help("DISCOVERs per attempt (default 3; 0: no limit)"),
    OptSpec::short('T', Arg::Required)
        .long("timeout")
        .value("SEC")
        .help("Seconds to wait for each reply (default 3)"),
    client_rows::TRYAGAIN,
    OptSpec::short('a', Arg::Optional)
        .long("arping")
        .value("MSEC")
        .help(concat!(
            "ARP-probe an offered address before using it,\n",
            "waiting MSEC ms for an answer (default 2000;\n",
            "the value must be attached: -a500; -a0: no probe)"
        )),
    OptSpec::short('o', Arg::None)
        .long("no-default-options")
        .help("Request only the options named with -O"),
    OptSpec::short('O', Arg::Required)
        .long("request-option")
        .value("OPT")
        .repeat()
        .help("Also request option OPT (name or number; repeatable)"),
    OptSpec::short('x', Arg::Required)
        .value("OPT:VAL")
        .repeat()
        .help(concat!(
            "Send option OPT with value VAL (repeatable), e.g.\n",
            "-x hostname:mybox  -x lease:3600  -x 0x3d:0100BEEFC0FFEE"
        )),
    OptSpec::short('F', Arg::Required)
        .long("fqdn")
        .value("NAME")
        .help("Ask the server to put NAME in DNS (option 81)"),
    OptSpec::short('V', Arg::Required)
        .long("vendorclass")
        .value("VENDOR")
        .help(concat!(
            "Vendor class (default 'udhcp ",
            env!("CARGO_PKG_VERSION"),
            "'; -V '': none)"
        )),
    OptSpec::short('C', Arg::None)
        .long("clientid-none")
        .help("Send no client identifier (default: 01 + MAC)"),
    client_rows::FOREGROUND,
    client_rows::SYSLOG,
    OptSpec::short('P', Arg::Required)
        .long("client-port")
        .value("PORT")
        .help("Client port (default 68; servers are on PORT-1)"),
    OptSpec::short('v', Arg::None)
        .repeat()
        .help("More log output (repeatable)"),
    // Ours, long only (BusyBox has no equivalent).
    OptSpec::long_only("lease-file", Arg::Required)
        .value("FILE")
        .help("Remember the lease in FILE (default\n/var/lib/udhcpc/IFACE.lease; '': none)"),
    OptSpec::long_only("script-timeout", Arg::Required)
        .value("SEC")
        .help("Kill the script after SEC seconds (default 60,\nor $UDHCPC_SCRIPT_TIMEOUT; 0: no limit)"),
    OptSpec::long_only("rapid-commit", Arg::None)
        .help("Ask for and accept a DISCOVER-ACK exchange (RFC 4039)"),
    cli::MONITOR,
    // Removed from BusyBox: -H/-h/--hostname in 1.34, -c in 2010.
    OptSpec::short('H', Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::short('h', Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::long_only("hostname", Arg::Required).removed("use -x hostname:NAME"),
    OptSpec::short('c', Arg::Required).removed("use -x 61:HEX or -x 0x3d:HEX"),
];

/// The table with its operands (none) and footer.
pub const CMD: cli::Command = cli::Command {
    opts: SPEC,
    operands: "",
    max_operands: Some(0),
    about: "",
    footer: "Signals:\n\tUSR1\tRenew the lease now\n\tUSR2\tRelease the lease",
};

/// udhcpc's validated command line, with BusyBox's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdhcpcArgs {
    /// `-i`: interface name.
    pub interface: String,
    /// `-s`: program run at lease events (execvp: PATH search without `/`).
    pub script: String,
    /// `-p`: pidfile.
    pub pidfile: Option<String>,
    /// `-B`: set the BOOTP broadcast flag.
    pub broadcast: bool,
    /// `-t`: DISCOVERs per round, 0 = no limit.
    pub retries: u32,
    /// `-T`: seconds to wait for each reply.
    pub timeout: u32,
    /// `-A`: seconds to wait after a failed round or a DECLINE.
    pub tryagain: u32,
    /// `-b`: background at the first leasefail (wins over `-n`).
    pub background: bool,
    /// `-n`: exit 1 at the first leasefail.
    pub now: bool,
    /// `-q`: exit 0 after the first bound/renew.
    pub quit: bool,
    /// `-R`: release on exit.
    pub release: bool,
    /// `-f`: never daemonize.
    pub foreground: bool,
    /// `-S`: log to syslog too.
    pub syslog: bool,
    /// `-a`: ARP-probe timeout in ms; `None` = no probe (absent or `-a0`).
    pub arping_ms: Option<u32>,
    /// `-r`: requested address (option 50); `0.0.0.0` is stored as `None`.
    pub requested_ip: Option<Ipv4Addr>,
    /// `-o`: no default parameter request list.
    pub no_default_options: bool,
    /// `-O` option codes to add to the parameter request list, in the order
    /// given (names or numbers, decoded by the options table).
    pub request_options: Vec<u8>,
    /// `-x` options to send, decoded by the options codec (sorted by code).
    pub send_options: OptionSet,
    /// `-F`: FQDN for option 81.
    pub fqdn: Option<String>,
    /// `-V`: vendor class for option 60; `None` when `-V ""` suppresses it.
    pub vendor_class: Option<String>,
    /// `-C`: no default client identifier.
    pub clientid_none: bool,
    /// `-P`: client port (server port is one less).
    pub client_port: u16,
    /// `-v` count.
    pub verbose: u8,
    /// `--lease-file`: the lease state file; `None` = none (`''`).
    pub lease_file: Option<String>,
    /// `--script-timeout`: seconds, 0 = no limit; `None` = not given
    /// (then `$UDHCPC_SCRIPT_TIMEOUT`, else 60).
    pub script_timeout: Option<u32>,
    /// `--rapid-commit`: option 80 in DISCOVER, ACK to it accepted.
    pub rapid_commit: bool,
}

/// Parses udhcpc's arguments (without argv\[0\]).
pub fn parse_args(args: &[String]) -> Result<UdhcpcArgs, Exit> {
    let raw = cli::parse(&CMD, args)?;
    let count = |value: Option<String>, default: u32| match value {
        Some(text) => cli::number(&text, INT_MAX),
        None => Ok(default),
    };
    let arping_ms = match raw.optional("arping") {
        None => None,
        Some(None) => Some(DEFAULT_ARPING_MS),
        Some(Some(text)) => Some(cli::number(text, u32::MAX)?).filter(|&ms| ms != 0),
    };
    let requested_ip = match raw.value("request") {
        None => None,
        Some(text) => match options::parse_ipv4_aton(&text) {
            Some(ip) if ip.is_unspecified() => None,
            Some(ip) => Some(ip),
            None => return Err(Exit::Usage(format!("bad IP address '{text}'"))),
        },
    };
    // Like BusyBox, an unknown option name or a bad value is fatal at
    // startup (`unknown option 'X', known options: ...`), without usage.
    let request_options = raw
        .values("request-option")
        .iter()
        .map(|text| options::parse_code(text))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| Exit::Fail(e.to_string()))?;
    let mut send_options = OptionSet::new();
    for text in &raw.values("x") {
        send_options
            .add_text(text)
            .map_err(|e| Exit::Fail(e.to_string()))?;
    }
    let client_port = match raw.value("client-port") {
        Some(text) => cli::port(&text)?,
        None => DEFAULT_CLIENT_PORT,
    };
    let vendor_class = match raw.value("vendorclass") {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v),
        None => Some(DEFAULT_VENDOR.to_string()),
    };
    let interface = raw
        .value("interface")
        .unwrap_or_else(|| DEFAULT_INTERFACE.to_string());
    let lease_file = match raw.value("lease-file") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p),
        None => Some(client::memory::default_path(&interface)),
    };
    let script_timeout = raw
        .value("script-timeout")
        .map(|t| cli::number(&t, u32::MAX))
        .transpose()?;
    Ok(UdhcpcArgs {
        interface,
        script: raw
            .value("script")
            .unwrap_or_else(|| DEFAULT_SCRIPT.to_string()),
        pidfile: raw.value("pidfile"),
        broadcast: raw.flag("broadcast"),
        retries: count(raw.value("retries"), 3)?,
        timeout: count(raw.value("timeout"), 3)?,
        tryagain: count(raw.value("tryagain"), 20)?,
        background: raw.flag("background"),
        now: raw.flag("now"),
        quit: raw.flag("quit"),
        release: raw.flag("release"),
        foreground: raw.flag("foreground"),
        syslog: raw.flag("syslog"),
        arping_ms,
        requested_ip,
        no_default_options: raw.flag("no-default-options"),
        request_options,
        send_options,
        fqdn: raw.value("fqdn"),
        vendor_class,
        clientid_none: raw.flag("clientid-none"),
        client_port,
        verbose: raw.count("v"),
        lease_file,
        script_timeout,
        rapid_commit: raw.flag("rapid-commit"),
    })
}

/// Environment variable for the script time limit when
/// `--script-timeout` is not given.
pub const SCRIPT_TIMEOUT_ENV: &str = "UDHCPC_SCRIPT_TIMEOUT";

/// The script time limit: `--script-timeout`, else `env` (the value of
/// [`SCRIPT_TIMEOUT_ENV`]; a bad one is logged and ignored), else 60 s;
/// 0 means none (`None`).
pub fn script_timeout(flag: Option<u32>, env: Option<&str>) -> Option<Duration> {
    let secs = flag.or_else(|| {
        let text = env?;
        match cli::number(text.trim(), u32::MAX) {
            Ok(n) => Some(n),
            Err(_) => {
                log::warn!("{SCRIPT_TIMEOUT_ENV}={text:?} is not a number, ignored");
                None
            }
        }
    });
    match secs {
        Some(0) => None,
        Some(n) => Some(Duration::from_secs(u64::from(n))),
        None => Some(process::DEFAULT_TIMEOUT),
    }
}

/// The applet entry point: `args` excludes argv\[0\].
pub fn main(name: &str, args: &[String]) -> i32 {
    match parse_args(args) {
        Ok(args) => run(&args),
        Err(exit) => cli::report(name, &CMD, &exit),
    }
}

/// The signals udhcpc handles (BusyBox: USR1, USR2, TERM; INT is added so
/// Ctrl-C on a foreground client exits cleanly, pidfile removed).
const SIGNALS: &[Signal] = &[
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGCHLD,
];

/// Receive buffer: an Ethernet frame with room to spare (BusyBox reads
/// 576 + 80 bytes and calls anything longer oversized).
const RECV_BUF: usize = 1600;
/// Frames read per wake-up before the loop looks at signals again.
const MAX_PACKETS_PER_WAKE: usize = 64;

/// The client configuration from the command line (BusyBox's defaults are
/// already in `args`).
pub fn client_config(args: &UdhcpcArgs, mac: MacAddr) -> client::Config {
    let mut cfg = client::Config::new(mac);
    cfg.retries = args.retries;
    cfg.timeout = Duration::from_secs(u64::from(args.timeout));
    cfg.tryagain = Duration::from_secs(u64::from(args.tryagain));
    cfg.broadcast_flag = args.broadcast;
    cfg.arping = args
        .arping_ms
        .map(|ms| Duration::from_millis(u64::from(ms)));
    cfg.requested_ip = args.requested_ip;
    cfg.request_list = client::request_list(args.no_default_options, &args.request_options);
    cfg.send_options = client::send_options(
        &args.send_options,
        args.fqdn.as_deref(),
        args.vendor_class.as_deref(),
        args.clientid_none,
        mac,
    );
    cfg.release_on_exit = args.release;
    cfg.quit_after_lease = args.quit;
    cfg.exit_on_fail = args.now;
    cfg.background_on_fail = args.background;
    cfg.foreground = args.foreground;
    cfg.rapid_commit = args.rapid_commit;
    cfg
}

/// Everything after argument parsing; returns the exit status. The
/// pidfile and the signal pipe are dropped (removed, restored) on return.
fn run(args: &UdhcpcArgs) -> i32 {
    let iface = match Interface::query(&args.interface) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("udhcpc: {e}");
            return 1;
        }
    };
    // Only fails if a logger exists, which cannot happen in this process.
    let _ = udhcp::sys::log::init("udhcpc", args.verbose, args.syslog);
    log::trace!("ifindex {}", iface.ifindex);
    log::trace!("MAC {}", iface.mac);
    let pidfile = match args.pidfile.as_deref().map(Pidfile::create).transpose() {
        Ok(p) => p,
        Err(e) => {
            log::error!("{}: {e}", args.pidfile.as_deref().unwrap_or_default());
            return 1;
        }
    };
    let signals = match SignalPipe::install(SIGNALS) {
        Ok(s) => s,
        Err(e) => {
            log::error!("signal pipe: {e}");
            return 1;
        }
    };
    log::info!("started, v{}", env!("CARGO_PKG_VERSION"));
    let now = clock::now();
    let mut client = Client::new(client_config(args, iface.mac), now, clock::random_u32);
    if let Some(path) = args.lease_file.as_deref() {
        if let Some(r) = load_remembered(path, &args.interface, iface.mac, now) {
            log::info!("remembered lease of {}, verifying it", r.ip);
            client.remember(now, r);
        }
    }
    // Opened before the first carrier query, so no change falls between.
    let link_watch = match LinkWatcher::open() {
        Ok(w) => Some(w),
        Err(e) => {
            log::warn!("{e}: carrier changes will not be noticed");
            None
        }
    };
    let script_limit = script_timeout(
        args.script_timeout,
        std::env::var(SCRIPT_TIMEOUT_ENV).ok().as_deref(),
    );
    let mut driver = Driver {
        args,
        link: Link {
            name: iface.name.clone(),
            ifindex: iface.ifindex,
            client_port: args.client_port,
        },
        mac: iface.mac,
        client,
        sock: ClientSocket::none(),
        reopen_at: None,
        probe: None,
        signals,
        pidfile,
        link_watch,
        default_mtu: iface.mtu,
        script_limit,
    };
    let code = driver.run();
    if let Some(p) = driver.pidfile.as_mut() {
        if let Err(e) = p.remove() {
            log::error!("{}: {e}", p.path().display());
        }
    }
    code
}

/// The poll loop and the glue between the client and the OS layer.
struct Driver<'a> {
    args: &'a UdhcpcArgs,
    link: Link,
    mac: MacAddr,
    client: Client,
    /// The socket of the client's listen mode.
    sock: ClientSocket,
    /// After a read error: no socket until then (BusyBox sleeps `-T`).
    reopen_at: Option<Instant>,
    /// The `-a` probe in flight.
    probe: Option<ArpProber>,
    signals: SignalPipe,
    pidfile: Option<Pidfile>,
    /// rtnetlink carrier changes (`None` if the socket could not be had).
    link_watch: Option<LinkWatcher>,
    /// The interface's MTU at start, `default_mtu` for the script.
    default_mtu: u32,
    /// The script time limit (`None`: none).
    script_limit: Option<Duration>,
}

/// The remembered lease in `path`, if it is ours and unexpired; a corrupt
/// or foreign file is ignored with a warning.
fn load_remembered(
    path: &str,
    interface: &str,
    mac: MacAddr,
    now: Instant,
) -> Option<client::Remembered> {
    let text = match statefile::read_bounded(Path::new(path), client::memory::MAX_FILE_LEN) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => {
            log::warn!("{path}: {e}, ignored");
            return None;
        }
    };
    let record = match LeaseRecord::parse(&text) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("{path}: {e}, ignored");
            return None;
        }
    };
    match record.remembered(interface, mac, now, clock::wall_now()) {
        Ok(r) => {
            if r.is_none() {
                log::debug!("{path}: lease expired");
            }
            r
        }
        Err(e) => {
            log::warn!("{path}: {e}, ignored");
            None
        }
    }
}

/// What one `poll(2)` reported.
#[derive(Debug, Default, Clone, Copy)]
struct Ready {
    signals: bool,
    sock: bool,
    probe: bool,
    link: bool,
}

impl Driver<'_> {
    fn run(&mut self) -> i32 {
        let mut buf = vec![0u8; RECV_BUF];
        if let Some(code) = self.drive() {
            return code;
        }
        // After the startup `deconfig` (which brings the interface up).
        if self.link_watch.is_some() {
            self.resync_link();
        }
        loop {
            let ready = match self.wait() {
                Ok(r) => r,
                Err(e) => {
                    log::error!("poll: {e}");
                    return 1;
                }
            };
            let step = self
                .on_signals(ready)
                .or_else(|| self.on_link(ready))
                .or_else(|| self.on_socket(ready, &mut buf))
                .or_else(|| self.on_probe(ready))
                .or_else(|| self.on_timer());
            if let Some(code) = step {
                return code;
            }
        }
    }

    /// Applies the client's outputs in contract order until none are
    /// left: listen mode, transmits, then one event at a time (an event
    /// may feed an input, e.g. TERM during a script). `Some(code)`: exit.
    fn drive(&mut self) -> Option<i32> {
        loop {
            self.sync_socket(false);
            while let Some(t) = self.client.poll_transmit() {
                if let Err(e) = self.sock.send(&self.link, &t) {
                    // The client's schedule retransmits; nothing else to do.
                    log::error!("sendto: {e}");
                }
            }
            let Some(event) = self.client.poll_event() else {
                // A close deferred above happens now, after the scripts.
                self.sync_socket(true);
                return None;
            };
            if let Some(code) = self.event(event) {
                return Some(code);
            }
        }
    }

    /// Opens or closes the socket to match the client's listen mode.
    ///
    /// Going to "no socket" (bound, released) is deferred until the events
    /// are handled unless `close_now`: closing an AF_PACKET socket waits for
    /// an RCU grace period in the kernel (`synchronize_net`, ~15 ms
    /// measured), and doing it between the ACK and the `bound` script put
    /// that wait on the path every boot waits for. A socket kept open a few
    /// milliseconds longer is harmless: the client ignores what it reads.
    fn sync_socket(&mut self, close_now: bool) {
        let want = self.client.listen_mode();
        if self.sock.mode() == want || (want == ListenMode::None && !close_now) {
            return;
        }
        // Close first: the kernel socket of the old mode may hold the port.
        self.sock = ClientSocket::none();
        if self.reopen_at.is_some_and(|t| clock::now() < t) {
            return;
        }
        self.reopen_at = None;
        match ClientSocket::open(want, &self.link) {
            Ok(s) => self.sock = s,
            Err(e) => {
                log::error!("{e}");
                self.reopen_at = Some(clock::now() + self.retry_wait());
            }
        }
    }

    fn retry_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.args.timeout.max(1)))
    }

    fn event(&mut self, event: Event) -> Option<i32> {
        let finished = self.client.is_finished();
        match event {
            Event::Script(e) => self.script(&e),
            // Queued before a TERM that arrived during a script: moot now.
            Event::Probe { .. } | Event::Background if finished => {}
            Event::Probe { ip, timeout } => self.start_probe(ip, timeout),
            Event::Background => self.background(),
            Event::Exit(code) => return Some(code),
            Event::Remember(lease) => self.remember(&lease),
            Event::Forget => {
                if let Some(path) = self.args.lease_file.as_deref() {
                    if let Err(e) = statefile::remove(Path::new(path)) {
                        log::warn!("{path}: {e}");
                    }
                }
            }
        }
        None
    }

    /// Writes the lease state file (atomically); a failure is logged and
    /// the client goes on (the next boot then discovers).
    fn remember(&mut self, lease: &client::Lease) {
        let Some(path) = self.args.lease_file.as_deref() else {
            return;
        };
        let record = LeaseRecord::from_lease(
            lease,
            &self.args.interface,
            self.mac,
            clock::now(),
            clock::wall_now(),
        );
        if let Err(e) = statefile::write_atomic(Path::new(path), &record.to_text()) {
            log::warn!("{e}");
        }
    }

    /// Reads the carrier with `SIOCGIFFLAGS` and tells the client.
    fn resync_link(&mut self) {
        if let Ok(i) = Interface::query(&self.args.interface) {
            if i.ifindex == self.link.ifindex {
                self.client.handle_link(clock::now(), i.carrier());
            }
        }
    }

    fn on_link(&mut self, ready: Ready) -> Option<i32> {
        if !ready.link {
            return None;
        }
        let watcher = self.link_watch.as_mut()?;
        match watcher.read(self.link.ifindex) {
            Ok(LinkNews::None | LinkNews::Removed) => return None,
            Ok(LinkNews::Carrier(up)) => self.client.handle_link(clock::now(), up),
            Ok(LinkNews::Resync) => self.resync_link(),
            Err(e) => {
                log::warn!("{e}: carrier changes will not be noticed");
                self.link_watch = None;
                return None;
            }
        }
        self.drive()
    }

    /// `PROG EVENT` with the event's environment, synchronously. A missing
    /// script is ignored (BusyBox); TERM/INT meanwhile ends the client.
    fn script(&mut self, e: &ScriptEvent) {
        let mut env = e.env(&self.args.interface);
        if self.default_mtu != 0 {
            env.push(("default_mtu".to_owned(), self.default_mtu.to_string()));
        }
        let script = Script::new(&self.args.script).arg(e.name()).envs(env);
        let limit = self.script_limit.unwrap_or(Duration::MAX);
        match process::run(&script, &mut self.signals, limit) {
            Ok(Outcome::Interrupted(sig)) => {
                log::debug!("script {} interrupted by {sig}", e.name());
                self.client.handle_command(clock::now(), Command::Terminate);
            }
            Ok(Outcome::NotFound) => log::debug!("script {} not found", self.args.script),
            Ok(Outcome::Exited(_) | Outcome::Signaled(_) | Outcome::TimedOut) => {}
            // E2BIG and the like: the script never ran, the lease is not
            // configured; said as loudly as a failing script.
            Err(err) => log::error!(
                "script {} {} could not be executed: {err}",
                self.args.script,
                e.name()
            ),
        }
    }

    /// `-a`: probe `ip` in the poll loop. If the probe cannot be made the
    /// address counts as free, as BusyBox's `arpping` returning -1.
    fn start_probe(&mut self, ip: Ipv4Addr, timeout: Duration) {
        let deadline = clock::now() + timeout;
        let started = ArpProber::open(self.link.ifindex).and_then(|mut p| {
            p.start(ip, Ipv4Addr::UNSPECIFIED, self.mac, None, deadline)?;
            Ok(p)
        });
        match started {
            Ok(p) => self.probe = Some(p),
            Err(e) => {
                log::debug!("arping {ip}: {e}");
                self.probe = None;
                self.client.handle_probe(clock::now(), false);
            }
        }
    }

    /// Fork; the child rewrites the pidfile and reports ready at once, the
    /// parent then exits 0; the child goes on with syslog only.
    fn background(&mut self) {
        match daemon::daemonize() {
            Ok(readiness) => {
                // Pidfile first: once the parent has exited, the file
                // names the daemon (rcS may `kill $(cat PIDFILE)` at once).
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

    /// One `poll(2)` over the signal pipe, the socket and the prober, until
    /// the earliest deadline.
    fn wait(&self) -> nix::Result<Ready> {
        let now = clock::now();
        let deadline = [
            self.client.poll_timeout(),
            self.probe.as_ref().and_then(ArpProber::next_deadline),
            self.reopen_at,
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                // Round up: waking a fraction of a millisecond early
                // would only spin until the deadline.
                let ms = d.saturating_duration_since(now).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let extra: [Option<BorrowedFd<'_>>; 3] = [
            self.sock.fd(),
            self.probe.as_ref().map(ArpProber::fd),
            self.link_watch.as_ref().map(LinkWatcher::fd),
        ];
        let mut fds = vec![PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        fds.extend(
            extra
                .iter()
                .flatten()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN)),
        );
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(Ready::default()),
            Err(e) => return Err(e),
        }
        let hit = |i: usize| {
            fds.get(i)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        let mut i = 1;
        let mut ready = Ready {
            signals: hit(0),
            ..Ready::default()
        };
        if extra[0].is_some() {
            ready.sock = hit(i);
            i += 1;
        }
        if extra[1].is_some() {
            ready.probe = hit(i);
            i += 1;
        }
        if extra[2].is_some() {
            ready.link = hit(i);
        }
        Ok(ready)
    }

    fn on_signals(&mut self, ready: Ready) -> Option<i32> {
        if !ready.signals {
            return None;
        }
        while let Some(sig) = self.signals.take() {
            let command = match sig {
                Signal::SIGUSR1 => Command::Renew,
                Signal::SIGUSR2 => Command::Release,
                Signal::SIGTERM | Signal::SIGINT => Command::Terminate,
                _ => continue,
            };
            log::debug!("received {sig}");
            self.client.handle_command(clock::now(), command);
            if let Some(code) = self.drive() {
                return Some(code);
            }
        }
        None
    }

    fn on_socket(&mut self, ready: Ready, buf: &mut [u8]) -> Option<i32> {
        if !ready.sock {
            return None;
        }
        let mode = self.sock.mode();
        for _ in 0..MAX_PACKETS_PER_WAKE {
            match self.sock.recv(buf) {
                Ok(Recv::Empty) => break,
                Ok(Recv::Dropped) => continue,
                Ok(Recv::Payload(p)) => self.client.handle_packet(clock::now(), p),
                Err(e) => {
                    log::info!("read error: {e}, reopening socket");
                    self.sock = ClientSocket::none();
                    self.reopen_at = Some(clock::now() + self.retry_wait());
                    return self.drive();
                }
            }
            if let Some(code) = self.drive() {
                return Some(code);
            }
            if self.sock.mode() != mode {
                break; // a new socket: read it after the next poll
            }
        }
        None
    }

    fn on_probe(&mut self, ready: Ready) -> Option<i32> {
        let prober = self.probe.as_mut()?;
        let now = clock::now();
        if ready.probe {
            if let Err(e) = prober.handle_readable(now) {
                log::debug!("arping: {e}");
            }
        }
        prober.handle_timeout(now);
        let (_, result) = prober.poll_result()?;
        self.probe = None;
        let in_use = matches!(result, ProbeResult::InUse(_));
        self.client.handle_probe(now, in_use);
        self.drive()
    }

    /// The client's deadline (and the reopen wait) passed: re-read the
    /// interface as BusyBox does at every timer, then `handle_timeout`.
    fn on_timer(&mut self) -> Option<i32> {
        let now = clock::now();
        if self.reopen_at.is_some_and(|t| now >= t) {
            self.reopen_at = None;
            if let Some(code) = self.drive() {
                return Some(code);
            }
        }
        if !self.client.poll_timeout().is_some_and(|d| now >= d) {
            return None;
        }
        match Interface::query(&self.args.interface) {
            Ok(i) => {
                if i.mac != self.mac {
                    log::trace!("MAC {}", i.mac);
                    self.mac = i.mac;
                    self.client.set_mac(i.mac);
                }
                if i.ifindex != self.link.ifindex {
                    log::trace!("ifindex {}", i.ifindex);
                    self.link.ifindex = i.ifindex;
                    self.sock = ClientSocket::none();
                    self.probe = None;
                }
            }
            Err(e) => {
                // BusyBox: the interface went away; exit as on SIGTERM.
                log::error!("{e}");
                self.client.handle_command(now, Command::Terminate);
                return self.drive();
            }
        }
        self.client.handle_timeout(now);
        self.drive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    fn config(words: &[&str]) -> client::Config {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        client_config(&parse_args(&args).unwrap(), MAC)
    }

    #[test]
    fn defaults_map_to_busybox_behaviour() {
        let c = config(&["-i", "eth1"]);
        assert_eq!(c.retries, 3);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.tryagain, Duration::from_secs(20));
        assert_eq!(c.arping, None);
        assert!(!c.foreground && !c.exit_on_fail && !c.quit_after_lease);
        assert_eq!(c.request_list, client::request_list(false, &[]));
        assert_eq!(
            c.send_options.get(60),
            Some(DEFAULT_VENDOR.as_bytes()),
            "-V default"
        );
        assert_eq!(c.send_options.get(61), Some(&[1, 2, 0, 0, 0, 0, 9][..]));
    }

    #[test]
    fn flags_map_to_the_client_config() {
        let c = config(&[
            "-fqnRbB",
            "-a",
            "-t",
            "5",
            "-T",
            "1",
            "-A",
            "7",
            "-r",
            "10.0.0.9",
            "-V",
            "",
            "-C",
            "-o",
            "-O",
            "mtu",
            "-x",
            "hostname:box",
            "-F",
            "box.lan",
        ]);
        assert!(c.foreground && c.quit_after_lease && c.exit_on_fail);
        assert!(c.release_on_exit && c.background_on_fail && c.broadcast_flag);
        assert_eq!(c.arping, Some(Duration::from_millis(2000)));
        assert_eq!(
            (c.retries, c.timeout.as_secs(), c.tryagain.as_secs()),
            (5, 1, 7)
        );
        assert_eq!(c.requested_ip, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(c.request_list, [26]);
        let codes: Vec<u8> = c.send_options.iter().map(|(code, _)| code).collect();
        assert_eq!(codes, [12, 81], "-V '' and -C drop 60 and 61");
        assert!(!config(&[]).rapid_commit);
        assert!(config(&["--rapid-commit"]).rapid_commit);
        assert_eq!(config(&["-a0"]).arping, None);
        assert_eq!(config(&["-a500"]).arping, Some(Duration::from_millis(500)));
    }

    fn args(words: &[&str]) -> UdhcpcArgs {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        parse_args(&args).unwrap()
    }

    #[test]
    fn lease_file_default_set_and_disabled() {
        assert_eq!(
            args(&["-i", "wlan0"]).lease_file.as_deref(),
            Some("/var/lib/udhcpc/wlan0.lease")
        );
        assert_eq!(
            args(&["--lease-file", "/tmp/x"]).lease_file.as_deref(),
            Some("/tmp/x")
        );
        assert_eq!(args(&["--lease-file="]).lease_file, None);
        assert_eq!(args(&["--lease-file", ""]).lease_file, None);
    }

    #[test]
    fn script_timeout_flag_env_default_and_zero() {
        let secs = Duration::from_secs;
        assert_eq!(args(&[]).script_timeout, None);
        assert_eq!(args(&["--script-timeout", "300"]).script_timeout, Some(300));
        assert!(parse_args(&["--script-timeout".into(), "x".into()]).is_err());
        assert_eq!(script_timeout(None, None), Some(secs(60)));
        assert_eq!(script_timeout(None, Some("120")), Some(secs(120)));
        assert_eq!(script_timeout(None, Some("0")), None);
        assert_eq!(script_timeout(None, Some("soon")), Some(secs(60)));
        assert_eq!(script_timeout(Some(5), Some("120")), Some(secs(5)));
        assert_eq!(script_timeout(Some(0), Some("120")), None);
    }
}
