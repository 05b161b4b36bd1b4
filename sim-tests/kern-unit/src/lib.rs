//! Unit tests of the portable kernel, in a crate of their own so that the kernel
//! (`kern`) is the kernel and nothing else. They test its pure parts (the ELF
//! loader's checks, the signal structures, a dispatch queue, an LWP directory, a
//! swap image ...) through its public interface on the host, without booting it
//! (the booted kernel is `kern-selftest`'s and `sim-tests/host`'s): `tests/`, one
//! file per subject of `kern`.
//!
//! The library holds the `loom` model checks of the kernel's lock-word protocols
//! (`src/lockword.rs`, built only with `--cfg loom`; `scripts/test` runs them):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p kern-unit --release --lib loom
//! ```

#![deny(unsafe_code)]

#[cfg(all(test, loom))]
mod lockword;
