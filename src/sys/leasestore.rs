//! The lease store over real files: [`FsDisk`] implements
//! `lease::disk::Disk` with the system calls the store's crash-safety
//! argument needs (`lease::store` has the logic and the argument), and
//! [`read_snapshot`] is dumpleases' read-only view.
//!
//! Every file the store opens by name is opened with `O_NOFOLLOW` (a
//! symlink at the journal, `.tmp` or `.journal.bad` path fails with
//! `ELOOP` instead of redirecting root's write), created with `O_EXCL`
//! and mode 0600, and every descriptor is close-on-exec (std's default),
//! so the notify script does not inherit the journal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::lease::disk::{Disk, NodeKind, PRIVATE_MODE};
use crate::lease::store::{self, resolve, strerror, warn_partial, with_suffix};
use crate::lease::{file, journal, LeaseRecord};
use crate::time::UnixTime;

/// The lease store over real files.
pub type LeaseStore = store::LeaseStore<FsDisk>;

/// Opens the store for the lease file `path` (see
/// `lease::store::LeaseStore::open`).
pub fn open(path: &Path, now: UnixTime) -> io::Result<(LeaseStore, Vec<LeaseRecord>, Vec<String>)> {
    store::LeaseStore::open(FsDisk, path, now)
}

/// Real files, through std and `O_NOFOLLOW`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsDisk;

fn nofollow() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    o
}

/// `EISDIR`/`EINVAL` unless `f` is a regular file (a FIFO or device at our
/// path must not be read or written).
fn regular(f: File) -> io::Result<File> {
    let t = f.metadata()?.file_type();
    if t.is_file() {
        Ok(f)
    } else if t.is_dir() {
        Err(io::Error::from_raw_os_error(libc::EISDIR))
    } else {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}

impl Disk for FsDisk {
    type File = File;

    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        let mut f = regular(nofollow().read(true).open(path)?)?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn open_append(&mut self, path: &Path) -> io::Result<File> {
        regular(nofollow().append(true).open(path)?)
    }

    fn create_new(&mut self, path: &Path) -> io::Result<File> {
        nofollow()
            .append(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .open(path)
    }

    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(bytes)
    }

    fn set_len(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }

    fn sync_data(&mut self, file: &mut File) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_all(&mut self, file: &mut File) -> io::Result<()> {
        file.sync_all()
    }

    fn set_mode(&mut self, file: &mut File, mode: u32) -> io::Result<()> {
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
    }

    fn kind(&mut self, path: &Path) -> io::Result<NodeKind> {
        let m = fs::symlink_metadata(path)?;
        let t = m.file_type();
        Ok(if t.is_symlink() {
            NodeKind::Symlink
        } else if t.is_dir() {
            NodeKind::Dir
        } else if t.is_file() {
            NodeKind::File {
                mode: m.permissions().mode() & 0o7777,
            }
        } else {
            NodeKind::Other
        })
    }

    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf> {
        fs::read_link(path)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        File::open(dir).and_then(|d| d.sync_all())
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
    let path = resolve(&mut FsDisk, path);
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
            let decoded = journal::decode(&bytes);
            if let Some(note) = store::damage_note(&journal_path, &decoded) {
                warnings.push(note);
            }
            store::replay(base, decoded.entries, now)
        }
    };
    Ok(Snapshot { records, warnings })
}
