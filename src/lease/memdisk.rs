//! An in-memory [`Disk`] with fault injection, for unit tests, the
//! client–server simulation and fuzz targets: the lease store's crash
//! safety is tested here on every failure the real disk can produce, in
//! microseconds and deterministically.
//!
//! Model (what a journaling filesystem guarantees, no more):
//! - every file has its *current* contents (what `read` returns) and its
//!   *durable* contents (what survives a power cut), copied over by
//!   [`Disk::sync_data`] / [`Disk::sync_all`];
//! - the namespace (names → files, symlinks, directories) likewise has a
//!   current and a durable view; [`Disk::sync_dir`] makes the current names
//!   in that directory durable (creations, renames, unlinks alike);
//! - [`MemDisk::power_cut`] replaces the current state by the durable one
//!   and invalidates every open handle (`EBADF`: the process is gone);
//!   [`MemDisk::power_cut_torn`] also keeps a chosen prefix of each file's
//!   unsynced appended bytes, as a disk that wrote some sectors would.
//!
//! Faults: [`MemDisk::fail`] makes an operation fail with an errno, on
//! every path or on paths ending with a suffix, a number of times;
//! [`MemDisk::tear_next_write`] makes the next write store only a prefix and
//! fail. [`MemDisk::count`] tells how often an operation ran (to prove a
//! retry loop does not spin).
//!
//! `MemDisk` is a cheap handle (`Rc`): clone it, give one clone to the
//! store, keep one to inject faults, cut power and inspect files.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::disk::{errno, Disk, NodeKind, PRIVATE_MODE};

/// The operations of [`Disk`], for fault injection and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`Disk::read`]
    Read,
    /// [`Disk::open_append`]
    OpenAppend,
    /// [`Disk::create_new`]
    CreateNew,
    /// [`Disk::write_all`]
    Write,
    /// [`Disk::set_len`]
    SetLen,
    /// [`Disk::sync_data`]
    SyncData,
    /// [`Disk::sync_all`]
    SyncAll,
    /// [`Disk::set_mode`]
    SetMode,
    /// [`Disk::kind`]
    Kind,
    /// [`Disk::read_link`]
    ReadLink,
    /// [`Disk::rename`] (matched on the source path)
    Rename,
    /// [`Disk::remove`]
    Remove,
    /// [`Disk::sync_dir`] (matched on the directory path)
    SyncDir,
}

/// An open file of a [`MemDisk`].
#[derive(Debug)]
pub struct MemFile {
    ino: u64,
    /// Power-cut generation the handle was opened in.
    epoch: u64,
    /// The name it was opened by (for path-matched faults).
    path: PathBuf,
}

#[derive(Debug, Clone)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(u64),
    Symlink(PathBuf),
    Dir,
}

#[derive(Debug, Clone)]
struct Fault {
    op: Op,
    suffix: Option<String>,
    errno: i32,
    /// Matching calls to let through before failing.
    skip: u32,
    times: u32,
}

#[derive(Debug, Default, Clone)]
struct State {
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, Node>,
    durable_names: BTreeMap<PathBuf, Node>,
    next_ino: u64,
    epoch: u64,
    faults: Vec<Fault>,
    tear: Option<(usize, i32)>,
    counts: HashMap<Op, u64>,
    /// Operations left before the "crash": then every one fails.
    crash_in: Option<u64>,
    /// The most bytes one `write_all` was given.
    largest_write: usize,
}

/// The in-memory disk. See the module documentation.
#[derive(Debug, Clone)]
pub struct MemDisk(Rc<RefCell<State>>);

impl Default for MemDisk {
    fn default() -> Self {
        MemDisk::new()
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("/"),
    }
}

impl State {
    /// Counts `op` and applies an injected fault for it, if one matches.
    fn check(&mut self, op: Op, path: &Path) -> io::Result<()> {
        *self.counts.entry(op).or_insert(0) += 1;
        if let Some(left) = self.crash_in.as_mut() {
            if *left == 0 {
                return Err(errno(libc::EIO));
            }
            *left -= 1;
        }
        let name = path.as_os_str().to_string_lossy();
        let mut hit = None;
        for f in self.faults.iter_mut() {
            let matches = f.op == op
                && f.times > 0
                && f.suffix.as_deref().map_or(true, |s| name.ends_with(s));
            if !matches {
                continue;
            }
            if f.skip > 0 {
                f.skip -= 1;
                continue;
            }
            f.times = f.times.saturating_sub(1);
            hit = Some(f.errno);
            break;
        }
        if let Some(e) = hit {
            self.faults.retain(|f| f.times > 0);
            return Err(errno(e));
        }
        Ok(())
    }

