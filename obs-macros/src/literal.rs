//! Numeric literals in macro arguments, and the bucket checks `metric!` and `#[observe]`
//! share.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::{Expr, ExprArray, ExprLit, ExprUnary, Lit, UnOp};

use crate::ctxt::Ctxt;

/// A numeric literal, possibly negated or parenthesised by a macro, as `f64`.
pub(crate) fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<f64>().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => number(expr).map(|v| -v),
        Expr::Group(g) => number(&g.expr),
        _ => None,
    }
}

/// `[a, b, …]` as `f64` literal tokens. A literal token cannot carry a sign, so negative
/// values are emitted as a negation.
pub(crate) fn float_array(values: &[f64], span: Span) -> TokenStream {
    let items = values.iter().map(|v| {
        // Only reached for finite values once checks passed; anything else still expands
        // (next to its error) without a malformed literal.
        if !v.is_finite() {
            return quote_spanned!(span=> ::core::f64::NAN);
        }
        let lit = syn::LitFloat::new(&format!("{:?}f64", v.abs()), span);
        if v.is_sign_negative() {
            quote_spanned!(span=> -#lit)
        } else {
            quote_spanned!(span=> #lit)
        }
    });
    quote_spanned!(span=> [#(#items),*])
}

/// Every element of `array` as a number; an error at each element that is not one.
pub(crate) fn number_array(cx: &mut Ctxt, array: &ExprArray, what: &str) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    let mut ok = true;
    for elem in &array.elems {
        if let Some(v) = number(elem) {
            out.push(v);
        } else {
            cx.error_spanned_by(elem, format!("`{what}` entries must be number literals"));
            ok = false;
        }
    }
    ok.then_some(out)
}

/// Histogram bounds from a literal array: non-empty, finite, strictly increasing, each
/// problem reported at its element.
pub(crate) fn bucket_bounds(cx: &mut Ctxt, array: &ExprArray) -> Option<Vec<f64>> {
    let values = number_array(cx, array, "buckets")?;
    if values.is_empty() {
        cx.error_spanned_by(
            array,
            "a histogram needs at least one bucket bound, like `buckets = [0.1, 0.5, 1.0]`",
        );
    }
    for (i, (v, elem)) in values.iter().zip(&array.elems).enumerate() {
        if !v.is_finite() {
            cx.error_spanned_by(
                elem,
                "bucket bounds must be finite; the `+Inf` bucket is added automatically",
            );
        } else if i > 0 && *v <= values[i - 1] {
            cx.error_spanned_by(
                elem,
                format!(
                    "bucket bounds must strictly increase: `{v:?}` follows `{:?}`",
                    values[i - 1]
                ),
            );
        }
    }
    Some(values)
}
