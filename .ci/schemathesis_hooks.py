"""Schemathesis hooks for nightshift's API fuzzing (.ci/fuzz-api).

`POST /api/jobs` also takes JSON lines (`application/x-ndjson`), documented as a string body;
schemathesis has no serializer for that media type, so the generated string is sent as it is.
"""

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
