/*
 * tapievent.tsp - a thin TAPI service provider that mirrors the tapievent bridge.
 *
 * Why this shape (docs/tsp.md): the Telephony service loads a TSP into a shared
 * svchost, so this DLL keeps no protocol logic. It keeps TAPI's handle tables,
 * does the LINE_NEWCALL handshake, answers every synchronous getter from a local
 * cache, and forwards requests to the Python bridge over loopback TCP (uint32
 * little-endian length + UTF-8 JSON, protocol version 1). One reader thread owns
 * the connection and turns bridge messages into LINEEVENT / ASYNC_COMPLETION
 * calls; it is the only thread that raises events, except lineCloseCall which
 * completes its own call's outstanding requests before returning.
 *
 * Locks: g_cb serialises every callback into TAPI (TAPI forbids re-entrant
 * LINEEVENT/ASYNC_COMPLETION and lineCloseCall must be able to wait for an
 * in-flight one); g_state guards the tables and is never held across a
 * callback; g_send guards the socket for writers. Order: g_cb, then g_state,
 * then g_send. All are SRWLOCKs so nothing needs initialising in DllMain.
 */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <tapi.h>
#include <tspi.h>

#include "json.h"

#define SHIM_VERSION "0.1.0"
#define PROTOCOL_VERSION 1
#define TSPI_LOW 0x00020000
#define TSPI_HIGH 0x00020002 /* never above 2.2: TAPI 3.x structure layouts are not served */
#define MAX_LINES 32
#define MAX_CALLS 128
#define MAX_REQS 128
#define MAX_FRAME 65536
#define NAME_CHARS 64
#define CONNECT_TIMEOUT_MS 2000
#define ALL_CALL_STATES 0xFFFF
#define ALL_DISCONNECT_MODES 0xFFFFF
#define REG_KEY L"Software\\tapievent\\TSP"

enum req_kind { REQ_MAKECALL = 1, REQ_DROP, REQ_TRANSFER, REQ_GENERATE };

typedef struct line_slot {
    wchar_t name[NAME_CHARS];
    char name_utf8[NAME_CHARS * 3];
    int open;
    HTAPILINE ht;
    LINEEVENT proc;
    int in_service;
    DWORD status_msgs;
    DWORD media_modes;
} line_slot;

typedef struct call_slot {
    int used;
    unsigned gen;
    int line;
    HTAPICALL ht;
    unsigned long bridge_id; /* 0 until the bridge named the call */
    int ready;               /* events may be raised (handshake or async completion done) */
    int closed;              /* lineCloseCall seen: nothing more may be raised */
    DWORD state, mode, media, origin, reason;
    SYSTEMTIME state_time;
    wchar_t caller_num[NAME_CHARS], caller_name[NAME_CHARS];
    wchar_t called_num[NAME_CHARS];
    wchar_t connected_num[NAME_CHARS], connected_name[NAME_CHARS];
} call_slot;

typedef struct req_slot {
    int used;
    unsigned long seq;
    int kind;
    DRV_REQUESTID tapi_id;
    int call;
    DWORD e2e;
    DWORD deadline;
} req_slot;

static HINSTANCE g_module;
static SRWLOCK g_cb = SRWLOCK_INIT;
static SRWLOCK g_state = SRWLOCK_INIT;
static SRWLOCK g_send = SRWLOCK_INIT;
static SRWLOCK g_log = SRWLOCK_INIT;

static struct {
    wchar_t host[128];
    DWORD port;
    DWORD reconnect_ms;
    DWORD timeout_ms;
    wchar_t log_file[MAX_PATH];
    int nlines;
} cfg;

static line_slot g_lines[MAX_LINES];
static call_slot g_calls[MAX_CALLS];
static req_slot g_reqs[MAX_REQS];
static unsigned long g_seq;
static unsigned g_gen;
static int g_initialised;
static DWORD g_version = TSPI_HIGH;
static DWORD g_provider_id;
static DWORD g_line_base;
static ASYNC_COMPLETION g_complete;
static SOCKET g_sock = INVALID_SOCKET;
static volatile LONG g_stop;
static HANDLE g_thread;

/* ------------------------------------------------------------------ helpers */

static void tsp_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n = snprintf(line, sizeof line, "tapievent.tsp: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    OutputDebugStringA(line);
    if (cfg.log_file[0]) {
        FILE *f;
        AcquireSRWLockExclusive(&g_log);
        f = _wfopen(cfg.log_file, L"a");
        if (f) {
            SYSTEMTIME t;
            GetLocalTime(&t);
            fprintf(f, "%02u:%02u:%02u.%03u %s\n", t.wHour, t.wMinute, t.wSecond, t.wMilliseconds, line);
            fclose(f);
        }
        ReleaseSRWLockExclusive(&g_log);
    }
}

/* UTF-8 -> UTF-16, truncated (never split mid-character) to fit dst. */
static void utf8_to_wide(const char *src, wchar_t *dst, int dst_chars)
{
    int need;
    dst[0] = 0;
    if (!src || !*src)
        return;
    need = MultiByteToWideChar(CP_UTF8, 0, src, -1, NULL, 0);
    if (need <= 0)
        return;
    if (need <= dst_chars) {
        MultiByteToWideChar(CP_UTF8, 0, src, -1, dst, dst_chars);
    } else {
        wchar_t *tmp = HeapAlloc(GetProcessHeap(), 0, (size_t)need * sizeof(wchar_t));
        int n = dst_chars - 1;
        if (!tmp)
            return;
        MultiByteToWideChar(CP_UTF8, 0, src, -1, tmp, need);
        if (n > 0 && tmp[n - 1] >= 0xD800 && tmp[n - 1] <= 0xDBFF)
            n--;
        memcpy(dst, tmp, (size_t)n * sizeof(wchar_t));
        dst[n] = 0;
        HeapFree(GetProcessHeap(), 0, tmp);
    }
}

static void wide_to_utf8(const wchar_t *src, char *dst, int dst_bytes)
{
    dst[0] = 0;
    if (src && *src && WideCharToMultiByte(CP_UTF8, 0, src, -1, dst, dst_bytes, NULL, NULL) <= 0)
        dst[0] = 0;
}

static DWORD str_format_unicode_bytes(const wchar_t *s)
{
    return (DWORD)((wcslen(s) + 1) * sizeof(wchar_t));
}

/* Variable part of a TAPI structure: dwTotalSize is the caller's, data goes
 * after the fixed part, dwNeededSize counts everything even when it does not fit. */
typedef struct var_builder {
    BYTE *base;
    DWORD total, used, needed;
} var_builder;

static void vb_init(var_builder *vb, void *structure, DWORD fixed)
{
    vb->base = structure;
    vb->total = *(DWORD *)structure;
    vb->used = fixed;
    vb->needed = fixed;
    memset(vb->base + sizeof(DWORD), 0, fixed - sizeof(DWORD));
}

static void vb_bytes(var_builder *vb, DWORD *size_field, DWORD *offset_field, const void *data, DWORD len)
{
    vb->needed += len;
    if (vb->used + len <= vb->total) {
        memcpy(vb->base + vb->used, data, len);
        *size_field = len;
        *offset_field = vb->used;
        vb->used += len;
    }
}

static void vb_wstr(var_builder *vb, DWORD *size_field, DWORD *offset_field, const wchar_t *s)
{
    if (s && *s)
        vb_bytes(vb, size_field, offset_field, s, str_format_unicode_bytes(s));
}

static void vb_done(var_builder *vb)
{
    ((DWORD *)vb->base)[1] = vb->needed; /* dwNeededSize */
    ((DWORD *)vb->base)[2] = vb->used;   /* dwUsedSize */
}

