//! Bytes → script-variable text, for every option code: the decoders
//! behind udhcpc's environment (IP lists, routes, RFC 1035 names with
//! compression pointers, 6rd, SIP servers, hostnames).
#![no_main]

use libfuzzer_sys::fuzz_target;
use udhcp::wire::options::{format_hex, format_option, good_hostname, mask_prefix_len};

fuzz_target!(|data: &[u8]| {
    let Some((&code, value)) = data.split_first() else {
        return;
    };
    if let Some((name, text)) = format_option(code, value) {
        assert!(!name.is_empty());
        // The value of a variable never contains a NUL (execve would cut it).
        assert!(!text.contains('\0'), "{name}={text:?}");
    }
    let _ = mask_prefix_len(value);
    let _ = good_hostname(value);
    assert_eq!(format_hex(value).len(), value.len() * 2);
});
