//! `ksymtab`: puts the kernel image's symbol table inside the image, where the
//! kernel's debugger (`kern::kmdb`) can read it.
//!
//! ```text
//! ksymtab KERNEL
//! ```
//!
//! OpenBIOS loads only an image's `PT_LOAD` segments; the ELF symbol table is not
//! one of them. The kernel links with a room for it instead, the section
//! `.kmdb_symtab` (`arch/src/sparc64/ksyms.rs`), full of zeros. This tool reads the
//! linked image's symbol table, keeps what names code or data (functions, objects,
//! and the assembly's labels that are not local), demangles the Rust names
//! without their hashes (`kern::disp::swtch`), sorts them by address, and writes
//! them as a small ELF file of symbols only (`.symtab`, `.strtab`: what `object`
//! reads in the kernel) over the section's bytes in the image file, in place: no
//! address in the image moves, so the table describes the image it is in. Run
//! twice, it writes the same bytes. A table that does not fit fails, saying how
//! big the room must be.

use std::process::ExitCode;

use object::elf::{self, FileHeader64, SectionHeader64, Sym64};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endian, Endianness, U16, U32, U64};

/// The section the kernel keeps for its symbol table.
const SECTION: &[u8] = b".kmdb_symtab";

/// A symbol to write: its demangled name, address and size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Symbol {
    name: String,
    addr: u64,
    size: u64,
    kind: u8,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: ksymtab KERNEL");
        return ExitCode::from(2);
    };
    let result = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}")).and_then(
        |mut image| {
            let before = image.clone();
            let (n, used, room) = fill(&mut image)?;
            // An image filled already is left alone, its time stamp too.
            if image != before {
                std::fs::write(path, &image).map_err(|e| format!("cannot write {path}: {e}"))?;
            }
            Ok((n, used, room))
        },
    );
    match result {
        Ok((n, used, room)) => {
            println!("ksymtab: {n} symbols, {used} of {room} bytes of {}", show(SECTION));
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("ksymtab: {why}");
            ExitCode::FAILURE
        }
    }
}

fn show(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("?")
}

/// Writes the symbol table of ELF `image` into its `.kmdb_symtab` section; returns
/// how many symbols, the table's bytes and the room's.
fn fill(image: &mut [u8]) -> Result<(usize, usize, usize), String> {
    let (table, e, room) = {
        let data: &[u8] = image;
        let hdr = FileHeader64::<Endianness>::parse(data).map_err(|e| format!("not ELF64: {e}"))?;
        let e = hdr.endian().map_err(|e| e.to_string())?;
        let sections = hdr.sections(e, data).map_err(|e| e.to_string())?;
        let (_, room) = sections
            .section_by_name(e, SECTION)
            .ok_or_else(|| format!("the image has no {} section", show(SECTION)))?;
        if room.sh_type(e) != elf::SHT_PROGBITS {
            return Err(format!("{} is not in the loaded image (no file bytes)", show(SECTION)));
        }
        let room = (room.sh_offset(e) as usize, room.sh_size(e) as usize);
        let symtab = sections.symbols(e, data, elf::SHT_SYMTAB).map_err(|e| e.to_string())?;
        let mut syms = Vec::new();
        for s in symtab.iter() {
            let kind = s.st_type();
            let wanted = matches!(kind, elf::STT_FUNC | elf::STT_OBJECT | elf::STT_NOTYPE);
            // Undefined and absolute symbols (assembly constants) name no address.
            let shndx = s.st_shndx(e);
            if !wanted || shndx == elf::SHN_UNDEF || shndx == elf::SHN_ABS || s.st_value(e) == 0 {
                continue;
            }
            let raw = s.name(e, symtab.strings()).map_err(|e| e.to_string())?;
            let raw = String::from_utf8_lossy(raw);
            // Local labels and mapping symbols name no function.
            if raw.is_empty() || raw.starts_with(".L") || raw.starts_with('$') {
                continue;
            }
            syms.push(Symbol {
                name: demangle(&raw),
                addr: s.st_value(e),
                size: s.st_size(e),
                kind,
            });
        }
        (syms, e, room)
    };
    let n = table.len();
    let bytes = symtab_elf(table, e);
    let (offset, size) = room;
    if bytes.len() > size {
        return Err(format!(
            "the symbol table needs {} bytes; {} has {size}: raise KSYMTAB_SIZE in \
             arch/src/sparc64/ksyms.rs",
            bytes.len(),
            show(SECTION)
        ));
    }
    let dest = image
        .get_mut(offset..offset + size)
        .ok_or_else(|| format!("{} lies outside the file", show(SECTION)))?;
    dest.fill(0);
    dest[..bytes.len()].copy_from_slice(&bytes);
    Ok((n, bytes.len(), size))
}

/// A Rust name without its hash (`kern::disp::swtch`); any other name as it is.
fn demangle(raw: &str) -> String {
    match rustc_demangle::try_demangle(raw) {
        Ok(d) => format!("{d:#}"),
        Err(_) => raw.to_string(),
    }
}

