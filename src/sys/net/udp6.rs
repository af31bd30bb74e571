//! udhcpc6's socket (RFC 8415 §7.1, §7.2): UDP on `[::]:546` bound to
//! the interface with SO_BINDTODEVICE, sending to ff02::1:2 port 547 out
//! of that interface (IPV6_MULTICAST_IF, scope id = ifindex). The kernel
//! picks the link-local address as source for a link-scope destination
//! (RFC 6724 rule 2), which is what servers and relays answer to.
//! Non-blocking and close-on-exec.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::iface::bind_device_name;
use super::{iface_error, set_bytes_option, with_context};

/// The client's UDP socket on one interface.
#[derive(Debug)]
pub struct Client6Socket {
    sock: UdpSocket,
    ifindex: u32,
    server_port: u16,
}

impl Client6Socket {
    /// Opens `[::]:client_port` on `iface` (index `ifindex`); messages go
    /// to ff02::1:2 port `client_port + 1` (BusyBox `-P`).
    pub fn open(iface: &str, ifindex: u32, client_port: u16) -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_nonblocking(true)?;
        sock.set_reuse_address(true)?;
        sock.set_only_v6(true)?;
        let dev = bind_device_name(iface);
        set_bytes_option(
            sock.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            dev.as_bytes(),
        )
        .map_err(|e| iface_error(dev, e))?;
        sock.set_multicast_if_v6(ifindex)?;
        sock.set_multicast_loop_v6(false)?;
        let bind = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, client_port, 0, 0);
        sock.bind(&SockAddr::from(bind))
            .map_err(|e| with_context(&format!("bind [::]:{client_port}"), e))?;
        Ok(Client6Socket {
            sock: sock.into(),
            ifindex,
            server_port: client_port.wrapping_add(1),
        })
    }

    /// Multicasts `payload` to All_DHCP_Relay_Agents_and_Servers.
    pub fn send(&self, payload: &[u8]) -> io::Result<()> {
        let dst = SocketAddrV6::new(
            crate::wire::dhcpv6::ALL_SERVERS,
            self.server_port,
            0,
            self.ifindex,
        );
        let n = self.sock.send_to(payload, dst)?;
        if n != payload.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Reads one datagram: `Ok(None)` when nothing is pending,
    /// `Ok(Some((len, from)))` otherwise. Datagrams longer than `buf` are
    /// cut (DHCPv6 messages that big are not for a client).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        match self.sock.recv_from(buf) {
            Ok(got) => Ok(Some(got)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The port servers send from (the client port + 1).
    pub fn server_port(&self) -> u16 {
        self.server_port
    }
}

impl AsFd for Client6Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
