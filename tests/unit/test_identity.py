"""BSN checks and keyed pseudonyms."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.bsn import normalise_bsn, passes_eleven_check, scrub_bsns
from hub.core.subjects import is_pseudonym
from hub.identity.pseudonym import Pseudonymiser, pseudonymiser_from_settings
from hub.settings import HubSettings, PseudonymSettings
from tests.data import TEST_BSNS, TEST_KEY, pseudonymiser


class TestElevenCheck:
    @pytest.mark.parametrize("bsn", TEST_BSNS)
    def test_valid_bsns_pass(self, bsn: str) -> None:
        assert passes_eleven_check(bsn)

    @pytest.mark.parametrize("value", ["111222334", "12345678", "abcdefghi", "000000000", ""])
    def test_invalid_values_fail(self, value: str) -> None:
        assert not passes_eleven_check(value)

    def test_eight_digit_bsn_gets_its_leading_zero(self) -> None:
        valid = next(
            f"0{n:08d}" for n in range(10_000_000, 10_001_000) if passes_eleven_check(f"0{n:08d}")
        )
        assert normalise_bsn(valid[1:]) == valid

    def test_error_never_echoes_the_value(self) -> None:
        with pytest.raises(ValueError, match="not a valid BSN") as info:
            normalise_bsn("111222334")
        assert "111222334" not in str(info.value)


class TestScrub:
    def test_replaces_a_bsn_inside_text(self) -> None:
        assert scrub_bsns("bsn=111222333 ok") == "bsn=[BSN] ok"

    def test_leaves_other_numbers_alone(self) -> None:
        assert scrub_bsns("offset 111222334 and 1112223331") == "offset 111222334 and 1112223331"


class TestPseudonym:
    def test_is_stable_for_one_key(self) -> None:
        assert pseudonymiser().pseudonym(TEST_BSNS[0]) == pseudonymiser().pseudonym(TEST_BSNS[0])

    def test_differs_per_key_and_names_the_key(self) -> None:
        other = Pseudonymiser(active_key_id="t2", keys={"t2": bytes(32)})
        a, b = pseudonymiser().pseudonym(TEST_BSNS[0]), other.pseudonym(TEST_BSNS[0])
        assert a != b
        assert a.startswith("psn-t1-")
        assert b.startswith("psn-t2-")

    @given(st.sampled_from(TEST_BSNS))
    def test_never_contains_the_bsn(self, bsn: str) -> None:
        value = pseudonymiser().pseudonym(bsn)
        assert bsn not in value
        assert is_pseudonym(value)

    def test_distinct_bsns_give_distinct_pseudonyms(self) -> None:
        assert len({pseudonymiser().pseudonym(b) for b in TEST_BSNS}) == len(TEST_BSNS)

    def test_rejects_an_invalid_bsn(self) -> None:
        with pytest.raises(ValueError, match="not a valid BSN"):
            pseudonymiser().pseudonym("111222334")

    def test_rotation_yields_the_old_pseudonym_too(self) -> None:
        rotated = Pseudonymiser(active_key_id="t2", keys={"t1": TEST_KEY, "t2": bytes(32)})
        new, old = rotated.all_pseudonyms(TEST_BSNS[0])
        assert new == rotated.pseudonym(TEST_BSNS[0])
        assert old == pseudonymiser().pseudonym(TEST_BSNS[0])

    def test_short_keys_are_refused(self) -> None:
        with pytest.raises(ValueError, match="shorter than 32 bytes"):
            Pseudonymiser(active_key_id="t1", keys={"t1": b"short"})

    def test_embedded_mode_creates_a_private_key_file_once(self, tmp_path: Path) -> None:
        settings = HubSettings(data_dir=tmp_path)
        first = pseudonymiser_from_settings(settings, create_key=True)
        second = pseudonymiser_from_settings(settings, create_key=True)
        key_file = tmp_path / "pseudonym-k1.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert first.pseudonym(TEST_BSNS[0]) == second.pseudonym(TEST_BSNS[0])

    def test_production_mode_never_invents_a_key(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"no pseudonym key: set pseudonym\.key"):
            pseudonymiser_from_settings(HubSettings(data_dir=tmp_path), create_key=False)

    def test_key_from_settings(self, tmp_path: Path) -> None:
        settings = HubSettings(
            data_dir=tmp_path,
            pseudonym=PseudonymSettings(key_id="t1", key=TEST_KEY.hex()),
        )
        built = pseudonymiser_from_settings(settings, create_key=False)
        assert built.pseudonym(TEST_BSNS[1]) == pseudonymiser().pseudonym(TEST_BSNS[1])
