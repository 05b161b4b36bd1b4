//! The fuzzer (`sim_tests::fuzz`) on 4 simulated CPUs: 10,000 calls from seed 400.

#[test]
fn fuzz_on_4_cpus() {
    sim_tests::fuzz::boot_and_check(arch::sim::SimConfig {
        boot_args: "hz=1000 fuzz=400,10000",
        ..arch::sim::SimConfig::new(4)
    });
}
