//! The user-program tests (`user_sim`) on 4 CPUs of the seeded schedule, where user
//! code is interleaved at its machine calls (system calls, loads and stores).

mod user_sim;

use std::time::Duration;

use arch::sim::{Schedule, SimConfig};

#[test]
fn user_programs_on_4_seeded_cpus() {
    user_sim::boot_and_check(SimConfig {
        schedule: Schedule::Seeded(5),
        virtual_timeout: Some(Duration::from_secs(200)),
        ..SimConfig::new(4)
    });
}
