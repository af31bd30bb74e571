//! udhcpc's configuration as the state machine sees it: what the command
//! line (`applets/udhcpc.rs`) decided, with BusyBox's defaults, and the two
//! derived lists every outgoing message carries: the parameter request list
//! (option 55) and the options sent verbatim (`-x`, `-F`, `-V`, client-id).

use core::time::Duration;
use std::net::Ipv4Addr;

use crate::wire::dhcp::code;
use crate::wire::options::{default_request_list, OptionSet};
use crate::wire::MacAddr;

/// Option 26, Interface MTU (RFC 2132 §5.1).
const OPT_MTU: u8 = 26;
/// Option 121, Classless Static Routes (RFC 3442).
const OPT_STATIC_ROUTES: u8 = 121;

/// Everything the client state machine needs to know about its command line.
///
/// Build it with [`Config::new`] (BusyBox's defaults) and adjust the fields;
/// [`request_list`] and [`send_options`] compute the two option lists the
/// way udhcpc's flags combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our hardware address: `chaddr`, and the default client identifier.
    pub mac: MacAddr,
    /// `-t`: DISCOVERs per round; 0 = no limit (default 3).
    pub retries: u32,
    /// `-T`: the reply timeout, base of the DISCOVER/SELECT retransmission
    /// back-off (default 3 s). See [`crate::client`] on back-off.
    pub timeout: Duration,
    /// `-A`: wait after a failed round or a DECLINE (default 20 s).
    pub tryagain: Duration,
    /// `-B`: ask for broadcast replies (BOOTP flag 0x8000) while `ciaddr` is 0.
    pub broadcast_flag: bool,
    /// `-a`: ARP-probe every ACKed address for this long; `None` = no probe.
    pub arping: Option<Duration>,
    /// `-r`: address asked for (option 50) in the first DISCOVER.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 55, sent as is: ascending and deduplicated by [`request_list`].
    /// Empty: no option 55 at all (`-o` without `-O`).
    pub request_list: Vec<u8>,
    /// Options added to DISCOVER and every REQUEST, in code order (see
    /// [`send_options`]); DECLINE and RELEASE carry only its option 61.
    pub send_options: OptionSet,
    /// `-R`: release the lease when exiting (SIGTERM, `-q`).
    pub release_on_exit: bool,
    /// `-q`: exit 0 once the first lease is bound.
    pub quit_after_lease: bool,
    /// `-n`: exit 1 at the first failed round (cleared by the first lease).
    pub exit_on_fail: bool,
    /// `-b`: go to the background at the first failed round (wins over `-n`).
    pub background_on_fail: bool,
    /// `-f`: never go to the background (without it, udhcpc backgrounds
    /// after the first lease).
    pub foreground: bool,
    /// Randomise retransmission delays by up to ±1 s (RFC 2131 §4.1). On by
    /// default; tests turn it off to assert exact times.
    pub jitter: bool,
    /// `--rapid-commit`: send option 80 in DISCOVER and accept an ACK to it
    /// (RFC 4039). Off by default: without it nothing changes.
    pub rapid_commit: bool,
}

impl Config {
    /// BusyBox's defaults for `mac`: `-t 3 -T 3 -A 20`, no `-a`, the default
    /// request list (plus 26 and 121, see [`request_list`]), client
    /// identifier `01`+MAC, no vendor class (the applet adds its `-V`
    /// default through [`send_options`]), background after the first lease.
    pub fn new(mac: MacAddr) -> Config {
        Config {
            mac,
            retries: 3,
            timeout: Duration::from_secs(3),
            tryagain: Duration::from_secs(20),
            broadcast_flag: false,
            arping: None,
            requested_ip: None,
            request_list: request_list(false, &[]),
            send_options: send_options(&OptionSet::new(), None, None, false, mac),
            release_on_exit: false,
            quit_after_lease: false,
            exit_on_fail: false,
            background_on_fail: false,
            foreground: false,
            jitter: true,
            rapid_commit: false,
        }
    }
}

