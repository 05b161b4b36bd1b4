//! The debugger's console input: a command line at the prompt, and the break
//! sequence while the kernel runs.
//!
//! Input is polled ([`arch::Machine::console_read`]): at the prompt until a line
//! ends, and at every clock tick of CPU 0 while the kernel runs, for the break
//! sequence `<CR> ~ <Ctrl-B>` (Solaris' alternate break: a carriage return, a
//! tilde, Ctrl-B). Nothing else reads the console, so what the clock reads that
//! is not a break sequence is dropped.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use arch::Machine;

use super::{owns_input, Console, Why};
use crate::M;

/// The longest command line.
pub const MAX: usize = 160;

const CTRL_B: u8 = 0x02;
const CTRL_U: u8 = 0x15;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;

/// The last line ended with a carriage return: a line feed right after it ends
/// nothing more (a terminal sends `\r`, a file or a pipe may send `\r\n`).
static AFTER_CR: AtomicBool = AtomicBool::new(false);

/// Reads one line into `buf`, echoing it as it is typed (the console is raw: the
/// terminal does not echo), with backspace and Ctrl-U (erase the line); returns
/// it without its end. Waits for input as long as it takes.
pub fn read(buf: &mut [u8; MAX]) -> &str {
    let mut n = 0;
    loop {
        let Some(b) = M::console_read() else {
            M::relax();
            continue;
        };
        let after_cr = AFTER_CR.swap(b == b'\r', Ordering::Relaxed);
        match b {
            b'\n' if after_cr && n == 0 => {}
            b'\r' | b'\n' => {
                let _ = Console.write_str("\n");
                // Only printable ASCII was kept: this is UTF-8.
                return core::str::from_utf8(&buf[..n]).unwrap_or("");
            }
            BACKSPACE | DELETE if n > 0 => {
                n -= 1;
                let _ = Console.write_str("\x08 \x08");
            }
            CTRL_U => {
                for _ in 0..n {
                    let _ = Console.write_str("\x08 \x08");
                }
                n = 0;
            }
            0x20..=0x7e if n < MAX => {
                buf[n] = b;
                n += 1;
                M::console_write(&[b]);
            }
            _ => {}
        }
    }
}

/// How much of the break sequence has been seen: 0, 1 (`<CR>`), 2 (`<CR> ~`).
static BREAK_SEEN: AtomicU8 = AtomicU8::new(0);

/// Reads what was typed, and enters the debugger if it holds the break sequence
/// (what follows it is left for the debugger's prompt). Called at every clock
/// tick of CPU 0, with interrupts off; does nothing while the input is the
/// debugger's (it has the console, or the boot is on its way to its prompt).
pub fn poll_break() {
    if owns_input() {
        return;
    }
    while let Some(b) = M::console_read() {
        let seen = BREAK_SEEN.load(Ordering::Relaxed);
        let next = match (seen, b) {
            (_, b'\r') => 1,
            (1, b'~') => 2,
            (2, CTRL_B) => {
                BREAK_SEEN.store(0, Ordering::Relaxed);
                super::enter(Why::Break);
                return;
            }
            _ => 0,
        };
        BREAK_SEEN.store(next, Ordering::Relaxed);
    }
}
