//! The client–server simulation of tests/pair_sim.rs (issue 8) under
//! libFuzzer: the input picks the seed and the shape of the network, so a
//! fuzzing run explores far more schedules than the test suite's 2000
//! seeds. A violated promise panics with the seed and the last events.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/sim.rs"]
#[allow(dead_code)]
mod sim;
#[path = "../../tests/common/simdisk.rs"]
#[allow(dead_code)]
mod simdisk;

fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    for (d, s) in seed.iter_mut().zip(data) {
        *d = *s;
    }
    let mut p = sim::Params::from_seed(u64::from_le_bytes(seed));
    // Later bytes, if any, override the shape the seed chose.
    let rest = data.get(8..).unwrap_or(&[]);
    if let Some(&b) = rest.first() {
        p.clients = 1 + usize::from(b % 10);
    }
    if let Some(&b) = rest.get(1) {
        p.pool = 2 + b % 14;
        p.max_leases = p.max_leases.clamp(1, u32::from(p.pool));
    }
    if let Some(&b) = rest.get(2) {
        p.drop = u64::from(b) * 2; // up to 51 %
    }
    p.steps = 200;
    sim::Sim::new(p).run();
});
