//! Time-travel clauses.
//!
//! DataFusion's parser rejects Trino's `FOR VERSION AS OF`, and its planner silently
//! ignores the version clauses sqlparser does parse. So the front end rewrites every
//! clause *before* DataFusion sees the statement: the table name becomes a synthetic
//! quoted name `"<table>/<kind>=<value>"` (aliased back to the table name), which the
//! floe schema provider resolves to that version. `/` can never occur in a real table
//! name, so synthetic names cannot collide with tables, and no version clause ever
//! reaches DataFusion unresolved.
//!
//! Accepted spellings, after any table reference and before its alias:
//! `FOR VERSION AS OF x`, `VERSION AS OF x`, `FOR SYSTEM_VERSION AS OF x` (a number is a
//! snapshot id, a string a tag, branch or release name), and `FOR TIMESTAMP AS OF t`,
//! `TIMESTAMP AS OF t`, `FOR SYSTEM_TIME AS OF t` (a timestamp).

use datafusion::common::{Result, plan_err};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::{Keyword, RESERVED_FOR_TABLE_ALIAS};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Word};

/// Which version of a table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// A snapshot id.
    Snapshot(i64),
    /// A tag, branch or release name.
    Ref(String),
    /// Milliseconds since the epoch (UTC).
    Timestamp(i64),
}

/// Encodes a versioned table name.
pub fn encode(table: &str, spec: &VersionSpec) -> String {
    match spec {
        VersionSpec::Snapshot(id) => format!("{table}/id={id}"),
        VersionSpec::Ref(name) => format!("{table}/ref={name}"),
        VersionSpec::Timestamp(ms) => format!("{table}/ts={ms}"),
    }
}

/// Decodes a name produced by [`encode`]; `None` for ordinary names.
pub fn decode(name: &str) -> Option<(&str, VersionSpec)> {
    let (table, spec) = name.split_once('/')?;
    let (kind, value) = spec.split_once('=')?;
    let spec = match kind {
        "id" => VersionSpec::Snapshot(value.parse().ok()?),
        "ref" => VersionSpec::Ref(value.to_string()),
        "ts" => VersionSpec::Timestamp(value.parse().ok()?),
        _ => return None,
    };
    Some((table, spec))
}

/// What a version clause's value turned out to be, before interpretation.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionValue {
    /// An integer literal.
    Integer(i64),
    /// A string literal.
    Text(String),
    /// A timestamp, in ms since the epoch (UTC).
    TimestampMs(i64),
}

/// A version clause found in a statement.
#[derive(Debug, Clone)]
pub struct Clause {
    /// Byte range of the table name (all its parts).
    pub name_range: (usize, usize),
    /// Byte range of the whole clause (`FOR ... AS OF <value>`).
    pub clause_range: (usize, usize),
    /// The table's last name part as written (for the alias), and its normalised form.
    pub last_part_written: String,
    /// Normalised name parts (unquoted parts lower-cased, as DataFusion does).
    pub parts: Vec<String>,
    /// Whether the clause reads by time (TIMESTAMP / SYSTEM_TIME) rather than version.
    pub by_time: bool,
    /// The value expression's source text.
    pub value_text: String,
    /// Whether an alias follows the clause.
    pub has_alias: bool,
}

pub(crate) fn byte_offsets(sql: &str) -> impl Fn(Location) -> usize + '_ {
    // Location is 1-based (line, column in chars); build line starts once.
    let mut line_starts = vec![0usize];
    for (i, c) in sql.char_indices() {
        if c == '\n' {
            line_starts.push(i + 1);
        }
    }
    move |loc: Location| {
        let line = (loc.line.max(1) - 1) as usize;
        let start = *line_starts.get(line).unwrap_or(&sql.len());
        let col = (loc.column.max(1) - 1) as usize;
        sql[start..]
            .char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    }
}

fn word(t: &Token) -> Option<&Word> {
    match t {
        Token::Word(w) => Some(w),
        _ => None,
    }
}

fn is_kw(t: &Token, kw: Keyword) -> bool {
    word(t).is_some_and(|w| w.quote_style.is_none() && w.keyword == kw)
}

fn is_word_named(t: &Token, name: &str) -> bool {
    word(t).is_some_and(|w| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(name))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Other,
    From,
    Target,
}

