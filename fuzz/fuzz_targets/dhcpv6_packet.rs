//! The DHCPv6 message view and every option decoder udhcpc6 uses, on
//! arbitrary bytes; then the client core takes the bytes (with its own
//! transaction id patched in, so they get past the xid check) as a reply
//! while soliciting and while requesting, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udhcp::client6::{Client6, Config6};
use udhcp::time::Instant;
use udhcp::wire::dhcpv6::{self, Ia, IaAddr, IaPrefix, Message, Options, Status};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::new_checked(data) {
        let _ = (m.msg_type(), m.xid());
        for (_, body) in m.options() {
            let _ = (dhcpv6::preference(body), dhcpv6::addresses(body));
            let _ = (dhcpv6::domain_list(body), dhcpv6::fqdn(body));
            let _ = (Status::parse(body), dhcpv6::bootfile_params(body));
            if let Ok(ia) = Ia::parse(body) {
                let _ = ia.status();
                for (_, inner) in Options::new(ia.options) {
                    let _ = (IaAddr::parse(inner), IaPrefix::parse(inner));
                }
            }
        }
    }
    let mut cfg = Config6::new([2, 0, 0, 0, 0, 1]);
    cfg.request_prefix = true;
    let mut c = Client6::new(cfg, Instant::from_millis(0), || 0x0012_3456);
    c.handle_timeout(Instant::from_millis(0));
    let mut bytes = data.to_vec();
    if let Some(x) = bytes.get_mut(1..4) {
        x.copy_from_slice(&c.xid().to_be_bytes()[1..]);
    }
    for t in [10, 20, 5000] {
        c.handle_packet(Instant::from_millis(t), &bytes);
        while c.poll_transmit().is_some() {}
        while let Some(e) = c.poll_event() {
            if let udhcp::client6::Event6::Script(s) = e {
                let _ = s.env("eth0");
            }
        }
        if let Some(d) = c.poll_timeout() {
            c.handle_timeout(d);
        }
    }
});
