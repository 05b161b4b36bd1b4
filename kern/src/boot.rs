//! The kernel's `main`: bring the portable kernel up on the boot CPU, run what the
//! caller chose (the self-tests or the benchmarks), and stop the machine with its
//! verdict.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arch::{Machine, Upcalls};

use crate::thread::{self, curthread, KThread};
use crate::{
    clock, disp, kmdb, kmem, kprintln, lwp, proc, rctl, schedctl, sleepq, swap, syscall, tick, M,
};

/// Set by the boot CPU once the kernel is up; the other CPUs wait for it.
static KERNEL_UP: AtomicBool = AtomicBool::new(false);
/// The other CPUs that have come up: the boot CPU waits for them all before it
/// runs anything (what they make as they come up — their boot threads — is then
/// made before the first self-test counts the kernel's memory).
static SECONDARIES_UP: AtomicUsize = AtomicUsize::new(0);

/// The kernel's side of the machine's upcalls.
static UPCALLS: Upcalls = Upcalls {
    clock_intr: tick::clock_intr,
    poke_intr: disp::kpreempt,
    sysent: &syscall::SYSENT,
    user_trap: syscall::user_trap,
    blk_intr: swap::blk_intr,
    fatal_trap: kmdb::fatal_trap,
};

/// The value of boot argument `key=value`, if given.
pub fn bootarg<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Brings this CPU's dispatching up, with `boot` the thread that is running and
/// `idle` its idle thread, and starts its clock.
fn cpu_start(boot: &'static KThread, idle: &'static KThread) {
    assert!(core::ptr::eq(curthread(), boot), "the current-thread register is not the boot thread");
    thread::enlist(boot);
    disp::cpu_init(boot, idle);
    M::clock_start(clock::hz());
}

/// The kernel's main on the boot CPU: brings the kernel up, calls `run` with the boot
/// arguments on the boot thread, and halts the machine with its verdict (true: pass).
/// What `run` does is the caller's: the kernel image and the host tests run the
/// self-tests or, with `bench`, the benchmarks (`sim-tests/selftest`).
pub fn main(boot: &'static KThread, run: fn(&str) -> bool) -> ! {
    let args = M::boot_args();
    if let Some(hz) =
        bootarg(args, "hz").and_then(|v| v.parse().ok()).filter(|&hz| (1..=10_000).contains(&hz))
    {
        clock::set_hz(hz);
    }
    rctl::size::init(|key| bootarg(args, key).and_then(|v| v.parse().ok()));
    arch::kmem::set_reclaim(kmem::reap);
    // The layers below learn the calls they make upwards.
    disp::set_swapin(swap::swapin_request);
    sleepq::set_pool_watch(schedctl::POOL_WATCH);
    lwp::set_proc_zombie(proc::life::proc_zombie);
    swap::set_proc_kill(proc::life::proc_kill);
    M::set_upcalls(&UPCALLS);
    let kmdb_at_boot = kmdb::requested(args);
    if kmdb_at_boot {
        kmdb::keep_input_for_boot();
    }
    cpu_start(boot, thread::idle_thread_create(disp::idle));
    KERNEL_UP.store(true, Ordering::Release);
    while SECONDARIES_UP.load(Ordering::Acquire) < M::ncpus() - 1 {
        M::relax();
    }
    M::intr_restore(true);
    thread::life::thread_create("reaper", proc::life::reaper, 0);
    let swap_mode = match bootarg(args, "swap") {
        Some("off") => Some(swap::Mode::Off),
        Some("force") => Some(swap::Mode::Force),
        _ => None,
    };
    let swapstat = args.split_whitespace().find_map(|w| match w {
        "swapstat" => Some(1),
        w => w.strip_prefix("swapstat=")?.parse().ok(),
    });
    swap::init(swap_mode, swapstat.unwrap_or(0));
    kprintln!("LWP kernel: {} CPU(s), HZ={}, boot arguments '{}'", M::ncpus(), clock::hz(), args);
    let (l, heap, pages) = (rctl::limits(), M::heap_stats(), M::page_stats());
    kprintln!(
        "limits: {} threads, {} LWPs ({} per process), {} processes, stack {} KiB; \
         heap {} KiB, {} KiB free; page pool {} pages ({} KiB), {} free",
        l.max_threads,
        l.max_lwps,
        l.lwps_per_proc,
        l.max_procs,
        rctl::stack_max() / 1024,
        heap.total / 1024,
        heap.free() / 1024,
        pages.total,
        pages.total as u64 * arch::PAGE_SIZE / 1024,
        pages.free
    );
    if kmdb_at_boot {
        kmdb::enter(kmdb::Why::Boot);
    }
    let ok = run(args);
    // The last line the host harness reads.
    kprintln!("kernel verdict: {}", if ok { "PASS" } else { "FAIL" });
    M::halt(ok)
}

/// The kernel's main on every other CPU: once the boot CPU has the kernel up, this
/// CPU's boot thread becomes its idle thread and runs whatever becomes runnable.
pub fn secondary(boot: &'static KThread) -> ! {
    while !KERNEL_UP.load(Ordering::Acquire) {
        // Through the machine: the host simulation's seeded mode runs CPU 0 only
        // when this one makes a machine call.
        M::relax();
    }
    cpu_start(boot, boot);
    SECONDARIES_UP.fetch_add(1, Ordering::Release);
    disp::idle(0)
}
