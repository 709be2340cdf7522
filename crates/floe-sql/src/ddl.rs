//! DDL on Iceberg tables: CREATE/DROP SCHEMA, CREATE TABLE (with partition transforms,
//! properties, and AS SELECT/VALUES), DROP TABLE [PURGE], ALTER TABLE.
//!
//! DataFusion turns every non-external CREATE TABLE into an in-memory table and rejects
//! `PARTITIONED BY`, so floe handles these statements on the SQL syntax tree itself and
//! leaves statements for other catalogs to DataFusion.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, ColumnDef, CreateTableOptions,
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    RenameTableNameKind, SqlOption, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use floe_catalog::SnapshotChange;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};
use iceberg::{NamespaceIdent, TableCreation, TableIdent, TableRequirement, TableUpdate};

use crate::error::{iceberg_to_df, to_df};
use crate::session::Session;
use crate::types;
use crate::write::write_plan;

/// Extras of a CREATE TABLE that DataFusion's parser cannot take, cut out of the text.
#[derive(Debug, Default, Clone)]
pub struct CreateExtras {
    /// `PARTITIONED BY (...)` items, as SQL text.
    pub partitioned_by: Option<String>,
}

/// Cuts `PARTITIONED BY (...)` and `USING iceberg` out of a CREATE TABLE statement (before
/// any `AS <query>`), returning the remaining text and what was cut.
pub fn extract_create_extras(sql: &str) -> Result<(String, CreateExtras)> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return Ok((sql.to_string(), CreateExtras::default()));
    };
    let offsets = line_offsets(sql);
    let pos = |l: datafusion::sql::sqlparser::tokenizer::Location| -> usize {
        let line = (l.line.max(1) - 1) as usize;
        let start = *offsets.get(line).unwrap_or(&sql.len());
        sql[start..]
            .char_indices()
            .nth((l.column.max(1) - 1) as usize)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    let sig: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let is = |i: usize, kw: Keyword| {
        sig.get(i).is_some_and(
            |t| matches!(&t.token, Token::Word(w) if w.keyword == kw && w.quote_style.is_none()),
        )
    };
    // CREATE EXTERNAL TABLE ... PARTITIONED BY (col type) is DataFusion's hive-style
    // partitioning of a listing table: left to DataFusion untouched.
    if sig.iter().take(6).any(
        |t| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::EXTERNAL && w.quote_style.is_none()),
    ) {
        return Ok((sql.to_string(), CreateExtras::default()));
    }
    let mut extras = CreateExtras::default();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < sig.len() {
        match &sig[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            // The query of CREATE TABLE ... AS <query> starts here: stop.
            if is(i, Keyword::AS)
                && (is(i + 1, Keyword::SELECT)
                    || is(i + 1, Keyword::WITH)
                    || is(i + 1, Keyword::VALUES)
                    || matches!(sig.get(i + 1).map(|t| &t.token), Some(Token::LParen)))
            {
                break;
            }
            if is(i, Keyword::PARTITIONED) && is(i + 1, Keyword::BY) {
                if !matches!(sig.get(i + 2).map(|t| &t.token), Some(Token::LParen)) {
                    return plan_err!("PARTITIONED BY must be followed by a parenthesised list");
                }
                let mut d = 0;
                let mut j = i + 2;
                while j < sig.len() {
                    match sig[j].token {
                        Token::LParen => d += 1,
                        Token::RParen => {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= sig.len() {
                    return plan_err!("unbalanced parentheses in PARTITIONED BY");
                }
                let inner = &sql[pos(sig[i + 2].span.end)..pos(sig[j].span.start)];
                extras.partitioned_by = Some(inner.to_string());
                cuts.push((pos(sig[i].span.start), pos(sig[j].span.end)));
                i = j + 1;
                continue;
            }
            if is(i, Keyword::USING)
                && let Some(Token::Word(w)) = sig.get(i + 1).map(|t| &t.token)
            {
                if !w.value.eq_ignore_ascii_case("iceberg") {
                    return plan_err!(
                        "floe tables are Iceberg tables; USING {} is not supported (use CREATE EXTERNAL TABLE ... STORED AS for other formats)",
                        w.value
                    );
                }
                cuts.push((pos(sig[i].span.start), pos(sig[i + 1].span.end)));
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (a, b) in cuts {
        out.push_str(&sql[last..a]);
        out.push(' ');
        last = b;
    }
    out.push_str(&sql[last..]);
    Ok((out, extras))
}

fn line_offsets(sql: &str) -> Vec<usize> {
    let mut v = vec![0];
    for (i, c) in sql.char_indices() {
        if c == '\n' {
            v.push(i + 1);
        }
    }
    v
}

/// Identifier normalisation as DataFusion does it: unquoted names are lower-cased.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// A table name resolved against the session defaults.
#[derive(Debug, Clone)]
pub struct TableName {
    /// Catalog name.
    pub catalog: String,
    /// Schema name (namespace levels joined with dots).
    pub schema: String,
    /// Table name.
    pub table: String,
}

impl TableName {
    /// The Iceberg identifier.
    pub fn ident(&self) -> Result<TableIdent> {
        let Some(ns) = crate::provider::namespace_of(&self.schema) else {
            return plan_err!("invalid schema name '{}'", self.schema);
        };
        Ok(TableIdent::new(ns, self.table.clone()))
    }

    /// `schema.table`.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

pub(crate) fn name_parts(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => Ok(normalize(i)),
            None => plan_err!("unsupported name '{name}'"),
        })
        .collect()
}

impl Session {
    /// Resolves `[catalog.][schema.]table` with the session's defaults.
    pub fn table_name(&self, name: &ObjectName) -> Result<TableName> {
        self.table_name_of(&name_parts(name)?).ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(format!(
                "table name '{name}' has too many parts"
            ))
        })
    }

    /// [`Session::table_name`] for normalised name parts; `None` for more than three.
    pub(crate) fn table_name_of(&self, parts: &[String]) -> Option<TableName> {
        let (default_catalog, default_schema) = self.defaults();
        Some(match parts {
            [t] => TableName {
                catalog: default_catalog,
                schema: default_schema,
                table: t.clone(),
            },
            [s, t] => TableName {
                catalog: default_catalog,
                schema: s.clone(),
                table: t.clone(),
            },
            [c, s, t] => TableName {
                catalog: c.clone(),
                schema: s.clone(),
                table: t.clone(),
            },
            _ => return None,
        })
    }

    /// Resolves `[catalog.]schema`.
    pub fn schema_name(&self, name: &ObjectName) -> Result<(String, String)> {
        let parts = name_parts(name)?;
        let (default_catalog, _) = self.defaults();
        Ok(match parts.as_slice() {
            [s] => (default_catalog, s.clone()),
            [c, s] => (c.clone(), s.clone()),
            _ => return plan_err!("schema name '{name}' has too many parts"),
        })
    }

    pub(crate) fn defaults(&self) -> (String, String) {
        let state = self.ctx.state();
        let options = state.config().options();
        (
            options.catalog.default_catalog.clone(),
            options.catalog.default_schema.clone(),
        )
    }

    /// Whether `catalog` is this session's floe catalog.
    pub fn is_floe(&self, catalog: &str) -> bool {
        catalog == self.shared.engine.catalog_name
    }

    pub(crate) fn reject_in_transaction(&self, what: &str) -> Result<()> {
        if self.shared.in_transaction() {
            return plan_err!(
                "{what} is not allowed inside a transaction (BEGIN ... COMMIT stages data changes only); COMMIT or ROLLBACK first"
            );
        }
        Ok(())
    }

    // ------------------------------------------------------------------ schemas

    pub(crate) async fn create_schema(
        &self,
        name: &ObjectName,
        if_not_exists: bool,
        props: HashMap<String, String>,
    ) -> Result<()> {
        self.reject_in_transaction("CREATE SCHEMA")?;
        let (_, schema) = self.schema_name(name)?;
        let Some(ns) = crate::provider::namespace_of(&schema) else {
            return plan_err!("invalid schema name '{schema}'");
        };
        if schema == crate::provider::metadata::SYSTEM_SCHEMA {
            return plan_err!("schema name 'system' is reserved for floe's system tables");
        }
        let catalog = &self.shared.engine.catalog;
        if catalog.contains_namespace(&ns) {
            if if_not_exists {
                return Ok(());
            }
            return plan_err!("schema '{schema}' already exists");
        }
        catalog.create_ns(&ns, props).await.map_err(to_df)?;
        Ok(())
    }

    pub(crate) async fn drop_schema(
        &self,
        name: &ObjectName,
        if_exists: bool,
        cascade: bool,
    ) -> Result<()> {
        self.reject_in_transaction("DROP SCHEMA")?;
        let (_, schema) = self.schema_name(name)?;
        let Some(ns) = crate::provider::namespace_of(&schema) else {
            return plan_err!("invalid schema name '{schema}'");
        };
        let catalog = &self.shared.engine.catalog;
        if schema == crate::provider::metadata::SYSTEM_SCHEMA {
            return plan_err!(
                "schema 'system' holds floe's system tables (releases, commits) and cannot be dropped"
            );
        }
        if !catalog.contains_namespace(&ns) {
            if if_exists {
                return Ok(());
            }
            return plan_err!("schema '{schema}' does not exist");
        }
        if cascade {
            catalog.drop_ns_cascade(&ns).await.map_err(to_df)
        } else {
            catalog.drop_ns(&ns).await.map_err(|e| match e {
                floe_catalog::Error::NamespaceNotEmpty { namespace, what } => {
                    datafusion::error::DataFusionError::Plan(format!(
                        "schema '{namespace}' is not empty: it still contains {what}; use DROP SCHEMA ... CASCADE to drop it with its tables"
                    ))
                }
                other => to_df(other),
            })
        }
    }

    // ------------------------------------------------------------------ tables

    pub(crate) async fn drop_tables(
        &self,
        names: &[ObjectName],
        if_exists: bool,
        purge: bool,
    ) -> Result<()> {
        self.reject_in_transaction("DROP TABLE")?;
        let catalog = &self.shared.engine.catalog;
        let mut idents = Vec::new();
        for name in names {
            let t = self.table_name(name)?;
            let ident = t.ident()?;
            if let Some(local) = self
                .shared
                .local
                .remove(&(t.schema.clone(), t.table.clone()))
            {
                drop(local);
                continue;
            }
            if !catalog.contains_table(&ident) {
                if catalog.contains_view(&ident) {
                    return plan_err!("'{}' is a view, not a table: use DROP VIEW", t.display());
                }
                if if_exists {
                    continue;
                }
                return plan_err!("table '{}' does not exist", t.display());
            }
            idents.push(ident);
        }
        for ident in idents {
            if purge {
                catalog.purge(&ident).await.map_err(to_df)?;
            } else {
                catalog.drop(&ident).await.map_err(to_df)?;
            }
        }
        Ok(())
    }

    /// CREATE TABLE on the floe catalog.
    pub(crate) async fn create_table(
        &self,
        ct: &ast::CreateTable,
        extras: &CreateExtras,
    ) -> Result<u64> {
        self.reject_in_transaction("CREATE TABLE")?;
        let name = self.table_name(&ct.name)?;
        let ct = &apply_constraints(ct, &name.display())?;
        let ident = name.ident()?;
        if ct.or_replace && ct.if_not_exists {
            return plan_err!(
                "CREATE OR REPLACE TABLE and IF NOT EXISTS cannot be used together (table '{}')",
                name.display()
            );
        }
        if ct.external || ct.temporary || ct.like.is_some() || ct.clone.is_some() {
            return plan_err!(
                "unsupported CREATE TABLE form for Iceberg table '{}'",
                name.display()
            );
        }
        let catalog = &self.shared.engine.catalog;
        check_new_table_name(&name.schema, &name.table)?;
        if !catalog.contains_namespace(&ident.namespace) {
            return plan_err!("schema '{}' does not exist", name.schema);
        }
        if (catalog.contains_table(&ident) && !ct.or_replace)
            || self
                .shared
                .local
                .contains_key(&(name.schema.clone(), name.table.clone()))
        {
            if ct.if_not_exists {
                return Ok(0);
            }
            return plan_err!("table '{}' already exists", name.display());
        }
        let options = table_options(ct, &name.display())?;
        let properties = options.properties;
        let format_version = options.format_version;
        let partition_items = partition_items(ct, extras, &options.partitioning)?;
        // Until the commit returns, the data files written for AS SELECT are named by no
        // metadata.
        let _writing = catalog.write_guard();
        if ct.or_replace && catalog.contains_table(&ident) {
            return self
                .replace_table(
                    ct,
                    &name,
                    &ident,
                    properties,
                    format_version,
                    &partition_items,
                )
                .await;
        }

        let (schema, plan) = self.new_table_shape(ct, &name).await?;
        let spec = partition_spec(&schema, &partition_items)?;
        let creation = TableCreation::builder()
            .name(name.table.clone())
            .schema(schema)
            .partition_spec(spec)
            .properties(properties)
            .location_opt(options.location.clone())
            .format_version(format_version.unwrap_or(iceberg::spec::FormatVersion::V2))
            .build();
        let Some(plan) = plan else {
            catalog
                .create(&ident.namespace, creation)
                .await
                .map_err(to_df)?;
            return Ok(0);
        };
        let staged = catalog
            .stage_create(&ident.namespace, creation)
            .await
            .map_err(to_df)?;
        let (files, rows, produced) = self.write_first_snapshot(&staged, &name, &plan).await?;
        if let Err(e) = catalog.commit_create(&staged, produced.updates).await {
            crate::write::delete_files(&staged, &files).await;
            return Err(to_df(e));
        }
        Ok(rows)
    }

    /// The Iceberg schema of a table being created (from its column list, or from its
    /// query's result, cast to the column list when both are given) and the query's plan.
    async fn new_table_shape(
        &self,
        ct: &ast::CreateTable,
        name: &TableName,
    ) -> Result<(Schema, Option<LogicalPlan>)> {
        let Some(query) = &ct.query else {
            if ct.columns.is_empty() {
                return plan_err!(
                    "CREATE TABLE '{}' needs columns or AS <query>",
                    name.display()
                );
            }
            let (schema, defaults) =
                types::schema_from_column_defs(&normalized_columns(&ct.columns))?;
            if let Some((col, _)) = defaults.first() {
                return plan_err!(
                    "column defaults are not supported for Iceberg tables (column '{col}' of '{}')",
                    name.display()
                );
            }
            return Ok((schema, None));
        };
        let mut query = query.clone();
        if !ct.columns.is_empty() {
            type_values_by_columns(&mut query, &ct.columns)?;
        }
        let plan = crate::frontend::names::plan_with_unique_names(
            &self.ctx.state(),
            DFStatement::Statement(Box::new(ast::Statement::Query(query))),
            self.friendly_sql(),
        )
        .await?;
        let plan = if ct.columns.is_empty() {
            plan
        } else {
            cast_to_columns(plan, &ct.columns)?
        };
        // NOT NULL comes only from a column list (as in Spark, Trino and DuckDB), never
        // from what the query happened to produce (a literal, a NOT NULL source column):
        // without a list every column is nullable; with one, exactly the columns it marks
        // NOT NULL (or PRIMARY KEY) are required, and writing the rows checks them.
        let arrow = plan.schema().as_arrow();
        let required: Vec<bool> = if ct.columns.is_empty() {
            vec![false; arrow.fields().len()]
        } else {
            ct.columns
                .iter()
                .map(|c| {
                    c.options.iter().any(|o| {
                        matches!(
                            o.option,
                            ast::ColumnOption::NotNull | ast::ColumnOption::PrimaryKey(_)
                        )
                    })
                })
                .collect()
        };
        let fields: Vec<_> = arrow
            .fields()
            .iter()
            .zip(required.iter().chain(std::iter::repeat(&false)))
            .map(|(f, required)| f.as_ref().clone().with_nullable(!required))
            .collect();
        let arrow = datafusion::arrow::datatypes::Schema::new_with_metadata(
            fields,
            arrow.metadata().clone(),
        );
        let schema = types::arrow_schema_to_iceberg(&arrow)?;
        let schema = if ct.columns.is_empty() {
            schema
        } else {
            with_declared_uuids(schema, &ct.columns)?
        };
        Ok((schema, Some(plan)))
    }

    /// Writes `plan`'s rows as data files of `table` (a table being created or replaced,
    /// with no current snapshot) and produces the snapshot holding them. On failure the
    /// written files are deleted.
    async fn write_first_snapshot(
        &self,
        table: &iceberg::table::Table,
        name: &TableName,
        plan: &LogicalPlan,
    ) -> Result<(
        Vec<iceberg::spec::DataFile>,
        u64,
        floe_catalog::ProducedSnapshot,
    )> {
        let physical: Arc<dyn ExecutionPlan> = self.ctx.state().create_physical_plan(plan).await?;
        let (files, rows) =
            write_plan(table, &name.display(), physical, self.ctx.task_ctx()).await?;
        let change = SnapshotChange {
            added: files.clone(),
            ..Default::default()
        };
        let produced = crate::write::commit::produce(&self.shared, table, change).await?;
        Ok((files, rows, produced))
    }

    /// CREATE OR REPLACE TABLE of an existing Iceberg table, with Iceberg's replace
    /// semantics (as Spark and Trino): ONE commit gives the table its new schema (see
    /// [`with_replacement_field_ids`]), partition spec and properties, and a new current snapshot holding only
    /// the query's rows (no parent; none at all without AS) — or changes nothing if it
    /// fails. The table keeps its identity and history: earlier snapshots and releases
    /// still read with their own schema.
    async fn replace_table(
        &self,
        ct: &ast::CreateTable,
        name: &TableName,
        ident: &TableIdent,
        properties: HashMap<String, String>,
        format_version: Option<iceberg::spec::FormatVersion>,
        partition_items: &[PartitionItem],
    ) -> Result<u64> {
        let catalog = &self.shared.engine.catalog;
        let base = catalog.table(ident).await.map_err(to_df)?;
        let md = base.metadata();
        let upgrade = match format_version {
            Some(v) => format_upgrade(&name.display(), md, v)?,
            None => None,
        };
        let (schema, plan) = self.new_table_shape(ct, name).await?;
        let schema = with_replacement_field_ids(&schema, md.current_schema(), md.last_column_id())?;
        let spec = partition_spec(&schema, partition_items)?;
        let mut updates: Vec<TableUpdate> = upgrade.into_iter().collect();
        updates.extend([
            TableUpdate::AddSchema { schema },
            TableUpdate::SetCurrentSchema { schema_id: -1 },
            TableUpdate::AddSpec { spec },
            TableUpdate::SetDefaultSpec { spec_id: -1 },
        ]);
        if !properties.is_empty() {
            updates.push(TableUpdate::SetProperties {
                updates: properties,
            });
        }
        if md.current_snapshot_id().is_some() {
            updates.push(TableUpdate::RemoveSnapshotRef {
                ref_name: iceberg::spec::MAIN_BRANCH.to_string(),
            });
        }
        // Checked at commit: nobody changed the table since it was read here.
        let requirements = vec![
            TableRequirement::UuidMatch { uuid: md.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: iceberg::spec::MAIN_BRANCH.to_string(),
                snapshot_id: md.current_snapshot_id(),
            },
            TableRequirement::CurrentSchemaIdMatch {
                current_schema_id: md.current_schema_id(),
            },
            TableRequirement::LastAssignedFieldIdMatch {
                last_assigned_field_id: md.last_column_id(),
            },
            TableRequirement::DefaultSpecIdMatch {
                default_spec_id: md.default_partition_spec_id(),
            },
            TableRequirement::LastAssignedPartitionIdMatch {
                last_assigned_partition_id: md.last_partition_id(),
            },
        ];
        let Some(plan) = plan else {
            catalog
                .commit_table(ident, requirements, updates)
                .await
                .map_err(to_df)?;
            return Ok(0);
        };
        // The replaced table as it will be, to write the rows with its schema and spec.
        let replaced = catalog
            .uncommitted_table(&base, updates.clone())
            .map_err(to_df)?;
        let (files, rows, produced) = self.write_first_snapshot(&replaced, name, &plan).await?;
        updates.extend(produced.updates);
        if let Err(e) = catalog.commit_table(ident, requirements, updates).await {
            crate::write::delete_files(&replaced, &files).await;
            return Err(to_df(e));
        }
        Ok(rows)
    }

    /// ALTER TABLE on the floe catalog.
    pub(crate) async fn alter_table(&self, alter: &ast::AlterTable) -> Result<()> {
        self.reject_in_transaction("ALTER TABLE")?;
        let name = self.table_name(&alter.name)?;
        let ident = name.ident()?;
        let catalog = &self.shared.engine.catalog;
        if !catalog.contains_table(&ident) {
            if alter.if_exists {
                return Ok(());
            }
            return plan_err!("table '{}' does not exist", name.display());
        }
        for op in &alter.operations {
            match op {
                AlterTableOperation::RenameTable { table_name } => {
                    let target = match table_name {
                        RenameTableNameKind::To(n) | RenameTableNameKind::As(n) => n,
                    };
                    let parts = name_parts(target)?;
                    let dest = match parts.as_slice() {
                        [t] => TableIdent::new(ident.namespace.clone(), t.clone()),
                        _ => self.table_name(target)?.ident()?,
                    };
                    check_new_table_name(&dest.namespace.join("."), &dest.name)?;
                    catalog.rename(&ident, &dest).await.map_err(to_df)?;
                    return Ok(());
                }
                AlterTableOperation::SetTblProperties { table_properties } => {
                    let mut props = sql_options(table_properties)?;
                    let mut updates = Vec::new();
                    let mut requirements = Vec::new();
                    // `'format-version' = '3'` upgrades the table, as in Spark; it is not
                    // a property.
                    if let Some(v) = props.remove("format-version") {
                        let table = catalog.table(&ident).await.map_err(to_df)?;
                        let md = table.metadata();
                        let wanted = parse_format_version(&name.display(), &v)?;
                        if let Some(upgrade) = format_upgrade(&name.display(), md, wanted)? {
                            requirements.push(TableRequirement::UuidMatch { uuid: md.uuid() });
                            updates.push(upgrade);
                        }
                    }
                    if !props.is_empty() {
                        updates.push(TableUpdate::SetProperties { updates: props });
                    }
                    if !updates.is_empty() {
                        catalog
                            .commit_table(&ident, requirements, updates)
                            .await
                            .map_err(to_df)?;
                    }
                }
                other => {
                    let table = catalog.table(&ident).await.map_err(to_df)?;
                    let md = table.metadata();
                    let current = md.current_schema();
                    let new_schema =
                        evolve_schema(current, md.last_column_id(), other, &name.display(), md)?;
                    catalog
                        .commit_table(
                            &ident,
                            vec![TableRequirement::CurrentSchemaIdMatch {
                                current_schema_id: md.current_schema_id(),
                            }],
                            vec![
                                TableUpdate::AddSchema { schema: new_schema },
                                TableUpdate::SetCurrentSchema { schema_id: -1 },
                            ],
                        )
                        .await
                        .map_err(to_df)?;
                }
            }
        }
        Ok(())
    }
}

fn normalized_columns(columns: &[ColumnDef]) -> Vec<ColumnDef> {
    columns
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.name = Ident::new(normalize(&c.name));
            c
        })
        .collect()
}

