//! `[http]`: settings of `nightshift serve`.
//!
//! - `token_file`: a file holding the API's bearer token (read when `serve` starts, trimmed;
//!   `NIGHTSHIFT_TOKEN` wins over it). A path relative to the working directory, as `db` is.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    pub(super) token_file: Option<PathBuf>,
}
