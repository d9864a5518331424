//! The email-sending events SES publishes to EventBridge (the default bus, source `aws.ses`),
//! read into what the feedback service needs: whose message it was (our own message tags), what
//! happened, when, and the details the send log keeps.
//!
//! Shapes: the SES developer guide's event-publishing contents and examples. The envelope is
//! EventBridge's (`detail-type` such as `Email Bounced`); `detail` is the SES event record with
//! `eventType` (`Send`, `Delivery`, `Bounce`, `Complaint`, `Reject`, `Open`, `Click`,
//! `Rendering Failure`, `DeliveryDelay`, `Subscription`), the `mail` object (with `tags`: every
//! tag as a list of strings) and one object named after the type.

use std::collections::HashMap;

use serde::Deserialize;

use super::counters::FeedbackKind;
use crate::domain::{CampaignId, MessageId, TenantId};

/// The EventBridge source of SES's events.
pub const SES_EVENT_SOURCE: &str = "aws.ses";

/// EventBridge's `detail-type` of each email-sending event (the rule matches these).
pub const SES_DETAIL_TYPES: [&str; 10] = [
    "Email Sent",
    "Email Delivered",
    "Email Bounced",
    "Email Complaint Received",
    "Email Rejected",
    "Email Opened",
    "Email Clicked",
    "Email Rendering Failed",
    "Email Delivery Delayed",
    "Email Subscribed",
];

/// Our message tags (written by `deliver` on every send), by which an event finds its message.
pub const TAG_TENANT: &str = "tenant";
pub const TAG_CAMPAIGN: &str = "campaign";
pub const TAG_VARIANT: &str = "variant";
pub const TAG_MESSAGE: &str = "message_id";
/// `true` on a template's test send (`templates::test_send`): its events are no campaign's.
pub const TAG_TEST_SEND: &str = "test_send";

/// Why an event could not be read: counted and kept, never a failure of the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an SES event: {0}")]
    Malformed(String),
    #[error("the event does not name our {0} tag (not a message of ours)")]
    MissingTag(&'static str),
    #[error("the {tag} tag holds an invalid value")]
    InvalidTag { tag: &'static str },
    #[error("unknown SES event type {0:?}")]
    UnknownType(String),
}

/// One SES event, read.
#[derive(Debug, Clone, PartialEq)]
pub struct SesEvent {
    /// EventBridge's event id: the same on every redelivery of one event.
    pub event_id: String,
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub variant: String,
    pub message: MessageId,
    /// A template's test send (tag [`TAG_TEST_SEND`]), not a campaign's message.
    pub test_send: bool,
    /// SES's own id of the message.
    pub ses_message_id: String,
    /// When it happened (epoch seconds): the type's own timestamp, else the send's.
    pub at: i64,
    pub what: What,
}

/// What happened, with the details kept in the send log.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Sent,
    Delivered,
    Bounced {
        permanent: bool,
        bounce_type: String,
        sub_type: String,
        /// The recipients that bounced, with the receiving server's diagnostic.
        recipients: Vec<(String, Option<String>)>,
    },
    Complained {
        feedback_type: Option<String>,
        recipients: Vec<String>,
    },
    Rejected {
        reason: String,
    },
    Opened,
    Clicked {
        link: String,
    },
    RenderingFailed {
        error: String,
    },
    Delayed {
        delay_type: String,
    },
    /// A change of subscription preferences (SES's subscription management): an unsubscribe
    /// from everything counts as one.
    Subscription {
        unsubscribed_all: bool,
        recipients: Vec<String>,
    },
}

impl What {
    /// The counter a first occurrence increments; `None` for a subscription change that is no
    /// unsubscribe.
    pub fn kind(&self) -> Option<FeedbackKind> {
        Some(match self {
            What::Sent => FeedbackKind::Sent,
            What::Delivered => FeedbackKind::Delivered,
            What::Bounced {
                permanent: true, ..
            } => FeedbackKind::HardBounced,
            What::Bounced { .. } => FeedbackKind::SoftBounced,
            What::Complained { .. } => FeedbackKind::Complained,
            What::Rejected { .. } => FeedbackKind::Rejected,
            What::Opened => FeedbackKind::Opened,
            What::Clicked { .. } => FeedbackKind::Clicked,
            What::RenderingFailed { .. } => FeedbackKind::RenderingFailed,
            What::Delayed { .. } => FeedbackKind::Delayed,
            What::Subscription {
                unsubscribed_all: true,
                ..
            } => FeedbackKind::Unsubscribed,
            What::Subscription { .. } => return None,
        })
    }

    /// What the send log keeps beside the time: at most a short line.
    pub fn detail(&self) -> Option<String> {
        let detail = match self {
            What::Bounced {
                bounce_type,
                sub_type,
                recipients,
                ..
            } => {
                let diagnostic = recipients.iter().find_map(|(_, d)| d.as_deref());
                match diagnostic {
                    Some(d) => format!("{bounce_type}/{sub_type}: {d}"),
                    None => format!("{bounce_type}/{sub_type}"),
                }
            }
            What::Complained { feedback_type, .. } => feedback_type.clone()?,
            What::Rejected { reason } => reason.clone(),
            What::Clicked { link } => link.clone(),
            What::RenderingFailed { error } => error.clone(),
            What::Delayed { delay_type } => delay_type.clone(),
            _ => return None,
        };
        Some(truncate(detail, MAX_DETAIL_CHARS))
    }
}

/// Details are cut to this many characters: a diagnostic can be a whole SMTP transcript.
pub const MAX_DETAIL_CHARS: usize = 300;

