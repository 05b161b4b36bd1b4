//! User mode on the simulation machine (S1, S3, S5.1, S13, S16): address spaces,
//! each thread's user state, entering user mode, the traps back into the kernel, and
//! `copyin`/`copyout`.
//!
//! The simulation cannot run SPARC code, so a *user program* is a host function that
//! plays one, registered with [`program`], which gives it a fake user `pc` in
//! [`TEXT`]. It follows the ABI the kernel sees on sparc64 (`crate::uregs`):
//!
//! * it starts at `regs.pc()` with `%o0` as its argument, once `user_enter` has
//!   "fetched" its first instruction: the `pc` must be 4-aligned, its page mapped
//!   with [`Prot::EXEC`] in the thread's address space, and a program must be
//!   registered there (an executable page that holds none holds zeros, `illtrap`);
//!   a failed fetch is a [`UserTrap::Fault`] for the kernel;
//! * it talks to the kernel only through [`syscall`] (a `ta 0x40`: `%g1`, `%o0`..`%o5`,
//!   the result in `%o0`/`%o1` or the error number with the carry set) and through
//!   user memory with the user's own rights ([`load_u64`], [`store_u64`], and the
//!   4-byte and byte versions; big-endian, as on SPARC), whose faults go to the
//!   kernel the same way (the access is retried if the kernel returns); [`fault`]
//!   plays any other faulting instruction;
//! * as on sparc64, a system call is made through the kernel's table: a `fast`
//!   entry's handler is called by the machine itself, anything else goes to the
//!   kernel's `user_trap`; every trap saves the registers in the thread's
//!   [`UserFrame`] (the one `user_enter` was given) and returns with what is there;
//!   and before going back to user code the machine tests the thread's pending-work
//!   word, calling `user_trap` with `Return` while a kernel bit of it is set;
//! * a program that returns falls off its end: the machine makes the system call
//!   that `_start` makes on sparc64, [`Runtime::exit`] (`exit(0)`), which ends the
//!   whole process (an LWP's program that should end only its LWP calls
//!   `_lwp_exit` itself);
//! * its `pc` is its own address, the one [`program`] (or [`handler`]) gave it:
//!   every trap it makes is made there, whatever the `pc` the last one left — the
//!   kernel finds a system call's `pc` past the trap, 4 bytes on, and a fault's on
//!   the faulting instruction (the code's address: no `pc` ever walks into another
//!   program's or handler's);
//! * a *signal handler* is a host function too, registered with [`handler`] (its
//!   own fake `pc`): when the kernel points a thread's registers at one (a signal
//!   to deliver, `signal::sendsig`), the machine calls it with `%o0`..`%o2` —
//!   `(sig, &siginfo, &ucontext)` — on the interrupted program's host stack, in
//!   user mode; when it returns, the machine makes the system call that the user
//!   runtime's trampoline makes on sparc64, [`Runtime::setcontext`]
//!   (`setcontext(&ucontext)`), which puts the interrupted registers back. The
//!   machine then goes on where the resumed `pc` says: the interrupted code at
//!   the instruction it trapped on (a faulting one is made again, a system call
//!   the kernel backed up for a restart is made again), or just past it (a system
//!   call's return; a faulting instruction the handler skipped: a load then
//!   yields 0). A handler diverted to from an interrupt runs at the program's
//!   next machine call, before it. A handler that ends its LWP or process never
//!   returns.
//!
//! While a program runs, its CPU is in user mode (a per-CPU flag). Each thread's
//! address space and user frame are kept in its [`Context`](super::Context), so
//! they go with it from CPU to CPU. An interrupt taken in user mode is reported to
//! the kernel as such (`clock_intr(true)`) and is followed by the pending-work
//! test, the kernel's chance to stop or end the LWP before its user code goes on;
//! the interrupt's frame remembers that it came from user mode, so a thread
//! preempted there comes back in user mode when it is switched back in, on whatever
//! CPU (`intr`).
//!
//! What user programs must do: run with interrupts enabled (they do, as user code
//! always does); use no host locks nor thread-locals (a program may be preempted and
//! migrate to another host thread at any instruction in the parallel mode; the
//! allocator is fine); and, in the seeded mode, reach the machine (a system call or a
//! memory access) in any loop that waits for another LWP, since those calls are
//! user code's scheduling points. A trap whose upcall never returns (the LWP exits)
//! abandons the program's host frames, as a thread's stack is abandoned at exit. A
//! `pc` the kernel moves anywhere but to a handler or to where the program can go
//! on (see above) is an illegal instruction there, as on SPARC a jump into no code
//! is a fault.

use alloc::collections::BTreeMap;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::boxed::Box;
use std::sync::Arc;
use std::vec::Vec;

use super::percpu::{host_critical, host_machine, Cpu};
use super::Point;
use crate::kmem::Shared;
use crate::uregs::{reg, SysPath, USER_LIMIT};
use crate::{
    Fault, FaultKind, FpRegs, MapError, PendingWork, Prot, UserFrame, UserTrap, UserWindow,
    UserWindows, PAGE_SIZE,
};

/// Where registered programs live: one text page, which a test maps with
/// [`Prot::EXEC`] (the first program is at `TEXT.start`).
pub const TEXT: Range<u64> = 0x1000_0000..0x1000_0000 + PAGE_SIZE;
/// Each program's fake code is this long, so that its `pc` names it alone.
const PROGRAM_STRIDE: u64 = 16;
/// How many programs fit in the text page.
const MAX_PROGRAMS: usize = (PAGE_SIZE / PROGRAM_STRIDE) as usize;

/// Live address spaces per boot: as many as UltraSPARC has user MMU contexts (8192,
/// less context 0, the kernel's).
const MAX_SPACES: usize = 8191;

/// A signal handler: `(sig, &siginfo or null, &ucontext)`.
pub type Handler = fn(u64, u64, u64);

/// A system call as user code makes it: the call number (`%g1`) and `%o0`..`%o5`.
pub type Call = (u64, [u64; 6]);

