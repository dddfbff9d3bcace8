//! Code generation for `#[observe]`: three statics (span metadata, its callsite, the
//! function's site with its counters), a catalogue entry, and one call into the runtime.
//! Everything else lives in `obs_runtime::__private::FnSite`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{AttrStyle, Expr, ItemFn, Type};

use super::args::{Args, Buckets, FieldValue};
use super::valid::{Asyncness, Checked, FIXED_FIELDS, async_trait_block};

/// The expression classifying `__obs_out: &Output` into a `CallOutcome`: by the output's
/// type (a `Result` through any alias is a `Result`), or by the `ok_if`/`error_if`
/// predicate.
fn classify(args: &Args) -> TokenStream {
    if let Some(pred) = &args.ok_if {
        quote!(__obs::predicate(__obs_out, #pred(__obs_out), true))
    } else if let Some(pred) = &args.error_if {
        quote!(__obs::predicate(__obs_out, #pred(__obs_out), false))
    } else {
        quote! {
            __obs::outcome(
                (&&__obs::Probe(__obs_out)).obs_result(),
                |e| (&&__obs::Probe(e)).obs_error_name(),
                |e| (&&&&&&__obs::Probe(e)).obs_error_message(),
            )
        }
    }
}

/// `ty` with every `impl Trait` replaced by `_`, so that it can be written on a `let`.
fn inferable(ty: &Type) -> Type {
    struct Opaque;
    impl VisitMut for Opaque {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(t) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](t.impl_token.span),
                });
            } else {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Opaque.visit_type_mut(&mut ty);
    ty
}

/// A statement that fixes the output type of the closure or async block around the body
/// to the declared return type, so that the body's tail and `return`s are coerced to it
/// (deref, unsizing) exactly as in the function itself: a first, never-taken `return`
/// of that type. `None` when the type says nothing (`impl Trait`, `()`).
fn fake_return(output: Option<&Type>) -> Option<TokenStream> {
    let ty = inferable(output?);
    if matches!(ty, Type::Infer(_)) || matches!(&ty, Type::Tuple(t) if t.elems.is_empty()) {
        return None;
    }
    Some(quote! {
        if false {
            return __obs::output_type::<#ty>();
        }
    })
}

/// Whether a value of this type is certainly not a boxed `dyn Future` (which would be
/// recorded over its completion): a reference, tuple, array or slice, or a path to a
/// well-known std type. Any other type is decided by the compiler, by type.
fn never_boxed_future(ty: &Type) -> bool {
    const KNOWN: &[&str] = &[
        "Result", "Option", "Vec", "String", "bool", "char", "str", "u8", "u16", "u32", "u64",
        "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32", "f64", "Self",
    ];
    match ty {
        Type::Reference(_) | Type::Tuple(_) | Type::Array(_) | Type::Slice(_) | Type::Never(_) => {
            true
        }
        Type::Paren(p) => never_boxed_future(&p.elem),
        Type::Group(g) => never_boxed_future(&g.elem),
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| KNOWN.iter().any(|k| s.ident == k))
        }
        _ => false,
    }
}

/// Whether the return type is written `impl Future<..>` (an opaque future, so the
/// returned value may be wrapped in one that times it).
fn returns_impl_future(output: Option<&Type>) -> bool {
    let Some(Type::ImplTrait(t)) = output else {
        return false;
    };
    t.bounds.iter().any(|b| match b {
        syn::TypeParamBound::Trait(tr) => {
            tr.path.segments.last().is_some_and(|s| s.ident == "Future")
        }
        _ => false,
    })
}

/// Rewrites the `return`s and `?`s of a body (not those of nested closures, async blocks
/// or items) into breaks out of the block labelled `'__obs_body`, so that a body that
/// cannot be moved into a closure (`#[track_caller]`) still ends in one place.
struct Exits;

