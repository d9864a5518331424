//! `/unsubscribe/{tenant}/{token}`: the public one-click unsubscribe routes (RFC 8058), with no
//! login or cookie. The signed token is what authorizes: it verifies only for the tenant in the
//! path ([`crate::deliverability::unsubscribe`]).
//!
//! - `GET` shows a confirmation page with a button and changes nothing: link scanners and mail
//!   clients prefetch URLs.
//! - `POST` with the body `List-Unsubscribe=One-Click` (urlencoded, as mailbox providers send it,
//!   or multipart; the page's button sends the same) unsubscribes at once and answers 200 with a
//!   short page, never a redirect. Repeating it is harmless.
//!
//! A refused token is a problem detail (400 malformed, 403 not ours or another retailer's, 410
//! expired), counted (`UnsubscribeRefused`) and logged with its reason, never with the token.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::ApiState;
use super::problem::Problem;
use crate::deliverability::unsubscribe::{TokenError, UnsubscribeError};
use crate::domain::TenantId;
use crate::metrics::Metrics;

/// The form field and value RFC 8058 prescribes for the one-click POST.
pub const ONE_CLICK_FIELD: &str = "List-Unsubscribe";
pub const ONE_CLICK_VALUE: &str = "One-Click";

/// The confirmation page: what it would do, and a button that POSTs the one-click form back to
/// this same URL. Nothing changes until the button is pressed.
#[utoipa::path(
    get,
    path = "/unsubscribe/{tenant}/{token}",
    tag = "unsubscribe",
    security(()),
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer whose mail it is"),
        ("token" = String, Path, description = "The signed token from the message's link"),
    ),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 403, description = "The link is not one of ours, or another retailer's", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link has expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_page(
    Path((tenant, token)): Path<(String, String)>,
    State(state): State<ApiState>,
) -> Result<Response, Problem> {
    let tenant = path_tenant(tenant)?;
    let claim = state
        .unsubscribes
        .inspect(&tenant, &token)
        .map_err(|e| refused(&tenant, e))?;
    Ok(page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop marketing email to <strong>{}</strong>?</p>\
             <form method=\"post\">\
             <input type=\"hidden\" name=\"{ONE_CLICK_FIELD}\" value=\"{ONE_CLICK_VALUE}\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            escape_html(&mask_address(&claim.address))
        ),
    ))
}

/// One-click unsubscribe: suppresses the link's recipient for this retailer at once.
#[utoipa::path(
    post,
    path = "/unsubscribe/{tenant}/{token}",
    tag = "unsubscribe",
    security(()),
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer whose mail it is"),
        ("token" = String, Path, description = "The signed token from the message's link"),
    ),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`List-Unsubscribe=One-Click` (also accepted as multipart/form-data)"),
    responses(
        (status = 200, description = "Unsubscribed (also when already unsubscribed)", content_type = "text/html", body = String),
        (status = 403, description = "The link is not one of ours, or another retailer's", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link has expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn one_click(
    Path((tenant, token)): Path<(String, String)>,
    State(state): State<ApiState>,
    request: Request,
) -> Result<Response, Problem> {
    let tenant = path_tenant(tenant)?;
    if !is_one_click(request, &state).await? {
        return Err(Problem::bad_request(format!(
            "the body must be the form {ONE_CLICK_FIELD}={ONE_CLICK_VALUE}"
        )));
    }
    let done = state
        .unsubscribes
        .unsubscribe(&tenant, &token)
        .await
        .map_err(|e| refused(&tenant, e))?;
    if done.newly_added {
        count(&tenant, "Unsubscribed");
    }
    Ok(page(
        StatusCode::OK,
        "Unsubscribed",
        &format!(
            "<p><strong>{}</strong> will get no more marketing email from this sender.</p>",
            escape_html(&mask_address(&done.claim.address))
        ),
    ))
}

fn path_tenant(tenant: String) -> Result<TenantId, Problem> {
    TenantId::parse(tenant).map_err(|e| Problem::bad_request(format!("path parameter tenant: {e}")))
}

/// Whether the body is the one-click form, urlencoded or multipart.
async fn is_one_click(request: Request, state: &ApiState) -> Result<bool, Problem> {
    let unreadable =
        |detail: String| Problem::new(StatusCode::BAD_REQUEST, "unreadable-body", detail);
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| unreadable(e.body_text()))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| unreadable(e.body_text()))?
        {
            if field.name() == Some(ONE_CLICK_FIELD) {
                let value = field.text().await.map_err(|e| unreadable(e.body_text()))?;
                return Ok(value.trim() == ONE_CLICK_VALUE);
            }
        }
        return Ok(false);
    }
    let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
        .await
        .map_err(|e| unreadable(e.body_text()))?;
    Ok(fields
        .iter()
        .any(|(name, value)| name == ONE_CLICK_FIELD && value.trim() == ONE_CLICK_VALUE))
}

fn refused(tenant: &TenantId, error: UnsubscribeError) -> Problem {
    let token = match error {
        UnsubscribeError::Token(token) => token,
        other => return Problem::from_retryable(&other),
    };
    tracing::warn!(tenant_id = %tenant, reason = token.as_str(), "unsubscribe link refused");
    count(tenant, "UnsubscribeRefused");
    let (status, kind) = match token {
        TokenError::Malformed => (StatusCode::BAD_REQUEST, "unsubscribe-link-malformed"),
        TokenError::Expired => (StatusCode::GONE, "unsubscribe-link-expired"),
        TokenError::UnknownKey | TokenError::BadSignature | TokenError::WrongTenant => {
            (StatusCode::FORBIDDEN, "unsubscribe-link-invalid")
        }
    };
    Problem::new(status, kind, token.to_string())
}

/// One EMF line per event: an API request is its own invocation.
fn count(tenant: &TenantId, name: &'static str) {
    let metrics = Metrics::new(super::FUNCTION_NAME);
    metrics.add(tenant.as_str(), name, 1.0);
    if let Err(error) = metrics.flush(&mut std::io::stdout().lock()) {
        tracing::warn!(%error, "could not write metrics");
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape_html(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'"),
    );
    response
}

/// `zoe@example.com` as `z**@example.com`: enough for the recipient to recognise, little for
/// anyone the link was forwarded to.
fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}**@{domain}")
        }
        None => "**".into(),
    }
}

/// The five characters that matter in HTML text and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_an_address_is_shown_as_text() {
        let shown = escape_html(&mask_address("<script>@\"x\".example"));
        assert_eq!(shown, "&lt;**@&quot;x&quot;.example");
        assert_eq!(mask_address("zoe@example.com"), "z**@example.com");
    }
}
