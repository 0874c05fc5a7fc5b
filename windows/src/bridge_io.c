/* Bridge I/O: the loopback TCP link, framing, the outgoing messages and the
 * reader thread that turns incoming frames into handle_message calls. */
#include "tsp.h"

/* ---------------------------------------------------------------- transport */

/* Sends one frame; returns 0, or -1 when there is no connection or it failed. */
int send_frame(const char *json, size_t len)
{
    unsigned char header[4];
    int rc = -1;
    if (len == 0 || len > MAX_FRAME)
        return -1;
    header[0] = (unsigned char)(len & 0xFF);
    header[1] = (unsigned char)((len >> 8) & 0xFF);
    header[2] = (unsigned char)((len >> 16) & 0xFF);
    header[3] = (unsigned char)((len >> 24) & 0xFF);
    AcquireSRWLockExclusive(&g_send);
    if (g_sock != INVALID_SOCKET) {
        const char *parts[2] = {(const char *)header, json};
        size_t sizes[2] = {4, len};
        int p;
        rc = 0;
        for (p = 0; p < 2 && rc == 0; p++) {
            size_t off = 0;
            while (off < sizes[p]) {
                int n = send(g_sock, parts[p] + off, (int)(sizes[p] - off), 0);
                if (n <= 0) {
                    rc = -1;
                    break;
                }
                off += (size_t)n;
            }
        }
    }
    ReleaseSRWLockExclusive(&g_send);
    return rc;
}

void begin_message(json_writer *w, char *buf, size_t size, const char *type)
{
    jw_init(w, buf, size);
    jw_raw(w, "{\"v\":1");
    jw_key(w, "type");
    jw_string(w, type);
}

int finish_message(json_writer *w)
{
    jw_raw(w, "}");
    if (w->overflow)
        return -1;
    return send_frame(w->buf, w->len);
}

void send_close_call(unsigned long bridge_id)
{
    char buf[128];
    json_writer w;
    begin_message(&w, buf, sizeof buf, "close_call");
    jw_key(&w, "call");
    jw_uint(&w, bridge_id);
    finish_message(&w);
}

void send_hello(void)
{
    char buf[MAX_LINES * NAME_CHARS * 3 + 256];
    char name[NAME_CHARS * 3];
    json_writer w;
    int i;
    begin_message(&w, buf, sizeof buf, "hello");
    jw_key(&w, "shim");
    jw_string(&w, SHIM_VERSION);
    jw_key(&w, "tspi_version");
    jw_uint(&w, g_version);
    jw_key(&w, "lines");
    jw_raw(&w, "[");
    for (i = 0; i < cfg.nlines; i++) {
        wide_to_utf8(g_lines[i].name, name, sizeof name);
        if (i)
            jw_raw(&w, ",");
        jw_string(&w, name);
    }
    jw_raw(&w, "]");
    if (finish_message(&w))
        tsp_log("hello not sent");
}

/* ------------------------------------------------------------ reader thread */

void drop_connection(void)
{
    int i;
    SOCKET s;
    AcquireSRWLockExclusive(&g_send);
    s = g_sock;
    g_sock = INVALID_SOCKET;
    ReleaseSRWLockExclusive(&g_send);
    if (s == INVALID_SOCKET)
        return;
    closesocket(s);
    tsp_log("bridge connection lost");
    AcquireSRWLockExclusive(&g_cb);
    expire_requests(1);
    /* Call ids belong to one bridge connection: end every live call. */
    for (i = 0; i < MAX_CALLS; i++) {
        int live;
        AcquireSRWLockExclusive(&g_state);
        live = g_calls[i].used && g_calls[i].ready && !g_calls[i].closed && g_calls[i].bridge_id != 0 &&
               g_calls[i].state != LINECALLSTATE_IDLE;
        g_calls[i].bridge_id = 0;
        ReleaseSRWLockExclusive(&g_state);
        if (live) {
            raise_call_state(i, LINECALLSTATE_DISCONNECTED, LINEDISCONNECTMODE_UNAVAIL, LINEMEDIAMODE_INTERACTIVEVOICE);
            raise_call_state(i, LINECALLSTATE_IDLE, 0, LINEMEDIAMODE_INTERACTIVEVOICE);
        }
    }
    set_service(-1, 0);
    ReleaseSRWLockExclusive(&g_cb);
}

