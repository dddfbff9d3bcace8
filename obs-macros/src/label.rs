//! `#[derive(Label)]`: parse the enum, check it is a bounded label, emit the impl.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::{Ctxt, Once};

/// How variant names are rendered when not renamed one by one.
#[derive(Clone, Copy)]
enum RenameAll {
    Snake,
    ScreamingSnake,
    Kebab,
    Lower,
    Upper,
    Camel,
    Pascal,
}

const RENAME_ALL: &[(&str, RenameAll)] = &[
    ("snake_case", RenameAll::Snake),
    ("SCREAMING_SNAKE_CASE", RenameAll::ScreamingSnake),
    ("kebab-case", RenameAll::Kebab),
    ("lowercase", RenameAll::Lower),
    ("UPPERCASE", RenameAll::Upper),
    ("camelCase", RenameAll::Camel),
    ("PascalCase", RenameAll::Pascal),
];

fn words(pascal: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, c) in pascal.char_indices() {
        if c == '_' {
            out.push(String::new());
            continue;
        }
        let boundary = c.is_uppercase() && i > 0;
        if boundary || out.is_empty() {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out.retain(|w| !w.is_empty());
    out
}

impl RenameAll {
    fn apply(self, variant: &str) -> String {
        let w = words(variant);
        let lower: Vec<String> = w.iter().map(|s| s.to_lowercase()).collect();
        match self {
            RenameAll::Snake => lower.join("_"),
            RenameAll::ScreamingSnake => lower.join("_").to_uppercase(),
            RenameAll::Kebab => lower.join("-"),
            RenameAll::Lower => lower.concat(),
            RenameAll::Upper => lower.concat().to_uppercase(),
            RenameAll::Camel => lower
                .iter()
                .enumerate()
                .map(|(i, s)| if i == 0 { s.clone() } else { capitalize(s) })
                .collect(),
            RenameAll::Pascal => lower.iter().map(|s| capitalize(s)).collect(),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

struct Variant<'a> {
    ident: &'a syn::Ident,
    value: String,
    value_span: Span,
}

/// What `#[label(...)]` on the enum says.
struct EnumAttrs {
    rename_all: RenameAll,
    krate: TokenStream,
    /// `do_not_recommend`: rustc leaves the impl out of the types it lists when a
    /// label type is wrong (obs's own public label enums, which a user never passes).
    do_not_recommend: bool,
}

/// Parses `#[label(...)]` on the enum: `rename_all = ".."`, `crate = path`,
/// `do_not_recommend`.
fn enum_attrs(cx: &mut Ctxt, input: &DeriveInput) -> EnumAttrs {
    let mut rename_all = Once::new("rename_all");
    let mut krate = Once::new("crate");
    let mut do_not_recommend = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("label")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let lit: LitStr = meta.value()?.parse()?;
                match RENAME_ALL.iter().find(|(name, _)| *name == lit.value()) {
                    Some((_, rule)) => rename_all.set(cx, &meta.path, *rule),
                    None => cx.error_spanned_by(
                        &lit,
                        format!(
                            "unknown `rename_all` rule `{}`, expected one of {}",
                            lit.value(),
                            RENAME_ALL
                                .iter()
                                .map(|(n, _)| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
                Ok(())
            } else if meta.path.is_ident("crate") {
                let path: syn::Path = meta.value()?.parse()?;
                krate.set(cx, &meta.path, quote!(#path));
                Ok(())
            } else if meta.path.is_ident("do_not_recommend") {
                do_not_recommend = true;
                Ok(())
            } else if meta.path.is_ident("rename") {
                Err(meta.error("`rename` goes on a variant; on the enum, use `rename_all`"))
            } else {
                Err(meta.error(format!(
                    "unknown `label` argument `{}`, expected `rename_all`, `crate` or `do_not_recommend`",
                    meta.path
                        .get_ident()
                        .map_or_else(String::new, ToString::to_string)
                )))
            }
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    EnumAttrs {
        rename_all: rename_all.get().unwrap_or(RenameAll::Snake),
        krate: krate.get().unwrap_or_else(|| quote!(::obs_runtime)),
        do_not_recommend,
    }
}

/// Parses `#[label(rename = "..")]` on a variant.
fn variant_rename(cx: &mut Ctxt, variant: &syn::Variant) -> Option<LitStr> {
    let mut rename = Once::new("rename");
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("label")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: LitStr = meta.value()?.parse()?;
                rename.set(cx, &meta.path, lit);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown `label` argument `{}` on a variant, expected `rename`",
                    meta.path
                        .get_ident()
                        .map_or_else(String::new, ToString::to_string)
                )))
            }
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    rename.get()
}

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let EnumAttrs {
        rename_all,
        krate,
        do_not_recommend,
    } = enum_attrs(&mut cx, input);
    let data = match &input.data {
        Data::Enum(data) => data,
        Data::Struct(s) => {
            cx.error_spanned_by(
                s.struct_token,
                "`Label` can only be derived for a fieldless enum: a label's values must be a closed set, like `enum Status { Paid, Failed }`",
            );
            return cx.check().err().unwrap_or_default();
        }
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                "`Label` can only be derived for a fieldless enum: a label's values must be a closed set, like `enum Status { Paid, Failed }`",
            );
            return cx.check().err().unwrap_or_default();
        }
    };
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "a `Label` enum cannot be generic: its values must be fixed at compile time",
        );
    }
    if data.variants.is_empty() {
        cx.error_spanned_by(
            &input.ident,
            "a `Label` enum needs at least one variant: an empty enum has no value to record",
        );
    }
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            cx.error_spanned_by(
                &v.fields,
                format!(
                    "label variant `{}` carries data, which would make the label unbounded; \
                     use a unit variant, and record the data as a span attribute instead",
                    v.ident
                ),
            );
        }
        let rename = variant_rename(&mut cx, v);
        let (value, value_span) = match &rename {
            Some(lit) => (lit.value(), lit.span()),
            None => (rename_all.apply(&v.ident.to_string()), v.ident.span()),
        };
        if value.is_empty() {
            cx.error_at(value_span, "a label value must not be empty");
        }
        if let Some(prev) = variants.iter().find(|p| p.value == value) {
            cx.error_at(
                value_span,
                format!(
                    "label value \"{value}\" of `{}` is already the value of `{}`; give each variant a distinct value with `#[label(rename = \"..\")]`",
                    v.ident, prev.ident
                ),
            );
        }
        variants.push(Variant {
            ident: &v.ident,
            value,
            value_span,
        });
    }
    if let Err(errors) = cx.check() {
        return errors;
    }

    let ident = &input.ident;
    let count = variants.len();
    let values = variants.iter().map(|v| LitStr::new(&v.value, v.value_span));
    let index_arms = variants.iter().enumerate().map(|(i, v)| {
        let vi = v.ident;
        quote!(Self::#vi => #i)
    });
    let from_arms = variants.iter().enumerate().map(|(i, v)| {
        let vi = v.ident;
        quote!(#i => ::core::option::Option::Some(Self::#vi))
    });
    let span = input.ident.span();
    let recommend = do_not_recommend.then(|| quote!(#[diagnostic::do_not_recommend]));
    quote_spanned! {span=>
        #[automatically_derived]
        #recommend
        impl #krate::__private::Label for #ident {
            const CARDINALITY: ::core::primitive::usize = #count;
            const VALUES: &'static [&'static ::core::primitive::str] = &[#(#values),*];

            #[inline]
            fn index(&self) -> ::core::primitive::usize {
                match *self { #(#index_arms,)* }
            }

            fn from_index(index: ::core::primitive::usize) -> ::core::option::Option<Self> {
                match index {
                    #(#from_arms,)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    }
}
