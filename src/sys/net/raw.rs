//! The raw IPv4 path (reference §1.6, §5.4, §2.12): an `AF_PACKET`,
//! `SOCK_DGRAM`, `ETH_P_IP` socket on one interface.
//!
//! udhcpc listens here while it has no address (it must see replies
//! addressed to an IP it does not have yet), and both applets send here
//! when the kernel cannot route: from 0.0.0.0, to 255.255.255.255, or to a
//! client's MAC before it has an address. We write the IPv4 and UDP headers
//! ourselves ([`crate::wire::udp::build_ipv4_udp`]); the kernel adds the
//! Ethernet header from `sockaddr_ll` (destination MAC) and the interface.
//!
//! On receive the socket sees every IPv4 frame of the interface. User-space
//! validation ([`crate::wire::udp::parse_ipv4_udp`]) is authoritative; the
//! optional classic BPF filter ([`RawSocket::open`]) only saves wake-ups.
//! `PACKET_AUXDATA` tells us when the UDP checksum was offloaded by the
//! sender (TP_STATUS_CSUMNOTREADY, e.g. veth and virtio) and so cannot be
//! verified yet; frames we sent ourselves (PACKET_OUTGOING) are skipped.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use super::PacketSocket;
use crate::wire::{self, ether::ETHERTYPE_IPV4, udp, MacAddr, UdpDatagram};

/// A frame read by [`RawSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// A valid UDP datagram for the socket's port.
    Datagram(RawDatagram<'a>),
    /// A frame that failed validation, with the reason (also logged at
    /// debug level). Nothing to do but read on.
    Dropped(wire::Error),
}

/// A UDP datagram accepted by [`RawSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDatagram<'a> {
    /// Addresses, ports and the payload, borrowed from the receive buffer.
    pub udp: UdpDatagram<'a>,
    /// The Ethernet source address of the frame.
    pub src_mac: MacAddr,
    /// True if the UDP checksum was not verified because the kernel said it
    /// is not filled in yet (TP_STATUS_CSUMNOTREADY: sender-side offload).
    pub checksum_offloaded: bool,
}

/// The raw IPv4/UDP socket, bound to one interface and one destination port.
#[derive(Debug)]
pub struct RawSocket {
    /// The bound socket; it sends as well as it receives.
    tx: RawSender,
    port: u16,
}

impl RawSocket {
    /// Opens the socket on `ifindex` for UDP datagrams to `port` (68 for
    /// udhcpc, or its `-P` value), with the BPF pre-filter attached.
    /// If the kernel refuses the filter, the socket works without it.
    pub fn open(ifindex: u32, port: u16) -> io::Result<RawSocket> {
        Self::open_with(ifindex, port, true)
    }

    /// As [`open`](Self::open), without the BPF filter: every IPv4 frame of
    /// the interface reaches user space (what BusyBox does since 1.23).
    pub fn open_unfiltered(ifindex: u32, port: u16) -> io::Result<RawSocket> {
        Self::open_with(ifindex, port, false)
    }

    fn open_with(ifindex: u32, port: u16, filtered: bool) -> io::Result<RawSocket> {
        // Protocol 0 first: the socket queues nothing until bind() names
        // ETH_P_IP, so no frame slips in before the options and the filter.
        let sock = PacketSocket::new(0)?;
        if let Err(e) = sock.set_int_option(libc::SOL_PACKET, libc::PACKET_AUXDATA, 1) {
            // Without auxdata every UDP checksum is verified, which drops
            // offloaded frames; BusyBox logs this at -v and carries on.
            log::debug!("can't set PACKET_AUXDATA: {e}");
        }
        if filtered {
            if let Err(e) = sock.attach_filter(&bpf_program(port)) {
                log::debug!("can't attach BPF filter, filtering in user space only: {e}");
            }
        }
        sock.bind(ifindex, ETHERTYPE_IPV4)?;
        Ok(RawSocket {
            tx: RawSender { sock, ifindex },
            port,
        })
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.tx.ifindex
    }

    /// The UDP destination port this socket accepts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// This socket as a sender: frames go out on the interface it is bound
    /// to, without opening another packet socket (closing one waits for a
    /// kernel RCU grace period, 15-20 ms).
    pub fn sender(&self) -> &RawSender {
        &self.tx
    }

    /// Sends a complete, caller-built IPv4 datagram (no link header) to
    /// `dst_mac`, as it is: nothing is checked or recomputed.
    pub fn send_datagram(&self, dst_mac: MacAddr, datagram: &[u8]) -> io::Result<()> {
        self.tx
            .sock
            .send_to(self.tx.ifindex, ETHERTYPE_IPV4, dst_mac, datagram)
    }