/* HDRVLINE is index + 1; HDRVCALL packs a generation so a stale handle is refused. */
static HDRVLINE line_handle(int idx) { return (HDRVLINE)(DWORD_PTR)(idx + 1); }

static int line_index(HDRVLINE hd)
{
    DWORD_PTR v = (DWORD_PTR)hd;
    return (v >= 1 && v <= (DWORD_PTR)cfg.nlines) ? (int)v - 1 : -1;
}

static HDRVCALL call_handle(int idx) { return (HDRVCALL)(DWORD_PTR)(((DWORD_PTR)g_calls[idx].gen << 16) | (DWORD_PTR)(idx + 1)); }

/* Caller holds g_state. */
static int call_index(HDRVCALL hd)
{
    DWORD_PTR v = (DWORD_PTR)hd;
    DWORD_PTR idx = (v & 0xFFFF) - 1;
    if ((v & 0xFFFF) == 0 || idx >= MAX_CALLS || !g_calls[idx].used || g_calls[idx].closed ||
        (v >> 16) != g_calls[idx].gen)
        return -1;
    return (int)idx;
}

/* Caller holds g_state. */
static int call_alloc(int line)
{
    int i;
    for (i = 0; i < MAX_CALLS; i++) {
        if (!g_calls[i].used) {
            memset(&g_calls[i], 0, sizeof g_calls[i]);
            g_calls[i].used = 1;
            g_gen = (g_gen % 0x7FFF) + 1;
            g_calls[i].gen = g_gen;
            g_calls[i].line = line;
            g_calls[i].media = LINEMEDIAMODE_INTERACTIVEVOICE;
            g_calls[i].origin = LINECALLORIGIN_UNKNOWN;
            g_calls[i].reason = LINECALLREASON_UNKNOWN;
            GetSystemTime(&g_calls[i].state_time);
            return i;
        }
    }
    return -1;
}

/* Caller holds g_state. */
static int call_by_bridge_id(unsigned long id)
{
    int i;
    for (i = 0; i < MAX_CALLS; i++)
        if (id && g_calls[i].used && !g_calls[i].closed && g_calls[i].bridge_id == id)
            return i;
    return -1;
}

static int line_by_name(const char *utf8)
{
    int i;
    for (i = 0; utf8 && i < cfg.nlines; i++)
        if (strcmp(g_lines[i].name_utf8, utf8) == 0)
            return i;
    return -1;
}

static int device_index(DWORD device_id)
{
    return (device_id >= g_line_base && device_id - g_line_base < (DWORD)cfg.nlines) ? (int)(device_id - g_line_base) : -1;
}

/* ------------------------------------------------------------ configuration */

static void reg_string(HKEY key, const wchar_t *name, wchar_t *out, DWORD chars)
{
    DWORD type, size = chars * sizeof(wchar_t);
    wchar_t tmp[512];
    if (size > sizeof tmp)
        size = sizeof tmp;
    if (key && RegQueryValueExW(key, name, NULL, &type, (BYTE *)tmp, &size) == ERROR_SUCCESS &&
        (type == REG_SZ || type == REG_EXPAND_SZ) && size >= sizeof(wchar_t)) {
        tmp[size / sizeof(wchar_t) - 1] = 0;
        tmp[sizeof tmp / sizeof tmp[0] - 1] = 0;
        wcsncpy(out, tmp, chars - 1);
        out[chars - 1] = 0;
    }
}

static void reg_dword(HKEY key, const wchar_t *name, DWORD *out, DWORD lo, DWORD hi)
{
    DWORD type, value, size = sizeof value;
    if (key && RegQueryValueExW(key, name, NULL, &type, (BYTE *)&value, &size) == ERROR_SUCCESS &&
        type == REG_DWORD && value >= lo && value <= hi)
        *out = value;
}

/* HKLM\Software\tapievent\TSP: BridgeHost, BridgePort, Lines (REG_MULTI_SZ),
 * ReconnectMs, RequestTimeoutMs, LogFile. Missing or bad values keep defaults. */
static void load_config(void)
{
    HKEY key = NULL;
    wcscpy(cfg.host, L"127.0.0.1");
    cfg.port = 5070;
    cfg.reconnect_ms = 2000;
    cfg.timeout_ms = 30000;
    cfg.log_file[0] = 0;
    cfg.nlines = 0;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) != ERROR_SUCCESS)
        key = NULL;
    reg_string(key, L"BridgeHost", cfg.host, 128);
    reg_dword(key, L"BridgePort", &cfg.port, 1, 65535);
    reg_dword(key, L"ReconnectMs", &cfg.reconnect_ms, 50, 600000);
    reg_dword(key, L"RequestTimeoutMs", &cfg.timeout_ms, 100, 600000);
    reg_string(key, L"LogFile", cfg.log_file, MAX_PATH);
    if (key) {
        wchar_t multi[MAX_LINES * NAME_CHARS + 2];
        DWORD type, size = sizeof multi - 2 * sizeof(wchar_t);
        memset(multi, 0, sizeof multi);
        if (RegQueryValueExW(key, L"Lines", NULL, &type, (BYTE *)multi, &size) == ERROR_SUCCESS && type == REG_MULTI_SZ) {
            const wchar_t *p = multi;
            while (*p && cfg.nlines < MAX_LINES) {
                size_t n = wcslen(p);
                if (n < NAME_CHARS) {
                    wcscpy(g_lines[cfg.nlines].name, p);
                    cfg.nlines++;
                } else {
                    tsp_log("line name too long, ignored");
                }
                p += n + 1;
            }
        }
        RegCloseKey(key);
    }
    if (cfg.nlines == 0) {
        wcscpy(g_lines[0].name, L"line_1");
        cfg.nlines = 1;
    }
    {
        int i;
        for (i = 0; i < cfg.nlines; i++) {
            wide_to_utf8(g_lines[i].name, g_lines[i].name_utf8, sizeof g_lines[i].name_utf8);
            g_lines[i].open = 0;
            g_lines[i].in_service = 0;
        }
    }
}

/* ---------------------------------------------------------------- transport */

/* Sends one frame; returns 0, or -1 when there is no connection or it failed. */
static int send_frame(const char *json, size_t len)
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

static void begin_message(json_writer *w, char *buf, size_t size, const char *type)
{
    jw_init(w, buf, size);
    jw_raw(w, "{\"v\":1");
    jw_key(w, "type");
    jw_string(w, type);
}

static int finish_message(json_writer *w)
{
    jw_raw(w, "}");
    if (w->overflow)
        return -1;
    return send_frame(w->buf, w->len);
}

static void send_close_call(unsigned long bridge_id)
{
    char buf[128];
    json_writer w;
    begin_message(&w, buf, sizeof buf, "close_call");
    jw_key(&w, "call");
    jw_uint(&w, bridge_id);
    finish_message(&w);
}

static void send_hello(void)
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

/* -------------------------------------------------------------- raising events */

/* Raises a line event for call idx (or the line when idx < 0). Caller holds g_cb
 * and NOT g_state. Nothing is raised for a closed line or a closed/unready call. */
static void raise_event(int line, int idx, DWORD msg, DWORD_PTR p1, DWORD_PTR p2, DWORD_PTR p3)
{
    LINEEVENT proc = NULL;
    HTAPILINE htl = NULL;
    HTAPICALL htc = NULL;
    AcquireSRWLockExclusive(&g_state);
    if (line >= 0 && line < cfg.nlines && g_lines[line].open) {
        proc = g_lines[line].proc;
        htl = g_lines[line].ht;
        if (idx >= 0) {
            if (!g_calls[idx].used || g_calls[idx].closed || !g_calls[idx].ready)
                proc = NULL;
            else
                htc = g_calls[idx].ht;
        }
    }
    ReleaseSRWLockExclusive(&g_state);
    if (proc)
        proc(htl, htc, msg, p1, p2, p3);
}

