//! The OpenFirmware client interface, used only while booting.
//!
//! OpenBIOS hands the kernel its client-interface handler in `%o4`. The kernel asks
//! it for the boot arguments (`/chosen` `bootargs`, which carries `qemu -append`) and
//! walks its device tree (`peer`, `child`, `getprop`) for the disk (`virtio`), then
//! never calls it again: later calls would need OpenBIOS's trap table back.

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

/// A node of the device tree (a phandle; never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node(u64);

/// A phandle the client interface returned, if it names a node.
fn node(phandle: u64) -> Option<Node> {
    (phandle as i32 != -1 && phandle != 0).then_some(Node(phandle))
}

/// The root of the device tree.
pub fn root() -> Option<Node> {
    node(call(c"peer", &[0]))
}

/// The node at `path`.
pub fn finddevice(path: &CStr) -> Option<Node> {
    node(call(c"finddevice", &[path.as_ptr() as u64]))
}

impl Node {
    /// Its first child.
    pub fn child(self) -> Option<Node> {
        node(call(c"child", &[self.0]))
    }

    /// Its next sibling.
    pub fn peer(self) -> Option<Node> {
        node(call(c"peer", &[self.0]))
    }

    /// Reads its property `prop` into `buf`; its length (cut to `buf`'s), or `None`
    /// if it has no such property.
    pub fn getprop(self, prop: &CStr, buf: &mut [u8]) -> Option<usize> {
        let len = call(
            c"getprop",
            &[self.0, prop.as_ptr() as u64, buf.as_mut_ptr() as u64, buf.len() as u64],
        );
        (len as i32 >= 0).then_some((len as usize).min(buf.len()))
    }

    /// Its property `prop` as big-endian 32-bit cells into `cells`; how many.
    pub fn cells(self, prop: &CStr, cells: &mut [u32]) -> Option<usize> {
        let mut buf = [0u8; 256];
        let want = (cells.len() * 4).min(buf.len());
        let len = self.getprop(prop, &mut buf[..want])?;
        for (c, b) in cells.iter_mut().zip(buf[..len].chunks_exact(4)) {
            *c = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        Some(len / 4)
    }

    /// Its property `prop` as one cell.
    pub fn cell(self, prop: &CStr) -> Option<u32> {
        let mut c = [0];
        (self.cells(prop, &mut c)? == 1).then_some(c[0])
    }
}

/// Reads property `prop` of device `path` into `buf`; returns its length, or `None`
/// when the device or the property does not exist.
pub fn getprop(path: &CStr, prop: &CStr, buf: &mut [u8]) -> Option<usize> {
    finddevice(path)?.getprop(prop, buf)
}
