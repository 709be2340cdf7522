//! The interactive loop and the backslash meta-commands.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use floe::Engine;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};

use crate::Shell;
use crate::helper::FloeHelper;
use crate::print::Format;

const HELP: &str = r#"SQL statements end with ';' and may span lines. Ctrl-C cancels the line or the
running query; Ctrl-D (or \q) exits.

Meta-commands:
  \?                 this help
  \q                 quit
  \d                 list tables and views
  \d NAME            describe a table or view
  \dn                list schemas
  \dt [PATTERN]      list tables matching a pattern (* and ? wildcards)
  \dv [PATTERN]      list views matching a pattern
  \timing [on|off]   show rows and elapsed time after each statement
  \format FMT        table, csv, tsv, json, ndjson or markdown
  \maxrows N         rows shown in table format (0 = all)
  \i FILE            run a script file
  \e                 edit the last statement in $VISUAL or $EDITOR (default vi), then run it
  \o [FILE]          send query results to FILE (replaced); \o alone: back to the screen
  \pager [on|off]    page results taller or wider than the screen ($PAGER, default less)
  \releases          list releases
  \snapshots TABLE   list a table's snapshots

Time travel:  SELECT * FROM t FOR VERSION AS OF <snapshot id | 'tag' | 'release'>
              SELECT * FROM t FOR TIMESTAMP AS OF TIMESTAMP '2026-11-20 10:00:00'
Releases:     BEGIN; INSERT ...; DELETE ...; CALL release('v1'); (or COMMIT / ROLLBACK)"#;

fn like_pattern(p: &str) -> String {
    p.replace('\'', "''").replace('*', "%").replace('?', "_")
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs one meta-command (`text` starts with a backslash).
pub async fn meta_command(
    shell: &mut Shell,
    text: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    let text = text.trim().trim_end_matches(';').trim();
    let (cmd, arg) = match text.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (text, ""),
    };
    let catalog_tables = "SELECT table_schema AS schema, table_name AS name, table_type AS type \
         FROM information_schema.tables WHERE table_catalog = 'floe' \
         AND table_schema NOT IN ('information_schema', 'system')";
    let sql = match (cmd, arg) {
        ("\\?" | "\\h" | "\\help", _) => {
            writeln!(out, "{HELP}").map_err(|e| e.to_string())?;
            return Ok(());
        }
        ("\\q" | "\\quit", _) => {
            shell.quit = true;
            return Ok(());
        }
        ("\\d", "") => format!("{catalog_tables} ORDER BY schema, name"),
        ("\\d", name) => format!("DESCRIBE {name}"),
        ("\\dn", _) => "SELECT schema_name AS schema FROM information_schema.schemata \
             WHERE catalog_name = 'floe' AND schema_name NOT IN ('information_schema') ORDER BY 1"
            .to_string(),
        ("\\dv", "") => {
            format!("{catalog_tables} AND table_type = 'VIEW' ORDER BY schema, name")
        }
        ("\\dv", pattern) => format!(
            "{catalog_tables} AND table_type = 'VIEW' AND (table_name LIKE '{p}' OR table_schema || '.' || table_name LIKE '{p}') ORDER BY schema, name",
            p = like_pattern(pattern)
        ),
        ("\\dt", "") => {
            format!("{catalog_tables} AND table_type <> 'VIEW' ORDER BY schema, name")
        }
        ("\\dt", pattern) => format!(
            "{catalog_tables} AND table_type <> 'VIEW' AND (table_name LIKE '{p}' OR table_schema || '.' || table_name LIKE '{p}') ORDER BY schema, name",
            p = like_pattern(pattern)
        ),
        ("\\timing", a) => {
            shell.timing = match a.to_ascii_lowercase().as_str() {
                "" => !shell.timing,
                "on" => true,
                "off" => false,
                other => return Err(format!("\\timing takes on or off, not '{other}'")),
            };
            writeln!(
                out,
                "Timing is {}.",
                if shell.timing { "on" } else { "off" }
            )
            .map_err(|e| e.to_string())?;
            return Ok(());
        }
        ("\\format", a) => {
            shell.format = a.parse::<Format>()?;
            return Ok(());
        }
        ("\\maxrows", a) => {
            shell.maxrows = a
                .parse()
                .map_err(|_| format!("\\maxrows takes a number, not '{a}'"))?;
            return Ok(());
        }
        ("\\e", _) => {
            if !shell.interactive {
                return Err("\\e edits at the prompt only (not in scripts)".to_string());
            }
            let Some(text) = edit(shell.last_sql.as_deref().unwrap_or(""))? else {
                return Ok(());
            };
            let _ = writeln!(out, "{text}");
            shell.last_sql = Some(text.clone());
            for stmt in floe::floe_sql::frontend::split::split_statements(&text) {
                shell.run_statement(&stmt.text, out).await?;
            }
            return Ok(());
        }
        ("\\pager", a) => {
            shell.pager = match a {
                "" => !shell.pager,
                "on" => true,
                "off" => false,
                other => return Err(format!("\\pager takes on or off, not '{other}'")),
            };
            if shell.interactive {
                let _ = writeln!(out, "Pager is {}.", if shell.pager { "on" } else { "off" });
            }
            return Ok(());
        }
        ("\\o", "") => {
            if let Some((_, file)) = shell.output.take() {
                file.lock().await.flush().map_err(|e| e.to_string())?;
            }
            return Ok(());
        }
        ("\\o", file) => {
            let opened = std::fs::File::create(file)
                .map_err(|e| format!("cannot write query results to '{file}': {e}"))?;
            if let Some((_, previous)) = shell.output.take() {
                previous.lock().await.flush().map_err(|e| e.to_string())?;
            }
            shell.output = Some((
                file.to_string(),
                Arc::new(tokio::sync::Mutex::new(std::io::BufWriter::new(opened))),
            ));
            return Ok(());
        }
        ("\\i", "") => return Err("\\i needs a file name".to_string()),
        ("\\i", file) => {
            if shell.includes.len() >= crate::MAX_INCLUDE_DEPTH {
                return Err(format!(
                    "\\i '{file}': scripts nested more than {} deep (does '{}' include itself?)",
                    crate::MAX_INCLUDE_DEPTH,
                    shell.includes.last().map(String::as_str).unwrap_or(file)
                ));
            }
            let script = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read script '{file}': {e}"))?;
            shell.includes.push(file.to_string());
            let result = Box::pin(shell.run_script(&script, Some(file), out)).await;
            shell.includes.pop();
            return result;
        }
        ("\\releases", _) => "SELECT * FROM floe.system.releases ORDER BY release_id".to_string(),
        ("\\snapshots", "") => return Err("\\snapshots needs a table name".to_string()),
        ("\\snapshots", table) => {
            let (schema, name) = match table.rsplit_once('.') {
                Some((s, t)) => (format!("{}.", quote_ident(s)), t.to_string()),
                None => (String::new(), table.to_string()),
            };
            format!(
                "SELECT * FROM {schema}{} ORDER BY committed_at",
                quote_ident(&format!("{name}$snapshots"))
            )
        }
        (other, _) => return Err(format!("unknown meta-command '{other}'; type \\? for help")),
    };
    shell.run_statement(&sql, out).await
}

