//! Building a reply and choosing where it goes.

use super::nets::{sub_option, CIRCUIT_ID};
use super::*;
use crate::conf::{Class, ClassMatch};
use crate::wire::options::OptionSet;

/// A lease time meaning "forever" (RFC 2131 §3.3).
const INFINITE: u32 = u32::MAX;
/// Static Route (RFC 2132 §5.8), superseded by 121.
const STATIC_ROUTES: u8 = 33;
/// IPv6-Only Preferred (RFC 8925).
const IPV6_ONLY: u8 = 108;
/// Classless Static Route (RFC 3442).
const CLASSLESS_ROUTES: u8 = 121;
/// User Class (RFC 3004).
const USER_CLASS: u8 = 77;

/// True if `class` selects the client of `req` (exact byte matches).
fn class_matches(class: &Class, req: &Request<'_>) -> bool {
    match &class.matcher {
        ClassMatch::Vendor(v) => req.option(code::VENDOR_CLASS) == Some(v.as_slice()),
        ClassMatch::User(v) => req.option(USER_CLASS) == Some(v.as_slice()),
        ClassMatch::Circuit(v) => {
            req.option(code::RELAY_AGENT_INFO)
                .and_then(|r| sub_option(r, CIRCUIT_ID))
                == Some(v.as_slice())
        }
        ClassMatch::MacPrefix(p) => req.client_mac().0.starts_with(p),
    }
}

/// The network's options with the first matching class's and the
/// client's `host_option`s laid over them (same code: the later wins), in
/// code order; `None` when neither applies (the common case: no copy).
fn overrides<'a>(cfg: &'a ServerConfig, req: &Request<'_>) -> Option<Vec<(u8, &'a [u8])>> {
    let class = cfg
        .classes
        .iter()
        .find(|c| class_matches(c, req))
        .map(|c| &c.options);
    let mac = req.client_mac();
    let host = cfg
        .host_options
        .iter()
        .find(|(m, _)| *m == mac)
        .map(|(_, o)| o);
    if class.is_none() && host.is_none() {
        return None;
    }
    let mut out: Vec<(u8, &[u8])> = cfg.options.iter().collect();
    for set in [class, host].into_iter().flatten() {
        for (c, v) in set.iter() {
            match out.binary_search_by_key(&c, |&(k, _)| k) {
                Ok(i) => {
                    if let Some(slot) = out.get_mut(i) {
                        slot.1 = v;
                    }
                }
                Err(i) => out.insert(i, (c, v)),
            }
        }
    }
    Some(out)
}

/// `secs` × `permille` / 1000, rounded down.
fn scaled(secs: u32, permille: u32) -> u32 {
    u32::try_from(u64::from(secs) * u64::from(permille) / 1000).unwrap_or(u32::MAX)
}

/// Which configured options the client's Parameter Request List lets
/// through. BusyBox sends every configured option to everyone; these are
/// the exceptions the RFCs require.
#[derive(Clone, Copy)]
struct Sent {
    /// RFC 8925 §3.3: 108 only to a client that asked for it.
    ipv6_only: bool,
    /// 121 goes out: configured, and asked for (or no list at all).
    classless: bool,
}

impl Sent {
    fn new(cfg: &ServerConfig, req: &Request<'_>) -> Sent {
        let has_prl = req.option(code::PARAM_REQUEST_LIST).is_some();
        Sent {
            ipv6_only: req.requests(IPV6_ONLY),
            classless: cfg.options.get(CLASSLESS_ROUTES).is_some()
                && (!has_prl || req.requests(CLASSLESS_ROUTES)),
        }
    }

    fn allows(self, c: u8) -> bool {
        match c {
            IPV6_ONLY => self.ipv6_only,
            // RFC 3442 §3: a client that gets 121 ignores 3 and 33, so
            // they are not sent with it; a client whose list lacks 121
            // does not know it and gets 3 and 33 instead.
            CLASSLESS_ROUTES => self.classless,
            code::ROUTER | STATIC_ROUTES => !self.classless,
            _ => true,
        }
    }
}

