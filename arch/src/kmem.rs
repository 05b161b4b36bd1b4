//! Kernel memory the portable kernel can ask for and be refused: allocation that
//! fails with a value instead of a panic, the heap's figures, and a way to make an
//! allocation fail on purpose.
//!
//! `alloc`'s `Box::new` and `Vec::push` treat an empty heap as the end of the
//! kernel. Whatever a user program can make the kernel allocate must instead come
//! back as `ENOMEM`/`EAGAIN` to that program, so the kernel allocates those objects
//! through [`try_box`] (and `Vec::try_reserve`), which report the failure.
//!
//! When the heap has no block for an allocation, the allocator first asks the
//! kernel to give back what its caches hold ([`set_reclaim`]: cached threads'
//! stacks, say) and tries once more; only then does the allocation fail. So the
//! caches shrink when memory runs low, whoever is allocating.
//!
//! Two rules make allocation failures testable and rare:
//!
//! * **No allocation under a spin lock.** A `DispLock` is held with interrupts off
//!   for a few instructions; an allocation there would stretch that and could fail
//!   where nothing can be undone. The kernel brackets every `DispLock` with
//!   [`Machine::alloc_forbid`]/[`Machine::alloc_permit`], and in debug builds
//!   both machines' allocators panic on an allocation inside one.
//! * **Injected failures.** [`fail_nth`] makes the `n`th allocation of the calling
//!   thread from now on fail (return null), so that a test can walk every
//!   allocation of a creating path and check that each failure is handled cleanly.
//!
//! [`Machine::alloc_forbid`]: crate::Machine::alloc_forbid
//! [`Machine::alloc_permit`]: crate::Machine::alloc_permit

use alloc::boxed::Box;
use core::alloc::Layout;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// An allocation was refused: the heap had no block of that size (or one was
/// refused on purpose, [`fail_nth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError;

/// The kernel heap's figures, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// All the heap has.
    pub total: usize,
    /// In use by live blocks.
    pub used: usize,
}

impl HeapStats {
    /// What is left.
    pub fn free(&self) -> usize {
        self.total.saturating_sub(self.used)
    }
}

/// The page pool's figures, in pages of [`crate::PAGE_SIZE`] bytes: the memory user
/// address spaces are made of (their pages, shared pages and page tables), apart
/// from the kernel heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageStats {
    /// All the pool has.
    pub total: usize,
    /// Not in use.
    pub free: usize,
}

impl PageStats {
    /// In use.
    pub fn used(&self) -> usize {
        self.total.saturating_sub(self.free)
    }
}

/// Moves `value` into a new heap block, or gives it back if there is no memory.
pub fn try_box<T>(value: T) -> Result<Box<T>, T> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value));
    }
    // SAFETY: the layout has a nonzero size.
    let p = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if p.is_null() {
        return Err(value);
    }
    // SAFETY: `p` is a fresh block with `T`'s layout, written once here and then
    // owned by the Box, which frees it with the same layout (the global allocator).
    unsafe {
        p.write(value);
        Ok(Box::from_raw(p))
    }
}

/// A zero-filled heap block of `len` items of a type for which all zeros is a valid
/// value (numbers), or `AllocError`.
pub fn try_zeroed_slice(len: usize) -> Result<Box<[u128]>, AllocError> {
    let layout = Layout::array::<u128>(len).map_err(|_| AllocError)?;
    if layout.size() == 0 {
        return Ok(Box::new([]));
    }
    // SAFETY: the layout has a nonzero size.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) }.cast::<u128>();
    if p.is_null() {
        return Err(AllocError);
    }
    // SAFETY: `p` is a zeroed block of `len` u128 (all zeros is a valid u128), owned
    // from here by the Box, which frees it with this same layout.
    Ok(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(p, len)) })
}

/// The thread (its current-thread register value) whose allocations [`fail_nth`]
/// counts, 0 for none, and how many of its allocations are still to succeed.
static FAIL_THREAD: AtomicUsize = AtomicUsize::new(0);
static FAIL_COUNTDOWN: AtomicU64 = AtomicU64::new(0);
/// Allocations refused on purpose since boot.
static INJECTED: AtomicU64 = AtomicU64::new(0);

/// Makes the `n`th allocation (1 = the next one: a heap block, or pages of the
/// page pool) made by the thread whose current-thread register value is `thread`
/// fail, once; `n` = 0 disarms.
/// The kernel calls this through its own wrapper with the current thread.
pub fn fail_nth(thread: usize, n: u64) {
    FAIL_THREAD.store(0, Ordering::SeqCst);
    FAIL_COUNTDOWN.store(n, Ordering::SeqCst);
    if n != 0 {
        FAIL_THREAD.store(thread, Ordering::SeqCst);
    }
}

