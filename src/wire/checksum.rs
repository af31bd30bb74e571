//! The Internet checksum (RFC 1071), used by the IPv4 header (RFC 791 §3.1)
//! and by UDP over its pseudo-header (RFC 768).
//!
//! The checksum is the one's complement of the one's complement sum of the
//! data taken as 16-bit big-endian words. [`sum`] accumulates (it can be
//! chained across pieces), [`fold`] adds the end-around carries and
//! complements. A receiver verifies by summing the data *including* the
//! transmitted checksum: the folded result is then 0 (RFC 1071 §1 (4)).
//!
//! This file also holds the small total big-endian readers the views use,
//! so that no accessor can index out of bounds.

use std::net::Ipv4Addr;

/// Adds `data`, as big-endian 16-bit words, to the running sum `initial`
/// (RFC 1071 §4.1). An odd trailing byte is padded on the right with zero.
///
/// The result is not folded; pass it to [`fold`] or back in as `initial`.
/// When chaining, every piece except the last must have even length, or the
/// following bytes end up in the wrong half of their words.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    // Accumulate in 64 bits so no input length can overflow, then fold the
    // upper half back in: 2^32 ≡ 1 (mod 2^16 − 1), so the one's complement
    // sum is unchanged.
    let mut acc = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        if let &[hi, lo] = w {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let &[last] = words.remainder() {
        acc += u64::from(u16::from_be_bytes([last, 0]));
    }
    while acc > u64::from(u32::MAX) {
        acc = (acc & u64::from(u32::MAX)) + (acc >> 32);
    }
    // The loop above leaves acc ≤ u32::MAX, so the conversion cannot fail.
    u32::try_from(acc).unwrap_or(u32::MAX)
}

/// Folds the carries of a running [`sum`] back into 16 bits (end-around
/// carry) and returns its one's complement: the value to transmit, or 0
/// when verifying data that already includes a correct checksum.
pub fn fold(sum: u32) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    // s ≤ 0xffff here.
    !(s as u16)
}

/// The running sum of the UDP/TCP pseudo-header (RFC 768): source address,
/// destination address, zero, protocol, and the upper-layer length.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    let mut acc = sum(&s, 0);
    acc = sum(&d, acc);
    acc + u32::from(protocol) + u32::from(length)
}

/// The big-endian u16 at `at`, or 0 if the slice is too short.
///
/// Views only call this on offsets `new_checked` has validated; the fallback
/// exists so that no accessor can panic even if that invariant were broken.
pub(crate) fn be16(data: &[u8], at: usize) -> u16 {
    match data.get(at..at.saturating_add(2)) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// The byte at `at`, or 0 if the slice is too short (see [`be16`]).
pub(crate) fn byte(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

/// The IPv4 address at `at..at + 4`, or 0.0.0.0 if the slice is too short
/// (see [`be16`]).
pub(crate) fn ipv4_at(data: &[u8], at: usize) -> Ipv4Addr {
    match data.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_section3_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7; the folded sum is
        // ddf2, so the checksum is its complement 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let s = sum(&data, 0);
        assert_eq!(s, 0x2_ddf0);
        assert_eq!(fold(s), !0xddf2);
        assert_eq!(fold(s), 0x220d);
        // Appending the checksum makes the data verify to 0.
        let mut with = data.to_vec();
        with.extend_from_slice(&0x220d_u16.to_be_bytes());
        assert_eq!(fold(sum(&with, 0)), 0);
    }

    #[test]
    fn chaining_on_even_boundaries_equals_one_pass() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let (a, b) = data.split_at(4);
        assert_eq!(fold(sum(b, sum(a, 0))), fold(sum(&data, 0)));
    }

    #[test]
    fn odd_length_pads_on_the_right() {
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(sum(&[0x01, 0x02, 0x03], 0), 0x0102 + 0x0300);
        assert_eq!(fold(sum(&[0x01, 0x02, 0x03], 0)), !(0x0402_u16));
    }

    #[test]
    fn all_zero_and_all_ones() {
        assert_eq!(sum(&[], 0), 0);
        assert_eq!(fold(0), 0xffff);
        assert_eq!(fold(sum(&[0u8; 64], 0)), 0xffff);
        // 0xffff is one's complement "negative zero": any number of them
        // folds back to 0xffff, whose complement is 0.
        assert_eq!(fold(sum(&[0xffu8; 64], 0)), 0);
        assert_eq!(fold(sum(&[0xffu8; 2], 0)), 0);
    }

    #[test]
    fn large_input_does_not_overflow() {
        let big = vec![0xffu8; 1 << 20];
        assert_eq!(fold(sum(&big, u32::MAX)), 0);
        assert_eq!(fold(u32::MAX), 0);
    }

    #[test]
    fn dhcp_discover_ip_header() {
        // IPv4 header of a broadcast DHCP DISCOVER (0.0.0.0 → 255.255.255.255,
        // TOS 0x10, total length 328, TTL 128, UDP). Worked by hand:
        // 4510 + 0148 + 8011 + ffff + ffff = 2c667 → c667 + 2 = c669,
        // complement 3996.
        let mut hdr = [
            0x45, 0x10, 0x01, 0x48, 0x00, 0x00, 0x00, 0x00, 0x80, 0x11, 0x39, 0x96, 0x00, 0x00,
            0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(fold(sum(&hdr, 0)), 0, "transmitted header verifies");
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(fold(sum(&hdr, 0)), 0x3996);
    }

    #[test]
    fn textbook_ip_header() {
        // The widely used example header 192.168.0.1 → 192.168.0.199,
        // checksum b861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum(&hdr, 0)), 0xb861);
    }

    #[test]
    fn pseudo_header_sum() {
        let s = pseudo_header(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 2),
            17,
            10,
        );
        assert_eq!(s, 0xc0a8 + 0x0001 + 0xc0a8 + 0x0002 + 17 + 10);
        assert_eq!(
            pseudo_header(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 17, 308),
            0xffff + 0xffff + 17 + 308
        );
    }

    #[test]
    fn readers_are_total() {
        let d = [1, 2, 3];
        assert_eq!(be16(&d, 0), 0x0102);
        assert_eq!(be16(&d, 2), 0);
        assert_eq!(be16(&d, usize::MAX), 0);
        assert_eq!(byte(&d, 3), 0);
        assert_eq!(ipv4_at(&d, 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(ipv4_at(&[10, 0, 0, 1], 0), Ipv4Addr::new(10, 0, 0, 1));
    }
}
