// The tests' own RFC 1961 client: a SOCKS5 client that logs in with GSS-API (Kerberos, through the system's
// libgssapi_krb5), negotiates a protection level, sends a CONNECT or UDP ASSOCIATE request and moves data,
// every message after the subnegotiation encapsulated (RFC 1961 section 5) when the level granted is 1 or 2.
//
// Built at test time with `gcc ... -lgssapi_krb5` (Tests/TestSupport/KerberosFixture.swift), so that building
// socksd needs no Kerberos headers. It prints one line per step on standard output, which the tests read:
//   method XX · context established · failure 01 ff · granted N · reply XX · echo ok N · bind ok N · udp ok N · error: ...
// and exits 0 when every step it was asked for succeeded.
//
//   socks5-gssapi-client --proxy PORT --service NAME@HOST [--level N] [--nec] [--curl-greeting]
//                        [--bad-token] [--connect PORT] [--echo BYTES] [--bind BYTES] [--uot] [--udp PORT]
// --bind: a BIND for any peer; the client itself connects to the address of the first reply as the peer, reads
// the second reply, then moves BYTES from the peer to the client and BYTES back, in 1000-byte turns.
// --uot: a CONNECT to sing-box's UoT v2 magic name; prints its reply's code only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int control = -1;
static gss_ctx_id_t context = GSS_C_NO_CONTEXT;
static int level = 0;

static void fail(const char *what) {
    printf("error: %s\n", what);
    fflush(stdout);
    exit(1);
}

static void gss_fail(const char *what, OM_uint32 major, OM_uint32 minor) {
    OM_uint32 ignored, more = 0;
    gss_buffer_desc text;
    printf("error: %s:", what);
    do {
        gss_display_status(&ignored, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &more, &text);
        printf(" %.*s;", (int)text.length, (char *)text.value);
        gss_release_buffer(&ignored, &text);
    } while (more != 0);
    do {
        gss_display_status(&ignored, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &more, &text);
        printf(" %.*s;", (int)text.length, (char *)text.value);
        gss_release_buffer(&ignored, &text);
    } while (more != 0);
    printf("\n");
    fflush(stdout);
    exit(1);
}

static void write_all(int fd, const void *bytes, size_t count) {
    const uint8_t *p = bytes;
    while (count > 0) {
        ssize_t n = write(fd, p, count);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write failed");
        p += n;
        count -= (size_t)n;
    }
}

/// Reads exactly `count` bytes; returns 0 when the peer closed first.
static int read_all(int fd, void *bytes, size_t count) {
    uint8_t *p = bytes;
    while (count > 0) {
        ssize_t n = read(fd, p, count);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read failed");
        if (n == 0) return 0;
        p += n;
        count -= (size_t)n;
    }
    return 1;
}

/// Sends one RFC 1961 message: ver 1, `type`, a two-byte length, the token.
static void send_message(uint8_t type, const void *token, size_t length) {
    if (length > 0xffff) fail("token too long");
    uint8_t head[4] = {1, type, (uint8_t)(length >> 8), (uint8_t)length};
    write_all(control, head, 4);
    write_all(control, token, length);
}

/// Reads one RFC 1961 message of `type` into a malloc'd buffer; prints `failure 01 ff` and exits 2 on an abort.
static uint8_t *read_message(uint8_t type, size_t *length) {
    uint8_t head[2];
    if (!read_all(control, head, 2)) fail("server closed");
    if (head[0] == 1 && head[1] == 0xff) {
        printf("failure 01 ff\n");
        fflush(stdout);
        exit(2);
    }
    if (head[0] != 1 || head[1] != type) {
        printf("error: unexpected message %02x %02x\n", head[0], head[1]);
        exit(1);
    }
    uint8_t size[2];
    if (!read_all(control, size, 2)) fail("server closed in a message");
    *length = ((size_t)size[0] << 8) | size[1];
    uint8_t *token = malloc(*length + 1);
    if (!read_all(control, token, *length)) fail("server closed in a token");
    return token;
}

/// Sends `bytes` as the level requires: plain at level 0, else as mtyp 3 messages of gss_wrap tokens.
static void send_protected(const void *bytes, size_t count) {
    if (level == 0) {
        write_all(control, bytes, count);
        return;
    }
    const uint8_t *p = bytes;
    while (count > 0) {
        size_t piece = count > 16000 ? 16000 : count;
        OM_uint32 major, minor;
        gss_buffer_desc in = {piece, (void *)p}, out;
        major = gss_wrap(&minor, context, level == 2, GSS_C_QOP_DEFAULT, &in, NULL, &out);
        if (GSS_ERROR(major)) gss_fail("gss_wrap", major, minor);
        send_message(3, out.value, out.length);
        gss_release_buffer(&minor, &out);
        p += piece;
        count -= piece;
    }
}

