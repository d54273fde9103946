"""The file name of a posts file download, after what it holds:
``posts_<account>_<start>_<end>[_filtered].<ext>``, such as
``posts_alice.bsky.social_2024-01-01_2024-06-30.json``.

- account: the chosen DID's handle (where the actor may see it), else the
  DID; none when no DID is chosen (all accounts);
- dates: ``_<start>_<end>``, ``_from_<start>`` or ``_until_<end>``; none
  without dates, so an export of everything is ``posts.json`` as before;
- ``_filtered`` when the selection has filters beyond the DID and dates.

The name is safe ASCII for a quoted Content-Disposition ``filename`` and
for any file system: the account is reduced to ``[A-Za-z0-9._-]`` (each run
of other characters, ``:`` included, becomes one ``_``), at most
MAX_ACCOUNT characters, with no ``.``, ``_`` or ``-`` at either end (``_``
when nothing is left). Only the HTTP
posts files are named so: the ZIP (``zipexport.download_name``), the files
in it and the CLI's export directory keep the legacy names.
"""

import re

from .engine import ExportOptions

MAX_ACCOUNT = 100  # characters of the account part
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str, limit: int = MAX_ACCOUNT) -> str:
    """``text`` as a part of a file name: each run of characters other than
    ``A-Za-z0-9._-`` made one ``_``, cut to ``limit`` characters, without
    ``.``, ``_`` or ``-`` at either end (no hidden file, no ``..`` next to
    a separator); empty when nothing is left."""
    return _UNSAFE.sub("_", text)[:limit].strip("._-")


def account_part(did: str, handle: str | None = None) -> str:
    """The account in a file name: its handle, else its DID, made safe
    (``_`` when neither leaves anything)."""
    return safe_part(handle or "") or safe_part(did) or "_"


def posts_name(options: ExportOptions, handle: str | None = None) -> str:
    """The name of the posts file of ``options``, with ``handle`` the chosen
    DID's handle when the actor may see it."""
    parts = ["posts"]
    if options.did is not None:
        parts.append(account_part(options.did, handle))
    start, end = options.start_date, options.end_date
    if start is not None and end is not None:
        parts += [start.isoformat(), end.isoformat()]
    elif start is not None:
        parts += ["from", start.isoformat()]
    elif end is not None:
        parts += ["until", end.isoformat()]
    if options.filtered:
        parts.append("filtered")
    return "_".join(parts) + "." + options.format
