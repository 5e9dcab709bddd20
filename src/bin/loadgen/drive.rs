//! How load is applied: closed loop (N clients, each sends its next request when the previous one
//! is answered — finds the peak throughput) or open loop (requests start on a fixed schedule
//! whatever the answers — a steady rate for the soak; latency counts from the scheduled start, so
//! a stall is not hidden by the client waiting).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

/// One unit of work. `started` is when it was due (closed loop: now).
pub trait Load: Send + Sync + 'static {
    fn run(self: Arc<Self>, started: Instant) -> impl Future<Output = ()> + Send;
    /// Open loop only: a start was due while `max_in_flight` were still running; not sent.
    fn overload(&self);
}

/// `concurrency` clients for `duration`; returns the elapsed time until the last one finished.
pub async fn closed_loop<L: Load>(
    load: Arc<L>,
    concurrency: usize,
    duration: Duration,
) -> Duration {
    let begin = Instant::now();
    let end = begin + duration;
    let mut set = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let load = load.clone();
        set.spawn(async move {
            while Instant::now() < end {
                load.clone().run(Instant::now()).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    begin.elapsed()
}

/// `rate` starts per second for `duration`, at most `max_in_flight` at once.
pub async fn open_loop<L: Load>(
    load: Arc<L>,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> Duration {
    let begin = Instant::now();
    let end = begin + duration;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    // Keep to the schedule: late ticks fire at once rather than shifting every later start.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    loop {
        let due = ticker.tick().await;
        if due >= end {
            break;
        }
        while set.try_join_next().is_some() {}
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            load.overload();
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (load, in_flight) = (load.clone(), in_flight.clone());
        set.spawn(async move {
            load.run(due).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    while set.join_next().await.is_some() {}
    begin.elapsed()
}
