/* The Configure dialog: one configuration for the DLL and the bridge.
 *
 * Everything lives in HKLM\Software\tapievent\TSP: AmiHost, AmiPort, AmiTls,
 * AmiUser, UserChannel and Lines (REG_MULTI_SZ, the same value the provider
 * enumerates), and AmiSecret, the manager secret as a DPAPI blob
 * (CryptProtectData, machine scope: the bridge runs as a service account, not
 * as the administrator who typed it). The key is created with a DACL that
 * lets only SYSTEM and Administrators change it and the service accounts
 * (LocalService, NetworkService) read it, so ordinary users of a shared
 * RDS/Citrix machine can neither read the blob nor point the provider
 * elsewhere. What is typed is checked before anything is written: a refused
 * entry writes nothing. */
#include "../src/tsp.h"
#include "dialog.h"

#include <sddl.h>
#include <wincrypt.h>

#define FIELD_CHARS 256
#define CONFIG_SDDL L"D:P(A;OICI;KA;;;SY)(A;OICI;KA;;;BA)(A;OICI;KR;;;LS)(A;OICI;KR;;;NS)"

typedef struct dialog_values {
    wchar_t host[FIELD_CHARS], port[16], user[FIELD_CHARS], secret[FIELD_CHARS];
    wchar_t channel[FIELD_CHARS], lines[MAX_LINES * NAME_CHARS];
    DWORD tls;
} dialog_values;

/* Opens (creating with the restricted DACL) the configuration key for writing. */
LONG open_config_key(HKEY *key)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    PSECURITY_DESCRIPTOR sd = NULL;
    LONG rc;
    if (ConvertStringSecurityDescriptorToSecurityDescriptorW(CONFIG_SDDL, SDDL_REVISION_1, &sd, NULL))
        sa.lpSecurityDescriptor = sd;
    rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, NULL, 0, KEY_READ | KEY_WRITE, &sa, key, NULL);
    if (sd)
        LocalFree(sd);
    return rc;
}

static void read_sz(HKEY key, const wchar_t *name, wchar_t *out, DWORD chars)
{
    DWORD type, size = (chars - 1) * sizeof(wchar_t);
    memset(out, 0, chars * sizeof(wchar_t));
    if (RegQueryValueExW(key, name, NULL, &type, (BYTE *)out, &size) != ERROR_SUCCESS || type != REG_SZ)
        out[0] = 0;
}

static DWORD read_dword(HKEY key, const wchar_t *name, DWORD fallback)
{
    DWORD type, value, size = sizeof value;
    if (RegQueryValueExW(key, name, NULL, &type, (BYTE *)&value, &size) == ERROR_SUCCESS && type == REG_DWORD)
        return value;
    return fallback;
}

/* The stored values (the secret never: the field stays empty, meaning "keep"). */
static void load_values(dialog_values *v, int *has_secret)
{
    HKEY key;
    memset(v, 0, sizeof *v);
    wcscpy(v->host, L"127.0.0.1");
    wcscpy(v->port, L"5038");
    wcscpy(v->lines, L"line_1");
    *has_secret = 0;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, REG_KEY, 0, KEY_READ, &key) != ERROR_SUCCESS)
        return;
    read_sz(key, L"AmiHost", v->host, FIELD_CHARS);
    _snwprintf(v->port, 15, L"%lu", (unsigned long)read_dword(key, L"AmiPort", 5038));
    v->tls = read_dword(key, L"AmiTls", 0) ? 1 : 0;
    read_sz(key, L"AmiUser", v->user, FIELD_CHARS);
    read_sz(key, L"UserChannel", v->channel, FIELD_CHARS);
    {
        wchar_t multi[MAX_LINES * NAME_CHARS + 2];
        DWORD type, size = sizeof multi - 2 * sizeof(wchar_t);
        memset(multi, 0, sizeof multi);
        if (RegQueryValueExW(key, L"Lines", NULL, &type, (BYTE *)multi, &size) == ERROR_SUCCESS &&
            type == REG_MULTI_SZ && multi[0]) {
            const wchar_t *p;
            v->lines[0] = 0;
            for (p = multi; *p; p += wcslen(p) + 1) {
                if (v->lines[0])
                    wcsncat(v->lines, L", ", MAX_LINES * NAME_CHARS - wcslen(v->lines) - 1);
                wcsncat(v->lines, p, MAX_LINES * NAME_CHARS - wcslen(v->lines) - 1);
            }
        }
    }
    *has_secret = RegQueryValueExW(key, L"AmiSecret", NULL, NULL, NULL, NULL) == ERROR_SUCCESS;
    RegCloseKey(key);
}

