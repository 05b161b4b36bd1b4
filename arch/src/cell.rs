//! Safe atomic cells for `&'static` references, and the spin lock under everything.
//!
//! The portable kernel links long-lived structures to each other (a thread to its
//! LWP and process, S5.7/S5.8) through fields that are set when a structure is put
//! to use and cleared when it is recycled. `AtomicPtr` would make every read
//! `unsafe`; [`StaticRef`] only ever stores `&'static T`, so reading one back is
//! sound. [`TaggedRef`] is the same with flag bits beside the reference, or a number
//! in its place: the lock word of the kernel's synchronization objects (S8).
//! [`SpinLock`] is the lowest-level lock (`kern::displock`): a data cell behind a
//! spin lock held with interrupts off.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::order::Ordered;
use crate::{Machine, M};

/// A spin lock held with interrupts disabled on the CPU that holds it, around the
/// data it protects. Its word is 32 bits: SPARC V9's `cas` takes or frees it in one
/// instruction, where a byte lock is a loop of word-wide compare-and-swaps there.
/// Waiting spins through the machine's relax hook, as every wait of the kernel must
/// (the seeded simulation lets another CPU run there).
pub struct SpinLock<T> {
    word: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and one guard at most exists at
// a time (the word is 1 from `lock` until the guard drops): the lock hands `T` from
// thread to thread, which `T: Send` allows.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: the lock owns its data.
unsafe impl<T: Send> Send for SpinLock<T> {}

/// The data of a held [`SpinLock`]; dropping it unlocks, then puts the interrupt
/// state of before back (if `lock` changed it).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// Whether interrupts were enabled before `lock`; `None` after `lock_intr_off`.
    intr_was_enabled: Option<bool>,
    /// Not `Send`: the guard holds this CPU's interrupts off.
    _cpu: PhantomData<*const ()>,
}

impl<T> SpinLock<T> {
    /// An unlocked spin lock around `value` (`const`, so it may be a `static`).
    pub const fn new(value: T) -> Self {
        SpinLock { word: AtomicU32::new(0), data: UnsafeCell::new(value) }
    }

    /// Disables interrupts, then spins until the lock is free and takes it.
    #[inline]
    pub fn lock(&self) -> SpinGuard<'_, T> {
        let was = M::intr_disable();
        self.acquire();
        SpinGuard { lock: self, intr_was_enabled: Some(was), _cpu: PhantomData }
    }

    /// Like [`SpinLock::lock`], for a caller that already runs with interrupts off
    /// and keeps them off while it holds the lock: they are left alone.
    #[inline]
    pub fn lock_intr_off(&self) -> SpinGuard<'_, T> {
        debug_assert!(!M::intr_enabled(), "lock_intr_off with interrupts on");
        self.acquire();
        SpinGuard { lock: self, intr_was_enabled: None, _cpu: PhantomData }
    }

    /// Like [`SpinLock::lock`], but gives up after `spins` rounds of waiting: `None`
    /// if the lock stayed held that long. For a debugger that looks at a kernel it
    /// has stopped (`kern::kmdb`): the holder may be the very code it stopped, which
    /// never lets go, and a listing must then say so rather than wait for ever.
    pub fn try_lock_for(&self, spins: usize) -> Option<SpinGuard<'_, T>> {
        let was = M::intr_disable();
        for _ in 0..=spins {
            if self.word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                M::alloc_forbid();
                return Some(SpinGuard {
                    lock: self,
                    intr_was_enabled: Some(was),
                    _cpu: PhantomData,
                });
            }
            M::relax();
        }
        M::intr_restore(was);
        None
    }

    /// Whether the lock is held, by whichever CPU: for the assertions of code that
    /// must run under it (a spin lock does not know its holder).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    /// Takes the lock; nothing may be allocated until it is released
    /// ([`Machine::alloc_forbid`], `kmem`).
    #[inline(always)]
    fn acquire(&self) {
        // One swap and a branch when the lock is free, as it nearly always is (a
        // swap that finds it held writes the 1 that is there already); the wait
        // is out of line.
        if self.word.swap_acquire(1) != 0 {
            self.acquire_contended();
        }
        M::alloc_forbid();
    }

    /// Waits for the lock to come free and takes it.
    #[cold]
    #[inline(never)]
    fn acquire_contended(&self) {
        while self.word.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.word.load(Ordering::Relaxed) != 0 {
                M::relax();
            }
        }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock: nothing else reaches the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only
        // reference through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Unlock first: interrupts come back only once the lock is free.
        M::alloc_permit();
        self.lock.word.store_release(0);
        if let Some(was) = self.intr_was_enabled {
            M::intr_restore(was);
        }
    }
}

