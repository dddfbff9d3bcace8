//! What a statement is, read from its text without a parser: its operation (the leading
//! keyword, past comments and a `WITH` clause), the collection it works on (the first
//! table after `FROM`, `INTO`, `UPDATE`, `JOIN` or `TABLE`, an identifier only), and its
//! text with every literal replaced by `?` for `db.query.text`. Never a bound value:
//! those travel apart from the text, and literals written into it are masked.

use crate::metrics::Label;

/// The operation of a statement: `db.operation.name` and the `operation` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, obs_macros::Label)]
#[label(rename_all = "SCREAMING_SNAKE_CASE", do_not_recommend)]
pub enum Operation {
    /// `SELECT` (also `WITH … SELECT` and `VALUES`).
    Select,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `MERGE`.
    Merge,
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `CREATE`.
    Create,
    /// `ALTER`.
    Alter,
    /// `DROP`.
    Drop,
    /// `TRUNCATE`.
    Truncate,
    /// Anything else (`PRAGMA`, `SET`, `CALL`, …).
    #[label(rename = "OTHER")]
    Other,
}

/// A statement's operation and collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Summary<'a> {
    pub(crate) operation: Operation,
    /// The first table named, when it is a plain identifier of at most 64 characters.
    pub(crate) collection: Option<&'a str>,
}

impl Summary<'_> {
    /// `db.query.summary` and the span name: `SELECT orders`, or the operation alone.
    pub(crate) fn text(&self) -> String {
        match self.collection {
            Some(c) => format!("{} {c}", self.operation.as_str()),
            None => self.operation.as_str().to_owned(),
        }
    }
}

/// The longest collection name kept (longer ones are not a name a schema would use).
const MAX_COLLECTION_LEN: usize = 64;

/// The words of `sql` outside comments and literals, in order, each with its depth in
/// parentheses.
fn words(sql: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
            } else if b == b'\'' {
                i = skip_quoted(bytes, i, b'\'');
            } else if b == b'"' || b == b'`' {
                // A quoted identifier: a word without its quotes (to the end when unclosed).
                let start = i + 1;
                let end = skip_quoted(bytes, i, b);
                i = end;
                let closed = end > start && bytes[end - 1] == b;
                let inner = if closed { end - 1 } else { end };
                return Some((depth, &sql[start..inner]));
            } else if is_word_byte(b) {
                let start = i;
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                return Some((depth, &sql[start..i]));
            } else {
                match b {
                    b'(' => depth += 1,
                    b')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                i += 1;
            }
        }
        None
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// The index just past the literal opening at `start` (a doubled quote is part of it).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn operation(word: &str) -> Option<Operation> {
    let op = match word.to_ascii_uppercase().as_str() {
        "SELECT" | "VALUES" => Operation::Select,
        "INSERT" | "REPLACE" => Operation::Insert,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "MERGE" => Operation::Merge,
        "BEGIN" | "START" => Operation::Begin,
        "COMMIT" | "END" => Operation::Commit,
        "ROLLBACK" => Operation::Rollback,
        "CREATE" => Operation::Create,
        "ALTER" => Operation::Alter,
        "DROP" => Operation::Drop,
        "TRUNCATE" => Operation::Truncate,
        _ => return None,
    };
    Some(op)
}

/// Whether `word` names a table: an identifier (letters, digits, `_`, a schema's `.`),
/// not a keyword that may follow `FROM` (`SELECT` of a subquery, `LATERAL`, …).
fn collection(word: &str) -> Option<&str> {
    let plain = !word.is_empty()
        && word.len() <= MAX_COLLECTION_LEN
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !word.as_bytes()[0].is_ascii_digit();
    let keyword = matches!(
        word.to_ascii_uppercase().as_str(),
        "SELECT"
            | "LATERAL"
            | "ONLY"
            | "IF"
            | "NOT"
            | "EXISTS"
            | "OR"
            | "IGNORE"
            | "UNIQUE"
            | "INDEX"
            | "TEMP"
            | "TEMPORARY"
            | "VIEW"
    );
    (plain && !keyword).then_some(word)
}

