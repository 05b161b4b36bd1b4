//! Swapping (S5, S6, S2): LWPs' `lwp` structures written out to the swap device
//! and freed while their LWPs do not run, and brought back before they run again;
//! the swapper, a kernel thread with no process (S2) that does it.
//!
//! # Theory
//!
//! **What goes out** is an LWP's `lwp` structure (S5: user registers, system-call
//! state, signal-handling information, usage, timers, CPU times) with what belongs
//! to the LWP and not to its thread: its saved user register windows (sparc64's
//! window buffer, in its register frame). It goes as a position-independent image
//! (`image`: no pointers; the links to thread and process are made anew on the way
//! in), with a sequence number and a checksum, to a slot of the swap device
//! (`device`: the machine's disk cut into slots, a bitmap of free ones). What must
//! stay resident stays in the thread (S6): masks, scheduling state, the wait
//! channel, the kernel stack — and `t_schedflag`, which says whether the LWP's
//! structure is loaded (Solaris' `TS_LOAD`).
//!
//! **Who may go**: an LWP that does not run and cannot be set running behind the
//! swapper's back — asleep on a sleep queue (in the kernel: its kernel stack stays,
//! its structure goes) or stopped. The swap-out *claims* it: under the lock that
//! keeps it asleep (its sleep queue's) or stopped (`p_lock`), and the swap queue's,
//! it clears `LOAD` and takes the structure, in one step (so a swapper that finds
//! the thread made runnable meanwhile finds its structure on its way out, never in
//! memory with the thread not loaded). From then on whoever makes it runnable — a
//! wakeup, a signal, a continue, an exit request — does so through `disp::setrun`,
//! which finds it not loaded and puts it on the **swap-in queue** instead of a
//! dispatch queue: the dispatcher never runs a thread whose LWP is out. Then the
//! machine gives back its handle to the registers (`Machine::user_frame_detach`),
//! the image goes to the disk, and once the disk has it the structure is freed —
//! unless the LWP was made runnable meanwhile (the swap-out is given up: nothing to
//! read back), or the write failed (the LWP stays in memory, counted), or the device
//! is full (the same).
//!
//! **Coming back**: the swapper takes each thread off the swap-in queue, reads its
//! slot, checks the image (the owner, the sequence number, the checksum: a torn or
//! stale slot is refused, never loaded), rebuilds the structure, gives the machine
//! its registers, sets `LOAD` and only then `setrun`s the thread. A read that fails
//! is tried again; one that keeps failing ends the LWP's process with SIGKILL and a
//! console report — never a panic, never a wrong structure: the LWP gets a fresh
//! one to run to its exit with. An LWP asked to exit (killed) while out gets a
//! fresh one at once: its slot is freed without being read.
//!
//! **When**: the swapper wakes when a thread waits on the swap-in queue, and when
//! the clock, looking at memory every few ticks, finds the kernel heap's free memory
//! below a low-water mark: then it swaps out the LWPs that have been asleep or
//! stopped longest, until free memory is back above a high-water mark. A creation that fails for
//! lack of memory asks for a swap-out of its own ([`reclaim`]) before it gives up.
//! Boot arguments: `swap=off` (nothing goes out unless asked), `swap=force`
//! (everything swappable goes out at every pass: swapping made visible and
//! stressed), `swapstat` or `swapstat=SECS` (the swapper prints [`report`] every so
//! many seconds). The self-tests force swap-outs with [`swapout`] and
//! [`swapout_all`].
//!
//! Locks, outermost first: `PIDLOCK`, `p_lock`, a sleep queue's, the swap queue's,
//! an `Lwp`'s `lwp_image`, the slot map. Nothing is allocated under any of them;
//! I/O is done holding none (only the disk's own blocking mutex).

mod device;
pub mod image;
mod swapper;
pub(crate) mod tstate;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use arch::cell::StaticRef;
use arch::{BlkOp, Machine};

use crate::errno::Errno;
use crate::lwp::handle::LwpId;
use crate::proc::{Proc, WaitStatus};
use crate::thread::KThread;
use crate::{clock, disp, kprintln, sleepq, thread, M};

