//! Compile-time behaviour of the macros: every check rejects at the offending token with
//! advice, and valid declarations compile. Regenerate `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p obs-tests --test ui` and read the diff.

#[test]
fn label() {
    let t = trybuild::TestCases::new();
    t.pass("ui/label/pass/*.rs");
    t.compile_fail("ui/label/fail/*.rs");
}

#[test]
fn metric() {
    let t = trybuild::TestCases::new();
    t.pass("ui/metric/pass/*.rs");
    t.compile_fail("ui/metric/fail/*.rs");
}

#[test]
fn observe() {
    let t = trybuild::TestCases::new();
    t.pass("ui/observe/pass/*.rs");
    t.compile_fail("ui/observe/fail/*.rs");
}
