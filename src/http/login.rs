//! `GET /login`, `POST /login` and `POST /logout`: the token typed into a password field opens
//! a session (see `session` for what the cookie holds). A wrong token gets the form again with
//! a 401 and the same words whatever was wrong. Without a token configured there is nothing to
//! log into: the form sends the browser to the overview.

use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Api;
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
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(token) = &api.token else {
        return Redirect::to("/").into_response();
    };
    if !token.matches(form.token.as_bytes()) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            r#"<p class="error" role="alert">That token is not the one this server uses.</p>"#,
        );
    }
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
