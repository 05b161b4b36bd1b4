//! The fuzzer (`sim_tests::fuzz`) on 8 simulated CPUs: 10,000 calls from seed 800.

#[test]
fn fuzz_on_8_cpus() {
    sim_tests::fuzz::boot_and_check(arch::sim::SimConfig {
        boot_args: "hz=1000 fuzz=800,10000",
        ..arch::sim::SimConfig::new(8)
    });
}