/// The system calls the machine makes for user code where, on sparc64, the user
/// runtime's own code makes them (`_start` and the signal trampoline of
/// `sim-tests/user`): here programs and handlers are host functions that return, and
/// the machine makes the call at that return. The calls are the kernel's ABI, which
/// the machine does not know: whoever boots it gives them
/// ([`SimConfig::user_runtime`](super::SimConfig::user_runtime)).
#[derive(Clone, Copy, Debug)]
pub struct Runtime {
    /// What a program that returns makes: `exit(0)`, which ends its process.
    pub exit: Call,
    /// What a handler that returns makes, given its `&ucontext` (its third
    /// argument): `setcontext` of it, which puts the interrupted registers back.
    pub setcontext: fn(ucp: u64) -> Call,
}

/// The boot's [`Runtime`], which user code that returns needs.
fn runtime(cpu: Cpu) -> Runtime {
    cpu.boot().user_runtime.expect(
        "sim: user code returned on a machine booted without a user runtime \
         (SimConfig::user_runtime)",
    )
}

/// What a fake `pc` in [`TEXT`] holds.
#[derive(Clone, Copy)]
enum Entry {
    /// A program (or an LWP's start function): `f(%o0)`.
    Program(fn(u64)),
    /// A signal handler.
    Handler(Handler),
}

impl Entry {
    /// The host function's address: a function is registered once.
    fn addr(self) -> usize {
        match self {
            Entry::Program(f) => f as usize,
            Entry::Handler(f) => f as usize,
        }
    }
}

/// The programs and handlers, by index: process-wide, as each is a host function.
static PROGRAMS: spin::Mutex<Vec<Entry>> = spin::Mutex::new(Vec::new());

/// Registers `e`; returns its user `pc`, in [`TEXT`].
fn register(e: Entry) -> u64 {
    let index = host_critical(|| {
        let mut programs = PROGRAMS.lock();
        // Function addresses compare as numbers: a function is registered once.
        match programs.iter().position(|g| g.addr() == e.addr()) {
            Some(i) => i,
            None => {
                assert!(
                    programs.len() < MAX_PROGRAMS,
                    "sim: more than {MAX_PROGRAMS} user programs"
                );
                programs.push(e);
                programs.len() - 1
            }
        }
    });
    TEXT.start + index as u64 * PROGRAM_STRIDE
}

/// Registers `f` as a user program; returns its user `pc`, in [`TEXT`]. Registering
/// the same function again returns the same `pc`. Callable from anywhere.
pub fn program(f: fn(u64)) -> u64 {
    register(Entry::Program(f))
}

/// Registers `f` as a signal handler (see the module comment); returns its user
/// `pc`, the address a disposition gives the kernel. Callable from anywhere.
pub fn handler(f: Handler) -> u64 {
    register(Entry::Handler(f))
}

/// What is registered at `pc`, if anything.
fn program_at(pc: u64) -> Option<Entry> {
    if !TEXT.contains(&pc) || !(pc - TEXT.start).is_multiple_of(PROGRAM_STRIDE) {
        return None;
    }
    let index = ((pc - TEXT.start) / PROGRAM_STRIDE) as usize;
    host_critical(|| PROGRAMS.lock().get(index).copied())
}

/// The page pool of a boot (`Machine::page_stats`): how many pages user address
/// spaces may hold at once, and how many they do not. The pages themselves are
/// host memory of their own, allocated as the machine's, outside the kernel heap
/// (the heap is the kernel's objects only, as on sparc64, whose pool is the RAM
/// beyond the kernel's window); a space takes its pages' count before it makes
/// them, all or none, and each page ([`PageFrame`]) gives its count back when its
/// last owner lets it go.
pub(super) struct Pool {
    total: usize,
    free: AtomicUsize,
}

impl Pool {
    /// A pool of `total` pages, all free.
    pub(super) fn new(total: usize) -> Pool {
        Pool { total, free: AtomicUsize::new(total) }
    }

    /// Takes `n` pages: false, taking none, if there are not that many (or a test
    /// refuses this allocation: `kmem::fail_nth`).
    fn take(&self, n: usize) -> bool {
        if n != 0 && super::host_alloc::refuse_injected() {
            return false;
        }
        self.free.fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| f.checked_sub(n)).is_ok()
    }

    /// Gives back `n` pages [`Pool::take`] took.
    fn give(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }

    pub(super) fn stats(&self) -> crate::PageStats {
        crate::PageStats { total: self.total, free: self.free.load(Ordering::Acquire) }
    }
}

/// A zeroed page of host memory, the machine's own (not the kernel heap's).
fn page_bytes() -> Box<[u8]> {
    host_machine(|| std::vec![0; PAGE_SIZE as usize].into_boxed_slice())
}

/// One page of user memory.
struct Page {
    prot: Prot,
    mem: PageMem,
}

/// Where a page's bytes are.
enum PageMem {
    /// The space's own, or shared copy-on-write with the spaces forked from it or
    /// it from (as on sparc64: `as_fork` copies no page; a write to a page another
    /// space still has copies it first).
    Own(Arc<PageFrame>),
    /// A page it shares with the kernel.
    Shared(Shared<SharedPage>),
}

/// A page of the pool: its bytes behind a host lock (which user accesses take
/// inside the space's), counted in the pool from its making (its maker took the
/// count) until its last owner lets it go.
struct PageFrame {
    bytes: spin::Mutex<Box<[u8]>>,
    /// The pool its page is counted in.
    pool: Arc<Pool>,
}

impl PageFrame {
    /// A page whose count its caller took from `pool`, holding `bytes`.
    fn new(pool: &Arc<Pool>, bytes: Box<[u8]>) -> PageFrame {
        PageFrame { bytes: spin::Mutex::new(bytes), pool: Arc::clone(pool) }
    }
}

impl Drop for PageFrame {
    fn drop(&mut self) {
        self.pool.give(1);
    }
}

