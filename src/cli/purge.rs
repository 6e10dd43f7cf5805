//! `dlq purge`'s arguments: keys, `--all`, a filter, or `--older-than` (`dlq replay` takes the
//! first three, as [`super::Selection`]).

use clap::Args;

use super::{DeadFilterArgs, Selection};

#[derive(Debug, Args)]
pub struct DlqPurgeArgs {
    /// The keys
    #[arg(
        required_unless_present_any = ["all", "older_than", "queue", "reason"],
        conflicts_with_all = ["all", "older_than", "queue", "reason"]
    )]
    pub keys: Vec<String>,
    /// Every dead-lettered job
    #[arg(long, conflicts_with_all = ["older_than", "queue", "reason"])]
    pub all: bool,
    #[command(flatten)]
    pub filter: DeadFilterArgs,
    /// Every dead-lettered job that died longer ago than this (e.g. 30d), by the rule
    /// [retention] dead prunes with: the newest tick of each [[schedule]] stays
    #[arg(long, value_name = "DUR", conflicts_with_all = ["queue", "reason"])]
    pub older_than: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

impl DlqPurgeArgs {
    /// The keys, `--all` or the filter, as `dlq replay` would take them.
    pub fn selection(&self) -> Selection {
        let (keys, all, json) = (self.keys.clone(), self.all, self.json);
        Selection { keys, all, filter: self.filter.clone(), json }
    }
}
