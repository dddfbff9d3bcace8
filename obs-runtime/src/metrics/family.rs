//! Metric families: a descriptor plus one cell per label combination.

use core::fmt;
use core::marker::PhantomData;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::cell::{CachePadded, Metric};
use crate::metrics::encoding::{FamilyHeader, MetricEncoder};
use crate::metrics::name::MetricKind;
use crate::metrics::{Label, LabelSet};

/// Where a metric was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The source file, as `file!()` gives it.
    pub file: &'static str,
    /// The line, 1-based.
    pub line: u32,
    /// The column, 1-based.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A metric family's static description: what `metric!` knows at compile time.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    /// The exposition name (counters end in `_total`).
    pub name: &'static str,
    /// The help text (the declaration's doc comment).
    pub help: &'static str,
    /// The unit, if declared.
    pub unit: Option<&'static str>,
    /// The family type.
    pub kind: MetricKind,
    /// Label names, in declaration order.
    pub label_names: &'static [&'static str],
    /// The declaration site.
    pub location: Location,
}

impl Descriptor {
    /// The family header the encoders take.
    pub fn header(&self) -> FamilyHeader<'static> {
        FamilyHeader {
            name: self.name,
            help: self.help,
            unit: self.unit,
            kind: self.kind,
        }
    }
}

/// Something the registry can expose: one metric family.
pub trait Collect: Send + Sync {
    /// The family's metadata.
    fn header(&self) -> FamilyHeader<'_>;

    /// Where the family was declared, when known (used in duplicate-name errors).
    fn location(&self) -> Option<Location> {
        None
    }

    /// Hands every series to `encoder` (the registry has already called
    /// [`MetricEncoder::family`]).
    fn encode_series(&self, encoder: &mut dyn MetricEncoder);
}

/// Families with more label combinations than this expose only series that were used;
/// smaller ones expose every combination from the first scrape on.
pub const EAGER_SERIES_LIMIT: usize = 256;

struct Cells<M> {
    series: Box<[CachePadded<M>]>,
    touched: Box<[core::sync::atomic::AtomicBool]>,
    created: f64,
}

/// A metric family: one cell of `M` per combination of the labels `L`, in a dense array.
///
/// Declared with [`metric!`](crate::metrics); the cells are allocated on first use or first
/// scrape, after which an update is an index computation and an atomic operation: no lock,
/// hash or allocation.
///
/// ```
/// use obs_runtime::{Label, metric};
///
/// #[derive(Clone, Copy, Debug, Label)]
/// enum Status { Paid, Failed }
///
/// metric! {
///     /// Orders by status.
///     pub counter ORDERS("shop_orders_total", status: Status);
/// }
///
/// ORDERS.with(Status::Paid).inc();
/// ORDERS.with(Status::Paid).inc();
/// assert_eq!(ORDERS.with(Status::Paid).get(), 2);
/// assert_eq!(ORDERS.with(Status::Failed).get(), 0);
/// ```
pub struct Family<L, M: Metric> {
    descriptor: Descriptor,
    options: M::Options,
    cells: OnceLock<Cells<M>>,
    labels: PhantomData<fn(L)>,
    #[cfg(feature = "prometheus")]
    prometheus: crate::metrics::interop::PrometheusDesc,
}

impl<L, M: Metric> Family<L, M> {
    #[doc(hidden)]
    /// A family with no cells allocated yet.
    ///
    /// `L` is not bounded here so that an unbounded label type is reported once, at the
    /// label's type in the declaration, rather than again at the constructor.
    pub const fn new(descriptor: Descriptor, options: M::Options) -> Self {
        Self {
            descriptor,
            options,
            cells: OnceLock::new(),
            labels: PhantomData,
            #[cfg(feature = "prometheus")]
            prometheus: crate::metrics::interop::PrometheusDesc::new(),
        }
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn prometheus_desc(&self) -> &crate::metrics::interop::PrometheusDesc {
        &self.prometheus
    }

    /// The static description.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
}

impl<L: LabelSet, M: Metric> Family<L, M> {
    #[inline]
    fn cells(&self) -> &Cells<M> {
        self.cells.get_or_init(|| Cells {
            series: (0..L::CARDINALITY)
                .map(|_| CachePadded(M::new(&self.options)))
                .collect(),
            touched: (0..if L::CARDINALITY > EAGER_SERIES_LIMIT {
                L::CARDINALITY
            } else {
                0
            })
                .map(|_| core::sync::atomic::AtomicBool::new(false))
                .collect(),
            created: crate::time::unix_seconds(),
        })
    }

