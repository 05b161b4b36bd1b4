//! What boot sets up: the boot arguments (`kern::boot`), and the resource limits
//! sized from the heap (`kern::rctl`, S16).

use kern::boot::bootarg;
use kern::rctl::{sized_for, KERNEL_RESERVE, LWP_COST, THREAD_COST};

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
    let l = sized_for(heap);
    assert!(l.max_threads as usize * (THREAD_COST + LWP_COST) <= heap / 2);
    assert!(l.max_lwps < l.max_threads && l.lwps_per_proc <= l.max_lwps);
    assert!(l.max_procs >= 4);
    let small = sized_for(64 << 10);
    assert!(small.max_threads >= 2 * KERNEL_RESERVE, "a floor for tiny heaps: {small:?}");
    assert!(small.max_lwps >= 1);
}
