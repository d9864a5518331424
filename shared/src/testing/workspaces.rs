//! Sending workspaces in memory, with the same naming and idempotency as the SES adapter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{TenantId, TenantWorkspace};
use crate::error::Message;

use crate::onboarding::workspaces::{
    ProvisionError, ProvisionedWorkspace, SendingWorkspaces, WorkspaceSpec, resource_name,
};

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
