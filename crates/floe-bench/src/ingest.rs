//! `ingest`: `INSERT INTO t SELECT` of generated rows through floe against DataFusion's
//! `COPY ... TO` Parquet of the same rows — the cost floe adds on top of writing Parquet
//! (field ids, statistics, manifests, the durable commit).

use std::time::Instant;

use datafusion::prelude::SessionContext;
use floe::Floe;

use crate::report::Report;

const QUERY: &str = "SELECT value AS id, value % 1000 AS k, concat('row-', CAST(value AS VARCHAR)) AS s, \
                     CAST(value AS DOUBLE) * 0.5 AS r FROM generate_series(1, {N})";

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

/// Runs the suite.
pub async fn run(quick: bool) -> datafusion::error::Result<Report> {
    let rows: u64 = if quick { 2_000_000 } else { 10_000_000 };
    let runs = if quick { 1 } else { 3 };
    let query = QUERY.replace("{N}", &rows.to_string());
    let dir = tempfile::tempdir()?;
    let mut report = Report::new("ingest", quick);

    let mut best_copy = f64::MAX;
    let ctx = SessionContext::new();
    for r in 0..runs {
        let out = dir.path().join(format!("copy-{r}"));
        std::fs::create_dir_all(&out)?;
        let start = Instant::now();
        ctx.sql(&format!(
            "COPY ({query}) TO '{}/' STORED AS PARQUET",
            out.display()
        ))
        .await?
        .collect()
        .await?;
        best_copy = best_copy.min(start.elapsed().as_secs_f64());
        if r == 0 {
            report
                .notes
                .push(format!("DataFusion COPY wrote {} bytes", dir_bytes(&out)));
        }
    }

    let floe = Floe::open(dir.path().join("warehouse")).await?;
    let mut best_floe = f64::MAX;
    for r in 0..runs {
        floe.sql(&format!(
            "CREATE TABLE t{r} (id BIGINT, k BIGINT, s VARCHAR, r DOUBLE)"
        ))
        .await?;
        let start = Instant::now();
        floe.sql(&format!("INSERT INTO t{r} {query}")).await?;
        best_floe = best_floe.min(start.elapsed().as_secs_f64());
    }
    report.notes.push(format!(
        "{rows} rows (BIGINT, BIGINT, VARCHAR, DOUBLE); best of {runs}; floe warehouse holds {} bytes",
        dir_bytes(&dir.path().join("warehouse"))
    ));
    report.higher_is_better(
        "INSERT INTO ... SELECT (durable commit)",
        rows as f64 / best_floe,
        "DataFusion COPY TO parquet",
        Some(rows as f64 / best_copy),
        "rows/s",
        Some(">= 0.8x"),
    );
    Ok(report)
}
