//! Code generation for `metric!`: one static per declaration, its compile-time checks in a
//! const block, and its entry in the link-time catalogue.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::LitStr;

use super::ast::Kind;
use super::valid::{Buckets, Resolved};

use crate::literal::float_array as float_tokens;

/// Expands one declaration. `checked` is false when the invocation had errors: the static
/// is still emitted (so uses type-check) but not registered or const-checked.
pub(crate) fn metric(r: &Resolved<'_>, checked: bool) -> TokenStream {
    let decl = r.decl;
    let krate = &r.krate;
    let private = quote!(#krate::__private);
    let ident = &decl.ident;
    let span = ident.span();
    let vis = &decl.vis;
    let attrs = &decl.attrs;
    let cfgs: Vec<_> = decl
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let name = &decl.name;
    let help = LitStr::new(&r.help, span);
    let unit = r.unit.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |u| quote!(::core::option::Option::Some(#u)),
    );
    let kind = format_ident!("{}", format!("{:?}", r.kind.metric_kind()));
    let label_names = r.label_names.iter().map(|n| LitStr::new(n, span));
    let descriptor = quote_spanned! {span=>
        #private::Descriptor {
            name: #name,
            help: #help,
            unit: #unit,
            kind: #private::MetricKind::#kind,
            label_names: &[#(#label_names),*],
            location: #private::Location {
                file: ::core::file!(),
                line: ::core::line!(),
                column: ::core::column!(),
            },
        }
    };

    // Each label type through `LabelType`, spanned at the type: a type that is not a label
    // is one error there, and the family built from it raises no second one.
    let label_tys: Vec<_> = decl.labels.iter().filter_map(|l| l.ty.as_ref()).collect();
    let bounded_tys: Vec<_> = label_tys
        .iter()
        .map(|ty| {
            quote_spanned! {syn::spanned::Spanned::span(ty)=>
                <#ty as #private::LabelType>::Type
            }
        })
        .collect();
    let mut checks = Vec::new();
    if checked && r.kind != Kind::Info {
        // Each factor is spanned at its label type, so an unbounded type (`String`) is
        // reported there with `Label`'s own advice.
        let mut product = quote!(1_usize);
        for ty in &label_tys {
            product = quote_spanned! {syn::spanned::Spanned::span(ty)=>
                (#product).saturating_mul(<<#ty as #private::LabelType>::Type as #private::Label>::CARDINALITY)
            };
        }
        let budget = proc_macro2::Literal::u64_unsuffixed(r.budget);
        let message = format!(
            "metric `{}` exceeds its cardinality budget of {budget} label combinations: use fewer or smaller labels, or raise the budget with `budget = N`",
            decl.name.value()
        );
        let budget_span = decl.name.span();
        checks.push(quote_spanned! {budget_span=>
            ::core::assert!((#product) <= #budget, #message);
        });
    }

    let (ty, init) = match r.kind {
        Kind::Info => {
            let n = decl.labels.len();
            (
                quote!(#private::Info<#n>),
                quote!(#private::Info::new(#descriptor)),
            )
        }
        kind => {
            let cell = family_cell(kind);
            let options = match kind {
                Kind::Histogram => {
                    let buckets = match &r.buckets {
                        Buckets::Default => quote!(#krate::DEFAULT_BUCKETS),
                        Buckets::Literal(values, span) => float_tokens(values, *span),
                        Buckets::Expr(e) => {
                            let message = format!(
                                "the buckets of metric `{}` must be non-empty, finite and strictly increasing",
                                decl.name.value()
                            );
                            let espan = syn::spanned::Spanned::span(e);
                            if checked {
                                checks.push(quote_spanned! {espan=>
                                    ::core::assert!(#private::buckets_valid(&#e), #message);
                                });
                            }
                            quote!(#e)
                        }
                    };
                    quote! {{
                        const __OBS_BUCKETS: &[::core::primitive::f64] = &#buckets;
                        #private::HistogramOptions { buckets: __OBS_BUCKETS }
                    }}
                }
                Kind::Summary => {
                    let quantiles = r.quantiles.as_deref().map_or_else(
                        || quote!([0.5f64, 0.9f64, 0.99f64]),
                        |q| float_tokens(q, span),
                    );
                    let max_age = r.max_age_secs;
                    let age_buckets = r.age_buckets;
                    quote! {
                        #private::SummaryOptions {
                            quantiles: &#quantiles,
                            max_age: #private::Duration::from_secs(#max_age),
                            age_buckets: #age_buckets,
                        }
                    }
                }
                _ => quote!(()),
            };
            (
                quote!(#private::Family<(#(#label_tys,)*), #private::#cell>),
                quote!(#private::Family::new(#descriptor, #options)),
            )
        }
    };

    let catalogue = if checked {
        let entry = format_ident!("__OBS_CATALOGUE_{}", ident);
        let entry_value = if r.kind == Kind::Info {
            quote!(&#ident)
        } else {
            let cell = family_cell(r.kind);
            quote!(#private::catalogue_entry::<(#(#bounded_tys,)*), #private::#cell>(&#ident))
        };
        let linkme = quote!(#private::linkme);
        quote_spanned! {span=>
            #(#cfgs)*
            #[#linkme::distributed_slice(#private::CATALOGUE)]
            #[linkme(crate = #linkme)]
            // linkme's link section counts as `unsafe_code`; the element is a plain reference.
            #[allow(non_upper_case_globals, unsafe_code)]
            #[doc(hidden)]
            static #entry: &'static dyn #private::Collect = #entry_value;
        }
    } else {
        TokenStream::new()
    };

    quote_spanned! {span=>
        #(#attrs)*
        #vis static #ident: #ty = {
            const _: () = { #(#checks)* };
            #init
        };
        #catalogue
    }
}

/// The cell type of a family of this kind.
fn family_cell(kind: Kind) -> TokenStream {
    match kind {
        Kind::Counter => quote!(Counter),
        Kind::FloatCounter => quote!(FloatCounter),
        Kind::Gauge => quote!(Gauge),
        Kind::FloatGauge => quote!(FloatGauge),
        Kind::Histogram => quote!(Histogram),
        _ => quote!(Summary),
    }
}
