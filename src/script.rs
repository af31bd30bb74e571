//! The udhcpc script environment: a received ACK or NAK → the variables
//! passed to `PROG bound|renew|nak` (BusyBox 1.37 `fill_envp`, §1.9 of the
//! reference), made safe for a shell that forgets to quote. Pure: no
//! spawning and no process environment here (the driver passes the list
//! with `Command::envs`).
//!
//! # Variables
//!
//! - `interface`: always (the only one for `deconfig` and `leasefail`).
//! - `ip`: `yiaddr` (also in a NAK, usually `0.0.0.0`).
//! - `siaddr`, `giaddr`: only when non-zero.
//! - one variable per option code present, all instances concatenated
//!   first (RFC 3396), named and formatted by [`format_option`]: `subnet`,
//!   `router`, `dns`, `lease`, `staticroutes`, … or `optNN` with hex for
//!   codes without a name (`opt53=05` is always there). Option 52 is
//!   consumed by the scanner; zero-length options are skipped.
//! - `mask`: the prefix length of a 4-byte contiguous option 1, right after
//!   `subnet` (BusyBox exports a popcount even for `255.0.255.0`).
//! - `boot_file`, `sname`: the BOOTP fields, when non-empty and not used for
//!   option overload.
//!
//! `lease` is the server's raw option 51, as BusyBox exports it (absent
//! when the server sent none); the lease the client really applies (at
//! least 30 s, 3600 s by default) is in [`crate::client::Lease`]. The order
//! of the list is the order above, options in the order they first appear;
//! scripts cannot see the order anyway.
//!
//! # Shell safety (beyond BusyBox)
//!
//! BusyBox filters only the host-name options 12, 15, 40 and 66
//! (CVE-2011-2716) and exports `message`, `rootpath`, `bootfile`, `wpad`,
//! `tzstr`, `boot_file`, `sname`, search labels … as the server sent them.
//! Here **every** value goes through [`sanitize`]: each byte outside
//! `A–Z a–z 0–9`, space and `. - _ / : , + = @ %` becomes `_`, and so does
//! a `-` that starts a word (unless the word is a negative number such as
//! `timezone=-3600`). So `$value` used unquoted, even under `eval echo
//! $value`, can only ever give plain words: no command substitution (`$(`,
//! backtick), no variable expansion, no separators (`;`, `|`, `&`, newline),
//! no redirection, no quotes or backslashes, no globbing (`* ? [`), no
//! option injection. Word splitting on spaces remains, since address lists,
//! `net/len gw` routes and search lists need it. Legitimate values (dotted
//! quads, routes, 6rd, host and domain names, URLs without `?&#`) pass
//! unchanged. Host-name options keep BusyBox's `bad` rule on top.
//! Variable names come only from the options table (`optNN` otherwise).

use crate::wire::dhcp::{Packet, OVERLOAD_FILE, OVERLOAD_SNAME};
use crate::wire::options::{format_option, mask_prefix_len};

/// What replaces every unsafe byte.
pub const REPLACEMENT: u8 = b'_';

/// True for the bytes a value may carry unchanged (see the module docs).
pub fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'.' | b'-' | b'_' | b'/' | b':' | b',' | b'+' | b'=' | b'@' | b'%'
        )
}

/// Makes `value` safe to expand unquoted in a POSIX shell (module docs):
/// unsafe bytes → `_`; a `-` starting a word → `_` unless the word is a
/// (negative) decimal number. Output length in bytes equals input length.
pub fn sanitize(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut word_start = true;
    for (i, &b) in value.iter().enumerate() {
        let unsafe_dash =
            b == b'-' && word_start && !is_negative_number(value.get(i..).unwrap_or_default());
        let c = if !is_safe_byte(b) || unsafe_dash {
            REPLACEMENT
        } else {
            b
        };
        out.push(char::from(c));
        word_start = b == b' ';
    }
    out
}

