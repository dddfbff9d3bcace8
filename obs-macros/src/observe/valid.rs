//! Checks of `#[observe]` arguments against the function they annotate.

use syn::ext::IdentExt;
use syn::{Expr, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Stmt, Type};

use super::args::Args;
use crate::ctxt::Ctxt;
use obs_names::{check_label_name, looks_sensitive};

/// The span fields every observed function declares first (shared with the runtime).
pub(crate) const FIXED_FIELDS: [&str; 5] = obs_names::SPAN_FIELDS;

/// The most fields a span can take in the runtime (32) minus the fixed ones.
pub(crate) const MAX_USER_FIELDS: usize = 32 - FIXED_FIELDS.len();

/// How the function is asynchronous.
pub(crate) enum Asyncness {
    /// A plain function.
    Sync,
    /// `async fn`.
    Native,
    /// The output of `#[async_trait]`: the last statement is `Box::pin(async move { .. })`.
    AsyncTrait,
}

/// What the checks established about the function.
pub(crate) struct Checked {
    pub(crate) asyncness: Asyncness,
    /// Whether the return type is `!`: the body never returns.
    pub(crate) never: bool,
    /// Whether the function is `#[track_caller]`: its body must not move into a closure.
    pub(crate) track_caller: bool,
    /// The span and metric name.
    pub(crate) name: String,
    /// The call's output type, if written (`()` otherwise).
    pub(crate) output: Option<Type>,
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

/// `Output = T` inside `Pin<Box<dyn Future<Output = T> + ..>>`.
fn future_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(p) => p.path.segments.iter().find_map(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            }),
            _ => None,
        }),
        Type::TraitObject(t) => t.bounds.iter().find_map(|b| match b {
            syn::TypeParamBound::Trait(tr) => {
                tr.path
                    .segments
                    .iter()
                    .find_map(|seg| match &seg.arguments {
                        PathArguments::AngleBracketed(args) => {
                            args.args.iter().find_map(|a| match a {
                                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                                    Some(&assoc.ty)
                                }
                                _ => None,
                            })
                        }
                        _ => None,
                    })
            }
            _ => None,
        }),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

/// Whether the body is `#[async_trait]` output: it ends in `Box::pin(async move { .. })`.
pub(crate) fn async_trait_block(func: &ItemFn) -> Option<&syn::ExprAsync> {
    match func.block.stmts.last()? {
        Stmt::Expr(Expr::Call(call), None) => {
            let Expr::Path(path) = call.func.as_ref() else {
                return None;
            };
            let last = path.path.segments.last()?;
            if last.ident != "pin" || call.args.len() != 1 {
                return None;
            }
            match call.args.first()? {
                Expr::Async(block) => Some(block),
                _ => None,
            }
        }
        _ => None,
    }
}

