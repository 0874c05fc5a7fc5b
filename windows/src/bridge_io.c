/* Bridge I/O: the loopback TCP link, framing, the outgoing messages and the
 * reader thread that turns incoming frames into handle_message calls. */
#include "tsp.h"

/* ---------------------------------------------------------------- transport */

/* The send queue (guarded by g_send). The socket is non-blocking: a frame
 * goes out at once when the bridge keeps up, the rest waits here and the
 * reader thread sends it when the socket is writable. A TAPISRV thread never
 * waits for the bridge (a stalled one just fills the queue). */
static char g_queue[SEND_QUEUE];
static size_t g_queued;
static int g_send_broken;
static int g_send_blocked; /* the socket said WOULDBLOCK: wait for the reader's select */

/* Caller holds g_send. Sends what the socket takes now; 0, or -1 on a dead link. */
static int flush_locked(void)
{
    while (g_queued > 0 && !g_send_broken && !g_send_blocked) {
        int n = send(g_sock, g_queue, (int)g_queued, 0);
        if (n > 0) {
            memmove(g_queue, g_queue + n, g_queued - (size_t)n);
            g_queued -= (size_t)n;
        } else if (n < 0 && WSAGetLastError() == WSAEWOULDBLOCK) {
            g_send_blocked = 1;
        } else {
            g_send_broken = 1;
        }
    }
    return g_send_broken ? -1 : 0;
}

/* The reader thread's turn (writable: select said the socket takes bytes again):
 * flush, and say whether bytes still wait (1), none (0) or the link broke (-1). */
int flush_send_queue(int writable)
{
    int rc;
    AcquireSRWLockExclusive(&g_send);
    if (writable)
        g_send_blocked = 0;
    rc = g_sock == INVALID_SOCKET ? 0 : flush_locked();
    if (rc == 0 && g_queued > 0)
        rc = 1;
    ReleaseSRWLockExclusive(&g_send);
    return rc;
}

/* Queues one frame and sends what it can; 0, SEND_NOLINK or SEND_FULL. Never blocks. */
int send_frame(const char *json, size_t len)
{
    int rc = SEND_NOLINK;
    if (len == 0 || len > MAX_FRAME)
        return SEND_NOLINK;
    AcquireSRWLockExclusive(&g_send);
    if (g_sock != INVALID_SOCKET && !g_send_broken) {
        if (g_queued + 4 + len > sizeof g_queue) {
            rc = SEND_FULL;
        } else {
            unsigned char *h = (unsigned char *)g_queue + g_queued;
            h[0] = (unsigned char)(len & 0xFF);
            h[1] = (unsigned char)((len >> 8) & 0xFF);
            h[2] = (unsigned char)((len >> 16) & 0xFF);
            h[3] = (unsigned char)((len >> 24) & 0xFF);
            memcpy(g_queue + g_queued + 4, json, len);
            g_queued += 4 + len;
            rc = flush_locked() == 0 ? 0 : SEND_NOLINK;
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

/* LinkToken (REG_SZ) from the configuration key, as UTF-8; empty when unset.
 * Read at every hello, so a new token written by the installer needs no restart. */
static void link_token(char *out, size_t size)
{
    wchar_t token[130];
    DWORD type, bytes = sizeof token - sizeof(wchar_t);
    HKEY key;
    out[0] = 0;
    memset(token, 0, sizeof token);
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) != ERROR_SUCCESS)
        return;
    if (RegQueryValueExW(key, L"LinkToken", NULL, &type, (BYTE *)token, &bytes) == ERROR_SUCCESS && type == REG_SZ)
        wide_to_utf8(token, out, (int)size);
    RegCloseKey(key);
    SecureZeroMemory(token, sizeof token);
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
    {
        char token[400];
        link_token(token, sizeof token);
        if (token[0]) {
            jw_key(&w, "token");
            jw_string(&w, token);
        }
        SecureZeroMemory(token, sizeof token);
    }
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
    g_queued = 0;
    ReleaseSRWLockExclusive(&g_send);
    if (s == INVALID_SOCKET)
        return;
    closesocket(s);
    tsp_log("bridge connection lost");
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
        break; /* stays non-blocking: see the send queue */
    }
    freeaddrinfo(res);
    if (s == INVALID_SOCKET)
        return -1;
    {
        BOOL yes = TRUE;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&yes, sizeof yes);
    }
    AcquireSRWLockExclusive(&g_send);
    g_sock = s;
    g_queued = 0;
    g_send_broken = 0;
    g_send_blocked = 0;
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

/* Reads what is there and handles every complete frame; -1 when the link must go. */
static int read_frames(SOCKET s, char *buf, size_t size, size_t *have)
{
    int n = recv(s, buf + *have, (int)(size - *have), 0);
    if (n < 0 && WSAGetLastError() == WSAEWOULDBLOCK)
        return 0;
    if (n <= 0)
        return -1;
    *have += (size_t)n;
    for (;;) {
        size_t len;
        if (*have < 4)
            return 0;
        len = (size_t)(unsigned char)buf[0] | ((size_t)(unsigned char)buf[1] << 8) |
              ((size_t)(unsigned char)buf[2] << 16) | ((size_t)(unsigned char)buf[3] << 24);
        if (len == 0 || len > MAX_FRAME) {
            tsp_log("frame length %lu out of range: disconnecting", (unsigned long)len);
            return -1;
        }
        if (*have < 4 + len)
            return 0;
        handle_message(buf + 4, len);
        memmove(buf, buf + 4 + len, *have - 4 - len);
        *have -= 4 + len;
    }
}

DWORD WINAPI reader_main(LPVOID unused)
{
    static char buf[4 + MAX_FRAME];
    size_t have = 0;
    (void)unused;
    while (!g_stop) {
        SOCKET s;
        fd_set rd, wr;
        struct timeval tv = {0, 50000};
        int n, pending;
        AcquireSRWLockShared(&g_send);
        s = g_sock;
        ReleaseSRWLockShared(&g_send);
        if (s == INVALID_SOCKET) {
            have = 0;
            if (try_connect() != 0)
                sleep_unless_stopped(cfg.reconnect_ms);
            expire_requests(0);
            continue;
        }
        pending = flush_send_queue(0);
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(s, &rd);
        if (pending > 0)
            FD_SET(s, &wr);
        n = pending < 0 ? -1 : select(0, &rd, pending > 0 ? &wr : NULL, NULL, &tv);
        if (n > 0 && pending > 0 && FD_ISSET(s, &wr))
            n = flush_send_queue(1) < 0 ? -1 : n;
        if (n < 0 || (n > 0 && FD_ISSET(s, &rd) && read_frames(s, buf, sizeof buf, &have) < 0)) {
            drop_connection();
            have = 0;
            continue;
        }
        expire_requests(0);
        digits_pump_all();
    }
    return 0;
}
