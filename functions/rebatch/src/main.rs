//! Campaign events in, send batches of at most 50 out. Logic: `storecast::pipeline::rebatch`.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::config::RebatchSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = RebatchSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let rebatcher = storecast::wiring::rebatcher(&settings, &sdk);
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let rebatcher = &rebatcher;
        async move { rebatcher.handle(event.payload).await }
    }))
    .await
}
