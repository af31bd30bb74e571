//! The client's public vocabulary: states, listen modes, commands, the
//! messages it asks the driver to send, the lease it accepted, and the
//! events (script runs, ARP probe, background, exit) the driver acts on.

use core::fmt;
use core::time::Duration;
use std::net::Ipv4Addr;

use super::secs;
use crate::script;
use crate::time::Instant;
use crate::wire::dhcp::{MessageType, Packet};

/// The client's protocol state (BusyBox `dhcpc.c` state numbers 0–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// INIT and SELECTING: sending DISCOVERs, waiting for an OFFER, or
    /// waiting to try again.
    InitSelecting,
    /// An OFFER was taken; sending SELECT (broadcast REQUEST).
    Requesting,
    /// Lease held, waiting for T1.
    Bound,
    /// Past T1: unicast REQUESTs to our server.
    Renewing,
    /// Past T2: broadcast REQUESTs to any server.
    Rebinding,
    /// Renewing because of SIGUSR1 (a second SIGUSR1 restarts from INIT).
    RenewRequested,
    /// After SIGUSR2: no lease, idle until SIGUSR1 or SIGTERM.
    Released,
    /// INIT-REBOOT (RFC 2131 §3.2, §4.3.2): verifying a remembered lease
    /// (at start, or when the carrier returns while bound) with broadcast
    /// REQUESTs carrying option 50 and no server identifier.
    InitReboot,
}

/// Which socket the driver keeps open to receive replies (BusyBox's listen
/// modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// No socket: nothing is expected.
    None,
    /// Packet socket: we have no address yet, or rebind by broadcast.
    Raw,
    /// UDP socket on port 68 bound to the interface (renewing).
    Kernel,
}

impl ListenMode {
    /// BusyBox's word for the mode (`entering listen mode: raw`).
    pub const fn name(self) -> &'static str {
        match self {
            ListenMode::None => "none",
            ListenMode::Raw => "raw",
            ListenMode::Kernel => "kernel",
        }
    }
}

/// What the driver tells the client (from signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// SIGUSR1: renew now (see [`State::RenewRequested`]).
    Renew,
    /// SIGUSR2: release the lease and idle.
    Release,
    /// SIGTERM: exit (releasing first with `-R`).
    Terminate,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255:67, Ethernet broadcast.
    Broadcast,
    /// This server's address, port 67.
    Unicast(Ipv4Addr),
}

/// How a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Built into an IP/UDP/Ethernet frame by us (we may have no address).
    Raw,
    /// Through a kernel UDP socket bound to `src_ip:68` and the interface
    /// (may need a send-only socket while [`ListenMode::None`]).
    Kernel,
}

/// One message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The DHCP message type (for logs and tests).
    pub kind: MessageType,
    /// The DHCP payload (BOOTP header onwards), at least 300 bytes.
    pub message: Vec<u8>,
    /// Destination address.
    pub dest: Destination,
    /// Source IP: 0.0.0.0 until we have a lease, then our address.
    pub src_ip: Ipv4Addr,
    /// Raw frame or kernel UDP.
    pub via: Via,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("kind", &self.kind)
            .field("len", &self.message.len())
            .field("dest", &self.dest)
            .field("src_ip", &self.src_ip)
            .field("via", &self.via)
            .finish()
    }
}

/// A lease as accepted from an ACK: what the timers use, and the ACK itself
/// for the script environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address (`yiaddr`).
    pub ip: Ipv4Addr,
    /// The server (option 54 of the ACK, else the one chosen while
    /// selecting; 0.0.0.0 if none ever said).
    pub server_id: Ipv4Addr,
    /// Option 51 exactly as sent (`None`: absent or not 4 bytes).
    pub server_lease_secs: Option<u32>,
    /// The lease really applied, in seconds: the server's value raised to
    /// at least 30, 3600 without option 51; `None` = infinite.
    pub lease_secs: Option<u32>,
    /// Renewal time T1 in seconds from `start` (`None`: infinite lease).
    pub t1_secs: Option<u32>,
    /// Rebinding time T2 in seconds from `start`.
    pub t2_secs: Option<u32>,
    /// When the lease began: the last REQUEST sent before the ACK.
    pub start: Instant,
    /// The ACK message (DHCP payload), for [`Lease::env`].
    pub ack: Vec<u8>,
}

