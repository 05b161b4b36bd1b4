//! A process's address-space layout (`kern::vm`, S1, S16): where anonymous
//! mappings go, how segments are cut and merged, which ranges no call may touch,
//! and what a fault below the main stack asks for. Pure logic: the machine's side
//! (pages, translations) is the QEMU and simulation tests'.

use arch::{Prot, PAGE_SIZE, USER_LIMIT};
use kern::errno::Errno;
use kern::exec::{STACK_LIMIT, USER_STACK_SIZE, USER_STACK_TOP};
use kern::vm::{Seg, SegKind, Vm, MAX_SEGS, MMAP_TOP};
use lwp_abi::SC_BASE;

const P: u64 = PAGE_SIZE;
const RW: Prot = Prot::READ.union(Prot::WRITE);
const R: Prot = Prot::READ;

/// A process's layout as `exec` makes it: text and data, the stack.
fn process() -> Vm {
    let mut vm = Vm::with_stack(USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP);
    vm.add_program(0x10_0000, 0x10_0000 + 4 * P, Prot::READ | Prot::EXEC).unwrap();
    vm.add_program(0x10_0000 + 4 * P, 0x10_0000 + 6 * P, RW).unwrap();
    vm
}

/// Maps `len` bytes where the layout says, as `mmap` does.
fn map(vm: &mut Vm, len: u64, prot: Prot) -> u64 {
    let at = vm.find_gap(len).expect("a hole");
    vm.reserve(2).unwrap();
    vm.insert_anon(at, at + len, prot);
    at
}

/// The anonymous segments, as (start, end, prot).
fn anon(vm: &Vm) -> Vec<(u64, u64, Prot)> {
    vm.segments()
        .iter()
        .filter(|s| s.kind == SegKind::Anon)
        .map(|s| (s.start, s.end, s.prot))
        .collect()
}

#[test]
fn mappings_go_below_the_stacks_room_top_down_and_fill_holes() {
    let mut vm = process();
    assert_eq!(MMAP_TOP, USER_STACK_TOP - STACK_LIMIT - P, "a guard page under the room");
    let a = map(&mut vm, 3 * P, RW);
    assert_eq!(a, MMAP_TOP - 3 * P);
    let b = map(&mut vm, P, R);
    assert_eq!(b, a - P);
    // Touching, with other rights: two segments; with the same rights, one.
    assert_eq!(anon(&vm), [(b, a, R), (a, MMAP_TOP, RW)]);
    let c = map(&mut vm, P, R);
    assert_eq!(anon(&vm), [(c, a, R), (a, MMAP_TOP, RW)]);
    // A hole is taken by what fits in it, highest first.
    vm.reserve(1).unwrap();
    vm.remove_anon(a, a + P, |_, _| {});
    assert_eq!(map(&mut vm, 2 * P, RW), c - 2 * P, "two pages do not fit a hole of one");
    assert_eq!(map(&mut vm, P, RW), a);
    assert_eq!(anon(&vm)[1..], [(c, a, R), (a, MMAP_TOP, RW)]);
}

#[test]
fn the_schedctl_area_and_the_program_are_stepped_over() {
    let mut vm = process();
    // Nothing above the schedctl area holds 2 TiB + a page: the hole below it does.
    let big = MMAP_TOP - SC_BASE;
    let at = map(&mut vm, big + P, RW);
    assert!(at + big + P <= SC_BASE, "{at:#x} runs into the schedctl area");
    // What is left below stops at the program: nothing holds all of it.
    assert_eq!(vm.find_gap(at - 0x10_0000), None);
    assert!(vm.find_gap(at - 0x10_0000 - 6 * P).is_some_and(|g| g >= 0x10_0000 + 6 * P));
    assert_eq!(vm.find_gap(USER_LIMIT), None);
}

#[test]
fn munmap_cuts_segments_where_its_range_ends() {
    let mut vm = process();
    let a = map(&mut vm, 8 * P, RW);
    let mut gone = Vec::new();
    let mut cut = |vm: &mut Vm, start: u64, end: u64| {
        vm.reserve(1).unwrap();
        vm.remove_anon(start, end, |s, e| gone.push((s, e)));
    };
    cut(&mut vm, a + 2 * P, a + 3 * P); // the middle: in two
    cut(&mut vm, a, a + P); // the head
    cut(&mut vm, a + 7 * P, a + 9 * P); // the tail, and past it
    assert_eq!(anon(&vm), [(a + P, a + 2 * P, RW), (a + 3 * P, a + 7 * P, RW)]);
    cut(&mut vm, a - 4 * P, a + 20 * P); // over everything, holes included
    assert_eq!(anon(&vm), []);
    let pieces = [(a + 2 * P, a + 3 * P), (a, a + P), (a + 7 * P, a + 8 * P)];
    assert_eq!(gone[..3], pieces, "only what was mapped is unmapped");
    assert_eq!(gone[3..], [(a + P, a + 2 * P), (a + 3 * P, a + 7 * P)]);
    assert_eq!(vm.segments().len(), 2, "the program stays");
}

