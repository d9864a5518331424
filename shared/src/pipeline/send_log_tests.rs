//! Outcome writes and their counts on the in-memory send log: each message counted once,
//! whatever is retried, redelivered or redriven.

use super::*;
use crate::testing::MemorySendLog;

fn ids() -> (TenantId, CampaignId, VariantId) {
    (
        TenantId::parse("acme").unwrap(),
        CampaignId::parse("spring").unwrap(),
        VariantId::parse("a").unwrap(),
    )
}

fn sent(id: &str) -> RecipientOutcome {
    RecipientOutcome::Sent {
        provider_message_id: id.into(),
        endpoints_disabled: 0,
    }
}

fn batch(batch: &str, attempt: u64, outcomes: Vec<RecipientOutcome>) -> BatchOutcome {
    let (tenant_id, campaign_id, _) = ids();
    BatchOutcome {
        tenant_id,
        campaign_id,
        batch_id: BatchId::parse(batch).unwrap(),
        attempt: AttemptId(attempt),
        outcomes,
        revision: 0,
        channel: Default::default(),
    }
}

async fn tallies(log: &MemorySendLog) -> Vec<(String, DeliveryTally)> {
    let (tenant, campaign, _) = ids();
    log.campaign_tallies(&tenant, &campaign).await.unwrap()
}

fn tally(sent: u64, failed: u64, suppressed: u64, unconfirmed: u64) -> DeliveryTally {
    DeliveryTally {
        sent,
        failed,
        suppressed,
        unconfirmed,
        frequency_capped: 0,
        endpoints_disabled: 0,
        // The failures of these tests are none of the classes the stats tell apart.
        failed_by_reason: FailedByReason {
            other: failed,
            ..Default::default()
        },
    }
}

#[test]
fn failures_are_counted_by_reason_once_each() {
    let failed = |reason: &str| RecipientOutcome::Failed {
        reason: reason.into(),
    };
    let tally = DeliveryTally::newly_final(
        None,
        &[
            failed("customer has no push token"),
            failed("customer has no email address"),
            failed("push: endpoint disabled; invalid device token"),
            failed("push: invalid device token"),
            failed("push: payload too large"),
            failed("push: the retailer has no push application for the device's platform"),
            failed("MessageRejected: Illegal header"),
        ],
    );
    assert_eq!(tally.failed, 7);
    assert_eq!(
        tally.failed_by_reason,
        FailedByReason {
            no_address: 2,
            invalid_address: 1,
            endpoint_disabled: 1,
            payload_too_large: 1,
            no_push_application: 1,
            other: 1,
        }
    );
    let mut stored = DeliveryTally::default();
    for (name, value) in tally.fields() {
        stored.set(name, value);
    }
    assert_eq!(
        stored, tally,
        "every counter round-trips by its stored name"
    );
}

#[test]
fn each_channel_of_a_variant_is_counted_apart() {
    let a = VariantId::parse("a").unwrap();
    assert_eq!(counter_key(&a, Channel::Email), "a");
    assert_eq!(counter_key(&a, Channel::Push), "a#push");
    assert_eq!(split_counter_key("a#push"), ("a", Channel::Push));
    assert_eq!(split_counter_key("a"), ("a", Channel::Email));
}

#[test]
fn only_slots_that_become_final_are_counted_and_duplicates_never() {
    let previous = [
        sent("1"),
        RecipientOutcome::Pending,
        RecipientOutcome::Deferred,
    ];
    let merged = [
        sent("1"),
        RecipientOutcome::Unconfirmed {
            reason: "timeout".into(),
        },
        RecipientOutcome::Duplicate,
    ];
    assert_eq!(
        DeliveryTally::newly_final(Some(&previous), &merged),
        tally(0, 0, 0, 1)
    );
    assert_eq!(DeliveryTally::newly_final(None, &merged), tally(1, 0, 0, 1));
}

#[tokio::test]
async fn a_repeated_write_of_the_same_outcome_counts_once() {
    let log = MemorySendLog::default();
    let (_, _, variant) = ids();
    let outcome = batch(
        "b1",
        1,
        vec![
            sent("1"),
            RecipientOutcome::Suppressed,
            RecipientOutcome::Failed {
                reason: "bad address".into(),
            },
        ],
    );

    record_outcome(&log, &outcome, &variant, None)
        .await
        .unwrap();
    // The retry of a write that went through, with and without knowing the stored outcome.
    record_outcome(&log, &outcome, &variant, None)
        .await
        .unwrap();
    record_outcome(&log, &outcome, &variant, Some(None))
        .await
        .unwrap();

    assert_eq!(tallies(&log).await, vec![("a".into(), tally(1, 1, 1, 0))]);
    let stored = log.outcomes();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].revision, 1);
}