/// Reply routing (RFC 2131 §4.1; reference §2.12, BusyBox 1.37):
/// giaddr ≠ 0 → the relay; NAK → broadcast; broadcast flag or ciaddr = 0 →
/// broadcast; else unicast to ciaddr at chaddr.
///
/// Without the broadcast flag and with ciaddr = 0, RFC 2131 §4.1 allows
/// unicasting to yiaddr at chaddr (upstream BusyBox does since 2025), but
/// that needs an ARP-less raw send to an unconfigured client and gains
/// nothing on a LAN; we broadcast, as 1.37 does.
pub(super) fn route(kind: Reply, pkt: &Request<'_>) -> Destination {
    let giaddr = pkt.giaddr();
    if !giaddr.is_unspecified() {
        debug!("forwarding packet to relay");
        return Destination::Relay(giaddr);
    }
    let ciaddr = pkt.ciaddr();
    if kind == Reply::Nak || pkt.broadcast_flag() || ciaddr.is_unspecified() {
        debug!("broadcasting packet to client");
        return Destination::Broadcast;
    }
    debug!("unicasting packet to client ciaddr");
    Destination::Unicast {
        ip: ciaddr,
        mac: pkt.client_mac(),
    }
}

/// Writes a reply into `buf` (reference §2.11), returning its length, or
/// `None` if it cannot be built (a BOOTP reply too large).
///
/// Options: 53 and 54 (not for BOOTP), 51, 58 and 59 for OFFER/ACK, the
/// client's 61 echoed (RFC 6842), then every configured option in code
/// order except 51 (and 12 when the static lease names the host; 108,
/// 121, 3 and 33 as [`Sent`] says), then the static hostname, then the
/// option 81 answer (RFC 4702), then option 82 echoed
/// verbatim (RFC 3046 §2.2) last before END. The message respects the
/// client's option 57 (RFC 2132 §9.10; ≥ 576, counted with IP and UDP
/// headers) and, when the options do not fit, overloads them into
/// `file`/`sname` (RFC 2132 §9.3; BusyBox drops what does not fit); in
/// that case option 82 goes right after 53/54/51 so it stays in the options
/// field where relays look for it.
#[allow(clippy::too_many_arguments)]
pub(super) fn build_reply(
    cfg: &ServerConfig,
    server_ip: Ipv4Addr,
    kind: Reply,
    req: &Request<'_>,
    yiaddr: Ipv4Addr,
    secs: u32,
    static_host: Option<&[u8]>,
    buf: &mut [u8],
) -> Option<usize> {
    let mut b = MessageBuilder::reply_to(buf, req).ok()?;
    let limit = match kind {
        // RFC 951/1497: a BOOTP client's vendor area is 64 bytes with the
        // cookie, so the message is exactly 300 bytes.
        Reply::Bootp => MIN_BOOTP_LEN,
        _ => req
            .option_u16(code::MAX_MESSAGE_SIZE)
            .filter(|&v| v >= 576)
            .map_or(DEFAULT_MAX_LEN, |v| usize::from(v) - 28),
    };
    b.max_len(limit);
    {
        let mut h = b.header();
        match kind {
            Reply::Nak => {
                // RFC 2131 table 3: ciaddr 0 in a NAK; §4.3.2: a NAK via a
                // relay has the broadcast bit set, since the client has no
                // usable address (BusyBox forgets).
                h.set_ciaddr(Ipv4Addr::UNSPECIFIED);
                if !req.giaddr().is_unspecified() {
                    h.set_broadcast_flag(true);
                }
            }
            Reply::InformAck => h.set_siaddr(cfg.siaddr),
            Reply::Offer | Reply::Ack | Reply::Bootp => {
                h.set_yiaddr(yiaddr);
                h.set_siaddr(cfg.siaddr);
            }
        }
    }
    if kind != Reply::Nak {
        if let Some(s) = &cfg.sname {
            b.set_sname(s.as_bytes()).ok()?;
        }
        if let Some(f) = &cfg.boot_file {
            b.set_file(f.as_bytes()).ok()?;
        }
    }
    let mtype = match kind {
        Reply::Offer => Some(MessageType::Offer),
        Reply::Ack | Reply::InformAck => Some(MessageType::Ack),
        Reply::Nak => Some(MessageType::Nak),
        Reply::Bootp => None,
    };
    if let Some(t) = mtype {
        b.add_message_type(t).ok()?;
        b.add_ipv4(code::SERVER_ID, server_ip).ok()?;
    }
    let leased = matches!(kind, Reply::Offer | Reply::Ack);
    if leased {
        b.add_u32(code::LEASE_TIME, secs).ok()?;
        // T1/T2 (RFC 2131 §4.4.5 defaults, RFC 2132 §9.11–9.12) unless
        // configured as options; meaningless for an infinite lease.
        for (c, permille) in [
            (code::RENEWAL_T1, cfg.t1_permille),
            (code::REBINDING_T2, cfg.t2_permille),
        ] {
            if permille > 0 && secs != INFINITE && cfg.options.get(c).is_none() {
                b.add_u32(c, scaled(secs, permille)).ok()?;
            }
        }
    }
    // An ACK to a DISCOVER exists only with rapid commit (RFC 4039 §4).
    if kind == Reply::Ack && req.message_type() == Some(MessageType::Discover) {
        b.add_option(code::RAPID_COMMIT, &[]).ok()?;
    }
    // RFC 6842 §3: the client identifier is echoed in every reply, NAK
    // included (BusyBox never echoes it). A BOOTP reply has no room.
    if kind != Reply::Bootp {
        if let Some(id) = req.option(code::CLIENT_ID) {
            b.add_option(code::CLIENT_ID, id).ok()?;
        }
    }
    let relay = req.option(code::RELAY_AGENT_INFO);
    let fqdn = match kind {
        Reply::Offer | Reply::Ack => req
            .option(code::CLIENT_FQDN)
            .and_then(|d| fqdn::reply(d, cfg.fqdn_suffix.as_deref())),
        _ => None,
    };
    let sent = Sent::new(cfg, req);
    // Class and per-host options (our extension) over the network's; the
    // merged list is built only for a client they apply to.
    let merged = overrides(cfg, req);
    let base = merged.is_none().then_some(&cfg.options);
    let configured = || {
        base.into_iter()
            .flat_map(OptionSet::iter)
            .chain(merged.iter().flatten().copied())
            .filter(move |&(c, _)| {
                c != code::LEASE_TIME
                    && c != code::RELAY_AGENT_INFO
                    && !(c == code::HOSTNAME && static_host.is_some())
                    && sent.allows(c)
            })
    };
    let mut relay_pending = relay;
    if kind != Reply::Nak {
        let need: usize = configured()
            .map(|(_, v)| encoded_len(v.len()))
            .sum::<usize>()
            + static_host.map_or(0, |h| encoded_len(h.len()))
            + fqdn.as_ref().map_or(0, |f| encoded_len(f.len()))
            + relay.map_or(0, |r| encoded_len(r.len()));
        if need > b.remaining() && kind != Reply::Bootp {
            b.allow_overload(true);
            if let Some(r) = relay_pending.take() {
                if b.add_option(code::RELAY_AGENT_INFO, r).is_err() {
                    info!("option 0x52 did not fit into the packet");
                }
            }
        }
        let host = static_host.map(|h| (code::HOSTNAME, h));
        let fq = fqdn.as_deref().map(|f| (code::CLIENT_FQDN, f));
        for (c, v) in configured().chain(host).chain(fq) {
            if b.add_option(c, v).is_err() {
                if kind == Reply::Bootp {
                    info!("BOOTP reply too large, not sending");
                    return None;
                }
                info!("option 0x{c:02x} did not fit into the packet");
            }
        }
    }
    if let Some(r) = relay_pending {
        if b.add_option(code::RELAY_AGENT_INFO, r).is_err() {
            if kind == Reply::Bootp {
                info!("BOOTP reply too large, not sending");
                return None;
            }
            info!("option 0x52 did not fit into the packet");
        }
    }
    Some(b.finish())
}
