/*
 * tsp_harness.exe - plays the Windows Telephony service (TAPISRV) for tests.
 *
 * Wine has no TAPISRV, so this console program does its part: it loads a TSP
 * with LoadLibrary, finds the TSPI entry points with GetProcAddress, calls
 * providerInit with its own LINEEVENT and ASYNC_COMPLETION callbacks, and
 * prints every callback as one JSON line on stdout. Commands come one per line
 * on stdin and each is answered by one JSON line ({"cmd": ..., "result": ...}).
 * It also checks the TSPI rules a real TAPISRV relies on and prints a
 * {"ev":"violation"} line when the TSP breaks one.
 *
 * usage: tsp_harness.exe [--reg-dword NAME=N] [--reg-sz NAME=S] [--reg-multi NAME=a,b] TSP_PATH
 * The --reg options write HKLM\Software\tapievent\TSP (after clearing it) before loading.
 *
 * commands:  init | negotiate LOW HIGH [DEVICE] | open L | close L | status L
 *            waitservice L 0|1 MS | addrcaps L | devcaps L SIZE | getid L
 *            makecall L DEST | drop C | transfer C DEST | digits C DIGITS
 *            callinfo C | callstatus C | closecall C | refuse 0|1 | sleep MS
 *            reenter off|newcall|idle|devstate | flood L N DEST | install | remove
 *            shutdown | quit          (L = line index, C = harness call number)
 *
 * Like TAPISRV it calls back into the provider from inside the provider's own
 * callbacks (SIPTAPI's doc/tapi-debugging.txt shows LINE_NEWCALL -> CreatetCall
 * -> DestroytCall -> TSPI_lineCloseCall on the provider's thread): "reenter"
 * picks where (lineCloseCall inside LINE_NEWCALL or the IDLE LINE_CALLSTATE,
 * lineClose inside LINE_LINEDEVSTATE), and a failed asynchronous lineMakeCall is
 * always closed from inside its ASYNC_COMPLETION, as TAPISRV closes it. The
 * getters prefill the fields TAPI owns and report whether they survived.
 * makecall's DEST "-" is NULL; "makecall L DEST MEDIA ADDRID" passes LINECALLPARAMS;
 * "digits C -" passes NULL (cancel). flood makes and closes N calls quietly and
 * reports the slowest lineMakeCall (a TAPISRV thread must never wait for the bridge).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <tapi.h>
#include <tspi.h>

#define MAX_CALLS 64
#define MAX_REQS 256
#define LINE_BASE 100
#define PROVIDER_ID 7

typedef LONG(WINAPI *fn_negotiate)(DWORD, DWORD, DWORD, LPDWORD);
typedef LONG(WINAPI *fn_enum)(DWORD, LPDWORD, LPDWORD, HPROVIDER, LINEEVENT, PHONEEVENT);
typedef LONG(WINAPI *fn_init)(DWORD, DWORD, DWORD, DWORD, DWORD_PTR, DWORD_PTR, ASYNC_COMPLETION, LPDWORD);
typedef LONG(WINAPI *fn_shutdown)(DWORD, DWORD);
typedef LONG(WINAPI *fn_uiidentify)(LPWSTR);
typedef LONG(WINAPI *fn_open)(DWORD, HTAPILINE, LPHDRVLINE, DWORD, LINEEVENT);
typedef LONG(WINAPI *fn_close)(HDRVLINE);
typedef LONG(WINAPI *fn_devcaps)(DWORD, DWORD, DWORD, LPLINEDEVCAPS);
typedef LONG(WINAPI *fn_addrcaps)(DWORD, DWORD, DWORD, DWORD, LPLINEADDRESSCAPS);
typedef LONG(WINAPI *fn_addrstatus)(HDRVLINE, DWORD, LPLINEADDRESSSTATUS);
typedef LONG(WINAPI *fn_devstatus)(HDRVLINE, LPLINEDEVSTATUS);
typedef LONG(WINAPI *fn_getid)(HDRVLINE, DWORD, HDRVCALL, DWORD, LPVARSTRING, LPCWSTR, HANDLE);
typedef LONG(WINAPI *fn_statusmsgs)(HDRVLINE, DWORD, DWORD);
typedef LONG(WINAPI *fn_mediadetect)(HDRVLINE, DWORD);
typedef LONG(WINAPI *fn_makecall)(DRV_REQUESTID, HDRVLINE, HTAPICALL, LPHDRVCALL, LPCWSTR, DWORD, LPLINECALLPARAMS const);
typedef LONG(WINAPI *fn_drop)(DRV_REQUESTID, HDRVCALL, LPCSTR, DWORD);
typedef LONG(WINAPI *fn_closecall)(HDRVCALL);
typedef LONG(WINAPI *fn_callinfo)(HDRVCALL, LPLINECALLINFO);
typedef LONG(WINAPI *fn_callstatus)(HDRVCALL, LPLINECALLSTATUS);
typedef LONG(WINAPI *fn_calladdrid)(HDRVCALL, LPDWORD);
typedef LONG(WINAPI *fn_transfer)(DRV_REQUESTID, HDRVCALL, LPCWSTR, DWORD);
typedef LONG(WINAPI *fn_digits)(HDRVCALL, DWORD, DWORD, LPCWSTR, DWORD);
typedef LONG(WINAPI *fn_setup)(HWND, DWORD);

static struct {
    fn_negotiate negotiate;
    fn_enum enum_devices;
    fn_init init;
    fn_shutdown shutdown;
    fn_uiidentify uiidentify;
    fn_open open;
    fn_close close;
    fn_devcaps devcaps;
    fn_addrcaps addrcaps;
    fn_addrstatus addrstatus;
    fn_devstatus devstatus;
    fn_getid getid;
    fn_statusmsgs statusmsgs;
    fn_mediadetect mediadetect;
    fn_makecall makecall;
    fn_drop drop;
    fn_closecall closecall;
    fn_callinfo callinfo;
    fn_callstatus callstatus;
    fn_calladdrid calladdrid;
    fn_transfer transfer;
    fn_digits digits;
    fn_setup install;
    fn_setup remove;
} tsp;

typedef struct hcall {
    int used;
    int line;
    HDRVCALL hd;
    DRV_REQUESTID makecall_req; /* nonzero until ASYNC_COMPLETION for lineMakeCall */
    int idle;
    int closed;
} hcall;