    /// The cell for a label combination given as a tuple (for generic code; prefer `with`).
    #[inline]
    pub fn series(&self, labels: &L) -> &M {
        let index = labels.index();
        let cells = self.cells();
        if let Some(flag) = cells.touched.get(index) {
            // Large families expose only used series; a relaxed load keeps the common case a
            // read of a shared line.
            if !flag.load(core::sync::atomic::Ordering::Relaxed) {
                flag.store(true, core::sync::atomic::Ordering::Relaxed);
            }
        }
        &cells.series[index].0
    }
}

macro_rules! impl_with {
    ($($t:ident $v:ident),+) => {
        impl<$($t: Label),+, M: Metric> Family<($($t,)+), M> {
            /// The cell for one combination of label values, in declaration order.
            #[inline]
            #[allow(clippy::too_many_arguments, reason = "one argument per declared label")]
            pub fn with(&self, $($v: $t),+) -> &M {
                self.series(&($($v,)+))
            }
        }
    };
}

impl_with!(A a);
impl_with!(A a, B b);
impl_with!(A a, B b, C c);
impl_with!(A a, B b, C c, D d);
impl_with!(A a, B b, C c, D d, E e);
impl_with!(A a, B b, C c, D d, E e, F f);
impl_with!(A a, B b, C c, D d, E e, F f, G g);
impl_with!(A a, B b, C c, D d, E e, F f, G g, H h);

impl<M: Metric> core::ops::Deref for Family<(), M> {
    type Target = M;

    #[inline]
    fn deref(&self) -> &M {
        self.series(&())
    }
}

impl<L: LabelSet, M: Metric> Collect for Family<L, M> {
    fn header(&self) -> FamilyHeader<'_> {
        self.descriptor.header()
    }

    fn location(&self) -> Option<Location> {
        Some(self.descriptor.location)
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        let cells = self.cells();
        let names = self.descriptor.label_names;
        let mut pairs = [("", ""); 8];
        for (index, cell) in cells.series.iter().enumerate() {
            if let Some(flag) = cells.touched.get(index)
                && !flag.load(core::sync::atomic::Ordering::Relaxed)
            {
                continue;
            }
            // `names` comes from the same declaration as `L`; zip keeps a mismatched
            // hand-built descriptor from panicking (it exposes fewer labels instead).
            let mut len = 0;
            for (position, (pair, name)) in pairs.iter_mut().zip(names).enumerate().take(L::LEN) {
                *pair = (name, L::value(index, position));
                len += 1;
            }
            cell.0.encode(&pairs[..len], cells.created, encoder);
        }
    }
}

impl<L, M: Metric> fmt::Debug for Family<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.descriptor.name)
            .field("kind", &self.descriptor.kind)
            .field("labels", &self.descriptor.label_names)
            .finish_non_exhaustive()
    }
}

/// An info metric: constant key/value pairs (build version, commit) exposed with value 1.
///
/// Its `N` label values are set at run time, once or whenever they change; until then the
/// family is exposed without samples.
///
/// ```
/// obs_runtime::metric! {
///     /// Build information.
///     pub info BUILD("app_build", version, commit);
/// }
///
/// BUILD.set([env!("CARGO_PKG_VERSION"), "4f2a9c1"]);
/// assert_eq!(BUILD.values(), Some(vec![env!("CARGO_PKG_VERSION").to_owned(), "4f2a9c1".to_owned()]));
/// ```
pub struct Info<const N: usize> {
    descriptor: Descriptor,
    values: Mutex<Option<Vec<String>>>,
    #[cfg(feature = "prometheus")]
    prometheus: crate::metrics::interop::PrometheusDesc,
}

impl<const N: usize> Info<N> {
    #[doc(hidden)]
    /// An info metric with no values yet.
    pub const fn new(descriptor: Descriptor) -> Self {
        Self {
            descriptor,
            values: Mutex::new(None),
            #[cfg(feature = "prometheus")]
            prometheus: crate::metrics::interop::PrometheusDesc::new(),
        }
    }

    /// The static description.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn prometheus_desc(&self) -> &crate::metrics::interop::PrometheusDesc {
        &self.prometheus
    }

    /// Sets the label values, in declaration order.
    pub fn set(&self, values: [&str; N]) {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        *self.values.lock().unwrap_or_else(PoisonError::into_inner) = Some(values);
    }

    /// The label values, if set.
    pub fn values(&self) -> Option<Vec<String>> {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<const N: usize> Collect for Info<N> {
    fn header(&self) -> FamilyHeader<'_> {
        self.descriptor.header()
    }

    fn location(&self) -> Option<Location> {
        Some(self.descriptor.location)
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(values) = values.as_ref() {
            let pairs: Vec<(&str, &str)> = self
                .descriptor
                .label_names
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            encoder.info(&pairs);
        }
    }
}

impl<const N: usize> fmt::Debug for Info<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Info")
            .field("name", &self.descriptor.name)
            .field("values", &self.values())
            .finish_non_exhaustive()
    }
}
