//! `#[derive(ErrorLabel)]`: the variant names of an error enum become the bounded values of
//! the `error` label.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::{Ctxt, Once};

/// `error` values `#[observe]` emits itself: a variant with one of them would produce a
/// second, identical series.
const RESERVED: &[&str] = &["panic", "unclassified"];

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let mut krate = Once::new("crate");
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("error_label"))
    {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let path: syn::Path = meta.value()?.parse()?;
                krate.set(&mut cx, &meta.path, quote!(#path));
                Ok(())
            } else {
                Err(meta.error("unknown `error_label` argument on the enum, expected `crate`"))
            }
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    let krate = krate.get().unwrap_or_else(|| quote!(::obs_runtime));
    let Data::Enum(data) = &input.data else {
        let span = match &input.data {
            Data::Struct(s) => s.struct_token.span,
            Data::Union(u) => u.union_token.span,
            Data::Enum(e) => e.enum_token.span,
        };
        cx.error_at(
            span,
            "`ErrorLabel` can only be derived for an enum: its variants are the values of the `error` label; \
             for another error type the label is its type name, no derive needed",
        );
        return cx.check().err().unwrap_or_default();
    };
    if data.variants.is_empty() {
        cx.error_spanned_by(
            &input.ident,
            "an `ErrorLabel` enum needs at least one variant",
        );
    }
    let mut values: Vec<(String, proc_macro2::Span)> = Vec::new();
    for v in &data.variants {
        let mut rename = Once::new("rename");
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("error_label")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let lit: LitStr = meta.value()?.parse()?;
                    rename.set(&mut cx, &meta.path, lit);
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown `error_label` argument on a variant, expected `rename`"))
                }
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
        let (value, span) = match rename.get() {
            Some(lit) => (lit.value(), lit.span()),
            None => (v.ident.to_string(), v.ident.span()),
        };
        if value.is_empty() {
            cx.error_at(span, "an error label must not be empty");
        }
        if RESERVED.contains(&value.as_str()) {
            cx.error_at(
                span,
                format!(
                    "error label \"{value}\" is reserved: `#[observe]` records it itself ({}); rename this variant with `#[error_label(rename = \"..\")]`",
                    if value == "panic" {
                        "a call that panicked"
                    } else {
                        "a call that left through an exit it cannot see"
                    }
                ),
            );
        }
        if values.iter().any(|(other, _)| *other == value) {
            cx.error_at(
                span,
                format!("error label \"{value}\" is already used by another variant"),
            );
        }
        values.push((value, span));
    }
    if let Err(errors) = cx.check() {
        return errors;
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let lits = values.iter().map(|(v, s)| LitStr::new(v, *s));
    let arms = data.variants.iter().enumerate().map(|(i, v)| {
        let vi = &v.ident;
        match v.fields {
            Fields::Unit => quote!(Self::#vi => #i),
            Fields::Unnamed(_) => quote!(Self::#vi(..) => #i),
            Fields::Named(_) => quote!(Self::#vi { .. } => #i),
        }
    });
    let span = input.ident.span();
    quote_spanned! {span=>
        #[automatically_derived]
        impl #impl_generics #krate::__private::ErrorLabel for #ident #ty_generics #where_clause {
            const VALUES: &'static [&'static ::core::primitive::str] = &[#(#lits),*];

            fn index(&self) -> ::core::primitive::usize {
                match self { #(#arms,)* }
            }
        }
    }
}
