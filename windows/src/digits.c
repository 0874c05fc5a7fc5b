/* DTMF generation (TSPI_lineGenerateDigits): one generation per call at a time.
 *
 * The digits go to the bridge in runs, one generate_digits request per run of
 * digits between commas; a comma waits cfg.dial_pause_ms (the dwDialPause
 * lineGetDevCaps reports) before the next run, so Asterisk really pauses.
 * Characters that are not DTMF digits are ignored, as the TSPI says. A NULL
 * string or a new generation cancels the running one: TAPI gets LINE_GENERATE
 * with LINEGENERATETERM_CANCEL for it, and its later runs are never sent. */
#include "tsp.h"

static int is_dtmf(wchar_t c)
{
    return (c >= L'0' && c <= L'9') || c == L'*' || c == L'#' || (c >= L'A' && c <= L'D') ||
           (c >= L'a' && c <= L'd') || c == L',';
}

static void raise_generate(int idx, DWORD term, DWORD e2e)
{
    int line;
    AcquireSRWLockExclusive(&g_state);
    line = g_calls[idx].used ? g_calls[idx].line : -1;
    ReleaseSRWLockExclusive(&g_state);
    raise_event(line, idx, LINE_GENERATE, term, e2e, GetTickCount());
}

/* Caller holds g_state. Stops call idx's generation; *e2e gets its id, or stays as is when none ran. */
void digits_cancel_locked(int idx, DWORD *e2e)
{
    req_slot dropped;
    if (!g_calls[idx].gen_on)
        return;
    *e2e = g_calls[idx].gen_e2e;
    if (g_calls[idx].gen_seq)
        req_take(g_calls[idx].gen_seq, &dropped); /* its reply, if any, is ignored */
    g_calls[idx].gen_on = 0;
    g_calls[idx].gen_seq = 0;
}

LONG digits_start(HDRVCALL hd, DWORD e2e, const wchar_t *digits)
{
    int idx, n = 0, cancelled = 0;
    DWORD old_e2e = 0;
    const wchar_t *p;
    AcquireSRWLockExclusive(&g_state);
    if ((idx = call_index(hd)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_INVALCALLHANDLE;
    }
    if (digits && (!g_calls[idx].ready || g_calls[idx].bridge_id == 0)) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_INVALCALLSTATE;
    }
    if (g_calls[idx].gen_on) {
        digits_cancel_locked(idx, &old_e2e);
        cancelled = 1;
    }
    if (digits) {
        for (p = digits; *p && n < NAME_CHARS - 1; p++)
            if (is_dtmf(*p))
                g_calls[idx].gen_rest[n++] = (char)(*p >= L'a' && *p <= L'd' ? *p - 32 : *p);
        g_calls[idx].gen_rest[n] = 0;
        g_calls[idx].gen_on = 1;
        g_calls[idx].gen_e2e = e2e;
        g_calls[idx].gen_seq = 0;
        g_calls[idx].gen_due = GetTickCount();
    }
    ReleaseSRWLockExclusive(&g_state);
    if (cancelled)
        raise_generate(idx, LINEGENERATETERM_CANCEL, old_e2e);
    if (digits)
        digits_pump(idx);
    return 0;
}

/* Caller holds g_state. Takes the next run of call idx's digits into run (or schedules a pause). */
static int next_run(int idx, char *run)
{
    call_slot *c = &g_calls[idx];
    size_t commas = strspn(c->gen_rest, ","), len;
    if (commas) {
        memmove(c->gen_rest, c->gen_rest + commas, strlen(c->gen_rest + commas) + 1);
        c->gen_due = GetTickCount() + (DWORD)commas * cfg.dial_pause_ms;
        return 0;
    }
    len = strcspn(c->gen_rest, ",");
    memcpy(run, c->gen_rest, len);
    run[len] = 0;
    memmove(c->gen_rest, c->gen_rest + len, strlen(c->gen_rest + len) + 1);
    return (int)len;
}

/* Sends call idx's next run when it is due; ends the generation when nothing is left. */
void digits_pump(int idx)
{
    char run[NAME_CHARS], buf[256];
    unsigned long seq = 0, bridge_id = 0;
    int done = 0, failed = 0;
    DWORD e2e = 0;
    json_writer w;
    AcquireSRWLockExclusive(&g_state);
    if (g_calls[idx].used && !g_calls[idx].closed && g_calls[idx].gen_on && !g_calls[idx].gen_seq &&
        (LONG)(GetTickCount() - g_calls[idx].gen_due) >= 0) {
        e2e = g_calls[idx].gen_e2e;
        bridge_id = g_calls[idx].bridge_id;
        if (!g_calls[idx].gen_rest[0]) {
            done = 1;
        } else if (next_run(idx, run) > 0) {
            seq = bridge_id ? req_add(REQ_GENERATE, 0, idx, e2e) : 0;
            failed = seq == 0;
            g_calls[idx].gen_seq = seq;
        }
        if (done || failed)
            g_calls[idx].gen_on = 0;
    }
    ReleaseSRWLockExclusive(&g_state);
    if (seq) {
        begin_message(&w, buf, sizeof buf, "generate_digits");
        jw_key(&w, "id");
        jw_uint(&w, seq);
        jw_key(&w, "call");
        jw_uint(&w, bridge_id);
        jw_key(&w, "digits");
        jw_string(&w, run);
        if (finish_message(&w)) {
            AcquireSRWLockExclusive(&g_state);
            digits_cancel_locked(idx, &e2e);
            ReleaseSRWLockExclusive(&g_state);
            failed = 1;
        }
    }
    if (done || failed)
        raise_generate(idx, done ? LINEGENERATETERM_DONE : LINEGENERATETERM_CANCEL, e2e);
}

void digits_pump_all(void)
{
    int i, due[MAX_CALLS], n = 0;
    AcquireSRWLockShared(&g_state);
    for (i = 0; i < MAX_CALLS; i++)
        if (g_calls[i].used && g_calls[i].gen_on && !g_calls[i].gen_seq)
            due[n++] = i;
    ReleaseSRWLockShared(&g_state);
    for (i = 0; i < n; i++)
        digits_pump(due[i]);
}

/* The bridge played one run (or failed): go on, or end with CANCEL. */
void digits_on_reply(const req_slot *r, LONG result)
{
    int mine;
    AcquireSRWLockExclusive(&g_state);
    mine = req_call_alive(r) && g_calls[r->call].gen_on && g_calls[r->call].gen_seq == r->seq;
    if (mine) {
        g_calls[r->call].gen_seq = 0;
        if (result != 0)
            g_calls[r->call].gen_on = 0;
    }
    ReleaseSRWLockExclusive(&g_state);
    if (!mine)
        return;
    if (result != 0)
        raise_generate(r->call, LINEGENERATETERM_CANCEL, r->e2e);
    else
        digits_pump(r->call);
}
