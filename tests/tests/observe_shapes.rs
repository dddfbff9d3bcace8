//! `#[observe]` on every shape of function: methods with each receiver, generics with
//! where clauses and lifetimes, `impl Trait` in and out, trait impls, `#[async_trait]`,
//! and the options `labels`, `buckets`, `concurrency` and `crate`.

use std::fmt::Display;
use std::sync::Arc;

use obs_runtime::{
    Label, observe,
    observe::{FnSite, observed_function},
};
use obs_tests::capture::Capture;

fn site(function: &str) -> &'static FnSite {
    observed_function(module_path!(), function).unwrap_or_else(|| panic!("{function} observed"))
}

/// A service with methods of every receiver kind.
#[derive(Debug, Default)]
pub struct Cart {
    items: Vec<String>,
}

impl Cart {
    #[observe]
    fn count_items(&self) -> usize {
        self.items.len()
    }

    #[observe]
    fn add_item(&mut self, item: &str) -> Result<usize, String> {
        if item.is_empty() {
            return Err("empty item".to_owned());
        }
        self.items.push(item.to_owned());
        Ok(self.items.len())
    }

    #[observe]
    fn into_items(self) -> Vec<String> {
        self.items
    }

    #[observe]
    fn shared_count(self: Arc<Self>) -> usize {
        self.items.len()
    }
}

#[test]
fn methods_with_every_receiver() {
    let mut cart = Cart::default();
    assert_eq!(cart.add_item("tea"), Ok(1));
    assert_eq!(cart.add_item(""), Err("empty item".to_owned()));
    assert_eq!(cart.count_items(), 1);
    assert_eq!(
        Arc::new(Cart {
            items: vec!["a".into()]
        })
        .shared_count(),
        1
    );
    assert_eq!(cart.into_items(), vec!["tea".to_owned()]);
    assert_eq!(site("add_item").calls("ok"), 1);
    assert_eq!(site("add_item").errors("String"), 1);
    assert_eq!(site("count_items").calls("ok"), 1);
    assert_eq!(site("shared_count").calls("ok"), 1);
    assert_eq!(site("into_items").calls("ok"), 1);
}

#[observe]
fn longest<'a, T>(a: &'a [T], b: &'a [T]) -> &'a [T]
where
    T: PartialOrd + 'a,
{
    if a.len() >= b.len() { a } else { b }
}

#[observe]
fn describe(value: impl Display) -> impl Display {
    format!("<{value}>")
}

#[observe]
fn parse_all<I: IntoIterator<Item = S>, S: AsRef<str>>(
    items: I,
) -> Result<Vec<u32>, std::num::ParseIntError> {
    items
        .into_iter()
        .map(|s| s.as_ref().parse::<u32>())
        .collect()
}

#[test]
fn generics_lifetimes_and_impl_trait() {
    assert_eq!(longest(&[1, 2, 3], &[4]), &[1, 2, 3]);
    assert_eq!(describe(5).to_string(), "<5>");
    assert_eq!(parse_all(["1", "2"]), Ok(vec![1, 2]));
    assert!(parse_all(vec!["x".to_owned()]).is_err());
    assert_eq!(site("longest").calls("ok"), 1);
    assert_eq!(site("describe").calls("ok"), 1);
    assert_eq!(site("parse_all").calls("ok"), 1);
    assert_eq!(site("parse_all").errors("num::ParseIntError"), 1);
}

/// A trait implemented with observed methods.
pub trait Store {
    /// Fetches a value.
    fn get(&self, key: u32) -> Option<u32>;
}

/// An in-memory store.
#[derive(Debug)]
pub struct Memory;

impl Store for Memory {
    #[observe(name = "memory_get")]
    fn get(&self, key: u32) -> Option<u32> {
        (key < 10).then_some(key * 10)
    }
}

/// An async trait implemented through `#[async_trait]`.
#[async_trait::async_trait]
pub trait Repo {
    /// Loads a row.
    async fn load(&self, id: u32) -> Result<u32, String>;
    /// Saves a row.
    async fn save(&self, id: u32) -> Result<(), String>;
}

/// A repository.
#[derive(Debug)]
pub struct Db;

#[async_trait::async_trait]
impl Repo for Db {
    // `#[async_trait]` expands first here: `observe` sees its `Box::pin(async move ..)`.
    #[observe(fields(id = id))]
    async fn load(&self, id: u32) -> Result<u32, String> {
        tokio::task::yield_now().await;
        if id == 0 {
            Err("missing".to_owned())
        } else {
            Ok(id)
        }
    }

