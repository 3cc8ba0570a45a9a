"""The HTML forms, fuzzed: generated text posted through the test client, signed in as the role
that uses each form, with the CSRF token.

The first submissions to each form are plausible in every field, then a NUL in every field; after
that each is plausible everywhere, plausible but for one odd field, or odd everywhere. Odd means
unicode, control characters, very long strings, huge numbers, dates such as 9999-12-31 and
0001-01-01, markup, or a field left out. Every answer is judged:

* never a 5xx (the traceback's last lines are in the report);
* accepted (the form's success answer) only with the record written as a whole;
* rejected: the form again, with a message for a 4xx (a 200 is the form shown again), and
  nothing written: the tables the form writes to hold the same rows and the edited record is
  unchanged. A 404 without the form is accepted only for a tampered id (a hidden or select
  value that is not one of clinic A's).

Like the API fuzz, every distinct failure is kept and listed rather than stopping at the first.
"""

from __future__ import annotations

import json
import re
from datetime import date, time, timedelta
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import text

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.factories import PASSWORD, csrf_from, sign_in
from tests.fuzz.contract import FailureBook, clip, error_log, server_error
from tests.fuzz.settings import EXAMPLES, fuzz_settings
from tests.fuzz.world import World

SUBMISSIONS = max(2 * EXAMPLES, 10)
HTMX = {"HX-Request": "true"}
MESSAGES = ('class="field-error"', 'role="alert"', "data-duplicates", 'data-save-state="conflict"')
OMIT = None

ODD = (
    "",
    " ",
    "\t\r\n",
    "0",
    "-1",
    "-0",
    "1e309",
    "NaN",
    "Infinity",
    "9" * 40,
    str(2**63),
    str(-(2**63) - 1),
    "9999-12-31",
    "0001-01-01",
    "1900-01-01",
    "2100-12-31",
    "0000-00-00",
    "2024-02-30",
    "31/12/9999",
    "9999-12-31T23:59:59Z",
    "24:00",
    "23:59:60",
    "99:99",
    "null",
    "None",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "{{ 7*7 }}",
    "%(name)s %s %n",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202eevil",
    "\ufeff",
    "😀",
    "\U0001d54f" * 60,  # a mathematical double-struck capital X
    "e\u0301" * 300,
    "İǅß",
    "a" * 5000,
    "../../etc/passwd",
    "\x7f\x80\x9f",
)


def odd_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD),
        st.text(max_size=40),
        st.text(min_size=300, max_size=3000),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.dates().map(date.isoformat),  # years 1 to 9999
        st.times().map(time.isoformat),
    )


@st.composite
def submissions(draw: Any, fields: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Values for a form: plausible in every field (OMIT leaves a field out), or in every field but
    one odd one, or odd everywhere."""
    names = list(fields)
    mode = draw(st.sampled_from(["one odd field", "one odd field", "odd everywhere", "none odd"]))
    odd_one = draw(st.sampled_from(names)) if mode == "one odd field" else None
    values: dict[str, Any] = {}
    for name in names:
        plausible = fields[name]
        if mode == "odd everywhere" or name == odd_one:
            value = draw(st.one_of(odd_values(), st.sampled_from((OMIT, *plausible))))
        else:
            value = draw(st.sampled_from(plausible))
        if value is not OMIT:
            values[name] = value
    return values


def plausible(fields: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Every field's first plausible value: the submission tried first, which the form accepts."""
    return {name: values[0] for name, values in fields.items() if values[0] is not OMIT}


def everywhere(fields: dict[str, tuple[Any, ...]], value: str = "a\x00b") -> dict[str, Any]:
    """``value`` in every field: tried second (a NUL in every field by default)."""
    return dict.fromkeys(fields, value)


def count(app: Any, *tables: str) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}  # noqa: S608


def row(app: Any, table: str, row_id: str) -> dict[str, Any]:
    with app.app_context(), db.engine.connect() as connection:
        found = connection.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id}).mappings().one()  # noqa: S608
        return dict(found)


