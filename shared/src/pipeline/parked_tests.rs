use super::*;
use crate::testing::samples::sample_batch;
use crate::testing::{MemoryArchive, MemoryParkedCounts, MemoryStream};

fn parked(campaign: &str, customers: std::ops::Range<u32>) -> ParkedBatch {
    ParkedBatch {
        reason: "campaign paused".into(),
        parked_at: "2026-11-20T00:00:00Z".into(),
        batch: sample_batch("alpine", campaign, customers),
    }
}

struct World {
    objects: Arc<MemoryArchive>,
    counts: Arc<MemoryParkedCounts>,
    archive: CountedArchive,
}

fn world() -> World {
    let objects = Arc::new(MemoryArchive::default());
    let counts = Arc::new(MemoryParkedCounts::default());
    let archive = CountedArchive::new(objects.clone(), counts.clone());
    World {
        objects,
        counts,
        archive,
    }
}

fn ids() -> (TenantId, CampaignId) {
    (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("spring").unwrap(),
    )
}

async fn tally(world: &World) -> ParkedTally {
    let (tenant, campaign) = ids();
    world
        .counts
        .campaign_parked(&tenant, &campaign)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_park_retried_is_counted_once() {
    // GIVEN a batch of 3 parked, and the same batch parked again (a retried record)
    let world = world();
    world.archive.park(&parked("spring", 0..3)).await.unwrap();
    world.archive.park(&parked("spring", 0..3)).await.unwrap();
    world.archive.park(&parked("spring", 3..5)).await.unwrap();
    world.archive.park(&parked("autumn", 0..4)).await.unwrap();

    // THEN the campaign counts two batches and five recipients
    let expected = ParkedTally {
        batches: 2,
        recipients: 5,
    };
    assert_eq!(tally(&world).await, expected);
    assert_eq!(world.objects.keys().len(), 3);
}

#[tokio::test]
async fn a_redrive_uncounts_what_it_puts_back_and_a_second_redrive_uncounts_nothing() {
    let world = world();
    world.archive.park(&parked("spring", 0..3)).await.unwrap();
    world.archive.park(&parked("spring", 3..5)).await.unwrap();
    let (tenant, campaign) = ids();
    let stream = MemoryStream::default();

    let summary =
        crate::pipeline::redrive::redrive_parked(&world.archive, &stream, &tenant, Some(&campaign))
            .await
            .unwrap();
    assert_eq!(summary.batches, 2);
    assert_eq!(tally(&world).await, ParkedTally::default());
    assert!(world.objects.keys().is_empty());

    // WHEN an uncount is repeated (a redrive retried after its uncount went through)
    let batch = parked("spring", 0..3).batch;
    world.counts.uncount_parked(&batch).await.unwrap();

    // THEN nothing goes below zero
    assert_eq!(tally(&world).await, ParkedTally::default());
    assert_eq!(world.counts.changes(), 4);
}

#[tokio::test]
async fn a_count_that_fails_fails_the_park_and_its_retry_counts_it() {
    let world = world();
    world.counts.set_unavailable(true);
    let error = world.archive.park(&parked("spring", 0..3)).await;
    assert!(error.is_err(), "the record is retried");
    assert_eq!(world.objects.keys().len(), 1, "kept, not counted yet");

    world.counts.set_unavailable(false);
    world.archive.park(&parked("spring", 0..3)).await.unwrap();

    let expected = ParkedTally {
        batches: 1,
        recipients: 3,
    };
    assert_eq!(tally(&world).await, expected);
}

#[tokio::test]
async fn an_uncount_that_fails_leaves_the_batch_parked_and_counted() {
    let world = world();
    world.archive.park(&parked("spring", 0..3)).await.unwrap();
    world.counts.set_unavailable(true);
    let (tenant, campaign) = ids();

    let redriven = crate::pipeline::redrive::redrive_parked(
        &world.archive,
        &MemoryStream::default(),
        &tenant,
        Some(&campaign),
    )
    .await;

    assert!(redriven.is_err());
    assert_eq!(world.objects.keys().len(), 1, "still parked");
    world.counts.set_unavailable(false);
    assert_eq!(tally(&world).await.batches, 1, "and still counted");
}
