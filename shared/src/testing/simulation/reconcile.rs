//! The end of a run: every message's final state, duplicates inside and outside the crash
//! window, what was kept, and the campaign's stats against the simulation's own ledger.

use std::collections::HashSet;

use super::launch::{SimWorld, expected_messages};
use super::stores::message_ids_of;
use super::{SimConfig, SimReport};
use crate::pipeline::archive::Archive;
use crate::pipeline::publish::{RetryPolicy, StreamRecord, put_all};
use crate::pipeline::send_log::RecipientOutcome;

impl SimWorld {
    /// Puts every record the mappings gave up on back on its stream, as the replay command does.
    pub(super) async fn replay_given_up(&self) -> usize {
        let mut replayed = 0;
        for mapping in [&self.rebatch, &self.deliver] {
            let records: Vec<_> = std::mem::take(
                &mut *mapping
                    .on_failure
                    .records
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
            let records: Vec<StreamRecord> = records
                .into_iter()
                .map(|r| StreamRecord {
                    partition_key: r.partition_key,
                    data: r.data,
                })
                .collect();
            for result in put_all(mapping.stream.as_ref(), &records, RetryPolicy::default()).await {
                match result {
                    Ok(()) => replayed += 1,
                    Err(failure) => tracing::warn!(%failure, "replay failed"),
                }
            }
        }
        replayed
    }

    /// Message ids of the batches still parked.
    async fn parked_messages(&self) -> HashSet<String> {
        let mut parked = HashSet::new();
        for (tenant, _) in &self.tenants {
            for (_, batch) in self
                .stores
                .archive
                .parked(tenant, None)
                .await
                .unwrap_or_default()
            {
                parked.extend(
                    batch
                        .batch
                        .recipients
                        .iter()
                        .map(|r| r.message_id.to_string()),
                );
            }
        }
        parked
    }

    /// Message ids of every record kept whole: given up on by a mapping, dead-lettered, or
    /// parked.
    async fn kept_messages(&self) -> HashSet<String> {
        let mut kept = HashSet::new();
        for mapping in [&self.rebatch, &self.deliver] {
            let records = mapping
                .on_failure
                .records
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for record in records.iter() {
                kept.extend(message_ids_of(&record.data));
            }
        }
        for letter in self.stores.archive.dead_letters().await.unwrap_or_default() {
            kept.extend(message_ids_of(letter.payload.as_bytes()));
        }
        kept.extend(self.parked_messages().await);
        kept
    }

    pub(super) async fn reconcile(&self, config: &SimConfig, settled: bool) -> SimReport {
        let expected = expected_messages(config, &self.tenants);
        let kept = self.kept_messages().await;
        let accepts = self.ledger.accepts();
        let exposed = self.ledger.exposed();
        let mut report = SimReport {
            seed: config.seed,
            recipients: expected.len() as u64,
            settled,
            faults_dealt: self.faults.dealt(),
            fault_windows: self.faults.windows(),
            invocations_died: self.ledger.deaths(),
            given_up: self.ledger.given_up(),
            ses_throttles: self.ledger.ses_throttles(),
            stream_throttles: (self.events.throttled() + self.batches.throttled()) as u64,
            setbacks: self
                .setbacks_performed
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
            parked_batches: self.stores.parked.parks(),
            redriven_batches: self.stores.parked.unparks(),
            redriven_by_ticks: self
                .tick_redriven
                .load(std::sync::atomic::Ordering::Relaxed),
            parked_at_end: self.parked_messages().await.len() as u64,
            ..SimReport::default()
        };
        if !settled {
            report.violations.push("the pipeline did not settle".into());
        }
        for message in expected.keys() {
            let sends = accepts.get(message).copied().unwrap_or(0);
            match self.ledger.final_outcome(message) {
                Some(RecipientOutcome::Sent { .. }) if sends >= 1 => report.sent += 1,
                Some(RecipientOutcome::Unconfirmed { .. }) if sends >= 1 => report.unconfirmed += 1,
                Some(RecipientOutcome::Failed { .. }) if sends == 0 => report.failed += 1,
                Some(RecipientOutcome::Suppressed) if sends == 0 => report.suppressed += 1,
                _ if kept.contains(message) => report.kept += 1,
                other => {
                    report.lost += 1;
                    if report.violations.len() < 20 {
                        report.violations.push(format!(
                            "message {message}: final state {other:?} after {sends} sends, no record kept"
                        ));
                    }
                }
            }
            if sends > 1 {
                if exposed.contains(message) {
                    report.duplicates_in_crash_window += u64::from(sends - 1);
                } else {
                    report.duplicates_outside_window += u64::from(sends - 1);
                    report.violations.push(format!(
                        "message {message} sent {sends} times outside the crash window"
                    ));
                }
            }
        }
        if let Some((_, last)) = self.ledger.send_span() {
            report.launch_to_last_send_seconds = (last - self.launched_at).as_seconds_f64();
        }
        let launches = self
            .launches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (tenant, launched) in launches {
            if let Some(last) = self.ledger.last_send_of(&tenant) {
                report
                    .launch_to_last_send_by_tenant
                    .insert(tenant.to_string(), (last - launched).as_seconds_f64());
            }
        }
        report.budget = self.budget_counts();
        self.check_stats(&mut report).await;
        self.check_redrives(&mut report);
        report
    }

    /// Every redrive job ended its pass, and nothing was redriven that was not parked.
    fn check_redrives(&self, report: &mut SimReport) {
        for job in self.stores.jobs.jobs() {
            if job.is_running() {
                report
                    .violations
                    .push(format!("the redrive job of {} is still running", job.scope));
            }
        }
        if report.redriven_batches > report.parked_batches {
            report.violations.push(format!(
                "{} batches redriven of {} parked",
                report.redriven_batches, report.parked_batches
            ));
        }
    }

    /// The campaign's stats (what `GET …/stats` answers) must say what the ledger says.
    async fn check_stats(&self, report: &mut SimReport) {
        let (mut sent, mut unconfirmed, mut failed, mut in_flight) = (0, 0, 0, 0);
        let mut parked = 0;
        for (tenant, campaign) in &self.tenants {
            match self.campaigns.stats(tenant, campaign).await {
                Ok(stats) => {
                    sent += stats.delivery.sent;
                    unconfirmed += stats.delivery.unconfirmed;
                    failed += stats.delivery.failed;
                    in_flight += stats.delivery.in_flight;
                    parked += stats.delivery.parked;
                }
                Err(error) => report
                    .violations
                    .push(format!("stats of {tenant}: {error}")),
            }
        }
        let ledger = (report.sent, report.unconfirmed, report.failed);
        if (sent, unconfirmed, failed) != ledger {
            report.violations.push(format!(
                "stats say sent {sent}, unconfirmed {unconfirmed}, failed {failed}; the ledger {ledger:?}"
            ));
        }
        let mut in_archive = 0;
        for (tenant, _) in &self.tenants {
            for (_, batch) in self
                .stores
                .archive
                .parked(tenant, None)
                .await
                .unwrap_or_default()
            {
                in_archive += batch.batch.recipients.len() as u64;
            }
        }
        if parked != in_archive {
            report.violations.push(format!(
                "stats say {parked} parked; the archive holds {in_archive}"
            ));
        }
        let claimed_not_final = report.kept;
        if in_flight > claimed_not_final {
            report.violations.push(format!(
                "stats show {in_flight} in flight after the pipeline settled"
            ));
        }
    }
}
