//! floe-sql: DataFusion integration for floe (providers, scans, writes, the SQL front end).
