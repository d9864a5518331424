//! The service on the in-memory adapters: GIVEN a retailer's configuration and a day of
//! feedback, WHEN the optimizer runs, THEN the report says what it found and did, and the
//! configuration changes only when it lets the optimizer apply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use time::Date;

use super::*;
use crate::availability::{
    AvailabilityConfig, ChangeNote, ConfigRevision, ConfigStore, OptimizerSettings, Segment,
    SegmentDelta,
};
use crate::directory::TenantAdmin;
use crate::domain::TenantId;
use crate::error::{Retryable, StoreError};
use crate::testing::optimizer_sim::sim_config;
use crate::testing::samples::sample_workspace;
use crate::testing::{
    ManualClock, MemoryConfigStore, MemoryDirectory, MemoryFoundRateFeedback,
    MemoryOptimizerReports,
};

const DAY: Date = time::macros::date!(2026 - 04 - 02);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn settings(apply: bool) -> OptimizerSettings {
    OptimizerSettings {
        apply,
        min_samples: 100,
        ..OptimizerSettings::default()
    }
}

/// `n` rows of `category` in the north, all scored 0.8, found `found_share` of the time.
fn rows(category: &str, n: usize, found_share: f64) -> String {
    (0..n)
        .map(|i| {
            let found = (i as f64) < found_share * n as f64;
            format!(
                r#"{{"store_id":"s1","item_id":"i{i}","category":"{category}","region":"north","user_bucket":"b1","score":0.8,"found":{found}}}"#
            ) + "\n"
        })
        .collect()
}

/// Produce overconfident (found 60 % at 0.8), dairy calibrated, caviar thin.
fn day_of_feedback() -> Vec<u8> {
    let mut body = rows("produce", 400, 0.6);
    body += &rows("dairy", 400, 0.8);
    body += &rows("caviar", 20, 0.0);
    body += "{\"broken\": true}\n";
    body.into_bytes()
}

fn note(author: &str) -> ChangeNote {
    ChangeNote {
        author: author.into(),
        at: time::macros::datetime!(2026-04-01 09:00 UTC),
        reason: "set up".into(),
        rollback_of: None,
    }
}

struct Setup {
    configs: Arc<dyn ConfigStore>,
    memory: Arc<MemoryConfigStore>,
    directory: Arc<MemoryDirectory>,
    feedback: Arc<MemoryFoundRateFeedback>,
    reports: Arc<MemoryOptimizerReports>,
}

impl Setup {
    async fn new(apply: bool) -> Self {
        let memory = Arc::new(MemoryConfigStore::default());
        Self::with_store(apply, memory.clone(), memory).await
    }

    async fn with_store(
        apply: bool,
        configs: Arc<dyn ConfigStore>,
        memory: Arc<MemoryConfigStore>,
    ) -> Self {
        let acme = tenant("acme");
        memory
            .save(&acme, &sim_config(&settings(apply)), &note("ops"), None)
            .await
            .unwrap();
        let feedback = Arc::new(MemoryFoundRateFeedback::default());
        feedback.put(&acme, DAY, "orders.jsonl", day_of_feedback());
        Self {
            configs,
            memory,
            directory: Arc::new(MemoryDirectory::default()),
            feedback,
            reports: Arc::new(MemoryOptimizerReports::default()),
        }
    }

    fn optimizer(&self, feedback: Arc<dyn FoundRateFeedback>) -> DeltaOptimizer {
        DeltaOptimizer::new(OptimizerPorts {
            workspaces: self.directory.clone(),
            configs: self.configs.clone(),
            feedback,
            reports: self.reports.clone(),
            clock: Arc::new(ManualClock::new(
                time::macros::datetime!(2026-04-03 04:00 UTC),
            )),
        })
    }

    async fn run(&self) -> Result<OptimizerReport, OptimizerError> {
        self.optimizer(self.feedback.clone())
            .run(&tenant("acme"), DAY)
            .await
    }

    async fn current(&self) -> ConfigRevision {
        self.memory.current(&tenant("acme")).await.unwrap().unwrap()
    }
}

fn delta(config: &AvailabilityConfig, segment: Segment, value: &str) -> Option<f64> {
    config
        .deltas
        .iter()
        .find(|d| d.segment == segment && d.value == value)
        .map(|d| d.delta)
}