def shown(values: dict[str, Any]) -> str:
    """A submission as it goes in a report: long values shortened."""
    return json.dumps({name: clip(str(value), 120) for name, value in values.items()}, ensure_ascii=False)


class FormJudge:
    """Posts submissions to one form and records what is wrong with the answers."""

    def __init__(self, world: World, name: str, form_marker: str) -> None:
        self.world, self.name, self.form_marker = world, name, form_marker
        self.book = FailureBook()
        self.outcomes: list[str] = []

    def post(self, client: Any, url: str, values: dict[str, Any], **kwargs: Any) -> tuple[Any, str, Any]:
        with error_log() as log:
            response = client.post(url, data=values, **kwargs)
            body = response.get_data(as_text=True)
            place = server_error(log) if response.status_code >= 500 else None
        return response, body, place

    def judge(
        self,
        response: Any,
        body: str,
        place: Any,
        *,
        example: str,
        accepted: bool,
        written: str | None,
        unchanged: str | None,
        tampered: bool = False,
    ) -> None:
        """``written``: what is wrong with the data after an accepted submission (None: fine);
        ``unchanged``: what changed after a rejected one (None: nothing)."""
        status = response.status_code
        if status >= 500:
            where, tail = place
            self.book.add(f"server error {status}: {where}", self.name, f"{example}\n{tail}")
            self.outcomes.append("5xx")
            return
        if accepted:
            self.outcomes.append("accepted")
            if written:
                self.book.add(f"accepted but {written}", self.name, example)
            return
        self.outcomes.append("rejected")
        if unchanged:
            self.book.add(f"rejected but half a record written: {unchanged}", self.name, example)
        if tampered and status == 404:
            return
        if not (status == 200 or 400 <= status < 500):
            self.book.add(f"rejected with status {status}", self.name, f"{example}\nanswer: {clip(body, 300)}")
        elif self.form_marker not in body:
            silent = "" if any(marker in body for marker in MESSAGES) else " and without a message"
            kind = f"rejected ({status}) without the form{silent}"
            self.book.add(kind, self.name, f"{example}\nanswer: {clip(body, 300)}")
        elif status >= 400 and not any(marker in body for marker in MESSAGES):
            self.book.add(f"rejected ({status}) without a message", self.name, f"{example}\nanswer: {clip(body, 300)}")

    def verdict(self, *, must_accept: bool = True) -> None:
        assert not self.book, self.book.report()
        # The fuzz reached the form's logic both ways (a form that refused everything, or
        # accepted everything, would not be exercised).
        assert "rejected" in self.outcomes, self.outcomes
        if must_accept:
            assert "accepted" in self.outcomes, self.outcomes


def signed_in(world: World, role: str, page: str) -> tuple[Any, str]:
    client = world.app.test_client()
    assert sign_in(client, world.tenants.user(role).email).status_code == 303
    return client, csrf_from(client.get(page).get_data(as_text=True))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    changed = sorted(name for name in before if before[name] != after.get(name))
    return ", ".join(changed) or None


# --- patients -----------------------------------------------------------------------------------

PATIENT_FIELDS: dict[str, tuple[Any, ...]] = {
    "first_name": ("Ana", "José", "Mary-Jane", "O'Brien"),
    "last_name": ("Smith", "Nguyễn", "van der Berg"),
    "preferred_name": (OMIT, "Annie"),
    "date_of_birth": (OMIT, "1980-02-29", "2001-12-31"),
    "sex": (OMIT, "", "female", "male"),
    "gender": (OMIT, "Non-binary"),
    "mobile_phone": (OMIT, "0412 345 678", "+61 412 345 678"),
    "home_phone": (OMIT, "(02) 9876 5432"),
    "work_phone": (OMIT,),
    "other_phone": (OMIT, "+44 20 7946 0958"),
    "email": (OMIT, "ana@example.com"),
    "address_line1": (OMIT, "1 George Street"),
    "address_line2": (OMIT,),
    "suburb": (OMIT, "Sydney"),
    "state": (OMIT, "NSW"),
    "postcode": (OMIT, "2000"),
    "country": (OMIT, "Australia"),
    "emergency_name": (OMIT, "Sam Smith"),
    "emergency_relationship": (OMIT, "Brother"),
    "emergency_phone": (OMIT, "0499 888 777"),
    "notes": (OMIT, "Prefers mornings."),
    "cliniko_id": (OMIT, "1234567"),
    "register_anyway": (OMIT, "yes"),
}


