//! Type spellings of other engines that DataFusion's parser does not know, respelled as
//! ones it does: DuckDB's `STRUCT(a INT)`, Spark's `STRUCT<a: INT>` and `MAP<K, V>`, and
//! Trino's `ARRAY(INT)`, in CREATE TABLE, ALTER TABLE and CAST alike, and Trino's
//! `ROW(a INT)` as the type of a cast (floe's DDL reads it already).
//!
//! Only a statement that does not parse as written is respelled, and the respelling is
//! used only if it parses: a statement that parses today never changes, and one that
//! still fails reports its original error. The constructs are recognised on tokens:
//! `STRUCT(` followed by a field name and a type, `STRUCT<` with `name:` fields, `MAP<`,
//! and `ARRAY(` followed by a type name (not `ARRAY(SELECT ...)`).

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// What a bracket the respelling opened must be closed with.
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// A parenthesis left as written.
    Paren,
    /// `(` respelled `<`: its `)` becomes `>`.
    ParenToAngle,
    /// `<` of a type constructor left as written (`STRUCT<`, `ARRAY<`).
    Angle,
    /// `<` respelled `(` (`MAP<`): its `>` becomes `)`.
    AngleToParen,
}

/// `sql` respelled, or `None` when nothing in it needs it. With `row_casts_only`, only
/// Trino's `CAST(x AS ROW(a INT))` (and `x::ROW(a INT)`) is respelled `STRUCT<a INT>`:
/// those parse, but DataFusion cannot plan a cast to `ROW`, so respelling them changes
/// no statement that works.
pub fn respell(sql: &str, dialect: &dyn Dialect, row_casts_only: bool) -> Option<String> {
    let tokens = Tokenizer::new(dialect, sql).tokenize().ok()?;
    // The next non-whitespace token after position `i`.
    let next = |i: usize| {
        tokens[i + 1..]
            .iter()
            .enumerate()
            .find(|(_, t)| !matches!(t, Token::Whitespace(_)))
            .map(|(k, t)| (i + 1 + k, t))
    };
    let word =
        |t: &Token, name: &str| matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(name));
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut frames: Vec<Frame> = Vec::new();
    // Token positions to drop (Spark's `name:` colons) or respell as given.
    let mut replace: std::collections::HashMap<usize, &'static str> = Default::default();
    let mut changed = false;
    // The last token before this one that is not whitespace.
    let mut previous: Option<&Token> = None;
    for (i, t) in tokens.iter().enumerate() {
        if !matches!(t, Token::Whitespace(_)) {
            previous = tokens[..i]
                .iter()
                .rev()
                .find(|u| !matches!(u, Token::Whitespace(_)));
        }
        if let Some(r) = replace.remove(&i) {
            out.push(r.to_string());
            changed = true;
            continue;
        }
        match t {
            // Trino's ROW(a INT) as the type of a cast.
            Token::Word(_)
                if word(t, "ROW")
                    && (matches!(previous, Some(Token::DoubleColon))
                        || previous.is_some_and(|p| word(p, "AS")))
                    && next(i).is_some_and(|(j, o)| {
                        matches!(o, Token::LParen)
                            && next(j).is_some_and(|(k, a)| {
                                matches!(a, Token::Word(_))
                                    && next(k).is_some_and(|(_, b)| matches!(b, Token::Word(_)))
                            })
                    }) =>
            {
                out.push("STRUCT".to_string());
                changed = true;
                if let Some((j, _)) = next(i) {
                    replace.insert(j, "<");
                    frames.push(Frame::ParenToAngle);
                }
            }
            Token::Word(_)
                if !row_casts_only && (word(t, "STRUCT") || word(t, "ARRAY") || word(t, "MAP")) =>
            {
                out.push(t.to_string());
                let Some((j, opener)) = next(i) else { continue };
                let Some((k, after)) = next(j) else { continue };
                match opener {
                    // DuckDB's STRUCT(a INT): a field name, then a type.
                    Token::LParen
                        if word(t, "STRUCT")
                            && matches!(after, Token::Word(_))
                            && next(k).is_some_and(|(_, u)| matches!(u, Token::Word(_))) =>
                    {
                        replace.insert(j, "<");
                        frames.push(Frame::ParenToAngle);
                    }
                    // Trino's ARRAY(INT); ARRAY(SELECT ...) is a subquery.
                    Token::LParen
                        if word(t, "ARRAY")
                            && matches!(after, Token::Word(w) if !matches!(w.keyword, Keyword::SELECT | Keyword::VALUES | Keyword::WITH)) =>
                    {
                        replace.insert(j, "<");
                        frames.push(Frame::ParenToAngle);
                    }
                    Token::Lt if word(t, "MAP") && matches!(after, Token::Word(_)) => {
                        replace.insert(j, "(");
                        frames.push(Frame::AngleToParen);
                    }
                    Token::Lt => {
                        frames.push(Frame::Angle);
                        // Spark's STRUCT<a: INT>: drop the colon after each field name.
                        if word(t, "STRUCT") {
                            colons(&tokens, j, &mut replace);
                        }
                    }
                    _ => {}
                }
            }
            Token::LParen => {
                frames.push(Frame::Paren);
                out.push(t.to_string());
            }
            Token::RParen => match frames.pop() {
                Some(Frame::ParenToAngle) => {
                    out.push(">".to_string());
                    changed = true;
                }
                Some(Frame::Paren) | None => out.push(t.to_string()),
                // A `)` closing an angle frame: not a type after all; give up.
                Some(_) => return None,
            },
            Token::Gt | Token::ShiftRight => {
                let count = if matches!(t, Token::ShiftRight) { 2 } else { 1 };
                let mut text = String::new();
                for _ in 0..count {
                    match frames.last() {
                        Some(Frame::AngleToParen) => {
                            frames.pop();
                            text.push(')');
                            changed = true;
                        }
                        Some(Frame::Angle) => {
                            frames.pop();
                            text.push('>');
                        }
                        _ => text.push('>'),
                    }
                }
                out.push(text);
            }
            other => out.push(other.to_string()),
        }
    }
    changed.then(|| out.concat())
}

