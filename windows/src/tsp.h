/*
 * tapievent.tsp - a thin TAPI service provider that mirrors the tapievent bridge.
 *
 * Why this shape (docs/tsp.md): the Telephony service loads a TSP into a shared
 * svchost, so this DLL keeps no protocol logic. It keeps TAPI's handle tables,
 * does the LINE_NEWCALL handshake, answers every synchronous getter from a local
 * cache, and forwards requests to the Python bridge over loopback TCP (uint32
 * little-endian length + UTF-8 JSON, protocol version 1). One reader thread owns
 * the connection and turns bridge messages into LINEEVENT / ASYNC_COMPLETION
 * calls. lineCloseCall and lineClose complete their own outstanding requests
 * before returning, and lineGenerateDigits reports the generation it cancels.
 *
 * Locks: no lock is ever held across a callback into TAPI, because TAPISRV
 * calls back into the provider from inside one (lineCloseCall from inside
 * LINE_NEWCALL or the IDLE LINE_CALLSTATE, lineClose from inside
 * LINE_LINEDEVSTATE). Instead every line and call counts the callbacks in
 * flight for it and on which threads (cb_set): lineCloseCall / lineClose wait
 * for the ones on other threads and never for their own, and a call closed
 * from inside its own callback is freed when that callback returns. g_state
 * guards the tables; g_send guards the socket and its send queue, which never
 * blocks a caller (a stalled bridge fills the queue and requests fail at
 * once). Order: g_state, then g_send. SRWLOCKs need no initialising in DllMain.
 *
 * Files, one job each: util.c (log, strings, variable-size structures),
 * tables.c (state, handle tables, callback bookkeeping), config.c (registry),
 * bridge_io.c (the link, its send queue and the reader thread), events.c
 * (bridge messages -> TAPI callbacks), digits.c (DTMF generation: pauses,
 * cancel), provider.c, line.c and call.c (the exported TSPI functions), setup.c
 * (Phone and Modem: install, remove, configure; tapievent.rc its version resource).
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
#define SEND_QUEUE (256 * 1024) /* bytes a stalled bridge may owe us before requests fail */
#define MAX_CB_THREADS 8

/* Callbacks into TAPI in flight for one line or call, and the threads making them. */
typedef struct cb_set {
    int n;
    DWORD tid[MAX_CB_THREADS];
} cb_set;

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
    cb_set cb;
} line_slot;

typedef struct call_slot {
    int used;
    unsigned gen;
    int line;
    HTAPICALL ht;
    unsigned long bridge_id; /* 0 until the bridge named the call */
    int ready;               /* events may be raised (handshake or async completion done) */
    int counted;             /* lineMakeCall succeeded: counts in dwNumActiveCalls */
    int closed;              /* lineCloseCall seen: nothing more may be raised */
    DWORD state, mode, media, origin, reason;
    SYSTEMTIME state_time;
    wchar_t caller_num[NAME_CHARS], caller_name[NAME_CHARS];
    wchar_t called_num[NAME_CHARS];
    wchar_t connected_num[NAME_CHARS], connected_name[NAME_CHARS];
    cb_set cb;
    /* lineGenerateDigits in progress: the digits and pauses still to go */
    int gen_on;
    DWORD gen_e2e;
    unsigned long gen_seq; /* the generate_digits request in flight, 0 while pausing */
    DWORD gen_due;         /* GetTickCount() at which the next run may start */
    char gen_rest[NAME_CHARS];
} call_slot;

typedef struct req_slot {
    int used;
    unsigned long seq;
    int kind;
    DRV_REQUESTID tapi_id;
    int call;
    unsigned gen; /* the call slot's generation when the request was made */
    DWORD e2e;
    DWORD deadline;
} req_slot;

typedef struct tsp_config {
    wchar_t host[128];
    DWORD port;
    DWORD reconnect_ms;
    DWORD timeout_ms;
    DWORD dial_pause_ms; /* what a comma in lineGenerateDigits waits */
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
extern SRWLOCK g_state, g_send;
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
int req_call_alive(const req_slot *r);
DWORD count_active(int line);
void cb_enter(cb_set *s);
void cb_leave(cb_set *s);
int cb_mine(const cb_set *s);
void cb_wait_others(cb_set *s);
void call_release_if_done(int idx);

/* util.c */
void tsp_log(const char *fmt, ...);
void utf8_to_wide(const char *src, wchar_t *dst, int dst_chars);
void wide_to_utf8(const wchar_t *src, char *dst, int dst_bytes);
DWORD str_format_unicode_bytes(const wchar_t *s);
void vb_init(var_builder *vb, void *structure, DWORD fixed);
void vb_init_keep(var_builder *vb, void *structure, DWORD fixed, const DWORD *keep, int nkeep);
void vb_bytes(var_builder *vb, DWORD *size_field, DWORD *offset_field, const void *data, DWORD len);
void vb_wstr(var_builder *vb, DWORD *size_field, DWORD *offset_field, const wchar_t *s);
void vb_done(var_builder *vb);

/* config.c */
void load_config(void);

/* bridge_io.c */
#define SEND_NOLINK (-1) /* no connection, or it failed */
#define SEND_FULL (-2)   /* the bridge stopped reading: the queue is full */
int send_frame(const char *json, size_t len);
int flush_send_queue(int writable);
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
void complete_all(const req_slot *reqs, int n);
void handle_message(const char *text, size_t len);

/* call.c */
int ringing_here(const call_slot *c);

/* digits.c */
LONG digits_start(HDRVCALL hd, DWORD e2e, const wchar_t *digits);
void digits_on_reply(const req_slot *r, LONG result);
void digits_pump(int idx);
void digits_pump_all(void);
void digits_cancel_locked(int idx, DWORD *e2e);

#endif
