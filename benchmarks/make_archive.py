#!/usr/bin/env python3
"""Write a synthetic bskyarchive archive for benchmarks.

    python benchmarks/make_archive.py OUT.db --posts N [--seed S] [--dids K]
                                      [--order random|feed] [--fts]

The ``posts``, ``media`` and ``profiles`` tables have the legacy schema
(``datasette_bsky_export.schema``) and hold values stored the way the legacy
Go app stores them:

* created_at is Go's ``time.Time.String()`` (``2024-01-15 10:30:00.12 +0000
  UTC``, fraction trimmed, none when zero), with many ties; indexed_at and
  archived_at are ``time.Now().String()``, so they carry ``m=+...``;
* has_media / is_reply are 0/1; reply_parent / embed_type are '' when absent;
* embed_data / labels are BLOBs of compact Go ``json.Marshal`` output
  ("$type" first, ``<>&`` as ``\\u003c \\u003e \\u0026``) or the 4 bytes
  ``null``.

The mix (multilingual text with emoji, newlines, commas and quotes; 20 %
images, 10 % external links, 10 % quote posts, 5 % quote + images; 25 %
replies; 3 % labelled) gives posts of the same size as the "realistic"
fixtures, so throughput numbers compare. Posts are stored in random
created_at order (as the fixture tool does; the worst case for reading in
export order) or, with --order feed, newest first. The output is a pure
function of the arguments; the file is written as OUT.part and renamed when
complete.
"""

import argparse
import base64
import calendar
import hashlib
import json
import os
import random
import sqlite3
import sys
import time

from datasette_bsky_export.schema import INDEXES, TABLES

FTS = [  # optional (--fts): the legacy full-text table, filled in one go
    "CREATE VIRTUAL TABLE posts_fts USING fts5(uri UNINDEXED, text, "
    "content='posts', content_rowid='rowid')",
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",
]
POST_SQL = (
    "INSERT INTO posts (uri, cid, did, text, created_at, indexed_at, has_media, "
    "like_count, repost_count, reply_count, quote_count, is_reply, reply_parent, "
    "embed_type, embed_data, labels, archived_at) VALUES (%s)" % ",".join("?" * 17)
)
MEDIA_SQL = (
    "INSERT INTO media (hash, post_uri, mime_type, file_path, size_bytes, width, "
    "height, alt_text, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
)

# --------------------------------------------------------------------------
# Material for post texts

