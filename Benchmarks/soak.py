#!/usr/bin/env python3
"""Mixed load for Benchmarks/soak.sh: clients of every kind socksd serves, an HTTP origin, and the monitor.

    soak.py origin PORT SECONDS       an HTTP/1.1 origin on 127.0.0.1:PORT for at most SECONDS
    soak.py load --minutes M ...      the load and the monitor (soak.sh passes the ports, pid and files)

Standard library only; every protocol's bytes are written here (SOCKS5, SOCKS4/4a, HTTP proxying, UoT v2
and v1 after /work/shared/specs/udp-over-tcp.md). Every loop is bounded in time: workers stop at the end
of the run, each socket operation gives up after OP_TIMEOUT seconds, UDP waits after 2 s (three tries).

The load: SHORT_WORKERS threads run one session after another, each of a kind drawn at random by weight
(SHORT_KINDS), with a short pause between; LONG_WORKERS threads hold long-lived sessions (LONG_KINDS,
10 to 40 s each) that exchange a little every fraction of a second. Kinds marked abrupt end the session
by a reset (SO_LINGER 0) or a close at an awkward moment; what they get back after that is not checked,
only what came before. Any other failure — a reply code, a timeout, bytes that differ, a lost datagram
after three tries — is an unexpected error, printed with its kind.

The monitor scrapes /metrics every second, rewrites the configuration file to the other variant and sends
SIGHUP every 10 s, and prints one line a minute: sessions run by the clients (and counted by the daemon),
unexpected errors, the daemon's descriptors (the median of the minute's scrapes), its resident memory (at
the minute's end) and the CPU seconds it used in the minute. At the end it stops the load, waits for the
daemon's sessions to drain and judges the run (see judge()).
"""

import argparse
import http.server
import os
import random
import signal
import socket
import socketserver
import statistics
import struct
import sys
import threading
import time

OP_TIMEOUT = 15.0
LOOPBACK = "127.0.0.1"
LOOPBACK_BYTES = socket.inet_aton(LOOPBACK)
UOT_V2 = b"sp.v2.udp-over-tcp.arpa"
UOT_V1 = b"sp.udp-over-tcp.arpa"

# The origin's bodies: a fixed pattern, so that the client checks every byte without keeping a copy.
PATTERN = bytes((i * 7 + 3) % 251 for i in range(1 << 20))


