from __future__ import annotations

import json

import pytest

from pipeline.schema import FLAGGED_LABELS, MAX_TEXT_BYTES, Label, Post, parse_post
from tests.conftest import make_post


def test_valid_post_round_trips_through_json() -> None:
    post = parse_post(make_post(1))
    again = parse_post(json.dumps(post.model_dump(mode="json")))
    assert again == post
    assert post.posted_at.utcoffset().total_seconds() == 0
    assert post.key == ("mastodon", "110000000000000001")


def test_offsets_are_converted_to_utc() -> None:
    post = parse_post(make_post(1, posted_at="2024-11-01T07:00:00+07:00"))
    assert post.posted_at.isoformat() == "2024-11-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"posted_at": "2024-11-01T07:00:00"}, "posted_at: Value error, posted_at has no time zone"),
        ({"platform_post_id": ""}, "platform_post_id: String should have at least 1 character"),
        ({"text": "x" * (MAX_TEXT_BYTES + 1)}, f"over the {MAX_TEXT_BYTES}-byte limit"),
        ({"text": "rusak \ufffd teks"}, "not valid UTF-8"),
        ({"url": "javascript:alert(1)"}, "url must start with http"),
        ({"platform": "friendster"}, "platform: Input should be"),
        ({"raw_sha256": "0" * 64}, "raw_sha256 does not match raw"),
        ({"schema_version": 99}, "schema_version 99 is not 1"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_fields_are_rejected_with_a_reason(change: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_post(make_post(1, **change))
    assert reason in str(err.value)


def test_missing_id_names_the_field() -> None:
    data = make_post(1)
    del data["platform_post_id"]
    with pytest.raises(ValueError) as err:
        parse_post(data)
    assert "platform_post_id: Field required" in str(err.value)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"platform": "mastodon",', "malformed JSON"),
        (b"\xff\xfe{}", "invalid UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_unreadable_lines_are_rejected_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_post(line)


def test_flagged_labels_are_the_four_partisan_ones() -> None:
    assert FLAGGED_LABELS == {Label.endorsement, Label.campaign, Label.attack, Label.symbol}
    assert Post.model_fields["schema_version"].default == 1
