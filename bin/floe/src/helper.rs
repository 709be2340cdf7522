//! Line-editing help for the interactive shell: statement completeness (multi-line input
//! ends at `;`), tab completion of keywords, schemas, tables and columns from the live
//! catalog, and syntax highlighting.

use std::borrow::Cow;
use std::sync::Arc;

use floe::Engine;
use floe::floe_sql::frontend::split;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

/// At most this many tables' columns are offered when the line names no table.
const MAX_TABLES_FOR_COLUMNS: usize = 200;

/// SQL keywords offered by tab completion (and highlighted).
pub const KEYWORDS: &[&str] = &[
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CALL",
    "CASCADE",
    "CASE",
    "CAST",
    "COLUMN",
    "COMMIT",
    "COPY",
    "COUNT",
    "CREATE",
    "CROSS",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVERWRITE",
    "PARTITIONED",
    "PURGE",
    "RENAME",
    "RIGHT",
    "ROLLBACK",
    "SCHEMA",
    "SELECT",
    "SET",
    "SHOW",
    "SYSTEM_TIME",
    "TABLE",
    "TABLES",
    "TBLPROPERTIES",
    "THEN",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VERSION",
    "WHEN",
    "WHERE",
    "WITH",
];

/// The rustyline helper.
pub struct FloeHelper {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Handle,
    color: bool,
}

impl FloeHelper {
    /// A helper reading names from `engine`'s catalog.
    pub fn new(engine: Arc<Engine>, runtime: tokio::runtime::Handle, color: bool) -> Self {
        Self {
            engine,
            runtime,
            color,
        }
    }

    fn schemas(&self) -> Vec<String> {
        let catalog = &self.engine.catalog;
        let mut out = Vec::new();
        let mut queue = catalog.namespaces(None).unwrap_or_default();
        while let Some(ns) = queue.pop() {
            queue.extend(catalog.namespaces(Some(&ns)).unwrap_or_default());
            out.push(ns.join("."));
        }
        out
    }

    fn tables(&self, schema: &str) -> Vec<String> {
        let Some(ns) = floe::floe_sql::provider::namespace_of(schema) else {
            return Vec::new();
        };
        self.engine
            .catalog
            .tables(&ns)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect()
    }

    /// Columns of tables named in `line` (schema-qualified or in `public`); when the line
    /// names none yet (`SELECT na<TAB>` before its FROM), the columns of every table in
    /// `public`, as DuckDB offers them (up to [`MAX_TABLES_FOR_COLUMNS`] tables, so a TAB
    /// stays quick in a large schema).
    fn columns(&self, line: &str) -> Vec<String> {
        let mut named = Vec::new();
        for word in line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')) {
            let (schema, table) = match word.rsplit_once('.') {
                Some((s, t)) => (s.to_string(), t.to_string()),
                None => ("public".to_string(), word.to_string()),
            };
            let Some(ns) = floe::floe_sql::provider::namespace_of(&schema) else {
                continue;
            };
            let ident = floe::iceberg::TableIdent::new(ns, table.to_lowercase());
            if self.engine.catalog.contains_table(&ident) {
                named.push(ident);
            }
        }
        if named.is_empty()
            && let Some(ns) = floe::floe_sql::provider::namespace_of("public")
        {
            named = self
                .tables("public")
                .into_iter()
                .take(MAX_TABLES_FOR_COLUMNS)
                .map(|t| floe::iceberg::TableIdent::new(ns.clone(), t))
                .collect();
        }
        let mut out = Vec::new();
        for ident in named {
            let catalog = self.engine.catalog.clone();
            let loaded = self
                .runtime
                .block_on(async move { catalog.table(&ident).await });
            if let Ok(t) = loaded {
                out.extend(
                    t.metadata()
                        .current_schema()
                        .as_struct()
                        .fields()
                        .iter()
                        .map(|f| f.name.clone()),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Completer for FloeHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '\\'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let mut candidates: Vec<String> = Vec::new();
        if let Some((schema, partial)) = word.rsplit_once('.') {
            let _ = partial;
            for t in self.tables(schema) {
                candidates.push(format!("{schema}.{t}"));
            }
        } else {
            let upper = word.to_ascii_uppercase();
            candidates.extend(KEYWORDS.iter().filter(|k| k.starts_with(&upper)).map(|k| {
                if word.chars().next().is_some_and(|c| c.is_lowercase()) {
                    k.to_lowercase()
                } else {
                    k.to_string()
                }
            }));
            candidates.extend(self.schemas());
            candidates.extend(self.tables("public"));
            candidates.extend(self.columns(line));
        }
        let lower = word.to_lowercase();
        let mut pairs: Vec<Pair> = candidates
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&lower) && c.len() > word.len())
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        pairs.sort_by(|a, b| a.display.cmp(&b.display));
        pairs.dedup_by(|a, b| a.display == b.display);
        Ok((start, pairs))
    }
}

impl Hinter for FloeHelper {
    type Hint = String;
}

impl Validator for FloeHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim_start();
        if trimmed.starts_with('\\') || trimmed.is_empty() {
            return Ok(ValidationResult::Valid(None));
        }
        if split::is_incomplete(input) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Highlighter for FloeHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight_sql(line))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Helper for FloeHelper {}

/// ANSI-colours keywords (bold blue), strings (green), numbers (yellow), comments (grey).
pub fn highlight_sql(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.push_str("\x1b[32m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            out.push_str("\x1b[90m");
            while i < chars.len() && chars[i] != '\n' {
                out.push(chars[i]);
                i += 1;
            }
            out.push_str("\x1b[0m");
        } else if c.is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            out.push_str("\x1b[33m");
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                out.push(chars[i]);
                i += 1;
            }
            out.push_str("\x1b[0m");
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if KEYWORDS.contains(&word.to_ascii_uppercase().as_str()) {
                out.push_str("\x1b[1;34m");
                out.push_str(&word);
                out.push_str("\x1b[0m");
            } else {
                out.push_str(&word);
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}
