"""The Cliniko client against an in-test fake served through httpx.MockTransport.

No real sleeping: the client gets a fake clock whose ``sleep`` only moves time forward, so waits
are asserted as numbers and the suite stays fast.
"""

from __future__ import annotations

import base64
import logging
import pickle
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import (
    DEFAULT_BASE_URL,
    ClinikoAuthError,
    ClinikoError,
    ClinikoRequestError,
    ClinikoUnavailable,
    base_url_for,
    id_from_link,
    items_key,
    mask_key,
    shard_of,
    updated_since,
)
from clinic_app.sync.ratelimit import SlidingWindowLimiter, backoff_delay, rate_limit_delay

API_KEY = "MS0xMjM0NTY3ODkwMTIzNDU2Nzg5MC1zZWNyZXRwYXJ0-au4"
BASE = "https://api.au4.cliniko.com/v1"
USER_AGENT = "Clinic App Tests (tests@clinic.example)"


class FakeClock:
    """Monotonic and wall time that only move when the client sleeps."""

    def __init__(self, wall_start: float = 1_750_000_000.0) -> None:
        self.now = 0.0
        self.wall_start = wall_start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeCliniko:
    """Answers scripted per path (a queue, last answer repeats) and checks every request carries
    what Cliniko requires: Basic auth with the key and an empty password, JSON, a User-Agent."""

    def __init__(self, clock: FakeClock, api_key: str = API_KEY) -> None:
        self.clock = clock
        self.expected_auth = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[httpx.Request] = []
        self.send_times: list[float] = []

    def on(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.send_times.append(self.clock.now)
        assert request.headers["Authorization"] == self.expected_auth
        assert request.headers["User-Agent"] == USER_AGENT
        assert request.headers["Accept"] == "application/json"
        queue = self.routes.get(request.url.path)
        if not queue:
            return httpx.Response(404, json={"message": "not found"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cliniko(clock: FakeClock) -> FakeCliniko:
    return FakeCliniko(clock)


@pytest.fixture
def make_client(clock: FakeClock, cliniko: FakeCliniko) -> Callable[..., ClinikoClient]:
    def build(**overrides: Any) -> ClinikoClient:
        options: dict[str, Any] = {
            "user_agent": USER_AGENT,
            "transport": httpx.MockTransport(cliniko.handler),
            "sleep": clock.sleep,
            "clock": clock.monotonic,
            "wall_clock": clock.wall,
            "rng": random.Random(7),
        }
        options.update(overrides)
        return ClinikoClient(overrides.pop("api_key", API_KEY), **options)

    return build


def page_body(resource: str, items: list[dict], total: int, next_url: str | None = None) -> dict:
    links = {"self": f"{BASE}/{resource}"}
    if next_url:
        links["next"] = next_url
    return {resource: items, "total_entries": total, "links": links}


# -- pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "shard"),
    [
        ("abc123-au4", "au4"),
        ("abc123-UK2", "uk2"),
        ("abc123-eu1", "eu1"),
        ("abc123", "au1"),  # older keys carry no suffix
        ("abc-123-zz9", "au1"),  # unknown suffix
        ("abc123-", "au1"),
    ],
)
def test_shard_of_reads_the_suffix_or_defaults_to_au1(key: str, shard: str) -> None:
    assert shard_of(key) == shard


def test_base_url_for_fills_the_shard_into_the_template() -> None:
    assert DEFAULT_BASE_URL == "https://api.{shard}.cliniko.com/v1"
    assert base_url_for("k-ca1") == "https://api.ca1.cliniko.com/v1"
    assert base_url_for("k") == "https://api.au1.cliniko.com/v1"
    assert base_url_for("k-uk1", "http://127.0.0.1:5000/{shard}/v1/") == "http://127.0.0.1:5000/uk1/v1"
    assert base_url_for("k-uk1", "http://127.0.0.1:5000/fixed/v1") == "http://127.0.0.1:5000/fixed/v1"


def test_id_from_link_takes_the_last_path_segment() -> None:
    assert id_from_link({"links": {"self": "https://api.au1.cliniko.com/v1/patients/82"}}) == "82"
    assert id_from_link({"links": {"self": "https://x/v1/patients/1234567890123456789/"}}) == "1234567890123456789"
    assert id_from_link(None) is None
    assert id_from_link({}) is None
    assert id_from_link({"links": {}}) is None
    assert id_from_link({"links": {"self": ""}}) is None


def test_updated_since_writes_utc_with_z() -> None:
    assert updated_since(datetime(2025, 6, 1, tzinfo=UTC)) == "updated_at:>2025-06-01T00:00:00Z"
    sydney = timezone(timedelta(hours=10))
    assert updated_since(datetime(2025, 6, 1, 10, 0, 5, 900_000, tzinfo=sydney)) == "updated_at:>2025-06-01T00:00:05Z"
    assert updated_since(datetime(2025, 6, 1, 8, 30)) == "updated_at:>2025-06-01T08:30:00Z"  # naive = UTC


def test_mask_key_never_shows_the_whole_key() -> None:
    masked = mask_key(API_KEY)
    assert masked == "••••••••" + API_KEY.rsplit("-", 1)[0][-4:] + "-au4"
    assert API_KEY not in masked
    assert "MS0x" not in masked
    assert mask_key("short-au1") == "••••••••-au1"
    assert mask_key("nosuffixbutlongenough1234") == "••••••••1234"


def test_items_key_maps_qualified_resources() -> None:
    assert items_key("patients") == "patients"
    assert items_key("practitioners/inactive") == "practitioners"
    assert items_key("/individual_appointments/") == "individual_appointments"


# -- requests --------------------------------------------------------------------------------------


def test_requests_carry_basic_auth_user_agent_and_go_to_the_key_shard(make_client, cliniko) -> None:
    cliniko.on("/v1/patients/82", httpx.Response(200, json={"id": "82", "first_name": "Ada"}))
    with make_client() as client:
        assert client.shard == "au4"
        assert client.base_url == BASE
        assert client.get("patients/82") == {"id": "82", "first_name": "Ada"}
    request = cliniko.requests[0]
    assert request.url.host == "api.au4.cliniko.com"
    user, _, password = base64.b64decode(request.headers["Authorization"].split()[1]).decode().partition(":")
    assert (user, password) == (API_KEY, "")
    assert client.stats.requests == 1


def test_pagination_follows_next_links_across_three_pages(make_client, cliniko) -> None:
    pages = [
        page_body("patients", [{"id": "1"}, {"id": "2"}], 5, f"{BASE}/patients?page=2&per_page=2"),
        page_body("patients", [{"id": "3"}, {"id": "4"}], 5, f"{BASE}/patients?page=3&per_page=2"),
        page_body("patients", [{"id": "5"}], 5),
    ]
    cliniko.on("/v1/patients", *(httpx.Response(200, json=body) for body in pages))
    client = make_client()
    seen = list(client.iter_pages("patients", per_page=2))
    assert [page.number for page in seen] == [1, 2, 3]
    assert [item["id"] for page in seen for item in page.items] == ["1", "2", "3", "4", "5"]
    assert all(page.total_entries == 5 and page.resource == "patients" for page in seen)
    assert seen[0].next_url == f"{BASE}/patients?page=2&per_page=2"
    assert seen[-1].next_url is None
    assert [request.url.params.get("page") for request in cliniko.requests] == [None, "2", "3"]


def test_filters_are_sent_as_repeated_q_params_and_per_page_is_capped(make_client, cliniko) -> None:
    cliniko.on("/v1/individual_appointments", httpx.Response(200, json=page_body("individual_appointments", [], 0)))
    client = make_client()
    filters = [
        ("q[]", "updated_at:>2025-06-01T00:00:00Z"),
        ("q[]", "archived_at:*"),
        ("q[]", "cancelled_at:*"),
        ("sort", "id"),
    ]
    pages = list(client.iter_pages("individual_appointments", params=filters, per_page=500))
    assert pages[0].items == [] and pages[0].total_entries == 0
    sent = cliniko.requests[0].url.params
    assert sent.get_list("q[]") == ["updated_at:>2025-06-01T00:00:00Z", "archived_at:*", "cancelled_at:*"]
    assert sent.get("sort") == "id"
    assert sent.get("per_page") == "100"


def test_start_url_resumes_from_a_saved_next_link(make_client, cliniko) -> None:
    cliniko.on("/v1/patients", httpx.Response(200, json=page_body("patients", [{"id": "9"}], 9)))
    client = make_client()
    pages = list(client.iter_pages("patients", start_url=f"{BASE}/patients?page=7&per_page=100&sort=id"))
    assert [page.number for page in pages] == [7]
    assert cliniko.requests[0].url.params.get("page") == "7"
    assert cliniko.requests[0].url.params.get("sort") == "id"


def test_inactive_practitioners_and_list_all(make_client, cliniko) -> None:
    body = page_body("practitioners", [{"id": "3", "first_name": "Li"}], 1)
    cliniko.on("/v1/practitioners/inactive", httpx.Response(200, json=body))
    assert make_client().list_all("practitioners/inactive") == [{"id": "3", "first_name": "Li"}]


def test_test_connection_summarises_businesses(make_client, cliniko) -> None:
    business = {"id": "77", "business_name": "Harbour Physio", "time_zone_identifier": "Australia/Sydney"}
    cliniko.on("/v1/businesses", httpx.Response(200, json=page_body("businesses", [business], 1)))
    result = make_client().test_connection()
    assert result == {
        "shard": "au4",
        "base_url": BASE,
        "businesses": [{"id": "77", "name": "Harbour Physio", "time_zone": "Australia/Sydney"}],
    }


# -- retries ---------------------------------------------------------------------------------------


def test_429_waits_until_the_reset_time_then_succeeds(make_client, cliniko, clock) -> None:
    reset = int(clock.wall()) + 42
    cliniko.on(
        "/v1/businesses",
        httpx.Response(429, headers={"X-RateLimit-Reset": str(reset)}, json={"message": "Too many requests"}),
        httpx.Response(200, json=page_body("businesses", [], 0)),
    )
    client = make_client()
    assert client.businesses() == []
    assert len(clock.sleeps) == 1 and 42 <= clock.sleeps[0] <= 43
    assert cliniko.send_times[1] >= cliniko.send_times[0] + 42
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1
    assert client.stats.requests == 2
    assert client.stats.throttled_seconds == pytest.approx(clock.sleeps[0])


def test_429_without_reset_falls_back_to_retry_after(make_client, cliniko, clock) -> None:
    cliniko.on(
        "/v1/patients/1",
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"id": "1"}),
    )
    assert make_client().get("patients/1") == {"id": "1"}
    assert 7 <= clock.sleeps[0] <= 8


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_succeed(make_client, cliniko, clock, status: int) -> None:
    cliniko.on("/v1/patients/1", httpx.Response(status), httpx.Response(status), httpx.Response(200, json={"id": "1"}))
    client = make_client()
    assert client.get("patients/1") == {"id": "1"}
    assert client.stats.retries == 2 and client.stats.requests == 3
    # Full jitter: each backoff lies between 0 and base * 2**(n-1).
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0
    assert client.stats.throttled_seconds == 0


