//! The interactive shell driven through a pseudo-terminal: a multi-line statement, tab
//! completion of a table name, \d, Ctrl-C during a long-running query (the prompt comes
//! back and the shell stays usable), then \q.

use std::process::Command;
use std::time::Duration;

use rexpect::session::spawn_command;

#[test]
fn interactive_session_through_a_pty() -> Result<(), rexpect::error::Error> {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let setup = Command::new(env!("CARGO_BIN_EXE_floe"))
        .arg(&wh)
        .args([
            "-c",
            "CREATE TABLE orders_table (id INT, quantity_ordered INT)",
            "-c",
            "INSERT INTO orders_table VALUES (1, 1), (2, 2), (3, 3)",
        ])
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_floe"));
    cmd.arg(&wh)
        .env("NO_COLOR", "1")
        .env("FLOE_HISTORY", dir.path().join("history"))
        .env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000))?;
    p.exp_string("Type \\? for help.")?;
    p.exp_string("floe> ")?;

    // A statement spanning lines runs when the `;` arrives.
    p.send_line("SELECT 40")?;
    p.send_line("  + 2 AS answer;")?;
    p.exp_string("answer")?;
    p.exp_string("42")?;
    p.exp_string("floe> ")?;

    // Tab completes a table name from the live catalog.
    p.send("SELECT count(*) AS n FROM orders_t")?;
    p.send("\t")?;
    p.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(";")?;
    p.exp_string(" 3 ")?; // the count (box-drawing characters arrive as raw bytes)
    p.exp_string("floe> ")?;

    // Tab completes a column name before the line names its table (DuckDB does too).
    p.send("SELECT sum(quantity_o")?;
    p.send("\t")?;
    p.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(") AS total FROM orders_table;")?;
    p.exp_string(" 6 ")?;
    p.exp_string("floe> ")?;

    // \d lists tables.
    p.send_line("\\d")?;
    p.exp_string("orders_table")?;
    p.exp_string("floe> ")?;

    // Ctrl-C cancels a long query; the prompt comes back.
    p.send_line("SELECT count(*) FROM generate_series(1, 100000000000) AS g;")?;
    std::thread::sleep(Duration::from_millis(1500));
    p.send_control('c')?;
    p.exp_string("Cancelled.")?;
    p.exp_string("floe> ")?;

    // Ctrl-C at the prompt clears the line; the shell is still usable.
    p.send("SELECT 'half typed")?;
    p.flush()?; // `send` is line-buffered
    p.exp_string("half typed")?;
    p.send_control('c')?;
    // Type the next line only once the fresh prompt is up: keys that arrive in the same
    // read as the Ctrl-C are discarded by rustyline along with the cleared line.
    std::thread::sleep(Duration::from_millis(1000));
    p.send_line("SELECT 6 * 7 AS still_here;")?;
    p.exp_string("still_here")?;
    p.exp_string("42")?;

    p.send_line("\\q")?;
    p.exp_eof()?;

    // The warehouse is intact after the cancelled query.
    let check = Command::new(env!("CARGO_BIN_EXE_floe"))
        .arg(&wh)
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM orders_table",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout), "n\n3\n");
    Ok(())
}

/// Results taller than the terminal go through the pager ($FLOE_PAGER here: a command
/// that leaves a mark and prints what it reads); short ones, `\pager off`, and any
/// non-interactive run never do.
#[test]
fn tall_results_are_paged_at_a_terminal_only() -> Result<(), rexpect::error::Error> {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("paged");
    let pager = format!("touch {}; cat", mark.display());
    // A 24x80 terminal: rexpect's pseudo-terminal starts without a size.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "stty rows 24 cols 80; exec {} -q",
            env!("CARGO_BIN_EXE_floe")
        ),
    ])
    .env("NO_COLOR", "1")
    .env("FLOE_HISTORY", dir.path().join("history"))
    .env("FLOE_PAGER", &pager)
    .env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000))?;
    p.exp_string("floe> ")?;
    p.send_line("SELECT 1 AS short;")?;
    p.exp_string("floe> ")?;
    assert!(!mark.exists(), "a result that fits was paged");
    p.send_line("SELECT value AS tall FROM generate_series(1, 100);")?;
    p.exp_string("100")?;
    p.exp_string("floe> ")?;
    assert!(mark.exists(), "a tall result was not paged");
    std::fs::remove_file(&mark).unwrap();
    p.send_line("\\pager off")?;
    p.exp_string("Pager is off.")?;
    p.send_line("SELECT value AS tall FROM generate_series(1, 100);")?;
    p.exp_string("100")?;
    p.exp_string("floe> ")?;
    assert!(!mark.exists(), "\\pager off still paged");
    p.send_line("\\q")?;
    p.exp_eof()?;

    // Piped output never pages.
    let out = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(["-c", "SELECT value FROM generate_series(1, 500)"])
        .env("FLOE_PAGER", &pager)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("500"));
    assert!(!mark.exists(), "a piped run was paged");
    Ok(())
}

/// `\e` opens the last statement in $EDITOR and runs what comes back.
#[test]
fn backslash_e_edits_and_runs_the_last_statement() -> Result<(), rexpect::error::Error> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_floe"));
    cmd.arg("-q")
        .env("NO_COLOR", "1")
        .env("FLOE_HISTORY", dir.path().join("history"))
        .env_remove("VISUAL")
        .env("EDITOR", "sed -i s/40/41/")
        .env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000))?;
    p.exp_string("floe> ")?;
    p.send_line("SELECT 40 + 2 AS answer;")?;
    p.exp_string("42")?;
    p.exp_string("floe> ")?;
    p.send_line("\\e")?;
    p.exp_string("SELECT 41 + 2 AS answer;")?;
    p.exp_string("43")?;
    p.exp_string("floe> ")?;
    p.send_line("\\q")?;
    p.exp_eof()?;
    // Scripts have no prompt to edit at.
    let out = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args(["-c", "\\e"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\\e edits at the prompt only"));
    Ok(())
}
