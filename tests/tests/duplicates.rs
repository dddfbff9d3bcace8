//! Two `metric!` declarations with one name, in different modules: the catalogue reports
//! both places, and exposition keeps one family so the output stays valid.

mod billing {
    obs_runtime::metric! {
        /// Invoices sent (billing's view).
        pub(crate) counter INVOICES("dup_invoices_total");
    }
}

mod mailer {
    obs_runtime::metric! {
        /// Invoices sent (mailer's view).
        pub(crate) counter INVOICES("dup_invoices_total");
    }
}

#[test]
fn duplicate_names_are_reported_with_both_locations() {
    let registry = obs_runtime::Registry::global();
    let err = registry.check().expect_err("duplicate must be reported");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "metric `dup_invoices_total` is declared twice: first at tests/tests/duplicates.rs:"
        ),
        "{message}"
    );
    let billing = billing::INVOICES.descriptor().location;
    let mailer = mailer::INVOICES.descriptor().location;
    assert_eq!(
        (billing.file, mailer.file),
        ("tests/tests/duplicates.rs", "tests/tests/duplicates.rs")
    );
    assert_eq!(
        mailer.line - billing.line,
        7,
        "the two declarations are seven lines apart"
    );
    assert!(
        message.contains(&billing.to_string()) && message.contains(&mailer.to_string()),
        "{message}"
    );
    assert!(message.ends_with("rename one of them"), "{message}");

    billing::INVOICES.inc();
    mailer::INVOICES.inc_by(5);
    let text = registry.encode(obs_runtime::metrics::Format::Prometheus);
    assert_eq!(text.matches("# TYPE dup_invoices_total counter").count(), 1);
    let exposed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("dup_invoices_total "))
        .collect();
    assert_eq!(exposed.len(), 1);
    // The first declaration in source order (billing's) is the one exposed.
    assert_eq!(exposed[0], "dup_invoices_total 1");
    obs_tests::promtool_check(&text);
}

#[test]
fn init_fails_naming_both_declarations() {
    let err = obs_runtime::init()
        .env(std::iter::empty::<(String, String)>())
        .build()
        .map(|_| ())
        .expect_err("a duplicate metric name fails init");
    let billing = billing::INVOICES.descriptor().location;
    let mailer = mailer::INVOICES.descriptor().location;
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "metric `dup_invoices_total` is declared twice: first at {billing}, again at {mailer}; metric names must be unique in a program, rename one of them"
        )
    );
    assert!(matches!(err, obs_runtime::init::InitError::Catalogue(_)));
    assert!(std::error::Error::source(&err).is_some());
}
