//! SES's event publishing, emulated: moto publishes no events. For every send SES (moto)
//! accepts to an address of the SES mailbox simulator, [`MailboxSimulator`] builds the event
//! records SES would publish (a Send for every accepted message, and what the simulator's
//! mailbox answers) and [`LocalEventBus`] passes each through the template's
//! EventBridge rules (their patterns, matched as EventBridge matches them) to the real
//! feedback handler, in process.
//!
//! | address (`<name>[+label]@simulator.amazonses.com`) | events |
//! | --- | --- |
//! | `success` | Send, Delivery, and, playing a reader, Open and Click |
//! | `bounce` | Send, Bounce (Permanent, General) |
//! | `complaint` | Send, Delivery, Complaint (abuse) |
//! | `suppressionlist` | Send, Bounce (Permanent, OnAccountSuppressionList) |
//! | `ooto` | Send, Delivery (the auto-reply is mail, not an event) |
//!
//! The Open and Click for `success@` are ours: SES publishes them only when a person opens the
//! message and follows a link. They let the local demo show the whole loop.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use storecast::channels::email::{EmailProvider, OutboundEmail};
use storecast::deliverability::feedback::{Applied, Feedback, FeedbackSummary};
use storecast::error::SendError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::local::REGION;

pub const SIMULATOR_DOMAIN: &str = "simulator.amazonses.com";
const ACCOUNT: &str = "123456789012";

/// Whether an EventBridge event pattern matches an event: each field of the pattern must be in
/// the event, a list matches any of its values (a string, `{"prefix": …}` or
/// `{"exists": bool}`), an object matches field by field. The subset SAM templates use.
pub fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(name, expected)| {
        let actual = event.get(name);
        match expected {
            Value::Object(_) => actual.is_some_and(|actual| pattern_matches(expected, actual)),
            Value::Array(options) => options.iter().any(|option| value_matches(option, actual)),
            _ => false,
        }
    })
}

fn value_matches(option: &Value, actual: Option<&Value>) -> bool {
    if let Some(exists) = option.get("exists").and_then(Value::as_bool) {
        return actual.is_some() == exists;
    }
    let Some(actual) = actual else { return false };
    // An event's list matches when any element does.
    if let Value::Array(values) = actual {
        return values
            .iter()
            .any(|value| value_matches(option, Some(value)));
    }
    match option.get("prefix").and_then(Value::as_str) {
        Some(prefix) => actual.as_str().is_some_and(|a| a.starts_with(prefix)),
        None => option == actual,
    }
}

/// The default event bus with the rules of one function: what matches goes to its handler.
pub struct LocalEventBus {
    patterns: Vec<Value>,
    feedback: Feedback,
    summary: Mutex<FeedbackSummary>,
    /// Published and not yet delivered: SES publishes after the send call has answered, so the
    /// events are applied after the invocation ([`LocalEventBus::flush`]), never inside a send.
    pending: Mutex<Vec<Value>>,
    /// Events the handler failed on three times (Lambda would send them to the on-failure
    /// queue).
    failed: std::sync::atomic::AtomicU64,
}

/// Lambda's asynchronous invocations: the first and two retries.
const ASYNC_INVOCATION_ATTEMPTS: u32 = 3;

impl LocalEventBus {
    pub fn new(patterns: Vec<Value>, feedback: Feedback) -> Self {
        Self {
            patterns,
            feedback,
            summary: Mutex::default(),
            pending: Mutex::default(),
            failed: Default::default(),
        }
    }

    /// Queues an event, as SES's publishing does.
    pub fn publish(&self, event: Value) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    /// Delivers every queued event through the rules.
    pub async fn flush(&self) {
        let events = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for event in &events {
            self.put(event).await;
        }
    }

