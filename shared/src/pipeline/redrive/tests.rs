use super::*;
use crate::domain::SendBatch;
use crate::testing::{MemoryArchive, MemoryStream};

fn parked(campaign: &str, batch: usize) -> ParkedBatch {
    let batch: SendBatch = serde_json::from_value(serde_json::json!({
        "contract_version": 1, "batch_id": format!("b{batch:04}"), "tenant_id": "alpine",
        "campaign_id": campaign, "variant": "A", "channel": "email",
        "template": {"id": "w", "version": 1}, "recipients": []
    }))
    .unwrap();
    ParkedBatch {
        reason: "campaign paused".into(),
        parked_at: "2026-11-20T00:00:00Z".into(),
        batch,
    }
}

#[tokio::test]
async fn parked_batches_are_redriven_a_page_at_a_time() {
    // GIVEN 250 batches parked for one campaign and 3 for another
    let archive = MemoryArchive::default();
    for batch in 0..250 {
        archive.park(&parked("spring", batch)).await.unwrap();
    }
    for batch in 0..3 {
        archive.park(&parked("autumn", batch)).await.unwrap();
    }
    let stream = MemoryStream::default();
    let tenant = TenantId::parse("alpine").unwrap();
    let spring = CampaignId::parse("spring").unwrap();

    // WHEN the campaign's are redriven
    let summary = redrive_parked(&archive, &stream, &tenant, Some(&spring))
        .await
        .unwrap();

    // THEN they went back a page at a time, and only they
    assert_eq!(archive.parked_pages(), [PARKED_PAGE, PARKED_PAGE, 50]);
    assert_eq!((summary.batches, summary.still_parked), (250, 0));
    assert_eq!(stream.records().len(), 250);
    assert_eq!(stream.calls().len(), 3, "one put per page");
    assert_eq!(archive.keys().len(), 3, "the other campaign's stay");
    let first: SendBatch = serde_json::from_slice(&stream.records()[0].data).unwrap();
    assert_eq!(first.batch_id.as_str(), "b0000", "ids unchanged");
    assert_eq!(first.redrive, 1, "one park generation on");
}

#[tokio::test]
async fn a_batch_the_stream_refuses_stays_parked_and_the_pages_go_on_past_it() {
    let archive = MemoryArchive::default();
    for batch in 0..150 {
        archive.park(&parked("spring", batch)).await.unwrap();
    }
    let stream = MemoryStream::default();
    stream.fail_next_entries_with(&[0], "InvalidArgumentException");
    let tenant = TenantId::parse("alpine").unwrap();

    let summary = redrive_parked(&archive, &stream, &tenant, None)
        .await
        .unwrap();

    assert_eq!((summary.batches, summary.still_parked), (149, 1));
    assert_eq!(archive.keys(), ["parked/alpine/spring/b0000.json"]);
    assert_eq!(archive.parked_pages(), [PARKED_PAGE, 50]);
}
