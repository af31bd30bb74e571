//! udhcpd's durable lease store: BusyBox's lease file plus our journal
//! (`lease::file`, `lease::journal` hold the byte formats).
//!
//! **Why.** BusyBox rewrites its lease file in place (`O_TRUNC`, no fsync)
//! after every ACK and discards it on load if its stamp is in the future or
//! more than 12 h old, so a power cut or an RTC-less reboot can lose every
//! lease. Here an ACKed lease survives `kill -9` and power loss:
//!
//! - **Group commit.** The server drains a batch of lease changes and calls
//!   [`LeaseStore::append`]: one `write` of all their journal entries to
//!   `<file>.journal` (`O_APPEND`), then one `fdatasync`; only then are the
//!   ACKs sent. A batch costs one flush however many ACKs it carries (ISC
//!   dhcpd's delayed-ACK, Kea's memfile).
//! - **Compaction.** [`LeaseStore::compact`] writes the whole table in
//!   BusyBox's format to `<file>.tmp`, `fsync`s it, renames it over the
//!   lease file and `fsync`s the directory: readers (BusyBox's dumpleases,
//!   a BusyBox udhcpd after a downgrade) see the old file or the new one,
//!   never a torn one. Only after that is the journal replaced (same
//!   temp + rename dance) by one that holds just the client identifiers,
//!   which the BusyBox format has no room for.
//! - **Recovery.** [`LeaseStore::open`] reads the lease file, ages it by the
//!   clock rule of `lease::file::elapsed` (never discarding it because the
//!   clock moved), replays the journal over it (`lease::file::apply_updates`,
//!   which is idempotent, so a crash between a compaction's two renames is
//!   harmless), and cuts off a torn tail (a power cut mid-append: those
//!   ACKs never left) so new entries land after good ones.
//!
//! Crash windows: every state on disk between two syscalls above decodes to
//! a table that contains every lease whose `append` returned.
//!
//! A lease file that is a symlink is followed (rootfs images often link
//! `/var/lib/misc/udhcpd.leases` into a writable partition): the temp file
//! and the journal live beside the target, and the rename replaces the
//! target, not the link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::lease::{file, journal, LeaseRecord};
use crate::time::UnixTime;

/// How many symlinks [`resolve`] follows before giving up (as ELOOP would).
const MAX_LINKS: usize = 16;

/// The lease file and its journal, with the journal held open for appends.
#[derive(Debug)]
pub struct LeaseStore {
    path: PathBuf,
    journal_path: PathBuf,
    dir: PathBuf,
    journal: File,
    /// Bytes of good entries in the journal.
    len: u64,
    /// Journal length right after the last compaction (or open).
    compacted_len: u64,
    /// A failed append may have left bytes after `len` that could not be
    /// cut off yet; the next append cuts them first.
    tail_dirty: bool,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

/// The bare `strerror` text of `err` (without std's " (os error N)").
fn strerror(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// `io::Error` reading `{what} '{path}': {strerror}`, same kind.
fn ctx(what: &str, path: &Path, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("{what} '{}': {}", path.display(), strerror(&err)),
    )
}

/// The warnings for what a decoded lease file had to skip: a partial last
/// record (a torn write) and damaged records. The valid ones are kept.
fn warn_partial(path: &Path, decoded: &file::Decoded, warnings: &mut Vec<String>) {
    if decoded.trailing_bytes > 0 {
        warnings.push(format!(
            "'{}': ignoring {} bytes of a partial last record",
            path.display(),
            decoded.trailing_bytes
        ));
    }
    if decoded.bad_records > 0 {
        warnings.push(format!(
            "'{}': ignoring {} damaged records",
            path.display(),
            decoded.bad_records
        ));
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Follows symlinks at `path` (relative targets against the link's
/// directory); a dangling link resolves to its target path.
fn resolve(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&p) {
                Ok(target) if target.is_absolute() => p = target,
                Ok(target) => p = p.parent().unwrap_or(Path::new("")).join(target),
                Err(_) => break,
            },
            _ => break,
        }
    }
    p
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `fsync` on a directory, making renames and creations in it durable.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ctx("can't sync", dir, e))
}