fn truncate(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
    text
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: String,
    source: Option<String>,
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_type: String,
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    delivery: Option<Timed>,
    reject: Option<Reject>,
    open: Option<Timed>,
    click: Option<Click>,
    failure: Option<Failure>,
    delivery_delay: Option<DeliveryDelay>,
    subscription: Option<Subscription>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    timestamp: String,
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Timed {
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<BouncedRecipient>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedRecipient {
    email_address: String,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Address>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    email_address: String,
}

#[derive(Deserialize)]
struct Reject {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct Click {
    #[serde(default)]
    link: String,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    #[serde(default)]
    error_message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryDelay {
    #[serde(default)]
    delay_type: String,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    timestamp: Option<String>,
    new_topic_preferences: Option<TopicPreferences>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicPreferences {
    #[serde(default)]
    unsubscribe_all: bool,
}

/// Reads one EventBridge event from SES.
pub fn parse(event: &serde_json::Value) -> Result<SesEvent, EventError> {
    let envelope =
        Envelope::deserialize(event).map_err(|e| EventError::Malformed(e.to_string()))?;
    if let Some(source) = envelope
        .source
        .as_deref()
        .filter(|s| *s != SES_EVENT_SOURCE)
    {
        return Err(EventError::Malformed(format!("source {source:?}")));
    }
    let detail = envelope.detail;
    let mail = &detail.mail;
    let tag = |name: &'static str| {
        mail.tags
            .get(name)
            .and_then(|values| values.first())
            .cloned()
            .ok_or(EventError::MissingTag(name))
    };
    let tenant = TenantId::parse(tag(TAG_TENANT)?)
        .map_err(|_| EventError::InvalidTag { tag: TAG_TENANT })?;
    let campaign = CampaignId::parse(tag(TAG_CAMPAIGN)?)
        .map_err(|_| EventError::InvalidTag { tag: TAG_CAMPAIGN })?;
    let message = MessageId::parse(tag(TAG_MESSAGE)?)
        .map_err(|_| EventError::InvalidTag { tag: TAG_MESSAGE })?;
    let variant = tag(TAG_VARIANT).unwrap_or_default();
    let test_send = tag(TAG_TEST_SEND).is_ok_and(|value| value == "true");
    let (what, timestamp) = what_happened(&detail)?;
    let at = epoch(timestamp.unwrap_or(&mail.timestamp))
        .or_else(|| epoch(&mail.timestamp))
        .ok_or_else(|| EventError::Malformed(format!("timestamp {:?}", mail.timestamp)))?;
    Ok(SesEvent {
        event_id: envelope.id,
        tenant,
        campaign,
        variant,
        message,
        test_send,
        ses_message_id: mail.message_id.clone(),
        at,
        what,
    })
}

fn what_happened(detail: &Detail) -> Result<(What, Option<&str>), EventError> {
    let missing =
        |field: &str| EventError::Malformed(format!("{} event without {field}", detail.event_type));
    let destination = || detail.mail.destination.clone();
    Ok(match detail.event_type.as_str() {
        "Send" => (What::Sent, None),
        "Delivery" => (What::Delivered, stamp(&detail.delivery)),
        "Bounce" => bounced(detail.bounce.as_ref().ok_or_else(|| missing("bounce"))?),
        "Complaint" => complained(
            detail
                .complaint
                .as_ref()
                .ok_or_else(|| missing("complaint"))?,
        ),
        "Reject" => {
            let reason = detail
                .reject
                .as_ref()
                .map(|r| r.reason.clone())
                .unwrap_or_default();
            (What::Rejected { reason }, None)
        }
        "Open" => (What::Opened, stamp(&detail.open)),
        "Click" => {
            let click = detail.click.as_ref().ok_or_else(|| missing("click"))?;
            let what = What::Clicked {
                link: click.link.clone(),
            };
            (what, click.timestamp.as_deref())
        }
        "Rendering Failure" => {
            let error = detail
                .failure
                .as_ref()
                .map(|f| f.error_message.clone())
                .unwrap_or_default();
            (What::RenderingFailed { error }, None)
        }
        "DeliveryDelay" => {
            let delay = detail
                .delivery_delay
                .as_ref()
                .ok_or_else(|| missing("deliveryDelay"))?;
            let what = What::Delayed {
                delay_type: delay.delay_type.clone(),
            };
            (what, delay.timestamp.as_deref())
        }
        "Subscription" => {
            let subscription = detail
                .subscription
                .as_ref()
                .ok_or_else(|| missing("subscription"))?;
            let what = What::Subscription {
                unsubscribed_all: subscription
                    .new_topic_preferences
                    .as_ref()
                    .is_some_and(|p| p.unsubscribe_all),
                recipients: destination(),
            };
            (what, subscription.timestamp.as_deref())
        }
        other => return Err(EventError::UnknownType(other.to_string())),
    })
}

fn bounced(bounce: &Bounce) -> (What, Option<&str>) {
    let what = What::Bounced {
        permanent: bounce.bounce_type == "Permanent",
        bounce_type: bounce.bounce_type.clone(),
        sub_type: bounce.bounce_sub_type.clone(),
        recipients: bounce
            .bounced_recipients
            .iter()
            .map(|r| (r.email_address.clone(), r.diagnostic_code.clone()))
            .collect(),
    };
    (what, bounce.timestamp.as_deref())
}

fn complained(complaint: &Complaint) -> (What, Option<&str>) {
    let what = What::Complained {
        feedback_type: complaint.complaint_feedback_type.clone(),
        recipients: complaint
            .complained_recipients
            .iter()
            .map(|r| r.email_address.clone())
            .collect(),
    };
    (what, complaint.timestamp.as_deref())
}

fn stamp(timed: &Option<Timed>) -> Option<&str> {
    timed.as_ref().and_then(|t| t.timestamp.as_deref())
}

fn epoch(timestamp: &str) -> Option<i64> {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
#[path = "ses_events_tests.rs"]
mod tests;
