//! Tail sampling: spans wait until their local root ends, then the whole part of the
//! trace that root stands for is kept (failed, slow, or sampled by the head sampler) or
//! dropped, within bounded memory for any uptime.

use std::collections::{HashMap, VecDeque};

use super::TailSampling;
use crate::metrics::self_metrics::DropReason;
use crate::trace::{SpanId, SpanRecord, Status, TraceId};

/// Where the tail sampler reports the spans it drops: the pipeline's counters.
pub(crate) trait DropSink {
    /// `n` spans were dropped for `reason`.
    fn dropped(&self, reason: DropReason, n: u64);
}

/// One local root's part of a trace: the unit tail sampling decides on.
type RootKey = (TraceId, SpanId);

/// Traces held until their local root ends.
pub(crate) struct Tail {
    policy: TailSampling,
    held: HashMap<RootKey, Held>,
    /// Held keys in the order they were first held, with the hold's sequence number; an
    /// entry whose hold ended is stale and compacted away, so this stays within twice
    /// the number of holds (plus a little).
    order: VecDeque<(RootKey, u64)>,
    next_seq: u64,
    held_spans: usize,
    /// Recent decisions, so spans ending after their root follow the root's decision.
    decided: HashMap<RootKey, bool>,
    decided_order: VecDeque<RootKey>,
}

struct Held {
    spans: Vec<SpanRecord>,
    error: bool,
    sampled: bool,
    seq: u64,
}

/// Decisions remembered for late spans.
const DECISIONS_KEPT: usize = 4096;

impl Tail {
    pub(crate) fn new(policy: TailSampling) -> Self {
        Self {
            policy,
            held: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            held_spans: 0,
            decided: HashMap::new(),
            decided_order: VecDeque::new(),
        }
    }

    pub(crate) fn accept(
        &mut self,
        span: SpanRecord,
        out: &mut Vec<SpanRecord>,
        counters: &impl DropSink,
    ) {
        let key = (span.trace_id, span.local_root_id);
        if let Some(keep) = self.decided.get(&key) {
            if *keep {
                out.push(span);
            } else {
                counters.dropped(DropReason::SampledOut, 1);
            }
            return;
        }
        let failed = matches!(span.status, Status::Error { .. });
        if span.local_root {
            let held = self.held.remove(&key);
            let (spans, error, sampled) = held.map_or((Vec::new(), false, false), |h| {
                (h.spans, h.error, h.sampled)
            });
            self.held_spans -= spans.len();
            self.compact();
            let slow = u128::from(span.duration_nanos()) >= self.policy.latency.as_nanos();
            let keep = sampled || error || span.sampled || failed || slow;
            self.remember(key, keep);
            if keep {
                out.extend(spans);
                out.push(span);
            } else {
                counters.dropped(DropReason::SampledOut, spans.len() as u64 + 1);
            }
            return;
        }
        let next_seq = &mut self.next_seq;
        let order = &mut self.order;
        let held = self.held.entry(key).or_insert_with(|| {
            *next_seq += 1;
            order.push_back((key, *next_seq));
            Held {
                spans: Vec::new(),
                error: false,
                sampled: false,
                seq: *next_seq,
            }
        });
        held.error |= failed;
        held.sampled |= span.sampled;
        held.spans.push(span);
        self.held_spans += 1;
        while self.held_spans > self.policy.max_spans {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.held.get(&oldest).is_some_and(|h| h.seq == seq)
                && let Some(evicted) = self.held.remove(&oldest)
            {
                self.held_spans -= evicted.spans.len();
                counters.dropped(DropReason::TailEvicted, evicted.spans.len() as u64);
            }
        }
    }