#[tokio::test]
async fn without_apply_the_run_only_reports_what_it_would_change() {
    let setup = Setup::new(false).await;
    let report = setup.run().await.unwrap();

    assert_eq!(report.outcome, RunOutcome::ReportOnly);
    assert_eq!(setup.current().await.version, 1, "nothing saved");
    assert_eq!((report.rows_used, report.refused.total()), (820, 1));
    let produce = report.segment(Segment::Category, "produce").unwrap();
    assert_eq!(produce.samples, 400);
    assert!((produce.bias - (0.6 - 0.8)).abs() < 1e-9);
    assert!(
        produce.new_delta > 0.0,
        "overconfident: a stricter threshold"
    );
    assert!(!produce.applied);
    assert_eq!(produce.not_applied.as_deref(), Some("report_only"));
    let caviar = report.segment(Segment::Category, "caviar").unwrap();
    assert_eq!(
        (caviar.movement, caviar.new_delta),
        (Movement::ThinData, 0.0)
    );
    assert_eq!(caviar.not_applied.as_deref(), Some("no_change"));
    let stored = setup.reports.get(&tenant("acme"), DAY).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&report));
    assert_eq!(
        setup.reports.keys(),
        vec!["availability/optimizer/acme/2026-04-02.json"]
    );
}

#[tokio::test]
async fn with_apply_the_proposal_becomes_a_new_revision_once_per_day() {
    let setup = Setup::new(true).await;
    let report = setup.run().await.unwrap();

    assert_eq!(report.outcome, RunOutcome::Applied { version: 2 });
    let revision = setup.current().await;
    assert_eq!(revision.version, 2);
    assert_eq!(revision.change.author, OPTIMIZER_AUTHOR);
    assert!(
        revision
            .change
            .reason
            .starts_with("optimizer run of 2026-04-02:"),
        "{}",
        revision.change.reason
    );
    assert!(revision.config.validate().is_ok());
    for segment in &report.segments {
        let saved = delta(&revision.config, segment.segment, &segment.value);
        if segment.applied {
            assert_eq!(saved, Some(segment.new_delta), "{}", segment.value);
            assert!(
                (segment.new_delta - segment.old_delta).abs()
                    <= revision.config.optimizer.max_step + 1e-12
            );
        } else {
            assert_eq!(saved.unwrap_or(0.0), segment.old_delta, "{}", segment.value);
        }
    }
    let produce = delta(&revision.config, Segment::Category, "produce").unwrap();
    let dairy = delta(&revision.config, Segment::Category, "dairy").unwrap_or(0.0);
    assert!(
        produce > dairy,
        "produce is the overconfident one: {produce} vs {dairy}"
    );
    assert_eq!(delta(&revision.config, Segment::Category, "caviar"), None);

    // WHEN the run is retried for the same day THEN it does not step again.
    let again = setup.run().await.unwrap();
    assert_eq!(again.outcome, RunOutcome::AlreadyApplied { version: 2 });
    assert_eq!(setup.current().await.version, 2);
    assert!(again.segments.iter().all(|s| !s.applied));
}

/// Saves a human's change just before the optimizer's first `races` saves.
struct RacingConfigs {
    inner: Arc<MemoryConfigStore>,
    races: AtomicU32,
}

#[async_trait]
impl ConfigStore for RacingConfigs {
    async fn current(&self, tenant: &TenantId) -> Result<Option<ConfigRevision>, StoreError> {
        self.inner.current(tenant).await
    }
    async fn revision(
        &self,
        tenant: &TenantId,
        version: u64,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        self.inner.revision(tenant, version).await
    }
    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        self.inner.history(tenant, limit).await
    }
    async fn save(
        &self,
        tenant: &TenantId,
        config: &AvailabilityConfig,
        change: &ChangeNote,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        if self.races.load(Ordering::SeqCst) > 0 {
            self.races.fetch_sub(1, Ordering::SeqCst);
            let mut human = self.inner.current(tenant).await?.unwrap();
            let east = SegmentDelta {
                segment: Segment::Region,
                value: format!("east-{}", human.version),
                delta: 0.07,
            };
            human.config.deltas.push(east);
            self.inner
                .save(
                    tenant,
                    &human.config,
                    &note("marketer"),
                    Some(human.version),
                )
                .await?;
        }
        self.inner.save(tenant, config, change, expected).await
    }
}

async fn racing(races: u32) -> Setup {
    let memory = Arc::new(MemoryConfigStore::default());
    let racing = Arc::new(RacingConfigs {
        inner: memory.clone(),
        races: AtomicU32::new(races),
    });
    Setup::with_store(true, racing, memory).await
}

#[tokio::test]
async fn a_conflicting_change_is_kept_and_the_proposal_recomputed_on_it() {
    let setup = racing(1).await;
    let report = setup.run().await.unwrap();

    assert_eq!(report.outcome, RunOutcome::Applied { version: 3 });
    assert_eq!(
        report.config_version, 2,
        "planned on the marketer's revision"
    );
    let revision = setup.current().await;
    assert_eq!(revision.change.author, OPTIMIZER_AUTHOR);
    assert_eq!(
        delta(&revision.config, Segment::Region, "east-1"),
        Some(0.07)
    );
    assert!(delta(&revision.config, Segment::Category, "produce").unwrap() > 0.0);
}

