//! The local emulation of AWS: the endpoint (moto in server mode) and the SDK clients that talk
//! to it; the stack of template.yaml on it ([`template`], [`provision`]); the event source
//! mappings ([`esm`], [`sqs_esm`]) running the real handlers ([`pipeline`], [`campaigns`]); the
//! marketer API with its development authorizer ([`api`], [`auth`]) and the console beside it
//! ([`console`]); and its commands.

pub mod api;
pub mod auth;
pub mod campaigns;
pub mod commands;
pub mod console;
pub mod esm;
pub mod pipeline;
pub mod provision;
pub mod scoring;
pub mod ses_events;
pub mod sqs_esm;
pub mod template;

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::config::Credentials;

pub const REGION: &str = "us-east-1";

/// The endpoint named by `AWS_ENDPOINT_URL`, started by `infra/scripts/with-local-stack.sh`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
}

impl Endpoint {
    pub fn from_env() -> Result<Self> {
        match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) if !url.is_empty() => {
                if !(url.starts_with("http://127.") || url.starts_with("http://localhost")) {
                    bail!(
                        "AWS_ENDPOINT_URL={url} is not a loopback address: the dev tool only talks to the local stack"
                    );
                }
                Ok(Self { url })
            }
            _ => bail!(
                "AWS_ENDPOINT_URL is not set: start the local stack first \
                 (infra/scripts/with-local-stack.sh <command>, or `make demo` / `make test`)"
            ),
        }
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "local-stack",
            ))
            .load()
            .await
    }

    /// Wipes every resource on the endpoint.
    pub async fn reset(&self) -> Result<()> {
        reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.url))
            .send()
            .await
            .context("resetting the local endpoint")?
            .error_for_status()?;
        Ok(())
    }

    pub async fn start_recording(&self) -> Result<()> {
        let client = reqwest::Client::new();
        client
            .post(format!("{}/moto-api/recorder/reset-recording", self.url))
            .send()
            .await?
            .error_for_status()?;
        client
            .post(format!("{}/moto-api/recorder/start-recording", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The requests recorded since `start_recording`: (url, decoded body).
    pub async fn recording(&self) -> Result<Vec<RecordedRequest>> {
        let text = reqwest::Client::new()
            .get(format!("{}/moto-api/recorder/download-recording", self.url))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let mut requests = Vec::new();
        // Concurrent requests can land on one line: read the file as a stream of documents.
        for entry in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
            let entry = entry.context("the recording is not a sequence of JSON documents")?;
            let body = entry
                .get("body")
                .and_then(|b| b.as_str())
                .unwrap_or_default();
            let body = if entry.get("body_encoded").and_then(|e| e.as_bool()) == Some(true) {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .context("recorded body is not base64")?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                body.to_string()
            };
            requests.push(RecordedRequest {
                url: entry
                    .get("url")
                    .and_then(|u| u.as_str())
                    .unwrap_or_default()
                    .to_string(),
                body,
            });
        }
        Ok(requests)
    }

    /// The emails the endpoint accepted: (from, to, raw MIME).
    pub async fn sent_emails(&self) -> Result<Vec<SentEmail>> {
        let data = self.model_data().await?;
        let mut sent = Vec::new();
        for service in ["ses", "sesv2"] {
            let Some(accounts) = data.get(service).and_then(|s| s.as_object()) else {
                continue;
            };
            for model in accounts.values().filter_map(|v| v.as_array()) {
                for message in model {
                    if let Some(raw) = message.get("raw_data").and_then(|r| r.as_str()) {
                        sent.push(SentEmail {
                            source: message
                                .get("source")
                                .and_then(|s| s.as_str())
                                .unwrap_or_default()
                                .to_string(),
                            destinations: message
                                .get("destinations")
                                .and_then(|d| d.as_array())
                                .map(|d| {
                                    d.iter()
                                        .filter_map(|x| x.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default(),
                            raw: raw.to_string(),
                        });
                    }
                }
            }
        }
        Ok(sent)
    }
}

/// moto's `/moto-api/data.json`. moto checks each attribute of its models, then serialises
/// them all again: a DynamoDB table written between the two (another test on the same endpoint)
/// makes it answer 500. So a 500 is asked again, a few times.
impl Endpoint {
    async fn model_data(&self) -> Result<serde_json::Value> {
        const ATTEMPTS: u32 = 5;
        let client = reqwest::Client::new();
        let mut attempt = 1;
        loop {
            let response = client
                .get(format!("{}/moto-api/data.json", self.url))
                .send()
                .await?;
            if response.status().is_server_error() && attempt < ATTEMPTS {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                continue;
            }
            return response
                .error_for_status()?
                .json()
                .await
                .context("moto data.json");
        }
    }
}

/// A push the local endpoint took for a device endpoint.
#[derive(Debug, Clone)]
pub struct PublishedPush {
    pub endpoint_arn: String,
    pub token: String,
    pub message_id: String,
    /// The published message (`MessageStructure: json`) as it was given.
    pub message: String,
}

impl Endpoint {
    /// Every message published to a platform endpoint (moto keeps them on the endpoint).
    pub async fn published_pushes(&self) -> Result<Vec<PublishedPush>> {
        let data = self.model_data().await?;
        let endpoints = data
            .pointer("/sns/PlatformEndpoint")
            .and_then(|e| e.as_array())
            .cloned()
            .unwrap_or_default();
        let text = |value: &serde_json::Value, key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut pushes = Vec::new();
        for endpoint in &endpoints {
            let Some(messages) = endpoint.get("messages").and_then(|m| m.as_object()) else {
                continue;
            };
            for (id, message) in messages {
                pushes.push(PublishedPush {
                    endpoint_arn: text(endpoint, "arn"),
                    token: text(endpoint, "token"),
                    message_id: id.clone(),
                    message: message.as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(pushes)
    }
}

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub url: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub destinations: Vec<String>,
    pub raw: String,
}

/// The clients of one process, built once from one configuration.
#[derive(Clone)]
pub struct Clients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            kinesis: aws_sdk_kinesis::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sesv2: aws_sdk_sesv2::Client::new(config),
            s3: storecast::aws::s3::client(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}
