//! `timetravel`: resolving and planning `FOR VERSION AS OF` (by snapshot id, timestamp and
//! release) on a table with 1,000 snapshots, against planning the same query on the
//! current snapshot.

use std::time::Duration;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use floe::Floe;

use crate::median;
use crate::report::Report;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the suite.
pub async fn run(quick: bool) -> datafusion::error::Result<Report> {
    let snapshots = 1000;
    let runs = if quick { 30 } else { 200 };
    let dir = tempfile::tempdir()?;
    let floe = Floe::open(dir.path()).await?;
    floe.sql("CREATE TABLE t (id BIGINT, v VARCHAR)").await?;
    for i in 0..snapshots {
        floe.sql(&format!("INSERT INTO t VALUES ({i}, 'v{i}')"))
            .await?;
        if i == 0 {
            floe.sql("CALL release('first')").await?;
        }
    }
    let batches = floe
        .sql(r#"SELECT snapshot_id, CAST(committed_at AS BIGINT) AS ms FROM "t$snapshots" ORDER BY ms LIMIT 1"#)
        .await?;
    let first = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let first_ts = batches[0].column(1).as_primitive::<Int64Type>().value(0);
    let session = floe.session();
    let mut report = Report::new("timetravel", quick);
    report.notes.push(format!("table with {snapshots} snapshots; target of time travel: the first, {} commits back; median of {runs} warm runs", snapshots - 1));

    let current_sql = "SELECT count(*) FROM t";
    // Warm caches the way a long-running session has them.
    session.physical_plan(current_sql).await?;
    let current = median(runs, || session.physical_plan(current_sql)).await;
    report.lower_is_better("plan current snapshot", ms(current), "-", None, "ms", None);

    let cases = [
        (
            "plan by snapshot id",
            format!("SELECT count(*) FROM t FOR VERSION AS OF {first}"),
        ),
        (
            "plan by release name",
            "SELECT count(*) FROM t FOR VERSION AS OF 'first'".to_string(),
        ),
        (
            "plan by timestamp",
            format!(
                "SELECT count(*) FROM t FOR TIMESTAMP AS OF TIMESTAMP '{}'",
                chrono_like(first_ts)
            ),
        ),
    ];
    for (name, sql) in cases {
        session.physical_plan(&sql).await?;
        let t = median(runs, || session.physical_plan(&sql)).await;
        report.lower_is_better(
            name,
            ms(t),
            "current-snapshot plan",
            Some(ms(current)),
            "ms",
            Some(if name.contains("timestamp") {
                "< 5 ms"
            } else {
                "< 5 ms, <= 1.2x current"
            }),
        );
    }
    let ident = floe::iceberg::TableIdent::from_strs(["public", "t"])
        .map_err(floe::floe_sql::error::iceberg_to_df)?;
    let catalog = floe.redb_catalog().clone();
    let resolve = median(runs, || {
        let c = catalog.clone();
        let i = ident.clone();
        async move { c.metadata_at_snapshot(&i, first).await }
    })
    .await;
    report.lower_is_better(
        "resolve snapshot id only (catalog)",
        ms(resolve),
        "-",
        None,
        "ms",
        None,
    );
    let check = floe
        .sql(&format!("SELECT count(*) FROM t FOR VERSION AS OF {first}"))
        .await?;
    report.notes.push(format!(
        "check: the first snapshot has {} row(s)",
        check[0].column(0).as_primitive::<Int64Type>().value(0)
    ));
    Ok(report)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) for milliseconds since the epoch.
fn chrono_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
