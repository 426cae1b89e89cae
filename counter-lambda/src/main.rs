//! The Lambda entry point (`bootstrap`): configuration and the SDK client
//! are built once per instance, then every event goes to the handler.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    counter_lambda::init_json_logs();
    let app = counter_lambda::App::from_env().await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(counter_lambda::handler::handle(app, req).await)
    }))
    .await
}
