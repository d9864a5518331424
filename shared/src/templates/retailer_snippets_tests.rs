//! A retailer's own snippets: checked before they are stored, pinned from the union (the
//! retailer's over the library's) when the retailer publishes, and never seen by another retailer.

use std::sync::Arc;

use serde_json::{Map, json};

use super::retailer_snippets::{MAX_RETAILER_SNIPPET_BYTES, SnippetError};
use super::{PreviewRequest, TemplateService};
use crate::domain::{TemplateId, TenantId, TenantWorkspace};
use crate::render::CompiledTemplate;
use crate::templates::ports::{RetailerSnippetStore, TemplatePublisher, TemplateStore};
use crate::testing::samples::sample_workspace;
use crate::testing::{MemoryDirectory, MemoryRetailerSnippets};

const OWN_FOOTER: &str = "Alpine's own footer {{ unsubscribe_url }}";

struct World {
    directory: Arc<MemoryDirectory>,
    snippets: Arc<MemoryRetailerSnippets>,
    service: TemplateService,
    alpine: TenantWorkspace,
    globex: TenantWorkspace,
}

fn welcome() -> TemplateId {
    TemplateId::parse("welcome").unwrap()
}

/// `welcome` published (version 1, the library's snippets) for alpine and globex.
async fn world() -> World {
    let catalog = super::catalog::standard().unwrap();
    let directory = Arc::new(MemoryDirectory::default());
    let snippets = Arc::new(MemoryRetailerSnippets::default());
    let alpine = sample_workspace("alpine", "mail.storecast.example");
    let globex = sample_workspace("globex", "mail.storecast.example");
    for workspace in [&alpine, &globex] {
        let version = catalog
            .template(&welcome())
            .unwrap()
            .version_for(&workspace.tenant_id, 1, &Map::new())
            .unwrap();
        directory.publish(&version, None).await.unwrap();
    }
    let service = TemplateService::new(
        directory.clone(),
        directory.clone(),
        crate::testing::unsubscribe_signer(),
    )
    .with_retailer_snippets(snippets.clone(), catalog.snippets);
    World {
        directory,
        snippets,
        service,
        alpine,
        globex,
    }
}

fn headline(text: &str) -> Map<String, serde_json::Value> {
    json!({ "headline": text }).as_object().unwrap().clone()
}

async fn live(world: &World, tenant: &TenantId) -> crate::domain::TemplateVersion {
    world
        .directory
        .live_template(tenant, &welcome())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn given_an_override_then_only_that_retailers_next_publish_pins_it_and_previews_use_it() {
    let world = world().await;
    let (alpine, globex) = (&world.alpine.tenant_id, &world.globex.tenant_id);
    let library_footer = live(&world, alpine).await.snippets["text_footer"].clone();

    let saved = world
        .service
        .save_snippet(alpine, "text_footer", OWN_FOOTER.into())
        .await
        .unwrap();
    assert!(saved.overrides_library);
    // Published versions keep theirs until the retailer publishes.
    assert_eq!(
        live(&world, alpine).await.snippets["text_footer"],
        library_footer
    );
    let id = welcome();
    let preview = |workspace| {
        world
            .service
            .preview(workspace, &id, PreviewRequest::default())
    };
    assert!(
        preview(&world.alpine)
            .await
            .unwrap()
            .text
            .contains("Alpine's own footer")
    );

    world
        .service
        .set_variables(alpine, &welcome(), headline("Hi"))
        .await
        .unwrap();
    world
        .service
        .set_variables(globex, &welcome(), headline("Hi"))
        .await
        .unwrap();

    let alpine_live = live(&world, alpine).await;
    assert_eq!(alpine_live.template.version, 2);
    assert_eq!(alpine_live.snippets["text_footer"], OWN_FOOTER);
    assert!(
        alpine_live.snippets.contains_key("header"),
        "the library's others stay"
    );
    let globex_live = live(&world, globex).await;
    assert_eq!(globex_live.snippets["text_footer"], library_footer);
    let globex_preview = preview(&world.globex).await.unwrap();
    assert!(!globex_preview.text.contains("Alpine's own footer"));
    assert!(!globex_preview.html.contains("Alpine's own footer"));
    assert!(
        world.service.snippets(globex).await.unwrap().is_empty(),
        "globex lists none of alpine's"
    );
    assert!(matches!(
        world.service.snippet(globex, "text_footer").await,
        Err(SnippetError::NotFound { .. })
    ));
    // Delivery compiles what the version pinned.
    let compiled = CompiledTemplate::compile(&alpine_live).unwrap();
    assert!(compiled.has_push());
}

#[tokio::test]
async fn given_a_new_name_then_an_override_reaching_it_pins_both() {
    let world = world().await;
    let alpine = &world.alpine.tenant_id;
    let promo = world
        .service
        .save_snippet(alpine, "promo", "Free returns, {{ who }}.".into())
        .await
        .unwrap();
    assert!(!promo.overrides_library);
    world
        .service
        .save_snippet(
            alpine,
            "text_footer",
            "{% render 'promo', who: retailer.name %}".into(),
        )
        .await
        .unwrap();

    world
        .service
        .set_variables(alpine, &welcome(), headline("Hi"))
        .await
        .unwrap();

    let pinned = live(&world, alpine).await.snippets;
    assert_eq!(pinned["promo"], "Free returns, {{ who }}.");
    assert_eq!(
        pinned["text_footer"],
        "{% render 'promo', who: retailer.name %}"
    );
    let listed: Vec<_> = world
        .service
        .snippets(alpine)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.overrides_library))
        .collect();
    assert_eq!(
        listed,
        [
            ("promo".to_string(), false),
            ("text_footer".to_string(), true)
        ]
    );
}

