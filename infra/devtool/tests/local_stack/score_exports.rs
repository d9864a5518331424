//! The sync's AWS adapters against the local endpoint (moto): the exports bucket read by byte
//! range and the run records written beside it (`S3ExportStore`), the units on SQS
//! (`SqsSyncUnitQueue`), and a whole sync run through both.

use std::io::Write as _;
use std::sync::Arc;

use storecast::availability::sync::export::keys;
use storecast::availability::sync::{ExportStore, ScoreSync, SyncPorts, SyncUnit};
use storecast::availability::{
    AvailabilityConfig, ChangeNote, ConfigStore as _, MissingScore, ModelColumn,
};
use storecast::aws::score_exports::S3ExportStore;
use storecast::aws::sync_units::SqsSyncUnitQueue;
use storecast::clock::SystemClock;
use storecast::domain::{ExportId, ModelVersion, ScoreColumn, TenantId};
use storecast::error::StoreError;
use storecast::testing::{MemoryConfigStore, MemoryScoreStore};
use storecast_dev::local::{Clients, Endpoint};

struct Local {
    clients: Clients,
    bucket: String,
    queue_url: String,
}

async fn local(name: &str) -> Local {
    let endpoint = Endpoint::from_env().expect(
        "these tests need the local endpoint: run them with \
         infra/scripts/with-local-stack.sh cargo test",
    );
    let clients = Clients::new(&endpoint.sdk_config().await);
    let suffix = format!("{}-{}", name, std::process::id());
    let bucket = format!("exports-{suffix}");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(format!("sync-units-{suffix}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    Local {
        clients,
        bucket,
        queue_url,
    }
}

async fn put(local: &Local, key: &str, body: Vec<u8>) {
    local
        .clients
        .s3
        .put_object()
        .bucket(&local.bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn config() -> AvailabilityConfig {
    AvailabilityConfig {
        models: vec![ModelColumn {
            model: ModelVersion::parse("avail-2026-11").unwrap(),
            column: ScoreColumn::parse("s1").unwrap(),
            synced: true,
            enabled: true,
            base_threshold: 0.5,
        }],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

#[tokio::test]
async fn the_exports_bucket_reads_ranges_lists_manifests_and_keeps_run_records() {
    let local = local("store").await;
    let store = S3ExportStore::new(local.clients.s3.clone(), &local.bucket);
    let tenant = TenantId::parse("alpine").unwrap();
    let export = ExportId::parse("2026-11-30T02").unwrap();
    let data = keys::export_folder(&tenant, &export) + "data_0_0_0.csv";
    put(&local, &data, b"0123456789".to_vec()).await;
    put(&local, &keys::manifest(&tenant, &export), b"{}".to_vec()).await;
    put(
        &local,
        "availability/exports/alpine/deeper/x/manifest.json",
        b"{}".to_vec(),
    )
    .await;
    put(
        &local,
        "availability/exports/other/e9/manifest.json",
        b"{}".to_vec(),
    )
    .await;

    assert_eq!(store.exports(&tenant).await.unwrap(), vec![export.clone()]);
    assert_eq!(
        store.manifest(&tenant, &export).await.unwrap().unwrap(),
        b"{}"
    );
    let missing = ExportId::parse("nope").unwrap();
    assert!(store.manifest(&tenant, &missing).await.unwrap().is_none());
    assert_eq!(store.object_size(&data).await.unwrap(), 10);
    assert_eq!(store.read_range(&data, 3, 6).await.unwrap(), b"345");
    assert_eq!(store.read_range(&data, 8, 100).await.unwrap(), b"89");
    assert!(store.read_range(&data, 10, 20).await.unwrap().is_empty());
    let error = store
        .object_size("availability/exports/alpine/none")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    assert!(store.runs(&tenant).await.unwrap().is_empty());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn receive_units(local: &Local) -> Vec<SyncUnit> {
    let mut units = Vec::new();
    loop {
        let output = local
            .clients
            .sqs
            .receive_message()
            .queue_url(&local.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = output.messages();
        if messages.is_empty() {
            return units;
        }
        for message in messages {
            units.push(serde_json::from_str(message.body().unwrap()).unwrap());
            local
                .clients
                .sqs
                .delete_message()
                .queue_url(&local.queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_sync_run_plans_onto_sqs_reads_s3_ranges_and_summarises_its_units() {
    let local = local("run").await;
    let tenant = TenantId::parse("alpine").unwrap();
    let export = ExportId::parse("e1").unwrap();
    let folder = keys::export_folder(&tenant, &export);
    let mut csv = String::from("store_id,item_id,scored_at,avail-2026-11\n");
    for i in 0..2_000 {
        csv.push_str(&format!(
            "st{},it{i},2026-11-30T02:00:00Z,0.{:02}\n",
            i % 9,
            i % 100
        ));
    }
    let plain = format!("{folder}part_0.csv");
    let packed_export = ExportId::parse("e2").unwrap();
    let packed = format!(
        "{}part_0.csv.gz",
        keys::export_folder(&tenant, &packed_export)
    );
    put(&local, &plain, csv.clone().into_bytes()).await;
    put(
        &local,
        &packed,
        gzip(
            csv.replace(",it", ",gz")
                .replace(",gzem_id", ",item_id")
                .as_bytes(),
        ),
    )
    .await;
    let manifest = serde_json::json!({"tenant_id": "alpine", "export_id": "e1",
        "exported_at": "2026-11-30T02:10:00Z", "format": "csv", "compression": "none",
        "files": [{"key": plain, "size": csv.len()}]});
    put(
        &local,
        &keys::manifest(&tenant, &export),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    let manifest = serde_json::json!({"tenant_id": "alpine", "export_id": "e2",
        "exported_at": "2026-11-30T03:10:00Z", "format": "csv", "compression": "gzip",
        "files": [{"key": packed, "size": 0}]});
    let key = keys::manifest(&tenant, &packed_export);
    put(&local, &key, serde_json::to_vec(&manifest).unwrap()).await;

    let exports = Arc::new(S3ExportStore::new(local.clients.s3.clone(), &local.bucket));
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(MemoryConfigStore::default());
    let note = ChangeNote {
        author: "ops".into(),
        at: time::OffsetDateTime::now_utc(),
        reason: "test".into(),
        rollback_of: None,
    };
    configs.save(&tenant, &config(), &note, None).await.unwrap();
    let queue = Arc::new(SqsSyncUnitQueue::new(
        local.clients.sqs.clone(),
        &local.queue_url,
    ));
    let sync = ScoreSync::new(SyncPorts {
        exports: exports.clone(),
        scores: scores.clone(),
        configs,
        queue,
        clock: Arc::new(SystemClock),
    })
    .with_unit_bytes(7_000);

    let plan = sync.plan(&tenant).await.unwrap();
    let units = receive_units(&local).await;
    assert_eq!(
        plan.units_queued,
        csv.len().div_ceil(7_000) + 1,
        "the gzip file is one unit"
    );
    assert_eq!(
        units.len(),
        plan.units_queued,
        "every unit arrived through SQS"
    );
    for unit in &units {
        sync.process(unit).await.unwrap();
    }

    let summary = sync.summary(&tenant, &export).await.unwrap().unwrap();
    assert!(summary.is_complete());
    assert_eq!(
        (summary.counts.read, summary.counts.written),
        (2_000, 2_000)
    );
    assert_eq!(summary.counts.rejected.total(), 0);
    let packed = sync
        .summary(&tenant, &packed_export)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((packed.units_planned, packed.counts.written), (1, 2_000));
    assert_eq!(scores.len(), 4_000);
    assert_eq!(sync.plan(&tenant).await.unwrap().already_planned, 2);
}
