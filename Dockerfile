# nightshift's container image: the binary, tini as PID 1, python3 and the example agent, a
# non-root user, and the database on the /data volume. `fly deploy` builds it (remotely);
# DEPLOY.md has the steps. This project's CI has no Docker engine, so the image is not built
# there: the build command below is kept identical to the one .ci/run runs, and a test
# (tests/cli_deploy.rs) checks that they match.
#
# Images are pinned by tag; for a release, pin them by digest as well
# (FROM rust:1.95-bookworm@sha256:...), so a rebuild cannot pull in a different toolchain.

FROM rust:1.95-bookworm AS builder
WORKDIR /src

# The dependency layer: build every dependency against stub sources, so a change to
# nightshift's own code does not rebuild (or re-download) them.
COPY Cargo.toml Cargo.lock ./
COPY actors/Cargo.toml actors/Cargo.toml
RUN mkdir -p src actors/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch actors/src/lib.rs \
    && cargo build --release --locked -p nightshift

# The real sources. `touch` makes them newer than the stubs, so Cargo rebuilds them. build.rs
# hands link/hot-symbols.txt to the linker (the functions a short run touches, together).
COPY build.rs ./
COPY link link
COPY src src
COPY actors actors
COPY examples examples
RUN touch src/main.rs actors/src/lib.rs \
    && cargo build --release --locked -p nightshift

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini python3 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 nightshift \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin nightshift \
    && mkdir -p /data /app \
    && chown nightshift:nightshift /data
COPY --from=builder /src/target/release/nightshift /usr/local/bin/nightshift

# The handler: the example agent. For your own agent, copy it in here and change
# [handler] command (argv, absolute paths inside the image).
COPY examples/agent.py /app/agent.py
RUN printf '%s\n' '[handler]' 'command = ["/usr/bin/python3", "/app/agent.py"]' \
        > /app/nightshift.toml

ENV NIGHTSHIFT_DB=/data/nightshift.db \
    NIGHTSHIFT_CONFIG=/app/nightshift.toml
# The agent writes its effects file in its working directory: the volume.
WORKDIR /data
USER nightshift
VOLUME /data

# tini reaps handler processes that outlive their parent and forwards SIGTERM to nightshift.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/nightshift"]
CMD ["run"]