/// Casts a query's columns to the types (and names) of an explicit column list.
/// `CREATE TABLE t (cols) AS VALUES (...)`: types every value by its column, as DataFusion
/// does (it plans VALUES against the column list), so rows whose literals differ in type
/// (`'abc'` and `X'01'` for a BYTEA column) need no common type of their own. Nested
/// column types are left to [`cast_to_columns`].
fn type_values_by_columns(query: &mut ast::Query, columns: &[ColumnDef]) -> Result<()> {
    let ast::SetExpr::Values(values) = query.body.as_mut() else {
        return Ok(());
    };
    let arrow = column_list_arrow_schema(columns)?;
    let targets: Vec<Option<String>> = arrow
        .fields()
        .iter()
        .map(|f| (!f.data_type().is_nested()).then(|| f.data_type().to_string()))
        .collect();
    for row in values.rows.iter_mut() {
        if row.len() != targets.len() {
            // cast_to_columns reports the mismatch.
            continue;
        }
        for (cell, target) in row.iter_mut().zip(&targets) {
            let Some(target) = target else { continue };
            let text = format!("arrow_cast(({cell}), {})", types::sql_string(target));
            *cell = Parser::new(&GenericDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
                .map_err(|e| {
                    datafusion::common::plan_datafusion_err!("cannot type value {cell}: {e}")
                })?;
        }
    }
    Ok(())
}

/// The Arrow schema a CREATE TABLE column list declares (through its Iceberg schema, so
/// the types are those the table will have, as DataFusion sees them: a top-level `UUID`
/// column is canonical text, `crate::uuid_text`).
fn column_list_arrow_schema(columns: &[ColumnDef]) -> Result<datafusion::arrow::datatypes::Schema> {
    let (schema, _) = types::schema_from_column_defs(&normalized_columns(columns))?;
    let arrow = iceberg::arrow::schema_to_arrow_schema(&schema).map_err(iceberg_to_df)?;
    Ok(crate::uuid_text::with_text_uuids(&schema, arrow))
}

/// `schema` (a CTAS table's, made from its query's Arrow result) with the top-level
/// columns the column list declares `UUID` typed `uuid` again: the query delivers them as
/// text (`column_list_arrow_schema`), which alone would make them `string`.
fn with_declared_uuids(schema: Schema, columns: &[ColumnDef]) -> Result<Schema> {
    let (declared, _) = types::schema_from_column_defs(&normalized_columns(columns))?;
    let declared = declared.as_struct().fields();
    if !declared
        .iter()
        .any(|d| crate::uuid_text::is_uuid(&d.field_type))
    {
        return Ok(schema);
    }
    // Both schemas list the same columns in the same order (`cast_to_columns` checked the
    // count), and uuid is primitive, so no nested field ids shift.
    let fields: Vec<Arc<NestedField>> = schema
        .as_struct()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match declared.get(i) {
            Some(d) if crate::uuid_text::is_uuid(&d.field_type) => {
                let mut f = f.as_ref().clone();
                f.field_type = Box::new(Type::Primitive(PrimitiveType::Uuid));
                Arc::new(f)
            }
            _ => f.clone(),
        })
        .collect();
    Schema::builder()
        .with_fields(fields)
        .with_identifier_field_ids(schema.identifier_field_ids())
        .build()
        .map_err(iceberg_to_df)
}

