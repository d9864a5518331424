//! In-memory adapters: for fast unit tests of the logic and for benchmarks. They keep the same
//! semantics as the AWS adapters (conditional claims, per-entry stream failures).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::domain::{
    BatchId, CampaignId, CampaignStatus, MessageId, TemplateId, TemplateRef, TemplateVersion,
    TenantId, TenantWorkspace,
};
use crate::error::{Message, SendError, StoreError, StreamError};
use crate::ports::{
    Archive, BatchOutcome, ClaimResult, DeadLetter, DeliveryContext, DeliveryDirectory,
    EmailProvider, EntryResult, MessageClaim, OutboundEmail, ParkedBatch, RecordStream, SendLog,
    SlugClaim, StreamRecord, TemplateStore, TenantAdmin, keys, normalise_address,
};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct StreamState {
    records: Vec<StreamRecord>,
    calls: Vec<usize>,
    fail_next: HashSet<usize>,
    fail_always: bool,
}

/// A stream that keeps what is put, and can fail chosen entries of the next call.
#[derive(Default)]
pub struct MemoryStream {
    state: Mutex<StreamState>,
}

impl MemoryStream {
    pub fn fail_next_entries(&self, positions: &[usize]) {
        lock(&self.state).fail_next = positions.iter().copied().collect();
    }

    pub fn fail_always(&self, fail: bool) {
        lock(&self.state).fail_always = fail;
    }

    pub fn records(&self) -> Vec<StreamRecord> {
        lock(&self.state).records.clone()
    }

    pub fn take_records(&self) -> Vec<StreamRecord> {
        std::mem::take(&mut lock(&self.state).records)
    }

    /// The number of records of each call so far.
    pub fn calls(&self) -> Vec<usize> {
        lock(&self.state).calls.clone()
    }
}

#[async_trait]
impl RecordStream for MemoryStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        let mut state = lock(&self.state);
        state.calls.push(records.len());
        let fail_next = std::mem::take(&mut state.fail_next);
        let mut results = Vec::with_capacity(records.len());
        for (position, record) in records.iter().enumerate() {
            if state.fail_always || fail_next.contains(&position) {
                results.push(EntryResult::Failed {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: "Rate exceeded for shard".into(),
                });
            } else {
                state.records.push(record.clone());
                results.push(EntryResult::Accepted);
            }
        }
        Ok(results)
    }
}

#[derive(Default)]
struct DirectoryState {
    workspaces: HashMap<TenantId, TenantWorkspace>,
    templates: HashMap<(TenantId, TemplateRef), TemplateVersion>,
    /// The live pointer of each template, holding the whole live version.
    live: HashMap<(TenantId, TemplateId), TemplateVersion>,
    live_reads: AtomicU64,
    /// Versions written by [`crate::ports::TemplatePublisher::publish_all`].
    bulk_writes: u64,
    campaigns: HashMap<(TenantId, CampaignId), CampaignStatus>,
    suppressed: HashSet<(TenantId, String)>,
    slugs: HashMap<String, TenantId>,
    unavailable: bool,
    corrupt: HashSet<TenantId>,
}

/// Tenants, templates, campaigns and suppression lists.
#[derive(Default)]
pub struct MemoryDirectory {
    state: Mutex<DirectoryState>,
    lookups: AtomicU64,
}

impl MemoryDirectory {
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// Makes the tenant's items unreadable, as a hand-edited item with a missing attribute would.
    pub fn corrupt_tenant(&self, tenant: &TenantId) {
        lock(&self.state).corrupt.insert(tenant.clone());
    }

    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Reads of live pointers so far.
    pub fn live_reads(&self) -> u64 {
        lock(&self.state).live_reads.load(Ordering::Relaxed)
    }

    /// Versions written by bulk publishes so far.
    pub fn bulk_writes(&self) -> u64 {
        lock(&self.state).bulk_writes
    }
}

