//! Quiet hours in each customer's time zone, for a campaign that asks (`quiet_hours_zone:
//! customer`): after the claims and checks, before the warm-up cap and the send budget, the
//! recipients inside the retailer's quiet window in their own time zone (`fields.timezone`, an
//! IANA name) are released (`Pending`, as the cap's held-back ones are) and deferred, a batch for
//! each time their windows end; the others go out now. A recipient without a readable time zone
//! is held in the retailer's (and counted: `QuietHoursZoneFallback`). Such a campaign's batches
//! are not held whole in the retailer's time zone (`setbacks::quiet_hours_hold`).

use std::collections::{BTreeMap, HashMap};

use jiff::tz::TimeZone;
use time::OffsetDateTime;

use super::*;
use crate::deliverability::quiet_hours::held_in;
use crate::domain::{
    CUSTOMER_TIMEZONE_FIELD, MessageId, QuietHours, QuietHoursZone, Recipient, SendBatch,
};

/// The retailer's window, kept in each recipient's time zone.
pub(super) struct CustomerQuiet {
    quiet: QuietHours,
    /// The fallback zone; `None` if the retailer's is unknown (only a corrupt item: onboarding
    /// refuses one), which holds nothing, as the batch-level hold does then.
    retailer: Option<TimeZone>,
}

/// Who of the sendable recipients waits for their quiet window to end.
#[derive(Debug, Default)]
pub(super) struct QuietSplit {
    /// The slot and when its window ends (epoch seconds).
    pub(super) held: Vec<(usize, i64)>,
    /// Recipients without a time zone of their own that could be read.
    pub(super) fallbacks: u64,
}

impl CustomerQuiet {
    /// For a campaign in the customer's zone whose retailer has quiet hours; `None` otherwise,
    /// so delivery without the option does no per-recipient work.
    pub(super) fn for_campaign(workspace: &TenantWorkspace, zone: QuietHoursZone) -> Option<Self> {
        if zone != QuietHoursZone::Customer {
            return None;
        }
        let quiet = workspace
            .settings
            .quiet_hours
            .filter(|q| q.start_hour != q.end_hour)?;
        Some(Self {
            quiet,
            retailer: TimeZone::get(&workspace.settings.timezone).ok(),
        })
    }

    /// Takes out of `sendable` the recipients inside their quiet window at `now`.
    pub(super) fn split(
        &self,
        batch: &SendBatch,
        sendable: &mut Vec<usize>,
        now: OffsetDateTime,
    ) -> QuietSplit {
        let mut split = QuietSplit::default();
        // Each distinct name looked up once per batch.
        let mut zones: HashMap<&str, Option<TimeZone>> = HashMap::new();
        sendable.retain(|&slot| {
            let fields = &batch.recipients[slot].customer.fields;
            let own = fields
                .get(CUSTOMER_TIMEZONE_FIELD)
                .and_then(FieldValue::as_str)
                .and_then(|name| {
                    zones
                        .entry(name)
                        .or_insert_with(|| TimeZone::get(name.trim()).ok())
                        .clone()
                });
            let zone = match own {
                Some(zone) => zone,
                None => {
                    split.fallbacks += 1;
                    match &self.retailer {
                        Some(zone) => zone.clone(),
                        None => return true,
                    }
                }
            };
            match held_in(now, &zone, self.quiet) {
                Some(open) => {
                    split.held.push((slot, open.unix_timestamp()));
                    false
                }
                None => true,
            }
        });
        split
    }
}

impl Deliverer {
    /// Defers the recipients of `remainder` that their quiet hours held, one batch for each
    /// time their windows end (so each is redriven when its own window ends), and answers the
    /// rest of the remainder. A deferral the archive cannot keep gives the record back to Lambda
    /// (the batches already deferred are then deferred again under the same keys). With an
    /// outcome left to write (`unrecorded`), the remainder is deferred whole with it, and the
    /// quiet ones are held again when it comes back.
    pub(super) async fn defer_quiet(
        &self,
        batch: &SendBatch,
        remainder: Option<SendBatch>,
        (held, unrecorded): (&[(usize, i64)], bool),
        deadline: OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> Result<Option<SendBatch>, BatchDisposition> {
        let remainder = match remainder {
            Some(remainder) if !held.is_empty() && !unrecorded => remainder,
            other => return Ok(other),
        };
        let opens: HashMap<&MessageId, i64> = held
            .iter()
            .map(|&(slot, open)| (&batch.recipients[slot].message_id, open))
            .collect();
        let mut by_open: BTreeMap<i64, Vec<Recipient>> = BTreeMap::new();
        let mut rest = Vec::new();
        for recipient in remainder.recipients {
            match opens.get(&recipient.message_id) {
                Some(&open) => by_open.entry(open).or_default().push(recipient),
                None => rest.push(recipient),
            }
        }
        for (open, recipients) in by_open {
            let quiet = recipients.len() as u64;
            let group = outcome::batch_of(batch, recipients);
            let reason = super::setbacks::QUIET_HOURS_REASON;
            let deferred = self
                .defer(Some(group), None, open, reason, deadline, counts)
                .await;
            if matches!(deferred, BatchDisposition::Retry) {
                return Err(deferred);
            }
            counts.quiet_hours_held += quiet;
        }
        Ok((!rest.is_empty()).then(|| outcome::batch_of(batch, rest)))
    }
}
