//! The portable self-tests on 8 simulated CPU(s).

#[test]
fn portable_selftests_on_8_cpu() {
    sim_tests::boot_and_check(8, "");
}
