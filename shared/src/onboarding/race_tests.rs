//! Races on the workspace item, on the in-memory adapter: GIVEN a concurrent writer between a
//! service's read and its write, THEN the write does not undo what the other one changed.

use serde_json::json;

use super::tests::{alpine_request, setup, tenant};
use super::*;
use crate::domain::{TenantSettings, TenantStatus};

fn patch(value: serde_json::Value) -> TenantPatch {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn a_suspend_between_a_patchs_read_and_write_stays() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.directory
        .race_next_workspace_read(|stored| stored.status = TenantStatus::Suspended);

    let patched = t
        .onboarding
        .patch_tenant(&alpine, patch(json!({"timezone": "America/New_York"})))
        .await
        .unwrap();

    let stored = t.onboarding.tenant(&alpine).await.unwrap();
    assert_eq!(
        stored.status,
        TenantStatus::Suspended,
        "the suspend is not undone"
    );
    assert_eq!(stored.settings.timezone, "America/New_York");
    assert_eq!(patched.settings, stored.settings);
}

#[tokio::test]
async fn a_settings_change_between_read_and_write_is_patched_again_not_lost() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.directory.race_next_workspace_read(|stored| {
        stored
            .settings
            .brand
            .insert("address".into(), json!("1 Main St"));
    });

    t.onboarding
        .patch_tenant(&alpine, patch(json!({"brand": {"logo": null}})))
        .await
        .unwrap();

    let brand =
        serde_json::Value::Object(t.onboarding.tenant(&alpine).await.unwrap().settings.brand);
    assert_eq!(
        brand,
        json!({"colors": {"primary": "#123456"}, "address": "1 Main St"}),
        "both the concurrent change and the patch"
    );
}

#[tokio::test]
async fn settings_that_keep_changing_are_a_conflict_after_the_attempts() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    for n in 0..PATCH_ATTEMPTS {
        t.directory.race_next_workspace_read(move |stored| {
            stored.settings.brand.insert("n".into(), json!(n));
        });
    }

    let error = t
        .onboarding
        .patch_tenant(&alpine, patch(json!({"timezone": "America/New_York"})))
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::Conflict(_)), "{error:?}");
    assert_eq!(
        t.onboarding
            .tenant(&alpine)
            .await
            .unwrap()
            .settings
            .timezone,
        "Europe/Zurich"
    );
}

#[tokio::test]
async fn a_suspend_between_a_reinstates_read_and_write_is_a_conflict_not_undone() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.onboarding.suspend(&alpine).await.unwrap();
    t.directory
        .race_next_workspace_read(|stored| stored.status = TenantStatus::Paused);

    let error = t.onboarding.reinstate(&alpine).await.unwrap_err();

    assert!(matches!(error, OnboardingError::Conflict(_)), "{error:?}");
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().status,
        TenantStatus::Paused
    );
}

#[tokio::test]
async fn a_suspend_between_a_re_puts_read_and_write_stays() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.directory
        .race_next_workspace_read(|stored| stored.status = TenantStatus::Suspended);
    let mut again = alpine_request();
    again.display_name = "Alpine Outfitters AG".into();

    t.onboarding.put_tenant(&alpine, again).await.unwrap();

    let stored = t.onboarding.tenant(&alpine).await.unwrap();
    assert_eq!(stored.status, TenantStatus::Suspended);
    assert_eq!(stored.display_name, "Alpine Outfitters AG");
}

#[tokio::test]
async fn status_is_not_patchable_and_the_display_name_is_written_with_the_settings() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let error = t
        .onboarding
        .patch_tenant(&alpine, patch(json!({"status": "ACTIVE"})))
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::Invalid { ref field, .. } if field == "status"));

    let renamed = patch(json!({"display_name": "Alpine"}));
    assert_eq!(renamed.operator_fields(), vec!["display_name"]);
    t.onboarding.patch_tenant(&alpine, renamed).await.unwrap();
    let stored = t.onboarding.tenant(&alpine).await.unwrap();
    assert_eq!(stored.display_name, "Alpine");
    assert_ne!(stored.settings, TenantSettings::default());
}

#[tokio::test]
async fn of_two_auto_pauses_racing_only_the_one_that_suspended_reports_a_pause() {
    use crate::deliverability::autopause::TenantPauser as _;
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    // GIVEN another feedback invocation suspends the tenant after this one read it as active
    t.directory
        .race_next_workspace_read(|stored| stored.status = TenantStatus::Suspended);

    // WHEN this one's rates cross the thresholds too
    let paused = t.onboarding.pause(&alpine, "bounce rate").await.unwrap();

    // THEN it reports no pause of its own (the other one paused it): one pause counted, not two
    assert!(!paused);
    let stored = t.onboarding.tenant(&alpine).await.unwrap();
    assert_eq!(stored.status, TenantStatus::Suspended);
}