#[test]
fn mprotect_needs_every_page_mapped_and_cuts_and_merges() {
    let mut vm = process();
    let a = map(&mut vm, 4 * P, RW);
    assert!(vm.anon_covers(a, a + 4 * P));
    assert!(!vm.anon_covers(a - P, a + P), "a page below is not mapped");
    assert!(!vm.anon_covers(0x10_0000, 0x10_0000 + P), "program segments are not anonymous");
    vm.reserve(2).unwrap();
    vm.protect_anon(a + P, a + 2 * P, R);
    assert_eq!(anon(&vm), [(a, a + P, RW), (a + P, a + 2 * P, R), (a + 2 * P, a + 4 * P, RW)]);
    vm.reserve(2).unwrap();
    vm.protect_anon(a + P, a + 2 * P, RW);
    assert_eq!(anon(&vm), [(a, a + 4 * P, RW)], "the same rights again: one segment");
    vm.reserve(2).unwrap();
    vm.protect_anon(a, a + 4 * P, Prot::empty());
    assert_eq!(anon(&vm), [(a, a + 4 * P, Prot::empty())]);
}

#[test]
fn the_fixed_parts_of_the_layout_are_refused() {
    let vm = process();
    let stack = vm.stack().unwrap();
    for (what, start, end) in [
        ("text", 0x10_0000, 0x10_0000 + P),
        ("data's last page", 0x10_0000 + 5 * P, 0x10_0000 + 6 * P),
        ("the stack", USER_STACK_TOP - P, USER_STACK_TOP),
        ("the page above it", USER_STACK_TOP, USER_LIMIT),
        ("its room", stack.floor, stack.floor + P),
        ("the guard below", stack.floor - P, stack.floor),
        ("schedctl", SC_BASE + 7 * P, SC_BASE + 8 * P),
        ("over the guard", MMAP_TOP - P, MMAP_TOP + P),
    ] {
        assert_eq!(vm.check_changeable(start, end), Err(Errno::EINVAL), "{what}");
    }
    assert_eq!(vm.check_changeable(MMAP_TOP - P, MMAP_TOP), Ok(()));
    assert_eq!(vm.check_changeable(0x10_0000 + 6 * P, 0x10_0000 + 7 * P), Ok(()));
    // A layout without a stack or program (a process the kernel made itself).
    assert_eq!(Vm::new().check_changeable(USER_STACK_TOP - P, USER_STACK_TOP), Ok(()));
}

#[test]
fn a_fault_below_the_stack_grows_it_to_the_limit_and_not_past() {
    let mut vm = process();
    let s = vm.stack().unwrap();
    assert_eq!((s.low, s.top), (USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP));
    assert_eq!(s.floor, USER_STACK_TOP - STACK_LIMIT, "the limit in force (rctl's default)");
    let deep = s.low - 100 * P + 8;
    assert_eq!(vm.stack_growth(deep), Some(deep - 8..s.low));
    vm.grow_to(deep - 8);
    assert_eq!(vm.stack().unwrap().low, deep - 8);
    // Grown past it already: nothing to map.
    assert_eq!(vm.stack_growth(deep + P), Some(deep - 8..deep - 8));
    assert_eq!(vm.stack_growth(s.floor), Some(s.floor..deep - 8));
    for addr in [s.floor - 1, s.floor - P, MMAP_TOP - 8, USER_STACK_TOP, 0x10_0000] {
        assert_eq!(vm.stack_growth(addr), None, "{addr:#x}");
    }
    assert_eq!(Vm::new().stack_growth(s.low - 8), None, "no stack, no growth");
    // A fork's copy keeps how far it has grown.
    let copy = vm.try_clone().unwrap();
    assert_eq!((copy.stack(), copy.segments()), (vm.stack(), vm.segments()));
}

#[test]
fn segments_are_bounded() {
    let mut vm = Vm::new();
    // Alternating rights: no two merge.
    for i in 0..MAX_SEGS as u64 {
        let at = vm.find_gap(P).unwrap();
        vm.reserve(1).unwrap();
        vm.insert_anon(at, at + P, if i % 2 == 0 { R } else { RW });
    }
    assert_eq!(vm.segments().len(), MAX_SEGS);
    assert_eq!(vm.reserve(1), Err(Errno::ENOMEM));
    let last: &Seg = vm.segments().first().unwrap();
    assert_eq!(last.start, MMAP_TOP - MAX_SEGS as u64 * P);
}
