//! Sockets and interfaces: everything udhcpc and udhcpd need from the
//! kernel's network stack (reference §1.6, §5.4–5.6, §5.8).
//!
//! - [`iface`]: ifindex, MAC, IPv4 address and link state of an interface
//!   (`SIOCGIF*`), and the `:alias` rule for `SO_BINDTODEVICE`.
//! - [`raw`]: the AF_PACKET IPv4 socket: our own IPv4+UDP header out, every
//!   IPv4 frame in, validated in user space by [`crate::wire::udp`].
//! - [`udp`]: the kernel UDP socket on port 67/68 bound to the interface.
//! - [`udp6`]: udhcpc6's UDP socket on port 546, multicasting to ff02::1:2.
//! - [`client`]: udhcpc's socket per listen mode and its send path.
//! - [`link`]: carrier changes from rtnetlink (`RTMGRP_LINK`), no polling.
//! - [`arp`]: ARP probing that never blocks the poll loop, its pure
//!   bookkeeping, and a bounded blocking `arping` for udhcpc `-a`.
//! - [`icmp`]: ICMP echo probing (ISC dhcpd's `ping-check`) for relayed
//!   networks, where ARP sees nothing: a pure bounded table of pings and
//!   the raw `IPPROTO_ICMP` socket, routed, bound to no device.
//!
//! All sockets are non-blocking and close-on-exec (scripts must not inherit
//! them). Receive functions return `Ok(None)` when nothing is pending, so a
//! poll loop can drain a socket until then.
//!
//! The `unsafe` lives here and in [`iface`]'s ioctls: [`PacketSocket`]
//! (neither std nor socket2 without its `all` feature speaks
//! `sockaddr_ll`), and the `setsockopt`/`recvmsg` helpers shared with
//! [`udp`] for SO_BINDTODEVICE, IP_PKTINFO and PACKET_AUXDATA. They use
//! libc directly rather than nix's `socket` feature, which would add a
//! dependency (memoffset) to the build.

pub mod arp;
pub mod client;
pub mod icmp;
pub mod iface;
pub mod link;
pub mod raw;
pub mod udp;
pub mod udp6;

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::wire::MacAddr;

/// `io::Error` for `err` with `context` in front (`context: strerror`),
/// keeping the error's kind.
pub(crate) fn with_context(context: &str, err: io::Error) -> io::Error {
    let text = match err.raw_os_error() {
        // The bare strerror text, without std's " (os error N)" suffix.
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    };
    io::Error::new(err.kind(), format!("{context}: {text}"))
}

/// `io::Error` for `err` naming the interface, e.g.
/// `interface 'eth9': No such device`.
pub(crate) fn iface_error(name: &str, err: io::Error) -> io::Error {
    with_context(&format!("interface '{name}'"), err)
}

/// An interface index as the C API wants it (`int`).
fn c_ifindex(ifindex: u32) -> io::Result<libc::c_int> {
    libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))
}

/// A link-layer address for `bind`/`sendto` (packet(7)): family AF_PACKET,
/// EtherType in network order, interface index, and for sending the
/// destination hardware address (the kernel builds the Ethernet header from
/// it and the interface's own MAC).
fn sockaddr_ll(ifindex: libc::c_int, ethertype: u16, dst: Option<MacAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data (integers and a byte array);
    // all-zero is a valid value of every field.
    let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as libc::c_ushort;
    sa.sll_protocol = ethertype.to_be();
    sa.sll_ifindex = ifindex;
    if let Some(mac) = dst {
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&mac.octets());
    }
    sa
}

const SOCKADDR_LL_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;

/// Control-message buffer for `recvmsg`, aligned like `struct cmsghdr`
/// (CMSG_FIRSTHDR hands out pointers into it). 64 bytes hold one
/// `tpacket_auxdata` (CMSG_SPACE(20) = 40 on 64-bit) or one `in_pktinfo`
/// (CMSG_SPACE(12) = 32) with room to spare.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// setsockopt(2) with an `int` value.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value points to a live c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::addr_of!(value).cast::<libc::c_void>(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(r)?;
    Ok(())
}