    /// Reads the next frame into `buf` and validates it.
    ///
    /// `Ok(None)`: nothing pending. Our own transmissions looped back to
    /// the socket are skipped silently. A frame that fails
    /// [`parse_ipv4_udp`](wire::udp::parse_ipv4_udp) is logged at debug
    /// level and returned as [`Received::Dropped`]; one longer than `buf`
    /// as `Dropped(Error::Oversize)`. Size `buf` for the MTU plus slack
    /// (BusyBox uses 576 + 80 bytes; 1600 is safe for Ethernet).
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        let info = loop {
            match self.tx.sock.recv(buf)? {
                None => return Ok(None),
                Some(info) if info.pkttype == libc::PACKET_OUTGOING => continue,
                Some(info) => break info,
            }
        };
        if info.truncated {
            log::debug!("oversized packet, ignoring");
            return Ok(Some(Received::Dropped(wire::Error::Oversize)));
        }
        let frame = buf.get(..info.len).unwrap_or(&[]);
        match udp::parse_ipv4_udp(frame, self.port, !info.csum_not_ready) {
            Ok(udp) => Ok(Some(Received::Datagram(RawDatagram {
                udp,
                src_mac: info.src_mac,
                checksum_offloaded: info.csum_not_ready,
            }))),
            Err(e) => {
                log::debug!("raw packet from {} dropped: {e}", info.src_mac);
                Ok(Some(Received::Dropped(e)))
            }
        }
    }
}

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tx.sock.as_fd()
    }
}

impl AsRawFd for RawSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.tx.sock.as_raw_fd()
    }
}

/// A send-only raw IPv4 socket on one interface (protocol 0: it never
/// queues received frames), kept open for the daemon's life: udhcpd's
/// broadcast and unicast replies go out here instead of through a new
/// socket per packet as in BusyBox (reference §5.4).
#[derive(Debug)]
pub struct RawSender {
    sock: PacketSocket,
    ifindex: u32,
}

impl RawSender {
    /// Opens the socket for interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<RawSender> {
        Ok(RawSender {
            sock: PacketSocket::new(0)?,
            ifindex,
        })
    }

    /// Sends `payload` in an IPv4+UDP datagram `src_ip:src_port` →
    /// `dst_ip:dst_port` to hardware address `dst_mac` (broadcast, or a
    /// client's chaddr for a unicast reply) from this socket's interface.
    pub fn send(
        &self,
        dst_mac: MacAddr,
        src_ip: Ipv4Addr,
        src_port: u16,
        dst_ip: Ipv4Addr,
        dst_port: u16,
        payload: &[u8],
    ) -> io::Result<()> {
        let need = payload.len().saturating_add(28);
        let mut stack = [0u8; STACK_FRAME];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if need <= STACK_FRAME {
            &mut stack
        } else {
            heap.resize(need, 0);
            &mut heap
        };
        let n = udp::build_ipv4_udp(buf, src_ip, dst_ip, src_port, dst_port, payload)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let datagram = buf.get(..n).unwrap_or(&[]);
        self.sock
            .send_to(self.ifindex, ETHERTYPE_IPV4, dst_mac, datagram)
    }
}

/// Frames up to an Ethernet MTU are built on the stack; larger ones (which
/// only a jumbo-frame link would carry) on the heap.
const STACK_FRAME: usize = 1536;

/// Classic BPF opcodes (linux/bpf_common.h), spelled out so the program
/// below reads like the assembly it is.
mod op {
    // Instruction classes.
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    // Load sizes.
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    // Addressing modes: absolute, indirect (X + k), IPv4 header length.
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MSH: u16 = 0xa0;
    // ALU / jump operations and the immediate-operand source.
    pub const AND: u16 = 0x50;
    pub const JEQ: u16 = 0x10;
    pub const JSET: u16 = 0x40;
    pub const K: u16 = 0x00;
}

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Number of instructions of [`bpf_program`].
const BPF_LEN: usize = 12;

