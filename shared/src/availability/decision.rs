//! The availability decision: which column a request reads (the experiment's arm for its user,
//! else the default), the threshold it is held to (the column's model's base threshold plus the
//! deltas of every segment the request and the item fall in, clamped to [0, 1]), and per item
//! whether its score reaches it. Pure: the scores come in, nothing is read here.
//!
//! A configuration is prepared once ([`DecisionTable`]: the deltas indexed by segment and value,
//! the experiment's bucket ranges), a request's terms once per request ([`RequestTerms`]: the
//! column, the request-level deltas), and each item then costs a score look-up and, when it has a
//! category, one map look-up.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::bucketing::{self, BucketRange, HashVersion};
use super::config::{AvailabilityConfig, InvalidConfig, MissingScore, ModelColumn, Segment};
use super::scores::{ItemScores, Score};
use crate::domain::{ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};

/// Who asks, where: what the decision of a request depends on besides its items.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub tenant: &'a TenantId,
    pub store: &'a StoreId,
    /// The store's or the user's region (the `region` segment's value).
    pub region: Option<&'a str>,
    /// The user the experiment buckets and whose `user_bucket` segment applies; without one (or
    /// with an empty one, as GrowthBook skips an empty hash attribute) the request reads the
    /// default column and falls in no user bucket.
    pub user: Option<&'a str>,
}

/// One item of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    pub item_id: ItemId,
    /// The item's product category (the `category` segment's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A delta that moved a threshold, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct AppliedDelta {
    pub segment: Segment,
    pub value: String,
    pub delta: f64,
}

/// The experiment arm a user was bucketed into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct ArmAssignment {
    pub experiment: String,
    /// The arm's position in the experiment's `arms`.
    pub arm: usize,
}

/// What a request's items are decided with: the same for every item of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTerms {
    pub model: ModelVersion,
    pub column: ScoreColumn,
    pub arm: Option<ArmAssignment>,
    pub base_threshold: f64,
    /// The request-level deltas (retailer, region, user bucket), in that order.
    pub deltas: Vec<AppliedDelta>,
    delta_sum: f64,
}

impl RequestTerms {
    /// The sum of the request-level deltas.
    pub fn delta_sum(&self) -> f64 {
        self.delta_sum
    }
}

/// What decides a request's terms, and nothing more: requests with equal keys have equal terms,
/// so a batch of users can be decided once per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TermsKey<'a> {
    /// The experiment arm, when the user is covered.
    pub arm: Option<usize>,
    /// The region, only when it has a delta.
    pub region: Option<&'a str>,
    /// The user's bucket, only when it has a delta.
    pub user_bucket: Option<u8>,
}

/// One item's decision, explained.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDecision {
    pub item: ItemId,
    /// The score used: the stored one of the request's column, or the one the missing-score
    /// policy assumes; `None` when the policy counts a missing score as unavailable.
    pub score: Option<Score>,
    /// When the model computed the stored score.
    pub computed_at: Option<OffsetDateTime>,
    /// Whether the column had no score for the item.
    pub missing: bool,
    /// The item's category delta, when its category has one.
    pub category_delta: Option<AppliedDelta>,
    /// Base plus every delta, clamped to [0, 1].
    pub threshold: f64,
    pub available: bool,
}

impl ItemDecision {
    /// Every delta applied to this item: the request's, then the category's.
    pub fn deltas<'a>(&'a self, terms: &'a RequestTerms) -> impl Iterator<Item = &'a AppliedDelta> {
        terms.deltas.iter().chain(self.category_delta.iter())
    }
}

/// A request's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub store: StoreId,
    pub terms: RequestTerms,
    /// In the request's order.
    pub items: Vec<ItemDecision>,
}

/// The score, the threshold and the verdict of one item, before any explanation is built.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    score: Option<Score>,
    computed_at: Option<OffsetDateTime>,
    missing: bool,
    category_delta: Option<f64>,
    threshold: f64,
    available: bool,
}

#[derive(Debug, Clone)]
struct PreparedExperiment {
    key: String,
    seed: String,
    ranges: Vec<BucketRange>,
    columns: Vec<ScoreColumn>,
}

/// A validated configuration made ready to decide with.
#[derive(Debug, Clone)]
pub struct DecisionTable {
    config: AvailabilityConfig,
    /// Per segment (in [`Segment::ALL`]'s order), the delta of each value.
    deltas: [HashMap<String, f64>; Segment::ALL.len()],
    experiment: Option<PreparedExperiment>,
}

fn segment_index(segment: Segment) -> usize {
    match segment {
        Segment::Category => 0,
        Segment::Retailer => 1,
        Segment::Region => 2,
        Segment::UserBucket => 3,
    }
}

impl DecisionTable {
    /// Validates `config` (so every column a request can land on has an enabled model) and
    /// indexes it.
    pub fn new(config: AvailabilityConfig) -> Result<Self, InvalidConfig> {
        config.validate()?;
        let mut deltas: [HashMap<String, f64>; Segment::ALL.len()] = Default::default();
        for delta in &config.deltas {
            deltas[segment_index(delta.segment)].insert(delta.value.clone(), delta.delta);
        }
        let experiment = config.experiment.as_ref().map(|experiment| {
            // Config weights need not sum to 1; GrowthBook's ranges expect shares that do.
            let total: f64 = experiment.arms.iter().map(|arm| arm.weight).sum();
            let weights: Vec<f64> = experiment.arms.iter().map(|a| a.weight / total).collect();
            PreparedExperiment {
                key: experiment.key.clone(),
                seed: experiment.seed().to_string(),
                ranges: bucketing::bucket_ranges(
                    weights.len(),
                    experiment.coverage,
                    Some(&weights),
                ),
                columns: experiment.arms.iter().map(|a| a.column.clone()).collect(),
            }
        });
        Ok(Self {
            config,
            deltas,
            experiment,
        })
    }