def test_timeouts_and_dropped_connections_are_retried(make_client, cliniko) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    def dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    cliniko.on("/v1/patients/1", timeout, dropped, httpx.Response(200, json={"id": "1"}))
    client = make_client()
    assert client.get("patients/1") == {"id": "1"}
    assert client.stats.retries == 2


def test_retries_exhausted_raise_unavailable_with_a_clear_message(make_client, cliniko, caplog) -> None:
    cliniko.on("/v1/patients", httpx.Response(503, text="upstream busy"))
    client = make_client(max_retries=3)
    with caplog.at_level(logging.WARNING, logger="clinic_app.sync.client"), pytest.raises(ClinikoUnavailable) as caught:
        list(client.iter_pages("patients"))
    error = caught.value
    assert error.status_code == 503 and error.attempts == 4
    assert "after 4 attempts" in str(error) and "HTTP 503" in str(error) and "/v1/patients" in str(error)
    assert len(cliniko.requests) == 4
    retries = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(retries) == 3
    assert all(API_KEY not in record.getMessage() for record in caplog.records)


def test_connection_errors_exhausted_have_no_status(make_client, cliniko) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    cliniko.on("/v1/businesses", refused)
    with pytest.raises(ClinikoUnavailable) as caught:
        make_client(max_retries=2).businesses()
    assert caught.value.status_code is None
    assert "no answer" in str(caught.value)


