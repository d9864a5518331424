//! Onboarding and the frequency cap's contact history against the local endpoint (moto in
//! server mode), through the real SDK. moto's SES v2 has configuration sets but no tenants,
//! associations, event destinations or sending options: those requests are tested with
//! request-level mocks in `storecast::aws::ses_workspaces`.

use crate::support;

use std::sync::Arc;

use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::ses_workspaces::{SesWorkspaceConfig, SesWorkspaces, TENANT_TAG};
use storecast::campaigns::ContactHistory;
use storecast::deliverability::frequency_cap::{ContactLedger, ContactScope, ContactTake};
use storecast::directory::DeliveryDirectory;
use storecast::directory::{SlugClaim, TenantAdmin, WorkspaceListing, WorkspacePage};
use storecast::domain::{CampaignId, Channel, CustomerId, FrequencyCap, TenantId, TenantStatus};
use storecast::onboarding::{
    Onboarding, OnboardingConfig, OnboardingError, TenantRequest, WorkspaceSpec,
};
use storecast::testing::MemorySendingWorkspaces;
use support::{TestStack, test_stack};

fn tenants(t: &TestStack) -> TenantsTable {
    TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    )
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

#[tokio::test]
async fn slugs_are_claimed_once_across_tenants_and_again_by_their_owner() {
    let t = test_stack("slugs").await;
    let table = tenants(&t);
    assert_eq!(
        table.claim_slug("alpine", &tenant("alpine")).await.unwrap(),
        SlugClaim::Claimed
    );
    assert_eq!(
        table.claim_slug("alpine", &tenant("alpine")).await.unwrap(),
        SlugClaim::Claimed,
        "the owner may claim it again"
    );
    assert_eq!(
        table
            .claim_slug("alpine", &tenant("copycat"))
            .await
            .unwrap(),
        SlugClaim::Taken {
            owner: tenant("alpine")
        }
    );
    assert_eq!(
        table
            .claim_slug("copycat", &tenant("copycat"))
            .await
            .unwrap(),
        SlugClaim::Claimed
    );
}

#[tokio::test]
async fn onboarding_writes_a_workspace_delivery_reads_and_refuses_a_taken_slug() {
    let t = test_stack("onboarding").await;
    let table = Arc::new(tenants(&t));
    let workspaces = Arc::new(MemorySendingWorkspaces::new(
        "storecast-test",
        &t.sending_domain,
    ));
    let onboarding = Onboarding::new(
        workspaces.clone(),
        table.clone(),
        OnboardingConfig {
            sending_domain: t.sending_domain.clone(),
            unsubscribe_base_url: "https://prefs.example/{tenant}/unsubscribe".into(),
        },
    )
    .with_standard_templates(storecast::onboarding::StandardTemplates {
        catalog: Arc::new(storecast::templates::catalog::standard().unwrap()),
        publisher: table.clone(),
    });
    let alpine = tenant("alpine");
    assert!(table.workspace(&alpine).await.unwrap().is_none());
    let request: TenantRequest = serde_json::from_value(serde_json::json!({
        "display_name": "Alpine Outfitters",
        "slug": "alpine",
        "settings": {"timezone": "Europe/Zurich",
                     "frequency_cap": {"max_messages": 3, "window_days": 7},
                     "brand": {"logo": "https://cdn/alpine.png"}}
    }))
    .unwrap();
    let (workspace, created) = onboarding
        .put_tenant(&alpine, request.clone())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        table.workspace(&alpine).await.unwrap().as_ref(),
        Some(&workspace)
    );
    let heads = storecast::templates::ports::TemplatePublisher::live_heads(table.as_ref(), &alpine)
        .await
        .unwrap();
    assert_eq!(
        heads.len(),
        storecast::templates::catalog::standard()
            .unwrap()
            .for_tenant(&alpine)
            .count(),
        "the standard templates are live at once"
    );
    let context = table
        .delivery_context(&alpine, &CampaignId::parse("c1").unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(context.workspace.as_ref(), Some(&workspace));

    let (_, created) = onboarding
        .put_tenant(&alpine, request.clone())
        .await
        .unwrap();
    assert!(!created);
    let error = onboarding
        .put_tenant(&tenant("copycat"), request)
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::Conflict(_)), "{error:?}");

    let suspended = onboarding.suspend(&alpine).await.unwrap();
    assert_eq!(suspended.status, TenantStatus::Suspended);
    assert_eq!(
        table.workspace(&alpine).await.unwrap().unwrap().status,
        TenantStatus::Suspended
    );
    onboarding.reinstate(&alpine).await.unwrap();
    assert_eq!(
        table.workspace(&alpine).await.unwrap().unwrap().status,
        TenantStatus::Active
    );
}

