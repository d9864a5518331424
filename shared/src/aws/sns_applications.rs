//! `PushApplicationProvider` on Amazon SNS: CreatePlatformApplication named
//! `<stack>-<tenant>-<platform>` (FCM HTTP v1 with the service account's JSON key, APNs with token
//! authentication), or SetPlatformApplicationAttributes on the retailer's existing application to
//! replace its credentials. The credentials are passed on and never logged.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use super::ses_workspaces::provision_error;
use crate::channels::push::provider_platform;
use crate::onboarding::push::{
    PushApplicationProvider, PushApplicationSpec, PushCredentials, application_name,
};
use crate::onboarding::workspaces::ProvisionError;

pub struct SnsApplications {
    client: Client,
    /// The stack name: the template's IAM policy allows only applications named after it.
    resource_prefix: String,
}

impl SnsApplications {
    pub fn new(client: Client, resource_prefix: impl Into<String>) -> Self {
        Self {
            client,
            resource_prefix: resource_prefix.into(),
        }
    }
}

/// SNS's attributes for the credentials.
pub fn credential_attributes(credentials: &PushCredentials) -> HashMap<String, String> {
    let pairs: Vec<(&str, &str)> = match credentials {
        PushCredentials::Fcm {
            service_account_json,
        } => vec![("PlatformCredential", service_account_json)],
        PushCredentials::Apns {
            signing_key,
            key_id,
            team_id,
            bundle_id,
        } => vec![
            ("PlatformCredential", signing_key),
            ("PlatformPrincipal", key_id),
            ("ApplePlatformTeamID", team_id),
            ("ApplePlatformBundleID", bundle_id),
        ],
    };
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// SNS's InvalidParameter on credentials is the operator's to fix (422), not a failure of ours.
fn refused<E>(
    step: &'static str,
    error: SdkError<E, aws_sdk_sns::config::http::HttpResponse>,
) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let invalid = matches!(
        &error,
        SdkError::ServiceError(service) if service.err().code() == Some("InvalidParameter")
    );
    if invalid {
        let reason = error
            .as_service_error()
            .and_then(|e| e.message())
            .unwrap_or("SNS refused the credentials")
            .to_string();
        return ProvisionError::InvalidInput {
            field: "credentials",
            reason,
        };
    }
    provision_error(step, error)
}

#[async_trait]
impl PushApplicationProvider for SnsApplications {
    async fn put_application(
        &self,
        spec: &PushApplicationSpec,
        existing: Option<&str>,
    ) -> Result<String, ProvisionError> {
        let name = application_name(&self.resource_prefix, &spec.tenant_id, spec.platform)?;
        let attributes = credential_attributes(&spec.credentials);
        if let Some(arn) = existing.filter(|arn| arn.ends_with(&format!("/{name}"))) {
            self.client
                .set_platform_application_attributes()
                .platform_application_arn(arn)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| refused("SetPlatformApplicationAttributes", e))?;
            return Ok(arn.to_string());
        }
        let output = self
            .client
            .create_platform_application()
            .name(name)
            .platform(provider_platform(spec.platform))
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| refused("CreatePlatformApplication", e))?;
        output
            .platform_application_arn
            .ok_or_else(|| ProvisionError::Unavailable {
                step: "CreatePlatformApplication",
                source: crate::error::Message::boxed("no application ARN in the answer"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PushPlatform, TenantId};
    use aws_sdk_sns::operation::create_platform_application::CreatePlatformApplicationOutput;
    use aws_sdk_sns::operation::set_platform_application_attributes::SetPlatformApplicationAttributesOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn spec(platform: PushPlatform, credentials: PushCredentials) -> PushApplicationSpec {
        PushApplicationSpec {
            tenant_id: TenantId::parse("alpine").unwrap(),
            platform,
            credentials,
        }
    }

    fn apns() -> PushCredentials {
        PushCredentials::Apns {
            signing_key: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----".into(),
            key_id: "KEY123".into(),
            team_id: "TEAM45".into(),
            bundle_id: "com.alpine.app".into(),
        }
    }

    #[tokio::test]
    async fn an_apns_application_is_created_with_token_authentication_under_the_stacks_name() {
        let rule = mock!(Client::create_platform_application)
            .match_requests(|r| {
                let attributes = r.attributes().unwrap();
                r.name() == Some("storecast-dev-alpine-apns_sandbox")
                    && r.platform() == Some("APNS_SANDBOX")
                    && attributes["PlatformPrincipal"] == "KEY123"
                    && attributes["ApplePlatformTeamID"] == "TEAM45"
                    && attributes["ApplePlatformBundleID"] == "com.alpine.app"
                    && attributes["PlatformCredential"].contains("PRIVATE KEY")
            })
            .then_output(|| {
                CreatePlatformApplicationOutput::builder()
                    .platform_application_arn("arn:aws:sns:eu-west-1:1:app/APNS_SANDBOX/x")
                    .build()
            });
        let client = mock_client!(aws_sdk_sns, [&rule]);
        let arn = SnsApplications::new(client, "storecast-dev")
            .put_application(&spec(PushPlatform::ApnsSandbox, apns()), None)
            .await
            .unwrap();
        assert_eq!(arn, "arn:aws:sns:eu-west-1:1:app/APNS_SANDBOX/x");
    }

    #[tokio::test]
    async fn an_existing_application_gets_its_credentials_replaced_not_a_second_one() {
        let existing = "arn:aws:sns:eu-west-1:1:app/GCM/storecast-dev-alpine-fcm";
        let set = mock!(Client::set_platform_application_attributes)
            .match_requests(move |r| {
                r.platform_application_arn() == Some(existing)
                    && r.attributes().unwrap()["PlatformCredential"].contains("client_email")
            })
            .then_output(|| SetPlatformApplicationAttributesOutput::builder().build());
        let create = mock!(Client::create_platform_application)
            .then_output(|| CreatePlatformApplicationOutput::builder().build());
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&set, &create]);
        let fcm = PushCredentials::Fcm {
            service_account_json: r#"{"client_email":"a@b","private_key":"k","project_id":"p"}"#
                .into(),
        };
        let arn = SnsApplications::new(client, "storecast-dev")
            .put_application(&spec(PushPlatform::Fcm, fcm), Some(existing))
            .await
            .unwrap();
        assert_eq!(
            (arn.as_str(), set.num_calls(), create.num_calls()),
            (existing, 1, 0)
        );
    }

    #[tokio::test]
    async fn credentials_sns_refuses_are_the_callers_to_fix() {
        let rule = mock!(Client::create_platform_application).then_error(|| {
            aws_sdk_sns::operation::create_platform_application::CreatePlatformApplicationError::InvalidParameterException(
                aws_sdk_sns::types::error::InvalidParameterException::builder()
                    .message("Invalid parameter: Attributes Reason: Platform credentials are invalid")
                    .meta(
                        aws_sdk_sns::error::ErrorMetadata::builder()
                            .code("InvalidParameter")
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sns, [&rule]);
        let error = SnsApplications::new(client, "storecast-dev")
            .put_application(&spec(PushPlatform::Apns, apns()), None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ProvisionError::InvalidInput { .. }),
            "{error}"
        );
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let shown = format!("{:?}", spec(PushPlatform::Apns, apns()));
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
