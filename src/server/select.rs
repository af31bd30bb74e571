//! Which configuration serves a request: the client's static lease,
//! whether the client is on the network we serve.

use super::*;

impl Server {
    pub(super) fn static_lease(&self, stat: Option<usize>) -> Option<&StaticLease> {
        stat.and_then(|i| self.config.static_leases.get(i))
    }

    /// RFC 2131 §4.3.2 INIT-REBOOT: "If the DHCP server detects that the
    /// client is on the wrong network (i.e., the result of applying the
    /// local subnet mask ... to 'requested IP address' option value doesn't
    /// match reality), then the server SHOULD send a DHCPNAK". Judged only
    /// for directly attached clients with a configured subnet mask.
    pub(super) fn wrong_network(&self, pkt: &Request<'_>, ip: Ipv4Addr) -> bool {
        if !pkt.giaddr().is_unspecified() {
            return false;
        }
        let Some(mask) = self
            .config
            .options
            .get(code::SUBNET_MASK)
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .map(u32::from_be_bytes)
        else {
            return false;
        };
        u32::from(ip) & mask != u32::from(self.server_ip) & mask
    }
}
