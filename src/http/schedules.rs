//! `GET /api/schedules` and the page `/schedules`: each configured `[[schedule]]` with its cron
//! expression, queue, next tick ([`Schedule::next`] from now) and the last tick the database
//! holds (its newest `name@tick` job, in `jobs` or the dead letter; retention always keeps it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::DateTime;
use nightshift_actors::{Clock, SystemClock, Timestamp};
use serde::Serialize;

use super::page::{self, escape, job_href};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::output;

/// One schedule as `/api/schedules` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    /// The `[[schedule]]` entry's name.
    pub name: String,
    /// Its cron expression (UTC).
    pub cron: String,
    /// The queue its ticks are enqueued in.
    pub queue: String,
    /// The first tick after now, unix ms (none for a cron that never fires again).
    pub next_tick: Option<Timestamp>,
    /// The newest tick enqueued, unix ms, if the database holds one.
    pub last_tick: Option<Timestamp>,
    /// That tick's job key (`name@YYYY-MM-DDTHH:MM:SSZ`).
    pub last_key: Option<String>,
}

/// The schedules in config order, read at `now`.
async fn read(api: &Api, now: Timestamp) -> Result<Vec<ScheduleView>, ApiError> {
    let schedules = &api.settings.schedules;
    let names: Vec<String> = schedules.iter().map(|s| s.name.clone()).collect();
    let newest = if names.is_empty() {
        Vec::new()
    } else {
        api.database.read(move |admin| admin.newest_ticks(&names)).await?
    };
    Ok(schedules
        .iter()
        .zip(newest.into_iter().chain(std::iter::repeat(None)))
        .map(|(s, last_key)| ScheduleView {
            name: s.name.clone(),
            cron: s.cron.clone(),
            queue: s.queue.clone(),
            next_tick: s.next(now),
            last_tick: last_key.as_deref().and_then(tick_of),
            last_key,
        })
        .collect())
}

/// A tick's time from its key.
fn tick_of(key: &str) -> Option<Timestamp> {
    let (_, at) = key.rsplit_once('@')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?;
    Some(Timestamp::from_millis(at.timestamp_millis()))
}

/// `[{"name", "cron", "queue", "next_tick", "last_tick", "last_key"}]`, in config order.
#[utoipa::path(get, operation_id = "schedules", path = "/api/schedules", tag = "schedules",
    responses((status = 200, description = "The schedules, in config order", body = Vec<ScheduleView>)))]
pub async fn list(State(api): State<Api>) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    Ok(Json(read(&api, SystemClock.now()).await?))
}

/// The page: a row per schedule.
pub async fn page(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, ApiError> {
    let views = read(&api, SystemClock.now()).await?;
    if views.is_empty() {
        let body = "<p>No schedules are configured. Add a <code>[[schedule]]</code> entry (name, \
                    cron, payload, queue) to the config file.</p>\n";
        return Ok(page::render(StatusCode::OK, "Schedules", Some(&viewer), body));
    }
    let when = |t: Option<Timestamp>| t.map_or_else(|| "none".to_owned(), output::time);
    let rows: String = views
        .iter()
        .map(|v| {
            let last = match &v.last_key {
                Some(key) => format!(
                    "<a href=\"{}\">{}</a>",
                    escape(&job_href(key)),
                    escape(&when(v.last_tick))
                ),
                None => "none yet".to_owned(),
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td>{}</td>\
                 <td data-next>{}</td><td data-last>{last}</td></tr>\n",
                escape(&v.name),
                escape(&v.cron),
                escape(&v.queue),
                escape(&when(v.next_tick)),
            )
        })
        .collect();
    let body = format!(
        "<p>Times are UTC. Each tick enqueues one job keyed <code>name@tick</code>; the last tick \
         links to its job.</p>\n<div class=\"scroll\"><table>\n<thead><tr>\
         <th scope=\"col\">Name</th><th scope=\"col\">Cron</th><th scope=\"col\">Queue</th>\
         <th scope=\"col\">Next tick</th><th scope=\"col\">Last tick</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table></div>\n"
    );
    Ok(page::render(StatusCode::OK, "Schedules", Some(&viewer), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_key_gives_its_time() {
        let t = tick_of("digest@2026-03-10T12:00:00Z").unwrap();
        assert_eq!(t, Timestamp::from_millis(1_773_144_000_000));
        assert_eq!(tick_of("a@b@2026-03-10T12:00:00Z"), Some(t));
        assert_eq!(tick_of("digest"), None);
    }
}
