//! Room in the kernel image for its own symbol table.
//!
//! OpenBIOS loads only the image's `PT_LOAD` segments, and the ELF symbol table is
//! not in one: a kernel that wants to name its own addresses (the debugger,
//! `kern::kmdb`: stack walks, callouts, wait channels) must carry a copy inside
//! what is loaded. This is that room: a section of its own, `.kmdb_symtab`, that
//! the linker script places in the loaded image, full of zeros as linked. After
//! linking, `scripts/lib.sh` runs `ksymtab` (`sim-tests/ksymtab`), which writes a
//! small ELF file holding the image's function and object symbols (names
//! demangled, sorted by address) into the section's bytes in the image file, in
//! place: nothing moves, so every address in the table stays true.
//!
//! An image nobody filled (built without the scripts) has zeros here: no symbol
//! table, and the debugger prints bare addresses.

/// The room's size. `ksymtab` fails the build, saying so, if a table outgrows it.
pub const KSYMTAB_SIZE: usize = 512 * 1024;

/// The room. `static mut` so that the compiler cannot take its contents for the
/// zeros it was linked with: they are written after linking.
#[link_section = ".kmdb_symtab"]
#[used]
static mut KSYMTAB: [u8; KSYMTAB_SIZE] = [0; KSYMTAB_SIZE];

/// The symbol table the build wrote into the image, or nothing if it wrote none.
pub fn symbols() -> &'static [u8] {
    let p = &raw const KSYMTAB;
    // SAFETY: nothing ever writes the room at run time (its contents come from the
    // image file); a shared view of it for the life of the kernel is sound. The
    // volatile read of the first word keeps the compiler from assuming zeros.
    let (magic, table) = unsafe { (core::ptr::read_volatile(p.cast::<[u8; 4]>()), &*p) };
    if magic == *b"\x7fELF" {
        table
    } else {
        &[]
    }
}
