//! The run-time registration API: clear errors for bad or duplicate names, never a panic,
//! and a cardinality guard that folds excess label values into one counted overflow series.

use obs_runtime::{
    Counter, Registry,
    metrics::{DynamicOptions, Format, OVERFLOW_VALUE, RegistryError, name::NameError},
};

#[test]
fn invalid_and_duplicate_names_are_errors() {
    let registry = Registry::new();
    let err = registry
        .register_dynamic::<Counter, 0>(DynamicOptions::new("requests", "Requests.", []), ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid metric name `requests`: counter names end in `_total`: write `requests_total`"
    );
    let err = registry
        .register_dynamic::<Counter, 1>(
            DynamicOptions::new("requests_total", "Requests.", ["user_id"]),
            (),
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidLabel { ref label, .. } if label == "user_id"),
        "{err}"
    );
    let err = registry
        .register_dynamic::<Counter, 2>(
            DynamicOptions::new("requests_total", "Requests.", ["a", "a"]),
            (),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "metric `requests_total` declares label `a` twice"
    );
    let err = registry
        .register_dynamic::<Counter, 1>(
            DynamicOptions::new("requests_total", "Requests.", ["le"]),
            (),
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RegistryError::InvalidLabel { label, source: NameError::ReservedLabel, .. } if label == "le"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid label `le` on metric `requests_total`: label name `le` is reserved (`le`, `quantile` and names starting with `__` are set by Prometheus itself)"
    );

    registry
        .register_dynamic::<Counter, 0>(DynamicOptions::new("requests_total", "Requests.", []), ())
        .expect("first registration");
    let err = registry
        .register_dynamic::<Counter, 0>(DynamicOptions::new("requests_total", "Again.", []), ())
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::Duplicate {
            name: "requests_total".into(),
            first: None,
            second: None
        }
    );
    assert_eq!(registry.names(), vec!["requests_total".to_owned()]);
}

#[test]
fn series_beyond_the_cap_fold_into_overflow_and_are_counted() {
    let registry = Registry::new();
    let routes = registry
        .register_dynamic::<Counter, 1>(
            DynamicOptions::new("routes_hits_total", "Hits by route.", ["route"]).max_series(3),
            (),
        )
        .expect("valid");
    let _serial = OVERFLOW_COUNTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = overflow_total();
    for route in ["/a", "/b", "/c", "/d", "/e", "/a", "/d"] {
        routes.with([route]).inc();
    }
    assert_eq!(routes.len(), 3);
    assert_eq!(routes.with(["/a"]).get(), 2);
    // "/d" twice and "/e" once went to the overflow series.
    assert_eq!(routes.with([OVERFLOW_VALUE]).get(), 3);
    // Three folded lookups above plus the one just made.
    assert_eq!(overflow_total() - before, 4);
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        text,
        "# HELP routes_hits_total Hits by route.\n# TYPE routes_hits_total counter\n\
         routes_hits_total{route=\"/a\"} 2\nroutes_hits_total{route=\"/b\"} 1\n\
         routes_hits_total{route=\"/c\"} 1\nroutes_hits_total{route=\"__overflow__\"} 3\n"
    );
}

/// A label value longer than `MAX_LABEL_VALUE_LEN` (a payload, not a label) takes the
/// overflow series, counted; it used to become a series of its own, kept for good.
#[test]
fn over_long_label_values_fold_into_overflow() {
    let registry = Registry::new();
    let paths = registry
        .register_dynamic::<Counter, 1>(
            DynamicOptions::new("long_paths_total", "Hits by path.", ["path"]),
            (),
        )
        .expect("valid");
    let serial = OVERFLOW_COUNTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = overflow_total();
    let long = "p".repeat(obs_runtime::metrics::MAX_LABEL_VALUE_LEN + 1);
    for _ in 0..3 {
        paths.with([long.as_str()]).inc();
    }
    paths
        .with(["p"
            .repeat(obs_runtime::metrics::MAX_LABEL_VALUE_LEN)
            .as_str()])
        .inc();
    assert_eq!(overflow_total() - before, 3);
    drop(serial);
    assert_eq!(paths.len(), 1);
    let text = registry.encode(Format::Prometheus);
    assert!(!text.contains(&long));
    assert!(
        text.contains("long_paths_total{path=\"__overflow__\"} 3\n"),
        "{text}"
    );
}

/// The tests that read the global overflow counter run one at a time.
static OVERFLOW_COUNTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn overflow_total() -> u64 {
    let text = Registry::global().encode(Format::Prometheus);
    text.lines()
        .find_map(|l| l.strip_prefix("obs_cardinality_overflow_total "))
        .expect("self-metric exposed")
        .parse()
        .expect("integer")
}
