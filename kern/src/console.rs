//! Kernel output: `kprint!`/`kprintln!` onto the machine's console.
//!
//! A line is written with interrupts off under one lock, so lines of threads that
//! preempt each other never interleave. The lock spins through the machine's relax
//! hook, as `DispLock` does: its holder is writing through the machine, and on the
//! host simulation's seeded mode the holder's CPU runs only while the waiter makes
//! machine calls.

use core::fmt::{self, Write};

use arch::Machine;
use spin::mutex::Mutex;

use crate::M;

static LOCK: Mutex<(), arch::Relax> = Mutex::new(());

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        M::console_write(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments) {
    locked(|| {
        let _ = Console.write_fmt(args);
    });
}

/// Writes raw bytes (a user program's output) without splitting a kernel line.
pub fn write_bytes(bytes: &[u8]) {
    locked(|| M::console_write(bytes));
}

fn locked(f: impl FnOnce()) {
    let was = M::intr_disable();
    let guard = LOCK.lock();
    f();
    drop(guard);
    M::intr_restore(was);
}

/// Prints to the console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
