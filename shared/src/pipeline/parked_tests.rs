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

/// Delivery as it runs while the campaign is paused again: every batch put on the stream is
/// taken at once and parked again, before the redrive that put it there goes on.
struct ParkingAgainStream {
    archive: Arc<CountedArchive>,
    taken: MemoryStream,
}

#[async_trait]
impl crate::pipeline::publish::RecordStream for ParkingAgainStream {
    async fn put_records(
        &self,
        records: &[crate::pipeline::publish::StreamRecord],
    ) -> Result<Vec<crate::pipeline::publish::EntryResult>, crate::error::StreamError> {
        for record in records {
            let batch: SendBatch = serde_json::from_slice(&record.data).unwrap();
            let parked = ParkedBatch {
                reason: "campaign paused".into(),
                parked_at: "2026-11-20T00:05:00Z".into(),
                batch,
            };
            self.archive.park(&parked).await.unwrap();
        }
        self.taken.put_records(records).await
    }
}

#[tokio::test]
async fn a_batch_parked_again_before_the_redrive_removed_it_stays_parked_and_counted() {
    // GIVEN a parked batch, and delivery parking again whatever the redrive puts back (the
    // campaign was paused again) before the redrive removes what it read
    let objects = Arc::new(MemoryArchive::default());
    let counts = Arc::new(MemoryParkedCounts::default());
    let archive = Arc::new(CountedArchive::new(objects.clone(), counts.clone()));
    archive.park(&parked("spring", 0..3)).await.unwrap();
    let stream = ParkingAgainStream {
        archive: archive.clone(),
        taken: MemoryStream::default(),
    };
    let (tenant, campaign) = ids();

    // WHEN the campaign's parked batches are redriven
    let summary = crate::pipeline::redrive::redrive_parked(
        archive.as_ref(),
        &stream,
        &tenant,
        Some(&campaign),
    )
    .await
    .unwrap();

    // THEN the batch went back once, and its new park is kept and counted: nothing is lost
    assert_eq!(summary.batches, 1);
    assert_eq!(stream.taken.records().len(), 1);
    let parked_now = archive.parked(&tenant, Some(&campaign)).await.unwrap();
    assert_eq!(
        parked_now.len(),
        1,
        "the batch parked again is still parked"
    );
    assert_eq!(
        parked_now[0].1.batch.batch_id,
        parked("spring", 0..3).batch.batch_id
    );
    let expected = ParkedTally {
        batches: 1,
        recipients: 3,
    };
    assert_eq!(
        counts.campaign_parked(&tenant, &campaign).await.unwrap(),
        expected
    );
}

#[tokio::test]
async fn a_redriven_batch_parked_again_is_a_new_generation_and_a_redelivery_of_it_counts_once() {
    // GIVEN a parked batch, redriven, and its copy parked again twice (a redelivered record)
    let world = world();
    let first = parked("spring", 0..3);
    world.archive.park(&first).await.unwrap();
    let again = ParkedBatch {
        batch: first.batch.redriven(),
        ..first.clone()
    };
    world.archive.park(&again).await.unwrap();
    world.archive.park(&again).await.unwrap();
    assert_eq!(tally(&world).await.batches, 2, "two parks, two objects");

    // WHEN the redrive that read the first removes it
    let first_key = crate::pipeline::archive::keys::parked_batch(&first.batch);
    world.archive.unpark(&first_key, &first).await.unwrap();

    // THEN the park after the redrive stays, counted once, with the ids unchanged
    let left = world.archive.parked(&ids().0, None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.batch.redrive, 1);
    assert_eq!(left[0].1.batch.batch_id, first.batch.batch_id);
    let expected = ParkedTally {
        batches: 1,
        recipients: 3,
    };
    assert_eq!(tally(&world).await, expected);
}

#[test]
fn a_later_park_generation_sorts_before_the_earlier_ones_and_after_the_batch_before() {
    let (tenant, campaign) = ids();
    let batch = |id: &str| crate::domain::BatchId::parse(id).unwrap();
    let key = |id: &str, generation| {
        crate::pipeline::archive::keys::parked(&tenant, &campaign, &batch(id), generation)
    };
    assert_eq!(key("b2", 0), "parked/alpine/spring/b2.json");
    assert_eq!(key("b2", 1), "parked/alpine/spring/b2!fffffffe.json");
    let mut keys = vec![
        key("b2", 0),
        key("b2", 1),
        key("b2", 7),
        key("b1", 0),
        key("b3", 3),
    ];
    keys.sort();
    assert_eq!(
        keys,
        [
            key("b1", 0),
            key("b2", 7),
            key("b2", 1),
            key("b2", 0),
            key("b3", 3)
        ]
    );
}