fn cast_to_columns(plan: LogicalPlan, columns: &[ColumnDef]) -> Result<LogicalPlan> {
    let arrow = column_list_arrow_schema(columns)?;
    let input_fields = plan.schema().fields().len();
    if input_fields != arrow.fields().len() {
        return plan_err!(
            "the query returns {input_fields} columns but the table declares {}",
            arrow.fields().len()
        );
    }
    let exprs: Vec<datafusion::logical_expr::Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .zip(arrow.fields())
        .map(|(c, f)| {
            datafusion::logical_expr::cast(datafusion::logical_expr::col(c), f.data_type().clone())
                .alias(f.name())
        })
        .collect();
    datafusion::logical_expr::LogicalPlanBuilder::from(plan)
        .project(exprs)?
        .build()
}

fn sql_value_string(e: &SqlExpr) -> Result<String> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            Value::Number(n, _) => Ok(n.clone()),
            Value::Boolean(b) => Ok(b.to_string()),
            other => plan_err!("unsupported property value {other}"),
        },
        SqlExpr::Identifier(i) => Ok(i.value.clone()),
        other => plan_err!("unsupported property value {other}"),
    }
}

fn sql_options(options: &[SqlOption]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for o in options {
        match o {
            SqlOption::KeyValue { key, value } => {
                out.insert(key.value.clone(), sql_value_string(value)?);
            }
            other => return plan_err!("unsupported table property '{other}'"),
        }
    }
    Ok(out)
}

