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

#[path = "../../../tests/support/moto.rs"]
mod moto;

/// The same campaign with the warehouse on a real S3 server (moto, loopback): files go
/// by PUT, the pointer moves in the local catalog file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill_on_s3() {
    let Some(server) = moto::Moto::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs moto_server (.ci/run installs moto[server])"
        );
        eprintln!("skipping: moto_server is not installed");
        return;
    };
    server.create_bucket("crash");
    let kills: usize = std::env::var("FLOE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let target = floe_bench::crash::Target::Object {
        root: "s3://crash/wh".into(),
        catalog: dir.path().join("catalog.redb"),
        properties: server.properties(),
    };
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_floe"));
    let result = floe_bench::crash::run_campaign_on(&bin, &target, kills, 11)
        .await
        .unwrap();
    assert!(result.violations.is_empty(), "{:?}", result.violations);
    assert_eq!(result.kills, kills);
    assert!(result.acknowledged > kills, "{result:?}");
    eprintln!("{result:?}");
}
