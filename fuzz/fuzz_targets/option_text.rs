//! udhcpd.conf `option` lines and udhcpc `-x` values → bytes; whatever is
//! accepted must be a valid option (1..=254, at most 255 bytes) that the
//! formatter can turn back into text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use udhcp::wire::options::{format_option, parse_code, OptionSet};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_code(&text);
    let mut set = OptionSet::new();
    for line in text.lines() {
        let before = set.clone();
        if set.add_text(line).is_err() {
            // A rejected line leaves the set unchanged.
            assert_eq!(set, before);
        }
    }
    for (code, bytes) in set.iter() {
        assert!(code != 0 && code != 255, "code {code}");
        assert!(bytes.len() <= 255, "code {code}: {} bytes", bytes.len());
        let _ = format_option(code, bytes);
    }
});
