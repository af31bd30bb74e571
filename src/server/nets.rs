//! Several networks in one process (udhcpd.conf `network` sections): the
//! top-level network of `interface` (BusyBox's only one) plus networks
//! on other local interfaces (`interface` in a section) or reached
//! through relays (`relay_subnet`), each with its own pool, table,
//! options, lease times, static leases, DECLINE parkings, pending probes
//! and probe-ahead reserve; one lease file and journal for all.
//!
//! The decisions (`decide.rs`) are written for one network. The server
//! keeps the top-level network's state in its own fields and the others
//! in [`Net`]s, and swaps the selected one in for the duration of a
//! request ([`Server::enter`], an involution: calling it again swaps
//! back). Local networks are ARP-probed on their own link, from their
//! own address; relayed networks never are (ARP says nothing about a
//! remote link). A relayed network answers from the address of the link
//! the request came in on.
//!
//! A lease whose address is in no network any more (its section removed
//! or its pool moved by a reload, or a lease file from another config)
//! is kept, written back until it expires, and never offered.

use super::*;
use crate::conf::Network;

/// A `network` section's state, swapped with the server's own fields
/// while it serves a request.
#[derive(Debug)]
pub(super) struct Net {
    pub(super) name: String,
    subnet: Ipv4Addr,
    prefix: u8,
    /// A local network (its own link); else relayed.
    local: bool,
    /// False for a local network whose interface is not open.
    usable: bool,
    /// Its link (local networks; 0 and unused for relayed ones).
    link: usize,
    /// Probed by ICMP echo (relayed with `ping_check`).
    probe_icmp: bool,
    /// Its link's address (local), or the address of the link the
    /// current request came in on (relayed).
    server_ip: Ipv4Addr,
    config: ServerConfig,
    table: LeaseTable,
    statics: Vec<statics::StaticBound>,
    probe_ms: u32,
    ahead: Vec<ahead::Ahead>,
    probe_ahead: usize,
    parked: Vec<Parked>,
    pending: Vec<Pending>,
}

impl Net {
    fn new(n: &Network, links: &[(String, Ipv4Addr)], probe_ms: u32) -> Net {
        let top_ip = links.first().map_or(Ipv4Addr::UNSPECIFIED, |l| l.1);
        let link = n
            .local
            .as_ref()
            .and_then(|i| links.iter().position(|(name, _)| name == i));
        if let (Some(i), None) = (&n.local, link) {
            warn!(
                "network {}: interface {i} is not open, not served (restart udhcpd to serve it)",
                n.name
            );
        }
        let server_ip = link.and_then(|l| links.get(l)).map_or(top_ip, |l| l.1);
        let local = n.local.is_some();
        // A local network is ARP-probed; a relayed one only with
        // `ping_check` (ICMP echo: ARP says nothing about a remote link).
        let probed = local || n.config.ping_check;
        Net {
            name: n.name.clone(),
            subnet: n.subnet,
            prefix: n.prefix,
            local,
            usable: !local || link.is_some(),
            link: link.unwrap_or(0),
            probe_icmp: !local,
            server_ip,
            table: LeaseTable::new(&n.config, server_ip),
            config: n.config.clone(),
            statics: Vec::new(),
            probe_ms: if probed { probe_ms } else { 0 },
            ahead: Vec::new(),
            probe_ahead: if probed { ahead::PROBE_AHEAD } else { 0 },
            parked: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = crate::conf::prefix_mask(self.prefix);
        u32::from(ip) & mask == u32::from(self.subnet) & mask
    }

    fn in_pool(&self, ip: Ipv4Addr) -> bool {
        self.config.start <= ip && ip <= self.config.end
    }
}

/// A record kept for a lease in no network, until it expires.
#[derive(Debug, Clone)]
pub(super) struct Orphan {
    record: LeaseRecord,
    expires: Instant,
}

/// The `network` sections of `config`, on `links` (see
/// [`Server::with_links`]).
pub(super) fn build(
    config: &ServerConfig,
    links: &[(String, Ipv4Addr)],
    probe_ms: u32,
) -> Vec<Net> {
    config
        .networks
        .iter()
        .map(|n| Net::new(n, links, probe_ms))
        .collect()
}

fn expiry(now: Instant, secs: u32) -> Instant {
    Instant::from_millis(
        now.as_millis()
            .saturating_add(u64::from(secs).saturating_mul(1000)),
    )
}

impl Server {
    /// Swaps network `k` (0 = the top-level one, a no-op) into the
    /// server's fields, or back out.
    pub(super) fn enter(&mut self, k: usize) {
        let Some(n) = k.checked_sub(1).and_then(|i| self.others.get_mut(i)) else {
            return;
        };
        core::mem::swap(&mut self.config, &mut n.config);
        core::mem::swap(&mut self.table, &mut n.table);
        core::mem::swap(&mut self.statics, &mut n.statics);
        core::mem::swap(&mut self.probe_ms, &mut n.probe_ms);
        core::mem::swap(&mut self.ahead, &mut n.ahead);
        core::mem::swap(&mut self.probe_ahead, &mut n.probe_ahead);
        core::mem::swap(&mut self.parked, &mut n.parked);
        core::mem::swap(&mut self.pending, &mut n.pending);
        core::mem::swap(&mut self.server_ip, &mut n.server_ip);
        core::mem::swap(&mut self.link, &mut n.link);
        core::mem::swap(&mut self.probe_icmp, &mut n.probe_icmp);
    }

