//! Lock-free storage of the latest exemplar of a counter or a histogram bucket.
//!
//! A slot is a sequence lock made only of atomics: a writer claims the slot by moving the
//! sequence from even to odd, stores the fields, and publishes by moving it to the next
//! even number; a reader copies the fields between two equal even sequence reads. A writer
//! that finds the slot claimed drops its exemplar instead of waiting (the next sampled
//! observation will replace it), so recording never blocks or allocates.
//!
//! Which span an update belongs to is kept here too, in [`context`]: the trace layer
//! writes the ids of the innermost sampled span down into it, and metric updates read
//! them, so metric storage never looks at span state.

use crate::metrics::encoding::Exemplar;

/// The slot's fields and its store/load algorithm, written once and instantiated for the
/// atomics of `core` (what runs) and, under `--cfg obs_loom`, for loom's (what the model
/// checker explores): the model test checks this very code.
macro_rules! seqlock {
    ($atomics:path) => {
        use $atomics::{AtomicU64, Ordering, fence};

        /// The latest exemplar of one counter or bucket.
        #[derive(Debug, Default)]
        pub(crate) struct ExemplarSlot {
            /// 0: never written; odd: a write is in progress; even: stable.
            seq: AtomicU64,
            trace_hi: AtomicU64,
            trace_lo: AtomicU64,
            span: AtomicU64,
            value: AtomicU64,
            /// Seconds since the Unix epoch as `f64` bits; NaN bits for "no timestamp".
            timestamp: AtomicU64,
        }

        impl ExemplarSlot {
            /// Stores `exemplar`, unless another writer holds the slot right now.
            pub(crate) fn store(&self, exemplar: &Exemplar) {
                let seq = self.seq.load(Ordering::Relaxed);
                if seq % 2 == 1
                    || self
                        .seq
                        .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                {
                    return;
                }
                // Orders the odd sequence before every field store: a reader that sees
                // any new field (and then fences with acquire) sees the slot claimed. An
                // acquire on the claim alone does not: on weakly ordered CPUs (ARM) the
                // field stores could become visible before the odd sequence, and a
                // reader could take half of two exemplars for one.
                fence(Ordering::Release);
                self.trace_hi.store(
                    u64::from_be_bytes(exemplar.trace_id[..8].try_into().unwrap_or([0; 8])),
                    Ordering::Relaxed,
                );
                self.trace_lo.store(
                    u64::from_be_bytes(exemplar.trace_id[8..].try_into().unwrap_or([0; 8])),
                    Ordering::Relaxed,
                );
                self.span
                    .store(u64::from_be_bytes(exemplar.span_id), Ordering::Relaxed);
                self.value
                    .store(exemplar.value.to_bits(), Ordering::Relaxed);
                self.timestamp.store(
                    exemplar.timestamp.unwrap_or(f64::NAN).to_bits(),
                    Ordering::Relaxed,
                );
                self.seq.store(seq + 2, Ordering::Release);
            }

            /// The stored exemplar, if any; `None` also when writers kept the slot busy
            /// for every attempt (the scrape then shows no exemplar for this sample).
            pub(crate) fn load(&self) -> Option<Exemplar> {
                for _ in 0..8 {
                    let before = self.seq.load(Ordering::Acquire);
                    if before == 0 {
                        return None;
                    }
                    if before % 2 == 1 {
                        core::hint::spin_loop();
                        continue;
                    }
                    let hi = self.trace_hi.load(Ordering::Relaxed);
                    let lo = self.trace_lo.load(Ordering::Relaxed);
                    let span = self.span.load(Ordering::Relaxed);
                    let value = f64::from_bits(self.value.load(Ordering::Relaxed));
                    let timestamp = f64::from_bits(self.timestamp.load(Ordering::Relaxed));
                    fence(Ordering::Acquire);
                    if self.seq.load(Ordering::Relaxed) != before {
                        continue;
                    }
                    let mut trace_id = [0u8; 16];
                    trace_id[..8].copy_from_slice(&hi.to_be_bytes());
                    trace_id[8..].copy_from_slice(&lo.to_be_bytes());
                    return Some(Exemplar {
                        trace_id,
                        span_id: span.to_be_bytes(),
                        value,
                        timestamp: (!timestamp.is_nan()).then_some(timestamp),
                    });
                }
                None
            }
        }
    };
}

seqlock!(core::sync::atomic);

impl ExemplarSlot {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            trace_hi: AtomicU64::new(0),
            trace_lo: AtomicU64::new(0),
            span: AtomicU64::new(0),
            value: AtomicU64::new(0),
            timestamp: AtomicU64::new(0),
        }
    }
}