/// A page shared by the kernel and one user address space (`Machine::SharedPage`):
/// the kernel's word accesses take its lock alone. Words are big-endian, as all
/// user memory.
pub struct SharedPage {
    frame: PageFrame,
}

impl SharedPage {
    /// `Machine::shared_load`.
    pub(super) fn load(&self, offset: usize) -> u32 {
        host_critical(|| {
            let b = self.frame.bytes.lock();
            u32::from_be_bytes(b[offset..offset + 4].try_into().expect("four bytes"))
        })
    }

    /// `Machine::shared_store`.
    pub(super) fn store(&self, offset: usize, v: u32) {
        host_critical(|| {
            self.frame.bytes.lock()[offset..offset + 4].copy_from_slice(&v.to_be_bytes())
        })
    }
}

/// A user address space (`Machine::AddrSpace`): pages of host memory with their
/// rights, by user virtual address. Its lock is a host lock, taken with interrupts
/// disabled.
pub struct AddrSpace {
    /// Its pages (the machine's own memory, as page tables are on sparc64).
    pages: spin::Mutex<BTreeMap<u64, Page>>,
    /// The boot's count of live spaces, given back on drop.
    live: Arc<AtomicUsize>,
    /// The boot's page pool, where its own pages are counted.
    pool: Arc<Pool>,
}

impl core::fmt::Debug for AddrSpace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let pages = host_critical(|| self.pages.lock().len());
        f.debug_struct("AddrSpace").field("pages", &pages).finish()
    }
}

