//! The user-program tests (`user_sim`) on 1 simulated CPU.

mod user_sim;

#[test]
fn user_programs_on_1_cpu() {
    user_sim::boot_and_check(arch::sim::SimConfig::new(1));
}