static void raise_call_state(int idx, DWORD state, DWORD mode, DWORD media)
{
    int line;
    AcquireSRWLockExclusive(&g_state);
    g_calls[idx].state = state;
    g_calls[idx].mode = mode;
    g_calls[idx].media = media;
    GetSystemTime(&g_calls[idx].state_time);
    line = g_calls[idx].line;
    ReleaseSRWLockExclusive(&g_state);
    raise_event(line, idx, LINE_CALLSTATE, state, mode, media);
}

static void complete(DRV_REQUESTID id, LONG result)
{
    if (g_complete)
        g_complete(id, result);
}

/* Caller holds g_cb. Sets the service state of one line (or all, line < 0)
 * and raises LINE_LINEDEVSTATE on the open lines whose state changed. */
static void set_service(int line, int in_service)
{
    int i;
    for (i = 0; i < cfg.nlines; i++) {
        int changed, wanted;
        if (line >= 0 && i != line)
            continue;
        AcquireSRWLockExclusive(&g_state);
        changed = g_lines[i].in_service != in_service;
        g_lines[i].in_service = in_service;
        wanted = g_lines[i].status_msgs & (in_service ? LINEDEVSTATE_INSERVICE : LINEDEVSTATE_OUTOFSERVICE);
        ReleaseSRWLockExclusive(&g_state);
        if (changed && wanted)
            raise_event(i, -1, LINE_LINEDEVSTATE, in_service ? LINEDEVSTATE_INSERVICE : LINEDEVSTATE_OUTOFSERVICE, 0, 0);
    }
}

/* Caller holds g_cb. Ends a request: ASYNC_COMPLETION, or LINE_GENERATE for digits. */
static void finish_request(req_slot r, LONG result)
{
    if (r.kind == REQ_GENERATE) {
        int line = -1;
        AcquireSRWLockExclusive(&g_state);
        if (g_calls[r.call].used)
            line = g_calls[r.call].line;
        ReleaseSRWLockExclusive(&g_state);
        raise_event(line, r.call, LINE_GENERATE, result == 0 ? LINEGENERATETERM_DONE : LINEGENERATETERM_CANCEL, r.e2e,
                    GetTickCount());
        return;
    }
    if (r.kind == REQ_MAKECALL && result != 0) {
        /* TAPI discards a call whose lineMakeCall failed: free the slot first. */
        AcquireSRWLockExclusive(&g_state);
        if (g_calls[r.call].used)
            g_calls[r.call].used = 0;
        ReleaseSRWLockExclusive(&g_state);
    }
    complete(r.tapi_id, result);
}

/* Caller holds g_state. Registers a request; returns its sequence number or 0 when full. */
static unsigned long req_add(int kind, DRV_REQUESTID tapi_id, int call, DWORD e2e)
{
    int i;
    for (i = 0; i < MAX_REQS; i++) {
        if (!g_reqs[i].used) {
            g_seq = (g_seq % 0x7FFFFFFF) + 1;
            g_reqs[i].used = 1;
            g_reqs[i].seq = g_seq;
            g_reqs[i].kind = kind;
            g_reqs[i].tapi_id = tapi_id;
            g_reqs[i].call = call;
            g_reqs[i].e2e = e2e;
            g_reqs[i].deadline = GetTickCount() + cfg.timeout_ms;
            return g_seq;
        }
    }
    return 0;
}

/* Caller holds g_state. Removes and returns request seq. */
static int req_take(unsigned long seq, req_slot *out)
{
    int i;
    for (i = 0; i < MAX_REQS; i++) {
        if (g_reqs[i].used && g_reqs[i].seq == seq) {
            *out = g_reqs[i];
            g_reqs[i].used = 0;
            return 0;
        }
    }
    return -1;
}

/* Caller holds g_cb. Fails requests past their deadline (all of them when all != 0). */
static void expire_requests(int all)
{
    req_slot taken[MAX_REQS];
    int n = 0, i;
    DWORD now = GetTickCount();
    AcquireSRWLockExclusive(&g_state);
    for (i = 0; i < MAX_REQS; i++) {
        if (g_reqs[i].used && (all || (LONG)(now - g_reqs[i].deadline) >= 0)) {
            taken[n++] = g_reqs[i];
            g_reqs[i].used = 0;
        }
    }
    ReleaseSRWLockExclusive(&g_state);
    for (i = 0; i < n; i++) {
        tsp_log("request %lu failed (%s)", taken[i].seq, all ? "bridge lost" : "timeout");
        finish_request(taken[i], LINEERR_OPERATIONFAILED);
    }
}

/* ------------------------------------------------------- bridge -> TAPI events */

