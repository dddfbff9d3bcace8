//! The encoders fed arbitrary input: help texts and label values with quotes, backslashes,
//! newlines and any Unicode, and every kind of float (NaN, ±Inf, subnormals, -0.0). The
//! Python reference parsers must read back exactly what went in, in both formats.
//! `OBS_FUZZ_CASES` raises the number of batches (default 6 batches of 40 families).

use obs_runtime::FloatGauge;
use obs_runtime::metrics::{DynamicOptions, Format, Registry};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE / 4.0), // subnormal
        Just(f64::MAX),
        Just(f64::MIN),
        Just(1e-300),
        any::<f64>(),
        -1e6..1e6,
    ]
}

/// Text with the characters the formats escape, and any other Unicode.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just(' '),
            Just('#'),
            Just('{'),
            Just('}'),
            Just('='),
            Just(','),
            any::<char>().prop_filter("no NUL", |c| *c != '\0'),
        ],
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("OBS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(6),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_reference_parsers_read_back_what_went_in(
        families in proptest::collection::vec((text(40), text(30), value()), 1..40)
    ) {
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        for (i, (help, label, v)) in families.iter().enumerate() {
            let family = registry
                .register_dynamic::<FloatGauge, 1>(
                    DynamicOptions::new(&format!("fuzz_case_{i}"), help, ["v"]),
                    (),
                )
                .unwrap();
            family.with([label.as_str()]).set(*v);
        }
        for (format, python) in [(Format::Prometheus, "prometheus"), (Format::OpenMetrics, "openmetrics")] {
            let text = registry.encode(format);
            let parsed = obs_tests::python_parse(python, &text);
            prop_assert_eq!(parsed.len(), families.len(), "{}", text);
            for (i, (help, label, v)) in families.iter().enumerate() {
                let name = format!("fuzz_case_{i}");
                let family = parsed.iter().find(|f| f.name == name).unwrap();
                // Both formats separate the help from the name with blanks, so leading
                // blanks of a help text cannot be represented (parsers skip them); the text
                // format's parsers also trim trailing blanks.
                let expected = match format {
                    // Python's `str.strip` on the escaped line: Unicode whitespace and the
                    // separators 0x1c-0x1f, but not a newline (written as `\n`).
                    Format::Prometheus => help.trim_matches(|c: char| {
                        (c.is_whitespace() && c != '\n') || ('\x1c'..='\x1f').contains(&c)
                    }),
                    Format::OpenMetrics => help.trim_start_matches(' '),
                };
                prop_assert_eq!(
                    family.help.as_str(),
                    expected,
                    "{} help in {}",
                    name,
                    python
                );
                prop_assert_eq!(family.samples.len(), 1);
                let sample = &family.samples[0];
                prop_assert_eq!(sample.labels.get("v"), Some(label), "{} in {}", name, python);
                prop_assert!(same(sample.value, *v), "{}: {} read back as {} in {}", name, v, sample.value, python);
            }
        }
    }
}