def test_patient_registration_form(world):
    """The receptionist's registration form: registered whole, or the form again with messages
    and no patient written."""
    client, token = signed_in(world, "receptionist", "/patients/new")
    judge = FormJudge(world, "POST /patients/new (receptionist)", 'class="patient-form"')
    tables = ("patients", "patient_identifiers")

    @fuzz_settings(SUBMISSIONS)
    @given(values=submissions(PATIENT_FIELDS), htmx=st.booleans())
    @example(values=plausible(PATIENT_FIELDS), htmx=False)
    @example(values=everywhere(PATIENT_FIELDS), htmx=False)
    def submit(values: dict[str, Any], htmx: bool) -> None:
        before = count(world.app, *tables)
        headers = {**HTMX, "X-CSRFToken": token} if htmx else {}
        data = values if htmx else {**values, "csrf_token": token}
        response, body, place = judge.post(client, "/patients/new", data, headers=headers)
        after = count(world.app, *tables)
        target = response.headers.get("HX-Redirect" if htmx else "Location", "")
        accepted = response.status_code in (200, 303) and "/patients/pat_" in target
        judge.judge(
            response,
            body,
            place,
            example=f"POST /patients/new{' (htmx)' if htmx else ''} {shown(values)}",
            accepted=accepted,
            written=None if after["patients"] == before["patients"] + 1 else f"patients {before} -> {after}",
            unchanged=None if after == before else f"{before} -> {after}",
        )

    submit()
    judge.verdict()


def test_patient_edit_form(world):
    """Editing a patient: saved, or the form again with the record exactly as it was."""
    patient = world.a.ids["patient_id"]
    client, token = signed_in(world, "receptionist", f"/patients/{patient}/edit")
    judge = FormJudge(world, "POST /patients/<patient_id>/edit (receptionist)", 'class="patient-form"')
    fields = {name: values for name, values in PATIENT_FIELDS.items() if name != "register_anyway"}

    @fuzz_settings(SUBMISSIONS)
    @given(values=submissions(fields))
    @example(values=plausible(fields))
    @example(values=everywhere(fields))
    def submit(values: dict[str, Any]) -> None:
        before = row(world.app, "patients", patient)
        response, body, place = judge.post(client, f"/patients/{patient}/edit", {**values, "csrf_token": token})
        after = row(world.app, "patients", patient)
        accepted = response.status_code == 303 and response.headers.get("Location", "").endswith(f"/{patient}")
        judge.judge(
            response,
            body,
            place,
            example=f"POST /patients/{{A.patient_id}}/edit {shown(values)}",
            accepted=accepted,
            written=None,
            unchanged=_changed(before, after),
        )

    submit()
    judge.verdict()


# --- intake -------------------------------------------------------------------------------------

INTAKE_FIELDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "demographics": {
        name: PATIENT_FIELDS.get(name, (OMIT,))
        for name in (
            "first_name",
            "last_name",
            "preferred_name",
            "date_of_birth",
            "sex",
            "gender",
            "mobile_phone",
            "home_phone",
            "email",
            "address_line1",
            "suburb",
            "state",
            "postcode",
            "country",
            "emergency_name",
            "emergency_relationship",
            "emergency_phone",
        )
    },
    "presenting-problem": {
        "presenting_problem": ("Low mood and poor sleep since a restructure at work",),
        "informants": (OMIT, "self", ["self", "family"]),
        "informant_details": (OMIT, "Sister came along"),
        "illness_duration_value": (OMIT, "4", "18"),
        "illness_duration_unit": (OMIT, "weeks", "months"),
        "referred_by": (OMIT, "Dr Lee (GP)"),
        "precipitating_factors": (OMIT, "Restructure at work"),
        "precipitating_tags": (OMIT, "work", "work, family"),
    },
    "symptoms": {
        "severity": (OMIT, "mild", "severe"),
        "frequency": (OMIT, "daily"),
        "duration_value": (OMIT, "3"),
        "duration_unit": (OMIT, "months"),
        "notes": (OMIT, "Worse in the mornings"),
        "onset_description": (OMIT, "Gradual"),
        "triggers": (OMIT, "stress", "stress, noise"),
    },
    "review": {"create_anyway": (OMIT, "yes")},
}


