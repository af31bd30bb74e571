//! A pidfile that is correct under races, `kill -9` and `fork` (after Open
//! vSwitch's `lib/daemon-unix.c`; our own code).
//!
//! **What "held" means.** The pidfile's inode is write-locked for the whole
//! life of the daemon. A lock dies with its holder, so "locked" means "a
//! live instance owns this file" and "unlocked" means "stale, take it over"
//! (after `kill -9` or a power cut). Nobody has to guess from the pid inside
//! whether the owner is still alive, and pid reuse cannot fool us.
//!
//! **Lock type.** Linux open-file-description locks (`F_OFD_SETLK`, 3.15+).
//! They belong to the open file description, so they survive `fork` into a
//! daemon child that inherits the fd (classic `F_SETLK` locks are per process
//! and would be lost), and closing some *other* fd to the same file does not
//! drop them. On an older kernel (EINVAL) we use `flock(2)`, which has the
//! same ownership rules. Every fd is `O_CLOEXEC`, so scripts never inherit
//! the lock.
//!
//! **Acquire protocol** (two instances starting at the same moment cannot
//! both win):
//! 1. `open(path, O_RDWR|O_CREAT|O_CLOEXEC)` and try the lock (never
//!    waiting). Busy → another instance holds it: report `already running
//!    as pid N`, N read from the file.
//! 2. Check `fstat(fd)` and `stat(path)` name the same inode. If not, a
//!    racer replaced or removed the file between our open and our lock: we
//!    locked a dead inode, so close and start over.
//! 3. Now we own the inode at `path`, and only the owner of that inode ever
//!    renames or unlinks `path`, so we are alone until step 5. Write
//!    `PID\n` to `path.tmp` (unlinked first, `O_EXCL`), lock it, `fsync`,
//!    `rename(2)` it over `path`. Readers see either the old content or the
//!    complete new one, and the new inode is locked before it is visible.
//!    The temp name is fixed, not unique: only the owner writes it, and a
//!    leftover from a crash is simply replaced next time.
//! 4. Close the fd of the old inode (its lock no longer guards anything).
//!
//! [`Pidfile::rewrite_pid`] repeats step 3 after a `fork`, while the lock is
//! still held, so the file names the daemon rather than its exited parent.
//!
//! **Removal.** [`Pidfile::remove`] (and `Drop`) unlinks `path` only if it
//! still names our locked inode; someone may have deleted it and a new
//! instance may own a new file there by now.
//!
//! **Reporting the owner.** A loser reads the pid from `path`. If that is
//! empty or names a dead process, the owner may be between steps 1 and 3,
//! so the loser re-reads for up to a second before giving up.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::FcntlArg;

/// The error inside the `io::Error` returned when another live instance
/// holds the pidfile. Its `Display` is `already running as pid N`.
///
/// Callers can tell it apart with
/// `err.get_ref().and_then(|e| e.downcast_ref::<AlreadyRunning>())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyRunning {
    /// The pid written by the owner, if it could be read.
    pub pid: Option<i32>,
    /// The pidfile.
    pub path: PathBuf,
}

impl fmt::Display for AlreadyRunning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "already running as pid {pid}"),
            None => write!(f, "already running ('{}' is locked)", self.path.display()),
        }
    }
}

impl std::error::Error for AlreadyRunning {}

/// Parse pidfile content: decimal digits, optional surrounding whitespace
/// (`PID\n`), value in `1..=i32::MAX`. Anything else is `None`.
pub fn parse_pid(bytes: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(bytes).ok()?.trim_ascii();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok().filter(|&p| p > 0)
}

/// A held pidfile. Dropping it removes the file (if still ours).
///
/// `std::process::exit` runs no destructors: call [`Pidfile::remove`]
/// before exiting that way (or return from `main` with the value dropped).
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    file: File,
    removed: bool,
}

/// How often step 2 may find that a racer moved the file before we give up.
const MAX_ATTEMPTS: u32 = 100;

