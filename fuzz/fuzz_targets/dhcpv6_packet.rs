//! The DHCPv6 message view and every option decoder udhcpc6 uses, on
//! arbitrary bytes; then the client core itself must take the bytes as a
//! reply in every state without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udhcp::wire::dhcpv6::{self, Ia, IaAddr, IaPrefix, Message, Options, Status};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::new_checked(data) else {
        return;
    };
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
});
