//! `crash`: a child `floe` shell process runs a random workload (INSERT, DELETE, UPDATE,
//! MERGE, copy-on-write and merge-on-read tables (v2 and v3), CTAS, DROP, RENAME, staged multi-table
//! releases, procedures including compaction) fed through its stdin;
//! the parent SIGKILLs it at random moments, reopens the warehouse and checks it against
//! a model of what the child acknowledged:
//!
//! * the warehouse opens; every table's metadata parses and every table scans (so every
//!   referenced data file exists);
//! * every acknowledged change is present; the one statement in flight at the kill is
//!   either wholly applied or not at all — a release included (never partly visible);
//! * every acknowledged release exists.
//!
//! Acknowledgement: after each unit of work the parent sends `SELECT 'ack-<n>'`; the shell
//! runs statements in order and stops at the first error, so seeing `ack-<n>` on its
//! output means everything before it succeeded. Acknowledgements are also appended to a
//! side file (`acks.log`) as they arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use floe::Floe;

type Rows = BTreeSet<(i64, String)>;

/// The model: every table's rows, and the releases made.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    tables: BTreeMap<String, Rows>,
    releases: BTreeSet<String>,
}

/// One unit of work: the SQL to send and the model after it.
struct Step {
    sql: String,
    after: Model,
}

struct Workload {
    rng: u64,
    next_id: i64,
    next_name: usize,
}

impl Workload {
    fn rand(&mut self, n: usize) -> usize {
        // xorshift64*: deterministic per seed, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    fn pick<'a>(&mut self, names: &'a [String]) -> Option<&'a String> {
        if names.is_empty() {
            None
        } else {
            Some(&names[self.rand(names.len())])
        }
    }

