//! The OpenAPI document against the running server: every operation it lists exists, and every
//! one but `/healthz` refuses a request without the token, or with a token of the right length
//! but the wrong content, before it reads or changes anything.

use crate::util::cli::Workdir;
use crate::util::http::{AUTH, TOKEN, secret_env, start};

#[test]
fn every_documented_operation_but_healthz_needs_the_token() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "kept", "{}"]).expect(0);
    let server = start(&w, &secret_env(&w));
    let doc = server.request("GET", "/api/openapi.json", &[AUTH], b"").expect(200).json();
    let wrong = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // Placeholders filled with a job that exists, so a 404 could not hide a missing guard.
        let concrete = path.replace("{key}", "kept").replace("{name}", "approval");
        for method in ["get", "post"] {
            if item[method].is_null() {
                continue;
            }
            let verb = method.to_uppercase();
            if path == "/healthz" {
                server.request(&verb, &concrete, &[], b"").expect(200);
                continue;
            }
            for headers in [vec![], vec![("Authorization", wrong.as_str())]] {
                let r = server.request(&verb, &concrete, &headers, b"").expect(401);
                assert_eq!(r.json()["error"], "unauthorized", "{verb} {concrete}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations documented");
    // Nothing was changed by the refused requests: the job is still there, pending, and no pause.
    let status = server.request("GET", "/api/status", &[AUTH], b"").expect(200).json();
    assert_eq!((status["pending"].as_u64(), status["paused"].as_bool()), (Some(1), Some(false)));
}