typedef struct hline {
    HDRVLINE hd;
    int open;
    DWORD version;
} hline;

static CRITICAL_SECTION g_out;
static CRITICAL_SECTION g_tab;
static hcall g_calls[MAX_CALLS];
static hline g_lines[32];
static DWORD g_nlines;
static DWORD g_version;
static DRV_REQUESTID g_next_req = 1;
static int g_completed[MAX_REQS];
static int g_refuse;
static int g_reenter; /* 0 off, 1 newcall, 2 idle, 3 devstate */
static int g_quiet;   /* flood: completions are not printed */
static __thread int t_depth;       /* callbacks in progress on this thread */
static __thread int t_reentering;  /* this thread called the provider from inside a callback */

static void out(const char *fmt, ...)
{
    va_list ap;
    EnterCriticalSection(&g_out);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    LeaveCriticalSection(&g_out);
}

static void violation(const char *what, int call)
{
    out("{\"ev\":\"violation\",\"what\":\"%s\",\"call\":%d}", what, call);
}

/* A callback nested in another on the same thread is fine only when we re-entered the provider. */
static void callback_enter(int k)
{
    if (t_depth++ > 0 && !t_reentering)
        violation("re-entrant callback", k);
}

static LONG reenter_closecall(int k)
{
    LONG rc;
    t_reentering++;
    rc = tsp.closecall(g_calls[k].hd);
    t_reentering--;
    EnterCriticalSection(&g_tab);
    g_calls[k].closed = 1;
    LeaveCriticalSection(&g_tab);
    out("{\"ev\":\"reentered\",\"what\":\"closecall\",\"call\":%d,\"result\":%lu}", k, (unsigned long)(DWORD)rc);
    return rc;
}

static int call_of(HTAPICALL ht)
{
    ptrdiff_t k = (const hcall *)(const void *)ht - g_calls;
    return (ht && k >= 0 && k < MAX_CALLS) ? (int)k : -1;
}

static int new_call(int line)
{
    int k;
    EnterCriticalSection(&g_tab);
    for (k = 0; k < MAX_CALLS; k++) {
        if (!g_calls[k].used) {
            memset(&g_calls[k], 0, sizeof g_calls[k]);
            g_calls[k].used = 1;
            g_calls[k].line = line;
            break;
        }
    }
    LeaveCriticalSection(&g_tab);
    return k < MAX_CALLS ? k : -1;
}

