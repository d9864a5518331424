//! Reads template.yaml: the one list of streams, tables, buckets and functions. The local stack
//! is created from it, so it cannot drift from what `sam deploy` creates.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde_yaml_ng::Value;

use resolver::Resolver;
use tables::table_spec;
pub use tables::{IndexSpec, KeySpec, TableSpec};

mod resolver;
mod tables;

/// Values of the pseudo parameters and parameters when resolving names locally.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub stack_name: String,
    pub account_id: String,
    pub region: String,
    pub parameters: BTreeMap<String, String>,
}

/// The local endpoint has no SES GetAccount, so the send budget runs on its fallback rate; the
/// endpoint never throttles, and this keeps the budget from pacing the demos below what it
/// takes (the deployed default is a new SES account's 14 a second).
pub const LOCAL_SES_SEND_RATE: &str = "1000";

impl Default for Resolution {
    fn default() -> Self {
        Self {
            stack_name: "storecast-local".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            parameters: BTreeMap::from([(
                "SesFallbackSendRate".to_string(),
                LOCAL_SES_SEND_RATE.to_string(),
            )]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub logical_id: String,
    pub name: String,
    pub shard_count: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub logical_id: String,
    pub name: String,
    /// The bucket's CORS rules, without their origins: in AWS they name the console's
    /// CloudFront origin, locally the loopback origin the console is served from
    /// ([`crate::local::provision::allow_console_origin`]).
    pub cors: Vec<CorsRuleSpec>,
}

/// One of a bucket's `CorsConfiguration.CorsRules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRuleSpec {
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// A Secrets Manager secret; locally its value is made by the provisioning (see
/// [`crate::local::provision`]), and `!Ref` answers its name (GetSecretValue takes either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub name: String,
    pub url: String,
    pub arn: String,
    pub visibility_timeout: i32,
    /// The dead-letter queue's logical id and the receives before a message moves there.
    pub dead_letter: Option<(String, u32)>,
}

/// An SQS event source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMappingSpec {
    pub queue_logical_id: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSpec {
    pub stream_logical_id: String,
    pub batch_size: usize,
    pub max_retries: u32,
    pub report_batch_item_failures: bool,
    /// The bucket's logical id when the on-failure destination is S3 (`Type: S3`).
    pub on_failure_bucket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// As SAM names a function without `FunctionName` (`<stack>-<logical id>-<suffix>`), less
    /// the suffix.
    pub arn: String,
    pub binary: String,
    pub timeout_seconds: u64,
    pub environment: BTreeMap<String, String>,
    pub mappings: Vec<MappingSpec>,
    pub sqs_mappings: Vec<SqsMappingSpec>,
    /// Schedule events' expressions (`rate(1 minute)`).
    pub schedules: Vec<String>,
    /// EventBridge rules' event patterns (intrinsics resolved), as JSON.
    pub event_patterns: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub streams: Vec<StreamSpec>,
    pub tables: Vec<TableSpec>,
    pub buckets: Vec<BucketSpec>,
    pub queues: Vec<QueueSpec>,
    pub secrets: Vec<SecretSpec>,
    pub functions: Vec<FunctionSpec>,
}

impl Stack {
    pub fn load(path: &Path, resolution: &Resolution) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, resolution)
    }

