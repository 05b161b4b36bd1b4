//! Anonymous memory and the growing stack on the simulation machine (S1, S16),
//! through the same kernel code as under QEMU (`kern::vm`): `mmap`, `mprotect`,
//! `munmap` and their errors from user programs, LWPs of one process mapping and
//! unmapping at once on every CPU, memory exhausted, and a main stack that grows
//! when touched below, up to its limit. The machine's page pool (`Sim::page_stats`)
//! must have every page back once a process is gone.

use arch::sim::user;
use arch::{Machine, PAGE_SIZE, USER_LIMIT};
use kern::proc::WaitStatus;
use kern::{rctl, M};
use kern_selftest::{ensure_eq, reap, Test, TestResult};
use lwp_abi::*;

use super::lwps::{lwp_exit, me, wait_lwp, worker_arg};
use super::signals::{catch, h_skip, last};
use super::{errno, new_space, stack_top, start, sys, DATA, MAX_WORKERS};

/// The tests, in the order they run.
pub static VM: &[Test] = &[
    Test::new("vm_map_protect_unmap", map_protect_unmap),
    Test::new("vm_bad_arguments", bad_arguments),
    Test::new("vm_lwps_map_and_unmap_at_once", lwps_map_and_unmap_at_once),
    Test::new("vm_memory_exhausted", memory_exhausted),
    Test::new("vm_stack_grows_to_its_limit", stack_grows_to_its_limit),
];

const P: u64 = PAGE_SIZE;
const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANON;
/// Words of the programs' in `DATA` (whose words lie where: the table in
/// `user_sim`).
const ADDRS: u64 = DATA + 0x2000;
const FREE: u64 = DATA + 0x3ff0;

// ---- The programs' side -----------------------------------------------------------

fn mmap(addr: u64, len: u64, prot: u64, flags: u64) -> Result<u64, u64> {
    sys(SYS_MMAP, &[addr, len, prot, flags | MAP_NEW, u64::MAX, 0]).map(|(a, _)| a)
}

fn munmap(addr: u64, len: u64) -> Result<(), u64> {
    sys(SYS_MUNMAP, &[addr, len]).map(drop)
}

fn mprotect(addr: u64, len: u64, prot: u64) -> Result<(), u64> {
    sys(SYS_MPROTECT, &[addr, len, prot]).map(drop)
}

fn avail() -> u64 {
    sys(SYS_SYSCONFIG, &[CONFIG_AVPHYS_PAGES]).expect("sysconfig").0
}

/// The last signal's (signal, LWP, `si_code`, `si_addr`), as `signals`' handlers
/// record it.
fn last_signal() -> (u64, u64, i32, u64) {
    (last(0), last(1), last(2) as i32, last(4))
}

fn map_protect_unmap_main(_: u64) {
    catch(SIGSEGV, h_skip, SA_SIGINFO);
    let free = avail();
    let a = mmap(0, 3 * P, RW, ANON).expect("mmap");
    assert!(
        a.is_multiple_of(P) && free - avail() == 3,
        "3 pages at {a:#x}: {free} free, then {}",
        avail()
    );
    for at in (a..a + 3 * P).step_by(512) {
        assert_eq!(user::load_u64(at), 0, "a new page holds something at {at:#x}");
        user::store_u64(at, at);
    }
    let b = mmap(0, P, RW, ANON).expect("mmap");
    assert!(b + P <= a || b >= a + 3 * P, "the second mapping {b:#x} is in the first");
    // Read-only: a store is SIGSEGV ACCERR (skipped), the page unchanged.
    mprotect(a + P, P, PROT_READ).expect("mprotect");
    assert_eq!(user::load_u64(a + P), a + P);
    user::store_u64(a + P + 8, 1);
    assert_eq!(last_signal(), (SIGSEGV, me(), SEGV_ACCERR, a + P + 8));
    assert_eq!(user::load_u64(a + P + 8), 0, "the refused store changed the page");
    mprotect(a + P, P, PROT_NONE).expect("mprotect");
    assert_eq!(user::load_u64(a + P), 0, "a skipped load yields 0");
    assert_eq!(last_signal(), (SIGSEGV, me(), SEGV_ACCERR, a + P));
    mprotect(a, 3 * P, RW).expect("mprotect");
    assert_eq!(user::load_u64(a + P), a + P, "the rights came back, not the contents");
    // Unmapped: MAPERR; unmapping nothing is fine.
    munmap(a + P, P).expect("munmap");
    user::load_u64(a + P);
    assert_eq!(last_signal(), (SIGSEGV, me(), SEGV_MAPERR, a + P));
    munmap(a + P, P).expect("munmap of nothing");
    assert_eq!(mprotect(a, 3 * P, PROT_READ), Err(errno(Errno::ENOMEM)), "over the hole");
    // Fixed: into the hole, then over what is there.
    assert_eq!(mmap(a + P, P, RW, ANON | MAP_FIXED), Ok(a + P));
    assert_eq!(user::load_u64(a + P), 0);
    assert_eq!(mmap(a, 2 * P, RW, ANON | MAP_FIXED), Ok(a));
    assert_eq!(user::load_u64(a), 0, "a fixed mapping kept what it replaced");
    assert_eq!(user::load_u64(a + 2 * P), a + 2 * P, "a fixed mapping took the next page");
    munmap(a, 3 * P).expect("munmap");
    munmap(b, P).expect("munmap");
    assert_eq!(avail(), free, "pages not given back");
    super::exit(0)
}