/// Constraints on an Iceberg table: PRIMARY KEY (on a column or the table) makes its
/// columns NOT NULL — uniqueness is informational, as in Spark, Snowflake and
/// Databricks, since nothing in Iceberg enforces it — and CHECK, UNIQUE and FOREIGN KEY,
/// which nothing would enforce either, are refused rather than silently ignored.
fn apply_constraints(ct: &ast::CreateTable, table: &str) -> Result<ast::CreateTable> {
    use datafusion::sql::sqlparser::ast::{ColumnOption, ColumnOptionDef, TableConstraint};
    let refuse = |what: &str| -> Result<ast::CreateTable> {
        plan_err!(
            "{what} constraints are not supported for Iceberg tables (table '{table}'): nothing would enforce them"
        )
    };
    let mut ct = ct.clone();
    for c in &ct.columns {
        for o in &c.options {
            match o.option {
                ColumnOption::Check(_) => return refuse("CHECK"),
                ColumnOption::Unique(_) => return refuse("UNIQUE"),
                ColumnOption::ForeignKey(_) => return refuse("FOREIGN KEY"),
                _ => {}
            }
        }
    }
    let mut primary = Vec::new();
    for constraint in &ct.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                for col in &pk.columns {
                    match &col.column.expr {
                        SqlExpr::Identifier(i) => primary.push(normalize(i)),
                        other => {
                            return plan_err!(
                                "PRIMARY KEY of table '{table}' must list columns, not '{other}'"
                            );
                        }
                    }
                }
            }
            TableConstraint::Check(_) => return refuse("CHECK"),
            TableConstraint::Unique(_) => return refuse("UNIQUE"),
            TableConstraint::ForeignKey(_) => return refuse("FOREIGN KEY"),
            other => return plan_err!("unsupported constraint '{other}' on table '{table}'"),
        }
    }
    for name in &primary {
        let Some(column) = ct.columns.iter_mut().find(|c| &normalize(&c.name) == name) else {
            return plan_err!("PRIMARY KEY column '{name}' is not a column of table '{table}'");
        };
        column.options.push(ColumnOptionDef {
            name: None,
            option: ColumnOption::NotNull,
        });
    }
    ct.constraints.clear();
    Ok(ct)
}

