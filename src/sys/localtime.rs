//! Local calendar time for dumpleases `-a` (`localtime_r(3)`, which honours
//! `TZ` and /etc/localtime like BusyBox's `ctime(3)`).

use crate::lease::file::CivilTime;
use crate::time::UnixTime;

/// `t` broken down in the local time zone, or `None` if the C library
/// cannot represent it (a year beyond `int`).
pub fn local(t: UnixTime) -> Option<CivilTime> {
    // time_t is 32 bits on some 32-bit targets: out of range → None. Its
    // type is inferred from localtime_r's signature rather than named: the
    // libc crate deprecates the `time_t` alias on musl (it will become
    // 64-bit there), and inference follows whatever it is.
    #[allow(clippy::useless_conversion)]
    let secs = t.as_secs().try_into().ok()?;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct
    // (its `tm_zone` pointer is only read after localtime_r sets it).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live, properly aligned locals for the
    // duration of the call; localtime_r is the thread-safe variant.
    let res = unsafe { libc::localtime_r(&secs, &mut tm) };
    if res.is_null() {
        return None;
    }
    let small = |v: libc::c_int| u8::try_from(v).ok();
    Some(CivilTime {
        year: i64::from(tm.tm_year) + 1900,
        month: small(tm.tm_mon)?,
        mday: small(tm.tm_mday)?,
        hour: small(tm.tm_hour)?,
        min: small(tm.tm_min)?,
        sec: small(tm.tm_sec)?,
        wday: small(tm.tm_wday)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_utc_when_tz_is_utc() {
        // Only meaningful when the test runs with TZ=UTC (as CI does); in
        // other zones check that the fields are in range.
        let t = UnixTime::from_secs(1_795_270_714);
        let tm = local(t).expect("localtime_r");
        if std::env::var("TZ").is_ok_and(|tz| tz == "UTC" || tz == "UTC0") {
            assert_eq!(tm, CivilTime::from_utc(t.as_secs()));
        }
        assert!(tm.month < 12 && (1..=31).contains(&tm.mday) && tm.wday < 7);
    }
}
