//! A corpus of real-world function shapes: each compiles with `#[observe]` exactly as
//! without it, under `#![deny(warnings)]`, and the ones whose outcome is easy to get wrong
//! are counted exactly. Includes the shapes of `#[tracing::instrument]` bug reports
//! (tokio-rs/tracing #1840, #2717, #2796, #2857) as pass cases.
#![deny(warnings)]
#![allow(
    dead_code,
    clippy::unnecessary_wraps,
    clippy::needless_pass_by_value,
    clippy::unused_async,
    clippy::unused_self,
    clippy::trivially_copy_pass_by_ref,
    clippy::missing_errors_doc,
    clippy::inline_always,
    clippy::ptr_as_ptr,
    clippy::needless_lifetimes,
    reason = "the corpus is ordinary user code, lints and all"
)]

use std::collections::HashMap;
use std::fmt::{self, Debug, Display};
use std::future::Future;
use std::num::ParseIntError;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;

use obs_runtime::{
    ErrorLabel, observe,
    observe::{FnSite, observed_function},
};

fn site(function: &str) -> &'static FnSite {
    observed_function(module_path!(), function).unwrap_or_else(|| panic!("{function} observed"))
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// An error with labelled variants.
#[derive(Debug, PartialEq, ErrorLabel)]
pub enum MyErr {
    /// Not found.
    Missing,
    /// Refused.
    Refused(u8),
}

impl Display for MyErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for MyErr {}

/// A store with the fields the shapes borrow from.
#[derive(Debug, Default)]
pub struct Store {
    name: String,
    bytes: Vec<u8>,
    items: Vec<u32>,
    map: HashMap<u32, u32>,
}

// --- 1. Bodies keep their expected type (coercions) ---------------------------------

impl Store {
    #[observe]
    fn name(&self) -> &str {
        &self.name
    }

    #[observe]
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    #[observe]
    async fn name_async(&self) -> &str {
        &self.name
    }

    // --- 1. Mutable borrows that escape ------------------------------------------------

    #[observe]
    fn first(&mut self) -> &mut u32 {
        &mut self.items[0]
    }

    #[observe]
    fn first_opt(&mut self) -> Option<&mut u32> {
        self.items.first_mut()
    }

    #[observe]
    fn slot(&mut self, key: u32) -> &mut u32 {
        self.map.entry(key).or_default()
    }

    #[observe]
    fn items_mut<'a>(&'a mut self) -> impl Iterator<Item = &'a mut u32> {
        self.items.iter_mut()
    }

    /// tokio-rs/tracing #2857: `&mut` argument, `&` / `&mut` returned.
    #[observe]
    fn get_or_err(&mut self, i: usize) -> Result<&mut u32, MyErr> {
        self.items.get_mut(i).ok_or(MyErr::Missing)
    }

    #[observe]
    fn new_default() -> Self {
        Self::default()
    }

    #[observe]
    fn by_value(self) -> String {
        self.name
    }

    #[observe]
    fn shared(self: Arc<Self>) -> usize {
        self.items.len()
    }

    #[observe]
    fn by_box(self: Box<Self>) -> usize {
        self.bytes.len()
    }
}

#[observe]
fn as_debug<'a>(x: &'a u32) -> Option<&'a dyn Debug> {
    Some(x)
}

#[observe]
fn pick(c: bool) -> &'static dyn Debug {
    if c { &1 } else { &"one" }
}

#[observe]
fn callback(c: bool) -> Box<dyn Fn() -> u32> {
    if c {
        Box::new(|| 1)
    } else {
        Box::new(move || 2)
    }
}

#[observe]
async fn make() -> Result<Box<dyn Debug + Send>, String> {
    Ok(Box::new(5))
}

#[observe]
fn boxed_error(fail: bool) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        return Err("text".into());
    }
    Ok("7".parse::<u32>()?)
}

#[observe]
fn parse_iter(s: &str) -> Result<impl Iterator<Item = u32>, ParseIntError> {
    let n: u32 = s.parse()?;
    Ok((0..n).map(|x| x * 2))
}

