//! The simulation's own ledger (what SES accepted, which invocations died holding what) and the
//! report reconciling it with the send log, the kept records and the campaign's stats.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::{CampaignId, MessageId, TenantId};
use crate::pipeline::send_log::{RecipientOutcome, SendLog};
use crate::testing::{MemoryArchive, MemorySendLog};

/// Where each message was accepted from, for looking up its claim.
type Owner = (TenantId, CampaignId);

pub struct Ledger {
    send_log: Arc<MemorySendLog>,
    archive: Arc<MemoryArchive>,
    owners: HashMap<String, Owner>,
    accepts: Mutex<HashMap<String, u32>>,
    first_accept: Mutex<Option<OffsetDateTime>>,
    last_accept: Mutex<Option<OffsetDateTime>>,
    last_accept_by_tenant: Mutex<HashMap<TenantId, OffsetDateTime>>,
    /// Accepted by an invocation that died before its outcome said so: a second send of these
    /// is inside the documented crash window.
    exposed: Mutex<HashSet<String>>,
    deaths: Mutex<BTreeMap<String, u64>>,
    gave_up: Mutex<BTreeMap<&'static str, usize>>,
    ses_throttles: AtomicU64,
    provider_ids: AtomicU64,
}

impl Ledger {
    pub fn new(
        send_log: Arc<MemorySendLog>,
        archive: Arc<MemoryArchive>,
        owners: HashMap<String, Owner>,
    ) -> Self {
        Self {
            send_log,
            archive,
            owners,
            accepts: Mutex::default(),
            first_accept: Mutex::default(),
            last_accept: Mutex::default(),
            last_accept_by_tenant: Mutex::default(),
            exposed: Mutex::default(),
            deaths: Mutex::default(),
            gave_up: Mutex::default(),
            ses_throttles: AtomicU64::new(0),
            provider_ids: AtomicU64::new(0),
        }
    }

