/* TSPI call functions: make, drop, transfer, digits, close, info and status. */
#include "tsp.h"

/* The TSPI checks of lineMakeCall's arguments: 0, or the LINEERR_ to return.
 * Dial modifiers this provider cannot honour are refused, not dropped (TSPI:
 * prescan and refuse before doing anything): W wait for dial tone, @ quiet
 * answer, $ billing tone, ? prompt. Only one address, voice only. */
static LONG check_make_call(LPCWSTR dest, const LINECALLPARAMS *params)
{
    const wchar_t *p;
    if (params) {
        if (params->dwMediaMode && params->dwMediaMode != LINEMEDIAMODE_INTERACTIVEVOICE)
            return LINEERR_INVALMEDIAMODE;
        if (params->dwBearerMode && params->dwBearerMode != LINEBEARERMODE_VOICE)
            return LINEERR_INVALBEARERMODE;
        if ((params->dwAddressMode == 0 || params->dwAddressMode == LINEADDRESSMODE_ADDRESSID) &&
            params->dwAddressID != 0)
            return LINEERR_INVALADDRESSID;
    }
    if (!dest)
        return LINEERR_OPERATIONUNAVAIL; /* see TSPI_lineMakeCall */
    if (wcslen(dest) >= NAME_CHARS)
        return LINEERR_INVALADDRESS;
    for (p = dest; *p && *p != L'|' && *p != L'^'; p++) {
        if (*p == L'W' || *p == L'w')
            return LINEERR_DIALDIALTONE;
        if (*p == L'@')
            return LINEERR_DIALQUIET;
        if (*p == L'$')
            return LINEERR_DIALBILLING;
        if (*p == L'?')
            return LINEERR_DIALPROMPT;
    }
    return *dest ? 0 : LINEERR_INVALADDRESS;
}

static int send_make_call(unsigned long seq, int line, LPCWSTR dest)
{
    char buf[512], utf8[NAME_CHARS * 3];
    json_writer w;
    wide_to_utf8(dest, utf8, sizeof utf8);
    begin_message(&w, buf, sizeof buf, "make_call");
    jw_key(&w, "id");
    jw_uint(&w, seq);
    jw_key(&w, "line");
    jw_string(&w, g_lines[line].name_utf8);
    jw_key(&w, "destination");
    jw_string(&w, utf8);
    return finish_message(&w);
}

/* A NULL destination (the TSPI's hot phone, or dialling later with lineDial) is
 * refused with LINEERR_OPERATIONUNAVAIL: this provider has neither lineDial nor
 * a configured hot-phone number, and Asterisk's Originate needs a number. */
LONG WINAPI TSPI_lineMakeCall(DRV_REQUESTID dwRequestID, HDRVLINE hdLine, HTAPICALL htCall, LPHDRVCALL lphdCall,
                              LPCWSTR lpszDestAddress, DWORD dwCountryCode, LPLINECALLPARAMS const lpCallParams)
{
    int line = line_index(hdLine), idx, sent;
    unsigned long seq;
    LONG refused;
    (void)dwCountryCode;
    if (line < 0)
        return LINEERR_INVALLINEHANDLE;
    if (!lphdCall)
        return LINEERR_INVALPOINTER;
    if ((refused = check_make_call(lpszDestAddress, lpCallParams)) != 0)
        return refused;
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
    if ((sent = send_make_call(seq, line, lpszDestAddress)) != 0) {
        req_slot r;
        AcquireSRWLockExclusive(&g_state);
        req_take(seq, &r);
        g_calls[idx].used = 0; /* failed synchronously: TAPI forgets the call */
        ReleaseSRWLockExclusive(&g_state);
        return sent == SEND_FULL ? LINEERR_RESOURCEUNAVAIL : LINEERR_CALLUNAVAIL;
    }
    return (LONG)dwRequestID;
}

/* An inbound call still ringing this line. Asterisk only knows the caller's
 * channel, and the same call may ring every phone of a ring group: hanging it
 * up would end the call on all of them. So lineDrop refuses honestly
 * (LINEERR_OPERATIONUNAVAIL) and lineGetCallStatus offers no DROP then. */
