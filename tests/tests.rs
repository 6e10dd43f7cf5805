//! nightshift's integration tests, one binary. Each module is one area; `util` holds the
//! harness (temp databases, a recording webhook sink, captured events, condition waits).

mod util;

// The engine crate driven in-process: queue semantics, retries, dead letter, replay.
mod engine_queue;
// Idempotent enqueue, alone and under concurrency.
mod engine_idempotency;
// Actors killed mid-job, handler panics, crash recovery at start.
mod engine_chaos;
// Drain (`run --once`) and ordered shutdown.
mod engine_lifecycle;
// Alert formats, outages, 429s and storm digests against a loopback sink.
mod engine_alerts;
// The daily cap and the circuit breaker.
mod engine_rails;
// A retry's backoff and an expired lease, on paused tokio time.
mod engine_timers;
// The Dispatcher: pickup in one commit, other processes' enqueues, claims ahead given back.
mod engine_dispatch;
// The per-attempt cost bound for an embedded handler.
mod engine_cost;
// Snoozes on paused time: due after their delay, no attempt counted, bounded by max_snoozes.
mod engine_snooze;
// Failure classes' effects, and the ledger's model and tokens.
mod engine_classes;
// Provider limits: concurrency, a snooze's hold, a limit's queues, its own breaker and probe.
mod engine_limits;
// Memoized steps through `Job::step`: run once, paid once, counted names, stale attempts refused.
mod engine_steps;
mod engine_waits;
// Retention: the Pruner at start, what it keeps, status counts kept by triggers.
mod engine_retention;
// The binary: every command's output and exit codes, bad input, `run` end to end.
mod cli_bad_input;
mod cli_commands;
// What a new user types: schedules, config values, conflicts, payloads, `jobs purge`.
mod cli_input;
mod cli_run;
// Signals in either mode; a handler program that cannot be started.
mod cli_handler_checks;
mod cli_signals;
// Which gate holds claims, as run, status and the event log say it.
mod cli_gates;
// A closed stdout ends every command quietly; `jobs`/`dlq` listings and their JSON; refusals
// that name the fix.
mod cli_closed_stdout;
mod cli_listing;
mod cli_small_fixes;
// `bench`: its JSON and text figures, one level or both.
mod cli_bench;
// The safety rails and alerts through the binary.
mod cli_rails;
// The dead-man's switch: pings from `run`, `doctor`'s check, the URL kept secret.
mod cli_heartbeat;
// The cost protocol: cost lines anywhere in stdout, the per-attempt bound, saturating sums.
mod cli_cost;
// Exit 75 and retry_after_s snooze, error_class lines, model and tokens, `spend --by`.
mod cli_limits;
mod cli_snooze;
// Memoized steps: the Python helper and `nightshift step` under `run`, jobs show, replay, purge;
// the step socket's refusals, and a runner SIGKILLed between steps.
mod cli_step_socket;
mod cli_steps;
// Waits and signals: a handler parks its job, `jobs show` says what for, `signal` continues it.
mod cli_waits;
// `status --prom`: Prometheus metrics parsed strictly and matched against `status --json`.
mod cli_metrics;
// Bounded growth: `[retention]`, pruning at start, `--older-than`, status counts.
mod cli_retention;
// `serve`: the HTTP API against the CLI's JSON, its limits, no secret shown; who may use it.
mod http_api;
mod http_guards;
// Every operation in the OpenAPI document refuses a request without the right token.
mod http_openapi;
// The dashboard's pages: login, session, overview, the kill switch's forms and CSRF.
mod http_pages;
// The jobs list, the job page, the dead letters and their replay form.
mod http_pages_jobs;
// The dashboard in headless Chromium: login, a dead letter replayed, the kill switch.
mod browser_dashboard;
// The overview's charts and `/api/activity` against seeded times; `/api/spend` as `spend --json`
// and `spend --by X --json`.
mod http_history;
// The overview's `[[limit]]` table; a waiting job's wait, limit and continuing command.
mod http_waits_limits;
// Schedules and the alert outbox as JSON and pages, the login limit, 404 pages beside JSON.
mod http_outbox;
// The dead letter's writes over the API: purge, bulk replay, filters, paging.
mod http_dlq_bulk;
// JSONL batch enqueue, cursor paging and key-prefix search of jobs.
mod http_jobs_bulk;
// The dead letters page's filter, bulk buttons and confirmation step.
mod http_pages_dlq;
// `dlq replay|purge|list --queue --reason`.
mod cli_dlq_filter;
// `run --http`: the API inside a continuous runner, its writes through the runner's engine.
mod cli_run_http;
// `deploy systemd|fly --http`: the API in the continuous templates, the token a secret.
mod cli_deploy_http;
// Moving up: SQLite copied into PostgreSQL.
mod cli_migrate;
// A password in the database URL, doctor's PostgreSQL check, bench refusing PostgreSQL.
mod cli_postgres;
// Chaos: faults, kills and bad input, judged by an invariant checker.
mod chaos_actors;
mod chaos_clients;
mod chaos_kill;
// Runners sharing one PostgreSQL database: SIGKILLs, cut connections.
mod chaos_limits;
mod chaos_runners;
mod chaos_storage;
// Deployment: `deploy cron|systemd|fly`, the root fly.toml and Dockerfile, `doctor`.
mod cli_deploy;
mod cli_deploy_cron;
mod cli_doctor;
// The first hour: `demo`, and the README's Quick start run verbatim.
mod cli_demo;
mod cli_quick_start;
mod cli_review_agent;