#[observe]
fn slice_of(v: &Vec<u8>) -> &[u8] {
    v
}

#[observe]
fn string_or_str(long: bool) -> Box<dyn Display> {
    if long {
        Box::new(String::from("long"))
    } else {
        Box::new("short")
    }
}

// --- 1. #[track_caller], inner attributes, `!`, unsafe, extern ------------------------

#[observe]
#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

#[observe]
#[track_caller]
fn checked(v: Option<u32>, limit: u32) -> Result<u32, MyErr> {
    let v = v.ok_or(MyErr::Missing)?;
    if v > limit {
        return Err(MyErr::Refused(1));
    }
    Ok(v)
}

#[observe]
#[track_caller]
fn first_char(s: &str) -> Option<char> {
    let c = s.chars().next()?;
    Some(c)
}

/// Leaves through a `return` the attribute cannot see (inside a macro's own body).
macro_rules! bail {
    ($e:expr) => {
        return Err($e)
    };
}

/// In a `#[track_caller]` function (not wrapped, so its exits are rewritten), an exit
/// hidden in a macro's body is counted as `error="unclassified"`, never as `ok`.
#[observe]
#[track_caller]
fn hidden_exit(fail: bool) -> Result<u32, MyErr> {
    if fail {
        bail!(MyErr::Missing);
    }
    Ok(1)
}

/// The same macro in an ordinary function is seen: the body runs in a closure.
#[observe]
fn macro_exit(fail: bool) -> Result<u32, MyErr> {
    if fail {
        bail!(MyErr::Refused(3));
    }
    Ok(1)
}

#[observe]
fn inner_attribute(x: u32) -> u32 {
    #![allow(unused_variables)]
    let unused = 3;
    x
}

#[observe]
fn never(msg: &str) -> ! {
    panic!("{msg}")
}

#[observe]
#[allow(unsafe_code)]
unsafe fn read_raw(p: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *p }
}

#[observe]
extern "C" fn add_c(a: u32, b: u32) -> u32 {
    a + b
}

// --- 2. Outcomes by type, never by spelling -------------------------------------------

/// A return type alias.
type Outcome = Result<u32, MyErr>;

#[observe]
fn aliased(fail: bool) -> Outcome {
    if fail { Err(MyErr::Missing) } else { Ok(1) }
}

#[observe]
fn qualified(fail: bool) -> core::result::Result<u8, MyErr> {
    if fail { Err(MyErr::Refused(2)) } else { Ok(2) }
}

/// A crate's own `Result<T>` alias, in its own module.
mod errors {
    /// The crate's result type.
    pub(crate) type Result<T> = std::result::Result<T, super::MyErr>;
}

#[observe]
fn crate_alias(fail: bool) -> errors::Result<u8> {
    if fail { Err(MyErr::Missing) } else { Ok(3) }
}

#[observe]
fn io_alias(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("disk"))
    } else {
        Ok(())
    }
}

#[observe]
fn future_impl(fail: bool) -> impl Future<Output = Result<u32, MyErr>> {
    async move {
        tokio::task::yield_now().await;
        if fail { Err(MyErr::Refused(9)) } else { Ok(9) }
    }
}

#[observe]
fn future_boxed(fail: bool) -> Pin<Box<dyn Future<Output = Result<u32, MyErr>> + Send>> {
    let work = async move {
        tokio::task::yield_now().await;
        if fail { Err(MyErr::Missing) } else { Ok(8) }
    };
    Box::pin(work)
}

/// The `futures` crate's `BoxFuture`, as users alias it.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[observe]
fn future_alias(name: &str) -> BoxFuture<'_, Result<usize, MyErr>> {
    let len = async move {
        if name.is_empty() {
            Err(MyErr::Missing)
        } else {
            Ok(name.len())
        }
    };
    Box::pin(len)
}

