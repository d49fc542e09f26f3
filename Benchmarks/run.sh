#!/usr/bin/env bash
# socksd benchmark: socksd, microsocks and Dante side by side, plus a direct connection (no proxy: this
# machine's limit), measured in one run, interleaved, several rounds, medians. Loopback only; every load
# loop is bounded in time or count.
#
#   bash Benchmarks/run.sh            # ROUNDS=3 SECONDS_PER_TEST=2 IDLE_SESSIONS=1000 CEILING_MAX=2000
#                                     # IDLE_CPU_SECONDS=5 by default
#   ONLY=rules bash Benchmarks/run.sh # only what 1,000 destination rules, and 1,000 routes, cost:
#                                     # connections and UDP round trips of socksd with and without them
#                                     # (about 45 s; no peers)
#   ONLY=connections bash Benchmarks/run.sh
#                                     # only the connection tests, with 4 and 64 clients, for every proxy:
#                                     # sessions/s, CPU per 1,000 sessions, set-up p50/p99 at 64 clients,
#                                     # and CPU at zero load afterwards (about 55 s; ROUNDS=1
#                                     # SECONDS_PER_TEST=1 IDLE_CPU_SECONDS=2 for a quick look)
#   ONLY=counts bash Benchmarks/run.sh
#                                     # only what one CONNECT session costs socksd and microsocks in
#                                     # allocations (an LD_PRELOAD shim, Benchmarks/malloccount.c) and in
#                                     # system calls (strace -c -f, and perf stat where perf works): counts,
#                                     # not times, so a busy machine does not move them much (about a minute;
#                                     # COUNT_SESSIONS=2000 COUNT_WARMUP=200 COUNT_CLIENTS=1 by default)
#
# It prints a table of absolute figures and ratios and writes BENCHMARKS.md, and the chart of that table,
# Benchmarks/results.svg (Benchmarks/chart.py; not with ONLY=..., which prints its rows only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_TEST:-2}
IDLE=${IDLE_SESSIONS:-1000}
ONLY=${ONLY:-}
IDLE_CPU_SECS=${IDLE_CPU_SECONDS:-5}
COUNT_SESSIONS=${COUNT_SESSIONS:-2000}
COUNT_WARMUP=${COUNT_WARMUP:-200}
COUNT_CLIENTS=${COUNT_CLIENTS:-1}
case $ONLY in ""|rules|connections|counts) ;; *) echo "ONLY=$ONLY: only ONLY=rules, ONLY=connections and ONLY=counts are known" >&2; exit 64;; esac
WORK=$(mktemp -d)
BASE=${BENCH_PORT_BASE:-21000}
SOURCE=$((BASE + 1)); ECHO=$((BASE + 2)); UDPECHO=$((BASE + 3))
SOCKSD=$((BASE + 10)); MICROSOCKS=$((BASE + 11)); DANTE=$((BASE + 12)); RULES=$((BASE + 13)); ROUTES=$((BASE + 14)); IPERF=$((BASE + 20))
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; pkill -9 -f "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The idle-session and ceiling figures hold thousands of sockets in this script's children.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "[bench] $*" >&2; }

# --- peers and tools, from Debian (ONLY=rules needs none, ONLY=connections only the peers, ONLY=counts
# microsocks and strace; perf, when present, adds an untraced count of system calls)
need=()
if [ "$ONLY" != rules ]; then
    [ -x /usr/bin/microsocks ] || need+=(microsocks)
fi
if [ "$ONLY" != rules ] && [ "$ONLY" != counts ]; then
    [ -x /usr/sbin/danted ] || need+=(dante-server)
fi
if [ -z "$ONLY" ] || [ "$ONLY" = counts ]; then
    command -v strace >/dev/null || need+=(strace)
fi
if [ -z "$ONLY" ]; then
    command -v iperf3 >/dev/null || need+=(iperf3)
    command -v proxychains4 >/dev/null || need+=(proxychains4)
fi
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

log "building socksd (release) and the load generator"
swift build -c release --product socksd >&2
BIN=$(swift build -c release --show-bin-path)/socksd
gcc -O2 -pthread -o "$WORK/loadgen" Benchmarks/loadgen.c
LG="$WORK/loadgen"
gcc -O2 -shared -fPIC -o "$WORK/malloccount.so" Benchmarks/malloccount.c

