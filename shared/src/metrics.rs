//! CloudWatch metrics as embedded-metric-format (EMF) log lines: no API call, no latency on the
//! hot path, and they work the same against the local endpoint (where PutMetricData does not).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "Storecast";

/// Counters of one invocation, one document per tenant. The one dimension is the function: a
/// `TenantId` dimension would make every metric one per retailer (about 20 x 350 custom metrics,
/// some $2,100 a month), while the alarms and the dashboard read totals. The tenant stays a
/// property of each document, so CloudWatch Logs Insights answers per-tenant questions from the
/// same lines (docs/operations.md, "Metrics").
#[derive(Debug, Default)]
pub struct Metrics {
    function: &'static str,
    counters: Mutex<BTreeMap<String, BTreeMap<&'static str, MetricValue>>>,
}

/// EMF takes at most this many values of one metric in one document.
pub const MAX_VALUES_PER_METRIC: usize = 100;

#[derive(Debug, Clone, PartialEq)]
enum MetricValue {
    /// Summed: counts.
    Sum(f64),
    /// Kept one by one (up to the EMF limit) so CloudWatch computes percentiles: timings.
    Samples(Vec<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Microseconds,
    Milliseconds,
    /// A plain number: dollars.
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Microseconds => "Microseconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// The metric names and their units, so every line declares them the same way.
pub const METRICS: &[(&str, Unit)] = &[
    ("Events", Unit::Count),
    ("Batches", Unit::Count),
    ("Sent", Unit::Count),
    ("Failed", Unit::Count),
    ("Parked", Unit::Count),
    ("DuplicatesSkipped", Unit::Count),
    ("Suppressed", Unit::Count),
    ("FrequencyCapped", Unit::Count),
    ("DeadLettered", Unit::Count),
    ("Deferred", Unit::Count),
    ("QuietHoursHeld", Unit::Count),
    ("QuietHoursZoneFallback", Unit::Count),
    ("Unconfirmed", Unit::Count),
    ("Retried", Unit::Count),
    ("WarmupHeldBack", Unit::Count),
    ("BudgetHeldBack", Unit::Count),
    ("BudgetWait", Unit::Milliseconds),
    ("BudgetAnnounceFailed", Unit::Count),
    ("PushAccepted", Unit::Count),
    ("PushDeviceFailed", Unit::Count),
    ("PushEndpointsDisabled", Unit::Count),
    // What the batches cost at the unit prices (crate::costs), in US dollars.
    ("SendCostUsd", Unit::None),
    // A campaign's usage that could not be added to its counters (crate::costs).
    ("UsageNotCounted", Unit::Count),
    ("RenderTime", Unit::Microseconds),
    ("Unsubscribed", Unit::Count),
    ("UnsubscribeRefused", Unit::Count),
    ("ScoresRefreshed", Unit::Count),
    ("SourceFailures", Unit::Count),
    ("RequestsLimited", Unit::Count),
    ("RequestQuotaUnavailable", Unit::Count),
];

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        Self {
            function,
            counters: Mutex::default(),
        }
    }

    pub fn add(&self, tenant: &str, name: &'static str, value: f64) {
        self.record(tenant, name, |entry| match entry {
            Some(MetricValue::Sum(sum)) => *sum += value,
            _ => *entry = Some(MetricValue::Sum(value)),
        });
    }

    /// One observation of a timing; the first hundred per tenant and invocation are kept.
    pub fn observe(&self, tenant: &str, name: &'static str, value: f64) {
        self.record(tenant, name, |entry| match entry {
            Some(MetricValue::Samples(samples)) => {
                if samples.len() < MAX_VALUES_PER_METRIC {
                    samples.push(value);
                }
            }
            _ => *entry = Some(MetricValue::Samples(vec![value])),
        });
    }

    fn record(
        &self,
        tenant: &str,
        name: &'static str,
        update: impl FnOnce(&mut Option<MetricValue>),
    ) {
        debug_assert!(
            METRICS.iter().any(|(n, _)| *n == name),
            "unknown metric {name}"
        );
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Called per message: no allocation once the tenant has a line.
        if !counters.contains_key(tenant) {
            counters.insert(tenant.to_string(), BTreeMap::new());
        }
        let Some(values) = counters.get_mut(tenant) else {
            return;
        };
        let mut entry = values.remove(name);
        update(&mut entry);
        if let Some(value) = entry {
            values.insert(name, value);
        }
    }

    /// One EMF document per tenant.
    pub fn documents(&self, timestamp_millis: i64) -> Vec<Value> {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counters
            .iter()
            .map(|(tenant, values)| {
                let declared: Vec<Value> = values
                    .keys()
                    .map(|name| {
                        let unit = METRICS
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or(Unit::Count, |(_, u)| *u);
                        json!({"Name": name, "Unit": unit.as_str()})
                    })
                    .collect();
                let mut document = Map::new();
                document.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": timestamp_millis,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": [["Function"]],
                            "Metrics": declared,
                        }]
                    }),
                );
                document.insert("Function".into(), json!(self.function));
                document.insert("TenantId".into(), json!(tenant));
                for (name, value) in values {
                    let value = match value {
                        MetricValue::Sum(sum) => json!(sum),
                        MetricValue::Samples(samples) => json!(samples),
                    };
                    document.insert((*name).into(), value);
                }
                Value::Object(document)
            })
            .collect()
    }

    /// Writes the documents as lines (stdout in Lambda) and starts counting afresh.
    pub fn flush(&self, out: &mut impl Write) -> std::io::Result<()> {
        let now = time::OffsetDateTime::now_utc();
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        for document in self.documents(millis) {
            writeln!(out, "{document}")?;
        }
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_per_tenant_with_declared_units() {
        let metrics = Metrics::new("deliver");
        metrics.add("t1", "Sent", 2.0);
        metrics.add("t1", "Sent", 3.0);
        metrics.add("t2", "Parked", 1.0);
        metrics.observe("t1", "RenderTime", 120.0);
        metrics.observe("t1", "RenderTime", 80.0);
        let docs = metrics.documents(1);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["TenantId"], "t1");
        assert_eq!(docs[0]["Sent"], 5.0);
        let declared = &docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert!(
            declared
                .as_array()
                .unwrap()
                .contains(&json!({"Name": "RenderTime", "Unit": "Microseconds"}))
        );
        assert_eq!(docs[0]["RenderTime"], json!([120.0, 80.0]));
        assert_eq!(docs[1]["Parked"], 1.0);
        assert!(
            docs[1].get("Sent").is_none(),
            "t2's line carries only t2's numbers"
        );
    }

    #[test]
    fn the_tenant_is_a_property_never_a_dimension() {
        let metrics = Metrics::new("deliver");
        metrics.add("t1", "Sent", 1.0);
        let doc = &metrics.documents(1)[0];
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert_eq!(doc["Function"], "deliver");
        assert_eq!(doc["TenantId"], "t1");
    }

    #[test]
    fn flush_writes_lines_and_resets() {
        let metrics = Metrics::new("rebatch");
        metrics.add("t1", "Events", 1.0);
        let mut out = Vec::new();
        metrics.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let parsed: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(
            parsed["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        assert!(metrics.documents(0).is_empty());
    }
}
