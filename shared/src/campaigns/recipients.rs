//! One customer's messages of a campaign, channel by channel: where delivery's send log says
//! each stands, and what the provider's feedback said about it (the support question "did
//! Jane get the spring mail?"). Read by the customer id: the message id is derived from it, so
//! the lookup is two or three item reads, never a scan. Addresses are not indexed (they live in
//! the retailer's export and, once suppressed, in its suppression list).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::deliverability::feedback::FeedbackLog;
use crate::domain::{CampaignId, Channel, CustomerId, MessageId, TenantId};
use crate::error::StoreError;
use crate::pipeline::send_log::{RecipientOutcome, SendLog, recipient_status};

/// Where one message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    /// No delivery has claimed it: the audience did not match the customer, the launch skipped
    /// them (consent, address, suppression, frequency cap, held out), or the message is still on
    /// the way (on the streams, deferred, parked).
    NotSent,
    /// Claimed by a delivery that has not recorded its outcome yet.
    InFlight,
    /// Deferred or not attempted by its delivery: it is retried.
    Waiting,
    Sent,
    Failed,
    /// On the retailer's suppression list when it was due.
    Suppressed,
    /// Refused by the retailer's frequency cap when it was about to be sent: never sent.
    FrequencyCapped,
    /// Handed to the provider without a confirmed answer: never resent.
    Unconfirmed,
}

