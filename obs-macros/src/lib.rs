//! Procedural macros of [obs](https://docs.rs/obs-runtime): `metric!` and
//! `#[derive(Label)]`.
//!
//! Use them through `obs-runtime`, which re-exports them and holds everything the expanded
//! code refers to (`::obs_runtime::__private`). Each entry point only parses, expands and
//! turns errors into `compile_error!`; the stages live in their own modules.

mod ctxt;
mod label;
mod metric;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with obs-runtime, which uses all of it"
)]
#[path = "../../obs-runtime/src/name.rs"]
mod name;

use proc_macro::TokenStream;

/// Declares metric families as statics with bounded, typed labels.
///
/// Documented, with examples, where users meet it: `obs_runtime::metric`.
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as metric::ast::Input);
    metric::expand(&input).into()
}

/// Implements `obs_runtime::Label` for a fieldless enum.
///
/// See the documentation of `obs_runtime::Label` for attributes and examples.
#[proc_macro_derive(Label, attributes(label))]
pub fn derive_label(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    label::expand(&input).into()
}
