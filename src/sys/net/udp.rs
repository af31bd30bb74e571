//! The kernel UDP socket (reference §1.6 "KERNEL", §2.6, §5.5): udhcpd's
//! listening socket on port 67, udhcpc's on port 68 while renewing, and the
//! unicast/relay send path of both.
//!
//! Options as BusyBox sets them: SO_REUSEADDR (one daemon per interface,
//! all on port 67), SO_BROADCAST, SO_BINDTODEVICE (the interface name with
//! any `:alias` suffix stripped), plus IP_PKTINFO so every datagram reports
//! the interface it arrived on. Non-blocking and close-on-exec.

use std::io;
use std::mem::offset_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::iface::bind_device_name;
use super::{iface_error, recv_msg, set_bytes_option, set_int_option, with_context};

/// One datagram read by [`UdpSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpReceived {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The datagram did not fit the buffer; `len` bytes are a prefix.
    pub truncated: bool,
    /// Sender's address and port.
    pub src: SocketAddrV4,
    /// Index of the interface it arrived on (IP_PKTINFO `ipi_ifindex`);
    /// 0 if the kernel gave no packet info.
    pub ifindex: u32,
    /// Destination address in its IP header (`ipi_addr`): tells a
    /// broadcast from a unicast.
    pub dst: Ipv4Addr,
}

/// A kernel UDP socket bound to an interface and a port.
#[derive(Debug)]
pub struct UdpSocket {
    sock: Socket,
}

impl UdpSocket {
    /// Opens the socket on interface `iface` (an `eth0:1` alias binds to
    /// `eth0`) and binds it to `bind`: `0.0.0.0:67` for udhcpd,
    /// `0.0.0.0:68` for udhcpc, or another port for `-P`.
    ///
    /// Errors say what failed: `interface 'eth9': No such device`, or
    /// `bind 0.0.0.0:67: Address already in use`.
    pub fn open(iface: &str, bind: SocketAddrV4) -> io::Result<UdpSocket> {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // socket2 creates sockets with SOCK_CLOEXEC on Linux.
        sock.set_nonblocking(true)?;
        sock.set_reuse_address(true)?;
        sock.set_broadcast(true)?;
        let dev = bind_device_name(iface);
        set_bytes_option(
            sock.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            dev.as_bytes(),
        )
        .map_err(|e| iface_error(dev, e))?;
        set_int_option(sock.as_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        sock.bind(&SockAddr::from(bind))
            .map_err(|e| with_context(&format!("bind {bind}"), e))?;
        Ok(UdpSocket { sock })
    }

    /// The address the socket is bound to (the port chosen by the kernel
    /// if `bind` asked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock
            .local_addr()?
            .as_socket_ipv4()
            .ok_or_else(|| io::Error::other("not an IPv4 socket"))
    }

    /// Sends `payload` to `dst` (a relay's giaddr:67, a client's ciaddr,
    /// a server for a renewal, or 255.255.255.255). The kernel routes it
    /// out of the bound interface. A full send buffer is
    /// [`io::ErrorKind::WouldBlock`]: drop the packet, DHCP retransmits.
    pub fn send_to(&self, payload: &[u8], dst: SocketAddrV4) -> io::Result<()> {
        let n = self.sock.send_to(payload, &SockAddr::from(dst))?;
        if n != payload.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Reads one datagram into `buf`. `Ok(None)`: nothing pending.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<UdpReceived>> {
        let mut from = libc::sockaddr_in {
            sin_family: 0,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: 0 },
            sin_zero: [0; 8],
        };
        let (mut ifindex, mut dst) = (0, Ipv4Addr::UNSPECIFIED);
        let got = recv_msg(self.sock.as_fd(), buf, &mut from, |c| {
            if c.level == libc::IPPROTO_IP && c.kind == libc::IP_PKTINFO {
                // struct in_pktinfo: int ipi_ifindex; in_addr ipi_spec_dst,
                // ipi_addr (network order).
                let at = |off: usize| c.data.get(off..).and_then(|d| d.first_chunk::<4>());
                if let Some(b) = at(offset_of!(libc::in_pktinfo, ipi_ifindex)) {
                    ifindex = u32::try_from(i32::from_ne_bytes(*b)).unwrap_or(0);
                }
                if let Some(b) = at(offset_of!(libc::in_pktinfo, ipi_addr)) {
                    dst = Ipv4Addr::from(*b);
                }
            }
        })?;
        let Some((len, truncated)) = got else {
            return Ok(None);
        };
        let src = SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)),
            u16::from_be(from.sin_port),
        );
        Ok(Some(UdpReceived {
            len,
            truncated,
            src,
            ifindex,
            dst,
        }))
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
