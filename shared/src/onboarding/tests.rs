//! Onboarding on in-memory adapters: GIVEN a request, WHEN the service runs, THEN the workspace
//! item, the provider's resources and the errors.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::directory::DeliveryDirectory;
use crate::domain::{CampaignId, Channel, SendBatch};
use crate::domain::{FrequencyCap, TenantId, TenantStatus};
use crate::error::Retryable;
use crate::pipeline::archive::Archive;
use crate::pipeline::archive::ParkedBatch;
use crate::pipeline::redrive::RedriveState;
use crate::testing::{MemoryArchive, MemoryDirectory, MemorySendingWorkspaces, MemoryStream};

pub(super) struct Setup {
    pub(super) directory: Arc<MemoryDirectory>,
    pub(super) workspaces: Arc<MemorySendingWorkspaces>,
    pub(super) onboarding: Onboarding,
}

pub(super) fn setup() -> Setup {
    let directory = Arc::new(MemoryDirectory::default());
    let workspaces = Arc::new(MemorySendingWorkspaces::new(
        "storecast-dev",
        "mail.example",
    ));
    let onboarding = Onboarding::new(
        workspaces.clone(),
        directory.clone(),
        OnboardingConfig {
            sending_domain: "mail.example".into(),
            unsubscribe_base_url: "https://prefs.mail.example/{tenant}/unsubscribe".into(),
        },
    );
    Setup {
        directory,
        workspaces,
        onboarding,
    }
}

pub(super) fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn request(value: serde_json::Value) -> TenantRequest {
    serde_json::from_value(value).unwrap()
}

pub(super) fn alpine_request() -> TenantRequest {
    request(json!({
        "display_name": "Alpine Outfitters",
        "slug": "alpine",
        "settings": {
            "timezone": "Europe/Zurich",
            "quiet_hours": {"start_hour": 21, "end_hour": 8},
            "frequency_cap": {"max_messages": 3, "window_days": 7},
            "brand": {"logo": "https://cdn/alpine.png", "colors": {"primary": "#123456"}}
        }
    }))
}

fn field_of(error: OnboardingError) -> String {
    match error {
        OnboardingError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_put_provisions_an_isolated_workspace_and_a_repeat_changes_nothing() {
    let t = setup();
    let alpine = tenant("alpine");
    let (workspace, created) = t
        .onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(workspace.configuration_set, "storecast-dev-alpine");
    assert_eq!(workspace.ses_tenant, "storecast-dev-alpine");
    assert_eq!(workspace.from_address, "alpine@mail.example");
    assert_eq!(workspace.status, TenantStatus::Active);
    assert_eq!(
        workspace.unsubscribe_base_url,
        "https://prefs.mail.example/alpine/unsubscribe"
    );
    assert_eq!(workspace.settings.timezone, "Europe/Zurich");
    // Delivery reads what onboarding wrote.
    let context = t
        .directory
        .delivery_context(&alpine, &CampaignId::parse("c").unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(context.workspace.as_ref(), Some(&workspace));

    let (again, created) = t
        .onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, workspace);
    let resources = t.workspaces.workspaces();
    assert_eq!(resources.len(), 1, "re-provisioning never duplicates");
    assert_eq!(resources[0].provisioned, 2);
    assert_eq!(
        resources[0].associated.iter().cloned().collect::<Vec<_>>(),
        vec![
            "configuration-set/storecast-dev-alpine".to_string(),
            "identity/mail.example".to_string()
        ]
    );
}

#[tokio::test]
async fn two_tenants_get_separate_resources_and_can_never_share_a_slug() {
    let t = setup();
    t.onboarding
        .put_tenant(&tenant("alpine"), alpine_request())
        .await
        .unwrap();
    let mut taken = alpine_request();
    taken.display_name = "Copycat".into();
    let error = t
        .onboarding
        .put_tenant(&tenant("copycat"), taken)
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::Conflict(_)), "{error:?}");
    assert!(!error.is_retryable());
    assert!(
        t.workspaces.workspace_of(&tenant("copycat")).is_none(),
        "a refused slug leaves nothing at the provider"
    );
    assert!(t.onboarding.tenant(&tenant("copycat")).await.is_err());

    let mut own = alpine_request();
    own.slug = "citrus".into();
    let (citrus, _) = t
        .onboarding
        .put_tenant(&tenant("citrus-kitchen"), own)
        .await
        .unwrap();
    let alpine = t.onboarding.tenant(&tenant("alpine")).await.unwrap();
    assert_ne!(citrus.configuration_set, alpine.configuration_set);
    assert_ne!(citrus.ses_tenant, alpine.ses_tenant);
    assert_ne!(citrus.from_address, alpine.from_address);
    let resources = t.workspaces.workspaces();
    assert_eq!(resources.len(), 2);
    for resource in resources {
        assert!(
            resource
                .configuration_set
                .ends_with(resource.tenant_id.as_str())
        );
    }
}

