//! `SendingWorkspaces` on SES v2: per retailer a configuration set (reputation metrics, TLS
//! required, its dedicated pool if any, an EventBridge event destination) and an SES tenant with
//! the configuration set and the central domain identity associated. Every step treats
//! "already exists" as done, so provisioning can be repeated. See docs/onboarding.md.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{
    DeliveryOptions, EventBridgeDestination, EventDestinationDefinition, EventType,
    ReputationOptions, SendingOptions, SuppressionListReason, SuppressionListScope, Tag, TlsPolicy,
};

use super::errors::{FailureKind, classify};
use crate::domain::TenantWorkspace;
use crate::onboarding::{
    ProvisionError, ProvisionedWorkspace, SendingWorkspaces, WorkspaceSpec, resource_name,
};

/// The name of the event destination every retailer's configuration set gets.
pub const EVENT_DESTINATION_NAME: &str = "storecast-events";
/// Tag key naming the retailer on its configuration set and SES tenant.
pub const TENANT_TAG: &str = "storecast:tenant";

/// The sending events forwarded to EventBridge: every kind the feedback function reads.
pub fn tracked_events() -> Vec<EventType> {
    vec![
        EventType::Bounce,
        EventType::Complaint,
        EventType::Delivery,
        EventType::Reject,
        EventType::DeliveryDelay,
        EventType::RenderingFailure,
        EventType::Send,
        EventType::Subscription,
        EventType::Open,
        EventType::Click,
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesWorkspaceConfig {
    /// Prefix of every resource name: `<prefix>-<tenant>` (the stack name, e.g. `storecast-prod`).
    pub resource_prefix: String,
    /// The centrally verified sending domain.
    pub sending_domain: String,
    /// ARN of the sending domain's identity (`arn:aws:ses:<region>:<account>:identity/<domain>`):
    /// associated with every SES tenant; the configuration sets' ARNs are derived from it.
    pub domain_identity_arn: String,
    /// The event bus sending events go to (the account's default bus:
    /// `arn:aws:events:<region>:<account>:event-bus/default`).
    pub event_bus_arn: String,
}

pub struct SesWorkspaces {
    client: Client,
    config: SesWorkspaceConfig,
}

fn is_already_exists<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    // SES v2 answers AlreadyExistsException; the local endpoint answers SES v1's code for
    // configuration sets.
    matches!(
        error.code(),
        Some("AlreadyExistsException" | "ConfigurationSetAlreadyExists")
    )
}

/// Sorts SES's answer to one provisioning step into the failure classes, keeping the SDK error.
pub fn provision_error<E>(step: &'static str, error: SdkError<E, HttpResponse>) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &error {
        SdkError::ServiceError(service) => match service.err().code() {
            // A quota (configuration sets or tenants per account), not a rate: retrying gives
            // the same answer until the quota is raised.
            Some("LimitExceededException") => FailureKind::Permanent,
            Some("ConcurrentModificationException") => FailureKind::Transient,
            _ if service.raw().status().is_server_error() => FailureKind::Transient,
            _ => classify(&error),
        },
        _ => classify(&error),
    };
    let source = Box::new(error);
    match kind {
        FailureKind::Throttled => ProvisionError::Throttled { step, source },
        FailureKind::Transient => ProvisionError::Unavailable { step, source },
        FailureKind::Permanent => ProvisionError::Rejected { step, source },
    }
}

fn built<T>(
    step: &'static str,
    result: Result<T, aws_sdk_sesv2::error::BuildError>,
) -> Result<T, ProvisionError> {
    result.map_err(|e| ProvisionError::Rejected {
        step,
        source: Box::new(e),
    })
}

impl SesWorkspaces {
    pub fn new(client: Client, config: SesWorkspaceConfig) -> Self {
        Self { client, config }
    }

    pub fn config(&self) -> &SesWorkspaceConfig {
        &self.config
    }

