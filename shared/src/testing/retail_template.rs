//! A realistic retail template for benchmarks, demos and tests: the standard `weekly-offers`
//! template of `templates/` (the catalog the deploy tool publishes), read from there so there is
//! one copy.

use crate::render::TemplateSources;

/// A spring-sale email with branding, a personal greeting, six-offer grid, disclaimer and
/// unsubscribe link, plus its subject, text part and push notification.
pub fn retail_template() -> TemplateSources {
    TemplateSources {
        subject: include_str!("../../../templates/weekly-offers/subject.liquid").to_owned(),
        html: include_str!("../../../templates/weekly-offers/email.html.liquid").to_owned(),
        text: include_str!("../../../templates/weekly-offers/email.txt.liquid").to_owned(),
        push_title: Some(
            include_str!("../../../templates/weekly-offers/push_title.liquid").to_owned(),
        ),
        push_body: Some(
            include_str!("../../../templates/weekly-offers/push_body.liquid").to_owned(),
        ),
    }
}

/// The retailer's values for [`retail_template`]'s `vars`.
pub fn retail_variables() -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(map) = serde_json::json!({
        "subject_line": "our spring edit is here",
        "headline": "The spring edit",
        "preheader": "Fresh picks chosen for you, with member prices until Sunday.",
        "banner_text": "Members save up to 30% this week. Free delivery over €60.",
        "intro": "Longer days call for lighter layers. We picked these for you based on what you loved last season.",
        "brand_color": "#1f4d3a",
        "accent_color": "#e4572e",
        "logo_url": "https://cdn.example-outdoor.com/brand/logo-160.png",
        "placeholder_image": "https://cdn.example-outdoor.com/brand/placeholder-400.png",
        "store_url": "https://www.example-outdoor.com",
        "cta_label": "Shop now",
        "all_offers_label": "See the whole edit",
        "points_multiplier": 2,
        "free_shipping_threshold": 60,
        "currency": "EUR",
        "return_days": 30,
        "support_email": "help@example-outdoor.com",
        "disclaimer": "Prices include VAT. Member prices apply while stocks last and cannot be combined with other offers. Colours may differ slightly from the pictures.",
        "footer_address": "Example Outdoor GmbH, Hafenstraße 12, 20457 Hamburg, Germany",
        "push_title": "Your spring picks are in"
    }) else {
        return serde_json::Map::new();
    };
    map
}
