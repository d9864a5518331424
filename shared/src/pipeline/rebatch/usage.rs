//! What an invocation of the rebatcher used, added to the usage of the campaigns it grouped
//! (docs/operations.md, "Cost per send"): the Kinesis PUT units of each campaign's send batches
//! the stream accepted; the invocation's time at the function's memory and its request, shared
//! among its campaigns by their events; the send budget announcement's write units (metered per
//! tenant), shared among that tenant's campaigns on the channel. The dead-lettered records' share
//! counts for nobody (their tenant or campaign may not exist).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use crate::costs::{USAGE_NOT_COUNTED, Usage, UsageCounters, within_usage_timeout};
use crate::domain::{BatchGroup, BatchId, CampaignId, Channel, Recipient, TenantId};

use super::Rebatcher;

/// Rebatch's `MemorySize` in template.yaml (the Globals' default): its GB-seconds outside Lambda.
pub const REBATCH_MEMORY_MB: u32 = 512;

/// The send budget announcement's write units of an invocation, per channel and tenant.
pub(super) type Announced = HashMap<(Channel, TenantId), f64>;

type CampaignKey = (TenantId, CampaignId);

/// What one invocation used, gathered as it runs.
pub(super) struct InvocationUsage {
    started: Instant,
    /// Each campaign's grouped events (the share of the time and the request it counts), and
    /// per channel (the share of its tenant's announcement).
    events: BTreeMap<CampaignKey, usize>,
    events_on: HashMap<(Channel, TenantId), BTreeMap<CampaignId, usize>>,
    put_units: HashMap<CampaignKey, f64>,
}

impl InvocationUsage {
    pub(super) fn start() -> Self {
        Self {
            started: Instant::now(),
            events: BTreeMap::new(),
            events_on: HashMap::new(),
            put_units: HashMap::new(),
        }
    }

    /// The events of the invocation's groups, each message once.
    pub(super) fn grouped(&mut self, groups: &[(BatchGroup, Vec<(usize, Recipient)>)]) {
        for (group, members) in groups {
            let campaign = (group.tenant_id.clone(), group.campaign_id.clone());
            *self.events.entry(campaign).or_default() += members.len();
            *self
                .events_on
                .entry((group.channel, group.tenant_id.clone()))
                .or_default()
                .entry(group.campaign_id.clone())
                .or_default() += members.len();
        }
    }

    /// A send batch of the campaign the stream accepted.
    pub(super) fn written(&mut self, group: &BatchGroup, data_bytes: usize) {
        *self
            .put_units
            .entry((group.tenant_id.clone(), group.campaign_id.clone()))
            .or_default() += Usage::put_units(data_bytes);
    }

    /// Each campaign's usage, at `memory_mb` for the time since the start.
    pub(super) fn per_campaign(
        &self,
        memory_mb: u32,
        announced: &Announced,
    ) -> Vec<(CampaignKey, Usage)> {
        let total: usize = self.events.values().sum();
        let gb_seconds = Usage::gb_seconds(memory_mb, self.started.elapsed());
        let mut usage: BTreeMap<CampaignKey, Usage> = self
            .events
            .iter()
            .map(|(campaign, events)| {
                let share = *events as f64 / total.max(1) as f64;
                let counted = Usage {
                    lambda_gb_seconds: gb_seconds * share,
                    lambda_requests: share,
                    kinesis_put_units: self.put_units.get(campaign).copied().unwrap_or(0.0),
                    ..Usage::default()
                };
                (campaign.clone(), counted)
            })
            .collect();
        for ((channel, tenant), units) in announced {
            let Some(campaigns) = self.events_on.get(&(*channel, tenant.clone())) else {
                continue;
            };
            let events: usize = campaigns.values().sum();
            for (campaign, own) in campaigns {
                if let Some(counted) = usage.get_mut(&(tenant.clone(), campaign.clone())) {
                    counted.dynamodb_write_units += units * *own as f64 / events.max(1) as f64;
                }
            }
        }
        usage.into_iter().collect()
    }
}

impl Rebatcher {
    /// Adds the usage of each campaign of the invocation to its counters (`UsageCounters`).
    pub fn with_usage(mut self, usage: Arc<dyn UsageCounters>, lambda_memory_mb: u32) -> Self {
        self.usage = Some((usage, lambda_memory_mb));
        self
    }

    /// Adds what the invocation used to its campaigns' usage. A write that fails is logged and
    /// counted (`UsageNotCounted`), never failing a record.
    pub(super) async fn count_usage(
        &self,
        invocation: &InvocationUsage,
        announced: &Announced,
        first_sequence_number: &str,
    ) {
        let Some((counters, memory_mb)) = &self.usage else {
            return;
        };
        for ((tenant, campaign), usage) in invocation.per_campaign(*memory_mb, announced) {
            let shard = BatchId::of_work(&[
                "rebatch",
                tenant.as_str(),
                campaign.as_str(),
                first_sequence_number,
            ]);
            let add = counters.add_usage(&tenant, &campaign, &shard, &usage);
            let Err(error) = within_usage_timeout(add).await else {
                continue;
            };
            tracing::warn!(%error, tenant_id = %tenant, campaign_id = %campaign, "rebatch usage could not be counted");
            self.metrics.add(tenant.as_str(), USAGE_NOT_COUNTED, 1.0);
        }
    }
}

#[cfg(test)]
mod tests;