/// Names a new or renamed Iceberg table may not take: any in the reserved `system`
/// schema, and any with a `$`, which names a metadata table (`"t$snapshots"`).
fn check_new_table_name(schema: &str, table: &str) -> Result<()> {
    if schema == crate::provider::metadata::SYSTEM_SCHEMA {
        return plan_err!(
            "schema 'system' is reserved for floe's system tables; tables cannot be created in it"
        );
    }
    if table.contains('$') {
        return plan_err!(
            "invalid table name '{table}': '$' is reserved for metadata tables (\"t$snapshots\", \"t$files\", ...)"
        );
    }
    Ok(())
}

/// What a table's options say beyond plain Iceberg properties, in the spellings of
/// Trino's Iceberg connector (`WITH (partitioning = ARRAY['day(ts)'], location = '...',
/// format = 'PARQUET', format_version = 2)`) and Spark's (`LOCATION '...'`,
/// `'write.format.default' = 'parquet'`).
#[derive(Debug, Default)]
struct TableOptions {
    properties: HashMap<String, String>,
    /// `format-version` / `format_version`: 2 (the default) or 3.
    format_version: Option<iceberg::spec::FormatVersion>,
    partitioning: Vec<SqlExpr>,
    location: Option<String>,
}

/// A `format-version` floe writes: 2 or 3.
fn parse_format_version(table: &str, v: &str) -> Result<iceberg::spec::FormatVersion> {
    match v.trim() {
        "2" => Ok(iceberg::spec::FormatVersion::V2),
        "3" => Ok(iceberg::spec::FormatVersion::V3),
        _ => plan_err!(
            "table '{table}': Iceberg format version {v} is not supported; floe writes format versions 2 and 3"
        ),
    }
}

