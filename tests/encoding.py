"""The engine's outputs joined into bytes, through the functions the CLI and
the streams call (``engine.Export.step``, ``engine.page_parts``,
``exact.json_pieces``/``csv_pieces``), for tests to compare whole."""

from datasette_bsky_export import engine, exact


def export_chunks(conn, options, fast_path=True):
    """The chunks of an export, in order, as the streams and the CLI step it."""
    export = engine.Export(options, fast_path)
    while (chunk := export.step(conn)) is not None:
        yield chunk


def export_bytes(conn, options, fast_path=True):
    return b"".join(export_chunks(conn, options, fast_path))


def json_posts(rows, fast_path=True):
    """The JSON array items of one page, joined by ``,\\n``."""
    return b"".join(engine.page_parts(rows, "json", fast_path))


def csv_records(rows, fast_path=True):
    """The CSV records of one page."""
    return b"".join(engine.page_parts(rows, "csv", fast_path))


def exact_json(row):
    return b"".join(exact.json_pieces(row))


def exact_csv(row):
    return b"".join(exact.csv_pieces(row))
