//! The clocks and the random source: the only code in the crate that reads
//! either. Everything else takes `now` and random numbers from its caller.
//!
//! **Which monotonic clock.** [`now`] reads `CLOCK_BOOTTIME`, not
//! `CLOCK_MONOTONIC` (which BusyBox uses). Both are immune to `date -s` and
//! NTP steps, but `CLOCK_MONOTONIC` stops while the system is suspended. A
//! lease keeps expiring on the server while a battery-powered box sleeps, so
//! after resume the client must see that the time passed and renew (or
//! rebind) at once, instead of believing its lease is still half fresh.
//! `CLOCK_BOOTTIME` exists since Linux 2.6.39; on an older kernel we fall
//! back to `CLOCK_MONOTONIC`.
//!
//! **Randomness.** [`random_u32`] (transaction ids, backoff jitter) reads
//! `getrandom(2)` without blocking: udhcpc starts from rcS, often before the
//! kernel's entropy pool is initialised, and `getrandom(…, 0)` would then
//! block the boot. It asks for `GRND_INSECURE` (Linux 5.6+), then
//! `GRND_NONBLOCK`; only when both fail (very old kernel, or pool not ready
//! on a pre-5.6 kernel) does it fall back to mixing the clock and pid with
//! splitmix64. DHCP xids need uniqueness, not secrecy, so that is adequate.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::time::{Instant, UnixTime};

/// Whether the fallback has been reported (once per process is enough).
static WARNED: AtomicBool = AtomicBool::new(false);

/// Linux `GRND_INSECURE` (since 5.6): non-blocking, never fails for lack of
/// entropy. Not in every libc crate version, so spelled out here.
const GRND_INSECURE: libc::c_uint = 0x0004;

fn clock_ns(clock: libc::clockid_t) -> Option<u128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u128::try_from(ts.tv_sec).ok()?;
    let nanos = u128::try_from(ts.tv_nsec).ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

/// Now on the monotonic timeline that includes suspend (`CLOCK_BOOTTIME`).
pub fn now() -> Instant {
    let ns = clock_ns(libc::CLOCK_BOOTTIME)
        .or_else(|| clock_ns(libc::CLOCK_MONOTONIC))
        .unwrap_or(0);
    Instant::from_millis(u64::try_from(ns / 1_000_000).unwrap_or(u64::MAX))
}

/// Now on the wall clock, in whole seconds (for lease files).
#[allow(clippy::disallowed_methods)] // this is the one place allowed to read it
pub fn wall_now() -> UnixTime {
    use std::time::{SystemTime, UNIX_EPOCH};
    let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    UnixTime::from_secs(secs)
}

/// getrandom(2) as a raw system call, not through the C library's wrapper:
/// the wrapper is missing from some C libraries (uClibc, older musl and
/// glibc), and in a static musl link the `libc::getrandom` declaration was
/// left as an unresolved weak symbol, so calling it jumped to address 0
/// (udhcpc crashed at its first DISCOVER). The system call exists since
/// Linux 3.17; on an older kernel it fails with ENOSYS and the caller falls
/// back.
fn getrandom(buf: &mut [u8], flags: libc::c_uint) -> bool {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the kernel
    // writes at most that many.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), flags) };
    usize::try_from(n).is_ok_and(|n| n == buf.len())
}

/// 32 random bits from the kernel, without ever blocking (see module doc).
/// The first use of the clock-based fallback is logged as a warning.
pub fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if getrandom(&mut buf, GRND_INSECURE) || getrandom(&mut buf, libc::GRND_NONBLOCK) {
        return u32::from_ne_bytes(buf);
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("getrandom failed, using clock-based transaction ids");
    }
    fallback_random(
        clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0),
        std::process::id(),
    )
}

/// splitmix64 over the clock and the pid: distinct per process and per call
/// (the clock moves), which is all a DHCP xid needs.
fn fallback_random(nanos: u128, pid: u32) -> u32 {
    // Truncation is the point: we mix the low 64 bits of the clock.
    let mut z = (nanos as u64) ^ (u64::from(pid) << 32);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward() {
        let a = now();
        let b = now();
        assert!(b >= a);
        assert!(a.as_millis() > 0);
        // Any date after this code was written.
        assert!(wall_now().as_secs() > 1_700_000_000);
    }

    #[test]
    fn random_differs() {
        let xs: Vec<u32> = (0..8).map(|_| random_u32()).collect();
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
        assert_ne!(fallback_random(1, 2), fallback_random(2, 2));
        assert_ne!(fallback_random(1, 2), fallback_random(1, 3));
    }
}