    /// `arn:<partition>:ses:<region>:<account>:configuration-set/<name>`, in the domain
    /// identity's partition, region and account.
    pub fn configuration_set_arn(&self, name: &str) -> Result<String, ProvisionError> {
        let parts: Vec<&str> = self.config.domain_identity_arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, "ses", region, account, resource]
                if resource.starts_with("identity/") && !region.is_empty() && !account.is_empty() =>
            {
                Ok(format!(
                    "arn:{partition}:ses:{region}:{account}:configuration-set/{name}"
                ))
            }
            _ => Err(ProvisionError::InvalidName {
                name: self.config.domain_identity_arn.clone(),
                reason: "the domain identity ARN is not arn:<partition>:ses:<region>:<account>:identity/<domain>".into(),
            }),
        }
    }

    fn tenant_tag(&self, tenant: &str) -> Result<Tag, ProvisionError> {
        built("Tag", Tag::builder().key(TENANT_TAG).value(tenant).build())
    }

    fn delivery_options(pool: Option<&str>) -> DeliveryOptions {
        DeliveryOptions::builder()
            .tls_policy(TlsPolicy::Require)
            .set_sending_pool_name(pool.map(str::to_string))
            .build()
    }

    /// Creates the configuration set, or (when it exists) updates its delivery options so that
    /// a changed pool takes effect. Its sending state is left alone: a re-provisioning must not
    /// undo a suspension.
    pub async fn ensure_configuration_set(
        &self,
        name: &str,
        spec: &WorkspaceSpec,
    ) -> Result<(), ProvisionError> {
        let pool = spec.sending_pool.as_deref();
        let created = self
            .client
            .create_configuration_set()
            .configuration_set_name(name)
            .reputation_options(
                ReputationOptions::builder()
                    .reputation_metrics_enabled(true)
                    .build(),
            )
            .delivery_options(Self::delivery_options(pool))
            .sending_options(SendingOptions::builder().sending_enabled(true).build())
            .tags(self.tenant_tag(spec.tenant_id.as_str())?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error) if is_already_exists(&error) => {
                self.client
                    .put_configuration_set_delivery_options()
                    .configuration_set_name(name)
                    .tls_policy(TlsPolicy::Require)
                    .set_sending_pool_name(pool.map(str::to_string))
                    .send()
                    .await
                    .map_err(|e| provision_error("PutConfigurationSetDeliveryOptions", e))?;
                Ok(())
            }
            Err(error) => Err(provision_error("CreateConfigurationSet", error)),
        }
    }

    fn event_destination(&self) -> Result<EventDestinationDefinition, ProvisionError> {
        let bus = built(
            "EventBridgeDestination",
            EventBridgeDestination::builder()
                .event_bus_arn(&self.config.event_bus_arn)
                .build(),
        )?;
        Ok(EventDestinationDefinition::builder()
            .enabled(true)
            .set_matching_event_types(Some(tracked_events()))
            .event_bridge_destination(bus)
            .build())
    }

    /// Creates the EventBridge destination, or updates it to the current definition.
    async fn ensure_event_destination(&self, name: &str) -> Result<(), ProvisionError> {
        let created = self
            .client
            .create_configuration_set_event_destination()
            .configuration_set_name(name)
            .event_destination_name(EVENT_DESTINATION_NAME)
            .event_destination(self.event_destination()?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error) if is_already_exists(&error) => {
                self.client
                    .update_configuration_set_event_destination()
                    .configuration_set_name(name)
                    .event_destination_name(EVENT_DESTINATION_NAME)
                    .event_destination(self.event_destination()?)
                    .send()
                    .await
                    .map_err(|e| provision_error("UpdateConfigurationSetEventDestination", e))?;
                Ok(())
            }
            Err(error) => Err(provision_error(
                "CreateConfigurationSetEventDestination",
                error,
            )),
        }
    }

    async fn ensure_tenant(&self, name: &str, spec: &WorkspaceSpec) -> Result<(), ProvisionError> {
        let created = self
            .client
            .create_tenant()
            .tenant_name(name)
            .tags(self.tenant_tag(spec.tenant_id.as_str())?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error) if is_already_exists(&error) => Ok(()),
            Err(error) => Err(provision_error("CreateTenant", error)),
        }
    }

    /// The SES tenant keeps its own suppression list (scope `TENANT`), fed by hard bounces and
    /// complaints, beside the platform's list per retailer: a bounce at one retailer never stops
    /// another's mail to that address. A PUT, so provisioning again sets the same.
    async fn ensure_suppression_scope(&self, tenant: &str) -> Result<(), ProvisionError> {
        self.client
            .put_tenant_suppression_attributes()
            .tenant_name(tenant)
            .suppression_scope(SuppressionListScope::Tenant)
            .suppressed_reasons(SuppressionListReason::Bounce)
            .suppressed_reasons(SuppressionListReason::Complaint)
            .send()
            .await
            .map_err(|e| provision_error("PutTenantSuppressionAttributes", e))?;
        Ok(())
    }

    async fn ensure_association(
        &self,
        tenant: &str,
        resource_arn: &str,
    ) -> Result<(), ProvisionError> {
        let associated = self
            .client
            .create_tenant_resource_association()
            .tenant_name(tenant)
            .resource_arn(resource_arn)
            .send()
            .await;
        match associated {
            Ok(_) => Ok(()),
            Err(error) if is_already_exists(&error) => Ok(()),
            Err(error) => Err(provision_error("CreateTenantResourceAssociation", error)),
        }
    }
}