#[tokio::test]
async fn the_registry_lists_workspaces_a_page_at_a_time_in_tenant_order() {
    let t = test_stack("workspace-pages").await;
    let table = Arc::new(tenants(&t));
    let onboarding = Onboarding::new(
        Arc::new(MemorySendingWorkspaces::new(
            "storecast-test",
            &t.sending_domain,
        )),
        table.clone(),
        OnboardingConfig {
            sending_domain: t.sending_domain.clone(),
            unsubscribe_base_url: "https://prefs.example/{tenant}/unsubscribe".into(),
        },
    );
    for id in ["harbor", "alpine", "cove"] {
        let request: TenantRequest = serde_json::from_value(serde_json::json!({
            "display_name": id, "slug": id, "settings": {"timezone": "Europe/Berlin"}
        }))
        .unwrap();
        onboarding.put_tenant(&tenant(id), request).await.unwrap();
    }
    onboarding.suspend(&tenant("harbor")).await.unwrap();
    let ids = |page: &WorkspacePage| -> Vec<String> {
        page.workspaces
            .iter()
            .map(|w| w.tenant_id.to_string())
            .collect()
    };

    let first = table.workspace_page(None, 2).await.unwrap();
    assert_eq!(ids(&first), ["alpine", "cove"]);
    assert_eq!(first.next_after, Some(tenant("cove")));
    let last = table
        .workspace_page(first.next_after.as_ref(), 2)
        .await
        .unwrap();
    assert_eq!(ids(&last), ["harbor"]);
    assert_eq!(last.workspaces[0].status, TenantStatus::Suspended);
    assert_eq!(last.next_after, None);
    let whole = table.workspace_page(None, 3).await.unwrap();
    assert_eq!(ids(&whole), ["alpine", "cove", "harbor"]);
    assert_eq!(
        whole.next_after, None,
        "exactly a page: no empty page after it"
    );
}

