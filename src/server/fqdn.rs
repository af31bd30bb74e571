//! Client FQDN (option 81, RFC 4702) for a server that performs no DNS
//! updates: the reply's flags and name, and the host name a lease records.
//!
//! Option data: flags (1), RCODE1 (1), RCODE2 (1), domain name. Flags (RFC
//! 4702 §2.1): S = 0x01 (server should do the A update), O = 0x02 (server
//! overrode S), E = 0x04 (name in canonical wire format, else ASCII),
//! N = 0x08 (server should do no update).

use crate::lease::Hostname;
use crate::wire::options::dns;

const FLAG_S: u8 = 0x01;
const FLAG_O: u8 = 0x02;
const FLAG_E: u8 = 0x04;
const FLAG_N: u8 = 0x08;

/// The client's name split into labels, and whether it was complete
/// (canonical: ends in the root label; ASCII: ends in a dot or has one).
struct Name<'a> {
    labels: Vec<&'a [u8]>,
    complete: bool,
}

/// Parses the name part of a client's option 81 (`None` if malformed).
fn name(flags: u8, data: &[u8]) -> Option<Name<'_>> {
    if flags & FLAG_E != 0 {
        // RFC 4702 §2.3: canonical wire format (RFC 1035 §3.1), no
        // compression; a partial name lacks the terminating root label.
        let mut labels = Vec::new();
        let mut rest = data;
        loop {
            let Some((&len, tail)) = rest.split_first() else {
                return Some(Name {
                    labels,
                    complete: false,
                });
            };
            if len == 0 {
                return tail.is_empty().then_some(Name {
                    labels,
                    complete: true,
                });
            }
            if len > 63 {
                return None;
            }
            let label = tail.get(..usize::from(len))?;
            labels.push(label);
            rest = tail.get(usize::from(len)..)?;
        }
    } else {
        // Deprecated ASCII encoding (§2.3.1): a trailing dot, or any dot,
        // marks a name the client considers complete.
        let text = data.split(|&b| b == 0).next().unwrap_or_default();
        let complete = text.contains(&b'.');
        let body = text.strip_suffix(b".").unwrap_or(text);
        let labels: Vec<&[u8]> = body
            .split(|&b| b == b'.')
            .filter(|l| !l.is_empty())
            .collect();
        Some(Name { labels, complete })
    }
}

/// The option 81 data a server that does no DNS update sends back
/// (RFC 4702 §4): the client's E flag; N = 1 and S = 0; O = 1 when the
/// client asked for S (its preference is overridden); RCODE1 = RCODE2 =
/// 255 (§2.2: "a server SHOULD set them to 255"); the client's name in the
/// client's encoding, completed with `suffix` if it was partial. `None`
/// if the client's option is malformed (then none is sent).
pub(crate) fn reply(client: &[u8], suffix: Option<&str>) -> Option<Vec<u8>> {
    let (&flags, rest) = client.split_first()?;
    let name_data = rest.get(2..)?;
    let parsed = name(flags, name_data)?;
    let e = flags & FLAG_E;
    let o = if flags & FLAG_S != 0 { FLAG_O } else { 0 };
    let mut out = vec![e | o | FLAG_N, 255, 255];
    let suffix = match suffix {
        Some(s) if !parsed.complete && !parsed.labels.is_empty() => dns::text_to_labels(s).ok(),
        _ => None,
    };
    let suffix_labels = suffix.iter().flatten().map(Vec::as_slice);
    let all: Vec<&[u8]> = parsed.labels.iter().copied().chain(suffix_labels).collect();
    let complete = parsed.complete || suffix.is_some();
    if e != 0 {
        for l in &all {
            out.push(u8::try_from(l.len()).ok()?);
            out.extend_from_slice(l);
        }
        if complete {
            out.push(0);
        }
    } else {
        out.extend_from_slice(&all.join(&b"."[..]));
        if complete && suffix.is_some() {
            // Completed by us: say so the ASCII way (a trailing dot).
            out.push(b'.');
        } else if parsed.complete && name_data.ends_with(b".") {
            out.push(b'.');
        }
    }
    Some(out)
}

/// The host name a lease records: the first label of a client's option 81
/// if it has one (RFC 4702 §5: the FQDN option supersedes option 12),
/// else option 12; sanitised as BusyBox does.
pub(crate) fn lease_hostname(fqdn: Option<&[u8]>, hostname: Option<&[u8]>) -> Hostname {
    let first = fqdn.and_then(|d| {
        let (&flags, rest) = d.split_first()?;
        let n = name(flags, rest.get(2..)?)?;
        n.labels.first().copied().filter(|l| !l.is_empty())
    });
    Hostname::sanitize(first.or(hostname).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_partial_name_is_completed_and_flags_set() {
        // S=1, E=1, partial "laptop".
        let req = [0x05, 0, 0, 6, b'l', b'a', b'p', b't', b'o', b'p'];
        let r = reply(&req, Some("example.org")).unwrap();
        assert_eq!(
            r,
            [
                &[0x0e, 255, 255, 6][..],
                b"laptop",
                &[7],
                b"example",
                &[3],
                b"org",
                &[0]
            ]
            .concat()
        );
        // Without a suffix the partial name is returned as sent.
        let r = reply(&req, None).unwrap();
        assert_eq!(r, [&[0x0e, 255, 255, 6][..], b"laptop"].concat());
    }

    #[test]
    fn canonical_full_name_kept_and_no_override_without_s() {
        let req = [&[0x04, 0, 0, 1][..], b"a", &[3], b"com", &[0]].concat();
        let r = reply(&req, Some("example.org")).unwrap();
        assert_eq!(
            r,
            [&[0x0c, 255, 255, 1][..], b"a", &[3], b"com", &[0]].concat()
        );
    }

    #[test]
    fn ascii_encoding_kept() {
        let r = reply(b"\x01\x00\x00pc", Some("lan")).unwrap();
        assert_eq!(r, b"\x0a\xff\xffpc.lan.");
        let r = reply(b"\x00\x00\x00pc.example.com", Some("lan")).unwrap();
        assert_eq!(r, b"\x08\xff\xffpc.example.com");
    }

    #[test]
    fn malformed_is_not_answered() {
        assert_eq!(reply(&[0x04, 0], None), None);
        assert_eq!(reply(&[0x04, 0, 0, 5, b'a'], None), None);
        assert_eq!(reply(&[0x04, 0, 0, 0, 1], None), None);
    }

    #[test]
    fn fqdn_wins_over_option_12() {
        let fq = [&[0x04, 0, 0, 6][..], b"laptop", &[3], b"lan", &[0]].concat();
        assert_eq!(
            lease_hostname(Some(&fq), Some(b"other")),
            Hostname::sanitize(b"laptop")
        );
        assert_eq!(
            lease_hostname(None, Some(b"other")),
            Hostname::sanitize(b"other")
        );
        assert_eq!(
            lease_hostname(Some(&[0, 0, 0]), Some(b"other")),
            Hostname::sanitize(b"other")
        );
    }
}