/// Buffered plaintext from the last unwrapped message.
static uint8_t *pending = NULL;
static size_t pending_length = 0, pending_offset = 0;

/// Reads exactly `count` plaintext bytes: plain at level 0, else unwrapping mtyp 3 messages. 0 when the peer closed.
static int read_protected(void *bytes, size_t count) {
    if (level == 0) return read_all(control, bytes, count);
    uint8_t *p = bytes;
    while (count > 0) {
        if (pending_offset == pending_length) {
            free(pending);
            pending = NULL;
            pending_length = pending_offset = 0;
            uint8_t head[4];
            if (!read_all(control, head, 4)) return 0;
            if (head[0] != 1 || head[1] != 3) fail("not an encapsulated message");
            size_t length = ((size_t)head[2] << 8) | head[3];
            uint8_t *token = malloc(length + 1);
            if (!read_all(control, token, length)) fail("server closed in a token");
            OM_uint32 major, minor;
            int confidential = 0;
            gss_buffer_desc in = {length, token}, out;
            major = gss_unwrap(&minor, context, &in, &out, &confidential, NULL);
            free(token);
            if (GSS_ERROR(major)) gss_fail("gss_unwrap", major, minor);
            if (level == 2 && !confidential) fail("an encapsulated message without confidentiality at level 2");
            pending = malloc(out.length + 1);
            memcpy(pending, out.value, out.length);
            pending_length = out.length;
            gss_release_buffer(&minor, &out);
        }
        size_t piece = pending_length - pending_offset < count ? pending_length - pending_offset : count;
        memcpy(p, pending + pending_offset, piece);
        pending_offset += piece;
        p += piece;
        count -= piece;
    }
    return 1;
}

/// Reads a SOCKS5 reply (through the protection) and returns its code; the bound address goes to `bound`.
static int read_reply(struct sockaddr_in *bound) {
    uint8_t head[4];
    if (!read_protected(head, 4)) fail("server closed before the reply");
    if (head[0] != 5) fail("reply is not SOCKS5");
    printf("reply %02x\n", head[1]);
    fflush(stdout);
    uint8_t rest[18];
    size_t length = head[3] == 1 ? 6 : head[3] == 4 ? 18 : 0;
    if (length == 0) fail("reply address type not IPv4/IPv6");
    if (!read_protected(rest, length)) fail("server closed in the reply");
    if (bound != NULL && head[3] == 1) {
        memset(bound, 0, sizeof *bound);
        bound->sin_family = AF_INET;
        memcpy(&bound->sin_addr, rest, 4);
        memcpy(&bound->sin_port, rest + 4, 2);
    }
    return head[1];
}

