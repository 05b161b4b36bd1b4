//! The portable kernel on the host simulation machine.
//!
//! [`boot`] boots `arch::sim` with `ncpus` CPUs and a swap disk and runs the kernel's
//! portable self-tests on it, the same suites that run in QEMU (S19): CPU 0 runs the
//! kernel's `main`, the others join as secondary CPUs. [`boot_suites`] runs a test binary's
//! own suites instead (the user-program tests, `tests/user_sim`; the seeded boots of
//! `tests/seeded`; the fuzzer, [`fuzz`]). Each test binary in `tests/` boots once, so
//! that every boot starts from fresh kernel state, as a machine does.
//!
//! Every boot gives the machine this kernel's user runtime (`USER_RUNTIME`: the
//! `exit` and `setcontext` it makes for user programs and handlers that return),
//! which the machine, below the kernel, cannot name.

pub mod fuzz;

use std::sync::OnceLock;
use std::time::Duration;

use arch::sim::{self, user, DiskConfig, Outcome, SimConfig};
use arch::Machine;
use kern::thread::KThread;
use kern::M;
use kern_selftest::{bench, Suite};
use lwp_abi::{SETCONTEXT, SYS_CONTEXT, SYS_EXIT};

/// Every binary that boots the simulation allocates with interrupts off.
#[global_allocator]
static ALLOC: sim::SimAlloc = sim::SimAlloc;

/// The suites a binary that chose its own ([`boot_suites`]) runs instead of the
/// portable ones.
static SUITES: OnceLock<&'static [Suite]> = OnceLock::new();

/// What the user runtime's code does on sparc64 when a program returns (`_start`
/// calls `exit(0)`) and when a signal handler returns (the trampoline calls
/// `setcontext`), in this kernel's ABI: the simulation machine makes these calls
/// for its programs and handlers, host functions that return.
const USER_RUNTIME: user::Runtime = user::Runtime {
    exit: (SYS_EXIT, [0; 6]),
    setcontext: |ucp| (SYS_CONTEXT, [SETCONTEXT, ucp, 0, 0, 0, 0]),
};

/// Boots the kernel on the machine `config` describes, with this kernel's user
/// runtime, and returns how the machine stopped.
fn run_kernel(config: SimConfig) -> Outcome {
    sim::run(SimConfig { user_runtime: Some(USER_RUNTIME), ..config }, cpu_main)
}

fn cpu_main(cpu: usize) {
    // Each CPU boots on a thread of its own; the register must hold it before any
    // kernel code runs (S7).
    let boot: &'static KThread = Box::leak(Box::new(KThread::boot("boot")));
    M::set_curthread(boot);
    if cpu != 0 {
        kern::boot::secondary(boot)
    }
    kern::boot::main(boot, run)
}

/// What the kernel runs once it is up: the binary's suites or the portable ones (or,
/// with `bench`, the kernel's benchmarks).
fn run(bootargs: &str) -> bool {
    let portable: &[Suite] = &[
        ("portable", kern_selftest::PORTABLE),
        ("lwp", kern_selftest::LWP),
        ("sync", kern_selftest::SYNC),
        ("swap", kern_selftest::SWAP),
        ("kmdb", kern_selftest::KMDB),
        ("disp", kern_selftest::DISP),
    ];
    let suites = SUITES.get().copied().unwrap_or(portable);
    kern_selftest::main(bootargs, suites, &[bench::KERNEL])
}

/// Boots the kernel as `config` says, running the self-test `suites` (a test
/// binary's own, such as tests of user programs) instead of the portable ones, and
/// returns how the machine stopped. Once per test binary, as every boot.
pub fn boot_suites(config: SimConfig, suites: &'static [Suite]) -> Outcome {
    assert!(SUITES.set(suites).is_ok(), "one boot per test binary");
    run_kernel(config)
}

/// Boots the kernel on `ncpus` simulated CPUs with `bootargs`, runs the selected
/// portable self-tests, and returns how the machine stopped.
pub fn boot(ncpus: usize, bootargs: &'static str) -> Outcome {
    let mut config = SimConfig::new(ncpus);
    config.boot_args = bootargs;
    config.timeout = Some(Duration::from_secs(120));
    config.disk = Some(DiskConfig::new(SWAP_DISK_SECTORS));
    boot_with(config)
}

/// Boots the kernel as `config` says (its console input, say) and runs the selected
/// portable self-tests; returns how the machine stopped.
pub fn boot_with(config: SimConfig) -> Outcome {
    run_kernel(config)
}

/// The swap disk of the simulated machines: 8 MiB, as QEMU's (`qemu-harness`).
pub const SWAP_DISK_SECTORS: u64 = 16 * 1024;

/// Boots, prints the console, and fails unless every selected test passed.
pub fn boot_and_check(ncpus: usize, bootargs: &'static str) {
    let out = boot(ncpus, bootargs);
    println!("{}", out.console);
    assert!(!out.timed_out, "the kernel hung on {ncpus} CPU(s)");
    assert!(out.console.contains("kernel verdict: PASS"), "self-tests failed on {ncpus} CPU(s)");
    assert!(out.success, "the kernel halted with failure on {ncpus} CPU(s)");
}

/// Boots `ncpus` CPUs running one explicit self-test that must end in a kernel
/// panic, and returns the panic's message. (One boot per test binary: kernel state
/// is static.)
pub fn panic_of(ncpus: usize, bootargs: &'static str) -> String {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    // The panic is expected: keep its report off the test output.
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(|| boot(ncpus, bootargs)));
    let _ = std::panic::take_hook();
    match r {
        Ok(out) => panic!("the kernel did not panic ({bootargs}):\n{}", out.console),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}
