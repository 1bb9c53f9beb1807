"""The analysts' views: named SQL over the store, created in every published snapshot (never in the live file).

Each view answers one "where and how much" question. `*_pseudo` views replace handles, names and texts with
stable pseudonyms for analysts who do not need to see people (UU 27/2022: data minimisation).
Times are bucketed by day in the operator's time zone (the `$tz` placeholder).
"""

from __future__ import annotations

# name -> (what it answers, SQL body). Order matters: later views may read earlier ones.
VIEWS: dict[str, tuple[str, str]] = {
    "post_facts": (
        "one row per post with its latest prediction, author, and watchlist region and agency",
        """
        SELECT p.platform, p.platform_post_id, p.author_handle, p.posted_at,
               CAST(timezone('$tz', p.posted_at) AS DATE) AS day,
               pr.label, pr.flag_score, coalesce(pr.flagged, false) AS flagged, pr.model_version,
               coalesce(w.region_code, '') AS region_code, coalesce(w.region_name, '') AS region_name,
               coalesce(w.agency, '') AS agency, w.handle IS NOT NULL AS on_watchlist
        FROM posts p
        LEFT JOIN (
            SELECT * FROM predictions
            QUALIFY row_number() OVER (PARTITION BY platform, platform_post_id ORDER BY predicted_at DESC) = 1
        ) pr ON pr.platform = p.platform AND pr.platform_post_id = p.platform_post_id
            AND pr.text_sha256 = p.text_sha256
        LEFT JOIN (SELECT * FROM watchlist WHERE kind = 'account') w
            ON w.platform = p.platform AND lower(w.handle) = lower(p.author_handle)
        """,
    ),
    "flags_per_day": (
        "flagged posts per day, platform and label",
        """
        SELECT day, platform, label, count(*) AS flagged
        FROM post_facts WHERE flagged GROUP BY ALL ORDER BY day, platform, label
        """,
    ),
    "flags_by_region": (
        "posts and flagged posts per region and agency of the watchlist (unlisted authors under an empty region)",
        """
        SELECT region_code, region_name, agency, count(*) AS posts, count(*) FILTER (WHERE flagged) AS flagged,
               round(count(*) FILTER (WHERE flagged) / count(*), 4) AS flagged_share
        FROM post_facts GROUP BY ALL ORDER BY flagged DESC, posts DESC
        """,
    ),
    "flags_by_candidate": (
        "flagged posts per day, platform, label and the ballot number (and, when a registry names them, the pair)"
        " their reasons mention",
        """
        SELECT CAST(timezone('$tz', p.posted_at) AS DATE) AS day, p.platform, pr.label,
               regexp_extract(r.reason, 'nomor ([0-9]+)', 1) AS ballot_number,
               regexp_extract(r.reason, '^menyebut paslon nomor [0-9]+ ([^:(]+) [(]', 1) AS candidate,
               count(DISTINCT p.platform || ':' || p.platform_post_id) AS flagged
        FROM posts p
        JOIN (
            SELECT * FROM predictions
            QUALIFY row_number() OVER (PARTITION BY platform, platform_post_id ORDER BY predicted_at DESC) = 1
        ) pr ON pr.platform = p.platform AND pr.platform_post_id = p.platform_post_id
            AND pr.text_sha256 = p.text_sha256
        CROSS JOIN unnest(pr.reasons) AS r(reason)
        WHERE pr.flagged AND regexp_matches(r.reason, '^(menyebut paslon|ajakan memilih|pose jari) nomor [0-9]+')
        GROUP BY ALL ORDER BY day, flagged DESC, ballot_number
        """,
    ),
    "review_backlog": (
        "review items per status and label, with the oldest pending item's age in days",
        """
        SELECT r.status, r.label, count(*) AS items,
               max(date_diff('day', r.queued_at, now())) AS oldest_days
        FROM review_items r GROUP BY ALL ORDER BY r.status, items DESC
        """,
    ),
    "reviewer_throughput": (
        "decisions per reviewer, day and decision",
        """
        SELECT reviewer, CAST(timezone('$tz', decided_at) AS DATE) AS day, decision, count(*) AS decisions
        FROM review_decisions GROUP BY ALL ORDER BY day, reviewer, decision
        """,
    ),
    "confirmed_violations": (
        "confirmed violations per region, behaviour category and SKB 2022 item (from the confirming decisions)",
        """
        SELECT f.region_code, f.region_name, coalesce(d.category, '') AS category,
               coalesce(d.skb_item, '') AS skb_item, count(DISTINCT r.platform || ':' || r.platform_post_id) AS items
        FROM review_items r
        JOIN post_facts f USING (platform, platform_post_id)
        LEFT JOIN (
            SELECT * FROM review_decisions WHERE decision = 'violation'
            QUALIFY row_number() OVER (PARTITION BY platform, platform_post_id ORDER BY decided_at DESC) = 1
        ) d USING (platform, platform_post_id)
        WHERE r.status = 'confirmed' GROUP BY ALL ORDER BY items DESC
        """,
    ),
    "model_precision": (
        "per label the model gave: items reviewers finished, how many were confirmed, and the precision",
        """
        SELECT label, count(*) AS decided, count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
               round(count(*) FILTER (WHERE status = 'confirmed') / count(*), 4) AS precision
        FROM review_items WHERE status IN ('confirmed', 'dismissed') GROUP BY ALL ORDER BY label
        """,
    ),
    "reviewer_agreement": (
        "Cohen's kappa between the first two reviewers of every double-reviewed item",
        """
        WITH pairs AS (
            SELECT platform, platform_post_id, list(decision ORDER BY decided_at)[1] AS a,
                   list(decision ORDER BY decided_at)[2] AS b
            FROM review_decisions GROUP BY ALL HAVING count(DISTINCT reviewer) >= 2
        ), n AS (SELECT count(*)::DOUBLE AS n FROM pairs),
        observed AS (SELECT avg(CASE WHEN a = b THEN 1.0 ELSE 0.0 END) AS po FROM pairs),
        marginals AS (
            SELECT d, count(*) FILTER (WHERE side = 'a') AS na, count(*) FILTER (WHERE side = 'b') AS nb
            FROM (SELECT a AS d, 'a' AS side FROM pairs UNION ALL SELECT b, 'b' FROM pairs) GROUP BY d
        ), expected AS (SELECT sum(na * nb) / (SELECT n * n FROM n) AS pe FROM marginals)
        SELECT (SELECT n FROM n)::BIGINT AS double_reviewed, round(po, 4) AS observed_agreement,
               round(pe, 4) AS expected_agreement,
               CASE WHEN pe = 1 THEN 1.0 ELSE round((po - pe) / (1 - pe), 4) END AS cohen_kappa
        FROM observed, expected
        """,
    ),
    "post_facts_pseudo": (
        "post_facts with the author's handle replaced by a stable pseudonym",
        """
        SELECT * REPLACE ('akun-' || left(md5('$salt' || author_handle), 12) AS author_handle)
        FROM post_facts
        """,
    ),
    "posts_pseudo": (
        "posts without handles, names, texts, URLs or payloads: keys, times, counts and hashes only",
        """
        SELECT platform, platform_post_id, 'akun-' || left(md5('$salt' || author_handle), 12) AS author,
               language, posted_at, replies, reposts, likes, quotes, views, text_sha256, raw_sha256
        FROM posts
        """,
    ),
}


def render(sql: str, tz: str, salt: str) -> str:
    """Fill the placeholders; both values come from settings, never from a user's query."""
    if "'" in tz or "'" in salt:
        raise ValueError("time zone and salt must not contain quotes")
    return sql.replace("$tz", tz).replace("$salt", salt)
