//! The portable self-tests on 4 simulated CPUs with the swapper swapping out every
//! swappable LWP at every pass (`swap=force`): swapping is invisible to everything
//! the suites check (S5).

#[test]
fn portable_selftests_with_everything_swapped_out_again_and_again() {
    let out = sim_tests::boot(4, "swap=force swapstat=1");
    println!("{}", out.console);
    assert!(out.success && out.console.contains("kernel verdict: PASS"), "self-tests failed");
    // The swapper's reports (once a second): the most LWPs it had swapped out.
    let most = out
        .console
        .lines()
        .filter_map(|l| l.strip_prefix("swap: "))
        .flat_map(|r| r.split(", "))
        .filter_map(|f| f.strip_suffix(" out")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(most >= 100, "only {most} swap-outs while the suites ran");
}
