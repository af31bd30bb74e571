//! The server's durable store for the simulation in `sim.rs`: the
//! library's [`LeaseStore`] over its in-memory [`MemDisk`], driven by the
//! library's [`Persister`] exactly as applets/udhcpd.rs drives them.

use std::cell::RefCell;
use std::fmt::Display;
use std::path::Path;

use udhcp::conf::ServerConfig;
use udhcp::lease::memdisk::{MemDisk, Op};
use udhcp::lease::persist::{Action, PersistConfig, Persister, Sizes};
use udhcp::lease::store::LeaseStore;
use udhcp::lease::LeaseRecord;
use udhcp::server::Server;
use udhcp::time::{Instant, UnixTime};

/// The lease file's path on the simulated disk.
pub const LEASE_FILE: &str = "/sim/udhcpd.leases";

/// The disk and, while the server runs, its store and persister.
#[derive(Debug)]
pub struct Store {
    disk: MemDisk,
    running: Option<(LeaseStore<MemDisk>, Persister)>,
    failing: bool,
    /// Bumped whenever the disk may have changed.
    version: u64,
    /// The durable state recovered at some wall time, for `version`.
    durable: RefCell<Option<(u64, UnixTime, Vec<LeaseRecord>)>>,
}

impl Store {
    pub fn new() -> Store {
        let disk = MemDisk::new();
        disk.mkdir_all(Path::new("/sim"));
        Store {
            disk,
            running: None,
            failing: false,
            version: 0,
            durable: RefCell::new(None),
        }
    }

    /// udhcpd's startup: open the store (recovery), start the persister.
    /// `None` if the store cannot be opened (the disk fails): udhcpd exits
    /// 1 then, and the simulation starts it again once the disk is healthy.
    pub fn open(
        &mut self,
        wall: UnixTime,
        now: Instant,
        config: &ServerConfig,
    ) -> Option<Vec<LeaseRecord>> {
        self.version += 1;
        let (store, records, _warnings) =
            LeaseStore::open(self.disk.clone(), Path::new(LEASE_FILE), wall).ok()?;
        let persister = Persister::new(PersistConfig::from_server(config), now);
        self.running = Some((store, persister));
        Some(records)
    }

    /// What a power cut now would leave, recovered as udhcpd would.
    ///
    /// Recovery runs once per change of the disk; between changes the
    /// records are aged by the wall time passed, which is what recovering
    /// again would do (remaining time counts down linearly).
    pub fn durable_records(&self, wall: UnixTime) -> Vec<LeaseRecord> {
        let mut cache = self.durable.borrow_mut();
        if cache
            .as_ref()
            .map_or(true, |c| c.0 != self.version || c.1 > wall)
        {
            let records =
                match LeaseStore::open(self.disk.durable_copy(), Path::new(LEASE_FILE), wall) {
                    Ok((_, records, _)) => records,
                    Err(e) => panic!("the durable copy of the disk cannot be opened: {e}"),
                };
            *cache = Some((self.version, wall, records));
        }
        let Some((_, at, records)) = cache.as_ref() else {
            unreachable!()
        };
        let passed = u32::try_from(wall.0 - at.0).unwrap_or(u32::MAX);
        records
            .iter()
            .map(|r| LeaseRecord {
                remaining: r.remaining.saturating_sub(passed),
                ..r.clone()
            })
            .collect()
    }

    /// `kill -9`: the process's memory is gone, the page cache is not.
    pub fn crash(&mut self) {
        self.running = None;
    }

    /// Power cut: unsynced writes and directory changes are gone too.
    pub fn power_cut(&mut self) {
        self.crash();
        self.version += 1;
        self.disk.power_cut();
    }

    pub fn failing(&self) -> bool {
        self.failing
    }

    /// A full disk: every write and data sync fails with ENOSPC.
    pub fn set_failing(&mut self, on: bool) {
        self.failing = on;
        if on {
            for op in [Op::Write, Op::SyncData, Op::CreateNew] {
                self.disk.fail(op, None, libc::ENOSPC, u32::MAX);
            }
        } else {
            self.disk.clear_faults();
        }
    }

    /// The persister's next deadline (a retry, auto_time).
    pub fn retry_at(&self) -> Option<Instant> {
        self.running.as_ref().and_then(|(_, p)| p.poll_timeout())
    }

    /// SIGUSR1 / auto_time / SIGHUP: a lease-file rewrite is due.
    pub fn request_compaction(&mut self, now: Instant) {
        if let Some((_, p)) = self.running.as_mut() {
            p.request_compaction(now);
        }
    }

    /// udhcpd's persistence step after a batch (applets/udhcpd.rs):
    /// execute the persister's actions until it is idle.
    pub fn persist(&mut self, wall: UnixTime, now: Instant, server: &mut Server) {
        let Some((store, persister)) = self.running.as_mut() else {
            return;
        };
        for _ in 0..64 {
            let sizes = Sizes {
                unsynced: server.unsynced_len(),
                journal_len: store.journal_len(),
                compacted_len: store.compacted_len(),
                table_len: server.table().len(),
            };
            let action = persister.poll_action(now, &sizes);
            if action != Action::Idle {
                self.version += 1;
            }
            match action {
                Action::Append => {
                    let through = server.persist_seq();
                    let r = store.append(wall, server.unsynced());
                    if r.is_ok() {
                        server.handle_persisted(now, through);
                    }
                    persister
                        .handle_append(now, r.as_ref().map(|_| ()).map_err(|e| e as &dyn Display));
                }
                Action::Compact => {
                    let through = server.persist_seq();
                    let r = store.compact(wall, || server.leases(now));
                    if r.is_ok() {
                        server.handle_persisted(now, through);
                    }
                    persister
                        .handle_compact(now, r.as_ref().map(|_| ()).map_err(|e| e as &dyn Display));
                }
                // No notify_file in the simulation's config.
                Action::Notify => persister.handle_notify_started(now, false),
                Action::KillNotify => persister.handle_notify_exited(now),
                Action::Idle => return,
            }
        }
        panic!("the persister asked for more than 64 actions at one instant: a spin");
    }
}
