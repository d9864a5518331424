//! Contact history on the tenants table (the frequency cap).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use crate::aws::errors::store_error;
use crate::domain::{CampaignId, CustomerId, MAX_FREQUENCY_CAP_WINDOW_DAYS, TenantId};
use crate::error::StoreError;

use super::*;

/// Contact history items: `pk = TENANT#<tenant>, sk = CONTACTS#<customer>`, one attribute
/// `C#<campaign>` per campaign holding the contact time (epoch seconds). Recording sets the
/// campaign's attribute (idempotent: a re-run chunk sets the same value again) and prunes
/// attributes older than the longest cap window from the item it gets back.
pub(super) const CONTACT_ATTRIBUTE_PREFIX: &str = "C#";
/// Contacts are recorded with this many UpdateItem calls in flight (one per customer: a
/// BatchWriteItem put would replace the other campaigns' attributes).
pub const CONTACT_WRITE_CONCURRENCY: usize = 16;

pub(super) fn contacts_key(tenant: &TenantId, customer: &CustomerId) -> Item {
    key(tenant_pk(tenant), format!("CONTACTS#{customer}"))
}

impl TenantsTable {
    async fn record_contact(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customer: &CustomerId,
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(contacts_key(tenant, customer)))
            .update_expression("SET #c = :at")
            .expression_attribute_names("#c", format!("{CONTACT_ATTRIBUTE_PREFIX}{campaign}"))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let horizon =
            (at - time::Duration::days(i64::from(MAX_FREQUENCY_CAP_WINDOW_DAYS))).unix_timestamp();
        let stale: Vec<String> = output
            .attributes
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, value)| {
                name.starts_with(CONTACT_ATTRIBUTE_PREFIX)
                    && value
                        .as_n()
                        .ok()
                        .and_then(|v| v.parse::<i64>().ok())
                        .is_some_and(|contacted| contacted < horizon)
            })
            .map(|(name, _)| name)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(contacts_key(tenant, customer)));
        let mut placeholders = Vec::with_capacity(stale.len());
        for (i, name) in stale.into_iter().enumerate() {
            placeholders.push(format!("#s{i}"));
            request = request.expression_attribute_names(format!("#s{i}"), name);
        }
        request
            .update_expression(format!("REMOVE {}", placeholders.join(", ")))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }
}

#[async_trait]
impl crate::campaigns::ContactHistory for TenantsTable {
    /// BatchGetItem of the customers' contact items in groups of [`MAX_KEYS_PER_BATCH_GET`]
    /// (duplicates removed), unprocessed keys read again.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customers: &[CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<CustomerId, u32>, StoreError> {
        let mut unique: Vec<&CustomerId> = customers.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|customer| contacts_key(tenant, customer))
            .collect();
        let excluded = format!("{CONTACT_ATTRIBUTE_PREFIX}{excluding}");
        let since = since.unix_timestamp();
        let mut counts = HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(customer) = get_s(&item, "sk", TENANTS)?.strip_prefix("CONTACTS#") else {
                continue;
            };
            let customer = CustomerId::parse(customer).map_err(|e| corrupt(TENANTS, e))?;
            let count = item
                .iter()
                .filter(|(name, value)| {
                    name.starts_with(CONTACT_ATTRIBUTE_PREFIX)
                        && **name != excluded
                        && value
                            .as_n()
                            .ok()
                            .and_then(|v| v.parse::<i64>().ok())
                            .is_some_and(|contacted| contacted >= since)
                })
                .count() as u32;
            if count > 0 {
                counts.insert(customer, count);
            }
        }
        Ok(counts)
    }

    async fn record_contacts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customers: &[CustomerId],
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        use futures::{StreamExt as _, TryStreamExt as _};

        let mut unique: Vec<&CustomerId> = customers.iter().collect();
        unique.sort();
        unique.dedup();
        // Built before streaming them: a closure inside the stream is not general enough for
        // the boxed future async_trait makes.
        let writes: Vec<_> = unique
            .into_iter()
            .map(|customer| self.record_contact(tenant, campaign, customer, at))
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(CONTACT_WRITE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }
}

/// Contact history requests, with request-level mocks: unprocessed keys (the local endpoint
/// never answers them) and pruning on write.
#[cfg(test)]
mod contact_tests {
    use super::*;
    use crate::campaigns::ContactHistory;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const NOW: time::OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