#[tokio::test]
async fn a_slug_cannot_change_after_onboarding() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let mut renamed = alpine_request();
    renamed.slug = "alpine-new".into();
    let error = t.onboarding.put_tenant(&alpine, renamed).await.unwrap_err();
    assert!(matches!(error, OnboardingError::Conflict(_)), "{error:?}");
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().slug,
        "alpine",
        "nothing changed"
    );
}

#[tokio::test]
async fn a_re_put_replaces_settings_but_keeps_a_suspension() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.onboarding.suspend(&alpine).await.unwrap();
    let mut changed = alpine_request();
    changed.settings.sending_pool = Some("dedicated-1".into());
    changed.settings.frequency_cap = None;
    let (workspace, created) = t.onboarding.put_tenant(&alpine, changed).await.unwrap();
    assert!(!created);
    assert_eq!(workspace.status, TenantStatus::Suspended);
    assert_eq!(workspace.settings.frequency_cap, None);
    let resource = t.workspaces.workspace_of(&alpine).unwrap();
    assert_eq!(resource.sending_pool.as_deref(), Some("dedicated-1"));
    assert!(!resource.sending_enabled, "a re-PUT does not reinstate");
}

#[tokio::test]
async fn patch_merges_brand_and_sets_or_clears_settings() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let patch: TenantPatch = serde_json::from_value(json!({
        "display_name": "  Alpine  ",
        "brand": {"logo": null, "colors": {"accent": "#ff0000"}, "address": "1 Main St"},
        "quiet_hours": null,
        "timezone": "America/New_York"
    }))
    .unwrap();
    let workspace = t.onboarding.patch_tenant(&alpine, patch).await.unwrap();
    assert_eq!(workspace.display_name, "Alpine");
    assert_eq!(
        serde_json::Value::Object(workspace.settings.brand.clone()),
        json!({"colors": {"primary": "#123456", "accent": "#ff0000"}, "address": "1 Main St"})
    );
    assert_eq!(workspace.settings.quiet_hours, None, "null clears");
    assert_eq!(
        workspace.settings.frequency_cap,
        Some(FrequencyCap {
            max_messages: 3,
            window_days: 7
        }),
        "absent keeps"
    );
    assert_eq!(workspace.settings.timezone, "America/New_York");
    assert_eq!(t.onboarding.tenant(&alpine).await.unwrap(), workspace);

    let error = t
        .onboarding
        .patch_tenant(&tenant("nobody"), TenantPatch::default())
        .await
        .unwrap_err();
    assert!(matches!(error, OnboardingError::NotFound));
}

#[tokio::test]
async fn an_invalid_patch_changes_nothing_and_names_its_field() {
    let t = setup();
    let alpine = tenant("alpine");
    let (before, _) = t
        .onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let patch: TenantPatch =
        serde_json::from_value(json!({"frequency_cap": {"max_messages": 2, "window_days": 91}}))
            .unwrap();
    let error = t.onboarding.patch_tenant(&alpine, patch).await.unwrap_err();
    assert_eq!(field_of(error), "frequency_cap.window_days");
    assert_eq!(t.onboarding.tenant(&alpine).await.unwrap(), before);
    assert!(
        serde_json::from_value::<TenantPatch>(json!({"slug": "x"})).is_err(),
        "unknown fields are refused"
    );
}

