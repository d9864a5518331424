//! GrowthBook's hashing and bucketing, written from its published algorithm (sdk-js `util.ts`:
//! `hash`, `getBucketRanges`, `chooseVariation`), so a retailer's experiment splits users exactly
//! as a GrowthBook SDK would and the two can be checked against each other.

/// The FNV-1a 32-bit offset basis and prime.
const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The seed of the user bucket (see [`user_bucket`]). Fixed, so a user's bucket never moves when
/// an experiment or a configuration changes.
pub const USER_BUCKET_SEED: &str = "storecast-user-bucket";
/// Users fall in this many buckets, `b0` to `b9`.
pub const USER_BUCKETS: u8 = 10;

/// GrowthBook's hash versions. Version 2 hashes twice, because version 1's single pass puts
/// similar seeds and values in correlated buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashVersion {
    /// `(fnv1a32(value + seed) % 1000) / 1000`.
    V1,
    /// `(fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000`.
    V2,
}

/// FNV-1a over the string's UTF-16 code units, as `String.charCodeAt` yields them in the
/// JavaScript SDK (the reference): for ASCII, the same as over its bytes.
pub fn fnv1a32(text: &str) -> u32 {
    text.encode_utf16().fold(FNV_OFFSET_BASIS, |hash, unit| {
        (hash ^ u32::from(unit)).wrapping_mul(FNV_PRIME)
    })
}

/// A number in `[0, 1)` for `value` under `seed`, as GrowthBook's `hash(seed, value, version)`.
pub fn hash(seed: &str, value: &str, version: HashVersion) -> f64 {
    match version {
        HashVersion::V1 => f64::from(fnv1a32(&concat(value, seed)) % 1_000) / 1_000.0,
        HashVersion::V2 => {
            let first = fnv1a32(&concat(seed, value));
            f64::from(fnv1a32(&first.to_string()) % 10_000) / 10_000.0
        }
    }
}

fn concat(first: &str, second: &str) -> String {
    let mut text = String::with_capacity(first.len() + second.len());
    text.push_str(first);
    text.push_str(second);
    text
}

/// The half-open range `[start, end)` of hash values that fall in one variation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketRange {
    pub start: f64,
    pub end: f64,
}

impl BucketRange {
    pub fn contains(&self, n: f64) -> bool {
        n >= self.start && n < self.end
    }
}

/// GrowthBook's `getBucketRanges`: each variation owns `[start, start + coverage * weight)`,
/// `start` being the sum of the weights before it, so raising the coverage only adds users to
/// each variation and never moves one from a variation to another. Coverage is clamped to
/// `[0, 1]`; weights of the wrong count, or not summing to 1 (within 0.01), are replaced by equal
/// weights, as the SDK does.
pub fn bucket_ranges(
    variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<BucketRange> {
    let coverage = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };
    let equal = equal_weights(variations);
    let weights = match weights {
        Some(weights) if weights.len() == variations && sums_to_one(weights) => weights.to_vec(),
        _ => equal,
    };
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|weight| {
            let start = cumulative;
            cumulative += weight;
            BucketRange {
                start,
                end: start + coverage * weight,
            }
        })
        .collect()
}

fn equal_weights(variations: usize) -> Vec<f64> {
    vec![1.0 / variations as f64; variations]
}

fn sums_to_one(weights: &[f64]) -> bool {
    let total: f64 = weights.iter().sum();
    (0.99..=1.01).contains(&total)
}

/// GrowthBook's `chooseVariation`: the first range holding `n`, or `None` when `n` is outside
/// the experiment's coverage.
pub fn choose_variation(n: f64, ranges: &[BucketRange]) -> Option<usize> {
    ranges.iter().position(|range| range.contains(n))
}

/// The user's bucket, `0..=9`: the decile of hash version 2 of the user id under the seed
/// [`USER_BUCKET_SEED`] (`floor(hash * 10)`). It is the value of the `user_bucket` segment, named
/// `b0` to `b9` ([`user_bucket_name`]): a delta for `user_bucket = b3` moves the threshold of a
/// tenth of the users, the same tenth for every retailer and every request, independent of any
/// experiment's seed.
pub fn user_bucket(user: &str) -> u8 {
    let n = hash(USER_BUCKET_SEED, user, HashVersion::V2);
    // `n < 1`, so the product is below 10; the `min` only guards against rounding.
    ((n * f64::from(USER_BUCKETS)) as u8).min(USER_BUCKETS - 1)
}