def test_401_is_an_auth_error_at_once_naming_the_shard(make_client, cliniko) -> None:
    cliniko.on("/v1/businesses", httpx.Response(401, text=""))
    client = make_client()
    with pytest.raises(ClinikoAuthError) as caught:
        client.test_connection()
    message = str(caught.value)
    assert "the API key was refused" in message
    assert "wrong key, or the key belongs to another shard" in message
    assert "this key is for au4, sent to api.au4.cliniko.com" in message
    assert API_KEY not in message and API_KEY not in repr(caught.value)
    assert caught.value.status_code == 401
    assert len(cliniko.requests) == 1  # never retried


def test_404_is_a_request_error_at_once(make_client, cliniko) -> None:
    client = make_client()
    with pytest.raises(ClinikoRequestError) as caught:
        client.get("patients/999")
    assert caught.value.status_code == 404
    assert "HTTP 404" in str(caught.value) and "not found" in caught.value.body_excerpt
    assert len(cliniko.requests) == 1


def test_an_error_body_echoing_the_key_is_scrubbed(make_client, cliniko) -> None:
    cliniko.on("/v1/patients", httpx.Response(400, text=f"bad key {API_KEY} in filter"))
    with pytest.raises(ClinikoRequestError) as caught:
        make_client().get("patients")
    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.body_excerpt