/// Opens `text` in the user's editor; the edited text, or `None` when it came back empty.
fn edit(text: &str) -> Result<Option<String>, String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    let file = std::env::temp_dir().join(format!("floe-edit-{}.sql", std::process::id()));
    std::fs::write(&file, format!("{}\n", text.trim_end()))
        .map_err(|e| format!("\\e: cannot write '{}': {e}", file.display()))?;
    let quoted = format!("'{}'", file.display().to_string().replace('\'', "'\\''"));
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("{editor} {quoted}")])
        .status();
    let edited = std::fs::read_to_string(&file);
    let _ = std::fs::remove_file(&file);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(format!(
                "\\e: the editor '{editor}' failed ({s}); nothing was run"
            ));
        }
        Err(e) => return Err(format!("\\e: cannot start the editor '{editor}': {e}")),
    }
    let edited = edited.map_err(|e| format!("\\e: cannot read the edited statement: {e}"))?;
    let edited = edited.trim();
    Ok((!edited.is_empty()).then(|| edited.to_string()))
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLOE_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".floe_history"))
}

/// The interactive loop.
pub fn run(
    shell: &mut Shell,
    engine: Arc<Engine>,
    runtime: &tokio::runtime::Runtime,
    quiet: bool,
) -> std::process::ExitCode {
    let config = Config::builder()
        .history_ignore_space(true)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<FloeHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            crate::report(format!("Error: cannot start the line editor: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none();
    editor.set_helper(Some(FloeHelper::new(
        engine.clone(),
        runtime.handle().clone(),
        color,
    )));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    if !quiet {
        let catalog = &engine.catalog;
        let tables: usize = catalog
            .namespaces(None)
            .unwrap_or_default()
            .iter()
            .map(|ns| catalog.tables(ns).map(|t| t.len()).unwrap_or(0))
            .sum();
        println!(
            "floe {} — warehouse {}{} ({tables} tables in the top-level schemas). Type \\? for help.",
            env!("CARGO_PKG_VERSION"),
            catalog.warehouse(),
            if catalog.is_read_only() {
                " (read-only)"
            } else {
                ""
            }
        );
    }
    loop {
        let prompt = if shell.floe.session().in_transaction() {
            "floe*> "
        } else {
            "floe> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if !text.starts_with('\\') {
                    shell.last_sql = Some(text.to_string());
                }
                if matches!(
                    text.trim_end_matches(';'),
                    "\\q" | "\\quit" | "quit" | "exit"
                ) {
                    break;
                }
                // Results are collected and paged when they do not fit the screen.
                let paging = shell.pager && shell.output.is_none();
                let mut collected: Vec<u8> = Vec::new();
                let mut stdout = std::io::stdout();
                let out: &mut dyn Write = if paging { &mut collected } else { &mut stdout };
                let fut = async {
                    if text.starts_with('\\') {
                        meta_command(shell, text, out).await
                    } else {
                        let mut last = Ok(());
                        for stmt in floe::floe_sql::frontend::split::split_statements(text) {
                            last = shell.run_statement(&stmt.text, out).await;
                            if last.is_err() {
                                break;
                            }
                        }
                        last
                    }
                };
                let result = runtime.block_on(async {
                    tokio::select! {
                        r = fut => Some(r),
                        _ = tokio::signal::ctrl_c() => None,
                    }
                });
                if paging {
                    crate::pager::show(&collected, &mut std::io::stdout());
                }
                match result {
                    Some(Ok(())) => {}
                    Some(Err(e)) => crate::report(format!("Error: {e}")),
                    None => crate::report("\rCancelled."),
                }
                if shell.quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                crate::report(format!("Error: {e}"));
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    crate::warn_open_transaction(shell);
    std::process::ExitCode::SUCCESS
}
