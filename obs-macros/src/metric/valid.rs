//! Semantic checks of `metric!` declarations, each error at the offending token.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{Expr, ExprArray, ExprLit, Lit, LitStr};

use super::ast::{Decl, Input, KINDS, Kind};
use crate::ctxt::{Ctxt, Once};
use crate::literal::{bucket_bounds, number_array};
use obs_names::{MetricKind, NameError, check_label_name, check_metric_name};

/// Default cardinality budget: the most label combinations a family may have.
pub(crate) const DEFAULT_BUDGET: u64 = 10_000;

/// Histogram bucket bounds.
pub(crate) enum Buckets {
    /// `DEFAULT_BUCKETS`.
    Default,
    /// A literal array, checked here.
    Literal(Vec<f64>, Span),
    /// Any other const expression of type `[f64; N]`, checked in const evaluation.
    Expr(Expr),
}

/// A declaration with its options resolved.
pub(crate) struct Resolved<'a> {
    pub(crate) decl: &'a Decl,
    pub(crate) kind: Kind,
    pub(crate) help: String,
    pub(crate) unit: Option<LitStr>,
    pub(crate) budget: u64,
    pub(crate) buckets: Buckets,
    pub(crate) quantiles: Option<Vec<f64>>,
    pub(crate) max_age_secs: u64,
    pub(crate) age_buckets: u32,
    pub(crate) krate: TokenStream,
    pub(crate) label_names: Vec<String>,
}

impl Kind {
    pub(crate) fn metric_kind(self) -> MetricKind {
        match self {
            Kind::Counter | Kind::FloatCounter => MetricKind::Counter,
            Kind::Gauge | Kind::FloatGauge => MetricKind::Gauge,
            Kind::Histogram => MetricKind::Histogram,
            Kind::Summary => MetricKind::Summary,
            Kind::Info => MetricKind::Info,
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Histogram => &["unit", "budget", "buckets", "crate"],
            Kind::Summary => &[
                "unit",
                "budget",
                "quantiles",
                "max_age",
                "age_buckets",
                "crate",
            ],
            Kind::Info => &["crate"],
            _ => &["unit", "budget", "crate"],
        }
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The doc comment, lines trimmed and joined by spaces.
fn help(decl: &Decl) -> Option<String> {
    let mut lines = Vec::new();
    for attr in &decl.attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            let line = s.value();
            let line = line.trim();
            if !line.is_empty() {
                lines.push(line.to_owned());
            }
        }
    }
    if lines.is_empty() {
        None
    } else {
        Some(lines.join(" "))
    }
}

fn int_literal(cx: &mut Ctxt, expr: &Expr, what: &str) -> Option<u64> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(i), ..
    }) = expr
        && let Ok(v) = i.base10_parse::<u64>()
        && v > 0
    {
        return Some(v);
    }
    cx.error_spanned_by(expr, format!("`{what}` takes a positive integer literal"));
    None
}

fn check_quantiles(cx: &mut Ctxt, array: &ExprArray, values: &[f64]) {
    for (i, (q, elem)) in values.iter().zip(&array.elems).enumerate() {
        if !(0.0..=1.0).contains(q) {
            cx.error_spanned_by(elem, "quantiles lie between 0.0 and 1.0, like `0.99`");
        } else if i > 0 && *q <= values[i - 1] {
            cx.error_spanned_by(
                elem,
                format!(
                    "quantiles must strictly increase: `{q:?}` follows `{:?}`",
                    values[i - 1]
                ),
            );
        }
    }
}

fn name_error_span(e: NameError, decl: &Decl, unit: Option<&LitStr>) -> Span {
    match (e, unit) {
        (NameError::InvalidUnit | NameError::NonBaseUnit(..), Some(u)) => u.span(),
        _ => decl.name.span(),
    }
}

