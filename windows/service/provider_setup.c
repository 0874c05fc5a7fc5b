/* tapievent-setup.exe: the installer's steps that need code (MSI deferred custom actions).
 *
 *   tapievent-setup.exe add      check the Python prerequisite, then lineAddProvider(L"tapievent.tsp")
 *   tapievent-setup.exe remove   lineRemoveProvider for the id `add` stored
 *
 * Every step writes one line to %ProgramData%\tapievent\setup.log, so an
 * administrator (and the Wine test) can see what the installer did. A refused
 * lineAddProvider (TAPISRV not running, or Wine's tapi32, which refuses every
 * provider) does not fail the installation: the files and the service are in
 * place and Phone and Modem -> Advanced -> Add lists the provider. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <tapi.h>
#include <sddl.h>
#include <wincrypt.h>
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

#define REG_KEY L"Software\\tapievent\\TSP"
#define CONFIG_SDDL L"D:P(A;OICI;KA;;;SY)(A;OICI;KA;;;BA)(A;OICI;KR;;;LS)(A;OICI;KR;;;NS)"

static void setup_log(const char *fmt, ...)
{
    wchar_t dir[MAX_PATH], path[MAX_PATH];
    FILE *f;
    va_list ap;
    if (!GetEnvironmentVariableW(L"ProgramData", dir, MAX_PATH))
        wcscpy(dir, L"C:\\ProgramData");
    _snwprintf(path, MAX_PATH - 1, L"%ls\\tapievent", dir);
    path[MAX_PATH - 1] = 0;
    CreateDirectoryW(path, NULL);
    wcsncat(path, L"\\setup.log", MAX_PATH - wcslen(path) - 1);
    if (!(f = _wfopen(path, L"a")))
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* The bridge needs Python 3.10+ with tapievent[tsp]; the py launcher or python.exe on PATH. */
static void check_python(void)
{
    wchar_t found[MAX_PATH];
    if (SearchPathW(NULL, L"py.exe", NULL, MAX_PATH, found, NULL) ||
        SearchPathW(NULL, L"python.exe", NULL, MAX_PATH, found, NULL))
        setup_log("python found: %ls (the bridge needs tapievent[tsp] installed in it)", found);
    else
        setup_log("prerequisite missing: Python 3.10 or later with tapievent[tsp] "
                  "(python.org installer, then: py -m pip install \"tapievent[tsp]\"); "
                  "the tapievent-bridge service cannot start without it");
}

static DWORD stored_id(void)
{
    HKEY key;
    DWORD id = 0, size = sizeof id, type;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) == ERROR_SUCCESS) {
        if (RegQueryValueExW(key, L"ProviderId", NULL, &type, (BYTE *)&id, &size) != ERROR_SUCCESS ||
            type != REG_DWORD)
            id = 0;
        RegCloseKey(key);
    }
    return id;
}

static void store_id(DWORD id)
{
    HKEY key;
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, NULL, 0, KEY_WRITE, NULL, &key, NULL) == ERROR_SUCCESS) {
        if (id)
            RegSetValueExW(key, L"ProviderId", 0, REG_DWORD, (const BYTE *)&id, sizeof id);
        else
            RegDeleteValueW(key, L"ProviderId");
        RegCloseKey(key);
    }
}

/* The per-install secret of the loopback link (LinkToken, 64 hex digits), made
 * once: the provider sends it in its hello and the bridge refuses a hello
 * without it. The key's DACL (the same the Configure dialog sets) lets only
 * SYSTEM, Administrators and the service accounts read it. */
static void make_link_token(void)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    PSECURITY_DESCRIPTOR sd = NULL;
    BYTE random[32];
    wchar_t hex[65];
    HCRYPTPROV prov;
    HKEY key;
    int i;
    if (ConvertStringSecurityDescriptorToSecurityDescriptorW(CONFIG_SDDL, SDDL_REVISION_1, &sd, NULL))
        sa.lpSecurityDescriptor = sd;
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, NULL, 0, KEY_READ | KEY_WRITE, &sa, &key, NULL) != ERROR_SUCCESS) {
        setup_log("cannot open HKLM\\%ls for the link token", REG_KEY);
    } else if (RegQueryValueExW(key, L"LinkToken", NULL, NULL, NULL, NULL) == ERROR_SUCCESS) {
        setup_log("link token kept");
        RegCloseKey(key);
    } else if (CryptAcquireContextW(&prov, NULL, NULL, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT) &&
               CryptGenRandom(prov, sizeof random, random)) {
        for (i = 0; i < 32; i++)
            _snwprintf(hex + 2 * i, 3, L"%02x", random[i]);
        hex[64] = 0;
        RegSetValueExW(key, L"LinkToken", 0, REG_SZ, (const BYTE *)hex, sizeof hex);
        CryptReleaseContext(prov, 0);
        SecureZeroMemory(hex, sizeof hex);
        SecureZeroMemory(random, sizeof random);
        setup_log("link token made");
        RegCloseKey(key);
    } else {
        setup_log("no random source for the link token");
        RegCloseKey(key);
    }
    if (sd)
        LocalFree(sd);
}

static int add(void)
{
    DWORD id = 0;
    LONG rc;
    check_python();
    make_link_token();
    rc = lineAddProvider(L"tapievent.tsp", NULL, &id);
    if (rc == 0) {
        store_id(id);
        setup_log("lineAddProvider(tapievent.tsp) = 0, provider id %lu", (unsigned long)id);
    } else {
        setup_log("lineAddProvider(tapievent.tsp) = 0x%08lX: not registered; add it in "
                  "Phone and Modem -> Advanced -> Add",
                  (unsigned long)(DWORD)rc);
    }
    return 0;
}

static int remove_provider(void)
{
    DWORD id = stored_id();
    LONG rc;
    if (!id) {
        setup_log("lineRemoveProvider: no provider id stored, nothing to remove");
        return 0;
    }
    rc = lineRemoveProvider(id, NULL);
    setup_log("lineRemoveProvider(%lu) = 0x%08lX", (unsigned long)id, (unsigned long)(DWORD)rc);
    if (rc == 0)
        store_id(0);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 2 && wcscmp(argv[1], L"add") == 0)
        return add();
    if (argc == 2 && wcscmp(argv[1], L"remove") == 0)
        return remove_provider();
    fwprintf(stderr, L"usage: tapievent-setup.exe add | remove\n");
    return 2;
}
