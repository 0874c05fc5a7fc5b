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
