//! The bounded batch queue and worker loop shared by the span and log pipelines.
//!
//! Producers push under a short mutex (a `Vec` push) and wake the worker only when a full
//! batch is waiting, a flush or shutdown is asked for, or the queue closes: a steady
//! stream of items costs no wake-up (no syscall) per item, which a channel whose receiver
//! sleeps between items does. The worker takes a batch at a time (one lock per batch),
//! so producers and the exporter barely meet. Bounded by count and estimated bytes; a
//! push past either bound is refused for the caller to count. What the worker holds
//! beyond the bounds is one batch, as in any batch processor.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a caller waits for from the worker.
#[derive(Debug)]
enum Request {
    /// Export everything queued before it.
    Flush(mpsc::Sender<()>),
    /// Export everything queued, then stop.
    Shutdown(mpsc::Sender<()>),
}

#[derive(Debug)]
struct State<T> {
    /// Items and their estimated bytes, oldest first.
    items: VecDeque<(T, usize)>,
    bytes: usize,
    /// Items ever pushed, and ever taken by the worker.
    pushed: u64,
    taken: u64,
    /// Requests and the `pushed` count when they were made: a flush covers those items.
    requests: Vec<(Request, u64)>,
    /// The worker stopped: pushes are refused, requests unanswered.
    closed: bool,
}

/// A bounded queue of items for one worker thread.
#[derive(Debug)]
pub(crate) struct BatchQueue<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    max_items: usize,
    max_bytes: usize,
    /// Items that make a batch worth waking the worker for.
    batch: usize,
}