int main(int argc, char **argv) {
    int proxy_port = 0, connect_port = 0, udp_port = 0, nec = 0, curl_greeting = 0, bad_token = 0, uot = 0;
    long echo_bytes = 0, bind_bytes = 0;
    const char *service = "rcmd@localhost";
    static struct option options[] = {
        {"proxy", required_argument, 0, 'p'}, {"service", required_argument, 0, 's'}, {"level", required_argument, 0, 'l'},
        {"nec", no_argument, 0, 'n'}, {"curl-greeting", no_argument, 0, 'g'}, {"bad-token", no_argument, 0, 'b'},
        {"connect", required_argument, 0, 'c'}, {"echo", required_argument, 0, 'e'}, {"udp", required_argument, 0, 'u'},
        {"bind", required_argument, 0, 'B'}, {"uot", no_argument, 0, 'U'}, {0, 0, 0, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'p': proxy_port = atoi(optarg); break;
        case 's': service = optarg; break;
        case 'l': level = atoi(optarg); break;
        case 'n': nec = 1; break;
        case 'g': curl_greeting = 1; break;
        case 'b': bad_token = 1; break;
        case 'c': connect_port = atoi(optarg); break;
        case 'e': echo_bytes = atol(optarg); break;
        case 'u': udp_port = atoi(optarg); break;
        case 'B': bind_bytes = atol(optarg); break;
        case 'U': uot = 1; break;
        default: fail("usage");
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in proxy = {.sin_family = AF_INET, .sin_port = htons((uint16_t)proxy_port)};
    inet_pton(AF_INET, "127.0.0.1", &proxy.sin_addr);
    control = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(control, (struct sockaddr *)&proxy, sizeof proxy) != 0) fail("cannot connect to the proxy");

    // The greeting: GSS-API alone, or as curl sends it (no authentication, then GSS-API).
    if (curl_greeting) {
        write_all(control, "\x05\x02\x00\x01", 4);
    } else {
        write_all(control, "\x05\x01\x01", 3);
    }
    uint8_t selection[2];
    if (!read_all(control, selection, 2)) fail("server closed after the greeting");
    printf("method %02x\n", selection[1]);
    if (selection[1] != 1) return 1;

    OM_uint32 major, minor;
    if (bad_token) {
        send_message(1, "\x60\x03\x06\x01\x00", 5);
        size_t length;
        free(read_message(1, &length));
        fail("a bad token was answered with a token");
    }
    gss_name_t target;
    gss_buffer_desc name = {strlen(service), (void *)service};
    major = gss_import_name(&minor, &name, GSS_C_NT_HOSTBASED_SERVICE, &target);
    if (GSS_ERROR(major)) gss_fail("gss_import_name", major, minor);
    gss_buffer_desc input = GSS_C_EMPTY_BUFFER;
    uint8_t *received = NULL;
    for (;;) {
        gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context, target, GSS_C_NO_OID,
                                     GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
                                     received == NULL ? GSS_C_NO_BUFFER : &input, NULL, &output, NULL, NULL);
        free(received);
        received = NULL;
        if (GSS_ERROR(major)) gss_fail("gss_init_sec_context", major, minor);
        if (output.length > 0) {
            send_message(1, output.value, output.length);
            gss_release_buffer(&minor, &output);
        }
        if (major != GSS_S_CONTINUE_NEEDED) break;
        size_t length;
        received = read_message(1, &length);
        input.length = length;
        input.value = received;
    }
    printf("context established\n");

    // Protection-level subnegotiation: one octet, wrapped without confidentiality, or in clear (NEC).
    uint8_t wanted = (uint8_t)level;
    if (nec) {
        send_message(2, &wanted, 1);
    } else {
        gss_buffer_desc in = {1, &wanted}, out;
        major = gss_wrap(&minor, context, 0, GSS_C_QOP_DEFAULT, &in, NULL, &out);
        if (GSS_ERROR(major)) gss_fail("gss_wrap", major, minor);
        send_message(2, out.value, out.length);
        gss_release_buffer(&minor, &out);
    }
    size_t length;
    uint8_t *answer = read_message(2, &length);
    uint8_t granted;
    if (nec) {
        if (length != 1) fail("the NEC answer is not one octet");
        granted = answer[0];
    } else {
        gss_buffer_desc in = {length, answer}, out;
        major = gss_unwrap(&minor, context, &in, &out, NULL, NULL);
        if (GSS_ERROR(major)) gss_fail("gss_unwrap of the protection level", major, minor);
        if (out.length != 1) fail("the unwrapped level is not one octet");
        granted = ((uint8_t *)out.value)[0];
        gss_release_buffer(&minor, &out);
    }
    free(answer);
    printf("granted %d\n", granted);
    level = granted;

    if (connect_port != 0) {
        uint8_t request[10] = {5, 1, 0, 1, 127, 0, 0, 1, (uint8_t)(connect_port >> 8), (uint8_t)connect_port};
        send_protected(request, sizeof request);
        if (read_reply(NULL) != 0) return 1;
        if (echo_bytes > 0) {
            uint8_t *sent = malloc((size_t)echo_bytes), *back = malloc((size_t)echo_bytes);
            for (long index = 0; index < echo_bytes; index++) sent[index] = (uint8_t)(index * 7 + index / 251);
            send_protected(sent, (size_t)echo_bytes);
            if (!read_protected(back, (size_t)echo_bytes)) fail("closed before the echo");
            if (memcmp(sent, back, (size_t)echo_bytes) != 0) fail("the echo differs");
            printf("echo ok %ld\n", echo_bytes);
        }
    }
    if (bind_bytes > 0) {
        // BIND for any peer (DST 0.0.0.0:0): both replies arrive through the protection, and so does the data.
        uint8_t request[10] = {5, 2, 0, 1, 0, 0, 0, 0, 0, 0};
        send_protected(request, sizeof request);
        struct sockaddr_in bound;
        if (read_reply(&bound) != 0) return 1;
        int peer = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(peer, (struct sockaddr *)&bound, sizeof bound) != 0) fail("the peer cannot connect to the bound address");
        if (read_reply(NULL) != 0) return 1;
        uint8_t sent[1000], back[1000];
        for (long done = 0; done < bind_bytes; done += (long)sizeof sent) {
            size_t piece = bind_bytes - done < (long)sizeof sent ? (size_t)(bind_bytes - done) : sizeof sent;
            for (size_t index = 0; index < piece; index++) sent[index] = (uint8_t)((done + (long)index) * 13 + 5);
            write_all(peer, sent, piece);
            if (!read_protected(back, piece)) fail("closed before the peer's bytes arrived");
            if (memcmp(sent, back, piece) != 0) fail("the peer's bytes differ");
            send_protected(sent, piece);
            if (!read_all(peer, back, piece)) fail("the peer was closed before the client's bytes arrived");
            if (memcmp(sent, back, piece) != 0) fail("the client's bytes differ at the peer");
        }
        printf("bind ok %ld\n", bind_bytes);
        close(peer);
    }
    if (uot) {
        static const char name[] = "sp.v2.udp-over-tcp.arpa";
        uint8_t request[5 + sizeof name + 1] = {5, 1, 0, 3, (uint8_t)(sizeof name - 1)};
        memcpy(request + 5, name, sizeof name - 1);
        request[5 + sizeof name - 1] = 0;
        request[5 + sizeof name] = 53;
        send_protected(request, 5 + sizeof name + 1);
        uint8_t head[4];
        if (!read_protected(head, 4)) fail("server closed before the reply");
        printf("reply %02x\n", head[1]);
        return head[1] == 0 ? 0 : 1;
    }
    if (udp_port != 0) {
        int udp = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in local = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
        if (bind(udp, (struct sockaddr *)&local, sizeof local) != 0) fail("cannot bind the UDP socket");
        socklen_t size = sizeof local;
        getsockname(udp, (struct sockaddr *)&local, &size);
        uint8_t request[10] = {5, 3, 0, 1, 127, 0, 0, 1, 0, 0};
        memcpy(request + 8, &local.sin_port, 2);
        send_protected(request, sizeof request);
        struct sockaddr_in relay;
        if (read_reply(&relay) != 0) return 1;
        // One datagram: the SOCKS UDP header and a payload, the whole of it wrapped at levels 1 and 2.
        uint8_t datagram[10 + 64] = {0, 0, 0, 1, 127, 0, 0, 1, (uint8_t)(udp_port >> 8), (uint8_t)udp_port};
        for (int index = 0; index < 64; index++) datagram[10 + index] = (uint8_t)(index * 3);
        uint8_t packet[4096];
        size_t packet_length;
        if (level == 0) {
            memcpy(packet, datagram, sizeof datagram);
            packet_length = sizeof datagram;
        } else {
            gss_buffer_desc in = {sizeof datagram, datagram}, out;
            major = gss_wrap(&minor, context, level == 2, GSS_C_QOP_DEFAULT, &in, NULL, &out);
            if (GSS_ERROR(major)) gss_fail("gss_wrap of a datagram", major, minor);
            packet[0] = 1;
            packet[1] = 3;
            packet[2] = (uint8_t)(out.length >> 8);
            packet[3] = (uint8_t)out.length;
            memcpy(packet + 4, out.value, out.length);
            packet_length = 4 + out.length;
            gss_release_buffer(&minor, &out);
        }
        uint8_t reply[4096];
        ssize_t got = -1;
        for (int attempt = 0; attempt < 20 && got < 0; attempt++) {
            sendto(udp, packet, packet_length, 0, (struct sockaddr *)&relay, sizeof relay);
            struct pollfd wait = {udp, POLLIN, 0};
            if (poll(&wait, 1, 1000) == 1) got = recv(udp, reply, sizeof reply, 0);
        }
        if (got < 0) fail("no UDP answer");
        uint8_t *plain = reply;
        size_t plain_length = (size_t)got;
        gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
        if (level != 0) {
            if (got < 4 || reply[0] != 1 || reply[1] != 3) fail("the UDP answer is not encapsulated");
            gss_buffer_desc in = {(size_t)got - 4, reply + 4};
            major = gss_unwrap(&minor, context, &in, &out, NULL, NULL);
            if (GSS_ERROR(major)) gss_fail("gss_unwrap of a datagram", major, minor);
            plain = out.value;
            plain_length = out.length;
        }
        if (plain_length != sizeof datagram || memcmp(plain + 10, datagram + 10, 64) != 0) fail("the UDP answer differs");
        if (level != 0) gss_release_buffer(&minor, &out);
        printf("udp ok 64\n");
    }
    gss_delete_sec_context(&minor, &context, GSS_C_NO_BUFFER);
    gss_release_name(&minor, &target);
    close(control);
    return 0;
}
