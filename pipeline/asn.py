"""ASN-likelihood of an author: a score in [0, 1] with the reasons that gave it, from bio, display name and
watchlist. It only ranks what reviewers see and which accounts operators are asked to consider; it proves nothing.

Cues (each a reason a person can check): words civil servants use of themselves ("PNS", "ASN", "abdi negara",
"Korpri", "PPPK"), an agency in the bio ("Dinas …", "Pemkab/Pemkot …", "Puskesmas", "SD/SMP/SMA Negeri",
"Kecamatan", "Kelurahan", "BKD", "Setda"), a job title common in the service ("guru", "bidan", "penyuluh",
"camat", "lurah", "kepala seksi"), and an 18-digit number shaped like a NIP (birth date, appointment month, sex,
sequence). Being on the watchlist gives 1.0: an operator has already identified the account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (pattern, weight, reason): weights combine as independent evidence, 1 - prod(1 - w)
_CUES: list[tuple[re.Pattern[str], float, str]] = [
    (re.compile(r"\b(pns|asn|aparatur sipil negara|pegawai negeri)\b", re.I), 0.7, "menyebut PNS/ASN"),
    (re.compile(r"\bpppk\b|\bp3k\b", re.I), 0.6, "menyebut PPPK"),
    (re.compile(r"\babdi negara\b", re.I), 0.6, "menyebut abdi negara"),
    (re.compile(r"\bkorpri\b", re.I), 0.5, "menyebut Korpri"),
    (
        re.compile(
            r"\b(dinas|pemkab|pemkot|pemprov|pemda|setda|bkd|bkpsdm|kecamatan|kelurahan|puskesmas|rsud|"
            r"satpol ?pp|bpbd|disdukcapil|kemenag|kua)\b",
            re.I,
        ),
        0.45,
        "menyebut instansi pemerintah",
    ),
    (re.compile(r"\b(sd|smp|sma|smk|mi|mts|man)\s*n(egeri)?\b", re.I), 0.35, "menyebut sekolah negeri"),
    (
        re.compile(
            r"\b(guru|bidan|perawat|penyuluh|camat|lurah|sekdes|kasi|kabid|kepala seksi|kepala bidang|"
            r"staf|pegawai)\b",
            re.I,
        ),
        0.25,
        "menyebut jabatan yang lazim di ASN",
    ),
]
_NIP = re.compile(
    r"(?<!\d)(19[5-9]\d|20[0-1]\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(19[7-9]\d|20[0-2]\d)"
    r"(0[1-9]|1[0-2])[12]\d{3}(?!\d)"
)


@dataclass(frozen=True)
class AsnSignal:
    score: float
    reasons: list[str] = field(default_factory=list)


def asn_likelihood(bio: str = "", display_name: str = "", on_watchlist: bool = False) -> AsnSignal:
    """Score an author; `reasons` say which cues fired, in the order of their weight."""
    if on_watchlist:
        return AsnSignal(1.0, ["ada di watchlist"])
    text = f"{display_name}\n{bio}"
    fired = [(weight, reason) for pattern, weight, reason in _CUES if pattern.search(text)]
    if _NIP.search(re.sub(r"[\s.\-]", "", text)):
        fired.append((0.8, "ada nomor berbentuk NIP (18 digit)"))
    remaining = 1.0
    for weight, _ in fired:
        remaining *= 1.0 - weight
    return AsnSignal(round(1.0 - remaining, 3), [reason for _, reason in sorted(fired, reverse=True)])