static void on_new_call(const json_object *m)
{
    long long id = 0, state = LINECALLSTATE_OFFERING, mode = 0, media = LINEMEDIAMODE_INTERACTIVEVOICE, origin = LINECALLORIGIN_UNKNOWN;
    int line = line_by_name(json_get_str(m, "line")), idx;
    HDRVCALL hd;
    HTAPICALL ht = NULL;
    LINEEVENT proc;
    HTAPILINE htl;
    if (json_get_int(m, "call", &id) || id <= 0 || id > 0xFFFFFFFFLL) {
        tsp_log("new_call without a call id");
        return;
    }
    json_get_int(m, "state", &state);
    json_get_int(m, "mode", &mode);
    json_get_int(m, "media_mode", &media);
    json_get_int(m, "origin", &origin);
    AcquireSRWLockExclusive(&g_state);
    if (line < 0 || !g_lines[line].open || call_by_bridge_id((unsigned long)id) >= 0 ||
        (idx = call_alloc(line)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        send_close_call((unsigned long)id);
        return;
    }
    g_calls[idx].bridge_id = (unsigned long)id;
    g_calls[idx].origin = (DWORD)origin;
    g_calls[idx].reason = LINECALLREASON_DIRECT;
    utf8_to_wide(json_get_str(m, "caller_number"), g_calls[idx].caller_num, NAME_CHARS);
    utf8_to_wide(json_get_str(m, "caller_name"), g_calls[idx].caller_name, NAME_CHARS);
    utf8_to_wide(json_get_str(m, "called_number"), g_calls[idx].called_num, NAME_CHARS);
    hd = call_handle(idx);
    proc = g_lines[line].proc;
    htl = g_lines[line].ht;
    ReleaseSRWLockExclusive(&g_state);
    /* The handshake: TAPI writes its HTAPICALL through the pointer in dwParam2
     * during the callback. A 64-bit pointer, hence DWORD_PTR all the way. */
    proc(htl, NULL, LINE_NEWCALL, (DWORD_PTR)hd, (DWORD_PTR)&ht, 0);
    AcquireSRWLockExclusive(&g_state);
    if (ht == NULL) {
        g_calls[idx].used = 0; /* TAPI is backlogged: it will never know this call */
        ReleaseSRWLockExclusive(&g_state);
        tsp_log("LINE_NEWCALL refused for call %lld", id);
        send_close_call((unsigned long)id);
        return;
    }
    g_calls[idx].ht = ht;
    g_calls[idx].ready = 1;
    ReleaseSRWLockExclusive(&g_state);
    raise_call_state(idx, (DWORD)state, (DWORD)mode, (DWORD)media);
}

static int call_of_message(const json_object *m)
{
    long long id;
    int idx;
    if (json_get_int(m, "call", &id) || id <= 0 || id > 0xFFFFFFFFLL)
        return -1;
    AcquireSRWLockExclusive(&g_state);
    idx = call_by_bridge_id((unsigned long)id);
    if (idx >= 0 && !g_calls[idx].ready)
        idx = -1;
    ReleaseSRWLockExclusive(&g_state);
    return idx;
}

static void on_call_state(const json_object *m)
{
    long long state = 0, mode = 0, media = LINEMEDIAMODE_INTERACTIVEVOICE;
    int idx = call_of_message(m);
    if (idx < 0 || json_get_int(m, "state", &state))
        return;
    json_get_int(m, "mode", &mode);
    json_get_int(m, "media_mode", &media);
    raise_call_state(idx, (DWORD)state, (DWORD)mode, (DWORD)media);
    if (state == LINECALLSTATE_IDLE) {
        /* The bridge forgets the id after IDLE; requests for the call now fail locally. */
        AcquireSRWLockExclusive(&g_state);
        g_calls[idx].bridge_id = 0;
        ReleaseSRWLockExclusive(&g_state);
    }
}

static void on_call_info(const json_object *m)
{
    long long info = 0;
    int idx = call_of_message(m), line;
    const char *s;
    if (idx < 0 || json_get_int(m, "info_state", &info))
        return;
    AcquireSRWLockExclusive(&g_state);
    if ((s = json_get_str(m, "caller_number")) != NULL)
        utf8_to_wide(s, g_calls[idx].caller_num, NAME_CHARS);
    if ((s = json_get_str(m, "caller_name")) != NULL)
        utf8_to_wide(s, g_calls[idx].caller_name, NAME_CHARS);
    if ((s = json_get_str(m, "connected_number")) != NULL)
        utf8_to_wide(s, g_calls[idx].connected_num, NAME_CHARS);
    if ((s = json_get_str(m, "connected_name")) != NULL)
        utf8_to_wide(s, g_calls[idx].connected_name, NAME_CHARS);
    line = g_calls[idx].line;
    ReleaseSRWLockExclusive(&g_state);
    raise_event(line, idx, LINE_CALLINFO, (DWORD)info, 0, 0);
}

static void on_reply(const json_object *m)
{
    long long seq = 0, result = 0, call = 0;
    req_slot r;
    if (json_get_int(m, "id", &seq) || json_get_int(m, "result", &result))
        return;
    AcquireSRWLockExclusive(&g_state);
    if (req_take((unsigned long)seq, &r)) {
        ReleaseSRWLockExclusive(&g_state);
        return; /* already timed out */
    }
    if (r.kind == REQ_MAKECALL && result == 0) {
        if (json_get_int(m, "call", &call) || call <= 0 || call > 0xFFFFFFFFLL) {
            result = (long long)(DWORD)LINEERR_OPERATIONFAILED;
        } else {
            g_calls[r.call].bridge_id = (unsigned long)call;
        }
    }
    ReleaseSRWLockExclusive(&g_state);
    finish_request(r, (LONG)(DWORD)result);
    if (r.kind == REQ_MAKECALL && result == 0) {
        /* Only now may events for the call be raised (TSPI_lineMakeCall rule). */
        AcquireSRWLockExclusive(&g_state);
        if (g_calls[r.call].used)
            g_calls[r.call].ready = 1;
        ReleaseSRWLockExclusive(&g_state);
    }
}

static void on_line_state(const json_object *m)
{
    long long state = 0;
    const char *name = json_get_str(m, "line");
    int line = -1;
    if (json_get_int(m, "state", &state))
        return;
    if (name && (line = line_by_name(name)) < 0)
        return;
    if (state == LINEDEVSTATE_INSERVICE)
        set_service(line, 1);
    else if (state == LINEDEVSTATE_OUTOFSERVICE)
        set_service(line, 0);
}

/* Caller holds g_cb. */
static void handle_message(const char *text, size_t len)
{
    static json_object m;
    static char scratch[MAX_FRAME + 1];
    long long v = 0;
    const char *type;
    if (json_parse_flat(text, len, &m, scratch, sizeof scratch)) {
        tsp_log("unreadable message from the bridge ignored");
        return;
    }
    if (json_get_int(&m, "v", &v) || v != PROTOCOL_VERSION) {
        tsp_log("message with protocol version %lld ignored (this shim speaks %d)", v, PROTOCOL_VERSION);
        return;
    }
    type = json_get_str(&m, "type");
    if (!type)
        return;
    if (strcmp(type, "welcome") == 0)
        set_service(-1, json_get_bool(&m, "in_service"));
    else if (strcmp(type, "line_state") == 0)
        on_line_state(&m);
    else if (strcmp(type, "new_call") == 0)
        on_new_call(&m);
    else if (strcmp(type, "call_state") == 0)
        on_call_state(&m);
    else if (strcmp(type, "call_info") == 0)
        on_call_info(&m);
    else if (strcmp(type, "reply") == 0)
        on_reply(&m);
    else if (strcmp(type, "error") == 0)
        tsp_log("bridge error: %s", json_get_str(&m, "message") ? json_get_str(&m, "message") : "?");
    /* unknown types are ignored so a newer bridge can add messages */
}

/* ------------------------------------------------------------ reader thread */

static void drop_connection(void)
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

static DWORD WINAPI reader_main(LPVOID unused)
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

/* ------------------------------------------------------------ TSPI: provider */

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        g_module = inst; /* nothing else: no threads, sockets or registry under the loader lock */
    return TRUE;
}

LONG WINAPI TSPI_lineNegotiateTSPIVersion(DWORD dwDeviceID, DWORD dwLowVersion, DWORD dwHighVersion, LPDWORD lpdwTSPIVersion)
{
    if (!lpdwTSPIVersion)
        return LINEERR_INVALPOINTER;
    if (dwDeviceID != INITIALIZE_NEGOTIATION && g_initialised && device_index(dwDeviceID) < 0)
        return LINEERR_BADDEVICEID;
    if (dwLowVersion > TSPI_HIGH || dwHighVersion < TSPI_LOW || dwLowVersion > dwHighVersion)
        return LINEERR_INCOMPATIBLEAPIVERSION;
    *lpdwTSPIVersion = dwHighVersion < TSPI_HIGH ? dwHighVersion : TSPI_HIGH;
    return 0;
}

LONG WINAPI TSPI_providerEnumDevices(DWORD dwPermanentProviderID, LPDWORD lpdwNumLines, LPDWORD lpdwNumPhones,
                                     HPROVIDER hProvider, LINEEVENT lpfnLineCreateProc, PHONEEVENT lpfnPhoneCreateProc)
{
    (void)hProvider;
    (void)lpfnLineCreateProc;
    (void)lpfnPhoneCreateProc;
    if (!lpdwNumLines || !lpdwNumPhones)
        return LINEERR_INVALPOINTER;
    if (!g_initialised)
        load_config();
    g_provider_id = dwPermanentProviderID;
    *lpdwNumLines = (DWORD)cfg.nlines;
    *lpdwNumPhones = 0;
    return 0;
}