def test_malformed_json_is_an_error_not_an_empty_page(make_client, cliniko) -> None:
    cliniko.on("/v1/patients", httpx.Response(200, text='{"patients": [{"id": "1"'))
    with pytest.raises(ClinikoUnavailable) as caught:
        list(make_client(max_retries=1).iter_pages("patients"))
    assert "not valid JSON" in str(caught.value)


def test_a_page_without_its_items_key_is_an_error(make_client, cliniko) -> None:
    cliniko.on("/v1/patients", httpx.Response(200, json={"total_entries": 3, "links": {"self": f"{BASE}/patients"}}))
    with pytest.raises(ClinikoRequestError, match="no list of 'patients'"):
        list(make_client().iter_pages("patients"))


def test_a_next_link_to_another_host_is_refused(make_client, cliniko) -> None:
    hostile = page_body("patients", [{"id": "1"}], 2, "https://collector.example/v1/patients?page=2")
    cliniko.on("/v1/patients", httpx.Response(200, json=hostile))
    # Refused as soon as the link is read, before any request could carry the key there.
    with pytest.raises(ClinikoRequestError, match=r"collector\.example"):
        list(make_client().iter_pages("patients"))
    assert all(request.url.host == "api.au4.cliniko.com" for request in cliniko.requests)


@pytest.mark.parametrize(
    "url",
    ["https://collector.example/v1/patients?page=2", "http://api.au4.cliniko.com/v1/patients?page=2"],
)
def test_start_url_and_get_refuse_other_origins(make_client, cliniko, url: str) -> None:
    client = make_client()
    with pytest.raises(ClinikoRequestError):
        list(client.iter_pages("patients", start_url=url))
    with pytest.raises(ClinikoRequestError):
        client.get(url)
    assert cliniko.requests == []


