//! The portable self-tests on 1 simulated CPU(s).

#[test]
fn portable_selftests_on_1_cpu() {
    sim_tests::boot_and_check(1, "");
}
