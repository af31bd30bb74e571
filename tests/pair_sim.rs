//! Issue 8's proof in memory: the real udhcpd and udhcpc cores, the
//! server's durable store over an in-memory disk, one virtual clock, a
//! lossy link, and a seeded scheduler that interleaves DORA, renew,
//! rebind, release, decline, NAK, SIGHUP, client reboots, `kill -9`, power
//! cuts and a failing disk (see `common/sim.rs`). After every step: no
//! address has two owners, every held lease is durable, and no ACK left
//! before its lease was durable.
//!
//! `UDHCP_SIM_SEEDS` sets how many seeds run (default 2000);
//! `UDHCP_SIM_SEED` runs one seed (to replay a failure: the panic message
//! names the seed and ends with the last events before the violation).

#[path = "common/sim.rs"]
mod sim;
#[path = "common/simdisk.rs"]
mod simdisk;

use sim::{Params, Sim, Stats};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn random_pairs_keep_the_promise() {
    let seeds: Vec<u64> = match env_u64("UDHCP_SIM_SEED") {
        Some(s) => vec![s],
        None => (1..=env_u64("UDHCP_SIM_SEEDS").unwrap_or(2000)).collect(),
    };
    // The seeds are independent: spread them over the CPUs.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<u64> = seeds.iter().copied().skip(w).step_by(workers).collect();
                scope.spawn(move || {
                    let mut total = Stats::default();
                    for seed in mine {
                        total += Sim::new(Params::from_seed(seed)).run();
                    }
                    total
                })
            })
            .collect();
        let mut total = Stats::default();
        for h in handles {
            match h.join() {
                Ok(t) => total += t,
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        total
    });
    println!("pair_sim: {} seeds, {total:?}", seeds.len());
    // The scheduler must actually reach the situations it claims to test.
    assert!(total.acks > 0 && total.binds > 0);
    if seeds.len() >= 100 {
        assert!(total.power_cuts > 0 && total.kills > 0 && total.declines > 0);
        assert!(total.releases > 0 && total.disk_faults > 0 && total.naks > 0);
        assert!(total.init_reboots > 0);
    }
}