#[observe]
fn future_local(fail: bool) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
    let rc = std::rc::Rc::new(fail);
    Box::pin(async move { if *rc { Err("local".to_owned()) } else { Ok(()) } })
}

/// tokio-rs/tracing #1840: a boxed future built from an async block, coerced.
#[observe]
fn boxed_unit_future() -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
    Box::pin(async {})
}

// --- 3. Generic functions label each call by its own error type -----------------------

/// First error type.
#[derive(Debug, ErrorLabel)]
pub enum First {
    /// Alpha.
    Alpha,
    /// Beta.
    Beta,
}

/// Second error type.
#[derive(Debug, ErrorLabel)]
pub enum Second {
    /// Yankee.
    Yankee,
    /// Zulu.
    Zulu,
}

#[observe]
fn generic<E: ErrorLabel + Debug>(e: Option<E>) -> Result<(), E> {
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Without an `ErrorLabel` bound the variant is not known where the body is compiled:
/// each call is labelled by its error type's name.
#[observe]
fn generic_any<E: Debug>(e: E) -> Result<(), E> {
    Err(e)
}

// --- Other shapes ----------------------------------------------------------------------

#[observe]
fn with_where<T>(items: &[T]) -> usize
where
    T: Clone + Debug,
{
    items.to_vec().len()
}

#[observe]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[observe]
fn show(v: impl Display) -> String {
    format!("[{v}]")
}

#[observe]
fn nested(x: u32) -> u32 {
    fn double(v: u32) -> u32 {
        v * 2
    }
    double(x)
}

#[observe]
fn closure_return(v: &[i32]) -> Vec<i32> {
    v.iter()
        .map(|x| {
            if *x < 0 {
                return 0;
            }
            *x
        })
        .collect()
}

#[observe]
fn builds_future(x: u32) -> u32 {
    let f = async move { x + 1 };
    block_on(f)
}

#[observe]
fn fact(n: u64) -> u64 {
    if n == 0 { 1 } else { n * fact(n - 1) }
}

/// A trait used through `dyn`.
pub trait Shape {
    /// Its area.
    fn area(&self) -> f64;
    /// A default method, observed.
    #[observe]
    fn doubled(&self) -> f64 {
        self.area() * 2.0
    }
}

/// A square.
#[derive(Debug)]
pub struct Square(f64);

impl Shape for Square {
    #[observe]
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

#[observe]
fn total_area(shapes: &[&dyn Shape]) -> f64 {
    shapes.iter().map(|s| s.area()).sum()
}

#[observe]
fn dyn_param(s: &dyn Shape) -> &dyn Shape {
    s
}

/// tokio-rs/tracing #2796: an `Ok` value generic over a lifetime.
#[derive(Debug)]
pub struct Node {
    id: u32,
}

/// A reference to a node.
#[derive(Debug)]
pub struct NodeRef<'a> {
    node: &'a Node,
}

#[observe]
fn get_ref(node: &Node) -> Result<Option<NodeRef<'_>>, std::io::Error> {
    let x = NodeRef { node };
    Ok(Some(x))
}

/// tokio-rs/tracing #2796, the `err` reproduction.
#[observe]
fn reborrow(x: &mut u8) -> Result<&u8, &u8> {
    Ok(x)
}

/// tokio-rs/tracing #2717: an argument reassigned to a local borrow.
#[observe]
async fn reassign(mut arg: &str) -> usize {
    let before = arg.len();
    let local = String::from("longer");
    arg = &local;
    before + arg.len()
}

#[observe]
async fn mut_pattern((mut a, b): (u32, u32)) -> u32 {
    a += b;
    a
}

#[observe]
fn mut_arg(mut v: Vec<u32>) -> usize {
    v.push(1);
    v.len()
}

#[observe]
async fn async_ref_arg(s: &str) -> Result<usize, MyErr> {
    tokio::task::yield_now().await;
    if s.is_empty() {
        Err(MyErr::Missing)
    } else {
        Ok(s.len())
    }
}

#[observe]
async fn async_generic<T: Display + Send>(v: T) -> String {
    v.to_string()
}

