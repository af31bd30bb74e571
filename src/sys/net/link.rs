//! Carrier changes from rtnetlink (rtnetlink(7)): a `NETLINK_ROUTE` socket
//! subscribed to `RTMGRP_LINK`, non-blocking, read in udhcpc's poll loop.
//! The kernel sends an `RTM_NEWLINK` whenever an interface's flags change,
//! so carrier loss and return are seen at once with no polling.
//!
//! [`parse_link_messages`] is the pure part (byte vectors in, events out);
//! [`LinkWatcher`] owns the socket. A receive-queue overflow (`ENOBUFS`:
//! messages were lost) is reported as [`LinkNews::Resync`], and the caller
//! re-reads the flags with `SIOCGIFFLAGS`.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `RTM_NEWLINK` (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
const RTM_DELLINK: u16 = 17;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
/// Receive buffer: the kernel's default netlink message size is a page.
const RECV_BUF: usize = 8192;
/// Datagrams read per wake-up before the loop looks at other inputs.
const MAX_READS: usize = 64;

/// One link message about some interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMsg {
    /// `ifi_index`.
    pub ifindex: u32,
    /// `RTM_DELLINK`: the interface is gone.
    pub removed: bool,
    /// IFF_UP and IFF_RUNNING (IFF_RUNNING follows the carrier).
    pub carrier: bool,
}

/// What a read of the watcher found for our interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkNews {
    /// Nothing about our interface.
    None,
    /// The last carrier state reported for it.
    Carrier(bool),
    /// It was removed.
    Removed,
    /// Messages were lost: re-read the flags.
    Resync,
}

/// The link messages in one netlink datagram, in order. Anything else
/// (other types, truncated or malformed messages) is skipped; a length
/// that does not fit ends the parse.
pub fn parse_link_messages(buf: &[u8]) -> Vec<LinkMsg> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let u32_at = |b: &[u8], i: usize| {
            b.get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_ne_bytes)
        };
        let Some(len) = u32_at(rest, 0).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let kind = rest
            .get(4..6)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map_or(0, u16::from_ne_bytes);
        let msg = rest.get(..len).unwrap_or_default();
        if (kind == RTM_NEWLINK || kind == RTM_DELLINK) && len >= NLMSG_HDRLEN + IFINFOMSG_LEN {
            let body = msg.get(NLMSG_HDRLEN..).unwrap_or_default();
            let index = u32_at(body, 4).unwrap_or(0);
            let flags = u32_at(body, 8).unwrap_or(0);
            let up = flags & libc::IFF_UP as u32 != 0;
            let running = flags & libc::IFF_RUNNING as u32 != 0;
            out.push(LinkMsg {
                ifindex: index,
                removed: kind == RTM_DELLINK,
                carrier: kind == RTM_NEWLINK && up && running,
            });
        }
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        let next = len.div_ceil(4) * 4;
        rest = rest.get(next..).unwrap_or_default();
    }
    out
}

/// What `msgs` say about `ifindex`: the last word wins.
pub fn news_for(msgs: &[LinkMsg], ifindex: u32) -> LinkNews {
    msgs.iter()
        .rev()
        .find(|m| m.ifindex == ifindex)
        .map_or(LinkNews::None, |m| {
            if m.removed {
                LinkNews::Removed
            } else {
                LinkNews::Carrier(m.carrier)
            }
        })
}

/// A non-blocking rtnetlink socket in the `RTMGRP_LINK` group.
#[derive(Debug)]
pub struct LinkWatcher {
    fd: OwnedFd,
}

impl LinkWatcher {
    /// Opens and subscribes the socket (close-on-exec).
    pub fn open() -> io::Result<LinkWatcher> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        let raw =
            Errno::result(raw).map_err(|e| super::with_context("netlink socket", e.into()))?;
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain old data; all-zero is valid.
        let mut sa: libc::sockaddr_nl = unsafe { mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = libc::RTMGRP_LINK as u32;
        // SAFETY: `sa` is a live sockaddr_nl and the length is its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        Errno::result(r).map_err(|e| super::with_context("netlink bind", e.into()))?;
        Ok(LinkWatcher { fd })
    }

