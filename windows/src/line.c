/* TSPI line-device functions: open/close, capabilities, status, ids. */
#include "tsp.h"

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

/* Caller holds g_state. Closes every call TAPI left open on line idx and takes
 * all their requests; their bridge ids go to forget. Returns the request count. */
static int close_line_calls(int idx, req_slot *pending, unsigned long *forget, int *nforget)
{
    int i, n = 0;
    DWORD e2e;
    for (i = 0; i < MAX_CALLS; i++) {
        if (!g_calls[i].used || g_calls[i].line != idx || g_calls[i].closed)
            continue;
        g_calls[i].closed = 1;
        digits_cancel_locked(i, &e2e);
        if (g_calls[i].bridge_id)
            forget[(*nforget)++] = g_calls[i].bridge_id;
        g_calls[i].bridge_id = 0;
        call_release_if_done(i);
    }
    for (i = 0; i < MAX_REQS; i++) {
        if (g_reqs[i].used && g_calls[g_reqs[i].call].line == idx) {
            pending[n++] = g_reqs[i];
            g_reqs[i].used = 0;
        }
    }
    return n;
}

/* Completes every request still pending on the line before returning (TSPI),
 * and may run from inside a LINE_LINEDEVSTATE for this line (TAPISRV does):
 * only callbacks on other threads are waited for. No call is dropped in
 * Asterisk (no LINEDEVCAPFLAGS_CLOSEDROP): closing Outlook leaves the desk
 * phone's call alone; the bridge just forgets the ids. */
LONG WINAPI TSPI_lineClose(HDRVLINE hdLine)
{
    int idx = line_index(hdLine), i, n, nforget = 0;
    unsigned long forget[MAX_CALLS];
    req_slot pending[MAX_REQS];
    if (idx < 0)
        return LINEERR_INVALLINEHANDLE;
    AcquireSRWLockExclusive(&g_state);
    g_lines[idx].open = 0;
    n = close_line_calls(idx, pending, forget, &nforget);
    cb_wait_others(&g_lines[idx].cb);
    g_lines[idx].proc = NULL;
    ReleaseSRWLockExclusive(&g_state);
    complete_all(pending, n);
    for (i = 0; i < nforget; i++)
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
    /* Third-party call control: no LINEDEVCAPFLAGS_CLOSEDROP (lineClose drops nothing). */
    lpLineDevCaps->dwDevCapFlags = 0;
    lpLineDevCaps->DefaultDialParams.dwDialPause = cfg.dial_pause_ms;
    lpLineDevCaps->MinDialParams.dwDialPause = cfg.dial_pause_ms;
    lpLineDevCaps->MaxDialParams.dwDialPause = cfg.dial_pause_ms;
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

/* The LINEDEVSTATUS fields TAPI fills itself: the provider leaves them alone. */
static const DWORD devstatus_tapi_fields[] = {
    (DWORD)offsetof(LINEDEVSTATUS, dwNumOpens), sizeof(DWORD),
    (DWORD)offsetof(LINEDEVSTATUS, dwOpenMediaModes), sizeof(DWORD),
};

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
    vb_init_keep(&vb, lpLineDevStatus, sizeof(LINEDEVSTATUS), devstatus_tapi_fields, 2);
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
