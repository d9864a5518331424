//! The sending-workspace port: each retailer's isolated resources at the email provider
//! (configuration set with its event destination, SES tenant, and their associations). The SES
//! adapter is `crate::aws::ses_workspaces`; [`MemorySendingWorkspaces`] keeps the same resources
//! in memory so tests can check isolation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{TenantId, TenantWorkspace};
use crate::error::{BoxError, Message, Retryable};

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

/// The configuration set and SES tenant name of a tenant: `<prefix>-<tenant>`. Tenant ids may
/// hold '.', which SES names do not allow; it is refused rather than replaced, since a
/// replacement could make two tenants share a name.
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

/// One tenant's resources as the in-memory provider keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryWorkspace {
    pub tenant_id: TenantId,
    pub configuration_set: String,
    pub ses_tenant: String,
    pub from_address: String,
    pub sending_pool: Option<String>,
    pub sending_enabled: bool,
    /// Resources associated with the SES tenant (configuration set, domain identity).
    pub associated: BTreeSet<String>,
    /// How many times the workspace was provisioned (re-provisioning updates, never duplicates).
    pub provisioned: u32,
}

#[derive(Default)]
struct MemoryWorkspacesState {
    by_configuration_set: BTreeMap<String, MemoryWorkspace>,
    fail_next: Option<bool>,
}

/// Sending workspaces in memory, with the same naming and idempotency as the SES adapter.
pub struct MemorySendingWorkspaces {
    prefix: String,
    sending_domain: String,
    state: Mutex<MemoryWorkspacesState>,
}

impl MemorySendingWorkspaces {
    pub fn new(prefix: impl Into<String>, sending_domain: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            sending_domain: sending_domain.into(),
            state: Mutex::default(),
        }
    }

    /// Every workspace, by configuration set.
    pub fn workspaces(&self) -> Vec<MemoryWorkspace> {
        self.lock().by_configuration_set.values().cloned().collect()
    }

    pub fn workspace_of(&self, tenant: &TenantId) -> Option<MemoryWorkspace> {
        self.lock()
            .by_configuration_set
            .values()
            .find(|w| &w.tenant_id == tenant)
            .cloned()
    }

    /// The next call fails: retryable (throttled) or not (rejected).
    pub fn fail_next(&self, retryable: bool) {
        self.lock().fail_next = Some(retryable);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryWorkspacesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn injected(
        state: &mut MemoryWorkspacesState,
        step: &'static str,
    ) -> Result<(), ProvisionError> {
        match state.fail_next.take() {
            Some(true) => Err(ProvisionError::Throttled {
                step,
                source: Message::boxed("injected throttling"),
            }),
            Some(false) => Err(ProvisionError::Rejected {
                step,
                source: Message::boxed("injected rejection"),
            }),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SendingWorkspaces for MemorySendingWorkspaces {
    fn check(&self, spec: &WorkspaceSpec) -> Result<(), ProvisionError> {
        resource_name(&self.prefix, &spec.tenant_id).map(|_| ())
    }

    async fn provision(
        &self,
        spec: &WorkspaceSpec,
    ) -> Result<ProvisionedWorkspace, ProvisionError> {
        let name = resource_name(&self.prefix, &spec.tenant_id)?;
        let from_address = TenantWorkspace::from_address_for(&spec.slug, &self.sending_domain);
        let mut state = self.lock();
        Self::injected(&mut state, "provision")?;
        let workspace = state
            .by_configuration_set
            .entry(name.clone())
            .or_insert_with(|| MemoryWorkspace {
                tenant_id: spec.tenant_id.clone(),
                configuration_set: name.clone(),
                ses_tenant: name.clone(),
                from_address: from_address.clone(),
                sending_pool: None,
                sending_enabled: true,
                associated: BTreeSet::new(),
                provisioned: 0,
            });
        workspace.sending_pool = spec.sending_pool.clone();
        workspace.from_address = from_address.clone();
        workspace
            .associated
            .insert(format!("configuration-set/{name}"));
        workspace
            .associated
            .insert(format!("identity/{}", self.sending_domain));
        workspace.provisioned += 1;
        Ok(ProvisionedWorkspace {
            configuration_set: name.clone(),
            ses_tenant: name,
            from_address,
        })
    }

    async fn set_sending_enabled(
        &self,
        configuration_set: &str,
        enabled: bool,
    ) -> Result<(), ProvisionError> {
        let mut state = self.lock();
        Self::injected(&mut state, "PutConfigurationSetSendingOptions")?;
        match state.by_configuration_set.get_mut(configuration_set) {
            Some(workspace) => {
                workspace.sending_enabled = enabled;
                Ok(())
            }
            None => Err(ProvisionError::Rejected {
                step: "PutConfigurationSetSendingOptions",
                source: Message::boxed(format!(
                    "configuration set {configuration_set} does not exist"
                )),
            }),
        }
    }
}
