//! Where settings not made in code come from, and the parsers of their values.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::{InitError, invalid};
use crate::trace::propagation::percent_decode;

/// Where settings not made in code come from.
#[derive(Clone)]
pub(super) enum Env {
    Process,
    Map(Arc<HashMap<String, String>>),
}

impl Env {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// Parses `key=value,…` with percent-encoded values.
pub(super) fn parse_pairs(
    name: &'static str,
    raw: &str,
) -> Result<Vec<(String, String)>, InitError> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| invalid(name, raw, "a comma-separated list of key=value pairs"))?;
        let v = percent_decode(v.trim())
            .ok_or_else(|| invalid(name, raw, "percent-encoded values (`%20` for a space)"))?;
        out.push((k.trim().to_owned(), v));
    }
    Ok(out)
}

pub(super) fn parse_number<T: std::str::FromStr>(
    env: &Env,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, InitError> {
    env.get(name)
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| invalid(name, &raw, expected))
        })
        .transpose()
}

pub(super) fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len()
}
