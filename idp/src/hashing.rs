//! Slow password hashing (argon2id), bounded. It runs on its own threads, one per worker
//! slot, at a lower CPU priority than the threads that answer requests: under a sign-in storm
//! the cores go to tokens, SSO and pages first and to hashing with what is left, and each
//! thread keeps reusing the same 19 MB of memory. A caller that would not get a slot within
//! the queue timeout is refused at once (the handler answers 503 with Retry-After) instead of
//! piling up. Unknown identifiers are checked against a dummy hash so that every failure costs
//! one verification.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher as _, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every slot stayed busy for the whole queue timeout, or would have.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Counters for metrics and for tests that check the constant-work rule.
#[derive(Debug, Default)]
pub struct HashingStats {
    pub verifications: AtomicU64,
    pub hashes: AtomicU64,
    pub refused: AtomicU64,
    /// How long callers waited for a hashing slot (refused ones included).
    pub wait: crate::metrics::Histogram,
}

/// Work for a hashing thread, given the thread's own argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Checks `password` against a PHC string, filling `memory` (grown when the stored hash asks
/// for more) instead of allocating 19 MB for each verification.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.version.map(Version::try_from).transpose(),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = vec![0u8; expected.as_bytes().len()];
    argon2
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut memory[..blocks])
        .is_ok()
        && crate::keys::constant_time_eq(&out, expected.as_bytes())
}

/// The bounded argon2id service shared by every request.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    workers: usize,
    /// Callers waiting for a slot.
    waiting: Arc<AtomicUsize>,
    /// How long the last hashes took, in microseconds (a moving average).
    hash_micros: Arc<AtomicU64>,
    queue_timeout: Duration,
    dummy_hash: Arc<String>,
    pub stats: Arc<HashingStats>,
}

/// Lowers the calling thread's CPU priority (Linux: `nice` is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority have no memory effects; failing leaves the priority as is.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