    fn customer(i: usize) -> CustomerId {
        CustomerId::parse(format!("c{i}")).unwrap()
    }

    #[tokio::test]
    async fn recent_contacts_read_unique_keys_in_groups_of_100_and_count_within_the_window() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let first_call = Arc::new(AtomicBool::new(true));
        let rule = {
            let calls = calls.clone();
            mock!(Client::batch_get_item).then_compute_output(move |request| {
                let keys = request.request_items().unwrap()["tenants"].keys().to_vec();
                calls.lock().unwrap().push(keys.len());
                let (processed, unprocessed) = if first_call.swap(false, Ordering::SeqCst) {
                    keys.split_at(keys.len() - 7)
                } else {
                    (&keys[..], &[][..])
                };
                let found: Vec<Item> = processed
                    .iter()
                    .map(|k| {
                        assert_eq!(k["pk"].as_s().unwrap(), "TENANT#alpine");
                        let mut item = k.clone();
                        // Every customer: spring inside the window, an old one outside it, and
                        // the campaign being launched (never counted).
                        item.insert(
                            "C#spring".into(),
                            n((NOW - time::Duration::days(2)).unix_timestamp()),
                        );
                        item.insert(
                            "C#old".into(),
                            n((NOW - time::Duration::days(20)).unix_timestamp()),
                        );
                        item.insert("C#summer".into(), n(NOW.unix_timestamp()));
                        item
                    })
                    .collect();
                let mut output = BatchGetItemOutput::builder().responses("tenants", found);
                if !unprocessed.is_empty() {
                    output = output.unprocessed_keys(
                        "tenants",
                        KeysAndAttributes::builder()
                            .set_keys(Some(unprocessed.to_vec()))
                            .build()
                            .unwrap(),
                    );
                }
                output.build()
            })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let table = TenantsTable::new(client, "tenants");
        let mut customers: Vec<CustomerId> = (0..250).map(customer).collect();
        customers.extend((0..10).map(customer));
        let counts = table
            .recent_contacts(
                &TenantId::parse("alpine").unwrap(),
                &customers,
                NOW - time::Duration::days(7),
                &CampaignId::parse("summer").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(counts.len(), 250);
        assert!(counts.values().all(|count| *count == 1), "{counts:?}");
        assert_eq!(*calls.lock().unwrap(), vec![100, 7, 100, 50]);
    }

    #[tokio::test]
    async fn recording_sets_the_campaigns_attribute_and_prunes_old_ones() {
        let set = mock!(Client::update_item)
            .match_requests(|r| r.update_expression() == Some("SET #c = :at"))
            .then_compute_output(|request| {
                assert_eq!(
                    request.expression_attribute_names().unwrap()["#c"],
                    "C#winter"
                );
                let mut item = request.key().unwrap().clone();
                item.insert("C#winter".into(), n(NOW.unix_timestamp()));
                item.insert(
                    "C#recent".into(),
                    n((NOW - time::Duration::days(30)).unix_timestamp()),
                );
                item.insert(
                    "C#ancient".into(),
                    n((NOW - time::Duration::days(91)).unix_timestamp()),
                );
                UpdateItemOutput::builder()
                    .set_attributes(Some(item))
                    .build()
            });
        let removed = Arc::new(Mutex::new(Vec::new()));
        let prune = {
            let removed = removed.clone();
            mock!(Client::update_item)
                .match_requests(|r| {
                    r.update_expression()
                        .is_some_and(|e| e.starts_with("REMOVE"))
                })
                .then_compute_output(move |request| {
                    let names = request.expression_attribute_names().unwrap();
                    removed.lock().unwrap().extend(names.values().cloned());
                    UpdateItemOutput::builder().build()
                })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&set, &prune]);
        let table = TenantsTable::new(client, "tenants");
        table
            .record_contacts(
                &TenantId::parse("alpine").unwrap(),
                &CampaignId::parse("winter").unwrap(),
                &[customer(1), customer(2), customer(1)],
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(set.num_calls(), 2, "one write per distinct customer");
        assert_eq!(prune.num_calls(), 2);
        assert_eq!(*removed.lock().unwrap(), vec!["C#ancient", "C#ancient"]);
    }
}