    /// Puts one event on the bus; answers what the handler made of it, if a rule matched.
    pub async fn put(&self, event: &Value) -> Option<Applied> {
        if !self.patterns.iter().any(|p| pattern_matches(p, event)) {
            return None;
        }
        let mut summary = FeedbackSummary::default();
        // Lambda runs an asynchronous invocation that failed up to twice more.
        let mut attempt = 0;
        let applied = loop {
            attempt += 1;
            match self.feedback.apply(event, &mut summary).await {
                Ok(applied) => break applied,
                Err(error) if attempt < ASYNC_INVOCATION_ATTEMPTS => {
                    tracing::debug!(error = %storecast::error::chain(&error), "ses-events failed; retried");
                }
                Err(error) => {
                    tracing::warn!(error = %storecast::error::chain(&error), "ses-events handler failed; the event would go to the on-failure queue");
                    self.failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
        };
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&summary);
        Some(applied)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn summary(&self) -> FeedbackSummary {
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The email provider with SES's event publishing for the mailbox simulator's addresses.
pub struct MailboxSimulator {
    inner: Arc<dyn EmailProvider>,
    bus: Arc<LocalEventBus>,
}

impl MailboxSimulator {
    pub fn new(inner: Arc<dyn EmailProvider>, bus: Arc<LocalEventBus>) -> Self {
        Self { inner, bus }
    }
}

#[async_trait]
impl EmailProvider for MailboxSimulator {
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError> {
        let ses_message_id = self.inner.send(email).await?;
        for event in simulated_events(email, &ses_message_id, OffsetDateTime::now_utc()) {
            self.bus.publish(event);
        }
        Ok(ses_message_id)
    }
}

/// The events SES publishes for one accepted send: a Send, then for a simulator address what
/// its mailbox answers.
pub fn simulated_events(
    email: &OutboundEmail,
    ses_message_id: &str,
    at: OffsetDateTime,
) -> Vec<Value> {
    let mut events = vec![("Send", json!({}))];
    let simulator = email
        .to_address
        .rsplit_once('@')
        .filter(|(_, domain)| domain.eq_ignore_ascii_case(SIMULATOR_DOMAIN));
    let Some((local, _)) = simulator else {
        // SES publishes a Send for every accepted message; what follows comes from the
        // recipient's server, which the local stack has not.
        return events
            .into_iter()
            .map(|(event_type, body)| envelope(email, ses_message_id, at, event_type, body))
            .collect();
    };
    let mailbox = local
        .split('+')
        .next()
        .unwrap_or(local)
        .to_ascii_lowercase();
    let to = email.to_address.as_str();
    let stamp = |seconds: i64| {
        (at + time::Duration::seconds(seconds))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    let delivery = (
        "Delivery",
        json!({"timestamp": stamp(1), "processingTimeMillis": 900, "recipients": [to], "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-1.smtp-out.amazonses.com"}),
    );
    let bounce = |sub_type: &str, diagnostic: &str| {
        (
            "Bounce",
            json!({
                "bounceType": "Permanent", "bounceSubType": sub_type,
                "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": "5.1.1", "diagnosticCode": diagnostic}],
                "timestamp": stamp(2), "feedbackId": format!("{ses_message_id}-bounce"), "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com"
            }),
        )
    };
    match mailbox.as_str() {
        "success" => events.extend([
            delivery,
            ("Open", json!({"timestamp": stamp(60), "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"})),
            ("Click", json!({"timestamp": stamp(90), "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0", "link": "https://shop.example/offers", "linkTags": {}})),
        ]),
        "bounce" => events.push(bounce("General", "smtp; 550 5.1.1 user unknown")),
        "suppressionlist" => events.push(bounce(
            "OnAccountSuppressionList",
            "Amazon SES did not send the message to this address because it is on the suppression list for your account.",
        )),
        "complaint" => events.extend([
            delivery,
            ("Complaint", json!({"complainedRecipients": [{"emailAddress": to}], "timestamp": stamp(30), "feedbackId": format!("{ses_message_id}-complaint"), "complaintFeedbackType": "abuse", "userAgent": "Amazon SES Mailbox Simulator"})),
        ]),
        "ooto" => events.push(delivery),
        _ => {}
    }
    events
        .into_iter()
        .map(|(event_type, body)| envelope(email, ses_message_id, at, event_type, body))
        .collect()
}

fn envelope(
    email: &OutboundEmail,
    ses_message_id: &str,
    at: OffsetDateTime,
    event_type: &str,
    body: Value,
) -> Value {
    let (detail_type, field) = match event_type {
        "Send" => ("Email Sent", "send"),
        "Delivery" => ("Email Delivered", "delivery"),
        "Bounce" => ("Email Bounced", "bounce"),
        "Complaint" => ("Email Complaint Received", "complaint"),
        "Open" => ("Email Opened", "open"),
        _ => ("Email Clicked", "click"),
    };
    let mut tags = serde_json::Map::new();
    tags.insert(
        "ses:configuration-set".into(),
        json!([email.configuration_set]),
    );
    tags.insert("ses:source-tls-version".into(), json!(["TLSv1.3"]));
    tags.insert(
        "ses:from-domain".into(),
        json!([email.from_address.rsplit('@').next().unwrap_or_default()]),
    );
    for (name, value) in &email.tags {
        tags.insert(name.clone(), json!([value]));
    }
    let mut detail = json!({
        "eventType": event_type,
        "mail": {
            "timestamp": at.format(&Rfc3339).unwrap_or_default(),
            "source": email.from_address,
            "sendingAccountId": ACCOUNT,
            "messageId": ses_message_id,
            "destination": [email.to_address],
            "headersTruncated": false,
            "tags": tags,
        },
    });
    detail[field] = body;
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": ACCOUNT,
        "time": at.format(&Rfc3339).unwrap_or_default(),
        "region": REGION,
        "resources": [format!("arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{}", email.configuration_set)],
        "detail": detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str) -> OutboundEmail {
        OutboundEmail {
            configuration_set: "storecast-local-acme".into(),
            ses_tenant: "storecast-local-acme".into(),
            from_address: "acme@mail.example".into(),
            to_address: to.into(),
            raw_mime: Vec::new(),
            tags: vec![
                ("tenant".into(), "acme".into()),
                ("message_id".into(), "abc".into()),
            ],
        }
    }

    #[test]
    fn each_simulator_mailbox_publishes_what_ses_would() {
        let kinds = |to: &str| -> Vec<String> {
            simulated_events(&email(to), "0100-x", OffsetDateTime::UNIX_EPOCH)
                .iter()
                .map(|e| e["detail"]["eventType"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            kinds("success@simulator.amazonses.com"),
            ["Send", "Delivery", "Open", "Click"]
        );
        assert_eq!(
            kinds("bounce+demo@simulator.amazonses.com"),
            ["Send", "Bounce"]
        );
        assert_eq!(
            kinds("complaint@simulator.amazonses.com"),
            ["Send", "Delivery", "Complaint"]
        );
        assert_eq!(
            kinds("suppressionlist@simulator.amazonses.com"),
            ["Send", "Bounce"]
        );
        assert_eq!(kinds("ooto@simulator.amazonses.com"), ["Send", "Delivery"]);
        assert_eq!(kinds("someone@example.com"), ["Send"]);
        let event = &simulated_events(
            &email("bounce@simulator.amazonses.com"),
            "0100-x",
            OffsetDateTime::UNIX_EPOCH,
        )[1];
        assert_eq!(event["detail"]["mail"]["tags"]["tenant"], json!(["acme"]));
        assert_eq!(event["detail-type"], "Email Bounced");
    }

    #[test]
    fn patterns_match_as_eventbridge_matches_them() {
        let pattern = json!({
            "source": ["aws.ses"],
            "detail-type": ["Email Sent", "Email Bounced"],
            "detail": {"mail": {"tags": {"ses:configuration-set": [{"prefix": "storecast-local-"}]}}}
        });
        let ours = &simulated_events(
            &email("bounce@simulator.amazonses.com"),
            "0100-x",
            OffsetDateTime::UNIX_EPOCH,
        )[1];
        assert!(pattern_matches(&pattern, ours));
        let mut other_stack = ours.clone();
        other_stack["detail"]["mail"]["tags"]["ses:configuration-set"] = json!(["someone-else"]);
        assert!(!pattern_matches(&pattern, &other_stack));
        let mut other_type = ours.clone();
        other_type["detail-type"] = json!("Email Opened");
        assert!(!pattern_matches(&pattern, &other_type));
        assert!(pattern_matches(
            &json!({"detail": {"x": [{"exists": false}]}}),
            ours
        ));
    }
}