static void CALLBACK line_event(HTAPILINE htLine, HTAPICALL htCall, DWORD dwMsg, DWORD_PTR p1, DWORD_PTR p2, DWORD_PTR p3)
{
    int line = (int)((DWORD_PTR)htLine - 0x1000);
    int k = call_of(htCall), closed_idle = 0;
    callback_enter(k);
    if (dwMsg == LINE_NEWCALL) {
        /* The handshake: p1 is the TSP's HDRVCALL, p2 points at our HTAPICALL. */
        HTAPICALL *slot = (HTAPICALL *)p2;
        int n = g_refuse ? -1 : new_call(line);
        if (htCall != NULL)
            violation("LINE_NEWCALL with an htCall", k);
        if (n >= 0) {
            g_calls[n].hd = (HDRVCALL)p1;
            *slot = (HTAPICALL)(void *)&g_calls[n];
        } else {
            *slot = NULL;
        }
        out("{\"ev\":\"LINEEVENT\",\"msg\":%lu,\"line\":%d,\"call\":%d,\"p1\":%llu,\"p2\":%llu,\"p3\":%llu,"
            "\"htCall\":\"%p\"}",
            (unsigned long)dwMsg, line, n, (unsigned long long)p1, (unsigned long long)p2, (unsigned long long)p3,
            (void *)*slot);
        if (n >= 0 && g_reenter == 1)
            reenter_closecall(n); /* TAPISRV: CreatetCall failed -> DestroytCall */
    } else {
        if (k >= 0) {
            EnterCriticalSection(&g_tab);
            if (g_calls[k].makecall_req)
                violation("event before ASYNC_COMPLETION", k);
            if (g_calls[k].closed || !g_calls[k].used)
                violation("event after lineCloseCall", k);
            if (g_calls[k].idle && dwMsg == LINE_CALLINFO)
                violation("LINE_CALLINFO after IDLE", k);
            if (dwMsg == LINE_CALLSTATE && p1 == LINECALLSTATE_IDLE) {
                g_calls[k].idle = 1;
                closed_idle = g_reenter == 2 && !g_calls[k].closed;
            }
            LeaveCriticalSection(&g_tab);
        } else if (htCall != NULL) {
            violation("event for an unknown htCall", -1);
        }
        out("{\"ev\":\"LINEEVENT\",\"msg\":%lu,\"line\":%d,\"call\":%d,\"p1\":%llu,\"p2\":%llu,\"p3\":%llu}",
            (unsigned long)dwMsg, line, k, (unsigned long long)p1, (unsigned long long)p2, (unsigned long long)p3);
        if (closed_idle)
            reenter_closecall(k); /* the application closes its call on IDLE */
        if (dwMsg == LINE_LINEDEVSTATE && g_reenter == 3 && line >= 0 && line < 32 && g_lines[line].open) {
            LONG rc;
            t_reentering++;
            rc = tsp.close(g_lines[line].hd);
            t_reentering--;
            g_lines[line].open = 0;
            out("{\"ev\":\"reentered\",\"what\":\"lineclose\",\"line\":%d,\"result\":%lu}", line,
                (unsigned long)(DWORD)rc);
        }
    }
    t_depth--;
}

static void CALLBACK async_completion(DRV_REQUESTID id, LONG result)
{
    int k, call = -1;
    LONG closed = -1;
    callback_enter(-1);
    EnterCriticalSection(&g_tab);
    if (id < MAX_REQS && g_completed[id]++)
        violation("second ASYNC_COMPLETION", -1);
    for (k = 0; k < MAX_CALLS; k++) {
        if (g_calls[k].used && g_calls[k].makecall_req == id) {
            g_calls[k].makecall_req = 0;
            call = k;
        }
    }
    LeaveCriticalSection(&g_tab);
    if (call >= 0 && result != 0) {
        /* TAPISRV closes the call of a failed lineMakeCall: the provider must still know it. */
        t_reentering++;
        closed = tsp.closecall(g_calls[call].hd);
        t_reentering--;
        EnterCriticalSection(&g_tab);
        g_calls[call].closed = 1;
        LeaveCriticalSection(&g_tab);
    }
    if (!g_quiet)
        out("{\"ev\":\"ASYNC_COMPLETION\",\"request\":%lu,\"result\":%lu,\"call\":%d,\"closecall\":%ld}",
            (unsigned long)id, (unsigned long)(DWORD)result, call, (long)closed);
    t_depth--;
}

static FARPROC need(HMODULE dll, const char *name)
{
    FARPROC p = GetProcAddress(dll, name);
    if (!p) {
        out("{\"ev\":\"fatal\",\"what\":\"missing export %s\"}", name);
        exit(3);
    }
    return p;
}

static void load(const char *path)
{
    HMODULE dll = LoadLibraryA(path);
    if (!dll) {
        out("{\"ev\":\"fatal\",\"what\":\"LoadLibrary failed\",\"error\":%lu}", (unsigned long)GetLastError());
        exit(3);
    }
#define GET(field, name) tsp.field = (void *)need(dll, name)
    GET(negotiate, "TSPI_lineNegotiateTSPIVersion");
    GET(enum_devices, "TSPI_providerEnumDevices");
    GET(init, "TSPI_providerInit");
    GET(shutdown, "TSPI_providerShutdown");
    GET(uiidentify, "TSPI_providerUIIdentify");
    GET(open, "TSPI_lineOpen");
    GET(close, "TSPI_lineClose");
    GET(devcaps, "TSPI_lineGetDevCaps");
    GET(addrcaps, "TSPI_lineGetAddressCaps");
    GET(addrstatus, "TSPI_lineGetAddressStatus");
    GET(devstatus, "TSPI_lineGetLineDevStatus");
    GET(getid, "TSPI_lineGetID");
    GET(statusmsgs, "TSPI_lineSetStatusMessages");
    GET(mediadetect, "TSPI_lineSetDefaultMediaDetection");
    GET(makecall, "TSPI_lineMakeCall");
    GET(drop, "TSPI_lineDrop");
    GET(closecall, "TSPI_lineCloseCall");
    GET(callinfo, "TSPI_lineGetCallInfo");
    GET(callstatus, "TSPI_lineGetCallStatus");
    GET(calladdrid, "TSPI_lineGetCallAddressID");
    GET(transfer, "TSPI_lineBlindTransfer");
    GET(digits, "TSPI_lineGenerateDigits");
    /* Optional, as for TAPISRV: only Phone and Modem looks for them. */
    tsp.install = (fn_setup)(void *)GetProcAddress(dll, "TSPI_providerInstall");
    tsp.remove = (fn_setup)(void *)GetProcAddress(dll, "TSPI_providerRemove");
    need(dll, "TUISPI_providerConfig");
#undef GET
}

