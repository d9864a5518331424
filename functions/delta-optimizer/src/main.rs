//! Daily: each configured retailer's segment deltas from yesterday's found-rate feedback, a
//! report every run, applied where the retailer's configuration says so. Logic:
//! `storecast::availability::optimizer::DeltaOptimizer`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::availability::settings::DeltaOptimizerSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = DeltaOptimizerSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let optimizer = storecast::wiring::delta_optimizer(&settings, &sdk);
    run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let optimizer = &optimizer;
        async move {
            let yesterday = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
            let summary = optimizer.run_all(yesterday).await?;
            tracing::info!(?summary, "delta optimizer run");
            summary.failures_as_error()?;
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
