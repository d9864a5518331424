//! The onboarding service: workspaces created, changed, suspended and reinstated.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

pub use super::workspaces::{
    MAX_RESOURCE_NAME_CHARS, ProvisionError, ProvisionedWorkspace, SendingWorkspaces,
    WorkspaceSpec, resource_name,
};

use super::json_merge::merge_patch;
use super::push::PushSetup;
pub use super::settings::{
    InvalidSetting, MAX_BRAND_BYTES, MAX_BRAND_KEYS, normalise_seed_list, validate_settings,
};
use crate::directory::{SlugClaim, TenantAdmin};
use crate::domain::{
    FrequencyCap, QuietHours, TenantId, TenantSettings, TenantStatus, TenantWorkspace,
};
use crate::error::{Retryable, StoreError};
use crate::pipeline::redrive::{RedriveError, RedriveProgress, RedriveScope, RedriveWorker};

/// A slug is 2 to 40 characters of `[a-z0-9-]`: the from-address's local part.
pub const SLUG_CHARS: std::ops::RangeInclusive<usize> = 2..=40;
/// A display name has at most this many characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// `PUT /tenants/{tenant}`: the whole retailer. Settings are replaced as given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    pub display_name: String,
    /// From-address local part (`<slug>@<sending domain>`), unique across retailers; cannot
    /// change after onboarding.
    pub slug: String,
    #[serde(default)]
    pub settings: TenantSettings,
}

/// `PATCH /tenants/{tenant}`: only the fields given change. `brand` is a JSON merge patch
/// (RFC 7396: `null` removes a key, objects merge); `quiet_hours` and `frequency_cap` set to
/// `null` remove the setting.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "api", schema(value_type = Option<Object>))]
    pub brand: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "api", schema(value_type = Option<QuietHours>, nullable))]
    pub quiet_hours: Option<Option<QuietHours>>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "api", schema(value_type = Option<FrequencyCap>, nullable))]
    pub frequency_cap: Option<Option<FrequencyCap>>,
    /// Starts (or changes) the warm-up of the retailer's sending identity; `null` ends it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "api", schema(value_type = Option<crate::domain::WarmupPlan>, nullable))]
    pub warmup: Option<Option<crate::domain::WarmupPlan>>,
    /// The retailer's share of the account's send rate; `null` puts it back to the default
    /// (weight 1, no rate of its own). Operator-owned: a marketer naming it is refused (`403`).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "api", schema(value_type = Option<crate::domain::SendShare>, nullable))]
    pub send_budget: Option<Option<crate::domain::SendShare>>,
    /// The addresses test sends may go to (replaced as a whole; `[]` empties it): at most
    /// [`crate::domain::MAX_SEED_ADDRESSES`], stored lower-case without duplicates.
    #[serde(default)]
    pub seed_list: Option<Vec<String>>,
    /// Operator-owned, never changed by a PATCH: a marketer naming it is refused (`403`), an
    /// operator is pointed at `/suspend` and `/reinstate` (`422`).
    #[serde(default)]
    pub status: Option<TenantStatus>,
}

impl TenantPatch {
    /// The fields given that only operators may change: the display name (the sender's name
    /// on every message), the share of the send rate and the status.
    pub fn operator_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.display_name.is_some() {
            fields.push("display_name");
        }
        if self.send_budget.is_some() {
            fields.push("send_budget");
        }
        if self.status.is_some() {
            fields.push("status");
        }
        fields
    }
}

