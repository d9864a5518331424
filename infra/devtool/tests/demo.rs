//! The demo campaign as a test: end to end on the local endpoint, through both functions'
//! event source mappings, with every message accounted for and every email routed to its own
//! retailer's workspace.

use storecast_dev::demos::pipeline::{
    DemoOptions, MISCONFIGURED_RETAILER, RETAILERS, UNKNOWN_TENANT,
};
use storecast_dev::local::Endpoint;

#[tokio::test]
async fn demo_campaign_reconciles_and_routes_every_email_to_its_own_workspace() {
    let endpoint =
        Endpoint::from_env().expect("run with `make test`: it starts the local endpoint");
    endpoint.start_recording().await.unwrap();
    let out = std::env::temp_dir().join(format!("storecast-demo-test-{}", std::process::id()));
    let report = storecast_dev::demos::pipeline::run(&DemoOptions {
        size: 400,
        stack_name: format!("t-demo-{}", std::process::id()),
        reset: false,
        out_dir: out.clone(),
        template_path: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../template.yaml"),
        saved_emails: 1,
    })
    .await
    .unwrap();
    let recording = endpoint.recording().await.unwrap();
    println!("{}", report.render());

    assert!(
        report.reconciliation_errors().is_empty(),
        "{:?}",
        report.reconciliation_errors()
    );
    for retailer in RETAILERS {
        assert!(
            report.rows[*retailer].counts.sent > 0,
            "{retailer} sent nothing"
        );
    }
    assert_eq!(report.rows[MISCONFIGURED_RETAILER].counts.sent, 0);
    assert_eq!(
        report.rows[MISCONFIGURED_RETAILER].parked,
        report.rows[MISCONFIGURED_RETAILER].input
            - report.rows[MISCONFIGURED_RETAILER].counts.failed
    );
    assert_eq!(
        report.rows[UNKNOWN_TENANT].dead_lettered,
        report.rows[UNKNOWN_TENANT].input
    );
    let duplicates: u64 = report.rows.values().map(|r| r.counts.duplicates).sum();
    assert!(
        duplicates > 0,
        "late redeliveries are skipped as duplicates at delivery"
    );
    assert_eq!(report.malformed_dead_lettered, report.malformed_records);

    // Every SendEmail request the endpoint saw carries its own retailer's routing.
    let sends: Vec<serde_json::Value> = recording
        .iter()
        .filter(|r| r.url.ends_with("/v2/email/outbound-emails"))
        .map(|r| serde_json::from_str(&r.body).expect("SendEmail bodies are JSON"))
        .collect();
    assert!(
        !sends.is_empty(),
        "the recording holds the SendEmail requests"
    );
    for send in &sends {
        let from = send["FromEmailAddress"].as_str().unwrap();
        let slug = from.split('@').next().unwrap();
        assert_eq!(
            send["ConfigurationSetName"],
            format!("storecast-{slug}"),
            "{send}"
        );
        assert_eq!(send["TenantName"], format!("storecast-{slug}"), "{send}");
        let tags = send["EmailTags"].as_array().unwrap();
        assert!(
            tags.iter()
                .any(|t| t["Name"] == "tenant" && t["Value"] == slug),
            "{send}"
        );
    }
    assert!(!report.saved.is_empty());
    let _ = std::fs::remove_dir_all(out);
}
