//! The portable self-tests on 4 simulated CPU(s).

#[test]
fn portable_selftests_on_4_cpu() {
    sim_tests::boot_and_check(4, "");
}
