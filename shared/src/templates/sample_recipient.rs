//! The sample recipient a preview or a render check renders for when the marketer gives none,
//! and the workspace a render check assumes before a retailer is onboarded.

use crate::domain::{
    Customer, CustomerId, FieldValue, Offer, TenantId, TenantStatus, TenantWorkspace,
};

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
        push_applications: Default::default(),
    }
}

pub(crate) fn display_name(tenant: &str) -> String {
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

/// Customer `n` of a retailer with six offers: deterministic, some without a first name
/// (templates must cope).
pub fn sample_customer(tenant: &str, n: u32) -> (Customer, Vec<Offer>) {
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
    let offers: Vec<Offer> = (0..6)
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
    let customer = Customer {
        email: Some(format!("customer{n}@{tenant}.customers.example")),
        push_token: None,
        push_tokens: Vec::new(),
        id: customer_id,
        fields: serde_json::from_value::<FieldValue>(serde_json::Value::Object(fields))
            .expect("JSON objects are field values"),
    };
    (customer, offers)
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