/* --- registry set-up, so tests can point the TSP at their bridge --- */

static HKEY open_key(void)
{
    HKEY key;
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, L"Software\\tapievent\\TSP", 0, NULL, 0, KEY_ALL_ACCESS, NULL, &key, NULL) != ERROR_SUCCESS) {
        out("{\"ev\":\"fatal\",\"what\":\"cannot open the registry key\"}");
        exit(3);
    }
    return key;
}

static void set_reg(const char *kind, const char *assignment)
{
    wchar_t name[128], value[1024];
    const char *eq = strchr(assignment, '=');
    HKEY key = open_key();
    if (!eq || eq - assignment >= 127) {
        out("{\"ev\":\"fatal\",\"what\":\"bad --reg option\"}");
        exit(2);
    }
    MultiByteToWideChar(CP_UTF8, 0, assignment, (int)(eq - assignment), name, 127);
    name[eq - assignment] = 0;
    memset(value, 0, sizeof value);
    MultiByteToWideChar(CP_UTF8, 0, eq + 1, -1, value, 1020);
    if (strcmp(kind, "dword") == 0) {
        DWORD v = (DWORD)strtoul(eq + 1, NULL, 10);
        RegSetValueExW(key, name, 0, REG_DWORD, (const BYTE *)&v, sizeof v);
    } else if (strcmp(kind, "sz") == 0) {
        RegSetValueExW(key, name, 0, REG_SZ, (const BYTE *)value, (DWORD)((wcslen(value) + 1) * sizeof(wchar_t)));
    } else {
        size_t n = wcslen(value), i;
        for (i = 0; i < n; i++)
            if (value[i] == L',')
                value[i] = 0;
        RegSetValueExW(key, name, 0, REG_MULTI_SZ, (const BYTE *)value, (DWORD)((n + 2) * sizeof(wchar_t)));
    }
    RegCloseKey(key);
}

/* --- commands --- */

static int call_arg(const char *s)
{
    int k = s ? atoi(s) : -1;
    return (k >= 0 && k < MAX_CALLS && g_calls[k].used) ? k : -1;
}

static int line_arg(const char *s)
{
    int l = s ? atoi(s) : -1;
    return (l >= 0 && (DWORD)l < g_nlines) ? l : -1;
}

static DRV_REQUESTID next_request(void)
{
    DRV_REQUESTID id;
    EnterCriticalSection(&g_tab);
    id = g_next_req++;
    LeaveCriticalSection(&g_tab);
    return id;
}

static void utf8_arg(const char *s, wchar_t *w, int n)
{
    w[0] = 0;
    if (s)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
}

/* Prints a UTF-16 string of a TAPI structure as a JSON string (ASCII-escaped). */
static void wstr_json(char *dst, size_t n, const void *base, DWORD size, DWORD offset)
{
    const wchar_t *s = (const wchar_t *)((const BYTE *)base + offset);
    size_t len = 0, i;
    dst[len++] = '"';
    for (i = 0; size && i < size / 2 && s[i] && len + 8 < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\')
            dst[len++] = (char)s[i];
        else
            len += (size_t)snprintf(dst + len, n - len, "\\u%04x", (unsigned)s[i]);
    }
    dst[len++] = '"';
    dst[len] = 0;
}

static void do_init(void)
{
    DWORD version = 0, lines = 0, phones = 0, options = 0, i;
    LONG rc = tsp.negotiate(INITIALIZE_NEGOTIATION, 0x00010003, 0x00030001, &version);
    if (rc) {
        out("{\"cmd\":\"init\",\"result\":%lu,\"step\":\"negotiate\"}", (unsigned long)(DWORD)rc);
        return;
    }
    rc = tsp.enum_devices(PROVIDER_ID, &lines, &phones, (HPROVIDER)(DWORD_PTR)0x77, NULL, NULL);
    if (rc) {
        out("{\"cmd\":\"init\",\"result\":%lu,\"step\":\"enum\"}", (unsigned long)(DWORD)rc);
        return;
    }
    g_version = version;
    rc = tsp.init(version, PROVIDER_ID, LINE_BASE, 0, lines, phones, async_completion, &options);
    if (rc) {
        out("{\"cmd\":\"init\",\"result\":%lu,\"step\":\"init\"}", (unsigned long)(DWORD)rc);
        return;
    }
    g_nlines = lines < 32 ? lines : 32;
    for (i = 0; i < g_nlines; i++) {
        DWORD v = 0;
        tsp.negotiate(LINE_BASE + i, 0x00020000, 0x00030001, &v);
        g_lines[i].version = v;
    }
    {
        wchar_t ui[MAX_PATH];
        rc = tsp.uiidentify(ui);
        out("{\"cmd\":\"init\",\"result\":0,\"tspi_version\":%lu,\"lines\":%lu,\"phones\":%lu,\"options\":%lu,"
            "\"line_version\":%lu,\"uiidentify\":%lu}",
            (unsigned long)version, (unsigned long)lines, (unsigned long)phones, (unsigned long)options,
            (unsigned long)g_lines[0].version, (unsigned long)(DWORD)rc);
    }
}

