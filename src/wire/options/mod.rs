//! The DHCP options table and its codecs.
//!
//! - [`OPTIONS`]: BusyBox's 40-row table (code, name, kind, list and
//!   request flags) as one array of structs; from it come udhcpc's default
//!   request list, the script variable names and the config-file names.
//! - Text → bytes ([`OptionSet::add_text`], [`parse_code`],
//!   [`parse_ipv4_aton`]): udhcpd.conf `option`/`opt` and udhcpc `-x`/`-O`.
//! - Bytes → text ([`format_option`], [`mask_prefix_len`]): the udhcpc
//!   script environment.
//!
//! Standards: RFC 2132 (option format and the classic options), RFC 3442
//! (classless static routes, 121), RFC 3397 (domain search list, 119) with
//! RFC 1035 §3.1 names and §4.1.4 compression, RFC 3361 (SIP servers, 120),
//! RFC 5969 (6rd, 212), RFC 3396 (long options: the packet layer
//! concatenates instances before formatting; configured values stay within
//! one 255-byte instance, see [`MAX_OPTION_LEN`]).
//!
//! Behaviour follows BusyBox 1.37 (`networking/udhcp/common.c`,
//! `dhcpc.c`, `domain_codec.c`), written anew; the deliberate differences
//! are listed in docs/differences.md and marked where they happen. Pure
//! code: no I/O, no name resolution, no panics on any input.

use core::fmt;

pub(crate) mod dns;
mod format;
mod table;
mod text;

pub use format::{format_hex, format_option, good_hostname, mask_prefix_len};
pub use table::{
    by_code, by_name, default_request_list, env_name, known_names, Kind, OptSpec, OPTIONS,
};
pub use text::{parse_code, parse_ipv4_aton, OptionSet, MAX_LONG_OPTION_LEN, MAX_OPTION_LEN};

/// Why option text (config line, `-x`, `-O`) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptError {
    /// Neither a table name nor a code below 255.
    UnknownOption(String),
    /// A raw value that is not hex bytes.
    MalformedHex(String),
    /// Not an IPv4 address in `inet_aton` form (names are not resolved).
    BadAddress(String),
    /// A value the option's kind cannot hold (out of range, bad name,
    /// missing second half of a pair, …).
    BadValue {
        /// The option name as written.
        name: String,
        /// The offending value.
        value: String,
    },
    /// Something deliberately not supported, with the reason.
    Unsupported(&'static str),
    /// More than 255 bytes of value (254 for text).
    TooLong,
    /// No value after the option name (or an empty line: empty name).
    MissingValue(String),
}

impl fmt::Display for OptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptError::UnknownOption(name) => {
                // BusyBox wording, names in table order.
                write!(f, "unknown option '{name}', known options:")?;
                for n in known_names() {
                    write!(f, " {n}")?;
                }
                Ok(())
            }
            OptError::MalformedHex(v) => write!(f, "malformed hex string '{v}'"),
            OptError::BadAddress(v) => write!(f, "bad address '{v}'"),
            OptError::BadValue { name, value } => {
                write!(f, "bad value '{value}' for option {name}")
            }
            OptError::Unsupported(why) => f.write_str(why),
            OptError::TooLong => {
                f.write_str("option value too long (at most 255 bytes, 254 for text)")
            }
            OptError::MissingValue(name) if name.is_empty() => f.write_str("empty option"),
            OptError::MissingValue(name) => write!(f, "option {name}: missing value"),
        }
    }
}

impl std::error::Error for OptError {}

#[cfg(test)]
mod tests;