LONG WINAPI TSPI_providerInit(DWORD dwTSPIVersion, DWORD dwPermanentProviderID, DWORD dwLineDeviceIDBase,
                              DWORD dwPhoneDeviceIDBase, DWORD_PTR dwNumLines, DWORD_PTR dwNumPhones,
                              ASYNC_COMPLETION lpfnCompletionProc, LPDWORD lpdwTSPIOptions)
{
    WSADATA wsa;
    (void)dwPhoneDeviceIDBase;
    (void)dwNumPhones;
    if (g_initialised)
        return LINEERR_NOMULTIPLEINSTANCE;
    if (!lpfnCompletionProc)
        return LINEERR_INVALPOINTER;
    load_config();
    if (dwNumLines < (DWORD_PTR)cfg.nlines)
        cfg.nlines = (int)dwNumLines; /* TAPI created fewer devices than we announced */
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return LINEERR_NODRIVER;
    memset(g_calls, 0, sizeof g_calls);
    memset(g_reqs, 0, sizeof g_reqs);
    g_version = dwTSPIVersion < TSPI_HIGH ? dwTSPIVersion : TSPI_HIGH;
    g_provider_id = dwPermanentProviderID;
    g_line_base = dwLineDeviceIDBase;
    g_complete = lpfnCompletionProc;
    if (lpdwTSPIOptions)
        *lpdwTSPIOptions = 0; /* re-entrant: locks above make every entry point thread-safe */
    g_stop = 0;
    g_thread = CreateThread(NULL, 0, reader_main, NULL, 0, NULL);
    if (!g_thread) {
        WSACleanup();
        return LINEERR_NOMEM;
    }
    g_initialised = 1;
    tsp_log("initialised: %d line(s), bridge %ls:%lu", cfg.nlines, cfg.host, (unsigned long)cfg.port);
    return 0;
}

LONG WINAPI TSPI_providerShutdown(DWORD dwTSPIVersion, DWORD dwPermanentProviderID)
{
    (void)dwTSPIVersion;
    (void)dwPermanentProviderID;
    if (!g_initialised)
        return 0;
    InterlockedExchange(&g_stop, 1);
    WaitForSingleObject(g_thread, INFINITE);
    CloseHandle(g_thread);
    g_thread = NULL;
    drop_connection();
    WSACleanup();
    g_initialised = 0;
    g_complete = NULL;
    tsp_log("shut down");
    return 0;
}

LONG WINAPI TSPI_providerUIIdentify(LPWSTR lpszUIDLLName)
{
    if (!lpszUIDLLName)
        return LINEERR_INVALPOINTER;
    /* TAPI passes a MAX_PATH buffer; the UI functions live in this same DLL. */
    if (GetModuleFileNameW(g_module, lpszUIDLLName, MAX_PATH) == 0)
        return LINEERR_OPERATIONFAILED;
    return 0;
}

LONG WINAPI TUISPI_providerConfig(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    wchar_t text[1024];
    (void)lpfnUIDLLCallback;
    (void)dwPermanentProviderID;
    load_config();
    _snwprintf(text, sizeof text / sizeof text[0] - 1,
               L"tapievent TSP %hs\n\n"
               L"Settings are read from the registry key\n  HKEY_LOCAL_MACHINE\\%ls\n\n"
               L"BridgeHost (REG_SZ) = %ls\nBridgePort (REG_DWORD) = %lu\n"
               L"Lines (REG_MULTI_SZ): %d line(s), the first is %ls\n"
               L"ReconnectMs = %lu, RequestTimeoutMs = %lu\n\n"
               L"Edit them with regedit, then restart the Telephony service.\n"
               L"See docs/tsp.md of tapievent.",
               SHIM_VERSION, REG_KEY, cfg.host, (unsigned long)cfg.port, cfg.nlines, g_lines[0].name,
               (unsigned long)cfg.reconnect_ms, (unsigned long)cfg.timeout_ms);
    text[sizeof text / sizeof text[0] - 1] = 0;
    MessageBoxW(hwndOwner, text, L"tapievent TSP", MB_OK | MB_ICONINFORMATION);
    return 0;
}

LONG WINAPI TUISPI_providerInstall(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    (void)lpfnUIDLLCallback;
    (void)hwndOwner;
    (void)dwPermanentProviderID;
    return 0;
}

LONG WINAPI TUISPI_providerRemove(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    (void)lpfnUIDLLCallback;
    (void)hwndOwner;
    (void)dwPermanentProviderID;
    return 0;
}

/* --------------------------------------------------------- TSPI: line device */

LONG WINAPI TSPI_lineOpen(DWORD dwDeviceID, HTAPILINE htLine, LPHDRVLINE lphdLine, DWORD dwTSPIVersion, LINEEVENT lpfnEventProc)
{
    int idx = device_index(dwDeviceID);
    (void)dwTSPIVersion;
    if (idx < 0)
        return LINEERR_BADDEVICEID;
    if (!lphdLine || !lpfnEventProc)
        return LINEERR_INVALPOINTER;
    AcquireSRWLockExclusive(&g_state);
    if (g_lines[idx].open) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_ALLOCATED;
    }
    g_lines[idx].open = 1;
    g_lines[idx].ht = htLine;
    g_lines[idx].proc = lpfnEventProc;
    g_lines[idx].status_msgs = 0xFFFFFFFF; /* until TAPI narrows it with lineSetStatusMessages */
    g_lines[idx].media_modes = 0;
    ReleaseSRWLockExclusive(&g_state);
    *lphdLine = line_handle(idx);
    return 0;
}

LONG WINAPI TSPI_lineClose(HDRVLINE hdLine)
{
    int idx = line_index(hdLine), i;
    unsigned long forget[MAX_CALLS];
    int n = 0;
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    AcquireSRWLockExclusive(&g_cb); /* waits for an in-flight event to this line */
    AcquireSRWLockExclusive(&g_state);
    g_lines[idx].open = 0;
    g_lines[idx].proc = NULL;
    for (i = 0; i < MAX_CALLS; i++) {
        if (g_calls[i].used && g_calls[i].line == idx) {
            if (g_calls[i].bridge_id)
                forget[n++] = g_calls[i].bridge_id;
            g_calls[i].used = 0;
        }
    }
    for (i = 0; i < MAX_REQS; i++)
        if (g_reqs[i].used && !g_calls[g_reqs[i].call].used)
            g_reqs[i].used = 0; /* TAPI closed the calls first; their requests die with them */
    ReleaseSRWLockExclusive(&g_state);
    ReleaseSRWLockExclusive(&g_cb);
    for (i = 0; i < n; i++)
        send_close_call(forget[i]);
    return 0;
}

static DWORD devcaps_fixed(DWORD version)
{
    return version >= 0x00020002 ? (DWORD)offsetof(LINEDEVCAPS, dwAddressTypes) : (DWORD)offsetof(LINEDEVCAPS, PermanentLineGuid);
}

