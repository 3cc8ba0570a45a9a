"""Devices: a readable name from the user agent, and a mail when an account signs in from a device
it has not used before (read from the local SMTP server), once, even when sign-ins race."""

import re
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from sqlalchemy import select

from clinic_app.auth import devices
from clinic_app.auth.models import KnownDevice
from clinic_app.core.audit import AuditEvent
from clinic_app.core.mail import wait_for_outbox
from clinic_app.extensions import db
from tests.factories import PASSWORD, sign_in
from tests.live_server import LiveServer

CHROME_131 = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CHROME_132 = CHROME_131.replace("Chrome/131", "Chrome/132")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36"
)
SUBJECT = devices.NEW_DEVICE_SUBJECT


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (CHROME_131, "Chrome 131 on Windows"),
        (FIREFOX, "Firefox 133 on Linux"),
        (IPHONE, "Safari on iPhone"),
        (MAC_SAFARI, "Safari on macOS"),
        (ANDROID, "Chrome 131 on Android"),
        ("python-httpx/0.27.0", "API client (python-httpx)"),
        ("curl/8.5.0", "API client (curl)"),
        (None, "Unknown device"),
        ("", "Unknown device"),
        ("   ", "Unknown device"),
        ("\x00\x07 ~~~", "Unknown device"),
    ],
)
def test_device_label(user_agent, label):
    assert devices.device_label(user_agent) == label


def test_a_browser_update_is_the_same_device_and_another_browser_is_not():
    assert devices.describe(CHROME_131).key == devices.describe(CHROME_132).key
    assert devices.describe(CHROME_131).label != devices.describe(CHROME_132).label
    assert devices.describe(CHROME_131).key != devices.describe(FIREFOX).key
    assert devices.describe(CHROME_131).key != devices.describe(CHROME_131.replace("Windows NT 10.0", "X11; Linux")).key
    assert devices.describe("python-httpx/0.27.0").key == devices.describe("python-httpx/0.28.1").key


def test_a_label_carries_no_control_characters():
    crafted = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36"
    assert devices.device_label(crafted) == "Chrome 131 on Windows"
    assert "\n" not in devices.device_label("Evil\r\nBcc: someone@example.com")


def browser(app, user_agent, ip="127.0.0.1"):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": ip})
    return client


def new_device_mails(smtp_server, email=None):
    assert wait_for_outbox()  # every message the app handed over has reached the server
    return [m for m in smtp_server.messages if m["Subject"] == SUBJECT and (email is None or str(m["To"]) == email)]


def test_first_sign_in_sends_nothing_a_second_device_mails_a_browser_update_does_not(app, tenants, smtp_server):
    user = tenants.user("clinician")
    assert sign_in(browser(app, CHROME_131), user.email).status_code == 303
    assert new_device_mails(smtp_server) == []  # the very first sign-in of the account

    assert sign_in(browser(app, CHROME_131), user.email).status_code == 303
    assert sign_in(browser(app, CHROME_132), user.email).status_code == 303  # the browser updated itself
    assert new_device_mails(smtp_server) == []

    assert sign_in(browser(app, FIREFOX, ip="203.0.113.7"), user.email).status_code == 303
    [mail] = new_device_mails(smtp_server)
    assert str(mail["To"]) == user.email
    body = mail.get_content()
    assert "Firefox 133 on Linux" in body and "203.0.113.7" in body
    assert re.search(r"Time: \d\d \w{3} \d{4} at \d\d:\d\d UTC", body)
    assert app.config["PUBLIC_URL"] + "/account/sessions" in body
    assert "change your password" in body

    assert sign_in(browser(app, FIREFOX), user.email).status_code == 303  # known now
    assert len(new_device_mails(smtp_server)) == 1
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.new_device")).all()
        assert [(e.actor_user_id, e.target_id, e.details) for e in events] == [
            (user.id, user.id, {"device": "Firefox 133 on Linux"})
        ]
        rows = db.session.scalars(select(KnownDevice).where(KnownDevice.user_id == user.id)).all()
        assert sorted(row.label for row in rows) == ["Chrome 132 on Windows", "Firefox 133 on Linux"]
        # The device is kept as a keyed hash, never as the user agent.
        assert all(re.fullmatch(r"[0-9a-f]{64}", row.device_hash) for row in rows)
        assert all("Chrome" not in row.device_hash for row in rows)


def test_an_api_log_in_from_a_new_device_mails_too(app, client, tenants, smtp_server):
    user = tenants.user("admin")
    assert sign_in(browser(app, CHROME_131), user.email).status_code == 303
    answer = client.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": "python-httpx/0.27.0"},
    )
    assert answer.status_code == 200
    [mail] = new_device_mails(smtp_server, user.email)
    assert "API client (python-httpx)" in mail.get_content()
    # Another person's first sign-in from that same kind of device is theirs alone: no mail.
    other = tenants.user("receptionist")
    assert sign_in(browser(app, FIREFOX), other.email).status_code == 303
    assert new_device_mails(smtp_server, other.email) == []


def test_a_failed_sign_in_records_no_device(app, tenants, smtp_server):
    user = tenants.user("clinician")
    assert sign_in(browser(app, CHROME_131), user.email).status_code == 303
    assert sign_in(browser(app, FIREFOX), user.email, "not the right password").status_code == 401
    assert new_device_mails(smtp_server) == []
    with app.app_context():
        assert db.session.scalar(select(KnownDevice.label).where(KnownDevice.user_id == user.id)) == (
            "Chrome 131 on Windows"
        )


def test_racing_sign_ins_from_one_new_device_send_one_mail(app, tenants, smtp_server):
    """Real concurrent log-ins from the same new device: the device row is inserted once, and only
    the request that inserted it mails."""
    user = tenants.user("clinician")
    assert sign_in(browser(app, CHROME_131), user.email).status_code == 303  # a device known before
    count = 4
    barrier = Barrier(count)

    def log_in(_index):
        barrier.wait(timeout=30)
        return httpx.post(
            f"{live.url}/api/v1/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"User-Agent": FIREFOX},
            timeout=60,
        )

    with LiveServer(app) as live, ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(log_in, range(count)))
    assert [answer.status_code for answer in answers] == [200] * count
    assert len(new_device_mails(smtp_server, user.email)) == 1
    with app.app_context():
        labels = db.session.scalars(select(KnownDevice.label).where(KnownDevice.user_id == user.id)).all()
        assert sorted(labels) == ["Chrome 131 on Windows", "Firefox 133 on Linux"]
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.new_device")).all()
        assert len(events) == 1
