#!/usr/bin/env bash
# socksd benchmark: socksd, microsocks and Dante side by side, plus a direct connection (no proxy: this
# machine's limit), measured in one run, interleaved, several rounds, medians. Loopback only; every load
# loop is bounded in time or count.
#
#   bash Benchmarks/run.sh            # ROUNDS=3 SECONDS_PER_TEST=2 IDLE_SESSIONS=1000 CEILING_MAX=2000 by default
#   ONLY=rules bash Benchmarks/run.sh # only what 1,000 destination rules cost: connections and UDP round
#                                     # trips of socksd with and without them (about 30 s; no peers)
#
# It prints a table of absolute figures and ratios and writes BENCHMARKS.md (not with ONLY=rules, which
# prints its rows only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_TEST:-2}
IDLE=${IDLE_SESSIONS:-1000}
ONLY=${ONLY:-}
case $ONLY in ""|rules) ;; *) echo "ONLY=$ONLY: only ONLY=rules is known" >&2; exit 64;; esac
WORK=$(mktemp -d)
BASE=${BENCH_PORT_BASE:-21000}
SOURCE=$((BASE + 1)); ECHO=$((BASE + 2)); UDPECHO=$((BASE + 3))
SOCKSD=$((BASE + 10)); MICROSOCKS=$((BASE + 11)); DANTE=$((BASE + 12)); RULES=$((BASE + 13)); IPERF=$((BASE + 20))
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; pkill -9 -f "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The idle-session and ceiling figures hold thousands of sockets in this script's children.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "[bench] $*" >&2; }

# --- peers and tools, from Debian
need=()
[ -x /usr/bin/microsocks ] || need+=(microsocks)
[ -x /usr/sbin/danted ] || need+=(dante-server)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v proxychains4 >/dev/null || need+=(proxychains4)
if [ ${#need[@]} -gt 0 ] && [ "$ONLY" != rules ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

log "building socksd (release) and the load generator"
swift build -c release --product socksd >&2
BIN=$(swift build -c release --show-bin-path)/socksd
gcc -O2 -pthread -o "$WORK/loadgen" Benchmarks/loadgen.c
LG="$WORK/loadgen"

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

# The machine may be shared: its load average (1, 5 and 15 minutes) before and after the measurements.
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- targets and proxies ("rules" is socksd with the 1,000 rules above; ONLY=rules starts no peers)
"$LG" serve "$SOURCE" "$ECHO" "$UDPECHO" 3600 > "$WORK/serve.out" & PIDS+=($!)
"$BIN" --listen "127.0.0.1:$SOCKSD" --log-level error 2> "$WORK/socksd.log" & SOCKSD_PID=$!; PIDS+=($!)
"$BIN" --listen "127.0.0.1:$RULES" --log-level error "${RULE_ARGS[@]}" 2> "$WORK/rules.log" & RULES_PID=$!; PIDS+=($!)
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
PORTS=("$SOURCE" "$ECHO" "$SOCKSD" "$RULES")
if [ "$ONLY" != rules ]; then
    microsocks -i 127.0.0.1 -p "$MICROSOCKS" > /dev/null 2>&1 & PIDS+=($!)
    danted -f "$WORK/danted.conf" > /dev/null 2>&1 & PIDS+=($!)
    PORTS+=("$MICROSOCKS" "$DANTE")
fi
for port in "${PORTS[@]}"; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done
(exec 3<>"/dev/tcp/127.0.0.1/$RULES") 2>/dev/null || { log "socksd with the rules did not start:"; cat "$WORK/rules.log" >&2; exit 1; }

SERVERS=(direct socksd microsocks dante)
port_of() { case $1 in direct) echo 0;; socksd) echo "$SOCKSD";; rules) echo "$RULES";; microsocks) echo "$MICROSOCKS";; dante) echo "$DANTE";; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A RESULTS

# CPU time the socksd instances spent (all their threads, in ns): a steadier measure than rates when
# other work shares the machine.
pid_of() { case $1 in socksd) echo "$SOCKSD_PID";; rules) echo "$RULES_PID";; esac; }
cpu_ns() { cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.0f", ns}'; }

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
            local cpu; [ -n "$pid" ] && cpu=$(cpu_ns "$pid")
            local value; value=$("$LG" "${@//\{PORT\}/$port}" 2>>"$WORK/errors.log" || echo failed)
            RESULTS[$name,$server]+="$value "
            if [ -n "$pid" ]; then # µs per operation (a rate's operations: value × SECS)
                cpu=$(awk -v a="$cpu" -v b="$(cpu_ns "$pid")" -v v="$value" -v s="$SECS" \
                    'BEGIN { if (v + 0 > 0 && b > a) printf "%.1f", (b - a) / 1000 / (v * s); else print "n/a" }')
                RESULTS[$name-cpu,$server]+="$cpu "
                log "$name round $round $server: $value ($cpu µs CPU each)"
            else
                log "$name round $round $server: $value"
            fi
        done
    done
}