/// Whether `word` introduces a table name.
fn before_table(word: &str) -> bool {
    ["FROM", "INTO", "JOIN", "TABLE", "UPDATE"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

/// Words that may sit between that keyword and the table (`CREATE TABLE IF NOT EXISTS t`).
fn filler(word: &str) -> bool {
    [
        "ONLY",
        "IF",
        "NOT",
        "EXISTS",
        "OR",
        "IGNORE",
        "TEMP",
        "TEMPORARY",
    ]
    .iter()
    .any(|k| word.eq_ignore_ascii_case(k))
}

/// The first table `words` name (after `FROM`, `INTO`, …; the first word too when
/// `leading`), at `depth` only when given, and not one of `ctes`.
fn first_table<'a>(
    words: &[(usize, &'a str)],
    leading: bool,
    depth: Option<usize>,
    ctes: &[&str],
) -> Option<&'a str> {
    let mut after = leading;
    for &(d, w) in words {
        if after && depth.is_none_or(|want| d == want) {
            if let Some(c) = collection(w)
                && !ctes.iter().any(|cte| cte.eq_ignore_ascii_case(c))
            {
                return Some(c);
            }
            if filler(w) {
                continue;
            }
        }
        after = before_table(w);
    }
    None
}

/// What `sql` does and to which table.
pub(crate) fn summarize(sql: &str) -> Summary<'_> {
    let all: Vec<(usize, &str)> = words(sql).collect();
    let Some(&(_, first)) = all.first() else {
        return Summary {
            operation: Operation::Other,
            collection: None,
        };
    };
    let (operation, rest, ctes) = if first.eq_ignore_ascii_case("WITH") {
        // `WITH a AS (…), b AS (…) <statement>`: the names of the CTEs are not tables, and
        // the statement is the first operation at the top level after them.
        let ctes: Vec<&str> = all
            .windows(2)
            .filter(|pair| pair[0].0 == 0 && pair[1].0 == 0 && pair[1].1.eq_ignore_ascii_case("AS"))
            .map(|pair| pair[0].1)
            .collect();
        let main = all
            .iter()
            .position(|&(d, w)| d == 0 && operation(w).is_some())
            .unwrap_or(all.len());
        let op = all
            .get(main)
            .and_then(|&(_, w)| operation(w))
            .unwrap_or(Operation::Select);
        (op, &all[main.min(all.len())..], ctes)
    } else {
        (
            operation(first).unwrap_or(Operation::Other),
            &all[..],
            Vec::new(),
        )
    };
    let collection_name = match operation {
        Operation::Begin | Operation::Commit | Operation::Rollback | Operation::Other => None,
        // `UPDATE t`: the table comes first; the others name it after a keyword. The
        // statement's own table first, then one of its subqueries or CTEs.
        _ => {
            let body = &rest[1.min(rest.len())..];
            let leading = operation == Operation::Update;
            first_table(body, leading, Some(0), &ctes)
                .or_else(|| first_table(&all[1..], false, None, &ctes))
        }
    };
    Summary {
        operation,
        collection: collection_name,
    }
}

/// `sql` with every string and numeric literal replaced by `?`; comments dropped;
/// placeholders (`$1`, `?`, `:name`) and identifiers kept.
pub(crate) fn sanitize(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut copied = 0;
    let flush = |out: &mut String, from: usize, to: usize| out.push_str(&sql[from..to]);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            flush(&mut out, copied, i);
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            copied = i;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            flush(&mut out, copied, i);
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            copied = i;
        } else if b == b'\'' {
            flush(&mut out, copied, i);
            // A prefixed literal (E'…', X'…', N'…') loses its prefix too.
            if out
                .as_bytes()
                .last()
                .is_some_and(|p| matches!(p, b'E' | b'e' | b'X' | b'x' | b'N' | b'n' | b'B' | b'b'))
                && !out
                    .as_bytes()
                    .get(out.len().wrapping_sub(2))
                    .is_some_and(|p| is_word_byte(*p))
            {
                out.pop();
            }
            out.push('?');
            i = skip_quoted(bytes, i, b'\'');
            copied = i;
        } else if b == b'"' || b == b'`' {
            let end = skip_quoted(bytes, i, b);
            if end > i + 1 && bytes[end - 1] == b {
                i = end;
            } else {
                // Unclosed: what follows cannot be told apart from a literal; masked.
                flush(&mut out, copied, i);
                out.push('?');
                i = bytes.len();
                copied = i;
            }
        } else if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            // A placeholder: kept whole.
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        } else if is_word_byte(b) {
            let start = i;
            while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'.') {
                i += 1;
            }
            let word = &bytes[start..i];
            let numeric = word[0].is_ascii_digit() || (word[0] == b'.' && word.len() > 1);
            // `?1` (SQLite's numbered placeholder) keeps its number.
            let placeholder = start > 0 && bytes[start - 1] == b'?';
            if numeric && !placeholder {
                flush(&mut out, copied, start);
                out.push('?');
                copied = i;
            }
        } else {
            i += 1;
        }
    }
    flush(&mut out, copied, bytes.len().min(i.max(copied)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_coll(sql: &str) -> (Operation, Option<&str>) {
        let s = summarize(sql);
        (s.operation, s.collection)
    }

    #[test]
    fn operation_and_collection_of_common_statements() {
        use Operation::*;
        for (sql, want) in [
            (
                "SELECT id, total FROM orders WHERE id = $1",
                (Select, Some("orders")),
            ),
            (
                "select * from public.orders o join items i on i.order_id = o.id",
                (Select, Some("public.orders")),
            ),
            (
                "INSERT INTO items (order_id, sku) VALUES ($1, $2)",
                (Insert, Some("items")),
            ),
            (
                "insert or ignore into \"users\" values (?1)",
                (Insert, Some("users")),
            ),
            (
                "UPDATE stock SET units = units - ?1 WHERE warehouse = ?2",
                (Update, Some("stock")),
            ),
            ("DELETE FROM orders WHERE id = 3", (Delete, Some("orders"))),
            ("  -- a comment\n /* another */ SELECT 1", (Select, None)),
            (
                "WITH recent AS (SELECT * FROM orders) SELECT count(*) FROM recent",
                (Select, Some("orders")),
            ),
            (
                "WITH moved AS (DELETE FROM cart RETURNING *) INSERT INTO orders SELECT * FROM moved",
                (Insert, Some("orders")),
            ),
            ("BEGIN", (Begin, None)),
            ("COMMIT", (Commit, None)),
            ("ROLLBACK", (Rollback, None)),
            (
                "CREATE TABLE IF NOT EXISTS orders (id BIGINT)",
                (Create, Some("orders")),
            ),
            ("DROP TABLE temp_x", (Drop, Some("temp_x"))),
            ("PRAGMA foreign_keys = ON", (Other, None)),
            ("SELECT * FROM (SELECT 1) AS t", (Select, None)),
            (
                "SELECT 'FROM users' AS x FROM orders",
                (Select, Some("orders")),
            ),
            ("", (Other, None)),
        ] {
            assert_eq!(op_coll(sql), want, "{sql}");
        }
    }

    #[test]
    fn a_collection_is_an_identifier_never_text() {
        let long = format!("SELECT * FROM {}", "t".repeat(65));
        assert_eq!(op_coll(&long), (Operation::Select, None));
        assert_eq!(
            op_coll("SELECT * FROM \"a b; drop\""),
            (Operation::Select, None)
        );
        assert_eq!(summarize("SELECT * FROM orders").text(), "SELECT orders");
        assert_eq!(summarize("BEGIN").text(), "BEGIN");
    }

    #[test]
    fn literals_are_masked_placeholders_kept() {
        for (sql, want) in [
            (
                "SELECT * FROM users WHERE email = 'a@b.c' AND id = 42",
                "SELECT * FROM users WHERE email = ? AND id = ?",
            ),
            (
                "UPDATE t SET x = $1, y = 'it''s' WHERE z = ?2 -- secret 'x'",
                "UPDATE t SET x = $1, y = ? WHERE z = ?2 ",
            ),
            (
                "INSERT INTO t VALUES (E'\\x00', 1.5e3, -7)",
                "INSERT INTO t VALUES (?, ?, -?)",
            ),
            (
                "SELECT \"col 1\" FROM t9 /* 'x' */",
                "SELECT \"col 1\" FROM t9 ",
            ),
            ("SELECT 'unterminated", "SELECT ?"),
        ] {
            assert_eq!(sanitize(sql), want, "{sql}");
        }
    }

    proptest::proptest! {
        /// Any text: no panic, and masking twice changes nothing.
        #[test]
        fn any_text_is_read_without_panic(sql in "\\PC{0,200}") {
            let _ = summarize(&sql);
            let masked = sanitize(&sql);
            proptest::prop_assert_eq!(sanitize(&masked), masked);
        }

        /// A literal's content never survives, whatever surrounds it.
        #[test]
        fn a_literal_never_survives(
            before in "[^'\"`]{0,40}",
            secret in "[a-z]{12}",
            after in "[^'\"`]{0,40}",
        ) {
            let masked = sanitize(&format!("{before}'{secret}'{after}"));
            proptest::prop_assert!(!masked.contains(&secret), "{}", masked);
        }
    }
}
