/* Logging, UTF-8/UTF-16 conversion and the builder for TAPI's variable-size
 * structures: the small helpers every other file uses. */
#include "tsp.h"

static SRWLOCK g_log = SRWLOCK_INIT;

void tsp_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n = snprintf(line, sizeof line, "tapievent.tsp: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    OutputDebugStringA(line);
    if (cfg.log_file[0]) {
        FILE *f;
        AcquireSRWLockExclusive(&g_log);
        f = _wfopen(cfg.log_file, L"a");
        if (f) {
            SYSTEMTIME t;
            GetLocalTime(&t);
            fprintf(f, "%02u:%02u:%02u.%03u %s\n", t.wHour, t.wMinute, t.wSecond, t.wMilliseconds, line);
            fclose(f);
        }
        ReleaseSRWLockExclusive(&g_log);
    }
}

/* UTF-8 -> UTF-16, truncated (never split mid-character) to fit dst. */
void utf8_to_wide(const char *src, wchar_t *dst, int dst_chars)
{
    int need;
    dst[0] = 0;
    if (!src || !*src)
        return;
    need = MultiByteToWideChar(CP_UTF8, 0, src, -1, NULL, 0);
    if (need <= 0)
        return;
    if (need <= dst_chars) {
        MultiByteToWideChar(CP_UTF8, 0, src, -1, dst, dst_chars);
    } else {
        wchar_t *tmp = HeapAlloc(GetProcessHeap(), 0, (size_t)need * sizeof(wchar_t));
        int n = dst_chars - 1;
        if (!tmp)
            return;
        MultiByteToWideChar(CP_UTF8, 0, src, -1, tmp, need);
        if (n > 0 && tmp[n - 1] >= 0xD800 && tmp[n - 1] <= 0xDBFF)
            n--;
        memcpy(dst, tmp, (size_t)n * sizeof(wchar_t));
        dst[n] = 0;
        HeapFree(GetProcessHeap(), 0, tmp);
    }
}

void wide_to_utf8(const wchar_t *src, char *dst, int dst_bytes)
{
    dst[0] = 0;
    if (src && *src && WideCharToMultiByte(CP_UTF8, 0, src, -1, dst, dst_bytes, NULL, NULL) <= 0)
        dst[0] = 0;
}

DWORD str_format_unicode_bytes(const wchar_t *s)
{
    return (DWORD)((wcslen(s) + 1) * sizeof(wchar_t));
}

void vb_init(var_builder *vb, void *structure, DWORD fixed)
{
    vb_init_keep(vb, structure, fixed, NULL, 0);
}

/* As vb_init, but the byte ranges keep[2k]..keep[2k]+keep[2k+1] are left as
 * they are: TAPI owns those fields (it fills them before or after the call)
 * and a provider must not write them. */
void vb_init_keep(var_builder *vb, void *structure, DWORD fixed, const DWORD *keep, int nkeep)
{
    DWORD at;
    vb->base = structure;
    vb->total = *(DWORD *)structure;
    vb->used = fixed;
    vb->needed = fixed;
    for (at = sizeof(DWORD); at < fixed; at++) {
        int k, kept = 0;
        for (k = 0; k < nkeep && !kept; k++)
            kept = at >= keep[2 * k] && at < keep[2 * k] + keep[2 * k + 1];
        if (!kept)
            vb->base[at] = 0;
    }
}

void vb_bytes(var_builder *vb, DWORD *size_field, DWORD *offset_field, const void *data, DWORD len)
{
    vb->needed += len;
    if (vb->used + len <= vb->total) {
        memcpy(vb->base + vb->used, data, len);
        *size_field = len;
        *offset_field = vb->used;
        vb->used += len;
    }
}

void vb_wstr(var_builder *vb, DWORD *size_field, DWORD *offset_field, const wchar_t *s)
{
    if (s && *s)
        vb_bytes(vb, size_field, offset_field, s, str_format_unicode_bytes(s));
}

void vb_done(var_builder *vb)
{
    ((DWORD *)vb->base)[1] = vb->needed; /* dwNeededSize */
    ((DWORD *)vb->base)[2] = vb->used;   /* dwUsedSize */
}
