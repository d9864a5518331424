//! The tenants table in memory: workspaces, templates, campaign status, suppression lists.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::deliverability::suppression::{
    MAX_SUPPRESSION_PAGE, Suppression, SuppressionList, SuppressionPage,
};
use crate::directory::{DeliveryContext, DeliveryDirectory};
use crate::directory::{SlugClaim, TenantAdmin};
use crate::domain::{
    CampaignId, CampaignStatus, QuietHoursZone, TemplateId, TemplateRef, TemplateVersion, TenantId,
    TenantSettings, TenantStatus, TenantWorkspace, normalise_address,
};
use crate::error::{Message, StoreError};
use crate::templates::ports::TemplateStore;

#[derive(Default)]
struct DirectoryState {
    workspaces: HashMap<TenantId, TenantWorkspace>,
    templates: HashMap<(TenantId, TemplateRef), TemplateVersion>,
    /// The live pointer of each template, holding the whole live version.
    live: HashMap<(TenantId, TemplateId), TemplateVersion>,
    live_reads: AtomicU64,
    /// Versions written by [`crate::templates::ports::TemplatePublisher::publish_all`].
    bulk_writes: u64,
    campaigns: HashMap<(TenantId, CampaignId), CampaignStatus>,
    /// The campaigns whose status item says `customer` (absent: the retailer's).
    campaign_quiet_hours: HashMap<(TenantId, CampaignId), QuietHoursZone>,
    suppressed: std::collections::BTreeMap<(TenantId, String), Suppression>,
    slugs: HashMap<String, TenantId>,
    unavailable: bool,
    corrupt: HashSet<TenantId>,
    /// Applied to the stored workspace right after the next reads of it, one each: a
    /// concurrent writer.
    workspace_races: std::collections::VecDeque<WorkspaceRace>,
    /// Published (version and live pointer) one each just before the next bulk publishes
    /// apply: a marketer's save during a deploy.
    publish_races: Vec<TemplateVersion>,
    /// Written right after the next campaign status write: a concurrent writer.
    race_next_campaign_status: Option<CampaignStatus>,
}

type WorkspaceRace = Box<dyn FnOnce(&mut TenantWorkspace) + Send>;

/// Tenants, templates, campaigns and suppression lists.
#[derive(Default)]
pub struct MemoryDirectory {
    state: Mutex<DirectoryState>,
    lookups: AtomicU64,
}

impl MemoryDirectory {
    /// Right after the next read of a workspace (that no earlier race is waiting for), `change`
    /// is applied to the stored item, as a concurrent writer (an operator's suspend) would
    /// between a service's read and its write.
    pub fn race_next_workspace_read(
        &self,
        change: impl FnOnce(&mut TenantWorkspace) + Send + 'static,
    ) {
        lock(&self.state)
            .workspace_races
            .push_back(Box::new(change));
    }

    /// Just before the next bulk publish (that no earlier race is waiting for) applies,
    /// `version` is published (version item and live pointer), as a marketer's save landing
    /// during a deploy would.
    pub fn race_next_publish_all(&self, version: TemplateVersion) {
        lock(&self.state).publish_races.push(version);
    }

    /// Right after the next campaign status write, a concurrent writer sets `status`.
    pub fn race_next_campaign_status(&self, status: CampaignStatus) {
        lock(&self.state).race_next_campaign_status = Some(status);
    }

