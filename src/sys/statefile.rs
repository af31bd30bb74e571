//! Small state files replaced atomically (udhcpc's lease memory): the text
//! goes to `<path>.tmp`, is `fsync`ed and renamed over `path`, and the
//! directory is `fsync`ed, so a reader (or the next boot after a power
//! cut) sees the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `path` + `.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Replaces `path` with `text` atomically (module docs), creating its
/// directory if needed (mode 0755). Errors name the file.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let named = |what: &str, p: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("can't {what} {}: {e}", p.display()))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| named("create", &dir, e))?;
    let tmp = tmp_path(path);
    let _ = fs::remove_file(&tmp);
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(named("write", &tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(named("rename to", path, e));
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named("sync", &dir, e))
}

/// Reads at most `max` bytes of `path` as text; `Ok(None)` if it does not
/// exist. Longer files and non-UTF-8 are errors.
pub fn read_bounded(path: &Path, max: usize) -> io::Result<Option<String>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    f.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut buf)?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("longer than {max} bytes"),
        ));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

/// Removes `path`; a missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_replace_remove() {
        let dir = std::env::temp_dir().join(format!("udhcp-statefile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub/eth0.lease");
        assert_eq!(read_bounded(&path, 100).unwrap(), None);
        write_atomic(&path, "one\n").unwrap();
        write_atomic(&path, "two\n").unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap().as_deref(), Some("two\n"));
        assert!(!tmp_path(&path).exists());
        assert!(read_bounded(&path, 3).is_err(), "over the bound");
        fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_bounded(&path, 100).is_err(), "not text");
        remove(&path).unwrap();
        remove(&path).unwrap();
        // A directory that cannot be created: an error naming it.
        let e = write_atomic(Path::new("/proc/udhcp-no/x.lease"), "x").unwrap_err();
        assert!(e.to_string().contains("/proc/udhcp-no"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
