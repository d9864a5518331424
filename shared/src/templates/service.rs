//! What the API calls for a retailer's templates: its variables, saving them (a new version, made
//! live), and previews rendered exactly as delivery renders.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::sample_recipient::{sample_customer, sample_workspace};
use super::{TemplateError, check_overrides, defaults, effective_variables};
use crate::channels::email::unsubscribe_url;
use crate::deliverability::unsubscribe::UnsubscribeSigner;
use crate::domain::FieldValue;
use crate::domain::VariableSpec;
use crate::domain::{
    CampaignId, Channel, Customer, CustomerId, MessageId, Offer, TemplateId, TemplateRef,
    TemplateVersion, TenantId, TenantWorkspace, VariantId,
};
use crate::render::{
    CompiledTemplate, RecipientContext, RenderContext, RenderedMessage, TemplateCache,
};
use crate::templates::ports::{PublishResult, TemplatePublisher, TemplateStore};
use crate::templates::snippets::repin;

/// How often a save re-reads the live version when another publish got in first.
const PUBLISH_ATTEMPTS: u32 = 3;
/// The campaign and variant previews and render checks render as.
const PREVIEW_CAMPAIGN: &str = "preview";
const PREVIEW_VARIANT: &str = "A";
pub use crate::domain::TEST_SEND_CAMPAIGN;

/// A test send's render: the message and what identifies it.
#[derive(Debug, Clone)]
pub struct RenderedTest {
    pub rendered: RenderedMessage,
    pub campaign: CampaignId,
    pub variant: VariantId,
    /// Unique per test send, so no send log entry or feedback record can be mistaken for it.
    pub message_id: MessageId,
    pub unsubscribe_url: String,
}

/// A template's variables as a retailer sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateVariables {
    pub template: TemplateId,
    /// The live version these values are from.
    pub live_version: u32,
    /// What each variable is and its default.
    pub schema: Vec<VariableSpec>,
    #[schema(value_type = Object)]
    pub defaults: Map<String, Value>,
    /// The retailer's own values.
    #[schema(value_type = Object)]
    pub overrides: Map<String, Value>,
    /// What the template renders with: the defaults with the overrides over them.
    #[schema(value_type = Object)]
    pub effective: Map<String, Value>,
}

impl TemplateVariables {
    fn of(version: &TemplateVersion) -> Self {
        Self {
            template: version.template.id.clone(),
            live_version: version.template.version,
            schema: version.schema.clone(),
            defaults: defaults(&version.schema),
            overrides: version.overrides.clone(),
            effective: version.variables.clone(),
        }
    }
}

/// A sample customer for a preview.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The retailer's customer attributes (`first_name`, `loyalty_tier`, ...).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// Draft values over the saved ones (checked like a save, not saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// A sample customer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<PreviewCustomer>,
    /// Sample offers when absent; an empty list previews the no-offer case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub offers: Option<Vec<Offer>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushPreview {
    pub title: String,
    pub body: String,
    /// Per platform (`fcm`, `apns`, `apns_sandbox`), the message delivery would publish.
    #[serde(default)]
    pub payloads: std::collections::BTreeMap<String, PushPayloadPreview>,
}

