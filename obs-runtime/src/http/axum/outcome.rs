//! What a response says about how it was made, for the layers around it.

/// Marks a response made from a panic (by [`PanicLayer`](super::PanicLayer)), so that
/// [`ObsLayer`](super::ObsLayer) records `error.type = "panic"` on the request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Panicked;