def test_intake_steps(world):
    """Each intake step: saved and moved on, or the step again with messages and the draft as it
    was; the review step registers the patient whole or not at all."""
    from clinic_app.core import audit
    from clinic_app.intake import service as intake

    app = world.app
    client, token = signed_in(world, "receptionist", "/intake")
    judge = FormJudge(world, "POST /intake/<draft_id>/<step> (receptionist)", "<form")
    organization = world.a.ids["organization_id"]

    def new_draft() -> tuple[str, str]:
        """A draft with one chosen symptom; (draft id, the symptom's key)."""
        with app.app_context():
            draft = intake.start_draft(organization, actor=audit.Actor())
            entry, _ = intake.add_draft_symptom(draft, custom_name="Fuzzed worry", actor=audit.Actor())
            db.session.commit()
            return draft.id, entry["key"]

    steps = st.sampled_from(list(INTAKE_FIELDS))
    chosen = steps.flatmap(lambda step: st.tuples(st.just(step), submissions(INTAKE_FIELDS[step])))

    @fuzz_settings(SUBMISSIONS * 2)
    @given(step_and_values=chosen)
    @example(step_and_values=("demographics", plausible(INTAKE_FIELDS["demographics"])))
    @example(step_and_values=("demographics", everywhere(INTAKE_FIELDS["demographics"])))
    @example(step_and_values=("presenting-problem", everywhere(INTAKE_FIELDS["presenting-problem"])))
    def submit(step_and_values: tuple[str, dict[str, Any]]) -> None:
        step, values = step_and_values
        draft_id, key = new_draft()
        if step == "symptoms":
            values = {f"symptoms-{key}-{name}": value for name, value in values.items()}
        before_draft = row(app, "intake_drafts", draft_id)
        before = count(app, "patients")
        url = f"/intake/{draft_id}/{step}"
        response, body, place = judge.post(client, url, {**values, "csrf_token": token})
        after_draft, after = row(app, "intake_drafts", draft_id), count(app, "patients")
        accepted = response.status_code == 303
        registered = after["patients"] - before["patients"]
        if step == "review":
            written = None if registered == 1 else f"{registered} patient(s) registered"
        else:
            written = None if registered == 0 else f"{registered} patient(s) registered by a step"
        unchanged = _changed(before_draft, after_draft) or (f"patients {before} -> {after}" if registered else None)
        judge.judge(
            response,
            body,
            place,
            example=f"POST /intake/{{draft_id}}/{step} {shown(values)}",
            accepted=accepted,
            written=written,
            unchanged=unchanged,
        )

    submit()
    judge.verdict()


# --- booking ------------------------------------------------------------------------------------


