"""The one value every dialplan check reports: a :class:`Finding`.

A finding is where (file, line, column — 1-based, like a compiler), how bad
(``error``: the dialplan will not do what it says; ``warning``: it works
today but is fragile or unsafe), a stable ``code`` tools can match on, and a
message a dialplan author can act on. Findings are values, never exceptions
and never log lines, so the reader and the linter can report many of them
and carry on.
"""

from __future__ import annotations

import attrs

__all__ = ["ERROR", "WARNING", "Finding"]

ERROR = "error"
WARNING = "warning"


@attrs.frozen(slots=True, order=True)
class Finding:
    """One problem found in a dialplan, at ``file:line:column``.

    Ordering is by position, then code, so a sorted list reads like a
    compiler's output.
    """

    file: str
    line: int
    column: int
    severity: str = attrs.field(order=False)
    code: str
    message: str = attrs.field(order=False)

    def format(self) -> str:
        """``file:line:col: severity: code: message``, the shape editors jump to."""
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.code}: {self.message}"
        )

    def to_dict(self) -> dict[str, str | int]:
        """A JSON-ready mapping with the same fields."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
