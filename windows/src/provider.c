/* TSPI provider functions: version negotiation, device enumeration, init and
 * shutdown, and the TUISPI functions TAPI calls in this same DLL. */
#include "tsp.h"

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