impl PasswordHasher {
    pub fn new(config: &PasswordConfig) -> Result<Self, HashingError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| HashingError::Internal(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let workers = if config.hashing_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.hashing_workers
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    // allocated at the first verification, then reused
                    let mut memory = Vec::new();
                    loop {
                        // the lock is held while waiting for one job, not while hashing
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            // every sender is gone: the hasher was dropped
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashingError::Internal(e.to_string()))?;
        }
        // The dummy hash has the same parameters as real ones, so checking it costs the same.
        let started = Instant::now();
        let dummy = argon2
            .hash_password(crate::keys::random_token(16).as_bytes())
            .map_err(|e| HashingError::Internal(e.to_string()))?
            .to_string();
        let first = started.elapsed().as_micros() as u64;
        Ok(Self {
            argon2: Arc::new(argon2),
            jobs,
            slots: Arc::new(Semaphore::new(workers)),
            workers,
            waiting: Arc::default(),
            hash_micros: Arc::new(AtomicU64::new(first.max(1))),
            queue_timeout: Duration::from_millis(config.hashing_queue_timeout_ms),
            dummy_hash: Arc::new(dummy),
            stats: Arc::default(),
        })
    }

    /// Hashes a newly chosen password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashingError> {
        let password = password.to_owned();
        let argon2 = self.argon2.clone();
        self.stats.hashes.fetch_add(1, Ordering::Relaxed);
        self.run(move |_| {
            argon2
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashingError::Internal(e.to_string()))
        })
        .await?
    }

    /// Verifies a password against a stored PHC string, or against the dummy hash when
    /// `stored` is `None`, so that the time taken does not tell whether the account exists.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashingError> {
        let real = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.to_owned();
        self.stats.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .run(move |memory| verify_in(memory, password.as_bytes(), &stored))
            .await?;
        Ok(real && matched)
    }

    /// Whether a caller arriving now would risk waiting past the queue timeout: those ahead of
    /// it, shared among the workers, each take about as long as the last hashes did, and the
    /// estimate is allowed to be wrong by half (hashes slow down when the cores are taken by
    /// other work) so that a refusal comes at once, not after the whole timeout.
    fn queue_is_full(&self, ahead: usize) -> bool {
        let per_hash = Duration::from_micros(self.hash_micros.load(Ordering::Relaxed));
        let rounds = (ahead / self.workers) as u32 + 1;
        per_hash.saturating_mul(rounds) > self.queue_timeout / 2
    }

    fn refuse<T>(&self) -> Result<T, HashingError> {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        Err(HashingError::Busy)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let arrived = Instant::now();
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.stats.wait.observe(Duration::ZERO);
                permit
            }
            Err(_) => {
                let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
                let waited = if self.queue_is_full(ahead) {
                    None
                } else {
                    tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                };
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.stats.wait.observe(arrived.elapsed());
                match waited {
                    Some(permit) => permit,
                    None => return self.refuse(),
                }
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let hash_micros = self.hash_micros.clone();
        let job: Job = Box::new(move |memory| {
            let started = Instant::now();
            let out = work(memory);
            let took = started.elapsed().as_micros() as u64;
            // a moving average over about eight hashes
            let before = hash_micros.load(Ordering::Relaxed);
            hash_micros.store((before * 7 + took) / 8, Ordering::Relaxed);
            drop(permit);
            let _ = tx.send(out);
        });
        self.jobs
            .send(job)
            .map_err(|_| HashingError::Internal("the hashing threads are gone".into()))?;
        rx.await
            .map_err(|_| HashingError::Internal("a hashing thread panicked".into()))
    }

    /// Slots free now (of `workers()`).
    pub fn available_slots(&self) -> usize {
        self.slots.available_permits()
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Callers waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PasswordConfig {
        PasswordConfig {
            hashing_workers: 1,
            hashing_queue_timeout_ms: 5_000,
            ..PasswordConfig::default()
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(&config()).unwrap();
        let stored = h.hash("Cartable-2026").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("Cartable-2026", Some(&stored)).await.unwrap());
        assert!(!h.verify("Cartable-2025", Some(&stored)).await.unwrap());
    }

    #[test]
    fn verification_in_reused_memory_agrees_with_argon2() {
        use argon2::PasswordVerifier as _;
        let mut memory = Vec::new();
        // a hash made with other parameters than ours, then ours: the memory grows, is reused
        for params in [
            Params::new(8_192, 3, 1, None),
            Params::new(19_456, 2, 1, None),
        ] {
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.unwrap());
            let stored = argon2.hash_password(b"Cartable-2026").unwrap().to_string();
            assert!(
                argon2
                    .verify_password(b"Cartable-2026", stored.as_str())
                    .is_ok()
            );
            assert!(verify_in(&mut memory, b"Cartable-2026", &stored));
            assert!(!verify_in(&mut memory, b"Cartable-2025", &stored));
        }
        assert_eq!(memory.len(), 19_456);
        assert!(!verify_in(&mut memory, b"x", "not a PHC string"));
    }

    #[tokio::test]
    async fn unknown_account_costs_one_verification_and_never_matches() {
        let h = PasswordHasher::new(&config()).unwrap();
        let before = h.stats.verifications.load(Ordering::Relaxed);
        assert!(!h.verify("anything", None).await.unwrap());
        assert_eq!(h.stats.verifications.load(Ordering::Relaxed), before + 1);
    }

    #[tokio::test]
    async fn saturated_hasher_refuses_quickly() {
        let h = PasswordHasher::new(&PasswordConfig {
            hashing_workers: 1,
            hashing_queue_timeout_ms: 1,
            ..PasswordConfig::default()
        })
        .unwrap();
        // hold the only slot
        let permit = h.slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(h.verify("x", None).await, Err(HashingError::Busy)));
        assert_eq!(h.stats.refused.load(Ordering::Relaxed), 1);
        drop(permit);
        assert!(!h.verify("x", None).await.unwrap());
    }

    #[tokio::test]
    async fn a_caller_who_would_wait_too_long_is_refused_at_once() {
        let h = PasswordHasher::new(&PasswordConfig {
            hashing_workers: 1,
            hashing_queue_timeout_ms: 60_000,
            ..PasswordConfig::default()
        })
        .unwrap();
        // hashes take 10 s each, as far as the hasher knows, and the slot is taken
        h.hash_micros.store(10_000_000, Ordering::Relaxed);
        let permit = h.slots.clone().acquire_owned().await.unwrap();
        h.waiting.store(6, Ordering::SeqCst);
        let started = std::time::Instant::now();
        assert!(matches!(h.verify("x", None).await, Err(HashingError::Busy)));
        assert!(started.elapsed() < Duration::from_secs(1));
        // with fewer ahead it waits, and gets the slot when it is given back
        h.waiting.store(0, Ordering::SeqCst);
        let waiting = tokio::spawn({
            let h = h.clone();
            async move { h.verify("x", None).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(permit);
        assert!(!waiting.await.unwrap().unwrap());
    }
}