    /// SES accepted the email of `message_id` at `now`; answers SES's message id.
    pub fn accepted(&self, message_id: &str, now: OffsetDateTime) -> String {
        *lock(&self.accepts)
            .entry(message_id.to_string())
            .or_default() += 1;
        lock(&self.first_accept).get_or_insert(now);
        *lock(&self.last_accept) = Some(now);
        if let Some((tenant, _)) = self.owners.get(message_id) {
            lock(&self.last_accept_by_tenant).insert(tenant.clone(), now);
        }
        format!(
            "sim-{:012}",
            self.provider_ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub fn throttled(&self) {
        self.ses_throttles.fetch_add(1, Ordering::Relaxed);
    }

    pub fn gave_up(&self, mapping: &'static str, records: usize) {
        *lock(&self.gave_up).entry(mapping).or_default() += records;
    }

    /// An invocation crashed or timed out.
    pub fn invocation_died(&self, function: &str, how: &str, accepted: &[String]) {
        *lock(&self.deaths)
            .entry(format!("{function} {how}"))
            .or_default() += 1;
        self.invocation_ended(accepted);
    }

    /// An invocation ended, however: what it had sent with no durable record of the send (an
    /// outcome in the send log, or one kept in the archive for the redrive to write) is exposed
    /// to a second send once its claims' leases end. That is the crash window.
    pub fn invocation_ended(&self, accepted: &[String]) {
        let unrecorded: Vec<&String> = accepted
            .iter()
            .filter(|message| !self.recorded_as_sent(message))
            .collect();
        if unrecorded.is_empty() {
            return;
        }
        let kept = self.kept_outcomes();
        for message in unrecorded {
            if !self.sent_in(message, &kept) {
                lock(&self.exposed).insert(message.clone());
            }
        }
    }

    fn recorded_as_sent(&self, message: &str) -> bool {
        matches!(
            self.final_outcome(message),
            Some(RecipientOutcome::Sent { .. } | RecipientOutcome::Unconfirmed { .. })
        )
    }

    /// Outcomes a delivery could not write and kept in the archive, by batch.
    fn kept_outcomes(&self) -> HashMap<crate::domain::BatchId, Vec<RecipientOutcome>> {
        self.archive
            .deferred()
            .into_iter()
            .filter_map(|(_, deferred)| deferred.unrecorded_outcome)
            .map(|outcome| (outcome.batch_id, outcome.outcomes))
            .collect()
    }

    fn sent_in(
        &self,
        message: &str,
        kept: &HashMap<crate::domain::BatchId, Vec<RecipientOutcome>>,
    ) -> bool {
        let Some(claim) = self.claim(message) else {
            return false;
        };
        kept.get(&claim.batch_id)
            .and_then(|slots| slots.get(claim.slot as usize))
            .is_some_and(RecipientOutcome::is_final)
    }

    fn claim(&self, message: &str) -> Option<crate::pipeline::send_log::MessageClaim> {
        let (tenant, campaign) = self.owners.get(message)?;
        let id = MessageId::parse(message).ok()?;
        self.send_log
            .message_claim(tenant, campaign, &id)
            .now_or_never()?
            .ok()?
    }

    /// The message's outcome in the slot of the batch that owns its claim (the in-memory
    /// store answers at once).
    pub fn final_outcome(&self, message: &str) -> Option<RecipientOutcome> {
        let (tenant, campaign) = self.owners.get(message)?;
        let claim = self.claim(message)?;
        let outcome = self
            .send_log
            .outcome(tenant, campaign, &claim.batch_id)
            .now_or_never()?
            .ok()??;
        outcome.outcomes.get(claim.slot as usize).cloned()
    }

    pub(super) fn accepts(&self) -> HashMap<String, u32> {
        lock(&self.accepts).clone()
    }

    pub(super) fn exposed(&self) -> HashSet<String> {
        lock(&self.exposed).clone()
    }

    pub(super) fn send_span(&self) -> Option<(OffsetDateTime, OffsetDateTime)> {
        Some(((*lock(&self.first_accept))?, (*lock(&self.last_accept))?))
    }

    pub(super) fn last_send_of(&self, tenant: &TenantId) -> Option<OffsetDateTime> {
        lock(&self.last_accept_by_tenant).get(tenant).copied()
    }

    pub(super) fn deaths(&self) -> BTreeMap<String, u64> {
        lock(&self.deaths).clone()
    }

    pub(super) fn given_up(&self) -> BTreeMap<&'static str, usize> {
        lock(&self.gave_up).clone()
    }

    pub(super) fn ses_throttles(&self) -> u64 {
        self.ses_throttles.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one run came to. `violations` is empty when every invariant held.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub recipients: u64,
    pub settled: bool,
    pub faults_dealt: BTreeMap<String, u64>,
    pub fault_windows: Vec<String>,
    pub invocations_died: BTreeMap<String, u64>,
    /// Final states, one per message.
    pub sent: u64,
    pub unconfirmed: u64,
    pub failed: u64,
    pub suppressed: u64,
    /// Kept whole and never sent: dead letters, or given up on by a mapping after the replay.
    pub kept: u64,
    /// Records the mappings gave up on, replayed from the on-failure destination.
    pub replayed: usize,
    /// Messages with no final state and no kept record.
    pub lost: u64,
    /// Pauses, resumes, suspensions and reinstates carried out mid-campaign.
    pub setbacks: BTreeMap<String, u64>,
    /// Batches delivery parked (each park counted once) and batches the redrive jobs put back.
    pub parked_batches: u64,
    pub redriven_batches: u64,
    /// Of those, the batches the scheduler's ticks put back (the rest: the resumes' and
    /// reinstates' own first slices).
    pub redriven_by_ticks: u64,
    /// Messages whose batch is still parked at the end (kept whole: counted in `kept` too).
    pub parked_at_end: u64,
    /// Sent twice inside the documented crash window (counted, allowed).
    pub duplicates_in_crash_window: u64,
    /// Sent twice anywhere else: a violation.
    pub duplicates_outside_window: u64,
    pub given_up: BTreeMap<&'static str, usize>,
    pub ses_throttles: u64,
    pub stream_throttles: u64,
    /// Virtual seconds from the launch to the last email SES accepted.
    pub launch_to_last_send_seconds: f64,
    /// Per tenant: virtual seconds from its own launch to its last email SES accepted.
    pub launch_to_last_send_by_tenant: BTreeMap<String, f64>,
    /// What the deliveries' send budgets did (all containers added up).
    pub budget: crate::deliverability::budget::BudgetCounts,
    pub violations: Vec<String>,
}

impl SimReport {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }
}
