//! A retailer's push applications on in-memory adapters: created, credentials replaced, kept in
//! the workspace, never another retailer's.

use std::sync::Arc;

use serde_json::json;

use super::push::{PushApplicationRequest, PushSetup, PushSetupError};
use super::tests::{alpine_request, setup, tenant};
use super::*;
use crate::domain::PushPlatform;
use crate::testing::MemoryPushApplications;

fn fcm_request(email: &str) -> PushApplicationRequest {
    let account = json!({
        "type": "service_account",
        "project_id": "alpine-app",
        "private_key": "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n",
        "client_email": email,
    });
    PushApplicationRequest {
        service_account_json: Some(account.to_string()),
        ..Default::default()
    }
}

fn apns_request() -> PushApplicationRequest {
    serde_json::from_value(json!({
        "signing_key": "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----",
        "key_id": "ABC123DEFG",
        "team_id": "TEAM123456",
        "bundle_id": "com.alpine.app",
    }))
    .unwrap()
}

async fn onboarded(tenants: &[&str]) -> (super::tests::Setup, Arc<MemoryPushApplications>) {
    let mut setup = setup();
    let applications = Arc::new(MemoryPushApplications::default());
    setup.onboarding = Onboarding::new(
        setup.workspaces.clone(),
        setup.directory.clone(),
        OnboardingConfig {
            sending_domain: "mail.example".into(),
            unsubscribe_base_url: "https://prefs.mail.example/{tenant}/unsubscribe".into(),
        },
    )
    .with_push_applications(applications.clone());
    for id in tenants {
        let mut request = alpine_request();
        request.slug = id.to_string();
        setup
            .onboarding
            .put_tenant(&tenant(id), request)
            .await
            .unwrap();
    }
    (setup, applications)
}

#[tokio::test]
async fn given_an_onboarded_retailer_when_its_fcm_application_is_put_then_the_workspace_keeps_its_arn()
 {
    let (setup, applications) = onboarded(&["alpine"]).await;

    let workspace = setup
        .onboarding
        .put_push_application(
            &tenant("alpine"),
            PushPlatform::Fcm,
            fcm_request("a@alpine"),
        )
        .await
        .unwrap();

    let arn = workspace
        .push_applications
        .fcm
        .clone()
        .expect("an FCM application");
    assert!(arn.ends_with(":app/GCM/storecast-alpine-fcm"), "{arn}");
    assert_eq!(
        setup.onboarding.tenant(&tenant("alpine")).await.unwrap(),
        workspace
    );
    assert_eq!(applications.applications()[&arn].principal, "a@alpine");
}

#[tokio::test]
async fn given_an_application_when_put_again_then_its_credentials_are_replaced_and_the_rest_kept() {
    let (setup, applications) = onboarded(&["alpine"]).await;
    let alpine = tenant("alpine");
    let first = setup
        .onboarding
        .put_push_application(&alpine, PushPlatform::Fcm, fcm_request("old@alpine"))
        .await
        .unwrap();
    setup
        .onboarding
        .put_push_application(&alpine, PushPlatform::Apns, apns_request())
        .await
        .unwrap();

    let again = setup
        .onboarding
        .put_push_application(&alpine, PushPlatform::Fcm, fcm_request("new@alpine"))
        .await
        .unwrap();
    // Onboarding the retailer again keeps its push applications.
    setup
        .onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();

    let arn = first.push_applications.fcm.unwrap();
    assert_eq!(again.push_applications.fcm.as_deref(), Some(arn.as_str()));
    let stored = applications.applications();
    assert_eq!((stored.len(), stored[&arn].credential_sets), (2, 2));
    assert_eq!(stored[&arn].principal, "new@alpine");
    let workspace = setup.onboarding.tenant(&alpine).await.unwrap();
    assert!(workspace.push_applications.apns.is_some());
    assert_eq!(workspace.push_applications.fcm, Some(arn));
}

#[tokio::test]
async fn given_two_retailers_then_each_has_its_own_applications_and_never_the_others() {
    let (setup, applications) = onboarded(&["alpine", "birch"]).await;
    for id in ["alpine", "birch"] {
        setup
            .onboarding
            .put_push_application(&tenant(id), PushPlatform::Fcm, fcm_request(id))
            .await
            .unwrap();
    }

    let alpine = setup.onboarding.tenant(&tenant("alpine")).await.unwrap();
    let birch = setup.onboarding.tenant(&tenant("birch")).await.unwrap();
    let (a, b) = (
        alpine.push_applications.fcm.unwrap(),
        birch.push_applications.fcm.unwrap(),
    );
    assert_ne!(a, b);
    let stored = applications.applications();
    assert_eq!(stored[&a].tenant, "alpine");
    assert_eq!(stored[&b].tenant, "birch");
    assert!(birch.push_applications.apns.is_none());
}

#[tokio::test]
async fn credentials_that_do_not_fit_the_platform_name_the_field_and_create_nothing() {
    let (setup, applications) = onboarded(&["alpine"]).await;
    let alpine = tenant("alpine");
    let mut not_an_account = fcm_request("a@alpine");
    not_an_account.service_account_json = Some("{\"client_email\":\"x\"}".into());
    let mut missing_team = apns_request();
    missing_team.team_id = None;
    for (platform, request, field) in [
        (
            PushPlatform::Fcm,
            PushApplicationRequest::default(),
            "service_account_json",
        ),
        (PushPlatform::Fcm, not_an_account, "service_account_json"),
        (PushPlatform::Fcm, apns_request(), "signing_key"),
        (
            PushPlatform::Apns,
            fcm_request("a@alpine"),
            "service_account_json",
        ),
        (PushPlatform::ApnsSandbox, missing_team, "team_id"),
    ] {
        let error = setup
            .onboarding
            .put_push_application(&alpine, platform, request)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, OnboardingError::Invalid { field: f, .. } if f == field),
            "{platform}: {error:?}"
        );
    }
    assert!(applications.applications().is_empty());
}

#[tokio::test]
async fn a_retailer_not_onboarded_gets_no_application() {
    let (setup, applications) = onboarded(&[]).await;
    let error = setup
        .onboarding
        .put_push_application(&tenant("ghost"), PushPlatform::Fcm, fcm_request("g@x"))
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::NotFound), "{error:?}");
    assert!(applications.applications().is_empty());
    let setup_alone = PushSetup::new(applications, setup.directory.clone());
    let error = setup_alone
        .put(&tenant("ghost"), PushPlatform::Fcm, fcm_request("g@x"))
        .await
        .unwrap_err();
    assert!(matches!(error, PushSetupError::NotFound));
}

#[test]
fn a_requests_secrets_never_show_in_its_debug_output() {
    let shown = format!("{:?} {:?}", fcm_request("a@alpine"), apns_request());
    assert!(!shown.contains("secret"), "{shown}");
    assert!(
        shown.contains("ABC123DEFG"),
        "the key id is no secret: {shown}"
    );
}