LONG WINAPI TSPI_lineGetDevCaps(DWORD dwDeviceID, DWORD dwTSPIVersion, DWORD dwExtVersion, LPLINEDEVCAPS lpLineDevCaps)
{
    static const wchar_t classes[] = L"tapi/line\0"; /* a multi-string: the array adds the final NUL */
    int idx = device_index(dwDeviceID);
    DWORD fixed = devcaps_fixed(dwTSPIVersion);
    var_builder vb;
    (void)dwExtVersion;
    if (idx < 0)
        return LINEERR_BADDEVICEID;
    if (!lpLineDevCaps)
        return LINEERR_INVALPOINTER;
    if (lpLineDevCaps->dwTotalSize < fixed)
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpLineDevCaps, fixed);
    vb_wstr(&vb, &lpLineDevCaps->dwProviderInfoSize, &lpLineDevCaps->dwProviderInfoOffset,
            L"tapievent TSP " L"" SHIM_VERSION L" (Asterisk through the tapievent bridge)");
    vb_wstr(&vb, &lpLineDevCaps->dwLineNameSize, &lpLineDevCaps->dwLineNameOffset, g_lines[idx].name);
    lpLineDevCaps->dwPermanentLineID = ((g_provider_id & 0xFFFF) << 16) | (DWORD)idx;
    lpLineDevCaps->dwStringFormat = STRINGFORMAT_UNICODE;
    lpLineDevCaps->dwAddressModes = LINEADDRESSMODE_ADDRESSID;
    lpLineDevCaps->dwNumAddresses = 1;
    lpLineDevCaps->dwBearerModes = LINEBEARERMODE_VOICE;
    lpLineDevCaps->dwMediaModes = LINEMEDIAMODE_INTERACTIVEVOICE;
    lpLineDevCaps->dwGenerateDigitModes = LINEDIGITMODE_DTMF;
    lpLineDevCaps->dwDevCapFlags = LINEDEVCAPFLAGS_CLOSEDROP;
    lpLineDevCaps->dwMaxNumActiveCalls = 16;
    lpLineDevCaps->dwAnswerMode = LINEANSWERMODE_NONE;
    lpLineDevCaps->dwLineStates = LINEDEVSTATE_INSERVICE | LINEDEVSTATE_OUTOFSERVICE;
    lpLineDevCaps->dwLineFeatures = LINEFEATURE_MAKECALL;
    vb_bytes(&vb, &lpLineDevCaps->dwDeviceClassesSize, &lpLineDevCaps->dwDeviceClassesOffset, classes, sizeof classes);
    vb_done(&vb);
    return 0;
}

LONG WINAPI TSPI_lineGetAddressCaps(DWORD dwDeviceID, DWORD dwAddressID, DWORD dwTSPIVersion, DWORD dwExtVersion,
                                    LPLINEADDRESSCAPS lpAddressCaps)
{
    static const wchar_t classes[] = L"tapi/line\0";
    int idx = device_index(dwDeviceID);
    var_builder vb;
    (void)dwTSPIVersion;
    (void)dwExtVersion;
    if (idx < 0)
        return LINEERR_BADDEVICEID;
    if (dwAddressID != 0)
        return LINEERR_INVALADDRESSID;
    if (!lpAddressCaps)
        return LINEERR_INVALPOINTER;
    if (lpAddressCaps->dwTotalSize < sizeof(LINEADDRESSCAPS))
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpAddressCaps, sizeof(LINEADDRESSCAPS));
    lpAddressCaps->dwLineDeviceID = dwDeviceID;
    vb_wstr(&vb, &lpAddressCaps->dwAddressSize, &lpAddressCaps->dwAddressOffset, g_lines[idx].name);
    lpAddressCaps->dwAddressSharing = LINEADDRESSSHARING_PRIVATE;
    lpAddressCaps->dwCallInfoStates = LINECALLINFOSTATE_CALLERID | LINECALLINFOSTATE_CONNECTEDID;
    lpAddressCaps->dwCallerIDFlags = LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME | LINECALLPARTYID_UNKNOWN;
    lpAddressCaps->dwCalledIDFlags = LINECALLPARTYID_ADDRESS | LINECALLPARTYID_UNKNOWN;
    lpAddressCaps->dwConnectedIDFlags = LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME | LINECALLPARTYID_UNKNOWN;
    lpAddressCaps->dwRedirectionIDFlags = LINECALLPARTYID_UNKNOWN;
    lpAddressCaps->dwRedirectingIDFlags = LINECALLPARTYID_UNKNOWN;
    lpAddressCaps->dwCallStates = ALL_CALL_STATES; /* the dialplan may raise any of the 16 */
    lpAddressCaps->dwDialToneModes = LINEDIALTONEMODE_NORMAL | LINEDIALTONEMODE_UNKNOWN;
    lpAddressCaps->dwBusyModes = LINEBUSYMODE_STATION | LINEBUSYMODE_UNKNOWN;
    lpAddressCaps->dwSpecialInfo = LINESPECIALINFO_UNKNOWN;
    lpAddressCaps->dwDisconnectModes = ALL_DISCONNECT_MODES;
    lpAddressCaps->dwMaxNumActiveCalls = 16;
    lpAddressCaps->dwAddrCapFlags = LINEADDRCAPFLAGS_DIALED;
    lpAddressCaps->dwCallFeatures = LINECALLFEATURE_DROP | LINECALLFEATURE_BLINDTRANSFER | LINECALLFEATURE_GENERATEDIGITS;
    lpAddressCaps->dwAddressFeatures = LINEADDRFEATURE_MAKECALL;
    lpAddressCaps->dwConnectedModes = LINECONNECTEDMODE_ACTIVE;
    lpAddressCaps->dwOfferingModes = LINEOFFERINGMODE_ACTIVE;
    lpAddressCaps->dwAvailableMediaModes = LINEMEDIAMODE_INTERACTIVEVOICE;
    vb_bytes(&vb, &lpAddressCaps->dwDeviceClassesSize, &lpAddressCaps->dwDeviceClassesOffset, classes, sizeof classes);
    vb_done(&vb);
    return 0;
}

static DWORD count_active(int line)
{
    DWORD n = 0;
    int i;
    for (i = 0; i < MAX_CALLS; i++)
        if (g_calls[i].used && !g_calls[i].closed && g_calls[i].line == line && g_calls[i].state != LINECALLSTATE_IDLE)
            n++;
    return n;
}

LONG WINAPI TSPI_lineGetAddressStatus(HDRVLINE hdLine, DWORD dwAddressID, LPLINEADDRESSSTATUS lpAddressStatus)
{
    int idx = line_index(hdLine);
    var_builder vb;
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    if (dwAddressID != 0)
        return LINEERR_INVALADDRESSID;
    if (!lpAddressStatus)
        return LINEERR_INVALPOINTER;
    if (lpAddressStatus->dwTotalSize < sizeof(LINEADDRESSSTATUS))
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpAddressStatus, sizeof(LINEADDRESSSTATUS));
    AcquireSRWLockShared(&g_state);
    lpAddressStatus->dwNumActiveCalls = count_active(idx);
    lpAddressStatus->dwNumInUse = lpAddressStatus->dwNumActiveCalls ? 1 : 0;
    lpAddressStatus->dwAddressFeatures = g_lines[idx].in_service ? LINEADDRFEATURE_MAKECALL : 0;
    ReleaseSRWLockShared(&g_state);
    vb_done(&vb);
    return 0;
}

LONG WINAPI TSPI_lineGetLineDevStatus(HDRVLINE hdLine, LPLINEDEVSTATUS lpLineDevStatus)
{
    int idx = line_index(hdLine);
    var_builder vb;
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    if (!lpLineDevStatus)
        return LINEERR_INVALPOINTER;
    if (lpLineDevStatus->dwTotalSize < sizeof(LINEDEVSTATUS))
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpLineDevStatus, sizeof(LINEDEVSTATUS));
    AcquireSRWLockShared(&g_state);
    lpLineDevStatus->dwNumActiveCalls = count_active(idx);
    lpLineDevStatus->dwLineFeatures = g_lines[idx].in_service ? LINEFEATURE_MAKECALL : 0;
    lpLineDevStatus->dwDevStatusFlags = g_lines[idx].in_service ? (LINEDEVSTATUSFLAGS_CONNECTED | LINEDEVSTATUSFLAGS_INSERVICE) : 0;
    lpLineDevStatus->dwAvailableMediaModes = LINEMEDIAMODE_INTERACTIVEVOICE;
    ReleaseSRWLockShared(&g_state);
    vb_done(&vb);
    return 0;
}

LONG WINAPI TSPI_lineGetNumAddressIDs(HDRVLINE hdLine, LPDWORD lpdwNumAddressIDs)
{
    if (line_index(hdLine) < 0)
        return LINEERR_INVALLINEHANDLE;
    if (!lpdwNumAddressIDs)
        return LINEERR_INVALPOINTER;
    *lpdwNumAddressIDs = 1;
    return 0;
}