#[async_trait]
impl SendingWorkspaces for SesWorkspaces {
    fn check(&self, spec: &WorkspaceSpec) -> Result<(), ProvisionError> {
        let name = resource_name(&self.config.resource_prefix, &spec.tenant_id)?;
        self.configuration_set_arn(&name).map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %spec.tenant_id))]
    async fn provision(
        &self,
        spec: &WorkspaceSpec,
    ) -> Result<ProvisionedWorkspace, ProvisionError> {
        let name = resource_name(&self.config.resource_prefix, &spec.tenant_id)?;
        let configuration_set_arn = self.configuration_set_arn(&name)?;
        self.ensure_configuration_set(&name, spec).await?;
        self.ensure_event_destination(&name).await?;
        // The SES tenant has the same name as the configuration set: one workspace per retailer.
        self.ensure_tenant(&name, spec).await?;
        self.ensure_suppression_scope(&name).await?;
        self.ensure_association(&name, &configuration_set_arn)
            .await?;
        self.ensure_association(&name, &self.config.domain_identity_arn)
            .await?;
        tracing::info!(configuration_set = %name, "sending workspace provisioned");
        Ok(ProvisionedWorkspace {
            configuration_set: name.clone(),
            ses_tenant: name,
            from_address: TenantWorkspace::from_address_for(
                &spec.slug,
                &self.config.sending_domain,
            ),
        })
    }

    async fn set_sending_enabled(
        &self,
        configuration_set: &str,
        enabled: bool,
    ) -> Result<(), ProvisionError> {
        self.client
            .put_configuration_set_sending_options()
            .configuration_set_name(configuration_set)
            .sending_enabled(enabled)
            .send()
            .await
            .map_err(|e| provision_error("PutConfigurationSetSendingOptions", e))?;
        Ok(())
    }
}

