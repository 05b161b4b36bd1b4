//! What boot sets up: the boot arguments (`kern::boot`), and the resource limits
//! sized from the heap and the page pool (`kern::rctl`, S16).

use kern::boot::bootarg;
use kern::exec::{STACK_LIMIT, USER_STACK_SIZE};
use kern::rctl::size::{
    sized_for, stack_sized_for, KERNEL_RESERVE, LWP_COST, PROC_PAGES, THREAD_COST,
};

#[test]
fn boot_arguments_are_found_by_key() {
    assert_eq!(bootarg("hz=250 test=a,b", "hz"), Some("250"));
    assert_eq!(bootarg("hz=250 test=a,b", "test"), Some("a,b"));
    assert_eq!(bootarg("hzz=1", "hz"), None);
    assert_eq!(bootarg("", "hz"), None);
}

#[test]
fn limits_fit_in_half_the_heap_and_keep_a_reserve() {
    let heap = 11 << 20;
    let l = sized_for(heap, 30_000);
    assert!(l.max_threads as usize * (THREAD_COST + LWP_COST) <= heap / 2);
    assert!(l.max_lwps < l.max_threads && l.lwps_per_proc <= l.max_lwps);
    assert!(l.max_procs >= 4);
    let small = sized_for(64 << 10, 30_000);
    assert!(small.max_threads >= 2 * KERNEL_RESERVE, "a floor for tiny heaps: {small:?}");
    assert!(small.max_lwps >= 1);
}

#[test]
fn processes_and_stacks_scale_with_the_page_pool() {
    let heap = 11 << 20;
    let (big, small) = (sized_for(heap, 30_000), sized_for(heap, 20 * PROC_PAGES));
    // A small pool holds fewer processes than the heap would; a big one does not
    // change the heap's limit; the thread limits are the heap's alone.
    assert_eq!(small.max_procs, 20);
    assert!(big.max_procs > small.max_procs && big.max_procs as usize <= 30_000 / PROC_PAGES);
    assert_eq!((big.max_threads, big.max_lwps), (small.max_threads, small.max_lwps));
    assert!(sized_for(heap, 0).max_procs >= 4, "a floor for a machine without a pool");
    // Solaris' 8 MiB with memory enough; an eighth of a small pool; never below
    // the initial stack.
    assert_eq!(stack_sized_for(30_000), STACK_LIMIT);
    assert_eq!(stack_sized_for(2048), 2 << 20);
    assert_eq!(stack_sized_for(16), USER_STACK_SIZE);
}
