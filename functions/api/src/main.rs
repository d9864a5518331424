//! The marketer API behind API Gateway (HTTP API, JWT authorizer). Logic: `storecast::api`.

use lambda_http::{Error, run, tracing};
use storecast::config::ApiSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = ApiSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let unsubscribe =
        storecast::wiring::unsubscribe_signer(&settings.unsubscribe_keys_secret, &sdk).await?;
    let app = storecast::wiring::api(&settings, &sdk, unsubscribe).layer(
        axum::middleware::from_fn(storecast::api::auth::claims_from_api_gateway),
    );
    run(app).await
}
