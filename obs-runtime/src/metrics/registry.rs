//! Registries: which families an exposition contains, with naming rules and duplicate
//! detection.

use core::fmt;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use crate::metrics::Metric;
use crate::metrics::encoding::openmetrics::OpenMetricsEncoder;
use crate::metrics::encoding::text::TextEncoder;
use crate::metrics::encoding::{Format, MetricEncoder};
use crate::metrics::name::{NameError, check_label_name, check_metric_name};
use crate::metrics::{Collect, Location};
use crate::metrics::{DynamicFamily, DynamicOptions};

/// Why a family could not be registered.
///
/// ```
/// use obs_runtime::metrics::{DynamicOptions, RegistryError, Registry, name::NameError};
/// use std::error::Error as _;
///
/// let err = Registry::new()
///     .register_dynamic::<obs_runtime::Counter, 1>(
///         DynamicOptions::new("jobs", "Jobs.", ["queue"]),
///         (),
///     )
///     .unwrap_err();
/// assert!(matches!(err, RegistryError::InvalidName { source: NameError::CounterWithoutTotal, .. }));
/// assert_eq!(err.to_string(), "invalid metric name `jobs`: counter names end in `_total`: write `jobs_total`");
/// assert_eq!(err.source().unwrap().to_string(), "a counter's name ends in `_total`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The metric name breaks a naming rule.
    InvalidName {
        /// The rejected name.
        name: String,
        /// The family's unit, if any (the rules depend on it).
        unit: Option<String>,
        /// The rule it breaks.
        source: NameError,
    },
    /// A label name breaks a naming rule.
    InvalidLabel {
        /// The metric.
        metric: String,
        /// The rejected label name.
        label: String,
        /// The rule it breaks.
        source: NameError,
    },
    /// Two label names of one family are equal.
    DuplicateLabel {
        /// The metric.
        metric: String,
        /// The repeated label name.
        label: String,
    },
    /// A family with this name is already registered.
    Duplicate {
        /// The name.
        name: String,
        /// Where the registered family was declared, if known.
        first: Option<Location>,
        /// Where the rejected family was declared, if known.
        second: Option<Location>,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::InvalidName { name, unit, source } => write!(
                f,
                "invalid metric name `{name}`: {}",
                source.message(name, unit.as_deref())
            ),
            RegistryError::InvalidLabel {
                metric,
                label,
                source,
            } => write!(
                f,
                "invalid label `{label}` on metric `{metric}`: {}",
                source.message(label, None)
            ),
            RegistryError::DuplicateLabel { metric, label } => {
                write!(f, "metric `{metric}` declares label `{label}` twice")
            }
            RegistryError::Duplicate {
                name,
                first,
                second,
            } => {
                write!(f, "metric `{name}` is declared twice")?;
                match (first, second) {
                    (Some(a), Some(b)) => write!(f, ": first at {a}, again at {b}")?,
                    (Some(a), None) => write!(f, ": first at {a}")?,
                    (None, Some(b)) => write!(f, ": again at {b}")?,
                    (None, None) => {}
                }
                f.write_str("; metric names must be unique in a program, rename one of them")
            }
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::InvalidName { source, .. }
            | RegistryError::InvalidLabel { source, .. } => Some(source),
            RegistryError::DuplicateLabel { .. } | RegistryError::Duplicate { .. } => None,
        }
    }
}

