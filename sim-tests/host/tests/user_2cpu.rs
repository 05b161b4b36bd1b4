//! The user-program tests (`user_sim`) on 2 simulated CPUs.

mod user_sim;

#[test]
fn user_programs_on_2_cpu() {
    user_sim::boot_and_check(arch::sim::SimConfig::new(2));
}
