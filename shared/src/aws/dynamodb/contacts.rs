//! Contact history on the tenants table (the frequency cap): delivery takes and gives back
//! contacts (`deliverability::frequency_cap::ContactLedger`), the campaigns engine reads them as
//! its launch-time pre-filter (`campaigns::ContactHistory`).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure};

use crate::aws::errors::store_error;
use crate::deliverability::frequency_cap::{
    CONTACT_TAKE_ATTEMPTS, ContactLedger, ContactScope, ContactTake, window_start,
};
use crate::domain::{
    CampaignId, Channel, CustomerId, FrequencyCap, MAX_FREQUENCY_CAP_WINDOW_DAYS, TenantId,
};
use crate::error::{Message, StoreError};

use super::*;

/// Contact history items, one per customer and channel: `pk = TENANT#<tenant>`,
/// `sk = CONTACTS#<customer>` for email (the layout from before channels were capped apart, so
/// the contacts recorded then count as email's) and `CONTACTS#PUSH#<customer>` for push (customer
/// ids hold no `#`). One attribute `C#<campaign>` per campaign holding the contact time (epoch
/// seconds), and `contacts_version`, the item's revision: a take reads the item, counts the other
/// campaigns within the window and writes its campaign's attribute on the condition that the
/// revision is still the one it read (attributes older than the longest window are removed in
/// the same write).
pub(super) const CONTACT_ATTRIBUTE_PREFIX: &str = "C#";
/// The item's revision, raised by every take.
pub(super) const CONTACT_VERSION_ATTRIBUTE: &str = "contacts_version";
/// Takes and releases have this many calls in flight per batch (one item per customer: a
/// BatchWriteItem put would replace the other campaigns' attributes, and cannot be conditional
/// per item).
pub const CONTACT_WRITE_CONCURRENCY: usize = 16;

/// The sort key prefix of a channel's contact items.
fn contacts_sk_prefix(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "CONTACTS#",
        Channel::Push => "CONTACTS#PUSH#",
    }
}

pub(super) fn contacts_key(tenant: &TenantId, channel: Channel, customer: &CustomerId) -> Item {
    key(
        tenant_pk(tenant),
        format!("{}{customer}", contacts_sk_prefix(channel)),
    )
}

fn campaign_attribute(campaign: &CampaignId) -> String {
    format!("{CONTACT_ATTRIBUTE_PREFIX}{campaign}")
}

/// The campaign attributes of an item with their contact times.
fn contact_times(item: &Item) -> impl Iterator<Item = (&String, i64)> {
    item.iter().filter_map(|(name, value)| {
        let at = value.as_n().ok()?.parse::<i64>().ok()?;
        name.starts_with(CONTACT_ATTRIBUTE_PREFIX)
            .then_some((name, at))
    })
}

/// How many campaigns other than `own` contacted the item's customer at or after `since`.
fn contacts_since(item: &Item, since: i64, own: &str) -> usize {
    contact_times(item)
        .filter(|(name, at)| name.as_str() != own && *at >= since)
        .count()
}

impl TenantsTable {
    async fn take_contact(
        &self,
        scope: ContactScope<'_>,
        customer: &CustomerId,
        cap: FrequencyCap,
        now: time::OffsetDateTime,
    ) -> Result<ContactTake, StoreError> {
        let key = contacts_key(scope.tenant, scope.channel, customer);
        let own = campaign_attribute(scope.campaign);
        let since = window_start(cap, now).unix_timestamp();
        let mut item = self.read_contacts(&key).await?;
        for _ in 0..CONTACT_TAKE_ATTEMPTS {
            if item.contains_key(&own) {
                return Ok(ContactTake::AlreadyHeld);
            }
            if contacts_since(&item, since, &own) >= cap.max_messages as usize {
                return Ok(ContactTake::Refused);
            }
            match self.write_contact(&key, &own, &item, now).await? {
                None => return Ok(ContactTake::Taken),
                // Another take (or release) wrote first: decide again on what it left.
                Some(Some(current)) => item = current,
                Some(None) => item = self.read_contacts(&key).await?,
            }
        }
        Err(StoreError::Unavailable {
            store: TENANTS,
            source: Message::boxed(format!(
                "contact history still contended after {CONTACT_TAKE_ATTEMPTS} attempts"
            )),
        })
    }