int ringing_here(const call_slot *c)
{
    return c->origin != LINECALLORIGIN_OUTBOUND && (c->state == LINECALLSTATE_OFFERING || c->state == LINECALLSTATE_ACCEPTED);
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
    if (kind == REQ_DROP && ringing_here(&g_calls[idx])) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_OPERATIONUNAVAIL;
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
    (void)dwDuration;
    if (lpszDigits && dwDigitMode != LINEDIGITMODE_DTMF)
        return LINEERR_INVALDIGITMODE;
    return digits_start(hdCall, dwEndToEndID, lpszDigits);
}

/* Caller holds g_state. Takes the call's requests out of the table into out. */
static int take_requests(int idx, req_slot *out)
{
    int i, n = 0;
    for (i = 0; i < MAX_REQS; i++) {
        if (g_reqs[i].used && g_reqs[i].call == idx) {
            out[n++] = g_reqs[i];
            g_reqs[i].used = 0;
        }
    }
    return n;
}

/* TAPI may call this from inside a callback for the same call (LINE_NEWCALL,
 * the IDLE LINE_CALLSTATE, a failed lineMakeCall's ASYNC_COMPLETION): then the
 * slot is freed when that callback returns. Callbacks on other threads are
 * waited for, so none is raised for the call once this returns. */
LONG WINAPI TSPI_lineCloseCall(HDRVCALL hdCall)
{
    int idx, n;
    unsigned long bridge_id;
    DWORD e2e = 0;
    req_slot pending[MAX_REQS];
    AcquireSRWLockExclusive(&g_state);
    if ((idx = call_index(hdCall)) < 0) {
        ReleaseSRWLockExclusive(&g_state);
        return LINEERR_INVALCALLHANDLE;
    }
    g_calls[idx].closed = 1;
    digits_cancel_locked(idx, &e2e); /* no LINE_GENERATE: the call is gone for TAPI */
    n = take_requests(idx, pending);
    bridge_id = g_calls[idx].bridge_id;
    g_calls[idx].bridge_id = 0;
    cb_wait_others(&g_calls[idx].cb);
    call_release_if_done(idx);
    ReleaseSRWLockExclusive(&g_state);
    complete_all(pending, n); /* outstanding async requests complete before this returns */
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

#define FIELD(type, member) (DWORD) offsetof(type, member), (DWORD)sizeof(((type *)0)->member)
#define TAPI_FIELDS(list) ((int)(sizeof(list) / sizeof(list[0]) / 2))

/* The LINECALLINFO fields TAPI fills itself (TSPI_lineGetCallInfo): the provider leaves them alone. */
static const DWORD callinfo_tapi_fields[] = {
    FIELD(LINECALLINFO, hLine),         FIELD(LINECALLINFO, dwMonitorDigitModes),
    FIELD(LINECALLINFO, dwMonitorMediaModes), FIELD(LINECALLINFO, dwNumOwners),
    FIELD(LINECALLINFO, dwNumMonitors),
};
static const DWORD callstatus_tapi_fields[] = {FIELD(LINECALLSTATUS, dwCallPrivilege)};

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
    vb_init_keep(&vb, lpCallInfo, fixed, callinfo_tapi_fields, TAPI_FIELDS(callinfo_tapi_fields));
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
    vb_init_keep(&vb, lpCallStatus, sizeof(LINECALLSTATUS), callstatus_tapi_fields, TAPI_FIELDS(callstatus_tapi_fields));
    lpCallStatus->dwCallState = c.state;
    lpCallStatus->dwCallStateMode = c.mode;
    if (live && c.state != LINECALLSTATE_IDLE && c.state != LINECALLSTATE_DISCONNECTED) {
        lpCallStatus->dwCallFeatures = LINECALLFEATURE_BLINDTRANSFER;
        if (!ringing_here(&c))
            lpCallStatus->dwCallFeatures |= LINECALLFEATURE_DROP;
        if (c.state == LINECALLSTATE_CONNECTED)
            lpCallStatus->dwCallFeatures |= LINECALLFEATURE_GENERATEDIGITS;
    }
    lpCallStatus->tStateEntryTime = c.state_time;
    vb_done(&vb);
    return 0;
}