static void do_devcaps(int l, DWORD size)
{
    BYTE *buf = calloc(1, size < 4 ? 4 : size);
    LINEDEVCAPS *caps = (LINEDEVCAPS *)buf;
    LONG rc;
    char name[256] = "\"\"";
    caps->dwTotalSize = size;
    rc = tsp.devcaps(LINE_BASE + (DWORD)l, g_lines[l].version, 0, caps);
    if (rc == 0 && caps->dwLineNameSize)
        wstr_json(name, sizeof name, caps, caps->dwLineNameSize, caps->dwLineNameOffset);
    out("{\"cmd\":\"devcaps\",\"result\":%lu,\"needed\":%lu,\"used\":%lu,\"name\":%s,\"permanent_id\":%lu,"
        "\"string_format\":%lu,\"line_features\":%lu,\"max_calls\":%lu,\"dev_cap_flags\":%lu,\"dial_pause\":%lu}",
        (unsigned long)(DWORD)rc, rc ? 0UL : (unsigned long)caps->dwNeededSize, rc ? 0UL : (unsigned long)caps->dwUsedSize,
        name, rc ? 0UL : (unsigned long)caps->dwPermanentLineID, rc ? 0UL : (unsigned long)caps->dwStringFormat,
        rc ? 0UL : (unsigned long)caps->dwLineFeatures, rc ? 0UL : (unsigned long)caps->dwMaxNumActiveCalls,
        rc ? 0UL : (unsigned long)caps->dwDevCapFlags, rc ? 0UL : (unsigned long)caps->DefaultDialParams.dwDialPause);
    free(buf);
}

static void do_status(const char *cmd, int l)
{
    LINEDEVSTATUS st;
    LINEADDRESSSTATUS as;
    LONG rc, rc2;
    memset(&st, 0, sizeof st);
    memset(&as, 0, sizeof as);
    st.dwTotalSize = sizeof st;
    as.dwTotalSize = sizeof as;
    st.dwNumOpens = 2; /* TAPI's own fields: the provider must leave them */
    st.dwOpenMediaModes = LINEMEDIAMODE_INTERACTIVEVOICE;
    rc = tsp.devstatus(g_lines[l].hd, &st);
    rc2 = tsp.addrstatus(g_lines[l].hd, 0, &as);
    out("{\"cmd\":\"%s\",\"result\":%lu,\"flags\":%lu,\"active\":%lu,\"line_features\":%lu,\"address_result\":%lu,"
        "\"address_features\":%lu,\"address_active\":%lu,\"tapi_fields_kept\":%d}",
        cmd, (unsigned long)(DWORD)rc, (unsigned long)st.dwDevStatusFlags, (unsigned long)st.dwNumActiveCalls,
        (unsigned long)st.dwLineFeatures, (unsigned long)(DWORD)rc2, (unsigned long)as.dwAddressFeatures,
        (unsigned long)as.dwNumActiveCalls, st.dwNumOpens == 2 && st.dwOpenMediaModes == LINEMEDIAMODE_INTERACTIVEVOICE);
}

static int in_service(int l)
{
    LINEDEVSTATUS st;
    memset(&st, 0, sizeof st);
    st.dwTotalSize = sizeof st;
    return tsp.devstatus(g_lines[l].hd, &st) == 0 && (st.dwDevStatusFlags & LINEDEVSTATUSFLAGS_INSERVICE);
}

static void do_callinfo(int k)
{
    BYTE buf[2048];
    LINECALLINFO *ci = (LINECALLINFO *)buf;
    char num[256] = "\"\"", name[256] = "\"\"", called[256] = "\"\"";
    LONG rc;
    DWORD addr = 99;
    memset(buf, 0, sizeof buf);
    ci->dwTotalSize = sizeof buf;
    /* TAPI's own fields, prefilled as TAPISRV does: the provider must leave them */
    ci->hLine = (HLINE)(DWORD_PTR)0x5EED5EED5EEDULL;
    ci->dwMonitorDigitModes = LINEDIGITMODE_DTMF;
    ci->dwMonitorMediaModes = LINEMEDIAMODE_INTERACTIVEVOICE;
    ci->dwNumOwners = 1;
    ci->dwNumMonitors = 2;
    rc = tsp.callinfo(g_calls[k].hd, ci);
    if (rc == 0) {
        if (ci->dwCallerIDSize)
            wstr_json(num, sizeof num, ci, ci->dwCallerIDSize, ci->dwCallerIDOffset);
        if (ci->dwCallerIDNameSize)
            wstr_json(name, sizeof name, ci, ci->dwCallerIDNameSize, ci->dwCallerIDNameOffset);
        if (ci->dwCalledIDSize)
            wstr_json(called, sizeof called, ci, ci->dwCalledIDSize, ci->dwCalledIDOffset);
    }
    tsp.calladdrid(g_calls[k].hd, &addr);
    out("{\"cmd\":\"callinfo\",\"result\":%lu,\"call\":%d,\"caller_number\":%s,\"caller_name\":%s,\"called\":%s,"
        "\"caller_flags\":%lu,\"origin\":%lu,\"line_device\":%lu,\"needed\":%lu,\"address_id\":%lu,"
        "\"tapi_fields_kept\":%d}",
        (unsigned long)(DWORD)rc, k, num, name, called, (unsigned long)ci->dwCallerIDFlags, (unsigned long)ci->dwOrigin,
        (unsigned long)ci->dwLineDeviceID, (unsigned long)ci->dwNeededSize, (unsigned long)addr,
        ci->hLine == (HLINE)(DWORD_PTR)0x5EED5EED5EEDULL && ci->dwMonitorDigitModes == LINEDIGITMODE_DTMF &&
            ci->dwMonitorMediaModes == LINEMEDIAMODE_INTERACTIVEVOICE && ci->dwNumOwners == 1 && ci->dwNumMonitors == 2);
}

