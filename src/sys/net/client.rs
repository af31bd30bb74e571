//! udhcpc's sockets (reference §1.6): the one receive socket of the
//! client's current [`ListenMode`], and the send path of a [`Transmit`].
//!
//! - [`ListenMode::Raw`]: a [`RawSocket`] on the interface for the client
//!   port (it sees replies to an address we do not have yet);
//! - [`ListenMode::Kernel`]: a [`UdpSocket`] bound to `0.0.0.0:port` and to
//!   the device (renewing: the server unicasts to our address);
//! - [`ListenMode::None`]: nothing open, as BusyBox closes its socket while
//!   bound, while scripts run and while it waits to try again.
//!
//! Sending follows [`Transmit::via`]: [`Via::Raw`] builds the IPv4/UDP
//! frame ourselves (source `src_ip`, usually 0.0.0.0) and sends it to the
//! Ethernet broadcast address, as BusyBox always does for raw sends, on the
//! open raw socket when there is one (BusyBox opens a socket per packet;
//! closing one costs a kernel RCU grace period, 15-20 ms);
//! [`Via::Kernel`] goes through the listening UDP socket when there is one,
//! else through a send-only one opened for the occasion (a RELEASE while
//! nothing listens), and the kernel routes it.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd};

use super::raw::{RawSender, RawSocket, Received};
use super::udp::UdpSocket;
use crate::client::{Destination, ListenMode, Transmit, Via};
use crate::wire::MacAddr;

/// What [`ClientSocket::recv`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv<'a> {
    /// Nothing pending.
    Empty,
    /// A frame or datagram that is not a DHCP message for us (logged at
    /// debug level by the layer below); read on.
    Dropped,
    /// A UDP payload for the client port: hand it to the client.
    Payload(&'a [u8]),
}

#[derive(Debug)]
enum Sock {
    None,
    Raw(RawSocket),
    Kernel(UdpSocket),
}

/// Where the client's sockets live: interface name and index, and the
/// client port (`-P`, default 68; servers are on port − 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface name (for `SO_BINDTODEVICE`).
    pub name: String,
    /// Interface index (for the packet socket).
    pub ifindex: u32,
    /// Client UDP port.
    pub client_port: u16,
}

impl Link {
    /// The server port: one below the client port (BusyBox `-P`).
    pub fn server_port(&self) -> u16 {
        self.client_port.saturating_sub(1)
    }
}

/// The socket of one listen mode.
#[derive(Debug)]
pub struct ClientSocket {
    sock: Sock,
}

impl ClientSocket {
    /// No socket ([`ListenMode::None`]).
    pub const fn none() -> ClientSocket {
        ClientSocket { sock: Sock::None }
    }

    /// Opens the socket for `mode` on `link` (nothing for `None`). Errors
    /// carry BusyBox's wording: `socket(PACKET): …`/`bind(PACKET): …`
    /// become one message from the layer below, as do the UDP ones.
    pub fn open(mode: ListenMode, link: &Link) -> io::Result<ClientSocket> {
        let sock = match mode {
            ListenMode::None => Sock::None,
            ListenMode::Raw => {
                log::trace!("opening raw socket on ifindex {}", link.ifindex);
                Sock::Raw(RawSocket::open(link.ifindex, link.client_port)?)
            }
            ListenMode::Kernel => {
                log::trace!(
                    "opening listen socket on *:{} {}",
                    link.client_port,
                    link.name
                );
                let bind = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, link.client_port);
                Sock::Kernel(UdpSocket::open(&link.name, bind)?)
            }
        };
        Ok(ClientSocket { sock })
    }

    /// The mode this socket serves.
    pub fn mode(&self) -> ListenMode {
        match self.sock {
            Sock::None => ListenMode::None,
            Sock::Raw(_) => ListenMode::Raw,
            Sock::Kernel(_) => ListenMode::Kernel,
        }
    }

    /// The fd to poll for `POLLIN`, if a socket is open.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.sock {
            Sock::None => None,
            Sock::Raw(s) => Some(s.as_fd()),
            Sock::Kernel(s) => Some(s.as_fd()),
        }
    }

    /// Reads one frame/datagram into `buf` (size it 1600 for Ethernet).
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Recv<'b>> {
        match &self.sock {
            Sock::None => Ok(Recv::Empty),
            Sock::Raw(s) => Ok(match s.recv(buf)? {
                None => Recv::Empty,
                Some(Received::Dropped(_)) => Recv::Dropped,
                Some(Received::Datagram(d)) => {
                    log::trace!("received a packet");
                    Recv::Payload(d.udp.payload)
                }
            }),
            Sock::Kernel(s) => match s.recv(buf)? {
                None => Ok(Recv::Empty),
                Some(r) if r.truncated => {
                    log::debug!("oversized packet, ignoring");
                    Ok(Recv::Dropped)
                }
                Some(r) => {
                    log::trace!("received a packet");
                    Ok(buf.get(..r.len).map_or(Recv::Dropped, Recv::Payload))
                }
            },
        }
    }

    /// Sends `t` on `link` (see the module doc).
    pub fn send(&self, link: &Link, t: &Transmit) -> io::Result<()> {
        let dst_ip = match t.dest {
            Destination::Broadcast => Ipv4Addr::BROADCAST,
            Destination::Unicast(ip) => ip,
        };
        match t.via {
            // On the open raw socket when there is one. A one-shot socket
            // only where none is open (DECLINE/RELEASE, a broadcast renew
            // without server id): closing an AF_PACKET socket waits for an
            // RCU grace period (`synchronize_net`, 15-20 ms measured), which
            // a socket per DISCOVER/REQUEST put on the path to `bound`.
            Via::Raw => {
                let one_shot;
                let sender = match &self.sock {
                    Sock::Raw(s) => s.sender(),
                    _ => {
                        one_shot = RawSender::open(link.ifindex)?;
                        &one_shot
                    }
                };
                sender.send(
                    MacAddr::BROADCAST,
                    t.src_ip,
                    link.client_port,
                    dst_ip,
                    link.server_port(),
                    &t.message,
                )
            }
            Via::Kernel => {
                let dst = SocketAddrV4::new(dst_ip, link.server_port());
                if let Sock::Kernel(s) = &self.sock {
                    return s.send_to(&t.message, dst);
                }
                let bind = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, link.client_port);
                UdpSocket::open(&link.name, bind)?.send_to(&t.message, dst)
            }
        }
    }
}
