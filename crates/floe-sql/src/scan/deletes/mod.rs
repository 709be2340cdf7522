//! Row-level deletes of other engines' tables (and of merge-on-read writes): the
//! delete-file index (which delete applies to which data file), the loader (each delete
//! file read once per scan) and the filter (positions as Parquet row selections,
//! equality deletes as a hash anti-filter). iceberg-rust splits it the same way; its
//! types are private, so floe owns this code.

pub mod apply;
pub mod index;
pub mod loader;
pub mod reader;

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, plan_err};
use datafusion::execution::cache::cache_manager::{CachedFileMetadataEntry, FileMetadata};
use datafusion::execution::runtime_env::RuntimeEnv;
use floe_catalog::LiveFile;
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::TableMetadata;
use object_store::ObjectMeta;
use roaring::RoaringTreemap;

use crate::scan::field_id;

use apply::{DeleteStats, EqualityDeletes, FileFacts, KeyDeletes};
use index::{DeleteIndex, DeleteKind, path_key, scope_key};
use loader::KeyColumns;

/// Delete files read concurrently while planning a scan.
pub const LOAD_CONCURRENCY: usize = 8;

/// The deletes a scan applies, loaded.
pub struct PlannedDeletes {
    /// Deleted row positions per data file location (as the manifest spells it).
    pub positions: HashMap<String, RoaringTreemap>,
    /// Equality deletes, when any apply to a scanned file.
    pub equality: Option<Arc<EqualityDeletes>>,
    /// Data file locations some delete applies to (their row counts are estimates).
    pub affected: HashSet<String>,
    pub stats: DeleteStats,
}

/// The positions one position-delete file or deletion vector deletes, by data file
/// ([`path_key`]). Kept in the session's file-metadata cache (DataFusion's LRU, bounded
/// by `datafusion.runtime.metadata_cache_limit`), so that repeated scans read each delete
/// file once: delete files are immutable, and an entry is used only for a file of the
/// size its manifest states.
struct LoadedPositions(HashMap<String, RoaringTreemap>);

impl FileMetadata for LoadedPositions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn memory_size(&self) -> usize {
        self.0
            .iter()
            .map(|(k, b)| k.len() + b.serialized_size() + 64)
            .sum()
    }

    fn extra_info(&self) -> HashMap<String, String> {
        HashMap::from([("floe".to_string(), "loaded position deletes".to_string())])
    }
}

/// The cache key of a delete file's loaded positions: a name no data file's metadata is
/// cached under (a Puffin file holds one vector per data file, so its blob offset is part
/// of it), and the file's size as the manifest states it.
fn cache_key(d: &LiveFile) -> (object_store::path::Path, ObjectMeta) {
    let f = &d.file;
    let offset = f.content_offset().unwrap_or(-1);
    let key = object_store::path::Path::from(format!(
        "floe-loaded-deletes/{offset}/{}",
        path_key(f.file_path())
    ));
    let meta = ObjectMeta {
        location: key.clone(),
        last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        size: f.file_size_in_bytes(),
        e_tag: None,
        version: None,
    };
    (key, meta)
}

/// The spec ids of `md` that have no partition fields.
pub fn unpartitioned_specs(md: &TableMetadata) -> HashSet<i32> {
    md.partition_specs_iter()
        .filter(|s| s.is_unpartitioned())
        .map(|s| s.spec_id())
        .collect()
}

