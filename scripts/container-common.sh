# Shared by scripts/container-smoke and scripts/container-cluster-smoke (sourced, not run).
# The base image: KVSTORE_SMOKE_BASE when set; otherwise python:3.12-slim, or, where that is
# neither present nor pullable, a local localhost/debian-python:base (docs/deploy.md shows how
# to make one).

if [ -n "${KVSTORE_SMOKE_BASE:-}" ]; then
    bases=("$KVSTORE_SMOKE_BASE")
else
    bases=(python:3.12-slim localhost/debian-python:base)
fi
last_line() { grep -v '^[[:space:]]*$' | tail -n 1; }

# Sets $base to the first of $bases that $1 has, else to the first it can pull; or fails
# setting $why.
find_base() {
    local name
    for name in "${bases[@]}"; do
        if "$1" image inspect "$name" >/dev/null 2>&1; then
            base=$name
            return 0
        fi
    done
    if why=$(timeout 180 "$1" pull -q "${bases[0]}" 2>&1 >/dev/null); then
        base=${bases[0]}
        return 0
    fi
    local IFS=,
    why="no base image: ${bases[*]} not present, and pulling ${bases[0]} failed ($(
        printf '%s' "$why" | last_line))"
    return 1
}

# podman asks runc for more open files and processes than a container may have where the hard
# limits are low, and runc refuses ("error setting rlimits"): give it a configuration asking for
# no more than the host allows, unless the caller chose one.
fit_podman_limits() {
    [ -z "${CONTAINERS_CONF:-}" ] || return 1
    local files procs conf
    files=$(ulimit -Hn); { [ "$files" = unlimited ] || [ "$files" -gt 65536 ]; } && files=65536
    procs=$(ulimit -Hu); { [ "$procs" = unlimited ] || [ "$procs" -gt 4096 ]; } && procs=4096
    conf=$(mktemp -d)/containers.conf
    printf '%s\n' '[containers]' \
        "default_ulimits = [\"nofile=$files:$files\", \"nproc=$procs:$procs\"]" \
        '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
        >"$conf"
    export CONTAINERS_CONF=$conf
}

# A loopback port free a moment ago.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
