//! The alert webhook's URL, checked.

use super::{ConfigError, bad};

/// Refuses webhook URLs that cannot work, without ever echoing the URL (it holds a token).
pub(super) fn check_webhook(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(bad(
            "the alert webhook (ALERT_WEBHOOK / [alert] webhook) is empty; unset it or give a URL",
        ));
    }
    if !(trimmed.starts_with("https://") || trimmed.starts_with("http://")) {
        return Err(bad(
            "the alert webhook (ALERT_WEBHOOK / [alert] webhook) is not an http(s) URL",
        ));
    }
    Ok(trimmed.to_owned())
}
