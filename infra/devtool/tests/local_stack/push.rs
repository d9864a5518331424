//! The push channel's AWS adapters against the local endpoint (moto in server mode): platform
//! applications, endpoints created once per token, Publish with `MessageStructure: json` to an
//! endpoint (read back from moto's model data), a disabled endpoint, and the endpoint cache and
//! push applications on the tenants table.

use crate::support;

use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::sns::SnsPush;
use storecast::aws::sns_applications::SnsApplications;
use storecast::channels::push::{
    KnownEndpoint, OutboundPush, PushContent, PushEndpoints, PushError, PushProvider,
    endpoint_belongs_to, provider_message,
};
use storecast::directory::TenantAdmin;
use storecast::domain::{PushDevice, PushPlatform, TenantId};
use storecast::onboarding::push::{PushApplicationProvider, PushApplicationSpec, PushCredentials};
use storecast::testing::samples::sample_workspace;
use support::{TestStack, test_stack};

fn fcm_credentials() -> PushCredentials {
    PushCredentials::Fcm {
        service_account_json: serde_json::json!({
            "type": "service_account", "project_id": "alpine-app",
            "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
            "client_email": "push@alpine-app.iam.gserviceaccount.com",
        })
        .to_string(),
    }
}

/// The stack's name, which onboarding names the applications after.
fn prefix(t: &TestStack) -> String {
    t.stack.function("api").unwrap().environment["RESOURCE_PREFIX"].clone()
}

/// The retailer's FCM application, created through the adapter under the test stack's name.
async fn fcm_application(t: &TestStack, tenant: &str) -> String {
    let applications = SnsApplications::new(t.clients.sns.clone(), prefix(t));
    let spec = PushApplicationSpec {
        tenant_id: TenantId::parse(tenant).unwrap(),
        platform: PushPlatform::Fcm,
        credentials: fcm_credentials(),
    };
    applications.put_application(&spec, None).await.unwrap()
}

/// moto finds an endpoint by token across every application: tokens are unique per test.
fn device(t: &TestStack, name: &str) -> PushDevice {
    PushDevice {
        platform: PushPlatform::Fcm,
        token: format!("{}-{name}", prefix(t)),
    }
}

fn outbound(application: &str, endpoint: &str) -> OutboundPush {
    let content = PushContent {
        title: "Spring picks",
        body: "Tents are in",
        campaign_id: "spring",
        message_id: "m-1",
        deep_link: Some("https://alpine.shop.example/p/1"),
    };
    OutboundPush {
        tenant_id: TenantId::parse("alpine").unwrap(),
        platform: PushPlatform::Fcm,
        application_arn: application.into(),
        endpoint_arn: endpoint.into(),
        message: provider_message(PushPlatform::Fcm, &content).unwrap(),
    }
}

#[tokio::test]
async fn an_application_is_created_once_and_its_credentials_replaced_after() {
    let t = test_stack("push-apps").await;
    let arn = fcm_application(&t, "alpine").await;
    assert!(
        arn.ends_with(&format!(":app/GCM/{}-alpine-fcm", prefix(&t))),
        "{arn}"
    );

    let applications = SnsApplications::new(t.clients.sns.clone(), prefix(&t));
    let spec = PushApplicationSpec {
        tenant_id: TenantId::parse("alpine").unwrap(),
        platform: PushPlatform::Fcm,
        credentials: fcm_credentials(),
    };
    let again = applications
        .put_application(&spec, Some(&arn))
        .await
        .unwrap();

    assert_eq!(again, arn);
    let listed = t
        .clients
        .sns
        .list_platform_applications()
        .send()
        .await
        .unwrap();
    let ours = listed
        .platform_applications()
        .iter()
        .filter(|a| a.platform_application_arn() == Some(arn.as_str()))
        .count();
    assert_eq!(ours, 1);
}

