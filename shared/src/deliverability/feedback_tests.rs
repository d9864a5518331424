//! The feedback service on in-memory adapters: every event type, redeliveries, any order,
//! suppression, soft bounces, unmatched events and the auto-pause.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::directory::TenantAdmin as _;
use crate::domain::{BatchId, TenantStatus};
use crate::onboarding::{Onboarding, OnboardingConfig};
use crate::pipeline::archive::Archive as _;
use crate::pipeline::send_log::{AttemptId, MessageClaim, SendLog as _};
use crate::testing::{
    MemoryArchive, MemoryDirectory, MemoryFeedbackCounters, MemoryFeedbackLog, MemorySendLog,
    MemorySendingWorkspaces,
};

struct Setup {
    send_log: Arc<MemorySendLog>,
    counters: Arc<MemoryFeedbackCounters>,
    directory: Arc<MemoryDirectory>,
    archive: Arc<MemoryArchive>,
    workspaces: Arc<MemorySendingWorkspaces>,
    feedback: Feedback,
}

async fn setup() -> Setup {
    let send_log = Arc::new(MemorySendLog::default());
    let counters = Arc::new(MemoryFeedbackCounters::default());
    let directory = Arc::new(MemoryDirectory::default());
    let archive = Arc::new(MemoryArchive::default());
    let workspaces = Arc::new(MemorySendingWorkspaces::new("storecast", "mail.example"));
    let onboarding = Arc::new(Onboarding::new(
        workspaces.clone(),
        directory.clone(),
        OnboardingConfig {
            sending_domain: "mail.example".into(),
            unsubscribe_base_url: "https://u.example/{tenant}".into(),
        },
    ));
    for tenant in ["acme", "globex"] {
        let request =
            serde_json::from_value(json!({"display_name": tenant, "slug": tenant})).unwrap();
        onboarding
            .put_tenant(&TenantId::parse(tenant).unwrap(), request)
            .await
            .unwrap();
    }
    let feedback = Feedback::new(
        FeedbackPorts {
            log: Arc::new(MemoryFeedbackLog::new(send_log.clone(), counters.clone())),
            counters: counters.clone(),
            suppressions: directory.clone(),
            unmatched: archive.clone(),
            pauser: onboarding,
        },
        FeedbackConfig {
            pause: PauseThresholds {
                min_sent: 20,
                ..PauseThresholds::default()
            },
            ..FeedbackConfig::default()
        },
    );
    Setup {
        send_log,
        counters,
        directory,
        archive,
        workspaces,
        feedback,
    }
}

fn message(n: u32) -> String {
    format!("{n:x}0c2a9e1b7d")
}

impl Setup {
    /// A message delivery sent: its claim is in the send log.
    async fn sent(&self, tenant: &str, n: u32) {
        let claim = MessageClaim {
            tenant_id: TenantId::parse(tenant).unwrap(),
            campaign_id: CampaignId::parse("spring").unwrap(),
            message_id: MessageId::parse(message(n)).unwrap(),
            batch_id: BatchId::parse("b1").unwrap(),
            slot: 0,
            lease_until: 0,
            attempt: AttemptId(1),
        };
        self.send_log.claim(&claim).await.unwrap();
    }

    async fn apply(&self, event: &serde_json::Value) -> Applied {
        let mut summary = FeedbackSummary::default();
        self.feedback.apply(event, &mut summary).await.unwrap()
    }

    async fn counts(&self, tenant: &str) -> FeedbackCounts {
        let counts = self
            .counters
            .campaign_counts(
                &TenantId::parse(tenant).unwrap(),
                &CampaignId::parse("spring").unwrap(),
            )
            .await
            .unwrap();
        counts
            .into_iter()
            .find(|(v, _)| v == "a")
            .map(|(_, c)| c)
            .unwrap_or_default()
    }

    async fn suppression(&self, tenant: &str, address: &str) -> Option<Suppression> {
        self.directory
            .get(&TenantId::parse(tenant).unwrap(), address)
            .await
            .unwrap()
    }
}

fn ses_event(
    tenant: &str,
    n: u32,
    event_type: &str,
    to: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let field = match event_type {
        "Rendering Failure" => "failure".to_string(),
        "DeliveryDelay" => "deliveryDelay".to_string(),
        other => other.to_ascii_lowercase(),
    };
    let mut detail = json!({
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-12-01T10:00:00.000Z",
            "messageId": format!("ses-{n}"),
            "destination": [to],
            "tags": {
                "tenant": [tenant], "campaign": ["spring"], "variant": ["a"],
                "message_id": [message(n)]
            }
        }
    });
    detail[field.as_str()] = body;
    json!({"id": format!("ev-{n}-{event_type}"), "source": "aws.ses", "detail-type": "x", "detail": detail})
}