    pub fn parse(text: &str, resolution: &Resolution) -> Result<Self> {
        let document: Value = serde_yaml_ng::from_str(text).context("template.yaml is not YAML")?;
        let resources = document
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("template has no Resources"))?;
        let mut resolver = Resolver::new(resolution, &document);
        // Names first: functions refer to them.
        let mut stack = Stack::default();
        for (id, resource) in resources {
            let id = id.as_str().unwrap_or_default().to_string();
            stack.add_named_resource(&mut resolver, id, resource)?;
        }
        let globals = FunctionGlobals::read(&document);
        for (id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let id = id.as_str().unwrap_or_default().to_string();
            stack
                .functions
                .push(function_spec(&resolver, &globals, id, resource)?);
        }
        Ok(stack)
    }

    /// A stream, table, bucket, secret or queue, with what `!Ref` and `!GetAtt` answer for it;
    /// other resources are not named (functions are read once all names are known).
    fn add_named_resource(
        &mut self,
        resolver: &mut Resolver,
        id: String,
        resource: &Value,
    ) -> Result<()> {
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
        let r = &resolver.resolution;
        match kind {
            "AWS::Kinesis::Stream" => {
                let name = resolver.string(properties.get("Name"))?;
                resolver.arns.insert(
                    id.clone(),
                    format!(
                        "arn:aws:kinesis:{}:{}:stream/{name}",
                        r.region, r.account_id
                    ),
                );
                resolver.names.insert(id.clone(), name.clone());
                self.streams.push(StreamSpec {
                    logical_id: id,
                    name,
                    // A number, or a parameter (its default, or the value given).
                    shard_count: match properties.get("ShardCount") {
                        Some(count) => resolver.string(Some(count))?.parse()?,
                        None => 1,
                    },
                });
            }
            "AWS::DynamoDB::Table" => {
                let name = resolver.string(properties.get("TableName"))?;
                resolver.arns.insert(
                    id.clone(),
                    format!(
                        "arn:aws:dynamodb:{}:{}:table/{name}",
                        r.region, r.account_id
                    ),
                );
                resolver.names.insert(id.clone(), name.clone());
                self.tables.push(table_spec(id, name, &properties)?);
            }
            "AWS::S3::Bucket" => {
                let name = resolver.string(properties.get("BucketName"))?;
                resolver
                    .arns
                    .insert(id.clone(), format!("arn:aws:s3:::{name}"));
                resolver.names.insert(id.clone(), name.clone());
                self.buckets.push(BucketSpec {
                    logical_id: id,
                    name,
                    cors: cors_rules(&properties),
                });
            }
            "AWS::SecretsManager::Secret" => {
                let name = resolver.string(properties.get("Name"))?;
                resolver.names.insert(id.clone(), name.clone());
                self.secrets.push(SecretSpec {
                    logical_id: id,
                    name,
                });
            }
            "AWS::SQS::Queue" => self.queues.push(queue_spec(resolver, id, &properties)?),
            _ => {}
        }
        Ok(())
    }

    pub fn stream(&self, logical_id: &str) -> Result<&StreamSpec> {
        self.streams
            .iter()
            .find(|s| s.logical_id == logical_id)
            .ok_or_else(|| anyhow!("template has no stream {logical_id}"))
    }

    pub fn function(&self, binary: &str) -> Result<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.binary == binary)
            .ok_or_else(|| anyhow!("template has no function with binary {binary}"))
    }

    pub fn bucket(&self, logical_id: &str) -> Result<&BucketSpec> {
        self.buckets
            .iter()
            .find(|b| b.logical_id == logical_id)
            .ok_or_else(|| anyhow!("template has no bucket {logical_id}"))
    }

    pub fn secret(&self, logical_id: &str) -> Result<&SecretSpec> {
        self.secrets
            .iter()
            .find(|s| s.logical_id == logical_id)
            .ok_or_else(|| anyhow!("template has no secret {logical_id}"))
    }

    pub fn queue(&self, logical_id: &str) -> Result<&QueueSpec> {
        self.queues
            .iter()
            .find(|q| q.logical_id == logical_id)
            .ok_or_else(|| anyhow!("template has no queue {logical_id}"))
    }

    pub fn table(&self, logical_id: &str) -> Result<&TableSpec> {
        self.tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .ok_or_else(|| anyhow!("template has no table {logical_id}"))
    }
}

/// A queue, named for `!Ref` (its URL, as in AWS) and `!GetAtt .Arn`.
fn queue_spec(resolver: &mut Resolver, id: String, properties: &Value) -> Result<QueueSpec> {
    let name = resolver.string(properties.get("QueueName"))?;
    let r = &resolver.resolution;
    let arn = format!("arn:aws:sqs:{}:{}:{name}", r.region, r.account_id);
    // What !Ref answers for a queue: its URL.
    let url = format!(
        "https://sqs.{}.amazonaws.com/{}/{name}",
        r.region, r.account_id
    );
    resolver.arns.insert(id.clone(), arn.clone());
    resolver.names.insert(id.clone(), url.clone());
    let dead_letter = properties.get("RedrivePolicy").and_then(|policy| {
        let target = get_att_target(policy.get("deadLetterTargetArn"))?;
        let receives = policy.get("maxReceiveCount").and_then(Value::as_u64)?;
        Some((target, receives as u32))
    });
    Ok(QueueSpec {
        logical_id: id,
        name,
        url,
        arn,
        visibility_timeout: properties
            .get("VisibilityTimeout")
            .and_then(Value::as_i64)
            .unwrap_or(30) as i32,
        dead_letter,
    })
}