/// Writes `bytes` to `<path>.tmp` (permissions copied from `path` if it
/// exists), fsyncs it, renames it over `path` and fsyncs `dir`. Returns
/// the new file, open for appending (used for the journal, so the fd we
/// keep names the inode that is now at `path`).
fn replace_atomically(path: &Path, dir: &Path, bytes: &[u8]) -> io::Result<File> {
    let tmp = with_suffix(path, ".tmp");
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(ctx("can't remove", &tmp, e)),
        _ => {}
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o666)
        .open(&tmp)
        .map_err(|e| ctx("can't open", &tmp, e))?;
    let result = (|| {
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ctx("can't write", &tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(ctx("can't rename to", path, e));
    }
    fsync_dir(dir)?;
    Ok(f)
}

impl LeaseStore {
    /// Opens (creating the journal if needed) the store for the lease file
    /// `path` and recovers the leases, with `remaining` as of `now`.
    ///
    /// Returns the store, the leases (lease file, then journal replayed over
    /// it; each IP once) and warnings for the log: a partial last record,
    /// a lease file that is not one (renamed to `<file>.bad`, start empty),
    /// a damaged journal tail (cut off; a tail that is not simply torn is
    /// first saved to `<file>.journal.bad`).
    ///
    /// Errors name the path, BusyBox-style: `can't open '/x/udhcpd.leases':
    /// No such file or directory` for a missing directory.
    pub fn open(
        path: &Path,
        now: UnixTime,
    ) -> io::Result<(LeaseStore, Vec<LeaseRecord>, Vec<String>)> {
        let path = resolve(path);
        let dir = parent_dir(&path);
        let journal_path = with_suffix(&path, ".journal");
        let mut warnings = Vec::new();

        if let Err(e) = fs::metadata(&dir) {
            return Err(ctx("can't open", &path, e));
        }

        let base = match fs::read(&path) {
            Ok(bytes) => match file::decode(&bytes) {
                Ok(decoded) => {
                    warn_partial(&path, &decoded, &mut warnings);
                    file::age_records(decoded, now)
                }
                Err(err) => {
                    let bad = with_suffix(&path, ".bad");
                    fs::rename(&path, &bad).map_err(|e| ctx("can't rename", &path, e))?;
                    warnings.push(format!(
                        "'{}': {err}; starting without its leases, kept as '{}'",
                        path.display(),
                        bad.display()
                    ));
                    Vec::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ctx("can't open", &path, e)),
        };

        let mut journal = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o666)
            .open(&journal_path)
            .map_err(|e| ctx("can't open", &journal_path, e))?;
        let mut bytes = Vec::new();
        journal
            .read_to_end(&mut bytes)
            .map_err(|e| ctx("can't read", &journal_path, e))?;
        let (entries, damage) = journal::decode_all(&bytes);
        let mut len = bytes.len() as u64;
        if let Some(damage) = damage {
            let tail = bytes.get(damage.offset..).unwrap_or(&[]);
            let mut note = String::new();
            if damage.reason != journal::DamageReason::Torn {
                // Not a plain cut: maybe bit rot, maybe a newer version's
                // entries. Keep the bytes for whoever wants to look.
                let bad = with_suffix(&journal_path, ".bad");
                match fs::write(&bad, tail) {
                    Ok(()) => note = format!(", saved to '{}'", bad.display()),
                    Err(e) => {
                        note = format!(", can't save to '{}': {}", bad.display(), strerror(&e))
                    }
                }
            }
            warnings.push(format!(
                "'{}': {damage}: discarding the last {} bytes (a write cut short; \
                 those leases were never acknowledged){note}",
                journal_path.display(),
                tail.len()
            ));
            len = damage.offset as u64;
            journal
                .set_len(len)
                .and_then(|()| journal.sync_all())
                .map_err(|e| ctx("can't truncate", &journal_path, e))?;
        }
        // The journal's directory entry must be durable before the first
        // ACK relies on it (fdatasync covers the file, not its name).
        fsync_dir(&dir)?;

        let records =
            file::apply_updates(base, entries.into_iter().map(|(t, r)| file::age(r, t, now)));
        let store = LeaseStore {
            path,
            journal_path,
            dir,
            journal,
            len,
            compacted_len: len,
            tail_dirty: false,
            buf: Vec::new(),
        };
        Ok((store, records, warnings))
    }

    /// Makes `records` durable: one `write` of their journal entries
    /// (stamped `now`) and one `fdatasync`. Send the ACKs only after this
    /// returns `Ok`. On error nothing of the batch counts (the journal is
    /// cut back to its previous length) and no ACK may be sent.
    pub fn append(&mut self, now: UnixTime, records: &[LeaseRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        if self.tail_dirty {
            self.journal
                .set_len(self.len)
                .map_err(|e| ctx("can't truncate", &self.journal_path, e))?;
            self.tail_dirty = false;
        }
        self.buf.clear();
        for r in records {
            journal::encode_entry(now, r, &mut self.buf);
        }
        let written = self
            .journal
            .write_all(&self.buf)
            .and_then(|()| self.journal.sync_data());
        match written {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A partial entry left behind would hide every later one
                // from recovery: cut it off now, or before the next append.
                if self.journal.set_len(self.len).is_err() {
                    self.tail_dirty = true;
                }
                Err(ctx("can't write", &self.journal_path, e))
            }
        }
    }

    /// Rewrites the lease file atomically in BusyBox's format from the
    /// whole table `records` (`remaining` as of `now`, written in the given
    /// order), then replaces the journal by one holding only the records
    /// that have a client identifier.
    ///
    /// Until this returns, the old journal stays in place; replaying it over
    /// the new file (after a crash between the two steps) gives the same
    /// table.
    pub fn compact(
        &mut self,
        now: UnixTime,
        records: impl Iterator<Item = LeaseRecord>,
    ) -> io::Result<()> {
        let records: Vec<LeaseRecord> = records.collect();
        let main = file::encode(now, &records);
        drop(replace_atomically(&self.path, &self.dir, &main)?);

        self.buf.clear();
        for r in records
            .iter()
            .filter(|r| !r.client_id.is_empty() && !r.ip.is_unspecified())
        {
            journal::encode_entry(now, r, &mut self.buf);
        }
        self.journal = replace_atomically(&self.journal_path, &self.dir, &self.buf)?;
        self.len = self.buf.len() as u64;
        self.compacted_len = self.len;
        self.tail_dirty = false;
        Ok(())
    }

    /// Bytes of good entries in the journal now.
    pub fn journal_len(&self) -> u64 {
        self.len
    }

    /// Journal length right after the last compaction or open: the driver
    /// compacts when `journal_len() - compacted_len()` grows past its
    /// budget (each ACK adds 51 bytes plus the client-id length).
    pub fn compacted_len(&self) -> u64 {
        self.compacted_len
    }

    /// The lease file (symlinks resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal beside it.
    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }
}

