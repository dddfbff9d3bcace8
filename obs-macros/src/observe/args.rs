//! The `#[observe(..)]` argument grammar, parsed with every problem collected.
//!
//! ```text
//! #[observe(
//!     name = "checkout",
//!     level = "debug",
//!     skip(password),
//!     fields(order_id = %order.id, attempt = attempt, token = redact(token)),
//!     buckets = [0.01, 0.1, 1.0],
//!     labels(tier = Tier::Gold),
//!     err(level = "warn"),
//!     ok_if = is_success,
//!     concurrency = false,
//!     slo = CHECKOUT,
//!     crate = my_obs,
//! )]
//! ```

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token};

use crate::ctxt::{Ctxt, Once};

/// How a listed field's value is recorded.
pub(crate) enum FieldValue {
    /// `%expr`: its `Display`.
    Display(Expr),
    /// `?expr`: its `Debug`.
    Debug(Expr),
    /// `expr`: as a `tracing::Value`.
    Value(Expr),
    /// `redact(..)`: the field is present, its value is `[redacted]`.
    Redacted,
}

/// One entry of `fields(..)`.
pub(crate) struct Field {
    /// The dotted name, as written.
    pub(crate) name: String,
    /// Where the name is, for diagnostics.
    pub(crate) span: Span,
    pub(crate) value: FieldValue,
    /// Whether `redact(..)` or `unredacted(..)` was written.
    pub(crate) marked: bool,
}

/// The parsed arguments; `None`/empty where not given.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) level: Option<(LitStr, &'static str)>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) fields: Vec<Field>,
    pub(crate) buckets: Option<Buckets>,
    pub(crate) labels: Vec<(Ident, Expr)>,
    pub(crate) err_level: Option<&'static str>,
    pub(crate) ok_if: Option<Path>,
    pub(crate) error_if: Option<Path>,
    pub(crate) concurrency: Option<bool>,
    pub(crate) slo: Option<Path>,
    pub(crate) krate: Option<TokenStream>,
}

/// Histogram buckets given to `buckets = ..`.
pub(crate) enum Buckets {
    /// A literal array, checked here.
    Literal(Vec<f64>),
    /// A path to a const, checked in const evaluation.
    Expr(Expr),
}

const ARGS: &[&str] = &[
    "name",
    "level",
    "skip",
    "fields",
    "buckets",
    "labels",
    "err",
    "ok_if",
    "error_if",
    "concurrency",
    "slo",
    "crate",
];

const LEVELS: &[(&str, &str)] = &[
    ("trace", "TRACE"),
    ("debug", "DEBUG"),
    ("info", "INFO"),
    ("warn", "WARN"),
    ("error", "ERROR"),
];

fn level(cx: &mut Ctxt, lit: &LitStr) -> Option<&'static str> {
    let v = lit.value().to_ascii_lowercase();
    let found = LEVELS.iter().find(|(n, _)| *n == v).map(|(_, c)| *c);
    if found.is_none() {
        cx.error_spanned_by(
            lit,
            format!(
                "unknown level `{}`, expected one of `trace`, `debug`, `info`, `warn`, `error`",
                lit.value()
            ),
        );
    }
    found
}

fn field(input: ParseStream<'_>) -> syn::Result<Field> {
    let mut name = String::new();
    let first = input.call(Ident::parse_any)?;
    let span = first.span();
    name.push_str(&first.unraw().to_string());
    while input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        name.push('.');
        name.push_str(&input.call(Ident::parse_any)?.unraw().to_string());
    }
    input.parse::<Token![=]>()?;
    let (value, marked) = if input.peek(Ident) && input.peek2(syn::token::Paren) {
        let fork = input.fork();
        let marker: Ident = fork.parse()?;
        if marker == "redact" || marker == "unredacted" {
            input.parse::<Ident>()?;
            let content;
            syn::parenthesized!(content in input);
            if marker == "redact" {
                let _ignored: TokenStream = content.parse()?;
                (FieldValue::Redacted, true)
            } else {
                (field_value(&content)?, true)
            }
        } else {
            (field_value(input)?, false)
        }
    } else {
        (field_value(input)?, false)
    };
    Ok(Field {
        name,
        span,
        value,
        marked,
    })
}

fn field_value(input: ParseStream<'_>) -> syn::Result<FieldValue> {
    if input.peek(Token![%]) {
        input.parse::<Token![%]>()?;
        Ok(FieldValue::Display(input.parse()?))
    } else if input.peek(Token![?]) {
        input.parse::<Token![?]>()?;
        Ok(FieldValue::Debug(input.parse()?))
    } else {
        Ok(FieldValue::Value(input.parse()?))
    }
}

