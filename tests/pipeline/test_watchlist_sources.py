"""The watchlist beyond Mastodon: per-platform kinds and handles, Kemendagri region codes, the election column,
the TOML form (regions holding accounts and followed hashtags/keywords/channels/feeds) with line numbers, the
targets each spider gets, and `pantau watchlist check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.targets import watch_targets
from pipeline.watchlist import COLUMNS, check_region, read_watchlist, regions

HEADER = ",".join([*COLUMNS, "election"])
TOML = """\
# Watchlist of Kabupaten Tanah Merah for the 2024 Pilkada
[[region]]
code = "35.91"
name = "Kabupaten Tanah Merah"
election = "pilkada-2024"

[[region.account]]
platform = "bluesky"
handle = "sitirahma.bsky.social"
name = "Siti Rahmawati"
agency = "Dinas Pendidikan"
identified_by = "bio"

[[region.account]]
platform = "telegram"
kind = "channel"
handle = "https://t.me/s/guru_tanahmerah"
nip = "196905141994031007"

[[region.account]]
platform = "x"
handle = "nama pakai spasi"

[[region.follow]]
platform = "bluesky"
hashtags = ["rayu03", "dua kata"]
keywords = ["netralitas ASN"]

[[region]]
code = "35.07"
name = "Kabupaten Malang"

[[region.follow]]
platform = "rss"
feeds = ["https://berita.example/feed/", "bukan-url"]

