//! The sending-workspace port: each retailer's isolated resources at the email provider
//! (configuration set with its event destination, SES tenant, and their associations). The SES
//! adapter is `crate::aws::ses_workspaces`; [`MemorySendingWorkspaces`] keeps the same resources
//! in memory so tests can check isolation.

use async_trait::async_trait;

use crate::domain::TenantId;
use crate::error::{BoxError, Retryable};

/// What a retailer's workspace is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSpec {
    pub tenant_id: TenantId,
    /// The local part of the from-address (validated by the onboarding service).
    pub slug: String,
    /// Dedicated IP pool (SES sending pool), if the retailer has one.
    pub sending_pool: Option<String>,
}

/// The provider-side names of a retailer's workspace, as delivery routes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedWorkspace {
    pub configuration_set: String,
    pub ses_tenant: String,
    pub from_address: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The provider's rate limit: retry with backoff.
    #[error("{step} was throttled")]
    Throttled {
        step: &'static str,
        #[source]
        source: BoxError,
    },
    /// Network, timeout or a provider-side failure: retry later.
    #[error("{step} failed; the provider is unavailable")]
    Unavailable {
        step: &'static str,
        #[source]
        source: BoxError,
    },
    /// The request is wrong or not allowed (missing pool, access denied, limit reached):
    /// retrying gives the same answer.
    #[error("{step} was rejected")]
    Rejected {
        step: &'static str,
        #[source]
        source: BoxError,
    },
    /// The provider refused what the request gave it (push credentials it cannot use).
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// A resource name derived from the tenant id is not valid at the provider.
    #[error("resource name {name:?} is invalid: {reason}")]
    InvalidName { name: String, reason: String },
}

impl Retryable for ProvisionError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProvisionError::Throttled { .. } | ProvisionError::Unavailable { .. }
        )
    }
}

#[async_trait]
pub trait SendingWorkspaces: Send + Sync {
    /// Checks the names the spec would get at the provider, without any call: run before the
    /// slug is claimed, so an unusable tenant id claims nothing.
    fn check(&self, spec: &WorkspaceSpec) -> Result<(), ProvisionError>;
    /// Idempotent: safe to call again; existing resources are kept/updated, never duplicated.
    async fn provision(&self, spec: &WorkspaceSpec)
    -> Result<ProvisionedWorkspace, ProvisionError>;
    /// Suspends or reinstates sending at the provider too (SES
    /// PutConfigurationSetSendingOptions), on top of the workspace status delivery checks.
    async fn set_sending_enabled(
        &self,
        configuration_set: &str,
        enabled: bool,
    ) -> Result<(), ProvisionError>;
}

/// SES resource names (configuration set, tenant) allow at most this many characters.
pub const MAX_RESOURCE_NAME_CHARS: usize = 64;

/// The configuration set and SES tenant name of a tenant: `<prefix>-<tenant>`. Tenant ids hold
/// only characters SES names allow; a name that still does not fit (too long for the prefix) is
/// refused rather than shortened, since shortening could make two tenants share a name.
pub fn resource_name(prefix: &str, tenant: &TenantId) -> Result<String, ProvisionError> {
    let name = format!("{prefix}-{tenant}");
    let invalid = |reason: &str| ProvisionError::InvalidName {
        name: name.clone(),
        reason: reason.to_string(),
    };
    if name.len() > MAX_RESOURCE_NAME_CHARS {
        return Err(invalid("longer than 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "only ASCII letters, digits, '-' and '_' are allowed",
        ));
    }
    Ok(name)
}