#[tokio::test]
async fn an_endpoint_is_created_once_per_token_and_a_push_published_to_it() {
    let t = test_stack("push-publish").await;
    let application = fcm_application(&t, "alpine").await;
    let provider = SnsPush::new(storecast::aws::sns::client(&t.endpoint.sdk_config().await));
    let device = device(&t, "tok");

    let endpoint = provider.endpoint(&application, &device).await.unwrap();
    let same = provider.endpoint(&application, &device).await.unwrap();
    let id = provider
        .publish(&outbound(&application, &endpoint))
        .await
        .unwrap();

    assert_eq!(endpoint, same, "CreatePlatformEndpoint is idempotent");
    assert!(endpoint_belongs_to(&application, &endpoint));
    let pushes = t.endpoint.published_pushes().await.unwrap();
    let push = pushes
        .iter()
        .find(|p| p.message_id == id)
        .expect("moto kept the push");
    assert_eq!(push.token, device.token);
    let message: serde_json::Value = serde_json::from_str(&push.message).unwrap();
    let gcm: serde_json::Value = serde_json::from_str(message["GCM"].as_str().unwrap()).unwrap();
    assert_eq!(
        gcm["fcmV1Message"]["message"]["notification"]["body"],
        "Tents are in"
    );
    assert_eq!(gcm["fcmV1Message"]["message"]["data"]["message_id"], "m-1");
}

#[tokio::test]
async fn a_disabled_endpoint_is_reported_disabled_on_publish_and_on_lookup() {
    let t = test_stack("push-disabled").await;
    let application = fcm_application(&t, "alpine").await;
    let provider = SnsPush::new(storecast::aws::sns::client(&t.endpoint.sdk_config().await));
    let device = device(&t, "gone");
    let endpoint = provider.endpoint(&application, &device).await.unwrap();
    t.clients
        .sns
        .set_endpoint_attributes()
        .endpoint_arn(&endpoint)
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap();

    let published = provider
        .publish(&outbound(&application, &endpoint))
        .await
        .unwrap_err();
    let looked_up = provider.endpoint(&application, &device).await.unwrap_err();

    assert!(
        matches!(published, PushError::EndpointDisabled { .. }),
        "{published:?}"
    );
    assert!(
        matches!(looked_up, PushError::EndpointDisabled { .. }),
        "{looked_up:?}"
    );
}

#[tokio::test]
async fn the_endpoint_cache_and_the_push_applications_are_kept_per_tenant() {
    let t = test_stack("push-table").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let (alpine, birch) = (
        TenantId::parse("alpine").unwrap(),
        TenantId::parse("birch").unwrap(),
    );
    let device = device(&t, "cached");
    let known = KnownEndpoint {
        application_arn: "arn:aws:sns:us-east-1:123456789012:app/GCM/s-alpine-fcm".into(),
        endpoint_arn: "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/s-alpine-fcm/1".into(),
    };
    table.remember(&alpine, &device, &known).await.unwrap();

    let found = table
        .known(&alpine, std::slice::from_ref(&device))
        .await
        .unwrap();
    let foreign = table
        .known(&birch, std::slice::from_ref(&device))
        .await
        .unwrap();
    assert_eq!(found.get(&device), Some(&known));
    assert!(foreign.is_empty(), "another tenant's cache never answers");

    table
        .put_workspace(&sample_workspace("alpine", &t.sending_domain))
        .await
        .unwrap();
    assert!(
        table
            .set_push_application(&alpine, PushPlatform::Apns, "arn:app")
            .await
            .unwrap()
    );
    assert!(
        !table
            .set_push_application(&birch, PushPlatform::Apns, "arn:app")
            .await
            .unwrap(),
        "no workspace, nothing written"
    );
    let workspace = table.workspace(&alpine).await.unwrap().unwrap();
    assert_eq!(workspace.push_applications.apns.as_deref(), Some("arn:app"));
    assert!(table.workspace(&birch).await.unwrap().is_none());
}