/// The update that takes `md` to format `wanted`: none when it is there already, an
/// error when it is newer (a table never goes back).
fn format_upgrade(
    table: &str,
    md: &iceberg::spec::TableMetadata,
    wanted: iceberg::spec::FormatVersion,
) -> Result<Option<TableUpdate>> {
    let current = md.format_version();
    if wanted < current {
        return plan_err!(
            "table '{table}' is Iceberg format version {}; a table cannot go back to version {}",
            current as u8,
            wanted as u8
        );
    }
    Ok(
        (wanted > current).then_some(TableUpdate::UpgradeFormatVersion {
            format_version: wanted,
        }),
    )
}

fn table_options(ct: &ast::CreateTable, table: &str) -> Result<TableOptions> {
    let list: &[SqlOption] = match &ct.table_options {
        CreateTableOptions::None => &[],
        CreateTableOptions::With(o)
        | CreateTableOptions::TableProperties(o)
        | CreateTableOptions::Options(o)
        | CreateTableOptions::Plain(o) => o,
    };
    let mut out = TableOptions {
        location: ct
            .location
            .clone()
            .or_else(|| ct.hive_formats.as_ref().and_then(|h| h.location.clone())),
        ..Default::default()
    };
    let mut plain = Vec::new();
    for o in list {
        let SqlOption::KeyValue { key, value } = o else {
            plain.push(o.clone());
            continue;
        };
        match key.value.to_ascii_lowercase().as_str() {
            "partitioning" | "partitioned_by" => {
                let items = match value {
                    SqlExpr::Array(a) => a.elem.clone(),
                    other => vec![other.clone()],
                };
                for item in items {
                    let text = sql_value_string(&item)?;
                    out.partitioning.extend(parse_partition_list(&text)?);
                }
            }
            "location" => out.location = Some(sql_value_string(value)?),
            "format" => {
                let f = sql_value_string(value)?;
                if !f.eq_ignore_ascii_case("parquet") {
                    return plan_err!(
                        "table '{table}': format '{f}' is not supported; floe writes Parquet data files"
                    );
                }
            }
            "format_version" | "format-version" => {
                let v = sql_value_string(value)?;
                out.format_version = Some(parse_format_version(table, &v)?);
            }
            _ => plain.push(o.clone()),
        }
    }
    out.properties = sql_options(&plain)?;
    if let Some(f) = out.properties.get("write.format.default")
        && !f.eq_ignore_ascii_case("parquet")
    {
        return plan_err!(
            "table '{table}': write.format.default '{f}' is not supported; floe writes Parquet data files"
        );
    }
    Ok(out)
}

/// A comma-separated list of partition expressions, all of the text consumed.
fn parse_partition_list(text: &str) -> Result<Vec<SqlExpr>> {
    let fail = |e: &dyn std::fmt::Display| {
        datafusion::error::DataFusionError::Plan(format!("invalid PARTITIONED BY '{text}': {e}"))
    };
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| fail(&e))?;
    let exprs = parser
        .parse_comma_separated(Parser::parse_expr)
        .map_err(|e| fail(&e))?;
    let next = parser.peek_token();
    if next.token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(fail(&format!("unexpected '{}'", next.token)));
    }
    Ok(exprs)
}

/// One item of a partition list: a column or a transform call.
#[derive(Debug, Clone)]
struct PartitionItem {
    transform: Transform,
    column: String,
    text: String,
}

fn partition_items(
    ct: &ast::CreateTable,
    extras: &CreateExtras,
    from_options: &[SqlExpr],
) -> Result<Vec<PartitionItem>> {
    let mut exprs: Vec<SqlExpr> = from_options.to_vec();
    if let Some(text) = &extras.partitioned_by {
        exprs.extend(parse_partition_list(text)?);
    }
    if let Some(p) = &ct.partition_by {
        match p.as_ref() {
            SqlExpr::Tuple(items) => exprs.extend(items.iter().cloned()),
            SqlExpr::Nested(inner) => exprs.push(inner.as_ref().clone()),
            other => exprs.push(other.clone()),
        }
    }
    exprs.iter().map(partition_item).collect()
}

fn partition_item(e: &SqlExpr) -> Result<PartitionItem> {
    let text = e.to_string();
    let column_of = |e: &SqlExpr| -> Option<String> {
        match e {
            SqlExpr::Identifier(i) => Some(normalize(i)),
            SqlExpr::CompoundIdentifier(parts) => parts.last().map(normalize),
            _ => None,
        }
    };
    if let Some(c) = column_of(e) {
        return Ok(PartitionItem {
            transform: Transform::Identity,
            column: c,
            text,
        });
    }
    let SqlExpr::Function(f) = e else {
        return plan_err!(
            "unsupported partition expression '{text}': use a column or bucket(n, col), truncate(n, col), year/month/day/hour(col)"
        );
    };
    let fname = f.name.to_string().to_lowercase();
    let args: Vec<&SqlExpr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let number = |e: &SqlExpr| -> Option<u32> {
        match e {
            SqlExpr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse().ok(),
                _ => None,
            },
            _ => None,
        }
    };
    let one_col = |args: &[&SqlExpr]| -> Result<String> {
        match args {
            [a] => column_of(a).ok_or_else(|| {
                datafusion::error::DataFusionError::Plan(format!("'{text}': expected a column"))
            }),
            _ => plan_err!("'{text}' takes one column"),
        }
    };
    let (transform, column) = match fname.as_str() {
        "identity" => (Transform::Identity, one_col(&args)?),
        "year" | "years" => (Transform::Year, one_col(&args)?),
        "month" | "months" => (Transform::Month, one_col(&args)?),
        "day" | "days" | "date" => (Transform::Day, one_col(&args)?),
        "hour" | "hours" | "date_hour" => (Transform::Hour, one_col(&args)?),
        "bucket" | "truncate" => {
            let (n, c) = match args.as_slice() {
                [a, b] => match (number(a), column_of(b), number(b), column_of(a)) {
                    (Some(n), Some(c), _, _) | (_, _, Some(n), Some(c)) => (n, c),
                    _ => return plan_err!("'{text}' takes a positive number and a column"),
                },
                _ => return plan_err!("'{text}' takes a positive number and a column"),
            };
            if n == 0 {
                return plan_err!("'{text}': the number must be positive");
            }
            let t = if fname == "bucket" {
                Transform::Bucket(n)
            } else {
                Transform::Truncate(n)
            };
            (t, c)
        }
        other => {
            return plan_err!(
                "unknown partition transform '{other}' in '{text}': use identity, bucket, truncate, year, month, day or hour"
            );
        }
    };
    Ok(PartitionItem {
        transform,
        column,
        text,
    })
}

