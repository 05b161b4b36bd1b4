//! A cycle of threads waiting for each other's mutexes is a kernel bug the
//! turnstiles must report (S8): two threads each hold one mutex and want the
//! other's; the kernel panics with the cycle, naming both threads.

#[test]
fn deadlock_cycle_is_reported_with_both_threads() {
    let msg = sim_tests::panic_of(2, "test=sync_deadlock_detected");
    assert!(msg.starts_with("deadlock: "), "{msg}");
    assert!(msg.contains("'deadlock_a'") && msg.contains("'deadlock_b'"), "{msg}");
    assert!(msg.contains("which waits for mutex"), "{msg}");
}
