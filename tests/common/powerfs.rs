//! A power-cut rig: a small FUSE filesystem that keeps everything in
//! memory and knows, for every byte and every name, whether it is durable.
//!
//! **The durability model** is what POSIX promises and what ext4 gives
//! without its `auto_da_alloc` heuristics:
//!
//! - file data (and size and mode) become durable at `fsync`/`fdatasync`
//!   of that file, and only then;
//! - names (create, unlink, rename, mkdir, rmdir) are namespace operations
//!   queued in order; an `fsync` of a directory makes every queued one
//!   durable (a journaling file system commits its metadata journal as a
//!   whole, in order). Nothing else makes them durable.
//!
//! **A power cut** ([`PowerFs::power_cut`]) unmounts (so the kernel's page,
//! dentry and attribute caches go too), throws away what is not durable and
//! mounts the survivor again. What survives of the not-yet-durable part is
//! chosen by the [`Cut`]: nothing (the strict model), everything (the
//! metadata journal happened to commit just before), or a seeded random
//! in-order prefix of the queued namespace operations plus a random part of
//! each file's unsynced appended tail (what a real disk may have written
//! back on its own: a torn last write). Every such outcome is a state a
//! real file system can be found in after power loss. An inode no durable
//! name reaches is gone (an unlinked file that was still open, say).
//!
//! Files are opened with `FOPEN_DIRECT_IO` and entries and attributes have
//! a zero TTL, so every read, write and lookup reaches this code.
//!
//! **Fault knobs** ([`PowerFs::fail`]): make the next `write`, `fsync`,
//! `fsyncdir` or `rename` (after skipping some, optionally only once a
//! rename onto a given name happened) fail with an errno such as `ENOSPC`
//! or `EIO`. A failed `fsync`/`fsyncdir` can be told to have committed
//! anyway ([`Fault::committed`]): after `EIO` the state on disk is
//! unknown, and a program must be right in both cases.
//!
//! Root only (mount(2) of a FUSE file system); uses `fuser` in its pure
//! Rust mode (no libfuse), with `fusermount3` as its fallback.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BackgroundSession, BsdFileFlags, Config, Errno, FileAttr, FileHandle, FileType,
    Filesystem, FopenFlags, Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// The root directory's inode.
const ROOT: u64 = 1;
/// Zero TTL: the kernel asks again every time (no stale cache after a cut).
const TTL: Duration = Duration::ZERO;
/// Namespace operations and log lines kept for diagnostics.
const LOG_MAX: usize = 512;

/// An operation a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `write(2)` to a file.
    Write,
    /// `fsync`/`fdatasync` of a file.
    Fsync,
    /// `fsync` of a directory.
    FsyncDir,
    /// `rename(2)`.
    Rename,
}

/// One armed fault: the `skip`+1-th matching operation and the `count`-1
/// after it fail with `errno`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Which operation.
    pub op: Op,
    /// The error returned (`libc::ENOSPC`, `libc::EIO`, ...).
    pub errno: i32,
    /// Matching operations let through first.
    pub skip: u32,
    /// How many fail (`u32::MAX`: until [`PowerFs::clear_faults`]).
    pub count: u32,
    /// Only once a rename onto a name ending in this happened (after the
    /// fault was armed).
    pub after_rename_to: Option<String>,
    /// For `Fsync`/`FsyncDir`: the data or names became durable although
    /// the error is returned.
    pub committed: bool,
}

impl Fault {
    /// The next `op` fails once with `errno`.
    pub fn once(op: Op, errno: i32) -> Fault {
        Fault {
            op,
            errno,
            skip: 0,
            count: 1,
            after_rename_to: None,
            committed: false,
        }
    }
}

/// What survives of the not-yet-durable state at a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Nothing: only what was fsynced.
    Strict,
    /// Every queued namespace operation reached the disk (the metadata
    /// journal committed just before the cut); file data as in `Strict`.
    AllMetadata,
    /// A random in-order prefix of the queued namespace operations and a
    /// random part of each file's unsynced appended tail, from this seed.
    Random(u64),
}

