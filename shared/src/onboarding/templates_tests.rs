//! Onboarding publishes the standard templates to a retailer it creates.

use std::sync::Arc;

use super::tests::{self, alpine_request, setup, tenant};
use super::*;
use crate::templates::catalog::{Catalog, standard};
use crate::templates::ports::TemplatePublisher;

fn with_standard_templates(setup: &tests::Setup) -> Onboarding {
    Onboarding::new(
        setup.workspaces.clone(),
        setup.directory.clone(),
        OnboardingConfig {
            sending_domain: "mail.example".into(),
            unsubscribe_base_url: "https://prefs.mail.example/{tenant}/unsubscribe".into(),
        },
    )
    .with_standard_templates(StandardTemplates {
        catalog: Arc::new(standard().unwrap()),
        publisher: setup.directory.clone(),
    })
}

#[test]
fn the_catalog_compiled_into_the_binary_is_the_one_in_the_repository() {
    let files = Catalog::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/catalog.yaml"),
    )
    .unwrap();
    assert_eq!(standard().unwrap(), files);
}

#[tokio::test]
async fn a_new_retailer_gets_every_standard_template_live_and_a_re_put_publishes_nothing_new() {
    let setup = setup();
    let onboarding = with_standard_templates(&setup);
    let alpine = tenant("alpine");
    let (_, created) = onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    assert!(created);
    let catalog = standard().unwrap();
    let heads = setup.directory.live_heads(&alpine).await.unwrap();
    let mut live: Vec<String> = heads.iter().map(|h| h.template.id.to_string()).collect();
    live.sort();
    let mut expected: Vec<String> = catalog
        .for_tenant(&alpine)
        .map(|t| t.id.to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(live, expected);
    assert!(heads.iter().all(|h| h.template.version == 1), "{heads:?}");

    onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let again = setup.directory.live_heads(&alpine).await.unwrap();
    assert!(
        again.iter().all(|h| h.template.version == 1),
        "a re-PUT publishes nothing"
    );
    assert!(
        setup
            .directory
            .live_heads(&tenant("harbor"))
            .await
            .unwrap()
            .is_empty(),
        "no other retailer got anything"
    );
}

#[tokio::test]
async fn a_retailer_onboarded_without_templates_gets_them_on_its_next_put() {
    let setup = setup();
    let alpine = tenant("alpine");
    // Onboarded by a service without the catalog (as before this change, or a failed publish).
    setup
        .onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    assert!(
        setup
            .directory
            .live_heads(&alpine)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, created) = with_standard_templates(&setup)
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    assert!(!created);
    assert!(
        !setup
            .directory
            .live_heads(&alpine)
            .await
            .unwrap()
            .is_empty()
    );
}