/// What `Globals.Function` gives every function unless it says otherwise.
struct FunctionGlobals {
    environment: Option<Value>,
    timeout: u64,
}

impl FunctionGlobals {
    fn read(document: &Value) -> Self {
        let function = document.get("Globals").and_then(|g| g.get("Function"));
        Self {
            environment: function
                .and_then(|f| f.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .cloned(),
            timeout: function
                .and_then(|f| f.get("Timeout"))
                .and_then(Value::as_u64)
                .unwrap_or(3),
        }
    }
}

fn function_spec(
    resolver: &Resolver,
    globals: &FunctionGlobals,
    id: String,
    resource: &Value,
) -> Result<FunctionSpec> {
    let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{id} has no Metadata.BuildProperties.Binary"))?
        .to_string();
    // The function's own variables override the global ones.
    let mut environment = BTreeMap::new();
    for variables in [
        globals.environment.clone(),
        properties
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .cloned(),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(map) = variables.as_mapping() {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default().to_string();
                environment.insert(key, resolver.string(Some(value))?);
            }
        }
    }
    let r = &resolver.resolution;
    let mut function = FunctionSpec {
        arn: format!(
            "arn:aws:lambda:{}:{}:function:{}-{id}",
            r.region, r.account_id, r.stack_name
        ),
        logical_id: id,
        binary,
        timeout_seconds: properties
            .get("Timeout")
            .and_then(Value::as_u64)
            .unwrap_or(globals.timeout),
        environment,
        mappings: Vec::new(),
        sqs_mappings: Vec::new(),
        schedules: Vec::new(),
        event_patterns: Vec::new(),
    };
    if let Some(events) = properties.get("Events").and_then(Value::as_mapping) {
        for (_, event) in events {
            function.add_event(resolver, event)?;
        }
    }
    Ok(function)
}

impl FunctionSpec {
    /// A Kinesis or SQS mapping, a schedule or an EventBridge rule; other events are ignored.
    fn add_event(&mut self, resolver: &Resolver, event: &Value) -> Result<()> {
        let id = &self.logical_id;
        let p = event.get("Properties").cloned().unwrap_or(Value::Null);
        match event.get("Type").and_then(Value::as_str) {
            Some("Kinesis") => {
                let stream_logical_id = get_att_target(p.get("Stream"))
                    .ok_or_else(|| anyhow!("{id}: Kinesis event without !GetAtt Stream"))?;
                self.mappings.push(MappingSpec {
                    stream_logical_id,
                    batch_size: p.get("BatchSize").and_then(Value::as_u64).unwrap_or(100) as usize,
                    max_retries: p
                        .get("MaximumRetryAttempts")
                        .and_then(Value::as_u64)
                        .unwrap_or(10) as u32,
                    report_batch_item_failures: reports_item_failures(&p),
                    on_failure_bucket: s3_on_failure_destination(&p),
                });
            }
            Some("SQS") => self.sqs_mappings.push(SqsMappingSpec {
                queue_logical_id: get_att_target(p.get("Queue"))
                    .ok_or_else(|| anyhow!("{id}: SQS event without !GetAtt Queue"))?,
                batch_size: p.get("BatchSize").and_then(Value::as_u64).unwrap_or(10) as usize,
                report_batch_item_failures: reports_item_failures(&p),
            }),
            Some("Schedule") => {
                if let Some(expression) = p.get("Schedule").and_then(Value::as_str) {
                    self.schedules.push(expression.to_string());
                }
            }
            Some("EventBridgeRule") => {
                let pattern = p
                    .get("Pattern")
                    .ok_or_else(|| anyhow!("{id}: EventBridgeRule without Pattern"))?;
                self.event_patterns.push(resolver.json(pattern)?);
            }
            _ => {}
        }
        Ok(())
    }
}

fn reports_item_failures(properties: &Value) -> bool {
    properties
        .get("FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .is_some_and(|s| {
            s.iter()
                .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
        })
}

