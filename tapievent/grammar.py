"""The TAPIEVENT text: parse it, write it, and find it in AMI.

This module is the one place to import the grammar from; it is sans-IO and
pure, and each job lives in its own private module behind it:

* ``_parse`` -- :func:`parse_tapievent`, text to
  :class:`~tapievent.model.TapiEvent` (protocol.md section 1), raising
  :class:`TapiEventSyntaxError` with the column of the problem;
* ``_format`` -- :func:`format_tapievent`, the canonical text of a value
  (section 2); ``parse_tapievent(format_tapievent(x)) == x`` for every value;
* ``_extract`` -- :func:`extract_tapievent`, the TAPI event in an AMI
  :class:`~tapievent.ami_codec.Message` of any Asterisk version, with its
  call key (sections 3-5);
* ``_lexical`` -- the character rules and words all three share.

Writing a value into a dialplan (``to_dialplan``) is the dialplan
package's job: :mod:`tapievent.dialplan.render`.
"""

from __future__ import annotations

from ._extract import extract_tapievent as extract_tapievent
from ._format import format_tapievent as format_tapievent
from ._parse import DIALSTATUS_MODES as DIALSTATUS_MODES
from ._parse import TapiEventSyntaxError as TapiEventSyntaxError
from ._parse import parse_tapievent as parse_tapievent

__all__ = [
    "DIALSTATUS_MODES",
    "TapiEventSyntaxError",
    "extract_tapievent",
    "format_tapievent",
    "parse_tapievent",
]