#[tokio::test]
async fn given_a_broken_snippet_then_line_and_column_are_named_and_nothing_is_stored() {
    let world = world().await;
    let alpine = &world.alpine.tenant_id;

    let error = world
        .service
        .save_snippet(
            alpine,
            "promo",
            "line one\n{{ customer.first_name | }}".into(),
        )
        .await
        .unwrap_err();
    let SnippetError::Liquid { line, column, .. } = error else {
        panic!("{error}");
    };
    assert_eq!(line, Some(2));
    assert!(column.is_some());

    let missing = world
        .service
        .save_snippet(alpine, "promo", "{% render 'nowhere' %}".into())
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("nowhere"), "{missing}");

    for (name, source) in [
        ("Bad Name", "x".to_string()),
        ("big", "x".repeat(MAX_RETAILER_SNIPPET_BYTES + 1)),
    ] {
        assert!(matches!(
            world.service.save_snippet(alpine, name, source).await,
            Err(SnippetError::Invalid { .. })
        ));
    }
    assert!(
        world
            .snippets
            .retailer_snippets(alpine)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn given_a_deleted_override_then_the_next_publish_pins_the_library_again() {
    let world = world().await;
    let alpine = &world.alpine.tenant_id;
    let library_footer = live(&world, alpine).await.snippets["text_footer"].clone();
    world
        .service
        .save_snippet(alpine, "text_footer", OWN_FOOTER.into())
        .await
        .unwrap();
    world
        .service
        .set_variables(alpine, &welcome(), headline("Hi"))
        .await
        .unwrap();

    world
        .service
        .delete_snippet(alpine, "text_footer")
        .await
        .unwrap();
    assert!(matches!(
        world.service.delete_snippet(alpine, "text_footer").await,
        Err(SnippetError::NotFound { .. })
    ));
    assert_eq!(
        live(&world, alpine).await.snippets["text_footer"],
        OWN_FOOTER
    );
    world
        .service
        .set_variables(alpine, &welcome(), headline("Hello"))
        .await
        .unwrap();

    assert_eq!(
        live(&world, alpine).await.snippets["text_footer"],
        library_footer
    );
}

#[tokio::test]
async fn given_an_override_then_a_deploy_keeps_it_for_that_retailer_only() {
    use crate::directory::TenantAdmin as _;
    use crate::templates::deploy::{DeployOptions, deploy_with_snippets};
    let world = world().await;
    let (alpine, globex) = (&world.alpine.tenant_id, &world.globex.tenant_id);
    for workspace in [&world.alpine, &world.globex] {
        world.directory.put_workspace(workspace).await.unwrap();
    }
    let catalog = super::catalog::standard().unwrap();
    world
        .service
        .save_snippet(alpine, "text_footer", OWN_FOOTER.into())
        .await
        .unwrap();

    let report = deploy_with_snippets(
        &catalog,
        world.directory.as_ref(),
        world.directory.as_ref(),
        Some(world.snippets.as_ref()),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.is_success(), "{}", report.to_text());

    assert_eq!(
        live(&world, alpine).await.snippets["text_footer"],
        OWN_FOOTER
    );
    assert_eq!(
        live(&world, globex).await.snippets["text_footer"],
        catalog.snippets["text_footer"]
    );
    // A second deploy finds alpine's versions unchanged: the override is content, not churn.
    let again = deploy_with_snippets(
        &catalog,
        world.directory.as_ref(),
        world.directory.as_ref(),
        Some(world.snippets.as_ref()),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.published, 0, "{}", again.to_text());
}