    /// The customer's contact item, read consistently (empty when there is none).
    async fn read_contacts(&self, key: &Item) -> Result<Item, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))
            .inspect(|output| count_read(output.consumed_capacity(), SMALL_ITEM_UNITS))?
            .item
            .unwrap_or_default())
    }

    /// Writes the campaign's contact on the condition that the item is still at the revision
    /// `item` holds, removing the contacts past the longest window. `None` when written;
    /// `Some(state)` when a concurrent write came first, with the state the failed write
    /// returned (`Some(None)`: none returned, read it again).
    async fn write_contact(
        &self,
        key: &Item,
        own: &str,
        item: &Item,
        now: time::OffsetDateTime,
    ) -> Result<Option<Option<Item>>, StoreError> {
        let horizon =
            (now - time::Duration::days(i64::from(MAX_FREQUENCY_CAP_WINDOW_DAYS))).unix_timestamp();
        let version = item
            .get(CONTACT_VERSION_ATTRIBUTE)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .expression_attribute_names("#c", own)
            .expression_attribute_names("#v", CONTACT_VERSION_ATTRIBUTE)
            .expression_attribute_values(":at", n(now.unix_timestamp()))
            .expression_attribute_values(":next", n(version.unwrap_or(0) + 1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match version {
            None => request.condition_expression("attribute_not_exists(#v)"),
            Some(version) => request
                .condition_expression("#v = :v")
                .expression_attribute_values(":v", n(version)),
        };
        let mut expression = "SET #c = :at, #v = :next".to_string();
        let stale = contact_times(item).filter(|(_, at)| *at < horizon);
        for (i, (name, _)) in stale.enumerate() {
            expression.push_str(if i == 0 { " REMOVE " } else { ", " });
            expression.push_str(&format!("#s{i}"));
            request = request.expression_attribute_names(format!("#s{i}"), name.as_str());
        }
        let result = request
            .update_expression(expression)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        count_update(&result, SMALL_ITEM_UNITS);
        match result {
            Ok(_) => Ok(None),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failure)) => {
                    Ok(Some(failure.item.clone()))
                }
                _ => Err(store_error(TENANTS, error)),
            },
        }
    }

    /// Removes the campaign's attribute, only where it is (an UpdateItem would otherwise create
    /// an empty item).
    async fn release_contact(
        &self,
        scope: ContactScope<'_>,
        customer: &CustomerId,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(contacts_key(scope.tenant, scope.channel, customer)))
            .update_expression("REMOVE #c")
            .condition_expression("attribute_exists(#c)")
            .expression_attribute_names("#c", campaign_attribute(scope.campaign))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        count_update(&result, SMALL_ITEM_UNITS);
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(store_error(TENANTS, error)),
            },
        }
    }
}

#[async_trait]
impl ContactLedger for TenantsTable {
    /// One consistent GetItem and one conditional UpdateItem per customer (more only when a
    /// concurrent take wrote first), [`CONTACT_WRITE_CONCURRENCY`] customers at a time.
    async fn take_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
        cap: FrequencyCap,
        now: time::OffsetDateTime,
    ) -> Vec<Result<ContactTake, StoreError>> {
        use futures::StreamExt as _;

        // Built before streaming them: a closure inside the stream is not general enough for
        // the boxed future async_trait makes.
        let takes: Vec<_> = customers
            .iter()
            .map(|customer| self.take_contact(scope, customer, cap, now))
            .collect();
        futures::stream::iter(takes)
            .buffered(CONTACT_WRITE_CONCURRENCY)
            .collect()
            .await
    }

    async fn release_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
    ) -> Result<(), StoreError> {
        use futures::{StreamExt as _, TryStreamExt as _};

        let releases: Vec<_> = customers
            .iter()
            .map(|customer| self.release_contact(scope, customer))
            .collect();
        futures::stream::iter(releases)
            .buffer_unordered(CONTACT_WRITE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }
}

#[cfg(feature = "campaigns")]
#[async_trait]
impl crate::campaigns::ContactHistory for TenantsTable {
    /// BatchGetItem of the customers' contact items in groups of [`MAX_KEYS_PER_BATCH_GET`]
    /// (duplicates removed), unprocessed keys read again.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        channel: Channel,
        customers: &[CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<std::collections::HashMap<CustomerId, u32>, StoreError> {
        let mut unique: Vec<&CustomerId> = customers.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|customer| contacts_key(tenant, channel, customer))
            .collect();
        let excluded = campaign_attribute(excluding);
        let since = since.unix_timestamp();
        let mut counts = std::collections::HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(customer) =
                get_s(&item, "sk", TENANTS)?.strip_prefix(contacts_sk_prefix(channel))
            else {
                continue;
            };
            let customer = CustomerId::parse(customer).map_err(|e| corrupt(TENANTS, e))?;
            let count = contacts_since(&item, since, &excluded) as u32;
            if count > 0 {
                counts.insert(customer, count);
            }
        }
        Ok(counts)
    }
}

#[cfg(all(test, feature = "campaigns"))]
mod contact_tests {
    use super::*;
    use crate::campaigns::ContactHistory;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
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
                Channel::Email,
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

    fn contact_item(version: Option<u64>, contacts: &[(&str, i64)]) -> Item {
        let mut item = contacts_key(
            &TenantId::parse("alpine").unwrap(),
            Channel::Push,
            &customer(1),
        );
        if let Some(version) = version {
            item.insert(CONTACT_VERSION_ATTRIBUTE.into(), n(version));
        }
        for (campaign, days_ago) in contacts {
            item.insert(
                format!("C#{campaign}"),
                n((NOW - time::Duration::days(*days_ago)).unix_timestamp()),
            );
        }
        item
    }