/// The exemplars of one counter or bucket: the latest of a trace known to be exported
/// (head-sampled, or kept by the tail sampler and exported), and the latest of a trace
/// still waiting for the tail sampler's decision. A scrape shows the pending one once its
/// trace is known kept ([`kept`]), else the confirmed one: an exemplar never points at a
/// trace that was dropped.
#[derive(Debug, Default)]
pub(crate) struct ExemplarPair {
    confirmed: ExemplarSlot,
    pending: ExemplarSlot,
}

impl ExemplarPair {
    /// An empty pair.
    pub(crate) const fn new() -> Self {
        Self {
            confirmed: ExemplarSlot::new(),
            pending: ExemplarSlot::new(),
        }
    }

    /// Keeps `exemplar`, of a trace that is exported.
    #[inline]
    pub(crate) fn store(&self, exemplar: &Exemplar) {
        self.confirmed.store(exemplar);
    }

    /// Keeps `exemplar`, of a trace the tail sampler has not decided yet.
    #[inline]
    pub(crate) fn store_pending(&self, exemplar: &Exemplar) {
        self.pending.store(exemplar);
    }

    /// The exemplar to show: the pending one once its trace was kept and exported (it
    /// then becomes the confirmed one, unless that is newer), else the confirmed one.
    pub(crate) fn load(&self) -> Option<Exemplar> {
        let confirmed = self.confirmed.load();
        if let Some(pending) = self.pending.load()
            && kept::contains(&pending.trace_id)
        {
            let newer = match (&confirmed, pending.timestamp) {
                (Some(c), Some(t)) => c.timestamp.is_none_or(|ct| t > ct),
                _ => true,
            };
            if newer {
                self.confirmed.store(&pending);
                return Some(pending);
            }
        }
        confirmed
    }
}

/// The traces the tail sampler kept and the pipeline exported, recently: the pending
/// exemplars that may be shown. Written by the trace pipeline after each export (it
/// writes down, metric storage never asks the trace layer), read at scrape time.
pub(crate) mod kept {
    use std::collections::{HashSet, VecDeque};
    use std::sync::{Mutex, PoisonError};

    /// Traces remembered; the oldest are forgotten first (their exemplars are long
    /// replaced by then, or fall back to the confirmed ones).
    const CAPACITY: usize = 16_384;

    #[derive(Default)]
    struct Kept {
        order: VecDeque<[u8; 16]>,
        set: HashSet<[u8; 16]>,
    }

    static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

    /// Remembers that the traces `ids` were kept and exported.
    pub(crate) fn insert(ids: impl IntoIterator<Item = [u8; 16]>) {
        let mut guard = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = guard.get_or_insert_with(Kept::default);
        for id in ids {
            if kept.set.insert(id) {
                kept.order.push_back(id);
                if kept.order.len() > CAPACITY
                    && let Some(old) = kept.order.pop_front()
                {
                    kept.set.remove(&old);
                }
            }
        }
    }

    /// Whether trace `id` was kept and exported.
    pub(crate) fn contains(id: &[u8; 16]) -> bool {
        KEPT.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|k| k.set.contains(id))
    }
}

/// The model test: `RUSTFLAGS="--cfg obs_loom" cargo test -p obs-runtime --lib
/// --no-default-features --release exemplar::model` (`.ci/run` runs it). Loom explores
/// every interleaving and every ordering the memory model allows of one writer racing a
/// reader: the reader never returns a mix of two exemplars.
/// A test exemplar whose fields all derive from `n`, so a mix of two is detectable.
/// The exemplar context of this thread: the ids of the innermost entered span whose trace
/// is sampled and exported, written by the trace layer as spans are entered and exited.
pub(crate) mod context {
    use core::cell::Cell;
    use core::sync::atomic::{AtomicBool, Ordering};

    thread_local! {
        /// The innermost sampled span's id (0: none) and its trace id: two plain cells, so
        /// that metric updates pay no lazy initialisation and no borrow flag.
        static SPAN: Cell<u64> = const { Cell::new(0) };
        static TRACE: Cell<u128> = const { Cell::new(0) };
        /// Its trace waits for the tail sampler's decision.
        static PENDING: Cell<bool> = const { Cell::new(false) };
    }

