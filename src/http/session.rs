//! The dashboard's sessions: what the login form hands out, and what the page guard checks.
//!
//! A session id is 32 random bytes (hex), kept in this process's memory with its expiry
//! ([`LIFETIME`]) and its own CSRF token, another 32 random bytes. The cookie never holds the
//! token: it holds the id, which means nothing outside this process. Why ids in memory rather
//! than a signed expiry (an HMAC with a key made at start): logging out really ends a session
//! (the id is forgotten, a copied cookie stops working at once), and no signing crate is
//! needed. The price is that a restart logs everyone out, which costs one login.
//!
//! Wrong tokens sent to the login form are limited per client (`throttle`).
//!
//! Without a token (loopback only), pages are open: there is no session, and the forms carry
//! one CSRF token made when the process started.
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the request came over
//! HTTPS: nightshift itself speaks plain HTTP, so HTTPS means a proxy in front (Fly's) that
//! says so in `X-Forwarded-Proto: https`. Trusting that header is safe here: it can only add
//! `Secure`, which makes the cookie stricter, never looser.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::Api;

/// The cookie's name.
pub const COOKIE: &str = "nightshift_session";

/// How long a session lasts from login: a working day and a night's alerts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The open sessions, and the CSRF token of the pages when no token is configured.
pub struct Sessions {
    // A std Mutex: held for a map lookup, never across an await.
    open: Mutex<HashMap<String, Session>>,
    tokenless_csrf: String,
    /// The login form's limit on wrong tokens.
    pub throttle: super::throttle::Throttle,
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// Who is looking at a page, as the guard found: what its forms must carry.
#[derive(Clone)]
pub struct Viewer {
    /// The CSRF token the forms carry and a POST must send back.
    pub csrf: String,
    /// Whether there is a session to log out of (false without a token).
    pub logged_in: bool,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            tokenless_csrf: random_hex(),
            throttle: Default::default(),
        }
    }
}

impl Sessions {
    /// Opens a session; returns its id (the cookie's value).
    pub fn open(&self) -> String {
        let now = Instant::now();
        let id = random_hex();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        // Logins are rare and need the token: dropping the expired ones here bounds the map.
        open.retain(|_, s| s.expires > now);
        open.insert(id.clone(), Session { csrf: random_hex(), expires: now + LIFETIME });
        id
    }

    /// Ends the session `id`, if it is open.
    pub fn close(&self, id: &str) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// The viewer of a request: with a token, the session its cookie names (if open and not
    /// expired); without one, everyone.
    pub fn viewer(&self, api: &Api, headers: &HeaderMap) -> Option<Viewer> {
        if api.token.is_none() {
            return Some(Viewer { csrf: self.tokenless_csrf.clone(), logged_in: false });
        }
        let id = cookie(headers)?;
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let session = open.get(id).filter(|s| s.expires > Instant::now())?;
        Some(Viewer { csrf: session.csrf.clone(), logged_in: true })
    }
}

impl Viewer {
    /// Whether a form sent back this viewer's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        super::auth::same_secret(self.csrf.as_bytes(), given.as_bytes())
    }
}

/// The session id in a request's `Cookie` header, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))
}

/// The `Set-Cookie` value that hands out session `id`, or (`None`) the one that clears it.
pub fn set_cookie(headers: &HeaderMap, id: Option<&str>) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if secure { "; Secure" } else { "" };
    let (value, max_age) = match id {
        Some(id) => (id, LIFETIME.as_secs()),
        None => ("", 0),
    };
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// Lets a page request through with its [`Viewer`] when it has one; sends anyone else to the
/// login form.
pub async fn require(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    match api.sessions.viewer(&api, request.headers()) {
        Some(viewer) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        None => Redirect::to("/login").into_response(),
    }
}

/// 32 random bytes in hex.
fn random_hex() -> String {
    rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_secure_only_behind_https() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; nightshift_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers), Some("abc"));
        assert!(!set_cookie(&headers, Some("abc")).contains("Secure"));
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        let set = set_cookie(&headers, Some("abc"));
        assert!(set.contains("HttpOnly; SameSite=Strict; Path=/") && set.ends_with("; Secure"));
    }

    #[test]
    fn only_the_exact_csrf_token_matches() {
        let viewer = Viewer { csrf: "0123abcd".to_owned(), logged_in: true };
        assert!(viewer.csrf_matches("0123abcd"));
        for wrong in ["0123abce", "0123abc", "0123abcd0", ""] {
            assert!(!viewer.csrf_matches(wrong), "{wrong}");
        }
    }
}