    fn dir_exists(&self, dir: &Path) -> bool {
        dir == Path::new("/") || self.names.get(dir) == Some(&Node::Dir)
    }

    fn inode_of(&mut self, f: &MemFile) -> io::Result<&mut Inode> {
        if f.epoch != self.epoch {
            return Err(errno(libc::EBADF));
        }
        self.inodes
            .get_mut(&f.ino)
            .ok_or_else(|| errno(libc::EBADF))
    }

    fn new_inode(&mut self, data: Vec<u8>, durable: Vec<u8>, mode: u32) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(
            self.next_ino,
            Inode {
                data,
                durable,
                mode,
            },
        );
        self.next_ino
    }
}

impl MemDisk {
    /// An empty disk with only the root directory `/`.
    pub fn new() -> MemDisk {
        MemDisk(Rc::new(RefCell::new(State::default())))
    }

    /// Creates directory `path` and its parents (durable at once: test
    /// setup, not something the store does).
    pub fn mkdir_all(&self, path: &Path) {
        let mut s = self.0.borrow_mut();
        for a in path.ancestors() {
            if a.as_os_str().is_empty() || a == Path::new("/") {
                continue;
            }
            s.names.insert(a.to_path_buf(), Node::Dir);
            s.durable_names.insert(a.to_path_buf(), Node::Dir);
        }
    }

    /// Puts a regular file with `bytes` and `mode` at `path`, durable
    /// (name and data), replacing whatever was there. The parent
    /// directories are created.
    pub fn put_file(&self, path: &Path, bytes: &[u8], mode: u32) {
        self.mkdir_all(&parent(path));
        let mut s = self.0.borrow_mut();
        let ino = s.new_inode(bytes.to_vec(), bytes.to_vec(), mode);
        s.names.insert(path.to_path_buf(), Node::File(ino));
        s.durable_names.insert(path.to_path_buf(), Node::File(ino));
    }

    /// Puts a symlink at `path` pointing to `target`, durable.
    pub fn put_symlink(&self, path: &Path, target: &Path) {
        self.mkdir_all(&parent(path));
        let mut s = self.0.borrow_mut();
        let node = Node::Symlink(target.to_path_buf());
        s.names.insert(path.to_path_buf(), node.clone());
        s.durable_names.insert(path.to_path_buf(), node);
    }