def test_booking_form(world):
    """Booking: booked (one appointment, of clinic A's records only), or the form again with
    messages and nothing booked; a tampered id may be a plain 404."""
    a, b = world.a.ids, world.b.ids
    client, token = signed_in(world, "receptionist", "/appointments/new")
    judge = FormJudge(world, "POST /appointments/new (receptionist)", 'id="booking-form"')
    soon = (utcnow() + timedelta(days=2)).date()
    fields: dict[str, tuple[Any, ...]] = {
        "patient_id": (a["patient_id"], a["patient_id"], b["patient_id"], "pat_doesnotexist"),
        "practitioner_id": (a["practitioner_id"], a["practitioner_id"], b["practitioner_id"]),
        "appointment_type_id": (a["appointment_type_id"], a["appointment_type_id"], b["appointment_type_id"]),
        "date": tuple((soon + timedelta(days=n)).isoformat() for n in range(0, 40, 3)),
        "time": ("09:00", "13:35", "23:55", "00:00", "02:30"),
        "length_minutes": (OMIT, "", "30", "5", "720"),
        "notes": (OMIT, "Bring the scan."),
        "patient_q": (OMIT, "Harb"),
    }
    ours = {a["patient_id"], a["practitioner_id"], a["appointment_type_id"]}

    @fuzz_settings(SUBMISSIONS)
    @given(values=submissions(fields))
    @example(values=plausible(fields))
    @example(values=everywhere(fields))
    def submit(values: dict[str, Any]) -> None:
        before = count(world.app, "appointments")
        response, body, place = judge.post(client, "/appointments/new", {**values, "csrf_token": token})
        after = count(world.app, "appointments")
        accepted = response.status_code == 303 and "/appointments/new" not in response.headers.get("Location", "")
        ids = [values.get(name) for name in ("patient_id", "practitioner_id", "appointment_type_id")]
        written = None if after["appointments"] == before["appointments"] + 1 else f"appointments {before} -> {after}"
        if accepted and any(value not in ours for value in ids):
            written = "booked with an id that is not clinic A's"
        judge.judge(
            response,
            body,
            place,
            example=f"POST /appointments/new {shown(values)}",
            accepted=accepted,
            written=written,
            unchanged=None if after == before else f"{before} -> {after}",
            tampered=any(value not in ours for value in ids),
        )

    submit()
    judge.verdict()


# --- staff --------------------------------------------------------------------------------------


def test_staff_add_form(world):
    """Adding a staff member (practice admin): invited whole, or the form again with a message
    and no invitation, membership or account written."""
    client, token = signed_in(world, "admin", "/staff")
    judge = FormJudge(world, "POST /staff/members (admin)", 'id="member-form"')
    tables = ("staff_invitations", "memberships", "users")
    fields: dict[str, tuple[Any, ...]] = {
        "email": ("casey@example.com", "Casey.Jones@Example.COM", "owner@northside.example", "admin@harbour.example"),
        "display_name": (OMIT, "Casey Jones"),
        "role": ("receptionist", "clinician", "admin", "owner"),
    }
    invited: set[str] = set()

    @fuzz_settings(SUBMISSIONS)
    @given(values=submissions(fields), htmx=st.booleans())
    @example(values=plausible(fields), htmx=True)
    @example(values=everywhere(fields), htmx=True)
    def submit(values: dict[str, Any], htmx: bool) -> None:
        before = count(world.app, *tables)
        headers = {**HTMX, "X-CSRFToken": token} if htmx else {}
        data = values if htmx else {**values, "csrf_token": token}
        response, body, place = judge.post(client, "/staff/members", data, headers=headers)
        after = count(world.app, *tables)
        accepted = response.status_code == 200 and "data-member-added" in body
        grew = after["staff_invitations"] - before["staff_invitations"] + after["memberships"] - before["memberships"]
        email = str(values.get("email", "")).strip().casefold()
        # One new invitation, or the pending one for the same address sent again.
        fine = grew == 1 or (grew == 0 and email in invited)
        if accepted:
            invited.add(email)
        judge.judge(
            response,
            body,
            place,
            example=f"POST /staff/members{' (htmx)' if htmx else ''} {shown(values)}",
            accepted=accepted,
            written=None if fine else f"{before} -> {after}",
            unchanged=None if after == before else f"{before} -> {after}",
        )

    submit()
    judge.verdict()


# --- signing in ---------------------------------------------------------------------------------


