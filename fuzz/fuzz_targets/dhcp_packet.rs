//! The DHCP/BOOTP message parser: every accessor and the option walk
//! (overload into file/sname, RFC 3396 concatenation) on arbitrary bytes.
//! Then the builder: re-emitting every option that parsed must succeed or
//! fail cleanly, and what it emitted must parse back to the same options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udhcp::wire::dhcp::{code, MessageBuilder, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = Packet::new_checked(data) else {
        return;
    };
    let _ = (pkt.op(), pkt.htype(), pkt.hlen(), pkt.hops(), pkt.xid());
    let _ = (pkt.secs(), pkt.flags(), pkt.broadcast_flag());
    let _ = (pkt.ciaddr(), pkt.yiaddr(), pkt.siaddr(), pkt.giaddr());
    let _ = (pkt.chaddr(), pkt.client_mac(), pkt.sname_str(), pkt.file_str());
    let _ = (pkt.message_type(), pkt.overload(), pkt.is_bootp());
    let _ = (pkt.option_ipv4(code::SERVER_ID), pkt.option_u32(code::LEASE_TIME));
    let _ = pkt.options_valid();

    let mut seen = Vec::new();
    for item in pkt.options() {
        match item {
            Ok((c, d)) => seen.push((c, d.to_vec())),
            Err(_) => break,
        }
    }
    for &(c, _) in &seen {
        let _ = pkt.option_concat(c);
    }

    // Re-emit what parsed (PAD/END/52 are never yielded) into a full-size
    // buffer with overload allowed; whatever fit must read back in order.
    let mut buf = [0u8; 1472];
    let Ok(mut b) = MessageBuilder::new(&mut buf, pkt.op(), pkt.xid()) else {
        return;
    };
    b.max_len(1472).allow_overload(true);
    let mut emitted = Vec::new();
    for (c, d) in &seen {
        if b.add_option(*c, d).is_ok() {
            emitted.push((*c, d.clone()));
        }
    }
    let n = b.finish();
    let back = Packet::new_checked(&buf[..n]).expect("builder output parses");
    let mut joined: Vec<(u8, Vec<u8>)> = Vec::new();
    for item in back.options() {
        let (c, d) = item.expect("builder output has well-formed options");
        joined.push((c, d.to_vec()));
    }
    // RFC 3396 splits long data into several instances of one code, so
    // compare the concatenated data per code in order of first appearance.
    let concat = |v: &[(u8, Vec<u8>)]| {
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        for (c, d) in v {
            match out.iter_mut().find(|(k, _)| k == c) {
                Some((_, acc)) => acc.extend_from_slice(d),
                None => out.push((*c, d.clone())),
            }
        }
        out
    };
    assert_eq!(concat(&emitted), concat(&joined));
});
