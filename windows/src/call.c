/* TSPI call functions: make, drop, transfer, digits, close, info and status. */
#include "tsp.h"

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
