//! Splitting SQL scripts into individual statements.
//!
//! The splitter is a small lexical scanner, not a parser. It understands just enough
//! SQL to find top-level `;` terminators:
//!
//! * single-quoted strings (`'it''s'`), including `E'...'` strings with backslash escapes,
//! * double-quoted identifiers (`"a""b"`) and backtick identifiers (`` `a` ``, doubled
//!   backticks escape),
//! * PostgreSQL dollar-quoted strings (`$$...$$`, `$tag$...$tag$`); `$1` is a placeholder,
//! * line comments (`-- ...` up to the end of the line) and nested block comments
//!   (`/* ... /* ... */ ... */`).
//!
//! Guarantees:
//!
//! * It never panics and always terminates, on any input. All slicing happens at ASCII
//!   delimiter positions, which are always `char` boundaries.
//! * Statement text is returned exactly as written (comments inside a statement are kept),
//!   only trimmed of leading/trailing whitespace and without the terminating `;`.
//! * Every returned `offset` is a byte offset into the original input at which the
//!   returned `text` starts, i.e. `sql[offset..].starts_with(&text)` holds.
//! * Statements consisting only of whitespace and comments are dropped.
//! * Text after the last top-level `;` is a statement too, even if it ends inside an
//!   unterminated string, identifier, dollar quote or block comment (the unterminated
//!   construct then extends to the end of the input). Use [`is_incomplete`] to detect this.

/// One statement of a script: its text (trimmed, without the terminating `;`) and the
/// byte offset of its start in the original input (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement exactly as written, trimmed of surrounding whitespace, without `;`.
    pub text: String,
    /// Byte offset of the first character of `text` in the original input.
    pub offset: usize,
}

/// Lexical state of the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Top level: outside of any string, identifier or comment.
    Normal,
    /// Inside `'...'`; `backslash_escapes` is set for `E'...'` strings.
    SingleQuote { backslash_escapes: bool },
    /// Inside `"..."`.
    DoubleQuote,
    /// Inside `` `...` ``.
    Backtick,
    /// Inside a dollar-quoted string; the delimiter (e.g. `$tag$`) is
    /// `sql[tag_start..tag_end]`.
    DollarQuote { tag_start: usize, tag_end: usize },
    /// Inside `-- ...`.
    LineComment,
    /// Inside `/* ... */` at the given nesting depth (always >= 1).
    BlockComment { depth: usize },
}

impl State {
    /// Whether ending the input in this state leaves an unterminated construct.
    fn is_open(self) -> bool {
        !matches!(self, State::Normal | State::LineComment)
    }
}

/// A byte range `[start, end)` of the input between top-level `;` terminators.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    end: usize,
    /// Whether the segment contains anything besides whitespace and comments.
    has_code: bool,
}

/// Result of scanning a whole input.
#[derive(Debug)]
struct Scan {
    /// All segments, in order; there is always at least one (the text after the last `;`).
    segments: Vec<Segment>,
    /// The scanner state at the end of the input.
    end_state: State,
}

/// Bytes that may appear inside an (unquoted) identifier. Non-ASCII bytes count as
/// identifier bytes, which keeps `ü$$` or `é'..'` from being misread as quote openers.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// If `bytes[i]` (a `$`) opens a dollar quote (`$$` or `$tag$`), returns the index one
/// past the closing `$` of the opening delimiter.
fn dollar_tag_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    match bytes.get(j) {
        Some(b'$') => return Some(j + 1),
        Some(&b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return None,
    }
    j += 1;
    while let Some(&b) = bytes.get(j) {
        if b == b'$' {
            return Some(j + 1);
        }
        if b.is_ascii_alphanumeric() || b == b'_' {
            j += 1;
        } else {
            return None;
        }
    }
    None
}

