//! The user-program tests (`user_sim`) on 8 simulated CPUs.

mod user_sim;

#[test]
fn user_programs_on_8_cpu() {
    user_sim::boot_and_check(arch::sim::SimConfig::new(8));
}