fn bounce(tenant: &str, n: u32, to: &str, permanent: bool) -> serde_json::Value {
    ses_event(
        tenant,
        n,
        "Bounce",
        to,
        json!({
            "bounceType": if permanent { "Permanent" } else { "Transient" },
            "bounceSubType": if permanent { "General" } else { "MailboxFull" },
            "bouncedRecipients": [{"emailAddress": to, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-12-01T10:00:03.000Z"
        }),
    )
}

fn complaint(tenant: &str, n: u32, to: &str) -> serde_json::Value {
    ses_event(
        tenant,
        n,
        "Complaint",
        to,
        json!({
            "complainedRecipients": [{"emailAddress": to}], "complaintFeedbackType": "abuse"
        }),
    )
}

#[tokio::test]
async fn a_hard_bounce_suppresses_for_that_retailer_only_and_is_counted_once() {
    let t = setup().await;
    t.sent("acme", 1).await;
    let event = bounce("acme", 1, "Gone@Example.com", true);
    assert_eq!(
        t.apply(&event).await,
        Applied::Recorded(FeedbackKind::HardBounced)
    );
    assert_eq!(
        t.apply(&event).await,
        Applied::Duplicate(FeedbackKind::HardBounced)
    );
    assert_eq!(t.counts("acme").await.hard_bounced, 1);
    let entry = t.suppression("acme", "gone@example.com").await.unwrap();
    assert_eq!(entry.reason, SuppressionReason::HardBounce);
    assert!(entry.detail.unwrap().contains("550 5.1.1"));
    assert!(t.suppression("globex", "gone@example.com").await.is_none());
}

#[tokio::test]
async fn a_complaint_suppresses_and_a_delivery_after_a_bounce_corrupts_nothing() {
    let t = setup().await;
    t.sent("acme", 2).await;
    let delivery = ses_event(
        "acme",
        2,
        "Delivery",
        "c@example.com",
        json!({"timestamp": "2026-12-01T10:00:01Z"}),
    );
    // Out of order: the complaint first, then the delivery it followed, then both again.
    for event in [
        complaint("acme", 2, "c@example.com"),
        delivery.clone(),
        complaint("acme", 2, "c@example.com"),
        delivery,
    ] {
        t.apply(&event).await;
    }
    let counts = t.counts("acme").await;
    assert_eq!((counts.delivered, counts.complained), (1, 1));
    assert_eq!(
        t.suppression("acme", "c@example.com").await.unwrap().reason,
        SuppressionReason::Complaint
    );
}

#[tokio::test]
async fn every_kind_is_counted_per_variant_and_per_day() {
    let t = setup().await;
    t.sent("acme", 3).await;
    let to = "x@example.com";
    for (event_type, body) in [
        ("Send", json!({})),
        ("Delivery", json!({})),
        ("Open", json!({"timestamp": "2026-12-01T11:00:00Z"})),
        ("Click", json!({"link": "https://shop.example/p"})),
        (
            "DeliveryDelay",
            json!({"delayType": "TransientCommunicationFailure"}),
        ),
        ("Reject", json!({"reason": "Bad content"})),
        ("Rendering Failure", json!({"errorMessage": "bad"})),
    ] {
        let applied = t.apply(&ses_event("acme", 3, event_type, to, body)).await;
        assert!(
            matches!(applied, Applied::Recorded(_)),
            "{event_type}: {applied:?}"
        );
    }
    let counts = t.counts("acme").await;
    assert_eq!(
        (
            counts.sent,
            counts.delivered,
            counts.opened,
            counts.clicked,
            counts.delayed,
            counts.rejected,
            counts.rendering_failed
        ),
        (1, 1, 1, 1, 1, 1, 1)
    );
    let day = t
        .counters
        .day_counts(&TenantId::parse("acme").unwrap(), &Day("2026-12-01".into()))
        .await
        .unwrap();
    assert_eq!(day, counts);
    let feedback = t
        .feedback
        .ports
        .log
        .message_feedback(
            &TenantId::parse("acme").unwrap(),
            &CampaignId::parse("spring").unwrap(),
            &MessageId::parse(message(3)).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(feedback.events.len(), 7);
}

#[tokio::test]
async fn soft_bounces_suppress_after_the_limit_of_distinct_messages() {
    let t = setup().await;
    let to = "full@example.com";
    for n in 10..13 {
        t.sent("acme", n).await;
    }
    t.apply(&bounce("acme", 10, to, false)).await;
    t.apply(&bounce("acme", 10, to, false)).await;
    t.apply(&bounce("acme", 11, to, false)).await;
    assert!(
        t.suppression("acme", to).await.is_none(),
        "two messages are below the limit of 3"
    );
    t.apply(&bounce("acme", 12, to, false)).await;
    assert_eq!(
        t.suppression("acme", to).await.unwrap().reason,
        SuppressionReason::SoftBounces
    );
}

#[tokio::test]
async fn unknown_messages_and_unreadable_events_are_kept_not_failed() {
    let t = setup().await;
    let unknown = ses_event("acme", 99, "Delivery", "a@example.com", json!({}));
    assert!(matches!(t.apply(&unknown).await, Applied::Unmatched(_)));
    let foreign = json!({"id": "e1", "source": "aws.ses", "detail": {"eventType": "Send", "mail": {"timestamp": "2026-12-01T10:00:00Z", "messageId": "m", "tags": {}}}});
    assert!(
        matches!(t.apply(&foreign).await, Applied::Unmatched(reason) if reason.contains("tenant"))
    );
    assert!(matches!(
        t.apply(&json!("garbage")).await,
        Applied::Unmatched(_)
    ));
    let letters = t.archive.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 3);
    assert!(letters.iter().all(|l| l.source == UNMATCHED_SOURCE));
    assert!(
        letters
            .iter()
            .any(|l| l.tenant_id.as_deref() == Some("acme"))
    );
}

#[tokio::test]
async fn a_retailer_whose_bounces_cross_the_threshold_is_suspended_and_no_other() {
    let t = setup().await;
    for n in 100..140 {
        t.sent("acme", n).await;
        t.apply(&ses_event("acme", n, "Send", "s@example.com", json!({})))
            .await;
    }
    t.apply(&bounce("acme", 100, "b1@example.com", true)).await;
    let acme = TenantId::parse("acme").unwrap();
    assert_eq!(
        t.directory.workspace(&acme).await.unwrap().unwrap().status,
        TenantStatus::Active
    );
    let mut summary = FeedbackSummary::default();
    t.feedback
        .apply(&bounce("acme", 101, "b2@example.com", true), &mut summary)
        .await
        .unwrap();
    assert_eq!(summary.paused, 1, "2 of 40 is 5 %, the review level");
    assert_eq!(
        t.directory.workspace(&acme).await.unwrap().unwrap().status,
        TenantStatus::Suspended
    );
    assert!(!t.workspaces.workspace_of(&acme).unwrap().sending_enabled);
    let globex = TenantId::parse("globex").unwrap();
    assert_eq!(
        t.directory
            .workspace(&globex)
            .await
            .unwrap()
            .unwrap()
            .status,
        TenantStatus::Active
    );
    // Further bounces do not suspend again.
    let mut summary = FeedbackSummary::default();
    t.feedback
        .apply(&bounce("acme", 102, "b3@example.com", true), &mut summary)
        .await
        .unwrap();
    assert_eq!(summary.paused, 0);
}

#[tokio::test]
async fn a_store_outage_is_a_retryable_error_not_a_lost_event() {
    let t = setup().await;
    t.sent("acme", 5).await;
    t.directory.set_unavailable(true);
    let mut summary = FeedbackSummary::default();
    let error = t
        .feedback
        .apply(&bounce("acme", 5, "o@example.com", true), &mut summary)
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    t.directory.set_unavailable(false);
    assert_eq!(
        t.apply(&bounce("acme", 5, "o@example.com", true)).await,
        Applied::Recorded(FeedbackKind::HardBounced)
    );
}

/// A template's test send, as `templates::test_send` tags it.
fn test_send_event(event_type: &str, to: &str, body: serde_json::Value) -> serde_json::Value {
    let mut event = ses_event("acme", 7, event_type, to, body);
    event["detail"]["mail"]["tags"] = json!({
        "tenant": ["acme"], "campaign": ["test-send"], "variant": ["A"],
        "message_id": [message(7)], "test_send": ["true"]
    });
    event
}

#[tokio::test]
async fn a_test_sends_events_touch_no_campaign_no_counter_and_keep_no_dead_letter() {
    let t = setup().await;
    let delivered = test_send_event("Delivery", "qa@acme.example", json!({}));
    assert_eq!(t.apply(&delivered).await, Applied::Ignored);
    let mut summary = FeedbackSummary::default();
    t.feedback
        .apply(
            &test_send_event(
                "Bounce",
                "Gone@Acme.example",
                json!({
                    "bounceType": "Permanent", "bounceSubType": "General",
                    "bouncedRecipients": [{"emailAddress": "Gone@Acme.example"}],
                    "timestamp": "2026-12-01T10:00:03.000Z"
                }),
            ),
            &mut summary,
        )
        .await
        .unwrap();
    assert_eq!(
        (summary.ignored, summary.recorded, summary.unmatched),
        (1, 0, 0)
    );
    assert!(t.archive.dead_letters().await.unwrap().is_empty());
    let test_counts = t
        .counters
        .campaign_counts(
            &TenantId::parse("acme").unwrap(),
            &CampaignId::parse("test-send").unwrap(),
        )
        .await
        .unwrap();
    assert!(test_counts.is_empty(), "{test_counts:?}");
    assert_eq!(t.counts("acme").await, FeedbackCounts::default());
    // A seed address that bounces for good is still suppressed: the next test send is refused.
    assert_eq!(
        t.suppression("acme", "gone@acme.example")
            .await
            .unwrap()
            .reason,
        SuppressionReason::HardBounce
    );
}
