//! # floe-sql
//!
//! DataFusion integration for floe: live catalog/schema/table providers over
//! [`floe_catalog::RedbCatalog`], Iceberg scans on DataFusion's Parquet machinery, writes
//! (INSERT, INSERT OVERWRITE, CREATE TABLE AS), copy-on-write DELETE/UPDATE, Iceberg DDL,
//! and the SQL front end (time travel, transactions, `CALL`).

pub mod ddl;
pub mod dml;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod parse;
pub mod procedures;
pub mod provider;
pub mod scan;
pub mod session;
pub mod stats;
pub mod time_travel;
pub mod types;
pub mod uuid_text;
pub mod views;
pub mod write;

pub use engine::Engine;
pub use error::display_error;
pub use session::SessionOptions;
pub use session::{Session, StatementOutput};