#[derive(Clone)]
enum Entry {
    Static(&'static dyn Collect),
    Shared(Arc<dyn Collect>),
}

impl Entry {
    fn get(&self) -> &dyn Collect {
        match self {
            Entry::Static(c) => *c,
            Entry::Shared(c) => c.as_ref(),
        }
    }
}

#[derive(Default)]
struct Inner {
    families: Vec<Entry>,
    names: HashSet<String>,
    /// Duplicates found while loading the link-time catalogue.
    catalogue_errors: Vec<RegistryError>,
    #[cfg(feature = "prometheus")]
    prometheus: Vec<prometheus::Registry>,
}

/// A set of metric families and the exposition of them.
///
/// [`Registry::global`] holds every family declared with [`metric!`](crate::metrics) anywhere
/// in the program (collected at link time), the runtime's self-metrics and, with the
/// `prometheus` feature, `prometheus::default_registry()`. Explicit registries start empty.
///
/// ```
/// use obs_runtime::{Registry, metric, metrics::Format};
///
/// metric! {
///     /// Emails sent.
///     pub counter SENT("mailer_sent_total");
/// }
///
/// let registry = Registry::new();
/// registry.register(&SENT).unwrap();
/// SENT.inc();
/// assert_eq!(
///     registry.encode(Format::Prometheus),
///     "# HELP mailer_sent_total Emails sent.\n# TYPE mailer_sent_total counter\nmailer_sent_total 1\n"
/// );
/// // The same family cannot be registered twice.
/// assert!(registry.register(&SENT).is_err());
/// ```
pub struct Registry {
    inner: RwLock<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("families", &inner.families.len())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The rendered exposition and its `Content-Type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposition {
    /// The response body.
    pub body: String,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
}

/// Every family declared with `metric!` in the program, gathered at link time.
pub fn catalogue() -> impl Iterator<Item = &'static dyn Collect> {
    CATALOGUE.iter().copied()
}

/// Every family declared with `metric!`, collected at link time.
// linkme places the slice in a link section; that attribute is what `unsafe_code` flags.
// The slice holds only `&'static dyn Collect` built by `metric!`.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static CATALOGUE: [&'static dyn Collect];

/// The families obs keeps itself for what it observes (`function_calls_*` of
/// `#[observe]`, `http_*` of the HTTP layer), contributed at link time by the modules that
/// own them, so the registry needs to know none of them.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub(crate) static BUILT_IN: [&'static dyn Collect];

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The program-wide registry: every `metric!` family, self-metrics and (feature
    /// `prometheus`) `prometheus::default_registry()`.
    ///
    /// Two `metric!` declarations with the same name anywhere in the program are reported by
    /// [`check`](Self::check); the first one in source order (file, then line) is exposed.
    pub fn global() -> &'static Registry {
        static GLOBAL: LazyLock<Registry> = LazyLock::new(|| {
            let registry = Registry::new();
            {
                let mut inner = registry.write();
                // Link order varies between builds; expose families sorted by name.
                let mut families: Vec<&'static dyn Collect> = catalogue().collect();
                // Two declarations of one name: the one first in source order is exposed,
                // whatever the link order.
                families.sort_by_key(|f| (f.header().name, f.location().map(|l| (l.file, l.line))));
                for family in families {
                    if let Err(e) = inner.add(Entry::Static(family)) {
                        inner.catalogue_errors.push(e);
                    }
                }
                let mut built_in: Vec<&'static dyn Collect> = BUILT_IN.iter().copied().collect();
                built_in.sort_by(|a, b| a.header().name.cmp(b.header().name));
                for family in built_in {
                    if let Err(e) = inner.add(Entry::Static(family)) {
                        inner.catalogue_errors.push(e);
                    }
                }
                #[cfg(feature = "prometheus")]
                inner
                    .prometheus
                    .push(prometheus::default_registry().clone());
            }
            registry
        });
        &GLOBAL
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports problems found while loading the link-time catalogue: metric names declared
    /// more than once in the program, with both declaration sites.
    ///
    /// # Errors
    ///
    /// The first duplicate found.
    pub fn check(&self) -> Result<(), RegistryError> {
        match self.read().catalogue_errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Adds a family declared with `metric!` (or any `'static` [`Collect`]).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Duplicate`] if a family of that name is registered,
    /// [`RegistryError::InvalidName`] if the name breaks a naming rule.
    pub fn register(&self, family: &'static dyn Collect) -> Result<(), RegistryError> {
        self.write().add(Entry::Static(family))
    }

    /// Adds a family owned by an `Arc` (for families built at run time).
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_shared(&self, family: Arc<dyn Collect>) -> Result<(), RegistryError> {
        self.write().add(Entry::Shared(family))
    }

    /// Creates and registers a family whose name and label names are only known at run
    /// time. Its label values are strings, capped at `max_series` distinct combinations;
    /// the rest fold into one overflow series counted by `obs_cardinality_overflow_total`.
    ///
    /// ```
    /// use obs_runtime::{Counter, Registry, metrics::DynamicOptions};
    ///
    /// let registry = Registry::new();
    /// let jobs = registry
    ///     .register_dynamic::<Counter, 1>(DynamicOptions::new("queue_jobs_total", "Jobs by queue.", ["queue"]), ())
    ///     .unwrap();
    /// jobs.with(["emails"]).inc();
    /// assert_eq!(jobs.with(["emails"]).get(), 1);
    ///
    /// let err = registry
    ///     .register_dynamic::<Counter, 1>(DynamicOptions::new("queue jobs", "Bad.", ["queue"]), ())
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("invalid metric name `queue jobs`"));
    /// ```
    ///
    /// # Errors
    ///
    /// An invalid metric or label name, a repeated label name, or a name already
    /// registered.
    pub fn register_dynamic<M: Metric, const N: usize>(
        &self,
        descriptor: DynamicOptions<'_, N>,
        options: M::Options,
    ) -> Result<Arc<DynamicFamily<M, N>>, RegistryError> {
        for (i, label) in descriptor.labels.iter().enumerate() {
            if let Err(e) = check_label_name(label) {
                return Err(RegistryError::InvalidLabel {
                    metric: descriptor.name.to_owned(),
                    label: (*label).to_owned(),
                    source: e,
                });
            }
            if descriptor.labels[..i].contains(label) {
                return Err(RegistryError::DuplicateLabel {
                    metric: descriptor.name.to_owned(),
                    label: (*label).to_owned(),
                });
            }
        }
        let family = Arc::new(DynamicFamily::<M, N>::new(&descriptor, options));
        self.register_shared(family.clone())?;
        Ok(family)
    }

    /// Adds the families of a `prometheus` crate registry to this registry's exposition.
    /// Names already exposed by obs families win; the others are passed through.
    #[cfg(feature = "prometheus")]
    pub fn include_prometheus(&self, registry: prometheus::Registry) {
        self.write().prometheus.push(registry);
    }

    /// The names of the registered families, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.read()
            .families
            .iter()
            .map(|f| f.get().header().name.to_owned())
            .collect()
    }