static int has_control(const wchar_t *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s == 0x7F)
            return 1;
    return 0;
}

static void trim(wchar_t *s)
{
    size_t n = wcslen(s), start = 0;
    while (n > 0 && s[n - 1] == L' ')
        s[--n] = 0;
    while (s[start] == L' ')
        start++;
    memmove(s, s + start, (n - start + 1) * sizeof(wchar_t));
}

/* "a, b" -> "a\0b\0\0"; returns the bytes of the REG_MULTI_SZ or 0 with *why set. */
static DWORD lines_to_multi(const wchar_t *text, wchar_t *multi, size_t chars, const wchar_t **why)
{
    wchar_t copy[MAX_LINES * NAME_CHARS], *part, *next;
    size_t used = 0;
    int count = 0;
    wcsncpy(copy, text, sizeof copy / sizeof copy[0] - 1);
    copy[sizeof copy / sizeof copy[0] - 1] = 0;
    for (part = copy; part; part = next) {
        size_t n;
        next = wcschr(part, L',');
        if (next)
            *next++ = 0;
        trim(part);
        n = wcslen(part);
        if (n == 0)
            continue;
        if (n >= NAME_CHARS || ++count > MAX_LINES || used + n + 2 > chars) {
            *why = L"A line name is too long, or there are more than 32 lines.";
            return 0;
        }
        memcpy(multi + used, part, (n + 1) * sizeof(wchar_t));
        used += n + 1;
    }
    multi[used++] = 0;
    if (count == 0)
        *why = L"Name at least one line (the Asterisk channel, e.g. PJSIP/100).";
    return count ? (DWORD)(used * sizeof(wchar_t)) : 0;
}

/* NULL when what was typed can be written, else the message to show. */
static const wchar_t *validate(dialog_values *v, int has_secret, unsigned long *port)
{
    wchar_t *end = NULL;
    trim(v->host);
    trim(v->user);
    trim(v->channel);
    if (has_control(v->host) || has_control(v->user) || has_control(v->secret) || has_control(v->channel) ||
        has_control(v->lines))
        return L"Control characters are not allowed in any field.";
    if (!v->host[0] || wcschr(v->host, L' '))
        return L"The Asterisk host must be a host name or address without spaces.";
    *port = wcstoul(v->port, &end, 10);
    if (!v->port[0] || (end && *end) || *port < 1 || *port > 65535)
        return L"The manager port must be a number from 1 to 65535.";
    if (!v->user[0])
        return L"The manager user must not be empty.";
    if (!v->secret[0] && !has_secret)
        return L"Type the manager secret (it is stored encrypted).";
    if (wcschr(v->channel, L' '))
        return L"Your phone is an Asterisk channel such as PJSIP/100, without spaces.";
    return NULL;
}

static LONG set_sz(HKEY key, const wchar_t *name, const wchar_t *value)
{
    return RegSetValueExW(key, name, 0, REG_SZ, (const BYTE *)value, (DWORD)((wcslen(value) + 1) * sizeof(wchar_t)));
}

/* The secret as UTF-8, protected with DPAPI (machine scope); the plain copy is wiped. */
static LONG store_secret(HKEY key, const wchar_t *secret)
{
    char utf8[FIELD_CHARS * 3];
    DATA_BLOB in, out;
    LONG rc = LINEERR_OPERATIONFAILED;
    wide_to_utf8(secret, utf8, sizeof utf8);
    in.pbData = (BYTE *)utf8;
    in.cbData = (DWORD)strlen(utf8);
    if (CryptProtectData(&in, L"tapievent AMI secret", NULL, NULL, NULL,
                         CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN, &out)) {
        rc = RegSetValueExW(key, L"AmiSecret", 0, REG_BINARY, out.pbData, out.cbData);
        LocalFree(out.pbData);
    }
    SecureZeroMemory(utf8, sizeof utf8);
    return rc;
}

