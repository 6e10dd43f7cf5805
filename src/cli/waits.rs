//! `nightshift signal` and `nightshift cancel`.

/// `nightshift signal KEY NAME [PAYLOAD | -]`: the job is due now; exit 1, nothing changed, when
/// it does not wait for NAME.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The job's handler waits with `{\"wait\": {\"name\": \"approval\", \"timeout\": \"24h\"}}` \
                  on stdout and exit 75; its next attempt reads the payload with `step.get NAME` \
                  (`nightshift step NAME -- false` prints it)."
)]
pub struct SignalArgs {
    /// The job's key
    pub key: String,
    /// The signal's name (the step the payload is stored as)
    pub name: String,
    /// The payload; `-` reads stdin; none is the empty text
    pub payload: Option<String>,
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// `nightshift cancel KEY... | --queue Q`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The jobs' keys
    #[arg(required_unless_present = "queue", conflicts_with = "queue")]
    pub keys: Vec<String>,
    /// Every pending, waiting or running job of this queue
    #[arg(long, value_name = "Q")]
    pub queue: Option<String>,
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
}