    /// The current contents of the regular file at `path` (no symlink
    /// followed), if there is one.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.0.borrow();
        match s.names.get(path)? {
            Node::File(ino) => s.inodes.get(ino).map(|i| i.data.clone()),
            _ => None,
        }
    }

    /// The permission bits of the regular file at `path`.
    pub fn mode(&self, path: &Path) -> Option<u32> {
        let s = self.0.borrow();
        match s.names.get(path)? {
            Node::File(ino) => s.inodes.get(ino).map(|i| i.mode),
            _ => None,
        }
    }

    /// Every current name (files, links, directories), sorted.
    pub fn names(&self) -> Vec<PathBuf> {
        self.0.borrow().names.keys().cloned().collect()
    }

    /// From now on, `op` fails with `errno` the next `times` times
    /// (`u32::MAX`: until [`clear_faults`](Self::clear_faults)), on every
    /// path if `suffix` is `None`, else on paths ending with it (the
    /// source of a rename, the directory of a `sync_dir`, the name a file
    /// was opened by for writes and syncs).
    pub fn fail(&self, op: Op, suffix: Option<&str>, errno: i32, times: u32) {
        self.0.borrow_mut().faults.push(Fault {
            op,
            suffix: suffix.map(str::to_string),
            errno,
            skip: 0,
            times,
        });
    }

    /// Like [`fail`](Self::fail) once, but only the `n`-th matching call
    /// from now on fails (1 = the next one): e.g. the second `sync_dir` of
    /// a compaction, after its lease-file rename succeeded.
    pub fn fail_nth(&self, op: Op, suffix: Option<&str>, errno: i32, n: u32) {
        self.0.borrow_mut().faults.push(Fault {
            op,
            suffix: suffix.map(str::to_string),
            errno,
            skip: n.saturating_sub(1),
            times: 1,
        });
    }

    /// Removes every injected fault and a pending torn write.
    pub fn clear_faults(&self) {
        let mut s = self.0.borrow_mut();
        s.faults.clear();
        s.tear = None;
        s.crash_in = None;
    }

    /// The next [`Disk::write_all`] stores only its first `keep` bytes and
    /// fails with `errno` (a disk filling up mid-write).
    pub fn tear_next_write(&self, keep: usize, errno: i32) {
        self.0.borrow_mut().tear = Some((keep, errno));
    }

    /// The machine "dies" after `n` more operations of any kind: from the
    /// `n+1`-th on, every operation fails with `EIO` (nothing it would do
    /// happens), until [`power_cut`](Self::power_cut) or
    /// [`clear_faults`](Self::clear_faults). With a power cut right after,
    /// this puts a crash between any two disk operations.
    pub fn crash_after(&self, n: u64) {
        self.0.borrow_mut().crash_in = Some(n);
    }

    /// How many times `op` was called (faulted calls included).
    pub fn count(&self, op: Op) -> u64 {
        self.0.borrow().counts.get(&op).copied().unwrap_or(0)
    }

    /// The most bytes one [`Disk::write_all`] was given so far: how much
    /// a writer held in memory at once.
    pub fn largest_write(&self) -> usize {
        self.0.borrow().largest_write
    }

    /// An independent disk holding what this one would after a
    /// [`power_cut`](Self::power_cut), without cutting this one's power:
    /// the durable state, to open a second store on as an oracle. No
    /// faults are copied.
    pub fn durable_copy(&self) -> MemDisk {
        let mut st = self.0.borrow().clone();
        st.faults.clear();
        st.counts.clear();
        let copy = MemDisk(Rc::new(RefCell::new(st)));
        copy.power_cut();
        copy
    }

    /// The power goes: every file's contents and every directory's names
    /// go back to what was last made durable; open handles die (`EBADF`).
    /// Injected faults stay.
    pub fn power_cut(&self) {
        self.power_cut_torn(|_, _| 0);
    }

    /// Like [`power_cut`](Self::power_cut), but of each file whose
    /// unsynced contents extend its durable contents (an append not yet
    /// synced), the first `keep(path, unsynced_len)` unsynced bytes
    /// survive too (clamped): a torn tail.
    pub fn power_cut_torn(&self, mut keep: impl FnMut(&Path, usize) -> usize) {
        let mut s = self.0.borrow_mut();
        s.names = s.durable_names.clone();
        let files: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter_map(|(p, n)| match n {
                Node::File(ino) => Some((p.clone(), *ino)),
                _ => None,
            })
            .collect();
        let mut done = Vec::new();
        for (path, ino) in files {
            if done.contains(&ino) {
                continue;
            }
            done.push(ino);
            if let Some(i) = s.inodes.get_mut(&ino) {
                let extra = if i.data.starts_with(&i.durable) {
                    let unsynced = i.data.len() - i.durable.len();
                    keep(&path, unsynced).min(unsynced)
                } else {
                    0
                };
                let end = i.durable.len() + extra;
                let mut data = i.data.get(..end).unwrap_or(&i.durable).to_vec();
                if extra == 0 {
                    data.clone_from(&i.durable);
                }
                i.durable.clone_from(&data);
                i.data = data;
            }
        }
        let live: Vec<u64> = s
            .names
            .values()
            .filter_map(|n| match n {
                Node::File(ino) => Some(*ino),
                _ => None,
            })
            .collect();
        s.inodes.retain(|ino, _| live.contains(ino));
        s.epoch += 1;
        s.tear = None;
        s.crash_in = None;
    }
}