/// Mapped zero-filled where the kernel chooses, apart; read-only (a store is
/// SIGSEGV `SEGV_ACCERR` at that LWP, at that address, and changes nothing), no
/// access, back; unmapped (`SEGV_MAPERR`; unmapping nothing is fine); fixed into a
/// hole and over a mapping; every page back in the pool, by `munmap` and after.
fn map_protect_unmap() -> TestResult {
    let free = M::page_stats().free;
    let s = new_space()?;
    ensure_eq!(reap(start(&s, map_protect_unmap_main, 0)?)?, WaitStatus::Exited(0));
    drop(s);
    ensure_eq!(M::page_stats().free, free);
    Ok(())
}

fn bad_arguments_main(_: u64) {
    let free = avail();
    let top = stack_top(0);
    let fixed = ANON | MAP_FIXED;
    for (what, r, want) in [
        ("len 0", mmap(0, 0, RW, ANON), Errno::EINVAL),
        ("prot 8", mmap(0, P, 8, ANON), Errno::EINVAL),
        ("no type", mmap(0, P, RW, MAP_ANON), Errno::EINVAL),
        ("shared", mmap(0, P, RW, MAP_SHARED | MAP_ANON), Errno::ENOTSUP),
        ("a flag", mmap(0, P, RW, ANON | 0x400), Errno::EINVAL),
        ("fd -1", mmap(0, P, RW, MAP_PRIVATE), Errno::EBADF),
        ("misaligned", mmap(0x6000_0100, P, RW, fixed), Errno::EINVAL),
        ("past 2^43", mmap(USER_LIMIT - P, 2 * P, RW, fixed), Errno::ENOMEM),
        ("the stack", mmap(top - P, P, RW, fixed), Errno::EINVAL),
        ("its room", mmap(top - 2 * P, P, RW, fixed), Errno::EINVAL),
        ("schedctl", mmap(SC_BASE, P, RW, fixed), Errno::EINVAL),
        ("more than there is", mmap(0, 1 << 40, RW, ANON), Errno::ENOMEM),
    ] {
        assert_eq!(r, Err(errno(want)), "mmap, {what}");
    }
    for (what, r, want) in [
        ("munmap misaligned", munmap(0x6000_0100, P), Errno::EINVAL),
        ("munmap len 0", munmap(0x6000_0000, 0), Errno::EINVAL),
        ("munmap past 2^43", munmap(USER_LIMIT - P, 2 * P), Errno::EINVAL),
        ("munmap the stack", munmap(top - P, P), Errno::EINVAL),
        ("mprotect nothing", mprotect(0x6000_0000, P, PROT_READ), Errno::ENOMEM),
        ("mprotect prot 8", mprotect(0x6000_0000, P, 8), Errno::EINVAL),
        ("mprotect the stack", mprotect(top - P, P, PROT_READ), Errno::EINVAL),
        ("mprotect past 2^43", mprotect(USER_LIMIT - P, 2 * P, PROT_READ), Errno::ENOMEM),
        ("sysconfig 0", sys(SYS_SYSCONFIG, &[0]).map(drop), Errno::EINVAL),
    ] {
        assert_eq!(r, Err(errno(want)), "{what}");
    }
    assert_eq!(avail(), free, "a refused call took pages");
    super::exit(0)
}

