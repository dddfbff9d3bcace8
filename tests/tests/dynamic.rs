//! The run-time registration API: clear errors for bad or duplicate names, never a panic,
//! and a cardinality guard that folds excess label values into one counted overflow series.

use obs_runtime::{Counter, DynamicOptions, Format, OVERFLOW_VALUE, Registry, RegistryError};

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
        err.to_string().contains("label name `le` is reserved"),
        "{err}"
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

fn overflow_total() -> u64 {
    let text = Registry::global().encode(Format::Prometheus);
    text.lines()
        .find_map(|l| l.strip_prefix("obs_cardinality_overflow_total "))
        .expect("self-metric exposed")
        .parse()
        .expect("integer")
}