/// Finds every version clause in `sql`. Errors for clauses on write targets.
pub fn find_clauses(sql: &str) -> Result<Vec<Clause>> {
    // Cheap pre-check: most statements have no clause at all.
    let upper = sql.to_ascii_uppercase();
    if !upper.contains(" OF") {
        return Ok(Vec::new());
    }
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        // Let DataFusion report the syntax error.
        return Ok(Vec::new());
    };
    let sig: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offset = byte_offsets(sql);
    let statement_kind = sig
        .iter()
        .find_map(|t| word(&t.token).map(|w| w.keyword))
        .unwrap_or(Keyword::NoKeyword);
    let mut stack = vec![Ctx::Other];
    let mut seen_delete_from = false;
    let mut out = Vec::new();
    let mut i = 0;
    while i < sig.len() {
        let t = &sig[i].token;
        match t {
            Token::LParen => {
                stack.push(Ctx::Other);
                i += 1;
                continue;
            }
            Token::RParen => {
                if stack.len() > 1 {
                    stack.pop();
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(w) = word(t)
            && w.quote_style.is_none()
        {
            let depth = stack.len();
            let top = stack.last_mut().expect("stack is never empty");
            match w.keyword {
                Keyword::FROM => {
                    *top = if statement_kind == Keyword::DELETE && !seen_delete_from && depth == 1 {
                        seen_delete_from = true;
                        Ctx::Target
                    } else {
                        Ctx::From
                    };
                }
                Keyword::JOIN => *top = Ctx::From,
                // MERGE INTO target USING source: the source may be any version.
                Keyword::USING if statement_kind == Keyword::MERGE && depth == 1 => {
                    *top = Ctx::From
                }
                Keyword::INTO => *top = Ctx::Target,
                Keyword::UPDATE if depth == 1 => *top = Ctx::Target,
                Keyword::SELECT
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::ON
                | Keyword::USING
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::SET
                | Keyword::VALUES
                | Keyword::WINDOW
                | Keyword::QUALIFY
                | Keyword::RETURNING => *top = Ctx::Other,
                _ => {}
            }
        }
        // A clause: [FOR] (VERSION|SYSTEM_VERSION|TIMESTAMP|SYSTEM_TIME) AS OF <value>
        let ctx = *stack.last().expect("stack is never empty");
        let (start, kw_at) = if is_kw(t, Keyword::FOR) {
            (i, i + 1)
        } else {
            (i, i)
        };
        let kind = sig.get(kw_at).map(|t| &t.token);
        let by_time = match kind {
            Some(k) if is_word_named(k, "VERSION") || is_word_named(k, "SYSTEM_VERSION") => {
                Some(false)
            }
            Some(k) if is_word_named(k, "TIMESTAMP") || is_word_named(k, "SYSTEM_TIME") => {
                Some(true)
            }
            _ => None,
        };
        let is_clause = by_time.is_some()
            && sig
                .get(kw_at + 1)
                .is_some_and(|t| is_kw(&t.token, Keyword::AS))
            && sig
                .get(kw_at + 2)
                .is_some_and(|t| is_kw(&t.token, Keyword::OF))
            && ctx != Ctx::Other
            && i > 0
            && word(&sig[i - 1].token).is_some_and(|w| {
                w.quote_style.is_some()
                    || w.keyword == Keyword::NoKeyword
                    || !RESERVED_FOR_TABLE_ALIAS.contains(&w.keyword)
            });
        if !is_clause {
            i += 1;
            continue;
        }
        // The table name: Word (. Word)* ending just before the clause.
        let mut first = i - 1;
        while first >= 2
            && matches!(sig[first - 1].token, Token::Period)
            && word(&sig[first - 2].token).is_some()
        {
            first -= 2;
        }
        let parts: Vec<String> = (first..i)
            .step_by(2)
            .filter_map(|k| word(&sig[k].token))
            .map(|w| {
                if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                }
            })
            .collect();
        let last = &sig[i - 1];
        let last_written = sql[offset(last.span.start)..offset(last.span.end)].to_string();
        if ctx == Ctx::Target {
            return plan_err!(
                "time travel is not allowed on the table a statement writes to ('{}')",
                parts.join(".")
            );
        }
        // The value: a literal, TIMESTAMP/DATE 'literal', a signed number, or a balanced
        // parenthesised or function-call expression.
        let value_start = kw_at + 3;
        let Some(first_value) = sig.get(value_start) else {
            return plan_err!("missing value after AS OF for table '{}'", parts.join("."));
        };
        let mut end = value_start;
        let mut depth = 0i32;
        while let Some(tok) = sig.get(end) {
            match &tok.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                Token::Comma | Token::SemiColon if depth == 0 => break,
                Token::Word(w) if depth == 0 && end > value_start && w.quote_style.is_none() => {
                    // Continue through operators' operands; stop at keywords that end a
                    // table factor or start an alias.
                    let prev = &sig[end - 1].token;
                    let continues = matches!(
                        prev,
                        Token::Plus
                            | Token::Minus
                            | Token::Mul
                            | Token::Div
                            | Token::DoubleColon
                            | Token::StringConcat
                    ) || is_kw(prev, Keyword::TIMESTAMP)
                        || is_kw(prev, Keyword::DATE)
                        || is_kw(prev, Keyword::INTERVAL)
                        || (is_kw(prev, Keyword::WITH)
                            || is_kw(prev, Keyword::TIME)
                            || is_kw(prev, Keyword::ZONE))
                            && (w.keyword == Keyword::TIME
                                || w.keyword == Keyword::ZONE
                                || w.keyword == Keyword::TIMESTAMP);
                    if !continues {
                        break;
                    }
                }
                Token::Word(_) if depth == 0 && end > value_start => break,
                Token::Eq | Token::Neq | Token::Lt | Token::Gt | Token::LtEq | Token::GtEq
                    if depth == 0 =>
                {
                    break;
                }
                _ => {}
            }
            end += 1;
        }
        // `TIMESTAMP '...'` / `TIMESTAMP WITH TIME ZONE '...'` needs its string.
        if end == value_start {
            return plan_err!("missing value after AS OF for table '{}'", parts.join("."));
        }
        let _ = first_value;
        let value_from = offset(sig[value_start].span.start);
        let value_to = offset(sig[end - 1].span.end);
        let has_alias = match sig.get(end).map(|t| &t.token) {
            Some(Token::Word(w)) => {
                w.quote_style.is_some()
                    || w.keyword == Keyword::AS
                    || w.keyword == Keyword::NoKeyword
                    || !RESERVED_FOR_TABLE_ALIAS.contains(&w.keyword)
            }
            _ => false,
        };
        out.push(Clause {
            name_range: (offset(sig[first].span.start), offset(last.span.end)),
            clause_range: (offset(sig[start].span.start), value_to),
            last_part_written: last_written,
            parts,
            by_time: by_time.unwrap_or(false),
            value_text: sql[value_from..value_to].to_string(),
            has_alias,
        });
        i = end;
    }
    Ok(out)
}

