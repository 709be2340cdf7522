//! Every `iceberg::Catalog` method of `RedbCatalog`, success and error paths, plus
//! commits, releases, time travel, reopen and locking.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use floe_catalog::{CommitOp, Error, RedbCatalog, ReleaseKind, VersionSource};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableIdent, TableUpdate};
use support::*;

fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------- namespaces

#[tokio::test]
async fn create_and_get_namespace_with_properties() {
    let (_d, cat) = setup().await;
    let created = cat
        .create_namespace(&ns("sales"), props(&[("owner", "ann")]))
        .await
        .unwrap();
    assert_eq!(created.properties()["owner"], "ann");
    let got = cat.get_namespace(&ns("sales")).await.unwrap();
    assert_eq!(got.name(), &ns("sales"));
    assert_eq!(got.properties(), &props(&[("owner", "ann")]));
}

#[tokio::test]
async fn create_namespace_twice_is_already_exists() {
    let (_d, cat) = setup().await;
    let err = cat
        .create_namespace(&ns("ns"), HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceAlreadyExists);
    assert!(
        err.to_string().contains("namespace 'ns' already exists"),
        "{err}"
    );
}

#[tokio::test]
async fn nested_namespace_needs_its_parent() {
    let (_d, cat) = setup().await;
    let err = cat
        .create_namespace(&ns("a.b"), HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    assert!(
        err.to_string().contains("namespace 'a' does not exist"),
        "{err}"
    );
    cat.create_namespace(&ns("a"), HashMap::new())
        .await
        .unwrap();
    cat.create_namespace(&ns("a.b"), HashMap::new())
        .await
        .unwrap();
    assert!(cat.namespace_exists(&ns("a.b")).await.unwrap());
}

#[tokio::test]
async fn list_namespaces_lists_direct_children_sorted() {
    let (_d, cat) = setup().await;
    for n in ["b", "a", "a.x", "a.y", "a.x.deep"] {
        cat.create_namespace(&ns(n), HashMap::new()).await.unwrap();
    }
    let top = cat.list_namespaces(None).await.unwrap();
    assert_eq!(top, vec![ns("a"), ns("b"), ns("ns")]);
    let children = cat.list_namespaces(Some(&ns("a"))).await.unwrap();
    assert_eq!(children, vec![ns("a.x"), ns("a.y")]);
    assert!(
        cat.list_namespaces(Some(&ns("b")))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn list_namespaces_of_missing_parent_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat.list_namespaces(Some(&ns("nope"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
}

#[tokio::test]
async fn update_namespace_replaces_all_properties() {
    let (_d, cat) = setup().await;
    cat.update_namespace(&ns("ns"), props(&[("a", "1"), ("b", "2")]))
        .await
        .unwrap();
    cat.update_namespace(&ns("ns"), props(&[("c", "3")]))
        .await
        .unwrap();
    assert_eq!(
        cat.get_namespace(&ns("ns")).await.unwrap().properties(),
        &props(&[("c", "3")])
    );
}

#[tokio::test]
async fn update_or_get_missing_namespace_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat
        .update_namespace(&ns("gone"), HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    let err = cat.get_namespace(&ns("gone")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    assert!(!cat.namespace_exists(&ns("gone")).await.unwrap());
}

#[tokio::test]
async fn drop_empty_namespace() {
    let (_d, cat) = setup().await;
    cat.create_namespace(&ns("tmp"), HashMap::new())
        .await
        .unwrap();
    cat.drop_namespace(&ns("tmp")).await.unwrap();
    assert!(!cat.namespace_exists(&ns("tmp")).await.unwrap());
    let err = cat.drop_namespace(&ns("tmp")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
}

#[tokio::test]
async fn drop_namespace_with_a_table_fails_naming_it() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("orders"))
        .await
        .unwrap();
    let err = cat.drop_namespace(&ns("ns")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("namespace 'ns' is not empty: it still contains table 'orders'"),
        "{err}"
    );
    assert!(cat.table_exists(&tid("ns", "orders")).await.unwrap());
}

#[tokio::test]
async fn drop_namespace_with_a_child_namespace_fails() {
    let (_d, cat) = setup().await;
    cat.create_namespace(&ns("ns.child"), HashMap::new())
        .await
        .unwrap();
    let err = cat.drop_namespace(&ns("ns")).await.unwrap_err();
    assert!(err.to_string().contains("namespace 'ns.child'"), "{err}");
}

#[tokio::test]
async fn bad_namespace_names_are_rejected() {
    let (d, cat) = setup().await;
    for bad in ["a/b", "..", ".", "x\0y", "", "back\\slash"] {
        let ident = NamespaceIdent::from_vec(vec![bad.to_string()]).unwrap();
        let err = cat
            .create_namespace(&ident, HashMap::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataInvalid, "{bad:?}");
        assert!(err.to_string().contains("invalid namespace name"), "{err}");
    }
    let long = NamespaceIdent::new("n".repeat(256));
    assert!(cat.create_namespace(&long, HashMap::new()).await.is_err());
    // Nothing but the catalog file was written.
    assert_eq!(
        files_under(d.path()),
        vec![d.path().join("catalog.redb").display().to_string()]
    );
}

// ---------------------------------------------------------------- tables

#[tokio::test]
async fn create_table_writes_metadata_inside_the_warehouse() {
    let (d, cat) = setup().await;
    let t = cat
        .create_table(&ns("ns"), creation("orders"))
        .await
        .unwrap();
    let root = d.path().canonicalize().unwrap();
    assert_eq!(
        t.metadata().location(),
        format!("file://{}/ns/orders", root.display())
    );
    let loc = t.metadata_location().unwrap();
    assert!(
        loc.starts_with(&format!(
            "file://{}/ns/orders/metadata/00000-",
            root.display()
        )),
        "{loc}"
    );
    let on_disk = std::fs::read(floe_catalog::storage::local_path(loc)).unwrap();
    let parsed: iceberg::spec::TableMetadata = serde_json::from_slice(&on_disk).unwrap();
    assert_eq!(parsed.uuid(), t.metadata().uuid());
    assert_eq!(parsed.current_schema().as_struct(), schema().as_struct());
}

#[tokio::test]
async fn create_table_in_missing_namespace_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat
        .create_table(&ns("nope"), creation("t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    assert!(
        err.to_string().contains("namespace 'nope' does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn create_existing_table_is_already_exists() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let err = cat
        .create_table(&ns("ns"), creation("t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableAlreadyExists);
    assert!(
        err.to_string().contains("table 'ns.t' already exists"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_table_names_write_nothing() {
    let (d, cat) = setup().await;
    let before = files_under(d.path());
    for bad in ["../escape", "a/b", "..", "nul\0", "ctl\u{7}"] {
        let err = cat
            .create_table(&ns("ns"), creation(bad))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid table name"), "{err}");
    }
    assert_eq!(files_under(d.path()), before);
    assert!(!d.path().parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn table_location_outside_the_warehouse_is_rejected() {
    let (_d, cat) = setup().await;
    let outside = tempfile::tempdir().unwrap();
    let c = iceberg::TableCreation::builder()
        .name("t".to_string())
        .schema(schema())
        .location(outside.path().display().to_string())
        .build();
    let err = cat.create_table(&ns("ns"), c).await.unwrap_err();
    assert!(
        err.to_string().contains("is outside the warehouse"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn recreated_table_does_not_share_the_dropped_tables_directory() {
    let (_d, cat) = setup().await;
    let first = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    cat.drop_table(&tid("ns", "t")).await.unwrap();
    let second = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    assert_ne!(first.metadata().location(), second.metadata().location());
    // The dropped table's metadata is still there for whoever wants to register it again.
    assert!(floe_catalog::storage::local_path(first.metadata_location().unwrap()).exists());
}

#[tokio::test]
async fn load_table_returns_the_current_metadata() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let id = append(&cat, &tid("ns", "t")).await;
    let t = cat.load_table(&tid("ns", "t")).await.unwrap();
    assert_eq!(t.metadata().current_snapshot_id(), Some(id));
    assert_eq!(t.identifier(), &tid("ns", "t"));
}

#[tokio::test]
async fn warm_load_table_reuses_parsed_metadata() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let a = cat.load_table(&tid("ns", "t")).await.unwrap();
    let b = cat.load_table(&tid("ns", "t")).await.unwrap();
    assert!(Arc::ptr_eq(&a.metadata_ref(), &b.metadata_ref()));
}

#[tokio::test]
async fn load_missing_table_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat.load_table(&tid("ns", "ghost")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound);
    assert!(
        err.to_string().contains("table 'ns.ghost' does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn load_table_with_deleted_metadata_file_names_the_file() {
    let (_d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    cat.create_table(&ns("ns"), creation("ok")).await.unwrap();
    let path = floe_catalog::storage::local_path(t.metadata_location().unwrap());
    std::fs::remove_file(&path).unwrap();
    // A fresh catalog has nothing cached.
    drop(cat);
    let cat = open(_d.path()).await;
    let err = cat.load_table(&tid("ns", "t")).await.unwrap_err();
    assert!(
        err.to_string().contains("cannot read metadata file"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    cat.load_table(&tid("ns", "ok")).await.unwrap();
}

#[tokio::test]
async fn table_exists_reports_truthfully() {
    let (_d, cat) = setup().await;
    assert!(!cat.table_exists(&tid("ns", "t")).await.unwrap());
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    assert!(cat.table_exists(&tid("ns", "t")).await.unwrap());
    assert!(!cat.table_exists(&tid("other", "t")).await.unwrap());
}

#[tokio::test]
async fn list_tables_is_sorted_and_scoped_to_the_namespace() {
    let (_d, cat) = setup().await;
    cat.create_namespace(&ns("other"), HashMap::new())
        .await
        .unwrap();
    for t in ["c", "a", "b"] {
        cat.create_table(&ns("ns"), creation(t)).await.unwrap();
    }
    cat.create_table(&ns("other"), creation("z")).await.unwrap();
    let names: Vec<String> = cat
        .list_tables(&ns("ns"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(
        cat.list_tables(&ns("other")).await.unwrap(),
        vec![tid("other", "z")]
    );
}

#[tokio::test]
async fn list_tables_of_missing_namespace_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat.list_tables(&ns("none")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
}

#[tokio::test]
async fn drop_table_unregisters_but_keeps_files() {
    let (d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    cat.drop_table(&tid("ns", "t")).await.unwrap();
    assert!(!cat.table_exists(&tid("ns", "t")).await.unwrap());
    assert!(cat.list_tables(&ns("ns")).await.unwrap().is_empty());
    assert!(floe_catalog::storage::local_path(t.metadata_location().unwrap()).exists());
    let _ = d;
}

#[tokio::test]
async fn drop_missing_table_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat.drop_table(&tid("ns", "nope")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound);
}

#[tokio::test]
async fn purge_table_deletes_its_files() {
    let (d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let tx = Transaction::new(&t);
    let tx = tx
        .update_table_properties()
        .set("k".into(), "v".into())
        .apply(tx)
        .unwrap();
    let t = tx.commit(&cat).await.unwrap();
    let table_dir = floe_catalog::storage::local_path(t.metadata().location());
    assert!(!files_under(&table_dir).is_empty());
    cat.purge_table(&tid("ns", "t")).await.unwrap();
    assert!(!cat.table_exists(&tid("ns", "t")).await.unwrap());
    assert!(
        files_under(&table_dir).is_empty(),
        "{:?}",
        files_under(&table_dir)
    );
    assert!(d.path().join("catalog.redb").exists());
}

#[tokio::test]
async fn rename_table_within_a_namespace() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("old")).await.unwrap();
    let id = append(&cat, &tid("ns", "old")).await;
    cat.rename_table(&tid("ns", "old"), &tid("ns", "new"))
        .await
        .unwrap();
    assert!(!cat.table_exists(&tid("ns", "old")).await.unwrap());
    let t = cat.load_table(&tid("ns", "new")).await.unwrap();
    assert_eq!(t.identifier(), &tid("ns", "new"));
    assert_eq!(current_snapshot(&t), Some(id));
}

#[tokio::test]
async fn rename_table_across_namespaces() {
    let (_d, cat) = setup().await;
    cat.create_namespace(&ns("archive"), HashMap::new())
        .await
        .unwrap();
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    cat.rename_table(&tid("ns", "t"), &tid("archive", "t"))
        .await
        .unwrap();
    assert!(cat.list_tables(&ns("ns")).await.unwrap().is_empty());
    assert_eq!(
        cat.list_tables(&ns("archive")).await.unwrap(),
        vec![tid("archive", "t")]
    );
}

#[tokio::test]
async fn rename_onto_an_existing_table_fails_and_changes_nothing() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("a")).await.unwrap();
    cat.create_table(&ns("ns"), creation("b")).await.unwrap();
    let err = cat
        .rename_table(&tid("ns", "a"), &tid("ns", "b"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableAlreadyExists);
    assert!(cat.table_exists(&tid("ns", "a")).await.unwrap());
}

#[tokio::test]
async fn rename_missing_table_or_into_missing_namespace_fails() {
    let (_d, cat) = setup().await;
    let err = cat
        .rename_table(&tid("ns", "x"), &tid("ns", "y"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound);
    cat.create_table(&ns("ns"), creation("x")).await.unwrap();
    let err = cat
        .rename_table(&tid("ns", "x"), &tid("nowhere", "y"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    let err = cat
        .rename_table(&tid("ns", "x"), &tid("ns", "../y"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid table name"), "{err}");
}

#[tokio::test]
async fn register_table_adopts_an_existing_metadata_file() {
    let (_d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let id = append(&cat, &tid("ns", "t")).await;
    let loc = cat
        .load_table(&tid("ns", "t"))
        .await
        .unwrap()
        .metadata_location()
        .unwrap()
        .to_string();
    cat.drop_table(&tid("ns", "t")).await.unwrap();
    let adopted = cat
        .register_table(&tid("ns", "again"), loc.clone())
        .await
        .unwrap();
    assert_eq!(adopted.metadata().uuid(), t.metadata().uuid());
    assert_eq!(current_snapshot(&adopted), Some(id));
    // Snapshot committed before registration: time travel still works.
    let v = cat
        .metadata_at_snapshot(&tid("ns", "again"), id)
        .await
        .unwrap();
    assert_eq!(v.snapshot_id, Some(id));
}

#[tokio::test]
async fn register_over_an_existing_name_or_a_bad_file_fails() {
    let (_d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let loc = t.metadata_location().unwrap().to_string();
    let err = cat
        .register_table(&tid("ns", "t"), loc.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableAlreadyExists);
    // Same table under a second name would make two pointers share one table.
    let err = cat
        .register_table(&tid("ns", "twin"), loc)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is already registered as 'ns.t'"),
        "{err}"
    );
    let err = cat
        .register_table(&tid("ns", "bad"), "/nonexistent/x.metadata.json".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/x.metadata.json"),
        "{err}"
    );
    assert!(!cat.table_exists(&tid("ns", "bad")).await.unwrap());
}

// ---------------------------------------------------------------- commits

#[tokio::test]
async fn transaction_property_update_commits_through_update_table() {
    let (_d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let tx = Transaction::new(&t);
    let tx = tx
        .update_table_properties()
        .set("owner".into(), "ops".into())
        .apply(tx)
        .unwrap();
    let t2 = tx.commit(&cat).await.unwrap();
    assert_eq!(t2.metadata().properties()["owner"], "ops");
    assert!(t2.metadata_location().unwrap().contains("/metadata/00001-"));
    let reloaded = cat.load_table(&tid("ns", "t")).await.unwrap();
    assert_eq!(reloaded.metadata().properties()["owner"], "ops");
}

#[tokio::test]
async fn commit_table_adds_snapshots_in_order() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let a = append(&cat, &tid("ns", "t")).await;
    let b = append(&cat, &tid("ns", "t")).await;
    let t = cat.load_table(&tid("ns", "t")).await.unwrap();
    assert_eq!(current_snapshot(&t), Some(b));
    assert_eq!(
        t.metadata().snapshot_by_id(b).unwrap().parent_snapshot_id(),
        Some(a)
    );
    assert_eq!(
        cat.table_record(&tid("ns", "t")).unwrap().snapshot_id,
        Some(b)
    );
}

#[tokio::test]
async fn concurrent_update_tables_exactly_one_wins_and_the_loser_retries() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let base = cat.load_table(&ident).await.unwrap();
    let (_, r1, u1) = new_snapshot(base.metadata());
    let (_, r2, u2) = new_snapshot(base.metadata());
    let (c1, c2) = (cat.clone(), cat.clone());
    let (i1, i2) = (ident.clone(), ident.clone());
    let h1 = tokio::spawn(async move { c1.commit_table(&i1, r1, u1).await });
    let h2 = tokio::spawn(async move { c2.commit_table(&i2, r2, u2).await });
    let results = [h1.await.unwrap(), h2.await.unwrap()];
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(loser.is_retryable(), "{loser}");
    assert_eq!(loser.kind(), ErrorKind::CatalogCommitConflicts);
    assert!(
        loser
            .to_string()
            .contains("commit conflict on table 'ns.t'"),
        "{loser}"
    );
    // Retry against the new head succeeds.
    let winner = cat
        .load_table(&ident)
        .await
        .unwrap()
        .metadata()
        .current_snapshot_id();
    let retried = append(&cat, &ident).await;
    let t = cat.load_table(&ident).await.unwrap();
    assert_eq!(
        t.metadata()
            .snapshot_by_id(retried)
            .unwrap()
            .parent_snapshot_id(),
        winner
    );
}

#[tokio::test]
async fn iceberg_transactions_retry_conflicts_themselves() {
    let (_d, cat) = setup().await;
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    // Two transactions built from the same base; both only set properties.
    let tx1 = Transaction::new(&t);
    let tx1 = tx1
        .update_table_properties()
        .set("a".into(), "1".into())
        .apply(tx1)
        .unwrap();
    let tx2 = Transaction::new(&t);
    let tx2 = tx2
        .update_table_properties()
        .set("b".into(), "2".into())
        .apply(tx2)
        .unwrap();
    tx1.commit(&cat).await.unwrap();
    tx2.commit(&cat).await.unwrap();
    let props = cat
        .load_table(&tid("ns", "t"))
        .await
        .unwrap()
        .metadata()
        .properties()
        .clone();
    assert_eq!(
        (
            props.get("a").map(String::as_str),
            props.get("b").map(String::as_str)
        ),
        (Some("1"), Some("2"))
    );
}

#[tokio::test]
async fn stale_requirements_are_a_retryable_conflict_and_change_nothing() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let stale = cat.load_table(&ident).await.unwrap();
    let head = append(&cat, &ident).await;
    let (_, reqs, updates) = new_snapshot(stale.metadata());
    let err = cat.commit_table(&ident, reqs, updates).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        current_snapshot(&cat.load_table(&ident).await.unwrap()),
        Some(head)
    );
}

#[tokio::test]
async fn commit_to_missing_table_is_not_found() {
    let (_d, cat) = setup().await;
    let err = cat
        .commit_table(
            &tid("ns", "none"),
            vec![],
            vec![TableUpdate::RemoveProperties {
                removals: vec!["x".into()],
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound);
}

#[tokio::test]
async fn invalid_update_is_rejected_and_the_pointer_stays() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let before = cat.table_record(&ident).unwrap();
    let err = cat
        .commit_table(
            &ident,
            vec![],
            vec![TableUpdate::SetCurrentSchema { schema_id: 42 }],
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(cat.table_record(&ident).unwrap(), before);
}

#[tokio::test]
async fn commit_log_records_every_pointer_move_in_order() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let snap = append(&cat, &tid("ns", "t")).await;
    cat.rename_table(&tid("ns", "t"), &tid("ns", "u"))
        .await
        .unwrap();
    cat.drop_table(&tid("ns", "u")).await.unwrap();
    let log = cat.commits(0, 100).await.unwrap();
    let ops: Vec<CommitOp> = log.iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        vec![
            CommitOp::Create,
            CommitOp::Update,
            CommitOp::Rename,
            CommitOp::Drop
        ]
    );
    assert_eq!(
        log.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(log[1].snapshot_id, Some(snap));
    assert_eq!(log[1].previous_location, log[0].metadata_location);
    assert_eq!(
        log[2].renamed_to,
        Some((vec!["ns".to_string()], "u".to_string()))
    );
    assert_eq!(log[3].metadata_location, None);
    assert!(
        log.windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
    );
    assert_eq!(cat.last_commit_seq().await.unwrap(), 4);
    assert_eq!(cat.commits(2, 1).await.unwrap()[0].seq, 3);
}

// ---------------------------------------------------------------- releases

async fn three_tables(cat: &RedbCatalog) -> Vec<TableIdent> {
    let mut out = Vec::new();
    for n in ["a", "b", "c"] {
        cat.create_table(&ns("ns"), creation(n)).await.unwrap();
        out.push(tid("ns", n));
    }
    out
}

#[tokio::test]
async fn publish_release_moves_every_table_and_records_them() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let mut staged = Vec::new();
    let mut ids = Vec::new();
    for t in &tables {
        let (id, c) = staged_append(&cat, t).await;
        ids.push(id);
        staged.push(c);
    }
    // Nothing visible before publish.
    for t in &tables {
        assert_eq!(cat.table_record(t).unwrap().snapshot_id, None);
    }
    let published = cat
        .publish_release(Some("v1"), Some("nightly"), staged)
        .await
        .unwrap();
    let rel = published.release.unwrap();
    assert_eq!(
        (rel.name.as_str(), rel.table_count, rel.kind),
        ("v1", 3, ReleaseKind::Publish)
    );
    assert_eq!(rel.message.as_deref(), Some("nightly"));
    for (t, id) in tables.iter().zip(&ids) {
        assert_eq!(cat.table_record(t).unwrap().snapshot_id, Some(*id));
    }
    let recorded = cat.release_tables("v1").await.unwrap();
    assert_eq!(recorded.len(), 3);
    let log = cat.commits(0, 100).await.unwrap();
    assert_eq!(
        log.iter().filter(|c| c.release_id == Some(rel.id)).count(),
        3
    );
}

#[tokio::test]
async fn staging_writes_the_metadata_file_and_restaging_replaces_it() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let t = &tables[0];
    let base = cat.table(t).await.unwrap();
    let base_location = base.metadata_location().unwrap().to_string();
    let (first, reqs, updates) = new_snapshot(base.metadata());
    let staged = cat.stage_commit(&base, &reqs, updates).await.unwrap();
    let first_file = staged.table().metadata_location().unwrap().to_string();
    assert_ne!(first_file, base_location);
    assert!(floe_catalog::storage::local_path(&first_file).exists());
    // Staged: written, but the table has not moved.
    assert_eq!(cat.table_record(t).unwrap().location, base_location);
    assert_eq!(staged.base_location(), base_location);

    // A second statement of the same transaction: requirements are checked against the
    // staged version; the replaced staged file stays until the caller discards it.
    let (second, reqs, updates) = new_snapshot(staged.table().metadata());
    let err = cat
        .restage(&staged, &new_snapshot(base.metadata()).1, vec![])
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "a stale requirement is a conflict: {err}"
    );
    let restaged = cat.restage(&staged, &reqs, updates).await.unwrap();
    let second_file = restaged.table().metadata_location().unwrap().to_string();
    assert!(floe_catalog::storage::local_path(&second_file).exists());
    assert!(floe_catalog::storage::local_path(&first_file).exists());
    cat.discard(&staged).await;
    assert!(!floe_catalog::storage::local_path(&first_file).exists());
    assert_eq!(restaged.base_location(), base_location);

    let published = cat
        .publish_release(None, None, vec![restaged])
        .await
        .unwrap();
    let table = &published.tables[0];
    assert_eq!(table.metadata_location(), Some(second_file.as_str()));
    assert_eq!(cat.table_record(t).unwrap().location, second_file);
    assert_eq!(cat.table_record(t).unwrap().snapshot_id, Some(second));
    // Both snapshots are in the published version and its metadata log names the base
    // once and never the unpublished staged file.
    let reloaded = cat.load_table(t).await.unwrap();
    let md = reloaded.metadata();
    assert!(md.snapshot_by_id(first).is_some() && md.snapshot_by_id(second).is_some());
    let logged: Vec<&str> = md
        .metadata_log()
        .iter()
        .map(|l| l.metadata_file.as_str())
        .collect();
    assert_eq!(logged, vec![base_location.as_str()]);
    // One commit of the whole transaction: the intermediate snapshot was never current,
    // so it is not in the snapshot log.
    let history: Vec<i64> = md.history().iter().map(|h| h.snapshot_id).collect();
    assert_eq!(history, vec![second]);
    // The commit log has both snapshots of the publish.
    let log = cat.commits(0, 100).await.unwrap();
    let ids: Vec<Option<i64>> = log.iter().map(|c| c.snapshot_id).collect();
    assert!(ids.contains(&Some(second)), "{ids:?}");
}

#[tokio::test]
async fn discarded_staged_commit_leaves_no_metadata_file() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let base = cat.table(&tables[0]).await.unwrap();
    let (_, reqs, updates) = new_snapshot(base.metadata());
    let staged = cat.stage_commit(&base, &reqs, updates).await.unwrap();
    let file = staged.table().metadata_location().unwrap().to_string();
    cat.discard(&staged).await;
    assert!(!floe_catalog::storage::local_path(&file).exists());
    // The base is untouched.
    assert!(floe_catalog::storage::local_path(base.metadata_location().unwrap()).exists());
    assert_eq!(
        cat.table_record(&tables[0]).unwrap().location,
        base.metadata_location().unwrap()
    );
}

#[tokio::test]
async fn release_with_one_moved_base_publishes_nothing_and_names_the_table() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let mut staged = Vec::new();
    for t in &tables {
        staged.push(staged_append(&cat, t).await.1);
    }
    let moved = append(&cat, &tables[1]).await; // someone else commits to b
    let before: Vec<_> = tables
        .iter()
        .map(|t| cat.table_record(t).unwrap())
        .collect();
    let err = cat
        .publish_release(Some("v1"), None, staged)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("'ns.b'") && !msg.contains("'ns.a'") && !msg.contains("'ns.c'"),
        "{msg}"
    );
    assert!(msg.contains("nothing was published"), "{msg}");
    let after: Vec<_> = tables
        .iter()
        .map(|t| cat.table_record(t).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(after[1].snapshot_id, Some(moved));
    assert!(matches!(
        cat.release("v1").await,
        Err(Error::ReleaseNotFound(_))
    ));
}

#[tokio::test]
async fn release_names_are_unique_and_validated() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    cat.tag_release("v1", None, None).await.unwrap();
    let (_, c) = staged_append(&cat, &tables[0]).await;
    let err = cat
        .publish_release(Some("v1"), None, vec![c])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("release 'v1' already exists"),
        "{err}"
    );
    assert_eq!(cat.table_record(&tables[0]).unwrap().snapshot_id, None);
    let err = cat.tag_release("v1", None, None).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = cat.tag_release("../v2", None, None).await.unwrap_err();
    assert!(err.to_string().contains("invalid release name"), "{err}");
}

#[tokio::test]
async fn unnamed_publish_is_atomic_without_a_release_record() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let (a, ca) = staged_append(&cat, &tables[0]).await;
    let (b, cb) = staged_append(&cat, &tables[1]).await;
    let published = cat.publish_release(None, None, vec![ca, cb]).await.unwrap();
    assert!(published.release.is_none());
    assert_eq!(published.tables.len(), 2);
    assert_eq!(cat.table_record(&tables[0]).unwrap().snapshot_id, Some(a));
    assert_eq!(cat.table_record(&tables[1]).unwrap().snapshot_id, Some(b));
    assert!(cat.releases().await.unwrap().is_empty());
}

#[tokio::test]
async fn tag_release_records_current_heads_of_all_or_listed_tables() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let a = append(&cat, &tables[0]).await;
    let all = cat.tag_release("cut1", None, Some("all")).await.unwrap();
    assert_eq!((all.table_count, all.kind), (3, ReleaseKind::Tag));
    let some = cat
        .tag_release("cut2", Some(vec![tables[0].clone()]), None)
        .await
        .unwrap();
    assert_eq!(some.table_count, 1);
    let entries = cat.release_tables("cut2").await.unwrap();
    assert_eq!(entries[0].snapshot_id, Some(a));
    assert_eq!(entries[0].ident(), tables[0]);
    let err = cat
        .tag_release("cut3", Some(vec![tid("ns", "zzz")]), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("table 'ns.zzz' does not exist"),
        "{err}"
    );
    assert!(matches!(
        cat.release("cut3").await,
        Err(Error::ReleaseNotFound(_))
    ));
    let names: Vec<_> = cat
        .releases()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["cut1", "cut2"]);
}

#[tokio::test]
async fn rollback_release_moves_tables_back_with_forward_commits() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let a1 = append(&cat, &tables[0]).await;
    let b1 = append(&cat, &tables[1]).await;
    cat.tag_release("good", Some(tables[..2].to_vec()), None)
        .await
        .unwrap();
    let a2 = append(&cat, &tables[0]).await;
    append(&cat, &tables[1]).await;
    let seq_before = cat.last_commit_seq().await.unwrap();
    let rb = cat.rollback_release("good", None).await.unwrap();
    assert_eq!(rb.kind, ReleaseKind::Rollback);
    assert_eq!(rb.name, "good-rollback-1");
    assert_eq!(cat.table_record(&tables[0]).unwrap().snapshot_id, Some(a1));
    assert_eq!(cat.table_record(&tables[1]).unwrap().snapshot_id, Some(b1));
    // Forward commits: history is kept, a2 is still a snapshot of the table.
    let t = cat.load_table(&tables[0]).await.unwrap();
    assert!(t.metadata().snapshot_by_id(a2).is_some());
    let log = cat.commits(seq_before, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|c| c.op == CommitOp::Update && c.release_id == Some(rb.id))
    );
    let err = cat.rollback_release("missing", None).await.unwrap_err();
    assert!(
        err.to_string().contains("release 'missing' does not exist"),
        "{err}"
    );
}

// ---------------------------------------------------------------- time travel

#[tokio::test]
async fn time_travel_by_snapshot_uses_the_historical_schema() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let old = append(&cat, &ident).await;
    let t = cat.load_table(&ident).await.unwrap();
    let wider = Schema::builder()
        .with_schema_id(1)
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "v", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(3, "extra", Type::Primitive(PrimitiveType::Int)).into(),
        ])
        .build()
        .unwrap();
    cat.commit_table(
        &ident,
        vec![],
        vec![
            TableUpdate::AddSchema { schema: wider },
            TableUpdate::SetCurrentSchema { schema_id: -1 },
        ],
    )
    .await
    .unwrap();
    let new = append(&cat, &ident).await;
    let then = cat.metadata_at_snapshot(&ident, old).await.unwrap();
    assert_eq!(then.schema.as_struct().fields().len(), 2);
    assert_eq!(
        then.table
            .metadata()
            .current_schema()
            .as_struct()
            .fields()
            .len(),
        2
    );
    assert_eq!(
        then.table.metadata_location(),
        t.metadata_location()
            .map(|_| then.table.metadata_location().unwrap())
    );
    let now = cat.metadata_at_snapshot(&ident, new).await.unwrap();
    assert_eq!(now.schema.as_struct().fields().len(), 3);
    assert_eq!(now.source, VersionSource::Snapshot);
}

#[tokio::test]
async fn unknown_snapshot_names_the_table_and_newest_ids() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let err = cat.metadata_at_snapshot(&ident, 7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "table 'ns.t' has no snapshot 7; it has no snapshots"
    );
    let a = append(&cat, &ident).await;
    let b = append(&cat, &ident).await;
    let msg = cat
        .metadata_at_snapshot(&ident, 7)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("newest snapshots available: {b}, {a}")),
        "{msg}"
    );
}

#[tokio::test]
async fn time_travel_by_timestamp_picks_the_snapshot_current_then() {
    let (_d, cat) = setup().await;
    cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    let ident = tid("ns", "t");
    let before_any = now_ms() - 1000;
    let a = append(&cat, &ident).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = append(&cat, &ident).await;
    assert_eq!(
        cat.snapshot_as_of(&ident, between)
            .await
            .unwrap()
            .snapshot_id,
        Some(a)
    );
    assert_eq!(
        cat.snapshot_as_of(&ident, now_ms() + 1000)
            .await
            .unwrap()
            .snapshot_id,
        Some(b)
    );
    let err = cat.snapshot_as_of(&ident, before_any).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("is before the first snapshot of table 'ns.t'"),
        "{err}"
    );
}

#[tokio::test]
async fn resolve_ref_finds_table_refs_then_releases() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let a1 = append(&cat, &tables[0]).await;
    cat.tag_release("v1", Some(vec![tables[0].clone()]), None)
        .await
        .unwrap();
    append(&cat, &tables[0]).await;
    let v = cat.resolve_ref(&tables[0], "v1").await.unwrap();
    assert_eq!(v.snapshot_id, Some(a1));
    assert_eq!(v.source, VersionSource::Release("v1".into()));
    // A table tag of the same name wins over the release.
    let head = cat.load_table(&tables[0]).await.unwrap();
    let head_id = head.metadata().current_snapshot_id().unwrap();
    cat.commit_table(
        &tables[0],
        vec![],
        vec![TableUpdate::SetSnapshotRef {
            ref_name: "v1".into(),
            reference: iceberg::spec::SnapshotReference::new(
                head_id,
                iceberg::spec::SnapshotRetention::Tag {
                    max_ref_age_ms: None,
                },
            ),
        }],
    )
    .await
    .unwrap();
    let v = cat.resolve_ref(&tables[0], "v1").await.unwrap();
    assert_eq!(
        (v.snapshot_id, v.source),
        (Some(head_id), VersionSource::TableRef)
    );
    let main = cat.resolve_ref(&tables[0], "main").await.unwrap();
    assert_eq!(main.snapshot_id, Some(head_id));
    let err = cat.resolve_ref(&tables[1], "v1").await.unwrap_err();
    assert_eq!(err.to_string(), "table 'ns.b' is not part of release 'v1'");
    let err = cat.resolve_ref(&tables[1], "nightly").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "table 'ns.b' has no tag or branch named 'nightly', and there is no release 'nightly'"
    );
}

#[tokio::test]
async fn release_survives_a_rename_of_its_table() {
    let (_d, cat) = setup().await;
    let tables = three_tables(&cat).await;
    let a1 = append(&cat, &tables[0]).await;
    cat.tag_release("v1", None, None).await.unwrap();
    cat.rename_table(&tables[0], &tid("ns", "renamed"))
        .await
        .unwrap();
    let v = cat.resolve_ref(&tid("ns", "renamed"), "v1").await.unwrap();
    assert_eq!(v.snapshot_id, Some(a1));
}

// ---------------------------------------------------------------- files, reopen, locking

#[tokio::test]
async fn reopen_keeps_namespaces_tables_commits_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let (snap, loc) = {
        let cat = open(dir.path()).await;
        cat.create_namespace(&ns("ns"), props(&[("k", "v")]))
            .await
            .unwrap();
        cat.create_table(&ns("ns"), creation("t")).await.unwrap();
        let snap = append(&cat, &tid("ns", "t")).await;
        cat.tag_release("r1", None, Some("m")).await.unwrap();
        (
            snap,
            cat.table_record(&tid("ns", "t")).unwrap().location.clone(),
        )
    };
    let cat = open(dir.path()).await;
    assert_eq!(
        cat.get_namespace(&ns("ns")).await.unwrap().properties()["k"],
        "v"
    );
    let t = cat.load_table(&tid("ns", "t")).await.unwrap();
    assert_eq!(t.metadata_location(), Some(loc.as_str()));
    assert_eq!(current_snapshot(&t), Some(snap));
    assert_eq!(
        cat.release("r1").await.unwrap().message.as_deref(),
        Some("m")
    );
    assert_eq!(
        cat.resolve_ref(&tid("ns", "t"), "r1")
            .await
            .unwrap()
            .snapshot_id,
        Some(snap)
    );
    assert_eq!(cat.last_commit_seq().await.unwrap(), 2);
}

#[tokio::test]
async fn second_open_of_the_same_warehouse_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path()).await;
    let err = RedbCatalog::open(dir.path()).await.unwrap_err();
    let shown = dir.path().canonicalize().unwrap().display().to_string();
    assert_eq!(
        err.to_string(),
        format!("warehouse '{shown}' is already open in another process")
    );
}

