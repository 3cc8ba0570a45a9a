"""The sandbox Cliniko behaves like Cliniko's public API, over real HTTP on 127.0.0.1, and its test
controls (mutations, faults, counts) do what they promise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from flask import Flask

from devtools.sandbox import Faults, SandboxClinic, default_api_key, shard_of
from devtools.sandbox import app as sandbox_app
from devtools.sandbox.cli import register
from devtools.sandbox.server import SandboxServer
from tests.sync.conftest import NO_TLS, USER_AGENT, sandbox_http

ANCHOR = datetime(2026, 3, 2, tzinfo=UTC)


def walk(client: httpx.Client, path: str, params: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every page of a list, following ``links.next`` as a client must; checks each page's shape."""
    response = client.get(path, params=params)
    pages = [response.json()]
    while "next" in pages[-1]["links"]:
        assert response.status_code == 200, response.text
        response = client.get(pages[-1]["links"]["next"])
        pages.append(response.json())
    totals = {page["total_entries"] for page in pages}
    key = path.rsplit("/", 1)[-1] if path != "practitioners/inactive" else "practitioners"
    items = [item for page in pages for item in page[key]]
    assert totals == {len(items)}
    return items


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One plain client per test (building an httpx client costs more than a sandbox request)."""
    with httpx.Client(timeout=10, verify=NO_TLS) as client:
        yield client


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# -- auth ------------------------------------------------------------------------------------


def test_the_right_key_on_its_shard_is_accepted(cliniko_sandbox, sandbox_client):
    response = sandbox_client.get("patients")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert cliniko_sandbox.clinic.shard == "au1" and cliniko_sandbox.clinic.api_key.endswith("-au1")


@pytest.mark.parametrize(
    ("url_shard", "auth"),
    [
        ("au1", ("not-the-key-au1", "")),  # wrong key
        ("au2", None),  # the right key sent to another shard
        ("au1", "no-auth"),  # no credentials at all
        ("au1", "password"),  # Cliniko's password is empty
    ],
)
def test_wrong_key_or_shard_gets_a_bare_401(cliniko_sandbox, http, url_shard, auth):
    key = cliniko_sandbox.clinic.api_key
    credentials = {None: (key, ""), "password": (key, "secret"), "no-auth": None}.get(auth, auth)
    url = f"{cliniko_sandbox.url}/{url_shard}/v1/patients"
    response = http.get(url, auth=credentials, headers={"User-Agent": USER_AGENT})
    assert response.status_code == 401
    assert response.content == b""


def test_a_request_without_user_agent_is_refused_with_a_reason(cliniko_sandbox, sandbox_client):
    response = sandbox_client.get("patients", headers={"User-Agent": ""})
    assert response.status_code == 403
    assert "User-Agent" in response.json()["message"]


def test_unknown_shard_and_unknown_resource_are_404(cliniko_sandbox, sandbox_client, http):
    key = cliniko_sandbox.clinic.api_key
    response = http.get(f"{cliniko_sandbox.url}/zz9/v1/patients", auth=(key, ""), headers={"User-Agent": "x"})
    assert response.status_code == 404
    assert sandbox_client.get("invoices").status_code == 404
    assert sandbox_client.get("patients/123").status_code == 404
    assert sandbox_client.get("patients/not-a-number").status_code == 404


def test_key_format_and_shard_rules():
    assert default_api_key(42) == default_api_key(42) != default_api_key(43)
    assert default_api_key(42).startswith("sandbox-") and shard_of(default_api_key(42)) == "au1"
    assert shard_of("abc-uk2") == "uk2" and shard_of("abc") == "au1" and shard_of("abc-xx9") == "au1"
    clinic = SandboxClinic(patients=5, appointments=0, api_key="my-own-key-eu1")
    assert clinic.shard == "eu1"


# -- pagination ------------------------------------------------------------------------------


def test_walking_every_page_yields_each_visible_record_once(cliniko_sandbox, sandbox_client):
    clinic = cliniko_sandbox.clinic
    walked = walk(sandbox_client, "patients", [("per_page", 7)])
    expected = [r["id"] for r in clinic.records("patients") if not (r["archived_at"] or r["deleted_at"])]
    assert ids(walked) == expected  # id order, no gaps, no repeats
    assert len(expected) < clinic.counts()["patients"]["total"]  # some really were left out


def test_page_links_keep_the_query_and_point_both_ways(sandbox_client):
    params = [("per_page", 10), ("q[]", "archived_at:*"), ("page", 2)]
    body = sandbox_client.get("individual_appointments", params=params).json()
    links = body["links"]
    assert "page=2" in links["self"]
    assert "page=3" in links["next"] and "per_page=10" in links["next"] and "archived_at" in links["next"]
    assert "page=1" in links["previous"]
    assert (
        sandbox_client.get(links["previous"]).json()["individual_appointments"][0]["id"]
        != (body["individual_appointments"][0]["id"])
    )
    last_page = -(-body["total_entries"] // 10)
    last = sandbox_client.get("individual_appointments", params=[("per_page", 10), ("page", last_page)]).json()
    assert "next" not in last["links"]


def test_per_page_defaults_to_50_and_is_clamped_to_100(sandbox_client):
    default = sandbox_client.get("individual_appointments").json()
    assert len(default["individual_appointments"]) == 50
    assert default["total_entries"] > 100
    clamped = sandbox_client.get("individual_appointments", params={"per_page": 500}).json()
    assert len(clamped["individual_appointments"]) == 100
    assert sandbox_client.get("patients", params={"per_page": 0}).status_code == 400
    assert sandbox_client.get("patients", params={"page": "two"}).status_code == 400


# -- filters and sort ------------------------------------------------------------------------


def test_lists_leave_out_archived_cancelled_and_deleted_records_by_default(cliniko_sandbox, sandbox_client):
    listed = walk(sandbox_client, "individual_appointments", [("per_page", 100)])
    assert all(not (a["archived_at"] or a["cancelled_at"] or a["deleted_at"]) for a in listed)
    counts = cliniko_sandbox.clinic.counts()["appointments"]
    assert counts["cancelled"] and counts["archived"]
    assert len(listed) == counts["total"] - counts["cancelled"] - counts["archived"] - counts["deleted"]


def test_star_filters_bring_back_archived_cancelled_and_deleted(cliniko_sandbox, sandbox_client):
    counts = cliniko_sandbox.clinic.counts()
    with_archived = walk(sandbox_client, "patients", [("q[]", "archived_at:*"), ("per_page", 100)])
    assert len(with_archived) == counts["patients"]["active"] + counts["patients"]["archived"]
    everything = walk(sandbox_client, "patients", [("q[]", "archived_at:*"), ("q[]", "deleted_at:*")])
    assert len(everything) == counts["patients"]["total"]
    appointments = walk(
        sandbox_client, "individual_appointments", [("q[]", "cancelled_at:*"), ("q[]", "archived_at:*")]
    )
    assert any(a["cancelled_at"] for a in appointments) and any(a["archived_at"] for a in appointments)


def test_set_and_unset_filters(cliniko_sandbox, sandbox_client):
    archived = walk(sandbox_client, "patients", [("q[]", "archived_at:?")])
    assert archived and all(p["archived_at"] for p in archived)
    assert len(archived) == cliniko_sandbox.clinic.counts()["patients"]["archived"]
    unarchived = walk(sandbox_client, "patients", [("q[]", "archived_at:!?")])
    assert all(p["archived_at"] is None for p in unarchived)


def test_updated_at_filter_returns_only_newer_records(cliniko_sandbox, sandbox_client):
    records = cliniko_sandbox.clinic.records("patients")
    visible = [r for r in records if not (r["archived_at"] or r["deleted_at"])]
    middle = sorted(parse(r["updated_at"]) for r in visible)[len(visible) // 2]
    since = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
    newer = walk(sandbox_client, "patients", [("q[]", f"updated_at:>{since}")])
    assert ids(newer) == [r["id"] for r in visible if parse(r["updated_at"]) > middle]
    at_or_after = walk(sandbox_client, "patients", [("q[]", f"updated_at:>={since}")])
    assert len(at_or_after) == len(newer) + sum(parse(r["updated_at"]) == middle for r in visible)
    window = walk(sandbox_client, "patients", [("q[]", f"updated_at:>{since}"), ("q[]", f"updated_at:<={since}")])
    assert window == []


def test_appointments_filter_by_start_and_by_patient(cliniko_sandbox, sandbox_client):
    history_ends = datetime.fromtimestamp(cliniko_sandbox.clinic.anchor / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    upcoming = walk(sandbox_client, "individual_appointments", [("q[]", f"starts_at:>{history_ends}")])
    assert upcoming and all(a["starts_at"] > history_ends for a in upcoming)
    patient_id = upcoming[0]["patient"]["links"]["self"].rsplit("/", 1)[-1]
    theirs = walk(sandbox_client, "individual_appointments", [("q[]", f"patient_id:={patient_id}")])
    assert theirs and all(a["patient"]["links"]["self"].endswith(f"/patients/{patient_id}") for a in theirs)


@pytest.mark.parametrize(
    "bad_filter",
    ["updated_at:=2025-06-01T00:00:00Z", "updated_at:>yesterday", "shoe_size:>3", "updated_at", "updated_at:*"],
)
def test_invalid_filters_are_a_400_with_a_message(sandbox_client, bad_filter):
    response = sandbox_client.get("patients", params=[("q[]", bad_filter)])
    assert response.status_code == 400
    assert "filter" in response.json()["message"]


def test_sort_orders(sandbox_client):
    default = walk(sandbox_client, "patients", [("per_page", 100)])
    assert ids(default) == sorted(ids(default), key=int)
    newest_first = walk(sandbox_client, "patients", [("sort", "updated_at:desc"), ("per_page", 9)])
    stamps = [parse(p["updated_at"]) for p in newest_first]
    assert stamps == sorted(stamps, reverse=True) and set(ids(newest_first)) == set(ids(default))
    by_id_desc = walk(sandbox_client, "patients", [("sort", "id:desc")])
    assert ids(by_id_desc) == ids(default)[::-1]
    assert sandbox_client.get("patients", params={"sort": "last_name"}).status_code == 400


# -- records and links -----------------------------------------------------------------------


def test_related_records_are_links_whose_last_segment_is_the_id(cliniko_sandbox, sandbox_client):
    appointment = sandbox_client.get("individual_appointments").json()["individual_appointments"][0]
    assert appointment["id"].isdigit() and int(appointment["id"]) > 10**18  # 64-bit, sent as a string
    for relation, resource in (("patient", "patients"), ("practitioner", "practitioners"),
                               ("appointment_type", "appointment_types"), ("business", "businesses")):  # fmt: skip
        url = appointment[relation]["links"]["self"]
        assert url.startswith(f"{cliniko_sandbox.base_url}/{resource}/")
        related = sandbox_client.get(url)
        assert related.status_code == 200 and related.json()["id"] == url.rsplit("/", 1)[-1]
    detail = sandbox_client.get(appointment["links"]["self"]).json()
    assert detail == appointment


def test_patients_look_like_a_real_clinics(cliniko_sandbox):
    patients = SandboxClinic(patients=400, appointments=0).records("patients")
    numbers = [phone["number"] for p in patients for phone in p["patient_phone_numbers"]]
    assert any(n.startswith("04") for n in numbers) and any(n.startswith("+61") for n in numbers)
    assert any(not any(ch.isdigit() for ch in n) for n in numbers)  # junk such as "call reception"
    kinds = {phone["phone_type"] for p in patients for phone in p["patient_phone_numbers"]}
    assert kinds == {"Mobile", "Home", "Work"}
    assert any(p["email"] is None for p in patients) and any(p["date_of_birth"] is None for p in patients)
    assert all(p["first_name"] and p["last_name"] and p["created_at"].endswith("Z") for p in patients)


def test_practitioners_who_left_are_only_under_inactive(sandbox_client):
    active = walk(sandbox_client, "practitioners")
    inactive = walk(sandbox_client, "practitioners/inactive")
    assert active and inactive and not set(ids(active)) & set(ids(inactive))
    assert all(p["active"] for p in active) and not any(p["active"] for p in inactive)
    assert sandbox_client.get(f"practitioners/{inactive[0]['id']}").json()["active"] is False


def test_appointment_types_and_businesses(sandbox_client):
    types = walk(sandbox_client, "appointment_types", [("q[]", "archived_at:*")])
    assert any(t["archived_at"] for t in types) and all(t["duration_in_minutes"] > 0 for t in types)
    assert len(walk(sandbox_client, "appointment_types")) == len(types) - 1
    businesses = walk(sandbox_client, "businesses")
    assert businesses[0]["time_zone_identifier"] == "Australia/Sydney" and businesses[0]["business_name"]


def test_the_same_seed_gives_the_same_clinic(make_cliniko_sandbox):
    first = make_cliniko_sandbox(seed=7, now=ANCHOR)
    second = make_cliniko_sandbox(seed=7, now=ANCHOR)
    other = make_cliniko_sandbox(seed=8, now=ANCHOR)
    pages = []
    for server in (first, second, other):
        with sandbox_http(server) as client:
            body = client.get("individual_appointments", params={"per_page": 100}).json()
        # Links name each server's own port; everything else must match.
        pages.append(str(body).replace(server.url, "<server>"))
    assert pages[0] == pages[1] != pages[2]
    assert first.clinic.api_key == second.clinic.api_key != other.clinic.api_key


def test_counts_agree_with_the_records(cliniko_sandbox):
    clinic = cliniko_sandbox.clinic
    counts = clinic.counts()
    patients = clinic.records("patients")
    assert counts["patients"]["deleted"] == sum(1 for p in patients if p["deleted_at"])
    assert counts["patients"]["archived"] == sum(1 for p in patients if p["archived_at"] and not p["deleted_at"])
    assert counts["patients"]["active"] + counts["patients"]["archived"] + counts["patients"]["deleted"] == 60
    appointments = clinic.records("individual_appointments")
    statuses = counts["appointments"]
    assert sum(v for k, v in statuses.items() if k != "total") == statuses["total"] == len(appointments) == 150
    assert statuses["did_not_arrive"] == sum(1 for a in appointments if a["did_not_arrive"] and not a["archived_at"]
                                             and not a["cancelled_at"])  # fmt: skip
    assert statuses["booked_future"] >= 1 and statuses["attended"] > statuses["cancelled"]
    assert counts["practitioners"] == {"active": 4, "inactive": 2, "total": 6}


# -- mutations -------------------------------------------------------------------------------


def test_changes_bump_updated_at_and_show_up_in_an_incremental_query(cliniko_sandbox, sandbox_client):
    clinic = cliniko_sandbox.clinic
    before = clinic.now()
    patients = [p for p in clinic.records("patients") if not (p["archived_at"] or p["deleted_at"])]
    appointments = [a for a in clinic.records("individual_appointments") if not (a["cancelled_at"] or a["archived_at"])]
    clinic.change_patient(patients[0]["id"], email="new.address@example.com")
    clinic.archive_patient(patients[1]["id"])
    clinic.cancel_appointment(appointments[0]["id"], "Sick")
    clinic.mark_did_not_arrive(appointments[1]["id"])
    new_id = clinic.add_patient("Robin", "Newcomer", email="robin@example.com")

    since = [("q[]", f"updated_at:>{before.isoformat().replace('+00:00', 'Z')}")]
    changed_patients = walk(sandbox_client, "patients", [*since, ("q[]", "archived_at:*")])
    assert ids(changed_patients) == [patients[0]["id"], patients[1]["id"], new_id]
    assert changed_patients[0]["email"] == "new.address@example.com"
    assert changed_patients[1]["archived_at"] == changed_patients[1]["updated_at"]
    changed = walk(sandbox_client, "individual_appointments", [*since, ("q[]", "cancelled_at:*")])
    assert {a["id"] for a in changed} == {appointments[0]["id"], appointments[1]["id"]}
    cancelled = next(a for a in changed if a["id"] == appointments[0]["id"])
    assert cancelled["cancellation_reason"] == 30 and cancelled["cancellation_reason_description"] == "Sick"
    stamps = [parse(p["updated_at"]) for p in changed_patients]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3  # strictly later, one change after another


def test_more_mutations_and_their_counts(cliniko_sandbox):
    clinic = cliniko_sandbox.clinic
    before = clinic.counts()
    patients = [p for p in clinic.records("patients") if not p["deleted_at"]]
    patient_id = patients[5]["id"]
    appointment_id = clinic.add_appointment(patient_id, notes="Booked by test")
    clinic.delete_patient(patients[6]["id"])
    booked = next(a for a in clinic.records("individual_appointments") if a["id"] == appointment_id)
    assert booked["patient"]["links"]["self"].endswith(f"/patients/{patient_id}") and booked["notes"]
    after = clinic.counts()
    assert after["appointments"]["booked_future"] == before["appointments"]["booked_future"] + 1
    assert after["patients"]["deleted"] == before["patients"]["deleted"] + 1
    clinic.archive_appointment(appointment_id)
    clinic.change_appointment(appointment_id, notes=None, starts_at="2030-01-01T09:00:00Z")
    moved = next(a for a in clinic.records("individual_appointments") if a["id"] == appointment_id)
    assert moved["starts_at"] == "2030-01-01T09:00:00Z" and moved["ends_at"] > moved["starts_at"]
    assert clinic.counts()["appointments"]["archived"] == before["appointments"]["archived"] + 1
    with pytest.raises(ValueError, match="shoe_size"):
        clinic.change_patient(patient_id, shoe_size=44)
    with pytest.raises(LookupError):
        clinic.cancel_appointment("999", "Sick")


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_the_window_end(cliniko_sandbox, sandbox_client):
    cliniko_sandbox.clinic.set_faults(rate_limit_per_minute=2)
    assert [sandbox_client.get("businesses").status_code for _ in range(2)] == [200, 200]
    refused = sandbox_client.get("businesses")
    assert refused.status_code == 429
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert "Rate limit" in refused.json()["message"]
    assert cliniko_sandbox.clinic.stats.by_status[429] == 1


def test_error_rate_one_answers_every_request_with_a_5xx(cliniko_sandbox, sandbox_client):
    cliniko_sandbox.clinic.set_faults(error_rate=1.0)
    statuses = {sandbox_client.get("patients").status_code for _ in range(8)}
    assert statuses <= {502, 503, 504} and statuses
    cliniko_sandbox.clinic.set_faults(Faults())
    assert sandbox_client.get("patients").status_code == 200


def test_a_dropped_connection_is_a_transport_error(cliniko_sandbox, sandbox_client):
    cliniko_sandbox.clinic.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sandbox_client.get("patients")
    cliniko_sandbox.clinic.set_faults(drop_rate=0.0)
    assert sandbox_client.get("patients").status_code == 200
    assert cliniko_sandbox.clinic.stats.by_status["dropped"] == 1


def test_slow_fault_sleeps_before_answering(cliniko_sandbox, sandbox_client, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(sandbox_app, "_sleep", slept.append)
    cliniko_sandbox.clinic.set_faults(slow_seconds=2.5, slow_rate=1.0)
    assert sandbox_client.get("patients").status_code == 200
    cliniko_sandbox.clinic.set_faults(slow_seconds=2.5, slow_rate=0.0)
    assert sandbox_client.get("patients").status_code == 200
    assert slept == [2.5]


def test_records_change_between_pages_when_asked(cliniko_sandbox, sandbox_client):
    clinic = cliniko_sandbox.clinic
    clinic.set_faults(mutate_between_pages=4)
    before = {r["id"]: r["updated_at"] for r in clinic.records("patients")}
    sandbox_client.get("patients", params={"per_page": 10})
    after = {r["id"]: r["updated_at"] for r in clinic.records("patients")}
    changed = [record_id for record_id in before if before[record_id] != after[record_id]]
    assert len(changed) == 4
    assert all(parse(after[record_id]) > parse(before[record_id]) for record_id in changed)


def test_faults_are_validated():
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.from_json({"explode": True})
    assert Faults.from_json({"rate_limit_per_minute": 5}).to_json()["rate_limit_per_minute"] == 5


# -- control endpoints -----------------------------------------------------------------------


def test_control_endpoints(cliniko_sandbox, http):
    clinic = cliniko_sandbox.clinic
    auth = (clinic.api_key, "")
    url = f"{cliniko_sandbox.url}/_sandbox"
    assert http.get(f"{url}/counts").status_code == 401
    assert http.get(f"{url}/counts", auth=auth).json() == clinic.counts()

    faults = http.post(f"{url}/faults", auth=auth, json={"error_rate": 0.25, "rate_limit_per_minute": 100})
    assert faults.json()["error_rate"] == 0.25 and clinic.faults.rate_limit_per_minute == 100
    assert http.post(f"{url}/faults", auth=auth, json={"error_rate": 7}).status_code == 400

    target = next(a for a in clinic.records("individual_appointments") if not a["cancelled_at"])
    done = http.post(f"{url}/mutate", auth=auth, json={"action": "cancel_appointment", "id": target["id"],
                                                         "reason": "Away"})  # fmt: skip
    assert done.status_code == 200 and done.json()["id"] == target["id"]
    assert clinic.get("individual_appointments", target["id"]).cancellation_reason == 40
    added = http.post(f"{url}/mutate", auth=auth, json={"action": "add_patient", "first_name": "Kim"}).json()
    assert clinic.get("patients", added["id"]).first_name == "Kim"
    assert http.post(f"{url}/mutate", auth=auth, json={"action": "archive_patient", "id": "1"}).status_code == 404
    assert http.post(f"{url}/mutate", auth=auth, json={"action": "drop_tables"}).status_code == 400

    stats = http.get(f"{url}/stats", auth=auth).json()
    assert stats == {"requests": 0, "by_status": {}}  # control calls are not API traffic
    reset = http.post(f"{url}/reset", auth=auth).json()
    assert reset["counts"]["patients"]["total"] == 60 and clinic.faults == Faults()
    assert clinic.get("individual_appointments", target["id"]).cancelled_at is None


# -- scale, server and command ---------------------------------------------------------------


def test_generating_ten_thousand_patients_and_a_hundred_thousand_appointments():
    clinic = SandboxClinic(patients=10_000, appointments=100_000)
    counts = clinic.counts()
    assert counts["patients"]["total"] == 10_000 and counts["appointments"]["total"] == 100_000
    statuses = counts["appointments"]
    assert 0.07 < statuses["cancelled"] / 100_000 < 0.13 and 0.03 < statuses["did_not_arrive"] / 100_000 < 0.07
    assert 0.01 < statuses["archived"] / 100_000 < 0.03 and 0.02 < counts["patients"]["archived"] / 10_000 < 0.04


def test_server_releases_its_port_when_stopped(http):
    server = SandboxServer(SandboxClinic(patients=5, appointments=0)).start()
    url = server.url
    assert server.base_url_template == f"{url}/{{shard}}/v1"
    server.stop()
    with pytest.raises(httpx.ConnectError):
        http.get(f"{url}/au1/v1/patients")


def test_cli_prints_the_base_url_and_key_then_serves(monkeypatch):
    served: list[SandboxServer] = []
    monkeypatch.setattr(SandboxServer, "serve_forever", lambda self: (served.append(self), self.stop()))
    app = Flask("cli-test")
    register(app)
    args = ["cliniko-sandbox", "--port", "0", "--patients", "12", "--appointments", "30", "--rate-limit", "50"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    server = served[0]
    assert server.base_url_template in result.output and server.clinic.api_key in result.output
    assert server.clinic.counts()["patients"]["total"] == 12
    assert server.clinic.faults.rate_limit_per_minute == 50


def test_clock_never_goes_backwards_even_for_a_future_anchor():
    future = datetime.now(UTC) + timedelta(days=30)
    clinic = SandboxClinic(patients=5, appointments=0, now=future)
    first, second = clinic.now(), clinic.now()
    assert future <= first < second