#[observe]
fn generic_const<const N: usize>(a: [u8; N]) -> usize {
    a.len()
}

#[observe]
fn tuple_pattern((a, b): (u32, u32)) -> u32 {
    a + b
}

#[observe]
fn unit_body() {}

#[observe]
fn returns_unit_result(fail: bool) -> Result<(), MyErr> {
    if fail {
        return Err(MyErr::Missing);
    }
    Ok(())
}

#[observe]
fn labelled_loop(v: &[u32]) -> Option<u32> {
    'outer: for x in v {
        for y in v {
            if x + y == 10 {
                break 'outer;
            }
        }
    }
    v.first().copied()
}

#[observe]
fn early_return_in_match(v: Option<u32>) -> u32 {
    let Some(v) = v else {
        return 0;
    };
    let n = match v {
        0 => return 100,
        n => n,
    };
    n + 1
}

#[observe]
fn question_on_option(v: &[u32]) -> Option<u32> {
    let first = v.first()?;
    Some(*first + 1)
}

#[observe]
fn returns_self_type() -> Store {
    Store::default()
}

#[observe]
fn returns_tuple(x: u32) -> (u32, &'static str) {
    (x, "x")
}

#[observe]
fn returns_closure(k: u32) -> impl Fn(u32) -> u32 {
    move |x| x + k
}

#[observe]
fn returns_array() -> [u8; 3] {
    [1, 2, 3]
}

#[observe]
fn fn_pointer_arg(f: fn(u32) -> u32) -> u32 {
    f(2)
}

#[observe]
fn dyn_fn_arg(f: &dyn Fn(u32) -> u32) -> u32 {
    f(3)
}

#[observe]
fn generic_bound<T: Into<u64>>(v: T) -> u64 {
    v.into()
}

#[observe]
fn hrtb<F>(f: F) -> usize
where
    F: for<'a> Fn(&'a str) -> &'a str,
{
    f("abc").len()
}

#[observe]
fn static_ref() -> &'static str {
    "static"
}

#[observe]
fn cow(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(' ') {
        s.replace(' ', "_").into()
    } else {
        s.into()
    }
}

#[observe]
fn ref_cell_borrow(c: &std::cell::RefCell<u32>) -> std::cell::Ref<'_, u32> {
    c.borrow()
}

#[observe]
fn anyhow_like(fail: bool) -> Result<(), Box<dyn std::error::Error>> {
    if fail {
        Err(Box::new(MyErr::Missing))
    } else {
        Ok(())
    }
}

/// Async trait methods, with `#[observe]` inside and outside `#[async_trait]`.
#[async_trait::async_trait]
pub trait Repo {
    /// Loads.
    async fn load(&self, id: u32) -> Result<u32, MyErr>;
    /// Saves.
    async fn save(&self, id: u32) -> Result<(), MyErr>;
}

/// A repository.
#[derive(Debug)]
pub struct Db {
    rows: Vec<u32>,
}

#[async_trait::async_trait]
impl Repo for Db {
    #[observe]
    async fn load(&self, id: u32) -> Result<u32, MyErr> {
        self.rows.get(id as usize).copied().ok_or(MyErr::Missing)
    }

    #[observe]
    async fn save(&self, id: u32) -> Result<(), MyErr> {
        if id == 0 {
            Err(MyErr::Refused(0))
        } else {
            Ok(())
        }
    }
}

/// `#[observe]` applied before `#[async_trait]`.
pub trait Cache {
    /// Gets.
    fn get(&self) -> Pin<Box<dyn Future<Output = Option<&str>> + Send + '_>>;
}

/// A cache.
#[derive(Debug)]
pub struct Mem {
    value: String,
}

#[async_trait::async_trait]
trait Warm {
    async fn warm(&self) -> Result<usize, MyErr>;
}

impl Cache for Mem {
    #[observe]
    fn get(&self) -> Pin<Box<dyn Future<Output = Option<&str>> + Send + '_>> {
        Box::pin(async move { Some(self.value.as_str()) })
    }
}

