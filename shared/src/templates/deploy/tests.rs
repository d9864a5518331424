use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::directory::TenantAdmin;
use crate::templates::TemplateService;
use crate::templates::ports::TemplateStore;
use crate::testing::MemoryDirectory;
use crate::testing::samples::sample_workspace;

const DOMAIN: &str = "mail.storecast.example";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn template_id(id: &str) -> TemplateId {
    TemplateId::parse(id).unwrap()
}

/// A two-template catalog; `banner` is the `promo` banner's default, `max_length` its limit.
fn catalog(banner: &str, max_length: u32, promo_retailers: &str) -> Catalog {
    let yaml = format!(
        "templates:
  hello:
    parts: [subject, email.html, email.txt]
    retailers: all
    variables:
      greeting: {{ type: string, default: there }}
  promo:
    parts: [subject, email.html, email.txt, push_title, push_body]
    retailers: {promo_retailers}
    variables:
      banner: {{ type: string, default: \"{banner}\", max_length: {max_length} }}
      color: {{ type: color, default: \"#123456\" }}
"
    );
    let files: HashMap<&str, &str> = HashMap::from([
        (
            "hello/subject.liquid",
            "Hi {{ customer.first_name | default: vars.greeting }}",
        ),
        (
            "hello/email.html.liquid",
            "<p>{{ brand.tagline }}</p><a href=\"{{ unsubscribe_url }}\">u</a>",
        ),
        ("hello/email.txt.liquid", "hi"),
        ("promo/subject.liquid", "{{ vars.banner }}"),
        (
            "promo/email.html.liquid",
            "<p style=\"color:{{ vars.color }}\">{{ vars.banner }}</p>{% for o in offers %}{{ o.title }}{% endfor %}",
        ),
        ("promo/email.txt.liquid", "{{ vars.banner }}"),
        ("promo/push_title.liquid", "{{ vars.banner }}"),
        ("promo/push_body.liquid", "{{ offers.first.title }}"),
    ]);
    Catalog::parse(&yaml, |path| {
        files
            .get(path)
            .map(|s| s.to_string())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, path.to_string()))
    })
    .unwrap()
}

async fn directory(tenants: &[&str]) -> Arc<MemoryDirectory> {
    let directory = Arc::new(MemoryDirectory::default());
    for t in tenants {
        directory
            .put_workspace(&sample_workspace(t, DOMAIN))
            .await
            .unwrap();
    }
    directory
}

async fn live(directory: &MemoryDirectory, t: &str, id: &str) -> Option<TemplateVersion> {
    directory
        .live_template(&tenant(t), &template_id(id))
        .await
        .unwrap()
}

#[tokio::test]
async fn given_a_first_deploy_then_every_targeted_template_goes_live_as_version_1_and_a_rerun_changes_nothing()
 {
    let directory = directory(&["alpine", "harbor", "ghost"]).await;
    let catalog = catalog("Spring sale", 40, "{ all_except: [ghost] }");

    let first = deploy(
        &catalog,
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();

    assert!(first.is_success(), "{}", first.to_text());
    assert_eq!(first.published, 5);
    let ghost = first
        .retailers
        .iter()
        .find(|r| r.tenant == "ghost")
        .unwrap();
    assert_eq!(ghost.changed.len(), 1, "ghost gets hello only");
    let promo = live(&directory, "alpine", "promo").await.unwrap();
    assert_eq!(promo.template.version, 1);
    assert_eq!(promo.variables["banner"], "Spring sale");
    assert_eq!(promo.schema.len(), 2);
    assert!(live(&directory, "ghost", "promo").await.is_none());

    let again = deploy(
        &catalog,
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    assert!(again.is_success());
    assert_eq!(again.published, 0);
    assert!(again.retailers.iter().all(|r| r.changed.is_empty()));
    assert_eq!(
        directory.bulk_writes(),
        5,
        "nothing was written the second time"
    );
}

#[tokio::test]
async fn given_a_catalog_change_then_each_retailer_gets_a_new_version_that_keeps_its_own_values() {
    let directory = directory(&["alpine", "harbor"]).await;
    deploy(
        &catalog("Spring sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let service = TemplateService::new(
        directory.clone(),
        directory.clone(),
        crate::testing::unsubscribe_signer(),
    );
    let overrides = serde_json::json!({"color": "#ff0000"});
    service
        .set_variables(
            &tenant("alpine"),
            &template_id("promo"),
            overrides.as_object().unwrap().clone(),
        )
        .await
        .unwrap();

    let report = deploy(
        &catalog("Summer sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();

    assert!(report.is_success(), "{}", report.to_text());
    let alpine = report
        .retailers
        .iter()
        .find(|r| r.tenant == "alpine")
        .unwrap();
    assert_eq!(
        alpine.changed,
        [TemplateChange {
            template: template_id("promo"),
            from: Some(2),
            to: 3
        }]
    );
    assert_eq!(alpine.unchanged, [template_id("hello")]);
    let promo = live(&directory, "alpine", "promo").await.unwrap();
    assert_eq!(promo.variables["banner"], "Summer sale");
    assert_eq!(
        promo.variables["color"], "#ff0000",
        "the retailer's value is kept"
    );
    let harbor = live(&directory, "harbor", "promo").await.unwrap();
    assert_eq!(
        (harbor.template.version, harbor.variables["color"].as_str()),
        (2, Some("#123456"))
    );
}

#[tokio::test]
async fn given_a_retailer_whose_values_no_longer_fit_then_only_that_retailer_is_blocked() {
    let directory = directory(&["alpine", "harbor"]).await;
    deploy(
        &catalog("Sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let service = TemplateService::new(
        directory.clone(),
        directory.clone(),
        crate::testing::unsubscribe_signer(),
    );
    service
        .set_variables(
            &tenant("alpine"),
            &template_id("promo"),
            serde_json::json!({"banner": "A rather long banner text"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .await
        .unwrap();

    // The new catalog allows 10 characters: alpine's banner no longer fits.
    let report = deploy(
        &catalog("Sale!", 10, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();

    assert!(!report.is_success());
    assert_eq!(report.failed_retailers(), 1);
    let alpine = report
        .retailers
        .iter()
        .find(|r| r.tenant == "alpine")
        .unwrap();
    assert!(
        alpine.errors[0].contains("variables.banner: must be at most 10 characters"),
        "{:?}",
        alpine.errors
    );
    assert!(report.to_text().contains("alpine: ERROR promo"));
    assert_eq!(
        live(&directory, "alpine", "promo")
            .await
            .unwrap()
            .template
            .version,
        2
    );
    let harbor = live(&directory, "harbor", "promo").await.unwrap();
    assert_eq!(
        (harbor.template.version, harbor.variables["banner"].as_str()),
        (2, Some("Sale!"))
    );
}

#[tokio::test]
async fn given_a_dry_run_then_changes_are_reported_and_nothing_is_written() {
    let directory = directory(&["alpine", "harbor"]).await;
    let options = DeployOptions {
        dry_run: true,
        tenants: vec![tenant("alpine"), tenant("nobody")],
    };

    let report = deploy(
        &catalog("Sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &options,
    )
    .await
    .unwrap();

    assert_eq!(report.published, 0);
    let tenants: Vec<_> = report.retailers.iter().map(|r| r.tenant.as_str()).collect();
    assert_eq!(tenants, ["alpine", "nobody"]);
    assert_eq!(report.retailers[0].changed.len(), 2);
    assert!(report.retailers[1].errors[0].contains("no onboarded workspace"));
    assert!(
        report
            .to_text()
            .contains("alpine: would publish promo none -> v1")
    );
    assert!(live(&directory, "alpine", "promo").await.is_none());
    assert_eq!(directory.bulk_writes(), 0);
}

#[tokio::test]
async fn given_a_marketers_save_during_a_deploy_then_it_is_kept_and_the_deploy_renumbers_after_it()
{
    let directory = directory(&["alpine"]).await;
    deploy(
        &catalog("Spring sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    // The marketer saves promo v2 with their own banner after the deploy read the live heads.
    let mut saved = live(&directory, "alpine", "promo").await.unwrap();
    saved.template.version = 2;
    saved
        .overrides
        .insert("banner".into(), serde_json::json!("Alpine's own"));
    saved
        .variables
        .insert("banner".into(), serde_json::json!("Alpine's own"));
    directory.race_next_publish_all(saved.clone());

    let report = deploy(
        &catalog("Summer sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();

    assert!(report.is_success(), "{}", report.to_text());
    let kept = directory
        .template_version(&tenant("alpine"), &saved.template)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, saved, "the marketer's version is not overwritten");
    let promo = live(&directory, "alpine", "promo").await.unwrap();
    assert_eq!(promo.template.version, 3, "renumbered after the save");
    assert_eq!(
        promo.overrides["banner"], "Alpine's own",
        "the save's values kept"
    );
    let alpine = &report.retailers[0];
    let change = alpine
        .changed
        .iter()
        .find(|c| c.template == template_id("promo"))
        .unwrap();
    assert_eq!((change.from, change.to), (Some(2), 3));
    assert_eq!(report.published, 1, "promo v3 (hello is unchanged)");
}

#[tokio::test]
async fn given_saves_that_keep_landing_then_the_retailer_fails_with_nothing_overwritten() {
    let directory = directory(&["alpine"]).await;
    deploy(
        &catalog("Spring sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    let v1 = live(&directory, "alpine", "promo").await.unwrap();
    // Each bulk publish finds a new save landed just before it: versions 2, 3, 4.
    let mut saves = Vec::new();
    for version in 2..2 + PUBLISH_ATTEMPTS as u32 {
        let mut saved = v1.clone();
        saved.template.version = version;
        saved.overrides.insert(
            "banner".into(),
            serde_json::json!(format!("save {version}")),
        );
        directory.race_next_publish_all(saved.clone());
        saves.push(saved);
    }

    let report = deploy(
        &catalog("Summer sale", 40, "all"),
        directory.as_ref(),
        directory.as_ref(),
        &DeployOptions::default(),
    )
    .await
    .unwrap();

    assert!(!report.is_success());
    let alpine = &report.retailers[0];
    assert!(
        alpine.errors[0].contains("promo kept being published concurrently"),
        "{alpine:?}"
    );
    assert!(alpine.changed.is_empty());
    assert_eq!(report.published, 0);
    assert_eq!(
        live(&directory, "alpine", "promo").await.unwrap(),
        *saves.last().unwrap(),
        "the last save is live"
    );
}
