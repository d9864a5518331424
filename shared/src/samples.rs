//! Sample retailers, templates and campaign events: for the demo, the benchmarks and tests.

use crate::domain::{
    BatchId, CONTRACT_VERSION, CampaignEvent, CampaignId, CampaignStatus, Channel, Customer,
    CustomerId, MessageId, Offer, SendBatch, TemplateId, TemplateRef, TemplateVersion, TenantId,
    TenantStatus, TenantWorkspace, VariantId,
};
use crate::error::StoreError;
use crate::ports::TenantAdmin;
use crate::render::value::RenderValue;

pub const SAMPLE_TEMPLATE_ID: &str = "weekly-picks";

/// A retailer's workspace as onboarding would provision it.
pub fn sample_workspace(tenant: &str, sending_domain: &str) -> TenantWorkspace {
    TenantWorkspace {
        tenant_id: TenantId::parse(tenant).expect("sample tenant ids are valid"),
        slug: tenant.to_string(),
        display_name: display_name(tenant),
        configuration_set: format!("storecast-{tenant}"),
        ses_tenant: format!("storecast-{tenant}"),
        from_address: TenantWorkspace::from_address_for(tenant, sending_domain),
        status: TenantStatus::Active,
        unsubscribe_base_url: format!("https://prefs.{sending_domain}/{tenant}/unsubscribe"),
        settings: Default::default(),
    }
}

fn display_name(tenant: &str) -> String {
    tenant
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The standard retail template, published for one retailer with its own variable values.
pub fn sample_template_version(tenant: &str, version: u32) -> TemplateVersion {
    let sources = crate::render::sample::retail_template();
    // The template's defaults, with this retailer's own values over them.
    let mut variables = crate::render::sample::retail_variables();
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
    }
}

fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

const FIRST_NAMES: &[&str] = &["Ann", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana"];
const ITEMS: &[(&str, f64)] = &[
    ("Trail tent 2P", 189.0),
    ("Down jacket", 149.5),
    ("Merino socks", 19.9),
    ("Headlamp 400lm", 39.0),
    ("Water filter", 44.95),
    ("Camp stove", 64.0),
    ("Rain shell", 129.0),
    ("Sleeping pad", 89.0),
];

/// Customer `n` of a campaign: deterministic, some without a first name (templates must cope).
pub fn sample_event(tenant: &str, campaign: &str, n: u32) -> CampaignEvent {
    let tenant_id = TenantId::parse(tenant).expect("sample tenant ids are valid");
    let campaign_id = CampaignId::parse(campaign).expect("sample campaign ids are valid");
    let customer_id = CustomerId::parse(format!("cust-{n:07}")).expect("valid");
    let mut fields = serde_json::Map::new();
    if !n.is_multiple_of(7) {
        fields.insert(
            "first_name".into(),
            FIRST_NAMES[n as usize % FIRST_NAMES.len()].into(),
        );
    }
    fields.insert(
        "loyalty_tier".into(),
        ["bronze", "silver", "gold"][n as usize % 3].into(),
    );
    fields.insert("points".into(), (n * 37 % 5000).into());
    let offers = (0..6)
        .map(|i| {
            let (title, price) = ITEMS[(n as usize + i) % ITEMS.len()];
            Offer {
                item_id: format!("sku-{}", (n as usize + i) % ITEMS.len()),
                title: title.to_string(),
                url: format!(
                    "https://{tenant}.shop.example/p/{}",
                    (n as usize + i) % ITEMS.len()
                ),
                image_url: Some(format!("https://cdn.example/{tenant}/{i}.jpg")),
                price,
                sale_price: (i % 2 == 0).then(|| (price * 0.8 * 100.0).round() / 100.0),
                currency: "EUR".into(),
                valid_until: Some(time::macros::datetime!(2026-12-24 23:59:59 UTC)),
            }
        })
        .collect();
    CampaignEvent {
        contract_version: CONTRACT_VERSION,
        message_id: MessageId::derive(&tenant_id, &campaign_id, &customer_id, Channel::Email),
        tenant_id,
        campaign_id,
        variant: VariantId::parse(if n.is_multiple_of(2) { "A" } else { "B" }).expect("valid"),
        channel: Channel::Email,
        template: TemplateRef {
            id: TemplateId::parse(SAMPLE_TEMPLATE_ID).expect("valid"),
            version: 1,
        },
        customer: Customer {
            email: Some(format!("customer{n}@{tenant}.customers.example")),
            push_token: None,
            id: customer_id,
            fields: serde_json::from_value::<RenderValue>(serde_json::Value::Object(fields))
                .expect("JSON objects are render values"),
        },
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
    let events: Vec<_> = customers
        .into_iter()
        .map(|n| sample_event(tenant, campaign, n))
        .collect();
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
    }
}
