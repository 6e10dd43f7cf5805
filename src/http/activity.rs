//! What happened over time: `GET /api/activity?hours=N` (jobs done, attempts failed and jobs
//! dead-lettered per UTC hour), `GET /api/spend?days=N&by=X` (what `spend --json` prints, or
//! with `by` what `spend --by X --json` prints), and the overview's two charts drawn from the
//! same reads (the last 24 hours; spend per UTC day over the last 30 days against the daily
//! cap).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use nightshift_actors::clock::utc_day;
use nightshift_actors::{Admin, DaySpend, HourActivity, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::chart::{self, Chart, Series};
use super::error::ErrorBody;
use super::{Api, ApiError};
use crate::commands::spend::{self, SpendByJson, SpendJson};

/// Hours `/api/activity` gives when not told, as the overview's chart shows.
const DEFAULT_HOURS: u32 = 24;
/// At most a week of hours.
const MAX_HOURS: u32 = 168;
/// Days the overview's spend chart shows.
const CHART_DAYS: u32 = 30;

/// `?hours=N`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoursQuery {
    /// Hours back, 1 to 168 (24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<u32>,
}

/// Jobs done, attempts failed and jobs dead-lettered per UTC hour.
#[derive(Serialize, ToSchema)]
pub struct Activity {
    /// Oldest first; the last is the current hour, so far.
    hours: Vec<HourActivity>,
}

/// `{"hours": [{"hour": <unix ms, the hour's start>, "done", "failed", "dead"}, ...]}`, oldest
/// first, the last hour the one now is in.
#[utoipa::path(get, operation_id = "activity", path = "/api/activity", tag = "history", params(HoursQuery),
    responses(
        (status = 200, description = "One bucket per hour", body = Activity),
        (status = 400, description = "`hours` out of range", body = ErrorBody),
    ))]
pub async fn show(
    State(api): State<Api>,
    query: Result<Query<HoursQuery>, QueryRejection>,
) -> Result<Json<Activity>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let hours = query.hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(format!(
            "hours must be from 1 to {MAX_HOURS} (a week); {hours} was given"
        )));
    }
    let buckets = api.database.read(move |admin| admin.activity(hours)).await?;
    Ok(Json(Activity { hours: buckets }))
}

/// `?days=N&by=model|queue|limit`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpendQuery {
    /// UTC days back, today included, 1 to 366 (7).
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
    /// Sum the days by the model each attempt reported, the job's queue or its `[[limit]]`
    /// (as `spend --by`); without it, per UTC day.
    #[param(value_type = Option<spend::Group>)]
    by: Option<String>,
}

/// What `/api/spend` answers: per UTC day, or with `by`, per group.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SpendAnswer {
    /// `spend --days N --json`.
    Days(SpendJson),
    /// `spend --by X --days N --json`.
    By(SpendByJson),
}

/// What `spend --days N --json` prints: `{"daily_cap_micros", "days": [{"day", "micros",
/// "attempts"}]}`, with its default (7) and its range (1 to 366); with `by`, what
/// `spend --by X --days N --json` prints: `{"by", "days", "groups": [{X, "micros", "attempts",
/// "tokens_in", "tokens_out"}]}`, the costliest first.
#[utoipa::path(get, operation_id = "spend", path = "/api/spend", tag = "history", params(SpendQuery),
    responses(
        (status = 200, description = "As `spend --json`, or with `by` as `spend --by X --json`",
            body = SpendAnswer),
        (status = 400, description = "`days` out of range, or `by` not `model`, `queue` or \
            `limit`", body = ErrorBody),
    ))]
pub async fn spend(
    State(api): State<Api>,
    query: Result<Query<SpendQuery>, QueryRejection>,
) -> Result<Json<SpendAnswer>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let days = query.days.unwrap_or(spend::DEFAULT_DAYS);
    if !spend::DAYS.contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days must be from {} to {}; {days} was given",
            spend::DAYS.start(),
            spend::DAYS.end()
        )));
    }
    let by = query.by.as_deref().map(spend::Group::parse).transpose();
    match by.map_err(ApiError::bad_request)? {
        Some(by) => {
            let answer = api.database.read(move |admin| spend::read_by(admin, by, days)).await?;
            Ok(Json(SpendAnswer::By(answer)))
        }
        None => {
            let (ledger, cap) = api.database.read(move |admin| spend::read(admin, days)).await?;
            Ok(Json(SpendAnswer::Days(spend::json(&ledger, cap))))
        }
    }
}

/// What the overview's charts are drawn from.
pub struct History {
    pub hours: Vec<HourActivity>,
    pub ledger: Vec<DaySpend>,
    pub cap: Option<i64>,
    pub now: Timestamp,
}

impl History {
    pub fn read(admin: &Admin, now: Timestamp) -> Result<Self, StoreError> {
        let (ledger, cap) = spend::read(admin, CHART_DAYS)?;
        Ok(Self { hours: admin.activity(DEFAULT_HOURS)?, ledger, cap, now })
    }

    /// The two charts, each with its table.
    pub fn charts(&self) -> String {
        format!("<h2>Last 24 hours</h2>\n{}<h2>Spend by day</h2>\n{}", self.hourly(), self.daily())
    }

    fn hourly(&self) -> String {
        let at = |h: &HourActivity| {
            DateTime::<Utc>::from_timestamp_millis(h.hour.as_millis()).unwrap_or_default()
        };
        let series = |name, f: fn(&HourActivity) -> u64| Series {
            name,
            values: self.hours.iter().map(f).collect(),
        };
        chart::render(&Chart {
            id: "activity",
            title: "Jobs done, attempts failed and jobs dead-lettered per hour (UTC)",
            slots: self
                .hours
                .iter()
                .map(|h| at(h).format("%Y-%m-%d %H:00 UTC").to_string())
                .collect(),
            ticks: self.hours.iter().map(|h| at(h).format("%H:00").to_string()).collect(),
            series: vec![
                series("done", |h| h.done),
                series("failed", |h| h.failed),
                series("dead-lettered", |h| h.dead),
            ],
            limit: None,
            format: |n| n.to_string(),
            floor: 2,
        })
    }

    fn daily(&self) -> String {
        // The ledger holds only days with a cost: every day of the window gets its slot.
        let days: Vec<String> = (0..CHART_DAYS)
            .rev()
            .map(|back| utc_day(self.now - Duration::from_secs(86_400) * back))
            .collect();
        let spent = days
            .iter()
            .map(|day| {
                let micros = self.ledger.iter().find(|d| &d.day == day).map_or(0, |d| d.micros);
                u64::try_from(micros).unwrap_or(0)
            })
            .collect();
        chart::render(&Chart {
            id: "spend",
            title: "Spend per UTC day, last 30 days",
            ticks: days.iter().map(|d| d.get(5..).unwrap_or(d).to_owned()).collect(),
            slots: days,
            series: vec![Series { name: "spent", values: spent }],
            limit: self.cap.map(|cap| ("daily cap".to_owned(), u64::try_from(cap).unwrap_or(0))),
            format: |micros| crate::output::usd(i64::try_from(micros).unwrap_or(i64::MAX)),
            // A cent, in micro-dollars.
            floor: 10_000,
        })
    }
}