static int try_connect(void)
{
    char host[384], port[16];
    struct addrinfo hints, *res = NULL, *ai;
    SOCKET s = INVALID_SOCKET;
    wide_to_utf8(cfg.host, host, sizeof host);
    snprintf(port, sizeof port, "%lu", (unsigned long)cfg.port);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        u_long nonblocking = 1;
        fd_set wr, ex;
        struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
        s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s == INVALID_SOCKET)
            continue;
        ioctlsocket(s, FIONBIO, &nonblocking);
        if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 && WSAGetLastError() != WSAEWOULDBLOCK) {
            closesocket(s);
            s = INVALID_SOCKET;
            continue;
        }
        FD_ZERO(&wr);
        FD_ZERO(&ex);
        FD_SET(s, &wr);
        FD_SET(s, &ex);
        if (select(0, NULL, &wr, &ex, &tv) != 1 || !FD_ISSET(s, &wr)) {
            closesocket(s);
            s = INVALID_SOCKET;
            continue;
        }
        nonblocking = 0;
        ioctlsocket(s, FIONBIO, &nonblocking);
        break;
    }
    freeaddrinfo(res);
    if (s == INVALID_SOCKET)
        return -1;
    {
        BOOL yes = TRUE;
        DWORD send_timeout = 5000;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&yes, sizeof yes);
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&send_timeout, sizeof send_timeout);
    }
    AcquireSRWLockExclusive(&g_send);
    g_sock = s;
    ReleaseSRWLockExclusive(&g_send);
    tsp_log("connected to the bridge");
    send_hello();
    return 0;
}

static void sleep_unless_stopped(DWORD ms)
{
    while (ms > 0 && !g_stop) {
        DWORD step = ms < 50 ? ms : 50;
        Sleep(step);
        ms -= step;
    }
}

DWORD WINAPI reader_main(LPVOID unused)
{
    static char buf[4 + MAX_FRAME];
    size_t have = 0;
    (void)unused;
    while (!g_stop) {
        SOCKET s;
        fd_set rd;
        struct timeval tv = {0, 100000};
        int n;
        AcquireSRWLockShared(&g_send);
        s = g_sock;
        ReleaseSRWLockShared(&g_send);
        if (s == INVALID_SOCKET) {
            have = 0;
            if (try_connect() != 0)
                sleep_unless_stopped(cfg.reconnect_ms);
            AcquireSRWLockExclusive(&g_cb);
            expire_requests(0);
            ReleaseSRWLockExclusive(&g_cb);
            continue;
        }
        FD_ZERO(&rd);
        FD_SET(s, &rd);
        n = select(0, &rd, NULL, NULL, &tv);
        if (n > 0) {
            n = recv(s, buf + have, (int)(sizeof buf - have), 0);
            if (n <= 0) {
                drop_connection();
                continue;
            }
            have += (size_t)n;
            for (;;) {
                size_t len;
                if (have < 4)
                    break;
                len = (size_t)(unsigned char)buf[0] | ((size_t)(unsigned char)buf[1] << 8) |
                      ((size_t)(unsigned char)buf[2] << 16) | ((size_t)(unsigned char)buf[3] << 24);
                if (len == 0 || len > MAX_FRAME) {
                    tsp_log("frame length %lu out of range: disconnecting", (unsigned long)len);
                    drop_connection();
                    have = 0;
                    break;
                }
                if (have < 4 + len)
                    break;
                AcquireSRWLockExclusive(&g_cb);
                handle_message(buf + 4, len);
                ReleaseSRWLockExclusive(&g_cb);
                memmove(buf, buf + 4 + len, have - 4 - len);
                have -= 4 + len;
            }
        } else if (n < 0) {
            drop_connection();
            continue;
        }
        AcquireSRWLockExclusive(&g_cb);
        expire_requests(0);
        ReleaseSRWLockExclusive(&g_cb);
    }
    return 0;
}