static void do_callstatus(int k)
{
    LINECALLSTATUS cs;
    LONG rc;
    memset(&cs, 0, sizeof cs);
    cs.dwTotalSize = sizeof cs;
    cs.dwCallPrivilege = LINECALLPRIVILEGE_OWNER; /* TAPI's own field */
    rc = tsp.callstatus(g_calls[k].hd, &cs);
    out("{\"cmd\":\"callstatus\",\"result\":%lu,\"call\":%d,\"state\":%lu,\"mode\":%lu,\"features\":%lu,"
        "\"tapi_fields_kept\":%d}",
        (unsigned long)(DWORD)rc, k, (unsigned long)cs.dwCallState, (unsigned long)cs.dwCallStateMode,
        (unsigned long)cs.dwCallFeatures, cs.dwCallPrivilege == LINECALLPRIVILEGE_OWNER);
}

/* makecall L DEST [MEDIA ADDRID]: DEST "-" is NULL; MEDIA/ADDRID fill LINECALLPARAMS. */
static void do_makecall(int l, const char *dest_arg, const char *media, const char *address)
{
    int k = new_call(l);
    wchar_t dest[256];
    LINECALLPARAMS params;
    DRV_REQUESTID req = next_request();
    LONG rc;
    utf8_arg(dest_arg, dest, 256);
    memset(&params, 0, sizeof params);
    params.dwTotalSize = sizeof params;
    params.dwBearerMode = LINEBEARERMODE_VOICE;
    params.dwMediaMode = media ? (DWORD)strtoul(media, NULL, 0) : LINEMEDIAMODE_INTERACTIVEVOICE;
    params.dwAddressMode = LINEADDRESSMODE_ADDRESSID;
    params.dwAddressID = address ? (DWORD)strtoul(address, NULL, 0) : 0;
    g_calls[k].makecall_req = req;
    rc = tsp.makecall(req, g_lines[l].hd, (HTAPICALL)(void *)&g_calls[k], &g_calls[k].hd,
                      strcmp(dest_arg, "-") == 0 ? NULL : dest, 0, media ? &params : NULL);
    if (rc < 0)
        g_calls[k].used = 0;
    out("{\"cmd\":\"makecall\",\"result\":%lu,\"request\":%lu,\"call\":%d}", (unsigned long)(DWORD)rc,
        (unsigned long)req, rc < 0 ? -1 : k);
}

/* Makes and closes up to n calls; stops at the first synchronous refusal. */
static void do_flood(int l, int n, const char *dest_arg)
{
    wchar_t dest[256];
    DWORD slowest = 0;
    LONG refused = 0;
    int i;
    utf8_arg(dest_arg, dest, 256);
    g_quiet = 1;
    for (i = 0; i < n && !refused; i++) {
        int k = new_call(l);
        DWORD start = GetTickCount(), took;
        LONG rc = tsp.makecall(next_request(), g_lines[l].hd, (HTAPICALL)(void *)&g_calls[k], &g_calls[k].hd, dest, 0, NULL);
        took = GetTickCount() - start;
        slowest = took > slowest ? took : slowest;
        if (rc < 0)
            refused = rc;
        else
            tsp.closecall(g_calls[k].hd);
        g_calls[k].used = 0;
    }
    g_quiet = 0;
    out("{\"cmd\":\"flood\",\"result\":0,\"calls\":%d,\"refused\":%lu,\"slowest_ms\":%lu}", i,
        (unsigned long)(DWORD)refused, (unsigned long)slowest);
}

