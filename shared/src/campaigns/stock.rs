//! Which of a group's offers are likely in stock: the group's customers by store, one
//! [`Availability`] question per store with every item offered there.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::audience::AudienceRow;
use super::ports::{Availability, Shopper, StockItem, StockQuery};
use crate::domain::{StoreId, TenantId};
use crate::error::StoreError;

/// Per row, in order, the items likely in stock for that customer; `None` for a customer whose
/// row names no store (or who has no candidates): their offers are not filtered, because
/// without a store there is no shelf to ask about, and before availability existed every
/// offer went out.
pub(crate) async fn in_stock_per_row(
    availability: &dyn Availability,
    tenant: &TenantId,
    rows: &[&AudienceRow],
) -> Result<Vec<Option<Arc<HashSet<String>>>>, StoreError> {
    let mut by_store: BTreeMap<&StoreId, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        if let Some(store) = &row.store_id
            && !row.candidates.is_empty()
        {
            by_store.entry(store).or_default().push(index);
        }
    }
    let mut answer = vec![None; rows.len()];
    for (store, indexes) in by_store {
        let mut seen = HashSet::new();
        // An item listed under two categories in one store's rows keeps the first.
        let items: Vec<StockItem<'_>> = indexes
            .iter()
            .flat_map(|&i| rows[i].candidates.iter())
            .filter(|candidate| seen.insert(candidate.item_id.as_str()))
            .map(|candidate| StockItem {
                item_id: &candidate.item_id,
                category: candidate.category.as_deref(),
            })
            .collect();
        let shoppers: Vec<Shopper<'_>> = indexes
            .iter()
            .map(|&i| Shopper {
                customer: &rows[i].id,
                region: rows[i].region.as_deref(),
            })
            .collect();
        let sets = availability
            .likely_in_stock(
                tenant,
                &StockQuery {
                    store,
                    items: &items,
                    shoppers: &shoppers,
                },
            )
            .await?;
        if sets.len() != shoppers.len() {
            return Err(StoreError::Corrupt {
                store: "availability",
                reason: format!(
                    "{} answers for {} shoppers of store {store}",
                    sets.len(),
                    shoppers.len()
                ),
            });
        }
        for (index, set) in indexes.into_iter().zip(sets) {
            answer[index] = Some(set);
        }
    }
    Ok(answer)
}
