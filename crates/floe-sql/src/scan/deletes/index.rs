//! Which delete files apply to which data file, by the Iceberg spec's rules:
//!
//! * a position-delete file or deletion vector applies to a data file whose data sequence
//!   number is less than or equal to its own, and only to rows of the file it names;
//! * an equality-delete file applies to a data file whose data sequence number is
//!   strictly lower than its own;
//! * both apply only within their partition (same spec id and partition tuple), unless
//!   the delete file was written with an unpartitioned spec, which makes it global;
//! * a delete naming a file that is not live (dangling) applies to nothing.
//!
//! Files without a sequence number (format v1) have sequence number 0.

use std::collections::{HashMap, HashSet};

use floe_catalog::LiveFile;
use iceberg::spec::{DataContentType, DataFileFormat};

/// A path in one canonical spelling: `file:/x`, `file:///x` and `/x` name the same
/// local file, and writers mix them within one table (even within one delete file).
pub use floe_catalog::storage::location_key as path_key;

/// A file format as users spell it.
pub fn format_name(format: DataFileFormat) -> &'static str {
    match format {
        DataFileFormat::Avro => "Avro",
        DataFileFormat::Orc => "ORC",
        DataFileFormat::Parquet => "Parquet",
        DataFileFormat::Puffin => "Puffin",
    }
}

/// How a delete file deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteKind {
    /// Parquet rows of (`file_path`, `pos`).
    Positions,
    /// A Puffin `deletion-vector-v1` blob for one data file.
    Vector,
    /// Rows whose values in these field ids equal a row of the file.
    Equality(Vec<i32>),
}

/// The kind of a live delete file, or why floe cannot apply it.
pub fn kind_of(delete: &LiveFile) -> Result<DeleteKind, String> {
    let f = &delete.file;
    match f.content_type() {
        DataContentType::PositionDeletes => match f.file_format() {
            DataFileFormat::Puffin => Ok(DeleteKind::Vector),
            DataFileFormat::Parquet => Ok(DeleteKind::Positions),
            other => Err(format!(
                "position-delete file '{}' is in {} format; floe reads Parquet position deletes and Puffin deletion vectors",
                f.file_path(),
                format_name(other)
            )),
        },
        DataContentType::EqualityDeletes => {
            if f.file_format() != DataFileFormat::Parquet {
                return Err(format!(
                    "equality-delete file '{}' is in {} format; floe reads Parquet equality deletes",
                    f.file_path(),
                    format_name(f.file_format())
                ));
            }
            let mut ids = f.equality_ids().unwrap_or_default();
            if ids.is_empty() {
                return Err(format!(
                    "equality-delete file '{}' lists no equality field ids",
                    f.file_path()
                ));
            }
            ids.sort_unstable();
            ids.dedup();
            Ok(DeleteKind::Equality(ids))
        }
        DataContentType::Data => Err(format!(
            "data file '{}' is listed in a delete manifest",
            f.file_path()
        )),
    }
}

fn seq(f: &LiveFile) -> i64 {
    f.sequence_number.unwrap_or(0)
}

fn scope(f: &LiveFile) -> String {
    format!("{}:{:?}", f.spec_id, f.file.partition())
}

/// The partition a file's deletes are confined to (`None`: an unpartitioned spec, whose
/// deletes are global).
pub fn scope_key(f: &LiveFile, unpartitioned: &HashSet<i32>) -> Option<String> {
    (!unpartitioned.contains(&f.spec_id)).then(|| scope(f))
}

/// Delete files of one data file, as indices into the snapshot's delete list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applicable {
    /// Position-delete files and deletion vectors.
    pub positional: Vec<usize>,
    /// Equality-delete files.
    pub equality: Vec<usize>,
}

impl Applicable {
    pub fn is_empty(&self) -> bool {
        self.positional.is_empty() && self.equality.is_empty()
    }
}

/// The delete files of a snapshot, indexed for lookups per data file.
pub struct DeleteIndex {
    kinds: Vec<DeleteKind>,
    seqs: Vec<i64>,
    by_referenced: HashMap<String, Vec<usize>>,
    by_scope: HashMap<String, Vec<usize>>,
    global: Vec<usize>,
}

