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
            "CREATE TABLE orders_table (id INT)",
            "-c",
            "INSERT INTO orders_table VALUES (1), (2), (3)",
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
