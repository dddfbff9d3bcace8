//! Collects every error of one invocation so they are reported together.

use proc_macro2::TokenStream;
use quote::ToTokens;
use std::fmt::Display;

/// An error accumulator: push errors as they are found, combine them at the end.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    /// Records an error spanned at `tokens`.
    pub(crate) fn error_spanned_by<T: ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error spanned at `span`.
    pub(crate) fn error_at<M: Display>(&mut self, span: proc_macro2::Span, message: M) {
        self.push(syn::Error::new(span, message));
    }

    /// Records a parse error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// The combined errors as `compile_error!` invocations, if any.
    pub(crate) fn check(self) -> Result<(), TokenStream> {
        match self.errors {
            Some(e) => Err(e.to_compile_error()),
            None => Ok(()),
        }
    }
}

/// An attribute argument that may be given once.
pub(crate) struct Once<T> {
    what: &'static str,
    value: Option<T>,
}

impl<T> Once<T> {
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what, value: None }
    }

    /// Sets the value, or records a duplicate-argument error at `tokens`.
    pub(crate) fn set<S: ToTokens>(&mut self, cx: &mut Ctxt, tokens: S, value: T) {
        if self.value.is_some() {
            cx.error_spanned_by(tokens, format!("duplicate argument `{}`", self.what));
        } else {
            self.value = Some(value);
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}
