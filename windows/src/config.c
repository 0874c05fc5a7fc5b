/* Configuration: HKLM\Software\tapievent\TSP, read at init. */
#include "tsp.h"

static void reg_string(HKEY key, const wchar_t *name, wchar_t *out, DWORD chars)
{
    DWORD type, size = chars * sizeof(wchar_t);
    wchar_t tmp[512];
    if (size > sizeof tmp)
        size = sizeof tmp;
    if (key && RegQueryValueExW(key, name, NULL, &type, (BYTE *)tmp, &size) == ERROR_SUCCESS &&
        (type == REG_SZ || type == REG_EXPAND_SZ) && size >= sizeof(wchar_t)) {
        tmp[size / sizeof(wchar_t) - 1] = 0;
        tmp[sizeof tmp / sizeof tmp[0] - 1] = 0;
        wcsncpy(out, tmp, chars - 1);
        out[chars - 1] = 0;
    }
}

static void reg_dword(HKEY key, const wchar_t *name, DWORD *out, DWORD lo, DWORD hi)
{
    DWORD type, value, size = sizeof value;
    if (key && RegQueryValueExW(key, name, NULL, &type, (BYTE *)&value, &size) == ERROR_SUCCESS &&
        type == REG_DWORD && value >= lo && value <= hi)
        *out = value;
}

/* HKLM\Software\tapievent\TSP: BridgeHost, BridgePort, Lines (REG_MULTI_SZ),
 * ReconnectMs, RequestTimeoutMs, DialPauseMs, LogFile. Missing or bad values keep defaults. */
void load_config(void)
{
    HKEY key = NULL;
    wcscpy(cfg.host, L"127.0.0.1");
    cfg.port = 5070;
    cfg.reconnect_ms = 2000;
    cfg.timeout_ms = 30000;
    cfg.dial_pause_ms = 2000;
    cfg.log_file[0] = 0;
    cfg.nlines = 0;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) != ERROR_SUCCESS)
        key = NULL;
    reg_string(key, L"BridgeHost", cfg.host, 128);
    reg_dword(key, L"BridgePort", &cfg.port, 1, 65535);
    reg_dword(key, L"ReconnectMs", &cfg.reconnect_ms, 50, 600000);
    reg_dword(key, L"RequestTimeoutMs", &cfg.timeout_ms, 100, 600000);
    reg_dword(key, L"DialPauseMs", &cfg.dial_pause_ms, 0, 60000);
    reg_string(key, L"LogFile", cfg.log_file, MAX_PATH);
    if (key) {
        wchar_t multi[MAX_LINES * NAME_CHARS + 2];
        DWORD type, size = sizeof multi - 2 * sizeof(wchar_t);
        memset(multi, 0, sizeof multi);
        if (RegQueryValueExW(key, L"Lines", NULL, &type, (BYTE *)multi, &size) == ERROR_SUCCESS && type == REG_MULTI_SZ) {
            const wchar_t *p = multi;
            while (*p && cfg.nlines < MAX_LINES) {
                size_t n = wcslen(p);
                if (n < NAME_CHARS) {
                    wcscpy(g_lines[cfg.nlines].name, p);
                    cfg.nlines++;
                } else {
                    tsp_log("line name too long, ignored");
                }
                p += n + 1;
            }
        }
        RegCloseKey(key);
    }
    if (cfg.nlines == 0) {
        wcscpy(g_lines[0].name, L"line_1");
        cfg.nlines = 1;
    }
    {
        int i;
        for (i = 0; i < cfg.nlines; i++) {
            wide_to_utf8(g_lines[i].name, g_lines[i].name_utf8, sizeof g_lines[i].name_utf8);
            g_lines[i].open = 0;
            g_lines[i].in_service = 0;
        }
    }
}
