//! Code generation for `#[observe]`: three statics (span metadata, its callsite, the
//! function's site with its counters), a catalogue entry, and one call into the runtime.
//! Everything else lives in `obs_runtime::__private::FnSite`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Type};

use super::args::{Args, Buckets, FieldValue};
use super::valid::{Asyncness, Checked, async_trait_block};

/// The span fields every observed function declares first (as in the runtime).
pub(crate) const FIXED_FIELDS: [&str; 5] = [
    "code.function",
    "code.namespace",
    "otel.kind",
    "otel.status_code",
    "error.type",
];

/// The most fields a span can take in the runtime (32) minus the fixed ones.
pub(crate) const MAX_USER_FIELDS: usize = 32 - FIXED_FIELDS.len();

/// Whether `tokens` contain an identifier `impl` or `_`, or (when `refs`) a `&` or a
/// lifetime.
fn mentions(tokens: TokenStream, refs: bool) -> bool {
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "impl" || i == "_",
        proc_macro2::TokenTree::Punct(p) => refs && (p.as_char() == '&' || p.as_char() == '\''),
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), refs),
        proc_macro2::TokenTree::Literal(_) => false,
    })
}

/// Whether a return type can be written on a closure as it is: no elided or named
/// lifetimes, no `impl Trait`, no `_`.
fn nameable(ty: &Type) -> bool {
    !mentions(quote!(#ty), true)
}

/// The type of a reference to the call's output, when it can be written (no `impl Trait`):
/// it pins the type before the classifying `match` resolves its method calls.
fn output_ref(ty: Option<&Type>) -> Option<TokenStream> {
    let ty = ty?;
    (!mentions(quote!(#ty), false)).then(|| quote!(&#ty))
}

/// The expression classifying `__obs_out: &Output` into a `CallOutcome`.
fn classify(p: &TokenStream, args: &Args, checked: &Checked) -> TokenStream {
    let error_from_value = quote! {
        #p::CallOutcome::Err(#p::ErrorInfo {
            name: #p::ErrorName::Type(#p::short_type_name(::core::any::type_name_of_val(__obs_out))),
            type_name: ::core::any::type_name_of_val(__obs_out),
            message: #p::Message::None,
        })
    };
    if checked.returns_result {
        quote! {
            match __obs_out {
                ::core::result::Result::Ok(_) => #p::CallOutcome::Ok,
                ::core::result::Result::Err(__obs_e) => {
                    #[allow(unused_imports)]
                    use #p::{ProbeDebug as _, ProbeDisplay as _, ProbeLabel as _, ProbeNone as _, ProbeType as _};
                    #p::CallOutcome::Err(#p::ErrorInfo {
                        name: (&&#p::Probe(__obs_e)).obs_error_name(),
                        type_name: ::core::any::type_name_of_val(__obs_e),
                        message: (&&&#p::Probe(__obs_e)).obs_error_message(),
                    })
                }
            }
        }
    } else if let Some(pred) = &args.ok_if {
        quote!(if #pred(__obs_out) { #p::CallOutcome::Ok } else { #error_from_value })
    } else if let Some(pred) = &args.error_if {
        quote!(if #pred(__obs_out) { #error_from_value } else { #p::CallOutcome::Ok })
    } else {
        quote!({
            let _ = __obs_out;
            #p::CallOutcome::Ok
        })
    }
}

pub(crate) fn function(args: &Args, checked: &Checked, func: &ItemFn) -> TokenStream {
    let out_ref = output_ref(checked.output.as_ref());
    let out_param = out_ref
        .as_ref()
        .map_or_else(|| quote!(__obs_out), |ty| quote!(__obs_out: #ty));
    let p = args.krate.as_ref().map_or_else(
        || quote!(::obs_runtime::__private),
        |k| quote!(#k::__private),
    );
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let span = sig.ident.span();
    let name = &checked.name;
    let level = args.level.as_ref().map_or("INFO", |(_, l)| l);
    let level = syn::Ident::new(level, span);
    let user_names = args.fields.iter().map(|f| &f.name);
    let user_values = args.fields.iter().map(|f| {
        let v = match &f.value {
            FieldValue::Display(e) => quote_spanned!(e.span()=> &#p::display(&#e)),
            FieldValue::Debug(e) => quote_spanned!(e.span()=> &#p::debug(&#e)),
            FieldValue::Value(e) => quote_spanned!(e.span()=> &#e),
            FieldValue::Redacted => quote!(&"[redacted]"),
        };
        quote!(::core::option::Option::Some(#v as &dyn #p::Value))
    });
    let (buckets, bucket_check) = match &args.buckets {
        None => (quote!(&#p::FUNCTION_BUCKETS), TokenStream::new()),
        Some(Buckets::Literal(values)) => {
            let lits = values
                .iter()
                .map(|v| syn::LitFloat::new(&format!("{v:?}f64"), Span::call_site()));
            (quote!(&[#(#lits),*]), TokenStream::new())
        }
        Some(Buckets::Expr(e)) => (
            quote!(&#e),
            quote_spanned! {e.span()=>
                const _: () = ::core::assert!(#p::buckets_valid(&#e), "`buckets` must be non-empty, finite and strictly increasing");
            },
        ),
    };
    let concurrency = args.concurrency.unwrap_or(true);
    let err_level = args.err_level.map_or_else(
        || quote!(::core::option::Option::None),
        |l| {
            let l = syn::Ident::new(l, span);
            quote!(::core::option::Option::Some(#p::Level::#l))
        },
    );
    let labels = args.labels.iter().map(|(k, v)| {
        let k = syn::ext::IdentExt::unraw(k).to_string();
        let value = quote_spanned!(v.span()=> #p::Label::as_str(&#v));
        quote!((#k, || #value))
    });
    let classify = classify(&p, args, checked);

    let statics = quote_spanned! {span=>
        static __OBS_META: #p::Metadata<'static> = #p::Metadata::new(
            #name,
            ::core::module_path!(),
            #p::Level::#level,
            ::core::option::Option::Some(::core::file!()),
            ::core::option::Option::Some(::core::line!()),
            ::core::option::Option::Some(::core::module_path!()),
            #p::FieldSet::new(
                &["code.function", "code.namespace", "otel.kind", "otel.status_code", "error.type" #(, #user_names)*],
                #p::Identifier(&__OBS_CALLSITE),
            ),
            #p::SPAN,
        );
        static __OBS_CALLSITE: #p::DefaultCallsite = #p::DefaultCallsite::new(&__OBS_META);
        static __OBS_SITE: #p::FnSite = #p::FnSite::new(
            #name,
            ::core::module_path!(),
            #p::Location { file: ::core::file!(), line: ::core::line!(), column: ::core::column!() },
            &__OBS_CALLSITE,
            #buckets,
            #concurrency,
            #err_level,
            &[#(#labels),*],
        );
        #bucket_check
        #[#p::linkme::distributed_slice(#p::OBSERVED)]
        #[linkme(crate = #p::linkme)]
        #[allow(unsafe_code)]
        static __OBS_REGISTER: &#p::FnSite = &__OBS_SITE;
    };
    let values = quote!(&[#(#user_values),*]);

    let body = match checked.asyncness {
        Asyncness::Sync => {
            let annotation = match &sig.output {
                ReturnType::Type(arrow, ty) if nameable(ty) => quote!(#arrow #ty),
                _ => TokenStream::new(),
            };
            quote_spanned! {block.span()=>
                #statics
                let __obs_guard = __OBS_SITE.enter(#values);
                #[allow(clippy::redundant_closure_call)]
                let __obs_out = (move || #annotation #block)();
                __obs_guard.finish(&{ let #out_param = &__obs_out; #classify });
                __obs_out
            }
        }
        Asyncness::Native => quote_spanned! {block.span()=>
            #statics
            let __obs_span = __OBS_SITE.span_for(#values);
            let __obs_future = __OBS_SITE.instrument(__obs_span, async move #block, |#out_param| #classify);
            __obs_future.await
        },
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
                let __obs_span = __OBS_SITE.span_for(#values);
                #pin_path(__OBS_SITE.instrument(__obs_span, #inner, |#out_param| #classify))
            }
        }
    };
    // The body keeps the user's braces, so the item's span is the user's: lints such as
    // `dead_code` still fire on the function.
    let mut body = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body);
    body.set_span(block.brace_token.span.join());
    quote! {
        #(#attrs)*
        #vis #sig #body
    }
}