#[tokio::test]
async fn suspend_and_reinstate_switch_the_table_and_the_provider() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let suspended = t.onboarding.suspend(&alpine).await.unwrap();
    assert_eq!(suspended.status, TenantStatus::Suspended);
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().status,
        TenantStatus::Suspended
    );
    assert!(!t.workspaces.workspace_of(&alpine).unwrap().sending_enabled);

    let active = t.onboarding.reinstate(&alpine).await.unwrap();
    assert_eq!(active.workspace.status, TenantStatus::Active);
    assert_eq!(active.redrive, None, "no redrive wired");
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().status,
        TenantStatus::Active
    );
    assert!(t.workspaces.workspace_of(&alpine).unwrap().sending_enabled);
}

#[tokio::test]
async fn a_provider_failure_leaves_the_status_as_it_was_and_says_it_is_retryable() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    t.workspaces.fail_next(true);
    let error = t.onboarding.suspend(&alpine).await.unwrap_err();
    assert!(matches!(error, OnboardingError::Provision(_)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().status,
        TenantStatus::Active
    );
    t.workspaces.fail_next(false);
    let error = t
        .onboarding
        .put_tenant(&tenant("citrus"), {
            let mut r = alpine_request();
            r.slug = "citrus".into();
            r
        })
        .await
        .unwrap_err();
    assert!(!error.is_retryable());
    assert!(t.onboarding.tenant(&tenant("citrus")).await.is_err());
}

#[tokio::test]
async fn reinstating_with_redrive_puts_parked_batches_back() {
    let t = setup();
    let archive = Arc::new(MemoryArchive::default());
    let stream = Arc::new(MemoryStream::default());
    let onboarding = Onboarding::new(
        t.workspaces.clone(),
        t.directory.clone(),
        OnboardingConfig {
            sending_domain: "mail.example".into(),
            unsubscribe_base_url: "https://u/{tenant}".into(),
        },
    )
    .with_redrive(crate::pipeline::redrive::RedriveWorker {
        archive: archive.clone(),
        stream: stream.clone(),
        jobs: Arc::new(crate::testing::MemoryRedriveJobs::default()),
        clock: Arc::new(crate::clock::SystemClock),
        first_slice: crate::pipeline::redrive::worker::START_SLICE,
    });
    let alpine = tenant("alpine");
    onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    onboarding.suspend(&alpine).await.unwrap();
    let batch: SendBatch = serde_json::from_value(json!({
        "contract_version": 1, "batch_id": "b1", "tenant_id": "alpine", "campaign_id": "c1",
        "variant": "A", "channel": Channel::Email, "template": {"id": "w", "version": 1},
        "recipients": []
    }))
    .unwrap();
    archive
        .park(&ParkedBatch {
            reason: "tenant suspended".into(),
            parked_at: "2026-11-20T00:00:00Z".into(),
            batch,
        })
        .await
        .unwrap();
    let reinstated = onboarding.reinstate(&alpine).await.unwrap();
    let redrive = reinstated.redrive.unwrap();
    assert_eq!((redrive.state, redrive.batches), (RedriveState::Done, 1));
    assert_eq!(stream.records().len(), 1);
    assert!(archive.keys().is_empty());
    assert_eq!(
        onboarding.tenant(&alpine).await.unwrap().status,
        TenantStatus::Active
    );
}

