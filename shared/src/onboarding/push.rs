//! A retailer's push applications: one per platform at the push provider (an Amazon SNS platform
//! application), created (or its credentials replaced) from the retailer's FCM service account or
//! APNs signing key, and its ARN kept in the retailer's workspace. The credentials go to the
//! provider and nowhere else: they are never logged (their `Debug` is redacted) nor stored by us.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::workspaces::ProvisionError;
use crate::directory::TenantAdmin;
use crate::domain::{PushPlatform, TenantId, TenantWorkspace};
use crate::error::{Retryable, StoreError};

/// The longest credential we pass on (an FCM service account's JSON key is about 2.3 KB).
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// `PUT /tenants/{tenant}/push/{platform}`: the platform's credentials. FCM takes
/// `service_account_json` (the Firebase service account's JSON key, for FCM HTTP v1); APNs takes
/// token authentication: `signing_key` (the `.p8` key), `key_id`, `team_id` and `bundle_id`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushApplicationRequest {
    #[serde(default)]
    pub service_account_json: Option<String>,
    #[serde(default)]
    pub signing_key: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub bundle_id: Option<String>,
}

impl std::fmt::Debug for PushApplicationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushApplicationRequest")
            .field(
                "service_account_json",
                &self.service_account_json.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("bundle_id", &self.bundle_id)
            .finish()
    }
}

/// A platform's credentials, checked.
#[derive(Clone, PartialEq, Eq)]
pub enum PushCredentials {
    Fcm {
        service_account_json: String,
    },
    Apns {
        signing_key: String,
        key_id: String,
        team_id: String,
        bundle_id: String,
    },
}

impl std::fmt::Debug for PushCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushCredentials::Fcm { .. } => f.write_str("Fcm { <redacted> }"),
            PushCredentials::Apns {
                key_id, team_id, ..
            } => write!(
                f,
                "Apns {{ key_id: {key_id:?}, team_id: {team_id:?}, <redacted> }}"
            ),
        }
    }
}

/// What a retailer's application on one platform is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushApplicationSpec {
    pub tenant_id: TenantId,
    pub platform: PushPlatform,
    pub credentials: PushCredentials,
}

