//! The real `floe` binary, non-interactive: -c, -f, stdin, every output format, exit
//! codes, error text on stderr, --read-only, the in-memory notice.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn floe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
    c.env("NO_COLOR", "1").env("FLOE_HISTORY", "/dev/null");
    c
}

fn run(args: &[&str]) -> Output {
    floe().args(args).stdin(Stdio::null()).output().unwrap()
}

/// Runs floe with `input` piped to its standard input.
fn run_piped(args: &[&str], input: &[u8]) -> Output {
    let mut child = floe()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn warehouse() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wh").display().to_string();
    let o = run(&[
        &path,
        "-c",
        "CREATE TABLE t (id INT, name VARCHAR)",
        "-c",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b,c'), (3, NULL)",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (dir, path)
}

#[test]
fn commands_run_in_order_and_print_tables() {
    let (_d, wh) = warehouse();
    let o = run(&[
        &wh,
        "-c",
        "SELECT * FROM t ORDER BY id",
        "-c",
        "SELECT count(*) AS n FROM t",
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("│ id ┆ name │"), "{out}");
    assert!(out.contains("│ 3  ┆ NULL │"), "{out}");
    assert!(out.contains("│ n │"), "{out}");
    assert!(stderr(&o).is_empty(), "stderr: {}", stderr(&o));
}

#[test]
fn every_output_format() {
    let (_d, wh) = warehouse();
    let q = "SELECT id, name FROM t ORDER BY id";
    let fmt = |f: &str| stdout(&run(&[&wh, "--format", f, "-c", q]));
    assert_eq!(fmt("csv"), "id,name\n1,a\n2,\"b,c\"\n3,\n");
    assert_eq!(fmt("tsv"), "id\tname\n1\ta\n2\tb,c\n3\t\n");
    assert_eq!(
        fmt("json"),
        "[{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":\"b,c\"},{\"id\":3,\"name\":null}]\n"
    );
    assert_eq!(
        fmt("ndjson"),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b,c\"}\n{\"id\":3,\"name\":null}\n"
    );
    assert_eq!(
        fmt("markdown"),
        "| id | name |\n|---|---|\n| 1 | a |\n| 2 | b,c |\n| 3 | NULL |\n"
    );
    assert!(fmt("table").contains("┆ name"));
    let bad = run(&[&wh, "--format", "xml", "-c", q]);
    assert!(!bad.status.success());
}

#[test]
fn maxrows_limits_table_output() {
    let (_d, wh) = warehouse();
    let o = run(&[
        &wh,
        "--maxrows",
        "2",
        "-c",
        "SELECT * FROM generate_series(1, 10)",
    ]);
    let out = stdout(&o);
    assert!(out.contains("(10 rows, 2 shown"), "{out}");
    let all = stdout(&run(&[
        &wh,
        "--maxrows",
        "0",
        "-c",
        "SELECT * FROM generate_series(1, 50)",
    ]));
    assert!(all.contains("│ 50    │"), "{all}");
}

#[test]
fn scripts_from_files_and_stdin() {
    let (d, wh) = warehouse();
    let script = d.path().join("s.sql");
    std::fs::write(
        &script,
        "-- a script\nINSERT INTO t VALUES (4, 'd');\nSELECT count(*) AS n FROM t;\n",
    )
    .unwrap();
    let o = run(&[&wh, "--format", "csv", "-f", script.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("n\n4\n"), "{}", stdout(&o));
    let o = run_piped(&[&wh, "--format", "csv"], b"SELECT max(id) AS m\nFROM t;\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "m\n4\n");
}

#[test]
fn first_error_goes_to_stderr_with_exit_code_1() {
    let (_d, wh) = warehouse();
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS a; SELECT * FROM nope; SELECT 2 AS b",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "a\n1\n",
        "statements after the error do not run"
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: table 'floe.public.nope' not found"),
        "{err}"
    );
    // Syntax errors too, as one line without a backtrace.
    let o = run(&[&wh, "-c", "SELEC 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Error: "), "{}", stderr(&o));
    assert!(!stderr(&o).contains("backtrace"));
    let o = run(&[&wh, "-f", "/nonexistent.sql"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read script '/nonexistent.sql'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn read_only_refuses_writes_but_reads() {
    let (_d, wh) = warehouse();
    let o = run(&[
        &wh,
        "--read-only",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n FROM t",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "n\n3\n");
    let o = run(&[&wh, "--read-only", "-c", "INSERT INTO t VALUES (9, 'z')"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    let o = run(&[&wh, "--read-only", "-c", "CREATE TABLE u (x INT)"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
}

#[test]
fn no_warehouse_means_in_memory_with_a_notice() {
    let o = run(&[
        "-c",
        "CREATE TABLE t (x INT)",
        "-c",
        "INSERT INTO t VALUES (1)",
        "--format",
        "csv",
        "-c",
        "SELECT x FROM t",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "count\n1\nx\n1\n",
        "the INSERT reports its row count"
    );
    assert!(
        stderr(&o).contains("in-memory warehouse (nothing will be saved)"),
        "{}",
        stderr(&o)
    );
    let quiet = run(&["-q", "-c", "SELECT 1"]);
    assert!(stderr(&quiet).is_empty());
}

#[test]
fn a_missing_directory_is_created_and_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("new/warehouse");
    let o = run(&[fresh.to_str().unwrap(), "-c", "SELECT 1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fresh.join("catalog.redb").exists());
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "x").unwrap();
    let o = run(&[file.to_str().unwrap(), "-c", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
}

#[test]
fn a_second_process_on_the_same_warehouse_gets_a_clear_error() {
    let (_d, wh) = warehouse();
    let mut holder = floe()
        .arg(&wh)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The holder blocks reading its (piped, open) stdin with the warehouse open.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = run(&[&wh, "-c", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is already open in another process"),
        "{}",
        stderr(&o)
    );
    drop(holder.stdin.take());
    holder.wait().unwrap();
}

#[test]
fn meta_commands_work_in_scripts() {
    let (_d, wh) = warehouse();
    let o = run(&[&wh, "--format", "csv", "-c", "\\dt t*"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("public,t,BASE TABLE"), "{}", stdout(&o));
    // A view made by one process is listed by the next: by \dv, not by \dt.
    let o = run(&[&wh, "-c", "CREATE VIEW tv AS SELECT id FROM t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[&wh, "--format", "csv", "-c", "\\dv", "-c", "\\dt t*"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).matches("public,tv,VIEW").count(),
        1,
        "{}",
        stdout(&o)
    );
    let o = run(&[&wh, "--format", "csv", "-c", "SELECT count(*) AS n FROM tv"]);
    assert!(stdout(&o).contains('3'), "{}", stdout(&o));
    let o = run(&[&wh, "-c", "\\nonsense"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown meta-command '\\nonsense'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn backslash_commands_end_at_their_line_and_sql_may_start_with_a_comment() {
    let (d, wh) = warehouse();
    // `\timing on` on its own line, then SQL: two statements (it was one, and failed).
    let script = d.path().join("timed.sql");
    std::fs::write(
        &script,
        "\\timing on\nSELECT 40 + 2 AS x;\n\\timing off\nSELECT 7 AS y;\n",
    )
    .unwrap();
    let o = run(&[&wh, "--format", "csv", "-f", &script.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("x\n42\n1 row(s) in "), "{out}");
    assert!(out.ends_with("y\n7\n"), "{out}");
    // Timing is off by default outside a terminal.
    let o = run(&[&wh, "--format", "csv", "-c", "SELECT 1 AS z"]);
    assert_eq!(stdout(&o), "z\n1\n");
    // `-c` takes SQL that starts with a comment or a minus sign.
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        "-- the answer\nSELECT 42 AS a",
        "-c",
        "--\nSELECT -1 AS b",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("a\n42\nb\n-1\n"), "{}", stdout(&o));
    let o = run(&[&wh, "--format", "csv", "-c", "-- only a comment"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn backslash_o_sends_query_results_to_a_file() {
    let (d, wh) = warehouse();
    let file = d.path().join("out.csv");
    let f = file.display().to_string();
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        &format!("\\o {f}"),
        "-c",
        "SELECT 1 AS a",
        "-c",
        "SELECT 2 AS b",
        "-c",
        "\\o",
        "-c",
        "SELECT 3 AS c",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a\n1\nb\n2\n");
    assert_eq!(stdout(&o), "c\n3\n");
    // A file that cannot be written is an error naming it; results stay on the screen.
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        "\\o /nonexistent/dir/x.csv",
        "-c",
        "SELECT 4 AS d",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot write query results to '/nonexistent/dir/x.csv'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_and_version_describe_every_option() {
    let o = run(&["--help"]);
    let help = stdout(&o);
    for flag in [
        "--command",
        "--file",
        "--format",
        "--maxrows",
        "--read-only",
        "--quiet",
        "[WAREHOUSE]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    assert!(stdout(&run(&["--version"])).starts_with("floe "));
}

#[test]
fn commands_and_files_run_in_the_order_given() {
    let (d, wh) = warehouse();
    let script = d.path().join("s.sql");
    std::fs::write(&script, "SELECT 'file' AS src;").unwrap();
    let script = script.display().to_string();
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        "SELECT 'first' AS src",
        "-f",
        &script,
        "-c",
        "SELECT 'last' AS src",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "src\nfirst\nsrc\nfile\nsrc\nlast\n");
}

#[test]
fn backslash_q_ends_a_script_and_piped_input() {
    let (_d, wh) = warehouse();
    let o = run_piped(
        &[&wh, "--format", "csv"],
        b"SELECT 1 AS a;\n\\q\nINSERT INTO t VALUES (9, 'x');\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\n1\n");
    let o = run(&[
        &wh,
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS a; \\q",
        "-c",
        "SELECT 2 AS b",
    ]);
    assert_eq!(stdout(&o), "a\n1\n");
    let o = run(&[&wh, "--format", "csv", "-c", "SELECT count(*) AS n FROM t"]);
    assert_eq!(stdout(&o), "n\n3\n", "nothing after \\q ran");
}

#[test]
fn a_script_including_itself_is_an_error_not_a_crash() {
    let (d, wh) = warehouse();
    let script = d.path().join("self.sql");
    std::fs::write(&script, format!("\\i {}\n", script.display())).unwrap();
    let o = run(&[&wh, "-f", &script.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("scripts nested more than 16 deep"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let (_d, wh) = warehouse();
    let mut child = floe()
        .args([
            wh.as_str(),
            "--format",
            "csv",
            "-c",
            "SELECT * FROM generate_series(1, 2000000)",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, as `| head -1` does
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "status {:?}: {}", o.status, stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // And with standard error closed too: no panic, no abort.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' '{wh}' --format csv -c 'SELECT * FROM generate_series(1, 2000000)' 2>&1 | head -1; echo \"rc=${{PIPESTATUS:-x}}\"",
            env!("CARGO_BIN_EXE_floe")
        ))
        .env("FLOE_HISTORY", "/dev/null")
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(text.starts_with("value\n"), "{text}");
    assert!(
        !text.contains("panicked") && !text.contains("Error"),
        "{text}"
    );
}

#[test]
fn json_keeps_column_order_nulls_and_nesting() {
    let (_d, wh) = warehouse();
    let q = "SELECT 3 AS z, 1 AS a, NULL AS n, {x: 1, y: 'a'} AS s, [1, 2] AS l";
    let o = run(&[&wh, "--format", "ndjson", "-c", q]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"z\":3,\"a\":1,\"n\":null,\"s\":{\"x\":1,\"y\":\"a\"},\"l\":[1,2]}\n"
    );
    let o = run(&[
        &wh,
        "--format",
        "json",
        "-c",
        "SELECT * FROM generate_series(1, 3)",
    ]);
    assert_eq!(stdout(&o), "[{\"value\":1},{\"value\":2},{\"value\":3}]\n");
}

#[test]
fn markdown_says_when_rows_are_cut() {
    let (_d, wh) = warehouse();
    let o = run(&[
        &wh,
        "--format",
        "markdown",
        "--maxrows",
        "2",
        "-c",
        "SELECT * FROM generate_series(1, 5)",
    ]);
    let out = stdout(&o);
    assert!(out.contains("| 2 |") && !out.contains("| 3 |"), "{out}");
    assert!(out.contains("(5 rows, 2 shown"), "{out}");
}

#[test]
fn input_ending_inside_a_transaction_warns_and_publishes_nothing() {
    let (_d, wh) = warehouse();
    let o = run(&[&wh, "-c", "BEGIN", "-c", "INSERT INTO t VALUES (7, 'x')"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the input ended inside a transaction; it was rolled back"),
        "{}",
        stderr(&o)
    );
    let o = run(&[&wh, "--format", "csv", "-c", "SELECT count(*) AS n FROM t"]);
    assert_eq!(stdout(&o), "n\n3\n");
}

#[test]
fn read_only_open_after_a_kill_recovers_the_catalog() {
    let (_d, wh) = warehouse();
    let mut holder = floe()
        .arg(&wh)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    holder.kill().unwrap(); // SIGKILL: redb is not closed cleanly
    holder.wait().unwrap();
    let o = run(&[
        &wh,
        "--read-only",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n FROM t",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "n\n3\n");
}

#[test]
fn script_errors_say_which_file_and_line() {
    let (d, wh) = warehouse();
    let inner = d.path().join("inner.sql");
    std::fs::write(&inner, "SELECT 1;\n\nSELECT * FROM missing_table;\n").unwrap();
    let outer = d.path().join("outer.sql");
    std::fs::write(&outer, format!("SELECT 2;\n\\i {}\n", inner.display())).unwrap();
    let o = run(&[&wh, "-f", &inner.display().to_string()]);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Error: {}:3: ", inner.display())),
        "{err}"
    );
    // Through \i, the innermost script's location, once.
    let o = run(&[&wh, "-f", &outer.display().to_string()]);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Error: {}:3: ", inner.display())),
        "{err}"
    );
    assert_eq!(err.matches(".sql:").count(), 1, "{err}");
    // An \i that cannot run is located in the script that says it.
    std::fs::write(&outer, "SELECT 2;\n\\i /nonexistent/x.sql\n").unwrap();
    let o = run(&[&wh, "-f", &outer.display().to_string()]);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Error: {}:2: cannot read script", outer.display())),
        "{err}"
    );
}

/// Whether opening the catalog file needs redb's recovery (the file was not closed).
fn needs_recovery(catalog: &std::path::Path) -> bool {
    let hit = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = hit.clone();
    let db = redb::Builder::new()
        .set_repair_callback(move |_| seen.set(true))
        .open(catalog)
        .unwrap();
    drop(db);
    hit.get()
}

/// SIGTERM and SIGHUP close the catalog cleanly: the process exits with 128 + signal,
/// what it acknowledged is there, and the next open needs no recovery. SIGKILL (for
/// comparison) leaves a file that does.
#[test]
fn sigterm_and_sighup_close_the_catalog_cleanly() {
    use std::io::{BufRead, BufReader};
    for (signal, code) in [("-TERM", Some(143)), ("-HUP", Some(129)), ("-KILL", None)] {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        let mut child = floe()
            .arg(&wh)
            .args(["-q", "--format", "csv"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                b"CREATE TABLE t (x INT);\nINSERT INTO t VALUES (1), (2);\nSELECT 'ready' AS r;\n",
            )
            .unwrap();
        stdin.flush().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l == "ready")),
            "the shell did not run the statements"
        );
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.code(), code, "{signal}");
        assert_eq!(
            needs_recovery(&wh.join("catalog.redb")),
            code.is_none(),
            "{signal}: recovery needed?"
        );
        let o = run(&[wh.to_str().unwrap(), "-c", "SELECT count(*) FROM t"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains('2'), "{}", stdout(&o));
    }
}
