//! Arbitrary bytes as SQL through floe's front end on an in-memory warehouse: every input
//! must end in a result or an error — never a panic (caught panics included) or a hang.
#![no_main]

use std::sync::LazyLock;

use floe::datafusion;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

struct Env {
    rt: tokio::runtime::Runtime,
    floe: floe::Floe,
}

static ENV: LazyLock<Env> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let floe = rt.block_on(async {
        let f = floe::Floe::in_memory().await.unwrap();
        f.sql("CREATE TABLE t (x INT, s VARCHAR); INSERT INTO t VALUES (1, 'a'), (2, 'b')").await.unwrap();
        f
    });
    Env { rt, floe }
});

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    if sql.len() > 4096 {
        return;
    }
    let env = &*ENV;
    env.rt.block_on(async {
        for stmt in floe::floe_sql::frontend::split::split_statements(sql) {
            let run = async {
                let mut out = env.floe.session().execute(&stmt.text).await?;
                while let Some(b) = out.stream.next().await {
                    b?;
                }
                Ok::<_, datafusion::error::DataFusionError>(())
            };
            match tokio::time::timeout(std::time::Duration::from_secs(10), run).await {
                Err(_) => panic!("hang on {:?}", stmt.text),
                Ok(Err(e)) => {
                    let msg = floe::display_error(&e);
                    assert!(!msg.contains("internal error (please report it)"), "panic caught for {:?}: {msg}", stmt.text);
                }
                Ok(Ok(())) => {}
            }
        }
        let _ = env.floe.sql("ROLLBACK").await;
    });
});
