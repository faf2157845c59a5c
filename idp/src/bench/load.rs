//! The load generator: closed loops (a fixed number of connections, each sending its next
//! request when the last one is answered: throughput) and open loops (requests started at a
//! fixed rate whatever the answers: the storm). Latencies are kept whole, in microseconds.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// What one case measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Latencies in microseconds, and their percentiles.
#[derive(Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The q-quantile (0.5, 0.99) in milliseconds; 0 when empty.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.0[i]) / 1000.0
    }
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `op` back to back on each of `states.len()` connections for `duration`, or until
/// `op` answers `Ok(false)` (nothing left to do). Each connection owns its state (a refresh
/// token that rotates, say) and hands it back with each answer.
pub async fn closed_loop<S, F, Fut>(states: Vec<S>, duration: Duration, op: F) -> Figure
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, anyhow::Result<bool>)> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for state in states {
        let op = op.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut state = state;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (next, outcome) = op(state).await;
                state = next;
                match outcome {
                    Ok(true) => tally.latencies.push(t.elapsed()),
                    Ok(false) => break,
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (tally, Instant::now())
        });
    }
    let mut all = Tally::default();
    let mut ended = started;
    while let Some(joined) = tasks.join_next().await {
        let Ok((tally, at)) = joined else { continue };
        ended = ended.max(at);
        all.latencies.extend(tally.latencies);
        all.errors += tally.errors;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
    }
    let seconds = (ended - started).as_secs_f64().max(1e-9);
    let requests = all.latencies.len() as u64;
    Figure {
        per_s: requests as f64 / seconds,
        p50_ms: all.latencies.quantile_ms(0.5),
        p99_ms: all.latencies.quantile_ms(0.99),
        requests,
        errors: all.errors,
        first_error: all.first_error,
    }
}

/// Starts `op` `rate` times a second for `duration`, whatever the answers, and gathers each
/// answer with its latency counted from when it was due (so that a slow server is not
/// excused by the generator waiting for it).
pub async fn open_loop<T, F, Fut>(rate: f64, duration: Duration, op: F) -> Vec<(Duration, T)>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = tokio::time::Instant::now();
    let total = (duration.as_secs_f64() * rate).round() as u64;
    let mut tasks = JoinSet::new();
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        let work = op(n);
        tasks.spawn(async move {
            let answer = work.await;
            (due.elapsed(), answer)
        });
    }
    let mut answers = Vec::with_capacity(total as usize);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_right_sample() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile_ms(0.5), 51.0);
        assert_eq!(l.quantile_ms(0.99), 99.0);
        assert_eq!(Latencies::default().quantile_ms(0.5), 0.0);
    }

    #[tokio::test]
    async fn a_closed_loop_stops_when_work_runs_out() {
        let queue = Arc::new(std::sync::Mutex::new((0..10).collect::<Vec<u32>>()));
        let figure = closed_loop(
            vec![queue.clone(), queue.clone()],
            Duration::from_secs(10),
            |q: Arc<std::sync::Mutex<Vec<u32>>>| async move {
                let item = q.lock().unwrap().pop();
                let outcome = match item {
                    Some(n) if n % 5 == 0 => Err(anyhow::anyhow!("refused {n}")),
                    Some(_) => Ok(true),
                    None => Ok(false),
                };
                (q, outcome)
            },
        )
        .await;
        assert_eq!(figure.requests, 8);
        assert_eq!(figure.errors, 2);
        assert!(figure.first_error.unwrap().starts_with("refused"));
    }

    #[tokio::test]
    async fn an_open_loop_starts_every_request_whatever_the_answers() {
        let answers = open_loop(1000.0, Duration::from_millis(100), |n| async move {
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            n
        })
        .await;
        assert_eq!(answers.len(), 100);
        // the slow first answer did not hold the others back
        let slow = answers.iter().find(|(_, n)| *n == 0).unwrap().0;
        assert!(slow >= Duration::from_millis(50));
        assert_eq!(answers.iter().map(|(_, n)| n).sum::<u64>(), 4950);
    }
}
