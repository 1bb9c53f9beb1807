from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.watchlist import COLUMNS, read_watchlist

HEADER = ",".join(COLUMNS)


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "watchlist.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_good_rows_are_read_and_bad_rows_reported_with_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'account,mastodon,rina@sosial.example,Rina,"Dinas Pendidikan, Kab. X",35.91,Kab X,'
        "199001012015032001,laporan,true",
        "hashtag,mastodon,pilkadax,,,35.91,Kab X,,tagar,yes",
        "account,mastodon,tanpa-instance,Budi,,35.91,Kab X,,laporan,true",
        "account,friendster,a@b,A,,35.91,Kab X,,laporan,true",
        "account,mastodon,c@d,C,,3591,Kab X,,laporan,true",
        "account,mastodon,e@f,E,,35.91,Kab X,123,laporan,true",
        "account,mastodon,RINA@sosial.example,Rina lagi,,35.91,Kab X,,laporan,true",
        "account,mastodon,g@h,G,,35.91,Kab X,,laporan,mungkin",
    )
    rows, problems = read_watchlist(path)
    assert [r["handle"] for r in rows] == ["rina@sosial.example", "pilkadax"]
    assert rows[0]["agency"] == "Dinas Pendidikan, Kab. X" and rows[1]["enabled"] is True
    assert [(p.line, p.reason.split(" ")[0]) for p in problems] == [
        (4, "mastodon"),
        (5, "platform"),
        (6, "region_code"),
        (7, "nip"),
        (8, "duplicate"),
        (9, "enabled"),
    ]


def test_missing_columns_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text("kind,platform,handle\naccount,mastodon,a@b\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks columns"):
        read_watchlist(path)


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read watchlist"):
        read_watchlist(tmp_path / "missing.csv")
