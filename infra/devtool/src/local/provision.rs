//! Creates the template's streams, tables, buckets and queues on the local endpoint, idempotently, plus
//! the verified sending domain that onboarding relies on.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::local::Clients;
use crate::local::template::{
    BucketSpec, IndexSpec, KeySpec, SecretSpec, Stack, StreamSpec, TableSpec,
};

pub async fn provision(clients: &Clients, stack: &Stack, sending_domain: &str) -> Result<()> {
    for stream in &stack.streams {
        create_stream(clients, stream).await?;
    }
    for table in &stack.tables {
        create_table(clients, table).await?;
    }
    for bucket in &stack.buckets {
        create_bucket(clients, bucket).await?;
    }
    create_queues(clients, stack).await?;
    for secret in &stack.secrets {
        create_secret(clients, secret).await?;
    }
    verify_sending_domain(clients, sending_domain).await
}

/// Creates the stream unless it exists, then waits until it is active.
async fn create_stream(clients: &Clients, stream: &StreamSpec) -> Result<()> {
    let created = clients
        .kinesis
        .create_stream()
        .stream_name(&stream.name)
        .shard_count(stream.shard_count)
        .send()
        .await;
    if let Err(error) = created {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception());
        if !exists {
            return Err(error).with_context(|| format!("creating stream {}", stream.name));
        }
    }
    wait_for_stream(clients, &stream.name).await
}

/// Creates the table unless it exists; TTL is enabled either way.
async fn create_table(clients: &Clients, table: &TableSpec) -> Result<()> {
    let mut request = clients
        .dynamodb
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest);
    for key in &table.keys {
        request = request.key_schema(key_schema(key)?);
    }
    for (name, kind) in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for index in &table.indexes {
        request = request.global_secondary_indexes(global_index(index)?);
    }
    if let Err(error) = request.send().await {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception());
        if !exists {
            return Err(error).with_context(|| format!("creating table {}", table.name));
        }
    }
    if let Some(attribute) = &table.ttl_attribute {
        clients
            .dynamodb
            .update_time_to_live()
            .table_name(&table.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("enabling TTL on {}", table.name))?;
    }
    Ok(())
}

fn key_schema(key: &KeySpec) -> Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder()
        .attribute_name(&key.name)
        .key_type(KeyType::from(key.key_type.as_str()))
        .build()?)
}

fn global_index(index: &IndexSpec) -> Result<GlobalSecondaryIndex> {
    let mut builder = GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .projection(
            Projection::builder()
                .projection_type(match index.projection.as_str() {
                    "KEYS_ONLY" => ProjectionType::KeysOnly,
                    _ => ProjectionType::All,
                })
                .build(),
        );
    for key in &index.keys {
        builder = builder.key_schema(key_schema(key)?);
    }
    Ok(builder.build()?)
}

async fn create_bucket(clients: &Clients, bucket: &BucketSpec) -> Result<()> {
    if let Err(error) = clients.s3.create_bucket().bucket(&bucket.name).send().await {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists());
        if !exists {
            return Err(error).with_context(|| format!("creating bucket {}", bucket.name));
        }
    }
    Ok(())
}

async fn create_queues(clients: &Clients, stack: &Stack) -> Result<()> {
    // Dead-letter queues first: a queue's redrive policy names its dead-letter queue's ARN.
    let mut queues: Vec<_> = stack.queues.iter().collect();
    queues.sort_by_key(|q| q.dead_letter.is_some());
    for queue in queues {
        let mut request = clients
            .sqs
            .create_queue()
            .queue_name(&queue.name)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout.to_string(),
            );
        if let Some((target, receives)) = &queue.dead_letter {
            let policy = serde_json::json!({
                "deadLetterTargetArn": stack.queue(target)?.arn,
                "maxReceiveCount": receives,
            });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        request
            .send()
            .await
            .with_context(|| format!("creating queue {}", queue.name))?;
    }
    Ok(())
}

/// The sending domain as an SES identity (onboarding relies on it); an existing one is kept.
async fn verify_sending_domain(clients: &Clients, sending_domain: &str) -> Result<()> {
    let identity = clients
        .sesv2
        .create_email_identity()
        .email_identity(sending_domain)
        .send()
        .await;
    if let Err(error) = identity {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        if !exists {
            return Err(error).context("verifying the sending domain");
        }
    }
    Ok(())
}

/// The template generates the key ring in AWS (`GenerateSecretString`); moto does not, so the
/// same shape is made here with a fresh random key. An existing secret is kept: links signed
/// before a restart still verify.
async fn create_secret(clients: &Clients, secret: &SecretSpec) -> Result<()> {
    use rand::Rng as _;
    let key: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let ring = serde_json::json!({"current": "k1", "k1": key});
    let created = clients
        .secrets
        .create_secret()
        .name(&secret.name)
        .secret_string(ring.to_string())
        .send()
        .await;
    if let Err(error) = created {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_resource_exists_exception());
        if !exists {
            return Err(error).with_context(|| format!("creating secret {}", secret.name));
        }
    }
    Ok(())
}

async fn wait_for_stream(clients: &Clients, name: &str) -> Result<()> {
    for _ in 0..100 {
        let summary = clients
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .with_context(|| format!("describing stream {name}"))?;
        if summary
            .stream_description_summary()
            .is_some_and(|s| s.stream_status() == &StreamStatus::Active)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("stream {name} did not become active")
}
