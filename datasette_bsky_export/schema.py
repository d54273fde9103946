"""The legacy bskyarchive schema: the DDL of the tables an export reads.

Copied from the legacy's migrations (the fixture archives in tests/fixtures
carry the same statements). The plugin itself only reads an archive; this
module is the one place the tests and benchmarks/make_archive.py build
archives from, so that both write what the legacy wrote.
"""

POSTS = (
    "CREATE TABLE posts (uri TEXT PRIMARY KEY, cid TEXT NOT NULL, did TEXT NOT NULL, "
    "text TEXT, created_at TIMESTAMP NOT NULL, indexed_at TIMESTAMP NOT NULL, "
    "has_media BOOLEAN DEFAULT 0, like_count INTEGER DEFAULT 0, "
    "repost_count INTEGER DEFAULT 0, reply_count INTEGER DEFAULT 0, "
    "quote_count INTEGER DEFAULT 0, is_reply BOOLEAN DEFAULT 0, reply_parent TEXT, "
    "embed_type TEXT, embed_data JSON, labels JSON, "
    "archived_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
)
MEDIA = (
    "CREATE TABLE media (hash TEXT PRIMARY KEY, post_uri TEXT NOT NULL, "
    "mime_type TEXT NOT NULL, file_path TEXT NOT NULL, size_bytes INTEGER NOT NULL, "
    "width INTEGER, height INTEGER, alt_text TEXT, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
    "FOREIGN KEY (post_uri) REFERENCES posts(uri) ON DELETE CASCADE)"
)
PROFILES = (
    "CREATE TABLE profiles (did TEXT NOT NULL, handle TEXT NOT NULL, display_name TEXT, "
    "description TEXT, avatar_url TEXT, banner_url TEXT, followers_count INTEGER DEFAULT 0, "
    "follows_count INTEGER DEFAULT 0, posts_count INTEGER DEFAULT 0, "
    "snapshot_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (did, snapshot_at))"
)
TABLES = [POSTS, MEDIA, PROFILES]
INDEXES = [
    "CREATE INDEX idx_posts_did ON posts(did)",
    "CREATE INDEX idx_posts_created_at ON posts(created_at DESC)",
    "CREATE INDEX idx_posts_has_media ON posts(has_media) WHERE has_media = 1",
    "CREATE INDEX idx_posts_is_reply ON posts(is_reply) WHERE is_reply = 1",
    "CREATE INDEX idx_media_post_uri ON media(post_uri)",
    "CREATE INDEX idx_profiles_did ON profiles(did)",
    "CREATE INDEX idx_profiles_snapshot_at ON profiles(snapshot_at DESC)",
]
