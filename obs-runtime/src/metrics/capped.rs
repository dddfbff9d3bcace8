//! A map with a cap on its entries: past the cap, every new key shares one overflow value.
//! The store behind dynamic families and the HTTP layer's route table.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::self_metrics::CARDINALITY_OVERFLOW;

/// At most `max` entries; lookups of new keys past that get the overflow value, and each
/// such lookup counts one in `obs_cardinality_overflow_total`.
pub(crate) struct CappedMap<K, V> {
    entries: RwLock<HashMap<K, Arc<V>>>,
    overflow: Arc<V>,
    max: usize,
    /// The overflow value was handed out at least once.
    overflowed: AtomicBool,
}

impl<K: Hash + Eq, V> CappedMap<K, V> {
    pub(crate) fn new(max: usize, overflow: V) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            overflow: Arc::new(overflow),
            max,
            overflowed: AtomicBool::new(false),
        }
    }

    /// The value of `key`, created with `make` (which also gives the owned key) when new
    /// and the map is below its cap; the overflow value otherwise.
    pub(crate) fn get_or_insert<Q>(&self, key: &Q, make: impl FnOnce() -> (K, V)) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Arc::clone(v);
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = entries.get(key) {
            return Arc::clone(v);
        }
        if entries.len() >= self.max {
            drop(entries);
            return self.overflow();
        }
        let (owned, value) = make();
        let value = Arc::new(value);
        entries.insert(owned, Arc::clone(&value));
        value
    }

    /// The overflow value, counted as an overflow (for keys refused for another reason).
    pub(crate) fn overflow(&self) -> Arc<V> {
        CARDINALITY_OVERFLOW.inc();
        self.overflowed.store(true, Ordering::Relaxed);
        Arc::clone(&self.overflow)
    }

    /// The overflow value, not counted (for exposition).
    pub(crate) fn overflow_value(&self) -> &Arc<V> {
        &self.overflow
    }

    /// Whether the overflow value should be shown: it was handed out, or the map is full.
    pub(crate) fn overflow_in_use(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed) || self.len() >= self.max
    }

    /// The number of entries, not counting the overflow value.
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Every entry, sorted by key.
    pub(crate) fn sorted(&self) -> Vec<(K, Arc<V>)>
    where
        K: Ord + Clone,
    {
        let mut all: Vec<(K, Arc<V>)> = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_new_keys_share_the_overflow_value() {
        let map: CappedMap<String, u32> = CappedMap::new(2, 0);
        let before = CARDINALITY_OVERFLOW.get();
        assert_eq!(*map.get_or_insert("a", || ("a".into(), 1)), 1);
        assert_eq!(*map.get_or_insert("b", || ("b".into(), 2)), 2);
        assert!(!map.overflowed.load(Ordering::Relaxed));
        assert_eq!(*map.get_or_insert("c", || ("c".into(), 3)), 0);
        assert_eq!(*map.get_or_insert("a", || ("a".into(), 9)), 1);
        assert_eq!(map.len(), 2);
        assert!(map.overflow_in_use());
        assert!(CARDINALITY_OVERFLOW.get() > before);
        let keys: Vec<String> = map.sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
    }
}
