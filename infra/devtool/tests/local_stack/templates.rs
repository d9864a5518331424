//! Template publishing and the deploy tool against the local endpoint (moto in server mode).

use crate::support;

use std::path::PathBuf;

use storecast::aws::dynamodb::MAX_ITEMS_PER_BATCH_WRITE;
use storecast::aws::dynamodb::TenantsTable;
use storecast::directory::{TenantAdmin, WorkspaceListing};
use storecast::domain::content_hash;
use storecast::domain::{TemplateId, TemplateRef, TenantId};
use storecast::templates::deploy::{DeployOptions, deploy};
use storecast::templates::ports::{PublishResult, TemplatePublisher, TemplateStore};
use storecast::templates::{Catalog, TemplateService};
use storecast::testing::samples::{sample_template_version, sample_workspace};
use support::test_stack;

async fn table(name: &str) -> (support::TestStack, TenantsTable) {
    let t = test_stack(name).await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    (t, table)
}

fn catalog() -> Catalog {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../templates/catalog.yaml");
    Catalog::load(&path).unwrap()
}

#[tokio::test]
async fn publishing_writes_the_version_and_moves_the_live_pointer_only_from_the_expected_version() {
    let (_t, table) = table("publish").await;
    let v1 = sample_template_version("alpine", 1);
    let tenant = v1.tenant_id.clone();
    let id = v1.template.id.clone();
    assert_eq!(table.live_template(&tenant, &id).await.unwrap(), None);

    assert_eq!(
        table.publish(&v1, None).await.unwrap(),
        PublishResult::Published
    );
    assert_eq!(
        table.live_template(&tenant, &id).await.unwrap(),
        Some(v1.clone())
    );
    assert_eq!(
        table.template_version(&tenant, &v1.template).await.unwrap(),
        Some(v1.clone()),
        "the compressed version item reads back whole"
    );

    let mut v2 = v1.clone();
    v2.template.version = 2;
    v2.overrides.insert("headline".into(), "Autumn".into());
    v2.variables.insert("headline".into(), "Autumn".into());
    assert_eq!(
        table.publish(&v2, None).await.unwrap(),
        PublishResult::Conflict,
        "a live pointer exists already"
    );
    assert_eq!(
        table.publish(&v2, Some(7)).await.unwrap(),
        PublishResult::Conflict
    );
    assert_eq!(
        table.template_version(&tenant, &v2.template).await.unwrap(),
        None,
        "a refused publish writes nothing"
    );
    assert_eq!(
        table.publish(&v2, Some(1)).await.unwrap(),
        PublishResult::Published
    );
    assert_eq!(
        table.publish(&v2, Some(2)).await.unwrap(),
        PublishResult::Conflict,
        "a version is never overwritten"
    );

    let heads = table.live_heads(&tenant).await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].template, v2.template);
    assert_eq!(heads[0].content_hash, content_hash(&v2));
    assert_eq!(heads[0].overrides["headline"], "Autumn");
    let harbor = TenantId::parse("harbor").unwrap();
    assert!(table.live_heads(&harbor).await.unwrap().is_empty());
    assert_eq!(table.live_template(&harbor, &id).await.unwrap(), None);
}

#[tokio::test]
async fn bulk_publishing_writes_more_than_one_batch_of_versions_and_pointers() {
    let (_t, table) = table("publish-all").await;
    let versions: Vec<_> = (0..(2 * MAX_ITEMS_PER_BATCH_WRITE + 3))
        .map(|i| {
            let mut v = sample_template_version("alpine", 1);
            v.template.id = TemplateId::parse(format!("t{i:02}")).unwrap();
            v
        })
        .collect();

    assert!(table.publish_all(&versions).await.unwrap().is_empty());

    let tenant = TenantId::parse("alpine").unwrap();
    let heads = table.live_heads(&tenant).await.unwrap();
    assert_eq!(heads.len(), versions.len());
    for v in [&versions[0], &versions[30], versions.last().unwrap()] {
        assert_eq!(
            table
                .template_version(&tenant, &v.template)
                .await
                .unwrap()
                .as_ref(),
            Some(v)
        );
        assert_eq!(
            table
                .live_template(&tenant, &v.template.id)
                .await
                .unwrap()
                .as_ref(),
            Some(v)
        );
    }
}

