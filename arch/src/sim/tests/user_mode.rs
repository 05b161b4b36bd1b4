//! User mode: address spaces, user programs and their traps, `copyin`/`copyout`, and
//! interrupts taken in user code. A small fake kernel runs LWPs one after another
//! from CPU 0's boot thread: each maps its own address space and enters user mode;
//! the kernel's `user_trap` logs what reaches it and ends an LWP by leaving its
//! address space and switching back to the boot thread for good.

use super::*;
use crate::kmem::Shared;
use crate::uregs::{reg, NGREG, USER_LIMIT};
use crate::{FaultKind, MapError, Prot, SysEnt, SysPath, SysRet, UserRegs, UserTrap, PAGE_SIZE};
use percpu::Cpu;
use user::TEXT;

/// Every LWP's address space: `TEXT` (with the rights the test asks for), a
/// read-write page `DATA`, a read-only page `RO` right above it; `HOLE` is unmapped.
const DATA: u64 = 0x2000_0000;
const RO: u64 = DATA + PAGE_SIZE;
const HOLE: u64 = 0x3000_0000;

/// The fake kernel's system calls.
const SYS_ECHO: u64 = 300;
const SYS_FAIL: u64 = 301;
const SYS_CHECK: u64 = 302;
const SYS_COPY: u64 = 303;
/// Ends the process: what a program that returns makes ([`RUNTIME`]).
const SYS_EXIT: u64 = 304;

/// The fake kernel's user runtime, which the machine plays for programs that
/// return. These tests register no signal handlers.
const RUNTIME: user::Runtime = user::Runtime {
    exit: (SYS_EXIT, [0; 6]),
    setcontext: |_| panic!("a signal handler returned in a test that registers none"),
};

/// Serialises the tests of this module, which share statics.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What one boot runs: the upcalls, the text page's rights, and the LWPs in
/// order, each as (pc, argument).
struct Plan {
    upcalls: &'static Upcalls,
    text: Prot,
    lwps: Vec<(u64, u64)>,
}
static PLAN: spin::Mutex<Option<Plan>> = spin::Mutex::new(None);
static BOOT_T: StaticRef<T> = StaticRef::none();

/// One upcall that reached the fake kernel, with the registers as it found them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Event {
    lwp: usize,
    why: UserTrap,
    regs: UserRegs,
    intr_enabled: bool,
}
static LOG: spin::Mutex<Vec<Event>> = spin::Mutex::new(Vec::new());

/// Host locks are taken with interrupts disabled (the `sim` rules).
fn locked<R>(f: impl FnOnce() -> R) -> R {
    let was = Sim::intr_disable();
    let r = f();
    Sim::intr_restore(was);
    r
}

fn record(frame: &UserFrame, why: UserTrap) {
    let e = Event { lwp: me().id, why, regs: frame.load(), intr_enabled: Sim::intr_enabled() };
    locked(|| LOG.lock().push(e));
}

/// The running LWP's address space.
fn space() -> Shared<AddrSpace> {
    user::current_space().expect("the running LWP's address space")
}

/// Address spaces alive on this machine.
fn live_spaces() -> usize {
    Cpu::expect("live_spaces").boot().spaces.load(SeqCst)
}

fn no_clock(_from_user: bool) {
    panic!("no clock runs in this test");
}

/// Ends the running LWP: it leaves its address space, and its thread switches
/// back to the boot thread for good.
fn lwp_end() -> ! {
    Sim::user_exit();
    let boot = BOOT_T.get().unwrap();
    Sim::intr_disable();
    Sim::switch(&me().ctx, &boot.ctx, boot);
    unreachable!("an ended LWP was resumed");
}

/// Maps an LWP's address space.
fn new_space(text: Prot) -> Shared<AddrSpace> {
    let space = Shared::try_new(Sim::as_create().unwrap()).expect("memory for a space");
    if !text.is_empty() {
        Sim::as_map(&space, TEXT.start, PAGE_SIZE, text).unwrap();
    }
    Sim::as_map(&space, DATA, PAGE_SIZE, Prot::READ | Prot::WRITE).unwrap();
    Sim::as_map(&space, RO, PAGE_SIZE, Prot::READ).unwrap();
    space
}

fn lwp_entry(i: usize) -> ! {
    Sim::intr_restore(true);
    let (text, (pc, arg)) = locked(|| {
        let plan = PLAN.lock();
        let plan = plan.as_ref().unwrap();
        (plan.text, plan.lwps[i])
    });
    let space = new_space(text);
    Sim::user_enter(space, UserFrame::new(&UserRegs::for_entry(pc, DATA + PAGE_SIZE, arg)))
}

