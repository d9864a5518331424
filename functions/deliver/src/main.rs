//! Send batches in, emails out through each tenant's own SES workspace. Logic:
//! `storecast::pipeline::deliver`.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::config::DeliverSettings;
use storecast::wiring::deadline_from_millis;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = DeliverSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let unsubscribe =
        storecast::wiring::unsubscribe_signer(&settings.unsubscribe_keys_secret, &sdk).await?;
    let deliverer = storecast::wiring::deliverer(&settings, &sdk, unsubscribe);
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let deliverer = &deliverer;
        async move {
            let deadline = deadline_from_millis(event.context.deadline);
            deliverer.handle(event.payload, deadline).await
        }
    }))
    .await
}