/// `schema` (a replaced table's new schema) renumbered for a table whose current schema
/// is `base` and whose highest field id so far is `last_id`: a top-level column with the
/// same name and the same primitive type as a current one keeps that column's id (as
/// Iceberg's own replace does, so it stays readable across a later rollback); every other
/// field, nested ones included, gets a fresh id, so no id ever names two different columns.
fn with_replacement_field_ids(schema: &Schema, base: &Schema, last_id: i32) -> Result<Schema> {
    fn collect(field: &NestedField, ids: &mut Vec<i32>) {
        ids.push(field.id);
        match field.field_type.as_ref() {
            Type::Struct(st) => st.fields().iter().for_each(|f| collect(f, ids)),
            Type::List(l) => collect(&l.element_field, ids),
            Type::Map(m) => {
                collect(&m.key_field, ids);
                collect(&m.value_field, ids);
            }
            Type::Primitive(_) => {}
        }
    }
    fn renumber(field: &NestedField, map: &HashMap<i32, i32>) -> NestedField {
        let field_type = match field.field_type.as_ref() {
            Type::Struct(st) => Type::Struct(iceberg::spec::StructType::new(
                st.fields()
                    .iter()
                    .map(|f| Arc::new(renumber(f, map)))
                    .collect(),
            )),
            Type::List(l) => Type::List(iceberg::spec::ListType {
                element_field: Arc::new(renumber(&l.element_field, map)),
            }),
            Type::Map(m) => Type::Map(iceberg::spec::MapType {
                key_field: Arc::new(renumber(&m.key_field, map)),
                value_field: Arc::new(renumber(&m.value_field, map)),
            }),
            Type::Primitive(p) => Type::Primitive(p.clone()),
        };
        let mut out = field.clone();
        out.id = map[&field.id];
        out.field_type = Box::new(field_type);
        out
    }
    let mut map: HashMap<i32, i32> = HashMap::new();
    let mut next = last_id;
    let top = schema.as_struct().fields();
    // Top-level columns first (kept or fresh, in column order), then nested fields.
    for f in top {
        let kept = base.as_struct().fields().iter().find(|b| {
            b.name == f.name
                && matches!(f.field_type.as_ref(), Type::Primitive(_))
                && b.field_type == f.field_type
        });
        let id = match kept {
            Some(b) => b.id,
            None => {
                next += 1;
                next
            }
        };
        map.insert(f.id, id);
    }
    let mut nested = Vec::new();
    for f in top {
        collect(f, &mut nested);
    }
    nested.retain(|id| !map.contains_key(id));
    nested.sort_unstable();
    for id in nested {
        next += 1;
        map.insert(id, next);
    }
    let fields = top
        .iter()
        .map(|f| Arc::new(renumber(f, &map)))
        .collect::<Vec<_>>();
    let identifier_ids = schema.identifier_field_ids().map(|id| map[&id]);
    Schema::builder()
        .with_fields(fields)
        .with_identifier_field_ids(identifier_ids)
        .build()
        .map_err(iceberg_to_df)
}

fn partition_spec(schema: &Schema, items: &[PartitionItem]) -> Result<UnboundPartitionSpec> {
    let mut builder = UnboundPartitionSpec::builder().with_spec_id(0);
    let mut names = std::collections::HashSet::new();
    for item in items {
        let Some(field) = schema.field_by_name(&item.column) else {
            return plan_err!(
                "partition column '{}' (in '{}') is not a column of the table",
                item.column,
                item.text
            );
        };
        // Partition field names become Avro field names in every manifest, so a column
        // name Avro cannot spell (`"order date"`, `"1x"`, `"é"`) is sanitized as
        // Iceberg's Java AvroSchemaUtil does (`order_x20date`, `_1x`, `_xE9`).
        let column = avro_compatible_name(&item.column);
        let name = match item.transform {
            Transform::Identity => column,
            Transform::Bucket(n) => format!("{column}_bucket_{n}"),
            Transform::Truncate(n) => format!("{column}_trunc_{n}"),
            Transform::Year => format!("{column}_year"),
            Transform::Month => format!("{column}_month"),
            Transform::Day => format!("{column}_day"),
            Transform::Hour => format!("{column}_hour"),
            _ => format!("{column}_{}", item.transform),
        };
        // A sanitized identity name must not take another column's name.
        let name = if name != item.column && schema.field_by_name(&name).is_some() {
            format!("{name}_{}", field.id)
        } else {
            name
        };
        if !names.insert(name.clone()) {
            return plan_err!("partition field '{}' appears twice", item.text);
        }
        let Type::Primitive(p) = field.field_type.as_ref() else {
            return plan_err!(
                "cannot partition by '{}': column '{}' is not a primitive type",
                item.text,
                item.column
            );
        };
        if item.transform.result_type(&field.field_type).is_err() {
            return plan_err!(
                "cannot apply '{}' to column '{}' of type {}",
                item.text,
                item.column,
                types::iceberg_type_to_sql(&Type::Primitive(p.clone()))
            );
        }
        // iceberg-rust (0.10) cannot write a uuid partition value into a manifest; a
        // table created so would refuse every INSERT. bucket(n, col) works.
        if matches!(p, iceberg::spec::PrimitiveType::Uuid) && item.transform == Transform::Identity
        {
            return plan_err!(
                "cannot partition by uuid column '{}' itself: partition by bucket(n, {}) instead (floe cannot write uuid partition values yet)",
                item.column,
                item.column
            );
        }
        builder = builder
            .add_partition_field(field.id, name, item.transform)
            .map_err(iceberg_to_df)?;
    }
    Ok(builder.build())
}

