//! What udhcpc sends (BusyBox §1.7, RFC 2131 §4.4.1 table 5): the BOOTP
//! header and the option order of DISCOVER, REQUEST, DECLINE and RELEASE.

use std::net::Ipv4Addr;

use super::{Client, MAX_MESSAGE_SIZE};
use crate::wire::dhcp::{code, MessageBuilder, MessageType, DEFAULT_MAX_LEN, OP_REQUEST};

impl Client {
    /// Builds one message (BusyBox §1.7): option 53 first, then 50 and 54
    /// when given, then for DISCOVER/REQUEST (`full`) 57 = 576, 55, (80 in a
    /// DISCOVER with `--rapid-commit`) and the configured options by code;
    /// DECLINE/RELEASE carry only option 61.
    pub(super) fn build(
        &self,
        kind: MessageType,
        secs: u16,
        ciaddr: Ipv4Addr,
        requested: Option<Ipv4Addr>,
        server: Option<Ipv4Addr>,
        full: bool,
    ) -> Vec<u8> {
        let mut buf = vec![0u8; DEFAULT_MAX_LEN];
        let len = match self.fill(&mut buf, kind, secs, ciaddr, requested, server, full) {
            Ok(n) => n,
            // Unreachable with a 548-byte buffer; an empty message would be
            // dropped by the driver rather than sent half-built.
            Err(e) => {
                log::error!("can't build {kind}: {e}");
                0
            }
        };
        buf.truncate(len);
        buf
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        buf: &mut [u8],
        kind: MessageType,
        secs: u16,
        ciaddr: Ipv4Addr,
        requested: Option<Ipv4Addr>,
        server: Option<Ipv4Addr>,
        full: bool,
    ) -> crate::wire::Result<usize> {
        let mut b = MessageBuilder::new(buf, OP_REQUEST, self.xid)?;
        {
            let mut h = b.header();
            h.set_secs(secs);
            h.set_ciaddr(ciaddr);
            h.set_client_mac(self.cfg.mac);
            // RFC 2131 §4.1: the flag only while we cannot receive unicast.
            h.set_broadcast_flag(full && self.cfg.broadcast_flag && ciaddr.is_unspecified());
        }
        b.add_message_type(kind)?;
        if let Some(ip) = requested {
            b.add_ipv4(code::REQUESTED_IP, ip)?;
        }
        if let Some(s) = server {
            b.add_ipv4(code::SERVER_ID, s)?;
        }
        if full {
            b.add_u16(code::MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE)?;
            if !self.cfg.request_list.is_empty()
                && b.add_option(code::PARAM_REQUEST_LIST, &self.cfg.request_list)
                    .is_err()
            {
                {
                    log::info!(
                        "option 0x{:02x} did not fit into the packet",
                        code::PARAM_REQUEST_LIST
                    );
                }
            }
            // RFC 4039 §4: option 80, length 0, in DISCOVER only.
            if kind == MessageType::Discover
                && self.cfg.rapid_commit
                && b.add_option(code::RAPID_COMMIT, &[]).is_err()
            {
                log::info!(
                    "option 0x{:02x} did not fit into the packet",
                    code::RAPID_COMMIT
                );
            }
            for (c, v) in self.cfg.send_options.iter() {
                if b.add_option(c, v).is_err() {
                    log::info!("option 0x{c:02x} did not fit into the packet");
                }
            }
        } else if let Some(id) = self.cfg.send_options.get(code::CLIENT_ID) {
            if b.add_option(code::CLIENT_ID, id).is_err() {
                log::info!(
                    "option 0x{:02x} did not fit into the packet",
                    code::CLIENT_ID
                );
            }
        }
        Ok(b.finish())
    }
}