/// An atomic `Option<&'static T>`: a read is one load.
pub struct StaticRef<T: 'static> {
    ptr: AtomicPtr<T>,
    _ref: PhantomData<&'static T>,
}

impl<T: Sync + 'static> StaticRef<T> {
    /// An empty cell.
    pub const fn none() -> Self {
        Self { ptr: AtomicPtr::new(ptr::null_mut()), _ref: PhantomData }
    }

    /// The reference it holds, if any.
    #[inline(always)]
    pub fn get(&self) -> Option<&'static T> {
        let p = self.ptr.load_acquire();
        // SAFETY: the only pointers ever stored come from `&'static T` (see `set`),
        // or are null; a `&'static T` is valid for shared access forever.
        unsafe { p.as_ref() }
    }

    /// The reference it holds, with no ordering against other memory: for a cell
    /// that only one CPU writes and reads, or only under one lock (the dispatcher's
    /// own bookkeeping), where [`StaticRef::get`]'s barrier orders nothing.
    #[inline(always)]
    pub fn get_relaxed(&self) -> Option<&'static T> {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: as in `get`: only null or pointers from `&'static T` are stored.
        unsafe { p.as_ref() }
    }

    /// Whether it holds `r`: one load and one comparison of addresses, which needs
    /// no ordering against other memory.
    #[inline(always)]
    pub fn holds(&self, r: &T) -> bool {
        ptr::eq(self.ptr.load(Ordering::Relaxed), r)
    }

    /// Empties the cell, returning what it held.
    #[inline]
    pub fn take(&self) -> Option<&'static T> {
        let p = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `get`: only null or pointers from `&'static T` are stored.
        unsafe { p.as_ref() }
    }

    /// Stores `r` (or empties the cell with `None`).
    #[inline]
    pub fn set(&self, r: Option<&'static T>) {
        let p = r.map_or(ptr::null_mut(), |r| r as *const T as *mut T);
        self.ptr.store_release(p);
    }

    /// [`StaticRef::set`] with no ordering against other memory (see
    /// [`StaticRef::get_relaxed`]).
    #[inline(always)]
    pub fn set_relaxed(&self, r: Option<&'static T>) {
        let p = r.map_or(ptr::null_mut(), |r| r as *const T as *mut T);
        self.ptr.store(p, Ordering::Relaxed);
    }
}

impl<T: Sync + 'static> Default for StaticRef<T> {
    fn default() -> Self {
        Self::none()
    }
}

impl<T: Sync + 'static> core::fmt::Debug for StaticRef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StaticRef({:p})", self.ptr.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::StaticRef;

    #[test]
    fn holds_and_clears_a_static_reference() {
        static X: u32 = 7;
        let c: StaticRef<u32> = StaticRef::none();
        assert!(c.get().is_none());
        c.set(Some(&X));
        assert_eq!(c.get().copied(), Some(7));
        assert!(core::ptr::eq(c.get().unwrap(), &X));
        c.set(None);
        assert!(c.get().is_none());
        c.set(Some(&X));
        assert_eq!(c.take().copied(), Some(7));
        assert!(c.take().is_none() && c.get().is_none());
    }
}

/// A value of a [`TaggedRef`]: a `&'static T` with a few flag bits, or a number with
/// the same flag bits. Locks keep their state in such a word: the owner thread and
/// its flags (a mutex, a write-locked rwlock), or a count of readers and the flags.
pub enum Tagged<T: 'static> {
    /// A reference and its flags (`flags < TaggedRef::<T>::FLAG_LIMIT`).
    Ref(&'static T, usize),
    /// A number (`n <= TaggedRef::<T>::NUM_MAX`) and its flags.
    Num(usize, usize),
}

impl<T: 'static> Clone for Tagged<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Tagged<T> {}

impl<T: 'static> PartialEq for Tagged<T> {
    /// References compare by address.
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Tagged::Ref(a, f), Tagged::Ref(b, g)) => ptr::eq(a, b) && f == g,
            (Tagged::Num(a, f), Tagged::Num(b, g)) => a == b && f == g,
            _ => false,
        }
    }
}

