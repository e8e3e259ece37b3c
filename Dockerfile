# jutsu in a container: built with the pinned toolchain, run as an unprivileged user, the
# state and logs on volumes.
#
#   docker build -t jutsu .
#   docker run --rm -v jutsu-state:/opt/jutsu/state -v jutsu-logs:/opt/jutsu/logs \
#       jutsu trade --as-of 2025-12-12T15:55          # the embedded default, offline
#
# Live: mount your configuration at /opt/jutsu/config/jutsu.yaml and pass the secrets with
# `--env-file /etc/jutsu/jutsu.env` (mode 0600 on the host; never -e on a command line).
# The container has no scheduler: run `docker run --rm ... jutsu trade` from the host's
# systemd timer or cron (`jutsu schedule crontab` prints the lines for the host's zone), and
# `jutsu auth login` once a week with `-it -p 8182:8182` for the callback.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src src
COPY benches benches
COPY tests tests
RUN cargo build --release --locked
# The image gets no binary that honours a test switch (a fake clock, kill points, faults).
COPY data data
COPY deploy/release-guard deploy/release-guard
RUN bash deploy/release-guard target/release/jutsu

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --home-dir /opt/jutsu --shell /usr/sbin/nologin jutsu \
    && install -d -m 0700 -o jutsu -g jutsu /opt/jutsu/state /opt/jutsu/logs
COPY --from=build /src/target/release/jutsu /opt/jutsu/jutsu
COPY config/jutsu.yaml /opt/jutsu/config/jutsu.yaml
COPY data/ /opt/jutsu/data/
USER jutsu
WORKDIR /opt/jutsu
VOLUME ["/opt/jutsu/state", "/opt/jutsu/logs"]
ENTRYPOINT ["/opt/jutsu/jutsu"]
CMD ["health"]
