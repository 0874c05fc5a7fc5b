/* The provider's state: TAPI's handle tables (lines, calls), the table of
 * requests waiting for the bridge, and the bookkeeping of callbacks in flight.
 * Every function here expects g_state held (cb_wait_others drops it while it waits). */
#include "tsp.h"

HINSTANCE g_module;
SRWLOCK g_state = SRWLOCK_INIT;
SRWLOCK g_send = SRWLOCK_INIT;

tsp_config cfg;

line_slot g_lines[MAX_LINES];
call_slot g_calls[MAX_CALLS];
req_slot g_reqs[MAX_REQS];
static unsigned long g_seq;
static unsigned g_gen;
int g_initialised;
DWORD g_version = TSPI_HIGH;
DWORD g_provider_id;
DWORD g_line_base;
ASYNC_COMPLETION g_complete;
SOCKET g_sock = INVALID_SOCKET;
volatile LONG g_stop;
HANDLE g_thread;

/* HDRVLINE is index + 1; HDRVCALL packs a generation so a stale handle is refused. */
HDRVLINE line_handle(int idx) { return (HDRVLINE)(DWORD_PTR)(idx + 1); }

int line_index(HDRVLINE hd)
{
    DWORD_PTR v = (DWORD_PTR)hd;
    return (v >= 1 && v <= (DWORD_PTR)cfg.nlines) ? (int)v - 1 : -1;
}

HDRVCALL call_handle(int idx) { return (HDRVCALL)(DWORD_PTR)(((DWORD_PTR)g_calls[idx].gen << 16) | (DWORD_PTR)(idx + 1)); }

/* Caller holds g_state. */
int call_index(HDRVCALL hd)
{
    DWORD_PTR v = (DWORD_PTR)hd;
    DWORD_PTR idx = (v & 0xFFFF) - 1;
    if ((v & 0xFFFF) == 0 || idx >= MAX_CALLS || !g_calls[idx].used || g_calls[idx].closed ||
        (v >> 16) != g_calls[idx].gen)
        return -1;
    return (int)idx;
}

/* Caller holds g_state. */
int call_alloc(int line)
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
int call_by_bridge_id(unsigned long id)
{
    int i;
    for (i = 0; i < MAX_CALLS; i++)
        if (id && g_calls[i].used && !g_calls[i].closed && g_calls[i].bridge_id == id)
            return i;
    return -1;
}

int line_by_name(const char *utf8)
{
    int i;
    for (i = 0; utf8 && i < cfg.nlines; i++)
        if (strcmp(g_lines[i].name_utf8, utf8) == 0)
            return i;
    return -1;
}

int device_index(DWORD device_id)
{
    return (device_id >= g_line_base && device_id - g_line_base < (DWORD)cfg.nlines) ? (int)(device_id - g_line_base) : -1;
}

/* Caller holds g_state. Registers a request; returns its sequence number or 0 when full. */
unsigned long req_add(int kind, DRV_REQUESTID tapi_id, int call, DWORD e2e)
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
            g_reqs[i].gen = call >= 0 ? g_calls[call].gen : 0;
            g_reqs[i].e2e = e2e;
            g_reqs[i].deadline = GetTickCount() + cfg.timeout_ms;
            return g_seq;
        }
    }
    return 0;
}

/* Caller holds g_state. Removes and returns request seq. */
int req_take(unsigned long seq, req_slot *out)
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


/* The call a request was made for is still that call (not closed, slot not reused). */
int req_call_alive(const req_slot *r)
{
    const call_slot *c = &g_calls[r->call];
    return c->used && !c->closed && c->gen == r->gen;
}

/* Calls TAPI knows as active: a lineMakeCall call only after its ASYNC_COMPLETION. */
DWORD count_active(int line)
{
    DWORD n = 0;
    int i;
    for (i = 0; i < MAX_CALLS; i++)
        if (g_calls[i].used && !g_calls[i].closed && (g_calls[i].ready || g_calls[i].counted) && g_calls[i].line == line &&
            g_calls[i].state != LINECALLSTATE_IDLE)
            n++;
    return n;
}

void cb_enter(cb_set *s)
{
    if (s->n < MAX_CB_THREADS)
        s->tid[s->n] = GetCurrentThreadId();
    s->n++;
}

void cb_leave(cb_set *s)
{
    DWORD me = GetCurrentThreadId();
    int i, top = s->n < MAX_CB_THREADS ? s->n : MAX_CB_THREADS;
    for (i = top - 1; i >= 0; i--) {
        if (s->tid[i] == me) {
            s->tid[i] = s->tid[top - 1];
            break;
        }
    }
    s->n--;
}

/* This thread is inside a callback for s: TAPISRV re-entered the provider. */
int cb_mine(const cb_set *s)
{
    DWORD me = GetCurrentThreadId();
    int i, top = s->n < MAX_CB_THREADS ? s->n : MAX_CB_THREADS;
    for (i = 0; i < top; i++)
        if (s->tid[i] == me)
            return 1;
    return 0;
}

/* Waits (g_state dropped meanwhile) until no other thread is in a callback for s. */
void cb_wait_others(cb_set *s)
{
    for (;;) {
        int mine = 0, i, top = s->n < MAX_CB_THREADS ? s->n : MAX_CB_THREADS;
        DWORD me = GetCurrentThreadId();
        for (i = 0; i < top; i++)
            mine += s->tid[i] == me;
        if (s->n <= mine)
            return;
        ReleaseSRWLockExclusive(&g_state);
        Sleep(1);
        AcquireSRWLockExclusive(&g_state);
    }
}

/* A closed call's slot is reused only once no callback for it is in flight. */
void call_release_if_done(int idx)
{
    if (g_calls[idx].used && g_calls[idx].closed && g_calls[idx].cb.n == 0)
        g_calls[idx].used = 0;
}