/// What a power cut threw away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Namespace operations that were queued.
    pub pending_ops: usize,
    /// How many of them survived.
    pub kept_ops: usize,
    /// Unsynced file bytes that were lost.
    pub bytes_lost: u64,
    /// Unsynced file bytes that survived (torn tails).
    pub bytes_kept: u64,
    /// Inodes no durable name reached any more.
    pub inodes_dropped: usize,
}

/// Counters since mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub fsyncs: u64,
    pub fsyncdirs: u64,
    pub renames: u64,
    pub creates: u64,
    pub unlinks: u64,
    /// Faults that fired.
    pub faults_hit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

#[derive(Debug, Clone)]
struct Inode {
    kind: Kind,
    data: Vec<u8>,
    perm: u16,
    /// What a power cut leaves of `data` and `perm` (strictly).
    durable: Vec<u8>,
    durable_perm: u16,
}

impl Inode {
    fn new(kind: Kind, perm: u16) -> Inode {
        Inode {
            kind,
            data: Vec::new(),
            perm,
            durable: Vec::new(),
            durable_perm: perm,
        }
    }
}

/// A namespace operation waiting for a directory fsync.
#[derive(Debug, Clone)]
enum NsOp {
    Link(u64, OsString, u64),
    Unlink(u64, OsString),
    Rename(u64, OsString, u64, OsString),
}

type Names = BTreeMap<(u64, OsString), u64>;

fn apply(names: &mut Names, op: &NsOp) {
    match op {
        NsOp::Link(p, n, ino) => {
            names.insert((*p, n.clone()), *ino);
        }
        NsOp::Unlink(p, n) => {
            names.remove(&(*p, n.clone()));
        }
        NsOp::Rename(p, n, np, nn) => {
            if let Some(ino) = names.remove(&(*p, n.clone())) {
                names.insert((*np, nn.clone()), ino);
            }
        }
    }
}

#[derive(Debug)]
struct State {
    inodes: HashMap<u64, Inode>,
    /// The namespace as programs see it.
    live: Names,
    /// The namespace on "disk".
    durable: Names,
    pending: Vec<NsOp>,
    next_ino: u64,
    faults: Vec<(Fault, bool)>,
    stats: Stats,
    log: Vec<String>,
}

impl State {
    fn new() -> State {
        let mut inodes = HashMap::new();
        inodes.insert(ROOT, Inode::new(Kind::Dir, 0o755));
        State {
            inodes,
            live: Names::new(),
            durable: Names::new(),
            pending: Vec::new(),
            next_ino: ROOT + 1,
            faults: Vec::new(),
            stats: Stats::default(),
            log: Vec::new(),
        }
    }

    fn note(&mut self, line: String) {
        if self.log.len() >= LOG_MAX {
            self.log.remove(0);
        }
        self.log.push(line);
    }

    fn ns(&mut self, op: NsOp) {
        apply(&mut self.live, &op);
        self.pending.push(op);
    }

    /// A fault for `op` if one fires now (`Some((errno, committed))`).
    fn fault(&mut self, op: Op) -> Option<(i32, bool)> {
        for (f, armed) in &mut self.faults {
            if f.op != op || !*armed || f.count == 0 {
                continue;
            }
            if f.skip > 0 {
                f.skip -= 1;
                continue;
            }
            if f.count != u32::MAX {
                f.count -= 1;
            }
            self.stats.faults_hit += 1;
            return Some((f.errno, f.committed));
        }
        None
    }