/// Works out and loads the deletes that apply to `data` (the files a scan reads) from a
/// snapshot's live `deletes`. `schema` is the table's Arrow schema at the version read
/// (top-level fields carry field ids). `None`: no delete applies.
pub async fn plan_deletes(
    runtime: &RuntimeEnv,
    table: &str,
    md: &TableMetadata,
    data: &[&LiveFile],
    deletes: &[LiveFile],
    schema: &SchemaRef,
) -> Result<Option<PlannedDeletes>> {
    if deletes.is_empty() || data.is_empty() {
        return Ok(None);
    }
    let unpartitioned = unpartitioned_specs(md);
    let index = match DeleteIndex::new(deletes, &unpartitioned) {
        Ok(i) => i,
        Err(e) => return plan_err!("table '{table}': {e}"),
    };
    let applicable: Vec<_> = data
        .iter()
        .map(|f| index.applicable(f, &unpartitioned))
        .collect();
    let mut positional: Vec<usize> = applicable
        .iter()
        .flat_map(|a| a.positional.clone())
        .collect();
    positional.sort_unstable();
    positional.dedup();
    let mut equality: Vec<usize> = applicable.iter().flat_map(|a| a.equality.clone()).collect();
    equality.sort_unstable();
    equality.dedup();
    if positional.is_empty() && equality.is_empty() {
        return Ok(None);
    }
    let mut stats = DeleteStats::default();

    // Positions: per delete file, the positions it deletes, by data file. Each file is
    // loaded whole (for every data file it names) so that the session's cache can keep it
    // for later scans.
    let cache = runtime.cache_manager.get_file_metadata_cache();
    let loaded: Vec<(usize, bool, Arc<dyn FileMetadata>)> =
        futures::stream::iter(positional.iter().copied())
            .map(|i| {
                let index = &index;
                let cache = &cache;
                async move {
                    let d = &deletes[i];
                    let (key, meta) = cache_key(d);
                    if let Some(hit) = cache.get(&key)
                        && hit.meta.size == meta.size
                        && hit
                            .file_metadata
                            .as_any()
                            .downcast_ref::<LoadedPositions>()
                            .is_some()
                    {
                        return Ok((i, true, hit.file_metadata));
                    }
                    let mut out = HashMap::new();
                    match index.kind(i) {
                        DeleteKind::Vector => {
                            let bitmap = loader::load_vector(runtime, d).await?;
                            let target =
                                path_key(&d.file.referenced_data_file().unwrap_or_default());
                            out.insert(target, bitmap);
                        }
                        _ => {
                            loader::load_positions(runtime, d, None, &mut out).await?;
                        }
                    }
                    let entry: Arc<dyn FileMetadata> = Arc::new(LoadedPositions(out));
                    cache.put(&key, CachedFileMetadataEntry::new(meta, entry.clone()));
                    Ok::<_, datafusion::error::DataFusionError>((i, false, entry))
                }
            })
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_collect()
            .await?;
    stats.cached_files = loaded.iter().filter(|(_, hit, _)| *hit).count();
    let loaded: HashMap<usize, &HashMap<String, RoaringTreemap>> = loaded
        .iter()
        .filter_map(|(i, _, m)| {
            let m = m.as_any().downcast_ref::<LoadedPositions>()?;
            Some((*i, &m.0))
        })
        .collect();
    for &i in &positional {
        match index.kind(i) {
            DeleteKind::Vector => stats.vector_files += 1,
            _ => stats.position_files += 1,
        }
    }
    let mut positions: HashMap<String, RoaringTreemap> = HashMap::new();
    let mut affected = HashSet::new();
    for (f, a) in data.iter().zip(&applicable) {
        if a.positional.is_empty() {
            continue;
        }
        let key = path_key(f.file.file_path());
        let mut union = RoaringTreemap::new();
        for i in &a.positional {
            if let Some(b) = loaded.get(i).and_then(|m| m.get(&key)) {
                union |= b;
            }
        }
        if !union.is_empty() {
            stats.positions += union.len();
            stats.memory_bytes += union.serialized_size();
            affected.insert(f.file.file_path().to_string());
            positions.insert(f.file.file_path().to_string(), union);
        }
    }

    // Equality deletes: one key group per distinct set of equality field ids.
    let mut eq_deletes = None;
    if !equality.is_empty() {
        let mut groups: Vec<KeyDeletes> = Vec::new();
        let mut group_of: HashMap<Vec<i32>, usize> = HashMap::new();
        for &i in &equality {
            let DeleteKind::Equality(ids) = index.kind(i) else {
                continue;
            };
            if group_of.contains_key(ids) {
                continue;
            }
            let mut fields = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(f) = schema.fields().iter().find(|f| field_id(f) == Some(*id)) else {
                    return plan_err!(
                        "table '{table}': equality-delete file '{}' compares field id {id}, which is not a top-level column of the version read",
                        deletes[i].file.file_path()
                    );
                };
                fields.push((f.name().clone(), f.data_type().clone()));
            }
            group_of.insert(ids.clone(), groups.len());
            groups.push(KeyDeletes {
                key: KeyColumns {
                    field_ids: ids.clone(),
                    fields,
                },
                scopes: HashMap::new(),
            });
        }
        let rows: Vec<(usize, loader::EqualityRows)> =
            futures::stream::iter(equality.iter().copied())
                .map(|i| {
                    let groups = &groups;
                    let group_of = &group_of;
                    let index = &index;
                    async move {
                        let DeleteKind::Equality(ids) = index.kind(i) else {
                            unreachable!("only equality deletes are listed here")
                        };
                        let key = &groups[group_of[ids]].key;
                        Ok::<_, datafusion::error::DataFusionError>((
                            i,
                            loader::load_equality(runtime, &deletes[i], key).await?,
                        ))
                    }
                })
                .buffer_unordered(LOAD_CONCURRENCY)
                .try_collect()
                .await?;
        let mut bytes = 0usize;
        for (i, keys) in rows {
            let DeleteKind::Equality(ids) = index.kind(i) else {
                continue;
            };
            let d = &deletes[i];
            let seq = d.sequence_number.unwrap_or(0);
            let group = &mut groups[group_of[ids]];
            let scope = group
                .scopes
                .entry(scope_key(d, &unpartitioned))
                .or_default();
            match keys {
                loader::EqualityRows::Ints { values, null } => {
                    if null {
                        scope.null = Some(scope.null.map_or(seq, |s| s.max(seq)));
                    }
                    scope.loaded.entry(seq).or_default().extend(values);
                }
                loader::EqualityRows::Encoded(values) => {
                    for k in values {
                        let len = k.len();
                        match scope.encoded.get_mut(&k) {
                            Some(s) => *s = (*s).max(seq),
                            None => {
                                bytes += len + 48;
                                scope.encoded.insert(k, seq);
                            }
                        }
                    }
                }
            }
        }
        for scope in groups.iter_mut().flat_map(|g| g.scopes.values_mut()) {
            bytes += scope.seal();
        }
        stats.equality_files = equality.len();
        stats.equality_keys = groups
            .iter()
            .flat_map(|g| g.scopes.values())
            .map(|m| m.len())
            .sum();
        stats.memory_bytes += bytes;
        let files: HashMap<String, FileFacts> = data
            .iter()
            .map(|f| {
                (
                    f.file.file_path().to_string(),
                    FileFacts {
                        sequence_number: f.sequence_number.unwrap_or(0),
                        scope: scope_key(f, &unpartitioned),
                    },
                )
            })
            .collect();
        for (f, a) in data.iter().zip(&applicable) {
            if !a.equality.is_empty() {
                affected.insert(f.file.file_path().to_string());
            }
        }
        eq_deletes = Some(Arc::new(EqualityDeletes {
            keys: groups,
            files,
        }));
    }
    stats.data_files_with_deletes = affected.len();
    Ok(Some(PlannedDeletes {
        positions,
        equality: eq_deletes,
        affected,
        stats,
    }))
}