LINES = [
    "Finally got the garden beds in before the rain, tomatoes next week.",
    "Does anyone have a good recipe for sourdough that isn't a 3-day project?",
    "New blog post: what I learned migrating 40 services to a monorepo.",
    "Unpopular opinion: meetings should have an agenda or not happen.",
    'The "quick fix" from Friday is now a 200-line patch. Of course.',
    "Walked 12 km today, legs are done, mind is clear.",
    "Rereading Le Guin, and yes, it's still that good.",
    "Coffee, toast, and a stack of pull requests. Monday it is.",
    "PSA: back up your photos. Then back up the backup.",
    "Our team is hiring (remote, EU time zones) - links & details below.",
    "Can't decide between the blue one and the green one, help?",
    "Thread: 5 things nobody tells you about running a small library (1/5)",
    "朝ごはんを食べながらニュースを読んでいます。",
    "週末は山に登りました。景色が最高でした！",
    "这个周末我们去了海边，天气非常好。",
    "终于把这个bug修好了，太开心了。",
    "오늘 저녁은 김치찌개입니다. 맛있겠다!",
    "صباح الخير، أتمنى لكم يوما سعيدا.",
    "בוקר טוב לכולם, יום נפלא!",
    "Доброе утро! Сегодня отличный день для прогулки.",
    "आज बारिश हो रही है, चाय का समय है।",
    "Bom dia! Hoje vou ao mercado, alguém precisa de algo?",
    "Gute Nacht, bis morgen, und träumt schön.",
    "Ça va? On se voit au café à 18h, d'accord?",
    "Łódź, Kraków, Gdańsk: trzy miasta w trzy dni.",
    "Tiếng Việt thật đẹp, phải không các bạn?",
    "Proof sketch: ∑ 1/n² = π²/6, see Euler.",
    "Rent went up 8%, groceries 12%, salary 0%. Great.",
    "She said 'maybe', he heard \"yes\", and here we are.",
    "Packing list:\n- charger\n- passport\n- snacks",
    "Short version: it works.\n\nLong version: it works, mostly.",
]
EMOJI = [
    "😀",
    "😂",
    "🥲",
    "❤️",
    "👍🏿",
    "🧑‍🍳",
    "🏳️‍⚧️",
    "🇫🇷",
    "🇰🇷",
    "🌱",
    "🎶",
    "📚",
    "👨‍👩‍👦",
    "🤔",
    "🧵",
    "🍵",
    "⛈️",
    "🛰️",
    "#️⃣",
    "™️",
]
TAGS = [
    "#gardening",
    "#books",
    "#opensource",
    "#rustlang",
    "#sqlite",
    "#写真",
    "#dogsofbluesky",
    "#climate",
    "#music",
    "#art",
]
HANDLES = [
    "mia.bsky.social",
    "noah.example.net",
    "olivia.bsky.social",
    "paul.test",
    "さくら.bsky.social",
    "quentin-codes.bsky.social",
]
URLS = [
    "https://example.net/posts/2024/06/garden",
    "https://www.youtube.com/watch?v=aqz-KE-bpKQ&t=10s",
    "https://github.com/example/tool/issues/42",
    "https://news.example.com/story?id=77&ref=bsky",
    "https://zh.wikipedia.org/wiki/%E4%B8%AD%E6%96%87",
    "https://bsky.app/profile/mia.bsky.social/post/3kxyz987",
]
ALTS = [
    "",
    "",
    "A dog asleep on a sofa",
    'Chart where <input> & "output" are labelled',
    "桜の写真",
    "Sales > forecast & rising",
    "First line\nsecond line of the alt",
    "🐶 emoji alt",
    "صورة الشاطئ",
    'A receipt, itemised, with "notes"',
]
TITLES = [
    "Changelog for 3.1",
    "How we cut our build time in half",
    "中文标题",
    "Alert: <Outage> & Recovery",
    'Seven "simple" rules for code review',
]
NAMES = ["Mia", "のあ", "Liv <3", "P & Q", ""]
LABELS = ["porn", "sexual", "nudity", "graphic-media", "spam", "!warn", "!hide"]
LANGS = ["en", "ja", "pt", "de", "ko"]

# --------------------------------------------------------------------------
# Go encodings

B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"
_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(value):
    """Compact JSON bytes as Go's json.Marshal writes them (dicts in struct order).
    ``<>&`` and U+2028/9 occur only inside strings, so translating the whole
    text is safe; Python's other escapes already match Go's."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_HTML).encode()


def go_time(sec, nsec=0, mono=None):
    """Go's Time.String() of a UTC instant, optionally with a monotonic reading (ns)."""
    s = "%04d-%02d-%02d %02d:%02d:%02d" % time.gmtime(sec)[:6]
    if nsec:
        s += "." + ("%09d" % nsec).rstrip("0")
    s += " +0000 UTC"
    if mono is not None:
        s += " m=+%d.%09d" % divmod(mono, 10**9)
    return s


def rfc3339ms(sec, nsec):
    return "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(sec)[:6] + ".%03dZ" % (nsec // 10**6)


def tid(micros, clock):
    """An AT Protocol record key (base32-sortable, 13 chars)."""
    v = ((micros & ((1 << 53) - 1)) << 10) | (clock & 0x3FF)
    return "".join(B32_SORT[(v >> (5 * i)) & 31] for i in range(12, -1, -1))


def utc(y, mo, d):
    return calendar.timegm((y, mo, d, 0, 0, 0))


CREATED_FROM, CREATED_TO = utc(2023, 4, 1), utc(2025, 10, 31)


# --------------------------------------------------------------------------
# Generator