fn s3_on_failure_destination(properties: &Value) -> Option<String> {
    let on_failure = properties.get("DestinationConfig")?.get("OnFailure")?;
    if on_failure.get("Type").and_then(Value::as_str) != Some("S3") {
        return None;
    }
    get_att_target(on_failure.get("Destination"))
}

fn get_att_target(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
            let target = tagged.value.as_str()?;
            Some(target.split('.').next()?.to_string())
        }
        Value::Mapping(map) => {
            let att = map.get("Fn::GetAtt")?.as_sequence()?;
            Some(att.first()?.as_str()?.to_string())
        }
        _ => None,
    }
}

fn cors_rules(properties: &Value) -> Vec<CorsRuleSpec> {
    let strings = |rule: &Value, field: &str| -> Vec<String> {
        rule.get(field)
            .and_then(Value::as_sequence)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    properties
        .get("CorsConfiguration")
        .and_then(|cors| cors.get("CorsRules"))
        .and_then(Value::as_sequence)
        .map(|rules| {
            rules
                .iter()
                .map(|rule| CorsRuleSpec {
                    methods: strings(rule, "AllowedMethods"),
                    headers: strings(rule, "AllowedHeaders"),
                    max_age_seconds: rule
                        .get("MaxAge")
                        .and_then(Value::as_i64)
                        .and_then(|age| i32::try_from(age).ok()),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        Stack::load(&path, &Resolution::default()).unwrap()
    }

    #[test]
    fn reads_streams_tables_and_buckets_from_the_real_template() {
        let stack = stack();
        let events = stack.stream("CampaignEventsStream").unwrap();
        assert_eq!(events.name, "storecast-local-campaign-events");
        assert!(events.shard_count >= 1);
        let delivery = stack.table("DeliveryTable").unwrap();
        assert_eq!(delivery.ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(delivery.keys.len(), 2);
        assert_eq!(
            stack.bucket("ArchiveBucket").unwrap().name,
            "storecast-local-archive-123456789012"
        );
        let exports = stack.bucket("ExportsBucket").unwrap();
        assert_eq!(
            exports.cors,
            [CorsRuleSpec {
                methods: vec!["PUT".into()],
                headers: vec!["content-type".into()],
                max_age_seconds: Some(600),
            }],
            "the console's audience uploads"
        );
        assert_eq!(
            stack.bucket("ConsoleBucket").unwrap().name,
            "storecast-local-console-123456789012"
        );
    }

    #[test]
    fn resolves_function_environment_and_mappings() {
        let stack = stack();
        let deliver = stack.function("deliver").unwrap();
        assert_eq!(
            deliver.environment["DELIVERY_TABLE"],
            "storecast-local-delivery"
        );
        assert_eq!(
            deliver.environment["SENDING_DOMAIN"],
            "mail.storecast.example"
        );
        assert_eq!(deliver.mappings[0].stream_logical_id, "SendBatchesStream");
        assert!(deliver.mappings[0].report_batch_item_failures);
        assert_eq!(
            deliver.arn,
            "arn:aws:lambda:us-east-1:123456789012:function:storecast-local-DeliverFunction"
        );
        for function in [deliver, stack.function("rebatch").unwrap()] {
            let bucket = function.mappings[0].on_failure_bucket.as_deref().unwrap();
            assert_eq!(
                stack.bucket(bucket).unwrap().name,
                "storecast-local-stream-failures-123456789012"
            );
        }
        let launch = stack.function("launch").unwrap();
        let queue = stack.queue("LaunchQueue").unwrap();
        assert_eq!(launch.environment["LAUNCH_QUEUE_URL"], queue.url);
        assert_eq!(launch.sqs_mappings[0].queue_logical_id, "LaunchQueue");
        assert!(launch.sqs_mappings[0].report_batch_item_failures);
        assert_eq!(
            queue.dead_letter,
            Some(("LaunchDeadLetterQueue".to_string(), 5))
        );
        assert_eq!(
            launch.environment["MAX_CHUNK_ATTEMPTS"],
            queue.dead_letter.as_ref().unwrap().1.to_string(),
            "the function's last attempt is the queue's last receive"
        );
        assert_eq!(
            stack.function("scheduler").unwrap().schedules,
            ["rate(1 minute)"]
        );
        let rebatch = stack.function("rebatch").unwrap();
        assert_eq!(
            rebatch.environment["SEND_BATCHES_STREAM"],
            "storecast-local-send-batches"
        );
    }
}
