//! Configuration read from the environment once per cold start; a missing value fails the start.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where settings come from: the process environment in Lambda, the template's declared
/// environment in the local runner.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::BTreeMap::get(self, name).cloned()
    }
}

pub(crate) fn required(env: &dyn Lookup, name: &'static str) -> Result<String, ConfigError> {
    env.get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional_number(env: &dyn Lookup, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match env.get(name) {
        Some(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("{value:?}: {e}"),
            })
        }
        _ => Ok(default),
    }
}

#[derive(Debug, Clone)]
pub struct RebatchSettings {
    pub send_batches_stream: String,
    pub archive_bucket: String,
    /// The table holding the send budgets, to count the tenants of the batches written in their
    /// shares, and each campaign's usage (`USAGE#` counters); unset, neither is counted.
    pub send_budgets_table: Option<String>,
    /// The function's configured memory, which its GB-seconds are counted at (Lambda sets
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; elsewhere the template's 512 MB).
    pub lambda_memory_mb: u32,
}

impl RebatchSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            send_batches_stream: required(env, "SEND_BATCHES_STREAM")?,
            archive_bucket: required(env, "ARCHIVE_BUCKET")?,
            send_budgets_table: env
                .get("DELIVERY_TABLE")
                .filter(|table| !table.trim().is_empty()),
            lambda_memory_mb: optional_number(
                env,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                u64::from(crate::pipeline::rebatch::REBATCH_MEMORY_MB),
            )?
            .clamp(128, 10_240) as u32,
        })
    }
}

#[cfg(feature = "deliver")]
#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub tenants_table: String,
    pub delivery_table: String,
    pub archive_bucket: String,
    pub sending_domain: String,
    pub send_concurrency: usize,
    pub lease_margin: std::time::Duration,
    /// The unsubscribe key ring's secret (its ARN; a name works too).
    pub unsubscribe_keys_secret: String,
    /// The send budget every delivery shares (`SEND_BUDGET`, on unless `off`): SES's rate as
    /// GetAccount states it, `SEND_BUDGET_FALLBACK_RATE` sends a second when it cannot be read,
    /// `SEND_BUDGET_ACCOUNT_SHARE` of it handed out, read again every
    /// `SEND_BUDGET_REFRESH_SECONDS` (docs/deliverability.md, "Send budgets").
    pub send_budget: Option<crate::deliverability::budget::BudgetSettings>,
    /// SNS's publish rate for the push budget beside the email one (`PUSH_SEND_RATE`, pushes a
    /// second, default [`crate::deliverability::budget::account::SNS_DEFAULT_PUSH_RATE`]), of
    /// which the same share is handed out; with the send budget off, pushes are not paced either.
    pub push_send_rate: f64,
    /// The function's configured memory, which its GB-seconds are counted at (Lambda sets
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; elsewhere the template's 1,024 MB).
    pub lambda_memory_mb: u32,
}

/// Deliver's `MemorySize` in template.yaml: its GB-seconds outside Lambda (the local stack).
#[cfg(feature = "deliver")]
pub const DELIVER_MEMORY_MB: u64 = 1024;

#[cfg(feature = "deliver")]
fn push_send_rate(env: &dyn Lookup) -> Result<f64, ConfigError> {
    let default = crate::deliverability::budget::account::SNS_DEFAULT_PUSH_RATE;
    let rate: f64 = optional_parsed(env, "PUSH_SEND_RATE", default)?;
    match rate >= 1.0 && rate.is_finite() {
        true => Ok(rate),
        false => Err(ConfigError::Invalid {
            name: "PUSH_SEND_RATE",
            reason: format!("{rate} is not a rate of at least 1 push a second"),
        }),
    }
}

#[cfg(feature = "deliver")]
fn send_budget(
    env: &dyn Lookup,
) -> Result<Option<crate::deliverability::budget::BudgetSettings>, ConfigError> {
    use crate::deliverability::budget::BudgetSettings;
    let defaults = BudgetSettings::default();
    match env
        .get("SEND_BUDGET")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => {}
        Some(v) if v.is_empty() || v == "on" => {}
        Some(v) if v == "off" => return Ok(None),
        Some(v) => {
            return Err(ConfigError::Invalid {
                name: "SEND_BUDGET",
                reason: format!("{v:?} is neither on nor off"),
            });
        }
    }
    let number = |name: &'static str, default: f64, valid: fn(f64) -> bool, what: &str| match env
        .get(name)
        .filter(|v| !v.trim().is_empty())
    {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| valid(*v))
            .ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!("{value:?} is not {what}"),
            }),
    };
    Ok(Some(BudgetSettings {
        fallback_max_send_rate: number(
            "SEND_BUDGET_FALLBACK_RATE",
            defaults.fallback_max_send_rate,
            |v| v >= 1.0 && v.is_finite(),
            "a rate of at least 1 send a second",
        )?,
        account_share: number(
            "SEND_BUDGET_ACCOUNT_SHARE",
            defaults.account_share,
            |v| v > 0.0 && v <= 1.0,
            "a share above 0 and at most 1",
        )?,
        refresh: std::time::Duration::from_secs(
            optional_number(
                env,
                "SEND_BUDGET_REFRESH_SECONDS",
                defaults.refresh.as_secs(),
            )?
            .clamp(10, 3_600),
        ),
    }))
}

