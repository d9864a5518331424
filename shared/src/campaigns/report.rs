//! What a launch did with its audience, per chunk and merged over the chunks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A launch report keeps this many malformed rows as examples (the count covers all of them).
pub const MALFORMED_EXAMPLES: usize = 5;
/// An example's reason is cut to this many characters.
const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchReport {
    /// Non-blank lines read.
    pub rows: u64,
    pub malformed: u64,
    /// The first malformed rows, by position in the export.
    pub malformed_examples: Vec<MalformedRow>,
    /// No consent for the campaign's channel (a missing consent counts as no).
    pub not_consented: u64,
    /// Consented, but without an address for the channel (email, or push token).
    pub no_address: u64,
    pub suppressed: u64,
    pub not_in_segment: u64,
    /// Matched, and in the control group: recorded here, not sent.
    pub held_out: u64,
    /// Matched and not held out, but already at the retailer's frequency cap: not sent.
    #[serde(default)]
    pub frequency_capped: u64,
    /// Matched and not held out, per variant.
    pub matched: BTreeMap<String, u64>,
    pub events_emitted: u64,
    /// Candidates of the emitted events that would have taken an offer slot but are unlikely
    /// in stock at the customer's store: left out, the next candidate took the slot.
    #[serde(default)]
    pub offers_unavailable: u64,
}

/// A row that could not be read. The offset is the byte offset of the line's first byte in the
/// export (in the decompressed stream for a gzip export): chunks read byte ranges, so line
/// numbers are not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MalformedRow {
    pub offset: u64,
    pub reason: String,
}

impl LaunchReport {
    pub(crate) fn malformed_row(&mut self, offset: u64, reason: impl std::fmt::Display) {
        self.malformed += 1;
        if self.malformed_examples.len() < MALFORMED_EXAMPLES {
            let reason: String = reason.to_string().chars().take(MAX_REASON_CHARS).collect();
            self.malformed_examples
                .push(MalformedRow { offset, reason });
        }
    }

    pub fn matched_total(&self) -> u64 {
        self.matched.values().sum()
    }

    /// Adds another chunk's report to this one.
    pub fn merge(&mut self, other: &LaunchReport) {
        self.rows += other.rows;
        self.malformed += other.malformed;
        self.malformed_examples
            .extend(other.malformed_examples.iter().cloned());
        self.malformed_examples.sort_by_key(|row| row.offset);
        self.malformed_examples.truncate(MALFORMED_EXAMPLES);
        self.not_consented += other.not_consented;
        self.no_address += other.no_address;
        self.suppressed += other.suppressed;
        self.not_in_segment += other.not_in_segment;
        self.held_out += other.held_out;
        self.frequency_capped += other.frequency_capped;
        for (variant, count) in &other.matched {
            *self.matched.entry(variant.clone()).or_default() += count;
        }
        self.events_emitted += other.events_emitted;
        self.offers_unavailable += other.offers_unavailable;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_keeps_the_first_examples_by_offset() {
        let mut first = LaunchReport::default();
        let mut second = LaunchReport::default();
        for offset in [500, 600, 700] {
            second.malformed_row(offset, "bad");
        }
        for offset in [10, 20, 30, 40] {
            first.malformed_row(offset, "bad");
        }
        first.matched.insert("A".into(), 2);
        second.matched.insert("A".into(), 3);
        second.matched.insert("B".into(), 1);
        first.frequency_capped = 2;
        second.frequency_capped = 5;
        first.offers_unavailable = 1;
        second.offers_unavailable = 4;
        first.merge(&second);
        assert_eq!(first.malformed, 7);
        let offsets: Vec<u64> = first.malformed_examples.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![10, 20, 30, 40, 500]);
        assert_eq!(first.matched["A"], 5);
        assert_eq!(first.matched_total(), 6);
        assert_eq!(first.frequency_capped, 7);
        assert_eq!(first.offers_unavailable, 5);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["matched"]["B"], 1);
    }
}