def pattern(n):
    return PATTERN[:n] if n <= len(PATTERN) else (PATTERN * (n // len(PATTERN) + 1))[:n]


class SoakError(Exception):
    """A failure the load did not ask for."""


# ------------------------------------------------------------------------------------------ the origin


class OriginHandler(http.server.BaseHTTPRequestHandler):
    """GET /bytes/N (Content-Length), GET /chunked/N (chunked), POST /echo (the body back)."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # a connection the proxy keeps for a next request that never comes

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        if len(parts) == 3 and parts[1] in ("bytes", "chunked") and parts[2].isdigit():
            body = pattern(int(parts[2]))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if parts[1] == "bytes":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for at in range(0, len(body), 4096):
                    piece = body[at:at + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Origin(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def run_origin(port, seconds):
    server = Origin((LOOPBACK, port), OriginHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    time.sleep(seconds)


# ------------------------------------------------------------------------------------------ wire helpers


def tcp(port):
    s = socket.create_connection((LOOPBACK, port), timeout=OP_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(s):
    """Closes with a reset (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def recv_exact(s, n, what="bytes"):
    chunks, got = [], 0
    while got < n:
        chunk = s.recv(min(n - got, 1 << 20))
        if not chunk:
            raise SoakError(f"end of stream after {got} of {n} {what}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def echo_check(s, rng, low=1, high=16384):
    data = os.urandom(rng.randint(low, high))
    s.sendall(data)
    if recv_exact(s, len(data), "echoed bytes") != data:
        raise SoakError("echoed bytes differ")


def socks5_address(host, port):
    if isinstance(host, bytes):
        return b"\x03" + bytes([len(host)]) + host + struct.pack(">H", port)
    return b"\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def read_socks5_reply(s):
    ver, rep, _, atyp = recv_exact(s, 4, "reply bytes")
    if ver != 5:
        raise SoakError(f"reply version {ver}")
    if atyp == 1:
        host = socket.inet_ntoa(recv_exact(s, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
    elif atyp == 3:
        host = recv_exact(s, recv_exact(s, 1)[0]).decode()
    else:
        raise SoakError(f"reply address type {atyp}")
    port = struct.unpack(">H", recv_exact(s, 2))[0]
    if rep != 0:
        raise SoakError(f"reply code {rep:02x}")
    return host, port


def socks5(s, command, host, port):
    """Greeting (no login) and a request; returns the reply's (BND.ADDR, BND.PORT)."""
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2, "method bytes") != b"\x05\x00":
        raise SoakError("method not accepted")
    s.sendall(b"\x05" + bytes([command]) + b"\x00" + socks5_address(host, port))
    return read_socks5_reply(s)


def read_head(s, limit=65536):
    """An HTTP head, byte by byte up to its blank line (so nothing of the body is consumed)."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        b = s.recv(1)
        if not b:
            raise SoakError(f"end of stream in an HTTP head ({bytes(head[:60])!r})")
        head += b
        if len(head) > limit:
            raise SoakError("HTTP head too long")
    lines = bytes(head).decode("latin-1").split("\r\n")
    status = lines[0].split(" ")
    if len(status) < 2 or not status[1].isdigit():
        raise SoakError(f"bad status line {lines[0]!r}")
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return int(status[1]), fields


def read_body(s, fields):
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        for _ in range(100000):  # far more chunks than any body here has
            size_line = bytearray()
            while not size_line.endswith(b"\r\n"):
                b = s.recv(1)
                if not b:
                    raise SoakError("end of stream in a chunk size")
                size_line += b
            size = int(bytes(size_line).split(b";")[0].strip(), 16)
            if size == 0:
                if recv_exact(s, 2) != b"\r\n":
                    raise SoakError("chunked body without its last CRLF")
                return bytes(body)
            body += recv_exact(s, size, "chunk bytes")
            if recv_exact(s, 2) != b"\r\n":
                raise SoakError("chunk without its CRLF")
        raise SoakError("too many chunks")
    return recv_exact(s, int(fields.get("content-length", "0")), "body bytes")


def udp_socket():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((LOOPBACK, 0))
    u.settimeout(2.0)
    return u


def udp_round_trip(u, relay, target_port, rng, sequence):
    """One datagram through a UDP association and its echo; stale echoes of earlier tries are skipped."""
    payload = struct.pack(">I", sequence) + os.urandom(rng.randint(0, 1200))
    header = b"\x00\x00\x00" + socks5_address(LOOPBACK, target_port)
    for _ in range(3):
        u.sendto(header + payload, relay)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                reply, _ = u.recvfrom(65535)
            except socket.timeout:
                break
            if reply == header + payload:
                return
    raise SoakError("datagram lost three times")


# ------------------------------------------------------------------------------------------ the kinds


class Context:
    def __init__(self, args):
        self.proxy, self.echo, self.source = args.proxy, args.echo, args.source
        self.udp_echo, self.origin = args.udp_echo, args.origin
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = 0
        self.done_by_kind = {}
        self.errors = 0
        self.errors_by_kind = {}
        self.printed_errors = 0

    def note_done(self, kind):
        with self.lock:
            self.done += 1
            self.done_by_kind[kind] = self.done_by_kind.get(kind, 0) + 1

    def note_error(self, kind, error):
        with self.lock:
            self.errors += 1
            self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1
            self.printed_errors += 1
            show = self.printed_errors <= 50
        if show:
            print(f"[soak] unexpected error in {kind}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def connect_short(ctx, rng):
    with tcp(ctx.proxy) as s:
        socks5(s, 1, LOOPBACK, ctx.echo)
        for _ in range(rng.randint(1, 3)):
            echo_check(s, rng)
        if rng.random() < 0.3:  # a half-close: the echo still comes back
            data = os.urandom(rng.randint(1, 4096))
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            if recv_exact(s, len(data), "echoed bytes after a half-close") != data:
                raise SoakError("echoed bytes after a half-close differ")


def connect_domain(ctx, rng):
    with tcp(ctx.proxy) as s:
        socks5(s, 1, b"localhost", ctx.echo)
        echo_check(s, rng)


def socks4(ctx, rng):
    with tcp(ctx.proxy) as s:
        s.sendall(b"\x04\x01" + struct.pack(">H", ctx.echo) + LOOPBACK_BYTES + b"soak\x00")
        reply = recv_exact(s, 8, "SOCKS4 reply bytes")
        if reply[0] != 0 or reply[1] != 0x5A:
            raise SoakError(f"SOCKS4 reply {reply[:2].hex()}")
        echo_check(s, rng)


def socks4a(ctx, rng):
    with tcp(ctx.proxy) as s:
        s.sendall(b"\x04\x01" + struct.pack(">H", ctx.echo) + b"\x00\x00\x00\x01" + b"soak\x00localhost\x00")
        reply = recv_exact(s, 8, "SOCKS4a reply bytes")
        if reply[0] != 0 or reply[1] != 0x5A:
            raise SoakError(f"SOCKS4a reply {reply[:2].hex()}")
        echo_check(s, rng)


def http_forward(ctx, rng):
    """One to three requests on one kept-alive connection, GET (length or chunked) and POST."""
    with tcp(ctx.proxy) as s:
        count = rng.randint(1, 3)
        for k in range(count):
            last = k == count - 1 and rng.random() < 0.5
            close = b"Connection: close\r\n" if last else b""
            host = b"127.0.0.1:%d" % ctx.origin
            kind = rng.random()
            if kind < 0.4:
                n = rng.randint(0, 200000)
                s.sendall(b"GET http://%s/bytes/%d HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (host, n, host, close))
                expected = pattern(n)
            elif kind < 0.7:
                n = rng.randint(0, 100000)
                s.sendall(b"GET http://%s/chunked/%d HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (host, n, host, close))
                expected = pattern(n)
            else:
                expected = os.urandom(rng.randint(0, 65536))
                s.sendall(b"POST http://%s/echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n%s"
                          % (host, host, len(expected), close, expected))
            status, fields = read_head(s)
            if status != 200:
                raise SoakError(f"HTTP status {status}")
            if read_body(s, fields) != expected:
                raise SoakError("HTTP body differs")
            if last:
                if s.recv(1) != b"":
                    raise SoakError("bytes after a Connection: close response")
                return


def http_connect(ctx, rng):
    with tcp(ctx.proxy) as s:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (ctx.echo, ctx.echo))
        status, _ = read_head(s)
        if status != 200:
            raise SoakError(f"HTTP CONNECT status {status}")
        for _ in range(rng.randint(1, 3)):
            echo_check(s, rng)


def udp_associate(ctx, rng, rounds=None, abrupt=False):
    u = udp_socket()
    try:
        with tcp(ctx.proxy) as s:
            # Half name the client's real port, half 0.0.0.0:0 (the first datagram's port counts).
            port = u.getsockname()[1] if rng.random() < 0.5 else 0
            host, relay_port = socks5(s, 3, LOOPBACK if port else "0.0.0.0", port)
            relay = (host if host not in ("0.0.0.0", "::") else LOOPBACK, relay_port)
            for sequence in range(rounds or rng.randint(1, 5)):
                udp_round_trip(u, relay, ctx.udp_echo, rng, sequence)
            if abrupt:
                reset(s)
    finally:
        u.close()


def udp_reset(ctx, rng):
    udp_associate(ctx, rng, rounds=1, abrupt=True)


def uot_open(ctx, rng, version, connect_mode):
    s = tcp(ctx.proxy)
    try:
        socks5(s, 1, UOT_V2 if version == 2 else UOT_V1, 0)
    except BaseException:
        s.close()
        raise
    header = b""
    if version == 2:
        header = (b"\x01" if connect_mode else b"\x00") + socks5_address(LOOPBACK, ctx.udp_echo)
    return s, header


def uot_round_trip(s, header, connect_mode, udp_echo, rng):
    payload = os.urandom(rng.randint(0, 1200))
    if connect_mode:
        s.sendall(header + struct.pack(">H", len(payload)) + payload)
        length = struct.unpack(">H", recv_exact(s, 2, "frame length bytes"))[0]
    else:
        address = b"\x00" + LOOPBACK_BYTES + struct.pack(">H", udp_echo)
        s.sendall(header + address + struct.pack(">H", len(payload)) + payload)
        source = recv_exact(s, 7, "frame address bytes")
        if source != address:
            raise SoakError(f"UoT reply from {source.hex()}")
        length = struct.unpack(">H", recv_exact(s, 2, "frame length bytes"))[0]
    if recv_exact(s, length, "frame bytes") != payload:
        raise SoakError("UoT frame differs")


def uot(ctx, rng):
    """UoT v2 in connect or non-connect mode, or v1; one to five frames echoed."""
    version = 2 if rng.random() < 0.8 else 1
    connect_mode = version == 2 and rng.random() < 0.5
    s, header = uot_open(ctx, rng, version, connect_mode)
    with s:
        for _ in range(rng.randint(1, 5)):
            uot_round_trip(s, header, connect_mode, ctx.udp_echo, rng)
            header = b""


def uot_reset(ctx, rng):
    s, header = uot_open(ctx, rng, 2, True)
    uot_round_trip(s, header, True, ctx.udp_echo, rng)
    s.sendall(b"\x04\x00ab")  # half a frame
    reset(s)


def bind(ctx, rng):
    with tcp(ctx.proxy) as s:
        host, port = socks5(s, 2, LOOPBACK, 0)
        with socket.create_connection((host, port), timeout=OP_TIMEOUT) as peer:
            read_socks5_reply(s)
            up, down = os.urandom(rng.randint(1, 8192)), os.urandom(rng.randint(1, 8192))
            s.sendall(up)
            if recv_exact(peer, len(up), "bytes at the BIND peer") != up:
                raise SoakError("bytes at the BIND peer differ")
            peer.sendall(down)
            if recv_exact(s, len(down), "bytes from the BIND peer") != down:
                raise SoakError("bytes from the BIND peer differ")


def bind_reset(ctx, rng):
    s = tcp(ctx.proxy)
    try:
        host, port = socks5(s, 2, LOOPBACK, 0)
        if rng.random() < 0.5:
            reset(s)  # before any peer came
            return
        peer = socket.create_connection((host, port), timeout=OP_TIMEOUT)
        read_socks5_reply(s)
        reset(s)  # with the peer connected: the peer sees the end
        peer.settimeout(OP_TIMEOUT)
        try:
            peer.recv(1)
        except OSError:
            pass
        peer.close()
    except BaseException:
        s.close()
        raise


def reset_download(ctx, rng):
    """CONNECT to the source (which writes without end), read up to 4 MiB, reset."""
    s = tcp(ctx.proxy)
    try:
        socks5(s, 1, LOOPBACK, ctx.source)
        recv_exact(s, rng.randint(1, 4 << 20), "downloaded bytes")
    finally:
        reset(s)


def reset_after_echo(ctx, rng):
    s = tcp(ctx.proxy)
    try:
        socks5(s, 1, LOOPBACK, ctx.echo)
        echo_check(s, rng)
        s.sendall(os.urandom(rng.randint(1, 65536)))  # bytes in flight when the reset comes
    finally:
        reset(s)


def cut_handshake(ctx, rng):
    """A handshake cut short, by a reset or a close, at a random byte of one of the protocols."""
    exchanges = [
        b"\x05\x01\x00" + b"\x05\x01\x00" + socks5_address(LOOPBACK, ctx.echo),
        b"\x04\x01" + struct.pack(">H", ctx.echo) + LOOPBACK_BYTES + b"soak\x00",
        b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % ctx.echo,
        b"GET http://127.0.0.1:%d/bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n" % ctx.origin,
    ]
    exchange = rng.choice(exchanges)
    s = tcp(ctx.proxy)
    s.sendall(exchange[:rng.randint(0, len(exchange) - 1)])
    if rng.random() < 0.5:
        reset(s)
    else:
        s.close()


def http_reset(ctx, rng):
    s = tcp(ctx.proxy)
    try:
        host = b"127.0.0.1:%d" % ctx.origin
        s.sendall(b"GET http://%s/bytes/1000000 HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host))
        status, _ = read_head(s)
        if status != 200:
            raise SoakError(f"HTTP status {status}")
        recv_exact(s, rng.randint(1, 500000), "body bytes")
    finally:
        reset(s)


# (name, function, weight, abrupt)
SHORT_KINDS = [
    ("connect", connect_short, 20, False),
    ("connect-domain", connect_domain, 4, False),
    ("socks4", socks4, 5, False),
    ("socks4a", socks4a, 5, False),
    ("http-forward", http_forward, 12, False),
    ("http-connect", http_connect, 8, False),
    ("udp-associate", udp_associate, 8, False),
    ("uot", uot, 8, False),
    ("bind", bind, 5, False),
    ("reset-download", reset_download, 3, True),
    ("reset-after-echo", reset_after_echo, 4, True),
    ("cut-handshake", cut_handshake, 5, True),
    ("http-reset", http_reset, 2, True),
    ("udp-reset", udp_reset, 2, True),
    ("uot-reset", uot_reset, 2, True),
    ("bind-reset", bind_reset, 3, True),
]


def long_connect(ctx, rng, until):
    with tcp(ctx.proxy) as s:
        socks5(s, 1, LOOPBACK, ctx.echo)
        while time.monotonic() < until and not ctx.stop.is_set():
            echo_check(s, rng, 1, 65536)
            time.sleep(rng.uniform(0.1, 0.5))


def long_download(ctx, rng, until):
    """A slow reader: the source writes as fast as it can, the client reads 1 MiB every 0.5 s."""
    s = tcp(ctx.proxy)
    try:
        socks5(s, 1, LOOPBACK, ctx.source)
        while time.monotonic() < until and not ctx.stop.is_set():
            recv_exact(s, 1 << 20, "downloaded bytes")
            time.sleep(0.5)
    finally:
        reset(s)


def long_udp(ctx, rng, until):
    u = udp_socket()
    try:
        with tcp(ctx.proxy) as s:
            host, relay_port = socks5(s, 3, LOOPBACK, u.getsockname()[1])
            sequence = 0
            while time.monotonic() < until and not ctx.stop.is_set():
                udp_round_trip(u, (host, relay_port), ctx.udp_echo, rng, sequence)
                sequence += 1
                time.sleep(rng.uniform(0.1, 0.5))
    finally:
        u.close()


def long_uot(ctx, rng, until):
    s, header = uot_open(ctx, rng, 2, False)
    with s:
        while time.monotonic() < until and not ctx.stop.is_set():
            uot_round_trip(s, header, False, ctx.udp_echo, rng)
            header = b""
            time.sleep(rng.uniform(0.1, 0.5))


LONG_KINDS = [("long-connect", long_connect), ("long-download", long_download), ("long-udp", long_udp), ("long-uot", long_uot)]


def short_worker(ctx, seed, end, pause):
    rng = random.Random(seed)
    names = [k[0] for k in SHORT_KINDS]
    weights = [k[2] for k in SHORT_KINDS]
    functions = {k[0]: k[1] for k in SHORT_KINDS}
    while not ctx.stop.is_set() and time.monotonic() < end:
        name = rng.choices(names, weights)[0]
        try:
            functions[name](ctx, rng)
            ctx.note_done(name)
        except Exception as error:  # every failure of a kind is counted, and the worker goes on
            ctx.note_error(name, error)
        time.sleep(rng.uniform(0, pause))


def long_worker(ctx, seed, end):
    rng = random.Random(seed)
    while not ctx.stop.is_set() and time.monotonic() < end:
        name, function = rng.choice(LONG_KINDS)
        until = min(end, time.monotonic() + rng.uniform(10, 40))
        try:
            function(ctx, rng, until)
            ctx.note_done(name)
        except Exception as error:
            ctx.note_error(name, error)


# ------------------------------------------------------------------------------------------ the monitor


def scrape(port):
    """The daemon's /metrics as {series: value}, label sets kept in the series name."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        data = bytearray()
        for _ in range(10000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SoakError(f"metrics answered {head[:40]!r}")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def total(values, family):
    return sum(v for k, v in values.items() if k == family or k.startswith(family + "{"))


class Minute:
    def __init__(self):
        self.fds = []
        self.rss = None
        self.cpu_end = None
        self.sessions_end = None


def judge(minutes, rest_before, rest_after, ctx, reloads_sent, last, workers, rss_bound_mib, rss_bound_percent, fd_bound):
    """The verdict: every check with its numbers; True when all hold."""
    checks = []
    checks.append((ctx.errors == 0, f"unexpected errors: {ctx.errors}"))
    first_fds, last_fds = statistics.median(minutes[0].fds), statistics.median(minutes[-1].fds)
    checks.append((last_fds <= first_fds + fd_bound,
                   f"descriptors flat: last minute's median {last_fds:.0f}, first minute's {first_fds:.0f} (bound: +{fd_bound})"))
    # At rest, the pipe pool may keep the pipes the busiest moment used: two per session splicing, of
    # which each worker has at most one, two descriptors each.
    pool = 4 * workers + 8
    checks.append((rest_after <= rest_before + pool,
                   f"descriptors at rest: {rest_after:.0f} after the load, {rest_before:.0f} before (bound: +{pool}, idle splice pipes)"))
    base = minutes[0].rss
    rss_limit = base + max(rss_bound_mib * 1024 * 1024, base * rss_bound_percent / 100)
    checks.append((minutes[-1].rss <= rss_limit,
                   f"resident memory flat after the first minute: {minutes[-1].rss / 1048576:.1f} MiB at the end, "
                   f"{base / 1048576:.1f} MiB after minute 1 (bound: +{rss_bound_mib} MiB or +{rss_bound_percent}%, whichever is more)"))
    succeeded = total({k: v for k, v in last.items() if 'result="success"' in k}, "socksd_config_reloads_total")
    failed = total({k: v for k, v in last.items() if 'result="failure"' in k}, "socksd_config_reloads_total")
    checks.append((succeeded == reloads_sent and failed == 0,
                   f"reloads: {reloads_sent} sent, {succeeded:.0f} succeeded, {failed:.0f} failed"))
    return checks


def run_load(args):
    ctx = Context(args)
    pid = args.pid
    configs = [args.config_a, args.config_b]

    def alive():
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    start = time.monotonic()
    end = start + args.minutes * 60
    rest_before = scrape(args.metrics)["process_open_fds"]
    workers = []
    for i in range(args.short_workers):
        workers.append(threading.Thread(target=short_worker, args=(ctx, 1000 + i, end, args.pause), daemon=True))
    for i in range(args.long_workers):
        workers.append(threading.Thread(target=long_worker, args=(ctx, 2000 + i, end), daemon=True))
    for w in workers:
        w.start()

    minutes = [Minute()]
    reloads_sent = 0
    variant = 0
    cpu_start = sessions_start = None
    last = {}
    done_at_minute_start = 0
    errors_at_minute_start = 0
    tick = 0
    died = False
    print(f"[soak] {args.short_workers} short and {args.long_workers} long-lived clients for {args.minutes} minute(s); "
          "a line a minute: sessions the clients ran (the daemon's count), unexpected errors, the daemon's "
          "descriptors (median of the minute's scrapes), resident memory, CPU seconds in the minute", flush=True)
    while True:
        tick += 1
        wake = start + tick
        time.sleep(max(0.0, wake - time.monotonic()))
        if not alive():
            ctx.note_error("daemon", SoakError("the daemon is gone"))
            died = True
            break
        try:
            last = scrape(args.metrics)
            if cpu_start is None:
                cpu_start = last["process_cpu_seconds_total"]
                sessions_start = total(last, "socksd_sessions_total")
            minute = minutes[-1]
            minute.fds.append(last["process_open_fds"])
            minute.rss = last["process_resident_memory_bytes"]
            minute.cpu_end = last["process_cpu_seconds_total"]
            minute.sessions_end = total(last, "socksd_sessions_total")
        except (OSError, SoakError, KeyError, ValueError) as error:
            ctx.note_error("metrics", error)
        if tick % 10 == 0 and tick < args.minutes * 60:
            # The other variant, written whole and renamed into place, then the reload.
            variant = 1 - variant
            with open(configs[variant], "rb") as f:
                content = f.read()
            temporary = args.config + ".new"
            with open(temporary, "wb") as f:
                f.write(content)
            os.replace(temporary, args.config)
            os.kill(pid, signal.SIGHUP)
            reloads_sent += 1
        if tick % 60 == 0:
            minute = minutes[-1]
            n = len(minutes)
            previous_cpu = minutes[-2].cpu_end if n > 1 else cpu_start
            previous_sessions = minutes[-2].sessions_end if n > 1 else sessions_start
            with ctx.lock:
                done, errors = ctx.done, ctx.errors
            fds = statistics.median(minute.fds) if minute.fds else float("nan")
            print(f"[soak] minute {n}: sessions {done - done_at_minute_start} "
                  f"({(minute.sessions_end or 0) - (previous_sessions or 0):.0f} by the daemon), "
                  f"unexpected errors {errors - errors_at_minute_start}, descriptors {fds:.0f} "
                  f"({min(minute.fds, default=0):.0f}-{max(minute.fds, default=0):.0f}), "
                  f"RSS {(minute.rss or 0) / 1048576:.1f} MiB, CPU {(minute.cpu_end or 0) - (previous_cpu or 0):.1f} s",
                  flush=True)
            done_at_minute_start, errors_at_minute_start = done, errors
            if tick >= args.minutes * 60:
                break
            minutes.append(Minute())

    # Stop the clients (each notices within OP_TIMEOUT at most), then let the daemon's sessions drain.
    ctx.stop.set()
    for w in workers:
        w.join(timeout=2 * OP_TIMEOUT + 5)
    stuck = sum(1 for w in workers if w.is_alive())
    if stuck:
        ctx.note_error("clients", SoakError(f"{stuck} client thread(s) did not stop"))
    rest_after = float("nan")
    if not died:
        for _ in range(60):
            try:
                last = scrape(args.metrics)
            except (OSError, SoakError) as error:
                ctx.note_error("metrics", error)
                break
            if total(last, "socksd_sessions_active") == 0:
                break
            time.sleep(0.5)
        else:
            ctx.note_error("drain", SoakError(f"{total(last, 'socksd_sessions_active'):.0f} sessions still open 30 s after the load"))
        rest_after = last.get("process_open_fds", float("nan"))

    print("[soak] sessions by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(ctx.done_by_kind.items())), flush=True)
    if ctx.errors_by_kind:
        print("[soak] unexpected errors by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(ctx.errors_by_kind.items())), flush=True)
    if died or len(minutes) < args.minutes or not minutes[0].fds:
        print(f"[soak] FAILED: the run did not complete ({'the daemon is gone' if died else 'no full minutes'}); "
              f"unexpected errors: {ctx.errors}", flush=True)
        return 1
    checks = judge(minutes, rest_before, rest_after, ctx, reloads_sent, last, len(workers),
                   args.rss_bound_mib, args.rss_bound_percent, args.fd_bound)
    for ok, text in checks:
        print(f"[soak] {'ok  ' if ok else 'FAIL'} {text}", flush=True)
    passed = all(ok for ok, _ in checks)
    print(f"[soak] {'PASSED' if passed else 'FAILED'}", flush=True)
    return 0 if passed else 1


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "origin":
        run_origin(int(sys.argv[2]), float(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(prog="soak.py load")
    parser.add_argument("command", choices=["load"])
    parser.add_argument("--minutes", type=int, required=True)
    parser.add_argument("--proxy", type=int, required=True)
    parser.add_argument("--metrics", type=int, required=True)
    parser.add_argument("--echo", type=int, required=True)
    parser.add_argument("--source", type=int, required=True)
    parser.add_argument("--udp-echo", type=int, required=True)
    parser.add_argument("--origin", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--config", required=True, help="the file the daemon reads")
    parser.add_argument("--config-a", required=True)
    parser.add_argument("--config-b", required=True)
    parser.add_argument("--short-workers", type=int, default=6)
    parser.add_argument("--long-workers", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.02, help="most seconds a short worker rests between sessions")
    parser.add_argument("--fd-bound", type=int, default=16)
    parser.add_argument("--rss-bound-mib", type=float, default=8)
    parser.add_argument("--rss-bound-percent", type=float, default=10)
    return run_load(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
