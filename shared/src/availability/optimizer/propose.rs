//! From fitted deltas to the run's proposal, through the guardrails: no change on thin data,
//! within the dead band, or beyond the maximum step per run; every delta kept within the bound.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::fit::ValueFit;
use crate::availability::config::{MAX_DELTA_MAGNITUDE, MAX_DELTAS, OptimizerSettings};
use crate::availability::{Segment, SegmentDelta};

/// What the proposal does to one value's delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// To the fitted delta.
    ToFit,
    /// By the maximum step toward it.
    StepLimited,
    /// Toward the bound the fitted delta lies beyond, or held there.
    BoundLimited,
    /// Unchanged: the fitted delta is within the dead band of the current one.
    DeadBand,
    /// Unchanged: fewer rows than the minimum sample.
    ThinData,
    /// Unchanged: a new delta would make more than `MAX_DELTAS`.
    NoRoom,
}

impl Movement {
    pub fn changes(self) -> bool {
        matches!(
            self,
            Movement::ToFit | Movement::StepLimited | Movement::BoundLimited
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub new_delta: f64,
    pub movement: Movement,
}

/// The bound the optimizer keeps deltas within.
pub fn bound(settings: &OptimizerSettings) -> f64 {
    settings.max_delta.min(MAX_DELTA_MAGNITUDE)
}

pub fn propose(fit: &ValueFit, settings: &OptimizerSettings) -> Proposal {
    let unchanged = |movement| Proposal {
        new_delta: fit.current,
        movement,
    };
    let Some(fitted) = fit.fitted else {
        return unchanged(Movement::ThinData);
    };
    let bound = bound(settings);
    // The target is clamped before stepping, so a delta set beyond the bound by hand walks
    // back within it by at most a step a run.
    let target = fitted.clamp(-bound, bound);
    let bounded = target != fitted;
    let gap = target - fit.current;
    if gap.abs() < settings.dead_band || gap == 0.0 {
        return unchanged(if bounded {
            Movement::BoundLimited
        } else {
            Movement::DeadBand
        });
    }
    let step = gap.clamp(-settings.max_step, settings.max_step);
    let movement = match (step != gap, bounded) {
        (true, _) => Movement::StepLimited,
        (false, true) => Movement::BoundLimited,
        (false, false) => Movement::ToFit,
    };
    Proposal {
        new_delta: fit.current + step,
        movement,
    }
}

/// The current delta of every (segment, value).
pub fn current_deltas(deltas: &[SegmentDelta]) -> HashMap<(Segment, &str), f64> {
    deltas
        .iter()
        .map(|d| ((d.segment, d.value.as_str()), d.delta))
        .collect()
}

/// `deltas` with the proposals' changes (`proposals[i]` is `fits[i]`'s): existing deltas
/// updated in place, new ones appended while there is room (a proposal that finds none becomes
/// `NoRoom`).
pub fn apply(
    deltas: &[SegmentDelta],
    fits: &[ValueFit],
    proposals: &mut [Proposal],
) -> Vec<SegmentDelta> {
    let mut next = deltas.to_vec();
    let position: HashMap<(Segment, String), usize> = next
        .iter()
        .enumerate()
        .map(|(i, d)| ((d.segment, d.value.clone()), i))
        .collect();
    for (fit, proposal) in fits.iter().zip(proposals.iter_mut()) {
        if !proposal.movement.changes() {
            continue;
        }
        match position.get(&(fit.segment, fit.value.clone())) {
            Some(&i) => next[i].delta = proposal.new_delta,
            None if next.len() < MAX_DELTAS => next.push(SegmentDelta {
                segment: fit.segment,
                value: fit.value.clone(),
                delta: proposal.new_delta,
            }),
            None => {
                *proposal = Proposal {
                    new_delta: fit.current,
                    movement: Movement::NoRoom,
                }
            }
        }
    }
    next
}