impl Lease {
    /// The script environment for `bound`/`renew` (see [`script::script_env`]).
    pub fn env(&self, interface: &str) -> Vec<(String, String)> {
        script_env_bytes(interface, &self.ack)
    }

    /// When the lease ends (`None`: never).
    pub fn expiry(&self) -> Option<Instant> {
        self.lease_secs.map(|s| self.start + secs(s))
    }
}

/// A NAK from our server, for the `nak` script event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nak {
    /// The NAK message (DHCP payload).
    pub message: Vec<u8>,
}

impl Nak {
    /// The script environment for `nak` (`message` is usually the reason).
    pub fn env(&self, interface: &str) -> Vec<(String, String)> {
        script_env_bytes(interface, &self.message)
    }
}

fn script_env_bytes(interface: &str, bytes: &[u8]) -> Vec<(String, String)> {
    match Packet::new_checked(bytes) {
        Ok(p) => script::script_env(interface, &p),
        Err(_) => script::minimal_env(interface),
    }
}

/// A run of the udhcpc script (`PROG EVENT`), BusyBox §1.8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEvent {
    /// Remove the address: at startup, lease lost, NAK or ARP conflict when
    /// not requesting, second SIGUSR1, every release.
    Deconfig,
    /// First ACK of a lease (from REQUESTING).
    Bound(Lease),
    /// ACK of a renewal or rebinding (the address may differ).
    Renew(Lease),
    /// A DISCOVER round or 3 SELECTs went unanswered.
    LeaseFail,
    /// NAK from our server.
    Nak(Nak),
}

impl ScriptEvent {
    /// The script's argument: `deconfig`, `bound`, `renew`, `leasefail`, `nak`.
    pub const fn name(&self) -> &'static str {
        match self {
            ScriptEvent::Deconfig => "deconfig",
            ScriptEvent::Bound(_) => "bound",
            ScriptEvent::Renew(_) => "renew",
            ScriptEvent::LeaseFail => "leasefail",
            ScriptEvent::Nak(_) => "nak",
        }
    }

    /// The variables to add to the script's environment.
    pub fn env(&self, interface: &str) -> Vec<(String, String)> {
        match self {
            ScriptEvent::Bound(l) | ScriptEvent::Renew(l) => l.env(interface),
            ScriptEvent::Nak(n) => n.env(interface),
            ScriptEvent::Deconfig | ScriptEvent::LeaseFail => script::minimal_env(interface),
        }
    }
}

/// Something the driver must do besides sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Run the script (synchronously) with this event.
    Script(ScriptEvent),
    /// ARP-probe `ip` for `timeout` (`-a`), then call
    /// [`Client::handle_probe`](super::Client::handle_probe). No packets are expected meanwhile.
    Probe {
        /// The address the server ACKed.
        ip: Ipv4Addr,
        /// How long to wait for an answer.
        timeout: Duration,
    },
    /// Daemonize now: after the first lease without `-f`, or at the first
    /// leasefail with `-b`. Emitted at most once.
    Background,
    /// Exit with this status; the client does nothing afterwards.
    Exit(i32),
    /// Remember this lease (the state file): after every `bound`/`renew`.
    Remember(Lease),
    /// Forget the remembered lease: NAK, release, expiry, declined.
    Forget,
}

/// A lease remembered from an earlier run (the state file), for
/// [`Client::remember`](super::Client::remember).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remembered {
    /// The address to ask for.
    pub ip: Ipv4Addr,
    /// When it ends on this run's clock (`None`: infinite).
    pub expiry: Option<Instant>,
}