/// The parameter request list (option 55): BusyBox's default codes
/// 1 3 6 12 15 28 42 plus 26 (MTU) and 121 (classless static routes),
/// unless `no_default` (`-o`); then every `-O` code. Ascending, without
/// duplicates, without PAD (0) and END (255), which are not options.
///
/// 26 and 121 are a deliberate difference: users keep asking for them
/// (BusyBox needs `-O mtu -O staticroutes`), and a server that has neither
/// simply does not send them.
pub fn request_list(no_default: bool, extra: &[u8]) -> Vec<u8> {
    let mut list: Vec<u8> = Vec::new();
    if !no_default {
        list.extend(default_request_list());
        list.extend([OPT_MTU, OPT_STATIC_ROUTES]);
    }
    list.extend(extra.iter().copied());
    list.retain(|&c| c != code::PAD && c != code::END);
    list.sort_unstable();
    list.dedup();
    list
}

/// The options udhcpc adds to DISCOVER and REQUEST, from its flags:
/// - every `-x` option (`x`), as parsed;
/// - `-F NAME` → option 81 = flags 0x01 (S: please update the A record),
///   RCODE1 0, RCODE2 0, then NAME in plain ASCII (RFC 4702 §2, E bit
///   clear), as BusyBox sends it;
/// - `-V VENDOR` → option 60, cut to 254 bytes (`None`: `-V ""`, none);
/// - option 61 = `01` + MAC (RFC 2132 §9.14 type 1 = Ethernet) unless
///   `clientid_none` (`-C`).
///
/// A `-x` value for 60, 61 or 81 wins over the flag or default for the
/// same code (BusyBox documents this for 61; for 60 and 81 it would send
/// both instances, which a server reads as one concatenated value).
pub fn send_options(
    x: &OptionSet,
    fqdn: Option<&str>,
    vendor: Option<&str>,
    clientid_none: bool,
    mac: MacAddr,
) -> OptionSet {
    let mut set = x.clone();
    if let Some(name) = fqdn {
        if set.get(code::CLIENT_FQDN).is_none() {
            let mut v = vec![0x01, 0, 0];
            v.extend(name.bytes().take(252));
            set.insert_raw(code::CLIENT_FQDN, v);
        }
    }
    if let Some(vendor) = vendor.filter(|v| !v.is_empty()) {
        if set.get(code::VENDOR_CLASS).is_none() {
            set.insert_raw(
                code::VENDOR_CLASS,
                vendor.bytes().take(254).collect::<Vec<u8>>(),
            );
        }
    }
    if !clientid_none && set.get(code::CLIENT_ID).is_none() {
        let mut v = vec![1u8];
        v.extend(mac.octets());
        set.insert_raw(code::CLIENT_ID, v);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn default_request_list_adds_mtu_and_routes() {
        assert_eq!(request_list(false, &[]), [1, 3, 6, 12, 15, 26, 28, 42, 121]);
        assert_eq!(
            request_list(false, &[119, 3, 121, 0, 255]),
            [1, 3, 6, 12, 15, 26, 28, 42, 119, 121]
        );
        assert_eq!(request_list(true, &[]), Vec::<u8>::new());
        assert_eq!(request_list(true, &[42, 2, 42]), [2, 42]);
    }

    #[test]
    fn send_options_from_flags() {
        let mut x = OptionSet::new();
        x.add_text("hostname:box").unwrap();
        let set = send_options(&x, Some("box.lan"), Some("udhcp 0.1"), false, MAC);
        let codes: Vec<u8> = set.iter().map(|(c, _)| c).collect();
        assert_eq!(codes, [12, 60, 61, 81]);
        assert_eq!(set.get(61), Some(&[1, 2, 0, 0, 0, 0, 1][..]));
        assert_eq!(set.get(81), Some(&b"\x01\x00\x00box.lan"[..]));
        assert_eq!(set.get(60), Some(&b"udhcp 0.1"[..]));

        let none = send_options(&OptionSet::new(), None, None, true, MAC);
        assert!(none.is_empty());
        let mut x = OptionSet::new();
        x.add_text("0x3d:ff0102").unwrap();
        x.add_text("60:\"mine\"").unwrap();
        let set = send_options(&x, None, Some("udhcp"), false, MAC);
        assert_eq!(set.get(61), Some(&[0xff, 1, 2][..]));
        assert_eq!(set.get(60), Some(&b"mine"[..]));
        let long = "v".repeat(300);
        let set = send_options(&OptionSet::new(), None, Some(&long), true, MAC);
        assert_eq!(set.get(60).map(<[u8]>::len), Some(254));
    }
}