    fn next(&mut self, model: &Model) -> Step {
        let mut after = model.clone();
        let names: Vec<String> = model.tables.keys().cloned().collect();
        let choice = if names.len() < 3 { 0 } else { self.rand(100) };
        let sql = match choice {
            0..=9 => {
                self.next_name += 1;
                let name = format!("t{}", self.next_name);
                after.tables.insert(name.clone(), Rows::new());
                // A third of the tables copy on write; a third write position delete
                // files (merge-on-read, v2); a third deletion vectors (merge-on-read, v3).
                let modes = match self.rand(3) {
                    0 => {
                        " TBLPROPERTIES ('write.delete.mode' = 'merge-on-read', \
                         'write.update.mode' = 'merge-on-read', 'write.merge.mode' = 'merge-on-read')"
                    }
                    1 => {
                        " TBLPROPERTIES ('format-version' = '3', 'write.delete.mode' = 'merge-on-read', \
                         'write.update.mode' = 'merge-on-read', 'write.merge.mode' = 'merge-on-read')"
                    }
                    _ => "",
                };
                format!("CREATE TABLE {name} (id BIGINT, v VARCHAR){modes}")
            }
            40..=44 => {
                // An upsert: one existing row (if any) updated, one new row inserted.
                let t = self.pick(&names).cloned().unwrap_or_default();
                let rows: Vec<(i64, String)> = model.tables[&t].iter().cloned().collect();
                self.next_id += 1;
                let new_id = self.next_id;
                let mut values = vec![format!("({new_id}, 'm{new_id}')")];
                if let Some(r) = after.tables.get_mut(&t) {
                    if !rows.is_empty() {
                        let (id, _) = rows[self.rand(rows.len())].clone();
                        values.push(format!("({id}, 'm{id}')"));
                        r.retain(|(i, _)| *i != id);
                        r.insert((id, format!("m{id}")));
                    }
                    r.insert((new_id, format!("m{new_id}")));
                }
                format!(
                    "MERGE INTO {t} USING (VALUES {}) AS s(id, v) ON {t}.id = s.id \
                     WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)",
                    values.join(", ")
                )
            }
            10..=39 => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                let n = 1 + self.rand(4);
                let mut values = Vec::new();
                for _ in 0..n {
                    self.next_id += 1;
                    values.push(format!("({}, 'v{}')", self.next_id, self.next_id));
                    if let Some(r) = after.tables.get_mut(&t) {
                        r.insert((self.next_id, format!("v{}", self.next_id)));
                    }
                }
                format!("INSERT INTO {t} VALUES {}", values.join(", "))
            }
            45..=54 => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                let rows: Vec<(i64, String)> = model.tables[&t].iter().cloned().collect();
                if rows.is_empty() {
                    return self.next(model);
                }
                let (id, _) = rows[self.rand(rows.len())].clone();
                if let Some(r) = after.tables.get_mut(&t) {
                    r.retain(|(i, _)| *i != id);
                }
                format!("DELETE FROM {t} WHERE id = {id}")
            }
            55..=62 => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                let rows: Vec<(i64, String)> = model.tables[&t].iter().cloned().collect();
                if rows.is_empty() {
                    return self.next(model);
                }
                let (id, _) = rows[self.rand(rows.len())].clone();
                if let Some(r) = after.tables.get_mut(&t) {
                    r.retain(|(i, _)| *i != id);
                    r.insert((id, format!("u{id}")));
                }
                format!("UPDATE {t} SET v = 'u{id}' WHERE id = {id}")
            }
            63..=69 => {
                let src = self.pick(&names).cloned().unwrap_or_default();
                self.next_name += 1;
                let name = format!("c{}", self.next_name);
                after
                    .tables
                    .insert(name.clone(), model.tables[&src].clone());
                format!("CREATE TABLE {name} AS SELECT * FROM {src}")
            }
            70..=74 => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                after.tables.remove(&t);
                let purge = if self.rand(2) == 0 { " PURGE" } else { "" };
                format!("DROP TABLE {t}{purge}")
            }
            75..=79 => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                self.next_name += 1;
                let name = format!("r{}", self.next_name);
                let rows = after.tables.remove(&t).unwrap_or_default();
                after.tables.insert(name.clone(), rows);
                format!("ALTER TABLE {t} RENAME TO {name}")
            }
            80..=94 => {
                // A staged release over three tables: all or nothing.
                let mut chosen: Vec<String> = Vec::new();
                while chosen.len() < 3 {
                    let t = self.pick(&names).cloned().unwrap_or_default();
                    if !chosen.contains(&t) {
                        chosen.push(t);
                    }
                }
                self.next_name += 1;
                let release = format!("rel{}", self.next_name);
                let mut sql = String::from("BEGIN;\n");
                for t in &chosen {
                    self.next_id += 1;
                    sql.push_str(&format!(
                        "INSERT INTO {t} VALUES ({}, 'v{}');\n",
                        self.next_id, self.next_id
                    ));
                    if let Some(r) = after.tables.get_mut(t) {
                        r.insert((self.next_id, format!("v{}", self.next_id)));
                    }
                }
                if self.rand(3) == 0 {
                    sql.push_str("COMMIT");
                } else {
                    sql.push_str(&format!("CALL release('{release}')"));
                    after.releases.insert(release);
                }
                sql
            }
            _ => {
                let t = self.pick(&names).cloned().unwrap_or_default();
                match self.rand(4) {
                    3 => format!(
                        "CALL rewrite_data_files('{t}', options => map('min-input-files', '2'))"
                    ),
                    0 => {
                        // A tag needs a snapshot: write one first, in the same unit of work.
                        self.next_name += 1;
                        self.next_id += 1;
                        if let Some(r) = after.tables.get_mut(&t) {
                            r.insert((self.next_id, format!("v{}", self.next_id)));
                        }
                        format!(
                            "INSERT INTO {t} VALUES ({id}, 'v{id}');\nCALL create_tag('{t}', 'tag{}')",
                            self.next_name,
                            id = self.next_id
                        )
                    }
                    1 => format!("CALL expire_snapshots('{t}', older_than => now(), retain_last => 2)"),
                    _ => "CALL remove_orphan_files(older_than => now() - INTERVAL '1' HOUR, dry_run => false)".to_string(),
                }
            }
        };
        Step { sql, after }
    }
}

/// Where the campaign's warehouse lives.
#[derive(Debug, Clone)]
pub enum Target {
    /// A local directory (its catalog file inside).
    Local(PathBuf),
    /// An object-store warehouse (`s3://bucket/prefix`), its local catalog file, and the
    /// properties to open it with (`s3.endpoint`, credentials...).
    Object {
        /// Warehouse root.
        root: String,
        /// Catalog file.
        catalog: PathBuf,
        /// Properties given to every open (the child shell gets them as `--property`).
        properties: Vec<(String, String)>,
    },
}

impl Target {
    /// A local path next to which side files (acknowledgements, stderr) are kept.
    fn side(&self) -> &Path {
        match self {
            Target::Local(dir) => dir,
            Target::Object { catalog, .. } => catalog,
        }
    }

    async fn open(&self) -> datafusion::error::Result<Floe> {
        match self {
            Target::Local(dir) => Floe::open(dir).await,
            Target::Object {
                root,
                catalog,
                properties,
            } => {
                let mut b = Floe::builder()
                    .warehouse(root.clone())
                    .catalog_path(catalog.display().to_string());
                for (k, v) in properties {
                    b = b.property(k.clone(), v.clone());
                }
                b.open().await
            }
        }
    }
}

