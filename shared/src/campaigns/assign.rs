//! Sticky variant assignment: a customer's bucket is a hash of tenant, campaign and customer, so
//! re-running a launch (or one of its chunks) assigns everyone exactly as before.

use sha2::{Digest, Sha256};

use super::definition::CampaignDefinition;
use crate::domain::{CampaignId, CustomerId, TenantId, VariantId};

/// The hash space is cut into this many buckets: holdout and weights resolve to 0.01 %.
pub const BUCKETS: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment<'a> {
    /// In the control group: recorded, not sent.
    Holdout,
    Variant(&'a VariantId),
}

/// The bucket table of one campaign, computed once per launch.
#[derive(Debug, Clone)]
pub struct VariantTable {
    tenant: TenantId,
    campaign: CampaignId,
    /// Buckets below this are the holdout.
    holdout_end: u32,
    /// Each variant owns the buckets from the previous end up to its own end (exclusive).
    variants: Vec<(u32, VariantId)>,
}

impl VariantTable {
    /// The campaign must be valid (at least one variant, weights above 0, holdout 0 to 50 %).
    pub fn new(campaign: &CampaignDefinition) -> Self {
        let holdout_end = (campaign.holdout_percent * f64::from(BUCKETS) / 100.0).round() as u32;
        let holdout_end = holdout_end.min(BUCKETS);
        let total: u64 = campaign.variants.iter().map(|v| u64::from(v.weight)).sum();
        let open = u64::from(BUCKETS - holdout_end);
        let mut cumulative = 0u64;
        let mut variants = Vec::with_capacity(campaign.variants.len());
        for variant in &campaign.variants {
            cumulative += u64::from(variant.weight);
            let end = u64::from(holdout_end) + open * cumulative / total.max(1);
            variants.push((end as u32, variant.id.clone()));
        }
        if let Some(last) = variants.last_mut() {
            last.0 = BUCKETS;
        }
        Self {
            tenant: campaign.tenant_id.clone(),
            campaign: campaign.campaign_id.clone(),
            holdout_end,
            variants,
        }
    }

    /// SHA-256 over tenant, campaign and customer, each followed by a zero byte, read as a
    /// big-endian number modulo [`BUCKETS`].
    pub fn bucket(&self, customer: &CustomerId) -> u32 {
        let mut hasher = Sha256::new();
        for part in [
            self.tenant.as_str(),
            self.campaign.as_str(),
            customer.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        let digest = hasher.finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(head) % u64::from(BUCKETS)) as u32
    }

    pub fn assign(&self, customer: &CustomerId) -> Assignment<'_> {
        self.assign_bucket(self.bucket(customer))
    }

    pub fn assign_bucket(&self, bucket: u32) -> Assignment<'_> {
        if bucket < self.holdout_end {
            return Assignment::Holdout;
        }
        let index = self.variants.partition_point(|(end, _)| *end <= bucket);
        let index = index.min(self.variants.len() - 1);
        Assignment::Variant(&self.variants[index].1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::campaigns::definition::VariantWeight;

    fn campaign(holdout_percent: f64, weights: &[(&str, u32)]) -> CampaignDefinition {
        let mut json = crate::campaigns::definition::tests::campaign_json();
        json["holdout_percent"] = holdout_percent.into();
        let mut campaign: CampaignDefinition = serde_json::from_value(json).unwrap();
        campaign.variants = weights
            .iter()
            .map(|(id, weight)| VariantWeight {
                id: VariantId::parse(*id).unwrap(),
                weight: *weight,
            })
            .collect();
        campaign.validate().unwrap();
        campaign
    }

    fn customers(count: usize) -> impl Iterator<Item = CustomerId> {
        (0..count).map(|i| CustomerId::parse(format!("cust-{i}")).unwrap())
    }

    fn shares(table: &VariantTable, count: usize) -> HashMap<String, f64> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for customer in customers(count) {
            let name = match table.assign(&customer) {
                Assignment::Holdout => "holdout".to_string(),
                Assignment::Variant(id) => id.to_string(),
            };
            *counts.entry(name).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(name, n)| (name, n as f64 / count as f64))
            .collect()
    }

    #[test]
    fn the_holdout_takes_its_share_of_100k_customers() {
        let table = VariantTable::new(&campaign(10.0, &[("A", 1)]));
        let shares = shares(&table, 100_000);
        assert!(
            (shares["holdout"] - 0.10).abs() < 0.005,
            "holdout share {}",
            shares["holdout"]
        );
    }

    #[test]
    fn variants_split_the_rest_by_weight() {
        let table = VariantTable::new(&campaign(20.0, &[("A", 1), ("B", 3)]));
        let shares = shares(&table, 100_000);
        assert!((shares["A"] - 0.20).abs() < 0.005, "A {}", shares["A"]);
        assert!((shares["B"] - 0.60).abs() < 0.005, "B {}", shares["B"]);
        assert!((shares["holdout"] - 0.20).abs() < 0.005);
    }

    #[test]
    fn no_holdout_means_nobody_is_held_out_and_bucket_edges_resolve() {
        let table = VariantTable::new(&campaign(0.0, &[("A", 1), ("B", 1)]));
        assert!(!customers(10_000).any(|c| table.assign(&c) == Assignment::Holdout));
        assert_eq!(
            table.assign_bucket(0),
            Assignment::Variant(&table.variants[0].1)
        );
        assert_eq!(
            table.assign_bucket(4_999),
            Assignment::Variant(&table.variants[0].1)
        );
        assert_eq!(
            table.assign_bucket(5_000),
            Assignment::Variant(&table.variants[1].1)
        );
        assert_eq!(
            table.assign_bucket(BUCKETS - 1),
            Assignment::Variant(&table.variants[1].1)
        );
    }

    #[test]
    fn assignment_is_sticky_and_depends_on_the_campaign() {
        let first = VariantTable::new(&campaign(10.0, &[("A", 1), ("B", 1)]));
        let again = VariantTable::new(&campaign(10.0, &[("A", 1), ("B", 1)]));
        for customer in customers(1_000) {
            assert_eq!(first.assign(&customer), again.assign(&customer));
        }
        let mut other = campaign(10.0, &[("A", 1), ("B", 1)]);
        other.campaign_id = CampaignId::parse("autumn").unwrap();
        let other = VariantTable::new(&other);
        let differing = customers(1_000)
            .filter(|c| first.bucket(c) != other.bucket(c))
            .count();
        assert!(differing > 900, "another campaign reshuffles the buckets");
    }
}
