//! Which names look secret-bearing: the words, pairs, infixes and suffixes, and the test
//! that splits a name into words.

/// Words that mark a name as secret-bearing, matched against the name's words (split at
/// `_`, `.`, `-`, spaces and camelCase humps, case ignored, a plural `s` dropped):
/// `#[observe]` refuses to record such a field without `redact(..)`/`unredacted(..)`, and
/// logs and exported spans redact such keys.
pub const SENSITIVE_WORDS: [&str; 19] = [
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "credential",
    "cvv",
    "ssn",
    "jwt",
    "dsn",
    "apikey",
    "privatekey",
    "sessionid",
    "otp",
];

/// Two words that together mark a name as secret-bearing (`api_key`, `accessKey`).
pub const SENSITIVE_PAIRS: [(&str, &str); 9] = [
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("secret", "key"),
    ("session", "id"),
    ("credit", "card"),
    ("card", "number"),
    ("set", "cookie"),
    ("signing", "key"),
];

/// Secret words also found anywhere inside one run-together word (`userpassword`).
const SENSITIVE_INFIXES: [&str; 4] = ["password", "passwd", "passphrase", "credential"];

/// Secret words that end a run-together word (`dbsecret`, `refreshtoken`, `accesskey`);
/// at the end only, so `secretary` and `tokenizer` stay readable.
const SENSITIVE_SUFFIXES: [&str; 7] = [
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "sessionid",
];

/// The name's words, lowercase, a plural `s` dropped (`accessTokens` → `access`, `token`).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(core::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
            });
        if hump && !current.is_empty() {
            out.push(core::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    for word in &mut out {
        if word.len() >= 3 && word.ends_with('s') && !word.ends_with("ss") {
            word.pop();
        }
    }
    out
}

/// Whether `name` looks secret-bearing: one of its words is in [`SENSITIVE_WORDS`], two
/// adjacent words form one of [`SENSITIVE_PAIRS`], or a run-together word contains a
/// long secret word (`userpassword`). `password`, `db.password`, `x-api-key`,
/// `accessToken`, `clientSecret`, `cookies`, `session_id`, `sessionid` and `privatekey`
/// are; `tokenizer`, `author`, `keyboard` and `passage` are not.
///
/// ```
/// use obs_names::looks_sensitive;
///
/// for secret in ["password", "db.password", "x-api-key", "accessToken", "clientSecret",
///                "cookies", "session_id", "sessionid", "privatekey"] {
///     assert!(looks_sensitive(secret), "{secret}");
/// }
/// for plain in ["tokenizer", "author", "keyboard", "passage"] {
///     assert!(!looks_sensitive(plain), "{plain}");
/// }
/// ```
pub fn looks_sensitive(name: &str) -> bool {
    let words = words(name);
    words.iter().any(|w| {
        SENSITIVE_WORDS.contains(&w.as_str())
            || SENSITIVE_INFIXES.iter().any(|infix| w.contains(infix))
            || SENSITIVE_SUFFIXES.iter().any(|suffix| w.ends_with(suffix))
    }) || words
        .windows(2)
        .any(|pair| SENSITIVE_PAIRS.contains(&(pair[0].as_str(), pair[1].as_str())))
}