#[tokio::test]
async fn bulk_publishing_never_overwrites_a_version_a_marketer_saved_meanwhile() {
    let (_t, table) = table("publish-race").await;
    let tenant = TenantId::parse("alpine").unwrap();
    let v1 = sample_template_version("alpine", 1);
    assert!(
        table
            .publish_all(std::slice::from_ref(&v1))
            .await
            .unwrap()
            .is_empty()
    );
    // The marketer's save publishes v2 after the deploy read v1 as live.
    let mut saved = sample_template_version("alpine", 2);
    saved
        .overrides
        .insert("headline".into(), serde_json::json!("Mine"));
    assert_eq!(
        table.publish(&saved, Some(1)).await.unwrap(),
        PublishResult::Published
    );
    let mut deployed = sample_template_version("alpine", 2);
    deployed
        .overrides
        .insert("headline".into(), serde_json::json!("Catalog"));

    assert_eq!(
        table
            .publish_all(std::slice::from_ref(&deployed))
            .await
            .unwrap(),
        vec![0]
    );
    assert_eq!(
        table.live_template(&tenant, &v1.template.id).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(
        table
            .template_version(&tenant, &saved.template)
            .await
            .unwrap(),
        Some(saved.clone())
    );
    // Renumbered after the save, it goes live; a stale pointer (from v1) is refused.
    deployed.template.version = 3;
    assert!(
        table
            .publish_all(&[deployed.clone()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        table.live_template(&tenant, &v1.template.id).await.unwrap(),
        Some(deployed)
    );
    let mut stale = sample_template_version("alpine", 2);
    stale.template.version = 2;
    stale.template.id = TemplateId::parse("other").unwrap();
    assert_eq!(
        table.publish_all(&[stale]).await.unwrap(),
        vec![0],
        "no v1 is live"
    );
}

#[tokio::test]
async fn deploying_the_standard_catalog_publishes_per_retailer_and_a_rerun_skips_everything() {
    let (t, table) = table("deploy").await;
    let mut alpine = sample_workspace("alpine", &t.sending_domain);
    alpine
        .settings
        .brand
        .insert("postal_address".into(), "1 Alp Road".into());
    for workspace in [
        alpine,
        sample_workspace("harbor-books", &t.sending_domain),
        sample_workspace("ghost-store", &t.sending_domain),
    ] {
        table.put_workspace(&workspace).await.unwrap();
    }
    assert_eq!(table.workspaces().await.unwrap().len(), 3);
    let catalog = catalog();

    let dry = deploy(
        &catalog,
        &table,
        &table,
        &DeployOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((dry.published, dry.retailers.len()), (0, 3));
    let alpine_id = TenantId::parse("alpine").unwrap();
    assert!(
        table.live_heads(&alpine_id).await.unwrap().is_empty(),
        "a dry run writes nothing"
    );

    let first = deploy(&catalog, &table, &table, &DeployOptions::default())
        .await
        .unwrap();
    assert!(first.is_success(), "{}", first.to_text());
    assert_eq!(
        first.published,
        5 + 5 + 4,
        "ghost-store does not get back-in-stock"
    );

    // The retailer changes a value through the service, then the catalog is deployed again.
    let service = TemplateService::new(
        std::sync::Arc::new(table.clone()),
        std::sync::Arc::new(table.clone()),
        storecast::testing::unsubscribe_signer(),
    );
    let welcome = TemplateId::parse("welcome").unwrap();
    let saved = service
        .set_variables(
            &alpine_id,
            &welcome,
            serde_json::json!({"discount_code": "ALPS15"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .await
        .unwrap();
    assert_eq!(saved.live_version, 2);
    let again = deploy(&catalog, &table, &table, &DeployOptions::default())
        .await
        .unwrap();
    assert!(again.is_success());
    assert_eq!(again.published, 0, "{}", again.to_text());

    let live = table
        .live_template(&alpine_id, &welcome)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        live.template,
        TemplateRef {
            id: welcome.clone(),
            version: 2
        }
    );
    assert_eq!(live.variables["discount_code"], "ALPS15");
    let preview = service
        .preview(
            &table.workspaces().await.unwrap()[0],
            &welcome,
            Default::default(),
        )
        .await
        .unwrap();
    assert!(preview.html.contains("ALPS15"));
    assert!(preview.html.contains("1 Alp Road"), "brand.postal_address");
    assert_eq!(
        live.snippets,
        catalog.template(&welcome).unwrap().snippets,
        "the pinned snippets read back whole"
    );
    assert!(
        preview.text.contains("1 Alp Road\nUnsubscribe: https://"),
        "the text footer snippet: {}",
        preview.text
    );
}

/// The standard catalog with its text footer edited.
fn catalog_with_text_footer(footer: &str) -> Catalog {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let yaml = std::fs::read_to_string(root.join("catalog.yaml")).unwrap();
    Catalog::parse(&yaml, |path| match path {
        "snippets/text_footer.liquid" => Ok(footer.to_owned()),
        _ => std::fs::read_to_string(root.join(path)),
    })
    .unwrap()
}

#[tokio::test]
async fn a_snippet_edit_republishes_the_templates_using_it_and_published_versions_keep_theirs() {
    let (t, table) = table("snippets").await;
    table
        .put_workspace(&sample_workspace("alpine", &t.sending_domain))
        .await
        .unwrap();
    let catalog = catalog();
    let first = deploy(&catalog, &table, &table, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(first.published, 5, "{}", first.to_text());

    let edited = catalog_with_text_footer("--\nSee you soon, {{ retailer.name }}.");
    let second = deploy(&edited, &table, &table, &DeployOptions::default())
        .await
        .unwrap();

    assert!(second.is_success(), "{}", second.to_text());
    let report = &second.retailers[0];
    assert_eq!(
        report.unchanged,
        [TemplateId::parse("weekly-offers").unwrap()],
        "the one template without the text footer"
    );
    assert_eq!(report.changed.len(), 4);
    let alpine = TenantId::parse("alpine").unwrap();
    let welcome = TemplateId::parse("welcome").unwrap();
    let pinned = table
        .template_version(
            &alpine,
            &TemplateRef {
                id: welcome.clone(),
                version: 1,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pinned.snippets["text_footer"], catalog.snippets["text_footer"],
        "version 1 keeps the footer it was published with"
    );
    let live = table
        .live_template(&alpine, &welcome)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.template.version, 2);
    assert_eq!(
        live.snippets["text_footer"],
        "--\nSee you soon, {{ retailer.name }}."
    );
}