#[cfg(feature = "deliver")]
impl DeliverSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            delivery_table: required(env, "DELIVERY_TABLE")?,
            archive_bucket: required(env, "ARCHIVE_BUCKET")?,
            sending_domain: required(env, "SENDING_DOMAIN")?,
            send_concurrency: optional_number(env, "SEND_CONCURRENCY", 16)?.clamp(1, 256) as usize,
            lease_margin: std::time::Duration::from_secs(optional_number(
                env,
                "LEASE_MARGIN_SECONDS",
                30,
            )?),
            unsubscribe_keys_secret: required(env, "UNSUBSCRIBE_KEYS_SECRET")?,
            send_budget: send_budget(env)?,
            push_send_rate: push_send_rate(env)?,
            lambda_memory_mb: optional_number(
                env,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                DELIVER_MEMORY_MB,
            )?
            .clamp(128, 10_240) as u32,
        })
    }

    pub fn delivery_config(&self) -> crate::pipeline::deliver::DeliveryConfig {
        let mut config = crate::pipeline::deliver::DeliveryConfig::new(&self.sending_domain);
        config.send_concurrency = self.send_concurrency;
        config.lease_margin = self.lease_margin;
        config.lambda_memory_mb = self.lambda_memory_mb;
        config
    }
}

#[cfg(any(feature = "api", feature = "feedback"))]
/// What the tenant endpoints need (the API function): see docs/onboarding.md.
#[derive(Debug, Clone)]
pub struct OnboardingSettings {
    pub tenants_table: String,
    /// Prefix of each retailer's configuration set and SES tenant name (the stack name).
    pub resource_prefix: String,
    pub sending_domain: String,
    /// `arn:aws:ses:<region>:<account>:identity/<sending domain>`.
    pub domain_identity_arn: String,
    /// Where SES sending events go: `arn:aws:events:<region>:<account>:event-bus/default`.
    pub event_bus_arn: String,
    /// With `{tenant}` standing for the tenant id.
    pub unsubscribe_base_url: String,
    /// All three set: reinstating a tenant redrives its parked batches (and uncounts them on the
    /// delivery table).
    pub archive_bucket: Option<String>,
    pub send_batches_stream: Option<String>,
    pub delivery_table: Option<String>,
}

#[cfg(any(feature = "api", feature = "feedback"))]
impl OnboardingSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        let optional = |name: &str| env.get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            resource_prefix: required(env, "RESOURCE_PREFIX")?,
            sending_domain: required(env, "SENDING_DOMAIN")?,
            domain_identity_arn: required(env, "SENDING_DOMAIN_IDENTITY_ARN")?,
            event_bus_arn: required(env, "EVENT_BUS_ARN")?,
            unsubscribe_base_url: required(env, "UNSUBSCRIBE_BASE_URL")?,
            archive_bucket: optional("ARCHIVE_BUCKET"),
            send_batches_stream: optional("SEND_BATCHES_STREAM"),
            delivery_table: optional("DELIVERY_TABLE"),
        })
    }

    pub fn workspace_config(&self) -> crate::aws::ses_workspaces::SesWorkspaceConfig {
        crate::aws::ses_workspaces::SesWorkspaceConfig {
            resource_prefix: self.resource_prefix.clone(),
            sending_domain: self.sending_domain.clone(),
            domain_identity_arn: self.domain_identity_arn.clone(),
            event_bus_arn: self.event_bus_arn.clone(),
        }
    }

    pub fn onboarding_config(&self) -> crate::onboarding::OnboardingConfig {
        crate::onboarding::OnboardingConfig {
            sending_domain: self.sending_domain.clone(),
            unsubscribe_base_url: self.unsubscribe_base_url.clone(),
        }
    }
}