impl Drop for AddrSpace {
    fn drop(&mut self) {
        // Each page gives its count back with its last owner.
        let pages = core::mem::take(self.pages.get_mut());
        host_machine(|| drop(pages));
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The page that holds `va`.
fn page_of(va: u64) -> u64 {
    va & !(PAGE_SIZE - 1)
}

/// `va..va + len` piece by piece, one per page: (address, offset in the range,
/// length). Lazy: a walk that stops at the first address past `USER_LIMIT` never
/// reaches one that would overflow.
fn pieces(va: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0;
    core::iter::from_fn(move || {
        if done == len {
            return None;
        }
        let addr = va.wrapping_add(done as u64);
        let n = ((PAGE_SIZE - addr % PAGE_SIZE) as usize).min(len - done);
        let piece = (addr, done, n);
        done += n;
        Some(piece)
    })
}

/// Whether `va..va + len` lies in user space (`len` bytes, none past `USER_LIMIT`).
fn in_user_range(va: u64, len: u64) -> bool {
    va.checked_add(len).is_some_and(|end| end <= USER_LIMIT)
}

/// `BadRange` unless `va..va + len` is whole pages, not empty, in user space.
fn check_range(va: u64, len: u64) -> Result<(), MapError> {
    let ok = len != 0
        && va.is_multiple_of(PAGE_SIZE)
        && len.is_multiple_of(PAGE_SIZE)
        && in_user_range(va, len);
    ok.then_some(()).ok_or(MapError::BadRange)
}

impl AddrSpace {
    /// `Machine::as_create`.
    pub(super) fn new(cpu: Cpu) -> Result<AddrSpace, MapError> {
        let live = Arc::clone(&cpu.boot().spaces);
        live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_SPACES).then_some(n + 1)
        })
        .map_err(|_| MapError::NoMemory)?;
        let pool = Arc::clone(&cpu.boot().pool);
        Ok(AddrSpace { pages: spin::Mutex::new(BTreeMap::new()), live, pool })
    }

    /// `Machine::as_map`: the pages' count is taken from the pool first, all or
    /// none.
    pub(super) fn map(&self, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        check_range(va, len)?;
        host_machine(|| {
            let mut pages = self.pages.lock();
            if pages.range(va..va + len).next().is_some() {
                return Err(MapError::Overlap);
            }
            if !self.pool.take((len / PAGE_SIZE) as usize) {
                return Err(MapError::NoMemory);
            }
            for page in (va..va + len).step_by(PAGE_SIZE as usize) {
                let frame = Arc::new(PageFrame::new(&self.pool, page_bytes()));
                pages.insert(page, Page { prot, mem: PageMem::Own(frame) });
            }
            Ok(())
        })
    }

    /// `Machine::as_unmap`: a page goes back to the pool with its last owner.
    pub(super) fn unmap(&self, va: u64, len: u64) -> Result<(), MapError> {
        check_range(va, len)?;
        host_machine(|| {
            let mut pages = self.pages.lock();
            let own: Vec<u64> = pages
                .range(va..va + len)
                .filter(|(_, p)| matches!(p.mem, PageMem::Own(_)))
                .map(|(&at, _)| at)
                .collect();
            for at in &own {
                pages.remove(at);
            }
        });
        Ok(())
    }

    /// `Machine::as_protect`.
    pub(super) fn protect(&self, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        check_range(va, len)?;
        host_critical(|| {
            let mut pages = self.pages.lock();
            let own = |at| pages.get(&at).is_some_and(|p| matches!(p.mem, PageMem::Own(_)));
            if !(va..va + len).step_by(PAGE_SIZE as usize).all(own) {
                return Err(MapError::Unmapped);
            }
            for (_, page) in pages.range_mut(va..va + len) {
                page.prot = prot;
            }
            Ok(())
        })
    }

    /// `Machine::as_fork`: the child has each page the space owns, shared
    /// copy-on-write (the first write in either space copies it: [`AddrSpace::access`]);
    /// no page is taken from the pool.
    pub(super) fn fork(&self, cpu: Cpu) -> Result<AddrSpace, MapError> {
        let child = AddrSpace::new(cpu)?;
        host_machine(|| {
            let pages = self.pages.lock();
            let copy = pages
                .iter()
                .filter_map(|(&va, page)| match &page.mem {
                    PageMem::Own(frame) => {
                        Some((va, Page { prot: page.prot, mem: PageMem::Own(Arc::clone(frame)) }))
                    }
                    PageMem::Shared(_) => None,
                })
                .collect();
            *child.pages.lock() = copy;
        });
        Ok(child)
    }

    /// `Machine::as_map_shared`.
    pub(super) fn map_shared(&self, va: u64) -> Result<Shared<SharedPage>, MapError> {
        check_range(va, PAGE_SIZE)?;
        if !self.pool.take(1) {
            return Err(MapError::NoMemory);
        }
        // The frame gives the count back if it cannot be had.
        let frame = PageFrame::new(&self.pool, page_bytes());
        // SAFETY: `init` writes the field.
        let page =
            unsafe { Shared::try_new_with(|p: *mut SharedPage| p.write(SharedPage { frame })) }
                .map_err(|_| MapError::NoMemory)?;
        host_machine(|| {
            let mut pages = self.pages.lock();
            if pages.contains_key(&va) {
                return Err(MapError::Overlap);
            }
            let mem = PageMem::Shared(page.share());
            pages.insert(va, Page { prot: Prot::READ | Prot::WRITE, mem });
            Ok(())
        })?;
        Ok(page)
    }

    /// `Machine::as_write`: the kernel's access, whatever the rights (a page it
    /// shares copy-on-write is copied first: `NoMemory` if the pool has no page).
    pub(super) fn write(&self, va: u64, bytes: &[u8]) -> Result<(), MapError> {
        self.kernel_access(va, bytes.len(), true, |off, page| {
            page.copy_from_slice(&bytes[off..off + page.len()])
        })
    }

    /// `Machine::as_read`: the kernel's access, whatever the rights.
    pub(super) fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), MapError> {
        self.kernel_access(va, buf.len(), false, |off, page| {
            buf[off..off + page.len()].copy_from_slice(page)
        })
    }

    fn kernel_access(
        &self,
        va: u64,
        len: usize,
        write: bool,
        f: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), MapError> {
        if !in_user_range(va, len as u64) {
            return Err(MapError::BadRange);
        }
        // Without rights to check, only a copy-on-write copy that found no page is
        // a protection fault.
        self.access(va, len, Prot::empty(), write, f).map_err(|fault| match fault.kind {
            FaultKind::Protection => MapError::NoMemory,
            _ => MapError::Unmapped,
        })
    }

    /// Checks that every byte of `va..va + len` is mapped with at least the rights
    /// `need` (addresses past `USER_LIMIT` are unmapped), and only then hands each
    /// piece of it to `f` with its offset in the range: all or nothing. An access
    /// that `write`s makes each page the space's alone first (copy-on-write): with
    /// no page left in the pool for a copy, it is a protection fault at that page,
    /// as on sparc64. `f` runs under the lock, with interrupts disabled.
    fn access(
        &self,
        va: u64,
        len: usize,
        need: Prot,
        write: bool,
        mut f: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), Fault> {
        host_critical(|| {
            let mut pages = self.pages.lock();
            for (addr, _, _) in pieces(va, len) {
                let kind = match pages.get(&page_of(addr)) {
                    _ if addr >= USER_LIMIT => FaultKind::Unmapped,
                    None => FaultKind::Unmapped,
                    Some(page) if !page.prot.contains(need) => FaultKind::Protection,
                    Some(_) => continue,
                };
                return Err(Fault { kind, addr });
            }
            for (addr, _, _) in pieces(va, len).filter(|_| write) {
                let page = pages.get_mut(&page_of(addr)).expect("sim: a page checked just now");
                if !self.unshare(page) {
                    return Err(Fault { kind: FaultKind::Protection, addr });
                }
            }
            for (addr, off, n) in pieces(va, len) {
                let page = pages.get_mut(&page_of(addr)).expect("sim: a page checked just now");
                let at = (addr % PAGE_SIZE) as usize;
                match &mut page.mem {
                    PageMem::Own(frame) => f(off, &mut frame.bytes.lock()[at..at + n]),
                    PageMem::Shared(shared) => f(off, &mut shared.frame.bytes.lock()[at..at + n]),
                }
            }
            Ok(())
        })
    }

    /// Makes `page` the space's alone: a copy, counted in the pool, if another
    /// space still has it (the old one loses an owner); false if the pool has no
    /// page for the copy. The space's lock is held: only this space can give the
    /// page another owner (by a fork), so a page found unshared stays so.
    fn unshare(&self, page: &mut Page) -> bool {
        let PageMem::Own(frame) = &mut page.mem else { return true };
        if Arc::strong_count(frame) == 1 {
            return true;
        }
        if !self.pool.take(1) {
            return false;
        }
        host_machine(|| {
            let bytes = frame.bytes.lock().clone();
            drop(core::mem::replace(frame, Arc::new(PageFrame::new(&self.pool, bytes))));
        });
        true
    }

    /// What fetching the instruction at `pc` finds: the program or handler there,
    /// or the fault.
    fn fetch(&self, pc: u64) -> Result<Entry, Fault> {
        if !pc.is_multiple_of(4) {
            return Err(Fault { kind: FaultKind::Misaligned, addr: pc });
        }
        self.access(pc, 4, Prot::EXEC, false, |_, _| {})?;
        program_at(pc).ok_or(Fault { kind: FaultKind::IllegalInstruction, addr: pc })
    }
}

/// What the simulation keeps in an LWP's frame besides its registers: its
/// floating-point registers as a `ucontext_t` gave them (it has no register windows
/// to buffer, and its programs' floating point is the host's: there is no FPU
/// state to switch, only the one a signal frame carries to keep).
pub struct MachFrame {
    fp: spin::Mutex<Option<FpRegs>>,
}

impl MachFrame {
    /// Makes the uninitialised `at` a machine part, with no FP registers.
    ///
    /// # Safety
    ///
    /// `at` is valid for writes.
    pub(crate) unsafe fn init(at: *mut MachFrame) {
        // SAFETY: the caller's promise.
        unsafe { at.write(MachFrame { fp: spin::Mutex::new(None) }) }
    }

    /// Empties the machine part for a new LWP.
    pub(crate) fn reset(&mut self) {
        *self.fp.get_mut() = None;
    }