    /// The network that serves `pkt` (index for [`Server::enter`]), or
    /// `None` (no reply) when it names a link we do not serve.
    ///
    /// The link is, first to last: the relay's Link Selection sub-option
    /// (82.5, RFC 3527 §3: it overrides giaddr), the client's Subnet
    /// Selection option 118 when `subnet_selection yes` (RFC 3011 §3),
    /// the relay's giaddr (RFC 2131 §4.3.1), else the receiving interface
    /// (`arrival`: the network local to that link). With no `network`
    /// section the top-level network serves every packet, as in BusyBox.
    pub(super) fn select_net(&self, pkt: &Request<'_>, arrival: usize) -> Option<usize> {
        let giaddr = pkt.giaddr();
        let relayed = !giaddr.is_unspecified();
        let link_selection = relayed
            .then(|| pkt.option(code::RELAY_AGENT_INFO))
            .flatten()
            .and_then(|r| sub_option(r, LINK_SELECTION))
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
            .map(Ipv4Addr::from);
        let selected = self
            .config
            .subnet_selection
            .then(|| pkt.option_ipv4(SUBNET_SELECTION))
            .flatten();
        let link = link_selection.or(selected).or(relayed.then_some(giaddr));
        if self.others.is_empty() && selected.is_none() {
            return Some(0);
        }
        let Some(link) = link else {
            if arrival == 0 {
                return Some(0);
            }
            let own = self
                .others
                .iter()
                .position(|n| n.local && n.usable && n.link == arrival);
            if own.is_none() {
                debug!("no network on link {arrival}, ignoring packet");
            }
            return own.map(|i| i + 1);
        };
        if self.on_top_link(link) {
            return Some(0);
        }
        match self
            .others
            .iter()
            .position(|n| n.usable && n.contains(link))
        {
            Some(i) => Some(i + 1),
            None => {
                debug!("no network for link {link}, ignoring packet");
                None
            }
        }
    }

    /// True if `ip` is on the top-level network: inside its subnet (the
    /// configured mask around the server address) or its pool.
    fn on_top_link(&self, ip: Ipv4Addr) -> bool {
        let mask = self
            .config
            .options
            .get(code::SUBNET_MASK)
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .map(u32::from_be_bytes);
        let in_subnet = mask.is_some_and(|m| u32::from(ip) & m == u32::from(self.server_ip) & m);
        in_subnet || (self.config.start <= ip && ip <= self.config.end)
    }

    /// The address network `k` answers from for a request that came in
    /// on `arrival`: a local network's own link's, a relayed network's the
    /// arrival link's (remembered for the request: [`Server::enter`]
    /// swaps it in).
    pub(super) fn net_ip(&mut self, k: usize, arrival: usize) -> Ipv4Addr {
        let arrival_ip = self.links.get(arrival).map(|l| l.1);
        match k.checked_sub(1).and_then(|i| self.others.get_mut(i)) {
            None => self.server_ip,
            Some(n) => {
                if !n.local {
                    n.server_ip = arrival_ip.unwrap_or(n.server_ip);
                }
                n.server_ip
            }
        }
    }

    /// The earliest probe deadline of any network (see
    /// [`Server::probe_deadline`]).
    pub(super) fn nets_deadline(&self) -> Option<Instant> {
        let others = self.others.iter().filter_map(|n| {
            ahead::deadline(&ahead::Probing {
                probe_ms: n.probe_ms,
                ahead: &n.ahead,
                probe_ahead: n.probe_ahead,
                table: &n.table,
                pending: &n.pending,
                max_leases: n.config.max_leases,
            })
        });
        self.probe_deadline().into_iter().chain(others).min()
    }

    /// Which network's pool holds `ip`: `Some(0)` top level, `Some(k)`
    /// network section k, `None` none.
    pub(super) fn pool_of(&self, ip: Ipv4Addr) -> Option<usize> {
        if self.config.start <= ip && ip <= self.config.end {
            return Some(0);
        }
        self.others
            .iter()
            .position(|n| n.in_pool(ip))
            .map(|i| i + 1)
    }

