//! What keeps a web page from using the API through its reader's browser. Bearer tokens are
//! never sent by a browser on its own, but an API without a token (loopback, perhaps reached
//! from a laptop through an SSH tunnel) would answer any page that makes the browser call
//! `http://localhost:8787`. So:
//!
//! - Without a token, the `Host` header must name a loopback address or `localhost`: a page
//!   whose own name was made to resolve to 127.0.0.1 (DNS rebinding) sends its own name there
//!   and is refused, as is a reverse proxy that would put the tokenless API on a public name.
//! - With or without a token, a request that changes something (any method but GET, HEAD and
//!   OPTIONS) is refused when the browser marks it as coming from another site
//!   (`Sec-Fetch-Site`), or when its `Origin` names another host than `Host` does. Clients
//!   other than browsers send neither header.
//!
//! Both refusals are 403 with a JSON error that says which rule applied.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Api, ApiError};

pub async fn guard(State(api): State<Api>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if api.token.is_none() && !host(headers).is_none_or(is_loopback) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "without a token the API answers only requests addressed to 127.0.0.1, [::1] or \
             localhost; set a token to serve it under another name",
        )
        .into_response();
    }
    if !request.method().is_safe() && is_cross_site(headers) {
        return ApiError::new(StatusCode::FORBIDDEN, "requests from another site are refused")
            .into_response();
    }
    next.run(request).await
}

/// The `Host` header, if there is one readable.
fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// Whether a `Host` value (`name`, `name:port`, `[v6]:port`) names this machine's loopback.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a browser says the request comes from a page of another site.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // `scheme://host[:port]`; "null" (a sandboxed page, a file) names no host at all.
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host.is_none_or(|h| Some(h) != host(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_and_without_ports() {
        for host in
            ["127.0.0.1", "127.0.0.1:8787", "localhost:1", "LOCALHOST", "[::1]:8787", "127.9.9.9"]
        {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["evil.example:8787", "10.0.0.1:8787", "[2001:db8::1]:80", "localhost.evil", ""]
        {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn cross_site_by_fetch_metadata_or_origin() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            map
        };
        assert!(!is_cross_site(&headers(&[("host", "127.0.0.1:8787")])));
        assert!(!is_cross_site(&headers(&[
            ("host", "localhost:8787"),
            ("origin", "http://localhost:8787")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "localhost:8787"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[("host", "localhost:8787"), ("origin", "null")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
    }
}
