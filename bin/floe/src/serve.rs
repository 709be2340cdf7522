//! `floe serve WAREHOUSE` and `floe WAREHOUSE --serve ADDR`: the warehouse as an Iceberg
//! REST catalog (floe-rest), headless or beside the shell on the same live catalog.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use floe::{Floe, OpenOptions};

use crate::{error_line, parse_property, report};

/// Serve a warehouse as an Apache Iceberg REST catalog (for Spark, Trino, Flink,
/// PyIceberg and DuckDB), until Ctrl-C or SIGTERM.
#[derive(Parser, Debug)]
#[command(
    name = "floe serve",
    bin_name = "floe serve",
    version,
    about = "Serve a warehouse as an Apache Iceberg REST catalog (for Spark, Trino, Flink, PyIceberg and DuckDB), until Ctrl-C or SIGTERM.",
    long_about = None
)]
pub struct ServeArgs {
    /// Warehouse directory (created if missing) or s3://BUCKET/PREFIX (with --catalog).
    #[arg(value_name = "WAREHOUSE")]
    warehouse: PathBuf,
    /// Address to listen on. Anything but loopback requires a token.
    #[arg(long, default_value = "127.0.0.1:8181", value_name = "HOST:PORT")]
    listen: String,
    /// File holding the bearer token every request must carry (else FLOE_REST_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The catalog file (default WAREHOUSE/catalog.redb; required for an S3 warehouse).
    #[arg(long, value_name = "PATH")]
    catalog: Option<PathBuf>,
    /// A warehouse setting, such as s3.endpoint=http://127.0.0.1:9000.
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

/// The token from `--token-file`, else `FLOE_REST_TOKEN`.
pub fn token(file: Option<&PathBuf>) -> Result<Option<String>, String> {
    let token = match file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read token file '{}': {e}", f.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("FLOE_REST_TOKEN")
            .ok()
            .map(|t| t.trim().to_string()),
    };
    match token {
        Some(t) if t.is_empty() => Err(match file {
            Some(f) => format!("token file '{}' is empty", f.display()),
            None => "FLOE_REST_TOKEN is set but empty".into(),
        }),
        Some(t) if t.chars().any(|c| c.is_control() || c.is_whitespace()) => {
            Err("the REST token must be one word of printable characters".into())
        }
        other => Ok(other),
    }
}

/// Binds the listen address; a non-loopback address needs a token.
pub async fn bind(listen: &str, has_token: bool) -> Result<tokio::net::TcpListener, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("cannot resolve listen address '{listen}': {e} (expected HOST:PORT)"))?
        .collect();
    let Some(addr) = addrs.first() else {
        return Err(format!("listen address '{listen}' resolves to nothing"));
    };
    if !has_token && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(format!(
            "refusing to serve on '{listen}' without a token: anyone who can reach it could change the warehouse; give --token-file FILE or set FLOE_REST_TOKEN (or listen on 127.0.0.1)"
        ));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on '{listen}': {e}"))
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Starts serving `floe`'s catalog in the background (the shell's `--serve`); stop it
/// with [`floe_rest::Running::stop`], which finishes the commits in flight.
pub async fn background(
    floe: &Floe,
    listen: &str,
    token: Option<String>,
) -> Result<floe_rest::Running, String> {
    let listener = bind(listen, token.is_some()).await?;
    let server = floe_rest::Server::new(
        floe.redb_catalog().clone(),
        floe_rest::ServerOptions {
            token,
            ..Default::default()
        },
    );
    server.spawn(listener).map_err(|e| e.to_string())
}

/// `floe serve ...`.
pub fn main(argv: Vec<std::ffi::OsString>) -> ExitCode {
    let args = match ServeArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(format!("Error: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let token = token(args.token_file.as_ref())?;
        if args.warehouse.exists() && !args.warehouse.is_dir() {
            return Err(format!(
                "warehouse '{}' is not a directory",
                args.warehouse.display()
            ));
        }
        // Bind before opening, so a taken port leaves the warehouse untouched.
        let listener = bind(&args.listen, token.is_some()).await?;
        let floe = Floe::open_with(
            &args.warehouse,
            OpenOptions {
                catalog_path: args.catalog.as_ref().map(|p| p.display().to_string()),
                properties: args.properties.iter().cloned().collect(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| error_line(&e))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let catalog = floe.redb_catalog().clone();
        let server = floe_rest::Server::new(
            catalog.clone(),
            floe_rest::ServerOptions {
                token,
                ..Default::default()
            },
        );
        report(format!(
            "floe: serving warehouse '{}' as an Iceberg REST catalog at http://{addr} (Ctrl-C to stop)",
            args.warehouse.display()
        ));
        server
            .serve(listener, termination())
            .await
            .map_err(|e| format!("the REST server failed: {e}"))?;
        drop(server);
        let _ = tokio::task::spawn_blocking(move || catalog.close()).await;
        report("floe: stopped; every acknowledged commit is in the catalog");
        Ok::<_, String>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(format!("Error: {e}"));
            ExitCode::FAILURE
        }
    }
}