#[tokio::test]
async fn contact_history_counts_per_tenant_and_channel_over_many_batches_and_takes_idempotently() {
    let t = test_stack("contacts").await;
    let table = tenants(&t);
    let alpine = tenant("alpine");
    let harbor = tenant("harbor");
    let spring = CampaignId::parse("spring").unwrap();
    let summer = CampaignId::parse("summer").unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let customers: Vec<CustomerId> = (0..230)
        .map(|i| CustomerId::parse(format!("c{i}")).unwrap())
        .collect();
    // Delivery's takes record the contacts (`take`: a cap this wide never refuses one).

    let three_days_ago = now - time::Duration::days(3);
    let taken = take(
        &table,
        &alpine,
        Channel::Email,
        &spring,
        &customers[0..150],
        three_days_ago,
    )
    .await;
    assert!(taken.iter().all(|t| *t == ContactTake::Taken));
    // Taken again (a redelivery): still one contact.
    let again = take(
        &table,
        &alpine,
        Channel::Email,
        &spring,
        &customers[0..150],
        three_days_ago,
    )
    .await;
    assert!(again.iter().all(|t| *t == ContactTake::AlreadyHeld));
    take(
        &table,
        &alpine,
        Channel::Email,
        &summer,
        &customers[100..230],
        now,
    )
    .await;
    take(
        &table,
        &harbor,
        Channel::Email,
        &spring,
        &customers[0..230],
        now,
    )
    .await;
    // Push is capped apart: these never count for email.
    take(
        &table,
        &alpine,
        Channel::Push,
        &harbor_push(),
        &customers[0..230],
        now,
    )
    .await;

    let autumn = CampaignId::parse("autumn").unwrap();
    let counts = table
        .recent_contacts(
            &alpine,
            Channel::Email,
            &customers,
            now - time::Duration::days(7),
            &autumn,
        )
        .await
        .unwrap();
    assert_eq!(counts.len(), 230);
    assert_eq!(counts[&customers[0]], 1);
    assert_eq!(counts[&customers[120]], 2, "spring and summer");
    assert_eq!(counts[&customers[200]], 1);

    let narrow = table
        .recent_contacts(
            &alpine,
            Channel::Email,
            &customers,
            now - time::Duration::days(1),
            &autumn,
        )
        .await
        .unwrap();
    assert!(
        !narrow.contains_key(&customers[0]),
        "spring is outside the window"
    );
    assert_eq!(narrow[&customers[120]], 1);

    let excluding_summer = table
        .recent_contacts(
            &alpine,
            Channel::Email,
            &customers[100..],
            now - time::Duration::days(7),
            &summer,
        )
        .await
        .unwrap();
    assert!(!excluding_summer.contains_key(&customers[200]));
    assert_eq!(excluding_summer[&customers[120]], 1);

    let nobody = table
        .recent_contacts(
            &tenant("citrus"),
            Channel::Email,
            &customers,
            now - time::Duration::days(90),
            &autumn,
        )
        .await
        .unwrap();
    assert!(nobody.is_empty(), "another tenant's contacts never count");

    let push = table
        .recent_contacts(
            &alpine,
            Channel::Push,
            &customers,
            now - time::Duration::days(7),
            &autumn,
        )
        .await
        .unwrap();
    assert_eq!(push.len(), 230);
    assert!(
        push.values().all(|count| *count == 1),
        "push's own contacts"
    );

    // A contact past the longest window is pruned when the customer is next taken.
    let old = CampaignId::parse("old").unwrap();
    let long_ago = now - time::Duration::days(100);
    take(
        &table,
        &alpine,
        Channel::Email,
        &old,
        &customers[0..1],
        long_ago,
    )
    .await;
    take(
        &table,
        &alpine,
        Channel::Email,
        &autumn,
        &customers[0..1],
        now,
    )
    .await;
    let item = t
        .clients
        .dynamodb
        .get_item()
        .table_name(&t.stack.table("TenantsTable").unwrap().name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("TENANT#alpine".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("CONTACTS#c0".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut campaigns: Vec<&str> = item.keys().filter_map(|k| k.strip_prefix("C#")).collect();
    campaigns.sort();
    assert_eq!(campaigns, vec!["autumn", "spring"]);
}

fn harbor_push() -> CampaignId {
    CampaignId::parse("harbor-push").unwrap()
}

/// Delivery's take of `customers`' contacts for `campaign` at `at`, under a cap so wide it never
/// refuses.
async fn take(
    table: &TenantsTable,
    tenant: &TenantId,
    channel: Channel,
    campaign: &CampaignId,
    customers: &[CustomerId],
    at: time::OffsetDateTime,
) -> Vec<ContactTake> {
    let scope = ContactScope {
        tenant,
        channel,
        campaign,
    };
    let wide = FrequencyCap {
        max_messages: 50,
        window_days: 90,
    };
    table
        .take_contacts(scope, customers, wide, at)
        .await
        .into_iter()
        .map(|answer| answer.unwrap())
        .collect()
}

#[tokio::test]
async fn ses_configuration_set_is_created_with_reputation_tls_pool_and_sending_enabled() {
    let t = test_stack("ses-workspace").await;
    // The stack's own name, so parallel tests never share a configuration set.
    let prefix = t
        .stack
        .table("TenantsTable")
        .unwrap()
        .name
        .trim_end_matches("-tenants")
        .to_string();
    let workspaces = SesWorkspaces::new(
        t.clients.sesv2.clone(),
        SesWorkspaceConfig {
            resource_prefix: prefix.clone(),
            sending_domain: t.sending_domain.clone(),
            domain_identity_arn: format!(
                "arn:aws:ses:us-east-1:123456789012:identity/{}",
                t.sending_domain
            ),
            event_bus_arn: "arn:aws:events:us-east-1:123456789012:event-bus/default".into(),
        },
    );
    let name = format!("{prefix}-alpine");
    let spec = WorkspaceSpec {
        tenant_id: tenant("alpine"),
        slug: "alpine".into(),
        sending_pool: Some("dedicated-1".into()),
    };
    workspaces
        .ensure_configuration_set(&name, &spec)
        .await
        .unwrap();
    // moto answers GetConfigurationSet with SendingOptions nested twice, which the SDK cannot
    // parse: read its JSON directly (moto routes by the credential scope, not the signature).
    let set: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v2/email/configuration-sets/{name}",
            t.endpoint.url
        ))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ses/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["ReputationOptions"]["ReputationMetricsEnabled"], true);
    assert_eq!(set["DeliveryOptions"]["SendingPoolName"], "dedicated-1");
    assert_eq!(set["DeliveryOptions"]["TlsPolicy"], "REQUIRE");
    assert_eq!(
        set["SendingOptions"]["SendingEnabled"],
        serde_json::json!({"SendingEnabled": true})
    );
    assert_eq!(
        set["Tags"],
        serde_json::json!([{"Key": TENANT_TAG, "Value": "alpine"}])
    );

    // Created once: a second provisioning finds it there (moto answers SES v1's
    // ConfigurationSetAlreadyExists, which counts as already existing) and goes on to update
    // the delivery options, which moto does not implement.
    let again = workspaces.ensure_configuration_set(&name, &spec).await;
    let listed = t
        .clients
        .sesv2
        .list_configuration_sets()
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed
            .configuration_sets()
            .iter()
            .filter(|n| **n == name)
            .count(),
        1,
        "never duplicated ({again:?})"
    );
}