fn param_names(func: &ItemFn) -> Vec<String> {
    fn collect(pat: &Pat, out: &mut Vec<String>) {
        match pat {
            Pat::Ident(p) => out.push(p.ident.unraw().to_string()),
            Pat::Tuple(t) => t.elems.iter().for_each(|p| collect(p, out)),
            Pat::TupleStruct(t) => t.elems.iter().for_each(|p| collect(p, out)),
            Pat::Struct(s) => s.fields.iter().for_each(|f| collect(&f.pat, out)),
            Pat::Reference(r) => collect(&r.pat, out),
            Pat::Type(t) => collect(&t.pat, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(_) => out.push("self".to_owned()),
            FnArg::Typed(t) => collect(&t.pat, &mut out),
        }
    }
    out
}

/// A `labels(..)` value is fixed per function: an enum variant or a const path. A
/// variable, call or field is an error here; a literal is left to the `Label` bound,
/// whose error says why its type cannot be a label.
fn check_label_value(cx: &mut Ctxt, name: &str, value: &Expr) {
    // A constant forwarded by `macro_rules!` (`$t:expr`) or parenthesised is still one.
    let mut value = value;
    while let Expr::Group(syn::ExprGroup { expr, .. }) | Expr::Paren(syn::ExprParen { expr, .. }) =
        value
    {
        value = expr;
    }
    let variable = match value {
        Expr::Lit(_) => return,
        Expr::Path(p) if p.qself.is_none() => {
            let segments = &p.path.segments;
            // `Tier::Gold`, `GOLD`: constants. A lone lowercase name is a variable.
            segments.len() == 1
                && segments[0]
                    .ident
                    .to_string()
                    .starts_with(|c: char| c.is_lowercase() || c == '_')
        }
        _ => true,
    };
    if variable {
        cx.error_spanned_by(
            value,
            format!(
                "`labels(..)` values are fixed per function: write an enum constant such as `{name} = Tier::Gold`; a value known only per call goes in `fields({name} = ..)` as a span attribute"
            ),
        );
    }
}

pub(crate) fn check(cx: &mut Ctxt, args: &Args, func: &ItemFn) -> Checked {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(
            constness,
            "`#[observe]` cannot instrument a `const fn`: recording a call needs a clock and atomics at run time; remove `const` or the attribute",
        );
    }

    let params = param_names(func);
    for skipped in &args.skip {
        let name = skipped.unraw().to_string();
        if !params.contains(&name) {
            cx.error_spanned_by(
                skipped,
                format!(
                    "`skip` names `{name}`, which is not a parameter of `{}`; parameters are never recorded unless listed in `fields`",
                    sig.ident
                ),
            );
        }
    }

    let mut seen: Vec<&str> = Vec::new();
    for field in &args.fields {
        if looks_sensitive(&field.name) && !field.marked {
            cx.error_at(
                field.span,
                format!(
                    "`{}` looks sensitive: write `{0} = redact(..)` to record that it was present, or `{0} = unredacted(..)` to record its value on purpose",
                    field.name
                ),
            );
        }
        if FIXED_FIELDS.contains(&field.name.as_str()) {
            cx.error_at(
                field.span,
                format!(
                    "`{}` is recorded by `#[observe]` itself; choose another field name",
                    field.name
                ),
            );
        }
        if seen.contains(&field.name.as_str()) {
            cx.error_at(field.span, format!("duplicate field `{}`", field.name));
        }
        seen.push(&field.name);
    }

    if let Some(extra) = args.fields.get(MAX_USER_FIELDS) {
        cx.error_at(
            extra.span,
            format!("`fields` lists at most {MAX_USER_FIELDS} fields"),
        );
    }

    let mut label_keys: Vec<String> = Vec::new();
    for (key, value) in &args.labels {
        let name = key.unraw().to_string();
        if ["function", "module", "result", "error"].contains(&name.as_str()) {
            cx.error_spanned_by(
                key,
                format!("label `{name}` is set by `#[observe]` itself; choose another name"),
            );
        } else if let Err(e) = check_label_name(&name) {
            cx.error_spanned_by(key, e.message(&name, None));
        }
        check_label_value(cx, &name, value);
        if label_keys.contains(&name) {
            cx.error_spanned_by(key, format!("duplicate label `{name}`"));
        }
        label_keys.push(name);
    }

    let asyncness = if sig.asyncness.is_some() {
        Asyncness::Native
    } else if async_trait_block(func).is_some() {
        Asyncness::AsyncTrait
    } else {
        Asyncness::Sync
    };
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => match asyncness {
            Asyncness::AsyncTrait => future_output(ty),
            _ => Some(ty.as_ref()),
        },
    };
    // Only a courtesy for the common spelling: classification itself goes by type.
    let returns_result = output.is_some_and(is_result);
    for (pred, what) in [(&args.ok_if, "ok_if"), (&args.error_if, "error_if")] {
        if let Some(p) = pred
            && returns_result
        {
            cx.error_spanned_by(
                p,
                format!("`{what}` is for functions that do not return `Result`; a `Result` is classified by its variant"),
            );
        }
    }

    Checked {
        asyncness,
        never: matches!(output, Some(Type::Never(_))),
        track_caller: func.attrs.iter().any(|a| a.path().is_ident("track_caller")),
        output: output.cloned(),
        name: args
            .name
            .as_ref()
            .map_or_else(|| sig.ident.unraw().to_string(), syn::LitStr::value),
    }
}