class Gen:
    def __init__(self, seed, ndids):
        self.seed = seed
        self.rng = rng = random.Random(seed)
        self.dids = [self.did() for _ in range(max(1, ndids))]
        self.counts = dict.fromkeys(self.dids, 0)
        self.recent = []  # recent created_at values, for ties
        self.keys = set()  # (did, tid) already used
        self.clock = rng.randrange(1024)
        # archive runs as [wall ns, monotonic ns]: indexed_at/archived_at come from them
        self.runs = [
            [
                (utc(2025, 11, 1 + 4 * i) + rng.randrange(86400)) * 10**9 + rng.randrange(10**9),
                rng.randrange(10**6, 5 * 10**6),
            ]
            for i in range(6)
        ]

    def b32(self, nbytes, nchars):
        return base64.b32encode(self.rng.randbytes(nbytes)).decode("ascii")[:nchars].lower()

    def did(self):
        return "did:plc:" + self.b32(15, 24)

    def cid(self, prefix="bafyrei"):
        return prefix + self.b32(33, 52)

    def created(self):
        """(sec, nsec); 22 % repeat a recent value, so ties are common."""
        rng = self.rng
        if self.recent and rng.random() < 0.22:
            return rng.choice(self.recent)
        sec, r = rng.randrange(CREATED_FROM, CREATED_TO), rng.random()
        if r < 0.05:
            nsec = 0
        elif r < 0.10:
            nsec = rng.randrange(10) * 10**8
        elif r < 0.13:
            nsec = rng.randrange(10**6) * 1000
        else:
            nsec = rng.randrange(1000) * 10**6
        self.recent.append((sec, nsec))
        del self.recent[:-40]
        return sec, nsec

    def now(self, n=1):
        """n consecutive time.Now().String() values of one archive run."""
        rng = self.rng
        run = rng.choice(self.runs)
        step = rng.randrange(40_000, 900_000)
        run[0] += step
        run[1] += step
        out = []
        for _ in range(n):
            out.append(go_time(run[0] // 10**9, run[0] % 10**9, run[1]))
            step = rng.randrange(25, 2000)
            run[0] += step
            run[1] += step
        return out

    def text(self):
        rng = self.rng
        if rng.random() < 0.05:
            return ""
        parts = [rng.choice(LINES) for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        if rng.random() < 0.3:
            parts.insert(rng.randrange(len(parts) + 1), "@" + rng.choice(HANDLES))
        if rng.random() < 0.25:
            parts.append(rng.choice(URLS))
        if rng.random() < 0.3:
            parts.append(" ".join(rng.sample(TAGS, rng.choice((1, 2)))))
        if rng.random() < 0.4:
            parts.append("".join(rng.choice(EMOJI) for _ in range(rng.choice((1, 1, 2, 3)))))
        return rng.choice((" ", " ", " ", "\n", "\n\n")).join(parts)[:290]

    # --- embeds, as the Bluesky views the legacy app stores
    def images(self, did):
        rng = self.rng
        imgs = []
        for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
            c = self.cid("bafkrei")
            img = {"alt": rng.choice(ALTS)}
            if rng.random() < 0.9:
                img["aspectRatio"] = {
                    "height": rng.choice((750, 1000, 2000, 1200, 667)),
                    "width": rng.choice((1000, 1200, 2000, 800, 1536)),
                }
            img["fullsize"] = "https://cdn.bsky.app/img/feed_fullsize/plain/%s/%s@jpeg" % (did, c)
            img["thumb"] = "https://cdn.bsky.app/img/feed_thumbnail/plain/%s/%s@jpeg" % (did, c)
            imgs.append(img)
        return {"$type": "app.bsky.embed.images#view", "images": imgs}

    def external(self, did, thumb):
        rng = self.rng
        ext = {"description": rng.choice(LINES + [""])}
        if thumb:
            ext["thumb"] = "https://cdn.bsky.app/img/feed_thumbnail/plain/%s/%s@jpeg" % (
                did,
                self.cid("bafkrei"),
            )
        ext["title"] = rng.choice(TITLES)
        ext["uri"] = rng.choice(URLS)
        return {"$type": "app.bsky.embed.external#view", "external": ext}

    def record(self):
        rng = self.rng
        qdid = self.did()
        sec, nsec = rng.randrange(utc(2023, 1, 1), utc(2025, 10, 1)), rng.randrange(1000) * 10**6
        value = {"$type": "app.bsky.feed.post", "createdAt": rfc3339ms(sec, nsec)}
        text = self.text()
        if text and rng.random() < 0.3:
            url = rng.choice(URLS)
            text += " " + url
            end = len(text.encode())
            value["facets"] = [
                {
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
                    "index": {"byteEnd": end, "byteStart": end - len(url)},
                }
            ]
        value["langs"] = [rng.choice(LANGS)]
        value["text"] = text
        rec = {
            "$type": "app.bsky.embed.record#viewRecord",
            "author": {
                "avatar": "https://cdn.bsky.app/img/avatar/plain/%s/%s@jpeg"
                % (qdid, self.cid("bafkrei")),
                "createdAt": "2023-05-01T12:00:00.000Z",
                "did": qdid,
                "displayName": rng.choice(NAMES),
                "handle": rng.choice(HANDLES),
                "viewer": {"blockedBy": False, "muted": False},
            },
            "cid": self.cid(),
            "indexedAt": rfc3339ms(sec, nsec),
        }
        if rng.random() < 0.5:
            rec.update(
                likeCount=rng.randrange(500),
                quoteCount=rng.randrange(20),
                replyCount=rng.randrange(50),
                repostCount=rng.randrange(100),
            )
        rec["uri"] = "at://%s/app.bsky.feed.post/%s" % (qdid, tid(sec * 10**6, 7))
        rec["value"] = value
        return {"$type": "app.bsky.embed.record#view", "record": rec}

    def labels(self, uri):
        rng = self.rng
        out = []
        for _ in range(rng.choice((1, 1, 2))):
            lab = {
                "cts": rfc3339ms(
                    rng.randrange(utc(2024, 1, 1), utc(2025, 10, 1)), rng.randrange(1000) * 10**6
                )
            }
            if rng.random() < 0.2:
                lab["neg"] = False
            lab.update(
                src="did:plc:ar7c4by46qjdydhdevvrndac", uri=uri, val=rng.choice(LABELS), ver=1
            )
            out.append(lab)
        return out

    def media_rows(self, uri, items):
        """One media row per image / external thumbnail, as the legacy worker saves."""
        rows = []
        for n, (alt, width, height) in enumerate(items):
            h = hashlib.sha256(("%d|%s|%d" % (self.seed, uri, n)).encode()).hexdigest()
            rows.append(
                (
                    h,
                    uri,
                    "image/jpeg",
                    "data/media/%s/%s/%s.jpg" % (h[:2], h[2:4], h),
                    self.rng.randrange(20_000, 2_000_000),
                    width,
                    height,
                    alt,
                    self.now()[0],
                )
            )
        return rows

    def post(self):
        """(posts row, media rows) of one post."""
        rng = self.rng
        dids = self.dids
        did = dids[0] if len(dids) == 1 or rng.random() < 0.85 else rng.choice(dids[1:])
        self.counts[did] += 1
        sec, nsec = self.created()
        while True:
            self.clock = (self.clock + 1 + rng.randrange(3)) % 1024
            key = (did, tid(sec * 10**6 + nsec // 1000, self.clock))
            if key not in self.keys:
                self.keys.add(key)
                break
        uri = "at://%s/app.bsky.feed.post/%s" % key
        indexed, archived = self.now(2)
        has_media = is_reply = 0
        reply_parent = embed_type = ""
        embed_data = labels = b"null"
        if rng.random() < 0.25:
            is_reply = 1
            reply_parent = "at://%s/app.bsky.feed.post/%s" % (
                rng.choice(dids + [self.did()]),
                tid(sec * 10**6 - rng.randrange(10**9), 3),
            )
        r, embed, items = rng.random(), None, []
        if r < 0.20:
            embed_type, embed = "images", self.images(did)
            items = embed["images"]
        elif r < 0.30:
            embed_type, embed = "external", self.external(did, rng.random() < 0.7)
            if "thumb" in embed["external"]:
                items = [{"alt": embed["external"]["description"]}]
        elif r < 0.40:
            embed_type, embed = "record", self.record()
        elif r < 0.45:
            embed_type = "record_with_media"
            embed = {
                "$type": "app.bsky.embed.recordWithMedia#view",
                "media": self.images(did),
                "record": self.record(),
            }
            items = embed["media"]["images"]
        if embed is not None:
            embed_data = go_json(embed)
            has_media = 1 if items else 0
        if rng.random() < 0.03:
            labels = go_json(self.labels(uri))
        row = (
            uri,
            self.cid(),
            did,
            self.text(),
            go_time(sec, nsec),
            indexed,
            has_media,
            int(rng.paretovariate(1.2)) - 1 if rng.random() < 0.7 else 0,
            int(rng.paretovariate(1.6)) - 1 if rng.random() < 0.4 else 0,
            int(rng.paretovariate(1.8)) - 1 if rng.random() < 0.4 else 0,
            0,  # the legacy collector never sets quote_count
            is_reply,
            reply_parent,
            embed_type,
            embed_data,
            labels,
            archived,
        )
        media = self.media_rows(
            uri,
            [
                (
                    i["alt"],
                    i.get("aspectRatio", {}).get("width", 0),
                    i.get("aspectRatio", {}).get("height", 0),
                )
                for i in items
            ],
        )
        return row, media


def build(out, posts, seed=1, ndids=3, fts=False, order="random", batch=20_000, progress=None):
    """Write the archive to ``out``; returns (posts, media rows). ``order``
    "feed" stores the posts newest first (staged in a TEMP table, then
    copied in created_at DESC, uri order), as one full sync of an account's
    feed would; "random" leaves them in generation order."""
    part = out + ".part"
    for path in (part, part + "-journal"):
        if os.path.exists(path):
            os.remove(path)
    gen = Gen(seed, ndids)
    con = sqlite3.connect(part, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")  # 256 MiB: keeps the uri index in memory
    con.execute("BEGIN")
    for stmt in TABLES:
        con.execute(stmt)
    sql = POST_SQL
    if order == "feed":
        con.execute("CREATE TEMP TABLE stage AS SELECT * FROM posts WHERE 0")
        sql = POST_SQL.replace("INTO posts", "INTO temp.stage")
    done = nmedia = 0
    while done < posts:
        rows, media = [], []
        for _ in range(min(batch, posts - done)):
            row, m = gen.post()
            rows.append(row)
            media += m
        con.executemany(sql, rows)
        con.executemany(MEDIA_SQL, media)
        done += len(rows)
        nmedia += len(media)
        if progress:
            progress(done)
    if order == "feed":
        con.execute("INSERT INTO posts SELECT * FROM temp.stage ORDER BY created_at DESC, uri ASC")
        con.execute("DROP TABLE temp.stage")
    for i, did in enumerate(gen.dids):
        con.execute(
            "INSERT INTO profiles VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                did,
                "me.bsky.social" if i == 0 else HANDLES[i % len(HANDLES)],
                "User %d 🌱" % i,
                'Bio with <tags> & "quotes"\nand a second line',
                "",
                "",
                gen.rng.randrange(10_000),
                gen.rng.randrange(2_000),
                gen.counts[did],
                gen.now()[0],
            ),
        )
    for stmt in INDEXES + (FTS if fts else []):  # indexes after the rows are in
        con.execute(stmt)
    con.execute("COMMIT")
    con.close()
    os.replace(part, out)
    return done, nmedia


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out")
    ap.add_argument("--posts", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dids", type=int, default=3)
    ap.add_argument("--fts", action="store_true", help="also build the posts_fts table")
    ap.add_argument(
        "--order",
        choices=("random", "feed"),
        default="random",
        help="row order on disk: random (default; as the fixture tool) or "
        "feed (newest first, as one full sync writes them)",
    )
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.posts < 0:
        ap.error("--posts must be >= 0")
    started = time.perf_counter()

    def progress(n):
        if not a.quiet and sys.stderr.isatty():
            print("\r%d / %d posts" % (n, a.posts), end="", file=sys.stderr, flush=True)

    n, m = build(a.out, a.posts, a.seed, a.dids, a.fts, a.order, progress=progress)
    if not a.quiet:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(
            "wrote %s: %d posts, %d media rows, seed %d, %.1f s"
            % (a.out, n, m, a.seed, time.perf_counter() - started)
        )


if __name__ == "__main__":
    main()
