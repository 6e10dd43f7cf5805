//! The API's bearer token: `NIGHTSHIFT_TOKEN`, or the file `[http] token_file` names, read
//! once when `serve` starts. A request shows it as `Authorization: Bearer <token>`; the check
//! takes the same time whatever the guess, and a refusal says only "unauthorized".

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Api, ApiError};
use crate::Failure;

/// The shortest token taken: 16 bytes leave no guessing within any request budget, and
/// `openssl rand -hex 32` gives 64.
const MIN_LEN: usize = 16;

/// A configured token. Holds a secret: no Debug, never printed.
pub struct Token(Vec<u8>);

impl Token {
    /// The token from `env` (`NIGHTSHIFT_TOKEN`), else from `file` (`[http] token_file`), else
    /// none. Refuses (exit 2) an empty or short token and a token file others can read.
    pub fn load(env: Option<String>, file: Option<&Path>) -> Result<Option<Token>, Failure> {
        let (text, origin) = match (env, file) {
            (Some(text), _) => (text, "NIGHTSHIFT_TOKEN".to_owned()),
            (None, Some(path)) => {
                (read_private(path)?, format!("{} ([http] token_file)", path.display()))
            }
            (None, None) => return Ok(None),
        };
        let token = text.trim();
        if token.is_empty() {
            return Err(Failure::Usage(format!(
                "the token in {origin} is empty; put one in (e.g. `openssl rand -hex 32`), or \
                 unset it to serve on loopback without a token"
            )));
        }
        if token.len() < MIN_LEN {
            return Err(Failure::Usage(format!(
                "the token in {origin} is shorter than {MIN_LEN} characters; make a longer one, \
                 e.g. `openssl rand -hex 32`"
            )));
        }
        Ok(Some(Token(token.as_bytes().to_vec())))
    }

    /// Whether `given` is the token, in time that depends on the token's length only.
    pub fn matches(&self, given: &[u8]) -> bool {
        same_secret(&self.0, given)
    }
}

/// Whether `given` equals the secret `want`, in time that depends on `want`'s length only (the
/// token here, a CSRF token in `session`).
pub fn same_secret(want: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, w) in want.iter().enumerate() {
        let got = given.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(w ^ got);
    }
    std::hint::black_box(diff) == 0
}

/// Reads a token file, refusing one that every user of the machine may read.
fn read_private(path: &Path) -> Result<String, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let cannot = |e: std::io::Error| {
        Failure::Usage(format!(
            "cannot read the token file {} ([http] token_file): {e}",
            path.display()
        ))
    };
    let mode = std::fs::metadata(path).map_err(cannot)?.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(Failure::Usage(format!(
            "the token file {} can be read by every user; run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(cannot)
}

/// Lets a request through if no token is configured or it carries the token; answers 401
/// otherwise, the same way whatever was wrong.
pub async fn require(State(api): State<Api>, request: Request, next: Next) -> Response {
    let Some(token) = &api.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        // The scheme's name is case-insensitive (RFC 9110), the token is not.
        .and_then(|v| v.split_at_checked(7))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case(b"bearer ").then_some(token));
    if given.is_some_and(|given| token.matches(given)) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = Token(b"0123456789abcdef".to_vec());
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"), "same length, last byte differs");
        assert!(!token.matches(b"0123456789abcde"), "a prefix");
        assert!(!token.matches(b"0123456789abcdef0"), "longer");
        assert!(!token.matches(b""));
    }

    #[test]
    fn an_empty_or_short_token_is_refused_and_whitespace_trimmed() {
        let load = |t: &str| Token::load(Some(t.to_owned()), None);
        assert!(matches!(load("  \n"), Err(Failure::Usage(m)) if m.contains("empty")));
        assert!(matches!(load("short"), Err(Failure::Usage(m)) if m.contains("shorter")));
        let token = load(" 0123456789abcdef\n").unwrap().unwrap();
        assert!(token.matches(b"0123456789abcdef"));
    }

    #[test]
    fn a_token_file_every_user_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = Token::load(None, Some(&path)).err().expect("world-readable");
        assert!(matches!(refused, Failure::Usage(m) if m.contains("chmod 600")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let token = Token::load(None, Some(&path)).unwrap().unwrap();
        assert!(token.matches(b"0123456789abcdef"));
    }
}