    fn renamed_to(&mut self, name: &OsStr) {
        let name = name.to_string_lossy();
        for (f, armed) in &mut self.faults {
            if let Some(suffix) = &f.after_rename_to {
                if name.ends_with(suffix.as_str()) {
                    *armed = true;
                }
            }
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let i = self.inodes.get(&ino)?;
        let nlink = match i.kind {
            Kind::Dir => 2,
            Kind::File => self.live.values().filter(|&&v| v == ino).count() as u32,
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size: i.data.len() as u64,
            blocks: (i.data.len() as u64).div_ceil(512),
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind: match i.kind {
                Kind::Dir => FileType::Directory,
                Kind::File => FileType::RegularFile,
            },
            perm: i.perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn child(&self, parent: u64, name: &OsStr) -> Option<u64> {
        self.live.get(&(parent, name.to_os_string())).copied()
    }

    fn new_inode(&mut self, kind: Kind, perm: u16) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, Inode::new(kind, perm));
        ino
    }

    /// The power cut itself (the file system is unmounted meanwhile).
    fn cut(&mut self, how: Cut) -> CutReport {
        let mut rng = match how {
            Cut::Random(seed) => Some(Rng::new(seed)),
            _ => None,
        };
        let mut report = CutReport {
            pending_ops: self.pending.len(),
            ..CutReport::default()
        };
        let keep_ops = match (how, rng.as_mut()) {
            (Cut::Strict, _) => 0,
            (Cut::AllMetadata, _) => self.pending.len(),
            (_, Some(r)) => r.below(self.pending.len() as u64 + 1) as usize,
            (Cut::Random(_), None) => 0,
        };
        for op in self.pending.drain(..keep_ops) {
            apply(&mut self.durable, &op);
        }
        report.kept_ops = keep_ops;
        self.pending.clear();
        for i in self.inodes.values_mut() {
            let synced = i.durable.len() as u64;
            let written = i.data.len() as u64;
            let appended = i.data.starts_with(&i.durable) && written > synced;
            let keep = match rng.as_mut() {
                Some(r) if appended => r.below(written - synced + 1),
                _ => 0,
            };
            if appended {
                i.durable
                    .extend_from_slice(&i.data[synced as usize..(synced + keep) as usize]);
                report.bytes_kept += keep;
                report.bytes_lost += written - synced - keep;
            } else if i.data != i.durable {
                report.bytes_lost += written.abs_diff(synced).max(1);
            }
            i.data = i.durable.clone();
            i.perm = i.durable_perm;
        }
        self.live = self.durable.clone();
        // Inodes no durable name reaches are gone.
        let mut reachable: Vec<u64> = vec![ROOT];
        reachable.extend(self.durable.values().copied());
        let before = self.inodes.len();
        self.inodes.retain(|ino, _| reachable.contains(ino));
        report.inodes_dropped = before - self.inodes.len();
        self.note(format!("power cut {how:?}: {report:?}"));
        report
    }
}

/// xorshift64*: small, seeded, good enough to pick cut points.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The FUSE side: every request locks the shared state.
#[derive(Debug)]
struct Fs(Arc<Mutex<State>>);

impl Fs {
    fn st(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let st = self.st();
        match st.child(parent.0, name).and_then(|ino| st.attr(ino)) {
            Some(a) => reply.entry(&TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.st().attr(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.st();
        let Some(i) = st.inodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Some(m) = mode {
            i.perm = (m & 0o7777) as u16;
        }
        if let Some(n) = size {
            if i.kind == Kind::Dir {
                return reply.error(Errno::EISDIR);
            }
            i.data.resize(n as usize, 0);
        }
        match st.attr(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.st();
        if st.child(parent.0, name).is_some() {
            return reply.error(Errno::EEXIST);
        }
        let ino = st.new_inode(Kind::Dir, (mode & !umask & 0o7777) as u16);
        st.ns(NsOp::Link(parent.0, name.to_os_string(), ino));
        st.note(format!("mkdir {name:?}"));
        match st.attr(ino) {
            Some(a) => reply.entry(&TTL, &a, Generation(0)),
            None => reply.error(Errno::EIO),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let Some(ino) = st.child(parent.0, name) else {
            return reply.error(Errno::ENOENT);
        };
        if st.inodes.get(&ino).is_some_and(|i| i.kind == Kind::Dir) {
            return reply.error(Errno::EISDIR);
        }
        st.stats.unlinks += 1;
        st.ns(NsOp::Unlink(parent.0, name.to_os_string()));
        st.note(format!("unlink {name:?}"));
        reply.ok();
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let Some(ino) = st.child(parent.0, name) else {
            return reply.error(Errno::ENOENT);
        };
        if st.inodes.get(&ino).is_some_and(|i| i.kind != Kind::Dir) {
            return reply.error(Errno::ENOTDIR);
        }
        if st.live.keys().any(|(p, _)| *p == ino) {
            return reply.error(Errno::ENOTEMPTY);
        }
        st.ns(NsOp::Unlink(parent.0, name.to_os_string()));
        st.note(format!("rmdir {name:?}"));
        reply.ok();
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let Some(ino) = st.child(parent.0, name) else {
            return reply.error(Errno::ENOENT);
        };
        if flags.bits() & libc::RENAME_EXCHANGE != 0 {
            return reply.error(Errno::EINVAL);
        }
        let target = st.child(newparent.0, newname);
        if flags.bits() & libc::RENAME_NOREPLACE != 0 && target.is_some() {
            return reply.error(Errno::EEXIST);
        }
        if let Some(t) = target {
            let (a, b) = (
                st.inodes.get(&ino).map(|i| i.kind),
                st.inodes.get(&t).map(|i| i.kind),
            );
            if a != b {
                return reply.error(if b == Some(Kind::Dir) {
                    Errno::EISDIR
                } else {
                    Errno::ENOTDIR
                });
            }
            if b == Some(Kind::Dir) && st.live.keys().any(|(p, _)| *p == t) {
                return reply.error(Errno::ENOTEMPTY);
            }
        }
        if let Some((e, _)) = st.fault(Op::Rename) {
            st.note(format!("rename {name:?} -> {newname:?}: fault {e}"));
            return reply.error(errno(e));
        }
        st.stats.renames += 1;
        st.ns(NsOp::Rename(
            parent.0,
            name.to_os_string(),
            newparent.0,
            newname.to_os_string(),
        ));
        st.renamed_to(newname);
        st.note(format!("rename {name:?} -> {newname:?}"));
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.st().inodes.contains_key(&ino.0) {
            reply.opened(FileHandle(ino.0), FopenFlags::FOPEN_DIRECT_IO);
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.st();
        let Some(i) = st.inodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let start = (offset as usize).min(i.data.len());
        let end = start.saturating_add(size as usize).min(i.data.len());
        reply.data(&i.data[start..end]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.st();
        if let Some((e, _)) = st.fault(Op::Write) {
            st.note(format!("write ino {} +{}: fault {e}", ino.0, data.len()));
            return reply.error(errno(e));
        }
        st.stats.writes += 1;
        let Some(i) = st.inodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let at = offset as usize;
        if i.data.len() < at + data.len() {
            i.data.resize(at + data.len(), 0);
        }
        i.data[at..at + data.len()].copy_from_slice(data);
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let fault = st.fault(Op::Fsync);
        st.stats.fsyncs += 1;
        if !matches!(fault, Some((_, false))) {
            if let Some(i) = st.inodes.get_mut(&ino.0) {
                i.durable = i.data.clone();
                i.durable_perm = i.perm;
            }
        }
        match fault {
            Some((e, c)) => {
                st.note(format!("fsync ino {}: fault {e} (committed: {c})", ino.0));
                reply.error(errno(e))
            }
            None => reply.ok(),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.st().inodes.get(&ino.0).map(|i| i.kind) {
            Some(Kind::Dir) => reply.opened(FileHandle(ino.0), FopenFlags::empty()),
            Some(Kind::File) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.st();
        let mut entries: Vec<(u64, FileType, OsString)> = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ROOT, FileType::Directory, "..".into()),
        ];
        for ((p, name), child) in &st.live {
            if *p == ino.0 {
                let kind = match st.inodes.get(child).map(|i| i.kind) {
                    Some(Kind::Dir) => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                entries.push((*child, kind, name.clone()));
            }
        }
        for (k, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), k as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let fault = st.fault(Op::FsyncDir);
        st.stats.fsyncdirs += 1;
        if !matches!(fault, Some((_, false))) {
            let ops: Vec<NsOp> = st.pending.drain(..).collect();
            for op in &ops {
                apply(&mut st.durable, op);
            }
        }
        match fault {
            Some((e, c)) => {
                st.note(format!(
                    "fsyncdir ino {}: fault {e} (committed: {c})",
                    ino.0
                ));
                reply.error(errno(e))
            }
            None => reply.ok(),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 20, 1 << 19, 1 << 19, 1 << 16, 1 << 15, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        if self.st().inodes.contains_key(&ino.0) {
            reply.ok();
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.st();
        let ino = match st.child(parent.0, name) {
            Some(_) if flags & libc::O_EXCL != 0 => return reply.error(Errno::EEXIST),
            Some(ino) => {
                if flags & libc::O_TRUNC != 0 {
                    if let Some(i) = st.inodes.get_mut(&ino) {
                        i.data.clear();
                    }
                }
                ino
            }
            None => {
                let ino = st.new_inode(Kind::File, (mode & !umask & 0o7777) as u16);
                st.stats.creates += 1;
                st.ns(NsOp::Link(parent.0, name.to_os_string(), ino));
                st.note(format!("create {name:?}"));
                ino
            }
        };
        match st.attr(ino) {
            Some(a) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(ino),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            None => reply.error(Errno::EIO),
        }
    }
}

/// A mounted rig. Unmounted on drop.
#[derive(Debug)]
pub struct PowerFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

fn config() -> Config {
    let mut c = Config::default();
    c.mount_options = vec![
        MountOption::FSName("udhcp-powerfs".to_owned()),
        MountOption::Subtype("powerfs".to_owned()),
    ];
    c
}

impl PowerFs {
    /// Mounts an empty rig on `mountpoint` (an existing empty directory).
    pub fn mount(mountpoint: &Path) -> io::Result<PowerFs> {
        let state = Arc::new(Mutex::new(State::new()));
        let session = fuser::spawn_mount(Fs(state.clone()), mountpoint, &config())?;
        Ok(PowerFs {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cuts the power: unmounts, keeps only what [`Cut`] says survives,
    /// mounts again. Every process using the rig must be dead (killed and
    /// reaped) first, as it would be after a real power loss.
    pub fn power_cut(&mut self, how: Cut) -> io::Result<CutReport> {
        if let Some(session) = self.session.take() {
            // The session thread ends when the kernel drops the connection,
            // which a copy of the mount in another mount namespace (anyone's
            // `ip netns exec` while the rig is mounted) delays until that
            // namespace dies: seen as 2-27 s stalls with other namespace
            // tests running on the machine. Unmounting is what matters;
            // the thread may finish later on its own.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(session.umount_and_join());
            });
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(r) => r?,
                Err(_) => {
                    let mut waited = 0;
                    while self.mounted() {
                        if waited > 2000 {
                            return Err(io::Error::other("the rig did not unmount in 10 s"));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                        waited += 1;
                    }
                }
            }
        }
        let report = self.st().cut(how);
        self.session = Some(fuser::spawn_mount(
            Fs(self.state.clone()),
            &self.mountpoint,
            &config(),
        )?);
        Ok(report)
    }

    /// True while the rig is mounted at its mount point in this mount
    /// namespace.
    fn mounted(&self) -> bool {
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let Ok(me) = self.mountpoint.canonicalize() else {
            return false;
        };
        // Field 5 is the mount point (octal escapes for blanks; a temp dir
        // path has none).
        info.lines()
            .any(|l| l.split(' ').nth(4).is_some_and(|m| Path::new(m) == me))
    }

    /// Arms a fault.
    pub fn fail(&self, fault: Fault) {
        let armed = fault.after_rename_to.is_none();
        self.st().faults.push((fault, armed));
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.st().faults.clear();
    }

    /// Counters since the first mount.
    pub fn stats(&self) -> Stats {
        self.st().stats.clone()
    }

    /// The last operations (creates, unlinks, renames, faults, cuts).
    pub fn log(&self) -> Vec<String> {
        self.st().log.clone()
    }

    /// Names queued but not yet durable.
    pub fn pending_ops(&self) -> usize {
        self.st().pending.len()
    }

    /// The durable content of the file `name` in the root directory, as a
    /// strict power cut would leave it (`None`: the name is not durable).
    pub fn durable_file(&self, name: &str) -> Option<Vec<u8>> {
        let st = self.st();
        let ino = st.durable.get(&(ROOT, OsString::from(name)))?;
        st.inodes.get(ino).map(|i| i.durable.clone())
    }
}

impl Drop for PowerFs {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}
