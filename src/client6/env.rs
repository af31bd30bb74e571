//! The udhcpc6 script environment (BusyBox `d6_dhcpc.c` `fill_envp`
//! variable names), pure: a Reply and what the client bound → the
//! variables for `PROG bound|renew|nak`.
//!
//! | Variable | From |
//! |---|---|
//! | `interface` | always |
//! | `ipv6`, `lease` | the bound IAADDR and its valid lifetime |
//! | `ipv6_preferred` | its preferred lifetime (ours; for `ip addr ... preferred_lft`) |
//! | `ipv6prefix`, `ipv6prefix_lease` | the bound IAPREFIX as `addr/len`, its valid lifetime |
//! | `ipv6prefix_preferred` | its preferred lifetime (ours) |
//! | `dns` | option 23, space-separated |
//! | `search` | option 24, space-separated names |
//! | `fqdn` | option 39's name |
//! | `tz`, `tz_name` | options 41 (POSIX TZ) and 42 (tz database name) |
//! | `bootfile_url`, `bootfile_param` | options 59, 60 (params space-separated) |
//! | `status`, `message` | a non-zero STATUS_CODE (top level, else of an IA) |
//!
//! Every value goes through [`crate::script::sanitize`] (the same byte
//! classes as udhcpc's environment), so no server text reaches a careless
//! shell as anything but plain words. Lists keep at most
//! [`MAX_LIST_ITEMS`] entries and every value at most [`MAX_VALUE_LEN`]
//! bytes: BusyBox sized its buffers from the option length and overflowed
//! them (CVE-2016-2147/2148 class, §6 of the reference); here a huge DNS
//! list costs a truncated variable, nothing else. A malformed option
//! (DNS length not a multiple of 16, a compressed or truncated name)
//! gives no variable at all.

use std::net::Ipv6Addr;

use super::Leased;
use crate::script::{minimal_env, sanitize};
use crate::wire::dhcpv6::{self as w, opt, Message, Options, Status};

/// Most entries exported from one list option (dns, search, params).
pub const MAX_LIST_ITEMS: usize = 16;
/// Longest value exported, in bytes (longer ones are cut).
pub const MAX_VALUE_LEN: usize = 1024;

fn push(env: &mut Vec<(String, String)>, name: &str, value: &[u8]) {
    let cut = value.get(..MAX_VALUE_LEN).unwrap_or(value);
    env.push((name.to_owned(), sanitize(cut)));
}

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .take(MAX_LIST_ITEMS)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The environment for a Reply (`bound`, `renew`, `nak`); `address` and
/// `prefix` are what the client accepted from it.
pub fn script_env(
    interface: &str,
    reply: &[u8],
    address: Option<&Leased>,
    prefix: Option<&Leased>,
) -> Vec<(String, String)> {
    let mut env = minimal_env(interface);
    if let Some(a) = address {
        push(&mut env, "ipv6", a.addr.to_string().as_bytes());
        push(&mut env, "lease", a.valid.to_string().as_bytes());
        push(
            &mut env,
            "ipv6_preferred",
            a.preferred.to_string().as_bytes(),
        );
    }
    if let Some(p) = prefix {
        let text = format!("{}/{}", p.addr, p.prefix_len);
        push(&mut env, "ipv6prefix", text.as_bytes());
        push(&mut env, "ipv6prefix_lease", p.valid.to_string().as_bytes());
        let pref = p.preferred.to_string();
        push(&mut env, "ipv6prefix_preferred", pref.as_bytes());
    }
    let Ok(m) = Message::new_checked(reply) else {
        return env;
    };
    if let Some(s) = failure_status(&m) {
        push(&mut env, "status", s.code.to_string().as_bytes());
        if !s.message.is_empty() {
            push(&mut env, "message", s.message);
        }
    }
    if let Some(Ok(dns)) = m.option(opt::DNS_SERVERS).map(w::addresses) {
        push(&mut env, "dns", list::<Ipv6Addr>(&dns).as_bytes());
    }
    if let Some(Ok(names)) = m.option(opt::DOMAIN_LIST).map(w::domain_list) {
        push(&mut env, "search", list(&names).as_bytes());
    }
    if let Some(Ok(name)) = m.option(opt::FQDN).map(w::fqdn) {
        push(&mut env, "fqdn", name.as_bytes());
    }
    for (code, name) in [
        (opt::NEW_POSIX_TIMEZONE, "tz"),
        (opt::NEW_TZDB_TIMEZONE, "tz_name"),
        (opt::BOOTFILE_URL, "bootfile_url"),
    ] {
        if let Some(v) = m.option(code).filter(|v| !v.is_empty()) {
            push(&mut env, name, v);
        }
    }
    if let Some(Ok(params)) = m.option(opt::BOOTFILE_PARAM).map(w::bootfile_params) {
        let words: Vec<String> = params
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        push(&mut env, "bootfile_param", list(&words).as_bytes());
    }
    env
}

/// The first non-zero status: top level, else inside an IA.
fn failure_status<'a>(m: &Message<'a>) -> Option<Status<'a>> {
    let nonzero = |body: &'a [u8]| Status::parse(body).ok().filter(|s| s.code != 0);
    if let Some(s) = m.option(opt::STATUS_CODE).and_then(nonzero) {
        return Some(s);
    }
    m.options()
        .filter(|(c, _)| *c == opt::IA_NA || *c == opt::IA_PD)
        .filter_map(|(_, body)| w::Ia::parse(body).ok())
        .find_map(|ia| {
            Options::new(ia.options)
                .find(|(c, _)| *c == opt::STATUS_CODE)
                .and_then(|(_, b)| nonzero(b))
        })
}
