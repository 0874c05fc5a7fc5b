/* Bridge -> TAPI: raising LINEEVENTs and ASYNC_COMPLETIONs, ending requests,
 * and the handlers of each bridge message type. */
#include "tsp.h"

/* -------------------------------------------------------------- raising events */

/* Raises a line event for call idx (or the line when idx < 0) holding no lock:
 * TAPISRV may call back into the provider from inside the callback. Nothing is
 * raised for a closed line or a closed/unready call. */
void raise_event(int line, int idx, DWORD msg, DWORD_PTR p1, DWORD_PTR p2, DWORD_PTR p3)
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
    if (proc) {
        cb_enter(&g_lines[line].cb);
        if (idx >= 0)
            cb_enter(&g_calls[idx].cb);
    }
    ReleaseSRWLockExclusive(&g_state);
    if (!proc)
        return;
    proc(htl, htc, msg, p1, p2, p3);
    AcquireSRWLockExclusive(&g_state);
    cb_leave(&g_lines[line].cb);
    if (idx >= 0) {
        cb_leave(&g_calls[idx].cb);
        call_release_if_done(idx); /* closed from inside this very callback */
    }
    ReleaseSRWLockExclusive(&g_state);
}

void raise_call_state(int idx, DWORD state, DWORD mode, DWORD media)
{
    int line;
    AcquireSRWLockExclusive(&g_state);
    g_calls[idx].state = state;
    g_calls[idx].mode = mode;
    g_calls[idx].media = media;
    GetSystemTime(&g_calls[idx].state_time);
    if (state == LINECALLSTATE_IDLE) {
        /* The bridge forgets the id with IDLE; requests for the call now fail
         * locally. Done before the event: TAPI may close the call inside it. */
        g_calls[idx].bridge_id = 0;
    }
    line = g_calls[idx].line;
    ReleaseSRWLockExclusive(&g_state);
    raise_event(line, idx, LINE_CALLSTATE, state, mode, media);
}

void complete(DRV_REQUESTID id, LONG result)
{
    if (g_complete)
        g_complete(id, result);
}

/* ASYNC_COMPLETION with LINEERR_OPERATIONFAILED for requests taken out of the
 * table (digit generations have no completion: their call is gone). */
void complete_all(const req_slot *reqs, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (reqs[i].kind != REQ_GENERATE)
            complete(reqs[i].tapi_id, LINEERR_OPERATIONFAILED);
}

/* Sets the service state of one line (or all, line < 0) and raises
 * LINE_LINEDEVSTATE on the open lines whose state changed. */
void set_service(int line, int in_service)
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

/* Ends a request: ASYNC_COMPLETION, or the next step of a digit generation.
 * A failed lineMakeCall keeps its call slot: TAPI still calls lineCloseCall. */
void finish_request(req_slot r, LONG result)
{
    if (r.kind == REQ_GENERATE) {
        digits_on_reply(&r, result);
        return;
    }
    complete(r.tapi_id, result);
}

/* Fails requests past their deadline (all of them when all != 0). */
void expire_requests(int all)
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

/* Caller holds g_state. Fills a fresh call slot from a new_call message. */
static void fill_new_call(int idx, const json_object *m, unsigned long id, DWORD state, DWORD mode, DWORD media)
{
    long long origin = LINECALLORIGIN_INBOUND;
    json_get_int(m, "origin", &origin);
    g_calls[idx].bridge_id = id;
    g_calls[idx].origin = (DWORD)origin;
    g_calls[idx].reason = LINECALLREASON_DIRECT;
    /* Already the call's state during LINE_NEWCALL, in case TAPI asks then. */
    g_calls[idx].state = state;
    g_calls[idx].mode = mode;
    g_calls[idx].media = media;
    utf8_to_wide(json_get_str(m, "caller_number"), g_calls[idx].caller_num, NAME_CHARS);
    utf8_to_wide(json_get_str(m, "caller_name"), g_calls[idx].caller_name, NAME_CHARS);
    utf8_to_wide(json_get_str(m, "called_number"), g_calls[idx].called_num, NAME_CHARS);
}

