//! Self-tests of the sparc64 machine itself: the trap path, fault recovery, the
//! kernel heap's accounting, and (run on its own) the report of a fatal trap.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use arch::kmem::Shared;
use arch::sparc64::probe::{self, illegal, load};

use arch::sparc64::frame::tt;
use arch::sparc64::ontrap::catch;
use arch::sparc64::user;
use arch::sparc64::vm::AddrSpace;
use arch::sparc64::{heap, trap};
use arch::{reg, Prot, PAGE_SIZE};
use kern::thread::curthread;
use kern_selftest::{ensure, ensure_eq, Test, TestResult};

pub static SPARC64: &[Test] = &[
    Test::new("trap_soft_roundtrip", trap_soft_roundtrip),
    Test::new("trap_catch_illegal_instruction", trap_catch_illegal_instruction),
    Test::new("trap_catch_misaligned_load", trap_catch_misaligned_load),
    Test::new("trap_catch_mmu_miss", trap_catch_mmu_miss),
    Test::new("heap_returns_freed_memory", heap_returns_freed_memory),
    Test::new("user_mode_roundtrip", user_mode_roundtrip),
    Test::new("user_mode_unprivileged", user_mode_unprivileged),
    Test::new("user_mode_tlb_refill", user_mode_tlb_refill),
    Test::explicit("trap_fatal_reported", trap_fatal_reported),
    Test::explicit("stack_overflow_reported", stack_overflow_reported),
];

/// A software trap enters the kernel and comes back to the next instruction with the
/// handler's results, every global of the trapped code intact, and `%g7` the
/// current thread in the handler and after it (S7).
fn trap_soft_roundtrip() -> TestResult {
    let me = curthread() as *const _ as u64;
    let before = trap::PROBE_TRAPS.load(core::sync::atomic::Ordering::SeqCst);
    for round in 0..100u64 {
        let args = [1 + round, 2, 3, 4, 5, 6 << 40];
        let base = 0x5eed_0000_0000 + (round << 8);
        let r = probe::soft_trap(args, base);
        ensure_eq!(r.sum, args.iter().sum::<u64>());
        ensure_eq!(r.globals, [base + 1, base + 2, base + 3, base + 4, base + 5]);
        ensure_eq!(r.g7_in_handler, me);
        ensure_eq!(r.g7_after, me);
    }
    let taken = trap::PROBE_TRAPS.load(core::sync::atomic::Ordering::SeqCst) - before;
    ensure_eq!(taken, 100);
    Ok(())
}

fn trap_catch_illegal_instruction() -> TestResult {
    let info = catch(illegal, 0).err().ok_or("illtrap did not trap")?;
    ensure_eq!(info.tt, tt::ILLEGAL_INSTRUCTION);
    ensure_eq!(info.tpc, probe::illegal_pc());
    ensure_eq!(info.tnpc, probe::illegal_pc() + 4);
    // The thread goes on normally afterwards, and catches the next one too.
    ensure!(catch(illegal, 0).is_err(), "a second illtrap was not caught");
    Ok(())
}

fn trap_catch_misaligned_load() -> TestResult {
    let words: Vec<u64> = alloc::vec![0x1122_3344_5566_7788; 2];
    let addr = words.as_ptr() as usize;
    ensure!(catch(load, addr).is_ok(), "an aligned load trapped");
    let info = catch(load, addr + 4).err().ok_or("a misaligned ldx did not trap")?;
    ensure_eq!(info.tt, tt::MEM_ADDRESS_NOT_ALIGNED);
    ensure_eq!(info.tpc, probe::load_pc());
    Ok(())
}

fn trap_catch_mmu_miss() -> TestResult {
    // Far outside the kernel's locked window: no translation exists.
    let info = catch(load, 0x4000_0000_0000)
        .err()
        .ok_or("a load from an unmapped address did not trap")?;
    ensure_eq!(info.tt, tt::FAST_DATA_ACCESS_MMU_MISS);
    ensure_eq!(info.tpc, probe::load_pc());
    Ok(())
}

/// Memory freed goes back to the heap: usage returns to where it was.
fn heap_returns_freed_memory() -> TestResult {
    let used0 = heap::stats().used;
    {
        let blocks: Vec<Vec<u8>> = (1..200).map(|n| alloc::vec![n as u8; n * 37]).collect();
        let used1 = heap::stats().used;
        ensure!(
            used1 >= used0 + (1..200).map(|n| n * 37).sum::<usize>(),
            "allocation not accounted"
        );
        ensure!(
            blocks.iter().enumerate().all(|(i, b)| b.iter().all(|&x| x == (i + 1) as u8)),
            "block overwritten"
        );
    }
    let used2 = heap::stats().used;
    ensure_eq!(used2, used0);
    Ok(())
}

/// Runs only when named (`test=trap_fatal_reported`): executes an illegal instruction
/// outside any `catch`. The kernel must report the trap and stop with failure; the
/// harness checks the report. Returning would be the failure.
fn trap_fatal_reported() -> TestResult {
    illegal(0);
    Err("an illegal instruction outside catch() came back".into())
}

