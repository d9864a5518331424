//! The availability functions' settings, read from the environment once per cold start.

use crate::config::{ConfigError, Lookup, ProcessEnv, required};

/// `score-sync`: the tables, the bucket holding the exports and run records, the units' queue.
#[derive(Debug, Clone)]
pub struct ScoreSyncSettings {
    pub tenants_table: String,
    pub scores_table: String,
    pub exports_bucket: String,
    pub queue_url: String,
}

impl ScoreSyncSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            scores_table: required(env, "SCORES_TABLE")?,
            exports_bucket: required(env, "EXPORTS_BUCKET")?,
            queue_url: required(env, "SCORE_SYNC_QUEUE_URL")?,
        })
    }
}

/// `score-refresh`: the tables, the archive for dead letters, the scoring service.
#[derive(Debug, Clone)]
pub struct ScoreRefreshSettings {
    pub tenants_table: String,
    pub scores_table: String,
    pub archive_bucket: String,
    pub scoring_service_url: String,
}

impl ScoreRefreshSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        let url = required(env, "SCORING_SERVICE_URL")?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "SCORING_SERVICE_URL",
                reason: format!("{url:?} is not an http(s) URL"),
            });
        }
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            scores_table: required(env, "SCORES_TABLE")?,
            archive_bucket: required(env, "ARCHIVE_BUCKET")?,
            scoring_service_url: url,
        })
    }
}

/// `delta-optimizer`: the tenants table (configurations) and the bucket holding the feedback
/// and the reports.
#[derive(Debug, Clone)]
pub struct DeltaOptimizerSettings {
    pub tenants_table: String,
    pub exports_bucket: String,
}

impl DeltaOptimizerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: required(env, "TENANTS_TABLE")?,
            exports_bucket: required(env, "EXPORTS_BUCKET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_scoring_url_that_is_not_http_is_refused_at_the_start() {
        let mut env = BTreeMap::from([
            ("TENANTS_TABLE".to_string(), "t".to_string()),
            ("SCORES_TABLE".to_string(), "s".to_string()),
            ("ARCHIVE_BUCKET".to_string(), "a".to_string()),
            (
                "SCORING_SERVICE_URL".to_string(),
                "scoring.internal".to_string(),
            ),
        ]);
        assert!(matches!(
            ScoreRefreshSettings::from_lookup(&env),
            Err(ConfigError::Invalid {
                name: "SCORING_SERVICE_URL",
                ..
            })
        ));
        env.insert(
            "SCORING_SERVICE_URL".into(),
            "https://scoring.internal".into(),
        );
        assert!(ScoreRefreshSettings::from_lookup(&env).is_ok());
        env.remove("SCORES_TABLE");
        assert!(matches!(
            ScoreRefreshSettings::from_lookup(&env),
            Err(ConfigError::Missing("SCORES_TABLE"))
        ));
    }
}
