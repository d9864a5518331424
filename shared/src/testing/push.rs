//! A push provider that keeps its endpoints and what it is published, and fails on request; and
//! the endpoint cache in memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::channels::push::{
    KnownEndpoint, OutboundPush, PushEndpoints, PushError, PushProvider, endpoint_belongs_to,
};
use crate::domain::{PushDevice, TenantId};
use crate::error::{Message, StoreError};

/// A scripted answer of the in-memory push provider, by device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedPushFailure {
    /// The provider refuses the token when its endpoint is created.
    InvalidToken,
    Throttle,
    /// The provider takes the publish but its answer is lost.
    LoseAnswer,
}

#[derive(Default)]
struct PushState {
    /// Endpoint ARN → (application ARN, token, enabled).
    endpoints: HashMap<String, (String, String, bool)>,
    disabled_tokens: HashSet<String>,
    removed_applications: HashSet<String>,
    failures: HashMap<String, ScriptedPushFailure>,
    throttle_next: VecDeque<()>,
    published: Vec<(String, OutboundPush)>,
    creates: u64,
}

/// Endpoints per application and token, as SNS keeps them (one per token and application);
/// every application ARN is taken as existing unless removed.
#[derive(Default)]
pub struct MemoryPushProvider {
    state: Mutex<PushState>,
}

impl MemoryPushProvider {
    /// The provider disables the token's endpoints (and any created later).
    pub fn disable_token(&self, token: &str) {
        let mut state = lock(&self.state);
        state.disabled_tokens.insert(token.to_string());
        for (_, endpoint_token, enabled) in state.endpoints.values_mut() {
            if endpoint_token == token {
                *enabled = false;
            }
        }
    }

    /// The application is gone (deleted, or its credentials disabled).
    pub fn remove_application(&self, application_arn: &str) {
        lock(&self.state)
            .removed_applications
            .insert(application_arn.to_string());
    }

    /// Deletes every endpoint of the token, as an operator cleaning up at SNS would.
    pub fn delete_endpoints_of(&self, token: &str) {
        lock(&self.state)
            .endpoints
            .retain(|_, (_, endpoint_token, _)| endpoint_token != token);
    }

    pub fn fail_token(&self, token: &str, failure: ScriptedPushFailure) {
        lock(&self.state)
            .failures
            .insert(token.to_string(), failure);
    }

    pub fn throttle_next(&self, times: usize) {
        let mut state = lock(&self.state);
        state.throttle_next.extend(std::iter::repeat_n((), times));
    }

    /// Every accepted publish, with the provider's message id.
    pub fn published(&self) -> Vec<(String, OutboundPush)> {
        lock(&self.state).published.clone()
    }

    /// CreatePlatformEndpoint calls answered.
    pub fn endpoint_creates(&self) -> u64 {
        lock(&self.state).creates
    }

    /// The token of an endpoint, if it exists.
    pub fn token_of(&self, endpoint_arn: &str) -> Option<String> {
        lock(&self.state)
            .endpoints
            .get(endpoint_arn)
            .map(|(_, token, _)| token.clone())
    }
}

fn boxed(text: &str) -> crate::error::BoxError {
    Message::boxed(text)
}

#[async_trait]
impl PushProvider for MemoryPushProvider {
    async fn endpoint(
        &self,
        application_arn: &str,
        device: &PushDevice,
    ) -> Result<String, PushError> {
        let mut state = lock(&self.state);
        state.creates += 1;
        if state.removed_applications.contains(application_arn)
            || !application_arn.contains(":app/")
        {
            return Err(PushError::ApplicationRejected {
                reason: "PlatformApplication does not exist".into(),
                source: boxed("NotFound"),
            });
        }
        if state.failures.get(&device.token) == Some(&ScriptedPushFailure::InvalidToken) {
            return Err(PushError::InvalidToken {
                reason: "InvalidParameter: Token".into(),
                source: boxed("InvalidParameter"),
            });
        }
        let existing = state
            .endpoints
            .iter()
            .find(|(_, (app, token, _))| app == application_arn && *token == device.token)
            .map(|(arn, (_, _, enabled))| (arn.clone(), *enabled));
        let (arn, enabled) = match existing {
            Some(found) => found,
            None => {
                let arn = format!(
                    "{}/{:08x}",
                    application_arn.replacen(":app/", ":endpoint/", 1),
                    state.endpoints.len()
                );
                let enabled = !state.disabled_tokens.contains(&device.token);
                let entry = (application_arn.to_string(), device.token.clone(), enabled);
                state.endpoints.insert(arn.clone(), entry);
                (arn, enabled)
            }
        };
        if !enabled {
            return Err(PushError::EndpointDisabled {
                source: boxed("Enabled=false"),
            });
        }
        Ok(arn)
    }

    async fn publish(&self, push: &OutboundPush) -> Result<String, PushError> {
        let mut state = lock(&self.state);
        if !endpoint_belongs_to(&push.application_arn, &push.endpoint_arn)
            || state.removed_applications.contains(&push.application_arn)
        {
            return Err(PushError::ApplicationRejected {
                reason: "not the endpoint's application".into(),
                source: boxed("AuthorizationError"),
            });
        }
        if state.throttle_next.pop_front().is_some() {
            return Err(PushError::Throttled {
                source: boxed("Throttled"),
            });
        }
        let Some((_, token, enabled)) = state.endpoints.get(&push.endpoint_arn).cloned() else {
            return Err(PushError::EndpointNotFound {
                source: boxed("NotFound"),
            });
        };
        if !enabled {
            return Err(PushError::EndpointDisabled {
                source: boxed("EndpointDisabled"),
            });
        }
        let failure = state.failures.get(&token).cloned();
        if failure == Some(ScriptedPushFailure::Throttle) {
            return Err(PushError::Throttled {
                source: boxed("Throttled"),
            });
        }
        let id = format!("push-{:06}", state.published.len());
        state.published.push((id.clone(), push.clone()));
        if failure == Some(ScriptedPushFailure::LoseAnswer) {
            return Err(PushError::Unconfirmed {
                reason: "no answer in time".into(),
                source: boxed("read timed out"),
            });
        }
        Ok(id)
    }
}

/// The endpoint cache, per tenant and device.
#[derive(Default)]
pub struct MemoryPushEndpoints {
    known: Mutex<HashMap<(TenantId, PushDevice), KnownEndpoint>>,
}

impl MemoryPushEndpoints {
    pub fn len(&self) -> usize {
        lock(&self.known).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl PushEndpoints for MemoryPushEndpoints {
    async fn known(
        &self,
        tenant: &TenantId,
        devices: &[PushDevice],
    ) -> Result<HashMap<PushDevice, KnownEndpoint>, StoreError> {
        let known = lock(&self.known);
        // Counted as the DynamoDB adapter's BatchGetItem: half a unit a key.
        crate::costs::record_dynamodb_read(0.5 * devices.len() as f64);
        Ok(devices
            .iter()
            .filter_map(|device| {
                known
                    .get(&(tenant.clone(), device.clone()))
                    .map(|endpoint| (device.clone(), endpoint.clone()))
            })
            .collect())
    }

    async fn remember(
        &self,
        tenant: &TenantId,
        device: &PushDevice,
        endpoint: &KnownEndpoint,
    ) -> Result<(), StoreError> {
        crate::costs::record_dynamodb_write(1.0);
        lock(&self.known).insert((tenant.clone(), device.clone()), endpoint.clone());
        Ok(())
    }
}