/// Runs only when named (`test=stack_overflow_reported`): the test thread's stack
/// canary is overwritten as an overflow into the stack's bottom would, then the
/// thread sleeps. The switch away from it must stop the kernel with the overflow
/// report (S17); the harness checks the report. Waking would be the failure.
fn stack_overflow_reported() -> TestResult {
    ensure!(probe::smash_canary(), "the test thread has no stack whose canary the switch checks");
    kern::sleepq::delay(1);
    Err("a thread whose stack canary was overwritten switched away and back".into())
}

const USER_CODE: u64 = 0x10000;
const USER_STACK: u64 = 0x20000;

/// A user address space with the probe program and a stack.
fn probe_space() -> Result<(Shared<AddrSpace>, probe::UserProbe), String> {
    let p = probe::user_probe();
    let space = AddrSpace::new().map_err(|e| format!("{e:?}"))?;
    space.map(USER_CODE, PAGE_SIZE, Prot::READ | Prot::EXEC).map_err(|e| format!("{e:?}"))?;
    space.write(USER_CODE, p.code).map_err(|e| format!("{e:?}"))?;
    space.map(USER_STACK, PAGE_SIZE, Prot::READ | Prot::WRITE).map_err(|e| format!("{e:?}"))?;
    Ok((Shared::try_new(space).map_err(|_| "no memory for the space")?, p))
}

/// User mode entered and left by a trap (S17's user half): the user code ran in its
/// own context, took clock interrupts in user mode, spilled, filled and cleaned its
/// register windows on its own stack (ten levels deep: the sum of their locals is
/// 55), and the kernel got its registers in the frame — the user's own `%g7`, and
/// the `%ccr` of its last compare (equal: Z in icc and xcc) — while `%g7` in the
/// kernel was the current thread (S7).
fn user_mode_roundtrip() -> TestResult {
    let (space, p) = probe_space()?;
    let ticks0 = arch::sparc64::clock::INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst);
    let exit = user::run(space, USER_CODE, USER_STACK + PAGE_SIZE);
    let ticks =
        arch::sparc64::clock::INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst) - ticks0;
    ensure_eq!(exit.trap.tt, 0x141);
    ensure_eq!(exit.trap.tpc, USER_CODE + p.ta);
    ensure_eq!(exit.regs.r[reg::CCR], 0x44);
    ensure_eq!(exit.trap.tstate, 0x44 << 32);
    ensure_eq!(exit.regs.r[reg::O0], 55);
    ensure_eq!(exit.regs.r[reg::O0 + 1], 0x456);
    ensure_eq!(exit.regs.r[reg::G7], 0x5eed_0000);
    ensure_eq!(exit.kernel_g7, curthread() as *const _ as u64);
    ensure!(ticks >= 1, "no clock interrupt arrived while the user code spun");
    Ok(())
}

/// User mode has no privilege: a privileged instruction traps (privileged_opcode),
/// kernel memory cannot be read (data_access_exception), and a page mapped without
/// the right to execute cannot be executed (it never enters the ITLB), each at the
/// user PC.
fn user_mode_unprivileged() -> TestResult {
    let (space, p) = probe_space()?;
    let top = USER_STACK + PAGE_SIZE;
    let exit = user::run(space.clone(), USER_CODE + p.privileged, top);
    ensure_eq!(exit.trap.tt, tt::PRIVILEGED_OPCODE);
    ensure_eq!(exit.trap.tpc, USER_CODE + p.privileged);
    let exit = user::run(space.clone(), USER_CODE + p.kernel_read, top);
    ensure_eq!(exit.trap.tt, tt::DATA_ACCESS_EXCEPTION);
    ensure_eq!(exit.trap.tpc, USER_CODE + p.kernel_read + 4);
    let exit = user::run(space, USER_STACK, top);
    ensure_eq!(exit.trap.tt, tt::FAST_INSTRUCTION_ACCESS_MMU_MISS);
    ensure_eq!(exit.trap.tpc, USER_STACK);
    Ok(())
}

/// User pages are translated on demand: a user program reads 80 pages, more than
/// the TLB's 64 entries, twice, so every page is refilled after eviction and the sum
/// comes out right; a load from an address the space does not map ends the run with
/// an MMU miss naming that page.
fn user_mode_tlb_refill() -> TestResult {
    const BASE: u64 = 0x40000;
    let (space, p) = probe_space()?;
    space.map(BASE, 80 * PAGE_SIZE, Prot::READ).map_err(|e| format!("{e:?}"))?;
    for i in 0..80u64 {
        space
            .write(BASE + i * PAGE_SIZE, &(3 * i + 1).to_be_bytes())
            .map_err(|e| format!("{e:?}"))?;
    }
    let top = USER_STACK + PAGE_SIZE;
    let exit = user::run(space.clone(), USER_CODE + p.pages, top);
    ensure_eq!(exit.trap.tt, 0x141);
    ensure_eq!(exit.regs.r[reg::O0], 2 * (0..80u64).map(|i| 3 * i + 1).sum::<u64>());
    let exit = user::run(space, USER_CODE + p.unmapped, top);
    ensure_eq!(exit.trap.tt, tt::FAST_DATA_ACCESS_MMU_MISS);
    ensure_eq!(exit.trap.tpc, USER_CODE + p.unmapped + 4);
    ensure_eq!(exit.fault_va, 0x700_0000);
    Ok(())
}
