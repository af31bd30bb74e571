//! What udhcpc and udhcpd learn about their interface at startup
//! (reference §5.6, BusyBox `udhcp_read_interface`): index, hardware
//! address, IPv4 address and link state, by `SIOCGIF*` ioctls on a
//! throw-away AF_INET datagram socket.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket, Type};

use super::iface_error;
use crate::wire::MacAddr;

/// An interface as `SIOCGIF*` reported it at [`Interface::query`] time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The name queried, as given (an `eth0:1` alias keeps its suffix).
    pub name: String,
    /// Kernel interface index (`SIOCGIFINDEX`), never 0.
    pub ifindex: u32,
    /// Hardware address (`SIOCGIFHWADDR`, first 6 bytes; all zero on
    /// interfaces without one, such as `lo`).
    pub mac: MacAddr,
    /// Primary IPv4 address (`SIOCGIFADDR`), `None` when the interface has
    /// none: udhcpc's interface normally starts unconfigured.
    pub ipv4: Option<Ipv4Addr>,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_RUNNING: operationally up, i.e. the link has carrier.
    pub running: bool,
    /// The MTU (`SIOCGIFMTU`): udhcpc passes the one it found at start to
    /// its script as `default_mtu`, to restore on `deconfig`.
    pub mtu: u32,
}

impl Interface {
    /// Queries interface `name`. Errors name the interface, e.g.
    /// `interface 'eth9': No such device`; an over-long or empty name is
    /// rejected with [`io::ErrorKind::InvalidInput`] before any ioctl.
    pub fn query(name: &str) -> io::Result<Interface> {
        query(name).map_err(|e| iface_error(name, e))
    }

    /// Up and with carrier (IFF_UP and IFF_RUNNING).
    pub fn carrier(&self) -> bool {
        self.up && self.running
    }
}

/// The name to give `SO_BINDTODEVICE`: `eth0:1` → `eth0`. An alias is an
/// extra address on its device, and the kernel binds sockets to devices
/// (BusyBox strips the suffix the same way, reference §1.6).
pub fn bind_device_name(name: &str) -> &str {
    match name.split_once(':') {
        Some((dev, _alias)) => dev,
        None => name,
    }
}

/// A zeroed `ifreq` carrying `name`, NUL-terminated.
fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    // SAFETY: ifreq is plain old data (a byte array and a union of integers,
    // sockaddrs and a pointer); all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// ioctl(2) `request` on `sock` with `ifr` in and out.
fn ioctl(sock: &Socket, request: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every SIOCGIF* request used here reads the NUL-terminated name
    // and writes at most one ifreq through the pointer, which refers to a
    // live, exclusively borrowed ifreq. (`as _`: the request parameter is
    // c_ulong on glibc and c_int on musl.)
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, std::ptr::from_mut(ifr)) };
    nix::errno::Errno::result(r)?;
    Ok(())
}

fn query(name: &str) -> io::Result<Interface> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    let mut ifr = ifreq_for(name)?;

    ioctl(&sock, libc::SIOCGIFINDEX, &mut ifr)?;
    // SAFETY: SIOCGIFINDEX succeeded, so the union holds ifru_ifindex.
    let index = unsafe { ifr.ifr_ifru.ifru_ifindex };
    let ifindex = u32::try_from(index)
        .ok()
        .filter(|&i| i != 0)
        .ok_or_else(|| io::Error::other("kernel returned an invalid interface index"))?;

    ioctl(&sock, libc::SIOCGIFHWADDR, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR succeeded, so the union holds ifru_hwaddr.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = MacAddr::ZERO;
    for (dst, &src) in mac.0.iter_mut().zip(hw.sa_data.iter()) {
        *dst = src as u8;
    }

    ioctl(&sock, libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the union holds ifru_flags.
    let flags = libc::c_int::from(unsafe { ifr.ifr_ifru.ifru_flags });
    let up = flags & libc::IFF_UP != 0;
    let running = flags & libc::IFF_RUNNING != 0;

    ioctl(&sock, libc::SIOCGIFMTU, &mut ifr)?;
    // SAFETY: SIOCGIFMTU succeeded, so the union holds ifru_mtu.
    let mtu = u32::try_from(unsafe { ifr.ifr_ifru.ifru_mtu }).unwrap_or(0);

    // Optional: an interface without an IPv4 address answers EADDRNOTAVAIL.
    let ipv4 = match ioctl(&sock, libc::SIOCGIFADDR, &mut ifr) {
        Ok(()) => {
            // SAFETY: SIOCGIFADDR succeeded, so ifru_addr holds an AF_INET
            // address, whose layout is sockaddr_in (same size as sockaddr);
            // read unaligned to make no alignment assumption.
            let sin: libc::sockaddr_in = unsafe {
                std::ptr::read_unaligned(
                    std::ptr::addr_of!(ifr.ifr_ifru.ifru_addr).cast::<libc::sockaddr_in>(),
                )
            };
            Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        }
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => None,
        Err(e) => return Err(e),
    };

    Ok(Interface {
        name: name.to_string(),
        ifindex,
        mac,
        ipv4,
        up,
        running,
        mtu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_suffix_stripped() {
        assert_eq!(bind_device_name("eth0"), "eth0");
        assert_eq!(bind_device_name("eth0:1"), "eth0");
        assert_eq!(bind_device_name("br-lan:dhcp:x"), "br-lan");
        assert_eq!(bind_device_name(""), "");
    }

    #[test]
    fn bad_names_rejected_before_any_ioctl() {
        for name in ["", "0123456789abcdef", "a\0b"] {
            let e = Interface::query(name).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}");
            assert!(e.to_string().starts_with("interface '"), "{e}");
        }
    }
}