/// The push provider's applications: the SNS adapter is `crate::aws::sns_applications`, the
/// in-memory one `crate::testing::MemoryPushApplications`.
#[async_trait]
pub trait PushApplicationProvider: Send + Sync {
    /// Creates the retailer's application on the platform, or, given the one it has, replaces
    /// its credentials. Answers the application's ARN.
    async fn put_application(
        &self,
        spec: &PushApplicationSpec,
        existing: Option<&str>,
    ) -> Result<String, ProvisionError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("tenant not found")]
    NotFound,
    #[error("creating the push application failed")]
    Provision(#[source] ProvisionError),
    #[error("the tenants table failed")]
    Store(#[from] StoreError),
}

impl Retryable for PushSetupError {
    fn is_retryable(&self) -> bool {
        match self {
            PushSetupError::Invalid { .. } | PushSetupError::NotFound => false,
            PushSetupError::Provision(e) => e.is_retryable(),
            PushSetupError::Store(e) => e.is_retryable(),
        }
    }
}

/// Creates a retailer's push applications and keeps their ARNs in its workspace.
pub struct PushSetup {
    provider: Arc<dyn PushApplicationProvider>,
    admin: Arc<dyn TenantAdmin>,
}

impl PushSetup {
    pub fn new(provider: Arc<dyn PushApplicationProvider>, admin: Arc<dyn TenantAdmin>) -> Self {
        Self { provider, admin }
    }

    /// The retailer's application on `platform`, created or its credentials replaced; its ARN
    /// set on the workspace (that attribute alone, on condition that the workspace exists).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, platform = %platform))]
    pub async fn put(
        &self,
        tenant: &TenantId,
        platform: PushPlatform,
        request: PushApplicationRequest,
    ) -> Result<TenantWorkspace, PushSetupError> {
        let credentials = credentials(platform, request)?;
        let mut workspace = self
            .admin
            .workspace(tenant)
            .await?
            .ok_or(PushSetupError::NotFound)?;
        let spec = PushApplicationSpec {
            tenant_id: tenant.clone(),
            platform,
            credentials,
        };
        let existing = workspace.push_applications.get(platform);
        let arn = self
            .provider
            .put_application(&spec, existing)
            .await
            .map_err(|error| match error {
                ProvisionError::InvalidName { name, reason } => PushSetupError::Invalid {
                    field: "tenant_id".into(),
                    reason: format!("the application name {name} would be invalid: {reason}"),
                },
                ProvisionError::InvalidInput { field, reason } => PushSetupError::Invalid {
                    field: field.into(),
                    reason,
                },
                other => PushSetupError::Provision(other),
            })?;
        if !self
            .admin
            .set_push_application(tenant, platform, &arn)
            .await?
        {
            return Err(PushSetupError::NotFound);
        }
        workspace.push_applications.set(platform, arn);
        tracing::info!("push application set");
        Ok(workspace)
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> PushSetupError {
    PushSetupError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A credential given, non-empty, and within [`MAX_CREDENTIAL_BYTES`].
fn required(field: &str, value: Option<String>) -> Result<String, PushSetupError> {
    let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(invalid(field, "is required for this platform"));
    }
    if value.len() > MAX_CREDENTIAL_BYTES {
        return Err(invalid(
            field,
            format!("at most {MAX_CREDENTIAL_BYTES} bytes"),
        ));
    }
    Ok(value)
}

/// The platform's credentials from the request: exactly the fields the platform takes.
pub fn credentials(
    platform: PushPlatform,
    request: PushApplicationRequest,
) -> Result<PushCredentials, PushSetupError> {
    match platform {
        PushPlatform::Fcm => {
            for (field, given) in [
                ("signing_key", &request.signing_key),
                ("key_id", &request.key_id),
                ("team_id", &request.team_id),
                ("bundle_id", &request.bundle_id),
            ] {
                if given.is_some() {
                    return Err(invalid(field, "is for APNs applications, not FCM"));
                }
            }
            let json = required("service_account_json", request.service_account_json)?;
            let account: serde_json::Value = serde_json::from_str(&json)
                .map_err(|_| invalid("service_account_json", "is not JSON"))?;
            for key in ["client_email", "private_key", "project_id"] {
                if !account.get(key).is_some_and(serde_json::Value::is_string) {
                    return Err(invalid(
                        "service_account_json",
                        format!("is not a service account key: no {key}"),
                    ));
                }
            }
            Ok(PushCredentials::Fcm {
                service_account_json: json,
            })
        }
        PushPlatform::Apns | PushPlatform::ApnsSandbox => {
            if request.service_account_json.is_some() {
                return Err(invalid(
                    "service_account_json",
                    "is for FCM applications, not APNs",
                ));
            }
            let signing_key = required("signing_key", request.signing_key)?;
            if !signing_key.contains("PRIVATE KEY") {
                return Err(invalid("signing_key", "is not a .p8 private key"));
            }
            Ok(PushCredentials::Apns {
                signing_key,
                key_id: required("key_id", request.key_id)?,
                team_id: required("team_id", request.team_id)?,
                bundle_id: required("bundle_id", request.bundle_id)?,
            })
        }
    }
}

/// The name of a retailer's application on a platform: `<prefix>-<tenant>-<platform>`, within
/// what SNS allows (at most 256 of `[A-Za-z0-9_.-]`); never shortened (two tenants could share).
pub fn application_name(
    prefix: &str,
    tenant: &TenantId,
    platform: PushPlatform,
) -> Result<String, ProvisionError> {
    let name = format!("{prefix}-{tenant}-{platform}");
    let valid = name.len() <= MAX_APPLICATION_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(name)
    } else {
        Err(ProvisionError::InvalidName {
            name,
            reason: "at most 256 ASCII letters, digits, '-', '_' or '.'".into(),
        })
    }
}

/// SNS's limit on a platform application's name.
pub const MAX_APPLICATION_NAME_CHARS: usize = 256;