/// Every bad argument's error, and nothing taken from the pool.
fn bad_arguments() -> TestResult {
    let s = new_space()?;
    ensure_eq!(reap(start(&s, bad_arguments_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

/// Rounds each LWP makes of `lwps_map_and_unmap_at_once`.
const ROUNDS: u64 = 100;

/// One LWP: maps pages of its own, writes its mark in each, reads them all back,
/// unmaps them; `ROUNDS` times.
fn mapper(i: u64) {
    for round in 0..ROUNDS {
        let n = 1 + (round + i) % 3;
        let a = mmap(0, n * P, RW, ANON).expect("mmap");
        for k in 0..n {
            assert_eq!(user::load_u64(a + k * P), 0, "LWP {i}: a page held something");
            user::store_u64(a + k * P, (i << 32) | round);
        }
        for k in 0..n {
            assert_eq!(user::load_u64(a + k * P), (i << 32) | round, "LWP {i}: a page changed");
        }
        munmap(a, n * P).expect("munmap");
    }
    lwp_exit()
}

fn lwps_main(_: u64) {
    let free = avail();
    let ids: Vec<u64> = (0..MAX_WORKERS).map(|i| worker_arg(i, mapper, i)).collect();
    for id in ids {
        wait_lwp(id);
    }
    assert_eq!(avail(), free, "pages not given back");
    super::exit(0)
}

/// LWPs of one process map, write, read back and unmap pages at once (on every
/// CPU the machine has): each finds its own pages zeroed and keeping its marks,
/// and the pool gets every page back.
fn lwps_map_and_unmap_at_once() -> TestResult {
    let s = new_space()?;
    ensure_eq!(reap(start(&s, lwps_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn exhaust_main(_: u64) {
    let free = avail();
    let (mut n, mut pages) = (0, 0);
    for len in [64 * P, P] {
        loop {
            match mmap(0, len, RW, ANON) {
                Ok(a) => {
                    user::store_u64(a + len - 8, a);
                    user::store_u64(ADDRS + 16 * n, a);
                    user::store_u64(ADDRS + 16 * n + 8, len);
                    n += 1;
                    pages += len / P;
                }
                Err(e) => {
                    assert_eq!(e, errno(Errno::ENOMEM), "mmap with the pool empty");
                    break;
                }
            }
        }
    }
    assert_eq!((avail(), pages), (0, free), "every free page mapped");
    user::store_u64(FREE, free);
    // The heap is apart: an LWP can still be made.
    wait_lwp(worker_arg(0, super::exits_at_once, 0));
    for k in 0..n {
        let (a, len) = (user::load_u64(ADDRS + 16 * k), user::load_u64(ADDRS + 16 * k + 8));
        assert_eq!(user::load_u64(a + len - 8), a, "a mapping lost its word");
        munmap(a, len).expect("munmap");
    }
    assert_eq!(avail(), free, "pages not given back");
    super::exit(0)
}

/// Memory exhausted from user mode: `ENOMEM`, never a panic, once every free page
/// of the pool is mapped; an LWP can still be made (the kernel heap is apart);
/// `munmap` gives every page back.
fn memory_exhausted() -> TestResult {
    let free = M::page_stats().free;
    let s = new_space()?;
    let left = M::page_stats().free;
    ensure_eq!(reap(start(&s, exhaust_main, 0)?)?, WaitStatus::Exited(0));
    // The program mapped every page its space had left free.
    ensure_eq!(super::peek(&s, FREE)?, left as u64);
    drop(s);
    ensure_eq!(M::page_stats().free, free);
    Ok(())
}

fn stack_main(limit: u64) {
    catch(SIGSEGV, h_skip, SA_SIGINFO);
    let (top, free) = (stack_top(0), avail());
    let low = top - P;
    // Below the stack: it grows down to the page touched.
    user::store_u64(low - 8, 1);
    assert_eq!(avail(), free - 1, "one page below the stack");
    user::store_u64(low - 10 * P, 2);
    assert_eq!(avail(), free - 10, "ten pages below the stack");
    assert_eq!(user::load_u64(low - 8), 1);
    // A result the kernel writes below it grows it too (`lwp_times`: 6 words).
    let at = low - 20 * P;
    assert_eq!(sys(SYS_LWP_TIMES, &[at]), Ok((0, 0)), "lwp_times below the stack");
    assert_eq!(avail(), free - 20);
    // At the limit it grows; below it (the guard page) it faults.
    let floor = top - limit;
    user::store_u64(floor, 3);
    assert_eq!(avail(), free - (limit / P - 1), "all the way to the limit");
    user::store_u64(floor - 8, 4);
    assert_eq!(last_signal(), (SIGSEGV, me(), SEGV_MAPERR, floor - 8));
    assert_eq!(avail(), free - (limit / P - 1), "past the limit it grew");
    let a = mmap(0, 4 * P, RW, ANON).expect("mmap");
    user::store_u64(a, 5);
    // Exits with the stack grown and the mapping still there.
    super::exit(0)
}

/// The main stack grows when touched below it, by the program or by the kernel
/// writing a result there, page by page down to the stack limit, and no further:
/// the guard page below is SIGSEGV `SEGV_MAPERR` there. Once the process is gone,
/// its grown stack and its mapping are back in the pool.
fn stack_grows_to_its_limit() -> TestResult {
    let free = M::page_stats().free;
    let s = new_space()?;
    let limit = rctl::stack_max();
    ensure_eq!(reap(start(&s, stack_main, limit)?)?, WaitStatus::Exited(0));
    drop(s);
    ensure_eq!(M::page_stats().free, free);
    Ok(())
}
