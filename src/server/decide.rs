//! What the server does with each message (RFC 2131 §4.3): the decisions.

use super::*;

impl Server {
    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        pkt: &Request<'_>,
        mtype: Option<MessageType>,
        stat: Option<usize>,
        sid: bool,
    ) {
        match mtype {
            None => self.bootp(pkt, stat),
            Some(MessageType::Discover) => self.discover(now, pkt, stat),
            Some(MessageType::Request) => self.request(now, pkt, stat, sid),
            Some(MessageType::Decline) => self.decline(now, pkt, stat, sid),
            Some(MessageType::Release) => self.release(now, pkt, stat, sid),
            Some(MessageType::Inform) => {
                debug!("received INFORM");
                // RFC 2131 §4.3.5: no lease check, no lease time, no yiaddr.
                self.reply(Reply::InformAck, pkt, Ipv4Addr::UNSPECIFIED, 0, stat, None);
            }
            Some(t) => debug!("received {t} from a client, ignoring packet"),
        }
    }

    // ------------------------------------------------------------------
    // Decisions

    /// Lease time (reference §2.8 select_lease_time): the client's option
    /// 51 clamped to max_lease first, then min_lease (so min wins if
    /// min > max); absent → max_lease.
    pub(super) fn lease_time(&self, pkt: &Request<'_>) -> u32 {
        match pkt.option_u32(code::LEASE_TIME) {
            Some(v) => v.min(self.config.max_lease).max(self.config.min_lease),
            None => self.config.max_lease,
        }
    }

    /// DISCOVER (RFC 2131 §4.3.1): static lease; else the client's current
    /// or previous binding; else the requested address if available; else
    /// a new address. Only the last two are probed.
    pub(super) fn discover(&mut self, now: Instant, pkt: &Request<'_>, stat: Option<usize>) {
        debug!("received DISCOVER");
        if let Some(ip) = self.static_lease(stat).map(|s| s.ip) {
            let secs = self.lease_time(pkt);
            self.reply(Reply::Offer, pkt, ip, secs, stat, None);
            return;
        }
        if self.at_cap(None, false) {
            return;
        }
        let client = client_of(pkt);
        if let Some(p) = self.pending.iter_mut().find(|p| p.is_for(&client)) {
            // A retransmission while its probe runs: answer the latest one
            // (its xid) when the probe completes; no second probe.
            p.request.clear();
            p.request.extend_from_slice(pkt.as_bytes());
            debug!("probe pending for this client, DISCOVER absorbed");
            return;
        }
        if let Some(l) = self.table.lookup(&client) {
            self.offer(now, pkt, &client, l.ip);
            return;
        }
        // BusyBox: the requested address bypassed the static-lease and
        // server-address exclusions and was never probed.
        let requested = pkt
            .option_ipv4(code::REQUESTED_IP)
            .filter(|&ip| self.table.reserve(now, ip));
        if requested.is_none() {
            // Probed free within the last few seconds: no second probe.
            if let Some(ip) = self.take_fresh(now) {
                self.offer(now, pkt, &client, ip);
                self.refill_ahead(now);
                return;
            }
        }
        let new = requested
            .or_else(|| self.table.allocate(now, client.mac))
            .or_else(|| self.take_stale());
        match new {
            Some(ip) => self.probe_or_offer(now, pkt, &client, ip),
            None => info!("no free IP addresses. OFFER abandoned"),
        }
    }

    /// Starts the probe of a reserved `ip` for this DISCOVER, or offers it
    /// at once when probing is off.
    pub(super) fn probe_or_offer(
        &mut self,
        now: Instant,
        pkt: &Request<'_>,
        client: &Client,
        ip: Ipv4Addr,
    ) {
        if self.probe_ms == 0 {
            self.offer(now, pkt, client, ip);
            return;
        }
        if self.pending.len() >= MAX_PENDING_PROBES {
            debug!("too many probes pending, DISCOVER dropped");
            self.table.unreserve(ip);
            return;
        }
        let mut request = self.take_buf();
        request.clear();
        request.extend_from_slice(pkt.as_bytes());
        self.start_probe(
            now,
            Pending {
                ip,
                mac: client.mac,
                client_id: client.client_id.unwrap_or_default().to_vec(),
                request,
                deadline: now,
                link: self.arrival,
            },
        );
    }

    pub(super) fn start_probe(&mut self, now: Instant, mut p: Pending) {
        p.deadline = Instant::from_millis(
            now.as_millis()
                .saturating_add(u64::from(self.probe_ms) + PROBE_SLACK_MS),
        );
        self.probes.push_back(Probe {
            ip: p.ip,
            safe_mac: p.mac,
            link: self.link,
            icmp: self.probe_icmp,
        });
        self.pending.push(p);
    }

    /// A probe finished (answered or timed out).
    pub(super) fn probed(&mut self, now: Instant, p: Pending, in_use: bool) {
        let Pending {
            ip,
            mac,
            client_id,
            request,
            link,
            ..
        } = p;
        // The OFFER goes out where the DISCOVER came in.
        self.arrival = link;
        if !in_use {
            let pkt = Request::new(Packet::new_unchecked(&request[..]));
            let client = Client::new(mac, Some(&client_id[..]));
            self.offer(now, &pkt, &client, ip);
            self.recycle(request);
            return;
        }
        let secs = self.config.conflict_time;
        info!("{ip} belongs to someone, reserving it for {secs} seconds");
        if self.table.conflict(now, ip, secs).is_some() {
            self.queue_record(now, ip);
        } else {
            self.table.unreserve(ip);
        }
        match self.table.allocate(now, mac) {
            Some(ip) => self.start_probe(
                now,
                Pending {
                    ip,
                    mac,
                    client_id,
                    request,
                    deadline: now,
                    link,
                },
            ),
            None => {
                info!("no free IP addresses. OFFER abandoned");
                self.recycle(request);
            }
        }
    }

    /// Records the offer hold and sends the OFFER.
    pub(super) fn offer(&mut self, now: Instant, pkt: &Request<'_>, client: &Client, ip: Ipv4Addr) {
        let hostname =
            fqdn::lease_hostname(pkt.option(code::CLIENT_FQDN), pkt.option(code::HOSTNAME));
        if self.config.rapid_commit && pkt.has_empty_option(code::RAPID_COMMIT) {
            // RFC 4039 §4 (opt-in): bind at once; the ACK (with option 80,
            // see build_reply) is held until its record is durable, as
            // every ACK.
            let secs = self.lease_time(pkt);
            if self.table.bind(now, client, ip, secs, hostname).is_some() {
                self.event(hook::Kind::Add, client.mac, ip, hostname);
                let seq = self.queue_record(now, ip);
                self.reply(Reply::Ack, pkt, ip, secs, None, Some(seq));
            } else {
                self.table.unreserve(ip);
            }
            return;
        }
        let hold = self.config.offer_time;
        if self.table.offer(now, client, ip, hold, hostname).is_none() {
            self.table.unreserve(ip);
            info!("no free IP addresses. OFFER abandoned");
            return;
        }
        let secs = self.lease_time(pkt);
        self.reply(Reply::Offer, pkt, ip, secs, None, None);
    }

    /// A REQUEST naming another server (RFC 2131 §3.1 step 3, §4.3.2: "the
    /// client has declined that server's offer"): free our offer hold.
    /// BusyBox keeps it until offer_time runs out.
    pub(super) fn chose_other_server(&mut self, now: Instant, pkt: &Request<'_>) {
        let client = client_of(pkt);
        if let Some(i) = self.pending.iter().position(|p| p.is_for(&client)) {
            let p = self.pending.swap_remove(i);
            self.probes.retain(|q| q.ip != p.ip);
            self.table.unreserve(p.ip);
            self.recycle(p.request);
        }
        if let Some(l) = self.table.find(&client) {
            if l.state == crate::lease::table::LeaseState::Offered {
                debug!("client chose another server, offer of {} withdrawn", l.ip);
                self.table.expire(now, l.ip);
            }
        }
    }

    /// REQUEST (RFC 2131 §4.3.2), by client state:
    /// - SELECTING (54 = us): ACK if 50 is the address we hold for the
    ///   client, else NAK;
    /// - INIT-REBOOT (50, no 54): ACK if it is the client's address, NAK
    ///   if the client has another one or the address is on the wrong
    ///   network; silent if we have no record of the client (BusyBox NAKs);
    /// - RENEWING/REBINDING (ciaddr, no 50/54): ACK if ciaddr is the
    ///   client's, else silent.
    ///
    /// With `authoritative yes`, the two silences become NAKs.
    pub(super) fn request(
        &mut self,
        now: Instant,
        pkt: &Request<'_>,
        stat: Option<usize>,
        selecting: bool,
    ) {
        debug!("received REQUEST");
        let requested = pkt.option_ipv4(code::REQUESTED_IP);
        let ciaddr = pkt.ciaddr();
        let Some(want) = requested.or((!ciaddr.is_unspecified()).then_some(ciaddr)) else {
            debug!("no requested IP and no ciaddr, ignoring packet");
            return;
        };
        let secs = self.lease_time(pkt);
        if let Some(ip) = self.static_lease(stat).map(|s| s.ip) {
            if ip == want {
                self.bind_static(now, pkt, ip, secs);
                self.reply(Reply::Ack, pkt, ip, secs, stat, None);
            } else if selecting || requested.is_some() {
                self.reply(Reply::Nak, pkt, want, 0, None, None);
            }
            return;
        }
        let client = client_of(pkt);
        let lease = self.table.lookup(&client);
        if lease.is_some_and(|l| l.ip == want) {
            if self.at_cap(Some(want), true) {
                return;
            }
            let hostname =
                fqdn::lease_hostname(pkt.option(code::CLIENT_FQDN), pkt.option(code::HOSTNAME));
            let kind = match lease {
                Some(l) if l.state == LeaseState::Bound => hook::Kind::Old,
                _ => hook::Kind::Add,
            };
            if self
                .table
                .bind(now, &client, want, secs, hostname)
                .is_some()
            {
                self.event(kind, client.mac, want, hostname);
                let seq = self.queue_record(now, want);
                self.reply(Reply::Ack, pkt, want, secs, None, Some(seq));
            }
            return;
        }
        let authoritative = self.config.authoritative;
        if selecting {
            self.reply(Reply::Nak, pkt, want, 0, None, None);
        } else if requested.is_some() {
            if lease.is_some() || authoritative || self.wrong_network(pkt, want) {
                self.reply(Reply::Nak, pkt, want, 0, None, None);
            } else {
                // RFC 2131 §4.3.2: "If the DHCP server has no record of
                // this client, then it MUST remain silent" (another server
                // may own it) — unless configured as the only server here
                // (ISC `authoritative;`, dnsmasq --dhcp-authoritative).
                debug!("no lease for this client, not answering INIT-REBOOT");
            }
        } else if authoritative {
            // RENEWING/REBINDING an address we do not know for this client:
            // the only server on the link NAKs so the client restarts at
            // INIT instead of keeping an address nobody granted.
            self.reply(Reply::Nak, pkt, want, 0, None, None);
        } else {
            debug!("ciaddr {ciaddr} is not this client's lease, ignoring packet");
        }
    }

    /// DECLINE (RFC 2131 §4.3.3): with 54 and 50 naming the client's
    /// lease, the address is held for decline_time with no client.
    pub(super) fn decline(
        &mut self,
        now: Instant,
        pkt: &Request<'_>,
        stat: Option<usize>,
        sid: bool,
    ) {
        debug!("received DECLINE");
        let Some(ip) = pkt.option_ipv4(code::REQUESTED_IP) else {
            return;
        };
        if !sid || stat.is_some() {
            return;
        }
        let client = client_of(pkt);
        if self.table.lookup(&client).is_some_and(|l| l.ip == ip) {
            if self.at_cap(Some(ip), false) {
                return;
            }
            let secs = self.config.decline_time;
            info!("{ip} declined, reserving it for {secs} seconds");
            if self.table.decline(now, ip, secs).is_some() {
                self.queue_record(now, ip);
                self.park(now, &client, ip);
            }
        }
    }

    /// Remembers that `client` parked `ip` by DECLINE; past
    /// [`MAX_DECLINED_PER_CLIENT`] its oldest parked address is freed.
    pub(super) fn park(&mut self, now: Instant, client: &Client, ip: Ipv4Addr) {
        let key = match client.client_id {
            Some(id) => (MacAddr::ZERO, id.to_vec()),
            None => (client.mac, Vec::new()),
        };
        // Forget parkings that ended (expired, reused, re-parked).
        let table = &self.table;
        self.parked.retain(|p| {
            p.ip != ip
                && table
                    .get(p.ip)
                    .is_some_and(|l| l.state == LeaseState::Declined && !l.is_expired(now))
        });
        let mine = self.parked.iter().filter(|p| p.client == key).count();
        if mine >= MAX_DECLINED_PER_CLIENT {
            if let Some(i) = self.parked.iter().position(|p| p.client == key) {
                let old = self.parked.remove(i);
                self.table.forget(old.ip);
                self.queue_forgotten();
                self.warn_declines(now, &key, old.ip);
            }
        }
        self.parked.push(Parked { client: key, ip });
    }

    /// The "declined too many" warning, at most once per client per hour.
    pub(super) fn warn_declines(
        &mut self,
        now: Instant,
        key: &(MacAddr, Vec<u8>),
        freed: Ipv4Addr,
    ) {
        let recent = self.decline_warned.iter().any(|(k, at)| {
            k == key && now.as_millis().saturating_sub(at.as_millis()) < DECLINE_WARN_MS
        });
        if recent {
            debug!("un-parking {freed}: client declined too many addresses");
            return;
        }
        let who = if key.1.is_empty() {
            key.0.to_string()
        } else {
            let hex: String = key.1.iter().map(|b| format!("{b:02x}")).collect();
            format!("id {hex}")
        };
        warn!(
            "client {who} declined more than {MAX_DECLINED_PER_CLIENT} addresses, un-parking {freed}"
        );
        self.decline_warned.retain(|(k, _)| k != key);
        if self.decline_warned.len() >= DECLINE_WARNED_MAX {
            self.decline_warned.pop_front();
        }
        self.decline_warned.push_back((key.clone(), now));
    }

    /// RELEASE (RFC 2131 §4.3.4): with 54 and ciaddr the client's lease,
    /// the lease expires now; the binding is kept (same address next time).
    pub(super) fn release(
        &mut self,
        now: Instant,
        pkt: &Request<'_>,
        stat: Option<usize>,
        sid: bool,
    ) {
        debug!("received RELEASE");
        if sid && stat.is_some() {
            self.release_static(now, pkt.ciaddr(), pkt.client_mac());
        }
        if !sid || stat.is_some() {
            return;
        }
        let ip = pkt.ciaddr();
        let client = client_of(pkt);
        if self.table.lookup(&client).is_some_and(|l| l.ip == ip)
            && !self.at_cap(Some(ip), false)
            && self.table.release(now, ip).is_some()
        {
            let host = self.table.get(ip).map(|l| l.hostname).unwrap_or_default();
            self.event(hook::Kind::Del, client.mac, ip, host);
            self.queue_record(now, ip);
        }
    }

    /// BOOTP (no option 53; RFC 951, RFC 1534): answered only for static
    /// leases, with no lease recorded.
    pub(super) fn bootp(&mut self, pkt: &Request<'_>, stat: Option<usize>) {
        debug!("received BOOTP BOOTREQUEST");
        match self.static_lease(stat).map(|s| s.ip) {
            Some(ip) => self.reply(Reply::Bootp, pkt, ip, 0, stat, None),
            None => debug!("no static lease for BOOTP client, ignoring packet"),
        }
    }
}
