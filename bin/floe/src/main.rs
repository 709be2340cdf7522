//! `floe [OPTIONS] [WAREHOUSE]` — the floe shell.
//!
//! A thin binary over the `floe` library: argument parsing, the interactive editor,
//! result printing and backslash meta-commands. SQL goes through exactly the same front
//! end as embedders and `floe-slt` use.

mod helper;
mod pager;
mod print;
mod repl;
mod serve;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use floe::{Floe, OpenOptions, Session};
use futures::StreamExt;
use print::{Format, Printer};

/// The floe shell: SQL on an embedded Apache Iceberg warehouse.
///
/// Without WAREHOUSE, a transient in-memory warehouse is used. With -c or -f (or piped
/// input), statements run in order and the first error ends the run with exit code 1.
#[derive(Parser, Debug)]
#[command(name = "floe", version, about, long_about = None)]
struct Args {
    /// Warehouse directory (created if missing) or s3://BUCKET/PREFIX (with --catalog).
    /// Omit for an in-memory warehouse.
    #[arg(value_name = "WAREHOUSE")]
    warehouse: Option<PathBuf>,
    /// The catalog file (default WAREHOUSE/catalog.redb; required for an S3 warehouse).
    #[arg(long, value_name = "PATH")]
    catalog: Option<PathBuf>,
    /// A warehouse setting, such as s3.endpoint=http://127.0.0.1:9000 or s3.region=eu-west-1
    /// (may be given several times; the AWS_* environment variables are read too).
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
    /// Run SQL (may be given several times), then exit.
    // SQL may start with a `--` comment or a `-`: it is the value, not an option.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        allow_hyphen_values = true
    )]
    commands: Vec<String>,
    /// Run a script file (may be given several times), then exit.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", value_name = "FMT")]
    format: Format,
    /// Rows shown in table and markdown format (0 = all).
    #[arg(long, default_value_t = 40, value_name = "N")]
    maxrows: usize,
    /// Open the warehouse without write access.
    #[arg(long)]
    read_only: bool,
    /// No banner and no timing.
    #[arg(short, long)]
    quiet: bool,
    /// Verify the warehouse (metadata, manifests, data files, releases) without changing
    /// anything; print the problems found and exit 1 if there are any.
    #[arg(long, requires = "warehouse", conflicts_with_all = ["commands", "files"])]
    check: bool,
    /// Also serve the warehouse as an Iceberg REST catalog at HOST:PORT while the shell
    /// runs (same live catalog: each side sees the other's commits at once). Headless:
    /// `floe serve WAREHOUSE`.
    #[arg(
        long,
        value_name = "HOST:PORT",
        requires = "warehouse",
        conflicts_with = "check"
    )]
    serve: Option<String>,
    /// With --serve: file holding the bearer token REST requests must carry (else
    /// FLOE_REST_TOKEN).
    #[arg(long, value_name = "FILE", requires = "serve")]
    token_file: Option<PathBuf>,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

/// Shell state shared by the non-interactive runner and the REPL.
pub struct Shell {
    pub floe: Floe,
    pub format: Format,
    pub maxrows: usize,
    pub timing: bool,
    pub interactive: bool,
    /// Set by `\q`: nothing after it runs.
    pub quit: bool,
    /// Scripts being run through `\i`, innermost last (a script including itself would
    /// otherwise recurse until the stack overflows).
    pub includes: Vec<String>,
    /// The last SQL line run at the prompt (what `\e` edits).
    pub last_sql: Option<String>,
    /// Page results that do not fit the terminal (`\pager`; interactive sessions only).
    pub pager: bool,
    /// Where query results go instead of standard output (`\o FILE`), and its name.
    pub output: Option<(
        String,
        Arc<tokio::sync::Mutex<std::io::BufWriter<std::fs::File>>>,
    )>,
}

/// How deep `\i` scripts may include each other.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Writes one line to standard error, ignoring failures: a closed stderr (`2>&1 | head`)
/// must never turn into a panic.
pub fn report(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Standard output that remembers when its reader went away (`floe ... | head`), so the
/// shell stops quietly instead of reporting an error for every statement left.
pub struct Out<W: Write> {
    inner: W,
    pub closed: bool,
}

impl<W: Write> Out<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    fn note(&mut self, e: std::io::Error) -> std::io::Error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.closed = true;
        }
        e
    }
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.note(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.note(e))
    }
}

