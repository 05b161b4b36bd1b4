//! The portable self-tests on 2 simulated CPU(s).

#[test]
fn portable_selftests_on_2_cpu() {
    sim_tests::boot_and_check(2, "");
}