/// What the warehouse holds now, read through a fresh open.
async fn observe(target: &Target) -> Result<Model, String> {
    let floe = target.open().await.map_err(|e| {
        format!(
            "the warehouse does not open after the kill: {}",
            floe::display_error(&e)
        )
    })?;
    let mut model = Model::default();
    let catalog = floe.redb_catalog();
    let ns = floe::iceberg::NamespaceIdent::new("public".into());
    for ident in catalog.tables(&ns).map_err(|e| e.to_string())? {
        let name = ident.name.clone();
        let batches = floe
            .sql(&format!("SELECT id, v FROM \"{name}\""))
            .await
            .map_err(|e| format!("table {name} does not scan: {}", floe::display_error(&e)))?;
        let mut rows = Rows::new();
        for b in batches {
            use datafusion::arrow::array::AsArray;
            let ids = b
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let vs = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                rows.insert((ids.value(i), vs.value(i).to_string()));
            }
        }
        // Every file the current snapshot references exists.
        let io = floe.redb_catalog().file_io().clone();
        let files = floe
            .sql(&format!("SELECT file_path FROM \"{name}$files\""))
            .await
            .map_err(|e| format!("files of {name}: {}", floe::display_error(&e)))?;
        for b in files {
            use datafusion::arrow::array::AsArray;
            let paths = b.column(0).as_string::<i32>();
            for i in 0..b.num_rows() {
                let p = paths.value(i);
                if !io.exists(p).await.map_err(|e| e.to_string())? {
                    return Err(format!("table {name} references a missing file {p}"));
                }
            }
        }
        model.tables.insert(name, rows);
    }
    for r in catalog.releases().await.map_err(|e| e.to_string())? {
        model.releases.insert(r.name);
    }
    Ok(model)
}

/// Compares the observed warehouse with the acknowledged model (and the in-flight step).
fn verify(observed: &Model, acked: &Model, in_flight: Option<&Model>) -> Result<(), String> {
    if observed == acked || in_flight.is_some_and(|m| observed == m) {
        return Ok(());
    }
    let mut diffs = Vec::new();
    let candidates = [Some(acked), in_flight];
    for (label, want) in ["acknowledged", "in-flight applied"].iter().zip(candidates) {
        let Some(want) = want else { continue };
        for (t, rows) in &want.tables {
            match observed.tables.get(t) {
                None => diffs.push(format!("[{label}] table {t} missing")),
                Some(got) if got != rows => diffs.push(format!(
                    "[{label}] table {t}: missing {:?}, extra {:?}",
                    rows.difference(got).take(3).collect::<Vec<_>>(),
                    got.difference(rows).take(3).collect::<Vec<_>>()
                )),
                _ => {}
            }
        }
        for t in observed.tables.keys() {
            if !want.tables.contains_key(t) {
                diffs.push(format!("[{label}] unexpected table {t}"));
            }
        }
        if want.releases != observed.releases {
            diffs.push(format!("[{label}] releases differ"));
        }
    }
    Err(diffs.join("; "))
}

/// Campaign results.
#[derive(Debug, Default)]
pub struct CampaignResult {
    /// Kills performed.
    pub kills: usize,
    /// Units of work acknowledged in total.
    pub acknowledged: usize,
    /// Kills that hit a unit of work in flight.
    pub in_flight_kills: usize,
    /// Violations found (the first few descriptions).
    pub violations: Vec<String>,
}

