//! `dml`: DELETE 10 rows, UPDATE 1% of rows and MERGE 100k upserts (half matching) on a
//! 10M-row table, merge-on-read against copy-on-write in floe, and DuckDB 1.4.4 running
//! the same statements on a native DuckDB table (when python3 has `duckdb`).
//!
//! Each mode runs the three statements in sequence on its own copy of the same rows, so
//! later statements see the earlier ones' effects (merge-on-read ones read through the
//! delete files the earlier ones wrote), as a user's table would.

use std::process::Command;
use std::time::Instant;

use floe::Floe;

use crate::report::Report;

const ROWS: &str = "SELECT value AS id, value % 1000 AS k, concat('row-', CAST(value AS VARCHAR)) AS s, \
                    CAST(value AS DOUBLE) * 0.5 AS r FROM generate_series(1, {N})";

/// The statements, with `{T}` for the table and `{N}` for the row count.
const STATEMENTS: [(&str, &str); 3] = [
    (
        "DELETE 10 rows",
        "DELETE FROM {T} WHERE id IN (7, 1000003, 2000011, 3000017, 4000037, 5000053, 6000067, 7000079, 8000081, 9000097)",
    ),
    (
        "UPDATE 1% of rows",
        "UPDATE {T} SET r = r + 1 WHERE id % 100 = 0",
    ),
    (
        "MERGE 100k upserts (half matching)",
        "MERGE INTO {T} USING src ON {T}.id = src.id \
         WHEN MATCHED THEN UPDATE SET k = src.k, s = src.s, r = src.r \
         WHEN NOT MATCHED THEN INSERT VALUES (src.id, src.k, src.s, src.r)",
    ),
];

/// 50k ids that exist (every `S`th, `S` = N / 50k) and 50k that do not.
const SOURCE: &str = "SELECT value * {S} AS id, 7 AS k, 'merged' AS s, 1.5 AS r FROM generate_series(1, 50000) \
                      UNION ALL SELECT {N} + value, 8, 'inserted', 2.5 FROM generate_series(1, 50000)";

fn duckdb_times(rows: u64) -> Result<Option<Vec<f64>>, String> {
    let ready = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        return Ok(None);
    }
    let script = r#"
import sys, time, json, duckdb
n = int(sys.argv[1]); statements = json.loads(sys.argv[2]); source = sys.argv[3]
con = duckdb.connect(config={'threads': 2})
con.execute('SET enable_progress_bar = false')
con.execute(f"CREATE TABLE t AS SELECT range AS id, range % 1000 AS k, concat('row-', CAST(range AS VARCHAR)) AS s, CAST(range AS DOUBLE) * 0.5 AS r FROM range(1, {n} + 1)")
con.execute(f"CREATE TABLE src AS {source}")
out = []
for sql in statements:
    t = time.perf_counter()
    con.execute(sql).fetchall()
    out.append(time.perf_counter() - t)
out.append(con.execute("SELECT count(*) FROM t").fetchone()[0])
print(json.dumps(out))
"#;
    let statements: Vec<String> = STATEMENTS
        .iter()
        .map(|(_, sql)| sql.replace("{T}", "t").replace("{N}", &rows.to_string()))
        .collect();
    // DuckDB spells the generated series `range`; the source is plain SQL otherwise.
    let source = SOURCE
        .replace("{N}", &rows.to_string())
        .replace("{S}", &(rows / 50_000).to_string())
        .replace("generate_series(1, 50000)", "range(1, 50001)")
        .replace("value", "range");
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(rows.to_string())
        .arg(serde_json::to_string(&statements).map_err(|e| e.to_string())?)
        .arg(source)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "DuckDB failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Vec<f64> =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("DuckDB output: {e}"))?;
    Ok(Some(v))
}

/// Runs the suite.
pub async fn run(quick: bool) -> Result<Report, String> {
    let rows: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let err = |e: datafusion::error::DataFusionError| floe::display_error(&e);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let floe = Floe::open(dir.path().join("warehouse"))
        .await
        .map_err(err)?;
    let n = rows.to_string();
    floe.sql(&format!("CREATE TABLE base AS {}", ROWS.replace("{N}", &n)))
        .await
        .map_err(err)?;
    let source = SOURCE
        .replace("{N}", &n)
        .replace("{S}", &(rows / 50_000).to_string());
    floe.sql(&format!("CREATE TABLE src AS {source}"))
        .await
        .map_err(err)?;
    let mut times: Vec<[f64; 2]> = vec![[0.0; 2]; STATEMENTS.len()];
    let mut counts = Vec::new();
    for (m, (table, mode)) in [("cow", "copy-on-write"), ("mor", "merge-on-read")]
        .iter()
        .enumerate()
    {
        floe.sql(&format!("CREATE TABLE {table} AS SELECT * FROM base"))
            .await
            .map_err(err)?;
        floe.sql(&format!(
            "ALTER TABLE {table} SET TBLPROPERTIES ('write.delete.mode' = '{mode}', 'write.update.mode' = '{mode}', 'write.merge.mode' = '{mode}')"
        ))
        .await
        .map_err(err)?;
        for (i, (_, sql)) in STATEMENTS.iter().enumerate() {
            let sql = sql.replace("{T}", table).replace("{N}", &n);
            let start = Instant::now();
            floe.sql(&sql).await.map_err(err)?;
            times[i][m] = start.elapsed().as_secs_f64();
        }
        let c = floe
            .sql(&format!(
                "SELECT count(*) AS rows, sum(r) AS sum_r, count(DISTINCT s) AS distinct_s FROM {table}"
            ))
            .await
            .map_err(err)?;
        counts.push(format!(
            "{}",
            datafusion::arrow::util::pretty::pretty_format_batches(&c).map_err(|e| e.to_string())?
        ));
    }
    if counts[0] != counts[1] {
        return Err(format!(
            "copy-on-write and merge-on-read tables differ:\n{}\n{}",
            counts[0], counts[1]
        ));
    }
    let duckdb = match duckdb_times(rows) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("DuckDB: {e}");
            None
        }
    };
    let mut report = Report::new("dml", quick);
    report.notes.push(format!(
        "{rows} rows (BIGINT, BIGINT, VARCHAR, DOUBLE), statements in sequence on one copy per mode; one run each"
    ));
    for (i, (name, _)) in STATEMENTS.iter().enumerate() {
        report.lower_is_better(
            &format!("{name}: merge-on-read"),
            times[i][1],
            "floe copy-on-write",
            Some(times[i][0]),
            "s",
            (i == 0).then_some(">= 20x"),
        );
        report.lower_is_better(
            &format!("{name}: merge-on-read"),
            times[i][1],
            "DuckDB 1.4.4 native table",
            duckdb.as_ref().map(|d| d[i]),
            "s",
            (i == 2).then_some(">= 0.5x"),
        );
    }
    if let Some(d) = &duckdb {
        report.notes.push(format!(
            "DuckDB (2 threads) ends with {} rows",
            d.last().copied().unwrap_or(0.0)
        ));
    }
    Ok(report)
}