#[async_trait]
impl DeliveryDirectory for MemoryDirectory {
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        if state.corrupt.contains(tenant) {
            return Err(StoreError::Corrupt {
                store: "directory",
                reason: "attribute configuration_set missing or not a string".into(),
            });
        }
        Ok(DeliveryContext {
            workspace: state.workspaces.get(tenant).cloned(),
            campaign_status: state
                .campaigns
                .get(&(tenant.clone(), campaign.clone()))
                .copied(),
            suppressed: addresses
                .iter()
                .filter(|a| state.suppressed.contains(&(tenant.clone(), (*a).clone())))
                .cloned()
                .collect(),
        })
    }
}

#[async_trait]
impl TemplateStore for MemoryDirectory {
    async fn template_version(
        &self,
        tenant: &TenantId,
        template: &TemplateRef,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        Ok(lock(&self.state)
            .templates
            .get(&(tenant.clone(), template.clone()))
            .cloned())
    }

    async fn live_template(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        let state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        state.live_reads.fetch_add(1, Ordering::Relaxed);
        Ok(state.live.get(&(tenant.clone(), template.clone())).cloned())
    }
}

#[async_trait]
impl crate::ports::TemplatePublisher for MemoryDirectory {
    async fn publish(
        &self,
        version: &TemplateVersion,
        expected_live: Option<u32>,
    ) -> Result<crate::ports::PublishResult, StoreError> {
        let mut state = lock(&self.state);
        let key = (version.tenant_id.clone(), version.template.id.clone());
        let current = state.live.get(&key).map(|live| live.template.version);
        if current != expected_live
            || state
                .templates
                .contains_key(&(version.tenant_id.clone(), version.template.clone()))
        {
            return Ok(crate::ports::PublishResult::Conflict);
        }
        state.templates.insert(
            (version.tenant_id.clone(), version.template.clone()),
            version.clone(),
        );
        state.live.insert(key, version.clone());
        Ok(crate::ports::PublishResult::Published)
    }

    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        for version in versions {
            state.templates.insert(
                (version.tenant_id.clone(), version.template.clone()),
                version.clone(),
            );
        }
        for version in versions {
            state.live.insert(
                (version.tenant_id.clone(), version.template.id.clone()),
                version.clone(),
            );
        }
        state.bulk_writes += versions.len() as u64;
        Ok(())
    }

    async fn live_heads(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::ports::LiveHead>, StoreError> {
        let state = lock(&self.state);
        let mut heads: Vec<_> = state
            .live
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, version)| crate::ports::LiveHead {
                template: version.template.clone(),
                content_hash: crate::templates::content_hash(version),
                overrides: version.overrides.clone(),
            })
            .collect();
        heads.sort_by(|a, b| a.template.cmp(&b.template));
        Ok(heads)
    }
}

#[async_trait]
impl crate::ports::WorkspaceListing for MemoryDirectory {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError> {
        let mut workspaces: Vec<_> = lock(&self.state).workspaces.values().cloned().collect();
        workspaces.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(workspaces)
    }
}

#[async_trait]
impl TenantAdmin for MemoryDirectory {
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError> {
        lock(&self.state)
            .workspaces
            .insert(workspace.tenant_id.clone(), workspace.clone());
        Ok(())
    }

    async fn put_template_version(&self, version: &TemplateVersion) -> Result<(), StoreError> {
        lock(&self.state).templates.insert(
            (version.tenant_id.clone(), version.template.clone()),
            version.clone(),
        );
        Ok(())
    }

    async fn set_campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: CampaignStatus,
    ) -> Result<(), StoreError> {
        lock(&self.state)
            .campaigns
            .insert((tenant.clone(), campaign.clone()), status);
        Ok(())
    }

    async fn suppress(&self, tenant: &TenantId, address: &str) -> Result<(), StoreError> {
        lock(&self.state)
            .suppressed
            .insert((tenant.clone(), normalise_address(address)));
        Ok(())
    }

    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError> {
        let state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(state.workspaces.get(tenant).cloned())
    }

    async fn claim_slug(&self, slug: &str, tenant: &TenantId) -> Result<SlugClaim, StoreError> {
        let mut state = lock(&self.state);
        let owner = state
            .slugs
            .entry(slug.to_string())
            .or_insert_with(|| tenant.clone());
        if owner == tenant {
            Ok(SlugClaim::Claimed)
        } else {
            Ok(SlugClaim::Taken {
                owner: owner.clone(),
            })
        }
    }
}