/// `name` as a valid Avro name (`[A-Za-z_][A-Za-z0-9_]*`), escaped the way Iceberg's Java
/// `AvroSchemaUtil.makeCompatibleName` does: a leading digit `d` becomes `_d`, any other
/// character `c` becomes `_x` followed by its code point in upper-case hex.
fn avro_compatible_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if ok {
            out.push(c);
        } else if c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push_str(&format!("_x{:X}", c as u32));
        }
    }
    if out.is_empty() { "_".to_string() } else { out }
}

/// The schema after one column operation, keeping field ids stable.
fn evolve_schema(
    current: &Schema,
    last_column_id: i32,
    op: &AlterTableOperation,
    table: &str,
    md: &iceberg::spec::TableMetadata,
) -> Result<Schema> {
    let mut fields: Vec<Arc<NestedField>> = current.as_struct().fields().to_vec();
    let source_ids: std::collections::HashSet<i32> = md
        .partition_specs_iter()
        .flat_map(|s| s.fields().iter().map(|f| f.source_id))
        .collect();
    match op {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            column_position,
            ..
        } => {
            if column_position.is_some() {
                return plan_err!(
                    "column positions (FIRST/AFTER) are not supported; columns are added at the end"
                );
            }
            let name = normalize(&column_def.name);
            if current.field_by_name(&name).is_some() {
                if *if_not_exists {
                    return Ok(current.clone());
                }
                return plan_err!("column '{name}' already exists in table '{table}'");
            }
            let mut next_id = last_column_id + 1;
            let id = next_id;
            next_id += 1;
            let ty = types::sql_type_to_iceberg(&name, &column_def.data_type, &mut next_id)?;
            let required = column_def
                .options
                .iter()
                .any(|o| matches!(o.option, ast::ColumnOption::NotNull));
            if required {
                return plan_err!(
                    "cannot add NOT NULL column '{name}' to table '{table}': existing rows have no value for it; add it as nullable"
                );
            }
            if column_def
                .options
                .iter()
                .any(|o| matches!(o.option, ast::ColumnOption::Default(_)))
            {
                return plan_err!(
                    "column defaults are not supported for Iceberg tables (column '{name}' of '{table}'): existing rows would read NULL, not the default"
                );
            }
            fields.push(Arc::new(NestedField::optional(id, name, ty)));
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for c in column_names {
                let name = normalize(c);
                let Some(pos) = fields.iter().position(|f| f.name == name) else {
                    if *if_exists {
                        continue;
                    }
                    return plan_err!("column '{name}' does not exist in table '{table}'");
                };
                if source_ids.contains(&fields[pos].id) {
                    return plan_err!(
                        "cannot drop column '{name}' of table '{table}': the table is partitioned by it"
                    );
                }
                fields.remove(pos);
            }
            if fields.is_empty() {
                return plan_err!("cannot drop every column of table '{table}'");
            }
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let (old, new) = (normalize(old_column_name), normalize(new_column_name));
            if fields.iter().any(|f| f.name == new) {
                return plan_err!("column '{new}' already exists in table '{table}'");
            }
            let Some(f) = fields.iter_mut().find(|f| f.name == old) else {
                return plan_err!("column '{old}' does not exist in table '{table}'");
            };
            let mut renamed = f.as_ref().clone();
            renamed.name = new;
            *f = Arc::new(renamed);
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let name = normalize(column_name);
            let Some(f) = fields.iter_mut().find(|f| f.name == name) else {
                return plan_err!("column '{name}' does not exist in table '{table}'");
            };
            let mut changed = f.as_ref().clone();
            match op {
                AlterColumnOperation::DropNotNull => changed.required = false,
                AlterColumnOperation::SetNotNull => {
                    return plan_err!(
                        "cannot make column '{name}' of table '{table}' NOT NULL: Iceberg only allows relaxing nullability"
                    );
                }
                AlterColumnOperation::SetDataType { data_type, .. } => {
                    let mut next = last_column_id + 1;
                    let new_ty = types::sql_type_to_iceberg(&name, data_type, &mut next)?;
                    if !promotion_allowed(&changed.field_type, &new_ty) {
                        return plan_err!(
                            "cannot change column '{name}' of table '{table}' from {} to {}: Iceberg allows only int→bigint, float→double and widening decimal precision",
                            types::iceberg_type_to_sql(&changed.field_type),
                            types::iceberg_type_to_sql(&new_ty)
                        );
                    }
                    changed.field_type = Box::new(new_ty);
                }
                other => return plan_err!("unsupported ALTER COLUMN operation: {other}"),
            }
            *f = Arc::new(changed);
        }
        other => return plan_err!("unsupported ALTER TABLE operation for Iceberg tables: {other}"),
    }
    let fields: Vec<_> = fields;
    Schema::builder()
        .with_schema_id(md.schemas_iter().map(|s| s.schema_id()).max().unwrap_or(0) + 1)
        .with_identifier_field_ids(current.identifier_field_ids())
        .with_fields(fields)
        .build()
        .map_err(iceberg_to_df)
}

fn promotion_allowed(from: &Type, to: &Type) -> bool {
    use PrimitiveType as P;
    match (from, to) {
        (Type::Primitive(a), Type::Primitive(b)) => match (a, b) {
            _ if a == b => true,
            (P::Int, P::Long) | (P::Float, P::Double) => true,
            (
                P::Decimal {
                    precision: p1,
                    scale: s1,
                },
                P::Decimal {
                    precision: p2,
                    scale: s2,
                },
            ) => s1 == s2 && p2 >= p1,
            _ => false,
        },
        _ => false,
    }
}

/// Errors for CREATE TABLE statements DataFusion would mis-handle on other catalogs.
pub fn check_not_floe_only(extras: &CreateExtras, catalog: &str) -> Result<()> {
    if extras.partitioned_by.is_some() {
        return exec_err!(
            "PARTITIONED BY is only supported for Iceberg tables (catalog '{catalog}' is not floe)"
        );
    }
    Ok(())
}

/// Namespace helper for callers.
pub fn namespace(schema: &str) -> Result<NamespaceIdent> {
    crate::provider::namespace_of(schema).ok_or_else(|| {
        datafusion::error::DataFusionError::Plan(format!("invalid schema name '{schema}'"))
    })
}