/// Allocations refused on purpose since boot.
pub fn failures_injected() -> u64 {
    INJECTED.load(Ordering::SeqCst)
}

/// Called by the machine's allocator for each allocation by thread `thread`:
/// whether to refuse this one.
#[inline]
pub(crate) fn inject(thread: usize) -> bool {
    if FAIL_THREAD.load(Ordering::Relaxed) != thread || thread == 0 {
        return false;
    }
    if FAIL_COUNTDOWN.fetch_sub(1, Ordering::SeqCst) != 1 {
        return false;
    }
    FAIL_THREAD.store(0, Ordering::SeqCst);
    INJECTED.fetch_add(1, Ordering::SeqCst);
    true
}

/// What the kernel runs to give memory back when the heap is short (`set_reclaim`).
static RECLAIM: spin::Once<fn() -> usize> = spin::Once::new();
/// Set while a reclaim runs: an allocation failing meanwhile is not retried.
static RECLAIMING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Registers `f`, which gives back the memory the kernel's caches hold and returns
/// how many blocks it freed, as what an allocator runs when the heap is short. `f`
/// must not allocate; it runs wherever an allocation failed (but never under a
/// spin lock that forbids allocation).
pub fn set_reclaim(f: fn() -> usize) {
    RECLAIM.call_once(|| f);
}

/// Called by the machine's allocator when the heap has no block, outside its own
/// lock: runs the kernel's reclaim, once at a time; true if it freed anything
/// (worth a second try).
pub(crate) fn reclaim() -> bool {
    let Some(f) = RECLAIM.get() else { return false };
    if RECLAIMING.swap(true, Ordering::AcqRel) {
        return false;
    }
    let freed = f();
    RECLAIMING.store(false, Ordering::Release);
    freed > 0
}

/// The last allocation the heap could not satisfy (not an injected one): its size
/// and alignment, and the heap's use when it failed. For the panic report.
static LAST_FAILED: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

/// Called by the machine's allocator when it has no block for `layout`.
pub(crate) fn note_failure(layout: Layout, used: usize) {
    LAST_FAILED[0].store(layout.size(), Ordering::Relaxed);
    LAST_FAILED[1].store(layout.align(), Ordering::Relaxed);
    LAST_FAILED[2].store(used, Ordering::Relaxed);
}

/// The last allocation the heap could not satisfy: (size, align, bytes in use then).
pub fn last_failure() -> Option<(usize, usize, usize)> {
    let size = LAST_FAILED[0].load(Ordering::Relaxed);
    (size != 0).then(|| {
        (size, LAST_FAILED[1].load(Ordering::Relaxed), LAST_FAILED[2].load(Ordering::Relaxed))
    })
}

/// Called by the machine's allocator for every allocation, with how many spin locks
/// that forbid allocation its CPU holds: in debug builds, an allocation inside one
/// is a kernel bug and panics, naming the size, after `clear` has reset the count
/// (the panic itself may allocate). Nothing in release builds.
#[inline]
pub(crate) fn check_allowed(depth: u32, layout: Layout, clear: impl FnOnce()) {
    if cfg!(debug_assertions) && depth != 0 {
        clear();
        forbidden_panic(layout)
    }
}

#[cold]
#[inline(never)]
fn forbidden_panic(layout: Layout) -> ! {
    panic!(
        "allocation of {} bytes (align {}) while a DispLock is held: allocate before locking",
        layout.size(),
        layout.align()
    )
}

/// A reference-counted heap block whose making can fail: what `alloc::sync::Arc`
/// is, with a fallible constructor (`Arc`'s are not stable). Shared handles give
/// shared access; [`Shared::get_mut`] gives exclusive access to the only one.
pub struct Shared<T> {
    block: core::ptr::NonNull<SharedBlock<T>>,
}

#[repr(C)]
struct SharedBlock<T> {
    refs: core::sync::atomic::AtomicUsize,
    value: T,
}