/// Marks the `:` after each field name of the `STRUCT<` opened at `open` (at its own
/// nesting depth) for removal.
fn colons(
    tokens: &[Token],
    open: usize,
    replace: &mut std::collections::HashMap<usize, &'static str>,
) {
    let mut depth = 0i32;
    let mut expect_name = true;
    let mut last_word: Option<usize> = None;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::Lt | Token::LParen => depth += 1,
            Token::Gt | Token::RParen => depth -= 1,
            Token::ShiftRight => depth -= 2,
            Token::Comma if depth == 1 => expect_name = true,
            Token::Word(_) if depth == 1 && expect_name => last_word = Some(i),
            Token::Colon if depth == 1 && expect_name && last_word.is_some() => {
                replace.insert(i, "");
                expect_name = false;
            }
            Token::Whitespace(_) => {}
            _ => {}
        }
        if depth <= 0 && i > open {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn r(sql: &str) -> Option<String> {
        respell(sql, &GenericDialect {}, false)
    }

    #[test]
    fn other_engines_type_spellings_become_datafusions() {
        assert_eq!(
            r("CREATE TABLE t (s STRUCT(a INT, b VARCHAR))").as_deref(),
            Some("CREATE TABLE t (s STRUCT<a INT, b VARCHAR>)")
        );
        assert_eq!(
            r("CREATE TABLE t (s STRUCT<a: INT, b: STRUCT<c: INT>>)").as_deref(),
            Some("CREATE TABLE t (s STRUCT<a INT, b STRUCT<c INT>>)")
        );
        assert_eq!(
            r("SELECT CAST(NULL AS MAP<VARCHAR, ARRAY<INT>>)").as_deref(),
            Some("SELECT CAST(NULL AS MAP(VARCHAR, ARRAY<INT>))")
        );
        assert_eq!(
            r("ALTER TABLE t ADD COLUMN a ARRAY(ARRAY(BIGINT))").as_deref(),
            Some("ALTER TABLE t ADD COLUMN a ARRAY<ARRAY<BIGINT>>")
        );
        assert_eq!(
            respell(
                "SELECT CAST(x AS ROW(a INT, b ROW(c INT))), y::ROW(d INT) FROM t",
                &GenericDialect {},
                true
            )
            .as_deref(),
            Some("SELECT CAST(x AS STRUCT<a INT, b ROW(c INT)>), y::STRUCT<d INT> FROM t")
        );
        assert_eq!(
            respell("SELECT * FROM t AS row(a, b)", &GenericDialect {}, true),
            None
        );
        // Expressions are left alone.
        assert_eq!(r("SELECT struct(1, 2), ARRAY(SELECT 1), map < 3"), None);
    }
}