    /// The ids an update keeps as its exemplar, and whether their trace is pending.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Current {
        pub(crate) trace_id: [u8; 16],
        pub(crate) span_id: [u8; 8],
        /// The tail sampler has not decided the trace yet: the exemplar is shown only if
        /// it keeps the trace.
        pub(crate) pending: bool,
    }

    /// Whether anything writes the context: until then updates skip the thread-local.
    static ENABLED: AtomicBool = AtomicBool::new(false);

    /// Turns exemplars on, once a trace layer that exports exists.
    pub(crate) fn enable() {
        ENABLED.store(true, Ordering::Relaxed);
    }

    /// Sets this thread's context (`span` 0: no span whose updates keep exemplars;
    /// `pending`: its trace waits for the tail sampler).
    pub(crate) fn set(trace: u128, span: u64, pending: bool) {
        let _ = TRACE.try_with(|c| c.set(trace));
        let _ = SPAN.try_with(|c| c.set(span));
        let _ = PENDING.try_with(|c| c.set(pending));
    }

    /// The trace and span ids an update on this thread keeps as its exemplar, if any.
    #[inline]
    pub(crate) fn current() -> Option<Current> {
        if !ENABLED.load(Ordering::Relaxed) {
            return None;
        }
        let span = SPAN.try_with(Cell::get).unwrap_or(0);
        if span == 0 {
            return None;
        }
        let trace = TRACE.try_with(Cell::get).unwrap_or(0);
        Some(Current {
            trace_id: trace.to_be_bytes(),
            span_id: span.to_be_bytes(),
            pending: PENDING.try_with(Cell::get).unwrap_or(false),
        })
    }
}

#[cfg(test)]
fn test_exemplar(n: u64) -> Exemplar {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&n.to_be_bytes());
    trace_id[8..].copy_from_slice(&(!n).to_be_bytes());
    #[allow(clippy::cast_precision_loss, reason = "small test values")]
    Exemplar {
        trace_id,
        span_id: n.wrapping_mul(3).to_be_bytes(),
        value: n as f64,
        timestamp: Some(1.5),
    }
}

#[cfg(all(test, obs_loom))]
mod model {
    use super::{Exemplar, test_exemplar as exemplar};

    seqlock!(loom::sync::atomic);

    #[test]
    fn no_torn_reads_under_the_memory_model() {
        loom::model(|| {
            let slot = loom::sync::Arc::new(ExemplarSlot::default());
            slot.store(&exemplar(1));
            let writer = {
                let slot = loom::sync::Arc::clone(&slot);
                loom::thread::spawn(move || slot.store(&exemplar(2)))
            };
            if let Some(seen) = slot.load() {
                assert!(seen == exemplar(1) || seen == exemplar(2), "torn: {seen:?}");
            }
            writer.join().unwrap();
            assert_eq!(slot.load(), Some(exemplar(2)));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{ExemplarSlot, test_exemplar as exemplar};

    #[test]
    fn empty_then_latest() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.load(), None);
        slot.store(&exemplar(1));
        slot.store(&exemplar(2));
        assert_eq!(slot.load(), Some(exemplar(2)));
    }

    /// Readers racing writers never see a mix of two exemplars. The writers keep writing
    /// until the reader has read 10 000 exemplars, so the two always overlap (the loom model
    /// above explores every interleaving; this runs the real atomics at full speed).
    #[test]
    fn no_torn_reads() {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
        /// Marks the reader gone when it ends, panicking included, so writers stop.
        struct Gone<'a>(&'a AtomicBool);
        impl Drop for Gone<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        const READS: u64 = 10_000;
        let slot = ExemplarSlot::default();
        let writing = AtomicUsize::new(2);
        let reads = AtomicU64::new(0);
        let reader_gone = AtomicBool::new(false);
        std::thread::scope(|s| {
            for w in 0..2u64 {
                let (slot, writing, reads, gone) = (&slot, &writing, &reads, &reader_gone);
                s.spawn(move || {
                    let mut i = 0u64;
                    while i < 50_000
                        || (reads.load(Ordering::Relaxed) < READS && !gone.load(Ordering::Relaxed))
                    {
                        slot.store(&exemplar(i * 2 + w + 1));
                        i += 1;
                    }
                    writing.fetch_sub(1, Ordering::Release);
                });
            }
            let (slot, writing, reads, gone) = (&slot, &writing, &reads, &reader_gone);
            s.spawn(move || {
                let _gone = Gone(gone);
                while writing.load(Ordering::Acquire) > 0 {
                    if let Some(e) = slot.load() {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let n = e.value as u64;
                        assert_eq!(e, exemplar(n), "torn exemplar");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        });
        assert!(reads.load(Ordering::Relaxed) >= READS);
        // Both writers finished: the slot holds one whole exemplar that one of them wrote
        // (a store that met the other writer in the slot was dropped, by design).
        let last = slot.load().expect("written");
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = last.value as u64;
        assert!(n >= 1);
        assert_eq!(last, exemplar(n));
    }
}