[[region.account]]
platform = "youtube"
kind = "channel"
handle = "UCpemkabTanahMerahTV0001"
warna = "merah"
"""


def test_platform_kinds_handles_regions_and_election(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                "account,bluesky,sitirahma.bsky.social,Siti,,35.91,Tanah Merah,,bio,true,pilkada-2024",
                "channel,telegram,@guru_tanahmerah,Sudarto,,35.91,Tanah Merah,,bio,true,",
                "feed,rss,https://berita.example/feed/,Berita,,35.07,Malang,,media,true,",
                "video,youtube,tmDebat2024,,,35.78,Surabaya,,debat,true,",
                "account,x,1587234401019,,,35,Jawa Timur,,laporan,true,",
                "hashtag,telegram,pilkada,,,35.91,Tanah Merah,,x,true,",
                "account,bluesky,bukan handle,,,35.91,Tanah Merah,,x,true,",
                "channel,youtube,UCpendek,,,35.91,Tanah Merah,,x,true,",
                "feed,rss,ftp://berita.example/feed,,,35.91,Tanah Merah,,x,true,",
                "account,x,nama_yang_terlalu_panjang_sekali,,,35.91,Tanah Merah,,x,true,",
                "account,bluesky,a.bsky.social,,,35.99,Tanah Merah,,x,true,",
                "account,bluesky,b.bsky.social,,,99,Entah,,x,true,",
                "account,import,c,,,35.91,Tanah Merah,,x,true,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    rows, problems = read_watchlist(path)
    assert [r["handle"] for r in rows] == [
        "sitirahma.bsky.social",
        "@guru_tanahmerah",
        "https://berita.example/feed/",
        "tmDebat2024",
        "1587234401019",
    ]
    assert rows[0]["election"] == "pilkada-2024" and rows[1]["election"] == ""
    assert [(p.line, p.reason) for p in problems] == [
        (7, "kind 'hashtag' cannot be followed on telegram; it follows account, channel"),
        (8, "bluesky account 'bukan handle' must be a domain-like handle such as name.bsky.social, or a "
            "did:plc:/did:web: DID"),
        (9, "youtube channel 'UCpendek' must be a UC… id"),
        (10, "rss feed 'ftp://berita.example/feed' must be an http(s) URL of a feed"),
        (11, "x account 'nama_yang_terlalu_panjang_sekali' must be a username of at most 15 letters, digits or _, "
             "or a numeric user id"),
        (12, "region_code '35.99': 35.99 is not a kabupaten/kota in pipeline/data/regions.csv (add its row if it "
             "is real)"),
        (13, "region_code '99': 99 is not a Kemendagri province code"),
        (14, "kind 'account' cannot be followed on import; it follows nothing (its posts come from files: pantau "
             "import)"),
    ]  # fmt: skip


def test_toml_watchlist_reports_bad_rows_by_line(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(TOML, encoding="utf-8")
    rows, problems = read_watchlist(path)
    assert [(r["platform"], r["kind"], r["handle"], r["region_code"], r["election"]) for r in rows] == [
        ("bluesky", "account", "sitirahma.bsky.social", "35.91", "pilkada-2024"),
        ("telegram", "channel", "https://t.me/s/guru_tanahmerah", "35.91", "pilkada-2024"),
        ("bluesky", "hashtag", "rayu03", "35.91", "pilkada-2024"),
        ("bluesky", "keyword", "netralitas ASN", "35.91", "pilkada-2024"),
        ("rss", "feed", "https://berita.example/feed/", "35.07", ""),
    ]
    assert [(p.line, p.reason.split(" must")[0].split(";")[0]) for p in problems] == [
        (20, "x account 'nama pakai spasi'"),
        (26, "hashtag 'dua kata'"),
        (35, "rss feed 'bukan-url'"),
        (37, "unknown key(s) ['warna']"),
    ]
    assert watch_targets(rows, "telegram") == [
        {"target": "channel:guru_tanahmerah", "kind": "channel", "value": "guru_tanahmerah", "instance": "t.me"}
    ]
    assert [t["target"] for t in watch_targets(rows, "bluesky")] == [
        "account:sitirahma.bsky.social",
        "search:#rayu03",
        "search:netralitas ASN",
    ]


def test_targets_per_platform() -> None:
    base = {"name": "", "agency": "", "region_code": "35.91", "region_name": "", "nip": "", "enabled": True}
    rows = [
        {**base, "kind": "channel", "platform": "youtube", "handle": "UCpemkabTanahMerahTV0001"},
        {**base, "kind": "video", "platform": "youtube", "handle": "tmDebat2024"},
        {**base, "kind": "account", "platform": "x", "handle": "@Hendra_BKJ"},
        {**base, "kind": "hashtag", "platform": "x", "handle": "#PilkadaTanahMerah"},
    ]
    assert [t["target"] for t in watch_targets(rows, "youtube")] == [
        "uploads:UCpemkabTanahMerahTV0001",
        "comments:UCpemkabTanahMerahTV0001",
        "comments:video:tmDebat2024",
    ]
    assert [(t["kind"], t["value"]) for t in watch_targets(rows, "x")] == [
        ("account", "hendra_bkj"),
        ("search", "#pilkadatanahmerah"),
    ]


def test_region_file_has_every_province_and_the_demo_region() -> None:
    known = regions()
    provinces = [code for code in known if "." not in code]
    assert len(provinces) == 38 and known["35"] == ("Jawa Timur", False) and known["96"][0] == "Papua Barat Daya"
    assert known["35.78"] == ("Kota Surabaya", False) and known["35.91"] == ("Kabupaten Tanah Merah", True)
    assert check_region("35.07.01") is None and check_region("35.07.01.2001") is None
    assert "not a Kemendagri province code" in (check_region("20") or "")


@pytest.mark.parametrize("suffix", [".csv", ".toml"])
def test_watchlist_check_command(tmp_path: Path, suffix: str) -> None:
    runner = CliRunner()
    path = tmp_path / f"w{suffix}"
    if suffix == ".toml":
        path.write_text(TOML, encoding="utf-8")
    else:
        path.write_text(
            HEADER + "\naccount,mastodon,a@s.example,A,,35.91,X,,t,true,\naccount,mastodon,b,,,35.91,X,,t,true,\n"
        )
    result = runner.invoke(app, ["watchlist", "check", str(path)])
    assert result.exit_code == 1
    if suffix == ".toml":
        assert "line 20:" in result.output and "line 37: unknown key(s) ['warna']" in result.output
        assert "5 rows good (5 enabled), 4 bad; targets: bluesky 3, rss 1, telegram 1" in result.output
    else:
        assert "line 3: mastodon handle 'b' must be user@instance" in result.output
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\naccount,mastodon,a@s.example,A,,35.91,X,,t,true,\n")
    assert runner.invoke(app, ["watchlist", "check", str(good)]).exit_code == 0
    assert runner.invoke(app, ["watchlist", "check", str(tmp_path / "none.csv")]).exit_code == 2


@pytest.mark.parametrize("command", [["import"], ["watchlist", "check"], ["authors", "suggest"], ["evidence"]])
def test_source_commands_have_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
