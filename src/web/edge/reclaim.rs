//! Gives memory back to the system after connections and streams end.
//! glibc's allocator keeps what a burst freed (a thousand stuck streams,
//! a flood of heads) inside its heaps, so without this the dashboard's
//! RSS stays at the burst's peak for good. `malloc_trim` returns the
//! free pages; it runs at most once per `EVERY`, once after the last of
//! a burst of endings, and off the async threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(2);

static PENDING: AtomicBool = AtomicBool::new(false);

/// Something that held memory has ended: trim soon (coalesced).
pub fn soon() {
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        PENDING.store(false, Ordering::Release);
        return;
    };
    runtime.spawn(async {
        tokio::time::sleep(EVERY).await;
        // Endings from here on ask for the next trim.
        PENDING.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(trim).await;
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim takes a padding size and touches only the
    // allocator's own free lists; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
