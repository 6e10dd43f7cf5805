//! What every dashboard page shares: HTML escaping, the page around a body (viewport, inline
//! CSS, the logout form), and the headers that keep a page from being framed or cached.
//!
//! Pages are `format!`ed strings: every value that comes from the database or a request (a job
//! key, a queue name, a pause reason) goes through [`escape`] on its way in. No script runs on
//! any page; the Content-Security-Policy says so, so an escape missed would still not run.

use axum::Extension;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::error::ErrorText;
use super::session::Viewer;

/// `text` with the five characters HTML gives meaning to replaced by their entities, safe in
/// element content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one segment of a URL path: every byte but the unreserved ones (letters, digits,
/// `-._~`) percent-encoded, so a key holding `/`, a space or `?` stays one segment and comes
/// back whole from the route's `{key}`.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A job's page (`/jobs/{key}`), its key encoded.
pub fn job_href(key: &str) -> String {
    format!("/jobs/{}", path_segment(key))
}

/// A filter's `<option>`s: "any" (the empty value), then `words`, the `chosen` one selected.
pub fn options(words: &[&str], chosen: &str) -> String {
    std::iter::once("")
        .chain(words.iter().copied())
        .map(|w| {
            let selected = if w == chosen { " selected" } else { "" };
            let label = if w.is_empty() { "any" } else { w };
            format!("<option value=\"{w}\"{selected}>{label}</option>")
        })
        .collect()
}

/// A hidden field carrying the viewer's CSRF token, for every form that changes something.
pub fn csrf_field(viewer: &Viewer) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, escape(&viewer.csrf))
}

/// A whole page: `title` (plain text, escaped here) and `body` (HTML, escaped by its maker).
pub fn render(status: StatusCode, title: &str, viewer: Option<&Viewer>, body: &str) -> Response {
    let logout = match viewer {
        Some(v) if v.logged_in => format!(
            r#"<form method="post" action="/logout" class="inline">{}<button type="submit">Log out</button></form>"#,
            csrf_field(v)
        ),
        _ => String::new(),
    };
    let title = escape(title);
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nightshift</title>
<style>{CSS}</style>
</head>
<body>
<header><nav aria-label="Pages"><strong>nightshift</strong> <a href="/">Overview</a>
<a href="/jobs">Jobs</a> <a href="/dlq">Dead letters</a> <a href="/schedules">Schedules</a>
<a href="/alerts">Alerts</a></nav> {logout}</header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A page that only says why a request got `status` (a 404 for an unknown key, a 400 for a
/// filter the page does not know): `text` is plain text, escaped here.
pub fn message(status: StatusCode, title: &str, viewer: &Viewer, text: &str) -> Response {
    let body = format!(
        "<p role=\"alert\">{}</p>\n<p><a href=\"/\">Back to the overview</a></p>",
        escape(text)
    );
    render(status, title, Some(viewer), &body)
}

/// Any dashboard path that is not a page: a 404 page.
pub async fn not_found(Extension(viewer): Extension<Viewer>) -> Response {
    let text = "There is no page at this address.";
    message(StatusCode::NOT_FOUND, "Not found", &viewer, text)
}

/// A page's failure said as a page, not as the API's JSON: an error the handler returned (its
/// message, which never holds a secret: see `ApiError`), or a request axum refused before the
/// handler (a form it could not read, a method the page does not take), by its status.
pub async fn html_errors(request: Request, next: Next) -> Response {
    let viewer = request.extensions().get::<Viewer>().cloned();
    let response = next.run(request).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let Some(viewer) = viewer.filter(|_| !is_html && status.as_u16() >= 400) else {
        return response;
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let text = match response.extensions().get::<ErrorText>() {
        Some(ErrorText(text)) => text.clone(),
        None => format!("This request was refused ({} {title}).", status.as_u16()),
    };
    message(status, title, &viewer, &text)
}

/// 403 for a form that did not carry the viewer's CSRF token.
pub fn csrf_refused(viewer: &Viewer) -> Response {
    let body = "<p>This form was not sent from this dashboard's own page (or the page is from \
                an earlier session). Nothing was changed. <a href=\"/\">Back to the \
                overview</a>, then try again.</p>";
    render(StatusCode::FORBIDDEN, "Refused", Some(viewer), body)
}

/// Readable in black and white and on a phone: state is always said in words, never by colour
/// alone; tables scroll sideways rather than squeeze; buttons are large enough for a thumb and
/// show a visible focus ring for the keyboard.
const CSS: &str = "
body{font-family:system-ui,sans-serif;margin:0;line-height:1.4;color:#111;background:#fff}
header{display:flex;justify-content:space-between;align-items:center;flex-wrap:wrap;gap:.3rem;padding:.5rem 1rem;border-bottom:1px solid #888}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}
.scroll{overflow-x:auto}
th,td{text-align:left;vertical-align:top;padding:.3rem .6rem;border-bottom:1px solid #ccc}
td pre{min-width:14rem}
@media (max-width:40rem){td.wide{min-width:14rem}}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{font-weight:600}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;border:1px solid #ccc;padding:.5rem;margin:0}
nav a{margin-left:.6rem}
dd{margin:0;overflow-wrap:anywhere}
form.inline{display:inline}
label{display:block;margin:.5rem 0 .2rem}
input[type=text],input[type=password],select{font-size:1rem;padding:.4rem;width:100%;max-width:24rem;box-sizing:border-box}
button{font-size:1rem;padding:.5rem 1rem;margin-top:.5rem;border:2px solid #111;background:#eee;border-radius:4px}
button:focus,input:focus,a:focus{outline:3px solid #000;outline-offset:2px}
.error{border:2px solid #111;padding:.5rem;font-weight:600}
figure.chart{margin:0 0 1rem}
figure.chart svg{display:block;max-width:min(100%,40rem);height:auto}
figcaption{font-size:.9rem}
details{margin:.3rem 0}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_meaningful_character_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("mail/2026 ünïcode"), "mail/2026 ünïcode");
    }

    #[test]
    fn a_key_stays_one_path_segment() {
        assert_eq!(path_segment("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(job_href("mail/2026 x?y#<é>"), "/jobs/mail%2F2026%20x%3Fy%23%3C%C3%A9%3E");
    }
}
