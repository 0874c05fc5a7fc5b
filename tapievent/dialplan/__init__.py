"""Tools for dialplan authors: read extensions.conf, lint TAPI events, generate dialplan."""
