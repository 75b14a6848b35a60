//! Gives memory back to the operating system once a burst of work is over. glibc keeps freed memory
//! in its arenas (one per busy thread, and a tokio runtime has many), so after a load peak an idle
//! app would go on holding it. Linux with glibc only; other allocators follow their own policy.

use std::time::Duration;

use super::WeakCore;

/// How often the core looks for a finished burst.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Starts the background check: when tasks have ended since the last look and none is running, the
/// finished tasks' replay rings and SQLite's page caches are dropped (a resume then reads the
/// database) and free memory is returned (`malloc_trim`), off the async threads.
pub(crate) fn spawn_idle_release(core: WeakCore) {
    tokio::spawn(async move {
        let mut seen = 0u64;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let Some(core) = core.upgrade() else { return };
            let hub = &core.engine().hub;
            let ended = hub.streams_closed();
            if ended != seen && hub.is_idle() {
                seen = ended;
                // Caches first (the database holds all of it), then the allocator's free memory.
                hub.drop_finished_rings();
                let store = core.store().clone();
                let _ = tokio::task::spawn_blocking(move || {
                    store.shrink_memory_blocking();
                    release_free_memory();
                })
                .await;
            }
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; any pad value is valid.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
