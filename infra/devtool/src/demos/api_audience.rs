//! The API demo's audience export: each retailer's customers (addresses, some at the SES
//! mailbox simulator; consent; devices for push; a tier; offers from its catalog), with a few
//! malformed lines, written under the retailer's prefix in the exports bucket.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::demos::api_report::CARELESS_RETAILER;
use crate::local::pipeline::LocalPipeline;

/// Customer `i` of `tenant`'s export: some without consent or an address, a gold/silver/bronze
/// tier for the segment, offers from the retailer's catalog.
fn audience_row(tenant: &str, domain: &str, i: usize) -> Value {
    let email = (i % 41 != 3).then(|| customer_address(tenant, domain, i));
    let tier = ["gold", "silver", "bronze"][i % 3];
    let candidates: Vec<Value> = (0..4)
        .map(|c| {
            json!({
                "item_id": format!("sku-{}", (i * 7 + c) % 97),
                "category": (["outerwear", "boots", "tents"][(i + c) % 3]),
                "title": format!("Winter pick {}", (i + c) % 13),
                "url": format!("https://shop.{tenant}.example/p/sku-{}", (i * 7 + c) % 97),
                "image_url": format!("https://cdn.{tenant}.example/sku-{}.jpg", (i * 7 + c) % 97),
                "price": 19.5 + c as f64 * 12.0,
                "sale_price": (c == 1).then_some(14.9),
                "currency": "EUR",
                "score": 1.0 - c as f64 * 0.1
            })
        })
        .collect();
    json!({
        "id": format!("{tenant}-{i}"),
        "store_id": format!("store-{}", i % crate::demos::availability::STORES),
        "region": (["north", "south"][i % 2]),
        "email": email,
        "push_tokens": push_tokens(domain, i),
        "consent": {"email": i % 17 != 5, "push": i % 3 != 1},
        "attributes": {"first_name": format!("Customer{i}"), "tier": tier, "city": "Hamburg"},
        "candidates": candidates
    })
}

/// Customer `i`'s devices: an Android phone (FCM) for most, an iPhone (APNs) for some, both
/// for a few, none for every seventh. Tokens carry the customer domain (the stack's name), so
/// runs sharing an endpoint tell their pushes apart.
fn push_tokens(domain: &str, i: usize) -> Vec<Value> {
    let label = domain.replace('.', "-");
    let mut devices = Vec::new();
    if i.is_multiple_of(7) {
        return devices;
    }
    if i % 4 != 3 {
        devices.push(json!({"platform": "fcm", "token": format!("fcm:{label}:{i}")}));
    }
    if i % 4 == 3 || i.is_multiple_of(5) {
        // 64 hex digits, unique per run and customer.
        let digest = sha2::Sha256::digest(format!("{label}-{i}").as_bytes());
        let token: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        devices.push(json!({"platform": "apns", "token": token}));
    }
    devices
}

/// Customer `i`'s address: mostly at the retailer's customer domain, some at the SES mailbox
/// simulator (labelled with the domain, so runs sharing an endpoint tell theirs apart), whose
/// emulated events the feedback function applies: deliveries, opens and clicks, bounces,
/// complaints.
fn customer_address(tenant: &str, domain: &str, i: usize) -> String {
    let label = domain.replace('.', "-");
    let simulator = |mailbox: &str| format!("{mailbox}+{label}-{i}@simulator.amazonses.com");
    if tenant == CARELESS_RETAILER && i % 5 == 1 {
        return simulator("bounce");
    }
    match i {
        10 => simulator("suppressionlist"),
        13 => simulator("ooto"),
        _ if i % 11 == 2 => simulator("success"),
        _ if i % 97 == 50 => simulator("bounce"),
        _ if i % 67 == 6 => simulator("complaint"),
        _ => format!("customer{i}@{domain}"),
    }
}

/// Writes the export (with a few malformed lines) to the exports bucket under the retailer's
/// prefix; answers (rows, malformed rows).
pub async fn upload_audience(
    pipeline: &LocalPipeline,
    bucket: &str,
    tenant: &str,
    domain: &str,
    size: usize,
) -> Result<(u64, u64)> {
    let mut text = Vec::with_capacity(size * 900);
    let mut malformed = 0;
    for i in 0..size {
        serde_json::to_writer(&mut text, &audience_row(tenant, domain, i))?;
        text.push(b'\n');
        if i % 250 == 100 {
            text.extend_from_slice(b"{\"id\": \"half a row\n");
            malformed += 1;
        }
    }
    pipeline
        .clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(format!("{tenant}/customers.jsonl"))
        .body(text.into())
        .send()
        .await
        .context("uploading the audience export")?;
    Ok((size as u64 + malformed, malformed))
}