fn spawn_child(bin: &Path, target: &Target) -> std::io::Result<Child> {
    // The child's stderr goes to a side file (truncated per round) so that a statement
    // the child refused can be reported.
    let stderr = std::fs::File::create(target.side().with_extension("stderr.log"))?;
    let mut cmd = Command::new(bin);
    match target {
        Target::Local(dir) => {
            cmd.arg(dir);
        }
        Target::Object {
            root,
            catalog,
            properties,
        } => {
            cmd.arg(root).arg("--catalog").arg(catalog);
            for (k, v) in properties {
                cmd.arg("--property").arg(format!("{k}={v}"));
            }
        }
    }
    cmd.args(["-q", "--format", "csv"])
        .env("FLOE_HISTORY", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
}

/// Runs `kills` rounds on a local warehouse in `dir`.
pub async fn run_campaign(
    bin: &Path,
    dir: &Path,
    kills: usize,
    seed: u64,
) -> Result<CampaignResult, String> {
    run_campaign_on(bin, &Target::Local(dir.to_path_buf()), kills, seed).await
}

/// Runs `kills` rounds: each round starts a child shell, feeds it work, kills it at a
/// random moment and verifies the warehouse.
pub async fn run_campaign_on(
    bin: &Path,
    target: &Target,
    kills: usize,
    seed: u64,
) -> Result<CampaignResult, String> {
    let dir = target.side();
    let mut acked = Model::default();
    let mut workload = Workload {
        rng: seed.max(1),
        next_id: 0,
        next_name: 0,
    };
    let mut result = CampaignResult::default();
    let mut ack_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("acks.log"))
        .map_err(|e| e.to_string())?;
    let mut marker = 0u64;
    for round in 0..kills {
        let mut child =
            spawn_child(bin, target).map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill after a random amount of work and time.
        let deadline = Instant::now() + Duration::from_millis(50 + workload.rand(400) as u64);
        let mut in_flight: Option<Model> = None;
        let mut died = false;
        while Instant::now() < deadline {
            let step = workload.next(&acked);
            marker += 1;
            let text = format!("{};\nSELECT 'ack-{marker}' AS ack;\n", step.sql);
            if stdin
                .write_all(text.as_bytes())
                .and_then(|_| stdin.flush())
                .is_err()
            {
                died = true;
                break;
            }
            in_flight = Some(step.after.clone());
            // Wait for the acknowledgement, or for the deadline (then kill mid-flight).
            let want = format!("ack-{marker}");
            let mut got = false;
            while Instant::now() < deadline + Duration::from_secs(30) {
                match rx.recv_timeout(Duration::from_millis(5)) {
                    Ok(line) if line == want => {
                        got = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if Instant::now() >= deadline && workload.rand(2) == 0 {
                            break; // kill now, with the step in flight
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        died = true;
                        break;
                    }
                }
            }
            if !got {
                break;
            }
            acked = step.after;
            in_flight = None;
            result.acknowledged += 1;
            let _ = writeln!(ack_log, "{marker}");
        }
        let _ = child.kill();
        let _ = child.wait();
        drop(stdin);
        let _ = reader.join();
        if died && in_flight.is_some() {
            // The shell stopped on an error: the step failed and changed nothing.
            let stderr =
                std::fs::read_to_string(dir.with_extension("stderr.log")).unwrap_or_default();
            return Err(format!(
                "round {round}: the child shell failed a statement of the workload: {}",
                stderr.trim()
            ));
        }
        if in_flight.is_some() {
            result.in_flight_kills += 1;
        }
        let observed = observe(target).await?;
        if let Err(v) = verify(&observed, &acked, in_flight.as_ref()) {
            result.violations.push(format!("round {round}: {v}"));
            return Ok(result);
        }
        // Adopt what is on disk (it equals the acknowledged or the in-flight model).
        acked = observed;
        result.kills += 1;
    }
    Ok(result)
}

/// The suite: `floe-bench crash [--quick] [--s3]` (500 kills, or 60 with --quick); with
/// `--s3` the warehouse is on a moto S3 server on loopback (started and stopped here).
pub async fn run(
    quick: bool,
    kills: Option<usize>,
    s3: bool,
) -> Result<crate::report::Report, String> {
    let bin = crate::floe_binary()?;
    let kills = kills.unwrap_or(if quick { 60 } else { 500 });
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server;
    let target = if s3 {
        server = crate::moto::Moto::start()
            .ok_or("--s3 needs moto_server (pip install \"moto[server]==5.2.1\")")?;
        server.create_bucket("crash");
        Target::Object {
            root: "s3://crash/warehouse".into(),
            catalog: dir.path().join("catalog.redb"),
            properties: server.properties(),
        }
    } else {
        Target::Local(dir.path().join("warehouse"))
    };
    let start = Instant::now();
    let result = run_campaign_on(&bin, &target, kills, 0xF10E_C4A5).await?;
    let mut report = crate::report::Report::new(if s3 { "crash-s3" } else { "crash" }, quick);
    report.notes.push(format!(
        "{} kills ({} with a statement in flight), {} acknowledged units of work, {} violations, {:.0}s",
        result.kills,
        result.in_flight_kills,
        result.acknowledged,
        result.violations.len(),
        start.elapsed().as_secs_f64()
    ));
    for v in &result.violations {
        report.notes.push(format!("VIOLATION {v}"));
    }
    report.lower_is_better(
        "violations",
        result.violations.len() as f64,
        "-",
        None,
        "count",
        Some("0"),
    );
    if !result.violations.is_empty() {
        report.print();
        return Err(format!("{} violation(s) found", result.violations.len()));
    }
    Ok(report)
}
