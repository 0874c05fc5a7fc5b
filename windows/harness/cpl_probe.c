/*
 * cpl_probe.exe DIR - what Phone and Modem (telephon.cpl) would show for the
 * .tsp files in DIR, by its own rules: a provider is offered under Add only if
 * it exports TSPI_providerInstall; Remove and Configure are enabled only if it
 * exports TSPI_providerRemove / TSPI_providerConfig; the name shown is the
 * version resource's FileDescription. Prints one JSON line per file.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <wchar.h>

static void json_wide(const wchar_t *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s >= 0x20 && *s < 0x7F && *s != '"' && *s != '\\')
            putchar((char)*s);
        else
            printf("\\u%04x", (unsigned)*s);
    }
    putchar('"');
}

/* FileDescription in the first translation the resource lists, or "" */
static void description(const wchar_t *path, wchar_t *out, size_t chars)
{
    DWORD handle = 0, size = GetFileVersionInfoSizeW(path, &handle);
    BYTE *data;
    WORD *lang;
    UINT len = 0;
    wchar_t key[64], *text;
    out[0] = 0;
    if (size == 0 || (data = HeapAlloc(GetProcessHeap(), 0, size)) == NULL)
        return;
    if (GetFileVersionInfoW(path, 0, size, data) && VerQueryValueW(data, L"\\VarFileInfo\\Translation", (void **)&lang, &len) &&
        len >= 4) {
        swprintf(key, 64, L"\\StringFileInfo\\%04x%04x\\FileDescription", lang[0], lang[1]);
        if (VerQueryValueW(data, key, (void **)&text, &len) && len > 0) {
            wcsncpy(out, text, chars - 1);
            out[chars - 1] = 0;
        }
    }
    HeapFree(GetProcessHeap(), 0, data);
}

int wmain(int argc, wchar_t **argv)
{
    wchar_t pattern[MAX_PATH], path[MAX_PATH], desc[256];
    WIN32_FIND_DATAW found;
    HANDLE find;
    if (argc != 2) {
        fprintf(stderr, "usage: cpl_probe DIR\n");
        return 2;
    }
    swprintf(pattern, MAX_PATH, L"%ls\\*.tsp", argv[1]);
    find = FindFirstFileW(pattern, &found);
    if (find == INVALID_HANDLE_VALUE)
        return 0;
    do {
        HMODULE dll;
        swprintf(path, MAX_PATH, L"%ls\\%ls", argv[1], found.cFileName);
        dll = LoadLibraryW(path);
        description(path, desc, 256);
        printf("{\"file\":");
        json_wide(found.cFileName);
        printf(",\"loaded\":%d,\"listed\":%d,\"remove\":%d,\"configure\":%d,\"description\":", dll != NULL,
               dll && GetProcAddress(dll, "TSPI_providerInstall") != NULL,
               dll && GetProcAddress(dll, "TSPI_providerRemove") != NULL,
               dll && GetProcAddress(dll, "TSPI_providerConfig") != NULL);
        json_wide(desc);
        printf("}\n");
        fflush(stdout);
        if (dll)
            FreeLibrary(dll);
    } while (FindNextFileW(find, &found));
    FindClose(find);
    return 0;
}