#[tokio::test]
async fn a_second_conflict_leaves_the_configuration_to_the_other_writer() {
    let setup = racing(2).await;
    let report = setup.run().await.unwrap();

    assert_eq!(report.outcome, RunOutcome::Conflict);
    let revision = setup.current().await;
    assert_eq!(
        (revision.version, revision.change.author.as_str()),
        (3, "marketer")
    );
    let produce = report.segment(Segment::Category, "produce").unwrap();
    assert_eq!(produce.not_applied.as_deref(), Some("conflict"));
    assert!(
        setup
            .reports
            .get(&tenant("acme"), DAY)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_retailer_without_configuration_is_not_configured_and_not_retried() {
    let setup = Setup::new(true).await;
    let error = setup
        .optimizer(setup.feedback.clone())
        .run(&tenant("nobody"), DAY)
        .await
        .unwrap_err();
    assert!(
        matches!(error, OptimizerError::NotConfigured { .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
}

/// Fails every call for one retailer.
struct FailingFor {
    tenant: TenantId,
    inner: Arc<MemoryFoundRateFeedback>,
}

#[async_trait]
impl FoundRateFeedback for FailingFor {
    async fn objects(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Vec<FeedbackObject>, StoreError> {
        if *tenant == self.tenant {
            return Err(StoreError::Unavailable {
                store: "feedback bucket",
                source: "down for this tenant".into(),
            });
        }
        self.inner.objects(tenant, day).await
    }
    async fn open(
        &self,
        tenant: &TenantId,
        object: &FeedbackObject,
    ) -> Result<ChunkStream, StoreError> {
        self.inner.open(tenant, object).await
    }
}

#[tokio::test]
async fn run_all_counts_a_failing_retailer_and_runs_the_others() {
    let setup = Setup::new(true).await;
    for (name, configured) in [("acme", true), ("broken", true), ("bare", false)] {
        setup
            .directory
            .put_workspace(&sample_workspace(name, "mail.storecast.example"))
            .await
            .unwrap();
        if configured && name != "acme" {
            setup
                .memory
                .save(
                    &tenant(name),
                    &sim_config(&settings(true)),
                    &note("ops"),
                    None,
                )
                .await
                .unwrap();
        }
    }
    let feedback = Arc::new(FailingFor {
        tenant: tenant("broken"),
        inner: setup.feedback.clone(),
    });
    let summary = setup.optimizer(feedback).run_all(DAY).await.unwrap();

    assert_eq!(
        (summary.tenants, summary.unconfigured, summary.failed),
        (3, 1, 1)
    );
    assert_eq!(summary.applied, 1);
    assert_eq!(summary.results.len(), 1);
    assert_eq!(summary.results[0].tenant, "acme");
    assert_eq!(summary.results[0].rows_used, 820);
    assert_eq!(summary.failures[0].0, "broken");
    assert!(summary.failures_as_error().is_err());
    assert_eq!(
        setup.reports.keys(),
        vec!["availability/optimizer/acme/2026-04-02.json"]
    );
}

#[tokio::test]
async fn a_day_without_feedback_changes_nothing() {
    let setup = Setup::new(true).await;
    let report = setup
        .optimizer(setup.feedback.clone())
        .run(&tenant("acme"), DAY.next_day().unwrap())
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::NothingToChange);
    assert_eq!((report.objects, report.rows_used), (0, 0));
    assert_eq!(setup.current().await.version, 1);
}

#[test]
fn a_configuration_without_optimizer_settings_reports_only_with_the_default_guardrails() {
    let config: AvailabilityConfig = serde_json::from_value(serde_json::json!({
        "models": [{"model": "m-1", "column": "col_a", "base_threshold": 0.6}],
        "default_column": "col_a",
    }))
    .unwrap();
    assert_eq!(config.optimizer, OptimizerSettings::default());
    assert!(!config.optimizer.apply);
    assert_eq!(config.optimizer.min_samples, 500);
    assert!(config.validate().is_ok());
    let round_trip: AvailabilityConfig =
        serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
    assert_eq!(round_trip, config);
}

#[test]
fn guardrails_outside_their_ranges_are_refused() {
    let base = sim_config(&settings(true));
    let refused = |change: fn(&mut OptimizerSettings)| {
        let mut config = base.clone();
        change(&mut config.optimizer);
        config.validate().unwrap_err().0
    };
    assert!(refused(|s| s.min_samples = 0).contains("min_samples"));
    assert!(refused(|s| s.max_step = 0.0).contains("max_step"));
    assert!(refused(|s| s.max_step = f64::NAN).contains("max_step"));
    assert!(refused(|s| s.max_delta = 0.6).contains("max_delta"));
    assert!(refused(|s| s.dead_band = 0.05).contains("dead_band"));
    assert!(refused(|s| s.dead_band = -0.01).contains("dead_band"));
    let unknown = serde_json::from_value::<OptimizerSettings>(serde_json::json!({"aply": true}));
    assert!(unknown.is_err(), "unknown fields are refused");
}