LONG WINAPI TSPI_lineGetID(HDRVLINE hdLine, DWORD dwAddressID, HDRVCALL hdCall, DWORD dwSelect, LPVARSTRING lpDeviceID,
                           LPCWSTR lpszDeviceClass, HANDLE hTargetProcess)
{
    int idx = -1;
    DWORD device;
    var_builder vb;
    (void)dwAddressID;
    (void)hTargetProcess;
    if (!lpDeviceID || !lpszDeviceClass)
        return LINEERR_INVALPOINTER;
    if (dwSelect == LINECALLSELECT_CALL) {
        int c;
        AcquireSRWLockShared(&g_state);
        c = call_index(hdCall);
        idx = c >= 0 ? g_calls[c].line : -1;
        ReleaseSRWLockShared(&g_state);
        if (idx < 0)
            return LINEERR_INVALCALLHANDLE;
    } else {
        idx = line_index(hdLine);
        if (idx < 0)
            return LINEERR_INVALLINEHANDLE;
    }
    if (_wcsicmp(lpszDeviceClass, L"tapi/line") != 0)
        return LINEERR_INVALDEVICECLASS;
    if (lpDeviceID->dwTotalSize < sizeof(VARSTRING))
        return LINEERR_STRUCTURETOOSMALL;
    device = g_line_base + (DWORD)idx;
    vb_init(&vb, lpDeviceID, sizeof(VARSTRING));
    lpDeviceID->dwStringFormat = STRINGFORMAT_BINARY;
    vb_bytes(&vb, &lpDeviceID->dwStringSize, &lpDeviceID->dwStringOffset, &device, sizeof device);
    vb_done(&vb);
    return 0;
}

LONG WINAPI TSPI_lineSetStatusMessages(HDRVLINE hdLine, DWORD dwLineStates, DWORD dwAddressStates)
{
    int idx = line_index(hdLine);
    (void)dwAddressStates;
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    AcquireSRWLockExclusive(&g_state);
    g_lines[idx].status_msgs = dwLineStates;
    ReleaseSRWLockExclusive(&g_state);
    return 0;
}

LONG WINAPI TSPI_lineSetDefaultMediaDetection(HDRVLINE hdLine, DWORD dwMediaModes)
{
    int idx = line_index(hdLine);
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    if (dwMediaModes & ~(DWORD)(LINEMEDIAMODE_INTERACTIVEVOICE | LINEMEDIAMODE_UNKNOWN))
        return LINEERR_INVALMEDIAMODE;
    AcquireSRWLockExclusive(&g_state);
    g_lines[idx].media_modes = dwMediaModes;
    ReleaseSRWLockExclusive(&g_state);
    return 0;
}

/* ------------------------------------------------------------ TSPI: calls */

LONG WINAPI TSPI_lineMakeCall(DRV_REQUESTID dwRequestID, HDRVLINE hdLine, HTAPICALL htCall, LPHDRVCALL lphdCall,
                              LPCWSTR lpszDestAddress, DWORD dwCountryCode, LPLINECALLPARAMS const lpCallParams)
{
    int line = line_index(hdLine), idx;
    unsigned long seq;
    char dest[NAME_CHARS * 3], buf[512];
    json_writer w;
    (void)dwCountryCode;
    (void)lpCallParams;
    if (line < 0)
        return LINEERR_INVALLINEHANDLE;
    if (!lphdCall)
        return LINEERR_INVALPOINTER;
    if (!lpszDestAddress || !*lpszDestAddress || wcslen(lpszDestAddress) >= NAME_CHARS)
        return LINEERR_INVALADDRESS;
    wide_to_utf8(lpszDestAddress, dest, sizeof dest);
    AcquireSRWLockExclusive(&g_state);
    if (!g_lines[line].in_service) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_CALLUNAVAIL;
    }
    if ((idx = call_alloc(line)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_RESOURCEUNAVAIL;
    }
    if ((seq = req_add(REQ_MAKECALL, dwRequestID, idx, 0)) == 0) {
        g_calls[idx].used = 0;
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_RESOURCEUNAVAIL;
    }
    g_calls[idx].ht = htCall;
    g_calls[idx].origin = LINECALLORIGIN_OUTBOUND;
    g_calls[idx].reason = LINECALLREASON_DIRECT;
    wcsncpy(g_calls[idx].called_num, lpszDestAddress, NAME_CHARS - 1);
    *lphdCall = call_handle(idx);
    ReleaseSRWLockExclusive(&g_state);
    begin_message(&w, buf, sizeof buf, "make_call");
    jw_key(&w, "id");
    jw_uint(&w, seq);
    jw_key(&w, "line");
    jw_string(&w, g_lines[line].name_utf8);
    jw_key(&w, "destination");
    jw_string(&w, dest);
    if (finish_message(&w)) {
        req_slot r;
        AcquireSRWLockExclusive(&g_state);
        req_take(seq, &r);
        g_calls[idx].used = 0;
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_CALLUNAVAIL;
    }
    return (LONG)dwRequestID;
}

/* Shared by lineDrop and lineBlindTransfer: an async request about one live call. */
static LONG call_request(int kind, DRV_REQUESTID tapi_id, HDRVCALL hdCall, const char *type, const char *dest, DWORD e2e)
{
    int idx;
    unsigned long seq, bridge_id;
    char buf[512];
    json_writer w;
    AcquireSRWLockExclusive(&g_state);
    if ((idx = call_index(hdCall)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_INVALCALLHANDLE;
    }
    bridge_id = g_calls[idx].bridge_id;
    if (!g_calls[idx].ready || bridge_id == 0 || g_calls[idx].state == LINECALLSTATE_IDLE) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_INVALCALLSTATE;
    }
    if ((seq = req_add(kind, tapi_id, idx, e2e)) == 0) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_RESOURCEUNAVAIL;
    }
    ReleaseSRWLockExclusive(&g_state);
    begin_message(&w, buf, sizeof buf, type);
    jw_key(&w, "id");
    jw_uint(&w, seq);
    jw_key(&w, "call");
    jw_uint(&w, bridge_id);
    if (dest) {
        jw_key(&w, kind == REQ_GENERATE ? "digits" : "destination");
        jw_string(&w, dest);
    }
    if (finish_message(&w)) {
        req_slot r;
        AcquireSRWLockExclusive(&g_state);
        req_take(seq, &r);
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_OPERATIONFAILED;
    }
    return kind == REQ_GENERATE ? 0 : (LONG)tapi_id;
}

LONG WINAPI TSPI_lineDrop(DRV_REQUESTID dwRequestID, HDRVCALL hdCall, LPCSTR lpsUserUserInfo, DWORD dwSize)
{
    (void)lpsUserUserInfo;
    (void)dwSize;
    return call_request(REQ_DROP, dwRequestID, hdCall, "drop", NULL, 0);
}

LONG WINAPI TSPI_lineBlindTransfer(DRV_REQUESTID dwRequestID, HDRVCALL hdCall, LPCWSTR lpszDestAddress, DWORD dwCountryCode)
{
    char dest[NAME_CHARS * 3];
    (void)dwCountryCode;
    if (!lpszDestAddress || !*lpszDestAddress || wcslen(lpszDestAddress) >= NAME_CHARS)
        return LINEERR_INVALADDRESS;
    wide_to_utf8(lpszDestAddress, dest, sizeof dest);
    return call_request(REQ_TRANSFER, dwRequestID, hdCall, "blind_transfer", dest, 0);
}