    /// Drops the order entries of holds that have ended, once they outnumber the live
    /// ones: amortised constant time, and `order` stays within `2 × held + 64`.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.held.len() + 64 {
            let held = &self.held;
            self.order
                .retain(|(key, seq)| held.get(key).is_some_and(|h| h.seq == *seq));
        }
    }

    fn remember(&mut self, key: RootKey, keep: bool) {
        if self.decided.insert(key, keep).is_none() {
            self.decided_order.push_back(key);
        }
        while self.decided_order.len() > DECISIONS_KEPT {
            if let Some(old) = self.decided_order.pop_front() {
                self.decided.remove(&old);
            }
        }
    }

    /// At shutdown: traces whose root never ended are kept when sampled or failed.
    pub(crate) fn decide_all(&mut self, out: &mut Vec<SpanRecord>, counters: &impl DropSink) {
        for (_, held) in self.held.drain() {
            if held.sampled || held.error {
                out.extend(held.spans);
            } else {
                counters.dropped(DropReason::SampledOut, held.spans.len() as u64);
            }
        }
        self.order.clear();
        self.held_spans = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::trace::SpanKind;

    /// The drops the sampler reports, by reason.
    #[derive(Default)]
    struct Counts {
        sampled_out: AtomicU64,
        tail_evicted: AtomicU64,
    }

    impl DropSink for Counts {
        fn dropped(&self, reason: DropReason, n: u64) {
            match reason {
                DropReason::SampledOut => self.sampled_out.fetch_add(n, Ordering::Relaxed),
                DropReason::TailEvicted => self.tail_evicted.fetch_add(n, Ordering::Relaxed),
                DropReason::QueueFull | DropReason::ExportFailed => {
                    unreachable!("the tail sampler drops only sampled-out or evicted spans")
                }
            };
        }
    }

    fn span(trace: u128, id: u64, root: u64, failed: bool) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_u128(trace).expect("non-zero"),
            span_id: SpanId::from_u64(id).expect("non-zero"),
            parent_span_id: (id != root).then(|| SpanId::from_u64(root).expect("non-zero")),
            parent_remote: false,
            trace_state: None,
            sampled: false,
            name: Cow::Borrowed("work"),
            kind: SpanKind::Internal,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: Vec::new(),
            events: Vec::new(),
            dropped_events: 0,
            dropped_attributes: 0,
            status: if failed {
                Status::Error {
                    description: Cow::Borrowed("failed"),
                }
            } else {
                Status::Unset
            },
            target: "test",
            local_root: id == root,
            local_root_id: SpanId::from_u64(root).expect("non-zero"),
        }
    }

    fn tail() -> Tail {
        Tail::new(TailSampling {
            latency: Duration::from_secs(3600),
            max_spans: 1024,
        })
    }

    /// Four million traces, each a child then its root, all decided against: the tail
    /// sampler's structures stay flat. Its ordering queue used to keep an id for every
    /// trace ever held (about 1.4 GB a day at 1 000 traces/s).
    #[test]
    fn memory_stays_flat_for_any_uptime() {
        let traces: u128 = std::env::var("OBS_TAIL_TRACES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4_000_000);
        let mut tail = tail();
        let counters = Counts::default();
        let mut out = Vec::new();
        let mut largest_order = 0;
        for t in 1..=traces {
            tail.accept(span(t, 2, 1, false), &mut out, &counters);
            tail.accept(span(t, 1, 1, false), &mut out, &counters);
            largest_order = largest_order.max(tail.order.len());
        }
        assert!(out.is_empty());
        assert_eq!(tail.held.len(), 0);
        assert_eq!(tail.held_spans, 0);
        // At most one hold is live at a time: 2 × 1 + 64, plus the entry just pushed.
        assert!(largest_order <= 67, "{largest_order}");
        assert!(tail.order.len() <= 65, "{}", tail.order.len());
        assert_eq!(tail.decided.len(), DECISIONS_KEPT);
        assert_eq!(tail.decided_order.len(), DECISIONS_KEPT);
        assert_eq!(
            counters.sampled_out.load(Ordering::Relaxed),
            u64::try_from(2 * traces).expect("fits")
        );
    }

    /// A second local root of a trace already decided against (a retry reusing the
    /// caller's `traceparent`) is decided on its own: when it fails, it is exported with
    /// its children. It used to inherit the first root's "drop".
    #[test]
    fn each_local_root_is_decided_on_its_own() {
        let mut tail = tail();
        let counters = Counts::default();
        let mut out = Vec::new();
        // First attempt: succeeds, dropped.
        tail.accept(span(7, 11, 10, false), &mut out, &counters);
        tail.accept(span(7, 10, 10, false), &mut out, &counters);
        assert!(out.is_empty());
        // Second attempt in the same trace: a child fails, so its root keeps both.
        tail.accept(span(7, 21, 20, true), &mut out, &counters);
        tail.accept(span(7, 20, 20, false), &mut out, &counters);
        let ids: Vec<u64> = out.iter().map(|s| s.span_id.to_u64()).collect();
        assert_eq!(ids, [21, 20]);
        // A late span of the first root still follows its root's decision.
        tail.accept(span(7, 12, 10, false), &mut out, &counters);
        assert_eq!(out.len(), 2);
        assert_eq!(counters.sampled_out.load(Ordering::Relaxed), 3);
    }

    /// Eviction follows the order holds began, and a stale order entry (a hold that ended
    /// and began again under the same key) never evicts the newer hold.
    #[test]
    fn eviction_skips_stale_entries() {
        let mut tail = Tail::new(TailSampling {
            latency: Duration::from_secs(3600),
            max_spans: 2,
        });
        let counters = Counts::default();
        let mut out = Vec::new();
        tail.accept(span(1, 2, 1, false), &mut out, &counters);
        tail.accept(span(1, 1, 1, false), &mut out, &counters);
        // Same trace, new root 3 (children 4 and 5), then another trace.
        tail.accept(span(1, 4, 3, false), &mut out, &counters);
        tail.accept(span(1, 5, 3, false), &mut out, &counters);
        tail.accept(span(2, 6, 9, false), &mut out, &counters);
        // The oldest live hold (root 3, two spans) was evicted, not trace 2's.
        assert_eq!(counters.tail_evicted.load(Ordering::Relaxed), 2);
        assert_eq!(tail.held_spans, 1);
        assert!(tail.held.contains_key(&(
            TraceId::from_u128(2).expect("non-zero"),
            SpanId::from_u64(9).expect("non-zero")
        )));
    }
}