med() { echo "${RESULTS[$1,$2]:-}" | tr ' ' '\n' | grep -E '^[0-9.]+$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

# What the rules cost: socksd with the 1,000 rules ("rules") against socksd without, in the same rounds
# (next to each other), the medians' ratio and each round's.
rules_row() { # label metric
    local plain with rounds
    plain=$(med "$2" socksd); with=$(med "$2" rules)
    rounds=$(awk -v a="${RESULTS[$2,rules]:-}" -v b="${RESULTS[$2,socksd]:-}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? ", " : ""), (x[i] + 0 > 0 && y[i] + 0 > 0 ? sprintf("%.2f", x[i] / y[i]) : "n/a")
    }')
    echo "| $1 | $plain | $with | $(ratio "$with" "$plain") | $rounds |"
}
rules_table() {
    echo "| metric | socksd, no rules | socksd, 1,000 rules | rules / no rules | each round |"
    echo "|---|---|---|---|---|"
    rules_row "connections with 1,000 rules (sessions/s, 4 clients)" connrate
    rules_row "UDP ASSOCIATE round trips with 1,000 rules (/s, 64 B)" udp
    rules_row "socksd CPU time per connection (µs; lower is better)" connrate-cpu
    rules_row "socksd CPU time per UDP round trip (µs; lower is better)" udp-cpu
}
if [ "$ONLY" = rules ]; then
    run_metric connrate socksd rules -- connrate {PORT} "$ECHO" 4 "$SECS"
    run_metric udp socksd rules -- udp {PORT} "$UDPECHO" "$SECS"
    echo
    rules_table
    echo "load average: $LOAD_BEFORE before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
    exit 0
fi

run_metric tcp1 "${SERVERS[@]}" -- throughput {PORT} "$SOURCE" 1 "$SECS"
run_metric tcp8 "${SERVERS[@]}" -- throughput {PORT} "$SOURCE" 8 "$SECS"
run_metric connrate direct socksd rules microsocks dante -- connrate {PORT} "$ECHO" 4 "$SECS"
run_metric udp direct socksd rules microsocks dante -- udp {PORT} "$UDPECHO" "$SECS"
run_metric uot socksd -- uot {PORT} "$UDPECHO" "$SECS"

# --- memory per idle CONNECT session: proportional set size (Pss) of the whole process tree, before and
# while IDLE sessions are held (Dante forks children; Pss shares their common pages fairly).
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
start_fresh() { # server port [descriptor limit]: starts a new instance; its pid in FRESH_PID
    local server=$1 port=$2 limit=${3:-}
    local prefix=()
    [ -n "$limit" ] && prefix=(bash -c 'ulimit -n "$0" && exec "$@"' "$limit")
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
row() { # label metric unit
    local d s m n
    d=$(med "$2" direct); s=$(med "$2" socksd); m=$(med "$2" microsocks); n=$(med "$2" dante)
    echo "| $1 | $d | $s | $m | $n | $(ratio "$s" "$m") | $(ratio "$s" "$n") | $(ratio "$s" "$d") |"
}
TABLE=$(
    echo "| metric | direct | socksd | microsocks | Dante | socksd / microsocks | socksd / Dante | socksd / direct |"
    echo "|---|---|---|---|---|---|---|---|"
    row "TCP, 1 stream (MiB/s)" tcp1
    row "TCP, 8 streams (MiB/s)" tcp8
    row "connections (sessions/s, 4 clients)" connrate
    row "UDP ASSOCIATE round trips (/s, 64 B)" udp
    echo "| UoT v2 round trips (/s, 64 B) | | $(med uot socksd) | | | | | |"
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
cat > BENCHMARKS.md <<MD
# Benchmarks

Produced by \`bash Benchmarks/run.sh\` (ROUNDS=$ROUNDS, ${SECS} s per test) on $(date -u +%Y-%m-%d):
$(nproc) cores ($CPU), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r), $(swift --version 2>/dev/null | head -1).
Everything on loopback; each figure is the median of $ROUNDS interleaved rounds (every other one in reverse order); ratios are from this one run.
Higher is better except for memory, CPU time and start-up. Load average (1, 5, 15 min): $LOAD_BEFORE before the
measurements, $LOAD_AFTER after; other work on the machine moves the rates, less so ratios from one run.

$TABLE

$RULES_TABLE

Cross-check with iperf3 through proxychains4: direct ${IPERF_DIRECT:-n/a} Mbit/s, through socksd ${IPERF_SOCKSD:-n/a} Mbit/s.

How each figure is taken (\`Benchmarks/loadgen.c\`): TCP streams download from a source that writes 1 MiB
blocks, counted after a 10% warm-up; a connection is a new SOCKS5 session, CONNECT, a 1-byte echo and a
close; UDP and UoT round trips are sequential 64-byte echoes; memory is the growth of the proxy's process
tree Pss while $IDLE idle sessions are held, divided by $IDLE, on a fresh instance for each kind: CONNECT
sessions that each echoed one byte, UDP associations that each echoed one datagram, UoT v2 streams that
each sent their header and echoed one frame; the session ceiling is how many idle CONNECT sessions (each
having echoed one byte) a fresh instance started under \`ulimit -n 1024\` accepts, opened one by one until
one fails (at most $CEILING_MAX; Dante forks processes as sessions grow, each with a limit of its own);
start-up is from exec to the \`listening on\` line. Peers: microsocks and Dante (\`danted\`) from Debian.

The rules rows come from a second socksd started with 1,000 destination rules on its command line, measured
in the same rounds next to the plain one (each round's ratio in the last column; the CPU rows are the
CPU time all of that socksd's threads spent during a test, from \`/proc/PID/task/*/schedstat\`, divided by
the operations it carried, which other work on the machine disturbs less than the rates): 400 IPv4 networks
of prefix lengths /8 to /30 and 200 single IPv4 addresses in public ranges (every 20th of them an
\`--allow-to\`, the rest \`--deny-to\`), 100 IPv6 networks (/20 to /64), 250 domains
(\`blocked-N.example\`) and 50 rules with ports (IPv4 and IPv6 networks with ranges, domains, and \`*\`
on ports such as 25 and 3389). None matches the echo targets (127.0.0.1, given as an address), so every
CONNECT and every datagram is looked up at each IPv4 prefix length in use and against the \`*\` rules,
and then allowed by default (domain rules are consulted only for destinations given as names).
MD
log "wrote BENCHMARKS.md"