    /// The campaign's delivery status as stored.
    pub fn campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Option<CampaignStatus> {
        lock(&self.state)
            .campaigns
            .get(&(tenant.clone(), campaign.clone()))
            .copied()
    }

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
            campaign_quiet_hours: state
                .campaign_quiet_hours
                .get(&(tenant.clone(), campaign.clone()))
                .copied()
                .unwrap_or_default(),
            suppressed: addresses
                .iter()
                .filter(|a| {
                    state
                        .suppressed
                        .contains_key(&(tenant.clone(), (*a).clone()))
                })
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
impl crate::templates::ports::TemplatePublisher for MemoryDirectory {
    async fn publish(
        &self,
        version: &TemplateVersion,
        expected_live: Option<u32>,
    ) -> Result<crate::templates::ports::PublishResult, StoreError> {
        let mut state = lock(&self.state);
        let key = (version.tenant_id.clone(), version.template.id.clone());
        let current = state.live.get(&key).map(|live| live.template.version);
        if current != expected_live
            || state
                .templates
                .contains_key(&(version.tenant_id.clone(), version.template.clone()))
        {
            return Ok(crate::templates::ports::PublishResult::Conflict);
        }
        state.templates.insert(
            (version.tenant_id.clone(), version.template.clone()),
            version.clone(),
        );
        state.live.insert(key, version.clone());
        Ok(crate::templates::ports::PublishResult::Published)
    }

    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<Vec<usize>, StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        if !state.publish_races.is_empty() {
            let raced = state.publish_races.remove(0);
            let key = (raced.tenant_id.clone(), raced.template.id.clone());
            state.templates.insert(
                (raced.tenant_id.clone(), raced.template.clone()),
                raced.clone(),
            );
            state.live.insert(key, raced);
        }
        let mut conflicts = Vec::new();
        let mut written = Vec::new();
        for (index, version) in versions.iter().enumerate() {
            let key = (version.tenant_id.clone(), version.template.clone());
            match state.templates.get(&key) {
                // Written already by an interrupted deploy: its pointer may still move.
                Some(stored) if stored == version => written.push(index),
                Some(_) => conflicts.push(index),
                None => {
                    state.templates.insert(key, version.clone());
                    written.push(index);
                }
            }
        }
        for index in written {
            let version = &versions[index];
            let key = (version.tenant_id.clone(), version.template.id.clone());
            let current = state.live.get(&key).map(|live| live.template.version);
            let expected = version.template.version.checked_sub(1).filter(|v| *v > 0);
            if current == expected {
                state.live.insert(key, version.clone());
                state.bulk_writes += 1;
            } else {
                conflicts.push(index);
            }
        }
        conflicts.sort_unstable();
        Ok(conflicts)
    }

    async fn live_heads(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::templates::ports::LiveHead>, StoreError> {
        let state = lock(&self.state);
        let mut heads: Vec<_> = state
            .live
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, version)| crate::templates::ports::LiveHead {
                template: version.template.clone(),
                content_hash: crate::domain::content_hash(version),
                overrides: version.overrides.clone(),
            })
            .collect();
        heads.sort_by(|a, b| a.template.cmp(&b.template));
        Ok(heads)
    }
}

#[async_trait]
impl crate::directory::WorkspaceListing for MemoryDirectory {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError> {
        let mut workspaces: Vec<_> = lock(&self.state).workspaces.values().cloned().collect();
        workspaces.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(workspaces)
    }