#[cfg(feature = "feedback")]
/// The ses-events function: the delivery table (send log, counters), the tenants table
/// (suppression), the archive (unmatched events) and, for the auto-pause, what onboarding needs
/// to suspend a tenant.
#[derive(Debug, Clone)]
pub struct FeedbackSettings {
    pub delivery_table: String,
    pub archive_bucket: String,
    pub onboarding: OnboardingSettings,
    pub feedback: crate::deliverability::feedback::FeedbackConfig,
}

#[cfg(feature = "feedback")]
impl FeedbackSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        let defaults = crate::deliverability::feedback::FeedbackConfig::default();
        let rate = |name: &'static str, default: f64| -> Result<f64, ConfigError> {
            match env.get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        reason: format!("{value:?} is not a rate between 0 and 1"),
                    }),
            }
        };
        let days = optional_number(
            env,
            "SOFT_BOUNCE_WINDOW_DAYS",
            defaults.soft_bounce_window.as_secs() / 86_400,
        )?;
        Ok(Self {
            delivery_table: required(env, "DELIVERY_TABLE")?,
            archive_bucket: required(env, "ARCHIVE_BUCKET")?,
            onboarding: OnboardingSettings::from_lookup(env)?,
            feedback: crate::deliverability::feedback::FeedbackConfig {
                soft_bounce_limit: optional_number(
                    env,
                    "SOFT_BOUNCE_LIMIT",
                    u64::from(defaults.soft_bounce_limit),
                )?
                .clamp(1, 100) as u32,
                soft_bounce_window: std::time::Duration::from_secs(days.clamp(1, 90) * 86_400),
                pause: crate::deliverability::autopause::PauseThresholds {
                    min_sent: optional_number(env, "PAUSE_MIN_SENT", defaults.pause.min_sent)?,
                    hard_bounce_rate: rate("PAUSE_BOUNCE_RATE", defaults.pause.hard_bounce_rate)?,
                    complaint_rate: rate("PAUSE_COMPLAINT_RATE", defaults.pause.complaint_rate)?,
                },
            },
        })
    }
}

#[cfg(feature = "campaigns")]
/// The campaign lifecycle: the API, the launch worker and the scheduler read the same settings.
#[derive(Debug, Clone)]
pub struct CampaignsSettings {
    pub tenants_table: String,
    pub delivery_table: String,
    pub archive_bucket: String,
    /// Where audience exports are read from (`<tenant>/…` keys).
    pub exports_bucket: String,
    pub campaign_events_stream: String,
    /// Resumed campaigns' parked batches go back here.
    pub send_batches_stream: String,
    pub launch_queue_url: String,
    /// The availability scores offers are filtered by.
    pub scores_table: String,
    pub chunk_bytes: u64,
    /// The launch queue's maxReceiveCount (template.yaml): the attempt reaching it is the last.
    pub max_chunk_attempts: u32,
    /// The function's configured memory, which a launch chunk's GB-seconds are counted at
    /// (Lambda sets `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; elsewhere the template's 1,024 MB).
    pub lambda_memory_mb: u32,
}

#[cfg(feature = "campaigns")]
impl CampaignsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            delivery_table: required(env, "DELIVERY_TABLE")?,
            archive_bucket: required(env, "ARCHIVE_BUCKET")?,
            exports_bucket: required(env, "EXPORTS_BUCKET")?,
            campaign_events_stream: required(env, "CAMPAIGN_EVENTS_STREAM")?,
            send_batches_stream: required(env, "SEND_BATCHES_STREAM")?,
            launch_queue_url: required(env, "LAUNCH_QUEUE_URL")?,
            scores_table: required(env, "SCORES_TABLE")?,
            chunk_bytes: optional_number(
                env,
                "CHUNK_BYTES",
                crate::campaigns::DEFAULT_CHUNK_BYTES,
            )?
            .max(1024),
            max_chunk_attempts: optional_number(env, "MAX_CHUNK_ATTEMPTS", 5)?.clamp(1, 1000)
                as u32,
            lambda_memory_mb: optional_number(
                env,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                u64::from(crate::campaigns::LAUNCH_MEMORY_MB),
            )?
            .clamp(128, 10_240) as u32,
        })
    }

    pub fn campaigns_config(&self) -> crate::campaigns::CampaignsConfig {
        crate::campaigns::CampaignsConfig {
            chunk_bytes: self.chunk_bytes,
            exports_bucket: Some(self.exports_bucket.clone()),
            max_chunk_attempts: self.max_chunk_attempts,
            chunk_retry: Default::default(),
            lambda_memory_mb: self.lambda_memory_mb,
            ..Default::default()
        }
    }
}

