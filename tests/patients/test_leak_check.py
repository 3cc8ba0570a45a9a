"""The raw-table leak check itself: it finds a stored date, year or phone number however it is
set off, and is not fooled by digits that happen to sit inside a random id or a timestamp."""

import pytest

from tests.patients.conftest import leaked


@pytest.mark.parametrize(
    "stored",
    ["1971-03-04", "born 1971", "dob=1971;", "04/03/1971", "+61412345678", "0412345678", "tel:98765432", "FEMALE"],
)
def test_a_stored_value_is_found(stored):
    assert leaked(f'{{"value": "{stored}"}}') != []


@pytest.mark.parametrize(
    "machine_made",
    ["2026-11-23 19:31:19.719710+00:00", "aud_x1971Qk", "5f1971ab3c", "pat_Ab19710304zz"],
)
def test_digits_inside_ids_and_timestamps_are_not_a_leak(machine_made):
    assert leaked(machine_made) == []
