"""Named schema migrations of the DuckDB store, applied in order and recorded in `schema_migrations`.

A migration is never edited once released: add a new one. Tables and what each column means are documented in
the README's data dictionary (kept in step by a test).
"""

from __future__ import annotations

from typing import Any

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE TABLE posts (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            author_platform_id VARCHAR NOT NULL,
            author_handle VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            text_sha256 VARCHAR NOT NULL,
            language VARCHAR,
            posted_at TIMESTAMPTZ NOT NULL,
            first_collected_at TIMESTAMPTZ NOT NULL,
            collected_at TIMESTAMPTZ NOT NULL,
            watch_target VARCHAR NOT NULL,
            replies BIGINT, reposts BIGINT, likes BIGINT, quotes BIGINT, views BIGINT,
            media_urls VARCHAR[] NOT NULL,
            reply_to VARCHAR,
            repost_of VARCHAR,
            raw VARCHAR NOT NULL,
            raw_sha256 VARCHAR NOT NULL,
            schema_version INTEGER NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        CREATE TABLE post_versions (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            raw VARCHAR NOT NULL,
            raw_sha256 VARCHAR NOT NULL,
            collected_at TIMESTAMPTZ NOT NULL,
            superseded_at TIMESTAMPTZ NOT NULL,
            superseded_by_run VARCHAR NOT NULL
        );
        CREATE TABLE authors (
            platform VARCHAR NOT NULL,
            platform_id VARCHAR NOT NULL,
            handle VARCHAR NOT NULL,
            display_name VARCHAR NOT NULL,
            bio VARCHAR NOT NULL,
            url VARCHAR,
            first_seen_at TIMESTAMPTZ NOT NULL,
            last_seen_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (platform, platform_id)
        );
        CREATE TABLE watchlist (
            kind VARCHAR NOT NULL,
            platform VARCHAR NOT NULL,
            handle VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            agency VARCHAR NOT NULL,
            region_code VARCHAR NOT NULL,
            region_name VARCHAR NOT NULL,
            nip VARCHAR NOT NULL,
            identified_by VARCHAR NOT NULL,
            enabled BOOLEAN NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (kind, platform, handle)
        );
        CREATE TABLE crawl_runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status VARCHAR NOT NULL,
            spiders VARCHAR[] NOT NULL,
            fetched BIGINT, new_posts BIGINT, updated_posts BIGINT, rejected BIGINT, classified BIGINT,
            flagged BIGINT, queued BIGINT,
            flagged_per_label JSON,
            detail VARCHAR
        );
        CREATE TABLE crawl_run_spiders (
            run_id VARCHAR NOT NULL,
            spider VARCHAR NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL,
            crawl_seconds DOUBLE NOT NULL,
            load_seconds DOUBLE NOT NULL,
            fetched BIGINT NOT NULL,
            new_posts BIGINT NOT NULL,
            updated_posts BIGINT NOT NULL,
            rejected BIGINT NOT NULL,
            targets_ok INTEGER NOT NULL,
            targets_failed INTEGER NOT NULL,
            detail VARCHAR NOT NULL,
            PRIMARY KEY (run_id, spider)
        );
        CREATE TABLE crawl_cursors (
            source VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            since_id VARCHAR NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (source, target)
        );
        CREATE SEQUENCE rejects_seq;
        CREATE TABLE rejects (
            reject_id BIGINT PRIMARY KEY DEFAULT nextval('rejects_seq'),
            run_id VARCHAR,
            stage VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR NOT NULL,
            rejected_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE predictions (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            model_version VARCHAR NOT NULL,
            text_sha256 VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            scores JSON NOT NULL,
            flag_score DOUBLE NOT NULL,
            flagged BOOLEAN NOT NULL,
            reasons VARCHAR[] NOT NULL,
            predicted_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR,
            PRIMARY KEY (platform, platform_post_id, model_version, text_sha256)
        );
        CREATE TABLE review_items (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            priority DOUBLE NOT NULL,
            label VARCHAR NOT NULL,
            flag_score DOUBLE NOT NULL,
            model_version VARCHAR NOT NULL,
            on_watchlist BOOLEAN NOT NULL,
            queued_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        CREATE SEQUENCE decisions_seq;
        CREATE TABLE review_decisions (
            decision_id BIGINT PRIMARY KEY DEFAULT nextval('decisions_seq'),
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            reviewer VARCHAR NOT NULL,
            decision VARCHAR NOT NULL,
            category VARCHAR,
            skb_item VARCHAR,
            note VARCHAR NOT NULL,
            decided_at TIMESTAMPTZ NOT NULL
        );
        CREATE SEQUENCE audit_seq;
        CREATE TABLE audit_log (
            audit_id BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
            logged_at TIMESTAMPTZ NOT NULL,
            actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            entity_key VARCHAR NOT NULL,
            detail JSON
        );
        """,
    ),
    (
        "0002_review_workspace",
        """
        CREATE TABLE users (
            username VARCHAR PRIMARY KEY,
            password_hash VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            enabled BOOLEAN NOT NULL,
            sessions_after TIMESTAMPTZ NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            created_by VARCHAR NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE SEQUENCE login_attempts_seq;
        CREATE TABLE login_attempts (
            attempt_id BIGINT PRIMARY KEY DEFAULT nextval('login_attempts_seq'),
            attempted_at TIMESTAMPTZ NOT NULL,
            username VARCHAR NOT NULL,
            client VARCHAR NOT NULL,
            succeeded BOOLEAN NOT NULL
        );
        CREATE TABLE review_leases (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            holder VARCHAR NOT NULL,
            taken_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        CREATE TABLE review_queue (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            priority DOUBLE NOT NULL,
            label VARCHAR NOT NULL,
            flag_score DOUBLE NOT NULL,
            on_watchlist BOOLEAN NOT NULL,
            author_platform_id VARCHAR NOT NULL,
            author_handle VARCHAR NOT NULL,
            posted_at TIMESTAMPTZ NOT NULL,
            excerpt VARCHAR NOT NULL,
            text_sha256 VARCHAR NOT NULL,
            item_updated_at TIMESTAMPTZ NOT NULL,
            synced_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        ALTER TABLE review_decisions ADD COLUMN role VARCHAR;
        ALTER TABLE review_decisions ADD COLUMN status_before VARCHAR;
        ALTER TABLE review_decisions ADD COLUMN status_after VARCHAR;
        ALTER TABLE review_decisions ADD COLUMN dismiss_reason VARCHAR;
        ALTER TABLE review_decisions ADD COLUMN text_sha256 VARCHAR;
        CREATE INDEX posts_post_id_idx ON posts (platform_post_id);
        CREATE INDEX predictions_post_id_idx ON predictions (platform_post_id);
        CREATE INDEX review_items_post_id_idx ON review_items (platform_post_id);
        CREATE INDEX review_queue_post_id_idx ON review_queue (platform_post_id);
        CREATE INDEX review_decisions_post_id_idx ON review_decisions (platform_post_id);
        CREATE INDEX review_queue_author_idx ON review_queue (author_platform_id);
        CREATE INDEX post_versions_post_id_idx ON post_versions (platform_post_id);
        CREATE INDEX authors_platform_id_idx ON authors (platform_id);
        """,
    ),
    (
        "0003_sources",
        """
        CREATE TABLE crawl_target_state (
            source VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            resume VARCHAR,
            resume_newest VARCHAR,
            etag VARCHAR,
            last_modified VARCHAR,
            updated_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (source, target)
        );
        CREATE TABLE post_deletions (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            noticed_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR NOT NULL,
            detail VARCHAR NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        ALTER TABLE authors ADD COLUMN asn_score DOUBLE;
        ALTER TABLE authors ADD COLUMN asn_reasons VARCHAR[];
        ALTER TABLE watchlist ADD COLUMN election VARCHAR DEFAULT '';
        """,
    ),
    (
        # The wide columns of `posts` are compressed with zstd instead of DuckDB's automatic choice. Loading spends
        # most of its time compressing at the checkpoint, and the automatic choice first analyses every candidate
        # method on every segment: zstd alone writes 100,000 posts ~1.3x faster and the file a third smaller
        # (README, Benchmarks). DuckDB cannot change a column's compression in place, so `posts` is rebuilt once.
        "0004_posts_zstd",
        """
        CREATE TABLE posts_zstd (
            platform VARCHAR NOT NULL,
            platform_post_id VARCHAR NOT NULL,
            url VARCHAR NOT NULL USING COMPRESSION zstd,
            author_platform_id VARCHAR NOT NULL,
            author_handle VARCHAR NOT NULL,
            text VARCHAR NOT NULL USING COMPRESSION zstd,
            text_sha256 VARCHAR NOT NULL USING COMPRESSION zstd,
            language VARCHAR,
            posted_at TIMESTAMPTZ NOT NULL,
            first_collected_at TIMESTAMPTZ NOT NULL,
            collected_at TIMESTAMPTZ NOT NULL,
            watch_target VARCHAR NOT NULL,
            replies BIGINT, reposts BIGINT, likes BIGINT, quotes BIGINT, views BIGINT,
            media_urls VARCHAR[] NOT NULL,
            reply_to VARCHAR,
            repost_of VARCHAR,
            raw VARCHAR NOT NULL USING COMPRESSION zstd,
            raw_sha256 VARCHAR NOT NULL USING COMPRESSION zstd,
            schema_version INTEGER NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (platform, platform_post_id)
        );
        INSERT INTO posts_zstd SELECT * FROM posts;
        DROP TABLE posts;
        ALTER TABLE posts_zstd RENAME TO posts;
        CREATE INDEX posts_post_id_idx ON posts (platform_post_id);
        """,
    ),
]


def apply_migrations(con: Any, now: Any) -> list[str]:
    """Apply the migrations not yet recorded; return their names. `con` is a DuckDB connection in a transaction."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    known = {name for name, _ in MIGRATIONS}
    unknown = done - known
    if unknown:
        from pipeline.errors import MigrationError

        raise MigrationError(f"database has migrations this code does not know: {sorted(unknown)}; upgrade pantau")
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, now])
        applied.append(name)
    return applied