    /// No register windows here, so none is ever buffered.
    pub(crate) const WINDOWS: usize = 0;

    /// Never any windows to take.
    pub(crate) fn take_windows(&self) -> UserWindows {
        UserWindows::default()
    }

    /// Never any windows.
    pub(crate) fn windows_buffered(&self) -> bool {
        false
    }

    /// Only the empty list fits ([`crate::USER_WBUF_WINDOWS`] is 0 here).
    pub(crate) fn set_windows(&self, windows: &[UserWindow]) {
        debug_assert!(windows.is_empty(), "register windows given to a machine without them");
    }

    /// The most bytes [`MachFrame::save`] writes: a flag, the registers, `%fsr`.
    pub(crate) const IMAGE_MAX: usize = 8 + 33 * 8;

    /// Writes the machine part's image (a word saying whether the LWP has FP
    /// registers, then those and `%fsr`, big-endian). Returns its length.
    pub(crate) fn save(&mut self, out: &mut [u8]) -> usize {
        let fp = *self.fp.get_mut();
        let words = core::iter::once(u64::from(fp.is_some()))
            .chain(fp.iter().flat_map(|r| r.d.into_iter().chain([r.fsr])));
        let mut len = 0;
        for (w, chunk) in words.zip(out.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.to_be_bytes());
            len += 8;
        }
        len
    }

    /// Makes the machine part what `image` says; false if it cannot be one.
    pub(crate) fn restore(&mut self, image: &[u8]) -> bool {
        let mut w =
            image.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()));
        let fp = match (w.next(), image.len()) {
            (Some(0), 8) => None,
            (Some(1), Self::IMAGE_MAX) => {
                let d = core::array::from_fn(|_| w.next().unwrap_or(0));
                Some(FpRegs { d, fsr: w.next().unwrap_or(0) })
            }
            _ => return false,
        };
        *self.fp.get_mut() = fp;
        true
    }

    /// The LWP's FP registers, if a context gave it some.
    pub(crate) fn fpregs(&self, _running: impl FnOnce() -> bool) -> Option<FpRegs> {
        *self.fp.lock()
    }

    /// Keeps `r` as the LWP's FP registers.
    pub(crate) fn set_fpregs(&self, r: &FpRegs, _running: impl FnOnce() -> bool) {
        *self.fp.lock() = Some(*r);
    }

    /// A new LWP's machine part takes the windows `from`'s has buffered: the
    /// simulation has no register windows, so none.
    pub(crate) fn inherit_windows(&self, _from: &MachFrame) {}

    /// Whether `d` is the frame of the LWP running here: the simulation keeps
    /// nothing of it anywhere else, so it never matters.
    pub(crate) fn is_running(_d: &crate::uregs::FrameData) -> bool {
        false
    }
}

/// A thread's user state, in its [`Context`](super::Context). Only the thread itself touches it
/// while it runs (and `reset` while it does not).
///
/// Nothing that holds a reference count may stay on the thread's stack across a
/// trap into the kernel: the kernel may end the LWP there, abandoning the stack
/// and whatever it holds. So the machine reaches the frame by reference, never by
/// a second handle, and takes the space's handle only inside a critical section
/// (where no interrupt, and so no exit, can come).
pub(super) struct UserState {
    /// The address space the thread runs in, from `user_enter` to `user_exit`.
    space: spin::Mutex<Option<Shared<AddrSpace>>>,
    /// Where its user registers live (the LWP's, given by `user_enter`; empty
    /// before, and while its `lwp` structure is swapped out). Changed in place
    /// (`UserFrame::exchange`) by the thread itself in `user_enter`, or while the
    /// thread does not run (`clear`, `Context::user_frame_exchange`): a reference to
    /// it on the thread's stack stays valid. `user_exit` leaves it, as a reference to
    /// it may still be on the stack the exit abandons.
    frame: UserFrame,
    /// The `pc` its user code was last resumed at: if the frame says otherwise at
    /// its next machine call, an interrupt sent it to a signal handler meanwhile.
    at: AtomicU64,
}

impl UserState {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh state per context
    pub(super) const NONE: UserState = UserState {
        space: spin::Mutex::new(None),
        frame: UserFrame::empty(),
        at: AtomicU64::new(0),
    };

    /// Forgets everything: the thread starts afresh (`context_reset`), or its cached
    /// context gives its memory back. The thread does not run.
    pub(super) fn clear(&self) {
        let space = host_critical(|| self.space.lock().take());
        drop(space);
        drop(self.frame.exchange(UserFrame::empty()));
    }

    /// Puts `frame` in the frame slot and returns what was there; the thread does
    /// not run (its context is claimed).
    pub(super) fn exchange_frame(&self, frame: UserFrame) -> UserFrame {
        self.frame.exchange(frame)
    }

    fn space(&self) -> Option<Shared<AddrSpace>> {
        host_critical(|| self.space.lock().clone())
    }

    fn frame(&self) -> &UserFrame {
        assert!(!self.frame.is_empty(), "sim: user mode in a thread without a user frame");
        &self.frame
    }
}

/// The address space the running thread is in: the machine's own tests reach it
/// this way from their fake kernel.
#[cfg(test)]
pub(super) fn current_space() -> Option<Shared<AddrSpace>> {
    state(Cpu::expect("current_space")).and_then(UserState::space)
}

/// The running thread's user state; `None` on a boot thread whose context the CPU
/// does not know (the machine's own tests may not name it: `Machine::context_boot`).
fn state<'a>(cpu: Cpu) -> Option<&'a UserState> {
    // Interrupts off: the word read is the running thread's own CPU's.
    let ctx = cpu.critical(|| cpu.cur_ctx());
    // SAFETY: a nonzero `cur_ctx` is the address of the Context that the running
    // thread — the caller — runs on, stored by the switch that brought it in (and
    // moved along with it by every switch since), whose user state is its first
    // field (`Context` is `#[repr(C)]`; `context` checks it). Its owner can drop it
    // only once no CPU runs it, which is after the caller's machine call: `'a` ends
    // there.
    (ctx != 0).then(|| unsafe { &*(ctx as *const UserState) })
}

