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
    let mut child = floe()
        .args([&wh, "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT max(id) AS m\nFROM t;\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
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
    let o = run(&[&wh, "-c", "\\nonsense"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown meta-command '\\nonsense'"),
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