type ClaimKey = (TenantId, CampaignId, MessageId);
type OutcomeKey = (TenantId, CampaignId, BatchId);

#[derive(Default)]
struct SendLogState {
    claims: HashMap<ClaimKey, MessageClaim>,
    outcomes: HashMap<OutcomeKey, BatchOutcome>,
}

/// Claims and outcomes, with the same conditional semantics as the DynamoDB adapter. Counts the
/// writes so benchmarks can report write units.
#[derive(Default)]
pub struct MemorySendLog {
    state: Mutex<SendLogState>,
    writes: AtomicU64,
}

impl MemorySendLog {
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    pub fn outcomes(&self) -> Vec<BatchOutcome> {
        lock(&self.state).outcomes.values().cloned().collect()
    }

    pub fn claims(&self) -> Vec<MessageClaim> {
        lock(&self.state).claims.values().cloned().collect()
    }
}

fn claim_key(claim: &MessageClaim) -> ClaimKey {
    (
        claim.tenant_id.clone(),
        claim.campaign_id.clone(),
        claim.message_id.clone(),
    )
}

#[async_trait]
impl SendLog for MemorySendLog {
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        let key = claim_key(claim);
        if let Some(existing) = state.claims.get(&key) {
            return Ok(ClaimResult::Held(existing.clone()));
        }
        state.claims.insert(key, claim.clone());
        Ok(ClaimResult::Claimed)
    }

    async fn take_over(
        &self,
        previous: &MessageClaim,
        claim: &MessageClaim,
    ) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        let key = claim_key(claim);
        match state.claims.get(&key) {
            Some(existing) if existing == previous => {
                state.claims.insert(key, claim.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_outcome(&self, outcome: &BatchOutcome) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        lock(&self.state).outcomes.insert(
            (
                outcome.tenant_id.clone(),
                outcome.campaign_id.clone(),
                outcome.batch_id.clone(),
            ),
            outcome.clone(),
        );
        Ok(())
    }

    async fn outcome(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        Ok(lock(&self.state)
            .outcomes
            .get(&(tenant.clone(), campaign.clone(), batch.clone()))
            .cloned())
    }

    async fn message_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        Ok(lock(&self.state)
            .claims
            .get(&(tenant.clone(), campaign.clone(), message.clone()))
            .cloned())
    }
}

#[async_trait]
impl crate::send_log::CampaignClaims for MemorySendLog {
    async fn campaign_claims(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<MessageClaim>, StoreError> {
        Ok(lock(&self.state)
            .claims
            .values()
            .filter(|c| &c.tenant_id == tenant && &c.campaign_id == campaign)
            .cloned()
            .collect())
    }
}

/// A scripted answer of the in-memory provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedFailure {
    Throttle,
    RejectTenant(String),
    RejectMessage(String),
}

#[derive(Default)]
struct ProviderState {
    sent: Vec<(String, OutboundEmail)>,
    by_configuration_set: HashMap<String, ScriptedFailure>,
    by_address: HashMap<String, ScriptedFailure>,
    throttle_next: VecDeque<()>,
    attempts: HashMap<String, u64>,
}

/// Keeps every sent email; fails by configuration set or recipient address on request.
#[derive(Default)]
pub struct MemoryEmailProvider {
    state: Mutex<ProviderState>,
    counter: AtomicU64,
    keep_messages: std::sync::atomic::AtomicBool,
}

impl MemoryEmailProvider {
    /// A provider that counts sends but does not keep their content: for benchmarks.
    pub fn counting_only() -> Self {
        Self::default()
    }

    pub fn keeping_messages() -> Self {
        let provider = Self::default();
        provider.keep_messages.store(true, Ordering::Relaxed);
        provider
    }

    pub fn fail_configuration_set(&self, configuration_set: &str, failure: ScriptedFailure) {
        lock(&self.state)
            .by_configuration_set
            .insert(configuration_set.to_string(), failure);
    }

    pub fn fail_address(&self, address: &str, failure: ScriptedFailure) {
        lock(&self.state)
            .by_address
            .insert(address.to_string(), failure);
    }

