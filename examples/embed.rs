//! Embedding floe: open a warehouse, write, read, time travel, and plug the catalog
//! into an existing DataFusion context.
//!
//! Run: `cargo run --example embed [WAREHOUSE_DIR]` (default: a temporary directory).

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("floe-embed-{}", std::process::id())),
    };
    let floe = floe::Floe::open(&dir).await?;
    floe.sql("CREATE TABLE IF NOT EXISTS orders (id BIGINT NOT NULL, item VARCHAR, qty INT)")
        .await?;
    floe.sql("INSERT INTO orders VALUES (1, 'apple', 3), (2, 'pear', 5)")
        .await?;
    let first = floe
        .redb_catalog()
        .table_record(&floe::iceberg::TableIdent::from_strs(["public", "orders"]).unwrap())
        .map_err(floe::floe_sql::error::to_df)?
        .snapshot_id
        .unwrap_or_default();
    floe.sql("UPDATE orders SET qty = qty + 1 WHERE item = 'apple'")
        .await?;

    let now = floe.sql("SELECT * FROM orders ORDER BY id").await?;
    println!("now:\n{}", pretty_format_batches(&now)?);
    let then = floe
        .sql(&format!(
            "SELECT * FROM orders FOR VERSION AS OF {first} ORDER BY id"
        ))
        .await?;
    println!("as of snapshot {first}:\n{}", pretty_format_batches(&then)?);

    // The same catalog inside an application's own DataFusion context.
    let ctx = SessionContext::new();
    floe.register(&ctx, "lake")?;
    let total = ctx
        .sql("SELECT sum(qty) AS total FROM lake.public.orders")
        .await?
        .collect()
        .await?;
    println!(
        "from the application's context:\n{}",
        pretty_format_batches(&total)?
    );
    Ok(())
}
