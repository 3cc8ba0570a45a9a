import pytest

# dataset.assert_matches compares figure by figure: show the differing items when it fails.
pytest.register_assert_rewrite("tests.dashboard.dataset")
