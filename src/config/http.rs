//! `[http]`: settings of `nightshift serve`.
//!
//! - `token_file`: a file holding the API's bearer token (read when `serve` starts, trimmed;
//!   `NIGHTSHIFT_TOKEN` wins over it). A path relative to the working directory, as `db` is.
//! - `timeout = "30s"`: how long a request may take before it is answered 503.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, parse_duration};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    token_file: Option<PathBuf>,
    timeout: Option<String>,
}

/// `[http]` as `serve` uses it.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Where the bearer token is read from, unless `NIGHTSHIFT_TOKEN` is set.
    pub token_file: Option<PathBuf>,
    /// How long a request may take, its body included.
    pub timeout: Duration,
}

impl HttpFile {
    pub(super) fn parse(self) -> Result<HttpSettings, ConfigError> {
        let timeout = parse_duration("[http] timeout", self.timeout.as_deref().unwrap_or("30s"))?;
        Ok(HttpSettings { token_file: self.token_file, timeout })
    }
}