#[tokio::test]
async fn a_later_attempt_counts_only_what_it_made_final_and_keeps_earlier_finals() {
    let log = MemorySendLog::default();
    let (_, _, variant) = ids();
    let first = batch("b1", 1, vec![sent("1"), RecipientOutcome::Pending]);
    record_outcome(&log, &first, &variant, None).await.unwrap();
    // A redelivered copy that only read its own claims sees slot 0 as a duplicate of itself.
    let second = batch("b1", 2, vec![RecipientOutcome::Duplicate, sent("2")]);

    record_outcome(&log, &second, &variant, None).await.unwrap();

    assert_eq!(tallies(&log).await, vec![("a".into(), tally(2, 0, 0, 0))]);
    let stored = &log.outcomes()[0];
    assert_eq!(stored.outcomes, vec![sent("1"), sent("2")]);
    assert_eq!((stored.attempt, stored.revision), (AttemptId(2), 2));
}

#[tokio::test]
async fn a_kept_outcome_redriven_after_a_later_attempt_wrote_counts_nothing_again() {
    let log = MemorySendLog::default();
    let (_, _, variant) = ids();
    let kept = batch("b1", 1, vec![sent("1"), RecipientOutcome::Pending]);
    // The first write went through although its caller saw it fail and kept it in the archive;
    // then a redelivery finished the batch, knowing the stored outcome.
    record_outcome(&log, &kept, &variant, None).await.unwrap();
    let stored = log.outcomes().pop();
    let later = batch("b1", 2, vec![sent("1"), sent("2")]);
    record_outcome(&log, &later, &variant, Some(stored))
        .await
        .unwrap();

    record_outcome(&log, &kept, &variant, None).await.unwrap();

    assert_eq!(tallies(&log).await, vec![("a".into(), tally(2, 0, 0, 0))]);
    let stored = &log.outcomes()[0];
    assert_eq!(stored.outcomes, vec![sent("1"), sent("2")]);
    assert_eq!(
        stored.attempt,
        AttemptId(2),
        "the kept outcome changed nothing"
    );
}

#[tokio::test]
async fn a_failed_write_counts_nothing_and_its_retry_counts_once() {
    let log = MemorySendLog::default();
    let (_, _, variant) = ids();
    let outcome = batch("b1", 1, vec![sent("1")]);
    log.fail_outcome_writes(1);

    assert!(
        record_outcome(&log, &outcome, &variant, None)
            .await
            .is_err()
    );
    assert_eq!(tallies(&log).await, vec![]);
    record_outcome(&log, &outcome, &variant, None)
        .await
        .unwrap();

    assert_eq!(tallies(&log).await, vec![("a".into(), tally(1, 0, 0, 0))]);
}

#[tokio::test]
async fn a_stale_write_is_refused_whole() {
    let log = MemorySendLog::default();
    let (_, _, variant) = ids();
    let mut outcome = batch("b1", 1, vec![sent("1")]);
    outcome.revision = 1;
    let write = |expected| OutcomeWrite {
        outcome: &outcome,
        expected,
        variant: &variant,
        tally: tally(1, 0, 0, 0),
    };
    assert_eq!(
        log.write_outcome(&write(None)).await.unwrap(),
        OutcomeWritten::Written
    );

    assert_eq!(
        log.write_outcome(&write(None)).await.unwrap(),
        OutcomeWritten::Stale
    );
    assert_eq!(
        log.write_outcome(&write(Some(7))).await.unwrap(),
        OutcomeWritten::Stale
    );
    assert_eq!(tallies(&log).await, vec![("a".into(), tally(1, 0, 0, 0))]);
}

#[tokio::test]
async fn counters_are_kept_per_variant_and_per_campaign() {
    let log = MemorySendLog::default();
    let (tenant, _, a) = ids();
    let b = VariantId::parse("b").unwrap();
    record_outcome(&log, &batch("b1", 1, vec![sent("1")]), &a, None)
        .await
        .unwrap();
    record_outcome(&log, &batch("b2", 1, vec![sent("2")]), &b, None)
        .await
        .unwrap();
    let mut other = batch("b3", 1, vec![sent("3")]);
    other.campaign_id = CampaignId::parse("autumn").unwrap();
    record_outcome(&log, &other, &a, None).await.unwrap();

    assert_eq!(
        tallies(&log).await,
        vec![
            ("a".into(), tally(1, 0, 0, 0)),
            ("b".into(), tally(1, 0, 0, 0))
        ]
    );
    assert_eq!(
        log.campaign_tallies(&tenant, &other.campaign_id)
            .await
            .unwrap(),
        vec![("a".into(), tally(1, 0, 0, 0))]
    );
}