rule_args() { # echo-port udp-echo-port: the 1,000 destination rules of the "rules" instance, one argv word
    # a line, always the same; none matches the echo targets, so every destination checked is allowed by default
    awk -v echo_port="$1" -v udp_port="$2" '
    function random(n) { seed = (seed * 16807) % 2147483647; return seed % n }   # Park–Miller: same in any awk
    function rule(target, exceptions) { print (exceptions && ++count % 20 == 0 ? "--allow-to" : "--deny-to"); print target }
    function ipv4(p,   a) { # a public network (first octet not 0, 10, 100, 127, 169, 172, 192, 224+) of prefix p
        do first = 1 + random(223); while (first ~ /^(10|100|127|169|172|192)$/)
        a = first * 16777216 + random(16777216)
        a -= a % 2 ^ (32 - p)
        return int(a / 16777216) "." int(a / 65536) % 256 "." int(a / 256) % 256 "." a % 256 (p < 32 ? "/" p : "")
    }
    function ipv6(p,   i, v, text, last) { # a global unicast network of prefix p (>= 16), written with ::
        split("2001 2400 2406 2600 2607 2a00 2a01 2a02 2c0f", firsts, " ")
        text = firsts[1 + random(9)]; last = ""
        for (i = 1; i < 8; i++) {
            v = random(65536)
            if (p <= 16 * i) v = 0; else if (p < 16 * (i + 1)) v -= v % 2 ^ (16 * (i + 1) - p)
            last = last ":" sprintf("%x", v)
            if (v) { text = text last; last = "" }   # zero groups are written only when a later group is not
        }
        return (last != "" ? text "::" : text) "/" p
    }
    BEGIN {
        seed = 20261121
        split("8 11 12 13 14 15 16 17 18 19 20 21 22 23 24 24 24 25 26 27 28 29 30", v4, " ")
        split("20 24 28 29 32 32 36 40 44 48 48 52 56 60 64", v6, " ")
        for (n = 0; n < 400; n++) rule(ipv4(v4[1 + random(23)]), 1)
        for (n = 0; n < 200; n++) rule(ipv4(32), 1)
        for (n = 0; n < 100; n++) rule(ipv6(v6[1 + random(15)]))
        for (n = 1; n <= 250; n++) rule("blocked-" n ".example")
        # 50 with ports: networks with ranges, domains with one port, and any host on ports (all below
        # 1024 or in well-known ranges; none holds the echo ports)
        for (n = 0; n < 20; n++) { low = 1 + random(60000); rule(ipv4(16 + random(13)) ":" low "-" low + random(2000)) }
        for (n = 0; n < 10; n++) { low = 1 + random(60000); rule("[" ipv6(32 + 8 * random(5)) "]:" low "-" low + random(2000)) }
        for (n = 1; n <= 10; n++) rule("blocked-port-" n ".example:" (n % 2 ? 25 : 8000 + n))
        split("25 135-139 445 1433-1434 3389 5900-5910 6660-6669 6379 11211 27017", anyports, " ")
        for (n = 1; n <= 10; n++) {
            split(anyports[n], r, "-"); if (!(2 in r)) r[2] = r[1]
            if ((echo_port >= r[1] && echo_port <= r[2]) || (udp_port >= r[1] && udp_port <= r[2])) { print "rule_args: *:" anyports[n] " holds an echo port" > "/dev/stderr"; exit 1 }
            rule("*:" anyports[n]); delete r
        }
    }'
}
rule_args "$ECHO" "$UDPECHO" > "$WORK/rules.args"
mapfile -t RULE_ARGS < "$WORK/rules.args"
# The "routes" instance routes the same 1,000 targets (none matches the echo targets, which go direct): an
# --allow-to target direct, a --deny-to one through the upstream "exit", which no benchmark session reaches
# (nothing listens on its port; socksd dials an upstream only for a request routed through it).
route_args() {
    echo --upstream; echo "exit=socks5://127.0.0.1:9"
    awk 'NR % 2 == 1 { via = ($0 == "--allow-to" ? "direct" : "exit"); next } { print "--route"; print $0 "=" via }' "$WORK/rules.args"
}
route_args > "$WORK/routes.args"
mapfile -t ROUTE_ARGS < "$WORK/routes.args"

# The machine may be shared: its load average (1, 5 and 15 minutes) before and after the measurements.
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- targets and proxies ("rules" is socksd with the 1,000 rules above, "routes" with the 1,000 routes;
# ONLY=rules starts no peers, ONLY=connections neither of those, ONLY=counts none: it starts instances of
# its own)
"$LG" serve "$SOURCE" "$ECHO" "$UDPECHO" 3600 > "$WORK/serve.out" & PIDS+=($!)
"$BIN" --listen "127.0.0.1:$SOCKSD" --log-level error 2> "$WORK/socksd.log" & SOCKSD_PID=$!; PIDS+=($!)
PORTS=("$SOURCE" "$ECHO" "$SOCKSD")
RULES_PID=""; ROUTES_PID=""; MICROSOCKS_PID=""; DANTE_PID=""
if [ "$ONLY" != connections ] && [ "$ONLY" != counts ]; then
    "$BIN" --listen "127.0.0.1:$RULES" --log-level error "${RULE_ARGS[@]}" 2> "$WORK/rules.log" & RULES_PID=$!; PIDS+=($!)
    "$BIN" --listen "127.0.0.1:$ROUTES" --log-level error "${ROUTE_ARGS[@]}" 2> "$WORK/routes.log" & ROUTES_PID=$!; PIDS+=($!)
    PORTS+=("$RULES" "$ROUTES")
fi
cat > "$WORK/danted.conf" <<CONF
logoutput: /dev/null
internal: 127.0.0.1 port = $DANTE
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect bind udpassociate bindreply udpreply }
CONF
if [ "$ONLY" != rules ] && [ "$ONLY" != counts ]; then
    microsocks -i 127.0.0.1 -p "$MICROSOCKS" > /dev/null 2>&1 & MICROSOCKS_PID=$!; PIDS+=($!)
    danted -f "$WORK/danted.conf" > /dev/null 2>&1 & DANTE_PID=$!; PIDS+=($!)
    PORTS+=("$MICROSOCKS" "$DANTE")
fi
for port in "${PORTS[@]}"; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done
if [ -n "$RULES_PID" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$RULES") 2>/dev/null; then
    log "socksd with the rules did not start:"; cat "$WORK/rules.log" >&2; exit 1
fi
if [ -n "$ROUTES_PID" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$ROUTES") 2>/dev/null; then
    log "socksd with the routes did not start:"; cat "$WORK/routes.log" >&2; exit 1
fi

SERVERS=(direct socksd microsocks dante)
port_of() { case $1 in direct) echo 0;; socksd) echo "$SOCKSD";; rules) echo "$RULES";; routes) echo "$ROUTES";; microsocks) echo "$MICROSOCKS";; dante) echo "$DANTE";; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A RESULTS

