//! The library's randomness (retry jitter, delivery attempt ids): one generator per thread,
//! seeded from the operating system, which a simulation reseeds to replay a run exactly.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static GENERATOR: RefCell<StdRng> = RefCell::new(StdRng::from_os_rng());
}

/// Makes this thread's draws repeat for the same seed (the fault simulation runs on one thread).
pub fn reseed_this_thread(seed: u64) {
    GENERATOR.with_borrow_mut(|generator| *generator = StdRng::seed_from_u64(seed));
}

pub fn next_u64() -> u64 {
    GENERATOR.with_borrow_mut(|generator| generator.random())
}

/// A value in `0..=max`.
pub fn up_to(max: u64) -> u64 {
    GENERATOR.with_borrow_mut(|generator| generator.random_range(0..=max))
}