pub use device::{SLOT_SECTORS, SLOT_SIZE};
pub(crate) use swapper::swapin_request;
pub use tstate::schedflag;

/// What the swapper does of its own accord (`swap=` at boot, [`set_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: LWPs go out only when asked ([`swapout`], [`swapout_all`]).
    Off,
    /// LWPs go out when memory runs low.
    Pressure,
    /// Every swappable LWP goes out at every pass.
    Force,
}

/// How one swap-out ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Out,
    /// Not swappable (any more), or made runnable while it was being written.
    Busy,
    /// No free slot: it stays in memory.
    Full,
    /// The disk failed the write: it stays in memory.
    WriteError,
    NoDevice,
}

/// Counters, for [`stats`].
mod stat {
    use core::sync::atomic::AtomicU64;

    /// Swap-outs ever made: each image's sequence number.
    pub(super) static SEQ: AtomicU64 = AtomicU64::new(0);
    pub(super) static OUT: AtomicU64 = AtomicU64::new(0);
    pub(super) static SWAPOUTS: AtomicU64 = AtomicU64::new(0);
    pub(super) static SWAPINS: AtomicU64 = AtomicU64::new(0);
    pub(super) static CANCELLED: AtomicU64 = AtomicU64::new(0);
    pub(super) static DISCARDED: AtomicU64 = AtomicU64::new(0);
    pub(super) static FULL: AtomicU64 = AtomicU64::new(0);
    pub(super) static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);
    pub(super) static READ_ERRORS: AtomicU64 = AtomicU64::new(0);
    pub(super) static LOST: AtomicU64 = AtomicU64::new(0);
}

/// What swapping has done, and the memory it works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwapStats {
    /// Kernel heap free, in bytes.
    pub free: usize,
    /// LWPs whose `lwp` structure is on the swap device now.
    pub lwps_out: u64,
    /// Slots in use.
    pub slots_used: u32,
    /// Slots on the device (0: no swap device).
    pub slots: u32,
    /// Slots written.
    pub writes: u64,
    /// Slots read.
    pub reads: u64,
    /// Structures swapped out.
    pub swapouts: u64,
    /// Structures swapped back in.
    pub swapins: u64,
    /// Swap-outs given up because the LWP was made runnable while its image was
    /// being written.
    pub cancelled: u64,
    /// Structures of LWPs asked to exit while out: freed without being read.
    pub discarded: u64,
    /// Swap-outs refused because the device was full.
    pub full: u64,
    /// Writes the disk failed (the LWP stayed in memory).
    pub write_errors: u64,
    /// Reads the disk failed or whose image was refused (each was tried again).
    pub read_errors: u64,
    /// LWPs whose structure could not be read back: their processes were killed.
    pub lost: u64,
}

static MODE: AtomicU32 = AtomicU32::new(Mode::Pressure as u32);
/// Seconds between reports (`swapstat`), 0 for none.
static STAT_PERIOD: AtomicU32 = AtomicU32::new(0);
/// Requests for the swapper: it looks again when this moves.
static WORK: AtomicU64 = AtomicU64::new(0);
/// The swapper's thread.
static SWAPPER: StaticRef<KThread> = StaticRef::none();

/// Makes a process exit with a wait status, as `proc::life::proc_kill` does.
type ProcKill = fn(&'static Proc, WaitStatus, bool, Option<&KThread>);

/// How the swapper ends the process of an LWP whose structure cannot be read
/// back: `proc::life::proc_kill`. Set at boot (`boot`), before any structure can
/// go out: the swapper sits below the lives of LWPs and processes (an LWP's
/// creation asks it for room, its exit gives back a slot), and does not name them.
static PROC_KILL: spin::Once<ProcKill> = spin::Once::new();

/// Sets how the swapper ends a process (see `PROC_KILL`).
pub(crate) fn set_proc_kill(kill: ProcKill) {
    PROC_KILL.call_once(|| kill);
}

/// How often the swapper looks at memory, in ticks, and makes its passes in the
/// forced mode.
const SCAN_TICKS: u64 = 10;
const FORCE_TICKS: u64 = 2;

/// The mode the swapper works in.
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        0 => Mode::Off,
        2 => Mode::Force,
        _ => Mode::Pressure,
    }
}

