//! The console: the sun4u's 16550 UART, driven by polling through physical addresses.
//!
//! OpenBIOS has already programmed the line; the kernel only waits for the transmit
//! holding register to drain and writes the byte. No interrupt, no buffer: a panic or
//! a trap report can always print, whatever state the kernel is in. Input is polled
//! the same way: a byte is there when the line status says "data ready" (the
//! debugger, `kern::kmdb`, asks at every clock tick and at its prompt).

use super::asi;

const UART: u64 = 0x1fe_0200_03f8;
const THR: u64 = 0; // transmit holding register
const RBR: u64 = 0; // receive buffer register (reads of offset 0)
const LSR: u64 = 5; // line status register
const LSR_DR: u8 = 0x01; // data ready: RBR holds a byte
const LSR_THRE: u8 = 0x20; // transmit holding register empty

fn putc(c: u8) {
    while asi::read8(UART + LSR) & LSR_THRE == 0 {}
    asi::write8(UART + THR, c);
}

/// Writes `bytes`, turning `\n` into `\r\n` for the terminal.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            putc(b'\r');
        }
        putc(b);
    }
}

/// The byte waiting in the receive buffer, if any.
pub fn read() -> Option<u8> {
    (asi::read8(UART + LSR) & LSR_DR != 0).then(|| asi::read8(UART + RBR))
}

/// `core::fmt` onto the console, for the machine's own reports.
pub struct Writer;

impl core::fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}
