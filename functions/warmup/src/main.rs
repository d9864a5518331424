//! Daily (EventBridge schedule, just after midnight UTC): today's warm-up cap of every tenant in
//! warm-up, from yesterday's feedback. Logic: `storecast::deliverability::warmup::WarmupService`.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::aws::dynamodb::FeedbackTable;
use storecast::clock::SystemClock;
use storecast::config::WarmupSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = WarmupSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let feedback = Arc::new(FeedbackTable::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &settings.delivery_table,
        Arc::new(SystemClock),
    ));
    let warmup = storecast::wiring::warmup(&settings, &sdk, feedback);
    run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let warmup = &warmup;
        async move {
            let summary = warmup.run_daily(time::OffsetDateTime::now_utc()).await?;
            tracing::info!(?summary, "warm-up run");
            summary.failures_as_error()?;
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
