//! The few file operations the lease store needs, as a trait, so the store's
//! crash-safety logic (`lease::store`) runs unchanged over real files
//! (`sys::leasestore::FsDisk`) and over an in-memory disk that can fail,
//! tear and lose power on command (`lease::memdisk::MemDisk`).
//!
//! The contract follows POSIX as Linux implements it for a local
//! filesystem:
//! - data written to a file is durable only after [`Disk::sync_data`] /
//!   [`Disk::sync_all`] on it;
//! - a creation, rename or unlink is durable only after
//!   [`Disk::sync_dir`] on the directory holding the name (ext4's
//!   `data=ordered` usually makes it so sooner; the store does not rely on
//!   it);
//! - [`Disk::read`], [`Disk::open_append`] and [`Disk::create_new`] never
//!   follow a symlink at the last path component (`O_NOFOLLOW`): they fail
//!   with `ELOOP` instead, so a lease directory others can write cannot
//!   redirect root's writes to another file. Only [`Disk::read_link`]
//!   looks at a link, and only the lease file path itself is resolved.
//!
//! Errors are `io::Error`s carrying an errno (`raw_os_error()`), so callers
//! and tests can tell `ENOSPC` from `ELOOP` from `ENOENT`.

use std::io;
use std::path::{Path, PathBuf};

/// What is at a path, without following a symlink there (`lstat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file with these permission bits (`st_mode & 0o7777`).
    File {
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink,
    /// A directory.
    Dir,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// Mode of the files the store creates (journal, `.tmp`, `.journal.bad`):
/// owner only. The lease file gets [`LEASE_FILE_MODE`] (or the old lease
/// file's mode) by [`Disk::set_mode`] before its rename.
pub const PRIVATE_MODE: u32 = 0o600;

/// Mode given to a new lease file (BusyBox's tools read it as non-root).
pub const LEASE_FILE_MODE: u32 = 0o644;

/// File operations the lease store uses. All paths are as the store builds
/// them (the resolved lease file path plus a suffix); implementations do
/// not interpret them beyond "parent directory" and "last component".
pub trait Disk {
    /// An open file (a descriptor for [`FsDisk`](crate::sys::leasestore::FsDisk)).
    type File: core::fmt::Debug;

    /// The whole contents of the regular file at `path`. `ENOENT` if there
    /// is nothing, `ELOOP` if it is a symlink (not followed), `EISDIR` for a
    /// directory.
    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>>;

    /// Opens the existing regular file at `path` for appending
    /// (`O_WRONLY | O_APPEND | O_NOFOLLOW`). `ELOOP` for a symlink,
    /// `ENOENT` if absent.
    fn open_append(&mut self, path: &Path) -> io::Result<Self::File>;

    /// Creates a new empty file at `path`, opened for appending, with mode
    /// [`PRIVATE_MODE`] (`O_CREAT | O_EXCL | O_NOFOLLOW`). `EEXIST` if
    /// anything, a symlink included, is already there.
    fn create_new(&mut self, path: &Path) -> io::Result<Self::File>;

    /// Appends all of `bytes` to `file` (one `write`, retried on a short
    /// write). On error some prefix of `bytes` may have been written.
    fn write_all(&mut self, file: &mut Self::File, bytes: &[u8]) -> io::Result<()>;

    /// Cuts `file` to `len` bytes (`ftruncate`).
    fn set_len(&mut self, file: &mut Self::File, len: u64) -> io::Result<()>;

    /// Makes `file`'s data (and its size) durable (`fdatasync`).
    fn sync_data(&mut self, file: &mut Self::File) -> io::Result<()>;

    /// Makes `file`'s data and metadata durable (`fsync`).
    fn sync_all(&mut self, file: &mut Self::File) -> io::Result<()>;

    /// Sets `file`'s permission bits (`fchmod`).
    fn set_mode(&mut self, file: &mut Self::File, mode: u32) -> io::Result<()>;

    /// What is at `path` (`lstat`); `ENOENT` if nothing.
    fn kind(&mut self, path: &Path) -> io::Result<NodeKind>;

    /// The target of the symlink at `path` (`readlink`); `EINVAL` if it is
    /// not a symlink.
    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf>;

    /// Renames `from` to `to`, replacing whatever name `to` was (a symlink
    /// at `to` is replaced, not followed).
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;

    /// Unlinks `path` (a symlink itself, never its target). `EISDIR` for a
    /// directory.
    fn remove(&mut self, path: &Path) -> io::Result<()>;

    /// Makes the names in directory `dir` durable (`fsync` on the
    /// directory): creations, renames and unlinks in it.
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
}

/// `io::Error` for `errno`.
pub fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// True if `err` carries `code`.
pub fn is_errno(err: &io::Error, code: i32) -> bool {
    err.raw_os_error() == Some(code)
}
