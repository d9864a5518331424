//! The demo through the marketer API as a test, on the local endpoint: onboarding, template
//! deploy, variables and preview, audience upload, campaign create and launch over HTTP with
//! bearer tokens, the pipeline behind it, and stats that reconcile with what SES accepted.

use storecast_dev::demos::api::{ApiDemoOptions, RETAILERS};

#[tokio::test]
async fn a_campaign_through_the_api_reconciles_for_every_retailer() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("storecast-api-demo-{}", std::process::id()));
    let report = storecast_dev::demos::api::run(&ApiDemoOptions {
        size: 150,
        stack_name: format!("t-api-{}", std::process::id()),
        reset: false,
        out_dir: out,
        template_path: root.join("template.yaml"),
        catalog_path: root.join("templates/catalog.yaml"),
    })
    .await
    .expect("run with `make test`: it starts the local endpoint");
    println!("{}", report.render());
    assert!(
        report.reconciliation_errors().is_empty(),
        "{:?}",
        report.reconciliation_errors()
    );
    for (tenant, name, _) in RETAILERS {
        let line = &report.lines[*tenant];
        assert!(line.matched() > 0, "{tenant} matched nobody");
        assert!(
            line.stats["skipped"]["suppressed"].as_u64().unwrap() > 0,
            "{tenant}'s suppression list was not applied"
        );
        assert!(
            line.preview_subject.contains(name),
            "{tenant}'s preview shows its own variables: {}",
            line.preview_subject
        );
    }
    // The capped retailer's second campaign skipped whoever its first campaign reached.
    let second = &report.lines[&format!(
        "{}/{}",
        RETAILERS[2].0,
        storecast_dev::demos::api::SECOND_CAMPAIGN
    )];
    assert!(
        second.stats["skipped"]["frequency_capped"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The warm-up retailer sent its day cap and deferred the rest to the next UTC midnight (the
    // reconciliation above checks the deferred equal its messages on their way).
    let warmup = &report.warmup;
    assert_eq!(warmup.cap, Some(50), "{warmup:?}");
    assert_eq!(warmup.used, 50, "{warmup:?}");
    assert!(warmup.deferred > 0, "{warmup:?}");
    assert!(
        warmup
            .deferred_until
            .keys()
            .any(|(at, _)| at.ends_with("T00:00:00Z")),
        "{warmup:?}"
    );
    // The API's deliverability report reads the same cap item, the state the daily run stored,
    // and the day counters the feedback handler wrote.
    let (status, api) = &warmup.api_report;
    assert_eq!(*status, 200, "{api}");
    let warm_up = &api["warm_up"];
    assert_eq!(warm_up["today_cap"], 50, "{api}");
    assert_eq!(warm_up["today_used"], warmup.used, "{api}");
    assert_eq!(warm_up["state"]["rung"], 0, "{api}");
    assert_eq!(warm_up["decisions"][0]["action"], "start", "{api}");
    assert_eq!(api["days"][0]["day"], warmup.day.as_str(), "{api}");
    assert_eq!(api["days"].as_array().map(Vec::len), Some(2), "{api}");
    assert_eq!(report.cross_tenant_status, 403);
    // A delivered email's List-Unsubscribe link, followed: the page changes nothing, the
    // one-click POST suppresses the recipient for that retailer.
    assert!(report.one_click.worked(), "{:?}", report.one_click);
    assert!(report.emails_at_endpoint > 0);
    // The first retailer's email + push campaign: pushes on both platforms, through its own
    // applications; every row evaluated once per channel (the reconciliation above).
    let push = &report.lines[&format!(
        "{}/{}",
        RETAILERS[0].0,
        storecast_dev::demos::api::PUSH_CAMPAIGN
    )];
    assert!(
        push.stats["delivery_by_channel"]["push"]["sent"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        push.stats["delivery_by_channel"]["email"]["sent"]
            .as_u64()
            .unwrap()
            > 0
    );
    for platform in ["fcm", "apns"] {
        assert!(
            report
                .pushes_by_platform
                .get(platform)
                .copied()
                .unwrap_or(0)
                > 0,
            "no {platform} push: {:?}",
            report.pushes_by_platform
        );
    }
}

/// Before its report, the demo redrives what its deliveries deferred for less than a day, once
/// due (read from the archive, not a fixed sleep), and leaves what waits for the next UTC day.
#[tokio::test]
async fn the_demo_redrives_what_is_due_before_tomorrow_and_leaves_the_next_days() {
    use storecast::deliverability::warmup::next_day_start;
    use storecast::pipeline::archive::{Archive as _, DeferredBatch};
    use storecast::testing::samples::sample_batch;
    use storecast_dev::demos::api_deferred::{deferred_batches, settle_deferrals};
    use storecast_dev::local::api::LocalPipelineRunner;
    use storecast_dev::local::pipeline::LocalPipeline;

    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let resolution = storecast_dev::local::template::Resolution {
        stack_name: format!("t-settle-{}", std::process::id()),
        ..Default::default()
    };
    let pipeline = LocalPipeline::connect_as(&root.join("template.yaml"), &resolution)
        .await
        .unwrap();
    pipeline.provision().await.unwrap();
    let sdk = pipeline.sdk_config().await;
    let mut runner = LocalPipelineRunner::new(&pipeline, &sdk).await.unwrap();
    let archive = storecast::aws::s3::S3Archive::new(
        pipeline.clients.s3.clone(),
        &pipeline.stack.bucket("ArchiveBucket").unwrap().name,
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tomorrow = next_day_start(now);
    let deferral = |retry_at: i64, reason: &str, customers: std::ops::RangeInclusive<u32>| {
        DeferredBatch {
            reason: reason.into(),
            deferred_at: now.to_string(),
            retry_at,
            // A retailer nobody onboarded: its redriven batch ends dead-lettered, never lost.
            batch: Some(sample_batch("nobody-onboarded", "c1", customers)),
            unrecorded_outcome: None,
            outcome_variant: None,
        }
    };
    archive
        .defer(&deferral(now + 2, "contact history unavailable", 1..=3))
        .await
        .unwrap();
    archive
        .defer(&deferral(tomorrow, "daily warm-up cap reached", 4..=5))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let rounds = settle_deferrals(&pipeline, &mut runner).await.unwrap();
    assert_eq!(rounds, 1, "one wait, one redrive; nothing left due today");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "waited until due"
    );
    let left = deferred_batches(&pipeline).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].retry_at, tomorrow);
    let letters = archive.dead_letters().await.unwrap();
    assert_eq!(
        letters.len(),
        1,
        "the redriven batch reached delivery: {letters:?}"
    );
}