    #[observe]
    async fn save(&self, id: u32) -> Result<(), String> {
        tokio::task::yield_now().await;
        if id == 0 {
            Err("refused".to_owned())
        } else {
            Ok(())
        }
    }
}

/// A trait whose default method is observed inside `#[async_trait]`.
#[async_trait::async_trait]
pub trait Warm {
    /// Warms a cache.
    #[observe]
    async fn warm(&self) -> usize {
        tokio::task::yield_now().await;
        3
    }
}

/// A cache using the default method.
#[derive(Debug)]
pub struct Cache;

impl Warm for Cache {}

/// A trait with a native `async fn` (no `#[async_trait]`).
pub trait Native {
    /// Counts.
    fn count(&self) -> impl Future<Output = Result<u8, String>> + Send;
}

impl Native for Cache {
    #[observe]
    async fn count(&self) -> Result<u8, String> {
        Ok(8)
    }
}

#[test]
fn trait_impls_and_async_trait() {
    assert_eq!(Memory.get(2), Some(20));
    assert_eq!(site("memory_get").calls("ok"), 1);

    let capture = Capture::default();
    capture.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            assert_eq!(Db.load(4).await, Ok(4));
            assert_eq!(Db.load(0).await, Err("missing".to_owned()));
            assert_eq!(Db.save(1).await, Ok(()));
            assert_eq!(Cache.warm().await, 3);
            assert_eq!(Cache.count().await, Ok(8));
        });
    });
    assert_eq!(site("load").calls("ok"), 1);
    assert_eq!(site("load").errors("String"), 1);
    assert_eq!(site("save").calls("ok"), 1);
    assert_eq!(site("warm").calls("ok"), 1);
    assert_eq!(site("count").calls("ok"), 1);
    assert_eq!(site("load").in_flight(), 0);
    let captured = capture.captured();
    let loads = captured.spans_named("load");
    assert_eq!(loads.len(), 2);
    assert_eq!(loads[0].fields["id"], "4");
    assert_eq!(loads[1].fields["otel.status_code"], "ERROR");
}

/// A bounded label for `labels(..)`.
#[derive(Clone, Copy, Debug, Label)]
pub enum Tier {
    /// Free.
    Free,
    /// Gold.
    Gold,
}

const FAST: [f64; 3] = [0.001, 0.01, 0.1];

#[observe(labels(tier = Tier::Gold), buckets = [0.5, 1.0], concurrency = false)]
fn premium() -> u8 {
    1
}

#[observe(buckets = FAST)]
fn quick() -> u8 {
    2
}

mod reexport {
    pub(crate) use obs_runtime as telemetry;
}

#[observe(crate = reexport::telemetry)]
fn through_reexport() -> u8 {
    3
}

#[test]
fn options_labels_buckets_concurrency_crate() {
    assert_eq!(premium(), 1);
    assert_eq!(quick(), 2);
    assert_eq!(through_reexport(), 3);
    assert_eq!(site("premium").duration().bounds(), &[0.5, 1.0]);
    assert_eq!(site("quick").duration().bounds(), &FAST);
    assert!(!site("premium").concurrency);
    assert_eq!(site("through_reexport").calls("ok"), 1);
    let _ = Tier::Free;

    let text = obs_runtime::Registry::global().encode(obs_runtime::metrics::Format::Prometheus);
    assert!(
        text.contains("function_calls_total{function=\"premium\",module=\"observe_shapes\",tier=\"gold\",result=\"ok\",error=\"\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "function_calls_duration_seconds_bucket{function=\"premium\",module=\"observe_shapes\",tier=\"gold\",le=\"0.5\"} 1\n"
    ));
    // `concurrency = false`: no in-flight series for it.
    assert!(!text.contains("function_calls_concurrent{function=\"premium\""));
    assert!(
        text.contains(
            "function_calls_concurrent{function=\"quick\",module=\"observe_shapes\"} 0\n"
        )
    );
    obs_tests::promtool_check(&text);
    let parsed = obs_tests::samples(&obs_tests::python_parse(
        "openmetrics",
        &obs_runtime::Registry::global().encode(obs_runtime::metrics::Format::OpenMetrics),
    ));
    assert!(parsed.iter().any(|s| s.name == "function_calls_total"
        && s.labels.get("function").map(String::as_str) == Some("quick")
        && s.value == 1.0));
}
