//! The acceptor's view of the connections being served, and which one makes room for a
//! newcomer when every slot is taken.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A connection being served, as the acceptor sees it.
pub(super) struct Conn {
    pub(super) id: u64,
    /// A handle on the same socket, to close it from the acceptor.
    pub(super) stream: TcpStream,
    /// [`READING`], [`HANDLING`] or [`WRITING`].
    pub(super) phase: AtomicU8,
    /// When it was accepted: only connections older than [`EVICTABLE_AFTER`] are evicted,
    /// so a flood of new connections cannot push out a probe that just arrived.
    pub(super) since: Instant,
}

/// How long a connection may send its request before it may be evicted for a newcomer.
const EVICTABLE_AFTER: Duration = Duration::from_millis(500);
/// How long a connection may take in all (its request and its answer) before it may be
/// evicted for a newcomer even while being answered: a scrape on a working network takes
/// milliseconds, so only a client reading its answer very slowly gets there, and such
/// clients would otherwise hold every slot for the whole answer deadline.
const SLOW_READER_AFTER: Duration = Duration::from_secs(1);

/// A connection's phase: sending its request (evictable after [`EVICTABLE_AFTER`]).
pub(super) const READING: u8 = 0;
/// Its handler runs (never evicted).
pub(super) const HANDLING: u8 = 1;
/// Being written its answer (evictable [`SLOW_READER_AFTER`] after it arrived).
pub(super) const WRITING: u8 = 2;

/// The connections being served, oldest first.
#[derive(Default)]
pub(super) struct Slots {
    conns: Mutex<VecDeque<Arc<Conn>>>,
    pub(super) rejecting: AtomicUsize,
}

impl Slots {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Frees a connection's slot however its thread ends (a panic included).
pub(super) struct SlotGuard {
    pub(super) slots: Arc<Slots>,
    pub(super) id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.lock().retain(|c| c.id != self.id);
    }
}

/// Which connection to close for a newcomer when every slot is taken: the oldest still
/// sending its request after [`EVICTABLE_AFTER`], else the oldest still being written its
/// answer [`SLOW_READER_AFTER`] after it arrived (a client that slow loses its turn).
/// Never one whose handler runs: its thread would outlive the slot. `None`: the newcomer
/// is answered `503`.
pub(super) fn victim(conns: &VecDeque<Arc<Conn>>, now: Instant) -> Option<usize> {
    let age = |c: &Conn| now.saturating_duration_since(c.since);
    conns
        .iter()
        .position(|c| c.phase.load(Ordering::Relaxed) == READING && age(c) >= EVICTABLE_AFTER)
        .or_else(|| {
            conns.iter().position(|c| {
                c.phase.load(Ordering::Relaxed) == WRITING && age(c) >= SLOW_READER_AFTER
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections in `phases`, accepted the given milliseconds before `now`, oldest first.
    fn conns(now: Instant, phases: &[(u8, u64)]) -> VecDeque<Arc<Conn>> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        phases
            .iter()
            .zip(0..)
            .map(|(&(phase, ms), id)| {
                Arc::new(Conn {
                    id,
                    stream: TcpStream::connect(addr).unwrap(),
                    phase: AtomicU8::new(phase),
                    since: now.checked_sub(Duration::from_millis(ms)).unwrap(),
                })
            })
            .collect()
    }

    #[test]
    fn readers_first_then_slow_writers_never_handlers() {
        let now = Instant::now();
        // A reader past 0.5 s goes first, even behind an older slow writer.
        let c = conns(now, &[(WRITING, 3000), (HANDLING, 2000), (READING, 600)]);
        assert_eq!(victim(&c, now), Some(2));
        // Else the oldest writer past 1 s.
        let c = conns(
            now,
            &[
                (HANDLING, 4000),
                (WRITING, 900),
                (WRITING, 1500),
                (WRITING, 1200),
            ],
        );
        assert_eq!(victim(&c, now), Some(2));
        // Young readers, young writers and running handlers of any age stay.
        let c = conns(now, &[(HANDLING, 60_000), (READING, 499), (WRITING, 999)]);
        assert_eq!(victim(&c, now), None);
        assert_eq!(victim(&VecDeque::new(), now), None);
    }
}
