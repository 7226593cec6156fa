# kvstore server image. Build: docker build -t kvstore .
# Run:   docker run -d -p 5000:5000 -e KVSTORE_PASSWORD=... -v kvstore-data:/data kvstore
# See docs/deploy.md for protected mode, the password and the volume.

# The base image (the same one serves both stages): Debian-based, with python3 (3.10+) and pip
# 22.3+, e.g. python:3.12-slim or Debian 12 with python3-pip and python3-venv. No compiler is
# needed, and none reaches the image: only the venv leaves the build stage.
ARG PYTHON_IMAGE=python:3.12-slim

# -- build: install kvstore and its `fast` extra (uvloop, hiredis: binary wheels) into a venv --
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv --without-pip /opt/kvstore \
    && python3 -m pip --python /opt/kvstore/bin/python install --no-cache-dir \
        --disable-pip-version-check ".[fast]"

# -- runtime: the base image, the venv, a non-root user and the data volume ------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 kvstore \
    && useradd --system --uid 10001 --gid kvstore --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin kvstore \
    && mkdir /data && chown kvstore:kvstore /data
COPY --from=build /opt/kvstore /opt/kvstore
# Inside the container: listen on every interface, persist under /data. Protected mode is off,
# as in Redis's image: clients arrive through the container's interface, never loopback, and
# the published ports (-p) and the password decide who gets in (docs/deploy.md). Being
# variables, a flag (docker run IMAGE --dir /elsewhere) or -e overrides them.
ENV PATH=/opt/kvstore/bin:$PATH \
    KVSTORE_BIND=0.0.0.0 \
    KVSTORE_DIR=/data \
    KVSTORE_PROTECTED_MODE=no
USER kvstore
WORKDIR /data
VOLUME /data
EXPOSE 5000
# PING on the port and password the server was started with (flags, variables or --config),
# read from its process: kvstore.cli.health.
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/opt/kvstore/bin/python", "-m", "kvstore.cli.health"]
# SIGTERM (docker stop) stops gracefully: replies flushed, log fsynced, snapshot written.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kvstore-server"]
