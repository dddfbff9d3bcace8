//! Bounded labels: fieldless enums with a dense index.
//!
//! A labelled metric stores one cell per combination of label values, in a fixed array
//! indexed by the values' dense indices. That is what makes the update path free of hashing,
//! locking and allocation, and what makes cardinality a compile-time fact.

use core::fmt;

/// A label whose values form a small, closed set known at compile time.
///
/// Derive it on a fieldless enum with `#[derive(Label)]`; values render in `snake_case`
/// unless renamed:
///
/// ```
/// use obs_runtime::Label;
///
/// #[derive(Clone, Copy, Debug, Label)]
/// enum PaymentMethod {
///     Card,
///     #[label(rename = "bank-transfer")]
///     BankTransfer,
///     GiftCard,
/// }
///
/// assert_eq!(PaymentMethod::CARDINALITY, 3);
/// assert_eq!(PaymentMethod::GiftCard.as_str(), "gift_card");
/// assert_eq!(PaymentMethod::BankTransfer.as_str(), "bank-transfer");
/// assert_eq!(PaymentMethod::from_index(2).map(|m| m.index()), Some(2));
/// ```
///
/// Derive attributes: `#[label(rename = "..")]` on a variant; on the enum,
/// `#[label(rename_all = "..")]` (`snake_case` by default, `SCREAMING_SNAKE_CASE`,
/// `kebab-case`, `lowercase`, `UPPERCASE`, `camelCase`, `PascalCase`) and
/// `#[label(crate = path)]` for crates that re-export obs, and `#[label(do_not_recommend)]`
/// to keep a library's own label enums out of the types rustc lists when a user passes a
/// type that is not a label. Structs, unions, generic or empty
/// enums, variants with fields and two variants rendering the same value are compile errors
/// at the offending token:
///
/// ```compile_fail
/// #[derive(obs_runtime::Label)]
/// enum Status {
///     Paid,
///     Failed(String), // data would make the label unbounded
/// }
/// ```
///
/// Types with unbounded values (`String`, `&str`, integers, ids) are not labels:
///
/// ```compile_fail,E0277
/// obs_runtime::metric! {
///     /// Requests per user.
///     pub counter REQUESTS("requests_total", user: String);
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a metric label: its values are not a bounded set",
    label = "unbounded label type",
    note = "a label value creates one time series per distinct value; use a fieldless enum with `#[derive(obs_runtime::Label)]`",
    note = "for a per-request value (user id, raw path, request id), record it as a span attribute instead: `#[observe(fields(user_id = %id))]`"
)]
pub trait Label: Sized + 'static {
    /// The number of distinct values.
    const CARDINALITY: usize;
    /// Every value's rendered form, in index order.
    const VALUES: &'static [&'static str];

    /// This value's dense index in `0..CARDINALITY`.
    fn index(&self) -> usize;

    /// The value with this index, if `index < CARDINALITY`.
    fn from_index(index: usize) -> Option<Self>;

    /// The rendered label value.
    fn as_str(&self) -> &'static str {
        Self::VALUES[self.index()]
    }
}

/// A label type seen through a projection: `metric!` names its label types as
/// `<T as LabelType>::Type`, so a type that is not a [`Label`] is one error at the type
/// (with `Label`'s advice) and the family built from it raises no second one.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a metric label: its values are not a bounded set",
    label = "unbounded label type",
    note = "a label value creates one time series per distinct value; use a fieldless enum with `#[derive(obs_runtime::Label)]`",
    note = "for a per-request value (user id, raw path, request id), record it as a span attribute instead: `#[observe(fields(user_id = %id))]`"
)]
pub trait LabelType {
    /// The label type itself.
    type Type: Label;
}

#[diagnostic::do_not_recommend]
impl<T: Label> LabelType for T {
    type Type = T;
}

/// An ordered set of labels (a tuple of [`Label`]s, or `()` for an unlabelled metric).
///
/// Implemented for tuples of up to eight labels. Combinations are numbered in mixed radix,
/// first label most significant.
pub trait LabelSet: 'static {
    /// The number of labels in the set.
    const LEN: usize;
    /// The number of combinations: the product of the labels' cardinalities (saturating).
    const CARDINALITY: usize;

    /// The dense index of this combination in `0..CARDINALITY`.
    fn index(&self) -> usize;

    /// The rendered value of label `position` in the combination with index `index`.
    fn value(index: usize, position: usize) -> &'static str;
}

impl LabelSet for () {
    const LEN: usize = 0;
    const CARDINALITY: usize = 1;

    #[inline]
    fn index(&self) -> usize {
        0
    }

    fn value(_index: usize, _position: usize) -> &'static str {
        ""
    }
}

macro_rules! impl_label_set {
    ($len:expr; $($t:ident $v:ident $pos:tt),+) => {
        impl<$($t: Label),+> LabelSet for ($($t,)+) {
            const LEN: usize = $len;
            const CARDINALITY: usize = 1usize $(.saturating_mul($t::CARDINALITY))+;

            #[inline]
            fn index(&self) -> usize {
                let ($($v,)+) = self;
                let mut index = 0usize;
                $( index = index * $t::CARDINALITY + $v.index(); )+
                index
            }

            fn value(index: usize, position: usize) -> &'static str {
                // Peel digits from the least significant (last) label backwards.
                let mut rest = index;
                let mut digits = [0usize; $len];
                let cards = [$($t::CARDINALITY),+];
                let mut p = $len;
                while p > 0 {
                    p -= 1;
                    digits[p] = rest % cards[p];
                    rest /= cards[p];
                }
                let values: [&'static [&'static str]; $len] = [$($t::VALUES),+];
                values[position][digits[position]]
            }
        }
    };
}

