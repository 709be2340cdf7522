//! `floe serve WAREHOUSE` (headless) and `floe WAREHOUSE --serve ADDR` (the shell and the
//! REST catalog on one live catalog), driven over plain HTTP/1.1 on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, Stdio};

fn floe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floe"));
    c.env("NO_COLOR", "1")
        .env("FLOE_HISTORY", "/dev/null")
        .env_remove("FLOE_REST_TOKEN");
    c
}

/// One HTTP/1.1 request; returns the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Reads the server's announcement from stderr; returns `HOST:PORT`.
fn served_address(stderr: &mut BufReader<ChildStderr>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "floe exited before serving"
        );
        if let Some(rest) = line.split("http://").nth(1) {
            return rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_string();
        }
    }
}

/// Starts `floe serve ARGS...` and waits for its announcement: the child, its stderr
/// (the rest of it), and the address it serves.
fn start_serve(args: &[&str]) -> (Child, BufReader<ChildStderr>, String) {
    let mut child = floe()
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = served_address(&mut stderr);
    (child, stderr, addr)
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

const CREATE_TABLE: &str = r#"{"name": "t", "schema": {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": false, "type": "long"}]}}"#;

#[test]
fn floe_serve_serves_until_sigterm_and_the_next_process_sees_its_commits() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh").display().to_string();
    let (mut child, mut stderr, addr) = start_serve(&[&wh, "--listen", "127.0.0.1:0"]);
    let (status, body) = http(&addr, "GET", "/v1/config", None, None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("POST /v1/{prefix}/transactions/commit"),
        "{body}"
    );
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/namespaces",
        Some(r#"{"namespace": ["remote"]}"#),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/namespaces/remote/tables",
        Some(CREATE_TABLE),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &addr,
        "GET",
        "/v1/namespaces/remote/tables/missing",
        None,
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NoSuchTableException"), "{body}");
    terminate(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");

    // The catalog was closed cleanly; the next process sees the REST client's table.
    let out = floe()
        .args([
            &wh,
            "--format",
            "csv",
            "-c",
            "INSERT INTO remote.t VALUES (1), (2); SELECT count(*) AS n FROM remote.t",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("n\n2\n"));
}

#[test]
fn serving_beyond_loopback_needs_a_token_and_the_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let out = floe()
        .args(["serve", &wh.display().to_string(), "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: refusing to serve on '0.0.0.0:0' without a token"),
        "{err}"
    );
    assert!(
        !wh.exists(),
        "nothing is created when the server cannot start"
    );

    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-123\n").unwrap();
    let (mut child, mut stderr, addr) = start_serve(&[
        &wh.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        &token_file.display().to_string(),
    ]);
    let (status, body) = http(&addr, "GET", "/v1/namespaces", None, None);
    assert_eq!(status, 401, "{body}");
    let (status, _) = http(&addr, "GET", "/v1/namespaces", None, Some("tok-12"));
    assert_eq!(status, 401);
    let (status, body) = http(&addr, "GET", "/v1/namespaces", None, Some("tok-123"));
    assert_eq!(status, 200, "{body}");
    terminate(&child);
    assert!(child.wait().unwrap().success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.contains("tok-123"),
        "the token is never printed: {rest}"
    );

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = floe()
        .args([
            "serve",
            &wh.display().to_string(),
            "--token-file",
            &empty.display().to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shell and the server share one live catalog: a REST client's table is visible
/// at the shell's next statement, and the shell's insert is what the client loads next.
#[test]
fn the_shell_and_the_server_share_one_live_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh").display().to_string();
    let mut child = floe()
        .args([&wh, "--serve", "127.0.0.1:0", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = served_address(&mut stderr);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut expect_line = |wanted: &str| {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "no '{wanted}'");
            if line.trim() == wanted {
                return;
            }
        }
    };

    // A table made over REST is there at the shell's next statement.
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/namespaces/public/tables",
        Some(CREATE_TABLE),
        None,
    );
    assert_eq!(status, 200, "{body}");
    writeln!(stdin, "INSERT INTO t VALUES (7), (8);").unwrap();
    writeln!(
        stdin,
        "SELECT 'seen-' || CAST(sum(id) AS VARCHAR) AS m FROM t;"
    )
    .unwrap();
    stdin.flush().unwrap();
    expect_line("seen-15");

    // The shell's insert is what the REST client loads.
    let (status, body) = http(&addr, "GET", "/v1/namespaces/public/tables/t", None, None);
    assert_eq!(status, 200, "{body}");
    let loaded: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(loaded["metadata"]["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(
        loaded["metadata"]["snapshots"][0]["summary"]["added-records"],
        "2"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
