//! `nightshift alert test`: sends one alert through the configured webhook at once and reports
//! the result (exit 0 on delivery; 1 otherwise, with the HTTP status or why no answer came).

use crate::Failure;
use crate::cli::AlertCommand;
use crate::config::Settings;
use crate::output::outln;

pub fn run(settings: &Settings, command: &AlertCommand) -> Result<(), Failure> {
    match command {
        AlertCommand::Test => {
            let result = send_test(settings)?;
            outln!("{result}")?;
            Ok(())
        }
    }
}

/// Sends one test alert; `Ok` describes the delivery, `Err` says why it failed (never the URL).
pub fn send_test(settings: &Settings) -> Result<String, Failure> {
    let Some(webhook) = &settings.webhook else {
        return Err(Failure::Usage(
            "no alert webhook configured: set ALERT_WEBHOOK or [alert] webhook".to_owned(),
        ));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    let target = nightshift_actors::alerts::Target::new(webhook, settings.alert_format)
        .map_err(Failure::Usage)?;
    runtime.block_on(target.send_test()).map_err(Failure::Failed)
}
