//! A precise wake-up for attempts that are about to start.
//!
//! tokio's timer has a resolution of one millisecond, rounds every deadline
//! up to the next tick, and fires only when a worker thread gets round to
//! polling the time driver, which on a busy node (Raft, gRPC, sled, a
//! thousand waiting attempts) measured 2-3 ms late at the median. The
//! start of a run is the one place where that matters (G3: p99 ≤ 2 ms late),
//! so the last stretch of each wait runs on one dedicated thread that
//! sleeps on a condition variable (futex timeouts are hrtimers: tens of
//! microseconds late) and wakes the waiting task through a oneshot.
//!
//! Long waits still use tokio's timer (cheap, and a few milliseconds do
//! not matter a second ahead); only the final [`PRECISE_WINDOW`] is handed
//! over here, so the heap holds just the attempts due in the next moments.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long before a deadline a waiter moves from tokio's timer to the
/// precise thread: more than tokio's lateness under load, so the hand-over
/// happens in time.
pub const PRECISE_WINDOW: Duration = Duration::from_millis(5);

/// Most waiters queued at once; beyond that a waiter falls back to tokio's
/// timer (correct, only less punctual). One node starts at most a few
/// thousand attempts per second, so this is never reached in practice.
const MAX_WAITERS: usize = 65_536;

struct Waiter {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Waiter>>,
    seq: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// Handle to the timer thread; the thread ends when the last handle goes.
#[derive(Clone)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

/// Closes the queue when the last handle is dropped, so the thread exits.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        lock(&self.0.queue).closed = true;
        self.0.changed.notify_one();
    }
}

fn lock(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("precise-timer".into())
            .spawn(move || run(&thread_shared))?;
        Ok(PreciseTimer {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
        })
    }

    /// Waits until `at`: on tokio's timer until [`PRECISE_WINDOW`] before
    /// it, then on the precise thread.
    pub async fn sleep_until(&self, at: Instant) {
        let coarse = at.checked_sub(PRECISE_WINDOW).unwrap_or(at);
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse.into()).await;
        }
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        let queued = {
            let mut q = lock(&self.shared.queue);
            let room = !q.closed && q.heap.len() < MAX_WAITERS;
            if room {
                q.seq += 1;
                let seq = q.seq;
                q.heap.push(Reverse(Waiter { at, seq, wake }));
            }
            room
        };
        if !queued {
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        self.shared.changed.notify_one();
        if woken.await.is_err() {
            // The thread is gone (shutdown): fall back rather than hang.
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

/// The timer thread: wakes each waiter at its instant, earliest first.
fn run(shared: &Shared) {
    let mut q = lock(&shared.queue);
    loop {
        if q.closed {
            return; // dropping the senders wakes any waiter left
        }
        let now = Instant::now();
        while q.heap.peek().is_some_and(|w| w.0.at <= now) {
            if let Some(Reverse(w)) = q.heap.pop() {
                // A waiter that gave up (its task ended) is no concern.
                let _ = w.wake.send(());
            }
        }
        q = match q.heap.peek().map(|w| w.0.at) {
            Some(next) => {
                let wait = next.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(q, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
            None => shared.changed.wait(q).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    /// How late each of `deadlines` woke, by `sleep`, all waiting at once.
    async fn lateness<F, Fut>(deadlines: &[Instant], sleep: F) -> Vec<Duration>
    where
        F: Fn(Instant) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tasks: Vec<_> = deadlines
            .iter()
            .map(|&at| {
                let wait = sleep(at);
                tokio::spawn(async move {
                    wait.await;
                    let now = Instant::now();
                    assert!(now >= at, "a waiter woke {:?} before its instant", at - now);
                    now - at
                })
            })
            .collect();
        let mut late = Vec::new();
        for t in tasks {
            late.push(t.await.expect("waiter task"));
        }
        late
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// Every waiter wakes, none before its instant, whatever the order in
    /// which they were queued; and no later than tokio's own timer does
    /// for the same instants in the same run (the anchor: a slow machine
    /// delays both, a timer that wakes its waiters late only this one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_waiter_wakes_never_early_and_no_later_than_tokios_timer() {
        let timer = PreciseTimer::start().expect("timer thread");
        let base = Instant::now() + Duration::from_millis(50);
        let deadlines: Vec<Instant> = [3u64, 1, 2, 0, 7, 5, 9, 4, 8, 6, 11, 10]
            .iter()
            .map(|i| base + Duration::from_millis(i * 7))
            .collect();
        let precise = {
            let timer = timer.clone();
            lateness(&deadlines, move |at| {
                let timer = timer.clone();
                async move { timer.sleep_until(at).await }
            })
            .await
        };
        let base = Instant::now() + Duration::from_millis(50);
        let later: Vec<Instant> = deadlines
            .iter()
            .map(|d| base + d.saturating_duration_since(deadlines[3]))
            .collect();
        let tokio = lateness(&later, |at| tokio::time::sleep_until(at.into())).await;
        let (p, t) = (median(precise.clone()), median(tokio.clone()));
        // 20 ms: scheduling noise between two runs a moment apart; a timer
        // that is late by design (a missed wake-up, a coarse sleep) is
        // late by far more, as tokio's own rounding is about 1 ms.
        assert!(
            p <= t + Duration::from_millis(20),
            "precise timer median {p:?} late, tokio's {t:?} (precise {precise:?}, tokio {tokio:?})"
        );
    }

    /// A deadline already past is ready on the first poll: no trip through
    /// any timer.
    #[test]
    fn a_past_deadline_is_ready_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let timer = PreciseTimer::start().expect("timer thread");
        let mut wait = std::pin::pin!(timer.sleep_until(Instant::now()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            wait.as_mut().poll(&mut cx).is_ready(),
            "sleep_until of a past instant was pending"
        );
    }
}