def test_sign_in_form(world):
    """Signing in: a session, or the form again with a message and no session."""
    judge = FormJudge(world, "POST /login", 'action="/login')
    fields: dict[str, tuple[Any, ...]] = {
        "email": ("owner@harbour.example", "OWNER@harbour.example", "nobody@example.com", "owner@northside.example"),
        "password": (PASSWORD, "wrong password"),
    }

    @fuzz_settings(SUBMISSIONS)
    @given(values=submissions(fields))
    @example(values=plausible(fields))
    @example(values=everywhere(fields))
    def submit(values: dict[str, Any]) -> None:
        client = world.app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
        before = count(world.app, "user_sessions")
        response, body, place = judge.post(client, "/login", {**values, "csrf_token": token})
        after = count(world.app, "user_sessions")
        accepted = response.status_code == 303
        judge.judge(
            response,
            body,
            place,
            example=f"POST /login {shown(values)}",
            accepted=accepted,
            written=None if after["user_sessions"] == before["user_sessions"] + 1 else f"{before} -> {after}",
            unchanged=None if after == before else f"{before} -> {after}",
        )

    submit()
    judge.verdict()


# --- reports ------------------------------------------------------------------------------------


def test_report_edit_and_sign_forms(world):
    """The review page (clinician): a section saved whole with the revision moved on, or the
    message in place and the report as it was; signing signs, or shows the form again."""
    report = world.a.ids["report_id"]
    client, token = signed_in(world, "clinician", f"/reports/{report}")
    page = client.get(f"/reports/{report}").get_data(as_text=True)
    keys = tuple(dict.fromkeys(re.findall(r'name="section" value="([^"]+)"', page)))
    assert keys, "the review page shows no editable section"
    judge = FormJudge(world, "POST /reports/<report_id>/sections and /sign (clinician)", "data-save-state")
    sign_judge = FormJudge(world, "POST /reports/<report_id>/sign (clinician)", "data-sign-form")
    current = "@current"  # replaced by the report's revision when posted
    section_fields: dict[str, tuple[Any, ...]] = {
        "section": keys,
        "text": ("Sleep has improved.", "", "Line one\nLine two"),
        "revision": (current, current, "0", "abc"),
    }
    sign_fields: dict[str, tuple[Any, ...]] = {"password": (PASSWORD, "not my password"), "revision": (current,)}
    columns = ("content_enc", "revision", "status", "signed_at", "signed_by_id")

    def state() -> dict[str, Any]:
        found = row(world.app, "reports", report)
        return {name: found.get(name) for name in columns}

    actions = st.one_of(
        st.tuples(st.just("sections"), submissions(section_fields)),
        st.tuples(st.just("sections"), submissions(section_fields)),
        st.tuples(st.just("sections"), submissions(section_fields)),
        st.tuples(st.just("sign"), submissions(sign_fields)),
    )

    @fuzz_settings(SUBMISSIONS * 2)
    @given(action=actions)
    @example(action=("sections", plausible(section_fields)))
    @example(action=("sections", {**plausible(section_fields), "text": "a\x00b"}))
    def submit(action: tuple[str, dict[str, Any]]) -> None:
        kind, values = action
        before = state()
        values = {name: str(before["revision"]) if value == current else value for name, value in values.items()}
        url = f"/reports/{report}/{kind}"
        if kind == "sections":  # the page saves sections with htmx
            response, body, place = judge.post(client, url, values, headers={**HTMX, "X-CSRFToken": token})
        else:
            response, body, place = sign_judge.post(client, url, {**values, "csrf_token": token})
        after = state()
        example = f"POST /reports/{{A.report_id}}/{kind} {shown(values)}"
        if kind == "sections":
            accepted = response.status_code == 200 and 'data-save-state="saved"' in body
            # Saved with the revision moved on, or the same text again: nothing to write.
            moved = after["revision"] == before["revision"] + 1 or after == before
            written = None if moved else f"revision {before['revision']} -> {after['revision']}"
            judge.judge(
                response,
                body,
                place,
                example=example,
                accepted=accepted,
                written=written,
                unchanged=_changed(before, after),
            )
        else:
            accepted = response.status_code == 303
            written = None if after["signed_at"] is not None else "the report is not signed"
            sign_judge.judge(
                response,
                body,
                place,
                example=example,
                accepted=accepted,
                written=written,
                unchanged=_changed(before, after),
            )

    submit()
    judge.verdict()
    # Signing is drawn less often; it must at least have been refused with the form shown again.
    assert not sign_judge.book, sign_judge.book.report()
    assert sign_judge.outcomes, "the sign form was never posted"