// SAFETY: as `Arc<T>`: handles on several threads give them all `&T`, and the last
// one dropped (on any thread) drops the `T`.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// A new block whose value `init` writes in place (it must write every field),
    /// or `AllocError` if there is no memory.
    ///
    /// # Safety
    ///
    /// `init` must leave a valid `T` at the pointer it is given.
    pub unsafe fn try_new_with(init: impl FnOnce(*mut T)) -> Result<Shared<T>, AllocError> {
        let layout = Layout::new::<SharedBlock<T>>();
        // SAFETY: the block has a nonzero size (its count).
        let p = unsafe { alloc::alloc::alloc(layout) }.cast::<SharedBlock<T>>();
        let block = core::ptr::NonNull::new(p).ok_or(AllocError)?;
        // SAFETY: `p` is a fresh block of this layout; the count is written here and
        // the value by `init`, as the caller promises, before any reference exists.
        unsafe {
            (&raw mut (*p).refs).write(core::sync::atomic::AtomicUsize::new(1));
            init(&raw mut (*p).value);
        }
        Ok(Shared { block })
    }

    /// A new block holding `value`, or `value` back if there is no memory.
    pub fn try_new(value: T) -> Result<Shared<T>, T> {
        let mut value = Some(value);
        // SAFETY: the closure writes the whole value; `value` is consumed only if
        // the block was made.
        let made = unsafe {
            Shared::try_new_with(|p: *mut T| p.write(value.take().expect("written once")))
        };
        made.map_err(|_| value.take().expect("not written: no block was made"))
    }

    /// Another handle to the same block.
    pub fn share(&self) -> Shared<T> {
        self.counter().fetch_add(1, Ordering::Relaxed);
        Shared { block: self.block }
    }

    /// The value, if this is the only handle.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.counter().load(Ordering::Acquire) != 1 {
            return None;
        }
        // SAFETY: this is the only handle (count 1, and `&mut self` keeps it so), so
        // nothing else reaches the value.
        Some(unsafe { &mut (*self.block.as_ptr()).value })
    }

    /// Whether two handles are to the same block.
    pub fn ptr_eq(a: &Shared<T>, b: &Shared<T>) -> bool {
        a.block == b.block
    }

    /// Whether two optional handles are to the same block, or both none: one
    /// comparison of the two words.
    #[inline(always)]
    pub fn opt_ptr_eq(a: &Option<Shared<T>>, b: &Option<Shared<T>>) -> bool {
        let block =
            |s: &Option<Shared<T>>| s.as_ref().map_or(core::ptr::null_mut(), |s| s.block.as_ptr());
        block(a) == block(b)
    }

    /// Gives up the handle for a raw pointer to its block, which keeps the handle's
    /// count (for a handle kept in an atomic word: `UserFrame`).
    pub fn into_raw(self) -> *mut () {
        let p = self.block.as_ptr().cast::<()>();
        core::mem::forget(self);
        p
    }

    /// The handle [`Shared::into_raw`] gave up.
    ///
    /// # Safety
    ///
    /// `p` came from `into_raw` of a `Shared<T>`, and its count is given back once.
    pub unsafe fn from_raw(p: *mut ()) -> Shared<T> {
        // SAFETY: the caller's promise: a live block's pointer, never null.
        Shared { block: unsafe { core::ptr::NonNull::new_unchecked(p.cast()) } }
    }

    /// The value of the block `p` points at (from [`Shared::into_raw`]).
    ///
    /// # Safety
    ///
    /// `p` came from `into_raw` of a `Shared<T>` whose count is held for as long as
    /// the reference lives, and nothing has `&mut T` meanwhile.
    pub unsafe fn raw_value<'a>(p: *mut ()) -> &'a T {
        // SAFETY: the caller's promise: the block lives, shared.
        unsafe { &(*p.cast::<SharedBlock<T>>()).value }
    }

    /// Another handle to the block `p` points at (from [`Shared::into_raw`]).
    ///
    /// # Safety
    ///
    /// As for [`Shared::raw_value`].
    pub unsafe fn raw_share(p: *mut ()) -> Shared<T> {
        // SAFETY: the caller's promise: the block lives while this counts it too.
        unsafe { (*p.cast::<SharedBlock<T>>()).refs.fetch_add(1, Ordering::Relaxed) };
        // SAFETY: the count just taken is the new handle's.
        unsafe { Shared::from_raw(p) }
    }

    fn counter(&self) -> &core::sync::atomic::AtomicUsize {
        // SAFETY: the block lives while any handle does (this one, at least).
        unsafe { &(*self.block.as_ptr()).refs }
    }
}

impl<T> Clone for Shared<T> {
    /// Another handle to the same block (as `Arc::clone`).
    fn clone(&self) -> Shared<T> {
        self.share()
    }
}

impl<T> core::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: as in `counter`; handles only ever give shared access but through
        // `get_mut`, which requires being the only one.
        unsafe { &(*self.block.as_ptr()).value }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if self.counter().fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: this was the last handle: nothing else reaches the block, which
        // `try_new_with` allocated with this layout and a valid value in it.
        unsafe {
            core::ptr::drop_in_place(&raw mut (*self.block.as_ptr()).value);
            alloc::alloc::dealloc(self.block.as_ptr().cast(), Layout::new::<SharedBlock<T>>());
        }
    }
}
