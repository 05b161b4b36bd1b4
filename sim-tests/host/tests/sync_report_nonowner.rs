//! Leaving a mutex another thread holds is a kernel bug that must be reported
//! (S8), naming both threads.

#[test]
fn mutex_exit_by_non_owner_is_reported_with_both_threads() {
    let msg = sim_tests::panic_of(2, "test=sync_mutex_exit_by_non_owner_reported");
    assert!(msg.starts_with("mutex_exit by a non-owner: thread "), "{msg}");
    assert!(msg.contains("held by thread") && msg.contains("'nonowner_holder'"), "{msg}");
}