impl_label_set!(1; A a 0);
impl_label_set!(2; A a 0, B b 1);
impl_label_set!(3; A a 0, B b 1, C c 2);
impl_label_set!(4; A a 0, B b 1, C c 2, D d 3);
impl_label_set!(5; A a 0, B b 1, C c 2, D d 3, E e 4);
impl_label_set!(6; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
impl_label_set!(7; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
impl_label_set!(8; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);

// Not listed as a suggestion when a type is not a label: the advice is a new enum.
#[diagnostic::do_not_recommend]
impl Label for bool {
    const CARDINALITY: usize = 2;
    const VALUES: &'static [&'static str] = &["false", "true"];

    #[inline]
    fn index(&self) -> usize {
        usize::from(*self)
    }

    fn from_index(index: usize) -> Option<Self> {
        match index {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// Declares a ready-made label enum with its rendered values.
macro_rules! ready_label {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        #[diagnostic::do_not_recommend]
        impl Label for $name {
            const CARDINALITY: usize = [$($value),+].len();
            const VALUES: &'static [&'static str] = &[$($value),+];

            #[inline]
            fn index(&self) -> usize {
                *self as usize
            }

            fn from_index(index: usize) -> Option<Self> {
                const ALL: &[$name] = &[$($name::$variant),+];
                ALL.get(index).copied()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

ready_label! {
    /// An HTTP request method; methods outside the standard set share [`HttpMethod::Other`].
    ///
    /// ```
    /// use obs_runtime::{HttpMethod, Label};
    ///
    /// assert_eq!(HttpMethod::from_bytes(b"PATCH"), HttpMethod::Patch);
    /// assert_eq!(HttpMethod::from_bytes(b"BREW").as_str(), "OTHER");
    /// ```
    HttpMethod {
        /// `GET`
        Get => "GET",
        /// `HEAD`
        Head => "HEAD",
        /// `POST`
        Post => "POST",
        /// `PUT`
        Put => "PUT",
        /// `DELETE`
        Delete => "DELETE",
        /// `CONNECT`
        Connect => "CONNECT",
        /// `OPTIONS`
        Options => "OPTIONS",
        /// `TRACE`
        Trace => "TRACE",
        /// `PATCH`
        Patch => "PATCH",
        /// Any other method (extension methods are unbounded).
        Other => "OTHER",
    }
}

impl HttpMethod {
    /// Classifies a method token; anything non-standard is [`HttpMethod::Other`].
    pub fn from_bytes(method: &[u8]) -> Self {
        match method {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"CONNECT" => Self::Connect,
            b"OPTIONS" => Self::Options,
            b"TRACE" => Self::Trace,
            b"PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }
}

ready_label! {
    /// The class of an HTTP status code: `1xx` … `5xx`, and `unknown` outside 100..=599.
    ///
    /// ```
    /// use obs_runtime::{Label, StatusClass};
    ///
    /// assert_eq!(StatusClass::from_code(404), StatusClass::ClientError);
    /// assert_eq!(StatusClass::from_code(503).as_str(), "5xx");
    /// ```
    StatusClass {
        /// `1xx`
        Informational => "1xx",
        /// `2xx`
        Success => "2xx",
        /// `3xx`
        Redirection => "3xx",
        /// `4xx`
        ClientError => "4xx",
        /// `5xx`
        ServerError => "5xx",
        /// A code outside `100..=599`.
        Unknown => "unknown",
    }
}

impl StatusClass {
    /// Classifies a numeric status code.
    pub fn from_code(code: u16) -> Self {
        match code {
            100..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::Unknown,
        }
    }
}

ready_label! {
    /// The outcome of an operation, as the `result` label of RED metrics.
    ///
    /// ```
    /// use obs_runtime::{Label, Outcome};
    ///
    /// let r: Result<(), ()> = Err(());
    /// assert_eq!(Outcome::of(&r).as_str(), "error");
    /// ```
    Outcome {
        /// The operation succeeded.
        Ok => "ok",
        /// The operation failed (including panics).
        Error => "error",
        /// The operation was cancelled before it completed (a dropped future).
        Cancelled => "cancelled",
    }
}

impl Outcome {
    /// `Ok` for `Ok(_)`, `Error` for `Err(_)`.
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Self::Ok
        } else {
            Self::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_radix_round_trips() {
        type Set = (HttpMethod, StatusClass, bool);
        assert_eq!(<Set as LabelSet>::CARDINALITY, 10 * 6 * 2);
        let combo = (HttpMethod::Put, StatusClass::ClientError, true);
        let index = combo.index();
        assert_eq!(index, (3 * 6 + 3) * 2 + 1);
        assert_eq!(<Set as LabelSet>::value(index, 0), "PUT");
        assert_eq!(<Set as LabelSet>::value(index, 1), "4xx");
        assert_eq!(<Set as LabelSet>::value(index, 2), "true");
    }

    #[test]
    fn from_index_inverts_index() {
        for i in 0..HttpMethod::CARDINALITY {
            assert_eq!(HttpMethod::from_index(i).map(|m| m.index()), Some(i));
        }
        assert_eq!(HttpMethod::from_index(HttpMethod::CARDINALITY), None);
    }
}