    async fn workspace_page(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<crate::directory::WorkspacePage, StoreError> {
        let state = lock(&self.state);
        let mut following: Vec<_> = state
            .workspaces
            .values()
            .filter(|w| after.is_none_or(|after| w.tenant_id.as_str() > after.as_str()))
            .cloned()
            .collect();
        following.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        let more = following.len() > limit;
        following.truncate(limit);
        Ok(crate::directory::WorkspacePage {
            next_after: more
                .then(|| following.last().map(|w| w.tenant_id.clone()))
                .flatten(),
            workspaces: following,
        })
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

    async fn create_workspace(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.workspaces.contains_key(&workspace.tenant_id) {
            return Ok(false);
        }
        state
            .workspaces
            .insert(workspace.tenant_id.clone(), workspace.clone());
        Ok(true)
    }

    async fn update_onboarding(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.workspaces.get_mut(&workspace.tenant_id) {
            Some(stored) if stored.slug == workspace.slug => {
                *stored = TenantWorkspace {
                    status: stored.status,
                    push_applications: stored.push_applications.clone(),
                    ..workspace.clone()
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn update_settings(
        &self,
        tenant: &TenantId,
        expected: &TenantSettings,
        settings: &TenantSettings,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.workspaces.get_mut(tenant) {
            Some(stored) if stored.settings == *expected => {
                stored.settings = settings.clone();
                if let Some(name) = display_name {
                    stored.display_name = name.to_string();
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_workspace_status(
        &self,
        tenant: &TenantId,
        expected: Option<TenantStatus>,
        status: TenantStatus,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.workspaces.get_mut(tenant) {
            Some(stored) if expected.is_none_or(|expected| stored.status == expected) => {
                stored.status = status;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_push_application(
        &self,
        tenant: &TenantId,
        platform: crate::domain::PushPlatform,
        arn: &str,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.workspaces.get_mut(tenant) {
            Some(stored) => {
                stored.push_applications.set(platform, arn.to_string());
                Ok(true)
            }
            None => Ok(false),
        }
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
        let mut state = lock(&self.state);
        let key = (tenant.clone(), campaign.clone());
        let raced = state.race_next_campaign_status.take();
        // The item is written whole, as the DynamoDB adapter's put does.
        state.campaign_quiet_hours.remove(&key);
        state.campaigns.insert(key, raced.unwrap_or(status));
        Ok(())
    }

    async fn set_campaign_quiet_hours(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        zone: QuietHoursZone,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let key = (tenant.clone(), campaign.clone());
        match zone {
            QuietHoursZone::Retailer => state.campaign_quiet_hours.remove(&key),
            QuietHoursZone::Customer => state.campaign_quiet_hours.insert(key, zone),
        };
        Ok(())
    }

    async fn set_campaign_status_if(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        expected: CampaignStatus,
        status: CampaignStatus,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let key = (tenant.clone(), campaign.clone());
        if state.campaigns.get(&key) != Some(&expected) {
            return Ok(false);
        }
        let raced = state.race_next_campaign_status.take();
        state.campaigns.insert(key, raced.unwrap_or(status));
        Ok(true)
    }

    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        let read = state.workspaces.get(tenant).cloned();
        if read.is_some()
            && let Some(race) = state.workspace_races.pop_front()
            && let Some(stored) = state.workspaces.get_mut(tenant)
        {
            race(stored);
        }
        Ok(read)
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
            .filter(|a| {
                state
                    .suppressed
                    .contains_key(&(tenant.clone(), (*a).clone()))
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl SuppressionList for MemoryDirectory {
    async fn add(&self, tenant: &TenantId, entry: &Suppression) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "directory",
                source: Message::boxed("injected outage"),
            });
        }
        let address = normalise_address(&entry.address);
        let key = (tenant.clone(), address.clone());
        if state.suppressed.contains_key(&key) {
            return Ok(false);
        }
        state.suppressed.insert(
            key,
            Suppression {
                address,
                ..entry.clone()
            },
        );
        Ok(true)
    }

    async fn remove(&self, tenant: &TenantId, address: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.state)
            .suppressed
            .remove(&(tenant.clone(), normalise_address(address)))
            .is_some())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        Ok(lock(&self.state)
            .suppressed
            .get(&(tenant.clone(), normalise_address(address)))
            .cloned())
    }

    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let limit = limit.clamp(1, MAX_SUPPRESSION_PAGE);
        let state = lock(&self.state);
        let mut entries: Vec<Suppression> = state
            .suppressed
            .iter()
            .filter(|((owner, address), _)| {
                owner == tenant && after.is_none_or(|after| address.as_str() > after)
            })
            .map(|(_, entry)| entry.clone())
            .take(limit + 1)
            .collect();
        let next_after = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| e.address.clone())
        } else {
            None
        };
        Ok(SuppressionPage {
            entries,
            next_after,
        })
    }
}
