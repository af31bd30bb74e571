//! The OS layer: the only place in the crate that calls libc or nix, holds
//! `unsafe`, reads a clock, touches processes or signals. Everything above
//! it (`wire`, and the protocol cores to come) is a pure function of its
//! inputs; the applets glue the two together.
//!
//! Rules for this layer:
//! - every `unsafe` block carries a `// SAFETY:` comment;
//! - raw libc results go through `nix::errno::Errno::result`, and errors
//!   leave as `io::Error`;
//! - every fd is opened close-on-exec; children are always reaped;
//! - the process is single-threaded (one poll loop per daemon), which
//!   `daemon::daemonize` relies on.
//!
//! Process side:
//! - [`clock`]: monotonic `now()` (`CLOCK_BOOTTIME`), wall time, random
//!   numbers;
//! - [`signal`]: the self-pipe that turns signals into poll events;
//! - [`pidfile`]: a locked, atomically written pidfile;
//! - [`daemon`]: backgrounding that reports the child's startup result;
//! - [`log`]: the `APPLET: message` stderr/syslog logger;
//! - [`monitor`]: `--monitor`, the parent that restarts a crashed daemon;
//! - [`process`]: running scripts with a clean environment, bounded and
//!   always reaped;
//! - [`leasestore`]: the lease store's `Disk` over real files (`O_NOFOLLOW`,
//!   `O_EXCL`, 0600) and dumpleases' read-only snapshot;
//! - [`statefile`]: small files replaced atomically (udhcpc's lease memory).
//!
//! Network side, in [`net`]: `iface` (ifindex, MAC, address and carrier of
//! an interface), `raw` (AF_PACKET send/receive of IPv4+UDP), `udp` (kernel
//! sockets on ports 67/68 bound to an interface) and `arp` (non-blocking ARP
//! probes and a bounded `arping`).

pub mod clock;
pub mod daemon;
pub mod leasestore;
pub mod localtime;
pub mod log;
pub mod monitor;
pub mod net;
pub mod pidfile;
pub mod process;
pub mod signal;
pub mod statefile;
