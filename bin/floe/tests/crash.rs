//! The short crash campaign (the full one is `floe-bench crash`, 500 kills): the real
//! `floe` shell is SIGKILLed at random moments while it runs INSERTs, DELETEs, UPDATEs,
//! MERGEs (on copy-on-write and merge-on-read tables), compaction,
//! CTAS, DROP/RENAME, staged releases and procedures; after every kill the warehouse must
//! open, scan, hold every acknowledged change, and show releases whole.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill() {
    let kills: usize = std::env::var("FLOE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_floe"));
    let result = floe_bench::crash::run_campaign(&bin, &dir.path().join("wh"), kills, 7)
        .await
        .unwrap();
    assert!(result.violations.is_empty(), "{:?}", result.violations);
    assert_eq!(result.kills, kills);
    assert!(
        result.acknowledged > kills,
        "too little work was acknowledged to test anything: {result:?}"
    );
    eprintln!("{result:?}");
}
