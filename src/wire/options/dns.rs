//! RFC 1035 §3.1 domain names in DHCP options: the list in option 119
//! (RFC 3397) and the names in option 120 (RFC 3361).
//!
//! Decoding follows compression pointers (RFC 1035 §4.1.4) under rules that
//! make hostile data harmless: a pointer must point strictly backwards, a
//! name may take at most [`MAX_JUMPS`] pointer jumps and be at most 255
//! octets long, and the label types 0x40 and 0x80 (RFC 6891 extended and
//! reserved) are rejected. Any of these failing rejects the whole option,
//! as BusyBox's `dname_dec` does.
//!
//! Encoding compresses across the list as RFC 3397 §2 describes (pointers
//! are offsets from the start of the option data). BusyBox has compression
//! compiled out on encode, but its decoder follows pointers and gives up
//! after 6 jumps per name, so we never emit a name that needs more.

/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// Longest name on the wire, length bytes and root included (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
/// Pointer jumps accepted while decoding one name. Backward-only pointers
/// and the 255-octet limit already rule out loops; this keeps the work per
/// name small and still decodes chains deeper than any sane encoder emits.
pub const MAX_JUMPS: usize = 32;
/// Jumps per name BusyBox's decoder accepts (`depth > 6` is a loop to it):
/// our encoder stays within this so BusyBox clients can read what we send.
const PEER_MAX_JUMPS: u8 = 6;
/// A pointer holds a 14-bit offset.
const MAX_POINTER: usize = 0x3fff;

/// Why option data is not a valid domain-name list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// A label or a pointer runs past the end of the data.
    Truncated,
    /// A length byte in 0x40..=0xBF (extended or reserved label type).
    BadLabelType,
    /// A pointer to itself or to later data: never produced by a correct
    /// encoder and the start of every pointer loop.
    ForwardPointer,
    /// More than [`MAX_JUMPS`] jumps in one name.
    TooManyJumps,
    /// A name longer than 255 octets.
    NameTooLong,
    /// No name at all (empty data, or only root names).
    Empty,
}

/// A decoded name: its labels, borrowed from the option data.
pub type Labels<'a> = Vec<&'a [u8]>;

/// Decodes a concatenation of RFC 1035 names, following pointers.
///
/// Root (empty) names are skipped rather than exported as empty words; data
/// that ends after a complete label ends the last name, as in BusyBox.
pub fn decode(data: &[u8]) -> Result<Vec<Labels<'_>>, DnsError> {
    let mut names = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (labels, next) = decode_one(data, pos)?;
        pos = next;
        if !labels.is_empty() {
            names.push(labels);
        }
    }
    if names.is_empty() {
        return Err(DnsError::Empty);
    }
    Ok(names)
}

/// Decodes the name starting at `start`; returns its labels and where the
/// next name starts.
fn decode_one(data: &[u8], start: usize) -> Result<(Labels<'_>, usize), DnsError> {
    let mut labels = Vec::new();
    let mut cur = start;
    // Where the top level resumes after the first pointer.
    let mut resume = None;
    let mut jumps = 0;
    // Octets of the uncompressed name so far, counting the root byte.
    let mut wire_len = 1;
    // Data that ends after whole labels ends the name there.
    while let Some(&b) = data.get(cur) {
        match b {
            0 => {
                cur += 1;
                break;
            }
            1..=0x3f => {
                let len = usize::from(b);
                let label = data
                    .get(cur + 1..cur + 1 + len)
                    .ok_or(DnsError::Truncated)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME {
                    return Err(DnsError::NameTooLong);
                }
                labels.push(label);
                cur += 1 + len;
            }
            0xc0..=0xff => {
                let low = *data.get(cur + 1).ok_or(DnsError::Truncated)?;
                let target = (usize::from(b & 0x3f) << 8) | usize::from(low);
                if target >= cur {
                    return Err(DnsError::ForwardPointer);
                }
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(DnsError::TooManyJumps);
                }
                resume.get_or_insert(cur + 2);
                cur = target;
            }
            _ => return Err(DnsError::BadLabelType),
        }
    }
    Ok((labels, resume.unwrap_or(cur)))
}

/// Why a text name cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty name, empty label (`a..b`, `.com`), or a label over 63 octets.
    BadLabel,
    /// More than 255 octets encoded.
    TooLong,
}

/// Splits a text name into lower-cased labels, as BusyBox's
/// `convert_dname`: labels 1..=63 octets, one trailing dot allowed, any
/// other byte accepted, at most 255 octets once encoded.
pub fn text_to_labels(name: &str) -> Result<Vec<Vec<u8>>, NameError> {
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.is_empty() {
        return Err(NameError::BadLabel);
    }
    let mut labels = Vec::new();
    let mut wire_len = 1;
    for label in body.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(NameError::BadLabel);
        }
        wire_len += label.len() + 1;
        labels.push(label.as_bytes().to_ascii_lowercase());
    }
    if wire_len > MAX_NAME {
        return Err(NameError::TooLong);
    }
    Ok(labels)
}

/// A suffix already in the buffer that later names may point to.
struct Target {
    /// The suffix, uncompressed (length-prefixed labels, no root byte).
    key: Vec<u8>,
    /// Its offset from the start of the option data.
    pos: usize,
    /// Pointer jumps a decoder takes reading from `pos` to the root.
    depth: u8,
}

/// Appends `names` (label lists) to `out`, RFC 1035 encoded, with
/// compression pointers to suffixes written by this call. Pointer offsets
/// count from the start of `out`, so bytes already in `out` are preserved
/// and simply never pointed to.
pub fn encode_into<L: AsRef<[u8]>>(out: &mut Vec<u8>, names: &[Vec<L>], compress: bool) {
    let mut targets: Vec<Target> = Vec::new();
    for labels in names {
        let keys: Vec<Vec<u8>> = (0..labels.len())
            .map(|i| uncompressed(labels.get(i..).unwrap_or_default()))
            .collect();
        // Longest suffix already written that a BusyBox decoder can follow.
        let hit = if compress {
            keys.iter().enumerate().find_map(|(i, key)| {
                targets
                    .iter()
                    .find(|t| t.key == *key && t.depth < PEER_MAX_JUMPS && t.pos <= MAX_POINTER)
                    .map(|t| (i, t.pos, t.depth))
            })
        } else {
            None
        };
        let literal = hit.map_or(labels.len(), |(i, _, _)| i);
        let depth = hit.map_or(0, |(_, _, d)| d + 1);
        for (label, key) in labels.iter().zip(keys).take(literal) {
            let label = label.as_ref();
            targets.push(Target {
                key,
                pos: out.len(),
                depth,
            });
            // Labels were validated to 1..=63 octets by text_to_labels or
            // come from decode(), which only yields 1..=63.
            out.push(u8::try_from(label.len()).unwrap_or(0));
            out.extend_from_slice(label);
        }
        match hit {
            Some((_, pos, _)) => {
                let [hi, lo] = u16::try_from(pos).unwrap_or(0).to_be_bytes();
                out.push(0xc0 | hi);
                out.push(lo);
            }
            None => out.push(0),
        }
    }
}

/// Length-prefixed labels without the root byte: the comparison key for a
/// suffix.
fn uncompressed<L: AsRef<[u8]>>(labels: &[L]) -> Vec<u8> {
    let mut key = Vec::new();
    for l in labels {
        let l = l.as_ref();
        key.push(u8::try_from(l.len()).unwrap_or(0));
        key.extend_from_slice(l);
    }
    key
}
