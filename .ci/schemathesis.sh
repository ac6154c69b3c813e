#!/usr/bin/env bash
# Schema-driven API testing: schemathesis generates requests for every operation of paravoid's
# own OpenAPI document and checks every answer against it (`--checks all`: no 5xx, documented
# status codes, content types, headers and response schemas, invalid input rejected, valid input
# accepted, ...). Any failure fails this script. Two exceptions:
# - ensure_resource_availability is off: notes expire on whole seconds, so one created with
#   `ttl_secs: 1` may already be gone (404) at the next request; creation followed by a read is
#   covered by paravoid's own tests with a manual clock;
# - .ci/schemathesis.toml adds 413, paravoid's documented answer to an oversized message, to the
#   statuses that count as rejecting invalid input.
#
# Starts a debug paravoid on a temporary database and a free port of 127.0.0.1. Installs the
# pinned schemathesis into target/schemathesis-venv if missing. Bounded by ST_MAX_EXAMPLES test
# cases per operation and phase (default 100) and ST_MAX_TIME seconds (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
    echo "[schemathesis] installing schemathesis $ST_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

cargo build -p paravoid
binary="${CARGO_TARGET_DIR:-target}/debug/paravoid"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)
# Rate limits off: schemathesis sends far more than 600 requests a minute from one address.
PARAVOID_BIND="127.0.0.1:$port" PARAVOID_DB="$workdir/notes.redb" RUST_LOG=warn \
    PARAVOID_CREATE_PER_MINUTE=0 PARAVOID_REVEAL_PER_MINUTE=0 \
    "$binary" >"$workdir/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" \
        2>/dev/null && break
    sleep 0.1
done

status=0
"$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run "$base/api/openapi.json" \
    --checks all \
    --exclude-checks ensure_resource_availability \
    --workers 1 \
    --max-examples "${ST_MAX_EXAMPLES:-100}" \
    --max-time "${ST_MAX_TIME:-300}" \
    --seed "${ST_SEED:-20260501}" \
    --request-timeout 30 \
    --report junit --report-dir "target/schemathesis-report" || status=$?

if ! kill -0 "$server" 2>/dev/null; then
    echo "[schemathesis] paravoid died during the run:" >&2
    cat "$workdir/server.log" >&2
    status=1
fi
exit "$status"