/// One readable line for any error (no Debug dumps, no backtraces).
pub fn error_line(e: &datafusion::error::DataFusionError) -> String {
    floe::display_error(e)
}

impl Shell {
    fn session(&self) -> &Session {
        self.floe.session()
    }

    /// Runs one statement and prints its result to `out`.
    pub async fn run_statement(&self, sql: &str, out: &mut dyn Write) -> Result<(), String> {
        let start = Instant::now();
        let progress = (self.interactive && std::io::stderr().is_terminal()).then(|| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} running {elapsed} (Ctrl-C cancels)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                loop {
                    bar.tick();
                    tokio::time::sleep(Duration::from_millis(120)).await;
                }
            })
        });
        // Stops (and clears) the progress line however this future ends — including
        // when Ctrl-C drops it mid-query.
        struct ProgressGuard(Option<tokio::task::JoinHandle<()>>, Instant);
        impl Drop for ProgressGuard {
            fn drop(&mut self) {
                if let Some(p) = self.0.take() {
                    p.abort();
                    if self.1.elapsed() > Duration::from_secs(1) {
                        eprint!("\r\x1b[2K");
                    }
                }
            }
        }
        let guard = ProgressGuard(progress, start);
        let result = match &self.output {
            Some((name, file)) => {
                let mut file = file.lock().await;
                let result = self.execute_and_print(sql, &mut *file).await;
                // Each statement's rows are in the file once it has run.
                match file.flush() {
                    Ok(()) => result,
                    Err(e) => result.and(Err(format!("cannot write to '{name}': {e}"))),
                }
            }
            None => self.execute_and_print(sql, out).await,
        };
        drop(guard);
        let rows = result?;
        if self.timing {
            let secs = start.elapsed().as_secs_f64();
            let _ = writeln!(out, "{rows} row(s) in {secs:.3}s");
        }
        Ok(())
    }

    async fn execute_and_print(&self, sql: &str, out: &mut dyn Write) -> Result<usize, String> {
        let output = self
            .session()
            .execute(sql)
            .await
            .map_err(|e| error_line(&e))?;
        let mut stream = output.stream;
        if output.schema.fields().is_empty() {
            while let Some(b) = stream.next().await {
                b.map_err(|e| error_line(&e))?;
            }
            return Ok(0);
        }
        let mut printer = Printer::new(out, self.format, output.schema.clone(), self.maxrows)
            .map_err(|e| error_line(&e))?;
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| error_line(&e))?;
            printer.batch(&b).map_err(|e| error_line(&e))?;
        }
        printer.finish().map_err(|e| error_line(&e))
    }

    /// Runs a script statement by statement; stops at the first error. For a script
    /// read from `source` (a file) an error says where, as `source:line: message` (the
    /// innermost script's, for `\\i`).
    pub async fn run_script(
        &mut self,
        script: &str,
        source: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), String> {
        for stmt in script_statements(script) {
            if self.quit {
                break;
            }
            let text = stmt.text.trim();
            // The file a `\\i` statement runs, whose own errors say where they happened.
            let included = text
                .strip_prefix("\\i")
                .map(|f| f.trim().trim_end_matches(';').trim().to_string());
            let result = if text.starts_with('\\') {
                repl::meta_command(self, text, out).await
            } else {
                self.run_statement(text, out).await
            };
            if let Err(e) = result {
                let located = included
                    .as_ref()
                    .is_some_and(|f| !f.is_empty() && e.starts_with(&format!("{f}:")));
                return Err(match source {
                    Some(src) if !located => {
                        let line = script[..stmt.offset.min(script.len())]
                            .matches('\n')
                            .count()
                            + 1;
                        format!("{src}:{line}: {e}")
                    }
                    _ => e,
                });
            }
        }
        Ok(())
    }
}

/// The statements of a script: SQL split at `;`, and backslash commands, which (as in
/// psql) end at the end of their line, so `\timing on` on a line of its own does not
/// swallow the SQL below it.
fn script_statements(script: &str) -> Vec<floe::floe_sql::frontend::split::StatementText> {
    use floe::floe_sql::frontend::split::{StatementText, split_statements};
    let mut out = Vec::new();
    let mut base = 0;
    'script: while base < script.len() {
        for stmt in split_statements(&script[base..]) {
            if stmt.text.starts_with('\\') {
                let start = base + stmt.offset;
                let end = script[start..]
                    .find('\n')
                    .map_or(script.len(), |i| start + i);
                let text = script[start..end].trim().trim_end_matches(';').trim_end();
                out.push(StatementText {
                    text: text.to_string(),
                    offset: start,
                });
                base = end;
                continue 'script;
            }
            out.push(StatementText {
                offset: base + stmt.offset,
                ..stmt
            });
        }
        break;
    }
    out
}

