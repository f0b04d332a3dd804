//! The conductor's heartbeat row in `magnum_services` (what `/v1/mservices` shows).

use magnum_config::ConductorConfig;
use magnum_store::Store;
use magnum_types::mservice::CONDUCTOR_BINARY;
use std::time::Duration;

/// `builds`: the COEs this conductor's drivers build bays of (the API refuses others at once).
pub(crate) async fn run(store: Store, config: ConductorConfig, builds: Vec<&'static str>) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.report_interval.max(1)));
    let mut failing = false;
    loop {
        tick.tick().await;
        match store.heartbeat(&config.host, CONDUCTOR_BINARY, &builds).await {
            Ok(()) if failing => {
                tracing::info!("heartbeat recorded again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot record heartbeat; this conductor will show as down until it can");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