#[async_trait::async_trait]
impl Warm for Mem {
    #[observe]
    async fn warm(&self) -> Result<usize, MyErr> {
        Ok(self.value.len())
    }
}

/// A trait whose observed default method `#[async_trait]` rewrites.
#[derive(Debug)]
pub struct Outer;

#[async_trait::async_trait]
trait Ping {
    #[observe]
    async fn ping(&self, n: u32) -> Result<u32, MyErr> {
        if n == 0 { Err(MyErr::Missing) } else { Ok(n) }
    }
}

#[async_trait::async_trait]
impl Ping for Outer {}

// --- Behaviour ---------------------------------------------------------------------------

#[test]
fn coercions_and_borrows_behave_as_without_the_attribute() {
    let mut store = Store {
        name: "ada".into(),
        bytes: vec![1, 2],
        items: vec![5, 6],
        map: HashMap::new(),
    };
    assert_eq!(store.name(), "ada");
    assert_eq!(store.bytes(), &[1, 2]);
    assert_eq!(block_on(store.name_async()), "ada");
    *store.first() += 1;
    assert_eq!(store.items[0], 6);
    if let Some(x) = store.first_opt() {
        *x += 1;
    }
    *store.slot(4) += 3;
    assert_eq!(store.map[&4], 3);
    for x in store.items_mut() {
        *x *= 10;
    }
    assert_eq!(store.items, vec![70, 60]);
    *store.get_or_err(1).expect("present") = 1;
    assert_eq!(store.get_or_err(9).unwrap_err(), MyErr::Missing);
    assert_eq!(format!("{:?}", as_debug(&3)), "Some(3)");
    assert_eq!(format!("{:?}", pick(false)), "\"one\"");
    assert_eq!(callback(true)() + callback(false)(), 3);
    assert_eq!(format!("{:?}", block_on(make())), "Ok(5)");
    assert_eq!(
        parse_iter("3").expect("parses").collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    assert!(parse_iter("x").is_err());
    assert_eq!(slice_of(&vec![9]), &[9]);
    assert_eq!(string_or_str(true).to_string(), "long");
    assert_eq!(inner_attribute(4), 4);
    let v = 11u32;
    #[allow(unsafe_code)]
    // SAFETY: `v` lives.
    let read = unsafe { read_raw(&raw const v) };
    assert_eq!(read, 11);
    assert_eq!(add_c(1, 2), 3);
    assert_eq!(
        get_ref(&Node { id: 1 }).expect("ok").map(|r| r.node.id),
        Some(1)
    );
    assert_eq!(reborrow(&mut 4), Ok(&4));
    assert_eq!(block_on(reassign("x")), 7);
    assert_eq!(block_on(mut_pattern((1, 2))), 3);
    assert_eq!(mut_arg(vec![]), 1);
    assert_eq!(fact(5), 120);
    assert_eq!(closure_return(&[-1, 2]), vec![0, 2]);
    assert_eq!(early_return_in_match(None), 0);
    assert_eq!(early_return_in_match(Some(0)), 100);
    assert_eq!(question_on_option(&[]), None);
    assert_eq!(returns_closure(2)(1), 3);
    assert_eq!(hrtb(|s| s), 3);
    assert_eq!(cow("a b"), "a_b");
    assert_eq!(*ref_cell_borrow(&std::cell::RefCell::new(5)), 5);
    let sq = Square(2.0);
    assert_eq!(total_area(&[&sq, &sq]), 8.0);
    assert_eq!(dyn_param(&sq).doubled(), 8.0);
    assert_eq!(site("doubled").calls("ok"), 1);
    assert_eq!(site("area").calls("ok"), 3);
    assert_eq!(site("first").calls("ok"), 1);
    assert_eq!(site("get_or_err").calls("ok"), 1);
    assert_eq!(site("get_or_err").errors("Missing"), 1);
    assert_eq!(site("parse_iter").errors("num::ParseIntError"), 1);
    assert_eq!(site("fact").calls("ok"), 6);
}

#[test]
fn never_returning_function_records_its_panic() {
    assert!(std::panic::catch_unwind(|| never("down")).is_err());
    assert_eq!(site("never").errors("panic"), 1);
    assert_eq!(site("never").in_flight(), 0);
}

#[test]
fn track_caller_sees_the_caller() {
    let expected = line!() + 1;
    let loc = here();
    assert_eq!(loc.line(), expected);
    assert_eq!(loc.file(), file!());
    assert_eq!(site("here").calls("ok"), 1);
}

#[test]
fn track_caller_returns_and_question_marks_are_classified() {
    assert_eq!(checked(Some(3), 5), Ok(3));
    assert_eq!(checked(None, 5), Err(MyErr::Missing));
    assert_eq!(checked(Some(9), 5), Err(MyErr::Refused(1)));
    assert_eq!(checked(Some(9), 5), Err(MyErr::Refused(1)));
    let s = site("checked");
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.errors("Missing"), 1);
    assert_eq!(s.errors("Refused"), 2);
    assert_eq!(s.errors("unclassified"), 0);
    assert_eq!(hidden_exit(true), Err(MyErr::Missing));
    assert_eq!(hidden_exit(false), Ok(1));
    assert_eq!(site("hidden_exit").errors("unclassified"), 1);
    assert_eq!(site("hidden_exit").calls("ok"), 1);
    assert_eq!(site("hidden_exit").calls("error"), 1);
    assert_eq!(macro_exit(true), Err(MyErr::Refused(3)));
    assert_eq!(site("macro_exit").errors("Refused"), 1);
    assert_eq!(first_char("ab"), Some('a'));
    assert_eq!(first_char(""), None);
    assert_eq!(site("first_char").calls("ok"), 2);
}

