/* A stand-in for `python -m tapievent tsp-bridge` in the service tests (no
 * Windows Python here). Given a directory, it appends "started PID" to
 * starts.txt, then rewrites beat.txt every 100 ms while it runs. When the test
 * creates crash.txt it deletes it and dies with exit code 9, as a crashing
 * bridge would; the service must start it again. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>

int wmain(int argc, wchar_t **argv)
{
    wchar_t starts[MAX_PATH], beat[MAX_PATH], crash[MAX_PATH];
    unsigned long n = 0;
    FILE *f;
    if (argc != 2)
        return 2;
    _snwprintf(starts, MAX_PATH - 1, L"%ls\\starts.txt", argv[1]);
    _snwprintf(beat, MAX_PATH - 1, L"%ls\\beat.txt", argv[1]);
    _snwprintf(crash, MAX_PATH - 1, L"%ls\\crash.txt", argv[1]);
    starts[MAX_PATH - 1] = beat[MAX_PATH - 1] = crash[MAX_PATH - 1] = 0;
    f = _wfopen(starts, L"a");
    if (!f)
        return 3;
    fprintf(f, "started %lu\n", (unsigned long)GetCurrentProcessId());
    fclose(f);
    for (;;) {
        if (DeleteFileW(crash))
            return 9;
        f = _wfopen(beat, L"w");
        if (f) {
            fprintf(f, "%lu %lu\n", (unsigned long)GetCurrentProcessId(), ++n);
            fclose(f);
        }
        Sleep(100);
    }
}