/// The `user_bucket` segment's value of a bucket: `b0` to `b9`.
pub fn user_bucket_name(bucket: u8) -> &'static str {
    const NAMES: [&str; USER_BUCKETS as usize] =
        ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"];
    NAMES[usize::from(bucket.min(USER_BUCKETS - 1))]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GrowthBook sdk-js `test/cases.json`, section "hash": [seed, value, version, expected].
    const HASH_CASES: &[(&str, &str, HashVersion, f64)] = &[
        ("", "a", HashVersion::V1, 0.22),
        ("", "b", HashVersion::V1, 0.077),
        ("", "ab", HashVersion::V1, 0.946),
        ("", "def", HashVersion::V1, 0.652),
        ("", "8952klfjas09ujkasdf", HashVersion::V1, 0.549),
        ("", "123", HashVersion::V1, 0.011),
        ("", "___)((*\":&", HashVersion::V1, 0.563),
        ("seed", "a", HashVersion::V2, 0.0505),
        ("seed", "b", HashVersion::V2, 0.2696),
        ("foo", "ab", HashVersion::V2, 0.2575),
        ("foo", "def", HashVersion::V2, 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", HashVersion::V2, 0.124),
        ("90850943850283058242805", "123", HashVersion::V2, 0.7516),
        ("()**(%$##$%#$#", "___)((*\":&", HashVersion::V2, 0.0128),
        ("feature", "123", HashVersion::V2, 0.5231),
        ("experiment", "1", HashVersion::V2, 0.4413),
    ];

    #[test]
    fn hashes_match_growthbooks_published_vectors() {
        for &(seed, value, version, expected) in HASH_CASES {
            assert_eq!(
                hash(seed, value, version),
                expected,
                "hash({seed:?}, {value:?}, {version:?})"
            );
        }
    }

    #[test]
    fn fnv1a32_is_the_standard_32_bit_fnv_1a() {
        // The published FNV test vectors.
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
    }

    /// Variations, coverage, weights, and the expected (start, end) of each range.
    type RangeCase = (usize, f64, Option<&'static [f64]>, &'static [(f64, f64)]);

    fn ranges(expected: &[(f64, f64)]) -> Vec<BucketRange> {
        expected
            .iter()
            .map(|&(start, end)| BucketRange { start, end })
            .collect()
    }

    fn assert_close(actual: &[BucketRange], expected: &[BucketRange]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?}");
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a.start - e.start).abs() < 1e-9 && (a.end - e.end).abs() < 1e-9,
                "{actual:?} != {expected:?}"
            );
        }
    }

    #[test]
    fn bucket_ranges_match_growthbooks_published_vectors() {
        let cases: &[RangeCase] = &[
            (2, 1.0, None, &[(0.0, 0.5), (0.5, 1.0)]),
            (2, 0.5, None, &[(0.0, 0.25), (0.5, 0.75)]),
            (2, 1.0, Some(&[0.4, 0.6]), &[(0.0, 0.4), (0.4, 1.0)]),
            (
                3,
                0.2,
                Some(&[0.2, 0.3, 0.5]),
                &[(0.0, 0.04), (0.2, 0.26), (0.5, 0.6)],
            ),
            (2, 0.1, Some(&[0.4, 0.6]), &[(0.0, 0.04), (0.4, 0.46)]),
        ];
        for &(variations, coverage, weights, expected) in cases {
            assert_close(
                &bucket_ranges(variations, coverage, weights),
                &ranges(expected),
            );
        }
    }

    #[test]
    fn out_of_range_coverage_and_bad_weights_fall_back_as_growthbook_does() {
        assert_close(
            &bucket_ranges(2, 1.5, None),
            &ranges(&[(0.0, 0.5), (0.5, 1.0)]),
        );
        assert_close(
            &bucket_ranges(2, -0.2, None),
            &ranges(&[(0.0, 0.0), (0.5, 0.5)]),
        );
        // Wrong count, then a sum far from 1: equal weights instead.
        assert_close(
            &bucket_ranges(2, 1.0, Some(&[0.4, 0.3, 0.3])),
            &ranges(&[(0.0, 0.5), (0.5, 1.0)]),
        );
        assert_close(
            &bucket_ranges(2, 1.0, Some(&[0.7, 0.7])),
            &ranges(&[(0.0, 0.5), (0.5, 1.0)]),
        );
    }

    #[test]
    fn a_variation_is_the_first_range_holding_the_hash() {
        let covered = bucket_ranges(2, 0.5, None);
        assert_eq!(choose_variation(0.0, &covered), Some(0));
        assert_eq!(choose_variation(0.2499, &covered), Some(0));
        assert_eq!(choose_variation(0.25, &covered), None, "end is exclusive");
        assert_eq!(choose_variation(0.5, &covered), Some(1));
        assert_eq!(choose_variation(0.8, &covered), None, "outside coverage");
        let full = bucket_ranges(3, 1.0, Some(&[0.2, 0.3, 0.5]));
        assert_eq!(choose_variation(0.2, &full), Some(1));
        assert_eq!(choose_variation(0.9999, &full), Some(2));
    }

    #[test]
    fn user_buckets_are_the_deciles_of_the_v2_hash_and_spread_evenly() {
        for user in ["u1", "anna@example", "42", ""] {
            let n = hash(USER_BUCKET_SEED, user, HashVersion::V2);
            assert_eq!(user_bucket(user), (n * 10.0).floor() as u8, "{user}");
        }
        let mut counts = [0u32; USER_BUCKETS as usize];
        for i in 0..10_000 {
            counts[usize::from(user_bucket(&format!("customer-{i}")))] += 1;
        }
        for (bucket, count) in counts.iter().enumerate() {
            assert!(
                (850..=1150).contains(count),
                "bucket {bucket}: {count} of 10,000"
            );
        }
        assert_eq!(user_bucket_name(0), "b0");
        assert_eq!(user_bucket_name(9), "b9");
    }
}
