//! Views: Iceberg view metadata files (the view spec, format version 1) whose current
//! location is a pointer in the catalog file, moved by [`Store::apply`](crate::store)
//! like a table's: the new metadata file is written (and made durable by the commit
//! barrier) first, then one redb transaction compare-and-swaps the pointer.
//!
//! A view's SQL is stored as written, with its dialect; floe plans it when a query
//! names the view, so it always reads the current tables (or the versions its own SQL
//! names).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{Schema, ViewFormatVersion, ViewMetadata, ViewMetadataBuilder, ViewVersion};
use iceberg::{NamespaceIdent, TableIdent};

use crate::catalog::{RedbCatalog, blocking};
use crate::error::{Error, Result};
use crate::ident::{namespace_display, table_display, validate_table};
use crate::store::{Move, ViewRecord};

/// What a view is: the SQL of its query and how to read it.
#[derive(Debug, Clone)]
pub struct ViewDefinition {
    /// The query, as written.
    pub sql: String,
    /// The SQL dialect of `sql` (floe writes `datafusion`).
    pub dialect: String,
    /// The columns the query returns, named as the view names them.
    pub schema: Schema,
    /// The namespace an unqualified table name in `sql` refers to.
    pub default_namespace: NamespaceIdent,
    /// View properties (`comment`, ...).
    pub properties: HashMap<String, String>,
}

/// Name of the `n`-th metadata file of a view at `location`.
fn metadata_file(location: &str, version: usize) -> String {
    format!(
        "{}/metadata/{version:05}-{}.metadata.json",
        location.trim_end_matches('/'),
        uuid::Uuid::new_v4()
    )
}