impl<T: 'static> Eq for Tagged<T> {}

impl<T: 'static> core::fmt::Debug for Tagged<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Tagged::Ref(r, flags) => write!(f, "Ref({:p}, {flags:#x})", r),
            Tagged::Num(n, flags) => write!(f, "Num({n}, {flags:#x})"),
        }
    }
}

impl<T: 'static> Tagged<T> {
    /// The flag bits.
    #[inline(always)]
    pub fn flags(self) -> usize {
        match self {
            Tagged::Ref(_, f) | Tagged::Num(_, f) => f,
        }
    }

    /// The reference, if it holds one.
    #[inline(always)]
    pub fn as_ref(self) -> Option<&'static T> {
        match self {
            Tagged::Ref(r, _) => Some(r),
            Tagged::Num(..) => None,
        }
    }
}

/// An atomic [`Tagged`]: one machine word holding either a `&'static T` or a number,
/// plus flag bits, read and changed with single atomic instructions.
///
/// The encoding uses the alignment of `T`: bit 0 says "reference"; the next
/// `log2(align_of::<T>()) - 1` bits are the flags; a reference's address fills the
/// rest (it has those low bits clear), a number is shifted above the flags. Every
/// word stored is the encoding of a `Tagged` built from a `&'static T` or a number,
/// so decoding a word with bit 0 set yields a reference that really is `&'static T`.
pub struct TaggedRef<T: 'static> {
    word: AtomicUsize,
    _ref: PhantomData<&'static T>,
}

impl<T: Sync + 'static> TaggedRef<T> {
    const SHIFT: u32 = core::mem::align_of::<T>().trailing_zeros();
    /// Flags must be below this.
    pub const FLAG_LIMIT: usize = 1 << (Self::SHIFT - 1);
    /// The largest number a word can hold.
    pub const NUM_MAX: usize = usize::MAX >> Self::SHIFT;
    const IS_REF: usize = 1;

    /// A word holding `Num(n, flags)`.
    pub const fn new_num(n: usize, flags: usize) -> Self {
        assert!(Self::SHIFT >= 2, "TaggedRef needs a type aligned to at least 4 bytes");
        TaggedRef { word: AtomicUsize::new(Self::encode_num(n, flags)), _ref: PhantomData }
    }

    const fn encode_num(n: usize, flags: usize) -> usize {
        // Out-of-range values would garble the number, never forge a reference:
        // bit 0 stays clear.
        debug_assert!(
            n <= Self::NUM_MAX && flags < Self::FLAG_LIMIT,
            "TaggedRef: number or flags out of range"
        );
        n << Self::SHIFT | flags << 1
    }

    #[inline(always)]
    fn encode(v: Tagged<T>) -> usize {
        match v {
            Tagged::Ref(r, flags) => {
                debug_assert!(flags < Self::FLAG_LIMIT, "TaggedRef: flags out of range");
                // The address has its low SHIFT bits clear (alignment); masking the
                // flags keeps the address intact whatever the caller passed.
                r as *const T as usize | (flags << 1) & ((1 << Self::SHIFT) - 1) | Self::IS_REF
            }
            Tagged::Num(n, flags) => Self::encode_num(n, flags),
        }
    }

    #[inline(always)]
    fn decode(w: usize) -> Tagged<T> {
        let flags = (w >> 1) & (Self::FLAG_LIMIT - 1);
        if w & Self::IS_REF != 0 {
            let p = (w & !((1 << Self::SHIFT) - 1)) as *const T;
            // SAFETY: a word with IS_REF set was stored by `encode` of a
            // `Tagged::Ref(&'static T, _)` (numbers never set bit 0), and the mask
            // gives back exactly that reference's address.
            Tagged::Ref(unsafe { &*p }, flags)
        } else {
            Tagged::Num(w >> Self::SHIFT, flags)
        }
    }

    /// The reference or number the word holds, with its flags (one atomic load).
    #[inline(always)]
    pub fn load(&self, order: Ordering) -> Tagged<T> {
        Self::decode(self.word.load(order))
    }

    /// Makes the word hold `v` (one atomic store).
    #[inline(always)]
    pub fn store(&self, v: Tagged<T>, order: Ordering) {
        self.word.store(Self::encode(v), order)
    }

    /// Makes the word hold `v`; returns what it held (one atomic swap).
    #[inline(always)]
    pub fn swap(&self, v: Tagged<T>, order: Ordering) -> Tagged<T> {
        Self::decode(self.word.swap(Self::encode(v), order))
    }

    /// Replaces `current` by `new` if the word holds `current`; returns what it held.
    #[inline(always)]
    pub fn compare_exchange(
        &self,
        current: Tagged<T>,
        new: Tagged<T>,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Tagged<T>, Tagged<T>> {
        self.word
            .compare_exchange(Self::encode(current), Self::encode(new), success, failure)
            .map(Self::decode)
            .map_err(Self::decode)
    }
}

