//! Procedural macros of [obs](https://docs.rs/obs-runtime): `metric!` and
//! `#[derive(Label)]`.
//!
//! Use them through `obs-runtime`, which re-exports them and holds everything the expanded
//! code refers to (`::obs_runtime::__private`). Each entry point only parses, expands and
//! turns errors into `compile_error!`; the stages live in their own modules.

mod ctxt;
mod error_label;
mod label;
mod literal;
mod metric;
mod observe;

use proc_macro::TokenStream;

/// Declares metric families as statics with bounded, typed labels.
///
/// Documented, with examples, where users meet it: `obs_runtime::metric`.
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as metric::ast::Input);
    metric::expand(&input).into()
}

/// Instruments a function with a span, error recording and RED metrics.
///
/// Documented, with examples, where users meet it: `obs_runtime::observe`.
#[proc_macro_attribute]
pub fn observe(attr: TokenStream, item: TokenStream) -> TokenStream {
    observe::expand(attr.into(), &item.into()).into()
}

/// Implements `obs_runtime::ErrorLabel` for an error enum.
///
/// Documented, with examples, where users meet it: `obs_runtime::ErrorLabel`.
#[proc_macro_derive(ErrorLabel, attributes(error_label))]
pub fn derive_error_label(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    error_label::expand(&input).into()
}

/// Implements `obs_runtime::Label` for a fieldless enum.
///
/// See the documentation of `obs_runtime::Label` for attributes and examples.
#[proc_macro_derive(Label, attributes(label))]
pub fn derive_label(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    label::expand(&input).into()
}