/// Parses a version clause value that is a plain literal (the common case) without
/// running a query. `None`: needs evaluating.
pub fn literal_value(text: &str) -> Option<VersionValue> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Some(VersionValue::Integer(n));
    }
    let unquote = |s: &str| -> Option<String> {
        let s = s.trim();
        (s.len() >= 2
            && s.starts_with('\'')
            && s.ends_with('\'')
            && !s[1..s.len() - 1].replace("''", "").contains('\''))
        .then(|| s[1..s.len() - 1].replace("''", "'"))
    };
    if let Some(s) = unquote(t) {
        return Some(VersionValue::Text(s));
    }
    let upper = t.to_ascii_uppercase();
    for prefix in [
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMPTZ",
        "TIMESTAMP",
        "DATE",
    ] {
        if let Some(rest) = upper.strip_prefix(prefix)
            && rest.starts_with([' ', '\''])
        {
            let literal = &t[prefix.len()..];
            if let Some(s) = unquote(literal) {
                return parse_timestamp_ms(&s).map(VersionValue::TimestampMs);
            }
        }
    }
    None
}

/// Parses common timestamp spellings; naive times are UTC.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_millis());
        }
    }
    let naive = s.trim_end_matches(['Z', 'z']).trim_end_matches(" UTC");
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(naive, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    None
}

