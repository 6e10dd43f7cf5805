//! Which dead letters `dlq replay` and `dlq purge` take: keys, `--all`, or a filter by
//! `--queue` and `--reason` (`dlq list` takes the filter too).

use clap::Args;
use nightshift_actors::{DeadFilter, DeadReason, Selector};

#[derive(Debug, Args)]
pub struct Selection {
    /// The keys
    #[arg(
        required_unless_present_any = ["all", "queue", "reason"],
        conflicts_with_all = ["all", "queue", "reason"]
    )]
    pub keys: Vec<String>,
    /// Every dead-lettered job
    #[arg(long, conflicts_with_all = ["queue", "reason"])]
    pub all: bool,
    #[command(flatten)]
    pub filter: DeadFilterArgs,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// `dlq replay`: the selection, and whether the jobs keep their recorded steps.
#[derive(Debug, Args)]
pub struct DlqReplayArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Start over: delete the jobs' recorded steps (by default a replayed job resumes after its
    /// last recorded step)
    #[arg(long)]
    pub fresh: bool,
}

/// `--queue` and `--reason`: dead letters by their columns.
#[derive(Debug, Args, Default, Clone)]
pub struct DeadFilterArgs {
    /// Only the dead letters of this queue
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Only the dead letters of this reason: exhausted, permanent or crashed
    #[arg(long, value_name = "REASON", value_parser = parse_reason)]
    pub reason: Option<DeadReason>,
}

impl DeadFilterArgs {
    /// The filter, or `None` when neither `--queue` nor `--reason` was given.
    pub fn filter(&self) -> Option<DeadFilter> {
        let filter = DeadFilter { queue: self.queue.clone(), reason: self.reason };
        (filter != DeadFilter::default()).then_some(filter)
    }
}

impl Selection {
    /// What the store is asked to take.
    pub fn selector(&self) -> Selector {
        match self.filter.filter() {
            _ if self.all => Selector::All,
            Some(filter) => Selector::Matching(filter),
            None => Selector::Keys(self.keys.clone()),
        }
    }
}

/// A reason's word (`--reason`, and the API's and dashboard's `reason`), or why it is none.
pub fn parse_reason(word: &str) -> Result<DeadReason, String> {
    DeadReason::parse(word).ok_or_else(|| {
        let known: Vec<&str> = DeadReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("{word:?} is not a reason; give one of {}", known.join(", "))
    })
}
