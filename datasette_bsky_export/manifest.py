"""manifest.json of a legacy export directory.

The legacy wrote it with Go's json.Encoder (two-space indent, HTML escaping
on, trailing newline) from this struct, in this key order.
"""

import datetime
import json
from typing import TYPE_CHECKING, Iterable

from . import gotime
from .version import __version__

if TYPE_CHECKING:
    from . import engine

VERSION = "datasette-bsky-export " + __version__
_ZERO_TIME = "0001-01-01T00:00:00Z"
_GO_HTML = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def export_timestamp(now: datetime.datetime | None = None) -> str:
    """RFC 3339 with nanoseconds, local time, as Go's time.Now() marshals."""
    now = (now or datetime.datetime.now()).astimezone()
    offset = int(now.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]  # aware
    parsed = gotime.GoTime(
        now.year,
        now.month,
        now.day,
        now.hour,
        now.minute,
        now.second,
        now.microsecond * 1000,
        offset,
    )
    return gotime.rfc3339_nano(parsed)


def directory_files(names: Iterable[str], media_files: int | None = None) -> list[str]:
    """The ``files`` list: names in the directory, sorted, with the media
    folder as ``media/ (N files)``."""
    entries = list(names)
    if media_files is not None:
        entries.append("media")
    return [
        "media/ (%d files)" % media_files if name == "media" and media_files is not None else name
        for name in sorted(entries)
    ]


def manifest_bytes(
    fmt: str,
    post_count: int,
    media_count: int,
    files: Iterable[str],
    start_date: str | None = None,
    end_date: str | None = None,
    timestamp: str | None = None,
) -> bytes:
    """The manifest, byte for byte as the legacy wrote it."""
    manifest = {
        "export_format": fmt,
        "export_timestamp": timestamp or export_timestamp(),
        "post_count": post_count,
        "media_count": media_count,
    }
    if start_date or end_date:
        manifest["date_range"] = {
            "start_date": "%sT00:00:00Z" % start_date if start_date else _ZERO_TIME,
            "end_date": "%sT23:59:59Z" % end_date if end_date else _ZERO_TIME,
        }
    manifest["version"] = VERSION
    manifest["files"] = list(files)
    text = json.dumps(manifest, indent=2, ensure_ascii=False).translate(_GO_HTML)
    return (text + "\n").encode("utf-8", "surrogateescape")


def export_manifest(
    options: "engine.ExportOptions",
    post_count: int,
    media_count: int = 0,
    media_files: int | None = None,
) -> bytes:
    """The manifest of an export of ``options`` (engine.ExportOptions) that
    holds ``post_count`` posts and, when media was asked for, ``media_files``
    files in ``media/``. With no post the legacy listed no file."""
    files = directory_files(["posts." + options.format], media_files) if post_count else []
    return manifest_bytes(
        options.format,
        post_count,
        media_count,
        files,
        options.start_date.isoformat() if options.start_date else None,
        options.end_date.isoformat() if options.end_date else None,
    )