#[test]
fn aliases_and_qualified_results_are_results() {
    assert_eq!(aliased(false), Ok(1));
    assert_eq!(aliased(true), Err(MyErr::Missing));
    assert_eq!(qualified(true), Err(MyErr::Refused(2)));
    assert_eq!(qualified(true), Err(MyErr::Refused(2)));
    assert_eq!(crate_alias(true), Err(MyErr::Missing));
    assert_eq!(crate_alias(false), Ok(3));
    assert!(io_alias(true).is_err());
    assert!(io_alias(false).is_ok());
    assert_eq!(site("aliased").calls("ok"), 1);
    assert_eq!(site("aliased").errors("Missing"), 1);
    assert_eq!(site("qualified").calls("ok"), 0);
    assert_eq!(site("qualified").errors("Refused"), 2);
    assert_eq!(site("crate_alias").errors("Missing"), 1);
    assert_eq!(site("crate_alias").calls("ok"), 1);
    assert_eq!(site("io_alias").errors("io::Error"), 1);
    assert_eq!(site("io_alias").calls("ok"), 1);
    assert!(boxed_error(true).is_err());
    assert_eq!(boxed_error(false).ok(), Some(7));
    assert_eq!(site("boxed_error").errors("Box<dyn Error>"), 1);
    assert!(anyhow_like(true).is_err());
    assert_eq!(site("anyhow_like").errors("Box<dyn Error>"), 1);
}

