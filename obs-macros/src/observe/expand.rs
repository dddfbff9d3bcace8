//! Code generation for `#[observe]`: three statics (span metadata, its callsite, the
//! function's site with its counters), a catalogue entry, and one call into the runtime.
//! Everything else lives in `obs_runtime::__private::FnSite`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Type};

use super::args::{Args, Buckets, FieldValue};
use super::valid::{Asyncness, Checked, async_trait_block};

/// The span fields every observed function declares first (shared with the runtime).
pub(crate) const FIXED_FIELDS: [&str; 5] = crate::name::SPAN_FIELDS;

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
fn classify(args: &Args, checked: &Checked) -> TokenStream {
    if checked.returns_result {
        quote! {
            __obs::result(
                __obs_out,
                |e| (&&__obs::Probe(e)).obs_error_name(),
                |e| (&&&__obs::Probe(e)).obs_error_message(),
            )
        }
    } else if let Some(pred) = &args.ok_if {
        quote!(__obs::predicate(__obs_out, #pred(__obs_out), true))
    } else if let Some(pred) = &args.error_if {
        quote!(__obs::predicate(__obs_out, #pred(__obs_out), false))
    } else {
        quote!(__obs::predicate(__obs_out, true, true))
    }
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
    if buckets.is_none()
        && args.concurrency.is_none()
        && args.err_level.is_none()
        && args.labels.is_empty()
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
            }
        },
        bucket_check,
    )
}

pub(crate) fn function(args: &Args, checked: &Checked, func: &ItemFn) -> TokenStream {
    let out_ref = output_ref(checked.output.as_ref());
    let out_param = out_ref
        .as_ref()
        .map_or_else(|| quote!(__obs_out), |ty| quote!(__obs_out: #ty));
    let krate = args.krate.clone().unwrap_or_else(|| quote!(::obs_runtime));
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
    let classify = classify(args, checked);
    let probes = checked.returns_result.then(|| quote!(, probe::*));

    let statics = quote_spanned! {span=>
        #[allow(unused_imports)]
        use #krate::__private::{self as __obs #probes};
        static __OBS: __obs::FnSite = __obs::FnSite::new(
            &__OBS, #name, ::core::module_path!(), ::core::file!(), ::core::line!(),
            __obs::Level::#level, #fields, #config,
        );
        #bucket_check
        #[__obs::linkme::distributed_slice(__obs::OBSERVED)]
        #[linkme(crate = __obs::linkme)]
        #[allow(unsafe_code)]
        static __OBS_REGISTER: &__obs::FnSite = &__OBS;
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
                let __obs_guard = __OBS.enter(#values);
                #[allow(clippy::redundant_closure_call)]
                let __obs_out = (move || #annotation #block)();
                __obs_guard.finish(&{ let #out_param = &__obs_out; #classify });
                __obs_out
            }
        }
        Asyncness::Native => quote_spanned! {block.span()=>
            #statics
            let __obs_span = __OBS.span_for(#values);
            let __obs_future = __OBS.instrument(__obs_span, async move #block, |#out_param| #classify);
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
                let __obs_span = __OBS.span_for(#values);
                #pin_path(__OBS.instrument(__obs_span, #inner, |#out_param| #classify))
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