/// Scans `sql`, recording the segments between top-level `;` and the final state.
///
/// Every iteration advances `i` by at least one byte, so the loop always terminates.
/// In [`State::Normal`], `i` is always on a `char` boundary: that state is only entered
/// right after an ASCII byte, and inside it non-ASCII characters are skipped whole.
fn scan(sql: &str) -> Scan {
    let bytes = sql.as_bytes();
    let len = bytes.len();
    let mut segments = Vec::new();
    let mut state = State::Normal;
    let mut seg_start = 0;
    let mut has_code = false;
    let mut i = 0;

    while i < len {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Normal => match b {
                b';' => {
                    segments.push(Segment {
                        start: seg_start,
                        end: i,
                        has_code,
                    });
                    seg_start = i + 1;
                    has_code = false;
                    i += 1;
                }
                b'-' if next == Some(b'-') => {
                    state = State::LineComment;
                    i += 2;
                }
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment { depth: 1 };
                    i += 2;
                }
                b'\'' => {
                    let backslash_escapes = i >= 1
                        && matches!(bytes[i - 1], b'E' | b'e')
                        && (i < 2 || !is_ident_byte(bytes[i - 2]));
                    state = State::SingleQuote { backslash_escapes };
                    has_code = true;
                    i += 1;
                }
                b'"' => {
                    state = State::DoubleQuote;
                    has_code = true;
                    i += 1;
                }
                b'`' => {
                    state = State::Backtick;
                    has_code = true;
                    i += 1;
                }
                b'$' => {
                    has_code = true;
                    let prev_is_ident = i >= 1 && is_ident_byte(bytes[i - 1]);
                    let tag_end = if prev_is_ident {
                        None
                    } else {
                        dollar_tag_end(bytes, i)
                    };
                    match tag_end {
                        Some(tag_end) => {
                            state = State::DollarQuote {
                                tag_start: i,
                                tag_end,
                            };
                            i = tag_end;
                        }
                        None => i += 1,
                    }
                }
                _ if b.is_ascii() => {
                    has_code |= !(b as char).is_whitespace();
                    i += 1;
                }
                _ => match sql.get(i..).and_then(|rest| rest.chars().next()) {
                    Some(c) => {
                        has_code |= !c.is_whitespace();
                        i += c.len_utf8();
                    }
                    // Unreachable by construction (see above), but never panic.
                    None => {
                        has_code = true;
                        i += 1;
                    }
                },
            },
            State::SingleQuote { backslash_escapes } => {
                if backslash_escapes && b == b'\\' {
                    // Skip the escaped byte. Landing inside a multi-byte character is
                    // harmless: continuation bytes never match an ASCII delimiter.
                    i += 2;
                } else if b == b'\'' {
                    if next == Some(b'\'') {
                        i += 2;
                    } else {
                        state = State::Normal;
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            State::DoubleQuote | State::Backtick => {
                let quote = if state == State::DoubleQuote {
                    b'"'
                } else {
                    b'`'
                };
                if b == quote {
                    if next == Some(quote) {
                        i += 2;
                    } else {
                        state = State::Normal;
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            State::DollarQuote { tag_start, tag_end } => {
                let delimiter = &bytes[tag_start..tag_end];
                if b == b'$' && bytes[i..].starts_with(delimiter) {
                    state = State::Normal;
                    i += delimiter.len();
                } else {
                    i += 1;
                }
            }
            State::LineComment => {
                if b == b'\n' || b == b'\r' {
                    state = State::Normal;
                }
                i += 1;
            }
            State::BlockComment { depth } => {
                if b == b'/' && next == Some(b'*') {
                    state = State::BlockComment { depth: depth + 1 };
                    i += 2;
                } else if b == b'*' && next == Some(b'/') {
                    state = if depth <= 1 {
                        State::Normal
                    } else {
                        State::BlockComment { depth: depth - 1 }
                    };
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }

    segments.push(Segment {
        start: seg_start.min(len),
        end: len,
        has_code,
    });
    Scan {
        segments,
        end_state: state,
    }
}

/// Splits a SQL script into statements at top-level `;`.
///
/// Aware of: single-quoted strings (`''` escapes), `E'..'` strings with backslash escapes,
/// double-quoted identifiers (`""` escapes), backtick identifiers, PostgreSQL dollar-quoted
/// strings (`$$..$$` and `$tag$..$tag$`, where tag is `[A-Za-z_][A-Za-z0-9_]*`; `$1` is a
/// placeholder, not a dollar quote), line comments (`--` to end of line), and block comments
/// (`/* ... */`, nested). Statements consisting only of whitespace/comments are dropped.
/// Text after the last `;` is returned as a statement too, even when it ends inside an
/// unterminated construct.
///
/// Never panics on any input and always terminates.
pub fn split_statements(sql: &str) -> Vec<StatementText> {
    scan(sql)
        .segments
        .into_iter()
        .filter(|seg| seg.has_code)
        .filter_map(|seg| {
            let raw = sql.get(seg.start..seg.end)?;
            let without_leading = raw.trim_start();
            let offset = seg.start + (raw.len() - without_leading.len());
            let text = without_leading.trim_end();
            if text.is_empty() {
                return None;
            }
            Some(StatementText {
                text: text.to_string(),
                offset,
            })
        })
        .collect()
}

/// Whether `sql` ends in the middle of a statement, i.e. an interactive shell should keep
/// reading more lines: true if there is a non-empty (non-comment) statement after the last
/// top-level `;`, or if the input ends inside a string, quoted identifier, dollar quote or
/// block comment.
///
/// `"SELECT 1;"` -> false; `"SELECT 1"` -> true; `"SELECT ';"` -> true;
/// `""` and `"-- c"` -> false; `"select 1; select 2"` -> true.
pub fn is_incomplete(sql: &str) -> bool {
    let scan = scan(sql);
    scan.end_state.is_open() || scan.segments.last().is_some_and(|seg| seg.has_code)
}

/// Returns the first word (ASCII letters/underscore) of the statement in upper case,
/// skipping leading whitespace, comments (line and nested block comments) and opening
/// parentheses, or `""` if there is none (e.g. empty input, only comments, or the first
/// significant character is not a letter or underscore). Useful for recognising the
/// leading keyword of a statement (`SELECT`, `BEGIN`, `WITH`, ...).
pub fn leading_keyword(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        let Some(&b) = bytes.get(i) else {
            return String::new();
        };
        match b {
            b'(' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i += 2;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 1usize;
                i += 2;
                while depth > 0 {
                    match (bytes.get(i), bytes.get(i + 1)) {
                        (None, _) => return String::new(),
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let word: String = sql
                    .get(i..)
                    .unwrap_or("")
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
                    .collect();
                return word.to_ascii_uppercase();
            }
            _ => match sql.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) if c.is_whitespace() => i += c.len_utf8(),
                _ => return String::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split_statements(sql).into_iter().map(|s| s.text).collect()
    }

    /// Checks the invariants every split result must satisfy.
    fn check_invariants(sql: &str) {
        let stmts = split_statements(sql);
        let mut last_end = 0;
        for st in &stmts {
            assert!(!st.text.is_empty(), "empty statement for {sql:?}");
            assert_eq!(st.text, st.text.trim(), "untrimmed statement for {sql:?}");
            assert!(st.offset >= last_end, "offsets not increasing for {sql:?}");
            let rest = sql
                .get(st.offset..)
                .unwrap_or_else(|| panic!("offset not on a char boundary for {sql:?}"));
            assert!(rest.starts_with(&st.text), "offset mismatch for {sql:?}");
            last_end = st.offset + st.text.len();
        }
        let _ = is_incomplete(sql);
        let _ = leading_keyword(sql);
    }

    #[test]
    fn basic_split() {
        assert_eq!(texts("SELECT 1; SELECT 2;"), vec!["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn trailing_statement_without_semicolon() {
        assert_eq!(texts("SELECT 1;\nSELECT 2"), vec!["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn semicolon_in_single_quoted_string() {
        assert_eq!(
            texts("SELECT 'a;b'; SELECT 'it''s;'"),
            vec!["SELECT 'a;b'", "SELECT 'it''s;'"]
        );
    }

    #[test]
    fn e_string_backslash_escapes() {
        assert_eq!(
            texts(r"SELECT E'a\';b'; SELECT 2"),
            vec![r"SELECT E'a\';b'", "SELECT 2"]
        );
        assert_eq!(
            texts(r"SELECT e'\\'; SELECT 2"),
            vec![r"SELECT e'\\'", "SELECT 2"]
        );
    }

    #[test]
    fn plain_string_backslash_is_literal() {
        // In a standard string a backslash is an ordinary character.
        assert_eq!(
            texts(r"SELECT 'a\'; SELECT 2"),
            vec![r"SELECT 'a\'", "SELECT 2"]
        );
        // An identifier ending in `e` is not an E-string prefix.
        assert_eq!(
            texts(r"SELECT xe'\'; SELECT 2"),
            vec![r"SELECT xe'\'", "SELECT 2"]
        );
    }

    #[test]
    fn semicolon_in_double_quoted_identifier() {
        assert_eq!(
            texts(r#"SELECT "a;""b"; SELECT 2"#),
            vec![r#"SELECT "a;""b""#, "SELECT 2"]
        );
    }

    #[test]
    fn semicolon_in_backtick_identifier() {
        assert_eq!(
            texts("SELECT `a;b`; SELECT 2"),
            vec!["SELECT `a;b`", "SELECT 2"]
        );
    }

    #[test]
    fn semicolon_in_line_comment() {
        assert_eq!(
            texts("SELECT 1 -- not; here\n; SELECT 2"),
            vec!["SELECT 1 -- not; here", "SELECT 2"]
        );
        // A carriage return also ends a line comment.
        assert_eq!(
            texts("SELECT 1 -- c\r; SELECT 2"),
            vec!["SELECT 1 -- c", "SELECT 2"]
        );
    }

    #[test]
    fn semicolon_in_block_comment() {
        assert_eq!(
            texts("SELECT /* ; */ 1; SELECT 2"),
            vec!["SELECT /* ; */ 1", "SELECT 2"]
        );
    }

    #[test]
    fn nested_block_comments() {
        assert_eq!(
            texts("SELECT /* a /* b; */ c; */ 1; SELECT 2"),
            vec!["SELECT /* a /* b; */ c; */ 1", "SELECT 2"]
        );
    }

    #[test]
    fn dollar_quote_without_tag() {
        assert_eq!(
            texts("SELECT $$a;b$$; SELECT 2"),
            vec!["SELECT $$a;b$$", "SELECT 2"]
        );
    }

    #[test]
    fn dollar_quote_with_tag() {
        let sql = "CREATE FUNCTION f() AS $body$ BEGIN; $$ ; $x$ END; $body$; SELECT 2";
        assert_eq!(
            texts(sql),
            vec![
                "CREATE FUNCTION f() AS $body$ BEGIN; $$ ; $x$ END; $body$",
                "SELECT 2"
            ]
        );
        assert_eq!(texts("SELECT $_t1$;$_t1$;"), vec!["SELECT $_t1$;$_t1$"]);
    }

    #[test]
    fn dollar_placeholders_are_not_quotes() {
        assert_eq!(
            texts("SELECT $1; SELECT $2"),
            vec!["SELECT $1", "SELECT $2"]
        );
        assert_eq!(
            texts("SELECT $1;SELECT $$;$$"),
            vec!["SELECT $1", "SELECT $$;$$"]
        );
        // `$` inside an identifier does not open a dollar quote.
        assert_eq!(
            texts("SELECT a$$b; SELECT 2"),
            vec!["SELECT a$$b", "SELECT 2"]
        );
        // A `$tag` not closed by `$` is not a dollar quote.
        assert_eq!(texts("SELECT $a; SELECT 2"), vec!["SELECT $a", "SELECT 2"]);
    }

    #[test]
    fn unterminated_string_returns_trailing_text() {
        assert_eq!(
            texts("SELECT 1; SELECT 'abc;def"),
            vec!["SELECT 1", "SELECT 'abc;def"]
        );
        assert_eq!(texts("SELECT \"abc;"), vec!["SELECT \"abc;"]);
        assert_eq!(texts("SELECT `abc;"), vec!["SELECT `abc;"]);
        assert_eq!(texts(r"SELECT E'abc\"), vec![r"SELECT E'abc\"]);
    }

    #[test]
    fn unterminated_dollar_quote_returns_trailing_text() {
        assert_eq!(
            texts("SELECT 1; SELECT $t$ a; $$ b;"),
            vec!["SELECT 1", "SELECT $t$ a; $$ b;"]
        );
    }

    #[test]
    fn unterminated_block_comment() {
        assert_eq!(
            texts("SELECT 1; SELECT /* x; y"),
            vec!["SELECT 1", "SELECT /* x; y"]
        );
        // A trailing segment that is only an (unterminated) comment is dropped.
        assert_eq!(texts("SELECT 1; /* only; a comment"), vec!["SELECT 1"]);
    }

    #[test]
    fn empty_statements_are_dropped() {
        assert!(split_statements("").is_empty());
        assert!(split_statements("  \n\t").is_empty());
        assert!(split_statements(";;  ;").is_empty());
        assert!(split_statements("-- c\n;/* x */; -- y").is_empty());
        let stmts = split_statements(";;  ; SELECT 1;;");
        assert_eq!(
            stmts,
            vec![StatementText {
                text: "SELECT 1".to_string(),
                offset: 6
            }]
        );
    }

    #[test]
    fn comments_inside_statements_are_kept() {
        assert_eq!(
            texts("-- header\nSELECT 1; -- trailing\n"),
            vec!["-- header\nSELECT 1"]
        );
    }

    #[test]
    fn offsets_are_correct() {
        let sql = "SELECT 1;  \n SELECT 2 ;";
        assert_eq!(
            split_statements(sql),
            vec![
                StatementText {
                    text: "SELECT 1".to_string(),
                    offset: 0
                },
                StatementText {
                    text: "SELECT 2".to_string(),
                    offset: 13
                },
            ]
        );
        check_invariants(sql);
    }

    #[test]
    fn multibyte_utf8_inside_and_outside_strings() {
        let sql = "SELECT 'ü;😀' AS \"ñ;\"; SELECT 😀 ; SELECT 'x' -- ü;\n";
        let stmts = split_statements(sql);
        let got: Vec<&str> = stmts.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            got,
            vec!["SELECT 'ü;😀' AS \"ñ;\"", "SELECT 😀", "SELECT 'x' -- ü;"]
        );
        assert_eq!(stmts[1].offset, sql.find("SELECT 😀").unwrap_or(usize::MAX));
        check_invariants(sql);
    }

    #[test]
    fn unicode_whitespace_is_trimmed() {
        let sql = "\u{3000}SELECT 1\u{3000};\u{a0};";
        assert_eq!(
            split_statements(sql),
            vec![StatementText {
                text: "SELECT 1".to_string(),
                offset: 3
            }]
        );
        assert!(!is_incomplete("SELECT 1;\u{3000}\u{a0}"));
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let inputs = [
            "SELECT 'ü;😀' AS \"ñ;\"; SELECT 😀; SELECT E'\\ü\\'; x'",
            "SELECT $tag$ ü;😀 $ta$ $tag$; SELECT $1; $$ 😀 $",
            "/* a /* 😀 */ b */ SELECT `x``y`; -- ü\r\nSELECT 2 /* *",
            "e'\\😀'; E'\\\\'; é'\\'; ü$$x$$; $😀$; $_$;$_$",
            ";;;--;\n/*;*/'';\"\";``;$$$$;",
            "😀",
            "$",
            "E'\\",
            "/*/",
            "-",
        ];
        for sql in inputs {
            for n in 0..=sql.len() {
                if let Some(prefix) = sql.get(..n) {
                    check_invariants(prefix);
                }
                if let Some(suffix) = sql.get(n..) {
                    check_invariants(suffix);
                }
            }
        }
    }

    #[test]
    fn is_incomplete_basic_cases() {
        assert!(!is_incomplete("SELECT 1;"));
        assert!(is_incomplete("SELECT 1"));
        assert!(is_incomplete("SELECT ';"));
        assert!(!is_incomplete(""));
        assert!(!is_incomplete("-- c"));
        assert!(is_incomplete("select 1; select 2"));
        assert!(!is_incomplete("select 1; select 2;  \n"));
    }

    #[test]
    fn is_incomplete_comments() {
        assert!(is_incomplete("SELECT 1 -- c"));
        assert!(!is_incomplete("SELECT 1; -- c"));
        assert!(!is_incomplete("SELECT 1; /* c */"));
        assert!(is_incomplete("SELECT 1; /* c"));
        assert!(is_incomplete("/* a /* b */"));
        assert!(!is_incomplete("/* a /* b */ */"));
    }

    #[test]
    fn is_incomplete_unterminated_quotes() {
        assert!(is_incomplete("SELECT 'abc"));
        assert!(is_incomplete("SELECT 'it''s;"));
        assert!(is_incomplete(r"SELECT E'a\';"));
        assert!(is_incomplete("SELECT \"x;"));
        assert!(is_incomplete("SELECT `x;"));
        assert!(is_incomplete("SELECT $$ x;"));
        assert!(is_incomplete("SELECT $t$ x $$;"));
        assert!(!is_incomplete("SELECT $t$ x $t$;"));
        assert!(!is_incomplete("SELECT $1;"));
    }

    #[test]
    fn leading_keyword_cases() {
        assert_eq!(leading_keyword("  -- c\n /* x */ (select 1)"), "SELECT");
        assert_eq!(leading_keyword("begin;"), "BEGIN");
        assert_eq!(leading_keyword(""), "");
        assert_eq!(
            leading_keyword("(\t(with x as (select 1) select * from x)"),
            "WITH"
        );
        assert_eq!(
            leading_keyword("/* a /* nested */ still */ insert"),
            "INSERT"
        );
        assert_eq!(leading_keyword("select1"), "SELECT");
        assert_eq!(leading_keyword("_foo bar"), "_FOO");
        assert_eq!(leading_keyword("\u{3000}Drop table t"), "DROP");
    }

    #[test]
    fn leading_keyword_none() {
        assert_eq!(leading_keyword("-- only a comment"), "");
        assert_eq!(leading_keyword("/* unterminated select"), "");
        assert_eq!(leading_keyword("123"), "");
        assert_eq!(leading_keyword("'select'"), "");
        assert_eq!(leading_keyword("ü select"), "");
        assert_eq!(leading_keyword("   (  "), "");
    }
}