fn resolve_decl<'a>(cx: &mut Ctxt, decl: &'a Decl) -> Option<Resolved<'a>> {
    let Some(kind) = decl.kind else {
        cx.error_spanned_by(
            &decl.kind_ident,
            format!(
                "unknown metric kind `{}`, expected one of {}",
                decl.kind_ident,
                quoted_list(&KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            ),
        );
        return None;
    };

    let help = help(decl).unwrap_or_else(|| {
        cx.error_spanned_by(
            &decl.ident,
            format!(
                "add a doc comment to `{}`: it becomes the metric's `# HELP` text",
                decl.ident
            ),
        );
        String::new()
    });

    let mut unit = Once::new("unit");
    let mut budget = Once::new("budget");
    let mut buckets = Once::new("buckets");
    let mut quantiles = Once::new("quantiles");
    let mut max_age = Once::new("max_age");
    let mut age_buckets = Once::new("age_buckets");
    let mut krate = Once::new("crate");
    for opt in &decl.options {
        let key = opt.key.unraw().to_string();
        if !kind.options().contains(&key.as_str()) {
            let known = KINDS
                .iter()
                .find(|(_, k)| *k == kind)
                .map_or("", |(n, _)| *n);
            cx.error_spanned_by(
                &opt.key,
                format!(
                    "unknown `{known}` option `{key}`, expected one of {}",
                    quoted_list(kind.options())
                ),
            );
            continue;
        }
        let value = &opt.value;
        match key.as_str() {
            "unit" => match value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => unit.set(cx, &opt.key, s.clone()),
                _ => {
                    cx.error_spanned_by(value, "`unit` takes a string literal, like `\"seconds\"`");
                }
            },
            "budget" => {
                if let Some(v) = int_literal(cx, value, "budget") {
                    budget.set(cx, &opt.key, v);
                }
            }
            "buckets" => match value {
                Expr::Array(array) => {
                    if let Some(values) = bucket_bounds(cx, array) {
                        buckets.set(cx, &opt.key, Buckets::Literal(values, opt.key.span()));
                    }
                }
                other => buckets.set(cx, &opt.key, Buckets::Expr(other.clone())),
            },
            "quantiles" => match value {
                Expr::Array(array) => {
                    if let Some(values) = number_array(cx, array, "quantiles") {
                        check_quantiles(cx, array, &values);
                        quantiles.set(cx, &opt.key, values);
                    }
                }
                other => cx.error_spanned_by(
                    other,
                    "`quantiles` takes an array literal, like `[0.5, 0.9, 0.99]`",
                ),
            },
            "max_age" => {
                if let Some(v) = int_literal(cx, value, "max_age") {
                    max_age.set(cx, &opt.key, v);
                }
            }
            "age_buckets" => {
                if let Some(v) = int_literal(cx, value, "age_buckets") {
                    match u32::try_from(v) {
                        Ok(v) if v <= 60 => age_buckets.set(cx, &opt.key, v),
                        _ => cx.error_spanned_by(value, "`age_buckets` is at most 60"),
                    }
                }
            }
            "crate" => match value {
                Expr::Path(p) => krate.set(cx, &opt.key, p.to_token_stream()),
                _ => cx.error_spanned_by(value, "`crate` takes a path, like `crate = my_obs`"),
            },
            _ => {}
        }
    }
    let unit = unit.get();

    if let Err(e) = check_metric_name(
        &decl.name.value(),
        kind.metric_kind(),
        unit.as_ref().map(LitStr::value).as_deref(),
    ) {
        cx.error_at(
            name_error_span(e, decl, unit.as_ref()),
            e.message(
                &decl.name.value(),
                unit.as_ref().map(LitStr::value).as_deref(),
            ),
        );
    }

    let mut label_names: Vec<String> = Vec::new();
    for label in &decl.labels {
        let name = label.ident.unraw().to_string();
        match (kind, &label.ty) {
            (Kind::Info, Some(ty)) => cx.error_spanned_by(
                ty,
                format!("info labels are names only, their values are set at run time: write `{name}`"),
            ),
            (_, None) if kind != Kind::Info => cx.error_spanned_by(
                &label.ident,
                format!("label `{name}` needs a bounded type: write `{name}: MyEnum` with `#[derive(Label)]` on the enum"),
            ),
            _ => {}
        }
        if let Err(e) = check_label_name(&name) {
            cx.error_spanned_by(&label.ident, e.message(&name, None));
        }
        if label_names.contains(&name) {
            cx.error_spanned_by(&label.ident, format!("duplicate label `{name}`"));
        }
        label_names.push(name);
    }
    if decl.labels.len() > 8 {
        cx.error_spanned_by(
            &decl.labels[8].ident,
            "a metric has at most 8 labels; more multiply into too many series",
        );
    }

    Some(Resolved {
        decl,
        kind,
        help,
        unit,
        budget: budget.get().unwrap_or(DEFAULT_BUDGET),
        buckets: buckets.get().unwrap_or(Buckets::Default),
        quantiles: quantiles.get(),
        max_age_secs: max_age.get().unwrap_or(600),
        age_buckets: age_buckets.get().unwrap_or(5),
        krate: krate.get().unwrap_or_else(|| quote!(::obs_runtime)),
        label_names,
    })
}

/// Checks every declaration; returns those whose kind is known (for expansion, also when
/// other errors were found, so that uses of the statics do not cascade into more errors).
pub(crate) fn resolve<'a>(cx: &mut Ctxt, input: &'a Input) -> Vec<Resolved<'a>> {
    let mut out: Vec<Resolved<'a>> = Vec::new();
    for decl in &input.metrics {
        if let Some(prev) = input
            .metrics
            .iter()
            .take_while(|d| !core::ptr::eq(*d, decl))
            .find(|d| d.name.value() == decl.name.value())
        {
            cx.error_spanned_by(
                &decl.name,
                format!(
                    "metric name \"{}\" is already declared by `{}` in this invocation",
                    decl.name.value(),
                    prev.ident
                ),
            );
        }
        if let Some(r) = resolve_decl(cx, decl) {
            out.push(r);
        }
    }
    out
}
