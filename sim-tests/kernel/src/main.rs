//! The sparc64 kernel image: wires the portable kernel to the sun4u machine and runs
//! the self-tests (the portable suites, the machine's own, and the user programs')
//! under QEMU, or the benchmarks.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]
#![deny(unsafe_code)]

extern crate alloc;

mod fuzz_tests;
mod machine_tests;
mod programs;
mod thread_tests;
mod user_bench;
mod user_tests;

use core::fmt::Write;

use arch::Machine;
use kern::thread::THREAD0;
use kern::M;
use kern_selftest::bench::{self, Bench};
use kern_selftest::Suite;

arch::sparc64_entry!(kern::thread::THREAD0, kmain);

extern "C" fn kmain() -> ! {
    // The TARGETS row "boot: OpenBIOS hand-over to first self-test" (scripts/bench).
    let us = arch::sparc64::clock::since_handover_ns() / 1000;
    kern::kprintln!("boot: {us} us from the OpenBIOS hand-over to kernel main");
    kern::boot::main(&THREAD0, run)
}

/// The self-tests, in the order they run: the portable suites and this machine's.
static SUITES: &[Suite] = &[
    ("portable", kern_selftest::PORTABLE),
    ("lwp", kern_selftest::LWP),
    ("sync", kern_selftest::SYNC),
    ("swap", kern_selftest::SWAP),
    ("kmdb", kern_selftest::KMDB),
    ("sparc64", machine_tests::SPARC64),
    ("user", user_tests::USER),
    ("uthread", thread_tests::UTHREAD),
    ("fuzz", fuzz_tests::FUZZ_TESTS),
    ("disp", kern_selftest::DISP),
];

/// The benchmarks: the kernel's, then those of the user programs.
static BENCHES: &[&[Bench]] = &[bench::KERNEL, user_bench::USER_BENCHES];

/// What the kernel runs once it is up: the self-tests, or the benchmarks.
fn run(bootargs: &str) -> bool {
    kern::exec::set_programs(programs::BY_NAME);
    // The parent of orphans (pid 1), before anything else makes a process.
    if let Err(e) = kern::exec::start_init() {
        kern::kprintln!("init: not started: {e}");
        return false;
    }
    kern_selftest::main(bootargs, SUITES, BENCHES)
}

struct PanicConsole;

impl Write for PanicConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        M::console_write(s.as_bytes());
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    M::intr_disable();
    let _ = writeln!(PanicConsole, "\n*** KERNEL PANIC: {info}");
    // An allocation the kernel could not do without ends here too: say what the
    // heap had, and which allocation it last refused.
    let heap = M::heap_stats();
    let _ = write!(PanicConsole, "*** heap: {} of {} bytes in use", heap.used, heap.total);
    match arch::kmem::last_failure() {
        Some((size, align, used)) => {
            let _ = writeln!(
                PanicConsole,
                "; last refused: {size} bytes (align {align}) with {used} in use"
            );
        }
        None => {
            let _ = writeln!(PanicConsole);
        }
    }
    let _ =
        writeln!(PanicConsole, "*** KERNEL FATAL: panic in thread {:?}", kern::thread::curthread());
    // The dump (every thread, this one's stack), and the debugger if `kmdb` was given.
    kern::kmdb::fatal(kern::kmdb::Why::Panic, arch::WalkFrom::Here);
    M::halt(false)
}
