//! The tenants table's struct, and what delivery reads from it: the workspace, the campaign's
//! status and the suppression entries of a batch in one BatchGetItem.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use crate::aws::errors::store_error;
use crate::directory::{DeliveryContext, DeliveryDirectory};
use crate::domain::{CampaignId, CampaignStatus, QuietHoursZone, TenantId};
use crate::error::StoreError;

use super::*;

/// The tenants table: implements the directory, the template store and the admin port.
#[derive(Clone)]
pub struct TenantsTable {
    pub(super) client: Client,
    pub(super) table: String,
}

impl TenantsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        batch_get(&self.client, &self.table, TENANTS, keys).await
    }

    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryDirectory for TenantsTable {
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError> {
        let pk = tenant_pk(tenant);
        let mut keys = vec![
            key(pk.clone(), "WORKSPACE".into()),
            key(pk.clone(), format!("CAMPAIGN#{campaign}")),
        ];
        let mut unique: Vec<&String> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        keys.extend(
            unique
                .iter()
                .map(|address| key(pk.clone(), format!("SUPPRESSED#{address}"))),
        );
        let mut context = DeliveryContext::default();
        for item in self.batch_get(keys).await? {
            let sk = get_s(&item, "sk", TENANTS)?;
            if sk == "WORKSPACE" {
                context.workspace = Some(workspace_from_item(&item)?);
            } else if sk.starts_with("CAMPAIGN#") {
                context.campaign_status = Some(parse_status::<CampaignStatus>(get_s(
                    &item, "status", TENANTS,
                )?)?);
                context.campaign_quiet_hours = campaign_quiet_hours(&item)?;
            } else if let Some(address) = sk.strip_prefix("SUPPRESSED#") {
                context.suppressed.insert(address.to_string());
            }
        }
        Ok(context)
    }
}

/// The status item's quiet-hours zone: absent is the retailer's (items written before it
/// existed); an unknown value is a corrupt item.
fn campaign_quiet_hours(item: &Item) -> Result<QuietHoursZone, StoreError> {
    match item.get(QUIET_HOURS_ZONE_ATTRIBUTE) {
        None => Ok(QuietHoursZone::Retailer),
        Some(value) => {
            let name = value
                .as_s()
                .map_err(|_| corrupt(TENANTS, "quiet_hours_zone is not a string"))?;
            QuietHoursZone::parse(name)
                .ok_or_else(|| corrupt(TENANTS, format!("unknown quiet_hours_zone {name}")))
        }
    }
}

/// Suppression entries of one tenant, in BatchGetItem calls of [`MAX_KEYS_PER_BATCH_GET`] keys
/// (duplicates removed: BatchGetItem refuses a request that names a key twice), unprocessed keys
/// read again.
#[cfg(feature = "campaigns")]
#[async_trait]
impl crate::campaigns::SuppressionCheck for TenantsTable {
    async fn suppressed(
        &self,
        tenant: &TenantId,
        addresses: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let pk = tenant_pk(tenant);
        let mut unique: Vec<&String> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|address| key(pk.clone(), format!("SUPPRESSED#{address}")))
            .collect();
        let mut suppressed = std::collections::HashSet::new();
        for item in self.batch_get(keys).await? {
            if let Some(address) = get_s(&item, "sk", TENANTS)?.strip_prefix("SUPPRESSED#") {
                suppressed.insert(address.to_string());
            }
        }
        Ok(suppressed)
    }
}

/// The local endpoint never answers UnprocessedKeys; a request-level mock does.
#[cfg(test)]
mod batch_get_tests {
    use super::*;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn unprocessed_keys_are_read_again_until_done() {
        let workspace_item = {
            let mut item = key("TENANT#alpine".into(), "WORKSPACE".into());
            for (name, value) in [
                ("tenant_id", "alpine"),
                ("slug", "alpine"),
                ("display_name", "Alpine"),
                ("configuration_set", "cs"),
                ("ses_tenant", "st"),
                ("from_address", "alpine@mail.example"),
                ("status", "ACTIVE"),
                ("unsubscribe_base_url", "https://u"),
            ] {
                item.insert(name.into(), s(value));
            }
            item
        };
        let campaign_key = key("TENANT#alpine".into(), "CAMPAIGN#c1".into());
        let first = {
            let workspace_item = workspace_item.clone();
            let campaign_key = campaign_key.clone();
            mock!(Client::batch_get_item)
                .match_requests(|r| {
                    r.request_items()
                        .is_some_and(|i| i["tenants"].keys().len() == 3)
                })
                .then_output(move || {
                    BatchGetItemOutput::builder()
                        .responses("tenants", vec![workspace_item.clone()])
                        .unprocessed_keys(
                            "tenants",
                            KeysAndAttributes::builder()
                                .keys(campaign_key.clone())
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
        };
        let second = mock!(Client::batch_get_item)
            .match_requests(|r| {
                r.request_items()
                    .is_some_and(|i| i["tenants"].keys().len() == 1)
            })
            .then_output(|| {
                let mut item = key("TENANT#alpine".into(), "CAMPAIGN#c1".into());
                item.insert("status".into(), s("PAUSED"));
                BatchGetItemOutput::builder()
                    .responses("tenants", vec![item])
                    .build()
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]);
        let table = TenantsTable::new(client, "tenants");
        let context = table
            .delivery_context(
                &TenantId::parse("alpine").unwrap(),
                &CampaignId::parse("c1").unwrap(),
                &["ann@example.com".to_string()],
            )
            .await
            .unwrap();
        assert_eq!(context.campaign_status, Some(CampaignStatus::Paused));
        assert_eq!(context.workspace.unwrap().configuration_set, "cs");
        assert!(context.suppressed.is_empty());
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn suppression_check_reads_unique_keys_in_groups_of_100_and_retries_unprocessed_ones() {
        use crate::campaigns::SuppressionCheck;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};

        let calls = Arc::new(Mutex::new(Vec::new()));
        let first_call = Arc::new(AtomicBool::new(true));
        let rule = {
            let calls = calls.clone();
            mock!(Client::batch_get_item).then_compute_output(move |request| {
                let keys = request.request_items().unwrap()["tenants"].keys().to_vec();
                calls.lock().unwrap().push(keys.len());
                let (processed, unprocessed) = if first_call.swap(false, Ordering::SeqCst) {
                    keys.split_at(keys.len() - 10)
                } else {
                    (&keys[..], &[][..])
                };
                let found: Vec<Item> = processed
                    .iter()
                    .filter(|k| k["sk"].as_s().unwrap().contains("blocked"))
                    .cloned()
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
        let mut addresses: Vec<String> = (0..250)
            .map(|i| {
                if i % 50 == 0 {
                    format!("blocked{i}@example.com")
                } else {
                    format!("c{i}@example.com")
                }
            })
            .collect();
        addresses.extend(addresses[..10].to_vec());

        let suppressed = table
            .suppressed(&TenantId::parse("alpine").unwrap(), &addresses)
            .await
            .unwrap();

        assert_eq!(suppressed.len(), 5);
        assert!(suppressed.contains("blocked0@example.com"));
        assert_eq!(
            *calls.lock().unwrap(),
            vec![MAX_KEYS_PER_BATCH_GET, 10, 100, 50]
        );
    }
}