/// A body ending in `Box::pin(async move { .. })` (written by hand or by `#[async_trait]`)
/// is observed as an `async fn`: from its first poll.
#[test]
fn functions_returning_futures_are_measured_over_completion() {
    let fut = future_impl(true);
    // Created, not yet completed: in flight, nothing counted.
    assert_eq!(site("future_impl").in_flight(), 1);
    assert_eq!(site("future_impl").calls("error"), 0);
    assert_eq!(block_on(fut), Err(MyErr::Refused(9)));
    assert_eq!(block_on(future_impl(false)), Ok(9));
    let s = site("future_impl");
    assert_eq!(s.errors("Refused"), 1);
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.in_flight(), 0);

    let unpolled = future_boxed(false);
    assert_eq!(site("future_boxed").in_flight(), 1);
    drop(unpolled);
    assert_eq!(site("future_boxed").calls("cancelled"), 1);
    assert_eq!(block_on(future_boxed(true)), Err(MyErr::Missing));
    assert_eq!(block_on(future_boxed(false)), Ok(8));
    let s = site("future_boxed");
    assert_eq!(s.errors("Missing"), 1);
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.calls("cancelled"), 1);
    assert_eq!(s.in_flight(), 0);

    assert_eq!(block_on(future_alias("")), Err(MyErr::Missing));
    assert_eq!(block_on(future_alias("abc")), Ok(3));
    assert_eq!(site("future_alias").errors("Missing"), 1);
    assert_eq!(site("future_alias").calls("ok"), 1);

    assert!(block_on(future_local(true)).is_err());
    assert_eq!(site("future_local").errors("String"), 1);
    block_on(boxed_unit_future());
    assert_eq!(site("boxed_unit_future").calls("ok"), 1);

    assert_eq!(block_on(Mem { value: "v".into() }.get()), Some("v"));
    assert_eq!(site("get").calls("ok"), 1);
}

#[test]
fn generic_functions_label_each_call_by_its_own_error_type() {
    assert!(generic::<First>(None).is_ok());
    assert!(generic(Some(First::Beta)).is_err());
    assert!(generic(Some(Second::Zulu)).is_err());
    assert!(generic(Some(Second::Zulu)).is_err());
    assert!(generic(Some(Second::Yankee)).is_err());
    let s = site("generic");
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.calls("error"), 4);
    assert_eq!(s.errors("Beta"), 1);
    assert_eq!(s.errors("Alpha"), 0);
    assert_eq!(s.errors("Zulu"), 2);
    assert_eq!(s.errors("Yankee"), 1);

    assert!(generic_any(First::Alpha).is_err());
    assert!(generic_any(Second::Yankee).is_err());
    assert!(generic_any(Second::Zulu).is_err());
    assert!(generic_any("text").is_err());
    assert!(generic_any(std::io::Error::other("x")).is_err());
    let s = site("generic_any");
    assert_eq!(s.calls("error"), 5);
    assert_eq!(s.errors("First"), 1);
    assert_eq!(s.errors("Second"), 2);
    assert_eq!(s.errors("&str"), 1);
    assert_eq!(s.errors("io::Error"), 1);
}

#[test]
fn async_trait_in_both_orders() {
    let db = Db { rows: vec![4] };
    assert_eq!(block_on(db.load(0)), Ok(4));
    assert_eq!(block_on(db.load(3)), Err(MyErr::Missing));
    assert_eq!(block_on(db.save(0)), Err(MyErr::Refused(0)));
    assert_eq!(site("load").calls("ok"), 1);
    assert_eq!(site("load").errors("Missing"), 1);
    assert_eq!(site("save").errors("Refused"), 1);
    assert_eq!(block_on(Outer.ping(0)), Err(MyErr::Missing));
    assert_eq!(block_on(Outer.ping(2)), Ok(2));
    assert_eq!(site("ping").errors("Missing"), 1);
    assert_eq!(site("ping").calls("ok"), 1);
    assert_eq!(block_on(Mem { value: "ab".into() }.warm()), Ok(2));
    assert_eq!(site("warm").calls("ok"), 1);
}

/// A bounded label.
#[derive(Clone, Copy, Debug, obs_runtime::Label)]
pub enum Tier {
    /// Gold.
    Gold,
}

/// A label constant forwarded by `macro_rules!` (an `Expr::Group`) is still a constant.
macro_rules! tiered {
    ($tier:expr) => {
        #[observe(labels(tier = $tier))]
        fn tiered() -> u32 {
            1
        }
    };
}

tiered!(Tier::Gold);

#[test]
fn label_constants_through_a_macro() {
    assert_eq!(tiered(), 1);
    assert_eq!(site("tiered").calls("ok"), 1);
}
