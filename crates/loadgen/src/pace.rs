//! Sending at a fixed rate: the sends are spread evenly over the run (checked every
//! millisecond), each runs as its own task, and at most `max_in_flight` are outstanding, so
//! a slow system shows up as a lower achieved rate rather than unbounded memory.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio::sync::Semaphore;

/// What a paced run achieved.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    /// Sends started.
    pub sent: u64,
    /// From the first send to the last one's end.
    pub elapsed: Duration,
}

impl Paced {
    pub fn per_second(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// Runs `send(seq)` for seq = 0, 1, ... at `rate` per second for `duration`.
pub async fn at_rate<F, Fut>(
    rate: u64,
    duration: Duration,
    max_in_flight: usize,
    progress: &ProgressBar,
    send: F,
) -> Paced
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let start = Instant::now();
    let mut seq = 0_u64;
    while seq < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while seq < due {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let sending = send(seq);
            tokio::spawn(async move {
                sending.await;
                drop(permit);
            });
            seq += 1;
        }
        progress.set_position(seq);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    let _all_done = in_flight.acquire_many(all).await;
    progress.set_position(seq);
    Paced {
        sent: seq,
        elapsed: start.elapsed(),
    }
}
