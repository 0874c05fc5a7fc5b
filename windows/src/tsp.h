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
 *
 * Files, one job each: util.c (log, strings, variable-size structures),
 * tables.c (state and handle tables), config.c (registry), bridge_io.c (the
 * link and the reader thread), events.c (bridge messages -> TAPI callbacks),
 * provider.c, line.c and call.c (the exported TSPI functions).
 */
#ifndef TAPIEVENT_TSP_H
#define TAPIEVENT_TSP_H

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

typedef struct tsp_config {
    wchar_t host[128];
    DWORD port;
    DWORD reconnect_ms;
    DWORD timeout_ms;
    wchar_t log_file[MAX_PATH];
    int nlines;
} tsp_config;

/* Variable part of a TAPI structure: dwTotalSize is the caller's, data goes
 * after the fixed part, dwNeededSize counts everything even when it does not fit. */
typedef struct var_builder {
    BYTE *base;
    DWORD total, used, needed;
} var_builder;

/* tables.c: the state */
extern HINSTANCE g_module;
extern SRWLOCK g_cb, g_state, g_send;
extern tsp_config cfg;
extern line_slot g_lines[MAX_LINES];
extern call_slot g_calls[MAX_CALLS];
extern req_slot g_reqs[MAX_REQS];
extern int g_initialised;
extern DWORD g_version, g_provider_id, g_line_base;
extern ASYNC_COMPLETION g_complete;
extern SOCKET g_sock;
extern volatile LONG g_stop;
extern HANDLE g_thread;

HDRVLINE line_handle(int idx);
int line_index(HDRVLINE hd);
HDRVCALL call_handle(int idx);
int call_index(HDRVCALL hd);
int call_alloc(int line);
int call_by_bridge_id(unsigned long id);
int line_by_name(const char *utf8);
int device_index(DWORD device_id);
unsigned long req_add(int kind, DRV_REQUESTID tapi_id, int call, DWORD e2e);
int req_take(unsigned long seq, req_slot *out);
DWORD count_active(int line);

/* util.c */
void tsp_log(const char *fmt, ...);
void utf8_to_wide(const char *src, wchar_t *dst, int dst_chars);
void wide_to_utf8(const wchar_t *src, char *dst, int dst_bytes);
DWORD str_format_unicode_bytes(const wchar_t *s);
void vb_init(var_builder *vb, void *structure, DWORD fixed);
void vb_bytes(var_builder *vb, DWORD *size_field, DWORD *offset_field, const void *data, DWORD len);
void vb_wstr(var_builder *vb, DWORD *size_field, DWORD *offset_field, const wchar_t *s);
void vb_done(var_builder *vb);

/* config.c */
void load_config(void);

/* bridge_io.c */
int send_frame(const char *json, size_t len);
void begin_message(json_writer *w, char *buf, size_t size, const char *type);
int finish_message(json_writer *w);
void send_close_call(unsigned long bridge_id);
void send_hello(void);
void drop_connection(void);
DWORD WINAPI reader_main(LPVOID unused);

/* events.c */
void raise_event(int line, int idx, DWORD msg, DWORD_PTR p1, DWORD_PTR p2, DWORD_PTR p3);
void raise_call_state(int idx, DWORD state, DWORD mode, DWORD media);
void complete(DRV_REQUESTID id, LONG result);
void set_service(int line, int in_service);
void finish_request(req_slot r, LONG result);
void expire_requests(int all);
void handle_message(const char *text, size_t len);

#endif