LONG WINAPI TSPI_lineGenerateDigits(HDRVCALL hdCall, DWORD dwEndToEndID, DWORD dwDigitMode, LPCWSTR lpszDigits, DWORD dwDuration)
{
    char digits[NAME_CHARS * 3];
    const wchar_t *p;
    (void)dwDuration;
    if (!lpszDigits) {
        /* A cancel request: digits already handed to Asterisk cannot be recalled. */
        int idx;
        AcquireSRWLockShared(&g_state);
        idx = call_index(hdCall);
        ReleaseSRWLockShared(&g_state);
        return idx < 0 ? LINEERR_INVALCALLHANDLE : 0;
    }
    if (dwDigitMode != LINEDIGITMODE_DTMF)
        return LINEERR_INVALDIGITMODE;
    if (!*lpszDigits || wcslen(lpszDigits) >= NAME_CHARS)
        return LINEERR_INVALDIGITS;
    for (p = lpszDigits; *p; p++)
        if (!wcschr(L"0123456789*#ABCDabcd", *p))
            return LINEERR_INVALDIGITS;
    wide_to_utf8(lpszDigits, digits, sizeof digits);
    return call_request(REQ_GENERATE, 0, hdCall, "generate_digits", digits, dwEndToEndID);
}

LONG WINAPI TSPI_lineCloseCall(HDRVCALL hdCall)
{
    int idx, i, n = 0;
    unsigned long bridge_id;
    req_slot pending[MAX_REQS];
    AcquireSRWLockExclusive(&g_cb); /* no event for this call can be in flight after this */
    AcquireSRWLockExclusive(&g_state);
    if ((idx = call_index(hdCall)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        ReleaseSRWLockExclusive(&g_cb);
        return LINEERR_INVALCALLHANDLE;
    }
    for (i = 0; i < MAX_REQS; i++) {
        if (g_reqs[i].used && g_reqs[i].call == idx) {
            pending[n++] = g_reqs[i];
            g_reqs[i].used = 0;
        }
    }
    ReleaseSRWLockExclusive(&g_state);
    /* Outstanding async requests must complete before lineCloseCall returns. */
    for (i = 0; i < n; i++)
        if (pending[i].kind != REQ_GENERATE)
            complete(pending[i].tapi_id, LINEERR_OPERATIONFAILED);
    AcquireSRWLockExclusive(&g_state);
    bridge_id = g_calls[idx].bridge_id;
    g_calls[idx].closed = 1;
    g_calls[idx].used = 0;
    ReleaseSRWLockExclusive(&g_state);
    ReleaseSRWLockExclusive(&g_cb);
    if (bridge_id)
        send_close_call(bridge_id);
    return 0;
}

LONG WINAPI TSPI_lineGetCallAddressID(HDRVCALL hdCall, LPDWORD lpdwAddressID)
{
    int idx;
    if (!lpdwAddressID)
        return LINEERR_INVALPOINTER;
    AcquireSRWLockShared(&g_state);
    idx = call_index(hdCall);
    ReleaseSRWLockShared(&g_state);
    if (idx < 0)
        return LINEERR_INVALCALLHANDLE;
    *lpdwAddressID = 0;
    return 0;
}

static DWORD party_flags(const wchar_t *number, const wchar_t *name)
{
    DWORD flags = (number[0] ? LINECALLPARTYID_ADDRESS : 0) | (name[0] ? LINECALLPARTYID_NAME : 0);
    return flags ? flags : LINECALLPARTYID_UNKNOWN;
}

LONG WINAPI TSPI_lineGetCallInfo(HDRVCALL hdCall, LPLINECALLINFO lpCallInfo)
{
    /* TAPI 2.x ends LINECALLINFO before the 3.0 address-type fields. */
    const DWORD fixed = (DWORD)offsetof(LINECALLINFO, dwCallerIDAddressType);
    call_slot c;
    int idx;
    var_builder vb;
    if (!lpCallInfo)
        return LINEERR_INVALPOINTER;
    AcquireSRWLockShared(&g_state);
    idx = call_index(hdCall);
    if (idx >= 0)
        c = g_calls[idx];
    ReleaseSRWLockShared(&g_state);
    if (idx < 0)
        return LINEERR_INVALCALLHANDLE;
    if (lpCallInfo->dwTotalSize < fixed)
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpCallInfo, fixed);
    lpCallInfo->dwLineDeviceID = g_line_base + (DWORD)c.line;
    lpCallInfo->dwAddressID = 0;
    lpCallInfo->dwBearerMode = LINEBEARERMODE_VOICE;
    lpCallInfo->dwMediaMode = c.media;
    lpCallInfo->dwCallStates = ALL_CALL_STATES;
    lpCallInfo->dwOrigin = c.origin;
    lpCallInfo->dwReason = c.reason;
    lpCallInfo->dwCallID = (DWORD)c.bridge_id;
    lpCallInfo->dwCallerIDFlags = party_flags(c.caller_num, c.caller_name);
    vb_wstr(&vb, &lpCallInfo->dwCallerIDSize, &lpCallInfo->dwCallerIDOffset, c.caller_num);
    vb_wstr(&vb, &lpCallInfo->dwCallerIDNameSize, &lpCallInfo->dwCallerIDNameOffset, c.caller_name);
    lpCallInfo->dwCalledIDFlags = party_flags(c.called_num, L"");
    vb_wstr(&vb, &lpCallInfo->dwCalledIDSize, &lpCallInfo->dwCalledIDOffset, c.called_num);
    lpCallInfo->dwConnectedIDFlags = party_flags(c.connected_num, c.connected_name);
    vb_wstr(&vb, &lpCallInfo->dwConnectedIDSize, &lpCallInfo->dwConnectedIDOffset, c.connected_num);
    vb_wstr(&vb, &lpCallInfo->dwConnectedIDNameSize, &lpCallInfo->dwConnectedIDNameOffset, c.connected_name);
    lpCallInfo->dwRedirectionIDFlags = LINECALLPARTYID_UNKNOWN;
    lpCallInfo->dwRedirectingIDFlags = LINECALLPARTYID_UNKNOWN;
    vb_done(&vb);
    return 0;
}

LONG WINAPI TSPI_lineGetCallStatus(HDRVCALL hdCall, LPLINECALLSTATUS lpCallStatus)
{
    call_slot c;
    int idx, live;
    var_builder vb;
    if (!lpCallStatus)
        return LINEERR_INVALPOINTER;
    AcquireSRWLockShared(&g_state);
    idx = call_index(hdCall);
    if (idx >= 0) {
        c = g_calls[idx];
        live = g_lines[c.line].in_service && c.bridge_id != 0;
    }
    ReleaseSRWLockShared(&g_state);
    if (idx < 0)
        return LINEERR_INVALCALLHANDLE;
    if (lpCallStatus->dwTotalSize < sizeof(LINECALLSTATUS))
        return LINEERR_STRUCTURETOOSMALL;
    vb_init(&vb, lpCallStatus, sizeof(LINECALLSTATUS));
    lpCallStatus->dwCallState = c.state;
    lpCallStatus->dwCallStateMode = c.mode;
    if (live && c.state != LINECALLSTATE_IDLE && c.state != LINECALLSTATE_DISCONNECTED) {
        lpCallStatus->dwCallFeatures = LINECALLFEATURE_DROP | LINECALLFEATURE_BLINDTRANSFER;
        if (c.state == LINECALLSTATE_CONNECTED)
            lpCallStatus->dwCallFeatures |= LINECALLFEATURE_GENERATEDIGITS;
    }
    lpCallStatus->tStateEntryTime = c.state_time;
    vb_done(&vb);
    return 0;
}
