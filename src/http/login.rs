//! `GET /login`, `POST /login` and `POST /logout`: the token typed into a password field opens
//! a session (see `session` for what the cookie holds). A wrong token gets the form again with
//! a 401 and the same words whatever was wrong. Without a token configured there is nothing to
//! log into: the form sends the browser to the overview. A client that sent five wrong tokens
//! within a minute is refused (429 with `Retry-After`) until the first of them is a minute old
//! (see `throttle`).

use std::time::Instant;

use axum::Extension;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Api;
use super::listener::ClientAddr;
use super::page;
use super::session::{self, Viewer};

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// A form that only carries its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn form(State(api): State<Api>) -> Response {
    if api.token.is_none() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, "")
}

pub async fn submit(
    State(api): State<Api>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(token) = &api.token else {
        return Redirect::to("/").into_response();
    };
    let (client, now) = (peer.ip(), Instant::now());
    if let Err(wait) = api.sessions.throttle.check(client, now) {
        // Whole seconds, rounded up: a client that waits as told is let through.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let text = format!(
            r#"<p class="error" role="alert">Too many wrong tokens from this address. Wait {secs} seconds, then try again.</p>"#
        );
        let mut page = login_page(StatusCode::TOO_MANY_REQUESTS, &text);
        page.headers_mut().insert(header::RETRY_AFTER, secs.into());
        return page;
    }
    if !token.matches(form.token.as_bytes()) {
        api.sessions.throttle.failed(client, now);
        return login_page(
            StatusCode::UNAUTHORIZED,
            r#"<p class="error" role="alert">That token is not the one this server uses.</p>"#,
        );
    }
    api.sessions.throttle.succeeded(client);
    let id = api.sessions.open();
    let cookie = session::set_cookie(&headers, Some(&id));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

pub async fn logout(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !viewer.csrf_matches(&form.csrf) {
        return page::csrf_refused(&viewer);
    }
    if let Some(id) = session::cookie(&headers) {
        api.sessions.close(id);
    }
    let cookie = session::set_cookie(&headers, None);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

fn login_page(status: StatusCode, error: &str) -> Response {
    let body = format!(
        r#"{error}<form method="post" action="/login">
<label for="token">Token (NIGHTSHIFT_TOKEN)</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<div><button type="submit">Log in</button></div>
</form>"#
    );
    page::render(status, "Log in", None, &body)
}
