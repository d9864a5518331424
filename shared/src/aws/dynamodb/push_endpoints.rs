//! The push endpoint cache on the tenants table: `pk = TENANT#<tenant>`,
//! `sk = ENDPOINT#<platform>#<SHA-256 of the token, hex>`, with `application_arn` and
//! `endpoint_arn`. Read for a whole batch in one BatchGetItem; written once per new endpoint.
//! Every key starts with the tenant: one retailer's cache never answers for another's tokens.

use std::collections::HashMap;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::aws::errors::store_error;
use crate::channels::push::{KnownEndpoint, PushEndpoints};
use crate::domain::{PushDevice, TenantId, hex};
use crate::error::StoreError;

use super::*;

pub(super) const ENDPOINT_PREFIX: &str = "ENDPOINT#";

/// The sort key of a device's endpoint: the token hashed, so keys are short and even.
pub(super) fn endpoint_sk(device: &PushDevice) -> String {
    let digest = Sha256::digest(device.token.as_bytes());
    format!("{ENDPOINT_PREFIX}{}#{}", device.platform, hex(&digest))
}

#[async_trait]
impl PushEndpoints for TenantsTable {
    async fn known(
        &self,
        tenant: &TenantId,
        devices: &[PushDevice],
    ) -> Result<HashMap<PushDevice, KnownEndpoint>, StoreError> {
        let pk = tenant_pk(tenant);
        let by_sk: HashMap<String, &PushDevice> = devices
            .iter()
            .map(|device| (endpoint_sk(device), device))
            .collect();
        let keys = by_sk.keys().map(|sk| key(pk.clone(), sk.clone())).collect();
        let mut known = HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(device) = by_sk.get(get_s(&item, "sk", TENANTS)?) else {
                continue;
            };
            let endpoint = KnownEndpoint {
                application_arn: get_s(&item, "application_arn", TENANTS)?.to_string(),
                endpoint_arn: get_s(&item, "endpoint_arn", TENANTS)?.to_string(),
            };
            known.insert((*device).clone(), endpoint);
        }
        Ok(known)
    }

    async fn remember(
        &self,
        tenant: &TenantId,
        device: &PushDevice,
        endpoint: &KnownEndpoint,
    ) -> Result<(), StoreError> {
        let mut item = key(tenant_pk(tenant), endpoint_sk(device));
        item.insert(
            "application_arn".into(),
            s(endpoint.application_arn.as_str()),
        );
        item.insert("endpoint_arn".into(), s(endpoint.endpoint_arn.as_str()));
        let output = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        crate::costs::record_dynamodb_write(consumed(output.consumed_capacity(), SMALL_ITEM_UNITS));
        Ok(())
    }
}
