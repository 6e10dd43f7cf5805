//! Cursors for the listings' next pages (`GET /api/jobs`, `GET /api/dlq`, the `/jobs` page):
//! opaque to the client (hex of a tagged position), checked when they come back. A page that
//! is full names its successor in a `Link: <...>; rel="next"` header (and the bare cursor in
//! `X-Next-Cursor`); the body stays the array the matching command prints.
//!
//! A cursor is a place in the listing's order, never an offset: jobs by insertion order (a
//! job inserted after the first page is newer than every cursor, so no later page meets it),
//! dead letters by `(died, key)`.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use nightshift_actors::Timestamp;
use serde::Serialize;

use super::ApiError;
use super::page::path_segment;

/// A jobs cursor: the last job's place.
pub fn jobs(after: i64) -> String {
    hex(&format!("j{after}"))
}

/// A dead letters cursor: the last row's `(died, key)`.
pub fn dead((died, key): &(Timestamp, String)) -> String {
    hex(&format!("d{}:{key}", died.as_secs()))
}

/// The place a jobs cursor names; 400 for anything this API did not hand out.
pub fn parse_jobs(cursor: &str) -> Result<i64, ApiError> {
    let text = unhex(cursor).ok_or_else(refused)?;
    text.strip_prefix('j').and_then(|n| n.parse().ok()).ok_or_else(refused)
}

/// The row a dead letters cursor names; 400 for anything this API did not hand out.
pub fn parse_dead(cursor: &str) -> Result<(Timestamp, String), ApiError> {
    let text = unhex(cursor).ok_or_else(refused)?;
    let (died, key) = text.strip_prefix('d').and_then(|t| t.split_once(':')).ok_or_else(refused)?;
    let died = died.parse().map_err(|_| refused())?;
    Ok((Timestamp::from_secs(died), key.to_owned()))
}

fn refused() -> ApiError {
    ApiError::bad_request(
        "the cursor is not one this listing handed out; list again without `cursor`, then \
         follow the `Link: <...>; rel=\"next\"` header of each page",
    )
}

/// `path?name=value&...&cursor=...`, the values encoded; empty values are left out.
pub fn href(path: &str, params: &[(&str, &str)], cursor: &str) -> String {
    let mut out = format!("{path}?");
    for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!("{name}={}&", path_segment(value)));
    }
    out.push_str(&format!("cursor={cursor}"));
    out
}

/// `body` as JSON, with the next page's `Link` and `X-Next-Cursor` when there is one.
/// The cursor a request gave; an empty one (a form's empty field) is none, as the empty
/// filters are.
pub fn given(cursor: Option<&str>) -> Option<&str> {
    cursor.filter(|c| !c.is_empty())
}

pub fn page<T: Serialize>(body: T, next: Option<(String, String)>) -> Response {
    let mut response = Json(body).into_response();
    if let Some((href, cursor)) = next {
        let headers = response.headers_mut();
        if let Ok(link) = HeaderValue::from_str(&format!("<{href}>; rel=\"next\"")) {
            headers.insert(header::LINK, link);
        }
        if let Ok(cursor) = HeaderValue::from_str(&cursor) {
            headers.insert("x-next-cursor", cursor);
        }
    }
    response
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_come_back_as_they_went_and_others_are_refused() {
        assert_eq!(parse_jobs(&jobs(42)).unwrap(), 42);
        let row = (Timestamp::from_secs(7), "a:b/é".to_owned());
        assert_eq!(parse_dead(&dead(&row)).unwrap(), row);
        for bad in ["", "zz", "6", &dead(&row)] {
            let e = parse_jobs(bad).unwrap_err();
            assert!(e.message.contains("without `cursor`"), "{bad}: {}", e.message);
        }
        assert!(parse_dead(&jobs(1)).is_err());
    }
}