/// An ELF file in byte order `e` that holds `syms`, sorted by address (a sized
/// symbol after the unsized ones at its address), and nothing else: the header,
/// `.symtab`, `.strtab`, `.shstrtab`, and the section headers.
fn symtab_elf(mut syms: Vec<Symbol>, e: Endianness) -> Vec<u8> {
    syms.sort_by(|a, b| (a.addr, a.size, &a.name).cmp(&(b.addr, b.size, &b.name)));
    syms.dedup();
    let mut strtab = vec![0u8];
    let mut symtab: Vec<u8> = pod(&Sym64::<Endianness>::default()).to_vec(); // the null symbol
    for s in &syms {
        let sym = Sym64 {
            st_name: U32::new(e, strtab.len() as u32),
            st_info: (elf::STB_GLOBAL << 4) | s.kind,
            st_other: elf::STV_DEFAULT,
            st_shndx: U16::new(e, elf::SHN_ABS),
            st_value: U64::new(e, s.addr),
            st_size: U64::new(e, s.size),
        };
        strtab.extend_from_slice(s.name.as_bytes());
        strtab.push(0);
        symtab.extend_from_slice(pod(&sym));
    }
    let shstrtab = b"\0.symtab\0.strtab\0.shstrtab\0";
    let (symtab_off, hdr_len) = (64u64, 64usize);
    let strtab_off = symtab_off + symtab.len() as u64;
    let shstrtab_off = strtab_off + strtab.len() as u64;
    let shoff = (shstrtab_off + shstrtab.len() as u64).next_multiple_of(8);
    let header = FileHeader64 {
        e_ident: elf::Ident {
            magic: elf::ELFMAG,
            class: elf::ELFCLASS64,
            data: if e.is_big_endian() { elf::ELFDATA2MSB } else { elf::ELFDATA2LSB },
            version: elf::EV_CURRENT,
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            padding: [0; 7],
        },
        e_type: U16::new(e, elf::ET_NONE),
        e_machine: U16::new(e, elf::EM_SPARCV9),
        e_version: U32::new(e, u32::from(elf::EV_CURRENT)),
        e_entry: U64::new(e, 0),
        e_phoff: U64::new(e, 0),
        e_shoff: U64::new(e, shoff),
        e_flags: U32::new(e, 0),
        e_ehsize: U16::new(e, hdr_len as u16),
        e_phentsize: U16::new(e, 0),
        e_phnum: U16::new(e, 0),
        e_shentsize: U16::new(e, size_of::<SectionHeader64<Endianness>>() as u16),
        e_shnum: U16::new(e, 4),
        e_shstrndx: U16::new(e, 3),
    };
    let section = |name: u32, kind: u32, off: u64, size: usize, link: u32, info: u32, ent: u64| {
        SectionHeader64 {
            sh_name: U32::new(e, name),
            sh_type: U32::new(e, kind),
            sh_flags: U64::new(e, 0),
            sh_addr: U64::new(e, 0),
            sh_offset: U64::new(e, off),
            sh_size: U64::new(e, size as u64),
            sh_link: U32::new(e, link),
            sh_info: U32::new(e, info),
            sh_addralign: U64::new(
                e,
                match kind {
                    elf::SHT_NULL => 0,
                    elf::SHT_SYMTAB => 8,
                    _ => 1,
                },
            ),
            sh_entsize: U64::new(e, ent),
        }
    };
    let sym_size = size_of::<Sym64<Endianness>>();
    let headers = [
        section(0, elf::SHT_NULL, 0, 0, 0, 0, 0),
        section(1, elf::SHT_SYMTAB, symtab_off, symtab.len(), 2, 1, sym_size as u64),
        section(9, elf::SHT_STRTAB, strtab_off, strtab.len(), 0, 0, 0),
        section(17, elf::SHT_STRTAB, shstrtab_off, shstrtab.len(), 0, 0, 0),
    ];
    let mut out = pod(&header).to_vec();
    out.extend_from_slice(&symtab);
    out.extend_from_slice(&strtab);
    out.extend_from_slice(shstrtab);
    out.resize(shoff as usize, 0);
    for h in &headers {
        out.extend_from_slice(pod(h));
    }
    out
}