/// Interprets a clause's value as a [`VersionSpec`].
pub fn to_spec(clause: &Clause, value: VersionValue) -> Result<VersionSpec> {
    let table = clause.parts.join(".");
    match (clause.by_time, value) {
        (false, VersionValue::Integer(id)) => Ok(VersionSpec::Snapshot(id)),
        (false, VersionValue::Text(name)) => {
            if name.is_empty() {
                return plan_err!("empty version name for table '{table}'");
            }
            Ok(VersionSpec::Ref(name))
        }
        (false, VersionValue::TimestampMs(_)) => plan_err!(
            "VERSION AS OF takes a snapshot id or a tag, branch or release name; for table '{table}' use FOR TIMESTAMP AS OF with a timestamp"
        ),
        (true, VersionValue::TimestampMs(ms)) => Ok(VersionSpec::Timestamp(ms)),
        (true, VersionValue::Text(s)) => match parse_timestamp_ms(&s) {
            Some(ms) => Ok(VersionSpec::Timestamp(ms)),
            None => plan_err!("'{s}' is not a timestamp (time travel on table '{table}')"),
        },
        (true, VersionValue::Integer(n)) => plan_err!(
            "TIMESTAMP AS OF takes a timestamp, not the number {n} (time travel on table '{table}'); for a snapshot id use FOR VERSION AS OF"
        ),
    }
}

