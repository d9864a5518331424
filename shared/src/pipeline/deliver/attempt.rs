//! One attempt at a batch's recipients: every claim and check, the customers' own quiet hours
//! (when the campaign asks), the warm-up cap, the send budget and the frequency cap, then the
//! sends, each on its slot.

use std::sync::atomic::AtomicBool;

use time::OffsetDateTime;

use super::quiet::QuietSplit;
use super::*;
use crate::domain::SendBatch;

impl Deliverer {
    /// Claims and checks every recipient, takes the day's sends from a tenant in warm-up, their
    /// slots from the send budget and their customers' contacts from the frequency cap, then
    /// sends, `send_concurrency` at a time, each on its
    /// slot. Answers each slot's outcome, why the tenant's workspace refused a send if it did,
    /// how long other deliveries hold the recipients they hold, and until when the warm-up cap
    /// or the budget holds back the ones they did not grant.
    pub(super) async fn send_all(
        &self,
        batch: &SendBatch,
        ready: &ReadyBatch,
        resolver: &ClaimResolver<'_>,
        deadline: OffsetDateTime,
        lagging: bool,
    ) -> AttemptResults {
        let lease_until = (deadline + self.config.lease_margin).unix_timestamp();
        let send_until = deadline - self.config.deadline_reserve;
        let workspace_refused = AtomicBool::new(false);
        let jobs: Vec<DeliverRecipient<'_>> = batch
            .recipients
            .iter()
            .enumerate()
            .map(|(slot, recipient)| DeliverRecipient {
                batch,
                slot,
                recipient,
                workspace: &ready.workspace,
                brand: &ready.brand,
                template: &ready.template,
                suppressed: push::is_suppressed(batch, recipient, &ready.suppressed),
                ready,
                resolver,
                lease_until,
                send_until,
                workspace_refused: &workspace_refused,
            })
            .collect();
        let concurrency = self.config.send_concurrency.max(1);
        let checks: Vec<_> = jobs.iter().map(|job| self.check_in_span(job)).collect();
        let checked: Vec<(usize, Result<(), RecipientResult>)> = futures::stream::iter(checks)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let (mut results, mut sendable) = sendable_and_settled(checked);
        let quiet = match &ready.customer_quiet {
            Some(customer_quiet) => customer_quiet.split(batch, &mut sendable, self.clock.now()),
            None => QuietSplit::default(),
        };
        let pending = |slot: &usize| (*slot, RecipientResult::pending());
        results.extend(quiet.held.iter().map(|(slot, _)| pending(slot)));
        let mut allotment = self
            .allot(batch, &ready.workspace, sendable, send_until, lagging)
            .await;
        results.extend(allotment.grant.held_back.iter().map(pending));
        let sends = std::mem::take(&mut allotment.sends);
        let contacts = self
            .take_contacts(batch, &ready.workspace, sends, send_until)
            .await;
        let sends: Vec<_> = contacts
            .sends
            .iter()
            .map(|&(slot, not_before)| self.send_in_span(&jobs[slot], not_before))
            .collect();
        let mut sent: Vec<(usize, RecipientResult)> = futures::stream::iter(sends)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        sent.extend(allotment.budget_held.iter().map(pending));
        let capped = |slot: &usize| {
            let outcome = RecipientOutcome::FrequencyCapped;
            (*slot, RecipientResult::final_outcome(outcome))
        };
        sent.extend(contacts.refused.iter().map(capped));
        sent.extend(contacts.unavailable.iter().map(pending));
        self.give_back_unsent(batch, &allotment.grant, &sent).await;
        self.release_unsent_contacts(batch, &contacts, &sent, deadline)
            .await;
        results.extend(sent);

        AttemptResults::of(batch, results, &allotment, quiet, &contacts)
    }
}

/// The recipients every check passed, and the results of those a check settled.
fn sendable_and_settled(
    checked: Vec<(usize, Result<(), RecipientResult>)>,
) -> (Vec<(usize, RecipientResult)>, Vec<usize>) {
    let mut settled = Vec::with_capacity(checked.len());
    let mut sendable = Vec::new();
    for (slot, check) in checked {
        match check {
            Ok(()) => sendable.push(slot),
            Err(result) => settled.push((slot, result)),
        }
    }
    (settled, sendable)
}

impl AttemptResults {
    fn of(
        batch: &SendBatch,
        results: Vec<(usize, RecipientResult)>,
        allotment: &super::budget::Allotment,
        quiet: QuietSplit,
        contacts: &super::frequency_cap::Contacts,
    ) -> Self {
        let mut attempt = AttemptResults {
            slots: vec![RecipientOutcome::Pending; batch.recipients.len()],
            tenant_rejection: None,
            held_until: None,
            capped_until: super::frequency_cap::later_of(allotment.held_until, contacts.retry_at),
            held_back: allotment.grant.held_back.len()
                + allotment.budget_held.len()
                + contacts.unavailable.len(),
            share_reservation: allotment.share_reservation,
            quiet_held: quiet.held,
            zone_fallbacks: quiet.fallbacks,
        };
        for (slot, outcome) in results {
            attempt.slots[slot] = outcome.outcome;
            if attempt.tenant_rejection.is_none() {
                attempt.tenant_rejection = outcome.tenant_rejection;
            }
            attempt.held_until = attempt.held_until.max(outcome.held_until);
        }
        attempt
    }
}