#[tokio::test]
async fn validation_names_the_field_at_fault() {
    let t = setup();
    let cases = [
        (json!({"display_name": "A", "slug": "A"}), "slug"),
        (json!({"display_name": "A", "slug": "Alpine"}), "slug"),
        (json!({"display_name": "A", "slug": "a".repeat(41)}), "slug"),
        (json!({"display_name": "A", "slug": "-alpine"}), "slug"),
        (json!({"display_name": "A", "slug": "al@pine"}), "slug"),
        (
            json!({"display_name": "  ", "slug": "alpine"}),
            "display_name",
        ),
        (
            json!({"display_name": "x".repeat(101), "slug": "alpine"}),
            "display_name",
        ),
        (
            json!({"display_name": "A", "slug": "alpine", "settings": {"timezone": "Mars/Olympus"}}),
            "settings.timezone",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"quiet_hours": {"start_hour": 24, "end_hour": 8}}}),
            "settings.quiet_hours.start_hour",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"quiet_hours": {"start_hour": 8, "end_hour": 8}}}),
            "settings.quiet_hours",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"frequency_cap": {"max_messages": 0, "window_days": 7}}}),
            "settings.frequency_cap.max_messages",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"frequency_cap": {"max_messages": 1, "window_days": 0}}}),
            "settings.frequency_cap.window_days",
        ),
        (
            json!({"display_name": "A", "slug": "alpine", "settings": {"sending_pool": "a b"}}),
            "settings.sending_pool",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"brand": (0..51).map(|i| (format!("k{i}"), json!(1))).collect::<serde_json::Map<_, _>>()}}),
            "settings.brand",
        ),
        (
            json!({"display_name": "A", "slug": "alpine",
                   "settings": {"brand": {"footer": "x".repeat(16 * 1024)}}}),
            "settings.brand",
        ),
    ];
    for (body, expected) in cases {
        let error = t
            .onboarding
            .put_tenant(&tenant("alpine"), request(body.clone()))
            .await
            .unwrap_err();
        assert_eq!(field_of(error), expected, "{body}");
    }
    assert!(t.workspaces.workspaces().is_empty(), "nothing provisioned");

    assert!(
        TenantId::parse("alpine.outfitters").is_err(),
        "a '.' (which SES names refuse) never reaches onboarding"
    );
    let error = t
        .onboarding
        .put_tenant(&tenant(&"a".repeat(60)), alpine_request())
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "tenant_id", "name longer than SES allows");
    let (alpine, _) = t
        .onboarding
        .put_tenant(&tenant("alpine"), alpine_request())
        .await
        .unwrap();
    assert_eq!(alpine.slug, "alpine", "refused tenant ids claimed no slug");
    assert!(
        serde_json::from_value::<TenantRequest>(
            json!({"display_name": "A", "slug": "alpine", "status": "ACTIVE"})
        )
        .is_err(),
        "unknown fields are refused"
    );
}

#[test]
fn merge_patch_follows_rfc_7396() {
    // The examples of RFC 7396, appendix A (a selection).
    for (target, patch, result) in [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
        (
            json!({"a": "foo"}),
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "c"}}),
        ),
    ] {
        let mut merged = target.clone();
        merge_patch(&mut merged, &patch);
        assert_eq!(merged, result, "{target} + {patch}");
    }
}

#[tokio::test]
async fn a_patch_starts_changes_and_ends_a_warm_up_and_an_invalid_plan_names_its_field() {
    let t = setup();
    let alpine = tenant("alpine");
    t.onboarding
        .put_tenant(&alpine, alpine_request())
        .await
        .unwrap();
    let start: TenantPatch = serde_json::from_value(
        json!({"warmup": {"start_cap": 200, "target": 50000, "ramp_days": 35}}),
    )
    .unwrap();
    let workspace = t.onboarding.patch_tenant(&alpine, start).await.unwrap();
    let plan = workspace.settings.warmup.expect("the warm-up started");
    assert_eq!(
        (plan.start_cap, plan.target, plan.ramp_days),
        (200, 50_000, 35)
    );
    assert!(plan.engaged_first, "engaged first unless told otherwise");

    let too_fast: TenantPatch = serde_json::from_value(
        json!({"warmup": {"start_cap": 200, "target": 50000, "ramp_days": 14}}),
    )
    .unwrap();
    let error = t
        .onboarding
        .patch_tenant(&alpine, too_fast)
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "warmup.ramp_days");
    assert_eq!(
        t.onboarding.tenant(&alpine).await.unwrap().settings.warmup,
        Some(plan)
    );

    let end: TenantPatch = serde_json::from_value(json!({"warmup": null})).unwrap();
    let workspace = t.onboarding.patch_tenant(&alpine, end).await.unwrap();
    assert_eq!(workspace.settings.warmup, None, "null ends the warm-up");
}