/// What dumpleases shows: the lease file, with the journal replayed over
/// it when one exists, aged to `now`. Read-only: nothing is renamed or
/// truncated (the server may be running).
#[derive(Debug)]
pub struct Snapshot {
    /// Leases, `remaining` as of `now`.
    pub records: Vec<LeaseRecord>,
    /// Problems worth a line on stderr (damaged journal tail, unreadable
    /// journal, partial last record).
    pub warnings: Vec<String>,
}

/// Why [`read_snapshot`] found nothing to show.
#[derive(Debug)]
pub enum SnapshotError {
    /// Neither the lease file nor its journal could be opened.
    Open(io::Error),
    /// The lease file is not one (short, or garbage).
    Format(file::FileError),
}

/// Reads the lease file `path` and its journal for dumpleases.
///
/// A missing lease file is an error only if there is no journal either
/// (before the first compaction the journal alone holds the leases).
pub fn read_snapshot(path: &Path, now: UnixTime) -> Result<Snapshot, SnapshotError> {
    let path = resolve(path);
    let journal_path = with_suffix(&path, ".journal");
    let mut warnings = Vec::new();
    let journal_bytes = match fs::read(&journal_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(format!(
                "can't open '{}': {}",
                journal_path.display(),
                strerror(&e)
            ));
            None
        }
    };
    let base = match fs::read(&path) {
        Ok(bytes) => {
            let decoded = file::decode(&bytes).map_err(SnapshotError::Format)?;
            warn_partial(&path, &decoded, &mut warnings);
            file::age_records(decoded, now)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && journal_bytes.is_some() => Vec::new(),
        Err(e) => {
            return Err(SnapshotError::Open(io::Error::new(
                e.kind(),
                format!("can't open '{}': {}", path.display(), strerror(&e)),
            )))
        }
    };
    let records = match journal_bytes {
        None => base,
        Some(bytes) => {
            let (entries, damage) = journal::decode_all(&bytes);
            if let Some(d) = damage {
                warnings.push(format!(
                    "'{}': {d}: ignoring the rest",
                    journal_path.display()
                ));
            }
            file::apply_updates(base, entries.into_iter().map(|(t, r)| file::age(r, t, now)))
        }
    };
    Ok(Snapshot { records, warnings })
}