/// The pre-filter: accept IPv4, UDP, unfragmented, to UDP port `port`.
///
/// On a `SOCK_DGRAM` packet socket the program sees the frame from the
/// network header on, so offset 0 is the IPv4 version/IHL byte. Jump
/// offsets count instructions to skip after the jump itself; `DROP` is
/// instruction 11. Anything the program cannot load (a too-short frame)
/// makes the kernel drop the frame, which is also what user space would do.
fn bpf_program(port: u16) -> [libc::sock_filter; BPF_LEN] {
    use op::*;
    [
        // 0: A = byte 0 (version << 4 | IHL)
        stmt(LD | B | ABS, 0),
        // 1: A &= 0xf0, the version nibble
        stmt(ALU | AND | K, 0xf0),
        // 2: version 4? next : DROP (11 = 3 + 8)
        jump(JMP | JEQ | K, 0x40, 0, 8),
        // 3: A = byte 9, the protocol
        stmt(LD | B | ABS, 9),
        // 4: UDP (17)? next : DROP (11 = 5 + 6)
        jump(JMP | JEQ | K, 17, 0, 6),
        // 5: A = half-word 6: flags (3 bits) and fragment offset (13 bits)
        stmt(LD | H | ABS, 6),
        // 6: MF (0x2000) or any offset bit (0x1fff) set? DROP (11 = 7 + 4) : next
        jump(JMP | JSET | K, 0x3fff, 4, 0),
        // 7: X = 4 * (byte 0 & 0x0f), the IPv4 header length
        stmt(LDX | B | MSH, 0),
        // 8: A = half-word at X + 2, the UDP destination port
        stmt(LD | H | IND, 2),
        // 9: our port? ACCEPT (10) : DROP (11)
        jump(JMP | JEQ | K, port as u32, 0, 1),
        // 10: ACCEPT: keep the whole frame
        stmt(RET | K, u32::MAX),
        // 11: DROP: keep 0 bytes
        stmt(RET | K, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions the program uses,
    /// with the kernel's rule that an out-of-bounds load drops the frame.
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        use op::*;
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let ld = |off: u32, size: usize| -> Option<u32> {
            let off = usize::try_from(off).ok()?;
            let b = pkt.get(off..off.checked_add(size)?)?;
            Some(b.iter().fold(0u32, |acc, &v| acc << 8 | u32::from(v)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                c if c == LD | B | ABS => match ld(i.k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | H | ABS => match ld(i.k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | H | IND => match ld(x.wrapping_add(i.k), 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LDX | B | MSH => match ld(i.k, 1) {
                    Some(v) => x = 4 * (v & 0x0f),
                    None => return 0,
                },
                c if c == ALU | AND | K => a &= i.k,
                c if c == JMP | JEQ | K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf });
                }
                c if c == JMP | JSET | K => {
                    pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf });
                }
                c if c == RET | K => return i.k,
                c => panic!("opcode {c:#x} not modelled"),
            }
        }
    }

    fn datagram(dst_port: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 400];
        let n = udp::build_ipv4_udp(
            &mut buf,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            67,
            dst_port,
            &[7; 300],
        )
        .unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn program_length_and_jumps_stay_inside() {
        let p = bpf_program(68);
        assert_eq!(p.len(), BPF_LEN);
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == op::JMP {
                assert!(i + 1 + usize::from(ins.jt) < BPF_LEN);
                assert!(i + 1 + usize::from(ins.jf) < BPF_LEN);
            }
        }
        assert_eq!(p[BPF_LEN - 1].code, op::RET);
        assert_eq!(p[BPF_LEN - 1].k, 0);
    }

    #[test]
    fn filter_accepts_exactly_udp_to_the_port() {
        let prog = bpf_program(68);
        assert_eq!(run(&prog, &datagram(68)), u32::MAX);
        assert_eq!(run(&prog, &datagram(67)), 0);
        assert_eq!(run(&bpf_program(67), &datagram(67)), u32::MAX);

        // Not UDP (the filter does not check the IP checksum: user space does).
        let mut tcp = datagram(68);
        tcp[9] = 6;
        assert_eq!(run(&prog, &tcp), 0);
        // Not version 4.
        let mut v6 = datagram(68);
        v6[0] = 0x65;
        assert_eq!(run(&prog, &v6), 0);
        // Fragments: MF set, or a non-zero offset; DF alone is fine.
        for (b6, b7, ok) in [
            (0x20, 0, false),
            (0, 1, false),
            (0x1f, 0xff, false),
            (0x40, 0, true),
        ] {
            let mut d = datagram(68);
            d[6] = b6;
            d[7] = b7;
            assert_eq!(run(&prog, &d) != 0, ok, "{b6:02x}{b7:02x}");
        }
        // Truncated frames are dropped, never mis-read.
        let d = datagram(68);
        for n in 0..24 {
            assert_eq!(run(&prog, &d[..n]), 0, "len {n}");
        }
    }

    #[test]
    fn filter_follows_ip_options() {
        // IHL 6: the UDP header starts at 24, not 20.
        let plain = datagram(68);
        let mut d = plain[..20].to_vec();
        d.extend_from_slice(&[0x94, 0x04, 0, 0]);
        d.extend_from_slice(&plain[20..]);
        d[0] = 0x46;
        assert_eq!(run(&bpf_program(68), &d), u32::MAX);
        // The source port (67) is not mistaken for the destination.
        assert_eq!(run(&bpf_program(67), &d), 0);
    }
}
