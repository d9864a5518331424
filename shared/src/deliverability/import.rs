//! A retailer's bulk import of suppressions: a CSV of addresses, each added with reason `MANUAL`.
//!
//! The CSV has one column of addresses, with or without a header, or several columns with a
//! header naming an `email` or `address` column. Each address is added with a conditional put
//! (through [`SuppressionList::add`]), a few at a time: an address already on the list keeps
//! its first reason and time (a bounce stays a bounce), and the report says which rows were
//! added, already present or invalid.

use futures::StreamExt as _;
use serde::Serialize;

use crate::deliverability::suppression::{Suppression, SuppressionList, SuppressionReason};
use crate::domain::{TenantId, check_email_address, normalise_address};
use crate::error::{Retryable, StoreError};

/// Most data rows one import takes (the API's body limit allows about this many addresses).
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Adds in flight at once: enough to finish the largest import well within the API's timeout,
/// few enough not to throttle the table.
pub const IMPORT_CONCURRENCY: usize = 8;
/// The header names that mark the address column (case-insensitive).
pub const ADDRESS_COLUMNS: [&str; 2] = ["email", "address"];

/// One row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct InvalidRow {
    /// 1-based line of the CSV.
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub added: u64,
    pub already_present: u64,
    pub invalid: Vec<InvalidRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV has more than {MAX_IMPORT_ROWS} rows")]
    TooManyRows,
    #[error("the CSV cannot be read: {0}")]
    Unreadable(String),
    #[error("the suppression list could not be updated")]
    Store(#[from] StoreError),
}

impl Retryable for ImportError {
    fn is_retryable(&self) -> bool {
        matches!(self, ImportError::Store(error) if error.is_retryable())
    }
}

/// A CSV read: the addresses (normalised) with their lines, and the rows that are not addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCsv {
    pub addresses: Vec<(u64, String)>,
    pub invalid: Vec<InvalidRow>,
}

pub fn parse_csv(body: &[u8]) -> Result<ParsedCsv, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let mut column = None;
    let mut addresses = Vec::new();
    let mut invalid = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ImportError::Unreadable(e.to_string()))?;
        // The reader does not count the blank lines it skips: count from the byte offset.
        let line = record.position().map_or(index as u64 + 1, |p| {
            let mut offset = (p.byte() as usize).min(body.len());
            // A record's position is where the reader started it: before the blank lines.
            while body.get(offset).is_some_and(|b| *b == b'\n' || *b == b'\r') {
                offset += 1;
            }
            newlines(&body[..offset]) + 1
        });
        if index == 0 {
            if let Some(at) = record.iter().position(|f| {
                ADDRESS_COLUMNS
                    .iter()
                    .any(|name| f.eq_ignore_ascii_case(name))
            }) {
                column = Some(at);
                continue;
            }
            if record.len() > 1 {
                return Err(ImportError::Unreadable(
                    "a CSV of several columns needs a header naming an email or address column"
                        .into(),
                ));
            }
        }
        if addresses.len() + invalid.len() >= MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let value = record.get(column.unwrap_or(0)).unwrap_or_default();
        let address = normalise_address(value);
        match check_email_address(&address) {
            Ok(()) => addresses.push((line, address)),
            Err(reason) => invalid.push(InvalidRow {
                line,
                reason: reason.to_string(),
            }),
        }
    }
    Ok(ParsedCsv { addresses, invalid })
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Imports a CSV into `tenant`'s list. Nothing is added when the CSV cannot be read or is over
/// [`MAX_IMPORT_ROWS`]; a store failure part way leaves the rows added so far (importing the
/// same file again is harmless).
pub async fn import_csv(
    list: &dyn SuppressionList,
    tenant: &TenantId,
    body: &[u8],
    now: i64,
) -> Result<ImportReport, ImportError> {
    let ParsedCsv { addresses, invalid } = parse_csv(body)?;
    let mut report = ImportReport {
        invalid,
        ..ImportReport::default()
    };
    let mut adds = futures::stream::iter(addresses)
        .map(|(_, address)| async move {
            list.add(
                tenant,
                &Suppression {
                    address,
                    reason: SuppressionReason::Manual,
                    since: now,
                    detail: Some("import".into()),
                },
            )
            .await
        })
        .buffer_unordered(IMPORT_CONCURRENCY);
    while let Some(added) = adds.next().await {
        if added? {
            report.added += 1;
        } else {
            report.already_present += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryDirectory;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn a_single_column_needs_no_header_and_bad_rows_are_named_by_line() {
        let ParsedCsv { addresses, invalid } =
            parse_csv(b"Ann@Example.com\n\nnot-an-address\n bo@example.com \n").unwrap();
        assert_eq!(
            addresses,
            vec![
                (1, "ann@example.com".to_string()),
                (4, "bo@example.com".to_string())
            ]
        );
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].line, 3);
        assert!(invalid[0].reason.contains("'@'"), "{}", invalid[0].reason);
    }

    #[test]
    fn a_header_names_the_address_column() {
        let ParsedCsv { addresses, invalid } =
            parse_csv(b"id,Email,name\n1,ann@example.com,Ann\n2,\"bo@example.com\",\"Bo, Jr\"\n")
                .unwrap();
        assert_eq!(
            addresses,
            vec![
                (2, "ann@example.com".to_string()),
                (3, "bo@example.com".to_string())
            ]
        );
        assert!(invalid.is_empty());
        assert!(matches!(
            parse_csv(b"id,name\n1,ann@example.com\n"),
            Err(ImportError::Unreadable(_))
        ));
    }

    #[test]
    fn more_rows_than_the_limit_are_refused_whole() {
        let body: String = (0..=MAX_IMPORT_ROWS)
            .map(|i| format!("c{i}@example.com\n"))
            .collect();
        assert!(matches!(
            parse_csv(body.as_bytes()),
            Err(ImportError::TooManyRows)
        ));
    }

    #[tokio::test]
    async fn an_import_adds_new_addresses_keeps_existing_ones_and_touches_no_other_tenant() {
        let list = MemoryDirectory::default();
        let alpine = tenant("alpine");
        list.add(
            &alpine,
            &Suppression {
                address: "bo@example.com".into(),
                reason: SuppressionReason::Complaint,
                since: 5,
                detail: None,
            },
        )
        .await
        .unwrap();
        let report = import_csv(
            &list,
            &alpine,
            b"email\nann@example.com\nbo@example.com\nANN@example.com\nnope\n",
            100,
        )
        .await
        .unwrap();
        assert_eq!(report.added, 1);
        assert_eq!(report.already_present, 2);
        assert_eq!(report.invalid.len(), 1);
        assert_eq!(report.invalid[0].line, 5);
        let kept = list.get(&alpine, "bo@example.com").await.unwrap().unwrap();
        assert_eq!(kept.reason, SuppressionReason::Complaint);
        let added = list.get(&alpine, "ann@example.com").await.unwrap().unwrap();
        assert_eq!(added.reason, SuppressionReason::Manual);
        assert_eq!(added.since, 100);
        let harbor = list.page(&tenant("harbor"), None, 10).await.unwrap();
        assert!(harbor.entries.is_empty());
    }
}
