//! How to reach the database: the URL and pool settings from the environment, the
//! password from a file, and the URL as it may be shown (password masked).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_runtime::db::DbSystem;

use super::DEFAULT_DATABASE_URL;

/// How to reach the database. Its `Debug` masks the URL's password.
#[derive(Clone)]
pub struct StoreOptions {
    /// The connection URL: `sqlite::memory:`, `sqlite://path` (created when missing),
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a connection before it fails (`503`), and how long
    /// each of startup's checks (a connection of its own, then one of the pool) waits for
    /// the database.
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl StoreOptions {
    /// `url`, 10 connections, 5 s to get one.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// `DATABASE_URL`, else [`DEFAULT_DATABASE_URL`]. With `DATABASE_PASSWORD_FILE`, the
    /// password is the file's first line, put into the URL here, so that it is in no
    /// environment variable (a container reads it from a mounted secret).
    ///
    /// # Errors
    ///
    /// The password file cannot be read, or the URL has a password of its own or no user.
    pub fn from_env() -> Result<Self, StoreError> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        let url = url.as_deref().unwrap_or(DEFAULT_DATABASE_URL);
        match std::env::var_os("DATABASE_PASSWORD_FILE") {
            None => Ok(Self::new(url)),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    StoreError::new(format!(
                        "DATABASE_PASSWORD_FILE={}: {e}",
                        path.to_string_lossy()
                    ))
                })?;
                let password = text.lines().next().unwrap_or_default();
                Ok(Self::new(&with_password(url, password)?))
            }
        }
    }
}

/// `url` with `password` after its user, percent-encoded.
fn with_password(url: &str, password: &str) -> Result<String, StoreError> {
    let shown = redacted(url);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        StoreError::new(format!(
            "DATABASE_PASSWORD_FILE is set, but DATABASE_URL={shown} names no server"
        ))
    })?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((user, host)) = rest[..authority_end].rsplit_once('@') else {
        return Err(StoreError::new(format!(
            "DATABASE_PASSWORD_FILE is set, but DATABASE_URL={shown} names no user \
             (postgres://user@host/database)"
        )));
    };
    if user.contains(':') {
        return Err(StoreError::new(format!(
            "DATABASE_URL={shown} has a password and DATABASE_PASSWORD_FILE gives another: \
             keep one"
        )));
    }
    let mut encoded = String::with_capacity(password.len());
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    Ok(format!(
        "{scheme}://{user}:{encoded}@{host}{}",
        &rest[authority_end..]
    ))
}

/// Why the store could not start: the message names the database (without its password)
/// and what to change.
#[derive(Debug)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoreError {
    /// An error saying `message`.
    pub fn new(message: String) -> Self {
        Self(message)
    }
}

impl std::error::Error for StoreError {}

/// `url` with its password replaced by `***`, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user info ends at the last `@`: a password may hold `/`, `?` or `#` unencoded.
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => {
                let _ = write!(out, "{user}:***@");
            }
            None => {
                let _ = write!(out, "{userinfo}@");
            }
        }
    }
    // A password may also come as a query parameter (`?password=…`, `sslpassword`).
    match after.split_once('?') {
        None => out.push_str(after),
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
    }
    out
}

/// The URL the pool connects with: `sqlite::memory:` becomes one named shared in-memory
/// database (every connection of the `Any` driver parses the URL anew, and would
/// otherwise open a database of its own), and a SQLite file is created when missing;
/// and whether the database lives in memory.
pub(super) fn connect_url(url: &str) -> (String, bool) {
    static MEMORY: AtomicU64 = AtomicU64::new(0);
    if DbSystem::from_url(url) != DbSystem::Sqlite {
        return (url.to_owned(), false);
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        let n = MEMORY.fetch_add(1, Ordering::Relaxed);
        let name = format!("obs-orders-{}-{n}", std::process::id());
        return (format!("sqlite:file:{name}?mode=memory&cache=shared"), true);
    }
    if query.split('&').any(|p| p.starts_with("mode=")) {
        (url.to_owned(), false)
    } else if query.is_empty() {
        (format!("{url}?mode=rwc"), false)
    } else {
        (format!("{url}&mode=rwc"), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/orders?sslmode=require"),
            "postgres://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://app@db/orders"),
            "postgres://app@db/orders"
        );
        assert_eq!(redacted("sqlite://orders.db"), "sqlite://orders.db");
        // Unencoded `/`, `?`, `#` in the password; a password as a parameter.
        assert_eq!(
            redacted("postgres://app:a/b?c#d@db:5432/orders"),
            "postgres://app:***@db:5432/orders"
        );
        assert_eq!(
            redacted("postgres://db/orders?user=app&password=s3cret&sslmode=require"),
            "postgres://db/orders?user=app&password=***&sslmode=require"
        );
        let options = StoreOptions::new("postgres://app:s3cret@db/orders");
        assert!(!format!("{options:?}").contains("s3cret"));
    }

    #[test]
    fn a_password_file_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("postgres://orders@postgres:5432/orders", "a b/c@d:e%").unwrap(),
            "postgres://orders:a%20b%2Fc%40d%3Ae%25@postgres:5432/orders"
        );
        assert_eq!(
            with_password("postgres://orders@postgres", "s3cret").unwrap(),
            "postgres://orders:s3cret@postgres"
        );
        let twice = with_password("postgres://orders:old@postgres/orders", "new").unwrap_err();
        assert_eq!(
            twice.to_string(),
            "DATABASE_URL=postgres://orders:***@postgres/orders has a password and \
             DATABASE_PASSWORD_FILE gives another: keep one"
        );
        assert!(with_password("postgres://postgres/orders", "x").is_err());
        assert!(with_password("sqlite::memory:", "x").is_err());
    }

    #[test]
    fn sqlite_urls_are_shared_in_memory_or_created() {
        let (memory, is_memory) = connect_url("sqlite::memory:");
        assert!(is_memory);
        assert!(memory.starts_with("sqlite:file:obs-orders-"), "{memory}");
        assert!(memory.ends_with("?mode=memory&cache=shared"), "{memory}");
        assert_ne!(connect_url("sqlite::memory:").0, memory);
        assert_eq!(
            connect_url("sqlite://orders.db"),
            ("sqlite://orders.db?mode=rwc".to_owned(), false)
        );
        assert_eq!(
            connect_url("sqlite://orders.db?mode=ro"),
            ("sqlite://orders.db?mode=ro".to_owned(), false)
        );
        assert_eq!(
            connect_url("postgres://db/orders"),
            ("postgres://db/orders".to_owned(), false)
        );
    }
}
