//! Embedding floe in a DataFusion application: the application keeps its own
//! `SessionContext` (its functions, tables and settings) and adds floe warehouses to it.
//!
//! * `Floe::register(&ctx, "lake")` — the warehouse as catalog `lake` of the plain
//!   context: queries, INSERT, DROP TABLE, and time travel with `floe_table(name, version)`.
//! * `Session::from_context(ctx, &floe, "lake")` — floe's whole SQL over that same
//!   context: time-travel clauses, BEGIN/COMMIT and releases, CALL, Iceberg DDL,
//!   UPDATE/DELETE/MERGE, metadata tables.
//!
//! Run: `cargo run --example embed [WAREHOUSE_DIR]` (default: a temporary directory).
//! The test suite runs it too (`tests/embedding.rs`).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use floe::{Floe, Session};

/// The application's own context: a UDF and an in-memory table.
pub fn application_context() -> Result<SessionContext> {
    let ctx = SessionContext::new();
    let with_tax = create_udf(
        "with_tax",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let prices = args[0].to_array(1)?;
            let prices = prices
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("Float64 argument");
            let taxed: Float64Array = prices.iter().map(|p| p.map(|p| p * 1.2)).collect();
            Ok(ColumnarValue::Array(Arc::new(taxed)))
        }),
    );
    ctx.register_udf(with_tax);
    let schema = Arc::new(Schema::new(vec![
        Field::new("item", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let prices = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["apple", "pear"])),
            Arc::new(Float64Array::from(vec![0.5, 0.75])),
        ],
    )?;
    ctx.register_table(
        "prices",
        Arc::new(MemTable::try_new(schema, vec![vec![prices]])?),
    )?;
    Ok(ctx)
}

/// Runs the whole tour in warehouses under `dir`; returns what it printed.
pub async fn run(dir: &Path) -> Result<String> {
    let mut out = String::new();
    let mut show = |title: &str, batches: &[RecordBatch]| -> Result<()> {
        let text = format!("{title}:\n{}\n", pretty_format_batches(batches)?);
        print!("{text}");
        out.push_str(&text);
        Ok(())
    };

    let ctx = application_context()?;
    let floe = Floe::open(dir.join("sales")).await?;
    floe.register(&ctx, "lake")?;

    // floe's SQL, in the application's context.
    let session = Session::from_context(ctx.clone(), &floe, "lake")?;
    session
        .sql(
            "CREATE TABLE IF NOT EXISTS lake.public.orders (id BIGINT NOT NULL, item VARCHAR, qty INT);
             BEGIN;
             INSERT INTO lake.public.orders VALUES (1, 'apple', 3), (2, 'pear', 5);
             CALL release('v1');
             UPDATE lake.public.orders SET qty = qty * 10;",
        )
        .await?;
    // A floe table at a release, joined with the application's table, through its UDF.
    let at_release = session
        .sql(
            "SELECT o.id, o.qty, round(with_tax(p.price) * o.qty, 2) AS cost
             FROM lake.public.orders FOR VERSION AS OF 'v1' AS o
             JOIN prices p ON p.item = o.item ORDER BY o.id",
        )
        .await?;
    show(
        "orders at release v1, costed with the application's prices",
        &at_release,
    )?;

    // Plain `ctx.sql()`: time travel through the floe_table function.
    let now = ctx
        .sql("SELECT id, qty FROM lake.public.orders ORDER BY id")
        .await?
        .collect()
        .await?;
    show("orders now (plain context)", &now)?;
    let then = ctx
        .sql("SELECT id, qty FROM floe_table('lake.public.orders', 'v1') ORDER BY id")
        .await?
        .collect()
        .await?;
    show("orders at v1 (plain context, floe_table)", &then)?;

    // A second warehouse in the same context, under its own name.
    let archive = Floe::open(dir.join("archive")).await?;
    archive.register(&ctx, "archive")?;
    let archive_session = Session::from_context(ctx.clone(), &archive, "archive")?;
    archive_session
        .sql(
            "CREATE TABLE IF NOT EXISTS archive.public.events (order_id BIGINT, what VARCHAR);
             INSERT INTO archive.public.events VALUES (1, 'created'), (2, 'created'), (1, 'shipped')",
        )
        .await?;
    let both = ctx
        .sql(
            "SELECT o.id, o.item, count(e.what) AS events
             FROM lake.public.orders o JOIN archive.public.events e ON e.order_id = o.id
             GROUP BY o.id, o.item ORDER BY o.id",
        )
        .await?
        .collect()
        .await?;
    show("two warehouses in one query", &both)?;
    Ok(out)
}

#[allow(dead_code)] // the test suite includes this file for `run`, not for `main`
#[tokio::main]
async fn main() -> Result<()> {
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("floe-embed-{}", std::process::id())),
    };
    run(&dir).await?;
    Ok(())
}