/// The version number a metadata file name starts with (`00003-...` → 3).
fn file_version(location: &str) -> usize {
    location
        .rsplit('/')
        .next()
        .and_then(|f| f.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn representations(sql: &str, dialect: &str) -> Result<iceberg::spec::ViewRepresentations> {
    // The representation list has no public constructor; it is built from its JSON form.
    Ok(serde_json::from_value(serde_json::json!([
        {"type": "sql", "sql": sql, "dialect": dialect}
    ]))?)
}

impl RedbCatalog {
    /// Names of the views of `namespace`.
    pub fn views(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        if !self.contains_namespace(namespace) {
            return Err(Error::NamespaceNotFound(namespace_display(namespace)));
        }
        let mut out: Vec<TableIdent> = self
            .inner
            .store
            .mirror
            .views
            .iter()
            .filter(|e| &e.key().namespace == namespace)
            .map(|e| e.key().clone())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Whether a view of that name exists.
    pub fn contains_view(&self, ident: &TableIdent) -> bool {
        self.inner.store.mirror.views.contains_key(ident)
    }

    /// The view's current pointer, if it exists.
    pub fn view_record(&self, ident: &TableIdent) -> Option<Arc<ViewRecord>> {
        self.inner
            .store
            .mirror
            .views
            .get(ident)
            .map(|e| e.value().clone())
    }

    /// The view metadata file at `location` (cached: metadata files never change).
    pub async fn view_at(&self, ident: &TableIdent, location: &str) -> Result<Arc<ViewMetadata>> {
        if let Some(md) = self.inner.views.get(location) {
            return Ok(md);
        }
        let bad = |detail: String| Error::BadMetadata {
            table: table_display(ident),
            location: location.to_string(),
            detail,
        };
        let bytes = self
            .file_io()
            .new_input(location)?
            .read()
            .await
            .map_err(|e| bad(format!("cannot read the view's metadata: {e}")))?;
        let md: ViewMetadata = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a valid Iceberg view metadata file: {e}")))?;
        let md = Arc::new(md);
        self.inner.views.insert(location.to_string(), md.clone());
        Ok(md)
    }

    /// The view's current metadata, or `None` if there is no such view.
    pub async fn view(&self, ident: &TableIdent) -> Result<Option<Arc<ViewMetadata>>> {
        match self.view_record(ident) {
            Some(record) => self.view_at(ident, &record.location).await.map(Some),
            None => Ok(None),
        }
    }

    /// Creates a view, or with `replace` gives an existing one a new version (its
    /// history kept in the metadata's version log). Refused when a table has the name,
    /// or (without `replace`) when a view does. The metadata file is written first; the
    /// pointer moves in one catalog transaction, compare-and-swapped against the version
    /// the replacement was built on.
    pub async fn create_view(
        &self,
        ident: &TableIdent,
        definition: ViewDefinition,
        replace: bool,
    ) -> Result<Arc<ViewMetadata>> {
        self.check_writable("create a view")?;
        validate_table(ident)?;
        if !self.contains_namespace(&ident.namespace) {
            return Err(Error::NamespaceNotFound(namespace_display(
                &ident.namespace,
            )));
        }
        if self.contains_table(ident) {
            return Err(Error::IsATable(table_display(ident)));
        }
        let _writing = self.write_guard();
        let ViewDefinition {
            sql,
            dialect,
            schema,
            default_namespace,
            properties,
        } = definition;
        let version = ViewVersion::builder()
            .with_schema_id(schema.schema_id())
            .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
            .with_summary(HashMap::from([(
                "engine-name".to_string(),
                "floe".to_string(),
            )]))
            .with_representations(representations(&sql, &dialect)?)
            .with_default_namespace(default_namespace)
            .build();
        let current = self.view_record(ident);
        let (metadata, location, expected) = match (current, replace) {
            (Some(_), false) => return Err(Error::ViewExists(table_display(ident))),
            (Some(record), true) => {
                let previous = self.view_at(ident, &record.location).await?;
                let mut builder = ViewMetadataBuilder::new_from_metadata((*previous).clone())
                    .set_current_version(version, schema)?;
                // Properties are replaced with the new definition's.
                let stale: Vec<String> = previous
                    .properties()
                    .keys()
                    .filter(|k| !properties.contains_key(*k))
                    .cloned()
                    .collect();
                builder = builder
                    .remove_properties(&stale)
                    .set_properties(properties)?;
                let metadata = builder.build()?.metadata;
                let location =
                    metadata_file(metadata.location(), file_version(&record.location) + 1);
                (metadata, location, Some(record.location.clone()))
            }
            (None, _) => {
                let base = self.new_table_location(ident).await;
                let metadata = ViewMetadataBuilder::new(
                    base.clone(),
                    schema,
                    version,
                    ViewFormatVersion::V1,
                    properties,
                )?
                .build()?
                .metadata;
                (metadata, metadata_file(&base, 0), None)
            }
        };
        let bytes = serde_json::to_vec(&metadata)?;
        self.file_io()
            .new_output(&location)?
            .write(bytes.into())
            .await?;
        let record = ViewRecord {
            location: location.clone(),
            uuid: metadata.uuid().to_string(),
        };
        let moves = vec![match expected {
            Some(expected) => Move::ReplaceView {
                ident: ident.clone(),
                expected,
                record,
            },
            None => Move::CreateView {
                ident: ident.clone(),
                record,
            },
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        let metadata = Arc::new(metadata);
        self.inner.views.insert(location, metadata.clone());
        Ok(metadata)
    }

    /// Drops a view from the catalog (its metadata files stay, as a dropped table's do).
    pub async fn drop_view(&self, ident: &TableIdent) -> Result<()> {
        self.check_writable("drop a view")?;
        if !self.contains_view(ident) {
            return Err(Error::ViewNotFound(table_display(ident)));
        }
        let moves = vec![Move::DropView {
            ident: ident.clone(),
            expected: None,
        }];
        blocking(&self.inner.store, move |s| s.apply(&moves, None)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_file_versions_count_up() {
        let first = metadata_file("file:///w/ns/v", 0);
        assert!(
            first.starts_with("file:///w/ns/v/metadata/00000-"),
            "{first}"
        );
        assert_eq!(file_version(&first), 0);
        assert_eq!(file_version(&metadata_file("file:///w/ns/v/", 41)), 41);
    }
}