fn pod<T: object::pod::Pod>(v: &T) -> &[u8] {
    object::pod::bytes_of(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::read::elf::SymbolTable;

    fn read_back(data: &[u8]) -> Vec<(String, u64, u64)> {
        let hdr = FileHeader64::<Endianness>::parse(data).unwrap();
        let e = hdr.endian().unwrap();
        let sections = hdr.sections(e, data).unwrap();
        let t: SymbolTable<'_, FileHeader64<Endianness>> =
            sections.symbols(e, data, elf::SHT_SYMTAB).unwrap();
        t.iter()
            .skip(1)
            .map(|s| {
                let name = String::from_utf8(s.name(e, t.strings()).unwrap().to_vec()).unwrap();
                (name, s.st_value(e), s.st_size(e))
            })
            .collect()
    }

    fn sym(name: &str, addr: u64, size: u64) -> Symbol {
        Symbol { name: name.into(), addr, size, kind: elf::STT_FUNC }
    }

    #[test]
    fn the_table_reads_back_sorted_by_address_in_its_byte_order() {
        for e in [Endianness::Big, Endianness::Little] {
            let syms = vec![sym("b", 0x2000, 8), sym("a", 0x1000, 0), sym("c", 0x1000, 16)];
            let got = read_back(&symtab_elf(syms, e));
            assert_eq!(
                got,
                [("a".into(), 0x1000, 0), ("c".into(), 0x1000, 16), ("b".into(), 0x2000, 8)],
                "{e:?}: unsized first at an address, sized after"
            );
        }
    }

    #[test]
    fn rust_names_lose_their_hash() {
        assert_eq!(demangle("_ZN4kern4disp5swtch17h0123456789abcdefE"), "kern::disp::swtch");
        assert_eq!(demangle("sparc64_resume"), "sparc64_resume");
    }

    /// An image with a `.kmdb_symtab` room of `room` bytes and the symbols `syms`:
    /// the tool's own writer makes the symbol part, then the room is appended.
    fn image(syms: Vec<Symbol>, room: usize) -> Vec<u8> {
        let e = Endianness::Big;
        let n = syms.len();
        let mut img = symtab_elf(syms, e);
        // An image's symbols are in its sections, not absolute: section 1 here.
        for i in 1..=n {
            let shndx = 64 + i * size_of::<Sym64<Endianness>>() + 6;
            img[shndx..shndx + 2].copy_from_slice(&1u16.to_be_bytes());
        }
        let hdr = *FileHeader64::<Endianness>::parse(&*img).unwrap();
        let shoff = hdr.e_shoff.get(e) as usize;
        let mut headers: Vec<SectionHeader64<Endianness>> = (0..4)
            .map(|i| {
                let at = shoff + i * size_of::<SectionHeader64<Endianness>>();
                *object::pod::from_bytes(&img[at..]).unwrap().0
            })
            .collect();
        img.truncate(shoff);
        // Name the new section in a new .shstrtab at the end of the data.
        let names = b"\0.symtab\0.strtab\0.shstrtab\0.kmdb_symtab\0";
        let names_off = img.len();
        img.extend_from_slice(names);
        let room_off = img.len();
        img.resize(room_off + room, 0xee);
        headers[3].sh_offset = U64::new(e, names_off as u64);
        headers[3].sh_size = U64::new(e, names.len() as u64);
        let mut room_hdr = headers[3];
        room_hdr.sh_name = U32::new(e, 27);
        room_hdr.sh_type = U32::new(e, elf::SHT_PROGBITS);
        room_hdr.sh_offset = U64::new(e, room_off as u64);
        room_hdr.sh_size = U64::new(e, room as u64);
        headers.push(room_hdr);
        let new_shoff = img.len().next_multiple_of(8);
        img.resize(new_shoff, 0);
        for h in &headers {
            img.extend_from_slice(pod(h));
        }
        let mut hdr = hdr;
        hdr.e_shoff = U64::new(e, new_shoff as u64);
        hdr.e_shnum = U16::new(e, 5);
        img[..64].copy_from_slice(pod(&hdr));
        img
    }

    /// The bytes of the image's `.kmdb_symtab` section.
    fn room_of(img: &[u8]) -> &[u8] {
        let hdr = FileHeader64::<Endianness>::parse(img).unwrap();
        let e = hdr.endian().unwrap();
        let sections = hdr.sections(e, img).unwrap();
        let (_, room) = sections.section_by_name(e, SECTION).unwrap();
        &img[room.sh_offset(e) as usize..][..room.sh_size(e) as usize]
    }

    #[test]
    fn fills_the_room_in_place_and_refuses_a_table_that_does_not_fit() {
        let syms = vec![
            sym("_ZN4kern4disp5swtch17h0123456789abcdefE", 0x404000, 0x40),
            sym(".Lanon", 0x404010, 0),
            sym("sparc64_resume", 0x405000, 0x20),
            sym("WSTATE_KERNEL", 0x8, 0),
        ];
        let mut img = image(syms.clone(), 4096);
        // The lowest, symbol 1, is an assembly constant: absolute.
        let shndx = 64 + size_of::<Sym64<Endianness>>() + 6;
        img[shndx..shndx + 2].copy_from_slice(&elf::SHN_ABS.to_be_bytes());
        let len = img.len();
        let (n, used, room) = fill(&mut img).unwrap();
        assert_eq!(
            (n, room, img.len()),
            (2, 4096, len),
            "label and constant dropped, nothing moved"
        );
        let table = room_of(&img);
        assert_eq!(
            read_back(table),
            [
                ("kern::disp::swtch".into(), 0x404000, 0x40),
                ("sparc64_resume".into(), 0x405000, 0x20)
            ]
        );
        assert!(table[used..].iter().all(|&b| b == 0), "the rest of the room is zeroed");
        let again = img.clone();
        fill(&mut img).unwrap();
        assert_eq!(img, again, "a second run writes the same bytes");
        let mut small = image(syms, 64);
        assert!(fill(&mut small).unwrap_err().contains("raise KSYMTAB_SIZE"));
    }
}