/// The local endpoint has configuration sets but no tenants, associations, event destinations
/// or sending options: the requests and the idempotency are tested with request-level mocks.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::operation::create_configuration_set::{
        CreateConfigurationSetError, CreateConfigurationSetOutput,
    };
    use aws_sdk_sesv2::operation::create_configuration_set_event_destination::{
        CreateConfigurationSetEventDestinationError, CreateConfigurationSetEventDestinationOutput,
    };
    use aws_sdk_sesv2::operation::create_tenant::{CreateTenantError, CreateTenantOutput};
    use aws_sdk_sesv2::operation::create_tenant_resource_association::{
        CreateTenantResourceAssociationError, CreateTenantResourceAssociationOutput,
    };
    use aws_sdk_sesv2::operation::put_configuration_set_delivery_options::PutConfigurationSetDeliveryOptionsOutput;
    use aws_sdk_sesv2::operation::put_configuration_set_sending_options::{
        PutConfigurationSetSendingOptionsError, PutConfigurationSetSendingOptionsOutput,
    };
    use aws_sdk_sesv2::operation::put_tenant_suppression_attributes::PutTenantSuppressionAttributesOutput;
    use aws_sdk_sesv2::operation::update_configuration_set_event_destination::UpdateConfigurationSetEventDestinationOutput;
    use aws_sdk_sesv2::types::error::{
        AlreadyExistsException, BadRequestException, LimitExceededException,
        TooManyRequestsException,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use crate::domain::TenantId;
    use crate::error::Retryable;

    const IDENTITY: &str = "arn:aws:ses:eu-west-1:123456789012:identity/mail.storecast.example";
    const BUS: &str = "arn:aws:events:eu-west-1:123456789012:event-bus/default";
    const CS_ARN: &str =
        "arn:aws:ses:eu-west-1:123456789012:configuration-set/storecast-prod-alpine";

    fn config() -> SesWorkspaceConfig {
        SesWorkspaceConfig {
            resource_prefix: "storecast-prod".into(),
            sending_domain: "mail.storecast.example".into(),
            domain_identity_arn: IDENTITY.into(),
            event_bus_arn: BUS.into(),
        }
    }

    fn spec(pool: Option<&str>) -> WorkspaceSpec {
        WorkspaceSpec {
            tenant_id: TenantId::parse("alpine").unwrap(),
            slug: "alpine-outfitters".into(),
            sending_pool: pool.map(str::to_string),
        }
    }

    fn meta(code: &str) -> ErrorMetadata {
        // What the SDK's deserializer fills in from SES's error response.
        ErrorMetadata::builder().code(code).message(code).build()
    }

    fn already_exists() -> AlreadyExistsException {
        AlreadyExistsException::builder()
            .meta(meta("AlreadyExistsException"))
            .build()
    }

    fn has_tenant_tag(tags: &[Tag]) -> bool {
        tags.iter()
            .any(|t| t.key() == TENANT_TAG && t.value() == "alpine")
    }

    /// Rules answering every step of a first provisioning with success, checking each request.
    fn fresh_rules() -> Vec<Rule> {
        vec![
            mock!(Client::create_configuration_set)
                .match_requests(|r| {
                    r.configuration_set_name() == Some("storecast-prod-alpine")
                        && r.reputation_options()
                            .is_some_and(|o| o.reputation_metrics_enabled())
                        && r.delivery_options().is_some_and(|o| {
                            o.sending_pool_name() == Some("dedicated-1")
                                && o.tls_policy() == Some(&TlsPolicy::Require)
                        })
                        && r.sending_options().is_some_and(|o| o.sending_enabled())
                        && has_tenant_tag(r.tags())
                })
                .then_output(|| CreateConfigurationSetOutput::builder().build()),
            mock!(Client::create_configuration_set_event_destination)
                .match_requests(|r| {
                    r.configuration_set_name() == Some("storecast-prod-alpine")
                        && r.event_destination_name() == Some(EVENT_DESTINATION_NAME)
                        && r.event_destination().is_some_and(|d| {
                            d.enabled()
                                && d.matching_event_types() == tracked_events()
                                && d.event_bridge_destination()
                                    .is_some_and(|b| b.event_bus_arn() == BUS)
                        })
                })
                .then_output(|| CreateConfigurationSetEventDestinationOutput::builder().build()),
            mock!(Client::create_tenant)
                .match_requests(|r| {
                    r.tenant_name() == Some("storecast-prod-alpine") && has_tenant_tag(r.tags())
                })
                .then_output(|| CreateTenantOutput::builder().build()),
            mock!(Client::create_tenant_resource_association)
                .match_requests(|r| {
                    r.tenant_name() == Some("storecast-prod-alpine")
                        && matches!(r.resource_arn(), Some(CS_ARN | IDENTITY))
                })
                .then_output(|| CreateTenantResourceAssociationOutput::builder().build()),
            suppression_scope_rule(),
        ]
    }

    /// The tenant's own suppression list, fed by bounces and complaints.
    fn suppression_scope_rule() -> Rule {
        mock!(Client::put_tenant_suppression_attributes)
            .match_requests(|r| {
                r.tenant_name() == Some("storecast-prod-alpine")
                    && r.suppression_scope() == Some(&SuppressionListScope::Tenant)
                    && r.suppressed_reasons()
                        .contains(&SuppressionListReason::Bounce)
                    && r.suppressed_reasons()
                        .contains(&SuppressionListReason::Complaint)
            })
            .then_output(|| PutTenantSuppressionAttributesOutput::builder().build())
    }

    #[tokio::test]
    async fn a_first_provisioning_creates_every_resource_with_the_tenants_names() {
        let rules = fresh_rules();
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, &rules);
        let workspaces = SesWorkspaces::new(client, config());
        let provisioned = workspaces
            .provision(&spec(Some("dedicated-1")))
            .await
            .unwrap();
        assert_eq!(
            provisioned,
            ProvisionedWorkspace {
                configuration_set: "storecast-prod-alpine".into(),
                ses_tenant: "storecast-prod-alpine".into(),
                from_address: "alpine-outfitters@mail.storecast.example".into(),
            }
        );
        let calls: Vec<usize> = rules.iter().map(Rule::num_calls).collect();
        assert_eq!(calls, vec![1, 1, 1, 2, 1], "one association for each ARN");
    }

    #[tokio::test]
    async fn provisioning_again_updates_what_exists_and_creates_nothing_twice() {
        let create_set = mock!(Client::create_configuration_set)
            .then_error(|| CreateConfigurationSetError::AlreadyExistsException(already_exists()));
        let update_delivery = mock!(Client::put_configuration_set_delivery_options)
            .match_requests(|r| {
                r.configuration_set_name() == Some("storecast-prod-alpine")
                    && r.sending_pool_name().is_none()
                    && r.tls_policy() == Some(&TlsPolicy::Require)
            })
            .then_output(|| PutConfigurationSetDeliveryOptionsOutput::builder().build());
        let create_destination = mock!(Client::create_configuration_set_event_destination)
            .then_error(|| {
                CreateConfigurationSetEventDestinationError::AlreadyExistsException(
                    already_exists(),
                )
            });
        let update_destination = mock!(Client::update_configuration_set_event_destination)
            .match_requests(|r| {
                r.event_destination_name() == Some(EVENT_DESTINATION_NAME)
                    && r.event_destination().is_some_and(|d| {
                        d.event_bridge_destination()
                            .is_some_and(|b| b.event_bus_arn() == BUS)
                    })
            })
            .then_output(|| UpdateConfigurationSetEventDestinationOutput::builder().build());
        let create_tenant = mock!(Client::create_tenant)
            .then_error(|| CreateTenantError::AlreadyExistsException(already_exists()));
        let associate = mock!(Client::create_tenant_resource_association).then_error(|| {
            CreateTenantResourceAssociationError::AlreadyExistsException(already_exists())
        });
        let sending = mock!(Client::put_configuration_set_sending_options)
            .then_output(|| PutConfigurationSetSendingOptionsOutput::builder().build());
        let scope = suppression_scope_rule();
        let client = mock_client!(
            aws_sdk_sesv2,
            RuleMode::MatchAny,
            [
                &create_set,
                &update_delivery,
                &create_destination,
                &update_destination,
                &create_tenant,
                &associate,
                &sending,
                &scope
            ]
        );
        let provisioned = SesWorkspaces::new(client, config())
            .provision(&spec(None))
            .await
            .unwrap();
        assert_eq!(provisioned.configuration_set, "storecast-prod-alpine");
        assert_eq!(update_delivery.num_calls(), 1, "the pool follows the spec");
        assert_eq!(update_destination.num_calls(), 1);
        assert_eq!(associate.num_calls(), 2);
        assert_eq!(scope.num_calls(), 1, "the scope is set again: a PUT");
        assert_eq!(
            sending.num_calls(),
            0,
            "re-provisioning leaves a suspension alone"
        );
    }

    async fn failing_provision(error: CreateConfigurationSetError) -> ProvisionError {
        let error = std::sync::Mutex::new(Some(error));
        let rule = mock!(Client::create_configuration_set)
            .then_error(move || error.lock().unwrap().take().expect("called once"));
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()));
        SesWorkspaces::new(client, config())
            .provision(&spec(None))
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn errors_are_classified_and_keep_the_sdk_error() {
        let throttled = failing_provision(CreateConfigurationSetError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .meta(meta("TooManyRequestsException"))
                .build(),
        ))
        .await;
        assert!(
            matches!(
                throttled,
                ProvisionError::Throttled {
                    step: "CreateConfigurationSet",
                    ..
                }
            ),
            "{throttled:?}"
        );
        assert!(throttled.is_retryable());
        assert!(std::error::Error::source(&throttled).is_some());

        let quota = failing_provision(CreateConfigurationSetError::LimitExceededException(
            LimitExceededException::builder()
                .meta(meta("LimitExceededException"))
                .build(),
        ))
        .await;
        assert!(
            matches!(quota, ProvisionError::Rejected { .. }),
            "{quota:?}"
        );
        assert!(!quota.is_retryable(), "a quota is not a rate");

        let bad = failing_provision(CreateConfigurationSetError::BadRequestException(
            BadRequestException::builder()
                .meta(meta("BadRequestException"))
                .build(),
        ))
        .await;
        assert!(!bad.is_retryable());
        assert!(std::error::Error::source(&bad).is_some());
    }

    #[tokio::test]
    async fn sending_is_switched_on_the_configuration_set() {
        let rule = mock!(Client::put_configuration_set_sending_options)
            .match_requests(|r| {
                r.configuration_set_name() == Some("storecast-prod-alpine")
                    && r.sending_enabled() == Some(false)
            })
            .then_output(|| PutConfigurationSetSendingOptionsOutput::builder().build());
        let missing = mock!(Client::put_configuration_set_sending_options)
            .match_requests(|r| r.configuration_set_name() == Some("gone"))
            .then_error(|| {
                PutConfigurationSetSendingOptionsError::NotFoundException(
                    aws_sdk_sesv2::types::error::NotFoundException::builder()
                        .meta(meta("NotFoundException"))
                        .build(),
                )
            });
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule, &missing]);
        let workspaces = SesWorkspaces::new(client, config());
        workspaces
            .set_sending_enabled("storecast-prod-alpine", false)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
        let error = workspaces
            .set_sending_enabled("gone", true)
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error:?}");
    }

    #[test]
    fn names_and_arns_are_checked_before_any_call() {
        let client = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::Config::builder()
                .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
                .region(aws_sdk_sesv2::config::Region::new("eu-west-1"))
                .build(),
        );
        let workspaces = SesWorkspaces::new(client.clone(), config());
        assert_eq!(
            workspaces
                .configuration_set_arn("storecast-prod-alpine")
                .unwrap(),
            CS_ARN
        );
        assert!(workspaces.check(&spec(None)).is_ok());
        let mut too_long = spec(None);
        too_long.tenant_id = TenantId::parse("a".repeat(60)).unwrap();
        assert!(matches!(
            workspaces.check(&too_long),
            Err(ProvisionError::InvalidName { .. })
        ));
        let broken = SesWorkspaces::new(
            client,
            SesWorkspaceConfig {
                domain_identity_arn: "mail.storecast.example".into(),
                ..config()
            },
        );
        assert!(broken.check(&spec(None)).is_err());
    }
}
