//! Starting a launch: its chunks planned and queued now, or the launch held until its start.

use super::*;

impl Campaigns {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn launch(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<LaunchAccepted, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        match (record.state, &record.launch) {
            (CampaignState::Draft | CampaignState::Failed, _) => {}
            // A launch answered again: the same launch (a repeated request is no second launch).
            (CampaignState::Scheduled, Some(launch)) => return Ok(accepted(&record, launch)),
            (CampaignState::Launching, Some(launch)) if launch.enqueued => {
                return Ok(accepted(&record, launch));
            }
            // Chunks planned but not all queued (the queue failed): queue them again.
            (CampaignState::Launching, Some(_)) => return self.enqueue_chunks(record).await,
            _ => return Err(conflict(&record, "launch")),
        }
        let workspace = self.active_workspace(&record).await?;
        record.definition.template.version = self.pinned_version(&record).await?;
        let now = self.ports.clock.now();
        Launch::new(record.definition.clone(), now)?;
        let zone = schedule::time_zone(&workspace.settings.timezone)?;
        let starts_at = schedule::start_time(
            now,
            record.schedule.as_deref(),
            &zone,
            schedule::launch_quiet_hours(
                workspace.settings.quiet_hours,
                record.definition.quiet_hours_zone,
            ),
        )?;
        let launch = LaunchRecord {
            launch_id: LaunchId::generate(),
            requested_at: now,
            starts_at,
            started_at: None,
            chunks: 0,
            enqueued: false,
            completed: false,
            failure: None,
        };
        if starts_at <= now {
            return self.start(record, launch).await;
        }
        self.hold(record, launch).await
    }

    /// The template version the launch sends: the one the campaign names, or (version 0, "the
    /// live one") the version live now, so a template republished while the launch runs never
    /// reaches its later recipients. A template with no such version is refused.
    async fn pinned_version(&self, record: &CampaignRecord) -> Result<u32, CampaignError> {
        let tenant = &record.definition.tenant_id;
        let template = &record.definition.template;
        let published = if template.version == 0 {
            self.ports
                .templates
                .live_template(tenant, &template.id)
                .await?
                .map(|live| live.template.version)
        } else {
            self.ports
                .templates
                .template_version(tenant, template)
                .await?
                .map(|version| version.template.version)
        };
        published.ok_or_else(|| {
            let which = match template.version {
                0 => "has no live version".to_string(),
                version => format!("version {version} is not published"),
            };
            invalid("template", format!("{} {which}", template.id))
        })
    }

    /// Marks the launch SCHEDULED and indexes it by its start time. The entry is written first:
    /// an entry whose record never changed is dropped by the scheduler.
    pub(super) async fn hold(
        &self,
        mut record: CampaignRecord,
        launch: LaunchRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        self.ports
            .store
            .schedule(&ScheduleEntry {
                due: launch.starts_at,
                launch: launch_key(&record, &launch.launch_id),
            })
            .await?;
        record.state = CampaignState::Scheduled;
        record.launch = Some(launch);
        let record = self.write(record).await?;
        let launch = record.launch.as_ref().expect("just set");
        tracing::info!(starts_at = %rfc3339(launch.starts_at), "launch scheduled");
        Ok(accepted(&record, launch))
    }

    /// Plans the chunks, records them PENDING, marks the campaign LAUNCHING and queues one
    /// message per chunk.
    pub(super) async fn start(
        &self,
        mut record: CampaignRecord,
        mut launch: LaunchRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        let now = self.ports.clock.now();
        let engine_launch = Launch::new(record.definition.clone(), now)?;
        let ranges = self
            .ports
            .engine
            .plan(&engine_launch, self.config.chunk_bytes)
            .await
            .map_err(|error| {
                if error.is_retryable() {
                    CampaignError::Store(error)
                } else {
                    invalid(
                        "audience.source",
                        format!("the export cannot be read: {}", DisplayChain(&error)),
                    )
                }
            })?;
        let key = launch_key(&record, &launch.launch_id);
        let chunks: Vec<ChunkProgress> = ranges
            .iter()
            .enumerate()
            .map(|(index, range)| ChunkProgress {
                index: index as u32,
                start: range.start,
                end: range.end,
                status: ChunkStatus::Pending,
                attempts: 0,
                report: None,
                last_error: None,
                checkpoint: None,
            })
            .collect();
        // Progress items before the state: a worker never meets a LAUNCHING campaign without
        // them; orphaned items of a launch that lost the race are never read.
        self.ports.store.put_chunks(&key, &chunks).await?;
        launch.started_at = Some(now);
        launch.chunks = chunks.len() as u32;
        launch.completed = chunks.is_empty();
        launch.enqueued = chunks.is_empty();
        record.state = if chunks.is_empty() {
            CampaignState::Sent
        } else {
            CampaignState::Launching
        };
        record.launch = Some(launch);
        let record = self.write(record).await?;
        tracing::info!(chunks = chunks.len(), "launch started");
        if chunks.is_empty() {
            let launch = record.launch.as_ref().expect("just set");
            return Ok(accepted(&record, launch));
        }
        self.enqueue_chunks(record).await
    }

    /// Queues a message for every chunk not done yet, then notes that they are queued.
    pub(super) async fn enqueue_chunks(
        &self,
        record: CampaignRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        let launch = record
            .launch
            .clone()
            .expect("a launching campaign has a launch");
        let key = launch_key(&record, &launch.launch_id);
        let messages: Vec<ChunkMessage> = self
            .ports
            .store
            .chunks(&key)
            .await?
            .into_iter()
            .filter(|chunk| chunk.status == ChunkStatus::Pending)
            .map(|chunk| ChunkMessage {
                launch: key.clone(),
                index: chunk.index,
                start: chunk.start,
                end: chunk.end,
            })
            .collect();
        self.ports
            .queue
            .enqueue(&messages)
            .await
            .map_err(CampaignError::Queue)?;
        let mut updated = record.clone();
        if let Some(launch) = updated.launch.as_mut() {
            launch.enqueued = true;
        }
        // Only a hint for a repeated launch request: a lost race changes nothing that matters.
        let record = match self.write(updated).await {
            Ok(record) => record,
            Err(CampaignError::Conflict(_)) => record,
            Err(error) => return Err(error),
        };
        Ok(accepted(&record, &launch))
    }
}
