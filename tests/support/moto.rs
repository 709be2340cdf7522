//! A real S3 server for tests: moto's server mode on a loopback port, started and
//! stopped by PID (`pip install "moto[server]==5.2.1"`; `.ci/run` installs it).
//! Shared by the test crates with `#[path]`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
}

/// Whether `moto_server` can be started here.
pub fn available() -> bool {
    Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Moto {
    /// Starts a server on a free loopback port, with `env` set for it (for example
    /// `INITIAL_NO_AUTH_ACTION_COUNT` to make it check credentials); `None` when
    /// `moto_server` is not installed.
    pub fn start_with(env: &[(&str, &str)]) -> Option<Moto> {
        if !available() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("moto_server starts");
        let moto = Moto {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start within 90 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// One server for the whole test process, started on first use and killed when the
    /// process exits (an `atexit` hook: statics are never dropped); `None` when
    /// `moto_server` is not installed. Tests share it with a bucket each.
    pub fn shared() -> Option<&'static Moto> {
        static SHARED: std::sync::OnceLock<Option<Moto>> = std::sync::OnceLock::new();
        static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        unsafe extern "C" {
            fn atexit(callback: extern "C" fn()) -> i32;
            fn kill(pid: i32, signal: i32) -> i32;
        }
        extern "C" fn stop() {
            let pid = PID.load(std::sync::atomic::Ordering::SeqCst);
            if pid != 0 {
                // SAFETY: signals the child this process started (9 = SIGKILL).
                unsafe { kill(pid as i32, 9) };
            }
        }
        SHARED
            .get_or_init(|| {
                let m = Moto::start()?;
                let pid = m.child.as_ref().map(|c| c.id()).unwrap_or(0);
                PID.store(pid, std::sync::atomic::Ordering::SeqCst);
                // SAFETY: registers a plain function with the C runtime.
                unsafe { atexit(stop) };
                Some(m)
            })
            .as_ref()
    }

    /// Starts a server that accepts any credentials.
    pub fn start() -> Option<Moto> {
        Self::start_with(&[])
    }

    /// Creates a bucket (moto takes unsigned requests unless told to check them).
    pub fn create_bucket(&self, bucket: &str) {
        let status = self.request("PUT", &format!("/{bucket}"));
        assert!(status == 200, "creating bucket {bucket}: HTTP {status}");
    }

    /// Sends a body-less request; returns the HTTP status.
    pub fn request(&self, method: &str, path: &str) -> u16 {
        self.exchange(method, path).0
    }

    /// An unsigned GET (a listing, say): the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.exchange("GET", path)
    }

    fn exchange(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("moto is up");
        // HTTP/1.0: the body ends with the connection, never chunked.
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        let _ = s.read_to_string(&mut response);
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Kills the server at once (as a crash or a network failure would end it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The properties that point floe at this server.
    pub fn properties(&self) -> Vec<(String, String)> {
        [
            ("s3.endpoint", self.endpoint.as_str()),
            ("s3.access-key-id", "testing"),
            ("s3.secret-access-key", "testing"),
            ("s3.region", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The AWS_* settings that point floe at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
