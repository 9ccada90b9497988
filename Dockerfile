# syntax=docker/dockerfile:1
# Qiao relayer node image: a build stage installs the node with scripts/install.sh (a virtual
# environment at /opt/qiao, the daemon /opt/qiao/bin/relayer: the layout of the systemd unit and
# docs/OPERATIONS.md); the runtime stage holds only that, runs as an unprivileged user and reports
# health from /livez.
#
#   docker build -t qiao-relayer .
#   docker run --read-only -v /srv/qiao/1:/var/lib/qiao -v /etc/qiao/1.toml:/etc/qiao/node.toml:ro \
#     -v /etc/qiao/credentials/1:/run/secrets/qiao:ro -p 127.0.0.1:9101:9101 qiao-relayer
#
# Secrets are mounted files that the TOML names (config/testnet.toml expects them under
# /run/secrets/qiao/), never environment values.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY relayer ./relayer
COPY committee ./committee
COPY sentinel ./sentinel
COPY scripts/install.sh ./scripts/install.sh
COPY deploy ./deploy
COPY config ./config
COPY docs/OPERATIONS.md ./docs/OPERATIONS.md
RUN bash scripts/install.sh --prefix /opt/qiao

FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="qiao-relayer" \
      org.opencontainers.image.description="Qiao threshold-BLS bridge relayer node"
RUN groupadd --system --gid 10001 qiao \
    && useradd --system --uid 10001 --gid qiao --home-dir /var/lib/qiao --shell /usr/sbin/nologin qiao \
    && install -d -o qiao -g qiao -m 0700 /var/lib/qiao
COPY --from=build /opt/qiao /opt/qiao
ENV PATH=/opt/qiao/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    QIAO_NODE__DATA_DIR=/var/lib/qiao \
    QIAO_METRICS__HOST=0.0.0.0 \
    QIAO_METRICS__PORT=9101
USER 10001:10001
WORKDIR /var/lib/qiao
VOLUME ["/var/lib/qiao"]
EXPOSE 9101
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('QIAO_METRICS__PORT', '9101'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["relayer", "run"]
CMD ["--config", "/etc/qiao/node.toml"]
