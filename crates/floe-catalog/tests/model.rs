//! Model-based test: random sequences of create / commit / property update / publish
//! (sometimes with a stale base) / tag / rollback / drop / rename / reopen, run against
//! the real catalog and against a plain in-memory model, compared after every step.
//!
//! Seeded and reproducible: `FLOE_MODEL_SEED=<n> FLOE_MODEL_STEPS=<n> cargo test -p
//! floe-catalog --test model` replays one run.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use floe_catalog::{RedbCatalog, StagedCommit};
use iceberg::{Catalog, TableIdent, TableUpdate};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use support::*;

#[derive(Debug, Clone)]
struct MTable {
    uuid: String,
    snapshot: Option<i64>,
    snapshots: BTreeSet<i64>,
    props: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Model {
    tables: BTreeMap<TableIdent, MTable>,
    /// release name → (table uuid → snapshot), in creation order.
    releases: Vec<(String, BTreeMap<String, Option<i64>>)>,
    commits: u64,
}

impl Model {
    fn release(&self, name: &str) -> Option<&BTreeMap<String, Option<i64>>> {
        self.releases
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }
    fn by_uuid(&self, uuid: &str) -> Option<TableIdent> {
        self.tables
            .iter()
            .find(|(_, t)| t.uuid == uuid)
            .map(|(i, _)| i.clone())
    }
}

const NAMESPACES: [&str; 2] = ["a", "b"];
const NAMES: [&str; 5] = ["t0", "t1", "t2", "t3", "t4"];

fn random_ident(rng: &mut StdRng) -> TableIdent {
    tid(NAMESPACES.choose(rng).unwrap(), NAMES.choose(rng).unwrap())
}

fn existing(rng: &mut StdRng, model: &Model) -> Option<TableIdent> {
    let all: Vec<_> = model.tables.keys().cloned().collect();
    all.choose(rng).cloned()
}

async fn check(cat: &RedbCatalog, model: &Model, step: usize, what: &str) {
    let ctx = format!("after step {step} ({what})");
    for n in NAMESPACES {
        let listed: Vec<TableIdent> = cat.list_tables(&ns(n)).await.unwrap();
        let expected: Vec<TableIdent> = model
            .tables
            .keys()
            .filter(|t| t.namespace == ns(n))
            .cloned()
            .collect();
        assert_eq!(listed, expected, "{ctx}: tables of {n}");
    }
    for (ident, m) in &model.tables {
        assert!(
            cat.table_exists(ident).await.unwrap(),
            "{ctx}: {ident} missing"
        );
        let rec = cat.table_record(ident).unwrap();
        assert_eq!(rec.uuid, m.uuid, "{ctx}: uuid of {ident}");
        assert_eq!(
            rec.snapshot_id, m.snapshot,
            "{ctx}: record snapshot of {ident}"
        );
        let t = cat.load_table(ident).await.unwrap();
        assert_eq!(
            t.metadata().current_snapshot_id(),
            m.snapshot,
            "{ctx}: snapshot of {ident}"
        );
        for s in &m.snapshots {
            assert!(
                t.metadata().snapshot_by_id(*s).is_some(),
                "{ctx}: {ident} lost snapshot {s}"
            );
        }
        assert_eq!(
            t.metadata().snapshots().len(),
            m.snapshots.len(),
            "{ctx}: {ident} snapshots"
        );
        for (k, v) in &m.props {
            assert_eq!(
                t.metadata().properties().get(k),
                Some(v),
                "{ctx}: {ident} property {k}"
            );
        }
    }
    let names: Vec<String> = cat
        .releases()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let expected: Vec<String> = model.releases.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, expected, "{ctx}: releases");
    for (name, tables) in &model.releases {
        let recorded: BTreeMap<String, Option<i64>> = cat
            .release_tables(name)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.table_uuid, e.snapshot_id))
            .collect();
        assert_eq!(&recorded, tables, "{ctx}: release {name}");
        // Time travel to the release agrees for every table of it that still exists.
        for (uuid, snap) in tables {
            if let Some(ident) = model.by_uuid(uuid) {
                let v = cat.resolve_ref(&ident, name).await.unwrap();
                assert_eq!(v.snapshot_id, *snap, "{ctx}: {ident} as of {name}");
            }
        }
    }
    assert_eq!(
        cat.last_commit_seq().await.unwrap(),
        model.commits,
        "{ctx}: commit log length"
    );
}

async fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cat = open(dir.path()).await;
    for n in NAMESPACES {
        cat.create_ns(&ns(n), HashMap::new()).await.unwrap();
    }
    let mut model = Model::default();
    for step in 0..steps {
        let roll = rng.random_range(0..100);
        let what: String;
        match roll {
            0..=14 => {
                let ident = random_ident(&mut rng);
                what = format!("create {ident}");
                let res = cat
                    .create_table(&ident.namespace, creation(&ident.name))
                    .await;
                match model.tables.entry(ident) {
                    std::collections::btree_map::Entry::Occupied(_) => assert_eq!(
                        res.unwrap_err().kind(),
                        iceberg::ErrorKind::TableAlreadyExists,
                        "{what}"
                    ),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        let t = res.unwrap();
                        slot.insert(MTable {
                            uuid: t.metadata().uuid().to_string(),
                            snapshot: None,
                            snapshots: BTreeSet::new(),
                            props: BTreeMap::new(),
                        });
                        model.commits += 1;
                    }
                }
            }
            15..=39 => {
                let Some(ident) = existing(&mut rng, &model) else {
                    continue;
                };
                what = format!("append {ident}");
                let id = append(&cat, &ident).await;
                let m = model.tables.get_mut(&ident).unwrap();
                m.snapshot = Some(id);
                m.snapshots.insert(id);
                model.commits += 1;
            }
            40..=47 => {
                let Some(ident) = existing(&mut rng, &model) else {
                    continue;
                };
                let (k, v) = (format!("k{}", rng.random_range(0..3)), format!("v{step}"));
                what = format!("set {k}={v} on {ident}");
                cat.commit_table(
                    &ident,
                    vec![],
                    vec![TableUpdate::SetProperties {
                        updates: HashMap::from([(k.clone(), v.clone())]),
                    }],
                )
                .await
                .unwrap();
                model.tables.get_mut(&ident).unwrap().props.insert(k, v);
                model.commits += 1;
            }
            48..=62 => {
                let all: Vec<TableIdent> = model.tables.keys().cloned().collect();
                if all.is_empty() {
                    continue;
                }
                let n = rng.random_range(1..=all.len().min(3));
                let chosen: Vec<TableIdent> = all.choose_multiple(&mut rng, n).cloned().collect();
                let mut staged: Vec<(TableIdent, i64, StagedCommit)> = Vec::new();
                for t in &chosen {
                    let (id, c) = staged_append(&cat, t).await;
                    staged.push((t.clone(), id, c));
                }
                let stale = rng.random_bool(0.25);
                if stale {
                    // Somebody else commits to one of the tables first.
                    let victim = chosen[0].clone();
                    let id = append(&cat, &victim).await;
                    let m = model.tables.get_mut(&victim).unwrap();
                    m.snapshot = Some(id);
                    m.snapshots.insert(id);
                    model.commits += 1;
                }
                let named = rng.random_bool(0.7);
                let name = format!("rel{step}");
                what = format!("publish {chosen:?} named={named} stale={stale}");
                let res = cat
                    .publish_release(
                        named.then_some(name.as_str()),
                        None,
                        staged.iter().map(|s| s.2.clone()).collect(),
                    )
                    .await;
                if stale {
                    let err = res.unwrap_err();
                    assert!(err.is_retryable(), "{what}: {err}");
                } else {
                    res.unwrap();
                    let mut rel = BTreeMap::new();
                    for (t, id, _) in &staged {
                        let m = model.tables.get_mut(t).unwrap();
                        m.snapshot = Some(*id);
                        m.snapshots.insert(*id);
                        rel.insert(m.uuid.clone(), Some(*id));
                        model.commits += 1;
                    }
                    if named {
                        model.releases.push((name, rel));
                    }
                }
            }
            63..=70 => {
                let name = format!("tag{step}");
                what = format!("tag {name}");
                cat.tag_release(&name, None, None).await.unwrap();
                let rel = model
                    .tables
                    .values()
                    .map(|m| (m.uuid.clone(), m.snapshot))
                    .collect();
                model.releases.push((name, rel));
            }
            71..=77 => {
                let Some((name, rel)) = model.releases.choose(&mut rng).cloned() else {
                    continue;
                };
                what = format!("rollback {name}");
                let res = cat.rollback_release(&name, None).await;
                let gone = rel.keys().any(|u| model.by_uuid(u).is_none());
                if gone {
                    let err = res.unwrap_err();
                    assert!(
                        err.to_string().contains("no longer exists"),
                        "{what}: {err}"
                    );
                } else {
                    let record = res.unwrap();
                    let k = (1..)
                        .find(|k| model.release(&format!("{name}-rollback-{k}")).is_none())
                        .unwrap();
                    assert_eq!(record.name, format!("{name}-rollback-{k}"), "{what}");
                    for (uuid, snap) in &rel {
                        let ident = model.by_uuid(uuid).unwrap();
                        let m = model.tables.get_mut(&ident).unwrap();
                        if m.snapshot != *snap {
                            m.snapshot = *snap;
                            model.commits += 1;
                        }
                    }
                    model.releases.push((record.name, rel));
                }
            }
            78..=85 => {
                let Some(ident) = existing(&mut rng, &model) else {
                    continue;
                };
                what = format!("drop {ident}");
                cat.drop_table(&ident).await.unwrap();
                model.tables.remove(&ident);
                model.commits += 1;
            }
            86..=93 => {
                let Some(from) = existing(&mut rng, &model) else {
                    continue;
                };
                let to = random_ident(&mut rng);
                what = format!("rename {from} -> {to}");
                let res = cat.rename_table(&from, &to).await;
                if model.tables.contains_key(&to) {
                    assert!(res.is_err(), "{what}");
                } else {
                    res.unwrap();
                    let m = model.tables.remove(&from).unwrap();
                    model.tables.insert(to, m);
                    model.commits += 1;
                }
            }
            _ => {
                what = "reopen".into();
                drop(cat);
                cat = open(dir.path()).await;
            }
        }
        check(&cat, &model, step, &what).await;
    }
    drop(cat);
    let cat = open(dir.path()).await;
    check(&cat, &model, steps, "final reopen").await;
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_matches_model_over_random_operation_sequences() {
    let steps = env_u64("FLOE_MODEL_STEPS").unwrap_or(250) as usize;
    match env_u64("FLOE_MODEL_SEED") {
        Some(seed) => run(seed, steps).await,
        None => {
            for seed in [1, 2, 3] {
                run(seed, steps).await;
            }
        }
    }
}