/* The line-device commands; 0 when cmd is not one of them. */
static int line_command(char *cmd, char *a1, char *a2, char *a3)
{
    if (strcmp(cmd, "init") == 0) {
        do_init();
    } else if (strcmp(cmd, "negotiate") == 0 && a1 && a2) {
        DWORD v = 0;
        LONG rc = tsp.negotiate(a3 ? (DWORD)strtoul(a3, NULL, 0) : INITIALIZE_NEGOTIATION, (DWORD)strtoul(a1, NULL, 0),
                                (DWORD)strtoul(a2, NULL, 0), &v);
        out("{\"cmd\":\"negotiate\",\"result\":%lu,\"version\":%lu}", (unsigned long)(DWORD)rc, (unsigned long)v);
    } else if (strcmp(cmd, "open") == 0 && line_arg(a1) >= 0) {
        int l = line_arg(a1);
        LONG rc = tsp.open(LINE_BASE + (DWORD)l, (HTAPILINE)(DWORD_PTR)(0x1000 + l), &g_lines[l].hd, g_lines[l].version, line_event);
        LONG rc2 = rc ? rc : tsp.statusmsgs(g_lines[l].hd, LINEDEVSTATE_INSERVICE | LINEDEVSTATE_OUTOFSERVICE, 0);
        LONG rc3 = rc ? rc : tsp.mediadetect(g_lines[l].hd, LINEMEDIAMODE_INTERACTIVEVOICE);
        g_lines[l].open = rc == 0;
        out("{\"cmd\":\"open\",\"result\":%lu,\"status_messages\":%lu,\"media_detection\":%lu}", (unsigned long)(DWORD)rc,
            (unsigned long)(DWORD)rc2, (unsigned long)(DWORD)rc3);
    } else if (strcmp(cmd, "close") == 0 && line_arg(a1) >= 0) {
        LONG rc = tsp.close(g_lines[line_arg(a1)].hd);
        out("{\"cmd\":\"close\",\"result\":%lu}", (unsigned long)(DWORD)rc);
    } else if (strcmp(cmd, "status") == 0 && line_arg(a1) >= 0) {
        do_status("status", line_arg(a1));
    } else if (strcmp(cmd, "waitservice") == 0 && line_arg(a1) >= 0 && a2 && a3) {
        int l = line_arg(a1), want = atoi(a2);
        DWORD start = GetTickCount(), limit = (DWORD)strtoul(a3, NULL, 10);
        while (in_service(l) != want && GetTickCount() - start < limit)
            Sleep(20);
        out("{\"cmd\":\"waitservice\",\"result\":%d,\"in_service\":%d}", in_service(l) == want ? 0 : 1, in_service(l));
    } else if (strcmp(cmd, "devcaps") == 0 && line_arg(a1) >= 0 && a2) {
        do_devcaps(line_arg(a1), (DWORD)strtoul(a2, NULL, 10));
    } else if (strcmp(cmd, "addrcaps") == 0 && line_arg(a1) >= 0) {
        BYTE buf[1024];
        LINEADDRESSCAPS *ac = (LINEADDRESSCAPS *)buf;
        char addr[256] = "\"\"";
        LONG rc;
        memset(buf, 0, sizeof buf);
        ac->dwTotalSize = sizeof buf;
        rc = tsp.addrcaps(LINE_BASE + (DWORD)line_arg(a1), 0, g_version, 0, ac);
        if (rc == 0 && ac->dwAddressSize)
            wstr_json(addr, sizeof addr, ac, ac->dwAddressSize, ac->dwAddressOffset);
        out("{\"cmd\":\"addrcaps\",\"result\":%lu,\"address\":%s,\"call_features\":%lu,\"call_info_states\":%lu,"
            "\"address_features\":%lu}",
            (unsigned long)(DWORD)rc, addr, (unsigned long)ac->dwCallFeatures, (unsigned long)ac->dwCallInfoStates,
            (unsigned long)ac->dwAddressFeatures);
    } else if (strcmp(cmd, "getid") == 0 && line_arg(a1) >= 0) {
        BYTE buf[64];
        VARSTRING *vs = (VARSTRING *)buf;
        LONG rc;
        DWORD device = 0;
        memset(buf, 0, sizeof buf);
        vs->dwTotalSize = sizeof buf;
        rc = tsp.getid(g_lines[line_arg(a1)].hd, 0, NULL, LINECALLSELECT_LINE, vs, L"tapi/line", NULL);
        if (rc == 0 && vs->dwStringSize == sizeof device)
            memcpy(&device, buf + vs->dwStringOffset, sizeof device);
        out("{\"cmd\":\"getid\",\"result\":%lu,\"device\":%lu}", (unsigned long)(DWORD)rc, (unsigned long)device);
    } else {
        return 0;
    }
    return 1;
}