#[tokio::test]
async fn newer_catalog_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).await);
    {
        let db = redb::Database::open(dir.path().join("catalog.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("format_version", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = RedbCatalog::open(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("has format version 99"), "{err}");
    assert!(err.to_string().contains("upgrade floe"), "{err}");
}

#[tokio::test]
async fn garbage_catalog_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.redb"), vec![0x5a; 8192]).unwrap();
    let err = RedbCatalog::open(dir.path()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("catalog file '") && msg.contains("catalog.redb' is corrupt"),
        "{msg}"
    );
}

#[tokio::test]
async fn read_only_open_reads_but_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cat = open(dir.path()).await;
        cat.create_namespace(&ns("ns"), HashMap::new())
            .await
            .unwrap();
        cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    }
    let ro = RedbCatalog::builder()
        .warehouse(dir.path().display().to_string())
        .read_only(true)
        .open("floe")
        .await
        .unwrap();
    assert!(ro.is_read_only());
    ro.load_table(&tid("ns", "t")).await.unwrap();
    let err = ro.create_table(&ns("ns"), creation("u")).await.unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = ro
        .create_namespace(&ns("x"), HashMap::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(ro.tag_release("r", None, None).await.is_err());
    assert!(!ro.table_exists(&tid("ns", "u")).await.unwrap());
}

