//! `#[observe]` in a 2021-edition crate, where the body of an `unsafe fn` is itself an
//! unsafe context: unsafe operations written directly in it keep compiling.
#![deny(warnings)]

use obs_runtime::observe;

/// Reads through a raw pointer with no `unsafe` block: allowed in an `unsafe fn` body in
/// the 2021 edition.
///
/// # Safety
///
/// `p` must point to a live, aligned `u32`.
#[observe]
#[allow(unsafe_code)]
pub unsafe fn read_raw(p: *const u32) -> u32 {
    *p
}

/// An `unsafe fn` returning a `Result`, with `?`.
///
/// # Safety
///
/// `p` must be null or point to a live, aligned `u32`.
///
/// # Errors
///
/// When `p` is null.
#[observe]
#[allow(unsafe_code)]
pub unsafe fn read_checked(p: *const u32) -> Result<u32, String> {
    let r = p.as_ref().ok_or_else(|| "null".to_owned())?;
    Ok(*r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn unsafe_fn_bodies_behave_and_count() {
        let v = 7u32;
        // SAFETY: `v` is live.
        assert_eq!(unsafe { read_raw(&v) }, 7);
        // SAFETY: null and a live value.
        assert_eq!(
            unsafe { read_checked(std::ptr::null()) },
            Err("null".to_owned())
        );
        assert_eq!(unsafe { read_checked(&v) }, Ok(7));
        let site = |f| {
            obs_runtime::observe::observed_function(module_path!().trim_end_matches("::tests"), f)
                .expect("observed")
        };
        assert_eq!(site("read_raw").calls("ok"), 1);
        assert_eq!(site("read_checked").calls("ok"), 1);
        assert_eq!(site("read_checked").errors("String"), 1);
    }
}
