//! `CALL` procedures.

use datafusion::common::{Result, plan_err};

use crate::frontend::{Session, StatementOutput};

/// Runs a `CALL` statement.
pub async fn call(_session: &Session, sql: &str) -> Result<StatementOutput> {
    plan_err!("procedures are not implemented yet: {sql}")
}