/* The call and session commands; 0 when cmd is not one of them. */
static int call_command(char *cmd, char *a1, char *a2, char *a3, char **ctx)
{
    if (strcmp(cmd, "makecall") == 0 && line_arg(a1) >= 0 && a2) {
        do_makecall(line_arg(a1), a2, a3, strtok_s(NULL, " ", ctx));
    } else if (strcmp(cmd, "flood") == 0 && line_arg(a1) >= 0 && a2 && a3) {
        do_flood(line_arg(a1), atoi(a2), a3);
    } else if (strcmp(cmd, "install") == 0 || strcmp(cmd, "remove") == 0) {
        fn_setup fn = cmd[0] == 'i' ? tsp.install : tsp.remove;
        LONG rc = fn ? fn(NULL, PROVIDER_ID) : (LONG)LINEERR_OPERATIONUNAVAIL;
        out("{\"cmd\":\"%s\",\"result\":%lu}", cmd, (unsigned long)(DWORD)rc);
    } else if (strcmp(cmd, "reenter") == 0 && a1) {
        g_reenter = strcmp(a1, "newcall") == 0 ? 1 : strcmp(a1, "idle") == 0 ? 2 : strcmp(a1, "devstate") == 0 ? 3 : 0;
        out("{\"cmd\":\"reenter\",\"result\":0}");
    } else if ((strcmp(cmd, "drop") == 0 || strcmp(cmd, "transfer") == 0) && call_arg(a1) >= 0) {
        int k = call_arg(a1);
        DRV_REQUESTID req = next_request();
        LONG rc;
        if (cmd[0] == 'd') {
            rc = tsp.drop(req, g_calls[k].hd, NULL, 0);
        } else {
            wchar_t dest[256];
            utf8_arg(a2, dest, 256);
            rc = tsp.transfer(req, g_calls[k].hd, dest, 0);
        }
        out("{\"cmd\":\"%s\",\"result\":%lu,\"request\":%lu}", cmd, (unsigned long)(DWORD)rc, (unsigned long)req);
    } else if (strcmp(cmd, "digits") == 0 && call_arg(a1) >= 0 && a2) {
        wchar_t digits[256];
        LONG rc;
        DWORD e2e = a3 ? (DWORD)strtoul(a3, NULL, 10) : 4242;
        utf8_arg(a2, digits, 256);
        rc = tsp.digits(g_calls[call_arg(a1)].hd, e2e, LINEDIGITMODE_DTMF, strcmp(a2, "-") == 0 ? NULL : digits, 0);
        out("{\"cmd\":\"digits\",\"result\":%lu,\"end_to_end_id\":%lu}", (unsigned long)(DWORD)rc, (unsigned long)e2e);
    } else if (strcmp(cmd, "callinfo") == 0 && call_arg(a1) >= 0) {
        do_callinfo(call_arg(a1));
    } else if (strcmp(cmd, "callstatus") == 0 && call_arg(a1) >= 0) {
        do_callstatus(call_arg(a1));
    } else if (strcmp(cmd, "closecall") == 0 && call_arg(a1) >= 0) {
        int k = call_arg(a1);
        LONG rc = tsp.closecall(g_calls[k].hd);
        EnterCriticalSection(&g_tab);
        g_calls[k].closed = 1;
        LeaveCriticalSection(&g_tab);
        out("{\"cmd\":\"closecall\",\"result\":%lu}", (unsigned long)(DWORD)rc);
    } else if (strcmp(cmd, "refuse") == 0 && a1) {
        g_refuse = atoi(a1);
        out("{\"cmd\":\"refuse\",\"result\":0}");
    } else if (strcmp(cmd, "sleep") == 0 && a1) {
        Sleep((DWORD)strtoul(a1, NULL, 10));
        out("{\"cmd\":\"sleep\",\"result\":0}");
    } else if (strcmp(cmd, "shutdown") == 0) {
        LONG rc = tsp.shutdown(g_version, PROVIDER_ID);
        out("{\"cmd\":\"shutdown\",\"result\":%lu}", (unsigned long)(DWORD)rc);
    } else {
        return 0;
    }
    return 1;
}

static void run(void)
{
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        char *cmd, *a1, *a2, *a3, *ctx = NULL;
        line[strcspn(line, "\r\n")] = 0;
        cmd = strtok_s(line, " ", &ctx);
        if (!cmd)
            continue;
        a1 = strtok_s(NULL, " ", &ctx);
        a2 = strtok_s(NULL, " ", &ctx);
        a3 = strtok_s(NULL, " ", &ctx);
        if (line_command(cmd, a1, a2, a3) || call_command(cmd, a1, a2, a3, &ctx)) {
            continue;
        } else if (strcmp(cmd, "quit") == 0) {
            out("{\"cmd\":\"quit\",\"result\":0}");
            return;
        } else {
            out("{\"cmd\":\"unknown\",\"result\":1}");
        }
    }
}

int main(int argc, char **argv)
{
    int i, cleared = 0;
    const char *path = NULL;
    InitializeCriticalSection(&g_out);
    InitializeCriticalSection(&g_tab);
    for (i = 1; i < argc; i++) {
        const char *kind = NULL;
        if (strcmp(argv[i], "--reg-dword") == 0)
            kind = "dword";
        else if (strcmp(argv[i], "--reg-sz") == 0)
            kind = "sz";
        else if (strcmp(argv[i], "--reg-multi") == 0)
            kind = "multi";
        if (kind && i + 1 < argc) {
            if (!cleared) {
                RegDeleteKeyW(HKEY_LOCAL_MACHINE, L"Software\\tapievent\\TSP");
                cleared = 1;
            }
            set_reg(kind, argv[++i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: tsp_harness [--reg-dword N=V] [--reg-sz N=V] [--reg-multi N=a,b] TSP_PATH\n");
        return 2;
    }
    load(path);
    out("{\"ev\":\"loaded\"}");
    run();
    return 0;
}
