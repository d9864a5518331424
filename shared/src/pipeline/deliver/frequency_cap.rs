//! The retailer's frequency cap in a delivery, after the warm-up cap and the send budget
//! (`cap.rs`, `budget.rs`) and right before the sends: each recipient about to be sent takes a
//! contact from its customer's contact history on the batch's channel
//! (`deliverability::frequency_cap`: one consistent read and one conditional write each, a
//! batch's takes `CONTACT_WRITE_CONCURRENCY` at a time; no call for a tenant without a cap).
//! A recipient the cap refuses is final as `FrequencyCapped` (not sent, not failed, never
//! retried: its claim is settled by the outcome). One whose take is unanswered (the contact
//! history unavailable, or no ledger configured) is released (`Pending`) and deferred: never
//! sent uncapped, never dropped. Contacts taken for recipients then not sent (a failed render,
//! a throttled send, a refused workspace) are given back.

use time::OffsetDateTime;

use crate::deliverability::frequency_cap::{ContactScope, ContactTake};
use crate::domain::{CustomerId, SendBatch, TenantWorkspace};
use crate::error::StoreError;
use crate::pipeline::send_log::RecipientOutcome;

use super::*;

/// What the frequency cap let through of the budget's sends.
#[derive(Default)]
pub(super) struct Contacts {
    /// The sends whose contact is taken (or that the cap does not apply to), in order.
    pub(super) sends: Vec<(usize, Option<OffsetDateTime>)>,
    /// Refused by the cap: final, `FrequencyCapped`.
    pub(super) refused: Vec<usize>,
    /// Not answered: deferred until `retry_at`.
    pub(super) unavailable: Vec<usize>,
    pub(super) retry_at: Option<(i64, &'static str)>,
    /// The slots that hold their customer's contact for this campaign: given back unless sent.
    taken: Vec<usize>,
}

impl Deliverer {
    /// Takes the contacts of the recipients about to be sent. A tenant without a frequency cap
    /// lets every send through without a call.
    pub(super) async fn take_contacts(
        &self,
        batch: &SendBatch,
        workspace: &TenantWorkspace,
        sends: Vec<(usize, Option<OffsetDateTime>)>,
        send_until: OffsetDateTime,
    ) -> Contacts {
        let Some(cap) = workspace
            .settings
            .frequency_cap
            .filter(|_| !sends.is_empty())
        else {
            return Contacts {
                sends,
                ..Contacts::default()
            };
        };
        let retry_later =
            self.clock.now().unix_timestamp() + self.config.retry_delay.as_secs() as i64;
        let Some(ledger) = &self.contacts else {
            tracing::error!(
                "tenant has a frequency cap but no contact ledger is configured; deferred"
            );
            return Contacts {
                unavailable: sends.into_iter().map(|(slot, _)| slot).collect(),
                retry_at: Some((retry_later, "no contact ledger configured")),
                ..Contacts::default()
            };
        };
        let customers = customers_of(batch, sends.iter().map(|(slot, _)| *slot));
        let take = ledger.take_contacts(contact_scope(batch), &customers, cap, self.clock.now());
        let answers = match self.bounded(send_until, async { Ok(take.await) }).await {
            Ok(answers) => answers,
            Err(error) => {
                tracing::warn!(%error, "contact history did not answer in time; deferred");
                Vec::new()
            }
        };
        let mut contacts = Contacts::default();
        let mut first_error: Option<StoreError> = None;
        let mut answers = answers.into_iter();
        for (slot, at) in sends {
            match answers.next() {
                Some(Ok(ContactTake::Refused)) => contacts.refused.push(slot),
                Some(Ok(_)) => {
                    contacts.taken.push(slot);
                    contacts.sends.push((slot, at));
                }
                Some(Err(error)) => {
                    first_error.get_or_insert(error);
                    contacts.unavailable.push(slot);
                }
                None => contacts.unavailable.push(slot),
            }
        }
        if let Some(error) = first_error {
            tracing::warn!(%error, unavailable = contacts.unavailable.len(), "contact history unavailable; deferred");
        }
        if !contacts.refused.is_empty() {
            tracing::info!(
                refused = contacts.refused.len(),
                "frequency cap reached for some recipients"
            );
        }
        if !contacts.unavailable.is_empty() {
            contacts.retry_at = Some((retry_later, "contact history unavailable"));
        }
        contacts
    }

    /// Gives back the contacts taken for recipients that were not sent (a send that may have
    /// gone out, `Unconfirmed`, keeps its contact). Best effort: a contact not given back still
    /// counts, erring on the side of fewer messages.
    pub(super) async fn release_unsent_contacts(
        &self,
        batch: &SendBatch,
        contacts: &Contacts,
        results: &[(usize, RecipientResult)],
        deadline: OffsetDateTime,
    ) {
        let (Some(ledger), false) = (&self.contacts, contacts.taken.is_empty()) else {
            return;
        };
        let unsent = results.iter().filter_map(|(slot, result)| {
            let sent = matches!(
                result.outcome,
                RecipientOutcome::Sent { .. } | RecipientOutcome::Unconfirmed { .. }
            );
            (!sent && contacts.taken.contains(slot)).then_some(*slot)
        });
        let customers = customers_of(batch, unsent);
        if customers.is_empty() {
            return;
        }
        // Leaves the outcome write at least one call's time.
        let until = deadline - self.config.outcome_write_reserve - self.config.store_call_timeout;
        let release = ledger.release_contacts(contact_scope(batch), &customers);
        if let Err(error) = self.bounded(until, release).await {
            tracing::warn!(%error, unsent = customers.len(), "could not give unsent contacts back");
        }
    }
}

fn contact_scope(batch: &SendBatch) -> ContactScope<'_> {
    ContactScope {
        tenant: &batch.group.tenant_id,
        channel: batch.group.channel,
        campaign: &batch.group.campaign_id,
    }
}

fn customers_of(batch: &SendBatch, slots: impl Iterator<Item = usize>) -> Vec<CustomerId> {
    slots
        .map(|slot| batch.recipients[slot].customer.id.clone())
        .collect()
}

/// The later of two "wait until, because" answers.
pub(super) fn later_of(
    a: Option<(i64, &'static str)>,
    b: Option<(i64, &'static str)>,
) -> Option<(i64, &'static str)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}
