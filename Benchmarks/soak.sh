#!/usr/bin/env bash
# socksd soak: one release daemon under mixed load for MINUTES (default 10), to show that nothing wears
# out — no unexpected errors, descriptors and memory flat.
#
#   bash Benchmarks/soak.sh [MINUTES]
#
# The daemon runs from a configuration file (loopback, no users, protocols socks5, socks4 and http,
# metrics on) that the load rewrites every 10 s, alternating two equivalent variants (they differ in one
# destination rule no client uses), each time followed by a SIGHUP. The load (Benchmarks/soak.py, Python's
# standard library only) runs CONNECT sessions short and long-lived, to an address and to a name, SOCKS4
# and SOCKS4a, HTTP forwarding (GET with a length or chunked, POST, kept-alive connections) and HTTP
# CONNECT, UDP ASSOCIATE, UoT v2 (connect and non-connect mode) and v1, BIND, and sessions ended abruptly
# (resets with SO_LINGER 0 mid-download, with bytes in flight, during a BIND wait; handshakes cut at a
# random byte), against local targets: Benchmarks/loadgen.c's TCP echo, endless source and UDP echo, and
# soak.py's HTTP origin. It scrapes /metrics every second and prints a line each minute: sessions, unexpected
# errors, the daemon's descriptors, resident memory and CPU seconds used in that minute.
#
# Exit status 0 only if there was no unexpected error, the last minute's descriptors (median of its
# scrapes) are within 16 of the first minute's, the descriptors at rest after the load are within the
# idle splice pipes' bound of those before it, the resident memory at the end is within 8 MiB or 10%
# (whichever is more) of the first minute's, every reload succeeded, and the daemon stops cleanly on
# SIGTERM. (SOAK_FD_BOUND, SOAK_RSS_BOUND_MIB and SOAK_RSS_BOUND_PERCENT change the bounds; SOAK_PORT_BASE
# the ports, 22000 to 22005 by default.) Loopback only; every loop is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash Benchmarks/soak.sh [MINUTES]  (a whole number, at least 1)" >&2; exit 64; }
BASE=${SOAK_PORT_BASE:-22000}
PROXY=$BASE; METRICS=$((BASE + 1)); SOURCE=$((BASE + 2)); ECHO=$((BASE + 3)); UDPECHO=$((BASE + 4)); ORIGIN=$((BASE + 5))
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
log() { echo "[soak] $*" >&2; }

log "building socksd (release) and the load generator"
swift build -c release --product socksd >&2
BIN=$(swift build -c release --show-bin-path)/socksd
gcc -O2 -pthread -o "$WORK/loadgen" Benchmarks/loadgen.c

# The targets outlive the load by a margin, and are killed at the end anyway.
TARGET_SECONDS=$((MINUTES * 60 + 300))
"$WORK/loadgen" serve "$SOURCE" "$ECHO" "$UDPECHO" "$TARGET_SECONDS" > "$WORK/serve.out" & PIDS+=($!)
python3 Benchmarks/soak.py origin "$ORIGIN" "$TARGET_SECONDS" > "$WORK/origin.out" & PIDS+=($!)

config() { # the variant's rule
    cat <<JSON
{
  "listeners": ["127.0.0.1:$PROXY"],
  "protocols": ["socks5", "socks4", "http"],
  "metrics": {"listen": "127.0.0.1:$METRICS"},
  "log": {"level": "warning"},
  "timeouts": {"idle": 120, "udp": 60},
  "rules": [{"deny": "$1"}]
}
JSON
}
config soak-a.invalid > "$WORK/config-a.json"
config soak-b.invalid > "$WORK/config-b.json"
cp "$WORK/config-a.json" "$WORK/socksd.json"
"$BIN" --check-config "$WORK/socksd.json" >&2
"$BIN" --config "$WORK/socksd.json" 2> "$WORK/socksd.log" & DAEMON=$!; PIDS+=($DAEMON)

for port in "$PROXY" "$METRICS" "$SOURCE" "$ECHO" "$ORIGIN"; do
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { log "nothing listens on $port"; cat "$WORK/socksd.log" >&2; exit 1; }
done
log "daemon $DAEMON on 127.0.0.1:$PROXY, metrics on $METRICS; $(cut -d ' ' -f 1-3 /proc/loadavg) load average"

status=0
python3 Benchmarks/soak.py load --minutes "$MINUTES" --proxy "$PROXY" --metrics "$METRICS" --echo "$ECHO" \
    --source "$SOURCE" --udp-echo "$UDPECHO" --origin "$ORIGIN" --pid "$DAEMON" \
    --config "$WORK/socksd.json" --config-a "$WORK/config-a.json" --config-b "$WORK/config-b.json" \
    --fd-bound "${SOAK_FD_BOUND:-16}" --rss-bound-mib "${SOAK_RSS_BOUND_MIB:-8}" \
    --rss-bound-percent "${SOAK_RSS_BOUND_PERCENT:-10}" || status=$?

# A clean stop: SIGTERM, then exit 0 within its 5 s drain (10 s allowed).
if kill -TERM "$DAEMON" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DAEMON" 2>/dev/null; then
        log "FAIL the daemon did not stop within 10 s of SIGTERM"; status=1
    else
        code=0; wait "$DAEMON" || code=$?
        if [ "$code" = 0 ]; then log "ok   the daemon stopped cleanly on SIGTERM"; else log "FAIL the daemon exited $code on SIGTERM"; status=1; fi
    fi
else
    log "FAIL the daemon was gone before the end"; status=1
fi

# What the daemon logged (warning and above), by message with numbers and addresses taken out.
lines=$(wc -l < "$WORK/socksd.log")
log "the daemon logged $lines line(s) at warning and above; the most frequent:"
sed -E 's/^[^ ]+ //; s/[0-9]+(\.[0-9]+)*/N/g' "$WORK/socksd.log" | sort | uniq -c | sort -rn | head -15 >&2 || true
log "load average: $(cut -d ' ' -f 1-3 /proc/loadavg)"
[ "$status" = 0 ] && log "PASSED" || log "FAILED"
exit "$status"
