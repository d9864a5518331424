//! The campaigns engine's availability ([`crate::campaigns::Availability`]) on the scores and
//! the retailer's configuration: an email offers only what the customer's store likely has, by
//! the same decision a search lookup makes for that customer.
//!
//! Per store of a group of rows: one scores read of every item offered there, then one
//! decision per distinct [`TermsKey`] among the store's shoppers (their experiment arm, and
//! their region and user bucket where those carry a delta), shared by every shopper with it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use super::decision::TermsKey;
use super::lookup::ConfigCache;
use super::ports::ScoreStore;
use super::scores::{ItemScores, ScoreKey};
use crate::campaigns::{Availability, StockQuery};
use crate::domain::{ItemId, TenantId};
use crate::error::StoreError;

/// Offers filtered by the customer's store's scores.
///
/// A retailer without an availability configuration keeps every offer: availability is
/// something a retailer opts into by configuring its models, and without a configuration there
/// is no threshold and no missing-score policy anyone chose, so filtering would only guess.
/// (Customers whose rows name no store are never asked about; see `campaigns::stock`.) An item
/// id that cannot be a score key never has a score and is decided by the missing-score policy.
pub struct StockFilter {
    scores: Arc<dyn ScoreStore>,
    configs: Arc<ConfigCache>,
}

impl StockFilter {
    /// `configs` may be the lookup's own cache ([`super::lookup::Lookup::cache`]).
    pub fn new(scores: Arc<dyn ScoreStore>, configs: Arc<ConfigCache>) -> Self {
        Self { scores, configs }
    }

    async fn stored(
        &self,
        tenant: &TenantId,
        query: &StockQuery<'_>,
    ) -> Result<HashMap<ItemId, ItemScores>, StoreError> {
        let keys: Vec<ScoreKey> = query
            .items
            .iter()
            .filter_map(|item| ItemId::parse(item.item_id).ok())
            .map(|item| ScoreKey {
                store: query.store.clone(),
                item,
            })
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .scores
            .get(tenant, &keys)
            .await?
            .into_iter()
            .map(|(key, scores)| (key.item, scores))
            .collect())
    }
}

#[async_trait]
impl Availability for StockFilter {
    #[tracing::instrument(skip_all, fields(
        tenant_id = %tenant,
        store = %query.store,
        items = query.items.len(),
        shoppers = query.shoppers.len(),
    ))]
    async fn likely_in_stock(
        &self,
        tenant: &TenantId,
        query: &StockQuery<'_>,
    ) -> Result<Vec<Arc<HashSet<String>>>, StoreError> {
        let Some(prepared) = self.configs.get(tenant).await? else {
            let every_item: Arc<HashSet<String>> =
                Arc::new(query.items.iter().map(|i| i.item_id.to_string()).collect());
            return Ok(vec![every_item; query.shoppers.len()]);
        };
        let table = &prepared.table;
        let stored = self.stored(tenant, query).await?;
        let scores_of = |id: &str| ItemId::parse(id).ok().and_then(|id| stored.get(&id));
        let item_scores: Vec<Option<&ItemScores>> =
            query.items.iter().map(|i| scores_of(i.item_id)).collect();
        let mut decided: HashMap<TermsKey<'_>, Arc<HashSet<String>>> = HashMap::new();
        let mut answer = Vec::with_capacity(query.shoppers.len());
        for shopper in query.shoppers {
            let key = table.key(shopper.region, Some(shopper.customer.as_str()));
            let set = decided.entry(key).or_insert_with(|| {
                let terms = table.terms_for(tenant, &key);
                Arc::new(
                    query
                        .items
                        .iter()
                        .zip(&item_scores)
                        .filter(|(item, scores)| {
                            table.is_available(&terms, item.category, **scores)
                        })
                        .map(|(item, _)| item.item_id.to_string())
                        .collect(),
                )
            });
            answer.push(set.clone());
        }
        tracing::debug!(decisions = decided.len(), "store's offers decided");
        Ok(answer)
    }
}

#[cfg(test)]
#[path = "offers_tests.rs"]
mod tests;