impl Pidfile {
    /// Take `path` for this process and write our pid into it.
    ///
    /// Errors: [`AlreadyRunning`] (kind `AlreadyExists`) if a live instance
    /// holds it; otherwise the `io::Error` of the failing call.
    pub fn create(path: impl Into<PathBuf>) -> io::Result<Pidfile> {
        let path = path.into();
        for _ in 0..MAX_ATTEMPTS {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&path)?;
            if !try_lock(&file)? {
                return Err(already_running(&path));
            }
            if !same_inode(&file, &path)? {
                continue; // a racer renamed over it or removed it: retry
            }
            let mut pidfile = Pidfile {
                path,
                file,
                removed: false,
            };
            pidfile.rewrite_pid()?;
            return Ok(pidfile);
        }
        Err(io::Error::other(format!(
            "'{}' keeps changing under us",
            path.display()
        )))
    }

    /// The pidfile's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replace the content with the current pid (`getpid()`), via a locked
    /// temp file and `rename(2)`, keeping the lock held throughout. Call it
    /// in the daemon child after `fork`.
    pub fn rewrite_pid(&mut self) -> io::Result<()> {
        let tmp = tmp_path(&self.path);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut new = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        let result = (|| {
            if !try_lock(&new)? {
                return Err(io::Error::other("cannot lock a new temp file"));
            }
            new.write_all(format!("{}\n", std::process::id()).as_bytes())?;
            new.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // Closing the old fd drops the lock on the old inode, which is no
        // longer reachable by name.
        self.file = new;
        Ok(())
    }

    /// Unlink the pidfile if `path` still names our inode, then release the
    /// lock. Idempotent; `Drop` calls it too.
    pub fn remove(&mut self) -> io::Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        // Only the lock holder renames or unlinks `path`, and that is us, so
        // nothing can change between this check and the unlink.
        if same_inode(&self.file, &self.path)? {
            fs::remove_file(&self.path)?;
        }
        Ok(())
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Whether `file` is the inode currently at `path` (false if `path` is gone).
fn same_inode(file: &File, path: &Path) -> io::Result<bool> {
    let ours = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(theirs) => Ok(ours.dev() == theirs.dev() && ours.ino() == theirs.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Try to write-lock the whole file without waiting: Ok(false) if another
/// open file description holds a conflicting lock.
fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct
    // (whatever padding fields the target adds); we then set the fields.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // to the end, however long the file grows
    fl.l_pid = 0; // required for OFD locks
    match nix::fcntl::fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        // Kernel before 3.15: flock(2) has the same per-description rules.
        Err(Errno::EINVAL) => {
            // SAFETY: plain syscall on an fd we own for the whole call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            match Errno::result(rc) {
                Ok(_) => Ok(true),
                Err(Errno::EWOULDBLOCK) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Build the `AlreadyRunning` error, reading the owner's pid from `path`.
fn already_running(path: &Path) -> io::Error {
    let read_pid = || -> Option<i32> {
        let mut buf = Vec::with_capacity(16);
        File::open(path).ok()?.take(64).read_to_end(&mut buf).ok()?;
        parse_pid(&buf)
    };
    let mut pid = None;
    // The owner may be between its open and its rename (module doc): the
    // file is then empty or holds a stale pid. Give it up to a second.
    for _ in 0..100 {
        pid = read_pid();
        if pid.is_some_and(is_alive) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        AlreadyRunning {
            pid,
            path: path.to_owned(),
        },
    )
}

/// Whether a process with this pid exists (signal 0 probes without sending).
fn is_alive(pid: i32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_parsing() {
        assert_eq!(parse_pid(b"1234\n"), Some(1234));
        assert_eq!(parse_pid(b"  42  "), Some(42));
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"2147483647\n"), Some(i32::MAX));
        assert_eq!(parse_pid(b"2147483648\n"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"\n"), None);
        assert_eq!(parse_pid(b"0\n"), None);
        assert_eq!(parse_pid(b"-5\n"), None);
        assert_eq!(parse_pid(b"+5\n"), None);
        assert_eq!(parse_pid(b"12 34"), None);
        assert_eq!(parse_pid(b"12a"), None);
        assert_eq!(parse_pid(&[0xff, b'1']), None);
    }

    #[test]
    fn already_running_display() {
        let e = AlreadyRunning {
            pid: Some(77),
            path: "/run/x.pid".into(),
        };
        assert_eq!(e.to_string(), "already running as pid 77");
        let e = AlreadyRunning {
            pid: None,
            path: "/run/x.pid".into(),
        };
        assert_eq!(e.to_string(), "already running ('/run/x.pid' is locked)");
        let io = io::Error::new(io::ErrorKind::AlreadyExists, e.clone());
        assert_eq!(io.to_string(), e.to_string());
        assert_eq!(
            io.get_ref()
                .and_then(|x| x.downcast_ref::<AlreadyRunning>()),
            Some(&e)
        );
    }

    #[test]
    fn tmp_path_is_beside() {
        assert_eq!(
            tmp_path(Path::new("/var/run/udhcpd.pid")),
            Path::new("/var/run/udhcpd.pid.tmp")
        );
    }
}
