//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types as the router is built, and served at `/openapi.json`.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi};

use super::problem::PROBLEM_CONTENT_TYPE;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storecast marketer API",
        description = "Onboard retailers, customise their templates, launch campaigns, and \
                       look up which items are likely in stock. Marketers reach their own \
                       retailer only; operators onboard, suspend and reinstate retailers; data \
                       scientists (their retailer's availability configuration and lookups) \
                       and services (lookups only) reach nothing else. Errors are RFC 9457 \
                       problem details.",
        version = "1.0.0"
    ),
    components(schemas(super::problem::Problem, super::problem::FieldError)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The answers every operation may give besides its own: problem details for a bad or
/// unauthenticated request, another retailer's data, a missing resource, and failures behind
/// the API. Added once here rather than on every handler.
const COMMON_PROBLEMS: &[(&str, &str)] = &[
    ("400", "Malformed request (body or path parameter)"),
    ("401", "Missing, invalid or expired token"),
    ("403", "Not allowed for this caller or retailer"),
    ("404", "No such resource for this retailer"),
    ("413", "The body is larger than the API accepts (256 KiB)"),
    ("415", "The body is not JSON"),
    (
        "429",
        "This retailer's requests are over its limit a second; retry after `Retry-After` seconds",
    ),
    (
        "422",
        "A field's value is not acceptable; `errors` names it",
    ),
    ("500", "Failure on our side"),
    ("503", "A dependency is unavailable; retry later"),
];

pub fn add_common_problems(openapi: &mut utoipa::openapi::OpenApi) {
    let problem = || {
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "Problem",
            ))))
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let has_path_parameters = path.contains('{');
        let public = path.starts_with(super::PUBLIC_PREFIX);
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let takes_body = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.required != Some(Required::False));
            let takes_json = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.keys().any(|mime| mime.ends_with("json")));
            for (status, description) in COMMON_PROBLEMS {
                if matches!(*status, "413" | "422") && !takes_body
                    || *status == "415" && !takes_json
                {
                    continue;
                }
                // The signed link authorizes a public route: no token, no retailer check.
                if public && matches!(*status, "401" | "403" | "413" | "422" | "429") {
                    continue;
                }
                if *status == "400" && !takes_body && !has_path_parameters {
                    continue;
                }
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(*description)
                                .content(PROBLEM_CONTENT_TYPE, problem())
                                .build(),
                        )
                    });
            }
        }
    }
}
