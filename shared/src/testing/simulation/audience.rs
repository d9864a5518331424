//! A customer export generated on the fly: fixed-width rows, so any byte range is computed
//! without holding a million rows in memory.

use async_trait::async_trait;

use crate::campaigns::{AudienceLocation, AudienceSource};
use crate::error::StoreError;

/// Every row is padded to this many bytes (newline included).
pub const ROW_BYTES: u64 = 320;

pub struct GeneratedAudience {
    /// Rows of each tenant's export (`<tenant>/customers.jsonl`).
    pub rows: std::collections::HashMap<String, u64>,
}

impl GeneratedAudience {
    fn rows_of(&self, location: &AudienceLocation) -> u64 {
        let tenant = location.key.split('/').next().unwrap_or_default();
        self.rows.get(tenant).copied().unwrap_or(0)
    }
}

/// Customer `i`'s row: consented, with an address and one offer candidate.
pub fn row(i: u64) -> String {
    let mut row = serde_json::json!({
        "id": format!("c{i:010}"),
        "email": format!("c{i:010}@customers.example"),
        "consent": {"email": true},
        "attributes": {"first_name": format!("C{i}"), "tier": "gold"},
        "candidates": [{"item_id": "boots", "title": "Boots", "url": "https://shop.example/b",
                        "price": 90, "currency": "EUR", "score": 0.5}]
    })
    .to_string();
    assert!(row.len() < ROW_BYTES as usize, "row {i} is too long");
    row.extend(std::iter::repeat_n(' ', ROW_BYTES as usize - 1 - row.len()));
    row.push('\n');
    row
}

pub fn customer_id(i: u64) -> String {
    format!("c{i:010}")
}

#[async_trait]
impl AudienceSource for GeneratedAudience {
    async fn object_size(&self, location: &AudienceLocation) -> Result<u64, StoreError> {
        Ok(self.rows_of(location) * ROW_BYTES)
    }

    async fn read_range(
        &self,
        location: &AudienceLocation,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let end = end_exclusive.min(self.rows_of(location) * ROW_BYTES);
        if start >= end {
            return Ok(Vec::new());
        }
        let mut bytes = Vec::with_capacity((end - start) as usize);
        for i in start / ROW_BYTES..end.div_ceil(ROW_BYTES) {
            bytes.extend_from_slice(row(i).as_bytes());
        }
        let skip = (start % ROW_BYTES) as usize;
        bytes.drain(..skip);
        bytes.truncate((end - start) as usize);
        Ok(bytes)
    }
}