/// The running thread's pending-work word.
fn pending(cpu: Cpu) -> &'static PendingWork {
    let t = cpu.critical(|| cpu.curthread());
    assert!(t != 0, "sim: user mode on a CPU with no current thread");
    // SAFETY: the current-thread register holds a `&'static` of the kernel's thread
    // type, whose first field is its pending-work word (`ThreadRegister`).
    unsafe { &*(t as *const PendingWork) }
}

/// Checks that the caller is user code, and passes a scheduling point of the seeded
/// mode, where pending interrupts are taken in user mode. If an interrupt sent the
/// thread to a signal handler meanwhile, the handler runs now, first.
fn user_call(what: &str) -> Cpu {
    let cpu = Cpu::expect(what);
    assert!(cpu.user_mode(), "sim: {what} called outside a user program");
    super::seeded_point(cpu, Point::Call);
    let (frame, at) = code(cpu);
    if diverted(frame, at) {
        cpu.set_user_mode(false);
        // The program goes on with this call, wherever the handler resumes it.
        go_on(cpu, frame, at);
        resume(cpu, frame);
    }
    cpu
}

/// The running thread's frame, and the address of the code it runs (see the
/// module comment: a program's or a handler's own `pc`).
fn code<'a>(cpu: Cpu) -> (&'a UserFrame, u64) {
    let user = state(cpu).expect("sim: user mode on a thread without a context");
    (user.frame(), user.at.load(Ordering::Relaxed))
}

/// Whether the kernel moved the `pc` of code at `at` elsewhere than it can go on
/// (at `at`, or past it): to a signal handler.
fn diverted(frame: &UserFrame, at: u64) -> bool {
    let pc = frame.pc();
    pc != at && pc != at.wrapping_add(4)
}

/// Leaves user mode for a trap of the running code: its registers say it traps at
/// its own address (`pc` = `at`). A handler an interrupt sent it to runs first.
fn trap_at<'a>(cpu: Cpu) -> (&'a UserFrame, u64) {
    cpu.set_user_mode(false);
    let (frame, at) = code(cpu);
    if diverted(frame, at) {
        go_on(cpu, frame, at);
    }
    frame.set(reg::PC, at);
    frame.set(reg::NPC, at.wrapping_add(4));
    (frame, at)
}

/// A fault of the running code (out of user mode, at `trap_at`'s `pc`): the kernel
/// gets it with the thread's frame, then the pending work.
fn trap(cpu: Cpu, frame: &UserFrame, fault: Fault) {
    upcall(cpu, frame, UserTrap::Fault(fault));
    leave_kernel(cpu, frame);
}

/// Runs the signal handler `h`, whose `pc` the kernel put in the thread's registers:
/// in user mode, with `%o0`..`%o2`, its own code's address `pc`; when it returns,
/// the machine makes its `setcontext`. Called out of user mode, and returns so.
fn run_handler(cpu: Cpu, frame: &UserFrame, h: Handler, pc: u64) {
    let (sig, sip, ucp) = (frame.get(reg::O0), frame.get(reg::O0 + 1), frame.get(reg::O0 + 2));
    let user = state(cpu).expect("sim: a handler on a thread without a context");
    let outer = user.at.swap(pc, Ordering::Relaxed);
    resume(cpu, frame);
    h(sig, sip, ucp);
    let (frame, _) = trap_at(cpu);
    let (num, args) = (runtime(cpu).setcontext)(ucp);
    kernel_syscall(cpu, frame, num, args);
    let user = state(cpu).expect("sim: a handler on a thread without a context");
    user.at.store(outer, Ordering::Relaxed);
}

/// Where code at `at` that trapped goes on, once the handlers the kernel sends it
/// to have run: true at `at` itself (the trap is made again), false just past it.
/// A `pc` that is neither and holds no handler holds no code the program can go on
/// with: an illegal instruction there, for the kernel. Called out of user mode, and
/// returns so.
fn go_on(cpu: Cpu, frame: &UserFrame, at: u64) -> bool {
    while diverted(frame, at) {
        let pc = frame.pc();
        match program_at(pc) {
            Some(Entry::Handler(h)) => run_handler(cpu, frame, h, pc),
            _ => trap(cpu, frame, Fault { kind: FaultKind::IllegalInstruction, addr: pc }),
        }
    }
    frame.pc() == at
}

/// Calls the kernel's `user_trap` with interrupts enabled.
fn upcall(cpu: Cpu, frame: &UserFrame, why: UserTrap) {
    let upcalls =
        cpu.boot().upcalls().expect("sim: user mode before the kernel registered its upcalls");
    (upcalls.user_trap)(frame, &why);
}

/// The way back to user code: while the thread's pending-work word has a kernel bit
/// set, the kernel's `Return`; then the thread must still have its address space.
fn leave_kernel(cpu: Cpu, frame: &UserFrame) {
    while pending(cpu).get() & !PendingWork::MACHINE != 0 {
        upcall(cpu, frame, UserTrap::Return);
    }
    let gone = state(cpu).is_none_or(|u| u.space().is_none());
    assert!(!gone, "sim: user_trap returned to user mode after user_exit");
}

/// After an interrupt taken in user mode (`intr`, with the CPU out of user mode and
/// interrupts enabled): the pending work before user code goes on.
pub(super) fn interrupted(cpu: Cpu) {
    let user = state(cpu).expect("sim: an interrupt in user mode on a thread without a context");
    leave_kernel(cpu, user.frame());
}

/// Back to user mode after a trap (`done`/`retry`): interrupts come on as user
/// code runs, and any pending one is taken at once, from user mode.
fn resume(cpu: Cpu, _frame: &UserFrame) {
    cpu.intr_disable();
    cpu.set_user_mode(true);
    cpu.intr_restore(true);
}

