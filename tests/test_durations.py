"""The one parser of durations and instants (gpuhealth.durations), as Prometheus writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.durations import UNIT_SECONDS, instant, seconds, whole_seconds

UNITS = ("y", "w", "d", "h", "m", "s", "ms")


@given(st.lists(st.tuples(st.sampled_from(UNITS), st.integers(0, 10**5)), min_size=1, max_size=7,
                unique_by=lambda p: p[0]))
def test_a_duration_is_the_sum_of_its_parts_largest_first(parts):
    parts = sorted(parts, key=lambda p: UNITS.index(p[0]))
    text = "".join(f"{n}{u}" for u, n in parts)
    assert seconds(text) == pytest.approx(sum(n * UNIT_SECONDS[u] for u, n in parts))


@given(st.sampled_from(UNITS), st.sampled_from(UNITS), st.integers(1, 99), st.integers(1, 99))
def test_units_out_of_order_or_twice_are_refused_by_name(a, b, x, y):
    if UNITS.index(a) < UNITS.index(b):
        assert seconds(f"{x}{a}{y}{b}") == pytest.approx(x * UNIT_SECONDS[a] + y * UNIT_SECONDS[b])
    else:
        with pytest.raises(ValueError, match=f"{x}{a}{y}{b}"):
            seconds(f"{x}{a}{y}{b}")


@given(st.text(max_size=10))
def test_junk_is_a_value_error_naming_the_text(text):
    try:
        value = seconds(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
    else:  # what it accepts is a number of seconds, never negative
        assert value >= 0


def test_bare_numbers_windows_and_whole_seconds():
    assert seconds("15") == 15 and seconds("1.5", bare_unit="m") == 90
    assert seconds("500ms") == 0.5 and seconds("1h30m") == 5400 and seconds("1y") == 365 * 86400
    assert whole_seconds("7d") == 604800 and isinstance(whole_seconds("10m"), int)
    with pytest.raises(ValueError, match="whole seconds"):
        whole_seconds("1500ms")
    for bad in ("-5", "nan", "inf", "5 m", "m", "", "1h 30m", "5M"):
        with pytest.raises(ValueError, match="duration"):
            seconds(bad)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(-12, 14))
def test_instants_in_rfc3339_and_unix_seconds(when, offset_hours):
    aware = when.replace(tzinfo=UTC)
    assert instant(aware.isoformat().replace("+00:00", "Z")) == pytest.approx(aware.timestamp())
    assert instant(str(aware.timestamp())) == pytest.approx(aware.timestamp())
    # without an offset: UTC (not the machine's local time)
    assert instant(when.isoformat()) == pytest.approx(aware.timestamp())
    shifted = aware.astimezone(timezone(timedelta(hours=offset_hours)))
    assert instant(shifted.isoformat()) == pytest.approx(aware.timestamp())
    with pytest.raises(ValueError, match="next tuesday"):
        instant("next tuesday")


def test_a_gpus_age_counts_from_midnight_utc_of_its_purchase_date():
    from gpuhealth.catalog import age_days

    noon = datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()
    assert age_days("2026-01-01", noon) == pytest.approx(1.5)
    assert age_days("2026-01-02", noon) == pytest.approx(0.5)
    assert age_days("", noon) != age_days("", noon)  # NaN: no date, no age