# CPU time (user + system, ns) of each proxy's whole process tree, from `loadgen cpu`: every thread the
# process ever had (microsocks' exited client threads too), live descendants (Dante's children), and
# children already reaped (cutime + cstime). Also a steadier measure than rates when other work shares
# the machine.
pid_of() { case $1 in socksd) echo "$SOCKSD_PID";; rules) echo "$RULES_PID";; routes) echo "$ROUTES_PID";; microsocks) echo "$MICROSOCKS_PID";; dante) echo "$DANTE_PID";; esac; }
cpu_ns() { "$LG" cpu "$@"; }
# The kernel's part of it alone (system time, from stime + cstime ticks): the sockets' work, which no change
# in a proxy's own code takes away, so its CPU per unit of work cannot go below it.
system_ns() { "$LG" cpusys "$@"; }

# Each round runs the load generator once per server; its line is "rate work [p50 p99]" (work: bytes,
# sessions or round trips carried, warm-up included). Stored per server: the rate under NAME, the proxy's
# CPU ns per unit of work under NAME-cpu (its kernel part under NAME-sys), and the set-up times (ms) under
# NAME-p50 and NAME-p99.
run_metric() { # name, servers..., then "--", command template with {PORT}
    local name=$1; shift
    local servers=()
    while [ "$1" != "--" ]; do servers+=("$1"); shift; done; shift
    for round in $(seq "$ROUNDS"); do
        local order=("${servers[@]}")
        # Even rounds go in reverse order, so that no server always runs right after the same one.
        if [ $((round % 2)) = 0 ]; then order=(); for server in "${servers[@]}"; do order=("$server" "${order[@]}"); done; fi
        for server in "${order[@]}"; do
            local port; port=$(port_of "$server")
            local pid; pid=$(pid_of "$server")
            local before="" system_before="" cpu="" system="" value="" work="" p50="" p99="" note=""
            [ -n "$pid" ] && before=$(cpu_ns "$pid") && system_before=$(system_ns "$pid")
            read -r value work p50 p99 < <("$LG" "${@//\{PORT\}/$port}" 2>>"$WORK/errors.log" || echo failed)
            RESULTS[$name,$server]+="${value:-failed} "
            if [ -n "$p99" ]; then
                RESULTS[$name-p50,$server]+="$p50 "; RESULTS[$name-p99,$server]+="$p99 "
                note=", set-up p50 $p50 ms, p99 $p99 ms"
            fi
            if [ -n "$pid" ]; then
                cpu=$(awk -v a="$before" -v b="$(cpu_ns "$pid")" -v w="$work" \
                    'BEGIN { if (w + 0 > 0 && b + 0 >= a + 0 && a != "failed") printf "%.6f", (b - a) / w; else print "n/a" }')
                system=$(awk -v a="$system_before" -v b="$(system_ns "$pid")" -v w="$work" \
                    'BEGIN { if (w + 0 > 0 && b + 0 >= a + 0 && a != "failed") printf "%.6f", (b - a) / w; else print "n/a" }')
                RESULTS[$name-cpu,$server]+="$cpu "
                RESULTS[$name-sys,$server]+="$system "
                note="$note, $cpu CPU ns per unit of work ($work), $system of them in the kernel"
            fi
            log "$name round $round $server: $value$note"
        done
    done
}

# CPU at zero load: every running proxy's process tree over IDLE_CPU_SECS with no client, in ms.
idle_cpu() { # servers...
    local pids=() server
    for server in "$@"; do pids+=("$(pid_of "$server")"); done
    local before after
    before=$(cpu_ns "${pids[@]}")
    sleep "$IDLE_CPU_SECS"
    after=$(cpu_ns "${pids[@]}")
    local i=0
    for server in "$@"; do
        i=$((i + 1))
        RESULTS[idlecpu,$server]=$(awk -v a="$(echo "$before" | cut -d ' ' -f "$i")" -v b="$(echo "$after" | cut -d ' ' -f "$i")" \
            'BEGIN { if (a != "failed" && b != "failed") printf "%.1f", (b - a) / 1e6; else print "failed" }')
        log "CPU at zero load over $IDLE_CPU_SECS s, $server: ${RESULTS[idlecpu,$server]} ms"
    done
}

