//! Release stores and acquire loads at what the machine's memory model costs.
//!
//! # Theory
//!
//! A release store (everything before it is seen before it) and an acquire load
//! (nothing after it is seen before it) are what a lock's unlock and lock, and a
//! state word published for other CPUs (a thread's `t_state`, S3), need. What they
//! cost depends on the processor's memory model:
//!
//! * SPARC V9 in Total Store Order, which is how this kernel runs (`PSTATE.MM` = 0
//!   in every `%pstate` it writes; user mode too): the processor keeps every load
//!   and store after the loads before it, and every store after the stores before
//!   it. Only a store followed by a load may pass each other, which neither
//!   ordering forbids. So both are plain memory operations that the *compiler* must
//!   not move across: an empty assembly block that may touch memory beside a
//!   relaxed access (Linux's sparc64 `smp_store_release` is the same `barrier()`
//!   and a store). The language's own `Release`/`Acquire` would cost a `membar`
//!   each, because the compiler assumes the weakest model (RMO), and so does
//!   `compiler_fence` (LLVM's SPARC code makes a `membar` of it too); the switch
//!   path had seven of them.
//! * The host simulation keeps the language's orderings: its host may be weaker
//!   than TSO, and `loom` checks the portable code against the language's model.
//!
//! The kernel uses these where it orders words that other CPUs read without the
//! lock that the writer holds ([`Ordered`]); the spin lock ([`crate::cell`]) uses
//! them for its own word.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Keeps the compiler from moving memory accesses across it; no instruction.
#[cfg(target_arch = "sparc64")]
#[inline(always)]
fn compiler_barrier() {
    // SAFETY: an empty assembly block does nothing; not being `nomem`, it may read
    // and write any memory as far as the compiler knows, so no access moves across.
    unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
}

/// An atomic word with release stores and acquire loads at the machine's cost.
pub trait Ordered {
    /// The word's value.
    type Value;
    /// Stores `v` after everything this CPU did before (`Ordering::Release`).
    fn store_release(&self, v: Self::Value);
    /// Loads the word before anything this CPU does after (`Ordering::Acquire`).
    fn load_acquire(&self) -> Self::Value;
    /// Swaps `v` in, before anything this CPU does after (`Ordering::Acquire`):
    /// a lock taken.
    fn swap_acquire(&self, v: Self::Value) -> Self::Value;
}

// SPARC in TSO: relaxed accesses the compiler keeps in place (see the module
// comment); an atomic instruction (`swap`, `cas`) is before every later load and
// store in TSO as well. The host simulation: the language's orderings.
macro_rules! ordered {
    ($([$($generic:tt)*] $atomic:ty => $value:ty),* $(,)?) => {$(
        impl<$($generic)*> Ordered for $atomic {
            type Value = $value;

            #[inline(always)]
            fn store_release(&self, v: $value) {
                #[cfg(target_arch = "sparc64")]
                {
                    compiler_barrier();
                    self.store(v, Ordering::Relaxed);
                }
                #[cfg(not(target_arch = "sparc64"))]
                self.store(v, Ordering::Release);
            }

            #[inline(always)]
            fn load_acquire(&self) -> $value {
                #[cfg(target_arch = "sparc64")]
                {
                    let v = self.load(Ordering::Relaxed);
                    compiler_barrier();
                    v
                }
                #[cfg(not(target_arch = "sparc64"))]
                self.load(Ordering::Acquire)
            }

            #[inline(always)]
            fn swap_acquire(&self, v: $value) -> $value {
                #[cfg(target_arch = "sparc64")]
                {
                    let old = self.swap(v, Ordering::Relaxed);
                    compiler_barrier();
                    old
                }
                #[cfg(not(target_arch = "sparc64"))]
                self.swap(v, Ordering::Acquire)
            }
        }
    )*};
}

ordered!(
    [] AtomicBool => bool,
    [] AtomicU8 => u8,
    [] AtomicU32 => u32,
    [] AtomicU64 => u64,
    [] AtomicUsize => usize,
    [T] AtomicPtr<T> => *mut T,
);
