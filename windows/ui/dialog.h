/* The Configure dialog (dialog.c, dialog.rc): control ids and its entry point. */
#ifndef TAPIEVENT_DIALOG_H
#define TAPIEVENT_DIALOG_H

#define IDD_CONFIG 100
#define IDC_HOST 101
#define IDC_PORT 102
#define IDC_TLS 103
#define IDC_USER 104
#define IDC_SECRET 105
#define IDC_CHANNEL 106
#define IDC_LINES 107

#ifndef RC_INVOKED
/* Shows the dialog owned by `owner`: IDOK once the configuration is written,
 * IDCANCEL, or -1 when the dialog could not be created. */
INT_PTR config_dialog(HWND owner);
/* HKLM\Software\tapievent\TSP for writing, created with its restricted DACL. */
LONG open_config_key(HKEY *key);
#endif

#endif
