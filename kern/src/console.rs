//! Kernel output: `kprint!`/`kprintln!` onto the machine's console.
//!
//! A line is written with interrupts off under one lock, so lines of threads that
//! preempt each other never interleave.

use core::fmt::{self, Write};

use arch::Machine;
use spin::Mutex;

use crate::M;

static LOCK: Mutex<()> = Mutex::new(());

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        M::console_write(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments) {
    let was = M::intr_disable();
    let guard = LOCK.lock();
    let _ = Console.write_fmt(args);
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