impl VisitMut for Exits {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Return(r) => {
                if let Some(value) = &mut r.expr {
                    self.visit_expr_mut(value);
                }
                let value = r.expr.as_ref().map(|e| quote!(#e));
                let span = r.return_token.span;
                *expr = syn::parse_quote_spanned! {span=> break '__obs_body #value };
            }
            Expr::Try(t) => {
                self.visit_expr_mut(&mut t.expr);
                let inner = &t.expr;
                let span = t.question_token.span;
                *expr = syn::parse_quote_spanned! {span=>
                    match __obs::Branch::obs_branch(#inner) {
                        ::core::ops::ControlFlow::Continue(__obs_v) => __obs_v,
                        ::core::ops::ControlFlow::Break(__obs_r) => {
                            break '__obs_body __obs::FromResidual::obs_from_residual(__obs_r)
                        }
                    }
                };
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// `__obs::SiteConfig` for the options given, or its `DEFAULT`.
fn site_config(args: &Args) -> (TokenStream, TokenStream) {
    let (buckets, bucket_check) = match &args.buckets {
        None => (None, TokenStream::new()),
        Some(Buckets::Literal(values)) => {
            let array = crate::literal::float_array(values, Span::call_site());
            (Some(quote!(&#array)), TokenStream::new())
        }
        Some(Buckets::Expr(e)) => (
            Some(quote!(&#e)),
            quote_spanned! {e.span()=>
                const _: () = ::core::assert!(__obs::buckets_valid(&#e), "`buckets` must be non-empty, finite and strictly increasing");
            },
        ),
    };
    let mut bucket_check = bucket_check;
    let buckets = match &args.slo {
        None => buckets,
        Some(slo) => {
            // The SLO's threshold becomes a boundary of the function's histogram, and a
            // threshold the histogram cannot hold is an error at the `slo = ..` path.
            let base = buckets
                .clone()
                .unwrap_or_else(|| quote!(&__obs::FUNCTION_BUCKETS));
            bucket_check.extend(quote_spanned! {slo.span()=>
                const _: () = __obs::check_slo(&#slo, #base);
                const __OBS_SLO_LEN: usize = __obs::buckets_with_slo_len(#base, &#slo);
                static __OBS_SLO_BUCKETS: [f64; __OBS_SLO_LEN] =
                    __obs::buckets_with_slo::<__OBS_SLO_LEN>(#base, &#slo);
            });
            Some(quote!(&__OBS_SLO_BUCKETS))
        }
    };
    if buckets.is_none()
        && args.concurrency.is_none()
        && args.err_level.is_none()
        && args.labels.is_empty()
        && args.slo.is_none()
    {
        return (quote!(__obs::SiteConfig::DEFAULT), bucket_check);
    }
    let buckets = buckets.unwrap_or_else(|| quote!(&__obs::FUNCTION_BUCKETS));
    let concurrency = args.concurrency.unwrap_or(true);
    let err_level = args.err_level.map_or_else(
        || quote!(::core::option::Option::None),
        |l| {
            let l = syn::Ident::new(l, Span::call_site());
            quote!(::core::option::Option::Some(__obs::Level::#l))
        },
    );
    let slo = args.slo.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |slo| quote_spanned!(slo.span()=> ::core::option::Option::Some(&#slo)),
    );
    let labels = args.labels.iter().map(|(k, v)| {
        let k = syn::ext::IdentExt::unraw(k).to_string();
        let value = quote_spanned!(v.span()=> __obs::Label::as_str(&#v));
        quote!((#k, || #value))
    });
    (
        quote! {
            __obs::SiteConfig {
                buckets: #buckets,
                concurrency: #concurrency,
                err_level: #err_level,
                labels: &[#(#labels),*],
                slo: #slo,
            }
        },
        bucket_check,
    )
}

/// Takes `mut` off the by-value bindings of the parameters and returns their names: an
/// `async fn` rebinds them inside its future (`let mut x = x;`, as the compiler's own
/// lowering does), so that `x = &local;` may give `x` a shorter lifetime.
fn take_mut_bindings(sig: &mut syn::Signature) -> Vec<syn::Ident> {
    fn walk(pat: &mut syn::Pat, out: &mut Vec<syn::Ident>) {
        match pat {
            syn::Pat::Ident(p) => {
                if p.by_ref.is_none() && p.mutability.take().is_some() {
                    out.push(p.ident.clone());
                }
                if let Some((_, sub)) = &mut p.subpat {
                    walk(sub, out);
                }
            }
            syn::Pat::Tuple(t) => t.elems.iter_mut().for_each(|p| walk(p, out)),
            syn::Pat::TupleStruct(t) => t.elems.iter_mut().for_each(|p| walk(p, out)),
            syn::Pat::Struct(s) => s.fields.iter_mut().for_each(|f| walk(&mut f.pat, out)),
            syn::Pat::Slice(s) => s.elems.iter_mut().for_each(|p| walk(p, out)),
            syn::Pat::Paren(p) => walk(&mut p.pat, out),
            syn::Pat::Type(t) => walk(&mut t.pat, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for input in &mut sig.inputs {
        if let syn::FnArg::Typed(t) = input {
            walk(&mut t.pat, &mut out);
        }
    }
    out
}

pub(crate) fn function(args: &Args, checked: &Checked, func: &ItemFn) -> TokenStream {
    let krate = args.krate.clone().unwrap_or_else(|| quote!(::obs_runtime));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let mut sig = sig.clone();
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .iter()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
    let span = sig.ident.span();
    let name = &checked.name;
    let level = args.level.as_ref().map_or("INFO", |(_, l)| l);
    let level = syn::Ident::new(level, span);
    let fields = if args.fields.is_empty() {
        quote!(__obs::FIXED)
    } else {
        let fixed = FIXED_FIELDS.iter();
        let user_names = args.fields.iter().map(|f| &f.name);
        quote!(&[#(#fixed,)* #(#user_names),*])
    };
    let user_values = args.fields.iter().map(|f| {
        let v = match &f.value {
            FieldValue::Display(e) => quote_spanned!(e.span()=> &__obs::display(&#e)),
            FieldValue::Debug(e) => quote_spanned!(e.span()=> &__obs::debug(&#e)),
            FieldValue::Value(e) => quote_spanned!(e.span()=> &#e),
            FieldValue::Redacted => quote!(&"[redacted]"),
        };
        quote!(::core::option::Option::Some(#v as &dyn __obs::Value))
    });
    let (config, bucket_check) = site_config(args);
    let classify = classify(args);
    let statics = quote_spanned! {span=>
        #[allow(unused_imports)]
        use #krate::__private::{self as __obs, probe::*};
        static __OBS: __obs::FnSite = __obs::FnSite::new(
            &__OBS, #name, ::core::module_path!(), ::core::file!(), ::core::line!(),
            __obs::Level::#level, #fields, #config,
        );
        #bucket_check
        // The slice's own element macro (what `#[distributed_slice(OBSERVED)]` expands
        // to, minus its per-element type check, which this typed static makes moot):
        // 40 % of the attribute's compile time and half its expanded size.
        __obs::OBSERVED! {
            #![linkme_macro = __obs::OBSERVED]
            #[allow(unsafe_code)]
            static __OBS_REGISTER: &__obs::FnSite = &__OBS;
        }
    };
    let values = quote!(&[#(#user_values),*]);
    let output = checked.output.as_ref();
    // The user's statements, in braces that carry the user's span. Leading items stay
    // first (before any statement of ours), so item lints see the user's order.
    let stmts = &block.stmts;
    let leading = stmts
        .iter()
        .take_while(|s| matches!(s, syn::Stmt::Item(_)))
        .count();
    let (items, rest) = stmts.split_at(leading);
    let user_block = |prefix: Option<TokenStream>| {
        let mut g = proc_macro2::Group::new(
            proc_macro2::Delimiter::Brace,
            quote!(#(#items)* #prefix #(#rest)*),
        );
        g.set_span(block.brace_token.span.join());
        g
    };

    let body = match checked.asyncness {
        Asyncness::Sync if checked.never => {
            // Nothing to classify: the body only ends by unwinding (a panic) or never.
            quote_spanned! {block.span()=>
                #statics
                let __obs_guard = __OBS.enter(#values);
                #(#stmts)*
            }
        }
        Asyncness::Sync if checked.track_caller => {
            // `Location::caller()` must see the caller: no closure. Every exit is
            // rewritten into a break out of one labelled block.
            let mut inline = block.as_ref().clone();
            for stmt in &mut inline.stmts {
                Exits.visit_stmt_mut(stmt);
            }
            let ty = output.map(|t| {
                let t = inferable(t);
                quote!(: #t)
            });
            let stmts = &inline.stmts;
            quote_spanned! {block.span()=>
                #statics
                let __obs_guard = __OBS.enter(#values);
                #[allow(clippy::let_unit_value)]
                let __obs_out #ty = '__obs_body: { #(#stmts)* };
                __obs_guard.finish(&{ let __obs_out = &__obs_out; #classify });
                __obs_out
            }
        }
        Asyncness::Sync => {
            // The body runs in a closure called once: `return` and `?` stay the body's,
            // and a `FnOnce` closure lets borrows of the arguments escape as they would.
            // The declared return type, given to `call_once`, becomes the closure's
            // return type: the body's tail and `return`s are coerced to it.
            let closure_body = user_block(None);
            let declared = output.map(|t| {
                let t = inferable(t);
                quote!(::<#t, _>)
            });
            let finish = if returns_impl_future(output) {
                quote!(__obs_guard.into_future(__obs_out, |__obs_out| #classify))
            } else if output.is_none_or(never_boxed_future) {
                // Saves the compiler a method resolution where the answer is known.
                quote!(__obs_guard.finish(&{ let __obs_out = &__obs_out; #classify }); __obs_out)
            } else {
                quote! {
                    (&&__obs::Probe(&__obs_out)).obs_returned()
                        .obs_finish(__obs_out, __obs_guard, |__obs_out| #classify)
                }
            };
            quote_spanned! {block.span()=>
                #statics
                let __obs_guard = __OBS.enter(#values);
                #[allow(clippy::let_unit_value)]
                let __obs_out = __obs::call_once #declared (move || #closure_body);
                #finish
            }
        }
        Asyncness::Native => {
            let rebind = take_mut_bindings(&mut sig);
            let rebind = quote! {
                #(#[allow(unused_mut)] let mut #rebind = #rebind;)*
            };
            // An `async` block's output type cannot be given from outside: a first,
            // never-taken `return` of the declared type fixes it.
            let fake_return = fake_return(output);
            let future_body = user_block(Some(quote!(#rebind #fake_return)));
            quote_spanned! {block.span()=>
                #statics
                let __obs_span = __OBS.span_for(#values);
                __OBS.instrument(__obs_span, async move #future_body, |__obs_out| #classify).await
            }
        }
        Asyncness::AsyncTrait => {
            let mut stmts = block.stmts.clone();
            let last = stmts.pop();
            let inner = async_trait_block(func).map(|b| quote!(#b));
            let pin_path = if let Some(syn::Stmt::Expr(syn::Expr::Call(call), None)) = last {
                let f = &call.func;
                quote!(#f)
            } else {
                quote!(::std::boxed::Box::pin)
            };
            quote_spanned! {block.span()=>
                #statics
                #(#stmts)*
                let __obs_span = __OBS.span_for(#values);
                #pin_path(__OBS.instrument(__obs_span, #inner, |__obs_out| #classify))
            }
        }
    };
    // The body keeps the user's braces, so the item's span is the user's: lints such as
    // `dead_code` still fire on the function.
    let mut body = proc_macro2::Group::new(
        proc_macro2::Delimiter::Brace,
        quote!(#(#inner_attrs)* #body),
    );
    body.set_span(block.brace_token.span.join());
    quote! {
        #(#outer_attrs)*
        #vis #sig #body
    }
}
