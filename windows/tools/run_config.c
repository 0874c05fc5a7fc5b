/* Test tool for the Configure dialog.
 *
 *   run_config.exe config DLL       call DLL's TUISPI_providerConfig (no owner), print {"result": N}
 *   run_config.exe check-secret S   unprotect AmiSecret as the bridge service would and print
 *                                   {"stored": 0|1, "match": 0|1} (never the secret itself)
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <string.h>

typedef LONG(WINAPI *fn_config)(void *callback, HWND owner, DWORD provider_id);

static int run_config(const wchar_t *dll_path)
{
    HMODULE dll = LoadLibraryW(dll_path);
    fn_config config;
    if (!dll) {
        printf("{\"error\": \"LoadLibrary %lu\"}\n", (unsigned long)GetLastError());
        return 2;
    }
    config = (fn_config)(void *)GetProcAddress(dll, "TUISPI_providerConfig");
    if (!config) {
        printf("{\"error\": \"no TUISPI_providerConfig\"}\n");
        return 2;
    }
    printf("{\"result\": %ld}\n", (long)config(NULL, NULL, 1));
    return 0;
}

static int check_secret(const wchar_t *expected)
{
    BYTE blob[4096];
    DWORD type, size = sizeof blob;
    DATA_BLOB in, out;
    char want[1024];
    int match = 0;
    HKEY key;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, L"Software\\tapievent\\TSP", 0, KEY_READ, &key) != ERROR_SUCCESS ||
        RegQueryValueExW(key, L"AmiSecret", NULL, &type, blob, &size) != ERROR_SUCCESS || type != REG_BINARY) {
        printf("{\"stored\": 0, \"match\": 0}\n");
        return 0;
    }
    RegCloseKey(key);
    WideCharToMultiByte(CP_UTF8, 0, expected, -1, want, sizeof want, NULL, NULL);
    in.pbData = blob;
    in.cbData = size;
    if (CryptUnprotectData(&in, NULL, NULL, NULL, NULL, CRYPTPROTECT_UI_FORBIDDEN, &out)) {
        match = out.cbData == strlen(want) && memcmp(out.pbData, want, out.cbData) == 0;
        SecureZeroMemory(out.pbData, out.cbData);
        LocalFree(out.pbData);
    }
    printf("{\"stored\": 1, \"match\": %d}\n", match);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 3 && wcscmp(argv[1], L"config") == 0)
        return run_config(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"check-secret") == 0)
        return check_secret(argv[2]);
    fprintf(stderr, "usage: run_config.exe config DLL | check-secret EXPECTED\n");
    return 2;
}
