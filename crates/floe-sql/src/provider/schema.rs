//! [`FloeSchemaProvider`]: the tables of one Iceberg namespace.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::TableType;
use iceberg::{NamespaceIdent, TableIdent};

use super::metadata::metadata_table;
use super::{FloeTable, schema_name};
use crate::error::to_df;
use crate::session::SessionShared;
use crate::time_travel::{VersionSpec, decode};

/// One namespace as a DataFusion schema. Live: every call reads the catalog (or, while
/// a statement is planned, the statement's catalog snapshot).
#[derive(Debug)]
pub struct FloeSchemaProvider {
    shared: Arc<SessionShared>,
    namespace: NamespaceIdent,
    name: String,
}

impl FloeSchemaProvider {
    /// A provider for `namespace` in one session.
    pub fn new(shared: Arc<SessionShared>, namespace: NamespaceIdent) -> Self {
        let name = schema_name(&namespace);
        Self {
            shared,
            namespace,
            name,
        }
    }

    fn ident(&self, table: &str) -> TableIdent {
        TableIdent::new(self.namespace.clone(), table.to_string())
    }

    async fn versioned(
        &self,
        table: &str,
        spec: VersionSpec,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let ident = self.ident(table);
        let catalog = &self.shared.engine.catalog;
        if !catalog.contains_table(&ident)
            && let Some((base, kind)) = table.rsplit_once('$')
            && catalog.contains_table(&self.ident(base))
        {
            // A metadata table at a version: "t$files" FOR VERSION AS OF ...
            let Some(provider) = Box::pin(self.versioned(base, spec)).await? else {
                return Ok(None);
            };
            let Some(t) = provider.as_any().downcast_ref::<FloeTable>() else {
                return Ok(None);
            };
            return metadata_table(catalog, table, t.iceberg_table(), t.snapshot_id(), kind)
                .await
                .map(Some);
        }
        if !catalog.contains_table(&ident) {
            if catalog.contains_view(&ident) {
                return exec_err!(
                    "time travel needs an Iceberg table; '{}.{table}' is a view (a view may itself read its tables FOR VERSION AS OF ...)",
                    self.name
                );
            }
            if self
                .shared
                .local
                .contains_key(&(self.name.clone(), table.to_string()))
            {
                return exec_err!(
                    "time travel needs an Iceberg table; '{}.{table}' is not one",
                    self.name
                );
            }
            // Say which table is missing (DataFusion would print the synthetic name).
            return plan_err!(
                "table '{}.{}.{table}' not found",
                self.shared.engine.catalog_name,
                self.name
            );
        }
        let version = match &spec {
            VersionSpec::Snapshot(id) => catalog.metadata_at_snapshot(&ident, *id).await,
            VersionSpec::Ref(name) => catalog.resolve_ref(&ident, name).await,
            VersionSpec::Timestamp(ms) => catalog.snapshot_as_of(&ident, *ms).await,
        }
        .map_err(to_df)?;
        let description = match &spec {
            VersionSpec::Snapshot(id) => format!("snapshot {id}"),
            VersionSpec::Ref(name) => format!("version '{name}'"),
            VersionSpec::Timestamp(ms) => format!("timestamp {ms}"),
        };
        Ok(Some(Arc::new(FloeTable::new(
            self.shared.clone(),
            ident,
            version.table,
            version.snapshot_id,
            version.schema,
            Some(description),
        )?)))
    }
}