#[cfg(feature = "api")]
/// The API function: the tenant endpoints' and the campaign lifecycle's settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub onboarding: OnboardingSettings,
    pub campaigns: CampaignsSettings,
    /// The unsubscribe key ring's secret (its ARN; a name works too).
    pub unsubscribe_keys_secret: String,
    /// Each retailer's API requests per second (`API_TENANT_REQUESTS_PER_SECOND`, default
    /// [`crate::api::limits::DEFAULT_REQUESTS_PER_SECOND`]); 0 turns the limit off.
    pub tenant_requests_per_second: u32,
    /// What the deliverability report shows the warm-up judging by: the same `WARMUP_*`
    /// variables as the warm-up function's ([`warmup_thresholds`]).
    pub warmup_thresholds: crate::deliverability::warmup::WarmupThresholds,
}

#[cfg(feature = "api")]
impl ApiSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            onboarding: OnboardingSettings::from_lookup(env)?,
            campaigns: CampaignsSettings::from_lookup(env)?,
            unsubscribe_keys_secret: required(env, "UNSUBSCRIBE_KEYS_SECRET")?,
            tenant_requests_per_second: optional_parsed(
                env,
                "API_TENANT_REQUESTS_PER_SECOND",
                crate::api::limits::DEFAULT_REQUESTS_PER_SECOND,
            )?,
            warmup_thresholds: warmup_thresholds(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_missing_setting_names_the_variable() {
        let env = BTreeMap::from([("TENANTS_TABLE".to_string(), "t".to_string())]);
        let err = DeliverSettings::from_lookup(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DELIVERY_TABLE is not set"
        );
    }

    #[test]
    fn an_invalid_number_is_rejected_with_its_value() {
        let env: BTreeMap<String, String> = [
            ("TENANTS_TABLE", "t"),
            ("DELIVERY_TABLE", "d"),
            ("ARCHIVE_BUCKET", "b"),
            ("SENDING_DOMAIN", "mail.example"),
            ("SEND_CONCURRENCY", "many"),
            ("UNSUBSCRIBE_KEYS_SECRET", "keys"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let err = DeliverSettings::from_lookup(&env).unwrap_err();
        assert!(err.to_string().contains("SEND_CONCURRENCY"), "{err}");
    }

    #[test]
    fn the_send_budget_is_on_with_defaults_off_when_asked_and_its_rates_checked() {
        let mut env: BTreeMap<String, String> = [
            ("TENANTS_TABLE", "t"),
            ("DELIVERY_TABLE", "d"),
            ("ARCHIVE_BUCKET", "b"),
            ("SENDING_DOMAIN", "mail.example"),
            ("UNSUBSCRIBE_KEYS_SECRET", "keys"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let defaults = crate::deliverability::budget::BudgetSettings::default();
        let settings = DeliverSettings::from_lookup(&env).unwrap();
        assert_eq!(settings.send_budget, Some(defaults));
        env.insert("SEND_BUDGET_FALLBACK_RATE".into(), "200".into());
        env.insert("SEND_BUDGET_ACCOUNT_SHARE".into(), "0.8".into());
        let budget = DeliverSettings::from_lookup(&env)
            .unwrap()
            .send_budget
            .unwrap();
        assert_eq!(
            (budget.fallback_max_send_rate, budget.account_share),
            (200.0, 0.8)
        );
        assert_eq!(
            settings.push_send_rate,
            crate::deliverability::budget::account::SNS_DEFAULT_PUSH_RATE
        );
        env.insert("PUSH_SEND_RATE".into(), "0".into());
        let err = DeliverSettings::from_lookup(&env).unwrap_err();
        assert!(err.to_string().contains("PUSH_SEND_RATE"), "{err}");
        env.insert("PUSH_SEND_RATE".into(), "1000".into());
        assert_eq!(
            DeliverSettings::from_lookup(&env).unwrap().push_send_rate,
            1000.0
        );
        env.insert("SEND_BUDGET_ACCOUNT_SHARE".into(), "1.5".into());
        let err = DeliverSettings::from_lookup(&env).unwrap_err();
        assert!(
            err.to_string().contains("SEND_BUDGET_ACCOUNT_SHARE"),
            "{err}"
        );
        env.insert("SEND_BUDGET".into(), "off".into());
        assert_eq!(
            DeliverSettings::from_lookup(&env).unwrap().send_budget,
            None
        );
    }

    #[cfg(feature = "warmup")]
    #[test]
    fn the_warm_up_thresholds_are_the_defaults_each_overridden_by_its_variable_and_checked() {
        use crate::deliverability::warmup::WarmupThresholds;
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        assert_eq!(
            warmup_thresholds(&env).unwrap(),
            WarmupThresholds::default()
        );
        env.insert("WARMUP_HOLD_BOUNCE_RATE".into(), "0.01".into());
        env.insert("WARMUP_MIN_VOLUME".into(), "200".into());
        let t = warmup_thresholds(&env).unwrap();
        assert_eq!((t.hold_bounce_rate, t.min_volume), (0.01, 200));
        env.insert("WARMUP_HOLD_BOUNCE_RATE".into(), "0.045".into());
        let err = warmup_thresholds(&env).unwrap_err();
        assert!(err.to_string().contains("hold_bounce_rate"), "{err}");
    }

    #[test]
    fn onboarding_settings_need_the_workspace_names_and_make_redrive_optional() {
        let mut env: BTreeMap<String, String> = [
            ("TENANTS_TABLE", "t"),
            ("RESOURCE_PREFIX", "storecast-prod"),
            ("SENDING_DOMAIN", "mail.example"),
            (
                "SENDING_DOMAIN_IDENTITY_ARN",
                "arn:aws:ses:eu-west-1:1:identity/mail.example",
            ),
            (
                "EVENT_BUS_ARN",
                "arn:aws:events:eu-west-1:1:event-bus/default",
            ),
            ("UNSUBSCRIBE_BASE_URL", "https://prefs/{tenant}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = OnboardingSettings::from_lookup(&env).unwrap();
        assert_eq!(settings.archive_bucket, None);
        assert_eq!(
            settings.workspace_config().resource_prefix,
            "storecast-prod"
        );
        env.remove("EVENT_BUS_ARN");
        let err = OnboardingSettings::from_lookup(&env).unwrap_err();
        assert!(err.to_string().contains("EVENT_BUS_ARN"), "{err}");
    }
}

#[cfg(feature = "warmup")]
/// The warm-up function: the tables, and the thresholds (each `WARMUP_*` variable overrides one
/// default of `WarmupThresholds`; docs/deliverability.md, "Warm-up").
#[derive(Debug, Clone)]
pub struct WarmupSettings {
    pub tenants_table: String,
    pub delivery_table: String,
    pub thresholds: crate::deliverability::warmup::WarmupThresholds,
}

#[cfg(feature = "warmup")]
impl WarmupSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        let t = warmup_thresholds(env)?;
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            delivery_table: required(env, "DELIVERY_TABLE")?,
            thresholds: t,
        })
    }
}

#[cfg(feature = "warmup")]
/// The warm-up's thresholds: the defaults of `WarmupThresholds`, each `WARMUP_*` variable
/// overriding one. The warm-up function judges by them; the API reports them (set the same
/// variables on both).
pub fn warmup_thresholds(
    env: &dyn Lookup,
) -> Result<crate::deliverability::warmup::WarmupThresholds, ConfigError> {
    let mut t = crate::deliverability::warmup::WarmupThresholds::default();
    for (name, rate) in [
        ("WARMUP_HOLD_BOUNCE_RATE", &mut t.hold_bounce_rate),
        ("WARMUP_HOLD_COMPLAINT_RATE", &mut t.hold_complaint_rate),
        ("WARMUP_HOLD_DEFERRAL_RATE", &mut t.hold_deferral_rate),
        ("WARMUP_STEP_BACK_BOUNCE_RATE", &mut t.step_back_bounce_rate),
        (
            "WARMUP_STEP_BACK_COMPLAINT_RATE",
            &mut t.step_back_complaint_rate,
        ),
    ] {
        *rate = optional_parsed(env, name, *rate)?;
    }
    t.min_volume = optional_parsed(env, "WARMUP_MIN_VOLUME", t.min_volume)?;
    t.step_back_rungs = optional_parsed(env, "WARMUP_STEP_BACK_RUNGS", t.step_back_rungs)?;
    t.resume_after_healthy_days = optional_parsed(
        env,
        "WARMUP_RESUME_AFTER_HEALTHY_DAYS",
        t.resume_after_healthy_days,
    )?;
    t.validate().map_err(|reason| ConfigError::Invalid {
        name: "WARMUP_*",
        reason,
    })?;
    Ok(t)
}

#[cfg(any(feature = "warmup", feature = "api", feature = "deliver"))]
fn optional_parsed<T>(env: &dyn Lookup, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match env.get(name) {
        Some(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("{value:?}: {e}"),
            })
        }
        _ => Ok(default),
    }
}