/// A field that is present (even as `null`) is `Some`; a missing one stays `None` (default).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The request is invalid; `field` names the field at fault (`settings.timezone`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("tenant not found")]
    NotFound,
    /// The request contradicts what exists (a slug of another tenant, a slug change).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("provisioning the sending workspace failed")]
    Provision(#[source] ProvisionError),
    #[error("the tenants table failed")]
    Store(#[from] StoreError),
    /// The tenant is active again, but some parked batches were not redriven: reinstating again
    /// redrives them.
    #[error("redriving the tenant's parked batches failed")]
    Redrive(#[from] RedriveError),
    /// The catalog's templates do not build for this retailer (its brand breaks a render): the
    /// workspace is onboarded; fix the brand and PUT again.
    #[error("the standard templates could not be published: {0}")]
    StandardTemplates(String),
}

impl From<ProvisionError> for OnboardingError {
    fn from(error: ProvisionError) -> Self {
        match error {
            ProvisionError::InvalidName { name, reason } => OnboardingError::Invalid {
                field: "tenant_id".into(),
                reason: format!("the workspace name {name} would be invalid: {reason}"),
            },
            other => OnboardingError::Provision(other),
        }
    }
}

impl Retryable for OnboardingError {
    fn is_retryable(&self) -> bool {
        match self {
            OnboardingError::Invalid { .. }
            | OnboardingError::NotFound
            | OnboardingError::Conflict(_) => false,
            OnboardingError::Provision(e) => e.is_retryable(),
            OnboardingError::Store(e) => e.is_retryable(),
            OnboardingError::Redrive(e) => e.is_retryable(),
            OnboardingError::StandardTemplates(_) => false,
        }
    }
}

impl From<InvalidSetting> for OnboardingError {
    fn from(error: InvalidSetting) -> Self {
        OnboardingError::Invalid {
            field: error.field,
            reason: error.reason,
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> OnboardingError {
    OnboardingError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingConfig {
    /// The centrally verified sending domain: from-addresses are `<slug>@<sending domain>`.
    pub sending_domain: String,
    /// The one-click unsubscribe base URL, with `{tenant}` replaced by the tenant id
    /// (`https://prefs.mail.example/{tenant}/unsubscribe`).
    pub unsubscribe_base_url: String,
}

impl OnboardingConfig {
    pub fn unsubscribe_base_url_for(&self, tenant: &TenantId) -> String {
        self.unsubscribe_base_url
            .replace("{tenant}", tenant.as_str())
    }
}

pub struct Onboarding {
    workspaces: Arc<dyn SendingWorkspaces>,
    pub(super) admin: Arc<dyn TenantAdmin>,
    config: OnboardingConfig,
    /// Puts the tenant's parked batches back when it is reinstated.
    redrive: Option<RedriveWorker>,
    /// The retailer's push applications (`with_push_applications`, in `service_push.rs`).
    pub(super) push: Option<PushSetup>,
    /// Published to a new retailer (`with_standard_templates`, in `service_templates.rs`).
    #[cfg(feature = "api")]
    pub(super) standard_templates: Option<super::service_templates::StandardTemplates>,
}

/// A reinstated tenant's workspace, and the redrive job its reinstate started (continued by the
/// scheduler's tick until every parked batch of the tenant is back on the stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct Reinstated {
    #[serde(flatten)]
    pub workspace: TenantWorkspace,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive: Option<RedriveProgress>,
}

impl Onboarding {
    pub fn new(
        workspaces: Arc<dyn SendingWorkspaces>,
        admin: Arc<dyn TenantAdmin>,
        config: OnboardingConfig,
    ) -> Self {
        Self {
            workspaces,
            admin,
            config,
            redrive: None,
            push: None,
            #[cfg(feature = "api")]
            standard_templates: None,
        }
    }

    /// With it, [`Onboarding::reinstate`] also starts a redrive job for the tenant's parked
    /// batches (its first slice at once, the rest on the scheduler's tick); without it the
    /// caller redrives (`storecast-dev redrive`).
    pub fn with_redrive(mut self, worker: RedriveWorker) -> Self {
        self.redrive = Some(worker);
        self
    }

    /// `PUT /tenants/{tenant}` (operator). Idempotent: provisions (or updates) the SES
    /// workspace and writes the workspace item. Answers the workspace and whether it was created.
    /// A re-PUT replaces name and settings but keeps the status (it never reinstates).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn put_tenant(
        &self,
        tenant: &TenantId,
        request: TenantRequest,
    ) -> Result<(TenantWorkspace, bool), OnboardingError> {
        validate_slug(&request.slug)?;
        let display_name = validate_display_name("display_name", &request.display_name)?;
        let mut request = request;
        request.settings.seed_list = normalise_seed_list(&request.settings.seed_list);
        validate_settings("settings.", &request.settings)?;

        let spec = WorkspaceSpec {
            tenant_id: tenant.clone(),
            slug: request.slug.clone(),
            sending_pool: request.settings.sending_pool.clone(),
        };
        self.workspaces.check(&spec)?;
        let existing = self.admin.workspace(tenant).await?;
        if let Some(existing) = &existing
            && existing.slug != request.slug
        {
            return Err(OnboardingError::Conflict(format!(
                "the slug is {} and cannot change after onboarding (it is the from-address)",
                existing.slug
            )));
        }
        // Claimed before anything is provisioned, so that a tenant losing the race for a slug
        // leaves nothing behind at SES.
        if let SlugClaim::Taken { .. } = self.admin.claim_slug(&request.slug, tenant).await? {
            return Err(OnboardingError::Conflict(format!(
                "the slug {} belongs to another tenant",
                request.slug
            )));
        }
        let provisioned = self.workspaces.provision(&spec).await?;
        let workspace = TenantWorkspace {
            tenant_id: tenant.clone(),
            slug: request.slug,
            display_name,
            configuration_set: provisioned.configuration_set,
            ses_tenant: provisioned.ses_tenant,
            from_address: provisioned.from_address,
            status: existing
                .as_ref()
                .map_or(TenantStatus::Active, |existing| existing.status),
            unsubscribe_base_url: self.config.unsubscribe_base_url_for(tenant),
            settings: request.settings,
            push_applications: existing
                .as_ref()
                .map(|existing| existing.push_applications.clone())
                .unwrap_or_default(),
        };
        let written = match &existing {
            None => self.admin.create_workspace(&workspace).await?,
            Some(existing) if *existing != workspace => {
                self.admin.update_onboarding(&workspace).await?
            }
            Some(_) => true,
        };
        if !written {
            return Err(OnboardingError::Conflict(
                "the retailer was onboarded or removed concurrently; PUT it again".into(),
            ));
        }
        let created = existing.is_none();
        tracing::info!(created, "tenant onboarded");
        #[cfg(feature = "api")]
        self.publish_standard_templates(&workspace, created).await?;
        Ok((workspace, created))
    }

    pub async fn tenant(&self, tenant: &TenantId) -> Result<TenantWorkspace, OnboardingError> {
        self.admin
            .workspace(tenant)
            .await?
            .ok_or(OnboardingError::NotFound)
    }

    /// `PATCH /tenants/{tenant}`: display name, brand variables (JSON merge patch), time zone,
    /// quiet hours, frequency cap, warm-up plan. The result is validated as a whole, then written
    /// as one update of the settings (and display name) on condition that the settings are still
    /// those read: the status is never written, so a concurrent suspend stays; a concurrent
    /// change of the settings makes it read and apply the patch again (at most
    /// [`PATCH_ATTEMPTS`] times, then a conflict).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn patch_tenant(
        &self,
        tenant: &TenantId,
        patch: TenantPatch,
    ) -> Result<TenantWorkspace, OnboardingError> {
        if patch.status.is_some() {
            return Err(invalid(
                "status",
                "the status changes only through POST /tenants/{tenant}/suspend and /reinstate",
            ));
        }
        let display_name = patch
            .display_name
            .as_deref()
            .map(|name| validate_display_name("display_name", name))
            .transpose()?;
        for _ in 0..PATCH_ATTEMPTS {
            let read = self.tenant(tenant).await?;
            let mut workspace = read.clone();
            apply_patch(&mut workspace.settings, &patch);
            validate_settings("", &workspace.settings)?;
            if let Some(name) = &display_name {
                workspace.display_name = name.clone();
            }
            if self
                .admin
                .update_settings(
                    tenant,
                    &read.settings,
                    &workspace.settings,
                    display_name.as_deref(),
                )
                .await?
            {
                return Ok(workspace);
            }
            tracing::info!("the settings changed since they were read; patching again");
        }
        Err(OnboardingError::Conflict(
            "the retailer's settings kept changing concurrently; try again".into(),
        ))
    }

    /// Status `SUSPENDED` (delivery parks the tenant's batches) and sending disabled at SES.
    /// SES first: if it fails nothing has changed and the call can be retried.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn suspend(&self, tenant: &TenantId) -> Result<TenantWorkspace, OnboardingError> {
        let mut workspace = self.tenant(tenant).await?;
        self.workspaces
            .set_sending_enabled(&workspace.configuration_set, false)
            .await?;
        if workspace.status != TenantStatus::Suspended {
            // Whatever the status is now: a suspension wins over a concurrent reinstate.
            if !self
                .admin
                .set_workspace_status(tenant, None, TenantStatus::Suspended)
                .await?
            {
                return Err(OnboardingError::NotFound);
            }
            workspace.status = TenantStatus::Suspended;
        }
        tracing::info!("tenant suspended");
        Ok(workspace)
    }

    /// The suspension of an active tenant: SES sending off, then status `SUSPENDED` on condition
    /// that it is still `ACTIVE`. True only for the call that made the change, so of several
    /// concurrent auto-pauses one reports (and counts) the pause.
    pub(super) async fn suspend_if_active(
        &self,
        workspace: &TenantWorkspace,
    ) -> Result<bool, OnboardingError> {
        self.workspaces
            .set_sending_enabled(&workspace.configuration_set, false)
            .await?;
        let suspended = self
            .admin
            .set_workspace_status(
                &workspace.tenant_id,
                Some(TenantStatus::Active),
                TenantStatus::Suspended,
            )
            .await?;
        if suspended {
            tracing::info!(tenant_id = %workspace.tenant_id, "tenant suspended");
        }
        Ok(suspended)
    }

    /// Sending enabled at SES, status `ACTIVE` (written on condition that the status is still
    /// the one read: a suspension landing in between is a conflict, not undone), and (with
    /// [`Onboarding::with_redrive`]) a redrive job putting the tenant's parked batches back on
    /// the send-batches stream: its first slice runs now, the scheduler's tick the rest.
    /// Idempotent: reinstating while the job runs sends its pass back to the first key.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn reinstate(&self, tenant: &TenantId) -> Result<Reinstated, OnboardingError> {
        let mut workspace = self.tenant(tenant).await?;
        self.workspaces
            .set_sending_enabled(&workspace.configuration_set, true)
            .await?;
        if workspace.status != TenantStatus::Active
            && !self
                .admin
                .set_workspace_status(tenant, Some(workspace.status), TenantStatus::Active)
                .await?
        {
            return Err(OnboardingError::Conflict(
                "the retailer's status changed while it was being reinstated; read it and \
                 reinstate again"
                    .into(),
            ));
        }
        workspace.status = TenantStatus::Active;
        let redrive = match &self.redrive {
            Some(worker) => {
                let scope = RedriveScope::tenant(tenant);
                Some(RedriveProgress::from(&worker.start(&scope).await?))
            }
            None => None,
        };
        tracing::info!(?redrive, "tenant reinstated");
        Ok(Reinstated { workspace, redrive })
    }
}

/// How many times a PATCH reads and applies itself again when the settings changed under it.
pub const PATCH_ATTEMPTS: usize = 3;

/// The patch's settings fields applied to `settings` (brand as a JSON merge patch).
fn apply_patch(settings: &mut TenantSettings, patch: &TenantPatch) {
    if let Some(brand) = &patch.brand {
        let mut merged = serde_json::Value::Object(std::mem::take(&mut settings.brand));
        merge_patch(&mut merged, &serde_json::Value::Object(brand.clone()));
        settings.brand = match merged {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
    }
    if let Some(timezone) = &patch.timezone {
        settings.timezone = timezone.clone();
    }
    if let Some(quiet_hours) = patch.quiet_hours {
        settings.quiet_hours = quiet_hours;
    }
    if let Some(frequency_cap) = patch.frequency_cap {
        settings.frequency_cap = frequency_cap;
    }
    if let Some(warmup) = patch.warmup {
        settings.warmup = warmup;
    }
    if let Some(send_budget) = patch.send_budget {
        settings.send_budget = send_budget;
    }
    if let Some(seed_list) = &patch.seed_list {
        settings.seed_list = normalise_seed_list(seed_list);
    }
}

pub fn validate_slug(slug: &str) -> Result<(), OnboardingError> {
    if !SLUG_CHARS.contains(&slug.len()) {
        return Err(invalid("slug", "must be 2 to 40 characters"));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "slug",
            "only lower-case letters, digits and '-' are allowed",
        ));
    }
    if slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        // A dot-atom local part may be any of these, but mail clients and spam filters treat
        // such addresses as suspicious.
        return Err(invalid(
            "slug",
            "may not start or end with '-' or hold '--'",
        ));
    }
    Ok(())
}

fn validate_display_name(field: &str, name: &str) -> Result<String, OnboardingError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(invalid(field, "must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}
