//! The send budgets on the delivery table: one item per scope (`pk = SEND_BUDGET`, `sk = ACCOUNT`
//! for email through SES, `sk = PUSH` for pushes through SNS; no expiry), each holding the account's TAT (`a`) and, per tenant that took in the last hour, its
//! assured share's TAT (`q#<tenant>`), its ceiling's (`c#<tenant>`, with a rate of its own), its
//! last take (`s#<tenant>`, epoch seconds), weight (`w#<tenant>`) and the emission interval its
//! share was last charged at (`e#<tenant>`, µs). TATs are microseconds since the epoch.
//!
//! A take is one UpdateItem: each TAT it changes conditioned on what the plan assumed
//! (`TatChange`: unset or behind its floor, then set; or within bounds, then added to), the
//! tenant's last take and weight set, a few stale tenants removed if they still are. It answers
//! the item after the write (`ALL_NEW`) or, refused, the item that refused it
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`): no read either way.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure,
};

use crate::aws::errors::store_error;
use crate::deliverability::budget::{
    BudgetState, BudgetStore, BudgetWrite, BudgetWritten, TatChange, TenantBudget,
};
use crate::domain::TenantId;
use crate::error::StoreError;

use super::send_log::WRITE_UNIT_BYTES;
use super::*;

const BUDGET_PK: &str = "SEND_BUDGET";
const BUDGET_SK: &str = "ACCOUNT";
const PUSH_BUDGET_SK: &str = "PUSH";
const ACCOUNT_TAT: &str = "a";
const ASSURED: &str = "q#";
const CEILING: &str = "c#";
const SEEN: &str = "s#";
const WEIGHT: &str = "w#";
const EMISSION: &str = "e#";

/// A send budget's item on the delivery table.
#[derive(Clone)]
pub struct BudgetTable {
    client: Client,
    table: String,
    scope: &'static str,
}

impl BudgetTable {
    /// The email budget: SES's account rate.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scope: BUDGET_SK,
        }
    }

    /// The push budget: SNS's publish rate, apart from SES's.
    pub fn push(client: Client, table: impl Into<String>) -> Self {
        Self {
            scope: PUSH_BUDGET_SK,
            ..Self::new(client, table)
        }
    }
}

/// The pieces of one UpdateItem, placeholders numbered as they are added.
#[derive(Default)]
struct Expression {
    sets: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, attribute: String) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute);
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn change(&mut self, attribute: String, change: &TatChange) {
        let name = self.name(attribute);
        match change.from {
            None => {
                let floor = self.value(n(change.floor));
                let fresh = self.value(n(change.floor + change.increment));
                self.conditions.push(format!(
                    "(attribute_not_exists({name}) OR {name} < {floor})"
                ));
                self.sets.push(format!("{name} = {fresh}"));
            }
            // Names no floor: DynamoDB refuses a value the expressions leave unused.
            Some(stored) if change.reset => {
                let (stored, fresh) = (
                    self.value(n(stored)),
                    self.value(n(change.floor + change.increment)),
                );
                self.conditions.push(format!("({name} = {stored})"));
                self.sets.push(format!("{name} = {fresh}"));
            }
            Some(low) => {
                let floor = self.value(n(change.floor));
                let (low, limit) = (self.value(n(low)), self.value(n(change.limit)));
                let increment = self.value(n(change.increment));
                let within = format!("{name} BETWEEN {low} AND {limit}");
                self.conditions.push(match change.or_unset {
                    true => format!("(attribute_not_exists({name}) OR {within})"),
                    false => format!("({within})"),
                });
                self.sets.push(format!(
                    "{name} = if_not_exists({name}, {floor}) + {increment}"
                ));
            }
        }
    }

    fn of(write: &BudgetWrite) -> Self {
        let mut expression = Self::default();
        let tenant = &write.tenant;
        if let Some(change) = &write.account {
            expression.change(ACCOUNT_TAT.into(), change);
        }
        if let Some(change) = &write.assured {
            expression.change(format!("{ASSURED}{tenant}"), change);
            let (name, value) = (
                expression.name(format!("{EMISSION}{tenant}")),
                expression.value(n(change.emission)),
            );
            expression.sets.push(format!("{name} = {value}"));
        }
        if let Some(change) = &write.ceiling {
            expression.change(format!("{CEILING}{tenant}"), change);
        }
        let (seen, value) = (
            expression.name(format!("{SEEN}{tenant}")),
            expression.value(n(write.seen)),
        );
        expression.sets.push(format!("{seen} = {value}"));
        let weight = expression.name(format!("{WEIGHT}{tenant}"));
        let set_weight = match write.weight {
            Some(stated) => expression.value(n(i64::from(stated))),
            None => format!("if_not_exists({weight}, {})", expression.value(n(1))),
        };
        expression.sets.push(format!("{weight} = {set_weight}"));
        for (stale, before) in &write.prune {
            let seen = expression.name(format!("{SEEN}{stale}"));
            let before = expression.value(n(before));
            expression.conditions.push(format!(
                "(attribute_not_exists({seen}) OR {seen} < {before})"
            ));
            expression.removes.push(seen);
            for prefix in [ASSURED, CEILING, WEIGHT, EMISSION] {
                let name = expression.name(format!("{prefix}{stale}"));
                expression.removes.push(name);
            }
        }
        expression
    }

    fn update(&self) -> String {
        let mut update = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        update
    }
}

/// The item as the budget's state. Attributes it does not know are ignored.
fn state_of(item: Option<&Item>) -> Result<BudgetState, StoreError> {
    let mut state = BudgetState::default();
    let Some(item) = item else {
        return Ok(state);
    };
    let number = |name: &str| get_n::<i64>(item, name, DELIVERY);
    if item.contains_key(ACCOUNT_TAT) {
        state.account = Some(number(ACCOUNT_TAT)?);
    }
    for name in item.keys() {
        let Some((prefix, tenant)) = [ASSURED, CEILING, SEEN, WEIGHT, EMISSION]
            .into_iter()
            .find_map(|prefix| name.strip_prefix(prefix).map(|t| (prefix, t)))
        else {
            continue;
        };
        let tenant = TenantId::parse(tenant)
            .map_err(|e| corrupt(DELIVERY, format!("send budget attribute {name}: {e}")))?;
        let entry: &mut TenantBudget = state.tenants.entry(tenant).or_default();
        let value = number(name)?;
        match prefix {
            ASSURED => entry.assured = Some(value),
            CEILING => entry.ceiling = Some(value),
            SEEN => entry.seen = value,
            EMISSION => entry.emission = Some(value),
            _ => entry.weight = u32::try_from(value).unwrap_or(1).max(1),
        }
    }
    Ok(state)
}

/// A strongly consistent read is billed one unit per started 4 KB of the item.
const READ_UNIT_BYTES: usize = 4 * 1024;

/// The units of a call on the budget item of this size (started `unit_bytes`; at least one),
/// where DynamoDB's answer reports none.
fn budget_item_units(item: Option<&Item>, unit_bytes: usize) -> f64 {
    let size = item.map_or(0, super::send_log::item_size);
    size.div_ceil(unit_bytes).max(1) as f64
}

#[async_trait]
impl BudgetStore for BudgetTable {
    async fn apply(&self, write: &BudgetWrite) -> Result<BudgetWritten, StoreError> {
        let expression = Expression::of(write);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(BUDGET_PK.into(), self.scope.into())))
            .update_expression(expression.update())
            .set_expression_attribute_names(Some(expression.names.clone()))
            .set_expression_attribute_values(Some(expression.values.clone()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if !expression.conditions.is_empty() {
            request = request.condition_expression(expression.conditions.join(" AND "));
        }
        match request.send().await {
            Ok(output) => {
                // The budget item holds every tenant's state: a write is billed by its size.
                let model = budget_item_units(output.attributes.as_ref(), WRITE_UNIT_BYTES);
                crate::costs::record_dynamodb_write(consumed(output.consumed_capacity(), model));
                Ok(BudgetWritten::Applied(state_of(
                    output.attributes.as_ref(),
                )?))
            }
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    // Billed as the write; the error carries no capacity.
                    let model = budget_item_units(refused.item.as_ref(), WRITE_UNIT_BYTES);
                    crate::costs::record_dynamodb_write(model);
                    Ok(BudgetWritten::Refused(state_of(refused.item.as_ref())?))
                }
                _ => Err(store_error(DELIVERY, error)),
            },
        }
    }

    async fn read(&self) -> Result<BudgetState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(BUDGET_PK.into(), self.scope.into())))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        let model = budget_item_units(output.item.as_ref(), READ_UNIT_BYTES);
        count_read(output.consumed_capacity(), model);
        state_of(output.item.as_ref())
    }
}

#[cfg(test)]
mod tests;
