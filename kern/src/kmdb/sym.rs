//! The kernel's own symbol table: naming a code or data address (`func+0x1c`).
//!
//! The table is the one the build put in the image ([`arch::Machine::kernel_symbols`]):
//! an ELF file of symbols only, written after linking by `ksymtab`, whose names are
//! demangled and whose symbols are sorted by address, so that a lookup is a binary
//! search in place — no allocation, no lock: it works in a panic too. It is read
//! with `object`'s ELF reader, as `exec` reads programs. A machine that carries no
//! table (the host simulation) gets bare addresses.

use core::fmt;

use arch::Machine;
use object::elf::{FileHeader64, Sym64};
use object::read::elf::{FileHeader, SectionTable, Sym as _, SymbolTable};
use object::{Endianness, SymbolIndex};

use crate::M;

/// A symbol of the kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sym {
    /// Its demangled name.
    pub name: &'static str,
    /// Its address (ELF's `st_value`).
    pub addr: usize,
    /// Its size in bytes (ELF's `st_size`; 0 if unknown).
    pub size: usize,
}

type Table = SymbolTable<'static, FileHeader64<Endianness>, &'static [u8]>;

/// The table and its byte order, if the image carries one that parses.
fn table() -> Option<(Table, Endianness)> {
    let data = M::kernel_symbols();
    let hdr = FileHeader64::<Endianness>::parse(data).ok()?;
    let e = hdr.endian().ok()?;
    let sections: SectionTable<'static, FileHeader64<Endianness>, &'static [u8]> =
        hdr.sections(e, data).ok()?;
    let symtab = sections.symbols(e, data, object::elf::SHT_SYMTAB).ok()?;
    Some((symtab, e))
}

fn sym(t: &Table, e: Endianness, i: usize) -> Option<Sym> {
    let s: &Sym64<Endianness> = t.symbol(SymbolIndex(i)).ok()?;
    let name = core::str::from_utf8(s.name(e, t.strings()).ok()?).ok()?;
    Some(Sym { name, addr: s.st_value.get(e) as usize, size: s.st_size.get(e) as usize })
}

/// Whether the image carries a symbol table.
pub fn available() -> bool {
    table().is_some_and(|(t, _)| t.len() > 1)
}

/// The symbol `addr` is in, and how far into it; for an address past the end of
/// every sized symbol it could be in, the nearest one below it if its size is
/// unknown (0).
pub fn lookup(addr: usize) -> Option<(Sym, usize)> {
    let (t, e) = table()?;
    // Entry 0 is ELF's null symbol; the others are sorted by address (ksymtab):
    // find the last one at or below `addr`.
    let (mut lo, mut hi) = (1, t.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if sym(&t, e, mid)?.addr <= addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // Several symbols may share an address, and a sized one may hide behind an
    // unsized one: look back over the candidates for one that covers `addr`.
    (1..lo).rev().take(8).filter_map(|i| sym(&t, e, i)).find_map(|s| {
        let off = addr - s.addr;
        (off < s.size || (s.size == 0 && off < 0x1000)).then_some((s, off))
    })
}

/// The symbol named `name` exactly (demangled, without its hash).
pub fn by_name(name: &str) -> Option<Sym> {
    let (t, e) = table()?;
    (1..t.len()).filter_map(|i| sym(&t, e, i)).find(|s| s.name == name)
}

/// An address as the debugger prints it: `name+0x1c` when the symbol table knows
/// it, else the bare number.
pub struct Addr(pub usize);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match lookup(self.0) {
            Some((s, 0)) => write!(f, "{}", s.name),
            Some((s, off)) => write!(f, "{}+{off:#x}", s.name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}