    pub fn config(&self) -> &AvailabilityConfig {
        &self.config
    }

    fn delta(&self, segment: Segment, value: &str) -> Option<f64> {
        self.deltas[segment_index(segment)].get(value).copied()
    }

    /// What the request's terms depend on: its user's arm and, when they carry a delta, its
    /// region and its user's bucket.
    pub fn key<'a>(&self, region: Option<&'a str>, user: Option<&str>) -> TermsKey<'a> {
        let user = user.filter(|u| !u.is_empty());
        let arm = match (&self.experiment, user) {
            (Some(experiment), Some(user)) => bucketing::choose_variation(
                bucketing::hash(&experiment.seed, user, HashVersion::V2),
                &experiment.ranges,
            ),
            _ => None,
        };
        let bucket_deltas = &self.deltas[segment_index(Segment::UserBucket)];
        let user_bucket = user
            .filter(|_| !bucket_deltas.is_empty())
            .map(bucketing::user_bucket)
            .filter(|&b| bucket_deltas.contains_key(bucketing::user_bucket_name(b)));
        TermsKey {
            arm,
            region: region.filter(|r| self.delta(Segment::Region, r).is_some()),
            user_bucket,
        }
    }

    /// The terms of every request of `tenant` with this key.
    pub fn terms_for(&self, tenant: &TenantId, key: &TermsKey<'_>) -> RequestTerms {
        let experiment = self.experiment.as_ref();
        let arm_column = key
            .arm
            .and_then(|arm| experiment.and_then(|e| e.columns.get(arm)));
        let column = arm_column.unwrap_or(&self.config.default_column);
        let model = self.model(column);
        let mut deltas = Vec::new();
        let mut applied = |segment: Segment, value: &str| {
            if let Some(delta) = self.delta(segment, value) {
                deltas.push(AppliedDelta {
                    segment,
                    value: value.to_string(),
                    delta,
                });
            }
        };
        applied(Segment::Retailer, tenant.as_str());
        if let Some(region) = key.region {
            applied(Segment::Region, region);
        }
        if let Some(bucket) = key.user_bucket {
            applied(Segment::UserBucket, bucketing::user_bucket_name(bucket));
        }
        let delta_sum = deltas.iter().map(|d| d.delta).sum();
        RequestTerms {
            model: model.model.clone(),
            column: model.column.clone(),
            arm: arm_column
                .and(experiment)
                .zip(key.arm)
                .map(|(e, arm)| ArmAssignment {
                    experiment: e.key.clone(),
                    arm,
                }),
            base_threshold: model.base_threshold,
            deltas,
            delta_sum,
        }
    }

    /// The terms of one request.
    pub fn terms(&self, context: &RequestContext<'_>) -> RequestTerms {
        self.terms_for(context.tenant, &self.key(context.region, context.user))
    }

    fn model(&self, column: &ScoreColumn) -> &ModelColumn {
        // `new` validated that the default column and every arm have an enabled model.
        self.config
            .model_of(column)
            .or_else(|| self.config.models.first())
            .expect("a validated configuration has a model")
    }

    fn verdict(
        &self,
        terms: &RequestTerms,
        category: Option<&str>,
        scores: Option<&ItemScores>,
    ) -> Verdict {
        let category_delta = category.and_then(|c| self.delta(Segment::Category, c));
        let threshold = (terms.base_threshold + terms.delta_sum + category_delta.unwrap_or(0.0))
            .clamp(0.0, 1.0);
        let stored = scores.and_then(|s| s.get(&terms.column));
        let (score, computed_at) = match (stored, self.config.missing_score) {
            (Some(stored), _) => (Some(stored.score), Some(stored.computed_at)),
            (None, MissingScore::Assume { score }) => (Some(score), None),
            (None, MissingScore::Unavailable) => (None, None),
        };
        Verdict {
            score,
            computed_at,
            missing: stored.is_none(),
            category_delta,
            threshold,
            available: score.is_some_and(|s| s.value() >= threshold),
        }
    }

    /// Whether the item is available under `terms`, without the explanation.
    pub fn is_available(
        &self,
        terms: &RequestTerms,
        category: Option<&str>,
        scores: Option<&ItemScores>,
    ) -> bool {
        self.verdict(terms, category, scores).available
    }

    /// One item's decision under `terms`, explained.
    pub fn decide_item(
        &self,
        terms: &RequestTerms,
        item: &ItemQuery,
        scores: Option<&ItemScores>,
    ) -> ItemDecision {
        let category = item.category.as_deref();
        let verdict = self.verdict(terms, category, scores);
        ItemDecision {
            item: item.item_id.clone(),
            score: verdict.score,
            computed_at: verdict.computed_at,
            missing: verdict.missing,
            category_delta: verdict.category_delta.zip(category).map(|(delta, value)| {
                AppliedDelta {
                    segment: Segment::Category,
                    value: value.to_string(),
                    delta,
                }
            }),
            threshold: verdict.threshold,
            available: verdict.available,
        }
    }

    /// A request's decision: its terms once, then each item with its stored scores (at the
    /// request's store; an item missing from `scores` has none).
    pub fn decide(
        &self,
        context: &RequestContext<'_>,
        items: &[ItemQuery],
        scores: &HashMap<ItemId, ItemScores>,
    ) -> Decision {
        let terms = self.terms(context);
        let items = items
            .iter()
            .map(|item| self.decide_item(&terms, item, scores.get(&item.item_id)))
            .collect();
        Decision {
            store: context.store.clone(),
            terms,
            items,
        }
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