/// `-` followed by at least one digit and nothing else up to the word's end.
fn is_negative_number(word: &[u8]) -> bool {
    let word = word.split(|&b| b == b' ').next().unwrap_or_default();
    match word.split_first() {
        Some((b'-', digits)) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The environment of the events without a packet (`deconfig`,
/// `leasefail`): just `interface`.
pub fn minimal_env(interface: &str) -> Vec<(String, String)> {
    vec![("interface".to_owned(), sanitize(interface.as_bytes()))]
}

/// The environment for `bound`, `renew` and `nak` from the ACK or NAK
/// (module docs for the variables and the sanitising).
pub fn script_env<T: AsRef<[u8]>>(interface: &str, packet: &Packet<T>) -> Vec<(String, String)> {
    let mut env = minimal_env(interface);
    let mut push = |name: &str, value: String| env.push((name.to_owned(), value));
    push("ip", packet.yiaddr().to_string());
    if !packet.siaddr().is_unspecified() {
        push("siaddr", packet.siaddr().to_string());
    }
    if !packet.giaddr().is_unspecified() {
        push("giaddr", packet.giaddr().to_string());
    }
    // Codes in order of first appearance; each exported once, with every
    // instance concatenated (RFC 3396).
    let mut seen = [false; 256];
    let mut codes = Vec::new();
    for (code, _) in packet.options().map_while(Result::ok) {
        if let Some(s) = seen.get_mut(usize::from(code)) {
            if !*s {
                *s = true;
                codes.push(code);
            }
        }
    }
    for code in codes {
        let Some(data) = packet.option_concat(code) else {
            continue;
        };
        let Some((name, value)) = format_option(code, &data) else {
            continue;
        };
        push(&name, sanitize(value.as_bytes()));
        if code == 1 {
            if let Some(len) = mask_prefix_len(&data) {
                push("mask", len.to_string());
            }
        }
    }
    let overload = packet.overload();
    if overload & OVERLOAD_FILE == 0 && !packet.file_str().is_empty() {
        push("boot_file", sanitize(packet.file_str()));
    }
    if overload & OVERLOAD_SNAME == 0 && !packet.sname_str().is_empty() {
        push("sname", sanitize(packet.sname_str()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dhcp::{MessageBuilder, MessageType, OP_REPLY};
    use crate::wire::options::by_code;
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    /// An ACK with `opts` (in order) and the given BOOTP fields.
    fn ack(opts: &[(u8, &[u8])], sname: &[u8], file: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 1472];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 7).unwrap();
        b.header().set_client_mac(MAC);
        b.header().set_yiaddr(Ipv4Addr::new(192, 168, 1, 100));
        b.header().set_siaddr(Ipv4Addr::new(192, 168, 1, 1));
        b.set_sname(sname).unwrap();
        b.set_file(file).unwrap();
        b.max_len(1472);
        b.add_message_type(MessageType::Ack).unwrap();
        for (c, d) in opts {
            b.add_option(*c, d).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn env_of(bytes: &[u8]) -> Vec<(String, String)> {
        script_env("eth0", &Packet::new_checked(bytes).unwrap())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn golden_ack_environment() {
        let search = b"\x07example\x03com\x00\x03foo\xc0\x08";
        let routes = [24, 10, 0, 0, 192, 168, 1, 1, 0, 192, 168, 1, 254];
        let mut six_rd = vec![16, 32, 0x20, 0x01, 0x0d, 0xb8];
        six_rd.extend([0; 12]);
        six_rd.extend([192, 0, 2, 1]);
        let bytes = ack(
            &[
                (54, &[192, 168, 1, 1]),
                (51, &3600u32.to_be_bytes()),
                (1, &[255, 255, 255, 0]),
                (3, &[192, 168, 1, 1]),
                (6, &[8, 8, 8, 8]),
                (15, b"example.com"),
                (12, b"host-1"),
                (119, search),
                (121, &routes),
                (120, &[1, 10, 0, 0, 5]),
                (212, &six_rd),
                (26, &1500u16.to_be_bytes()),
                (2, &(-3600i32).to_be_bytes()),
                (224, &[1, 2, 0xab]),
                (6, &[1, 1, 1, 1]),
                (8, &[1, 2, 3, 4]),
                (58, &1800u32.to_be_bytes()),
                (12, b""),
                (42, &[10, 0, 0, 1, 10, 0, 0, 2]),
            ],
            b"boot-server",
            b"pxelinux.0",
        );
        assert_eq!(
            env_of(&bytes),
            pairs(&[
                ("interface", "eth0"),
                ("ip", "192.168.1.100"),
                ("siaddr", "192.168.1.1"),
                ("opt53", "05"),
                ("serverid", "192.168.1.1"),
                ("lease", "3600"),
                ("subnet", "255.255.255.0"),
                ("mask", "24"),
                ("router", "192.168.1.1"),
                ("dns", "8.8.8.8 1.1.1.1"),
                ("domain", "example.com"),
                ("hostname", "host-1"),
                ("search", "example.com foo.com"),
                (
                    "staticroutes",
                    "10.0.0.0/24 192.168.1.1 0.0.0.0/0 192.168.1.254"
                ),
                ("sipsrv", "10.0.0.5"),
                (
                    "ip6rd",
                    "16 32 2001:0db8:0000:0000:0000:0000:0000:0000 192.0.2.1"
                ),
                ("mtu", "1500"),
                ("timezone", "-3600"),
                ("opt224", "0102ab"),
                ("opt8", "01020304"),
                ("opt58", "00000708"),
                ("ntpsrv", "10.0.0.1 10.0.0.2"),
                ("boot_file", "pxelinux.0"),
                ("sname", "boot-server"),
            ])
        );
    }

    #[test]
    fn nak_and_minimal_environments() {
        let mut buf = vec![0u8; 548];
        let mut b = MessageBuilder::new(&mut buf, OP_REPLY, 7).unwrap();
        b.add_message_type(MessageType::Nak).unwrap();
        b.add_option(54, &[10, 0, 0, 1]).unwrap();
        b.add_option(56, b"address not available").unwrap();
        let n = b.finish();
        assert_eq!(
            env_of(&buf[..n]),
            pairs(&[
                ("interface", "eth0"),
                ("ip", "0.0.0.0"),
                ("opt53", "06"),
                ("serverid", "10.0.0.1"),
                ("message", "address not available"),
            ])
        );
        assert_eq!(minimal_env("wlan0"), pairs(&[("interface", "wlan0")]));
        assert_eq!(minimal_env("e$(x)"), pairs(&[("interface", "e__x_")]));
    }

    #[test]
    fn mask_only_for_contiguous_four_bytes_and_giaddr() {
        let bytes = ack(&[(1, &[255, 0, 255, 0])], b"", b"");
        let env = env_of(&bytes);
        assert!(env.contains(&("subnet".into(), "255.0.255.0".into())));
        assert!(!env.iter().any(|(n, _)| n == "mask"));
        // Short subnet (CVE-2019-5747): empty value, no mask.
        let mut bytes = ack(&[(1, &[255, 255])], b"", b"");
        Packet::new_unchecked(&mut bytes[..]).set_giaddr(Ipv4Addr::new(10, 9, 8, 7));
        let env = env_of(&bytes);
        assert!(env.contains(&("subnet".into(), String::new())));
        assert!(env.contains(&("giaddr".into(), "10.9.8.7".into())));
        assert!(!env.iter().any(|(n, _)| n == "mask"));
    }

    #[test]
    fn overloaded_fields_are_options_not_names() {
        let mut bytes = ack(&[(52, &[3])], b"", b"");
        let mut file = [0u8; 128];
        file[..8].copy_from_slice(b"\x0f\x05a-b.c\xff");
        let mut sname = [0u8; 64];
        sname[..7].copy_from_slice(b"\x38\x04 hi!\xff");
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_file(&file);
        p.set_sname(&sname);
        let env = env_of(&bytes);
        assert!(env.contains(&("domain".into(), "a-b.c".into())));
        assert!(env.contains(&("message".into(), " hi_".into())));
        assert!(!env
            .iter()
            .any(|(n, _)| n == "boot_file" || n == "sname" || n == "opt52"));
    }

    #[test]
    fn long_options_are_concatenated() {
        // 300 bytes of routes: the builder splits them (RFC 3396).
        let route = [32, 10, 0, 0, 1, 192, 168, 1, 1];
        let routes: Vec<u8> = route.iter().copied().cycle().take(9 * 33).collect();
        let bytes = ack(&[(121, &routes)], b"", b"");
        let env = env_of(&bytes);
        let (_, v) = env.iter().find(|(n, _)| n == "staticroutes").unwrap();
        assert_eq!(v.matches("10.0.0.1/32 192.168.1.1").count(), 33);
    }

    #[test]
    fn sanitize_rules() {
        assert_eq!(sanitize(b"10.0.0.0/8 10.0.0.1"), "10.0.0.0/8 10.0.0.1");
        assert_eq!(
            sanitize(b"http://wpad.lan:8080/wpad.dat"),
            "http://wpad.lan:8080/wpad.dat"
        );
        assert_eq!(sanitize(b"$(reboot)"), "__reboot_");
        assert_eq!(
            sanitize(b"`id`;a|b&c<d>e'f\"g\\h\ni\tj"),
            "_id__a_b_c_d_e_f_g_h_i_j"
        );
        assert_eq!(sanitize(b"-rf x -y z-w"), "_rf x _y z-w");
        assert_eq!(sanitize(b"-3600 -12a -"), "-3600 _12a _");
        assert_eq!(sanitize(b"*?[]{}~!#^"), "__________");
        assert_eq!(sanitize("café".as_bytes()), "caf__");
        assert_eq!(sanitize(b""), "");
    }

    /// Every string a hostile server controls, carrying shell syntax.
    const PAYLOAD: &[u8] =
        b"-x $(touch canary) `touch canary`;touch canary|touch canary&touch canary \"'\\\n<canary >canary *";

    /// `sname` and `file` carrying the payload, plus a few string options.
    fn hostile_ack() -> Vec<u8> {
        let opts: Vec<(u8, &[u8])> = [12u8, 56, 17].iter().map(|&c| (c, PAYLOAD)).collect();
        ack(&opts, PAYLOAD, PAYLOAD)
    }

    fn hostile_messages() -> Vec<Vec<u8>> {
        let mut label = vec![63u8];
        label.extend(&PAYLOAD[..63]);
        label.push(0);
        let mut sip = vec![0u8];
        sip.extend(&label);
        let codes = [12u8, 15, 40, 66, 56, 17, 67, 100, 101, 209, 210, 252, 60];
        let mut msgs = vec![hostile_ack()];
        for chunk in codes.chunks(4) {
            let opts: Vec<(u8, &[u8])> = chunk.iter().map(|&c| (c, PAYLOAD)).collect();
            msgs.push(ack(&opts, b"", b""));
        }
        msgs.push(ack(&[(119, &label), (120, &sip), (224, PAYLOAD)], b"", b""));
        msgs
    }

    #[test]
    fn hostile_server_strings_are_neutralised() {
        let mut seen = std::collections::BTreeSet::new();
        for msg in hostile_messages() {
            for (name, value) in env_of(&msg) {
                seen.insert(name.clone());
                // Names only from the table or optNN.
                let code_ok = match name.strip_prefix("opt") {
                    Some(n) if n.parse::<u8>().is_ok() => true,
                    _ => {
                        [
                            "interface",
                            "ip",
                            "siaddr",
                            "giaddr",
                            "mask",
                            "boot_file",
                            "sname",
                        ]
                        .contains(&name.as_str())
                            || (1..=254).any(|c| by_code(c).is_some_and(|o| o.name == name))
                    }
                };
                assert!(code_ok, "name {name}");
                assert!(value.bytes().all(is_safe_byte), "{name}={value:?}");
                for word in value.split(' ') {
                    assert!(!word.starts_with('-'), "{name}={value:?}");
                }
                for bad in [
                    "$(", "`", ";", "|", "&", "<", ">", "\"", "'", "\\", "\n", "*",
                ] {
                    assert!(!value.contains(bad), "{name}={value:?} has {bad:?}");
                }
            }
        }
        for name in [
            "hostname",
            "domain",
            "nisdomain",
            "tftp",
            "message",
            "rootpath",
            "bootfile",
            "tzstr",
            "tzdbstr",
            "pxeconffile",
            "pxepathprefix",
            "wpad",
            "vendor",
            "search",
            "sipsrv",
            "boot_file",
            "sname",
            "opt224",
        ] {
            assert!(seen.contains(name), "{name} not exercised");
        }
        // Host-name options keep BusyBox's `bad`.
        let env = env_of(&hostile_messages()[1]);
        assert!(env.contains(&("hostname".into(), "bad".into())));
    }

    /// Runs `eval echo $var` (unquoted, through eval) for every variable in
    /// `env` in a scratch directory; true if the canary file appeared.
    fn shell_runs_payload(env: &[(String, String)]) -> bool {
        let dir = std::env::temp_dir().join(format!(
            "udhcp-script-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        let script = format!(
            "cd \"$1\" || exit 9\nfor v in {}; do eval \"eval echo \\${{$v}}\"; echo $(eval echo \\$$v) >/dev/null; done\n",
            names.join(" ")
        );
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .arg("sh")
            .arg(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_ne!(status.code(), Some(9));
        let hit = dir.join("canary").exists();
        let _ = std::fs::remove_dir_all(&dir);
        hit
    }

    #[test]
    fn unquoted_eval_in_a_real_shell_executes_nothing() {
        // Control: BusyBox's unfiltered `message` does run the payload.
        let raw = vec![("message".to_owned(), "x $(touch canary)".to_owned())];
        assert!(
            shell_runs_payload(&raw),
            "the harness must detect execution"
        );
        let mut all = Vec::new();
        for msg in hostile_messages() {
            all.extend(env_of(&msg));
        }
        all.sort();
        all.dedup_by(|a, b| a.0 == b.0);
        assert!(!shell_runs_payload(&all));
    }
}