impl<T: Sync + 'static> core::fmt::Debug for TaggedRef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TaggedRef({:?})", self.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tagged_tests {
    use super::{Tagged, TaggedRef};
    use core::sync::atomic::Ordering::SeqCst;

    #[repr(align(8))]
    struct Obj(#[allow(dead_code)] u64);

    #[test]
    fn holds_references_numbers_and_flags() {
        static A: Obj = Obj(1);
        static B: Obj = Obj(2);
        assert_eq!(TaggedRef::<Obj>::FLAG_LIMIT, 4);
        let w: TaggedRef<Obj> = TaggedRef::new_num(0, 0);
        assert_eq!(w.load(SeqCst), Tagged::Num(0, 0));
        assert!(w.compare_exchange(Tagged::Num(0, 0), Tagged::Ref(&A, 0), SeqCst, SeqCst).is_ok());
        assert_eq!(w.load(SeqCst), Tagged::Ref(&A, 0));
        assert_ne!(w.load(SeqCst), Tagged::Ref(&B, 0), "references compare by address");
        assert_eq!(
            w.compare_exchange(Tagged::Ref(&B, 0), Tagged::Num(0, 0), SeqCst, SeqCst),
            Err(Tagged::Ref(&A, 0))
        );
        w.store(Tagged::Ref(&A, 3), SeqCst);
        let v = w.load(SeqCst);
        assert!(core::ptr::eq(v.as_ref().unwrap(), &A) && v.flags() == 3);
        assert_eq!(w.swap(Tagged::Num(12345, 2), SeqCst), Tagged::Ref(&A, 3));
        assert_eq!(w.load(SeqCst), Tagged::Num(12345, 2));
        assert_eq!(w.load(SeqCst).as_ref().map(|_| ()), None);
        w.store(Tagged::Num(TaggedRef::<Obj>::NUM_MAX, 3), SeqCst);
        assert_eq!(w.load(SeqCst), Tagged::Num(TaggedRef::<Obj>::NUM_MAX, 3));
    }
}

#[cfg(test)]
mod spin_tests {
    use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::SpinLock;
    use crate::sim::{boot, SimConfig};
    use crate::{Machine, M};

    /// Two CPUs count to 40,000 by reading and writing the count under the lock,
    /// taken both ways: none of the increments is lost, interrupts are off while the
    /// lock is held and come back as they were after it (`lock`), or stay off
    /// (`lock_intr_off`).
    #[test]
    fn excludes_other_cpus_and_holds_interrupts_off() {
        const ROUNDS: usize = 10_000;
        static COUNT: SpinLock<usize> = SpinLock::new(0);
        static DONE: AtomicUsize = AtomicUsize::new(0);

        fn main(cpu: usize) {
            M::intr_restore(true);
            for _ in 0..ROUNDS {
                let mut g = COUNT.lock();
                assert!(!M::intr_enabled(), "interrupts on while the lock is held");
                let n = *g;
                M::relax(); // another CPU may run here; it must not get in
                *g = n + 1;
                drop(g);
                assert!(M::intr_enabled(), "interrupts not given back");
                // With interrupts off already, the lock leaves them so.
                let was = M::intr_disable();
                let mut g = COUNT.lock_intr_off();
                let n = *g;
                M::relax();
                *g = n + 1;
                drop(g);
                assert!(!M::intr_enabled(), "lock_intr_off turned interrupts on");
                M::intr_restore(was);
            }
            DONE.fetch_add(1, SeqCst);
            if cpu == 0 {
                while DONE.load(SeqCst) < 2 {
                    M::relax();
                }
                assert_eq!(*COUNT.lock(), 4 * ROUNDS, "an increment was lost");
                M::halt(true);
            }
            loop {
                M::idle_wait();
            }
        }

        assert!(boot(SimConfig::new(2), main));
    }
}