#[async_trait]
impl SchemaProvider for FloeSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .engine
            .catalog
            .tables(&self.namespace)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.extend(
            self.shared
                .engine
                .catalog
                .views(&self.namespace)
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name),
        );
        for entry in self.shared.local.iter() {
            if entry.key().0 == self.name {
                names.push(entry.key().1.clone());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(local) = self
            .shared
            .local
            .get(&(self.name.clone(), name.to_string()))
        {
            return Ok(Some(local.value().clone()));
        }
        if let Some((table, spec)) = decode(name) {
            return self.versioned(table, spec).await;
        }
        let ident = self.ident(name);
        // Tables first: a name is a table or a view, never both, and tables are the hot
        // path (the view lookup reads the statement's catalog snapshot).
        let Some(table) = self.shared.resolve(&ident).await? else {
            if let Some(view) = self.shared.resolve_view(&ident)? {
                return crate::views::provider(&self.shared, &ident, &view.location)
                    .await
                    .map(Some);
            }
            // "t$snapshots" and friends.
            if let Some((base, kind)) = name.rsplit_once('$')
                && let Some(t) = self.shared.resolve(&self.ident(base)).await?
            {
                let snapshot = t.metadata().current_snapshot_id();
                return metadata_table(&self.shared.engine.catalog, name, &t, snapshot, kind)
                    .await
                    .map(Some);
            }
            return Ok(None);
        };
        let snapshot_id = table.metadata().current_snapshot_id();
        let schema = table.metadata().current_schema().clone();
        Ok(Some(Arc::new(FloeTable::new(
            self.shared.clone(),
            ident,
            table,
            snapshot_id,
            schema,
            None,
        )?)))
    }

    /// Answered from the catalog listing, without loading the table (SHOW TABLES and
    /// information_schema.tables ask this for every table).
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(local) = self
            .shared
            .local
            .get(&(self.name.clone(), name.to_string()))
        {
            return Ok(Some(local.table_type()));
        }
        let catalog = &self.shared.engine.catalog;
        let ident = self.ident(name);
        Ok(if catalog.contains_table(&ident) {
            Some(TableType::Base)
        } else if catalog.contains_view(&ident) {
            Some(TableType::View)
        } else {
            None
        })
    }

    /// Session-local registration of external tables. A plain DataFusion `CREATE TABLE`
    /// (an in-memory table) or `CREATE VIEW` is refused: in a floe schema tables are
    /// Iceberg tables and views are the warehouse's, created through floe's front end
    /// (which keeps temporary views itself).
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if table.as_any().downcast_ref::<MemTable>().is_some() {
            return exec_err!(
                "cannot create table '{name}' in floe schema '{}' through a plain DataFusion context, where it would be an in-memory table that vanishes: run CREATE TABLE through a floe session (floe::Session::from_context over this context, Floe::sql, or the floe shell) to create an Iceberg table",
                self.name
            );
        }
        if table.table_type() == TableType::View {
            return exec_err!(
                "cannot create view '{name}' in floe schema '{}' through a plain DataFusion context, where it would vanish with the context: run CREATE VIEW through a floe session (floe::Session::from_context over this context, Floe::sql, or the floe shell) to store it in the warehouse",
                self.name
            );
        }
        if table.as_any().downcast_ref::<FloeTable>().is_some() {
            return exec_err!(
                "cannot register an Iceberg table under another name; use ALTER TABLE ... RENAME TO"
            );
        }
        if self
            .shared
            .engine
            .catalog
            .contains_table(&self.ident(&name))
        {
            return exec_err!("table '{}.{name}' already exists", self.name);
        }
        Ok(self.shared.local.insert((self.name.clone(), name), table))
    }

    /// Drops a session-local table (a view, an external table). An Iceberg table is never
    /// dropped here: DataFusion also deregisters a table to replace it
    /// (`CREATE OR REPLACE VIEW`/`TABLE` through a plain context), which would drop the
    /// table and then fail to register what was to replace it. Dropping and replacing
    /// Iceberg tables is floe's front end's work.
    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some((_, t)) = self
            .shared
            .local
            .remove(&(self.name.clone(), name.to_string()))
        {
            return Ok(Some(t));
        }
        if self.shared.engine.catalog.contains_table(&self.ident(name)) {
            return exec_err!(
                "table '{}.{name}' is an Iceberg table: drop or replace it with DROP TABLE or CREATE OR REPLACE TABLE through a floe session (floe::Session::from_context over this context, Floe::sql, or the floe shell); nothing was changed",
                self.name
            );
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.shared
            .local
            .contains_key(&(self.name.clone(), name.to_string()))
            || self.shared.engine.catalog.contains_table(&self.ident(name))
            || self.shared.engine.catalog.contains_view(&self.ident(name))
    }
}
