//! Logging: JSON lines through tracing (or human-readable for local runs). Request spans carry
//! the request id and, once authenticated, the tenant and user ids; handlers never log tokens,
//! passwords or patient data.

use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if settings.format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
    // A subscriber already installed (tests) is fine.
    let _ = result;
}