    pub fn throttle_next(&self, times: usize) {
        let mut state = lock(&self.state);
        for _ in 0..times {
            state.throttle_next.push_back(());
        }
    }

    pub fn sent(&self) -> Vec<(String, OutboundEmail)> {
        lock(&self.state).sent.clone()
    }

    /// Sends attempted through a configuration set, refused ones included.
    pub fn attempts_for(&self, configuration_set: &str) -> u64 {
        lock(&self.state)
            .attempts
            .get(configuration_set)
            .copied()
            .unwrap_or(0)
    }

    pub fn sent_count(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl EmailProvider for MemoryEmailProvider {
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError> {
        let failure = {
            let mut state = lock(&self.state);
            *state
                .attempts
                .entry(email.configuration_set.clone())
                .or_default() += 1;
            if state.throttle_next.pop_front().is_some() {
                Some(ScriptedFailure::Throttle)
            } else {
                state
                    .by_configuration_set
                    .get(&email.configuration_set)
                    .or_else(|| state.by_address.get(&email.to_address))
                    .cloned()
            }
        };
        match failure {
            Some(ScriptedFailure::Throttle) => Err(SendError::Throttled {
                source: Message::boxed("Maximum sending rate exceeded."),
            }),
            Some(ScriptedFailure::RejectTenant(reason)) => Err(SendError::TenantRejected {
                source: Message::boxed(reason.clone()),
                reason,
            }),
            Some(ScriptedFailure::RejectMessage(reason)) => Err(SendError::MessageRejected {
                source: Message::boxed(reason.clone()),
                reason,
            }),
            None => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let id = format!("mem-{n:012}");
                if self.keep_messages.load(Ordering::Relaxed) {
                    lock(&self.state).sent.push((id.clone(), email.clone()));
                }
                Ok(id)
            }
        }
    }
}

#[derive(Default)]
struct ArchiveState {
    objects: BTreeMap<String, Vec<u8>>,
    unavailable: bool,
}

/// Parked batches and dead letters, laid out under the same keys as the S3 archive.
#[derive(Default)]
pub struct MemoryArchive {
    state: Mutex<ArchiveState>,
    sequence: AtomicU64,
}

impl MemoryArchive {
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    pub fn keys(&self) -> Vec<String> {
        lock(&self.state).objects.keys().cloned().collect()
    }

    fn put(&self, key: String, value: &impl serde::Serialize) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "archive",
                source: Message::boxed("injected outage"),
            });
        }
        let body = serde_json::to_vec(value).map_err(|e| StoreError::Rejected {
            store: "archive",
            source: Box::new(e),
        })?;
        state.objects.insert(key, body);
        Ok(())
    }
}

