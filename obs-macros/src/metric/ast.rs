//! The `metric!` grammar, parsed into an IR that keeps the user's tokens for diagnostics.
//!
//! ```text
//! metric! {
//!     /// Help text.
//!     pub counter ORDERS("orders_total", status: Status, method: Method, budget = 100);
//!     pub info BUILD("app_build", version, commit);
//! }
//! ```

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, LitStr, Token, Type, Visibility};

/// The metric kinds, by the keyword that declares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    FloatCounter,
    Gauge,
    FloatGauge,
    Histogram,
    Summary,
    Info,
}

pub(crate) const KINDS: &[(&str, Kind)] = &[
    ("counter", Kind::Counter),
    ("float_counter", Kind::FloatCounter),
    ("gauge", Kind::Gauge),
    ("float_gauge", Kind::FloatGauge),
    ("histogram", Kind::Histogram),
    ("summary", Kind::Summary),
    ("info", Kind::Info),
];

pub(crate) struct Input {
    pub(crate) metrics: Vec<Decl>,
}

/// One declaration.
pub(crate) struct Decl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) kind_ident: Ident,
    /// `None` when the keyword is unknown (reported by validation).
    pub(crate) kind: Option<Kind>,
    pub(crate) ident: Ident,
    pub(crate) name: LitStr,
    pub(crate) labels: Vec<LabelDecl>,
    pub(crate) options: Vec<OptionArg>,
}

/// `name: Type`, or a bare `name` for info metrics.
pub(crate) struct LabelDecl {
    pub(crate) ident: Ident,
    pub(crate) ty: Option<Type>,
}

/// `key = value`.
pub(crate) struct OptionArg {
    pub(crate) key: Ident,
    pub(crate) value: Expr,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut metrics = Vec::new();
        while !input.is_empty() {
            metrics.push(input.parse()?);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![;]>()?;
        }
        Ok(Input { metrics })
    }
}

impl Parse for Decl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let kind_ident: Ident = input.call(Ident::parse_any)?;
        let kind = KINDS
            .iter()
            .find(|(k, _)| kind_ident == k)
            .map(|(_, kind)| *kind);
        let ident: Ident = input.parse()?;
        let content;
        syn::parenthesized!(content in input);
        let name: LitStr = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the metric's exposition name as a string literal, like `\"http_requests_total\"`",
            )
        })?;
        let mut labels = Vec::new();
        let mut options = Vec::new();
        let args: Punctuated<Arg, Token![,]> = if content.is_empty() {
            Punctuated::new()
        } else {
            content.parse::<Token![,]>()?;
            Punctuated::parse_terminated(&content)?
        };
        for arg in args {
            match arg {
                Arg::Label(l) => labels.push(l),
                Arg::Option(o) => options.push(o),
            }
        }
        Ok(Decl {
            attrs,
            vis,
            kind_ident,
            kind,
            ident,
            name,
            labels,
            options,
        })
    }
}

enum Arg {
    Label(LabelDecl),
    Option(OptionArg),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = input.call(Ident::parse_any)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            Ok(Arg::Option(OptionArg { key, value }))
        } else if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            let ty: Type = input.parse()?;
            Ok(Arg::Label(LabelDecl {
                ident: key,
                ty: Some(ty),
            }))
        } else if input.is_empty() || input.peek(Token![,]) {
            Ok(Arg::Label(LabelDecl {
                ident: key,
                ty: None,
            }))
        } else if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            let inner: proc_macro2::TokenStream = content.parse()?;
            let (open, close) = if key == "buckets" || key == "quantiles" {
                ("[", "]")
            } else {
                ("", "")
            };
            Err(syn::Error::new(
                paren.span.join(),
                format!(
                    "options are written `{key} = value`: write `{key} = {open}{inner}{close}`"
                ),
            ))
        } else {
            Err(input
                .error("expected `: Type` after a label name, or `= value` after an option name"))
        }
    }
}
