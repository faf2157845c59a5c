//! In-process implementation, for the embedded mode and tests. One node only.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Ephemeral, EphemeralResult};

enum Value {
    Text(String),
    Counter(u64),
    Set(HashSet<String>),
}

struct Entry {
    value: Value,
    expires_at: Instant,
}

/// Keys live in one map behind a mutex; expired keys are ignored on read and swept now and
/// then on write.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
    writes: AtomicU64,
}

const SWEEP_EVERY_WRITES: u64 = 4096;

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_live<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .writes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY_WRITES)
        {
            map.retain(|_, e| e.expires_at > now);
        }
        f(&mut map, now)
    }
}

fn live<'a>(map: &'a mut HashMap<String, Entry>, key: &str, now: Instant) -> Option<&'a mut Entry> {
    if map.get(key).is_some_and(|e| e.expires_at <= now) {
        map.remove(key);
    }
    map.get_mut(key)
}

#[async_trait]
impl Ephemeral for MemoryStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()> {
        self.with_live(|map, now| {
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Text(value.to_owned()),
                    expires_at: now + ttl,
                },
            );
        });
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        Ok(self.with_live(|map, now| {
            if live(map, key, now).is_some() {
                return false;
            }
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Text(value.to_owned()),
                    expires_at: now + ttl,
                },
            );
            true
        }))
    }

    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        Ok(self.with_live(|map, now| match live(map, key, now) {
            Some(entry) => {
                entry.value = Value::Text(value.to_owned());
                entry.expires_at = now + ttl;
                true
            }
            None => false,
        }))
    }

    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        Ok(
            self.with_live(|map, now| match live(map, key, now).map(|e| &e.value) {
                Some(Value::Text(t)) => Some(t.clone()),
                Some(Value::Counter(n)) => Some(n.to_string()),
                _ => None,
            }),
        )
    }

    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        Ok(self.with_live(|map, now| {
            live(map, key, now)?;
            match map.remove(key).map(|e| e.value) {
                Some(Value::Text(t)) => Some(t),
                Some(Value::Counter(n)) => Some(n.to_string()),
                _ => None,
            }
        }))
    }

    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        self.with_live(|map, _| map.remove(key));
        Ok(())
    }

    async fn incr(&self, key: &str, window: Duration) -> EphemeralResult<u64> {
        Ok(self.with_live(|map, now| match live(map, key, now) {
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => {
                *n += 1;
                *n
            }
            _ => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        value: Value::Counter(1),
                        expires_at: now + window,
                    },
                );
                1
            }
        }))
    }

    async fn decr(&self, key: &str) -> EphemeralResult<()> {
        self.with_live(|map, now| {
            if let Some(Entry {
                value: Value::Counter(n),
                ..
            }) = live(map, key, now)
            {
                *n = n.saturating_sub(1);
            }
        });
        Ok(())
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphemeralResult<()> {
        self.with_live(|map, now| {
            let until = now + ttl;
            match live(map, key, now) {
                Some(Entry {
                    value: Value::Set(set),
                    expires_at,
                }) => {
                    set.insert(member.to_owned());
                    *expires_at = (*expires_at).max(until);
                }
                _ => {
                    map.insert(
                        key.to_owned(),
                        Entry {
                            value: Value::Set(HashSet::from([member.to_owned()])),
                            expires_at: until,
                        },
                    );
                }
            }
        });
        Ok(())
    }

    async fn set_remove(&self, key: &str, member: &str) -> EphemeralResult<()> {
        self.with_live(|map, now| {
            if let Some(Entry {
                value: Value::Set(set),
                ..
            }) = live(map, key, now)
            {
                set.remove(member);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        });
        Ok(())
    }

    async fn set_members(&self, key: &str) -> EphemeralResult<Vec<String>> {
        Ok(self.with_live(|map, now| match live(map, key, now) {
            Some(Entry {
                value: Value::Set(set),
                ..
            }) => set.iter().cloned().collect(),
            _ => Vec::new(),
        }))
    }

    async fn set_contains(&self, key: &str, member: &str) -> EphemeralResult<bool> {
        Ok(self.with_live(|map, now| match live(map, key, now) {
            Some(Entry {
                value: Value::Set(set),
                ..
            }) => set.contains(member),
            _ => false,
        }))
    }

    async fn ping(&self) -> EphemeralResult<()> {
        Ok(())
    }
}