    fn lost_race(item: Item) -> UpdateItemError {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("condition")
                .set_item(Some(item))
                .build(),
        )
    }

    fn scope<'a>(tenant: &'a TenantId, campaign: &'a CampaignId) -> ContactScope<'a> {
        ContactScope {
            tenant,
            channel: Channel::Push,
            campaign,
        }
    }

    /// The take reads the push item once, writes on the revision it read, and after losing to a
    /// concurrent take decides again on the state the failed write returned (no second read):
    /// with room left it writes on the new revision, removing contacts past the longest window.
    #[tokio::test]
    async fn a_take_writes_on_the_revision_it_read_and_decides_again_after_losing_a_race() {
        let read = mock!(Client::get_item)
            .match_requests(|r| {
                r.consistent_read() == Some(true)
                    && r.key().unwrap()["sk"].as_s().unwrap() == "CONTACTS#PUSH#c1"
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .set_item(Some(contact_item(
                        Some(3),
                        &[("spring", 2), ("ancient", 91)],
                    )))
                    .build()
            });
        let first = mock!(Client::update_item)
            .match_requests(|r| r.expression_attribute_values().unwrap()[":v"] == n(3))
            .then_error(|| lost_race(contact_item(Some(4), &[("spring", 2), ("autumn", 1)])));
        let written = Arc::new(Mutex::new(Vec::new()));
        let second = {
            let written = written.clone();
            mock!(Client::update_item)
                .match_requests(|r| r.expression_attribute_values().unwrap()[":v"] == n(4))
                .then_compute_output(move |request| {
                    let names = request.expression_attribute_names().unwrap();
                    let values = request.expression_attribute_values().unwrap();
                    written.lock().unwrap().push((
                        request.update_expression().unwrap().to_string(),
                        request.condition_expression().unwrap().to_string(),
                        names["#c"].clone(),
                        values[":next"].clone(),
                    ));
                    UpdateItemOutput::builder().build()
                })
        };
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&read, &first, &second]
        );
        let table = TenantsTable::new(client, "tenants");
        let (tenant, winter) = (
            TenantId::parse("alpine").unwrap(),
            CampaignId::parse("winter").unwrap(),
        );
        let cap = FrequencyCap {
            max_messages: 3,
            window_days: 7,
        };
        let answers = table
            .take_contacts(scope(&tenant, &winter), &[customer(1)], cap, NOW)
            .await;
        assert_eq!(answers.len(), 1);
        assert_eq!(*answers[0].as_ref().unwrap(), ContactTake::Taken);
        assert_eq!((read.num_calls(), first.num_calls()), (1, 1));
        let written = written.lock().unwrap();
        assert_eq!(
            *written,
            vec![(
                "SET #c = :at, #v = :next".to_string(),
                "#v = :v".to_string(),
                "C#winter".to_string(),
                n(5)
            )],
            "the state returned by the lost race holds no stale contact"
        );
    }

    #[tokio::test]
    async fn a_take_is_refused_at_the_cap_idempotent_for_its_own_campaign_and_prunes_on_write() {
        let read = mock!(Client::get_item)
            .match_requests(|r| r.key().unwrap()["sk"].as_s().unwrap() == "CONTACTS#PUSH#c1")
            .then_output(|| {
                GetItemOutput::builder()
                    .set_item(Some(contact_item(
                        None,
                        &[("spring", 2), ("summer", 6), ("old", 8), ("ancient", 91)],
                    )))
                    .build()
            });
        let removed = Arc::new(Mutex::new(Vec::new()));
        let write = {
            let removed = removed.clone();
            mock!(Client::update_item).then_compute_output(move |request| {
                assert_eq!(
                    request.condition_expression(),
                    Some("attribute_not_exists(#v)")
                );
                let names = request.expression_attribute_names().unwrap();
                removed.lock().unwrap().push((
                    request.update_expression().unwrap().to_string(),
                    names.get("#s0").cloned(),
                ));
                UpdateItemOutput::builder().build()
            })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]);
        let table = TenantsTable::new(client, "tenants");
        let tenant = TenantId::parse("alpine").unwrap();
        let cap = |max_messages| FrequencyCap {
            max_messages,
            window_days: 7,
        };
        let winter = CampaignId::parse("winter").unwrap();
        let summer = CampaignId::parse("summer").unwrap();
        let answers = table
            .take_contacts(scope(&tenant, &winter), &[customer(1)], cap(2), NOW)
            .await;
        assert_eq!(*answers[0].as_ref().unwrap(), ContactTake::Refused);
        let answers = table
            .take_contacts(scope(&tenant, &summer), &[customer(1)], cap(1), NOW)
            .await;
        assert_eq!(*answers[0].as_ref().unwrap(), ContactTake::AlreadyHeld);
        assert_eq!(write.num_calls(), 0, "neither writes");
        let answers = table
            .take_contacts(scope(&tenant, &winter), &[customer(1)], cap(3), NOW)
            .await;
        assert_eq!(*answers[0].as_ref().unwrap(), ContactTake::Taken);
        assert_eq!(
            *removed.lock().unwrap(),
            vec![(
                "SET #c = :at, #v = :next REMOVE #s0".to_string(),
                Some("C#ancient".to_string())
            )]
        );
    }
}
