//! `smallfiles`: 2,000 single-row INSERTs leave 2,000 data files and manifests; the
//! TPC-H Q1 and Q6 query shapes over that table, before and after `rewrite_data_files` +
//! `rewrite_manifests`, against the same rows written by one INSERT.

use std::time::Instant;

use floe::Floe;

use crate::report::Report;

/// Q1's shape (group, several aggregates) and Q6's (selective filter, one sum).
const QUERIES: [(&str, &str); 2] = [
    (
        "Q1 shape",
        "SELECT k % 4 AS g, count(*) AS n, sum(r) AS sum_r, avg(r) AS avg_r, min(s) AS min_s, max(id) AS max_id FROM {T} GROUP BY k % 4 ORDER BY g",
    ),
    (
        "Q6 shape",
        "SELECT sum(r * k) AS revenue FROM {T} WHERE k BETWEEN 10 AND 500 AND r < 900",
    ),
];

async fn best(floe: &Floe, sql: &str, runs: usize) -> Result<f64, String> {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        floe.sql(sql).await.map_err(|e| floe::display_error(&e))?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report, String> {
    let inserts: usize = if quick { 300 } else { 2_000 };
    let runs = if quick { 5 } else { 15 };
    let err = |e: datafusion::error::DataFusionError| floe::display_error(&e);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let floe = Floe::open(dir.path().join("warehouse"))
        .await
        .map_err(err)?;
    for t in ["small", "one"] {
        floe.sql(&format!(
            "CREATE TABLE {t} (id BIGINT, k BIGINT, s VARCHAR, r DOUBLE)"
        ))
        .await
        .map_err(err)?;
    }
    let start = Instant::now();
    for i in 1..=inserts {
        floe.sql(&format!(
            "INSERT INTO small VALUES ({i}, {}, 'row-{i}', {})",
            i % 1000,
            i as f64 * 0.5
        ))
        .await
        .map_err(err)?;
    }
    let insert_time = start.elapsed().as_secs_f64();
    floe.sql(&format!(
        "INSERT INTO one SELECT value, value % 1000, concat('row-', CAST(value AS VARCHAR)), CAST(value AS DOUBLE) * 0.5 FROM generate_series(1, {inserts})"
    ))
    .await
    .map_err(err)?;
    let mut before = Vec::new();
    let mut reference = Vec::new();
    for (_, q) in QUERIES {
        // Same answers from both tables, or the comparison means nothing.
        let a = floe.sql(&q.replace("{T}", "small")).await.map_err(err)?;
        let b = floe.sql(&q.replace("{T}", "one")).await.map_err(err)?;
        let show = |x: &[datafusion::arrow::array::RecordBatch]| {
            datafusion::arrow::util::pretty::pretty_format_batches(x)
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        if show(&a) != show(&b) {
            return Err(format!("{q}: the two tables answer differently"));
        }
        before.push(best(&floe, &q.replace("{T}", "small"), runs).await?);
        reference.push(best(&floe, &q.replace("{T}", "one"), runs).await?);
    }
    let files_before = floe
        .sql("SELECT count(*) FROM \"small$files\"")
        .await
        .map_err(err)?;
    let start = Instant::now();
    floe.sql("CALL rewrite_data_files('small')")
        .await
        .map_err(err)?;
    floe.sql("CALL rewrite_manifests('small')")
        .await
        .map_err(err)?;
    let compaction = start.elapsed().as_secs_f64();
    let mut after = Vec::new();
    for (_, q) in QUERIES {
        after.push(best(&floe, &q.replace("{T}", "small"), runs).await?);
    }
    let files_after = floe
        .sql("SELECT count(*) FROM \"small$files\"")
        .await
        .map_err(err)?;
    let count = |b: &[datafusion::arrow::array::RecordBatch]| {
        b.first()
            .and_then(|b| {
                datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).ok()
            })
            .unwrap_or_default()
    };
    let mut report = Report::new("smallfiles", quick);
    report.notes.push(format!(
        "{inserts} single-row INSERTs took {insert_time:.1} s; data files {} before compaction, {} after; compaction took {compaction:.2} s; best of {runs}",
        count(&files_before),
        count(&files_after)
    ));
    for (i, (name, _)) in QUERIES.iter().enumerate() {
        report.lower_is_better(
            &format!("{name}, {inserts} small files"),
            before[i],
            "one INSERT",
            Some(reference[i]),
            "s",
            None,
        );
        report.lower_is_better(
            &format!("{name}, after compaction"),
            after[i],
            "one INSERT",
            Some(reference[i]),
            "s",
            Some(">= 0.83x (after <= 1.2x one INSERT)"),
        );
    }
    Ok(report)
}
