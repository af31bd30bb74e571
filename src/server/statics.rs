//! Static-lease clients in the lease file (BusyBox parity: its udhcpd
//! records a static client's lease once ACKed, so dumpleases shows it).
//!
//! The lease table never holds static addresses (they are excluded from
//! the pool), so the server keeps one record per static lease beside it:
//! at most one per `static_lease` line, replaced on each ACK. An ACK for a
//! static lease is not held for durability (the config is its durable
//! form); its record is queued like any change and reaches the journal
//! with the next batch.

use super::*;

/// A static client's last ACK.
#[derive(Debug, Clone)]
pub(super) struct StaticBound {
    record: LeaseRecord,
    expires: Instant,
}

impl Server {
    /// Records the ACK of static lease `stat` for `secs` seconds and queues
    /// its record (not holding the ACK).
    pub(super) fn bind_static(&mut self, now: Instant, pkt: &Request<'_>, ip: Ipv4Addr, secs: u32) {
        let client = client_of(pkt);
        let hostname =
            fqdn::lease_hostname(pkt.option(code::CLIENT_FQDN), pkt.option(code::HOSTNAME));
        let record = LeaseRecord {
            ip,
            mac: client.mac,
            hostname,
            remaining: secs,
            client_id: client.client_id.unwrap_or_default().to_vec(),
        };
        let expires = Instant::from_millis(
            now.as_millis()
                .saturating_add(u64::from(secs).saturating_mul(1000)),
        );
        let renewed = self
            .statics
            .iter()
            .any(|b| b.record.ip == ip && b.record.mac == record.mac && b.expires > now);
        let kind = if renewed {
            hook::Kind::Old
        } else {
            hook::Kind::Add
        };
        self.event(kind, record.mac, ip, record.hostname);
        self.statics.retain(|b| b.record.ip != ip);
        self.statics.push(StaticBound {
            record: record.clone(),
            expires,
        });
        self.queue(Change::Lease(record));
    }

    /// RELEASE from a static client: its record expires now.
    pub(super) fn release_static(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) {
        let Some(b) = self
            .statics
            .iter_mut()
            .find(|b| b.record.ip == ip && b.record.mac == mac)
        else {
            return;
        };
        b.expires = now;
        // Released: not reported again as expired by the sweep.
        b.record.remaining = 0;
        let r = b.record.clone();
        self.event(hook::Kind::Del, r.mac, r.ip, r.hostname);
        self.queue(Change::Lease(r));
    }

    /// The static records at `now` (expired ones with 0 left, as the
    /// table's expired leases).
    pub(super) fn static_records(&self, now: Instant) -> impl Iterator<Item = LeaseRecord> + '_ {
        records(&self.statics, now)
    }

    /// Static leases that ran out in `(since, now]` and were not released.
    pub(super) fn static_expired(
        &self,
        since: Instant,
        now: Instant,
    ) -> impl Iterator<Item = (MacAddr, Ipv4Addr, crate::lease::Hostname)> + '_ {
        self.statics
            .iter()
            .filter(move |b| since < b.expires && b.expires <= now && b.record.remaining > 0)
            .map(|b| (b.record.mac, b.record.ip, b.record.hostname))
    }

    /// After a reload: keep only records of static leases still
    /// configured.
    pub(super) fn retain_statics(&mut self) {
        let leases = &self.config.static_leases;
        self.statics.retain(|b| {
            leases
                .iter()
                .any(|s| s.ip == b.record.ip && s.mac == b.record.mac)
        });
    }
}

/// At load: a record of a static lease of the config (same address and
/// MAC) goes into `statics` (`None`); any other is returned for the table.
pub(super) fn divert(
    statics: &mut Vec<StaticBound>,
    leases: &[StaticLease],
    now: Instant,
    r: LeaseRecord,
) -> Option<LeaseRecord> {
    if !leases.iter().any(|s| s.ip == r.ip && s.mac == r.mac) {
        return Some(r);
    }
    let expires = Instant::from_millis(
        now.as_millis()
            .saturating_add(u64::from(r.remaining).saturating_mul(1000)),
    );
    statics.retain(|b| b.record.ip != r.ip);
    statics.push(StaticBound { record: r, expires });
    None
}

/// The records of `statics` at `now`.
pub(super) fn records(
    statics: &[StaticBound],
    now: Instant,
) -> impl Iterator<Item = LeaseRecord> + '_ {
    statics.iter().map(move |b| {
        let left = b.expires.saturating_duration_since(now).as_secs();
        LeaseRecord {
            remaining: u32::try_from(left).unwrap_or(u32::MAX),
            ..b.record.clone()
        }
    })
}