med() { echo "${RESULTS[$1,$2]:-}" | tr ' ' '\n' | { grep -E '^[0-9.]+$' || true; } | median; }
# The median in a unit of display: times FACTOR, printed with FORMAT (e.g. CPU ns per byte to CPU-s per GiB).
med_as() { # metric server factor format
    local m; m=$(med "$1" "$2")
    awk -v m="$m" -v f="$3" -v fmt="$4" 'BEGIN { if (m == "" || m == "n/a") print m; else printf fmt, m * f }'
}
ratio() { # blank when a figure is (a server was not measured), n/a when one failed or is 0
    [ -n "$1" ] && [ -n "$2" ] || return 0
    awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

# What the rules and the routes cost: socksd with the 1,000 rules ("rules") or the 1,000 routes ("routes")
# against socksd without, in the same rounds (next to each other), the medians' ratio and each round's.
rules_row() { # label metric instance [factor format]
    local plain with rounds instance=$3
    if [ $# -gt 3 ]; then plain=$(med_as "$2" socksd "$4" "$5"); with=$(med_as "$2" "$instance" "$4" "$5")
    else plain=$(med "$2" socksd); with=$(med "$2" "$instance"); fi
    rounds=$(awk -v a="${RESULTS[$2,$instance]:-}" -v b="${RESULTS[$2,socksd]:-}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? ", " : ""), (x[i] + 0 > 0 && y[i] + 0 > 0 ? sprintf("%.2f", x[i] / y[i]) : "n/a")
    }')
    echo "| $1 | $plain | $with | $(ratio "$with" "$plain") | $rounds |"
}
rules_table() {
    echo "| metric | socksd, no rules or routes | socksd, 1,000 rules or routes | with / without | each round |"
    echo "|---|---|---|---|---|"
    rules_row "connections with 1,000 rules (sessions/s, 4 clients)" connrate rules
    rules_row "connections with 1,000 routes (sessions/s, 4 clients)" connrate routes
    rules_row "UDP ASSOCIATE round trips with 1,000 rules (/s, 64 B)" udp rules
    rules_row "UDP ASSOCIATE round trips with 1,000 routes (/s, 64 B)" udp routes
    rules_row "socksd CPU time per connection, 1,000 rules (µs; lower is better)" connrate-cpu rules 0.001 %.1f
    rules_row "socksd CPU time per connection, 1,000 routes (µs; lower is better)" connrate-cpu routes 0.001 %.1f
    rules_row "socksd CPU time per UDP round trip, 1,000 rules (µs; lower is better)" udp-cpu rules 0.001 %.1f
    rules_row "socksd CPU time per UDP round trip, 1,000 routes (µs; lower is better)" udp-cpu routes 0.001 %.1f
}
# A row of the main table: the medians of METRIC for each server (blank for a server it was not measured
# on, n/a when it failed), optionally shown times FACTOR with FORMAT (ratios are of the medians, so a factor
# does not change them), and the ratios.
row() { # label metric [factor format]
    local d s m n server
    local values=()
    for server in direct socksd microsocks dante; do
        if [ -z "${RESULTS[$2,$server]+measured}" ]; then values+=("")
        elif [ $# -gt 2 ]; then values+=("$(med_as "$2" "$server" "$3" "$4")")
        else values+=("$(med "$2" "$server")"); fi
    done
    d=${values[0]}; s=${values[1]}; m=${values[2]}; n=${values[3]}
    echo "| $1 | $d | $s | $m | $n | $(ratio "$s" "$m") | $(ratio "$s" "$n") | $(ratio "$s" "$d") |"
}
NS_PER_BYTE_TO_S_PER_GIB=$(awk 'BEGIN { printf "%.9f", 1024 * 1024 * 1024 / 1e9 }')
TABLE_HEAD="| metric | direct | socksd | microsocks | Dante | socksd / microsocks | socksd / Dante | socksd / direct |
|---|---|---|---|---|---|---|---|"
connection_rows() {
    row "connections (sessions/s, 4 clients)" connrate
    row "connections (sessions/s, 64 clients)" connrate64
    row "session set-up p50, 64 clients (ms, connect to first echoed byte; lower is better)" connrate64-p50 1 %.3f
    row "session set-up p99, 64 clients (ms, connect to first echoed byte; lower is better)" connrate64-p99 1 %.3f
    row "proxy CPU per 1,000 sessions, 4 clients (CPU-ms; lower is better)" connrate-cpu 0.001 %.1f
    row "proxy CPU per 1,000 sessions, 64 clients (CPU-ms; lower is better)" connrate64-cpu 0.001 %.1f
    row "proxy CPU in the kernel per 1,000 sessions, 4 clients (CPU-ms, part of the CPU above; lower is better)" connrate-sys 0.001 %.1f
    row "proxy CPU in the kernel per 1,000 sessions, 64 clients (CPU-ms, part of the CPU above; lower is better)" connrate64-sys 0.001 %.1f
}
idle_cpu_row() { # no ratios: a fraction of a millisecond against another is noise
    echo "| proxy CPU at zero load, $IDLE_CPU_SECS s after the load tests (CPU-ms; lower is better) | | $(med idlecpu socksd) | $(med idlecpu microsocks) | $(med idlecpu dante) | | | |"
}

# --- fresh instances
descendants() { # a process and its children, recursively; processes only (threads would repeat its Pss)
    echo "$1"
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do descendants "$child"; done
}
tree_pss_kib() {
    local pids; pids=$(descendants "$1")
    local total=0
    for pid in $pids; do
        local pss; pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${pss:-0}))
    done
    echo "$total"
}
# Fresh instances on ports of their own: a proxy that already carried the other tests keeps freed heap
# that new sessions would reuse, which hides what a session costs.
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }
# FRESH_ENV: NAME=VALUE words for that instance's environment alone (the counting shim's), not for this
# script's other commands.
FRESH_ENV=()
start_fresh() { # server port [descriptor limit]: starts a new instance; its pid in FRESH_PID
    local server=$1 port=$2 limit=${3:-}
    local prefix=(env "${FRESH_ENV[@]}")
    [ -n "$limit" ] && prefix+=(bash -c 'ulimit -n "$0" && exec "$@"' "$limit")
    case $server in
        socksd) "${prefix[@]}" "$BIN" --listen "127.0.0.1:$port" --log-level error 2> /dev/null & ;;
        microsocks) "${prefix[@]}" microsocks -i 127.0.0.1 -p "$port" > /dev/null 2>&1 & ;;
        dante)
            sed "s/port = $DANTE/port = $port/" "$WORK/danted.conf" > "$WORK/danted-$port.conf"
            "${prefix[@]}" danted -f "$WORK/danted-$port.conf" > /dev/null 2>&1 & ;;
    esac
    FRESH_PID=$!
    PIDS+=("$FRESH_PID")
    wait_port "$port"
    sleep 0.5
}
stop_tree() { # a fresh instance and its children (Dante's), once measured
    local pids; pids=$(descendants "$1")
    kill -9 $pids 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# --- what one CONNECT session costs socksd and microsocks: allocations and system calls, counted over
# COUNT_SESSIONS sessions (loadgen's connrate session, by COUNT_CLIENTS clients) on a fresh instance of
# each that first carried COUNT_WARMUP. Allocations: the instance runs with Benchmarks/malloccount.c
# preloaded, which counts calls to malloc, calloc, realloc and the aligned allocators into a file mapped
# shared, read before and after. System calls: strace -c -f attached for the sessions (every thread,
# new ones too); it slows every call, so what depends on timing (an event loop's spin polls) shows less
# often than untraced: where perf works, perf stat counts them untraced too (the raw_syscalls tracepoint,
# all threads), as a second row. The shim adds no system call after start-up.
COUNT_SOCKSD=$((BASE + 40)); COUNT_MICROSOCKS=$((BASE + 41))
# perf's events: the total, and the calls an event loop's spin makes where the kernel has them
PERF_OK=""; PERF_EVENTS=raw_syscalls:sys_enter
if command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter -o /dev/null true >/dev/null 2>&1; then
    PERF_OK=yes
    for event in syscalls:sys_enter_epoll_wait syscalls:sys_enter_epoll_pwait syscalls:sys_enter_sched_yield; do
        perf stat -x, -e "$event" -o /dev/null true >/dev/null 2>&1 && PERF_EVENTS+=",$event"
    done
fi
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
settle() { # pid descriptors: waits (at most 5 s) until the proxy is back to its descriptors before the
    # sessions (it closes a session's sockets after the client's reset), then a moment more
    for _ in $(seq 100); do [ "$(fd_count "$1")" -le "$2" ] && break; sleep 0.05; done
    sleep 0.2
}
run_sessions() { # port count: that many sessions; fails unless every one succeeded
    local done="" failed=""
    read -r done failed < <("$LG" sessions "$1" "$ECHO" "$COUNT_CLIENTS" "$2" 2>>"$WORK/errors.log" || true)
    [ "${done:-0}" = "$2" ] || { log "sessions through port $1: ${done:-none} of $2 succeeded"; return 1; }
}
alloc_counts() { od -An -t u8 -w40 "$1"; }   # malloc calloc realloc aligned free
per_session() { awk -v a="$1" -v b="$2" -v n="$COUNT_SESSIONS" 'BEGIN { printf "%.2f", (b - a) / n }'; }
count_round() { # server port pid counter-file
    local server=$1 port=$2 pid=$3 file=$4 fds before after allocs strace_pid perf_pid
    fds=$(fd_count "$pid")
    # allocations
    before=$(alloc_counts "$file")
    if run_sessions "$port" "$COUNT_SESSIONS"; then
        settle "$pid" "$fds"
        after=$(alloc_counts "$file")
        local m c r a f
        read -r allocs m c r a f < <(awk -v a="$before" -v b="$after" -v n="$COUNT_SESSIONS" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            for (i = 1; i <= 5; i++) d[i] = (y[i] - x[i]) / n
            printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", d[1] + d[2] + d[3] + d[4], d[1], d[2], d[3], d[4], d[5] }')
        RESULTS[allocs,$server]+="$allocs "
        log "allocations per CONNECT session, $server: $allocs (malloc $m, calloc $c, realloc $r, aligned $a; free $f)"
    else
        RESULTS[allocs,$server]+="failed "
    fi
    # system calls, untraced (perf stat: counts in the kernel, the process runs at full speed)
    if [ -n "$PERF_OK" ]; then
        perf stat -x, -e "$PERF_EVENTS" -p "$pid" -o "$WORK/perf.out" > /dev/null 2>&1 & perf_pid=$!
        sleep 0.5
        if run_sessions "$port" "$COUNT_SESSIONS"; then
            settle "$pid" "$fds"
            kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
            local total detail
            total=$(awk -F, '$3 == "raw_syscalls:sys_enter" {print $1}' "$WORK/perf.out")
            detail=$(awk -F, -v n="$COUNT_SESSIONS" '$3 ~ /^syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
                sub(/^syscalls:sys_enter_/, "", $3); printf "%s%s %.2f", (k++ ? ", " : ""), $3, $1 / n }' "$WORK/perf.out")
            if [[ "$total" =~ ^[0-9]+$ ]]; then
                RESULTS[perfsyscalls,$server]+="$(per_session 0 "$total") "
                log "system calls per CONNECT session, untraced (perf stat), $server: $(per_session 0 "$total")${detail:+ (of them $detail)}"
            else
                RESULTS[perfsyscalls,$server]+="failed "
            fi
        else
            kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
            RESULTS[perfsyscalls,$server]+="failed "
        fi
    fi
    # system calls, traced: strace attaches to every thread (-f: new ones too), counts, and prints its
    # table when interrupted
    strace -c -f -o "$WORK/strace.out" -p "$pid" 2> "$WORK/strace.err" & strace_pid=$!
    for _ in $(seq 100); do grep -q attached "$WORK/strace.err" && break; sleep 0.05; done
    sleep 0.3
    if grep -q attached "$WORK/strace.err" && run_sessions "$port" "$COUNT_SESSIONS"; then
        settle "$pid" "$fds"
        kill -INT "$strace_pid" 2>/dev/null || true; wait "$strace_pid" 2>/dev/null || true
        # strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall; "total" last
        local total
        total=$(awk '$NF == "total" {print $4}' "$WORK/strace.out")
        if [[ "$total" =~ ^[0-9]+$ ]]; then
            RESULTS[syscalls,$server]+="$(per_session 0 "$total") "
            log "system calls per CONNECT session (strace -c -f), $server: $(per_session 0 "$total"); the most frequent, per session:"
            awk -v n="$COUNT_SESSIONS" '/^ *[0-9.]+ +[0-9.]+ / && $NF != "total" { printf "%s %.2f%s\n", $NF, $4 / n, ($5 ~ /^[0-9]+$/ && NF == 6 ? sprintf(" (%.2f failed)", $5 / n) : "") }' "$WORK/strace.out" \
                | sort -k2,2 -g -r | head -12 | while read -r line; do log "    $line"; done
        else
            RESULTS[syscalls,$server]+="failed "
            log "strace for $server gave no total: $(cat "$WORK/strace.err")"
        fi
    else
        kill -INT "$strace_pid" 2>/dev/null || true; wait "$strace_pid" 2>/dev/null || true
        RESULTS[syscalls,$server]+="failed "
        log "strace could not count $server: $(cat "$WORK/strace.err")"
    fi
}
measure_counts() {
    local server pid port file
    local -A count_pid count_file
    for server in socksd microsocks; do
        port_var="COUNT_${server^^}"; port=${!port_var}
        file="$WORK/allocations-$server"
        FRESH_ENV=("LD_PRELOAD=$WORK/malloccount.so" "MALLOC_COUNT_FILE=$file")
        start_fresh "$server" "$port"
        FRESH_ENV=()
        count_pid[$server]=$FRESH_PID; count_file[$server]=$file
        [ -s "$file" ] || { log "the allocation counter did not start in $server"; exit 1; }
        run_sessions "$port" "$COUNT_WARMUP" || true
    done
    for round in $(seq "$ROUNDS"); do
        local order=(socksd microsocks)
        [ $((round % 2)) = 0 ] && order=(microsocks socksd)
        for server in "${order[@]}"; do
            port_var="COUNT_${server^^}"
            log "counting round $round, $server ($COUNT_SESSIONS sessions, $COUNT_CLIENTS client(s))"
            count_round "$server" "${!port_var}" "${count_pid[$server]}" "${count_file[$server]}"
        done
    done
    for server in socksd microsocks; do stop_tree "${count_pid[$server]}"; done
}
count_rows() {
    row "allocations per CONNECT session (malloc, calloc, realloc, aligned; lower is better)" allocs 1 %.1f
    row "system calls per CONNECT session (strace -c -f; lower is better)" syscalls 1 %.1f
    if [ -n "$PERF_OK" ]; then row "system calls per CONNECT session, untraced (perf stat; lower is better)" perfsyscalls 1 %.1f; fi
}

if [ "$ONLY" = rules ]; then
    run_metric connrate socksd rules routes -- connrate {PORT} "$ECHO" 4 "$SECS"
    run_metric udp socksd rules routes -- udp {PORT} "$UDPECHO" "$SECS"
    echo
    rules_table
    echo "load average: $LOAD_BEFORE before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
    exit 0
fi

if [ "$ONLY" = connections ]; then
    run_metric connrate "${SERVERS[@]}" -- connrate {PORT} "$ECHO" 4 "$SECS"
    run_metric connrate64 "${SERVERS[@]}" -- connrate {PORT} "$ECHO" 64 "$SECS"
    idle_cpu socksd microsocks dante
    echo
    echo "$TABLE_HEAD"
    connection_rows
    idle_cpu_row
    echo "load average: $LOAD_BEFORE before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
    exit 0
fi

if [ "$ONLY" = counts ]; then
    measure_counts
    echo
    echo "$TABLE_HEAD"
    count_rows
    echo "load average: $LOAD_BEFORE before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
    exit 0
fi

run_metric tcp1 "${SERVERS[@]}" -- throughput {PORT} "$SOURCE" 1 "$SECS"
run_metric tcp8 "${SERVERS[@]}" -- throughput {PORT} "$SOURCE" 8 "$SECS"
run_metric connrate direct socksd rules routes microsocks dante -- connrate {PORT} "$ECHO" 4 "$SECS"
run_metric connrate64 "${SERVERS[@]}" -- connrate {PORT} "$ECHO" 64 "$SECS"
run_metric udp direct socksd rules routes microsocks dante -- udp {PORT} "$UDPECHO" "$SECS"
run_metric uot socksd -- uot {PORT} "$UDPECHO" "$SECS"
idle_cpu socksd microsocks dante
measure_counts

# --- memory per idle CONNECT session: proportional set size (Pss) of the whole process tree, before and
# while IDLE sessions are held (Dante forks children; Pss shares their common pages fairly).
idle_memory() { # key server pid loadgen-command port target: Pss growth per held session
    local key=$1 server=$2 pid=$3 command=$4 port=$5 target=$6
    local before after held per idle_pid
    before=$(tree_pss_kib "$pid")
    "$LG" "$command" "$port" "$target" "$IDLE" 6 > "$WORK/idle.out" &
    idle_pid=$!
    for _ in $(seq 200); do grep -q held "$WORK/idle.out" && break; sleep 0.05; done
    sleep 1
    after=$(tree_pss_kib "$pid")
    held=$(awk '{print $2}' "$WORK/idle.out")
    wait "$idle_pid" || true
    per=$(awk -v a="$after" -v b="$before" -v n="${held:-0}" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "failed" }')
    RESULTS[$key,$server]="$per"
    log "$key $server: $before KiB → $after KiB with $held sessions: $per KiB/session"
}
MEM_SOCKSD=$((BASE + 30)); MEM_MICROSOCKS=$((BASE + 31)); MEM_DANTE=$((BASE + 32))
for server in socksd microsocks dante; do
    port_var="MEM_${server^^}"; port=${!port_var}
    start_fresh "$server" "$port"
    idle_memory memory "$server" "$FRESH_PID" idle "$port" "$ECHO"
    stop_tree "$FRESH_PID"
    sleep 1
done

# --- memory per idle UDP association (socksd and Dante; microsocks has no UDP) and per idle UoT v2 stream
# (socksd), the same way: IDLE held, each having echoed one datagram (UoT: its header sent, one frame
# echoed), each kind on a fresh instance.
MEM_UDP_SOCKSD=$((BASE + 33)); MEM_UDP_DANTE=$((BASE + 34)); MEM_UOT_SOCKSD=$((BASE + 35))
for server in socksd dante; do
    port_var="MEM_UDP_${server^^}"; port=${!port_var}
    start_fresh "$server" "$port"
    idle_memory udpmemory "$server" "$FRESH_PID" idleudp "$port" "$UDPECHO"
    stop_tree "$FRESH_PID"
    sleep 1
done
start_fresh socksd "$MEM_UOT_SOCKSD"
idle_memory uotmemory socksd "$FRESH_PID" idleuot "$MEM_UOT_SOCKSD" "$UDPECHO"
stop_tree "$FRESH_PID"

# --- the session ceiling at a descriptor limit: each proxy started fresh under `ulimit -n 1024`, idle
# CONNECT sessions (each having echoed one byte) opened one by one until one fails, at most CEILING_MAX.
# Dante forks processes as sessions grow, each with a limit of its own: it may reach the bound.
CEILING_MAX=${CEILING_MAX:-2000}
CEIL_SOCKSD=$((BASE + 36)); CEIL_MICROSOCKS=$((BASE + 37)); CEIL_DANTE=$((BASE + 38))
for server in socksd microsocks dante; do
    port_var="CEIL_${server^^}"; port=${!port_var}
    start_fresh "$server" "$port" 1024
    count=$("$LG" ceiling "$port" "$ECHO" "$CEILING_MAX" 2>>"$WORK/errors.log" || echo failed)
    [ "$count" = "$CEILING_MAX" ] && count="≥$CEILING_MAX"
    RESULTS[ceiling,$server]="$count"
    log "ceiling $server (ulimit -n 1024): $count idle CONNECT sessions"
    stop_tree "$FRESH_PID"
    sleep 1
done

# --- start-up: from exec to "listening on"
for _ in $(seq 5); do
    RESULTS[startup,socksd]+="$("$LG" startup "$BIN" --listen 127.0.0.1:0) "
done
log "startup socksd: ${RESULTS[startup,socksd]} ms"

# --- cross-check with the community's method: iperf3 through proxychains4 (socksd and direct, once).
# iperf3 takes whole seconds and runs forever with -t 0 (what it reads "0.5" as): at least 1 s, rounded up.
IPERF_SECS=$(awk -v s="$SECS" 'BEGIN { t = int(s); if (t < s) t++; print t < 1 ? 1 : t }')
iperf3 -s -p "$IPERF" -1 > /dev/null 2>&1 & PIDS+=($!)
sleep 0.3
IPERF_DIRECT=$(iperf3 -c 127.0.0.1 -p "$IPERF" -t "$IPERF_SECS" -f m 2>/dev/null | awk '/receiver/ {print $(NF-2)}' | tail -1)
iperf3 -s -p "$IPERF" -1 > /dev/null 2>&1 & PIDS+=($!)
sleep 0.3
printf 'strict_chain\nquiet_mode\n[ProxyList]\nsocks5 127.0.0.1 %s\n' "$SOCKSD" > "$WORK/proxychains.conf"
IPERF_SOCKSD=$(proxychains4 -q -f "$WORK/proxychains.conf" iperf3 -c 127.0.0.1 -p "$IPERF" -t "$IPERF_SECS" -f m 2>/dev/null | awk '/receiver/ {print $(NF-2)}' | tail -1)
log "iperf3: direct ${IPERF_DIRECT:-n/a} Mbit/s, through socksd ${IPERF_SOCKSD:-n/a} Mbit/s"

# --- the table
TABLE=$(
    echo "$TABLE_HEAD"
    row "TCP, 1 stream (MiB/s)" tcp1
    row "TCP, 8 streams (MiB/s)" tcp8
    connection_rows
    row "UDP ASSOCIATE round trips (/s, 64 B)" udp
    echo "| UoT v2 round trips (/s, 64 B) | | $(med uot socksd) | | | | | |"
    row "proxy CPU per GiB relayed, TCP 1 stream (CPU-s; lower is better)" tcp1-cpu "$NS_PER_BYTE_TO_S_PER_GIB" %.2f
    row "proxy CPU per GiB relayed, TCP 8 streams (CPU-s; lower is better)" tcp8-cpu "$NS_PER_BYTE_TO_S_PER_GIB" %.2f
    row "proxy CPU per 100,000 UDP ASSOCIATE round trips (CPU-s; lower is better)" udp-cpu 0.0001 %.2f
    row "proxy CPU in the kernel per 100,000 UDP ASSOCIATE round trips (CPU-s, part of the row above; lower is better)" udp-sys 0.0001 %.2f
    echo "| proxy CPU per 100,000 UoT v2 round trips (CPU-s; lower is better) | | $(med_as uot-cpu socksd 0.0001 %.2f) | | | | | |"
    idle_cpu_row
    count_rows
    m_s=${RESULTS[memory,socksd]}; m_m=${RESULTS[memory,microsocks]}; m_n=${RESULTS[memory,dante]}
    echo "| memory per idle CONNECT session (KiB, Pss) | | $m_s | $m_m | $m_n | $(ratio "$m_s" "$m_m") | $(ratio "$m_s" "$m_n") | |"
    u_s=${RESULTS[udpmemory,socksd]}; u_n=${RESULTS[udpmemory,dante]}
    echo "| memory per idle UDP ASSOCIATE (KiB, Pss) | | $u_s | n/a | $u_n | n/a | $(ratio "$u_s" "$u_n") | |"
    echo "| memory per idle UoT v2 stream (KiB, Pss) | | ${RESULTS[uotmemory,socksd]} | | | | | |"
    c_s=${RESULTS[ceiling,socksd]}; c_m=${RESULTS[ceiling,microsocks]}; c_n=${RESULTS[ceiling,dante]}
    echo "| idle CONNECT sessions under \`ulimit -n 1024\` | | $c_s | $c_m | $c_n | $(ratio "$c_s" "$c_m") | $(ratio "$c_s" "$c_n") | |"
    echo "| start to \`listening on\` (ms) | | $(med startup socksd) | | | | | |"
)
RULES_TABLE=$(rules_table)
echo
echo "$TABLE"
echo
echo "$RULES_TABLE"
echo
echo "iperf3 through proxychains4 (cross-check): direct ${IPERF_DIRECT:-n/a} Mbit/s, socksd ${IPERF_SOCKSD:-n/a} Mbit/s"
LOAD_AFTER=$(cut -d ' ' -f 1-3 /proc/loadavg)
echo "load average: $LOAD_BEFORE before, $LOAD_AFTER after"

CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
PERF_NOTE=""
[ -z "$PERF_OK" ] || PERF_NOTE="The untraced row counts the same number of sessions again with \`perf stat -e raw_syscalls:sys_enter\` (in the kernel, every thread)."
cat > BENCHMARKS.md <<MD
# Benchmarks

Produced by \`bash Benchmarks/run.sh\` (ROUNDS=$ROUNDS, ${SECS} s per test) on $(date -u +%Y-%m-%d):
$(nproc) cores ($CPU), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r), $(swift --version 2>/dev/null | head -1).
Everything on loopback; each figure is the median of $ROUNDS interleaved rounds (every other one in reverse order); ratios are from this one run.
Higher is better except for memory, CPU time, set-up times and start-up. Load average (1, 5, 15 min): $LOAD_BEFORE before the
measurements, $LOAD_AFTER after; other work on the machine moves the rates, less so ratios from one run.

$TABLE

$RULES_TABLE

Cross-check with iperf3 through proxychains4: direct ${IPERF_DIRECT:-n/a} Mbit/s, through socksd ${IPERF_SOCKSD:-n/a} Mbit/s.

How each figure is taken (\`Benchmarks/loadgen.c\`): TCP streams download from a source that writes 1 MiB
blocks, counted after a 10% warm-up; a connection is a new SOCKS5 session, CONNECT, a 1-byte echo and a
close, by 4 or by 64 clients (threads) each opening one session after another (the clients close with a
reset, and the echo target answers the proxy's close with one, so that no TIME_WAIT sockets pile up on
the proxies' outbound ports: they slowed Dante, which binds before it connects, more and more from test
to test); a session's set-up time
runs from before its TCP connect to the proxy (to the echo server for direct) until its echoed byte is
read, every session of the test in a histogram of fixed size (1 µs buckets below 1 ms, then 64 per
doubling), p50 and p99 of all clients together; UDP and UoT round trips are sequential 64-byte echoes.
CPU rows are the user + system time a proxy's whole process tree spent during a test, divided by the
work it carried in the whole test, warm-up included (bytes received by the clients, sessions, round
trips): \`loadgen cpu\` reads it before and after each test from each process's CPU-time clock
(\`clock_getcpuclockid\`, nanoseconds; it includes threads that have exited, such as microsocks' thread
per client), for the proxy's process and every live descendant (found through the ppid chains in
\`/proc/*/stat\`: Dante's children), plus the \`cutime + cstime\` of each (clock ticks) for children that
have exited and been reaped. The "CPU in the kernel" rows are the system part of those CPU rows
(\`loadgen cpusys\`: the \`stime + cstime\` ticks of the same processes; the kernel splits a thread's run
time into user and system by its tick samples, so this part is as fine as a tick, 10 ms): the sockets'
work in the kernel, which every proxy pays for the same sessions and round trips, so a proxy's CPU can
go no lower than its kernel part. CPU at zero load is the same measure over $IDLE_CPU_SECS s without any client, right after the load tests.
Memory is the growth of the proxy's process
tree Pss while $IDLE idle sessions are held, divided by $IDLE, on a fresh instance for each kind: CONNECT
sessions that each echoed one byte, UDP associations that each echoed one datagram, UoT v2 streams that
each sent their header and echoed one frame; the session ceiling is how many idle CONNECT sessions (each
having echoed one byte) a fresh instance started under \`ulimit -n 1024\` accepts, opened one by one until
one fails (at most $CEILING_MAX; Dante forks processes as sessions grow, each with a limit of its own);
start-up is from exec to the \`listening on\` line. Peers: microsocks and Dante (\`danted\`) from Debian.

Allocations and system calls per CONNECT session are counts over $COUNT_SESSIONS sessions as the connection
tests open them (by $COUNT_CLIENTS client(s), each one session after another), on a fresh instance of socksd and of microsocks
that first carried $COUNT_WARMUP, the median of $ROUNDS rounds. Allocations are calls to malloc, calloc,
realloc, posix_memalign, aligned_alloc, memalign, valloc and pvalloc, counted by an \`LD_PRELOAD\` shim
(\`Benchmarks/malloccount.c\`, counters in a file mapped shared, read before and after); they include
glibc's own and the Swift runtime's. System calls are counted by \`strace -c -f\` attached for the sessions
(every thread), which slows each call: calls whose number depends on timing, such as an event loop's
polls before it sleeps, then happen less often than untraced. $PERF_NOTE

The rules rows come from a second socksd started with 1,000 destination rules on its command line, measured
in the same rounds next to the plain one (each round's ratio in the last column; the CPU rows are the
CPU time of that socksd during a test, taken as above, divided by the operations it carried, which other
work on the machine disturbs less than the rates): 400 IPv4 networks
of prefix lengths /8 to /30 and 200 single IPv4 addresses in public ranges (every 20th of them an
\`--allow-to\`, the rest \`--deny-to\`), 100 IPv6 networks (/20 to /64), 250 domains
(\`blocked-N.example\`) and 50 rules with ports (IPv4 and IPv6 networks with ranges, domains, and \`*\`
on ports such as 25 and 3389). None matches the echo targets (127.0.0.1, given as an address), so every
CONNECT and every datagram is looked up at each IPv4 prefix length in use and against the \`*\` rules,
and then allowed by default (domain rules are consulted only for destinations given as names). The routes
rows come from a third socksd whose 1,000 routes have the same targets (an \`--allow-to\` target routed
\`direct\`, a \`--deny-to\` one through an upstream no session reaches): every CONNECT and every datagram
is routed by the same kind of lookup, matches no route and goes direct.
MD
log "wrote BENCHMARKS.md"
python3 Benchmarks/chart.py BENCHMARKS.md -o Benchmarks/results.svg