/// `Machine::user_enter`.
pub(super) fn enter(space: Shared<AddrSpace>, frame: UserFrame) -> ! {
    let cpu = Cpu::expect("user_enter");
    let user = state(cpu).expect("sim: user_enter on a boot thread that has never switched");
    let old_space = cpu.critical(|| user.space.lock().replace(space));
    drop(old_space);
    drop(user.frame.exchange(frame));
    let frame = user.frame();
    // User mode runs with interrupts on; the fetch below may already trap.
    cpu.intr_restore(true);
    // The first entry is a return to user mode: its pending work first (a signal
    // sent to the LWP before it ever ran is delivered here).
    leave_kernel(cpu, frame);
    let program = loop {
        super::seeded_point(cpu, Point::Call);
        let pc = frame.pc();
        // No reference to the space may stay on this stack across the trap: the
        // kernel may end the LWP there, abandoning it.
        let fetched = cpu.critical(|| {
            user.space()
                .expect("sim: the kernel left user_enter's address space in a fault")
                .fetch(pc)
        });
        match fetched {
            Ok(Entry::Program(program)) => {
                user.at.store(pc, Ordering::Relaxed);
                break program;
            }
            Ok(Entry::Handler(h)) => {
                // Sent to a handler before the program's first instruction: the
                // handler returns to it.
                user.at.store(pc, Ordering::Relaxed);
                run_handler(cpu, frame, h, pc);
            }
            // The kernel's default action ends the process; it may move pc (a
            // handler, or elsewhere): fetch again where it says.
            Err(fault) => trap(cpu, frame, fault),
        }
    };
    let arg = frame.get(reg::O0);
    resume(cpu, frame);
    program(arg);
    // Fell off the end of the program: `_start`'s exit.
    let (num, args) = runtime(cpu).exit;
    let _ = syscall(num, args);
    panic!("sim: the exit system call returned to a user program that had ended");
}

/// `Machine::user_exit`.
/// `Machine::user_exec`: `space` is the thread's from now on (the simulation keeps
/// no windows or FPU state to drop).
pub(super) fn exec(space: Shared<AddrSpace>) {
    let cpu = Cpu::expect("user_exec");
    let Some(user) = state(cpu) else { return };
    let old = cpu.critical(|| user.space.lock().replace(space));
    drop(old);
}

pub(super) fn exit() {
    let cpu = Cpu::expect("user_exit");
    let Some(user) = state(cpu) else { return };
    // The frame stays: see `UserState`.
    let space = cpu.critical(|| user.space.lock().take());
    drop(space);
}

/// `Machine::copyin`.
pub(super) fn copyin(uaddr: u64, buf: &mut [u8]) -> Result<(), Fault> {
    let space = kernel_copy("copyin", uaddr)?;
    space.access(uaddr, buf.len(), Prot::READ, false, |off, page| {
        buf[off..off + page.len()].copy_from_slice(page)
    })
}

/// `Machine::copyout`.
pub(super) fn copyout(uaddr: u64, bytes: &[u8]) -> Result<(), Fault> {
    let space = kernel_copy("copyout", uaddr)?;
    space.access(uaddr, bytes.len(), Prot::WRITE, true, |off, page| {
        page.copy_from_slice(&bytes[off..off + page.len()])
    })
}

/// `Machine::copyin_words`: the bytes, as `copyin` reads them, then each word
/// from big-endian.
pub(super) fn copyin_words<const N: usize>(uaddr: u64) -> Result<[u64; N], Fault> {
    let mut bytes = [[0u8; 8]; N];
    copyin(uaddr, bytes.as_flattened_mut())?;
    Ok(bytes.map(u64::from_be_bytes))
}

/// `Machine::copyout_words`: a piece at a time, each word big-endian.
pub(super) fn copyout_words(uaddr: u64, words: &[u64]) -> Result<(), Fault> {
    const PIECE: usize = 32;
    for (k, piece) in words.chunks(PIECE).enumerate() {
        let mut bytes = [[0u8; 8]; PIECE];
        for (b, w) in bytes.iter_mut().zip(piece) {
            *b = w.to_be_bytes();
        }
        let at = uaddr.wrapping_add((k * PIECE * 8) as u64);
        copyout(at, &bytes.as_flattened()[..piece.len() * 8])?;
    }
    Ok(())
}

/// `Machine::user_cas32`.
pub(super) fn cas32(uaddr: u64, old: u32, new: u32) -> Result<u32, Fault> {
    if !uaddr.is_multiple_of(4) {
        return Err(Fault { kind: FaultKind::Misaligned, addr: uaddr });
    }
    let space = kernel_copy("user_cas32", uaddr)?;
    let mut was = 0;
    space.access(uaddr, 4, Prot::READ | Prot::WRITE, true, |_, word| {
        was = cas_bytes(word, old, new)
    })?;
    Ok(was)
}

/// `cas` on the four bytes of a big-endian word: what they held.
fn cas_bytes(word: &mut [u8], old: u32, new: u32) -> u32 {
    let was = u32::from_be_bytes(word.try_into().expect("a 4-byte word"));
    if was == old {
        word.copy_from_slice(&new.to_be_bytes());
    }
    was
}

/// The address space a copy on behalf of the current thread uses (a scheduling
/// point of the seeded mode, as the kernel's other machine calls are).
fn kernel_copy(what: &str, uaddr: u64) -> Result<Shared<AddrSpace>, Fault> {
    let cpu = Cpu::expect(what);
    super::seeded_point(cpu, Point::Call);
    state(cpu).and_then(UserState::space).ok_or(Fault { kind: FaultKind::Unmapped, addr: uaddr })
}

