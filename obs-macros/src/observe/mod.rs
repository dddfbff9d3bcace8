//! `#[observe]`: parse the arguments ([`args`]), check them against the function
//! ([`valid`]), generate the instrumented function ([`expand`]).

mod args;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::ctxt::Ctxt;

pub(crate) fn expand(attr: TokenStream, item: &TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = args::parse(&mut cx, attr);
    let Ok(func) = syn::parse2::<ItemFn>(item.clone()) else {
        // Not a function: say so at the item, and emit it unchanged.
        let span = item
            .clone()
            .into_iter()
            .find(|t| !matches!(t, proc_macro2::TokenTree::Punct(_)))
            .map_or_else(proc_macro2::Span::call_site, |t| t.span());
        let on_impl = matches!(
            syn::parse2::<syn::Item>(item.clone()),
            Ok(syn::Item::Impl(_))
        );
        cx.error_at(
            span,
            if on_impl {
                "`#[observe]` goes on a function, not on an `impl` block: put it on each method to observe"
            } else {
                "`#[observe]` goes on a function (free fn, method or trait impl method)"
            },
        );
        let errors = cx.check().err();
        return quote::quote!(#errors #item);
    };
    let checked = valid::check(&mut cx, &args, &func);
    match cx.check() {
        Ok(()) => expand::function(&args, &checked, &func),
        // On error: the errors, then the user's function unchanged, so callers see no
        // cascade of "cannot find function".
        Err(errors) => {
            let func = func.into_token_stream();
            quote::quote!(#errors #func)
        }
    }
}
