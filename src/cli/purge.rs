//! `dlq purge`'s arguments: keys, `--all`, or `--older-than` (`dlq replay` takes the first two,
//! as [`super::Selection`]).

use clap::Args;

use super::Selection;

#[derive(Debug, Args)]
pub struct DlqPurgeArgs {
    /// The keys
    #[arg(
        required_unless_present_any = ["all", "older_than"],
        conflicts_with_all = ["all", "older_than"]
    )]
    pub keys: Vec<String>,
    /// Every dead-lettered job
    #[arg(long, conflicts_with = "older_than")]
    pub all: bool,
    /// Every dead-lettered job that died longer ago than this (e.g. 30d), by the rule
    /// [retention] dead prunes with: the newest tick of each [[schedule]] stays
    #[arg(long, value_name = "DUR")]
    pub older_than: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

impl DlqPurgeArgs {
    /// The keys or `--all`, as `dlq replay` would take them.
    pub fn selection(&self) -> Selection {
        Selection { keys: self.keys.clone(), all: self.all, json: self.json }
    }
}