/// CPU 0 runs the plan's LWPs one after another; the other CPUs idle.
fn main(cpu: usize) {
    if cpu != 0 {
        loop {
            Sim::idle_wait();
        }
    }
    let t0 = boot_thread(0);
    BOOT_T.set(Some(t0));
    let (upcalls, n) = {
        let plan = PLAN.lock();
        let plan = plan.as_ref().unwrap();
        (plan.upcalls, plan.lwps.len())
    };
    Sim::set_upcalls(upcalls);
    // A thread with no address space copies nothing: before its first switch
    // (the CPU knows no context of it) and after.
    let mut buf = [0u8; 4];
    let unmapped = Err(Fault { kind: FaultKind::Unmapped, addr: DATA });
    assert_eq!(Sim::copyin(DATA, &mut buf), unmapped);
    for i in 0..n {
        switch_to(thread(i + 1, lwp_entry, i));
        // Back here: the LWP has ended, and its address space is gone with it.
        assert_eq!(live_spaces(), 0, "LWP {} left its address space alive", i + 1);
        assert_eq!(Sim::copyout(DATA, &buf), unmapped);
    }
    Sim::halt(true)
}

/// Runs `lwps` under `upcalls` on each test machine (parallel, seeded on one
/// and two CPUs); returns each run's log.
fn run_lwps(upcalls: &'static Upcalls, text: Prot, lwps: &[(u64, u64)]) -> Vec<Vec<Event>> {
    [config(1), seeded(1, 3), seeded(2, 4)]
        .into_iter()
        .map(|cfg| {
            *PLAN.lock() = Some(Plan { upcalls, text, lwps: lwps.to_vec() });
            LOG.lock().clear();
            let cfg = SimConfig { user_runtime: Some(RUNTIME), ..cfg };
            let out = run(cfg.clone(), main);
            assert!(out.success && !out.timed_out, "{cfg:?}: {out:?}");
            LOG.lock().clone()
        })
        .collect()
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn syscalls(log: &[Event]) -> Vec<u64> {
    log.iter().filter(|e| e.why == UserTrap::Syscall).map(|e| e.regs.r[reg::G1]).collect()
}

fn faults(log: &[Event]) -> Vec<Fault> {
    log.iter()
        .filter_map(|e| match e.why {
            UserTrap::Fault(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn programs_get_distinct_aligned_pcs_in_the_text_page() {
    fn a(_: u64) {}
    fn b(_: u64) {
        black_box(1);
    }
    let (pa, pb) = (user::program(a), user::program(b));
    assert_eq!(user::program(a), pa, "a program registered twice keeps its pc");
    assert_ne!(pa, pb);
    for pc in [pa, pb] {
        assert!(TEXT.contains(&pc) && pc % 4 == 0, "pc {pc:#x}");
    }
}

#[test]
fn address_spaces_map_read_and_write_and_refuse_bad_ranges() {
    fn main(_cpu: usize) {
        let s = Sim::as_create().unwrap();
        let rw = Prot::READ | Prot::WRITE;
        for (va, len) in [
            (DATA + 8, PAGE_SIZE),
            (DATA, 8),
            (DATA, 0),
            (USER_LIMIT, PAGE_SIZE),
            (USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE),
            (u64::MAX - PAGE_SIZE + 1, PAGE_SIZE),
        ] {
            assert_eq!(
                Sim::as_map(&s, va, len, rw),
                Err(MapError::BadRange),
                "map {va:#x}+{len:#x}"
            );
        }
        Sim::as_map(&s, DATA, 2 * PAGE_SIZE, rw).unwrap();
        Sim::as_map(&s, USER_LIMIT - PAGE_SIZE, PAGE_SIZE, Prot::READ).unwrap();
        assert_eq!(Sim::as_map(&s, DATA - PAGE_SIZE, 2 * PAGE_SIZE, rw), Err(MapError::Overlap));
        assert_eq!(Sim::as_map(&s, DATA + PAGE_SIZE, PAGE_SIZE, rw), Err(MapError::Overlap));
        assert_eq!(
            Sim::as_map(&s, 1 << 40, 1 << 40, rw),
            Err(MapError::NoMemory),
            "more than the machine's memory"
        );

        // Fresh pages are zero; a write may cross pages; the kernel ignores rights.
        let mut buf = [0xffu8; 16];
        Sim::as_read(&s, DATA + PAGE_SIZE - 8, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        Sim::as_write(&s, DATA + PAGE_SIZE - 3, b"across").unwrap();
        Sim::as_write(&s, USER_LIMIT - 2, b"ro").unwrap();
        Sim::as_read(&s, DATA + PAGE_SIZE - 4, &mut buf[..8]).unwrap();
        assert_eq!(&buf[..8], b"\0across\0");
        Sim::as_read(&s, USER_LIMIT - 2, &mut buf[..2]).unwrap();
        assert_eq!(&buf[..2], b"ro");

        // All or nothing: a write running into an unmapped page writes nothing.
        assert_eq!(Sim::as_write(&s, DATA + 2 * PAGE_SIZE - 2, b"xyz"), Err(MapError::Unmapped));
        Sim::as_read(&s, DATA + 2 * PAGE_SIZE - 2, &mut buf[..2]).unwrap();
        assert_eq!(&buf[..2], b"\0\0");
        assert_eq!(Sim::as_read(&s, HOLE, &mut buf), Err(MapError::Unmapped));
        assert_eq!(Sim::as_read(&s, USER_LIMIT - 2, &mut buf[..3]), Err(MapError::BadRange));
        assert_eq!(Sim::as_write(&s, u64::MAX - 1, b"xyz"), Err(MapError::BadRange));

        // As many live spaces as the MMU has user contexts; a dropped one is free.
        let mut more: Vec<AddrSpace> = (1..8191).map(|_| Sim::as_create().unwrap()).collect();
        assert_eq!(Sim::as_create().map(drop), Err(MapError::NoMemory));
        more.pop();
        more.push(Sim::as_create().unwrap());
        drop(s);
        more.push(Sim::as_create().unwrap());
        assert_eq!(Sim::as_create().map(drop), Err(MapError::NoMemory));
        Sim::halt(true)
    }
    assert!(boot(config(1), main));
}

/// The page pool: a boot of 16 pages. Mapping takes from it (all or nothing), unmapping
/// and dropping give back, a `fork` child takes nothing (its pages are shared
/// copy-on-write), a shared page counts until its last handle goes; unmapping skips
/// holes and shared pages; a protection change needs every page mapped; none of it is
/// the heap's.
#[test]
fn address_spaces_take_their_pages_from_the_pool() {
    fn main(_cpu: usize) {
        let (rw, pool) = (Prot::READ | Prot::WRITE, || Sim::page_stats());
        assert_eq!((pool().total, pool().free), (16, 16));
        let heap = Sim::heap_stats().used;
        let s = Sim::as_create().unwrap();
        Sim::as_map(&s, DATA, 4 * PAGE_SIZE, rw).unwrap();
        assert_eq!(pool().free, 12);
        assert_eq!(Sim::heap_stats().used, heap, "user pages are not the heap's");
        assert_eq!(Sim::as_map(&s, HOLE, 13 * PAGE_SIZE, rw), Err(MapError::NoMemory));
        assert_eq!(pool().free, 12, "a refused map takes nothing");

        let shared = Sim::as_map_shared(&s, HOLE).unwrap();
        assert_eq!(pool().free, 11);
        // Holes and the shared page are skipped; the rest comes back.
        Sim::as_unmap(&s, DATA + PAGE_SIZE, 4 * PAGE_SIZE).unwrap();
        Sim::as_unmap(&s, HOLE, PAGE_SIZE).unwrap();
        assert_eq!(pool().free, 14);
        assert_eq!(Sim::shared_load(&shared, 0), 0);
        let mut b = [0u8; 1];
        Sim::as_read(&s, HOLE, &mut b).unwrap();
        assert_eq!(Sim::as_read(&s, DATA + PAGE_SIZE, &mut b), Err(MapError::Unmapped));
        assert_eq!(Sim::as_unmap(&s, DATA + 8, PAGE_SIZE), Err(MapError::BadRange));

        // Rights change only where every page is the space's own.
        assert_eq!(Sim::as_protect(&s, DATA, 2 * PAGE_SIZE, Prot::READ), Err(MapError::Unmapped));
        assert_eq!(Sim::as_protect(&s, HOLE, PAGE_SIZE, Prot::READ), Err(MapError::Unmapped));
        Sim::as_protect(&s, DATA, PAGE_SIZE, Prot::empty()).unwrap();
        Sim::as_write(&s, DATA, b"k").unwrap();

        // A child shares the space's own pages (not the kernel's shared one).
        let child = Sim::as_fork(&s).unwrap();
        assert_eq!(pool().free, 14);
        assert_eq!(Sim::as_read(&child, HOLE, &mut b), Err(MapError::Unmapped));
        Sim::as_read(&child, DATA, &mut b).unwrap();
        assert_eq!(&b, b"k");
        drop(child);
        assert_eq!(pool().free, 14);
        drop(s);
        assert_eq!(pool().free, 15, "the shared page lives as long as its handle");
        drop(shared);
        assert_eq!(pool().free, 16);
        Sim::halt(true)
    }
    let _g = serial();
    assert!(boot(SimConfig { pool_bytes: 16 * PAGE_SIZE as usize, ..config(1) }, main));
}

/// Copy-on-write (S1, S16): a `fork` child shares every page of its parent; the
/// first write to a page in either space copies it, taking exactly one page of the
/// pool, and the other space does not see it; a page whose other owners are gone
/// is written in place; a page goes back to the pool with its last owner, through
/// a fork of a fork too. With the pool empty, the write fails (`NoMemory`), changes
/// nothing, and succeeds once a page is free.
#[test]
fn a_fork_shares_its_pages_until_one_side_writes() {
    fn main(_cpu: usize) {
        let (rw, free) = (Prot::READ | Prot::WRITE, || Sim::page_stats().free);
        let byte = |s: &AddrSpace, va| {
            let mut b = [0u8; 1];
            Sim::as_read(s, va, &mut b).unwrap();
            b[0]
        };
        let s = Sim::as_create().unwrap();
        Sim::as_map(&s, DATA, 4 * PAGE_SIZE, rw).unwrap();
        for k in 0..4 {
            Sim::as_write(&s, DATA + k * PAGE_SIZE, &[b'a' + k as u8]).unwrap();
        }
        assert_eq!(free(), 12);
        let child = Sim::as_fork(&s).unwrap();
        assert_eq!(free(), 12, "a fork takes no page");
        assert_eq!(byte(&child, DATA + 3 * PAGE_SIZE), b'd');

        Sim::as_write(&child, DATA, b"C").unwrap();
        assert_eq!(free(), 11, "the child's write copied one page");
        assert_eq!((byte(&s, DATA), byte(&child, DATA)), (b'a', b'C'));
        Sim::as_write(&child, DATA + 1, b"D").unwrap();
        assert_eq!(free(), 11, "the child's copy is its own");
        Sim::as_write(&s, DATA, b"P").unwrap();
        assert_eq!(free(), 11, "the parent's page has no other owner left");
        Sim::as_write(&s, DATA + PAGE_SIZE, b"Q").unwrap();
        assert_eq!(free(), 10);
        assert_eq!((byte(&s, DATA + PAGE_SIZE), byte(&child, DATA + PAGE_SIZE)), (b'Q', b'b'));

        // A fork of the fork: its pages go with their last owner.
        let grandchild = Sim::as_fork(&child).unwrap();
        drop(child);
        assert_eq!(free(), 10, "every page of the child is still owned");
        assert_eq!(byte(&grandchild, DATA), b'C');
        drop(grandchild);
        assert_eq!(free(), 12, "the child's copy and the page the parent copied went");

        // No page for a copy: the write fails, then succeeds once there is one.
        let child = Sim::as_fork(&s).unwrap();
        let filler = Sim::as_create().unwrap();
        Sim::as_map(&filler, DATA, 12 * PAGE_SIZE, rw).unwrap();
        assert_eq!(free(), 0);
        assert_eq!(Sim::as_write(&child, DATA + 2 * PAGE_SIZE, b"X"), Err(MapError::NoMemory));
        assert_eq!(
            (byte(&s, DATA + 2 * PAGE_SIZE), byte(&child, DATA + 2 * PAGE_SIZE)),
            (b'c', b'c')
        );
        Sim::as_unmap(&filler, DATA, PAGE_SIZE).unwrap();
        Sim::as_write(&child, DATA + 2 * PAGE_SIZE, b"X").unwrap();
        assert_eq!(free(), 0);
        assert_eq!(
            (byte(&s, DATA + 2 * PAGE_SIZE), byte(&child, DATA + 2 * PAGE_SIZE)),
            (b'c', b'X')
        );
        drop((filler, child, s));
        assert_eq!(free(), 16);
        Sim::halt(true)
    }
    let _g = serial();
    assert!(boot(SimConfig { pool_bytes: 16 * PAGE_SIZE as usize, ..config(1) }, main));
}

#[test]
fn a_system_call_reaches_the_kernel_with_its_registers_and_returns_its_result() {
    fn program(arg: u64) {
        assert_eq!(arg, 77);
        assert_eq!(user::syscall(SYS_ECHO, [1, 2, 3, 4, 5, 6]), Ok((21, 6)));
        assert_eq!(user::syscall(SYS_FAIL, [13, 0, 0, 0, 0, 0]), Err(13));
        assert_eq!(user::syscall(SYS_ECHO, [0, 0, 0, 0, 0, 9]), Ok((9, 9)));
        // Falls off its end: the machine makes the exit call.
    }
    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        record(regs, why);
        assert_eq!(why, UserTrap::Syscall);
        match regs.sysnum() {
            SYS_ECHO => regs.set_rval((0..6).map(|i| regs.sysarg(i)).sum(), regs.sysarg(5)),
            SYS_FAIL => regs.set_error(regs.sysarg(0)),
            SYS_EXIT => lwp_end(),
            n => panic!("system call {n}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: no_clock,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    let _s = serial();
    let pc = user::program(program);
    let entry = UserRegs::for_entry(pc, DATA + PAGE_SIZE, 77);
    for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 77)]) {
        assert_eq!(syscalls(&log), [SYS_ECHO, SYS_FAIL, SYS_ECHO, SYS_EXIT]);
        assert!(log.iter().all(|e| e.lwp == 1 && e.intr_enabled), "{log:?}");
        let first = log[0].regs;
        assert_eq!(&first.r[reg::O0..reg::O0 + 6], &[1, 2, 3, 4, 5, 6]);
        // The rest is what user_enter started with.
        assert_eq!(first.sp(), entry.sp());
        for e in &log {
            // Every `ta 0x40` is made at the program's own address: the kernel
            // finds `pc` past it.
            assert_eq!((e.regs.pc(), e.regs.r[reg::NPC]), (pc + 4, pc + 8));
        }
        assert_eq!(log[3].regs.r[reg::O0], 0, "exit status");
    }
}

/// Calls the table marks `fast` are made by the machine itself: the handler runs
/// with the arguments (and interrupts on, or off for `FastIntrOff`), its results
/// (or error, with the carry) come back, the kernel's `user_trap` never sees the
/// call, and the frame counts it. A bit the handler sets in the thread's
/// pending-work word brings a `Return` before user code goes on; a call that is
/// not `fast` still goes to `user_trap`.
#[test]
fn fast_system_calls_are_made_by_the_machine_and_pending_work_follows() {
    const SYS_FAST_ADD: u64 = 2;
    const SYS_FAST_FAIL: u64 = 3;
    const SYS_FAST_ASK: u64 = 4;
    const SYS_FAST_ADD_INTR_OFF: u64 = 5;
    const ASKED: u32 = 1;
    static FAST_CALLS: AtomicU64 = AtomicU64::new(0);
    // Its second result: whether interrupts were on in the handler (`SysPath`).
    extern "C" fn add(a0: u64, a1: u64, _: u64, _: u64, _: u64, _: u64) -> SysRet {
        FAST_CALLS.fetch_add(1, SeqCst);
        SysRet { r0: a0 + a1, r1: u64::from(Sim::intr_enabled()), err: 0 }
    }
    extern "C" fn fail(a0: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> SysRet {
        FAST_CALLS.fetch_add(1, SeqCst);
        SysRet { r0: 0, r1: 0, err: a0 }
    }
    extern "C" fn ask(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> SysRet {
        FAST_CALLS.fetch_add(1, SeqCst);
        me().pending.set(ASKED);
        SysRet { r0: 7, r1: 0, err: 0 }
    }
    static TABLE: [SysEnt; 6] = [
        SysEnt { call: fail, path: SysPath::General },
        SysEnt { call: fail, path: SysPath::General },
        SysEnt { call: add, path: SysPath::Fast },
        SysEnt { call: fail, path: SysPath::Fast },
        SysEnt { call: ask, path: SysPath::Fast },
        SysEnt { call: add, path: SysPath::FastIntrOff },
    ];
    fn program(_: u64) {
        assert_eq!(user::syscall(SYS_FAST_ADD, [40, 2, 0, 0, 0, 9]), Ok((42, 1)));
        assert_eq!(user::syscall(SYS_FAST_ADD_INTR_OFF, [1, 2, 0, 0, 0, 0]), Ok((3, 0)));
        assert_eq!(user::syscall(SYS_FAST_FAIL, [13, 0, 0, 0, 0, 0]), Err(13));
        assert_eq!(user::syscall(SYS_FAST_ASK, [0; 6]), Ok((7, 0)));
        assert_eq!(user::syscall(SYS_ECHO, [5, 0, 0, 0, 0, 0]), Ok((5, 0)));
    }
    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        record(regs, why);
        match why {
            UserTrap::Return => {
                assert_eq!(me().pending.take(ASKED), ASKED, "a Return nobody asked for");
            }
            UserTrap::Syscall if regs.sysnum() == SYS_ECHO => {
                assert_eq!(regs.syscalls(), 5, "every call is counted, fast or not");
                regs.set_rval(regs.sysarg(0), 0)
            }
            UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
            _ => panic!("{why:?}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: no_clock,
        poke_intr: unexpected_poke,
        sysent: &TABLE,
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    let _s = serial();
    let pc = user::program(program);
    FAST_CALLS.store(0, SeqCst);
    for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 0)]) {
        let whys: Vec<UserTrap> = log.iter().map(|e| e.why).collect();
        assert_eq!(whys, [UserTrap::Return, UserTrap::Syscall, UserTrap::Syscall], "{log:?}");
        // The Return came with the registers of the call that asked for it.
        assert_eq!(log[0].regs.r[reg::G1], SYS_FAST_ASK);
        assert_eq!(log[0].regs.r[reg::O0], 7);
        assert_eq!(syscalls(&log), [SYS_ECHO, SYS_EXIT]);
    }
    assert_eq!(FAST_CALLS.load(SeqCst), 4 * 3, "four fast calls in each of three runs");
}

#[test]
fn user_enter_delivers_a_fault_for_a_pc_it_cannot_fetch() {
    fn program(arg: u64) {
        assert_eq!(user::syscall(SYS_ECHO, [arg, 0, 0, 0, 0, 0]), Ok((arg, 0)));
    }
    static GOOD_PC: AtomicU64 = AtomicU64::new(0);
    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        record(regs, why);
        match why {
            // The text was not loaded yet: load it, and the fetch is retried.
            UserTrap::Fault(Fault { kind: FaultKind::Unmapped, addr }) => {
                Sim::as_map(&space(), addr & !(PAGE_SIZE - 1), PAGE_SIZE, Prot::READ | Prot::EXEC)
                    .unwrap();
            }
            UserTrap::Fault(Fault { kind: FaultKind::Protection, .. }) => lwp_end(),
            // Somewhere else to go.
            UserTrap::Fault(_) => {
                regs.store(&UserRegs::for_entry(GOOD_PC.load(SeqCst), DATA + PAGE_SIZE, 5))
            }
            UserTrap::Syscall if regs.sysnum() == SYS_ECHO => regs.set_rval(regs.sysarg(0), 0),
            UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
            _ => panic!("{why:?}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: no_clock,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    let _s = serial();
    let pc = user::program(program);
    GOOD_PC.store(pc, SeqCst);
    let fault = |kind, addr| Fault { kind, addr };
    // (text rights, starting pc, the faults, what the program echoed: 0 if it
    // never ran).
    let cases = [
        (Prot::empty(), pc, std::vec![fault(FaultKind::Unmapped, pc)], 1),
        (Prot::READ, pc, std::vec![fault(FaultKind::Protection, pc)], 0),
        (
            Prot::READ | Prot::EXEC,
            pc + 8,
            std::vec![fault(FaultKind::IllegalInstruction, pc + 8)],
            5,
        ),
        (Prot::READ | Prot::EXEC, pc + 2, std::vec![fault(FaultKind::Misaligned, pc + 2)], 5),
        // Mapped on demand, but no program is there: zeros, `illtrap`.
        (
            Prot::READ | Prot::EXEC,
            TEXT.end,
            std::vec![
                fault(FaultKind::Unmapped, TEXT.end),
                fault(FaultKind::IllegalInstruction, TEXT.end)
            ],
            5,
        ),
    ];
    for (text, start, expected, echoed) in cases {
        for log in run_lwps(&UPCALLS, text, &[(start, 1)]) {
            assert_eq!(faults(&log), expected, "{log:?}");
            assert_eq!(log[0].regs.pc(), start);
            assert!(log.iter().all(|e| e.intr_enabled && e.lwp == 1));
            if echoed == 0 {
                assert_eq!(log.len(), 1, "the LWP ran on after its end: {log:?}");
            } else {
                // The fetch was made again, and the program ran.
                assert_eq!(syscalls(&log), [SYS_ECHO, SYS_EXIT], "{log:?}");
                assert_eq!(log[expected.len()].regs.r[reg::O0], echoed);
            }
        }
    }
}

#[test]
fn user_loads_and_stores_check_the_users_rights_and_fault_to_the_kernel() {
    const DEMAND: u64 = 0x4242;
    fn program(case: u64) {
        match case {
            0 => {
                user::store_u64(DATA + 8, 0x0102_0304_0506_0708);
                assert_eq!(user::load_u64(DATA + 8), 0x0102_0304_0506_0708);
                // Big-endian, as on SPARC.
                assert_eq!((user::load_u8(DATA + 8), user::load_u8(DATA + 15)), (1, 8));
                user::store_u8(DATA + 16, 0xab);
                user::store_u32(DATA + 20, 0x1122_3344);
                assert_eq!(
                    (user::load_u32(DATA + 20), user::load_u8(DATA + 23)),
                    (0x1122_3344, 0x44)
                );
                assert_eq!(user::load_u32(DATA + 8), 0x0102_0304);
                assert_eq!(user::load_u64(RO), 0, "a read-only page is readable");
                // The kernel maps the missing page, and the load is retried.
                assert_eq!(user::load_u64(HOLE + 8), DEMAND);
                user::syscall(SYS_CHECK, [0; 6]).unwrap();
            }
            1 => user::store_u64(RO, 5),
            2 => drop(user::load_u64(DATA + 4)),
            3 => drop(user::load_u8(USER_LIMIT + 5)),
            // (Misaligned for 4 bytes, too.)
            6 => drop(user::load_u32(DATA + 2)),
            4 => drop(user::load_u64(u64::MAX - 7)),
            5 => user::fault(FaultKind::DivisionByZero, 0x1234),
            _ => unreachable!(),
        }
    }
    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        record(regs, why);
        match why {
            UserTrap::Fault(Fault { kind: FaultKind::Unmapped, addr }) if addr == HOLE + 8 => {
                let s = space();
                Sim::as_map(&s, HOLE, PAGE_SIZE, Prot::READ).unwrap();
                Sim::as_write(&s, HOLE + 8, &DEMAND.to_be_bytes()).unwrap();
            }
            // The kernel moves the pc past the faulting instruction (as a signal
            // handler may): the program goes on after it. (Left where it is, the
            // instruction would be made again.)
            UserTrap::Fault(Fault { kind: FaultKind::DivisionByZero, .. }) => {
                let npc = regs.get(reg::NPC);
                regs.set(reg::PC, npc);
                regs.set(reg::NPC, npc + 4);
            }
            UserTrap::Fault(_) => lwp_end(),
            UserTrap::Syscall if regs.sysnum() == SYS_CHECK => {
                let mut b = [0u8; 16];
                Sim::as_read(&space(), DATA + 8, &mut b).unwrap();
                assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 0xab, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
                regs.set_rval(0, 0);
            }
            UserTrap::Syscall if regs.sysnum() == SYS_EXIT => lwp_end(),
            _ => panic!("{why:?}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: no_clock,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    let _s = serial();
    let pc = user::program(program);
    let lwps: Vec<(u64, u64)> = (0..7).map(|case| (pc, case)).collect();
    for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &lwps) {
        let of = |lwp| log.iter().filter(|e| e.lwp == lwp).copied().collect::<Vec<_>>();
        let fault = |kind, addr| Fault { kind, addr };
        assert_eq!(faults(&of(1)), [fault(FaultKind::Unmapped, HOLE + 8)]);
        assert_eq!(syscalls(&of(1)), [SYS_CHECK, SYS_EXIT]);
        for (lwp, f) in [
            (2, fault(FaultKind::Protection, RO)),
            (3, fault(FaultKind::Misaligned, DATA + 4)),
            (4, fault(FaultKind::Unmapped, USER_LIMIT + 5)),
            (5, fault(FaultKind::Unmapped, u64::MAX - 7)),
        ] {
            assert_eq!(
                of(lwp).iter().map(|e| e.why).collect::<Vec<_>>(),
                [UserTrap::Fault(f)],
                "LWP {lwp}"
            );
        }
        assert_eq!(faults(&of(6)), [fault(FaultKind::DivisionByZero, 0x1234)]);
        assert_eq!(syscalls(&of(6)), [SYS_EXIT], "the program went on after its fault");
        assert_eq!(faults(&of(7)), [fault(FaultKind::Misaligned, DATA + 2)]);
        assert!(log.iter().all(|e| e.intr_enabled));
    }
}

#[test]
fn copyin_and_copyout_use_the_users_rights_and_fail_cleanly() {
    const WO: u64 = RO + 4 * PAGE_SIZE;
    fn program(_: u64) {
        user::syscall(SYS_COPY, [0; 6]).unwrap();
        let bytes = |va: u64, n: u64| (va..va + n).map(user::load_u8).collect::<Vec<u8>>();
        assert_eq!(bytes(DATA + 100, 5), b"hello");
        assert_eq!(bytes(RO - 3, 3), b"abc");
    }
    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        record(regs, why);
        match regs.sysnum() {
            SYS_COPY => {
                let s = space();
                Sim::as_map(&s, WO, PAGE_SIZE, Prot::WRITE).unwrap();
                Sim::as_map(&s, USER_LIMIT - PAGE_SIZE, PAGE_SIZE, Prot::READ | Prot::WRITE)
                    .unwrap();
                let fault = |kind, addr| Err(Fault { kind, addr });
                let mut b = [0u8; 5];
                Sim::copyout(DATA + 100, b"hello").unwrap();
                Sim::copyin(DATA + 100, &mut b).unwrap();
                assert_eq!(&b, b"hello");
                // Readable across DATA and RO, but not writable in RO: then
                // nothing is written.
                Sim::copyout(RO - 3, b"abc").unwrap();
                assert_eq!(Sim::copyout(RO - 3, b"xyzw"), fault(FaultKind::Protection, RO));
                let mut e = [0xffu8; 6];
                Sim::copyin(RO - 3, &mut e).unwrap();
                assert_eq!(&e, b"abc\0\0\0");
                // A write-only page cannot be read.
                Sim::copyout(WO, b"w").unwrap();
                assert_eq!(Sim::copyin(WO, &mut b), fault(FaultKind::Protection, WO));
                // Unmapped, past the end of user space, wrapping round.
                assert_eq!(Sim::copyin(HOLE, &mut b), fault(FaultKind::Unmapped, HOLE));
                assert_eq!(
                    Sim::copyin(RO + PAGE_SIZE - 2, &mut b),
                    fault(FaultKind::Unmapped, RO + PAGE_SIZE)
                );
                assert_eq!(
                    Sim::copyout(USER_LIMIT - 2, b"hello"),
                    fault(FaultKind::Unmapped, USER_LIMIT)
                );
                assert_eq!(
                    Sim::copyin(u64::MAX - 1, &mut b),
                    fault(FaultKind::Unmapped, u64::MAX - 1)
                );
                assert_eq!(Sim::copyin(HOLE, &mut []), Ok(()), "nothing to copy, nothing to fault");
                regs.set_rval(0, 0);
            }
            SYS_EXIT => lwp_end(),
            n => panic!("system call {n}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: no_clock,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    let _s = serial();
    let pc = user::program(program);
    for log in run_lwps(&UPCALLS, Prot::READ | Prot::EXEC, &[(pc, 0), (pc, 0)]) {
        assert_eq!(syscalls(&log), [SYS_COPY, SYS_EXIT, SYS_COPY, SYS_EXIT]);
    }
}

/// One CPU round-robins, at each clock tick, between a kernel thread (the boot
/// thread, spinning in the kernel) and two LWPs, each looping in user code over
/// its own address space. Ticks in user code must say so; the kernel asks for a
/// `Return` in the thread's pending-work word at each of them, which must come
/// before the user code goes on; the kernel thread's ticks never do; and each
/// LWP comes back in user mode, in its own address space, after being switched out.
mod preempted {
    use super::*;

    const ROUNDS: u64 = 3;
    /// The fake kernel's pending-work bit: act on the way back to user mode.
    const PENDING_RETURN: u32 = 1;
    static USER_TICKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
    static KERNEL_TICKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
    static RETURNS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
    /// A tick from user mode awaits its `Return`.
    static OWED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    static CHECKS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

    fn program(id: u64) {
        for i in 0.. {
            let v = id << 32 | i;
            user::store_u64(DATA, v);
            assert_eq!(user::load_u64(DATA), v, "LWP {id} sees another address space");
            user::syscall(SYS_CHECK, [id, v, 0, 0, 0, 0]).unwrap();
        }
    }

    fn tick(from_user: bool) {
        let me = me();
        if from_user {
            assert!(me.id != 0, "a tick in the kernel thread said it came from user mode");
            assert!(!OWED[me.id].swap(true, SeqCst), "two user ticks without a Return between");
            USER_TICKS[me.id].fetch_add(1, SeqCst);
            me.pending.set(PENDING_RETURN);
        } else {
            KERNEL_TICKS[me.id].fetch_add(1, SeqCst);
        }
        let next = me.next.get().unwrap();
        Sim::switch(&me.ctx, &next.ctx, next);
    }

    fn kernel(regs: &UserFrame, why: &UserTrap) {
        let why = *why;
        let id = me().id;
        assert!(Sim::intr_enabled());
        match why {
            UserTrap::Return => {
                assert_eq!(me().pending.take(PENDING_RETURN), PENDING_RETURN);
                assert!(OWED[id].swap(false, SeqCst), "a Return with no user tick before it");
                RETURNS[id].fetch_add(1, SeqCst);
                let done = (0..3).all(|k| {
                    if k == 0 {
                        KERNEL_TICKS[0].load(SeqCst) >= ROUNDS
                    } else {
                        RETURNS[k].load(SeqCst) >= ROUNDS && CHECKS[k].load(SeqCst) > 0
                    }
                });
                if done {
                    Sim::halt(true);
                }
            }
            UserTrap::Syscall if regs.sysnum() == SYS_CHECK => {
                assert!(!OWED[id].load(SeqCst), "user code went on without its Return");
                assert_eq!(regs.sysarg(0), id as u64, "another LWP's registers");
                let mut b = [0u8; 8];
                Sim::copyin(DATA, &mut b).unwrap();
                assert_eq!(
                    u64::from_be_bytes(b),
                    regs.sysarg(1),
                    "the kernel sees another address space"
                );
                CHECKS[id].fetch_add(1, SeqCst);
                regs.set_rval(0, 0);
            }
            _ => panic!("{why:?}"),
        }
    }
    static UPCALLS: Upcalls = Upcalls {
        clock_intr: tick,
        poke_intr: unexpected_poke,
        sysent: &[],
        user_trap: kernel,
        blk_intr: unexpected_blk_intr,
        fatal_trap: unexpected_fatal_trap,
    };
    static PC: AtomicU64 = AtomicU64::new(0);

    fn lwp(id: usize) -> ! {
        Sim::intr_restore(true);
        let space = new_space(Prot::READ | Prot::EXEC);
        Sim::user_enter(
            space,
            UserFrame::new(&UserRegs::for_entry(PC.load(SeqCst), DATA + PAGE_SIZE, id as u64)),
        )
    }

    fn main(_cpu: usize) {
        let t0 = boot_thread(0);
        let (a, b) = (thread(1, lwp, 1), thread(2, lwp, 2));
        t0.next.set(Some(a));
        a.next.set(Some(b));
        b.next.set(Some(t0));
        Sim::set_upcalls(&UPCALLS);
        Sim::clock_start(1000);
        Sim::intr_restore(true);
        loop {
            Sim::relax();
        }
    }

    #[test]
    fn a_tick_in_user_code_is_reported_and_followed_by_return_and_user_mode_survives_a_switch() {
        let _s = serial();
        let pc = user::program(program);
        PC.store(pc, SeqCst);
        for cfg in [config(1), seeded(1, 21), seeded(1, 22)] {
            for k in 0..3 {
                for c in [&USER_TICKS[k], &KERNEL_TICKS[k], &RETURNS[k], &CHECKS[k]] {
                    c.store(0, SeqCst);
                }
                OWED[k].store(false, SeqCst);
            }
            let out = run(cfg.clone(), main);
            assert!(out.success && !out.timed_out, "{cfg:?}: {out:?}");
            for (k, ticks) in USER_TICKS.iter().enumerate().skip(1) {
                assert!(
                    ticks.load(SeqCst) >= ROUNDS,
                    "{cfg:?}: LWP {k} took too few ticks in user code"
                );
            }
            assert_eq!(USER_TICKS[0].load(SeqCst), 0);
        }
    }
}

#[test]
fn a_frame_loads_every_register_as_it_gets_it() {
    fn main(_cpu: usize) {
        // A value of its own in every register, wider than the registers that
        // keep fewer bits (%ccr and %asi 8, %y 32, %fprs none).
        let mut regs = UserRegs { r: core::array::from_fn(|i| 0x0123_4567_89ab_cd00 + i as u64) };
        regs.r[reg::CCR] = 0x1_11;
        regs.r[reg::ASI] = 0x2_82;
        let frame = UserFrame::try_new(&regs).expect("memory");
        let all = frame.load();
        for i in 0..NGREG {
            assert_eq!(all.r[i], frame.get(i), "register {i}: load and get disagree");
        }
        let kept = |i: usize| match i {
            reg::CCR | reg::ASI => regs.r[i] & 0xff,
            reg::Y => regs.r[i] & 0xffff_ffff,
            reg::FPRS => 0,
            _ => regs.r[i],
        };
        for i in 0..NGREG {
            assert_eq!(all.r[i], kept(i), "register {i} did not come back as stored");
        }
        Sim::halt(true)
    }
    assert!(boot(config(1), main));
}
