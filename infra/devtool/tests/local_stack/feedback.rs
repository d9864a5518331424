//! The feedback table against the local endpoint (moto), through the real SDK: one record per
//! message and kind with its counters in one transaction, unknown messages, the counters read
//! back, soft-bounce histories, and redeliveries of one event.

use crate::support;

use std::sync::Arc;

use storecast::aws::dynamodb::{DeliveryTable, FeedbackTable};
use storecast::clock::SystemClock;
use storecast::deliverability::counters::{CounterKey, Day, FeedbackCounters, FeedbackKind};
use storecast::deliverability::feedback::{FeedbackLog, FeedbackRecord, Recorded};
use storecast::domain::{BatchId, CampaignId, MessageId, TenantId};
use storecast::pipeline::send_log::{AttemptId, MessageClaim, SendLog};
use support::test_stack;

struct Tables {
    send_log: DeliveryTable,
    feedback: Arc<FeedbackTable>,
}

async fn tables(name: &str) -> Tables {
    let t = test_stack(name).await;
    let table = t.stack.table("DeliveryTable").unwrap().name.clone();
    Tables {
        send_log: DeliveryTable::new(t.clients.dynamodb.clone(), &table, Arc::new(SystemClock)),
        feedback: Arc::new(FeedbackTable::new(
            t.clients.dynamodb.clone(),
            &table,
            Arc::new(SystemClock),
        )),
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn campaign() -> CampaignId {
    CampaignId::parse("spring").unwrap()
}

async fn claimed(tables: &Tables, message: &str) -> MessageId {
    let message = MessageId::parse(message).unwrap();
    let claim = MessageClaim {
        tenant_id: tenant(),
        campaign_id: campaign(),
        message_id: message.clone(),
        batch_id: BatchId::parse("b1").unwrap(),
        slot: 0,
        lease_until: 0,
        attempt: AttemptId(7),
    };
    tables.send_log.claim(&claim).await.unwrap();
    message
}

fn record(message: &MessageId, kind: FeedbackKind, variant: &str) -> FeedbackRecord {
    FeedbackRecord {
        tenant: tenant(),
        campaign: campaign(),
        variant: variant.into(),
        message: message.clone(),
        kind,
        at: 1_796_119_200,
        detail: Some("Permanent/General: smtp; 550".into()),
    }
}

#[tokio::test]
async fn feedback_is_recorded_once_per_message_and_kind_and_counted_with_it() {
    let t = tables("feedback-once").await;
    let first = claimed(&t, "a1b2c3").await;
    let second = claimed(&t, "f00d42").await;
    let log = t.feedback.as_ref();
    assert_eq!(
        log.record(&record(&first, FeedbackKind::Delivered, "a"))
            .await
            .unwrap(),
        Recorded::First
    );
    assert_eq!(
        log.record(&record(&first, FeedbackKind::Delivered, "a"))
            .await
            .unwrap(),
        Recorded::Again
    );
    assert_eq!(
        log.record(&record(&first, FeedbackKind::HardBounced, "a"))
            .await
            .unwrap(),
        Recorded::First
    );
    assert_eq!(
        log.record(&record(&second, FeedbackKind::Delivered, "b"))
            .await
            .unwrap(),
        Recorded::First
    );
    let unknown = MessageId::parse("eeee01").unwrap();
    assert_eq!(
        log.record(&record(&unknown, FeedbackKind::Delivered, "a"))
            .await
            .unwrap(),
        Recorded::UnknownMessage
    );

    let by_variant = t
        .feedback
        .campaign_counts(&tenant(), &campaign())
        .await
        .unwrap();
    let variant = |name: &str| by_variant.iter().find(|(v, _)| v == name).unwrap().1;
    assert_eq!((variant("a").delivered, variant("a").hard_bounced), (1, 1));
    assert_eq!(variant("b").delivered, 1);
    let day = t
        .feedback
        .day_counts(&tenant(), &Day("2026-12-01".into()))
        .await
        .unwrap();
    assert_eq!((day.delivered, day.hard_bounced), (2, 1));

    let feedback = log
        .message_feedback(&tenant(), &campaign(), &first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        feedback.first(FeedbackKind::HardBounced),
        Some(1_796_119_200)
    );
    assert_eq!(feedback.events.len(), 2);
}

/// Redeliveries one after the other. (Concurrent ones are not tested here: moto checks a
/// transaction's conditions and applies its writes without isolation from other requests, so two
/// racing transactions can both pass there; DynamoDB serialises them, and the loser is cancelled
/// with `TransactionConflict`, a retryable error whose retry finds the kind recorded: that path
/// is tested on the request in `shared/src/aws/dynamodb/feedback_tests.rs`.)
#[tokio::test]
async fn redeliveries_of_one_event_count_it_once() {
    let t = tables("feedback-again").await;
    let message = claimed(&t, "c0ffee").await;
    let mut recorded = Vec::new();
    for _ in 0..12 {
        recorded.push(
            t.feedback
                .record(&record(&message, FeedbackKind::Opened, "a"))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        recorded.iter().filter(|r| **r == Recorded::First).count(),
        1
    );
    let counts = t
        .feedback
        .day_counts(&tenant(), &Day("2026-12-01".into()))
        .await
        .unwrap();
    assert_eq!(counts.opened, 1);
}

#[tokio::test]
async fn soft_bounces_count_distinct_messages_in_the_window() {
    let t = tables("feedback-soft").await;
    let log = t.feedback.as_ref();
    let address = "full@example.com";
    let m = |id: &str| MessageId::parse(id).unwrap();
    assert_eq!(
        log.soft_bounces(&tenant(), address, &m("aa01"), 1_000, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        log.soft_bounces(&tenant(), address, &m("aa01"), 1_000, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        log.soft_bounces(&tenant(), address, &m("aa02"), 2_000, 0)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        log.soft_bounces(&tenant(), address, &m("aa03"), 3_000, 1_500)
            .await
            .unwrap(),
        2,
        "the bounce at 1,000 is outside the window"
    );
    let other = TenantId::parse("globex").unwrap();
    assert_eq!(
        log.soft_bounces(&other, address, &m("aa04"), 3_000, 0)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn unsubscribes_by_link_count_without_a_message() {
    let t = tables("feedback-increment").await;
    let key = CounterKey {
        tenant: tenant(),
        campaign: campaign(),
        variant: "a".into(),
        day: Day("2026-12-02".into()),
    };
    for _ in 0..3 {
        t.feedback
            .increment(&key, FeedbackKind::Unsubscribed)
            .await
            .unwrap();
    }
    let by_variant = t
        .feedback
        .campaign_counts(&tenant(), &campaign())
        .await
        .unwrap();
    assert_eq!(by_variant[0].1.unsubscribed, 3);
    assert_eq!(
        t.feedback
            .day_counts(&tenant(), &key.day)
            .await
            .unwrap()
            .unsubscribed,
        3
    );
}