/// Sets the swapper's mode; returns the one it replaces.
pub fn set_mode(m: Mode) -> Mode {
    let old = mode();
    MODE.store(m as u32, Ordering::Relaxed);
    wake_swapper();
    old
}

/// The swap device at boot: makes it from the machine's disk, if there is one, and
/// starts the swapper in `start_mode` (the boot argument `swap=`; else `Pressure`),
/// reporting its counts every `stat_period` seconds if not 0 (`swapstat`).
pub(crate) fn init(start_mode: Option<Mode>, stat_period: u32) {
    if let Some(m) = start_mode {
        MODE.store(m as u32, Ordering::Relaxed);
    }
    STAT_PERIOD.store(stat_period, Ordering::Relaxed);
    match device::init() {
        Some(slots) => {
            kprintln!(
                "swap: {slots} slots of {} KiB on the disk; swapper mode {:?}",
                SLOT_SIZE / 1024,
                mode()
            );
            SWAPPER.set(Some(thread::life::thread_create("swapper", swapper, 0)));
        }
        None => kprintln!("swap: no swap device"),
    }
}

/// An LWP ends with its structure out, which cannot be (it runs to its exit, so
/// its structure is in): its slot is freed unread, and it is counted discarded.
pub(crate) fn forget(slot: u32) {
    debug_assert!(false, "an LWP ended with its lwp structure in slot {slot}");
    device::slot_free(slot);
    stat::OUT.fetch_sub(1, Ordering::Relaxed);
    stat::DISCARDED.fetch_add(1, Ordering::Relaxed);
}

/// Whether there is a swap device.
pub fn has_device() -> bool {
    device::slots().1 > 0
}

/// The disk's interrupt (`Upcalls::blk_intr`): a transfer finished. Like the clock
/// interrupt, it may switch threads on its way out: the thread it woke may outrank
/// the one it interrupted.
pub fn blk_intr() {
    device::io_done();
    disp::kpreempt();
}

/// Asks the swapper to look at its queue and at memory.
fn wake_swapper() {
    WORK.fetch_add(1, Ordering::SeqCst);
    sleepq::wakeup(work_chan());
}

fn work_chan() -> usize {
    &WORK as *const AtomicU64 as usize
}

/// The kernel heap runs low: less than an eighth of it free (the thread cache's
/// mark too); a swap-out under pressure goes on until a sixth is free.
fn memory_low() -> bool {
    let h = M::heap_stats();
    h.free() < h.total / 8
}

fn memory_back() -> bool {
    let h = M::heap_stats();
    h.free() >= h.total / 6
}

/// The clock's share of swapping (CPU 0, every tick, interrupts off): wakes the
/// swapper for the work nobody asks it for — memory running low (looked at every
/// few ticks), the forced mode's next pass, a report due. The swapper sleeps with
/// no timeout of its own: an idle kernel has no callout of its.
pub(crate) fn clock_tick(lbolt: u64) {
    debug_check!(!M::intr_enabled() && M::cpu_id() == 0, "swap's clock tick off CPU 0");
    if SWAPPER.get().is_none() {
        return;
    }
    let period = u64::from(STAT_PERIOD.load(Ordering::Relaxed)) * u64::from(clock::hz());
    let due = match mode() {
        Mode::Force => lbolt.is_multiple_of(FORCE_TICKS),
        Mode::Pressure => lbolt.is_multiple_of(SCAN_TICKS) && memory_low(),
        Mode::Off => false,
    };
    if due || (period != 0 && lbolt.is_multiple_of(period)) {
        wake_swapper();
    }
}