impl<T> BatchQueue<T> {
    /// A queue holding at most `max_items` items and `max_bytes` estimated bytes, whose
    /// worker is woken when `batch` items wait.
    pub(crate) fn new(max_items: usize, max_bytes: usize, batch: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                pushed: 0,
                taken: 0,
                requests: Vec::new(),
                closed: false,
            }),
            wake: Condvar::new(),
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            batch: batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` of `bytes` estimated bytes; gives it back when the queue is full (by
    /// count or bytes) or closed.
    pub(crate) fn push(&self, item: T, bytes: usize) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed
            || state.items.len() >= self.max_items
            || state.bytes.saturating_add(bytes) > self.max_bytes
        {
            return Err(item);
        }
        state.items.push_back((item, bytes));
        state.bytes += bytes;
        state.pushed += 1;
        let wake = state.items.len() == self.batch;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Asks the worker to export everything queued so far; `false` if that did not finish
    /// within `timeout` (or the worker is gone).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.request(Request::Flush, timeout)
    }

    /// Asks the worker to export everything queued and stop; `false` if that did not
    /// finish within `timeout` (or the worker is gone).
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        self.request(Request::Shutdown, timeout)
    }

    fn request(&self, make: fn(mpsc::Sender<()>) -> Request, timeout: Duration) -> bool {
        let (ack, acked) = mpsc::channel();
        {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            let upto = state.pushed;
            state.requests.push((make(ack), upto));
        }
        self.wake.notify_one();
        acked.recv_timeout(timeout).is_ok()
    }

    /// Refuses pushes and requests from now on (the worker stops); the items still
    /// queued. The requests still waiting are dropped, so their callers stop waiting.
    fn close(&self) -> Vec<T> {
        let (items, requests) = {
            let mut state = self.lock();
            state.closed = true;
            state.bytes = 0;
            (
                std::mem::take(&mut state.items),
                std::mem::take(&mut state.requests),
            )
        };
        drop(requests);
        items.into_iter().map(|(item, _)| item).collect()
    }

    /// Waits until a batch is due, a request came or `deadline` passed; takes up to a
    /// batch of the oldest items into `taken`, and the requests.
    fn take(&self, deadline: Instant, taken: &mut Vec<T>) -> Vec<Request> {
        let mut state = self.lock();
        loop {
            if state.items.len() >= self.batch || !state.requests.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let n = state.items.len().min(self.batch);
        let mut bytes = 0;
        taken.extend(state.items.drain(..n).map(|(item, b)| {
            bytes += b;
            item
        }));
        state.bytes -= bytes;
        state.taken += n as u64;
        // A request covers what was queued before it: it is the worker's once all of that
        // is taken (later pushes never hold it back).
        let taken_all = state.taken;
        let (due, waiting) = std::mem::take(&mut state.requests)
            .into_iter()
            .partition(|(_, upto)| *upto <= taken_all);
        state.requests = waiting;
        due.into_iter().map(|(request, _)| request).collect()
    }
}

/// What a pipeline's worker does with the items of its queue.
pub(crate) trait Batcher<T> {
    /// Takes one item into the batch being built.
    fn accept(&mut self, item: T);

    /// Items in the batch being built.
    fn len(&self) -> usize;

    /// Exports the batch built so far (when not empty).
    fn export(&mut self);

    /// Before stopping: whatever is held back (the tail sampler's traces) is decided and
    /// exported, and the exporter shut down.
    fn finish(&mut self);
}

/// Runs `batcher` over `queue` until a shutdown request: a batch is exported when it
/// reaches `max_batch` items, when `delay` passed since the last export, and on a flush.
pub(crate) fn run<T, B: Batcher<T>>(
    queue: &BatchQueue<T>,
    batcher: &mut B,
    max_batch: usize,
    delay: Duration,
) {
    let mut last_export = Instant::now();
    let mut taken = Vec::new();
    loop {
        let requests = queue.take(last_export + delay, &mut taken);
        for item in taken.drain(..) {
            batcher.accept(item);
            if batcher.len() >= max_batch {
                batcher.export();
                last_export = Instant::now();
            }
        }
        if !requests.is_empty() || last_export.elapsed() >= delay {
            batcher.export();
            last_export = Instant::now();
        }
        let mut shutdowns = Vec::new();
        for request in requests {
            match request {
                Request::Flush(ack) => {
                    let _ = ack.send(());
                }
                Request::Shutdown(ack) => shutdowns.push(ack),
            }
        }
        if !shutdowns.is_empty() {
            // What was pushed until the queue closed is exported too; later pushes are
            // refused (and counted by their callers).
            for item in queue.close() {
                batcher.accept(item);
                if batcher.len() >= max_batch {
                    batcher.export();
                }
            }
            batcher.finish();
            for ack in shutdowns {
                let _ = ack.send(());
            }
            return;
        }
    }
}

/// Closes `queue` when dropped: the worker thread ending by a panic (exports are
/// guarded, so only a bug) never leaves producers queueing into a queue nobody drains
/// nor callers waiting for a flush.
pub(crate) struct CloseOnDrop<'a, T>(pub(crate) &'a BatchQueue<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        drop(self.0.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The batches exported so far.
    type Exported = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Collects exported batches.
    #[derive(Default)]
    struct Collect {
        batch: Vec<u32>,
        exported: Exported,
        finished: bool,
    }

    impl Batcher<u32> for Collect {
        fn accept(&mut self, item: u32) {
            self.batch.push(item);
        }
        fn len(&self) -> usize {
            self.batch.len()
        }
        fn export(&mut self) {
            if !self.batch.is_empty() {
                self.exported
                    .lock()
                    .unwrap()
                    .push(std::mem::take(&mut self.batch));
            }
        }
        fn finish(&mut self) {
            self.export();
            self.finished = true;
        }
    }

    fn start(
        queue: &Arc<BatchQueue<u32>>,
        delay: Duration,
    ) -> (Exported, std::thread::JoinHandle<bool>) {
        let exported = Arc::new(Mutex::new(Vec::new()));
        let mut batcher = Collect {
            exported: Arc::clone(&exported),
            ..Collect::default()
        };
        let queue = Arc::clone(queue);
        let handle = std::thread::spawn(move || {
            let _close = CloseOnDrop(&queue);
            run(&queue, &mut batcher, 4, delay);
            batcher.finished
        });
        (exported, handle)
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let queue = BatchQueue::new(3, 100, 10);
        assert_eq!(queue.push(1, 10), Ok(()));
        assert_eq!(queue.push(2, 90), Ok(()));
        assert_eq!(queue.push(3, 1), Err(3), "bytes");
        assert_eq!(queue.push(4, 0), Ok(()));
        assert_eq!(queue.push(5, 0), Err(5), "count");
    }

    #[test]
    fn flush_exports_everything_queued_in_batches_then_shutdown_stops() {
        let queue = Arc::new(BatchQueue::new(100, 1 << 20, 4));
        // A long delay: only the batch size and the flush export.
        let (exported, handle) = start(&queue, Duration::from_secs(3600));
        for i in 0..10 {
            queue.push(i, 1).unwrap();
        }
        assert!(queue.flush(Duration::from_secs(10)));
        let all: Vec<u32> = exported.lock().unwrap().concat();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(exported.lock().unwrap().iter().all(|b| b.len() <= 4));
        queue.push(10, 1).unwrap();
        assert!(queue.shutdown(Duration::from_secs(10)));
        assert!(handle.join().unwrap(), "finished");
        assert_eq!(exported.lock().unwrap().concat().len(), 11);
        // Closed: refused, and requests answer at once.
        assert_eq!(queue.push(11, 1), Err(11));
        assert!(!queue.flush(Duration::from_secs(10)));
    }

    #[test]
    fn a_flush_covers_what_came_before_it_while_pushes_go_on() {
        let queue = Arc::new(BatchQueue::new(1 << 20, usize::MAX, 4));
        let (exported, handle) = start(&queue, Duration::from_secs(3600));
        for i in 0..6 {
            queue.push(i, 1).unwrap();
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producer = {
            let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 100;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = queue.push(i, 1);
                    i += 1;
                }
            })
        };
        // Answered although the queue never empties.
        assert!(queue.flush(Duration::from_secs(10)));
        let all: Vec<u32> = exported.lock().unwrap().concat();
        assert_eq!(all[..6], [0, 1, 2, 3, 4, 5]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        producer.join().unwrap();
        assert!(queue.shutdown(Duration::from_secs(10)));
        handle.join().unwrap();
    }

    #[test]
    fn the_delay_exports_a_partial_batch() {
        let queue = Arc::new(BatchQueue::new(100, 1 << 20, 4));
        let (exported, handle) = start(&queue, Duration::from_millis(20));
        queue.push(7, 1).unwrap();
        let start = Instant::now();
        while exported.lock().unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "never exported");
            std::thread::yield_now();
        }
        assert_eq!(exported.lock().unwrap().concat(), [7]);
        assert!(queue.shutdown(Duration::from_secs(10)));
        handle.join().unwrap();
    }

    #[test]
    fn a_worker_that_died_closes_the_queue() {
        let queue = Arc::new(BatchQueue::<u32>::new(100, 1 << 20, 4));
        let q = Arc::clone(&queue);
        std::thread::spawn(move || {
            let _close = CloseOnDrop(&q);
            panic!("the exporter panicked");
        })
        .join()
        .unwrap_err();
        assert_eq!(queue.push(1, 1), Err(1));
        let start = Instant::now();
        assert!(!queue.flush(Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
