//! `metric!`: parse ([`ast`]), check ([`valid`]), generate ([`expand`]).

pub(crate) mod ast;
mod expand;
mod valid;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn expand(input: &ast::Input) -> TokenStream {
    let mut cx = Ctxt::default();
    let resolved = valid::resolve(&mut cx, input);
    let errors = cx.check().err();
    let checked = errors.is_none();
    let items = resolved.iter().map(|r| expand::metric(r, checked));
    quote::quote! { #errors #(#items)* }
}
