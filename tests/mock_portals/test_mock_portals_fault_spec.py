"""``parse_faults``: the spec grammar, and errors that name the bad key and value."""

from __future__ import annotations

import pytest

from mock_portals import Faults, parse_faults


def test_full_spec_parses_every_key() -> None:
    faults = parse_faults(
        "latency_ms=300,error_rate=0.1,expire_after=20,layout=v2,maintenance=beacon,captcha=acme,seed=7"
    )
    assert faults == Faults(
        latency_ms=300, error_rate=0.1, expire_after=20, layout="v2",
        maintenance="beacon", captcha="acme", seed=7,
    )


def test_empty_spec_is_a_healthy_portal() -> None:
    assert parse_faults("") == Faults()
    assert parse_faults(" , ") == Faults()


def test_spec_round_trips_through_its_canonical_form() -> None:
    faults = parse_faults(" seed=3 , layout=v2,maintenance=all ")
    assert faults.spec == "layout=v2,maintenance=all,seed=3"
    assert parse_faults(faults.spec) == faults


def test_all_targets_the_payer_portals_only() -> None:
    faults = parse_faults("maintenance=all,captcha=beacon")
    assert faults.in_maintenance("acme") and faults.in_maintenance("beacon")
    assert not faults.in_maintenance("billing")
    assert faults.wants_captcha("beacon") and not faults.wants_captcha("acme")


@pytest.mark.parametrize(
    ("spec", "key", "value"),
    [
        ("bogus=1", "bogus", "1"),
        ("latency_ms=fast", "latency_ms", "fast"),
        ("latency_ms=-5", "latency_ms", "-5"),
        ("error_rate=1.5", "error_rate", "1.5"),
        ("error_rate=lots", "error_rate", "lots"),
        ("expire_after=0", "expire_after", "0"),
        ("layout=v3", "layout", "v3"),
        ("maintenance=cigna", "maintenance", "cigna"),
        ("captcha=", "captcha", ""),
        ("seed=abc", "seed", "abc"),
        ("seed=1,seed=2", "seed", "2"),
    ],
)
def test_bad_spec_names_key_and_value(spec: str, key: str, value: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_faults(spec)
    assert f"{key}={value!r}" in str(excinfo.value)


def test_item_without_equals_sign_is_rejected() -> None:
    with pytest.raises(ValueError, match="latency_ms.*key=value"):
        parse_faults("latency_ms")