impl DeleteIndex {
    /// Indexes `deletes`; `unpartitioned` lists the table's spec ids without fields. An
    /// error names a delete file floe cannot apply (never skipped).
    pub fn new(deletes: &[LiveFile], unpartitioned: &HashSet<i32>) -> Result<Self, String> {
        let mut index = DeleteIndex {
            kinds: Vec::with_capacity(deletes.len()),
            seqs: Vec::with_capacity(deletes.len()),
            by_referenced: HashMap::new(),
            by_scope: HashMap::new(),
            global: Vec::new(),
        };
        for (i, d) in deletes.iter().enumerate() {
            let kind = kind_of(d)?;
            let referenced = d.file.referenced_data_file();
            if kind == DeleteKind::Vector && referenced.is_none() {
                return Err(format!(
                    "deletion vector '{}' names no referenced data file",
                    d.file.file_path()
                ));
            }
            index.kinds.push(kind.clone());
            index.seqs.push(seq(d));
            match (&kind, referenced) {
                (DeleteKind::Equality(_), _) | (_, None) => {
                    if unpartitioned.contains(&d.spec_id) {
                        index.global.push(i);
                    } else {
                        index.by_scope.entry(scope(d)).or_default().push(i);
                    }
                }
                (_, Some(path)) => index
                    .by_referenced
                    .entry(path_key(&path))
                    .or_default()
                    .push(i),
            }
        }
        Ok(index)
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn kind(&self, i: usize) -> &DeleteKind {
        &self.kinds[i]
    }

    /// The delete files that apply to `data`.
    pub fn applicable(&self, data: &LiveFile, unpartitioned: &HashSet<i32>) -> Applicable {
        let mut out = Applicable::default();
        if self.kinds.is_empty() {
            return out;
        }
        let data_seq = seq(data);
        let key = path_key(data.file.file_path());
        let scoped = if unpartitioned.contains(&data.spec_id) {
            // An unpartitioned data file can only match deletes of an unpartitioned spec
            // (global) or deletes naming it.
            None
        } else {
            self.by_scope.get(&scope(data))
        };
        let candidates = self
            .by_referenced
            .get(&key)
            .into_iter()
            .flatten()
            .chain(scoped.into_iter().flatten())
            .chain(self.global.iter());
        for &i in candidates {
            match &self.kinds[i] {
                DeleteKind::Equality(_) => {
                    if self.seqs[i] > data_seq {
                        out.equality.push(i);
                    }
                }
                DeleteKind::Positions | DeleteKind::Vector => {
                    if self.seqs[i] >= data_seq {
                        out.positional.push(i);
                    }
                }
            }
        }
        out.positional.sort_unstable();
        out.positional.dedup();
        out.equality.sort_unstable();
        out.equality.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{DataFileBuilder, Literal, Struct};

    fn file(
        content: DataContentType,
        path: &str,
        spec_id: i32,
        partition: Option<i32>,
        seq: i64,
    ) -> LiveFile {
        let format = if path.ends_with(".puffin") {
            DataFileFormat::Puffin
        } else {
            DataFileFormat::Parquet
        };
        let mut b = DataFileBuilder::default();
        b.content(content)
            .file_path(path.to_string())
            .file_format(format)
            .file_size_in_bytes(10)
            .record_count(1)
            .partition_spec_id(spec_id)
            .partition(match partition {
                Some(p) => Struct::from_iter([Some(Literal::int(p))]),
                None => Struct::empty(),
            });
        if content == DataContentType::EqualityDeletes {
            b.equality_ids(Some(vec![1]));
        }
        LiveFile {
            file: b.build().unwrap(),
            spec_id,
            sequence_number: Some(seq),
        }
    }

    fn referencing(mut f: LiveFile, data: &str) -> LiveFile {
        f.file = DataFileBuilder::default()
            .content(f.file.content_type())
            .file_path(f.file.file_path().to_string())
            .file_format(f.file.file_format())
            .file_size_in_bytes(10)
            .record_count(1)
            .partition_spec_id(f.spec_id)
            .partition(f.file.partition().clone())
            .referenced_data_file(Some(data.to_string()))
            .build()
            .unwrap();
        f
    }

    fn unpartitioned() -> HashSet<i32> {
        HashSet::from([0])
    }

    #[test]
    fn position_deletes_apply_at_equal_or_lower_sequence_numbers() {
        let pos = DataContentType::PositionDeletes;
        let data = DataContentType::Data;
        let deletes = vec![file(pos, "/d/p.parquet", 0, None, 5)];
        let index = DeleteIndex::new(&deletes, &unpartitioned()).unwrap();
        for (seq, applies) in [(4, true), (5, true), (6, false)] {
            let f = file(data, "/t/a.parquet", 0, None, seq);
            let got = index.applicable(&f, &unpartitioned());
            assert_eq!(!got.positional.is_empty(), applies, "data seq {seq}");
            assert!(got.equality.is_empty());
        }
    }

    #[test]
    fn equality_deletes_apply_only_to_strictly_older_files() {
        let eq = DataContentType::EqualityDeletes;
        let data = DataContentType::Data;
        let deletes = vec![file(eq, "/d/e.parquet", 0, None, 5)];
        let index = DeleteIndex::new(&deletes, &unpartitioned()).unwrap();
        for (seq, applies) in [(4, true), (5, false), (6, false)] {
            let f = file(data, "/t/a.parquet", 0, None, seq);
            assert_eq!(
                index.applicable(&f, &unpartitioned()).equality == vec![0],
                applies,
                "data seq {seq}"
            );
        }
        assert_eq!(
            index.kind(0),
            &DeleteKind::Equality(vec![1]),
            "equality ids are kept"
        );
    }

    #[test]
    fn partitioned_deletes_stay_in_their_partition_and_unpartitioned_ones_are_global() {
        let eq = DataContentType::EqualityDeletes;
        let data = DataContentType::Data;
        // Spec 1 is partitioned; spec 0 is not.
        let deletes = vec![
            file(eq, "/d/p1.parquet", 1, Some(1), 9),
            file(eq, "/d/global.parquet", 0, None, 9),
        ];
        let index = DeleteIndex::new(&deletes, &unpartitioned()).unwrap();
        let in_p1 = file(data, "/t/a.parquet", 1, Some(1), 1);
        let in_p2 = file(data, "/t/b.parquet", 1, Some(2), 1);
        let other_spec = file(data, "/t/c.parquet", 2, Some(1), 1);
        assert_eq!(
            index.applicable(&in_p1, &unpartitioned()).equality,
            vec![0, 1]
        );
        assert_eq!(index.applicable(&in_p2, &unpartitioned()).equality, vec![1]);
        // Same tuple under another spec is another partition.
        assert_eq!(
            index.applicable(&other_spec, &unpartitioned()).equality,
            vec![1]
        );
    }

    #[test]
    fn vectors_and_referenced_position_deletes_match_their_file_in_any_spelling() {
        let pos = DataContentType::PositionDeletes;
        let data = DataContentType::Data;
        let deletes = vec![
            referencing(file(pos, "/d/dv.puffin", 0, None, 3), "file:///t/a.parquet"),
            referencing(file(pos, "/d/p.parquet", 0, None, 3), "file:/t/b.parquet"),
        ];
        let index = DeleteIndex::new(&deletes, &unpartitioned()).unwrap();
        assert_eq!(index.kind(0), &DeleteKind::Vector);
        let a = file(data, "/t/a.parquet", 0, None, 1);
        let b = file(data, "file:///t/b.parquet", 0, None, 1);
        let c = file(data, "/t/c.parquet", 0, None, 1);
        assert_eq!(index.applicable(&a, &unpartitioned()).positional, vec![0]);
        assert_eq!(index.applicable(&b, &unpartitioned()).positional, vec![1]);
        // A file no delete names (and dangling deletes) match nothing.
        assert!(index.applicable(&c, &unpartitioned()).is_empty());
    }

    #[test]
    fn undecodable_delete_files_are_errors_naming_them() {
        let mut dv = file(DataContentType::PositionDeletes, "/d/x.puffin", 0, None, 1);
        assert!(
            DeleteIndex::new(std::slice::from_ref(&dv), &unpartitioned())
                .err()
                .unwrap()
                .contains("/d/x.puffin")
        );
        dv.file = DataFileBuilder::default()
            .content(DataContentType::PositionDeletes)
            .file_path("/d/x.orc".to_string())
            .file_format(DataFileFormat::Orc)
            .file_size_in_bytes(1)
            .record_count(1)
            .partition(Struct::empty())
            .build()
            .unwrap();
        let e = DeleteIndex::new(&[dv], &unpartitioned()).err().unwrap();
        assert!(e.contains("/d/x.orc") && e.contains("ORC"), "{e}");
    }
}