/// The first time of one kind of feedback, and its detail (a bounce's diagnostic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct FeedbackSeen {
    /// RFC 3339.
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct ChannelDelivery {
    pub channel: Channel,
    #[cfg_attr(feature = "api", schema(value_type = String))]
    pub message_id: MessageId,
    pub state: MessageState,
    /// Why it failed or is unconfirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's id of the sent message (SES message id, SNS message id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Feedback by kind (`delivered`, `hard_bounced`, `opened`, ...).
    pub feedback: BTreeMap<String, FeedbackSeen>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct RecipientReport {
    #[cfg_attr(feature = "api", schema(value_type = String))]
    pub customer_id: CustomerId,
    pub campaign_id: CampaignId,
    pub channels: Vec<ChannelDelivery>,
}

pub struct RecipientLookup {
    pub send_log: Arc<dyn SendLog>,
    pub feedback: Arc<dyn FeedbackLog>,
}

impl RecipientLookup {
    /// The customer's message on each of `channels`; the caller has checked the campaign is the
    /// tenant's.
    pub async fn report(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customer: &CustomerId,
        channels: &[Channel],
    ) -> Result<RecipientReport, StoreError> {
        let mut deliveries = Vec::with_capacity(channels.len());
        for &channel in channels {
            let message = MessageId::derive(tenant, campaign, customer, channel);
            deliveries.push(self.channel(tenant, campaign, channel, message).await?);
        }
        Ok(RecipientReport {
            customer_id: customer.clone(),
            campaign_id: campaign.clone(),
            channels: deliveries,
        })
    }

    async fn channel(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        channel: Channel,
        message: MessageId,
    ) -> Result<ChannelDelivery, StoreError> {
        let status = recipient_status(self.send_log.as_ref(), tenant, campaign, &message).await?;
        let (state, reason, provider_message_id) = match status.map(|s| s.outcome) {
            None => (MessageState::NotSent, None, None),
            Some(None) => (MessageState::InFlight, None, None),
            Some(Some(outcome)) => describe(outcome),
        };
        let mut feedback = BTreeMap::new();
        if let Some(seen) = self
            .feedback
            .message_feedback(tenant, campaign, &message)
            .await?
        {
            for (kind, at, detail) in seen.events {
                let at = time::OffsetDateTime::from_unix_timestamp(at)
                    .map(rfc3339)
                    .unwrap_or_else(|_| at.to_string());
                let name = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{kind:?}"));
                feedback.insert(name, FeedbackSeen { at, detail });
            }
        }
        Ok(ChannelDelivery {
            channel,
            message_id: message,
            state,
            reason,
            provider_message_id,
            feedback,
        })
    }
}

fn describe(outcome: RecipientOutcome) -> (MessageState, Option<String>, Option<String>) {
    match outcome {
        RecipientOutcome::Sent {
            provider_message_id,
            ..
        } => (MessageState::Sent, None, Some(provider_message_id)),
        RecipientOutcome::Failed { reason } => (MessageState::Failed, Some(reason), None),
        RecipientOutcome::Suppressed => (MessageState::Suppressed, None, None),
        RecipientOutcome::FrequencyCapped => (MessageState::FrequencyCapped, None, None),
        RecipientOutcome::Unconfirmed { reason } => (MessageState::Unconfirmed, Some(reason), None),
        // The owner's own slot never says duplicate; a later batch's does, for a message its
        // owner finished.
        RecipientOutcome::Duplicate => (MessageState::Sent, None, None),
        RecipientOutcome::Deferred | RecipientOutcome::Pending => {
            (MessageState::Waiting, None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverability::counters::FeedbackKind;
    use crate::deliverability::feedback::FeedbackRecord;
    use crate::domain::{BatchId, VariantId};
    use crate::pipeline::send_log::{
        AttemptId, BatchOutcome, DeliveryTally, MessageClaim, OutcomeWrite,
    };
    use crate::testing::{MemoryFeedbackCounters, MemoryFeedbackLog, MemorySendLog};

    fn ids() -> (TenantId, CampaignId) {
        (
            TenantId::parse("alpine").unwrap(),
            CampaignId::parse("spring").unwrap(),
        )
    }

    fn customer(id: &str) -> CustomerId {
        CustomerId::parse(id).unwrap()
    }

    async fn claim(log: &MemorySendLog, message: MessageId, slot: u16) -> MessageClaim {
        let (tenant, campaign) = ids();
        let claim = MessageClaim {
            tenant_id: tenant,
            campaign_id: campaign,
            message_id: message,
            batch_id: BatchId::parse("b1").unwrap(),
            slot,
            lease_until: 0,
            attempt: AttemptId(7),
        };
        log.claim(&claim).await.unwrap();
        claim
    }

    #[tokio::test]
    async fn each_channel_says_where_its_message_stands_and_what_the_provider_said() {
        let (tenant, campaign) = ids();
        let log = Arc::new(MemorySendLog::default());
        let feedback = Arc::new(MemoryFeedbackLog::new(
            log.clone(),
            Arc::new(MemoryFeedbackCounters::default()),
        ));
        let lookup = RecipientLookup {
            send_log: log.clone(),
            feedback: feedback.clone(),
        };
        let jane_email = MessageId::derive(&tenant, &campaign, &customer("jane"), Channel::Email);
        let jane_push = MessageId::derive(&tenant, &campaign, &customer("jane"), Channel::Push);
        claim(&log, jane_email.clone(), 0).await;
        claim(&log, jane_push, 1).await;
        let outcome = BatchOutcome {
            tenant_id: tenant.clone(),
            campaign_id: campaign.clone(),
            batch_id: BatchId::parse("b1").unwrap(),
            attempt: AttemptId(7),
            outcomes: vec![
                RecipientOutcome::Sent {
                    provider_message_id: "ses-1".into(),
                    endpoints_disabled: 0,
                },
                RecipientOutcome::Pending,
            ],
            revision: 1,
            channel: Channel::Email,
        };
        log.write_outcome(&OutcomeWrite {
            outcome: &outcome,
            expected: None,
            variant: &VariantId::parse("A").unwrap(),
            tally: DeliveryTally::default(),
        })
        .await
        .unwrap();
        feedback
            .record(&FeedbackRecord {
                tenant: tenant.clone(),
                campaign: campaign.clone(),
                variant: "A".into(),
                message: jane_email.clone(),
                kind: FeedbackKind::Delivered,
                at: 1_796_000_000,
                detail: None,
            })
            .await
            .unwrap();

        let both = [Channel::Email, Channel::Push];
        let jane = lookup
            .report(&tenant, &campaign, &customer("jane"), &both)
            .await
            .unwrap();
        let email = &jane.channels[0];
        assert_eq!(email.message_id, jane_email);
        assert_eq!(email.state, MessageState::Sent);
        assert_eq!(email.provider_message_id.as_deref(), Some("ses-1"));
        assert_eq!(email.feedback["delivered"].at, "2026-11-30T00:53:20Z");
        assert_eq!(jane.channels[1].state, MessageState::Waiting);

        let joe = lookup
            .report(&tenant, &campaign, &customer("joe"), &both)
            .await
            .unwrap();
        assert!(
            joe.channels
                .iter()
                .all(|c| c.state == MessageState::NotSent)
        );
        // Another retailer's customer of the same id is another message.
        let harbor = TenantId::parse("harbor").unwrap();
        let other = lookup
            .report(&harbor, &campaign, &customer("jane"), &both)
            .await
            .unwrap();
        assert!(
            other
                .channels
                .iter()
                .all(|c| c.state == MessageState::NotSent && c.feedback.is_empty())
        );
    }
}
