//! The day's feedback summed as it is read: rows with the same category, region and user bucket
//! fall in one cell (the retailer is the same for all), so a day of millions of rows becomes a
//! few thousand cells and is never held in memory.

use std::collections::{BTreeMap, HashMap};

use super::rows::{FeedbackRow, Refusal, Refusals, parse_row};
use crate::availability::Segment;

/// The dimensions a row names, in the order of a cell's levels.
pub const ROW_SEGMENTS: [Segment; 3] = [Segment::Category, Segment::Region, Segment::UserBucket];

/// The sums of one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellSums {
    pub rows: u64,
    pub score_sum: f64,
    pub found: u64,
}

impl CellSums {
    /// How much more often the cell's items were scored than found, summed over its rows: the
    /// threshold correction the cell needs, times its rows.
    pub fn overconfidence_sum(&self) -> f64 {
        self.score_sum - self.found as f64
    }

    fn add(&mut self, other: &CellSums) {
        self.rows += other.rows;
        self.score_sum += other.score_sum;
        self.found += other.found;
    }
}

/// Distinct values of one dimension, numbered in the order first seen.
#[derive(Debug, Clone, Default)]
struct Interner {
    numbers: HashMap<String, u32>,
    values: Vec<String>,
}

impl Interner {
    fn number(&mut self, value: &str) -> u32 {
        if let Some(&number) = self.numbers.get(value) {
            return number;
        }
        let number = self.values.len() as u32;
        self.numbers.insert(value.to_string(), number);
        self.values.push(value.to_string());
        number
    }
}

#[derive(Debug, Clone, Default)]
pub struct FeedbackTally {
    interners: [Interner; 3],
    /// Ordered, so sums over cells are added in the same order every run (a seeded simulation
    /// repeats to the last bit).
    cells: BTreeMap<[u32; 3], CellSums>,
    /// Used rows by the column they name (`""` for rows naming none).
    pub rows_by_column: BTreeMap<String, u64>,
    pub refusals: Refusals,
    pub objects: u64,
    /// Non-blank lines read, used or refused.
    pub lines: u64,
}

impl FeedbackTally {
    pub fn add(&mut self, row: &FeedbackRow<'_>) {
        let levels = [
            self.interners[0].number(&row.category),
            self.interners[1].number(&row.region),
            self.interners[2].number(&row.user_bucket),
        ];
        let cell = self.cells.entry(levels).or_default();
        cell.rows += 1;
        cell.score_sum += row.score;
        cell.found += u64::from(row.found);
        let column = row.column.as_ref().map_or("", |c| c.as_str());
        match self.rows_by_column.get_mut(column) {
            Some(count) => *count += 1,
            None => {
                self.rows_by_column.insert(column.to_string(), 1);
            }
        }
    }

    /// One line of object `key` (its number counted from 1): used, refused or blank.
    pub fn add_line(&mut self, key: &str, number: u64, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.lines += 1;
        let Ok(text) = std::str::from_utf8(line) else {
            let shown = String::from_utf8_lossy(line);
            self.refusals.record(Refusal::NotJson, key, number, &shown);
            return;
        };
        match parse_row(text) {
            Ok(row) => self.add(&row),
            Err(refusal) => self.refusals.record(refusal, key, number, text),
        }
    }

    /// Rows used.
    pub fn rows(&self) -> u64 {
        self.cells.values().map(|c| c.rows).sum()
    }

    /// Every cell: its levels (numbers of [`Self::values`] of each of [`ROW_SEGMENTS`]) and sums.
    pub fn cells(&self) -> impl Iterator<Item = (&[u32; 3], &CellSums)> {
        self.cells.iter()
    }

    /// The distinct values of `ROW_SEGMENTS[dimension]`, by number.
    pub fn values(&self, dimension: usize) -> &[String] {
        &self.interners[dimension].values
    }

    /// The sums of every value of `ROW_SEGMENTS[dimension]`, by number.
    pub fn value_sums(&self, dimension: usize) -> Vec<CellSums> {
        let mut sums = vec![CellSums::default(); self.values(dimension).len()];
        for (levels, cell) in &self.cells {
            sums[levels[dimension] as usize].add(cell);
        }
        sums
    }

    /// The sums of all rows.
    pub fn total(&self) -> CellSums {
        let mut total = CellSums::default();
        for cell in self.cells.values() {
            total.add(cell);
        }
        total
    }
}