/// Rewrites `sql`, replacing each clause (with its resolved spec) by a synthetic name.
pub fn rewrite(sql: &str, clauses: &[(Clause, VersionSpec)]) -> String {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut pos = 0;
    for (clause, spec) in clauses {
        let (name_start, _) = clause.name_range;
        let (_, clause_end) = clause.clause_range;
        out.push_str(&sql[pos..name_start]);
        let mut quoted: Vec<String> = Vec::new();
        for (k, part) in clause.parts.iter().enumerate() {
            let text = if k + 1 == clause.parts.len() {
                encode(part, spec)
            } else {
                part.clone()
            };
            quoted.push(format!("\"{}\"", text.replace('"', "\"\"")));
        }
        out.push_str(&quoted.join("."));
        if !clause.has_alias {
            out.push_str(" AS ");
            out.push_str(&clause.last_part_written);
        }
        pos = clause_end;
    }
    out.push_str(&sql[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(sql: &str) -> Vec<Clause> {
        find_clauses(sql).unwrap()
    }

    fn rewritten(sql: &str) -> String {
        let found = clauses(sql);
        let specs: Vec<(Clause, VersionSpec)> = found
            .into_iter()
            .map(|c| {
                let v = literal_value(&c.value_text).expect("literal");
                let s = to_spec(&c, v).unwrap();
                (c, s)
            })
            .collect();
        rewrite(sql, &specs)
    }

    #[test]
    fn every_spelling_is_found() {
        for (sql, by_time, value) in [
            ("SELECT * FROM t FOR VERSION AS OF 123", false, "123"),
            ("SELECT * FROM t VERSION AS OF 123", false, "123"),
            ("SELECT * FROM t FOR SYSTEM_VERSION AS OF 123", false, "123"),
            ("select * from t for version as of 'v1' a", false, "'v1'"),
            (
                "SELECT * FROM t FOR TIMESTAMP AS OF TIMESTAMP '2026-11-20 10:00:00'",
                true,
                "TIMESTAMP '2026-11-20 10:00:00'",
            ),
            (
                "SELECT * FROM t TIMESTAMP AS OF '2026-11-20'",
                true,
                "'2026-11-20'",
            ),
            (
                "SELECT * FROM t FOR SYSTEM_TIME AS OF '2026-11-20T10:00:00Z'",
                true,
                "'2026-11-20T10:00:00Z'",
            ),
        ] {
            let found = clauses(sql);
            assert_eq!(found.len(), 1, "{sql}");
            assert_eq!(found[0].by_time, by_time, "{sql}");
            assert_eq!(found[0].value_text, value, "{sql}");
            assert_eq!(found[0].parts, vec!["t"], "{sql}");
        }
    }

    #[test]
    fn rewrite_keeps_aliases_and_adds_one_when_missing() {
        assert_eq!(
            rewritten("SELECT t.a FROM t FOR VERSION AS OF 5 WHERE a > 1"),
            "SELECT t.a FROM \"t/id=5\" AS t WHERE a > 1"
        );
        assert_eq!(
            rewritten("SELECT * FROM s.T FOR VERSION AS OF 'v1' AS x"),
            "SELECT * FROM \"s\".\"t/ref=v1\" AS x"
        );
        assert_eq!(
            rewritten("SELECT * FROM \"MyT\" VERSION AS OF 7 y JOIN u ON true"),
            "SELECT * FROM \"MyT/id=7\" y JOIN u ON true"
        );
    }

    #[test]
    fn self_join_across_versions() {
        let out = rewritten(
            "SELECT * FROM t FOR VERSION AS OF 'v1' a JOIN t FOR VERSION AS OF 'v2' b ON a.id = b.id",
        );
        assert_eq!(
            out,
            "SELECT * FROM \"t/ref=v1\" a JOIN \"t/ref=v2\" b ON a.id = b.id"
        );
    }

    #[test]
    fn clauses_inside_subqueries_and_ctes() {
        let sql = "WITH c AS (SELECT * FROM t FOR VERSION AS OF 1) SELECT * FROM c, (SELECT * FROM u VERSION AS OF 2) s";
        assert_eq!(clauses(sql).len(), 2);
        let sql = "EXPLAIN SELECT count(*) FROM t FOR TIMESTAMP AS OF '2026-01-01'";
        assert_eq!(clauses(sql).len(), 1);
    }

    #[test]
    fn write_targets_are_rejected() {
        for sql in [
            "INSERT INTO t FOR VERSION AS OF 1 SELECT 1",
            "DELETE FROM t FOR VERSION AS OF 1 WHERE a = 1",
            "UPDATE t FOR VERSION AS OF 1 SET a = 1",
            "MERGE INTO t FOR VERSION AS OF 1 USING u ON true WHEN MATCHED THEN DELETE",
        ] {
            let err = find_clauses(sql).unwrap_err().to_string();
            assert!(
                err.contains("time travel is not allowed on the table a statement writes to"),
                "{sql}: {err}"
            );
        }
        // Reading an older version inside an INSERT's query, or as a MERGE source, is fine.
        assert_eq!(
            clauses("INSERT INTO t SELECT * FROM u FOR VERSION AS OF 3").len(),
            1
        );
        assert_eq!(
            clauses("MERGE INTO t USING t FOR VERSION AS OF 'v' AS s ON t.a = s.a WHEN MATCHED THEN DELETE").len(),
            1
        );
    }

    #[test]
    fn similar_text_is_not_a_clause() {
        for sql in [
            "SELECT CAST(x AS TIMESTAMP) AS of_col FROM t",
            "SELECT 'FOR VERSION AS OF 1' FROM t",
            "SELECT version FROM t",
            "SELECT * FROM t -- FOR VERSION AS OF 1",
        ] {
            assert!(clauses(sql).is_empty(), "{sql}");
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        for spec in [
            VersionSpec::Snapshot(-5),
            VersionSpec::Ref("nightly build".into()),
            VersionSpec::Ref("a/b".into()),
            VersionSpec::Timestamp(1_700_000_000_000),
        ] {
            let name = encode("orders", &spec);
            assert_eq!(decode(&name), Some(("orders", spec)));
        }
        assert_eq!(decode("orders"), None);
    }

    #[test]
    fn literal_values_and_timestamps() {
        assert_eq!(literal_value(" 42 "), Some(VersionValue::Integer(42)));
        assert_eq!(
            literal_value("'it''s'"),
            Some(VersionValue::Text("it's".into()))
        );
        assert_eq!(
            literal_value("TIMESTAMP '1970-01-01 00:00:01'"),
            Some(VersionValue::TimestampMs(1000))
        );
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01T02:00:01+02:00"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp_ms("yesterday"), None);
        assert_eq!(literal_value("now() - INTERVAL '1' DAY"), None);
    }

    #[test]
    fn wrong_kinds_of_values_are_explained() {
        let c = &clauses("SELECT * FROM t FOR TIMESTAMP AS OF 5")[0];
        let err = to_spec(c, VersionValue::Integer(5))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TIMESTAMP AS OF takes a timestamp"), "{err}");
        let c = &clauses("SELECT * FROM t FOR SYSTEM_TIME AS OF 'nope'")[0];
        let err = to_spec(c, VersionValue::Text("nope".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'nope' is not a timestamp"), "{err}");
    }
}