    /// Encodes every family into `encoder` (the caller finishes the format).
    pub fn encode_into(&self, encoder: &mut dyn MetricEncoder) {
        let families: Vec<Entry> = self.read().families.clone();
        for family in &families {
            let family = family.get();
            encoder.family(&family.header());
            family.encode_series(encoder);
        }
        #[cfg(feature = "prometheus")]
        {
            let registries = self.read().prometheus.clone();
            if !registries.is_empty() {
                let mut seen: HashSet<String> = families
                    .iter()
                    .map(|f| f.get().header().text_name())
                    .collect();
                for registry in &registries {
                    crate::metrics::interop::encode_gathered(&registry.gather(), encoder, |name| {
                        !seen.insert(name.to_owned())
                    });
                }
            }
        }
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096);
        match format {
            Format::Prometheus => self.encode_into(&mut TextEncoder::new(&mut out)),
            Format::OpenMetrics => {
                let mut encoder = OpenMetricsEncoder::new(&mut out);
                self.encode_into(&mut encoder);
                encoder.finish();
            }
        }
        out
    }

    /// The exposition in the format an `Accept` header asks for (see
    /// [`Format::negotiate`]), with its `Content-Type`.
    ///
    /// ```
    /// let exposition = obs_runtime::Registry::new().render(Some("application/openmetrics-text"));
    /// assert_eq!(exposition.body, "# EOF\n");
    /// assert!(exposition.content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    /// ```
    pub fn render(&self, accept: Option<&str>) -> Exposition {
        let format = Format::negotiate(accept);
        Exposition {
            body: self.encode(format),
            content_type: format.content_type(),
        }
    }
}

impl Inner {
    fn add(&mut self, entry: Entry) -> Result<(), RegistryError> {
        let family = entry.get();
        let header = family.header();
        if let Err(e) = check_metric_name(header.name, header.kind, header.unit) {
            return Err(RegistryError::InvalidName {
                name: header.name.to_owned(),
                unit: header.unit.map(str::to_owned),
                source: e,
            });
        }
        let name = header.text_name();
        if self.names.contains(&name) {
            let first = self
                .families
                .iter()
                .find(|f| f.get().header().text_name() == name)
                .and_then(|f| f.get().location());
            return Err(RegistryError::Duplicate {
                name: header.name.to_owned(),
                first,
                second: family.location(),
            });
        }
        self.names.insert(name);
        self.families.push(entry);
        Ok(())
    }
}