/// One platform's message as SNS would be given it (`MessageStructure: json`), or why it
/// could not be (over the platform's size limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushPayloadPreview {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl PushPreview {
    fn of(title: String, body: String, sample: &SampleRecipient) -> Self {
        use crate::channels::push::{PushContent, provider_message};
        let content = PushContent {
            title: &title,
            body: &body,
            campaign_id: sample.campaign.as_str(),
            message_id: sample.message_id.as_str(),
            deep_link: sample.offers.first().map(|o| o.url.as_str()),
        };
        let payloads = crate::domain::PushPlatform::ALL
            .into_iter()
            .map(|platform| {
                let preview = match provider_message(platform, &content) {
                    Ok(message) => PushPayloadPreview {
                        message: Some(message),
                        problem: None,
                    },
                    Err(error) => PushPayloadPreview {
                        message: None,
                        problem: Some(error.to_string()),
                    },
                };
                (platform.to_string(), preview)
            })
            .collect();
        Self {
            title,
            body,
            payloads,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushPreview>,
}

/// The retailer-facing template operations, on the template store and publisher ports.
pub struct TemplateService {
    store: Arc<dyn TemplateStore>,
    publisher: Arc<dyn TemplatePublisher>,
    /// Signs the preview's unsubscribe link as delivery signs a message's.
    unsubscribe: Arc<UnsubscribeSigner>,
    /// Live versions compiled once for previews without draft values.
    cache: TemplateCache,
    /// The retailers' own snippets over the library's; `None`: versions keep what they pinned.
    pub(super) retailer_snippets: Option<super::snippets::RetailerSnippets>,
}

impl TemplateService {
    pub fn new(
        store: Arc<dyn TemplateStore>,
        publisher: Arc<dyn TemplatePublisher>,
        unsubscribe: Arc<UnsubscribeSigner>,
    ) -> Self {
        Self {
            store,
            publisher,
            unsubscribe,
            cache: TemplateCache::default(),
            retailer_snippets: None,
        }
    }

    /// The template's schema, defaults, the retailer's overrides and the effective values, from
    /// its live version.
    pub async fn variables(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<TemplateVariables, TemplateError> {
        let live = self.live(tenant, template).await?;
        Ok(TemplateVariables::of(&live))
    }

    /// Replaces the retailer's overrides (a `null` value resets that variable to its default):
    /// checks them against the live version's schema, renders the template with them and sample
    /// data, then publishes them as a new version and makes it live.
    pub async fn set_variables(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
        overrides: Map<String, Value>,
    ) -> Result<TemplateVariables, TemplateError> {
        let span =
            tracing::info_span!("set_variables", tenant_id = %tenant, template_id = %template);
        let _entered = span.enter();
        let union = self.snippet_union(tenant).await?;
        let mut number = 0;
        for _ in 0..PUBLISH_ATTEMPTS {
            let live = self.live(tenant, template).await?;
            let kept = check_overrides(&live.schema, &overrides)?;
            // A version numbered past the live one may exist without being live (a deploy
            // interrupted between its version and pointer writes), so a retry moves past it.
            number = (live.template.version + 1).max(number + 1);
            let mut version = TemplateVersion {
                template: TemplateRef {
                    id: template.clone(),
                    version: number,
                },
                variables: effective_variables(&live.schema, &kept),
                overrides: kept,
                ..live.clone()
            };
            if let Some(union) = &union {
                repin(&mut version, union);
            }
            render_check(&version, None)?;
            match self
                .publisher
                .publish(&version, Some(live.template.version))
                .await?
            {
                PublishResult::Published => {
                    tracing::info!(version = number, "template variables published");
                    return Ok(TemplateVariables::of(&version));
                }
                PublishResult::Conflict => {
                    tracing::info!(
                        version = number,
                        "publish conflict; reading the live version again"
                    );
                }
            }
        }
        Err(TemplateError::Conflict {
            template: template.clone(),
        })
    }

    /// The live version rendered for one sample recipient, with draft values over the saved
    /// ones: the same compiled template, render context, brand and unsubscribe link as delivery.
    pub async fn preview(
        &self,
        workspace: &TenantWorkspace,
        template: &TemplateId,
        request: PreviewRequest,
    ) -> Result<Preview, TemplateError> {
        let sample = SampleRecipient::new(
            &workspace.tenant_id,
            request.customer.as_ref(),
            request.offers,
        );
        let issued_at = time::OffsetDateTime::now_utc().unix_timestamp();
        let (rendered, compiled, _) = self
            .render_sample(
                workspace,
                template,
                request.variables.as_ref(),
                &sample,
                issued_at,
            )
            .await?;
        Ok(Preview {
            push: compiled.has_push().then(|| {
                PushPreview::of(
                    rendered.push_title.clone().unwrap_or_default(),
                    rendered.push_body.clone().unwrap_or_default(),
                    &sample,
                )
            }),
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
        })
    }

    /// What a test send to `to` carries: the preview's render (same draft values, sample
    /// customer and offers, render budget) for a customer at `to`, with campaign
    /// [`TEST_SEND_CAMPAIGN`], a message id of its own and an unsubscribe link signed for `to`.
    pub async fn render_test(
        &self,
        workspace: &TenantWorkspace,
        template: &TemplateId,
        request: PreviewRequest,
        to: &str,
        issued_at: i64,
    ) -> Result<RenderedTest, TemplateError> {
        let sample = SampleRecipient::for_test_send(
            &workspace.tenant_id,
            request.customer.as_ref(),
            request.offers,
            to,
        );
        let (rendered, _, unsubscribe_url) = self
            .render_sample(
                workspace,
                template,
                request.variables.as_ref(),
                &sample,
                issued_at,
            )
            .await?;
        Ok(RenderedTest {
            rendered,
            campaign: sample.campaign,
            variant: sample.variant,
            message_id: sample.message_id,
            unsubscribe_url,
        })
    }

    /// The live version (with `draft` values over the saved ones) rendered for `sample`, its
    /// compiled template, and the unsubscribe link it carries.
    async fn render_sample(
        &self,
        workspace: &TenantWorkspace,
        template: &TemplateId,
        draft: Option<&Map<String, Value>>,
        sample: &SampleRecipient,
        issued_at: i64,
    ) -> Result<(RenderedMessage, Arc<CompiledTemplate>, String), TemplateError> {
        let mut live = self.live(&workspace.tenant_id, template).await?;
        let pinned = live.snippets.clone();
        if let Some(union) = self.snippet_union(&workspace.tenant_id).await? {
            repin(&mut live, &union);
        }
        let compiled = match draft.filter(|v| !v.is_empty()) {
            // The live version as published: compiled once.
            None if live.snippets == pinned => self.cache.get_or_compile(&live)?,
            None => Arc::new(CompiledTemplate::compile_unbaked(&live)?),
            Some(draft) => {
                let mut overrides = live.overrides.clone();
                overrides.extend(draft.iter().map(|(k, v)| (k.clone(), v.clone())));
                let kept = check_overrides(&live.schema, &overrides)?;
                let version = TemplateVersion {
                    variables: effective_variables(&live.schema, &kept),
                    overrides: kept,
                    ..live
                };
                Arc::new(CompiledTemplate::compile_unbaked(&version)?)
            }
        };
        let brand = FieldValue::from(&workspace.settings.brand);
        // The link a message to the sample's address would carry: a working one.
        let link = unsubscribe_url(
            workspace,
            &self.unsubscribe,
            &sample.campaign,
            &sample.variant,
            &sample.link_address,
            issued_at,
        )
        .unwrap_or_else(|| workspace.unsubscribe_base_url.clone());
        let rendered = sample.render(&compiled, workspace, &brand, &link)?;
        Ok((rendered, compiled, link))
    }

    /// The snippets the tenant's templates may reach (the library's, the retailer's over them);
    /// `None` without a retailer snippet store: versions keep the snippets they pinned.
    async fn snippet_union(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, TemplateError> {
        match &self.retailer_snippets {
            Some(snippets) => Ok(Some(snippets.union(tenant).await?)),
            None => Ok(None),
        }
    }

    async fn live(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<TemplateVersion, TemplateError> {
        let live = self
            .store
            .live_template(tenant, template)
            .await?
            .ok_or_else(|| TemplateError::NotFound {
                template: template.clone(),
            })?;
        if &live.tenant_id != tenant || &live.template.id != template {
            return Err(TemplateError::NotFound {
                template: template.clone(),
            });
        }
        Ok(live)
    }
}

/// Compiles `version` and renders it for a sample recipient of its tenant: what publishing checks
/// before a version can go live. `workspace` gives the brand; a sample workspace when absent.
pub fn render_check(
    version: &TemplateVersion,
    workspace: Option<&TenantWorkspace>,
) -> Result<(), TemplateError> {
    let compiled = CompiledTemplate::compile(version)?;
    render_compiled_check(&compiled, &version.tenant_id, workspace)
}

/// [`render_check`] for an already compiled template.
pub fn render_compiled_check(
    compiled: &CompiledTemplate,
    tenant: &TenantId,
    workspace: Option<&TenantWorkspace>,
) -> Result<(), TemplateError> {
    let assumed;
    let workspace = match workspace {
        Some(workspace) => workspace,
        None => {
            assumed = sample_workspace(tenant.as_str(), "mail.storecast.example");
            &assumed
        }
    };
    let brand = FieldValue::from(&workspace.settings.brand);
    // A render check's output is discarded: the link only has to have the delivered link's form.
    let link = format!("{}/render-check", workspace.unsubscribe_base_url);
    SampleRecipient::new(tenant, None, None).render(compiled, workspace, &brand, &link)?;
    Ok(())
}

/// The recipient a preview or render check renders for.
struct SampleRecipient {
    customer: Customer,
    offers: Vec<Offer>,
    campaign: CampaignId,
    variant: VariantId,
    message_id: MessageId,
    /// Whom the preview's unsubscribe link is signed for: the customer's address, or the
    /// sample customer's when the preview gives none.
    link_address: String,
}

impl SampleRecipient {
    fn new(
        tenant: &TenantId,
        customer: Option<&PreviewCustomer>,
        offers: Option<Vec<Offer>>,
    ) -> Self {
        let (sample_customer, sample_offers) = sample_customer(tenant.as_str(), 1);
        let sample_address = sample_customer.email.clone().unwrap_or_default();
        let customer = match customer {
            None => sample_customer,
            Some(given) => Customer {
                id: CustomerId::parse("preview-customer").expect("valid id"),
                email: given.email.clone(),
                push_token: None,
                push_tokens: Vec::new(),
                fields: FieldValue::from(&given.fields),
            },
        };
        let campaign = CampaignId::parse(PREVIEW_CAMPAIGN).expect("valid id");
        Self {
            message_id: MessageId::derive(tenant, &campaign, &customer.id, Channel::Email),
            link_address: customer.email.clone().unwrap_or(sample_address),
            customer,
            offers: offers.unwrap_or(sample_offers),
            campaign,
            variant: VariantId::parse(PREVIEW_VARIANT).expect("valid id"),
        }
    }

    /// A test send's recipient: the given customer (or the sample one) at `to`, under campaign
    /// [`TEST_SEND_CAMPAIGN`], with a message id drawn at random.
    fn for_test_send(
        tenant: &TenantId,
        customer: Option<&PreviewCustomer>,
        offers: Option<Vec<Offer>>,
        to: &str,
    ) -> Self {
        let mut sample = Self::new(tenant, customer, offers);
        sample.customer.email = Some(to.to_string());
        sample.link_address = to.to_string();
        sample.campaign = CampaignId::parse(TEST_SEND_CAMPAIGN).expect("valid id");
        let once = CustomerId::parse(format!("test-send-{:016x}", crate::random::next_u64()))
            .expect("valid id");
        sample.message_id = MessageId::derive(tenant, &sample.campaign, &once, Channel::Email);
        sample
    }

    fn render(
        &self,
        compiled: &CompiledTemplate,
        workspace: &TenantWorkspace,
        brand: &FieldValue,
        unsubscribe_url: &str,
    ) -> Result<RenderedMessage, TemplateError> {
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &self.customer,
            offers: &self.offers,
            workspace,
            campaign_id: &self.campaign,
            variant: &self.variant,
            message_id: &self.message_id,
            unsubscribe_url,
        })
        .with_brand(brand);
        let mut rendered = RenderedMessage::default();
        compiled.render(&context, &mut rendered)?;
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::TemplatePart;
    use crate::templates::Catalog;
    use crate::templates::ports::TemplatePublisher;
    use crate::testing::MemoryDirectory;
    use crate::testing::samples::sample_workspace;
    use serde_json::json;

    fn weekly_offers() -> crate::templates::CatalogTemplate {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/catalog.yaml");
        let catalog = Catalog::load(&path).unwrap();
        catalog
            .template(&TemplateId::parse("weekly-offers").unwrap())
            .unwrap()
            .clone()
    }

    async fn published(tenant: &str) -> (Arc<MemoryDirectory>, TemplateService, TenantWorkspace) {
        let directory = Arc::new(MemoryDirectory::default());
        let workspace = sample_workspace(tenant, "mail.storecast.example");
        let version = weekly_offers()
            .version_for(&workspace.tenant_id, 1, &Map::new())
            .unwrap();
        directory.publish(&version, None).await.unwrap();
        let service = TemplateService::new(
            directory.clone(),
            directory.clone(),
            crate::testing::unsubscribe_signer(),
        );
        (directory, service, workspace)
    }

    fn id() -> TemplateId {
        TemplateId::parse("weekly-offers").unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn given_no_published_template_then_not_found() {
        let (_, service, workspace) = published("alpine").await;
        let other = TemplateId::parse("nope").unwrap();
        assert!(matches!(
            service.variables(&workspace.tenant_id, &other).await,
            Err(TemplateError::NotFound { .. })
        ));
        let globex = TenantId::parse("globex").unwrap();
        assert!(
            matches!(
                service.variables(&globex, &id()).await,
                Err(TemplateError::NotFound { .. })
            ),
            "another tenant never sees alpine's template"
        );
    }

    #[tokio::test]
    async fn given_valid_overrides_then_a_new_version_goes_live_with_them() {
        let (directory, service, workspace) = published("alpine").await;
        let tenant = &workspace.tenant_id;

        let saved = service
            .set_variables(
                tenant,
                &id(),
                object(json!({"headline": "Autumn picks", "points_multiplier": 3})),
            )
            .await
            .unwrap();

        assert_eq!(saved.live_version, 2);
        assert_eq!(
            saved.overrides,
            object(json!({"headline": "Autumn picks", "points_multiplier": 3}))
        );
        assert_eq!(saved.effective["headline"], "Autumn picks");
        assert_eq!(saved.effective["cta_label"], saved.defaults["cta_label"]);
        assert_eq!(service.variables(tenant, &id()).await.unwrap(), saved);
        let v1 = directory
            .template_version(
                tenant,
                &TemplateRef {
                    id: id(),
                    version: 1,
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            v1.variables["headline"], "The spring edit",
            "version 1 is immutable"
        );

        let reset = service
            .set_variables(tenant, &id(), object(json!({"headline": null})))
            .await
            .unwrap();
        assert_eq!((reset.live_version, reset.overrides.len()), (3, 0));
        assert_eq!(reset.effective["headline"], "The spring edit");
    }

    #[tokio::test]
    async fn given_bad_overrides_then_each_field_at_fault_is_named_and_nothing_is_published() {
        let (_, service, workspace) = published("alpine").await;
        let error = service
            .set_variables(
                &workspace.tenant_id,
                &id(),
                object(json!({"brand_color": "green", "logo_url": "http://x/logo.png", "nope": 1})),
            )
            .await
            .unwrap_err();
        let TemplateError::InvalidVariables { errors } = error else {
            panic!("{error}");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "variables.brand_color",
                "variables.logo_url",
                "variables.nope"
            ]
        );
        let live = service
            .variables(&workspace.tenant_id, &id())
            .await
            .unwrap();
        assert_eq!(live.live_version, 1);
    }

    #[tokio::test]
    async fn given_a_preview_then_it_renders_as_delivery_with_brand_drafts_and_sample_data() {
        let (_, service, mut workspace) = published("alpine").await;
        workspace.settings.brand = object(json!({"postal_address": "1 Alp Road"}));

        let preview = service
            .preview(
                &workspace,
                &id(),
                PreviewRequest {
                    variables: Some(object(json!({"headline": "Draft headline"}))),
                    customer: Some(PreviewCustomer {
                        email: None,
                        fields: object(json!({"first_name": "Zoé"})),
                    }),
                    offers: None,
                },
            )
            .await
            .unwrap();

        assert!(
            preview.subject.starts_with("Zoé, our spring edit is here"),
            "{}",
            preview.subject
        );
        assert!(preview.html.contains("Draft headline"));
        assert!(preview.html.contains("Trail tent 2P") || preview.html.contains("Down jacket"));
        // The link delivery would write for the sample's address, signed: it verifies.
        let base = format!("{}/", workspace.unsubscribe_base_url);
        let at = preview.html.find(&base).expect("the unsubscribe link");
        let token: String = preview.html[at + base.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let claim = crate::testing::unsubscribe_signer()
            .verify(
                &workspace.tenant_id,
                &token,
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )
            .unwrap();
        assert_eq!(claim.campaign.as_str(), PREVIEW_CAMPAIGN);
        assert!(preview.text.contains("Draft headline"));
        let push = preview.push.unwrap();
        assert_eq!(push.title, "Your spring picks are in");
        let fcm = push.payloads["fcm"].message.as_deref().unwrap();
        let fcm: serde_json::Value = serde_json::from_str(fcm).unwrap();
        let gcm: serde_json::Value = serde_json::from_str(fcm["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(
            gcm["fcmV1Message"]["message"]["notification"]["title"],
            "Your spring picks are in"
        );
        assert!(push.payloads["apns"].message.is_some());
        let saved = service
            .variables(&workspace.tenant_id, &id())
            .await
            .unwrap();
        assert_eq!(saved.live_version, 1, "a preview saves nothing");

        let no_offers = service
            .preview(
                &workspace,
                &id(),
                PreviewRequest {
                    offers: Some(vec![]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(no_offers.html.contains("Our new season is in store now"));

        let bad = service
            .preview(
                &workspace,
                &id(),
                PreviewRequest {
                    variables: Some(object(json!({"brand_color": 7}))),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(bad, TemplateError::InvalidVariables { .. }));
    }

    #[tokio::test]
    async fn given_brand_variables_then_templates_see_them_in_previews() {
        let directory = Arc::new(MemoryDirectory::default());
        let workspace = sample_workspace("alpine", "mail.storecast.example");
        let mut version = weekly_offers()
            .version_for(&workspace.tenant_id, 1, &Map::new())
            .unwrap();
        version.subject = "{{ brand.name | default: retailer.name }} news".into();
        directory.publish(&version, None).await.unwrap();
        let service = TemplateService::new(
            directory.clone(),
            directory,
            crate::testing::unsubscribe_signer(),
        );

        let plain = service
            .preview(&workspace, &id(), PreviewRequest::default())
            .await
            .unwrap();
        let mut branded = workspace.clone();
        branded.settings.brand = object(json!({"name": "ALPINE®"}));
        let with_brand = service
            .preview(&branded, &id(), PreviewRequest::default())
            .await
            .unwrap();

        assert_eq!(plain.subject, "Alpine news");
        assert_eq!(with_brand.subject, "ALPINE® news");
    }

    #[tokio::test]
    async fn given_a_live_version_with_broken_liquid_then_preview_names_part_line_and_column() {
        let directory = Arc::new(MemoryDirectory::default());
        let workspace = sample_workspace("alpine", "mail.storecast.example");
        let mut version = weekly_offers()
            .version_for(&workspace.tenant_id, 1, &Map::new())
            .unwrap();
        version.text =
            "Hello\n\n{% if customer.first_name %}\n  {{ customer.first_name | }}\n{% endif %}"
                .into();
        directory.publish(&version, None).await.unwrap();
        let service = TemplateService::new(
            directory.clone(),
            directory,
            crate::testing::unsubscribe_signer(),
        );

        let error = service
            .preview(&workspace, &id(), PreviewRequest::default())
            .await
            .unwrap_err();

        let TemplateError::Liquid {
            part,
            line,
            column,
            message,
        } = error
        else {
            panic!("{error}");
        };
        assert_eq!(part, TemplatePart::Text);
        assert_eq!(line, Some(4), "{message}");
        assert!(column.is_some_and(|c| c > 1), "{column:?}: {message}");
    }

    #[tokio::test]
    async fn given_a_concurrent_publish_then_the_save_reads_again_and_wins_on_top() {
        let (directory, service, workspace) = published("alpine").await;
        // Someone else's version 2 is already live.
        let mut other = directory
            .live_template(&workspace.tenant_id, &id())
            .await
            .unwrap()
            .unwrap();
        other.template.version = 2;
        directory.publish(&other, Some(1)).await.unwrap();

        let saved = service
            .set_variables(
                &workspace.tenant_id,
                &id(),
                object(json!({"cta_label": "Go"})),
            )
            .await
            .unwrap();

        assert_eq!(saved.live_version, 3);
    }
}