static LONG write_values(const dialog_values *v, DWORD port, const wchar_t *multi, DWORD multi_bytes)
{
    HKEY key;
    LONG rc = open_config_key(&key);
    if (rc != ERROR_SUCCESS)
        return rc;
    rc = set_sz(key, L"AmiHost", v->host);
    if (rc == ERROR_SUCCESS)
        rc = RegSetValueExW(key, L"AmiPort", 0, REG_DWORD, (const BYTE *)&port, sizeof port);
    if (rc == ERROR_SUCCESS)
        rc = RegSetValueExW(key, L"AmiTls", 0, REG_DWORD, (const BYTE *)&v->tls, sizeof v->tls);
    if (rc == ERROR_SUCCESS)
        rc = set_sz(key, L"AmiUser", v->user);
    if (rc == ERROR_SUCCESS)
        rc = set_sz(key, L"UserChannel", v->channel);
    if (rc == ERROR_SUCCESS)
        rc = RegSetValueExW(key, L"Lines", 0, REG_MULTI_SZ, (const BYTE *)multi, multi_bytes);
    if (rc == ERROR_SUCCESS && v->secret[0])
        rc = store_secret(key, v->secret);
    RegCloseKey(key);
    return rc;
}

static void fill_dialog(HWND dlg, const dialog_values *v)
{
    SetDlgItemTextW(dlg, IDC_HOST, v->host);
    SetDlgItemTextW(dlg, IDC_PORT, v->port);
    CheckDlgButton(dlg, IDC_TLS, v->tls ? BST_CHECKED : BST_UNCHECKED);
    SetDlgItemTextW(dlg, IDC_USER, v->user);
    SetDlgItemTextW(dlg, IDC_CHANNEL, v->channel);
    SetDlgItemTextW(dlg, IDC_LINES, v->lines);
    SendDlgItemMessageW(dlg, IDC_SECRET, EM_LIMITTEXT, FIELD_CHARS - 1, 0);
}

/* OK: read, check, write. Returns 1 when the dialog may close. */
static int on_ok(HWND dlg, int has_secret)
{
    dialog_values v;
    wchar_t multi[MAX_LINES * NAME_CHARS + 2];
    const wchar_t *why = NULL;
    unsigned long port = 0;
    DWORD multi_bytes = 0;
    LONG rc;
    memset(&v, 0, sizeof v);
    GetDlgItemTextW(dlg, IDC_HOST, v.host, FIELD_CHARS);
    GetDlgItemTextW(dlg, IDC_PORT, v.port, 16);
    v.tls = IsDlgButtonChecked(dlg, IDC_TLS) == BST_CHECKED;
    GetDlgItemTextW(dlg, IDC_USER, v.user, FIELD_CHARS);
    GetDlgItemTextW(dlg, IDC_SECRET, v.secret, FIELD_CHARS);
    GetDlgItemTextW(dlg, IDC_CHANNEL, v.channel, FIELD_CHARS);
    GetDlgItemTextW(dlg, IDC_LINES, v.lines, MAX_LINES * NAME_CHARS);
    why = validate(&v, has_secret, &port);
    if (!why)
        multi_bytes = lines_to_multi(v.lines, multi, sizeof multi / sizeof multi[0], &why);
    if (why) {
        SecureZeroMemory(v.secret, sizeof v.secret);
        MessageBoxW(dlg, why, L"tapievent TSP: check the entry", MB_OK | MB_ICONWARNING);
        return 0;
    }
    rc = write_values(&v, (DWORD)port, multi, multi_bytes);
    SecureZeroMemory(v.secret, sizeof v.secret);
    if (rc != ERROR_SUCCESS) {
        MessageBoxW(dlg, L"The configuration could not be written (are you an administrator?).",
                    L"tapievent TSP", MB_OK | MB_ICONERROR);
        return 0;
    }
    tsp_log("configuration written by the Configure dialog");
    return 1;
}

static INT_PTR CALLBACK dialog_proc(HWND dlg, UINT msg, WPARAM wp, LPARAM lp)
{
    if (msg == WM_INITDIALOG) {
        dialog_values v;
        int has_secret;
        load_values(&v, &has_secret);
        SetWindowLongPtrW(dlg, DWLP_USER, (LONG_PTR)has_secret);
        fill_dialog(dlg, &v);
        (void)lp;
        return TRUE; /* focus on the first field, its text selected */
    }
    if (msg == WM_COMMAND && LOWORD(wp) == IDOK) {
        if (on_ok(dlg, (int)GetWindowLongPtrW(dlg, DWLP_USER)))
            EndDialog(dlg, IDOK);
        return TRUE;
    }
    if (msg == WM_COMMAND && LOWORD(wp) == IDCANCEL) {
        EndDialog(dlg, IDCANCEL);
        return TRUE;
    }
    return FALSE;
}

INT_PTR config_dialog(HWND owner)
{
    return DialogBoxParamW(g_module, MAKEINTRESOURCEW(IDD_CONFIG), owner, dialog_proc, 0);
}
