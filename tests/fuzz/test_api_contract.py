"""Every operation of the OpenAPI document, fuzzed as a member of clinic A with clinic B's ids mixed
in (how, and what counts as a failure: ``contract.py``); and every operation called without a
credential, or with a bad one."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.fuzz.contract import DOCUMENT, PROBLEM_FIELDS, PROBLEM_JSON, OperationRun, operations_of, served_document
from tests.fuzz.settings import BOUNDARY_CASES, EXAMPLES

OPERATIONS = operations_of(served_document())


def test_the_fuzz_covers_the_whole_document(client):
    document = client.get(DOCUMENT).get_json()
    assert operations_of(document) == OPERATIONS
    assert len(OPERATIONS) > 50


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_its_contract(world, client, method, path):
    document = client.get(DOCUMENT).get_json()
    run = OperationRun(world, document, method, path)
    run.run_boundary_cases(BOUNDARY_CASES)
    run.fuzz(EXAMPLES)
    run.write_summary()

    # The fuzz ran (an operation with few possible inputs runs out of new ones before a long
    # local run's example count).
    assert run.requests >= min(EXAMPLES, 10), run.report()
    # The credential works: not everything was turned away as unauthenticated.
    assert set(run.statuses) - {401}, run.report()
    assert not run.findings, run.report()


def _filled(path: str, world: Any) -> str:
    """``path`` with clinic A's ids in its parameters."""
    return re.sub(r"\{([a-z_]+)\}", lambda match: quote(world.a.ids[match.group(1)], safe=""), path)


@pytest.mark.parametrize(
    "credential", [None, "Bearer not-a-token", "Bearer clk_not-a-real-token", "Basic b3duZXI6eA=="]
)
def test_every_operation_refuses_a_caller_without_a_valid_credential(world, credential):
    """Without a credential (or with a bad one) every operation but the documented public ones
    answers 401 problem+json with a WWW-Authenticate challenge; the public ones answer anyway."""
    document = world.app.test_client().get(DOCUMENT).get_json()
    client = world.app.test_client()
    headers = {"Authorization": credential} if credential else {}
    outcomes = []
    for method, path in OPERATIONS:
        entry = document["paths"][path][method.lower()]
        kwargs: dict[str, Any] = {"headers": headers}
        if "requestBody" in entry:
            kwargs["json"] = {}
        response = client.open(_filled(path, world), method=method, **kwargs)
        answer = response.get_data()[:300]
        where = f"{method} {path} with {credential or 'no credential'}: {response.status_code} {answer!r}"
        outcomes.append(response.status_code)
        assert response.status_code < 500, where
        if not entry["security"]:
            assert response.status_code != 401, where
            continue
        assert response.status_code == 401, where
        assert response.mimetype == PROBLEM_JSON, where
        body = response.get_json()
        assert all(name in body for name in PROBLEM_FIELDS) and body["status"] == 401, where
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), where
        assert not any(marker in response.get_data(as_text=True) for marker in world.b.markers), where
    assert outcomes.count(401) > len(OPERATIONS) // 2
