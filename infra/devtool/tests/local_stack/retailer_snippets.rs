//! A retailer's own snippets on the tenants table against the local endpoint (moto): keyed by
//! tenant, beside the templates in the partition without mixing with them, and pinned by that
//! retailer's next publish only.

use crate::support;

use std::sync::Arc;

use storecast::aws::dynamodb::TenantsTable;
use storecast::domain::{TemplateId, TenantId};
use storecast::templates::TemplateService;
use storecast::templates::catalog::standard;
use storecast::templates::ports::{
    RetailerSnippet, RetailerSnippetStore, TemplatePublisher, TemplateStore,
};
use support::test_stack;

fn snippet(name: &str, source: &str) -> RetailerSnippet {
    RetailerSnippet {
        name: name.into(),
        source: source.into(),
        updated_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn retailer_snippets_are_written_read_listed_and_deleted_per_tenant() {
    let t = test_stack("retailer-snippets").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    let catalog = standard().unwrap();
    let welcome = TemplateId::parse("welcome").unwrap();
    for tenant in [&alpine, &globex] {
        let version = catalog
            .template(&welcome)
            .unwrap()
            .version_for(tenant, 1, &Default::default())
            .unwrap();
        table.publish(&version, None).await.unwrap();
    }

    table
        .put_retailer_snippet(&alpine, &snippet("text_footer", "first"))
        .await
        .unwrap();
    table
        .put_retailer_snippet(
            &alpine,
            &snippet("text_footer", "Own {{ unsubscribe_url }}"),
        )
        .await
        .unwrap();
    table
        .put_retailer_snippet(&alpine, &snippet("promo", "Free returns"))
        .await
        .unwrap();

    let listed = table.retailer_snippets(&alpine).await.unwrap();
    assert_eq!(
        listed,
        [
            snippet("promo", "Free returns"),
            snippet("text_footer", "Own {{ unsubscribe_url }}")
        ],
        "by name, the template items of the partition left out"
    );
    assert!(table.retailer_snippets(&globex).await.unwrap().is_empty());
    assert_eq!(
        table.retailer_snippet(&globex, "promo").await.unwrap(),
        None
    );
    assert_eq!(
        table.live_heads(&alpine).await.unwrap().len(),
        1,
        "snippets are not live heads"
    );

    // The service on the table: alpine's next publish pins its own, globex's the library's.
    let service = TemplateService::new(
        Arc::new(table.clone()),
        Arc::new(table.clone()),
        storecast::testing::unsubscribe_signer(),
    )
    .with_retailer_snippets(Arc::new(table.clone()), catalog.snippets.clone());
    let headline = serde_json::json!({"headline": "Hi"})
        .as_object()
        .unwrap()
        .clone();
    for tenant in [&alpine, &globex] {
        service
            .set_variables(tenant, &welcome, headline.clone())
            .await
            .unwrap();
    }
    let pinned = |tenant| {
        let table = table.clone();
        let welcome = welcome.clone();
        async move {
            table
                .live_template(&tenant, &welcome)
                .await
                .unwrap()
                .unwrap()
                .snippets
        }
    };
    assert_eq!(
        pinned(alpine.clone()).await["text_footer"],
        "Own {{ unsubscribe_url }}"
    );
    assert_eq!(
        pinned(globex.clone()).await["text_footer"],
        catalog.snippets["text_footer"]
    );

    assert!(
        table
            .delete_retailer_snippet(&alpine, "promo")
            .await
            .unwrap()
    );
    assert!(
        !table
            .delete_retailer_snippet(&alpine, "promo")
            .await
            .unwrap()
    );
    assert!(
        !table
            .delete_retailer_snippet(&globex, "text_footer")
            .await
            .unwrap()
    );
    assert_eq!(table.retailer_snippets(&alpine).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_deploy_with_snippets_keeps_a_retailers_override_and_the_library_for_the_others() {
    use storecast::directory::TenantAdmin as _;
    use storecast::templates::deploy::{DeployOptions, deploy_with_snippets};
    let t = test_stack("retailer-snippets-deploy").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let catalog = standard().unwrap();
    let welcome = TemplateId::parse("welcome").unwrap();
    let alpine = storecast::testing::samples::sample_workspace("alpine", "mail.example");
    let globex = storecast::testing::samples::sample_workspace("globex", "mail.example");
    for workspace in [&alpine, &globex] {
        table.put_workspace(workspace).await.unwrap();
    }
    table
        .put_retailer_snippet(
            &alpine.tenant_id,
            &snippet("text_footer", "Own {{ unsubscribe_url }}"),
        )
        .await
        .unwrap();

    let options = DeployOptions {
        tenants: vec![alpine.tenant_id.clone(), globex.tenant_id.clone()],
        ..DeployOptions::default()
    };
    let report = deploy_with_snippets(&catalog, &table, &table, Some(&table), &options)
        .await
        .unwrap();
    assert!(report.is_success(), "{}", report.to_text());

    let pinned = |tenant: TenantId| {
        let table = table.clone();
        let welcome = welcome.clone();
        async move {
            table
                .live_template(&tenant, &welcome)
                .await
                .unwrap()
                .unwrap()
                .snippets
        }
    };
    assert_eq!(
        pinned(alpine.tenant_id.clone()).await["text_footer"],
        "Own {{ unsubscribe_url }}"
    );
    assert_eq!(
        pinned(globex.tenant_id.clone()).await["text_footer"],
        catalog.snippets["text_footer"]
    );
    let again = deploy_with_snippets(&catalog, &table, &table, Some(&table), &options)
        .await
        .unwrap();
    assert_eq!(again.published, 0, "{}", again.to_text());
}
