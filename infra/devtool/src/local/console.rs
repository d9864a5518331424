//! The console beside the local API, on the same loopback origin: its built files
//! (`console/dist`) under `/console/`, its runtime configuration (`/console/config.json`), and a
//! development sign-in (`POST /local/sign-in`) that mints the tokens `storecast-dev token`
//! prints. Only the dev tool serves these; the Lambda router never has them.

use std::path::{Component, Path, PathBuf};

use axum::Router;
use axum::extract::{Json, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use storecast::api::{Problem, Role};
use storecast::domain::TenantId;

pub const CONSOLE_PREFIX: &str = "/console";
pub const SIGN_IN_PATH: &str = "/local/sign-in";
/// Where the console's build is, relative to the repository root (`make console-build`).
pub const DEFAULT_DIST: &str = "console/dist";
/// How long a development sign-in lasts.
const SESSION_SECONDS: i64 = 8 * 3600;

/// What the console needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct ConsoleSite {
    pub dist: PathBuf,
    /// The exports bucket, where campaigns' audience exports are (the console pre-fills it).
    pub exports_bucket: String,
}

/// `api` (the marketer API with its authorizer) behind the console's routes: the console's
/// files and the development sign-in first, everything else to the API.
pub fn with_console(api: Router, site: ConsoleSite) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/console/") }))
        .route(
            CONSOLE_PREFIX,
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/config.json", get(config))
        .route("/console/{*path}", get(file))
        .route("/console/", get(file))
        .route(SIGN_IN_PATH, post(sign_in))
        .with_state(site)
        .fallback_service(api)
}

async fn config(State(site): State<ConsoleSite>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "api_base": "",
            "sign_in": {"kind": "local", "path": SIGN_IN_PATH},
            "exports_bucket": site.exports_bucket,
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    role: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// A development token for any role and retailer: no password, as `storecast-dev token`.
async fn sign_in(Json(request): Json<SignIn>) -> Response {
    let Some(role) = Role::from_claim(&request.role) else {
        return Problem::invalid_field(
            "role",
            "one of marketer, operator, data_scientist, service",
        )
        .into_response();
    };
    let tenant = match request.tenant.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(tenant) => match TenantId::parse(tenant) {
            Ok(tenant) => Some(tenant),
            Err(error) => {
                return Problem::invalid_field("tenant", error.to_string()).into_response();
            }
        },
    };
    match crate::local::auth::mint(role, tenant.as_ref(), SESSION_SECONDS) {
        Ok(token) => Json(json!({
            "token": token,
            "role": role.claim(),
            "tenant": tenant.as_ref().map(TenantId::as_str),
            "expires_in": SESSION_SECONDS,
        }))
        .into_response(),
        Err(error) => Problem::invalid_field("tenant", error.to_string()).into_response(),
    }
}

/// A file of the build; a path without one (the app's own routes) is the app's page.
async fn file(State(site): State<ConsoleSite>, uri: Uri) -> Response {
    let relative = uri
        .path()
        .strip_prefix("/console/")
        .unwrap_or_default()
        .to_string();
    let Some(path) = safe_join(&site.dist, &relative) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = if relative.is_empty() || !path.is_file() {
        site.dist.join("index.html")
    } else {
        path
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let immutable = relative.starts_with("assets/");
            let cache = if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type(&path)),
                    (header::CACHE_CONTROL, cache),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "The console is not built ({} is missing): run `make console-build`.\n",
                site.dist.join("index.html").display()
            ),
        )
            .into_response(),
    }
}

/// `relative` under `root`, or nothing when it would leave it.
fn safe_join(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => path.push(part),
            _ => return None,
        }
    }
    Some(path)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    fn site(dist: &Path) -> Router {
        let api = Router::new().fallback(|| async { (StatusCode::IM_A_TEAPOT, "the API") });
        with_console(
            api,
            ConsoleSite {
                dist: dist.to_path_buf(),
                exports_bucket: "exports".into(),
            },
        )
    }

    async fn call(app: Router, method: &str, path: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn sign_in_mints_a_development_token_for_the_role_and_retailer() {
        let app = site(Path::new("/nonexistent"));
        let (status, body) = call(
            app.clone(),
            "POST",
            SIGN_IN_PATH,
            r#"{"role": "marketer", "tenant": "alpine"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let claims = crate::local::auth::verify(answer["token"].as_str().unwrap()).unwrap();
        let caller = storecast::api::Caller::from_claims(&claims).unwrap();
        assert_eq!(caller.role, Role::Marketer);
        assert_eq!(caller.tenant, Some(TenantId::parse("alpine").unwrap()));

        let (status, body) = call(app.clone(), "POST", SIGN_IN_PATH, r#"{"role": "boss"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = call(app, "POST", SIGN_IN_PATH, r#"{"role": "marketer"}"#).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a marketer needs a retailer"
        );
    }

    #[tokio::test]
    async fn the_console_routes_come_first_and_everything_else_reaches_the_api() {
        let dist = std::env::temp_dir().join(format!("console-dist-{}", std::process::id()));
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(dist.join("index.html"), "<!doctype html>app").unwrap();
        std::fs::write(dist.join("assets/app.js"), "run()").unwrap();
        let app = site(&dist);
        assert_eq!(
            call(app.clone(), "GET", "/console/", "").await.1,
            "<!doctype html>app"
        );
        assert_eq!(
            call(app.clone(), "GET", "/console/campaigns", "").await.1,
            "<!doctype html>app",
            "the app's own routes get its page"
        );
        assert_eq!(
            call(app.clone(), "GET", "/console/assets/app.js", "")
                .await
                .1,
            "run()"
        );
        let (_, config) = call(app.clone(), "GET", "/console/config.json", "").await;
        assert!(config.contains(r#""exports_bucket":"exports""#), "{config}");
        let (status, body) = call(app.clone(), "GET", "/tenants/alpine", "").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::IM_A_TEAPOT, "the API")
        );
        std::fs::remove_dir_all(&dist).unwrap();
        let (status, body) = call(app, "GET", "/console/", "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("make console-build"));
    }

    #[test]
    fn paths_that_leave_the_build_are_refused() {
        let root = Path::new("/srv/dist");
        assert_eq!(
            safe_join(root, "assets/index-1.js"),
            Some(PathBuf::from("/srv/dist/assets/index-1.js"))
        );
        assert_eq!(safe_join(root, "../secret"), None);
        assert_eq!(safe_join(root, "assets/../../secret"), None);
        assert_eq!(safe_join(root, "/etc/passwd"), None);
    }

    #[test]
    fn scripts_and_pages_get_their_content_types() {
        assert_eq!(
            content_type(Path::new("a/index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("assets/x.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