impl Disk for MemDisk {
    type File = MemFile;

    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        let mut s = self.0.borrow_mut();
        s.check(Op::Read, path)?;
        match s.names.get(path) {
            None => Err(errno(libc::ENOENT)),
            Some(Node::Symlink(_)) => Err(errno(libc::ELOOP)),
            Some(Node::Dir) => Err(errno(libc::EISDIR)),
            Some(Node::File(ino)) => Ok(s
                .inodes
                .get(ino)
                .map(|i| i.data.clone())
                .unwrap_or_default()),
        }
    }

    fn open_append(&mut self, path: &Path) -> io::Result<MemFile> {
        let mut s = self.0.borrow_mut();
        s.check(Op::OpenAppend, path)?;
        match s.names.get(path) {
            None => Err(errno(libc::ENOENT)),
            Some(Node::Symlink(_)) => Err(errno(libc::ELOOP)),
            Some(Node::Dir) => Err(errno(libc::EISDIR)),
            Some(Node::File(ino)) => Ok(MemFile {
                ino: *ino,
                epoch: s.epoch,
                path: path.to_path_buf(),
            }),
        }
    }

    fn create_new(&mut self, path: &Path) -> io::Result<MemFile> {
        let mut s = self.0.borrow_mut();
        s.check(Op::CreateNew, path)?;
        if !s.dir_exists(&parent(path)) {
            return Err(errno(libc::ENOENT));
        }
        if s.names.contains_key(path) {
            return Err(errno(libc::EEXIST));
        }
        let ino = s.new_inode(Vec::new(), Vec::new(), PRIVATE_MODE);
        s.names.insert(path.to_path_buf(), Node::File(ino));
        Ok(MemFile {
            ino,
            epoch: s.epoch,
            path: path.to_path_buf(),
        })
    }

    fn write_all(&mut self, file: &mut MemFile, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::Write, &file.path)?;
        s.largest_write = s.largest_write.max(bytes.len());
        let tear = s.tear.take();
        let inode = s.inode_of(file)?;
        match tear {
            Some((keep, e)) => {
                inode
                    .data
                    .extend_from_slice(bytes.get(..keep.min(bytes.len())).unwrap_or(&[]));
                Err(errno(e))
            }
            None => {
                inode.data.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn set_len(&mut self, file: &mut MemFile, len: u64) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::SetLen, &file.path)?;
        let inode = s.inode_of(file)?;
        inode
            .data
            .resize(usize::try_from(len).unwrap_or(usize::MAX), 0);
        Ok(())
    }

    fn sync_data(&mut self, file: &mut MemFile) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::SyncData, &file.path)?;
        let inode = s.inode_of(file)?;
        inode.durable.clone_from(&inode.data);
        Ok(())
    }

    fn sync_all(&mut self, file: &mut MemFile) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::SyncAll, &file.path)?;
        let inode = s.inode_of(file)?;
        inode.durable.clone_from(&inode.data);
        Ok(())
    }

    fn set_mode(&mut self, file: &mut MemFile, mode: u32) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::SetMode, &file.path)?;
        s.inode_of(file)?.mode = mode & 0o7777;
        Ok(())
    }

    fn kind(&mut self, path: &Path) -> io::Result<NodeKind> {
        let mut s = self.0.borrow_mut();
        s.check(Op::Kind, path)?;
        if path == Path::new("/") {
            return Ok(NodeKind::Dir);
        }
        match s.names.get(path) {
            None => Err(errno(libc::ENOENT)),
            Some(Node::Dir) => Ok(NodeKind::Dir),
            Some(Node::Symlink(_)) => Ok(NodeKind::Symlink),
            Some(Node::File(ino)) => Ok(NodeKind::File {
                mode: s.inodes.get(ino).map_or(0, |i| i.mode),
            }),
        }
    }

    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf> {
        let mut s = self.0.borrow_mut();
        s.check(Op::ReadLink, path)?;
        match s.names.get(path) {
            None => Err(errno(libc::ENOENT)),
            Some(Node::Symlink(t)) => Ok(t.clone()),
            Some(_) => Err(errno(libc::EINVAL)),
        }
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::Rename, from)?;
        if !s.dir_exists(&parent(to)) {
            return Err(errno(libc::ENOENT));
        }
        let node = s
            .names
            .get(from)
            .cloned()
            .ok_or_else(|| errno(libc::ENOENT))?;
        match (s.names.get(to), &node) {
            (Some(Node::Dir), Node::Dir) => return Err(errno(libc::ENOTEMPTY)),
            (Some(Node::Dir), _) => return Err(errno(libc::EISDIR)),
            (Some(_), Node::Dir) => return Err(errno(libc::ENOTDIR)),
            _ => {}
        }
        s.names.remove(from);
        s.names.insert(to.to_path_buf(), node);
        Ok(())
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::Remove, path)?;
        match s.names.get(path) {
            None => Err(errno(libc::ENOENT)),
            Some(Node::Dir) => Err(errno(libc::EISDIR)),
            Some(_) => {
                s.names.remove(path);
                Ok(())
            }
        }
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.check(Op::SyncDir, dir)?;
        if !s.dir_exists(dir) {
            return Err(errno(libc::ENOENT));
        }
        let in_dir = |p: &Path| parent(p) == dir;
        let current: Vec<(PathBuf, Node)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect();
        s.durable_names.retain(|p, _| !in_dir(p));
        s.durable_names.extend(current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn unsynced_data_and_names_are_lost_at_power_cut() {
        let mut d = MemDisk::new();
        d.mkdir_all(&p("/var"));
        let mut f = d.create_new(&p("/var/a")).unwrap();
        d.write_all(&mut f, b"one").unwrap();
        d.sync_data(&mut f).unwrap();
        // Data synced, name not: the file vanishes.
        let probe = d.clone();
        probe.power_cut();
        assert_eq!(probe.file(&p("/var/a")), None);
        assert_eq!(
            d.write_all(&mut f, b"x").unwrap_err().raw_os_error(),
            Some(libc::EBADF),
            "handles die with the power"
        );

        let mut f = d.create_new(&p("/var/a")).unwrap();
        d.write_all(&mut f, b"one").unwrap();
        d.sync_data(&mut f).unwrap();
        d.sync_dir(&p("/var")).unwrap();
        d.write_all(&mut f, b"two").unwrap();
        assert_eq!(d.file(&p("/var/a")).unwrap(), b"onetwo");
        let copy = d.durable_copy();
        assert_eq!(copy.file(&p("/var/a")).unwrap(), b"one");
        assert_eq!(
            d.file(&p("/var/a")).unwrap(),
            b"onetwo",
            "original untouched"
        );
        d.power_cut();
        assert_eq!(d.file(&p("/var/a")).unwrap(), b"one");
    }

    #[test]
    fn rename_is_durable_only_after_the_directory_sync() {
        let mut d = MemDisk::new();
        d.put_file(&p("/d/f"), b"old", 0o644);
        let mut t = d.create_new(&p("/d/f.tmp")).unwrap();
        d.write_all(&mut t, b"new").unwrap();
        d.sync_all(&mut t).unwrap();
        d.rename(&p("/d/f.tmp"), &p("/d/f")).unwrap();
        assert_eq!(d.file(&p("/d/f")).unwrap(), b"new");
        let before = d.clone();
        before.power_cut();
        assert_eq!(d.file(&p("/d/f")).unwrap(), b"old");
        assert_eq!(d.file(&p("/d/f.tmp")), None, "never durably created");

        let mut t = d.create_new(&p("/d/f.tmp")).unwrap();
        d.write_all(&mut t, b"new").unwrap();
        d.sync_all(&mut t).unwrap();
        d.rename(&p("/d/f.tmp"), &p("/d/f")).unwrap();
        d.sync_dir(&p("/d")).unwrap();
        d.power_cut();
        assert_eq!(d.file(&p("/d/f")).unwrap(), b"new");
        assert_eq!(d.names(), vec![p("/d"), p("/d/f")]);
    }

    #[test]
    fn faults_torn_writes_and_torn_power_cuts() {
        let mut d = MemDisk::new();
        d.put_file(&p("/j"), b"", 0o600);
        let mut f = d.open_append(&p("/j")).unwrap();
        d.fail(Op::Write, Some(".tmp"), libc::ENOSPC, u32::MAX);
        d.write_all(&mut f, b"ok").unwrap();
        d.fail(Op::SyncData, None, libc::EIO, 1);
        assert_eq!(
            d.sync_data(&mut f).unwrap_err().raw_os_error(),
            Some(libc::EIO)
        );
        d.sync_data(&mut f).unwrap();
        assert_eq!(d.count(Op::SyncData), 2);
        d.tear_next_write(3, libc::ENOSPC);
        assert!(d.write_all(&mut f, b"abcdef").is_err());
        assert_eq!(d.file(&p("/j")).unwrap(), b"okabc");
        d.power_cut_torn(|_, n| n - 1);
        assert_eq!(d.file(&p("/j")).unwrap(), b"okab");
        let mut t = d.create_new(&p("/x.tmp")).unwrap();
        assert_eq!(
            d.write_all(&mut t, b"z").unwrap_err().raw_os_error(),
            Some(libc::ENOSPC)
        );
        d.clear_faults();
        d.write_all(&mut t, b"z").unwrap();
    }

    fn e<T>(r: io::Result<T>) -> Option<i32> {
        r.map(|_| ()).unwrap_err().raw_os_error()
    }

    #[test]
    fn links_are_never_followed_and_dirs_not_unlinked() {
        let mut d = MemDisk::new();
        d.put_file(&p("/etc/shadow"), b"secret", 0o600);
        d.put_symlink(&p("/l/j"), &p("/etc/shadow"));
        assert_eq!(e(d.read(&p("/l/j"))), Some(libc::ELOOP));
        assert_eq!(e(d.open_append(&p("/l/j"))), Some(libc::ELOOP));
        assert_eq!(e(d.create_new(&p("/l/j"))), Some(libc::EEXIST));
        assert_eq!(d.kind(&p("/l/j")).unwrap(), NodeKind::Symlink);
        assert_eq!(d.read_link(&p("/l/j")).unwrap(), p("/etc/shadow"));
        d.remove(&p("/l/j")).unwrap();
        assert_eq!(d.file(&p("/etc/shadow")).unwrap(), b"secret");
        d.mkdir_all(&p("/l/t.tmp"));
        assert_eq!(e(d.remove(&p("/l/t.tmp"))), Some(libc::EISDIR));
        assert_eq!(e(d.create_new(&p("/nodir/x"))), Some(libc::ENOENT));
    }
}