    /// The descriptor to poll for input.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Drains what is queued (at most `MAX_READS` datagrams) and says
    /// what it meant for `ifindex`.
    pub fn read(&mut self, ifindex: u32) -> io::Result<LinkNews> {
        let mut buf = vec![0u8; RECV_BUF];
        let mut news = LinkNews::None;
        for _ in 0..MAX_READS {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast::<libc::c_void>(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            match Errno::result(n) {
                Ok(n) => {
                    let n = usize::try_from(n).unwrap_or(0);
                    let msgs = parse_link_messages(buf.get(..n).unwrap_or_default());
                    match news_for(&msgs, ifindex) {
                        LinkNews::None => {}
                        LinkNews::Resync => news = LinkNews::Resync,
                        fresh => {
                            if news != LinkNews::Resync {
                                news = fresh;
                            }
                        }
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::ENOBUFS) => news = LinkNews::Resync,
                Err(e) => return Err(super::with_context("netlink recv", e.into())),
            }
        }
        Ok(news)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, index: u32, flags: u32, extra: usize) -> Vec<u8> {
        let len = NLMSG_HDRLEN + IFINFOMSG_LEN + extra;
        let mut v = Vec::new();
        v.extend((len as u32).to_ne_bytes());
        v.extend(kind.to_ne_bytes());
        v.extend([0u8; 10]);
        v.extend([0u8, 0, 1, 0]); // family, pad, type
        v.extend(index.to_ne_bytes());
        v.extend(flags.to_ne_bytes());
        v.extend(0xffff_ffffu32.to_ne_bytes());
        v.extend(vec![0xaa; extra]);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    const UP_RUNNING: u32 = (libc::IFF_UP | libc::IFF_RUNNING) as u32;

    #[test]
    fn parses_new_and_del_link() {
        let mut buf = msg(RTM_NEWLINK, 3, UP_RUNNING, 5);
        buf.extend(msg(RTM_NEWLINK, 3, libc::IFF_UP as u32, 0));
        buf.extend(msg(20, 3, UP_RUNNING, 0)); // RTM_NEWADDR: skipped
        buf.extend(msg(RTM_DELLINK, 7, 0, 0));
        let m = parse_link_messages(&buf);
        assert_eq!(
            m,
            [
                LinkMsg {
                    ifindex: 3,
                    removed: false,
                    carrier: true
                },
                LinkMsg {
                    ifindex: 3,
                    removed: false,
                    carrier: false
                },
                LinkMsg {
                    ifindex: 7,
                    removed: true,
                    carrier: false
                },
            ]
        );
        assert_eq!(news_for(&m, 3), LinkNews::Carrier(false));
        assert_eq!(news_for(&m, 7), LinkNews::Removed);
        assert_eq!(news_for(&m, 9), LinkNews::None);
    }

    #[test]
    fn malformed_input_never_panics() {
        let good = msg(RTM_NEWLINK, 3, UP_RUNNING, 0);
        for cut in 0..good.len() {
            let _ = parse_link_messages(&good[..cut]);
        }
        // Length below the header, beyond the buffer, or too short for
        // an ifinfomsg: nothing.
        let mut bad = good.clone();
        bad[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_link_messages(&bad).is_empty());
        bad[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_link_messages(&bad).is_empty());
        bad[..4].copy_from_slice(&20u32.to_ne_bytes());
        assert!(parse_link_messages(&bad).is_empty());
        for seed in 0..200u32 {
            let junk: Vec<u8> = (0..64u32)
                .map(|i| (i.wrapping_mul(seed).wrapping_add(seed >> 1) % 251) as u8)
                .collect();
            let _ = parse_link_messages(&junk);
        }
    }
}