def test_a_next_link_pointing_back_is_not_followed_forever(make_client, cliniko) -> None:
    looping = page_body("patients", [{"id": "1"}], 1, f"{BASE}/patients?page=1")
    cliniko.on("/v1/patients", httpx.Response(200, json=looping))
    with pytest.raises(ClinikoRequestError, match="already read"):
        list(make_client().iter_pages("patients", start_url=f"{BASE}/patients?page=1"))
    assert len(cliniko.requests) == 1


# -- pacing ----------------------------------------------------------------------------------------


def test_limiter_keeps_every_60_second_window_under_the_limit(make_client, cliniko, clock) -> None:
    cliniko.on("/v1/patients/1", httpx.Response(200, json={"id": "1"}))
    client = make_client(requests_per_minute=5)
    for _ in range(12):
        client.get("patients/1")
    times = cliniko.send_times
    assert len(times) == 12
    for start in times:
        assert sum(1 for moment in times if start <= moment < start + 60) <= 5
    assert times == [0.0] * 5 + [61.0] * 5 + [122.0] * 2  # a second of margin on each minute
    assert client.stats.throttled_seconds == pytest.approx(122.0)
    assert client.stats.rate_limited == 0


def test_limiter_can_be_shared_by_clients_of_one_key(make_client, cliniko, clock) -> None:
    cliniko.on("/v1/patients/1", httpx.Response(200, json={"id": "1"}))
    shared = SlidingWindowLimiter(3, clock=clock.monotonic, sleep=clock.sleep)
    first, second = make_client(limiter=shared), make_client(limiter=shared)
    for client in (first, second, first, second):
        client.get("patients/1")
    assert cliniko.send_times == [0.0, 0.0, 0.0, 60.0]


def test_backoff_and_rate_limit_delays() -> None:
    rng = random.Random(1)
    assert all(0 <= backoff_delay(n, base=0.5, cap=30, rng=rng) <= min(30, 0.5 * 2 ** (n - 1)) for n in range(1, 12))
    assert rate_limit_delay({}, now_unix=100.0, rng=rng) is None
    assert rate_limit_delay({"X-RateLimit-Reset": "90"}, now_unix=100.0, rng=rng) is None  # in the past
    delay = rate_limit_delay({"X-RateLimit-Reset": "10000"}, now_unix=100.0, rng=rng)
    assert delay is not None and delay <= 121  # a far-off reset means a skewed clock: capped
    dated = rate_limit_delay({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, now_unix=90.0, rng=rng)
    assert dated is not None and 10 <= dated <= 11


# -- discretion ------------------------------------------------------------------------------------


def test_the_key_is_not_in_repr_str_or_errors(make_client, cliniko) -> None:
    client = make_client()
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert client.key_hint in repr(client)
    errors: list[ClinikoError] = [
        ClinikoAuthError(shard="au4", host="api.au4.cliniko.com"),
        ClinikoRequestError("refused", status_code=404, body_excerpt="x"),
        ClinikoUnavailable("down", status_code=503, attempts=7),
    ]
    for error in errors:
        assert API_KEY not in str(error) and API_KEY not in repr(error)
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object; errors cross process boundaries
        assert type(copy) is type(error) and str(copy) == str(error) and copy.status_code == error.status_code


def test_debug_log_has_path_and_page_but_no_key_or_query(make_client, cliniko, caplog) -> None:
    cliniko.on("/v1/patients", httpx.Response(200, json=page_body("patients", [], 0)))
    with caplog.at_level(logging.DEBUG, logger="clinic_app.sync.client"):
        list(make_client().iter_pages("patients", params=[("q[]", "updated_at:>2025-06-01T00:00:00Z")]))
    records = [record for record in caplog.records if record.name == "clinic_app.sync.client"]
    assert len(records) == 1
    record = records[0]
    assert record.path == "/v1/patients" and record.page == 1 and record.status == 200
    assert "q[]" not in record.getMessage() and "updated_at" not in record.getMessage()
    assert API_KEY not in record.getMessage()