#[tokio::test]
async fn in_memory_catalog_works_and_writes_no_files() {
    let cwd_before = files_under(&std::env::current_dir().unwrap());
    let cat = RedbCatalog::in_memory().await.unwrap();
    cat.create_namespace(&ns("ns"), HashMap::new())
        .await
        .unwrap();
    let t = cat.create_table(&ns("ns"), creation("t")).await.unwrap();
    assert!(
        t.metadata_location()
            .unwrap()
            .starts_with("memory://floe/ns/t/metadata/")
    );
    let id = append(&cat, &tid("ns", "t")).await;
    cat.tag_release("v", None, None).await.unwrap();
    assert_eq!(
        cat.resolve_ref(&tid("ns", "t"), "v")
            .await
            .unwrap()
            .snapshot_id,
        Some(id)
    );
    assert!(
        cat.file_io()
            .exists(t.metadata_location().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(files_under(&std::env::current_dir().unwrap()), cwd_before);
}

#[tokio::test]
async fn missing_warehouse_property_is_a_clear_error() {
    use iceberg::CatalogBuilder;
    let err = floe_catalog::RedbCatalogBuilder::default()
        .load("x", HashMap::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("catalog property 'warehouse' is required"),
        "{err}"
    );
}

#[tokio::test]
async fn catalog_builder_trait_opens_with_properties() {
    use iceberg::CatalogBuilder;
    let dir = tempfile::tempdir().unwrap();
    let cat_file = dir.path().join("elsewhere/cat.redb");
    let cat = floe_catalog::RedbCatalogBuilder::default()
        .load(
            "lake",
            props(&[
                (
                    "warehouse",
                    &format!("file://{}", dir.path().join("wh").display()),
                ),
                ("catalog_path", &cat_file.display().to_string()),
            ]),
        )
        .await
        .unwrap();
    cat.create_namespace(&ns("n"), HashMap::new())
        .await
        .unwrap();
    assert_eq!(cat.name(), "lake");
    assert!(cat_file.exists());
    assert!(!dir.path().join("wh/catalog.redb").exists());
}
