# kvstore server image. Build: docker build -t kvstore .
# Run:   docker run -d -p 5000:5000 -e KVSTORE_PASSWORD=... -v kvstore-data:/data kvstore
# See docs/deploy.md for protected mode, the password and the volume.

# The base image (the same one serves both stages): Debian-based, with python3 (3.10+) and pip
# 22.3+, e.g. python:3.12-slim or Debian 12 with python3-pip and python3-venv. The build stage
# installs a C compiler (Debian's gcc; python3-dev too where the image lacks Python's headers)
# to compile kvstore's compiled build; none reaches the image: only the venv leaves the build
# stage. (An image with no APT sources gets Debian's main archive for its release.)
ARG PYTHON_IMAGE=python:3.12-slim

# -- build: kvstore, compiled (docs/builds.md), its `fast` extra (uvloop, hiredis) and its
# `cluster` extra (etcd3gw, for cluster mode on etcd: docs/cluster.md) -----------------------
FROM ${PYTHON_IMAGE} AS build
RUN packages="gcc libc6-dev" \
    && include="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    && if [ ! -e "$include/Python.h" ]; then packages="$packages python3-dev"; fi \
    && if ! grep -rqs '^[^#[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/; then \
        . /etc/os-release \
        && echo "deb http://deb.debian.org/debian $VERSION_CODENAME main" >/etc/apt/sources.list; \
    fi \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages \
        >/dev/null \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN python3 -m venv --without-pip /opt/kvstore \
    && python3 -m pip --python /opt/kvstore/bin/python install --no-cache-dir \
        --disable-pip-version-check ".[fast,cluster]" \
    && /opt/kvstore/bin/python -c "from kvstore import build; assert build.COMPILED, build.WHY_PURE" \
    && /opt/kvstore/bin/python -c "import etcd3gw"

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
