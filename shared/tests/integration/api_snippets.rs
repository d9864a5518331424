//! `/tenants/{tenant}/snippets`: a retailer's own snippets through the API, checked, pinned by
//! that retailer's next publish only, previewed, and out of every other retailer's reach.

use super::*;
use storecast::domain::TemplateId;
use storecast::templates::ports::TemplateStore as _;

const OWN_FOOTER: &str = "Alpine's own footer {{ unsubscribe_url }}";

async fn live_snippets(h: &Harness, tenant: &str) -> std::collections::BTreeMap<String, String> {
    h.directory
        .live_template(
            &TenantId::parse(tenant).unwrap(),
            &TemplateId::parse("welcome").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .snippets
}

async fn preview(h: &Harness, tenant: &str) -> Answer {
    h.call(
        Method::POST,
        &format!("/tenants/{tenant}/templates/welcome/preview"),
        Some(marketer(tenant)),
        Some(json!({})),
    )
    .await
}

#[tokio::test]
async fn a_retailers_snippet_is_checked_pinned_by_its_next_publish_and_no_one_elses() {
    let h = two_retailers().await;
    let uri = "/tenants/alpine/snippets/text_footer";
    let library_footer = live_snippets(&h, "alpine").await["text_footer"].clone();

    let broken = h
        .call(
            Method::PUT,
            uri,
            Some(marketer("alpine")),
            Some(json!({"source": "ok\n{{ retailer.name | }}"})),
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.body
    );
    assert_eq!(broken.body["errors"][0]["field"], "source");
    assert_eq!(broken.body["errors"][0]["line"], 2);
    assert!(
        broken.body["errors"][0]["column"].is_u64(),
        "{}",
        broken.body
    );
    let bad_name = h
        .call(
            Method::PUT,
            "/tenants/alpine/snippets/Footer",
            Some(marketer("alpine")),
            Some(json!({"source": "x"})),
        )
        .await;
    assert_eq!(
        bad_name.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_name.body
    );
    assert!(
        bad_name.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("path parameter name")),
        "{}",
        bad_name.body
    );
    let none = h
        .call(Method::GET, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(
        none.status,
        StatusCode::NOT_FOUND,
        "the broken one was not stored"
    );

    let saved = h
        .call(
            Method::PUT,
            uri,
            Some(marketer("alpine")),
            Some(json!({"source": OWN_FOOTER})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["overrides_library"], true);
    assert_eq!(saved.body["source"], OWN_FOOTER);
    let listed = h
        .call(
            Method::GET,
            "/tenants/alpine/snippets",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
    assert_eq!(listed.body[0]["name"], "text_footer");

    // Harbor reaches none of it: its own list is empty, alpine's paths are refused.
    let harbor_list = h
        .call(
            Method::GET,
            "/tenants/harbor/snippets",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(harbor_list.body, json!([]));
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"source": "stolen"}))),
        (Method::DELETE, None),
    ] {
        let answer = h
            .call(method.clone(), uri, Some(marketer("harbor")), body)
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method}");
    }
    let harbor_own = h
        .call(
            Method::GET,
            "/tenants/harbor/snippets/text_footer",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(harbor_own.status, StatusCode::NOT_FOUND);

    // Previews use it for alpine only.
    let alpine_preview = preview(&h, "alpine").await;
    assert_eq!(
        alpine_preview.status,
        StatusCode::OK,
        "{}",
        alpine_preview.body
    );
    assert!(
        alpine_preview.body["text"]
            .as_str()
            .unwrap()
            .contains("Alpine's own footer")
    );
    let harbor_preview = preview(&h, "harbor").await;
    assert!(
        !harbor_preview
            .body
            .to_string()
            .contains("Alpine's own footer")
    );

    // Each retailer's next publish pins its own union.
    assert_eq!(
        live_snippets(&h, "alpine").await["text_footer"],
        library_footer
    );
    for tenant in ["alpine", "harbor"] {
        let put = h
            .call(
                Method::PUT,
                &format!("/tenants/{tenant}/templates/welcome/variables"),
                Some(marketer(tenant)),
                Some(json!({"variables": {"headline": "Hi"}})),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    assert_eq!(live_snippets(&h, "alpine").await["text_footer"], OWN_FOOTER);
    assert_eq!(
        live_snippets(&h, "harbor").await["text_footer"],
        library_footer
    );

    let deleted = h
        .call(Method::DELETE, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = h
        .call(Method::DELETE, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_librarys_snippets_are_listed_and_shown_with_whether_the_retailer_replaces_them() {
    let h = two_retailers().await;
    let library = storecast::templates::catalog::standard().unwrap();
    let listed = h
        .call(
            Method::GET,
            "/tenants/alpine/library/snippets",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = library.snippets.keys().map(String::as_str).collect();
    assert_eq!(names, expected);
    assert!(
        listed.body.as_array().unwrap().iter().all(|s| {
            s["replaced_by_retailer"] == false
                && s["description"].as_str().is_some_and(|d| !d.is_empty())
        }),
        "{}",
        listed.body
    );

    let uri = "/tenants/alpine/library/snippets/text_footer";
    let shown = h
        .call(Method::GET, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(
        shown.body["source"],
        library.snippets["text_footer"].as_str()
    );
    assert_eq!(
        shown.body["description"],
        library.snippet_descriptions["text_footer"].as_str()
    );

    // Alpine replaces it: alpine's listing says so, harbor's does not.
    let saved = h
        .call(
            Method::PUT,
            "/tenants/alpine/snippets/text_footer",
            Some(marketer("alpine")),
            Some(json!({"source": OWN_FOOTER})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    for (tenant, replaced) in [("alpine", true), ("harbor", false)] {
        let shown = h
            .call(
                Method::GET,
                &format!("/tenants/{tenant}/library/snippets/text_footer"),
                Some(marketer(tenant)),
                None,
            )
            .await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        assert_eq!(
            shown.body["source"],
            library.snippets["text_footer"].as_str(),
            "the library's source, never a retailer's"
        );
        assert_eq!(shown.body["replaced_by_retailer"], replaced, "{tenant}");
    }

    let unknown = h
        .call(
            Method::GET,
            "/tenants/alpine/library/snippets/no_such_snippet",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let malformed = h
        .call(
            Method::GET,
            "/tenants/alpine/library/snippets/Footer",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.body
    );
    // Another retailer's path is refused like every workspace route.
    let foreign = h
        .call(Method::GET, uri, Some(marketer("harbor")), None)
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
}
