"""Helpers for tests that compare the tracker's output event by event."""

from __future__ import annotations

from collections.abc import Iterable

from tapievent.model import CallRecord, OutputEvent


def tapi(events: Iterable[OutputEvent]) -> list[OutputEvent]:
    """The TAPI events and diagnostics alone, without the call records.

    Tests about delivery, diagnostics and originates compare those; the
    records have their own tests (tests/test_call_records.py).
    """
    return [e for e in events if not isinstance(e, CallRecord)]


def records(events: Iterable[OutputEvent]) -> list[CallRecord]:
    """Only the call records, in order."""
    return [e for e in events if isinstance(e, CallRecord)]