static void on_new_call(const json_object *m)
{
    long long id = 0, state = LINECALLSTATE_OFFERING, mode = 0, media = LINEMEDIAMODE_INTERACTIVEVOICE;
    int line = line_by_name(json_get_str(m, "line")), idx, closed;
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
    AcquireSRWLockExclusive(&g_state);
    if (line < 0 || !g_lines[line].open || call_by_bridge_id((unsigned long)id) >= 0 ||
        (idx = call_alloc(line)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        send_close_call((unsigned long)id);
        return;
    }
    fill_new_call(idx, m, (unsigned long)id, (DWORD)state, (DWORD)mode, (DWORD)media);
    hd = call_handle(idx);
    proc = g_lines[line].proc;
    htl = g_lines[line].ht;
    cb_enter(&g_lines[line].cb);
    cb_enter(&g_calls[idx].cb);
    ReleaseSRWLockExclusive(&g_state);
    /* The handshake: TAPI writes its HTAPICALL through the pointer in dwParam2
     * during the callback (and may close the call before it returns). A 64-bit
     * pointer, hence DWORD_PTR all the way. */
    proc(htl, NULL, LINE_NEWCALL, (DWORD_PTR)hd, (DWORD_PTR)&ht, 0);
    AcquireSRWLockExclusive(&g_state);
    cb_leave(&g_lines[line].cb);
    cb_leave(&g_calls[idx].cb);
    closed = g_calls[idx].closed;
    if (!closed && ht == NULL)
        g_calls[idx].used = 0; /* TAPI is backlogged: it will never know this call */
    if (!closed && ht != NULL) {
        g_calls[idx].ht = ht;
        g_calls[idx].ready = 1;
    }
    call_release_if_done(idx);
    ReleaseSRWLockExclusive(&g_state);
    if (closed)
        return; /* lineCloseCall from inside LINE_NEWCALL already told the bridge */
    if (ht == NULL) {
        tsp_log("LINE_NEWCALL refused for call %lld", id);
        send_close_call((unsigned long)id);
        return;
    }
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
    int has_call;
    req_slot r;
    if (json_get_int(m, "id", &seq) || json_get_int(m, "result", &result))
        return;
    has_call = !json_get_int(m, "call", &call) && call > 0 && call <= 0xFFFFFFFFLL;
    AcquireSRWLockExclusive(&g_state);
    if (req_take((unsigned long)seq, &r) || (r.kind == REQ_MAKECALL && !req_call_alive(&r))) {
        ReleaseSRWLockExclusive(&g_state);
        if (has_call && result == 0)
            send_close_call((unsigned long)call); /* timed out or closed meanwhile: the bridge may forget it */
        return;
    }
    if (r.kind == REQ_MAKECALL && result == 0) {
        if (!has_call) {
            result = (long long)(DWORD)LINEERR_OPERATIONFAILED;
        } else {
            g_calls[r.call].bridge_id = (unsigned long)call;
            /* Asterisk has the number: the call proceeds until the first real state. */
            if (g_calls[r.call].state == 0)
                g_calls[r.call].state = LINECALLSTATE_PROCEEDING;
            /* Counted from the completion on: set just before it, since TAPI may
             * ask for dwNumActiveCalls on another thread as soon as it has it. */
            g_calls[r.call].counted = 1;
        }
    }
    ReleaseSRWLockExclusive(&g_state);
    finish_request(r, (LONG)(DWORD)result);
    if (r.kind == REQ_MAKECALL && result == 0) {
        /* Only now may events for the call be raised, and only now does it count
         * as active (TSPI_lineMakeCall rule). */
        AcquireSRWLockExclusive(&g_state);
        if (req_call_alive(&r))
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

void handle_message(const char *text, size_t len)
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
