//! The user-program tests (`user_sim`) on 4 simulated CPUs.

mod user_sim;

#[test]
fn user_programs_on_4_cpu() {
    user_sim::boot_and_check(arch::sim::SimConfig::new(4));
}
