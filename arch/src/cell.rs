//! A safe atomic cell for `&'static` references.
//!
//! The portable kernel links long-lived structures to each other (a thread to its
//! LWP and process, S5.7/S5.8) through fields that are set when a structure is put
//! to use and cleared when it is recycled. `AtomicPtr` would make every read
//! `unsafe`; this cell only ever stores `&'static T`, so reading one back is sound.

use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

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
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: the only pointers ever stored come from `&'static T` (see `set`),
        // or are null; a `&'static T` is valid for shared access forever.
        unsafe { p.as_ref() }
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
        self.ptr.store(p, Ordering::Release);
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
