"""One write to Cliniko and what its answer means: a 429 is waited out and sent again, a 5xx or a
lost answer is retried only for idempotent writes (a create is reported uncertain instead), a 422
comes back as Cliniko's words by field; and the limiter serves a waiting write before reads."""

import random
import threading

import httpx
import pytest

from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import ClinikoUnavailable
from clinic_app.sync.ratelimit import SlidingWindowLimiter
from clinic_app.sync.writes import ClinikoGone, ClinikoRefused, ClinikoUncertain, write

KEY = "sandbox-0123456789abcdef0123456789abcdef-au1"


class NoJitter(random.Random):
    def uniform(self, a, b):
        return a


def client_answering(*answers):
    sent = []
    queue = list(answers)

    def handler(request):
        sent.append((request.method, request.url.path))
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = ClinikoClient(
        KEY, base_url="http://cliniko.test/{shard}/v1", transport=httpx.MockTransport(handler),
        sleep=lambda seconds: None, rng=NoJitter(), max_retries=3, requests_per_minute=10_000,
    )  # fmt: skip
    return client, sent


def test_a_429_is_waited_out_and_sent_again_even_for_a_create():
    client, sent = client_answering(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201, json={"id": "9"})
    )
    assert write(client, "POST", "patients", {"first_name": "A"}, idempotent=False) == {"id": "9"}
    assert sent == [("POST", "/au1/v1/patients")] * 2


def test_an_unclear_answer_to_a_create_is_uncertain_and_not_sent_again():
    for failure in (httpx.Response(502), httpx.ReadTimeout("slow")):
        client, sent = client_answering(failure, httpx.Response(201, json={"id": "9"}))
        with pytest.raises(ClinikoUncertain):
            write(client, "POST", "patients", {"first_name": "A"}, idempotent=False)
        assert len(sent) == 1


def test_an_idempotent_write_is_retried_until_it_is_answered_or_the_retries_run_out():
    client, sent = client_answering(httpx.Response(503), httpx.ConnectError("down"), httpx.Response(204))
    assert (
        write(client, "PATCH", "individual_appointments/5/cancel", {"cancellation_reason": 30}, idempotent=True) is None
    )
    assert len(sent) == 3
    client, sent = client_answering(*[httpx.Response(502)] * 4)
    with pytest.raises(ClinikoUnavailable):
        write(client, "PATCH", "patients/5", {"email": None}, idempotent=True)
    assert len(sent) == 4


def test_a_422_gives_clinikos_words_by_field_and_a_404_says_gone():
    body = {"message": "Validation failed", "errors": {"starts_at": ["clashes with another appointment"]}}
    client, _ = client_answering(httpx.Response(422, json=body), httpx.Response(404, json={"message": "Not found"}))
    with pytest.raises(ClinikoRefused) as refused:
        write(client, "POST", "individual_appointments", {}, idempotent=False)
    assert refused.value.errors == [("starts_at", "clashes with another appointment")]
    with pytest.raises(ClinikoGone):
        write(client, "PATCH", "patients/1", {}, idempotent=True)


def test_reads_wait_while_a_write_waits_for_the_limiter():
    now = {"t": 0.0}
    lock = threading.Lock()
    order = []

    def sleep(seconds):
        with lock:
            now["t"] += seconds

    limiter = SlidingWindowLimiter(1, 10, clock=lambda: now["t"], sleep=sleep)
    limiter.acquire()  # the window is full until t = 10
    limiter._writers_waiting = 1  # a write is waiting
    reader = threading.Thread(target=lambda: (limiter.acquire(), order.append("read")))
    reader.start()
    reader.join(0.5)
    assert order == [] and reader.is_alive()  # the read yields although time passes
    limiter._writers_waiting = 0
    reader.join(5)
    assert order == ["read"]
