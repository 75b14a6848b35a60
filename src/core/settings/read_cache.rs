//! The core's read cache for settings and decrypted provider keys (see [`ReadCache`]).

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use crate::core::crypto::SecretString;
use crate::core::settings::Setting;

/// Most settings rows (or absences) the read cache holds.
const CACHED_SETTINGS: usize = 1024;
/// Larger setting values are not cached (always read from the store), so the cache stays small:
/// at most `CACHED_SETTINGS × CACHED_SETTING_MAX_BYTES` of values.
pub(crate) const CACHED_SETTING_MAX_BYTES: usize = 8 * 1024;
/// Most decrypted provider keys (or absences) the read cache holds.
const CACHED_PROVIDER_KEYS: usize = 256;

/// The core's read cache: settings rows and decrypted provider keys by (user, key), so a repeated
/// read never leaves the async thread.
///
/// Correctness under concurrent writes: each part has a generation, bumped with every invalidation.
/// A read that misses notes the generation before it reads the store and fills the cache only if no
/// invalidation happened since; a write invalidates after its transaction commits (an [`Invalidate`]
/// returned out of the write closure), so once a write returns, no read can hold or put back an older
/// value. Decrypted keys are [`SecretString`]s, wiped when evicted, replaced, invalidated or dropped.
/// A decrypted provider key and the endpoint origin it is bound to.
#[derive(Clone)]
pub(crate) struct BoundKey {
    pub(crate) origin: String,
    pub(crate) key: SecretString,
}

pub(crate) struct ReadCache {
    pub(crate) settings: Part<(String, String), Option<Setting>>,
    pub(crate) provider_keys: Part<(String, &'static str), Option<BoundKey>>,
}

impl ReadCache {
    pub(crate) fn new() -> Self {
        Self {
            settings: Part::new(CACHED_SETTINGS),
            provider_keys: Part::new(CACHED_PROVIDER_KEYS),
        }
    }

    /// Forgets every decrypted key (master key rotation).
    pub(crate) fn clear_provider_keys(&self) {
        self.provider_keys.clear();
    }
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sizes only: never a value, let alone a key.
        f.debug_struct("ReadCache")
            .field("settings", &self.settings.len())
            .field("provider_keys", &self.provider_keys.len())
            .finish()
    }
}

pub(crate) enum Lookup<V> {
    Hit(V),
    /// Not cached; the generation to hand back to [`Part::fill`].
    Miss(u64),
}

pub(crate) struct Part<K: Hash + Eq, V> {
    state: Mutex<PartState<K, V>>,
}

struct PartState<K: Hash + Eq, V> {
    entries: LruCache<K, V>,
    generation: u64,
}

impl<K: Hash + Eq, V: Clone> Part<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(PartState {
                entries: LruCache::new(NonZeroUsize::new(capacity).expect("non-zero capacity")),
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PartState<K, V>> {
        // Nothing panics while the lock is held; a poisoned cache is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub(crate) fn get(&self, key: &K) -> Lookup<V> {
        let mut state = self.lock();
        let generation = state.generation;
        match state.entries.get(key) {
            Some(v) => Lookup::Hit(v.clone()),
            None => Lookup::Miss(generation),
        }
    }

    /// Caches what a read found, unless something was invalidated since the read began (`seen`).
    pub(crate) fn fill(&self, key: K, value: V, seen: u64) {
        let mut state = self.lock();
        if state.generation == seen {
            let evicted = state.entries.push(key, value);
            drop(state);
            drop(evicted);
        }
    }

    fn invalidate(&self, key: &K) {
        let mut state = self.lock();
        state.generation += 1;
        let old = state.entries.pop(key);
        drop(state);
        drop(old);
    }

    fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.entries.clear();
    }
}

/// Invalidates one cache entry when dropped. A write closure returns it, so it drops after the
/// transaction commits (or rolls back) — even when the caller's future was dropped mid-write, since
/// tokio then drops the blocking task's output itself.
#[must_use]
pub(crate) struct Invalidate {
    cache: Arc<ReadCache>,
    target: Target,
}

enum Target {
    Setting((String, String)),
    ProviderKey((String, &'static str)),
    AllProviderKeys,
}

impl Invalidate {
    pub(crate) fn setting(cache: &Arc<ReadCache>, user: &str, key: &str) -> Self {
        Self {
            cache: cache.clone(),
            target: Target::Setting((user.to_string(), key.to_string())),
        }
    }

    pub(crate) fn provider_key(cache: &Arc<ReadCache>, user: &str, provider: &'static str) -> Self {
        Self {
            cache: cache.clone(),
            target: Target::ProviderKey((user.to_string(), provider)),
        }
    }

    /// Every decrypted key (master key rotation re-seals them all).
    pub(crate) fn all_provider_keys(cache: &Arc<ReadCache>) -> Self {
        Self {
            cache: cache.clone(),
            target: Target::AllProviderKeys,
        }
    }
}

impl Drop for Invalidate {
    fn drop(&mut self) {
        match &self.target {
            Target::Setting(id) => self.cache.settings.invalidate(id),
            Target::ProviderKey(id) => self.cache.provider_keys.invalidate(id),
            Target::AllProviderKeys => self.cache.clear_provider_keys(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit<V>(l: Lookup<V>) -> Option<V> {
        match l {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_read_that_began_before_an_invalidation_does_not_fill() {
        let part: Part<u32, &str> = Part::new(4);
        let Lookup::Miss(seen) = part.get(&1) else {
            panic!("empty cache")
        };
        // A write commits and invalidates while the read is at the store.
        part.invalidate(&1);
        part.fill(1, "old", seen);
        assert!(hit(part.get(&1)).is_none(), "the stale read was cached");
        let Lookup::Miss(seen) = part.get(&1) else {
            panic!("still empty")
        };
        part.fill(1, "new", seen);
        assert_eq!(hit(part.get(&1)), Some("new"));
        part.clear();
        assert!(hit(part.get(&1)).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let part: Part<u32, u32> = Part::new(3);
        for k in 0..3 {
            let Lookup::Miss(seen) = part.get(&k) else {
                panic!()
            };
            part.fill(k, k * 10, seen);
        }
        assert_eq!(hit(part.get(&0)), Some(0));
        let Lookup::Miss(seen) = part.get(&3) else {
            panic!()
        };
        part.fill(3, 30, seen);
        assert_eq!(part.len(), 3);
        assert!(hit(part.get(&1)).is_none(), "1 was the least recently used");
        assert_eq!(hit(part.get(&0)), Some(0));
    }

    #[test]
    fn debug_shows_sizes_only() {
        let cache = ReadCache::new();
        let Lookup::Miss(seen) = cache.provider_keys.get(&("u".into(), "openai")) else {
            panic!()
        };
        cache.provider_keys.fill(
            ("u".into(), "openai"),
            Some(BoundKey {
                origin: "https://api.openai.com".into(),
                key: SecretString::new("sk-debug-canary-0000abcd"),
            }),
            seen,
        );
        let debug = format!("{cache:?}");
        assert_eq!(debug, "ReadCache { settings: 0, provider_keys: 1 }");
    }
}