    /// Which network a record belongs to: the one with a static lease of
    /// its address and MAC, else the one whose pool holds its address.
    fn home_of(&self, r: &LeaseRecord) -> Option<usize> {
        let fixed = |c: &ServerConfig| {
            c.static_leases
                .iter()
                .any(|s| s.ip == r.ip && s.mac == r.mac)
        };
        if fixed(&self.config) {
            return Some(0);
        }
        match self.others.iter().position(|n| fixed(&n.config)) {
            Some(i) => Some(i + 1),
            None => self.pool_of(r.ip),
        }
    }

    /// Loads records into their networks ([`Server::home_of`]); others
    /// are kept as orphans until they expire. Returns how many did not
    /// fit.
    pub(super) fn load_all(
        &mut self,
        now: Instant,
        records: impl IntoIterator<Item = LeaseRecord>,
    ) -> usize {
        let mut per: Vec<Vec<LeaseRecord>> = vec![Vec::new(); self.others.len() + 1];
        for r in records {
            match self.home_of(&r).and_then(|k| per.get_mut(k)) {
                Some(v) => v.push(r),
                None => self.orphan(now, r),
            }
        }
        let mut dropped = 0;
        for (k, recs) in per.into_iter().enumerate() {
            self.enter(k);
            dropped += self.load_one(now, recs);
            self.enter(k);
        }
        dropped
    }

    /// Keeps `r` (in no network) until it expires.
    fn orphan(&mut self, now: Instant, r: LeaseRecord) {
        if r.remaining == 0 {
            return;
        }
        let expires = expiry(now, r.remaining);
        self.orphans.retain(|o| o.record.ip != r.ip);
        self.orphans.push(Orphan { record: r, expires });
    }

    /// After a reload: the sections' networks rebuilt from the new config,
    /// each loaded with the old records that belong to it (`old`: every
    /// record before the reload); what the top level did not keep (its
    /// pool and its static leases) and no network takes becomes an
    /// orphan.
    pub(super) fn rebuild_others(&mut self, now: Instant, old: Vec<LeaseRecord>) {
        self.others = build(&self.config, &self.links, self.probe_ms);
        // `old` holds every live orphan: each goes to its network now, or
        // becomes an orphan again.
        self.orphans.clear();
        let (top, rest): (Vec<LeaseRecord>, Vec<LeaseRecord>) =
            old.into_iter().partition(|r| self.home_of(r) == Some(0));
        // The top-level table was rebuilt from itself: what it lacks of
        // its own records (orphans whose pool is back) is adopted, unless
        // the address or the client is taken there.
        let table = &self.table;
        let adopt: Vec<LeaseRecord> = top
            .into_iter()
            .filter(|r| {
                let id = (!r.client_id.is_empty()).then_some(&r.client_id[..]);
                table.get(r.ip).is_none() && table.find(&Client::new(r.mac, id)).is_none()
            })
            .collect();
        if !adopt.is_empty() {
            self.load_one(now, adopt);
        }
        self.load_all(now, rest);
    }

    /// Every record of the relayed networks and the orphans.
    pub(super) fn other_records(&self, now: Instant) -> impl Iterator<Item = LeaseRecord> + '_ {
        let nets = self.others.iter().flat_map(move |n| {
            n.table
                .records(now)
                .chain(statics::records(&n.statics, now))
        });
        let orphans = self
            .orphans
            .iter()
            .filter(move |o| o.expires > now)
            .map(move |o| {
                let left = o.expires.saturating_duration_since(now).as_secs();
                LeaseRecord {
                    remaining: u32::try_from(left).unwrap_or(u32::MAX),
                    ..o.record.clone()
                }
            });
        nets.chain(orphans)
    }

    /// Leases held across all networks.
    pub fn table_len(&self) -> usize {
        self.table.len() + self.others.iter().map(|n| n.table.len()).sum::<usize>()
    }

    /// The links of the local networks, as given to
    /// [`Server::with_links`].
    pub fn links(&self) -> &[(String, Ipv4Addr)] {
        &self.links
    }

    /// The `network` sections' names, in config order.
    pub fn network_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.others.iter().map(|n| n.name.as_str())
    }
}

/// Subnet Selection (RFC 3011).
const SUBNET_SELECTION: u8 = 118;
/// Circuit ID sub-option of option 82 (RFC 3046 §3.1).
pub(super) const CIRCUIT_ID: u8 = 1;
/// Link Selection sub-option of option 82 (RFC 3527).
const LINK_SELECTION: u8 = 5;

/// Sub-option `code` of an option 82 value (RFC 3046 §2.0 TLVs).
pub(super) fn sub_option(data: &[u8], code: u8) -> Option<&[u8]> {
    let mut rest = data;
    while let [c, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let v = tail.get(..len)?;
        if *c == code {
            return Some(v);
        }
        rest = tail.get(len..)?;
    }
    None
}
