from __future__ import annotations

import pytest

from pipeline.asn import asn_likelihood


def test_watchlist_is_certain() -> None:
    assert asn_likelihood("", "", on_watchlist=True).score == 1.0


@pytest.mark.parametrize(
    ("bio", "reason"),
    [
        ("Guru SD Negeri 2 Tanah Merah. Abdi negara 🇮🇩", "menyebut abdi negara"),
        ("PNS di Dinas Kesehatan", "menyebut PNS/ASN"),
        ("NIP 19850312 201001 1 003", "ada nomor berbentuk NIP (18 digit)"),
        ("Staf Pemkab Tanah Merah, anggota Korpri", "menyebut Korpri"),
    ],
)
def test_cues_give_reasons(bio: str, reason: str) -> None:
    signal = asn_likelihood(bio)
    assert reason in signal.reasons
    assert 0.3 < signal.score < 1.0


def test_no_cue_no_score() -> None:
    assert asn_likelihood("Pecinta kopi dan sepak bola. Jualan bakso nomor 2 di pasar.", "Budi").score == 0.0


def test_more_evidence_scores_higher() -> None:
    one = asn_likelihood("guru").score
    two = asn_likelihood("guru PNS di SMP Negeri 1").score
    assert two > one


def test_phone_numbers_are_not_nips() -> None:
    assert "ada nomor berbentuk NIP (18 digit)" not in asn_likelihood("WA 081234567890123456").reasons
