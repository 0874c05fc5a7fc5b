/* tapievent-bridge: the Windows service that runs and supervises the bridge.
 *
 *   tapievent-bridge.exe install     create the service (automatic start, LocalService)
 *   tapievent-bridge.exe uninstall   stop and delete it
 *   tapievent-bridge.exe run         what the service manager starts
 *
 * The bridge is a Python process (`python -m tapievent tsp-bridge ...`). Its
 * command line is BridgeCommand (REG_SZ) in HKLM\Software\tapievent\TSP, the
 * key the Configure dialog and the provider use, so there is one place to
 * look. The child runs in a job object that kills it when the service ends,
 * so stopping the service (or the service crashing) never leaves a bridge
 * behind. When the child dies it is started again after a backoff that
 * doubles from 1 s to 60 s and starts over once a child has lived a minute:
 * a bridge that cannot log in does not spin, one that crashed once comes back
 * at once. ServiceLog (REG_SZ, optional) names a file for one line per event. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

#define SERVICE_NAME L"tapievent-bridge"
#define REG_KEY L"Software\\tapievent\\TSP"
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define HEALTHY_MS 60000

static SERVICE_STATUS_HANDLE g_status_handle;
static SERVICE_STATUS g_status;
static HANDLE g_stop;
static wchar_t g_log[MAX_PATH];

static void svc_log(const char *fmt, ...)
{
    FILE *f;
    va_list ap;
    if (!g_log[0] || !(f = _wfopen(g_log, L"a")))
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static int read_setting(const wchar_t *name, wchar_t *out, DWORD chars)
{
    HKEY key;
    DWORD type, size = (chars - 1) * sizeof(wchar_t);
    LONG rc;
    memset(out, 0, chars * sizeof(wchar_t));
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) != ERROR_SUCCESS)
        return 0;
    rc = RegQueryValueExW(key, name, NULL, &type, (BYTE *)out, &size);
    RegCloseKey(key);
    return rc == ERROR_SUCCESS && (type == REG_SZ || type == REG_EXPAND_SZ) && out[0];
}

static void set_state(DWORD state, DWORD exit_code)
{
    g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g_status.dwCurrentState = state;
    g_status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    g_status.dwWin32ExitCode = exit_code;
    g_status.dwWaitHint = state == SERVICE_RUNNING ? 0 : 10000;
    SetServiceStatus(g_status_handle, &g_status);
}

static DWORD WINAPI control(DWORD code, DWORD type, LPVOID data, LPVOID context)
{
    (void)type;
    (void)data;
    (void)context;
    if (code == SERVICE_CONTROL_STOP || code == SERVICE_CONTROL_SHUTDOWN) {
        set_state(SERVICE_STOP_PENDING, 0);
        SetEvent(g_stop);
        return NO_ERROR;
    }
    return code == SERVICE_CONTROL_INTERROGATE ? NO_ERROR : ERROR_CALL_NOT_IMPLEMENTED;
}

/* A job that kills its processes when its last handle closes (the service ends). */
static HANDLE make_job(void)
{
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits;
    HANDLE job = CreateJobObjectW(NULL, NULL);
    memset(&limits, 0, sizeof limits);
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (job)
        SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    return job;
}

static HANDLE start_child(HANDLE job, wchar_t *command)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(NULL, command, NULL, NULL, FALSE, CREATE_NO_WINDOW | CREATE_SUSPENDED, NULL, NULL, &si,
                        &pi)) {
        svc_log("cannot start the bridge: error %lu", (unsigned long)GetLastError());
        return NULL;
    }
    if (job)
        AssignProcessToJobObject(job, pi.hProcess);
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    svc_log("bridge started, pid %lu", (unsigned long)pi.dwProcessId);
    return pi.hProcess;
}

/* The supervision loop: run, wait for the child or the stop event, back off, run again. */
static void supervise(wchar_t *command)
{
    HANDLE job = make_job();
    DWORD backoff = BACKOFF_FIRST_MS;
    for (;;) {
        DWORD started = GetTickCount(), code = 0, waited;
        HANDLE child = start_child(job, command);
        if (child) {
            HANDLE both[2] = {g_stop, child};
            waited = WaitForMultipleObjects(2, both, FALSE, INFINITE);
            if (waited == WAIT_OBJECT_0) {
                TerminateJobObject(job, 0);
                WaitForSingleObject(child, 10000);
                CloseHandle(child);
                svc_log("service stopping: bridge ended");
                break;
            }
            GetExitCodeProcess(child, &code);
            CloseHandle(child);
            if (GetTickCount() - started >= HEALTHY_MS)
                backoff = BACKOFF_FIRST_MS;
        }
        svc_log("bridge exited (code %lu), restarting in %lu ms", (unsigned long)code, (unsigned long)backoff);
        if (WaitForSingleObject(g_stop, backoff) == WAIT_OBJECT_0)
            break;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    if (job)
        CloseHandle(job);
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    wchar_t command[2048];
    (void)argc;
    (void)argv;
    g_status_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, control, NULL);
    if (!g_status_handle)
        return;
    set_state(SERVICE_START_PENDING, 0);
    read_setting(L"ServiceLog", g_log, MAX_PATH);
    g_stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!read_setting(L"BridgeCommand", command, sizeof command / sizeof command[0])) {
        svc_log("no BridgeCommand in HKLM\\%ls: run the installer again", REG_KEY);
        set_state(SERVICE_STOPPED, ERROR_BAD_CONFIGURATION);
        return;
    }
    set_state(SERVICE_RUNNING, 0);
    svc_log("service running");
    supervise(command);
    set_state(SERVICE_STOPPED, 0);
}

static int install(void)
{
    wchar_t path[MAX_PATH], command[MAX_PATH + 16];
    SC_HANDLE scm, svc;
    GetModuleFileNameW(NULL, path, MAX_PATH);
    _snwprintf(command, MAX_PATH + 15, L"\"%ls\" run", path);
    command[MAX_PATH + 15] = 0;
    scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
    if (!scm)
        return 1;
    svc = CreateServiceW(scm, SERVICE_NAME, L"tapievent TSP bridge", SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                         SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, command, NULL, NULL, NULL,
                         L"NT AUTHORITY\\LocalService", NULL);
    if (svc)
        CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return svc || GetLastError() == ERROR_SERVICE_EXISTS ? 0 : 1;
}

static int uninstall(void)
{
    SERVICE_STATUS status;
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;
    int ok;
    if (!scm)
        return 1;
    svc = OpenServiceW(scm, SERVICE_NAME, SERVICE_STOP | DELETE | SERVICE_QUERY_STATUS);
    if (!svc) {
        CloseServiceHandle(scm);
        return GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST ? 0 : 1;
    }
    ControlService(svc, SERVICE_CONTROL_STOP, &status);
    ok = DeleteService(svc) || GetLastError() == ERROR_SERVICE_MARKED_FOR_DELETE;
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return ok ? 0 : 1;
}

int wmain(int argc, wchar_t **argv)
{
    static SERVICE_TABLE_ENTRYW table[] = {{SERVICE_NAME, service_main}, {NULL, NULL}};
    if (argc == 2 && wcscmp(argv[1], L"install") == 0)
        return install();
    if (argc == 2 && wcscmp(argv[1], L"uninstall") == 0)
        return uninstall();
    if (argc == 2 && wcscmp(argv[1], L"run") == 0)
        return StartServiceCtrlDispatcherW(table) ? 0 : 1;
    fwprintf(stderr, L"usage: tapievent-bridge.exe install | uninstall | run\n");
    return 2;
}
