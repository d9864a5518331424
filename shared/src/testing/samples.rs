//! Sample retailers, templates, campaign events and batches: for the demo, the benchmarks and
//! tests.

use crate::directory::TenantAdmin;
use crate::domain::{
    BatchId, CONTRACT_VERSION, CampaignEvent, CampaignId, CampaignStatus, Channel, MessageId,
    PushDevice, PushPlatform, Recipient, SendBatch, TemplateId, TemplateRef, TemplateVersion,
    TenantId, VariantId,
};
use crate::error::StoreError;
pub use crate::templates::sample_recipient::sample_workspace;
use crate::templates::sample_recipient::{display_name, sample_customer};

pub const SAMPLE_TEMPLATE_ID: &str = "weekly-picks";

/// The standard retail template, published for one retailer with its own variable values.
pub fn sample_template_version(tenant: &str, version: u32) -> TemplateVersion {
    let sources = super::retail_template::retail_template();
    // The template's defaults, with this retailer's own values over them.
    let mut variables = super::retail_template::retail_variables();
    let name = display_name(tenant);
    for (key, value) in [
        ("brand_color", format!("#{:06x}", fnv(tenant) & 0xff_ffff)),
        ("headline", format!("This week at {name}")),
        (
            "disclaimer",
            format!("Prices valid while stocks last. {name} Ltd."),
        ),
        ("store_url", format!("https://{tenant}.shop.example")),
        (
            "logo_url",
            format!("https://cdn.example/{tenant}/logo-160.png"),
        ),
        ("support_email", format!("help@{tenant}.shop.example")),
        ("footer_address", format!("{name} Ltd., 1 Market Street")),
    ] {
        variables.insert(key.into(), value.into());
    }
    TemplateVersion {
        tenant_id: TenantId::parse(tenant).expect("sample tenant ids are valid"),
        template: TemplateRef {
            id: TemplateId::parse(SAMPLE_TEMPLATE_ID).expect("valid"),
            version,
        },
        subject: sources.subject,
        html: sources.html,
        text: sources.text,
        push_title: sources.push_title,
        push_body: sources.push_body,
        variables,
        schema: Vec::new(),
        overrides: serde_json::Map::new(),
        snippets: Default::default(),
    }
}

fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Customer `n` of a campaign: deterministic, some without a first name (templates must cope).
pub fn sample_event(tenant: &str, campaign: &str, n: u32) -> CampaignEvent {
    let tenant_id = TenantId::parse(tenant).expect("sample tenant ids are valid");
    let campaign_id = CampaignId::parse(campaign).expect("sample campaign ids are valid");
    let (customer, offers) = sample_customer(tenant, n);
    CampaignEvent {
        contract_version: CONTRACT_VERSION,
        message_id: MessageId::derive(&tenant_id, &campaign_id, &customer.id, Channel::Email),
        tenant_id,
        campaign_id,
        variant: VariantId::parse(if n.is_multiple_of(2) { "A" } else { "B" }).expect("valid"),
        channel: Channel::Email,
        template: TemplateRef {
            id: TemplateId::parse(SAMPLE_TEMPLATE_ID).expect("valid"),
            version: 1,
        },
        customer,
        offers,
    }
}

/// Onboards a sample retailer: its workspace, its version 1 of the standard template, and an
/// active campaign.
pub async fn seed_retailer(
    admin: &dyn TenantAdmin,
    tenant: &str,
    campaign: &str,
    sending_domain: &str,
) -> Result<(), StoreError> {
    admin
        .put_workspace(&sample_workspace(tenant, sending_domain))
        .await?;
    admin
        .put_template_version(&sample_template_version(tenant, 1))
        .await?;
    admin
        .set_campaign_status(
            &TenantId::parse(tenant).expect("sample tenant ids are valid"),
            &CampaignId::parse(campaign).expect("sample campaign ids are valid"),
            CampaignStatus::Active,
        )
        .await
}

/// One send batch of customers `customers` of a campaign, as rebatch would write it (all in the
/// first customer's variant).
pub fn sample_batch(
    tenant: &str,
    campaign: &str,
    customers: impl IntoIterator<Item = u32>,
) -> SendBatch {
    batch_of(
        customers
            .into_iter()
            .map(|n| sample_event(tenant, campaign, n))
            .collect(),
    )
}

/// The send batch rebatch would write for `events` of one group (all in the first event's
/// variant).
pub fn batch_of(events: Vec<CampaignEvent>) -> SendBatch {
    let group = events
        .first()
        .expect("a batch has at least one customer")
        .group();
    let recipients: Vec<_> = events
        .into_iter()
        .map(|mut event| {
            event.variant = group.variant.clone();
            event.into_recipient()
        })
        .collect();
    let ids: Vec<&MessageId> = recipients.iter().map(|r| &r.message_id).collect();
    SendBatch {
        contract_version: CONTRACT_VERSION,
        batch_id: BatchId::derive(&group, &ids),
        group,
        recipients,
        share_reservation: None,
        redrive: 0,
    }
}

/// The push application a sample retailer gets on `platform` (the local stack's account).
pub fn sample_push_application(tenant: &str, platform: PushPlatform) -> String {
    format!(
        "arn:aws:sns:us-east-1:123456789012:app/{}/storecast-{tenant}-{platform}",
        crate::channels::push::provider_platform(platform)
    )
}

/// A push batch of a campaign: each customer `n` with the devices given, on the push channel
/// (its own message ids), all in the first customer's variant.
pub fn sample_push_batch(
    tenant: &str,
    campaign: &str,
    customers: impl IntoIterator<Item = (u32, Vec<PushDevice>)>,
) -> SendBatch {
    let mut group = None;
    let recipients: Vec<Recipient> = customers
        .into_iter()
        .map(|(n, devices)| {
            let mut event = sample_event(tenant, campaign, n);
            event.channel = Channel::Push;
            event.message_id = MessageId::derive(
                &event.tenant_id,
                &event.campaign_id,
                &event.customer.id,
                Channel::Push,
            );
            event.customer.push_tokens = devices;
            let group = group.get_or_insert_with(|| event.group());
            event.variant = group.variant.clone();
            event.into_recipient()
        })
        .collect();
    let group = group.expect("a batch has at least one customer");
    let ids: Vec<&MessageId> = recipients.iter().map(|r| &r.message_id).collect();
    SendBatch {
        contract_version: CONTRACT_VERSION,
        batch_id: BatchId::derive(&group, &ids),
        group,
        recipients,
        redrive: 0,
        share_reservation: None,
    }
}
