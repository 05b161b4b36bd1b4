//! Entering a mutex the thread already holds is a kernel bug that must be
//! reported (S8), naming the thread.

#[test]
fn recursive_mutex_enter_is_reported() {
    let msg = sim_tests::panic_of(1, "test=sync_mutex_recursive_enter_reported");
    assert!(msg.starts_with("recursive mutex_enter: thread "), "{msg}");
    assert!(msg.contains("already holds mutex"), "{msg}");
}
