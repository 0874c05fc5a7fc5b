/* Phone and Modem (telephon.cpl): install, remove and configure.
 *
 * telephon.cpl lists a .tsp under Add only when it exports
 * TSPI_providerInstall, enables Remove / Configure only for
 * TSPI_providerRemove / TSPI_providerConfig, and shows the version resource's
 * FileDescription (tapievent.rc). Since TAPI 2.0 TAPISRV itself calls the
 * TUISPI_ functions in the DLL TSPI_providerUIIdentify names (this one), so the
 * TSPI_ exports are the same operations for the control panel's checks and for
 * older callers. */
#include "tsp.h"
#include "../ui/dialog.h"

/* Configure: the dialog (dialog.c) that writes the one configuration. Cancel
 * changes nothing and is not an error. */
LONG WINAPI TUISPI_providerConfig(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    (void)lpfnUIDLLCallback;
    (void)dwPermanentProviderID;
    return config_dialog(hwndOwner) == -1 ? LINEERR_OPERATIONFAILED : 0;
}

/* Add: make sure the configuration key exists with the defaults the provider
 * would use anyway, so an administrator finds every setting in one place.
 * Values already there (an earlier install, the MSI) are kept. With an owner
 * window (Phone and Modem) the Configure dialog follows; without one (a
 * silent install) the defaults stand until Configure is pressed. */
LONG WINAPI TUISPI_providerInstall(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    static const wchar_t lines[] = L"line_1\0";
    HKEY key;
    DWORD port = 5070;
    (void)lpfnUIDLLCallback;
    (void)dwPermanentProviderID;
    if (open_config_key(&key) != ERROR_SUCCESS)
        return LINEERR_OPERATIONFAILED;
    if (RegQueryValueExW(key, L"BridgePort", NULL, NULL, NULL, NULL) != ERROR_SUCCESS)
        RegSetValueExW(key, L"BridgePort", 0, REG_DWORD, (const BYTE *)&port, sizeof port);
    if (RegQueryValueExW(key, L"BridgeHost", NULL, NULL, NULL, NULL) != ERROR_SUCCESS)
        RegSetValueExW(key, L"BridgeHost", 0, REG_SZ, (const BYTE *)L"127.0.0.1", sizeof L"127.0.0.1");
    if (RegQueryValueExW(key, L"Lines", NULL, NULL, NULL, NULL) != ERROR_SUCCESS)
        RegSetValueExW(key, L"Lines", 0, REG_MULTI_SZ, (const BYTE *)lines, sizeof lines);
    RegCloseKey(key);
    if (hwndOwner)
        config_dialog(hwndOwner);
    return 0;
}

/* Remove: TAPISRV has already dropped the provider from its list; the
 * configuration stays so that adding the provider again keeps the lines. */
LONG WINAPI TUISPI_providerRemove(TUISPIDLLCALLBACK lpfnUIDLLCallback, HWND hwndOwner, DWORD dwPermanentProviderID)
{
    (void)lpfnUIDLLCallback;
    (void)hwndOwner;
    tsp_log("provider %lu removed; HKLM\\%ls is kept", (unsigned long)dwPermanentProviderID, REG_KEY);
    return 0;
}

LONG WINAPI TSPI_providerInstall(HWND hwndOwner, DWORD dwPermanentProviderID)
{
    return TUISPI_providerInstall(NULL, hwndOwner, dwPermanentProviderID);
}

LONG WINAPI TSPI_providerRemove(HWND hwndOwner, DWORD dwPermanentProviderID)
{
    return TUISPI_providerRemove(NULL, hwndOwner, dwPermanentProviderID);
}

LONG WINAPI TSPI_providerConfig(HWND hwndOwner, DWORD dwPermanentProviderID)
{
    return TUISPI_providerConfig(NULL, hwndOwner, dwPermanentProviderID);
}