#[async_trait]
impl Archive for MemoryArchive {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError> {
        let key = keys::parked(
            &parked.batch.group.tenant_id,
            &parked.batch.group.campaign_id,
            &parked.batch.batch_id,
        );
        self.put(key, parked)
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let id = self.sequence.fetch_add(1, Ordering::Relaxed);
        let key = keys::dead_letter(&letter.source, letter.tenant_id.as_deref(), &id.to_string());
        self.put(key, letter)
    }

    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        let prefix = keys::parked_prefix(tenant, campaign);
        let state = lock(&self.state);
        state
            .objects
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, body)| {
                serde_json::from_slice(body)
                    .map(|parked| (key.clone(), parked))
                    .map_err(|e| StoreError::Corrupt {
                        store: "archive",
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    async fn remove_parked(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.state).objects.remove(key);
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let state = lock(&self.state);
        state
            .objects
            .iter()
            .filter(|(key, _)| key.starts_with("dead-letter/"))
            .map(|(_, body)| {
                serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
                    store: "archive",
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

#[async_trait]
impl crate::campaigns::SuppressionCheck for MemoryDirectory {
    async fn suppressed(
        &self,
        tenant: &TenantId,
        addresses: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(addresses
            .iter()
            .filter(|a| state.suppressed.contains(&(tenant.clone(), (*a).clone())))
            .cloned()
            .collect())
    }
}

/// Audience exports kept in memory; every read is recorded, so tests can check what a chunk
/// fetched.
#[derive(Default)]
pub struct MemoryAudienceSource {
    objects: Mutex<HashMap<crate::campaigns::AudienceLocation, std::sync::Arc<Vec<u8>>>>,
    reads: Mutex<Vec<std::ops::Range<u64>>>,
}

impl MemoryAudienceSource {
    pub fn put(&self, location: &crate::campaigns::AudienceLocation, bytes: Vec<u8>) {
        lock(&self.objects).insert(location.clone(), std::sync::Arc::new(bytes));
    }

    pub fn reads(&self) -> Vec<std::ops::Range<u64>> {
        lock(&self.reads).clone()
    }

    fn object(
        &self,
        location: &crate::campaigns::AudienceLocation,
    ) -> Result<std::sync::Arc<Vec<u8>>, StoreError> {
        lock(&self.objects)
            .get(location)
            .cloned()
            .ok_or_else(|| StoreError::Rejected {
                store: "audience export",
                source: Message::boxed(format!("no object {}/{}", location.bucket, location.key)),
            })
    }
}

#[async_trait]
impl crate::campaigns::AudienceSource for MemoryAudienceSource {
    async fn object_size(
        &self,
        location: &crate::campaigns::AudienceLocation,
    ) -> Result<u64, StoreError> {
        Ok(self.object(location)?.len() as u64)
    }

    async fn read_range(
        &self,
        location: &crate::campaigns::AudienceLocation,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let object = self.object(location)?;
        let end = (end_exclusive as usize).min(object.len());
        let start = (start as usize).min(end);
        lock(&self.reads).push(start as u64..end as u64);
        Ok(object[start..end].to_vec())
    }
}

type ContactKey = (TenantId, crate::domain::CustomerId);

#[derive(Default)]
struct ContactState {
    /// Per tenant and customer: campaign → contact time (epoch seconds), as the table keeps it.
    contacts: HashMap<ContactKey, HashMap<CampaignId, i64>>,
    reads: u64,
    writes: u64,
    unavailable: bool,
}

/// Contact history in memory, with the DynamoDB adapter's semantics (one entry per customer and
/// campaign, pruned past the longest window); counts calls so tests can check that launches
/// without a cap never touch it.
#[derive(Default)]
pub struct MemoryContactHistory {
    state: Mutex<ContactState>,
}

impl MemoryContactHistory {
    /// (recent_contacts calls, record_contacts calls).
    pub fn calls(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.reads, state.writes)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// The campaigns recorded for one customer of a tenant.
    pub fn campaigns_of(
        &self,
        tenant: &TenantId,
        customer: &crate::domain::CustomerId,
    ) -> Vec<CampaignId> {
        let state = lock(&self.state);
        let mut campaigns: Vec<CampaignId> = state
            .contacts
            .get(&(tenant.clone(), customer.clone()))
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        campaigns.sort();
        campaigns
    }

    fn check(state: &ContactState) -> Result<(), StoreError> {
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "contact history",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl crate::campaigns::ContactHistory for MemoryContactHistory {
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customers: &[crate::domain::CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<crate::domain::CustomerId, u32>, StoreError> {
        let mut state = lock(&self.state);
        state.reads += 1;
        Self::check(&state)?;
        let since = since.unix_timestamp();
        let mut counts = HashMap::new();
        for customer in customers {
            let Some(campaigns) = state.contacts.get(&(tenant.clone(), customer.clone())) else {
                continue;
            };
            let count = campaigns
                .iter()
                .filter(|(campaign, at)| *campaign != excluding && **at >= since)
                .count() as u32;
            if count > 0 {
                counts.insert(customer.clone(), count);
            }
        }
        Ok(counts)
    }

    async fn record_contacts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customers: &[crate::domain::CustomerId],
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.writes += 1;
        Self::check(&state)?;
        let horizon = (at
            - time::Duration::days(i64::from(crate::domain::MAX_FREQUENCY_CAP_WINDOW_DAYS)))
        .unix_timestamp();
        for customer in customers {
            let campaigns = state
                .contacts
                .entry((tenant.clone(), customer.clone()))
                .or_default();
            campaigns.insert(campaign.clone(), at.unix_timestamp());
            campaigns.retain(|_, contacted| *contacted >= horizon);
        }
        Ok(())
    }
}
