//! The push provider's applications in memory: named per retailer and platform as SNS names
//! them, with the names of the credential attributes they were given (never the secrets).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::channels::push::provider_platform;
use crate::onboarding::push::{
    PushApplicationProvider, PushApplicationSpec, PushCredentials, application_name,
};
use crate::onboarding::workspaces::ProvisionError;

/// One application as the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPushApplication {
    pub tenant: String,
    pub platform: String,
    /// How many times its credentials were set (creation included).
    pub credential_sets: u32,
    /// The APNs key id, or the FCM service account's client email: what identifies the
    /// credentials without being secret.
    pub principal: String,
}

#[derive(Default)]
pub struct MemoryPushApplications {
    applications: Mutex<BTreeMap<String, MemoryPushApplication>>,
}

impl MemoryPushApplications {
    /// Every application by ARN.
    pub fn applications(&self) -> BTreeMap<String, MemoryPushApplication> {
        lock(&self.applications).clone()
    }
}

fn principal(credentials: &PushCredentials) -> String {
    match credentials {
        PushCredentials::Fcm {
            service_account_json,
        } => serde_json::from_str::<serde_json::Value>(service_account_json)
            .ok()
            .and_then(|v| v["client_email"].as_str().map(str::to_string))
            .unwrap_or_default(),
        PushCredentials::Apns { key_id, .. } => key_id.clone(),
    }
}

#[async_trait]
impl PushApplicationProvider for MemoryPushApplications {
    async fn put_application(
        &self,
        spec: &PushApplicationSpec,
        existing: Option<&str>,
    ) -> Result<String, ProvisionError> {
        let name = application_name("storecast", &spec.tenant_id, spec.platform)?;
        let platform = provider_platform(spec.platform);
        let arn = existing
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:sns:us-east-1:123456789012:app/{platform}/{name}"));
        let mut applications = lock(&self.applications);
        let application =
            applications
                .entry(arn.clone())
                .or_insert_with(|| MemoryPushApplication {
                    tenant: spec.tenant_id.to_string(),
                    platform: platform.to_string(),
                    credential_sets: 0,
                    principal: String::new(),
                });
        application.credential_sets += 1;
        application.principal = principal(&spec.credentials);
        Ok(arn)
    }
}