/// A system call from a user program (`ta 0x40`): `Ok((%o0, %o1))`, or `Err(errno)`.
/// It may not return (the LWP or its process ends).
pub fn syscall(num: u64, args: [u64; 6]) -> Result<(u64, u64), u64> {
    let cpu = user_call("syscall");
    let (frame, at) = trap_at(cpu);
    kernel_syscall(cpu, frame, num, args);
    // Backed up to the trap for a restart (`SA_RESTART`): the trap again, with the
    // registers the kernel put back.
    while go_on(cpu, frame, at) {
        kernel_syscall(cpu, frame, frame.sysnum(), frame.sysargs());
    }
    // The call's registers as user mode gets them back: read before it resumes,
    // where an interrupt may divert the frame to a handler at once (which runs at
    // the program's next call, and whose return puts these registers back).
    let result = if frame.failed() {
        Err(frame.get(reg::O0))
    } else {
        Ok((frame.get(reg::O0), frame.get(reg::O0 + 1)))
    };
    resume(cpu, frame);
    result
}

/// The trap of system call `num` with `args` from the thread's user code, whose
/// registers are in `frame`: the machine calls a `fast` entry itself (as sparc64's
/// trap code does), the kernel gets any other; then the pending work.
fn kernel_syscall(cpu: Cpu, frame: &UserFrame, num: u64, args: [u64; 6]) {
    frame.set(reg::G1, num);
    for (i, &a) in args.iter().enumerate() {
        frame.set(reg::O0 + i, a);
    }
    // Past the trap instruction, as the kernel expects; and counted (S5.4).
    let npc = frame.get(reg::NPC);
    frame.set(reg::PC, npc);
    frame.set(reg::NPC, npc.wrapping_add(4));
    frame.data().sysc.store(frame.syscalls() + 1, Ordering::Relaxed);
    let upcalls =
        cpu.boot().upcalls().expect("sim: user mode before the kernel registered its upcalls");
    match upcalls.sysent.get(num as usize) {
        Some(ent) if ent.path != SysPath::General => {
            let off = ent.path == SysPath::FastIntrOff;
            let was = off.then(|| cpu.intr_disable());
            let r = (ent.call)(args[0], args[1], args[2], args[3], args[4], args[5]);
            if let Some(was) = was {
                cpu.intr_restore(was);
            }
            if r.err == 0 {
                frame.set_rval(r.r0, r.r1);
            } else {
                frame.set_error(r.err);
            }
        }
        _ => upcall(cpu, frame, UserTrap::Syscall),
    }
    leave_kernel(cpu, frame);
}

/// A user program's instruction that faults (an illegal instruction, a division by
/// zero...) at its `pc`: the kernel gets the fault. If the kernel returns — after a
/// handler — the instruction is made again (it faults again), unless the handler
/// skipped it: then the program goes on after it.
pub fn fault(kind: FaultKind, addr: u64) {
    let cpu = user_call("fault");
    let (frame, at) = trap_at(cpu);
    loop {
        trap(cpu, frame, Fault { kind, addr });
        if !go_on(cpu, frame, at) {
            break;
        }
    }
    resume(cpu, frame);
}

/// A user load or store of `len` bytes at `addr` with the rights `need`: `f` does
/// it once the access is allowed. A fault goes to the kernel, and the access is
/// made again once the kernel returns, as the faulting instruction is — unless a
/// handler skipped it (`f` is not called: a load yields 0).
fn user_access(what: &str, addr: u64, len: usize, need: Prot, mut f: impl FnMut(usize, &mut [u8])) {
    loop {
        let cpu = user_call(what);
        let fault = if !addr.is_multiple_of(len as u64) {
            Fault { kind: FaultKind::Misaligned, addr }
        } else {
            // The space's handle lives only inside the critical section (see
            // `UserState`).
            let done = cpu.critical(|| {
                let space = state(cpu)
                    .and_then(UserState::space)
                    .expect("sim: user mode without an address space");
                space.access(addr, len, need, need.contains(Prot::WRITE), &mut f)
            });
            match done {
                Ok(()) => return,
                Err(fault) => fault,
            }
        };
        let (frame, at) = trap_at(cpu);
        trap(cpu, frame, fault);
        let skipped = !go_on(cpu, frame, at);
        resume(cpu, frame);
        if skipped {
            return;
        }
    }
}

fn load<const N: usize>(what: &str, addr: u64) -> [u8; N] {
    let mut v = [0; N];
    user_access(what, addr, N, Prot::READ, |off, b| v[off..off + b.len()].copy_from_slice(b));
    v
}

fn store<const N: usize>(what: &str, addr: u64, v: [u8; N]) {
    user_access(what, addr, N, Prot::WRITE, |off, b| b.copy_from_slice(&v[off..off + b.len()]));
}

/// A user program's 8-byte load (`ldx`), big-endian; `addr` 8-aligned.
pub fn load_u64(addr: u64) -> u64 {
    u64::from_be_bytes(load("load_u64", addr))
}

/// A user program's 8-byte store (`stx`), big-endian; `addr` 8-aligned.
pub fn store_u64(addr: u64, v: u64) {
    store("store_u64", addr, v.to_be_bytes())
}

/// A user program's 4-byte load (`lduw`), big-endian; `addr` 4-aligned.
pub fn load_u32(addr: u64) -> u32 {
    u32::from_be_bytes(load("load_u32", addr))
}

/// A user program's 4-byte store (`stw`), big-endian; `addr` 4-aligned.
pub fn store_u32(addr: u64, v: u32) {
    store("store_u32", addr, v.to_be_bytes())
}

/// A user program's compare-and-swap (`cas`) of the 4-byte word at `addr`
/// (4-aligned): stores `new` if it holds `old`; returns what it held.
pub fn cas_u32(addr: u64, old: u32, new: u32) -> u32 {
    let mut was = 0;
    user_access("cas_u32", addr, 4, Prot::READ | Prot::WRITE, |_, w| was = cas_bytes(w, old, new));
    was
}

/// A user program's byte load (`ldub`).
pub fn load_u8(addr: u64) -> u8 {
    load::<1>("load_u8", addr)[0]
}

/// A user program's byte store (`stb`).
pub fn store_u8(addr: u64, v: u8) {
    store("store_u8", addr, [v])
}