/// setsockopt(2) with a byte-string value (e.g. SO_BINDTODEVICE's name).
pub(crate) fn set_bytes_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option value too long"))?;
    // SAFETY: the option value points to `len` live bytes.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast::<libc::c_void>(),
            len,
        )
    };
    Errno::result(r)?;
    Ok(())
}

/// A received control message: level, type and its data bytes.
pub(crate) struct Cmsg<'a> {
    pub level: libc::c_int,
    pub kind: libc::c_int,
    pub data: &'a [u8],
}

/// One recvmsg(2) on `fd` into `buf`, the source address into `from` (a
/// zeroed `sockaddr_*` of the socket's family), each control message
/// handed to `on_cmsg`. Returns the bytes stored and whether the datagram
/// was truncated (MSG_TRUNC); `Ok(None)` on EAGAIN. EINTR is retried.
pub(crate) fn recv_msg<A: Copy>(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    from: &mut A,
    mut on_cmsg: impl FnMut(Cmsg<'_>),
) -> io::Result<Option<(usize, bool)>> {
    let mut cmsg = CmsgBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is valid (null pointers,
    // zero lengths) and the fields we need are set below.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(from).cast::<libc::c_void>();
    msg.msg_namelen = mem::size_of::<A>() as libc::socklen_t;
    msg.msg_iov = std::ptr::addr_of_mut!(iov);
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_controllen = cmsg.0.len() as _;
    let n = loop {
        // SAFETY: every pointer in `msg` refers to a live buffer of the
        // stated length (`buf` via `iov`, `from`, `cmsg`), all exclusively
        // borrowed for the call; the kernel writes at most those lengths.
        let r = unsafe { libc::recvmsg(fd.as_raw_fd(), std::ptr::addr_of_mut!(msg), 0) };
        match Errno::result(r) {
            Ok(n) => break n.unsigned_abs(),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    };
    let controllen = msg.msg_controllen as usize;
    // SAFETY: `msg` was filled by a successful recvmsg(2): CMSG_FIRSTHDR and
    // CMSG_NXTHDR return headers inside `cmsg` (bounded by msg_controllen)
    // or null, and each data slice is clipped to both the header's
    // cmsg_len and the end of the buffer the kernel filled.
    unsafe {
        let base = cmsg.0.as_ptr() as usize;
        let end = base + controllen.min(cmsg.0.len());
        let mut c = libc::CMSG_FIRSTHDR(std::ptr::addr_of!(msg));
        while !c.is_null() {
            let h = &*c;
            let data = libc::CMSG_DATA(c);
            let header = libc::CMSG_LEN(0) as usize;
            let want = (h.cmsg_len as usize).saturating_sub(header);
            let avail = end.saturating_sub(data as usize);
            let data = std::slice::from_raw_parts(data, want.min(avail));
            on_cmsg(Cmsg {
                level: h.cmsg_level,
                kind: h.cmsg_type,
                data,
            });
            c = libc::CMSG_NXTHDR(std::ptr::addr_of!(msg), c);
        }
    }
    Ok(Some((
        n.min(buf.len()),
        msg.msg_flags & libc::MSG_TRUNC != 0,
    )))
}

/// What the kernel told us about one frame read by [`PacketSocket::recv`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameInfo {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The frame was longer than the buffer (MSG_TRUNC): `len` bytes are a prefix.
    pub truncated: bool,
    /// `sll_pkttype`: PACKET_HOST, PACKET_BROADCAST, ..., PACKET_OUTGOING
    /// for frames this host sent (looped back to packet sockets).
    pub pkttype: u8,
    /// `sll_addr`: the frame's source MAC.
    pub src_mac: MacAddr,
    /// PACKET_AUXDATA reported TP_STATUS_CSUMNOTREADY: the sender offloaded
    /// the transport checksum (veth, virtio), so the field is not filled in.
    pub csum_not_ready: bool,
}

/// A non-blocking, close-on-exec `AF_PACKET`/`SOCK_DGRAM` socket: the kernel
/// strips (on receive) or adds (on send) the Ethernet header.
#[derive(Debug)]
pub(crate) struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// Opens the socket with protocol `ethertype` (0: receive nothing until
    /// [`bind`](Self::bind) names one, which lets options and a filter be
    /// set before the first frame is queued).
    pub(crate) fn new(ethertype: u16) -> io::Result<Self> {
        // SAFETY: socket(2) takes only integers; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(ethertype.to_be()),
            )
        };
        let fd = Errno::result(fd)?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Binds to interface `ifindex`, receiving frames of `ethertype` only.
    pub(crate) fn bind(&self, ifindex: u32, ethertype: u16) -> io::Result<()> {
        let sa = sockaddr_ll(c_ifindex(ifindex)?, ethertype, None);
        // SAFETY: `sa` is a valid sockaddr_ll and the length is its size.
        let r = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
                SOCKADDR_LL_LEN,
            )
        };
        Errno::result(r)?;
        Ok(())
    }

    /// setsockopt(2) with an `int` value.
    pub(crate) fn set_int_option(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        set_int_option(self.fd.as_fd(), level, name, value)
    }

    /// Attaches a classic BPF program (SO_ATTACH_FILTER). The kernel copies
    /// the program, so `prog` need only live for the call.
    pub(crate) fn attach_filter(&self, prog: &[libc::sock_filter]) -> io::Result<()> {
        let len = u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
        let fprog = libc::sock_fprog {
            len,
            // The kernel only reads through this pointer (copy_from_user).
            filter: prog.as_ptr().cast_mut(),
        };
        // SAFETY: `fprog` points to `len` valid instructions for the whole call.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                std::ptr::addr_of!(fprog).cast::<libc::c_void>(),
                mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        Errno::result(r)?;
        Ok(())
    }

    /// Sends `data` as the payload of one Ethernet frame of type `ethertype`
    /// from interface `ifindex` to hardware address `dst`.
    pub(crate) fn send_to(
        &self,
        ifindex: u32,
        ethertype: u16,
        dst: MacAddr,
        data: &[u8],
    ) -> io::Result<()> {
        let sa = sockaddr_ll(c_ifindex(ifindex)?, ethertype, Some(dst));
        // SAFETY: `data` is a live slice of the given length and `sa` a valid
        // sockaddr_ll of the given size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr().cast::<libc::c_void>(),
                data.len(),
                0,
                std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
                SOCKADDR_LL_LEN,
            )
        };
        let n = Errno::result(n)?;
        if n.unsigned_abs() != data.len() {
            // Packet sockets send whole frames or fail; be explicit anyway.
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Reads one frame into `buf`. `Ok(None)`: nothing pending (EAGAIN).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<Option<FrameInfo>> {
        let mut from = sockaddr_ll(0, 0, None);
        let mut csum_not_ready = false;
        let got = recv_msg(self.fd.as_fd(), buf, &mut from, |c| {
            if c.level == libc::SOL_PACKET && c.kind == libc::PACKET_AUXDATA {
                // tp_status is the first field of struct tpacket_auxdata.
                if let Some(b) = c.data.first_chunk::<4>() {
                    let status = u32::from_ne_bytes(*b);
                    csum_not_ready = status & libc::TP_STATUS_CSUMNOTREADY != 0;
                }
            }
        })?;
        let Some((len, truncated)) = got else {
            return Ok(None);
        };
        let mut src_mac = MacAddr::ZERO;
        if from.sll_halen == 6 {
            src_mac.0.copy_from_slice(&from.sll_addr[..6]);
        }
        Ok(Some(FrameInfo {
            len,
            truncated,
            pkttype: from.sll_pkttype,
            src_mac,
            csum_not_ready,
        }))
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iface_error_names_the_interface() {
        let e = iface_error("eth9", io::Error::from_raw_os_error(libc::ENODEV));
        assert_eq!(e.to_string(), "interface 'eth9': No such device");
        let e = iface_error("x", io::Error::new(io::ErrorKind::InvalidInput, "bad"));
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "interface 'x': bad");
    }

    #[test]
    fn sockaddr_ll_fields() {
        let sa = sockaddr_ll(7, 0x0800, Some(MacAddr::BROADCAST));
        assert_eq!(sa.sll_family, libc::AF_PACKET as u16);
        assert_eq!(sa.sll_protocol, 0x0800u16.to_be());
        assert_eq!(sa.sll_ifindex, 7);
        assert_eq!(sa.sll_halen, 6);
        assert_eq!(sa.sll_addr, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    }
}
