//! The OpenFirmware client interface, used only while booting.
//!
//! OpenBIOS hands the kernel its client-interface handler in `%o4`. The kernel asks
//! it for the boot arguments (`/chosen` `bootargs`, which carries `qemu -append`) and
//! for the memory OpenBIOS left available, then never calls it again: later calls
//! would need OpenBIOS's trap table back.

use core::arch::global_asm;
use core::ffi::CStr;

use spin::Once;

// `prom_call(args, handler)`: calls the handler with the IEEE 1275 argument array.
// The handler is C code that may use any global register, so all of them, `%g7`
// (the current thread, S7) first of all, are kept in this window's locals.
global_asm!(
    r#"
    .section .text.prom_call, "ax"
    .globl  prom_call
    .type   prom_call, #function
    .align  32
prom_call:
    save    %sp, -192, %sp
    mov     %g1, %l1
    mov     %g2, %l2
    mov     %g3, %l3
    mov     %g4, %l4
    mov     %g5, %l5
    mov     %g6, %l6
    mov     %g7, %l7
    call    %i1
     mov    %i0, %o0
    mov     %l1, %g1
    mov     %l2, %g2
    mov     %l3, %g3
    mov     %l4, %g4
    mov     %l5, %g5
    mov     %l6, %g6
    mov     %l7, %g7
    ret
     restore %o0, %g0, %o0
    .size   prom_call, . - prom_call
"#
);

extern "C" {
    fn prom_call(args: *mut u64, handler: usize) -> i64;
}

static HANDLER: Once<usize> = Once::new();

/// Records the client-interface handler OpenBIOS passed at entry.
pub fn init(handler: usize) {
    HANDLER.call_once(|| handler);
}

/// Calls service `name` with `args`; returns its first result.
fn call(name: &CStr, args: &[u64]) -> u64 {
    let handler = *HANDLER.get().expect("prom::init not called");
    let mut cells = [0u64; 12];
    cells[0] = name.as_ptr() as u64;
    cells[1] = args.len() as u64;
    cells[2] = 1;
    cells[3..3 + args.len()].copy_from_slice(args);
    // SAFETY: `cells` is a valid IEEE 1275 argument array (service, nargs, nret,
    // arguments, one result slot) that lives across the call; every pointer in it
    // points at memory the handler may read or write for the sizes given.
    // `prom_call` keeps every global register, `%g7` included.
    unsafe { prom_call(cells.as_mut_ptr(), handler) };
    cells[3 + args.len()]
}

/// Reads property `prop` of device `path` into `buf`; returns its length, or `None`
/// when the device or the property does not exist.
pub fn getprop(path: &CStr, prop: &CStr, buf: &mut [u8]) -> Option<usize> {
    let phandle = call(c"finddevice", &[path.as_ptr() as u64]);
    if phandle as i32 == -1 || phandle == 0 {
        return None;
    }
    let len = call(
        c"getprop",
        &[phandle, prop.as_ptr() as u64, buf.as_mut_ptr() as u64, buf.len() as u64],
    );
    (len as i32 >= 0).then_some((len as usize).min(buf.len()))
}
