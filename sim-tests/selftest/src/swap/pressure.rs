//! Memory pressure (S5): sleeping LWPs made until the heap runs low cause
//! swap-outs nobody asked for, and memory comes back; with the swapper's own
//! swapping off, the same process causes none.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use core::sync::atomic::{AtomicU64, Ordering};

use arch::Machine;

use super::fields::{fields, fill, holds_filled};
use super::{chan, with_mode, SUBJECTS};
use crate::lwp::{in_process, this_proc, with_limits, GO};
use crate::{ensure, ensure_eq, TestResult};
use kern::lwp::{lwp_create, lwp_wait, LwpData, LwpFlags};
use kern::swap::{self, Mode};
use kern::sync::Mutex;
use kern::thread::curlwp;
use kern::{disp, kmem, sleepq, M};

/// What the pressure test's process saw: LWPs made, swap-outs while they slept
/// (none asked for), the heap's free memory at its lowest and once the swapper had
/// done its work, and LWPs that came back with a wrong structure.
#[derive(Debug, Clone, Copy, Default)]
struct Pressure {
    made: usize,
    swapouts: u64,
    low: usize,
    after: usize,
    bad: u64,
}

static PRESSURE: Mutex<Option<Pressure>> = Mutex::new(None);
static PRESSURE_BAD: AtomicU64 = AtomicU64::new(0);
/// Each sleeper's own value, from its number.
static PRESSURE_NEXT: AtomicU64 = AtomicU64::new(0);

/// Fills its structure with values of its own, sleeps until `GO`, and checks them.
fn pressure_sleeper(_: usize) {
    let k = PRESSURE_NEXT.fetch_add(1, Ordering::SeqCst) + SUBJECTS as u64;
    curlwp().and_then(|l| l.with_data(|d| fill(d, k)));
    sleepq::sleep(chan(2), || GO.load(Ordering::SeqCst) >= 1);
    let ok = curlwp().and_then(|l| l.with_data(|d| fields(d))).is_some_and(|f| holds_filled(f, k));
    if !ok {
        PRESSURE_BAD.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether the heap is below the swapper's low-water mark (an eighth free).
fn heap_low() -> bool {
    let h = M::heap_stats();
    h.free() < h.total / 8
}

fn pressure_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    PRESSURE_BAD.store(0, Ordering::SeqCst);
    let st0 = swap::stats();
    let mut made = Vec::new();
    while !heap_low() {
        made.try_reserve(1).map_err(|_| "no memory for the list of LWPs")?;
        match lwp_create(p, pressure_sleeper, 0, LwpFlags::empty()) {
            Ok(id) => made.push(id),
            Err(e) => return Err(format!("LWP {} refused before memory ran low: {e}", made.len())),
        }
        // It goes to sleep now (on one CPU too): only a sleeping LWP may go out.
        disp::yield_now();
    }
    let low = M::heap_stats().free();
    // The swapper looks at memory every few ticks.
    sleepq::delay(30);
    let st1 = swap::stats();
    let after = M::heap_stats().free();
    GO.store(1, Ordering::SeqCst);
    sleepq::wakeup(chan(2));
    for &id in &made {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    *PRESSURE.lock() = Some(Pressure {
        made: made.len(),
        swapouts: st1.swapouts - st0.swapouts,
        low,
        after,
        bad: PRESSURE_BAD.load(Ordering::SeqCst),
    });
    Ok(())
}

/// Sleeping LWPs made until the heap runs low, with the swapper in mode `m`: what
/// the process saw.
fn run_low_on_memory(m: Mode) -> Result<Pressure, String> {
    kmem::reap();
    with_mode(m, || {
        with_limits(
            |l| {
                l.max_threads = u32::MAX / 2;
                l.max_lwps = u32::MAX / 2;
                l.lwps_per_proc = u32::MAX / 2;
            },
            || in_process(pressure_body),
        )
    })?;
    PRESSURE.lock().take().ok_or_else(|| String::from("no report"))
}

/// A process that makes the kernel short of memory — sleeping LWPs until the heap
/// is below the swapper's low-water mark — causes swap-outs nobody asked for: the
/// sleepers' structures go out, memory comes back, and each sleeper finds its own
/// structure when it wakes. With the swapper's own swapping off, the same process
/// causes none (S5).
pub(super) fn memory_pressure() -> TestResult {
    need_device!();
    let off = run_low_on_memory(Mode::Off)?;
    ensure_eq!((off.swapouts, off.bad), (0, 0));
    let on = run_low_on_memory(Mode::Pressure)?;
    kern::kprintln!("  measured: {on:?} (swapping off: {off:?})");
    ensure!(on.made > 0 && on.swapouts > 0, "memory ran low and nothing was swapped out: {on:?}");
    ensure_eq!(on.bad, 0);
    let freed = on.after.saturating_sub(on.low);
    ensure!(
        freed >= on.swapouts as usize * size_of::<LwpData>(),
        "{} swap-outs freed {freed} bytes",
        on.swapouts
    );
    Ok(())
}
