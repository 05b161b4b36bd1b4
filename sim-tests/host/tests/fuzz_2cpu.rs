//! The fuzzer (`sim_tests::fuzz`) on 2 simulated CPUs: 10,000 calls from seed 200.

#[test]
fn fuzz_on_2_cpus() {
    sim_tests::fuzz::boot_and_check(arch::sim::SimConfig {
        boot_args: "hz=1000 fuzz=200,10000",
        ..arch::sim::SimConfig::new(2)
    });
}