/// The swapper (Solaris' `sched`): a kernel thread of its own (S2).
fn swapper(_: usize) {
    let mut last_report = clock::lbolt();
    loop {
        let seen = WORK.load(Ordering::SeqCst);
        let mut starved = false;
        while let Some(t) = swapper::swapq_take() {
            if !swapper::swap_in(t) {
                // No memory for it: give the memory a chance (others' exits, the
                // caches, swap-outs below) before the next try.
                starved = true;
                break;
            }
        }
        match mode() {
            Mode::Force => {
                swapout_where(&|_| true);
            }
            Mode::Pressure if memory_low() || starved => {
                while !memory_back() && swapout_where(&|_| true) > 0 {}
            }
            _ => {}
        }
        let period = u64::from(STAT_PERIOD.load(Ordering::Relaxed)) * u64::from(clock::hz());
        if period != 0 && clock::lbolt() >= last_report + period {
            last_report = clock::lbolt();
            report();
        }
        let more = || WORK.load(Ordering::SeqCst) != seen;
        if starved {
            sleepq::sleep_timed(work_chan(), more, 1);
        } else if swapper::swapq_empty() {
            sleepq::sleep(work_chan(), more);
        }
    }
}

/// Swaps out the `lwp` structures of the swappable LWPs of the processes `want`
/// accepts, those waiting longest first, one batch; returns how many went out.
fn swapout_where(want: &dyn Fn(&Proc) -> bool) -> usize {
    let (list, n) = swapper::candidates(want);
    let mut out = 0;
    for c in list[..n].iter().flatten() {
        match swapper::swap_out(c) {
            Outcome::Out => out += 1,
            Outcome::Full => {
                stat::FULL.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Outcome::NoDevice => break,
            Outcome::Busy | Outcome::WriteError => {}
        }
    }
    out
}

/// Swaps out every LWP that may go now (asleep or stopped, in memory), batch after
/// batch until a batch finds none; returns how many went out.
pub fn swapout_all() -> usize {
    swapout_matching(&|_| true)
}

/// Swaps out every LWP of `p` that may go now; returns how many went out.
pub fn swapout_proc(p: &Proc) -> usize {
    swapout_matching(&|q| core::ptr::eq(q, p))
}

fn swapout_matching(want: &dyn Fn(&Proc) -> bool) -> usize {
    let mut total = 0;
    // Bounded: LWPs that wake and sleep again between passes could keep it going.
    for _ in 0..64 {
        let n = swapout_where(want);
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

/// A creation found no memory: swaps out one batch of the LWPs waiting longest,
/// unless swapping is off; returns how many went out (0: try no more).
pub fn reclaim() -> usize {
    if mode() == Mode::Off || !has_device() {
        return 0;
    }
    swapout_where(&|_| true)
}

/// Swaps out the `lwp` structure of LWP `id` of `p` now (a test's, or an
/// administrator's, request).
///
/// Errors: `ESRCH` if there is no such live LWP; `EBUSY` if it may not go now
/// (running, runnable, blocked on a lock, out already, asked to exit); `ENOSPC`
/// if the device is full; `EIO` if the disk failed the write; `ENODEV` without a
/// swap device. In every error case the structure stays in memory.
pub fn swapout(p: &'static Proc, id: LwpId) -> Result<(), Errno> {
    if !has_device() {
        return Err(Errno::ENODEV);
    }
    let c = swapper::candidate(p, id)?;
    match swapper::swap_out(&c) {
        Outcome::Out => Ok(()),
        Outcome::Busy => Err(Errno::EBUSY),
        Outcome::Full => {
            stat::FULL.fetch_add(1, Ordering::Relaxed);
            Err(Errno::ENOSPC)
        }
        Outcome::WriteError => Err(Errno::EIO),
        Outcome::NoDevice => Err(Errno::ENODEV),
    }
}

/// What swapping has done, and the memory it works for.
pub fn stats() -> SwapStats {
    stats_with(device::slots())
}

/// LWPs whose `lwp` structure is on the swap device now (one atomic load: the
/// debugger's too).
pub fn lwps_out() -> u64 {
    stat::OUT.load(Ordering::Relaxed)
}

/// For the debugger (`::swapinfo`), which must not wait for a lock: [`stats`],
/// `None` if the slot map is locked.
pub(crate) fn peek_stats() -> Option<SwapStats> {
    device::peek_slots().map(stats_with)
}

/// The counters, with the slot map's (slots in use, slots).
fn stats_with((slots_used, slots): (u32, u32)) -> SwapStats {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    SwapStats {
        free: M::heap_stats().free(),
        lwps_out: get(&stat::OUT),
        slots_used,
        slots,
        writes: get(&device::WRITES),
        reads: get(&device::READS),
        swapouts: get(&stat::SWAPOUTS),
        swapins: get(&stat::SWAPINS),
        cancelled: get(&stat::CANCELLED),
        discarded: get(&stat::DISCARDED),
        full: get(&stat::FULL),
        write_errors: get(&stat::WRITE_ERRORS),
        read_errors: get(&stat::READ_ERRORS),
        lost: get(&stat::LOST),
    }
}

/// Prints [`stats`] on the console, one line.
pub fn report() {
    let s = stats();
    kprintln!(
        "swap: {} KiB free, {} LWPs out, {}/{} slots used, {} writes, {} reads, \
         {} out, {} in, {} given up, {} discarded, {} full, {} write errors, \
         {} read errors, {} lost",
        s.free / 1024,
        s.lwps_out,
        s.slots_used,
        s.slots,
        s.writes,
        s.reads,
        s.swapouts,
        s.swapins,
        s.cancelled,
        s.discarded,
        s.full,
        s.write_errors,
        s.read_errors,
        s.lost
    );
}

/// The swapper's thread, once started (S2: a kernel thread with no process).
pub fn swapper_thread() -> Option<&'static KThread> {
    SWAPPER.get()
}

/// The image of the `lwp` structure of LWP `id` of `p` as the swap device holds it,
/// read back through the driver: for the self-tests, which check that what is on
/// the disk is what went out. `ESRCH` if there is no such LWP, `EAGAIN` if its
/// structure is not out, `EIO` if the disk fails the read. (The LWP must stay out
/// meanwhile: a test keeps it asleep.)
pub fn read_image(p: &Proc, id: LwpId) -> Result<Vec<u8>, Errno> {
    let lwp = crate::lwp::dir::idtolwp(p, id).ok_or(Errno::ESRCH)?;
    let r = lwp.swapped().ok_or(Errno::EAGAIN)?;
    let mut image = Vec::new();
    image.try_reserve_exact(r.len as usize).map_err(|_| Errno::ENOMEM)?;
    device::with_io(|io| {
        io.transfer(BlkOp::Read, r.slot).map_err(|_| Errno::EIO)?;
        image.extend_from_slice(&io.buf()[..r.len as usize]);
        Ok(image)
    })
    .unwrap_or(Err(Errno::ENODEV))
}

/// For the self-tests: the device hands out no more than `n` slots in all (`None`:
/// every slot it has), so that a test can fill it.
pub fn limit_slots(n: Option<u32>) {
    device::SLOT_LIMIT.store(n.unwrap_or(u32::MAX), Ordering::Relaxed);
}

/// For the self-tests: the next `writes` slot writes and `reads` slot reads fail as
/// if the disk had failed them (the host simulation's disk also fails by chance;
/// QEMU's never does).
pub fn inject_io_errors(writes: u32, reads: u32) {
    device::FAIL_WRITES.store(writes, Ordering::Relaxed);
    device::FAIL_READS.store(reads, Ordering::Relaxed);
}

/// Changes byte `at` of the swapped-out image of LWP `id` of `p` on the disk,
/// through the driver: for the self-test of a slot that cannot be read back (the
/// LWP must stay out meanwhile). Errors as [`read_image`], and `EINVAL` if `at` is
/// past the image.
pub fn damage_image(p: &Proc, id: LwpId, at: usize) -> Result<(), Errno> {
    let lwp = crate::lwp::dir::idtolwp(p, id).ok_or(Errno::ESRCH)?;
    let r = lwp.swapped().ok_or(Errno::EAGAIN)?;
    if at >= r.len as usize {
        return Err(Errno::EINVAL);
    }
    device::with_io(|io| {
        io.transfer(BlkOp::Read, r.slot).map_err(|_| Errno::EIO)?;
        io.buf()[at] ^= 0x5a;
        io.transfer(BlkOp::Write, r.slot).map_err(|_| Errno::EIO)
    })
    .unwrap_or(Err(Errno::ENODEV))
}