fn main() -> ExitCode {
    // Never a Rust panic message with a backtrace: one line, and the process survives
    // where it can (statements run in tasks).
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        report(format!("Error: internal error: {msg}"));
    }));
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "serve") {
        return serve::main(argv[1..].to_vec());
    }
    let matches = <Args as clap::CommandFactory>::command().get_matches_from(argv);
    let args = match <Args as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    // -c and -f run in the order they were given, as in psql.
    let mut inputs: Vec<(usize, Input)> = Vec::new();
    if let Some(idx) = matches.indices_of("commands") {
        inputs.extend(idx.zip(args.commands.iter().cloned().map(Input::Command)));
    }
    if let Some(idx) = matches.indices_of("files") {
        inputs.extend(idx.zip(args.files.iter().cloned().map(Input::File)));
    }
    inputs.sort_by_key(|(i, _)| *i);
    let inputs: Vec<Input> = inputs.into_iter().map(|(_, i)| i).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // DataFusion handles expressions recursively; unoptimized builds need the room.
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(format!("Error: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let code = run(args, inputs, &runtime);
    // Close the catalog cleanly (redb) before exiting.
    drop(runtime);
    code
}

/// On SIGTERM or SIGHUP (a service manager stopping floe, a closed terminal), the
/// catalog file is closed cleanly before the process exits (status 128 + signal): a
/// commit in progress finishes first, nothing after it starts, and the next open needs
/// no recovery. Statements that had not reached their commit publish nothing.
fn close_on_termination(floe: &Floe, runtime: &tokio::runtime::Runtime) {
    use tokio::signal::unix::{SignalKind, signal};
    let catalog = floe.redb_catalog().clone();
    runtime.spawn(async move {
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let code = tokio::select! {
            _ = term.recv() => 128 + 15,
            _ = hup.recv() => 128 + 1,
        };
        let _ = tokio::task::spawn_blocking(move || catalog.close()).await;
        std::process::exit(code);
    });
}

/// `floe --check`: prints problems (one per line) and returns how many there were.
async fn shell_check(floe: &Floe) -> Result<usize, String> {
    let catalog = floe.redb_catalog();
    let problems = catalog.check().await.map_err(|e| e.to_string())?;
    for p in &problems {
        println!("{}: {}: {}", p.object, p.file, p.problem);
    }
    let mut tables = 0;
    let mut queue = catalog.namespaces(None).map_err(|e| e.to_string())?;
    while let Some(ns) = queue.pop() {
        queue.extend(catalog.namespaces(Some(&ns)).map_err(|e| e.to_string())?);
        tables += catalog.tables(&ns).map(|t| t.len()).unwrap_or(0);
    }
    if problems.is_empty() {
        println!(
            "warehouse {} is consistent ({tables} tables checked)",
            catalog.warehouse()
        );
    } else {
        eprintln!(
            "Error: {} problem(s) found in warehouse {}",
            problems.len(),
            catalog.warehouse()
        );
    }
    Ok(problems.len())
}

/// One `-c` or `-f` argument.
enum Input {
    Command(String),
    File(PathBuf),
}

/// Warns when the input ended inside a transaction: its staged changes are discarded
/// (as psql and DuckDB do), which a user who saw `count 1` after each INSERT should hear.
pub fn warn_open_transaction(shell: &Shell) {
    if shell.floe.session().in_transaction() {
        report(
            "floe: the input ended inside a transaction; it was rolled back and nothing of it was published",
        );
    }
}

fn run(args: Args, inputs: Vec<Input>, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let stdin_is_tty = std::io::stdin().is_terminal();
    let non_interactive = !args.commands.is_empty() || !args.files.is_empty() || !stdin_is_tty;
    let floe = runtime.block_on(async {
        match &args.warehouse {
            Some(dir) => {
                if dir.exists() && !dir.is_dir() {
                    return Err(format!("warehouse '{}' is not a directory", dir.display()));
                }
                Floe::open_with(
                    dir,
                    OpenOptions {
                        read_only: args.read_only || args.check,
                        catalog_path: args.catalog.as_ref().map(|p| p.display().to_string()),
                        properties: args.properties.iter().cloned().collect(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| error_line(&e))
            }
            None => {
                if !args.quiet {
                    report("floe: no warehouse given; using an in-memory warehouse (nothing will be saved)");
                }
                Floe::in_memory().await.map_err(|e| error_line(&e))
            }
        }
    });
    let floe = match floe {
        Ok(f) => f,
        Err(e) => {
            report(format!("Error: {e}"));
            return ExitCode::FAILURE;
        }
    };
    close_on_termination(&floe, runtime);
    if args.check {
        let problems = runtime.block_on(shell_check(&floe));
        return match problems {
            Ok(0) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                report(format!("Error: {e}"));
                ExitCode::FAILURE
            }
        };
    }
    let server = match &args.serve {
        Some(listen) => {
            let started = serve::token(args.token_file.as_ref())
                .and_then(|token| runtime.block_on(serve::background(&floe, listen, token)));
            match started {
                Ok(server) => {
                    if !args.quiet {
                        report(format!(
                            "floe: serving this warehouse as an Iceberg REST catalog at {}",
                            server.uri()
                        ));
                    }
                    Some(server)
                }
                Err(e) => {
                    report(format!("Error: {e}"));
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let code = run_shell(floe, &args, inputs, runtime, non_interactive);
    if let Some(server) = server
        && let Err(e) = runtime.block_on(server.stop())
    {
        report(format!("Error: {e}"));
    }
    code
}

/// Runs the statements given, or the interactive shell.
fn run_shell(
    floe: Floe,
    args: &Args,
    inputs: Vec<Input>,
    runtime: &tokio::runtime::Runtime,
    non_interactive: bool,
) -> ExitCode {
    let mut shell = Shell {
        floe,
        format: args.format,
        maxrows: args.maxrows,
        // On by default only at a terminal; a script or -c prints timing once it asks.
        timing: !args.quiet && !non_interactive,
        interactive: !non_interactive,
        quit: false,
        includes: Vec::new(),
        pager: !non_interactive,
        last_sql: None,
        output: None,
    };
    if non_interactive {
        let mut out = Out::new(std::io::stdout().lock());
        // Runs one script; false when the run must stop (an error, \q, or a reader that
        // went away — the last one quietly, with success).
        let run_one = |shell: &mut Shell,
                       script: &str,
                       source: Option<&str>,
                       out: &mut Out<_>|
         -> Result<bool, ExitCode> {
            let result = runtime.block_on(shell.run_script(script, source, out));
            let _ = out.flush();
            if out.closed {
                return Err(ExitCode::SUCCESS);
            }
            match result {
                Ok(()) => Ok(!shell.quit),
                Err(e) => {
                    report(format!("Error: {e}"));
                    Err(ExitCode::FAILURE)
                }
            }
        };
        let outcome = (|| -> Result<(), ExitCode> {
            if inputs.is_empty() {
                // Piped input runs statement by statement as it arrives (output flushed
                // after each), so a long or never-ending pipe streams instead of waiting
                // for EOF.
                let mut pending = String::new();
                for line in std::io::stdin().lock().lines() {
                    let line = line.map_err(|e| {
                        report(format!("Error: cannot read standard input: {e}"));
                        ExitCode::FAILURE
                    })?;
                    pending.push_str(&line);
                    pending.push('\n');
                    let trimmed = pending.trim_start();
                    let complete = trimmed.starts_with('\\')
                        || !floe::floe_sql::frontend::split::is_incomplete(&pending);
                    if !complete {
                        continue;
                    }
                    let script = std::mem::take(&mut pending);
                    if !run_one(&mut shell, &script, None, &mut out)? {
                        return Ok(());
                    }
                }
                run_one(&mut shell, &pending, None, &mut out)?;
                return Ok(());
            }
            for input in &inputs {
                let (script, source) = match input {
                    Input::Command(sql) => (sql.clone(), None),
                    Input::File(f) => (
                        std::fs::read_to_string(f).map_err(|e| {
                            report(format!("Error: cannot read script '{}': {e}", f.display()));
                            ExitCode::FAILURE
                        })?,
                        Some(f.display().to_string()),
                    ),
                };
                if !run_one(&mut shell, &script, source.as_deref(), &mut out)? {
                    return Ok(());
                }
            }
            Ok(())
        })();
        warn_open_transaction(&shell);
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    let engine = Arc::clone(shell.floe.session().engine());
    repl::run(&mut shell, engine, runtime, args.quiet)
}