/// Parses the attribute's arguments, recording problems in `cx` and keeping what parsed.
pub(crate) fn parse(cx: &mut Ctxt, tokens: TokenStream) -> Args {
    let mut name = Once::new("name");
    let mut lvl = Once::new("level");
    let mut skip = Once::new("skip");
    let mut fields = Once::new("fields");
    let mut bkts = Once::new("buckets");
    let mut labels = Once::new("labels");
    let mut err = Once::new("err");
    let mut ok_if = Once::new("ok_if");
    let mut error_if = Once::new("error_if");
    let mut concurrency = Once::new("concurrency");
    let mut slo = Once::new("slo");
    let mut krate = Once::new("crate");

    let parser = syn::meta::parser(|meta| {
        let path = &meta.path;
        let key = path
            .get_ident()
            .map(|i| i.unraw().to_string())
            .or_else(|| (path.to_token_stream().to_string() == "crate").then(|| "crate".to_owned()))
            .unwrap_or_default();
        match key.as_str() {
            "name" => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    cx.error_spanned_by(&lit, "`name` must not be empty");
                }
                name.set(cx, path, lit);
            }
            "level" => {
                let lit: LitStr = meta.value()?.parse()?;
                if let Some(l) = level(cx, &lit) {
                    lvl.set(cx, path, (lit, l));
                }
            }
            "skip" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let idents: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse_any, Token![,])?;
                skip.set(cx, path, idents.into_iter().collect::<Vec<_>>());
            }
            "fields" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let list: Punctuated<Field, Token![,]> =
                    content.parse_terminated(field, Token![,])?;
                fields.set(cx, path, list.into_iter().collect::<Vec<_>>());
            }
            "buckets" if meta.input.peek(syn::token::Paren) => {
                let content;
                let paren = syn::parenthesized!(content in meta.input);
                let inner: TokenStream = content.parse()?;
                cx.error_at(
                    paren.span.join(),
                    format!("`buckets` takes an array: write `buckets = [{inner}]`"),
                );
            }
            "buckets" => {
                let value: Expr = meta.value()?.parse()?;
                match &value {
                    Expr::Array(array) => {
                        if let Some(values) = crate::literal::bucket_bounds(cx, array) {
                            bkts.set(cx, path, Buckets::Literal(values));
                        }
                    }
                    Expr::Path(_) | Expr::Call(_) => bkts.set(cx, path, Buckets::Expr(value)),
                    other => cx.error_spanned_by(
                        other,
                        "`buckets` takes an array literal or a path to a const array",
                    ),
                }
            }
            "labels" => {
                let content;
                syn::parenthesized!(content in meta.input);
                let list: Punctuated<(Ident, Expr), Token![,]> = content.parse_terminated(
                    |input: ParseStream<'_>| {
                        let key = input.call(Ident::parse_any)?;
                        input.parse::<Token![=]>()?;
                        Ok((key, input.parse()?))
                    },
                    Token![,],
                )?;
                labels.set(cx, path, list.into_iter().collect::<Vec<_>>());
            }
            "err" => {
                let mut level_arg = None;
                if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("level") {
                            let lit: LitStr = inner.value()?.parse()?;
                            level_arg = level(cx, &lit);
                            Ok(())
                        } else {
                            Err(inner.error("unknown `err` argument, expected `level = \"warn\"`"))
                        }
                    })?;
                }
                err.set(cx, path, level_arg.unwrap_or("ERROR"));
            }
            "ok_if" => ok_if.set(cx, path, meta.value()?.parse::<Path>()?),
            "error_if" => error_if.set(cx, path, meta.value()?.parse::<Path>()?),
            "concurrency" => {
                let lit: syn::LitBool = meta.value()?.parse()?;
                concurrency.set(cx, path, lit.value);
            }
            "slo" => slo.set(cx, path, meta.value()?.parse::<Path>()?),
            "crate" => {
                let p: Path = meta.value()?.parse()?;
                krate.set(cx, path, p.to_token_stream());
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown `observe` argument `{}`, expected one of {}",
                    path.to_token_stream(),
                    ARGS.iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        cx.push(e);
    }
    let ok_if = ok_if.get();
    let error_if = error_if.get();
    if let (Some(_), Some(e)) = (&ok_if, &error_if) {
        cx.error_spanned_by(e, "use either `ok_if` or `error_if`, not both");
    }
    Args {
        name: name.get(),
        level: lvl.get(),
        skip: skip.get().unwrap_or_default(),
        fields: fields.get().unwrap_or_default(),
        buckets: bkts.get(),
        labels: labels.get().unwrap_or_default(),
        err_level: err.get(),
        ok_if,
        error_if,
        concurrency: concurrency.get(),
        slo: slo.get(),
        krate: krate.get(),
    }
}
