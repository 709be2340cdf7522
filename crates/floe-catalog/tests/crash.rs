//! Crash test of the commit protocol: a child process commits, creates tables and
//! publishes releases in a loop; the parent SIGKILLs it at random moments, reopens the
//! catalog and checks:
//!
//! * the catalog opens and every table pointer names a metadata file that parses;
//! * every change the child acknowledged (it appends to an fsynced log only after a call
//!   returned) is present;
//! * every release is whole: for each release the child attempted, either the release
//!   exists and every one of its tables holds its staged snapshot, or it does not exist
//!   and none of them does.
//!
//! `FLOE_CRASH_KILLS=<n>` sets the number of kills (default 60).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use floe_catalog::RedbCatalog;
use iceberg::{Catalog, TableIdent};
use rand::{Rng, SeedableRng};
use support::*;

const CHILD_ENV: &str = "FLOE_CRASH_CHILD_DIR";

fn ack(log: &mut std::fs::File, line: &str) {
    log.write_all(line.as_bytes()).unwrap();
    log.write_all(b"\n").unwrap();
    log.sync_data().unwrap();
}

/// The child's workload; runs only when spawned by the parent test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    let dir = Path::new(&dir);
    let cat = RedbCatalog::open(dir.join("wh")).await.unwrap();
    if !cat.contains_namespace(&ns("c")) {
        cat.create_ns(&ns("c"), HashMap::new()).await.unwrap();
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("acks.log"))
        .unwrap();
    let pid = std::process::id();
    let mut rng = rand::rngs::StdRng::seed_from_u64(pid as u64);
    for i in 0.. {
        let tables = cat.tables(&ns("c")).unwrap();
        if tables.len() < 3 || rng.random_bool(0.05) {
            let name = format!("t{pid}_{i}");
            cat.create_table(&ns("c"), creation(&name)).await.unwrap();
            ack(&mut log, &format!("create {name}"));
            continue;
        }
        if rng.random_bool(0.6) {
            let t = &tables[rng.random_range(0..tables.len())];
            let id = append(&cat, t).await;
            ack(&mut log, &format!("commit {} {id}", t.name));
        } else {
            let mut chosen: Vec<&TableIdent> = Vec::new();
            while chosen.len() < 3 {
                let t = &tables[rng.random_range(0..tables.len())];
                if !chosen.contains(&t) {
                    chosen.push(t);
                }
            }
            let mut staged = Vec::new();
            let mut parts = Vec::new();
            for t in chosen {
                let (id, c) = staged_append(&cat, t).await;
                parts.push(format!("{}={id}", t.name));
                staged.push(c);
            }
            let name = format!("r{pid}_{i}");
            // Not a promise, a record of intent: checked for all-or-nothing after a kill.
            ack(&mut log, &format!("intent {name} {}", parts.join(",")));
            cat.publish_release(Some(&name), None, staged)
                .await
                .unwrap();
            ack(&mut log, &format!("release {name}"));
        }
    }
}

async fn verify(dir: &Path, round: usize) -> usize {
    let cat = RedbCatalog::open(dir.join("wh"))
        .await
        .unwrap_or_else(|e| panic!("round {round}: catalog does not open after kill: {e}"));
    // Every pointer names a complete, parseable metadata file.
    let mut snapshots: HashMap<String, HashSet<i64>> = HashMap::new();
    if cat.contains_namespace(&ns("c")) {
        for t in cat.list_tables(&ns("c")).await.unwrap() {
            let table = cat
                .load_table(&t)
                .await
                .unwrap_or_else(|e| panic!("round {round}: table {t} unreadable: {e}"));
            snapshots.insert(
                t.name.clone(),
                table
                    .metadata()
                    .snapshots()
                    .map(|s| s.snapshot_id())
                    .collect(),
            );
        }
    }
    let log = std::fs::read_to_string(dir.join("acks.log")).unwrap_or_default();
    let releases: HashSet<String> = cat
        .releases()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut intents: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    let mut checked = 0;
    for line in log.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["create", name] => {
                assert!(
                    snapshots.contains_key(*name),
                    "round {round}: acknowledged table {name} missing"
                );
            }
            ["commit", name, id] => {
                let id: i64 = id.parse().unwrap();
                assert!(
                    snapshots.get(*name).is_some_and(|s| s.contains(&id)),
                    "round {round}: acknowledged commit {id} to {name} lost"
                );
            }
            ["intent", name, tables] => {
                let entries = tables
                    .split(',')
                    .map(|p| {
                        let (t, id) = p.split_once('=').unwrap();
                        (t.to_string(), id.parse().unwrap())
                    })
                    .collect();
                intents.insert(name.to_string(), entries);
            }
            ["release", name] => {
                assert!(
                    releases.contains(*name),
                    "round {round}: acknowledged release {name} lost"
                );
            }
            _ => {} // a torn last line from a kill mid-write
        }
        checked += 1;
    }
    for (name, entries) in &intents {
        let present: Vec<bool> = entries
            .iter()
            .map(|(t, id)| snapshots.get(t).is_some_and(|s| s.contains(id)))
            .collect();
        if releases.contains(name) {
            assert!(
                present.iter().all(|p| *p),
                "round {round}: release {name} is partial: {present:?}"
            );
            let recorded = cat.release_tables(name).await.unwrap();
            assert_eq!(
                recorded.len(),
                entries.len(),
                "round {round}: release {name} table count"
            );
            for e in recorded {
                let expected = entries
                    .iter()
                    .find(|(t, _)| *t == e.table)
                    .map(|(_, id)| *id);
                assert_eq!(
                    e.snapshot_id, expected,
                    "round {round}: release {name} records wrong head"
                );
            }
        } else {
            assert!(
                present.iter().all(|p| !*p),
                "round {round}: unpublished release {name} is partly visible: {present:?}"
            );
        }
    }
    checked
}

#[test]
fn commits_and_releases_survive_sigkill() {
    let kills: usize = std::env::var("FLOE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xF10E);
    let mut acked = 0;
    for round in 0..kills {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        if let Ok(Some(status)) = child.try_wait() {
            panic!("round {round}: child exited early ({status}); run it alone to see why");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        acked = rt.block_on(verify(dir.path(), round));
    }
    assert!(
        acked > kills,
        "the child made too little progress to test anything ({acked} acks)"
    );
    eprintln!("{kills} kills, {acked} acknowledged operations verified");
}
