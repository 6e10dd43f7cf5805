//! `GET /api/openapi.json`: the API described in OpenAPI 3.1, derived at compile time from the
//! handlers' own annotations and the types they read and answer (utoipa), never written by
//! hand. A handler whose answer changes type changes the document with it.
//!
//! What every operation may answer besides its own codes is added here once: 401 without the
//! token, 503 when the database does not answer or a request takes too long, 500 for anything
//! else (its detail in the server's log). A fuzzer in CI (schemathesis, `.ci/run`) checks the
//! running server against this document: no 5xx, and every answer as documented.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nightshift",
        description = "A durable job runner's HTTP API: the same operations, JSON and error \
                       classes as the `nightshift` command's `--json`. Times are unix \
                       milliseconds; money is in micro-dollars.",
    ),
    paths(
        super::status::healthz,
        super::status::show,
        super::status::metrics,
        super::jobs::enqueue,
        super::jobs::list,
        super::jobs::show,
        super::waits::signal,
        super::waits::cancel,
        super::dlq::list,
        super::dlq::show,
        super::dlq::replay,
        super::dlq::purge,
        super::dlq::replay_many,
        super::dlq::purge_many,
        super::dlq::show_replay,
        super::dlq::show_purge,
        super::pause::pause,
        super::pause::resume,
        super::activity::show,
        super::activity::spend,
        super::schedules::list,
        super::alerts::list,
        document,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Common),
    security(("token" = [])),
)]
struct Api;

/// The document, built once.
static DOCUMENT: LazyLock<Document> = LazyLock::new(Api::openapi);

/// This document.
#[utoipa::path(get, operation_id = "openapi", path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API")))]
pub async fn document() -> Json<&'static Document> {
    Json(&DOCUMENT)
}

/// The bearer token, and the answers every guarded operation may give.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("NIGHTSHIFT_TOKEN, or the file [http] token_file names"))
            .build();
        components.add_security_scheme("token", SecurityScheme::Http(bearer));
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let guarded = path != "/healthz";
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                let answers = &mut op.responses.responses;
                if guarded {
                    answers.entry("401".to_owned()).or_insert_with(|| {
                        error("No token, or the wrong one (`Authorization: Bearer TOKEN`)").into()
                    });
                    answers.entry("503".to_owned()).or_insert_with(|| {
                        error("The database does not answer, or the request timed out").into()
                    });
                }
                answers.entry("500".to_owned()).or_insert_with(|| {
                    error("Anything else; the detail is in the server's log").into()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the API is in the document, with the methods the router gives it.
    #[test]
    fn every_api_route_is_documented() {
        let doc = serde_json::to_value(&*DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/healthz", "get"),
            ("/api/status", "get"),
            ("/metrics", "get"),
            ("/api/jobs", "get"),
            ("/api/jobs", "post"),
            ("/api/jobs/{key}", "get"),
            ("/api/dlq", "get"),
            ("/api/dlq/{key}", "get"),
            ("/api/dlq/{key}/replay", "post"),
            ("/api/dlq/{key}/purge", "post"),
            ("/api/dlq/replay", "post"),
            ("/api/dlq/purge", "post"),
            ("/api/pause", "post"),
            ("/api/resume", "post"),
            ("/api/activity", "get"),
            ("/api/spend", "get"),
            ("/api/schedules", "get"),
            ("/api/alerts", "get"),
            ("/api/openapi.json", "get"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path} is not documented");
        }
        assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
        // /healthz needs no token; the others name it, and say what its absence answers.
        assert_eq!(paths["/healthz"]["get"]["security"], serde_json::json!([{}]));
        assert!(paths["/healthz"]["get"]["responses"]["401"].is_null());
        assert!(paths["/api/jobs"]["post"]["responses"]["401"].is_object());
        // The answers are the handlers' types: a job carries its attempts made.
        let job = &doc["components"]["schemas"]["JobJson"];
        assert!(job.to_string().contains("attempts_made"), "{job}");
        // A job names its limit and, while it waits, what for, until when and what then.
        let record = &doc["components"]["schemas"]["JobRecord"]["properties"];
        assert!(record["limit"].is_object() && record["wait"].is_object(), "{record}");
        let wait = &doc["components"]["schemas"]["JobWait"]["properties"];
        assert!(["name", "until", "on_timeout"].iter().all(|p| wait[p].is_object()), "{wait}");
        // `/api/spend` takes `by` as `spend --by` does, and answers either shape.
        let spend = &paths["/api/spend"]["get"];
        assert!(spend["parameters"].to_string().contains("\"by\""), "{spend}");
        assert_eq!(
            doc["components"]["schemas"]["Group"]["enum"],
            serde_json::json!(["model", "queue", "limit"])
        );
    }
}
