//! Step 8 of the API demo: a delivered email's `List-Unsubscribe` link, followed on the local
//! API as a mailbox provider would (the confirmation page, then the one-click POST).

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use storecast::api::Role;
use storecast::domain::TenantId;

/// A delivered email's `List-Unsubscribe` link, followed as a mailbox provider does.
#[derive(Debug, Clone, Default)]
pub struct OneClick {
    /// The confirmation page (GET).
    pub page_status: u16,
    /// Whether the address was suppressed after the GET alone (it must not be).
    pub suppressed_by_page: bool,
    /// The one-click POST.
    pub post_status: u16,
    /// The entry's reason on the retailer's list afterwards (`UNSUBSCRIBED`).
    pub suppressed_as: String,
}

impl OneClick {
    pub fn worked(&self) -> bool {
        self.page_status == 200
            && !self.suppressed_by_page
            && self.post_status == 200
            && self.suppressed_as == "UNSUBSCRIBED"
    }
}

/// The path of the first `List-Unsubscribe` https link of a raw message (`/unsubscribe/...`).
/// The link's host is the deployed API's; locally the same path is served on the loopback port.
pub fn unsubscribe_path(raw: &str) -> Option<String> {
    let headers = raw.split("\r\n\r\n").next()?;
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    let value = unfolded
        .lines()
        .find_map(|line| line.strip_prefix("List-Unsubscribe:"))?;
    let url = value.trim().strip_prefix('<')?.split('>').next()?;
    let path = url.strip_prefix("https://")?.split_once('/')?.1;
    Some(format!("/{path}"))
}

/// Follows the link of the first of `emails` (raw MIME) that is `tenant`'s; nothing (a report
/// that does not reconcile) when none is.
pub async fn follow_first(base: &str, emails: &[&str], tenant: &TenantId) -> Result<OneClick> {
    let marker = format!("/unsubscribe/{tenant}/");
    match emails
        .iter()
        .find(|raw| unsubscribe_path(raw).is_some_and(|path| path.starts_with(&marker)))
    {
        Some(raw) => follow(base, raw, tenant).await,
        None => Ok(OneClick::default()),
    }
}

pub async fn follow(base: &str, raw: &str, tenant: &TenantId) -> Result<OneClick> {
    let path =
        unsubscribe_path(raw).context("a delivered email without a List-Unsubscribe link")?;
    let http = reqwest::Client::new();
    let token = crate::local::auth::mint(Role::Marketer, Some(tenant), 3600)?;
    let unsubscribed = || async {
        let response = http
            .get(format!("{base}/tenants/{tenant}/suppressions?limit=1000"))
            .bearer_auth(&token)
            .send()
            .await?;
        let status = response.status();
        ensure!(status == 200, "listing suppressions: HTTP {status}");
        let list: Value = response.json().await?;
        Ok::<_, anyhow::Error>(
            list["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["reason"] == "UNSUBSCRIBED")
                .map(|e| e["reason"].as_str().unwrap_or_default().to_string()),
        )
    };
    let page = http.get(format!("{base}{path}")).send().await?;
    let page_status = page.status().as_u16();
    let suppressed_by_page = unsubscribed().await?.is_some();
    let post = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await?;
    Ok(OneClick {
        page_status,
        suppressed_by_page,
        post_status: post.status().as_u16(),
        suppressed_as: unsubscribed().await?.unwrap_or_default(),
    })
}
