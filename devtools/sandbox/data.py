"""The sandbox clinic's records and the deterministic generator that makes them.

Records are ``__slots__`` objects holding epoch milliseconds, shared strings and references to
related records; they become Cliniko-shaped JSON only when a page is served. That keeps 100,000
appointments to a few tens of megabytes and generation to about a second. Every value comes from
one ``random.Random`` per resource seeded from the clinic's seed, so a seed always yields the same
records, ids and timestamps (for a given anchor day).
"""

from __future__ import annotations

import bisect
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
MINUTE_MS = 60_000
ID_BASE = 1_000_000_000_000_000_000
# Each resource gets its own id range, so an id used against the wrong resource is a 404.
ID_SLOTS = {"businesses": 0, "practitioners": 1, "appointment_types": 2, "patients": 3, "individual_appointments": 4}
# Cliniko's cancellation reason codes; the words go in ``cancellation_reason_description``.
CANCELLATION_REASONS = {10: "Feeling better", 20: "Condition worse", 30: "Sick", 40: "Away", 50: "Other", 60: "Work"}


# Word lists: every name, street and note in the sandbox is made up from these.
FIRST_NAMES = (
    "Olivia", "Charlotte", "Amelia", "Isla", "Mia", "Ava", "Grace", "Zoë", "Harper", "Chloe", "Ruby", "Sienna",
    "Matilda", "Ivy", "Priya", "Mei", "Sofia", "Hannah", "Ngaio", "Jack", "Oliver", "Noah", "William", "Leo",
    "Henry", "Thomas", "Lucas", "Arjun", "Mohammed", "Wei", "Hamish", "Lachlan", "Cooper", "Aroha", "Liam",
    "Ethan", "Samuel", "Daniel", "Kai", "Tane", "José", "Siobhan", "Eilidh", "Fatima", "Yusuf", "Anika",
    "Elizabeth", "Katherine", "Benjamin", "Alexander", "Jessica", "Matthew", "Rebecca", "Christopher",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson", "Martin", "White",
    "Anderson", "Walker", "Thompson", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King", "Davis", "Wright",
    "O'Brien", "McDonald", "Murphy", "Campbell", "Patel", "Singh", "Chen", "Wang", "Kaur", "Papadopoulos",
    "Rossi", "Nguyen-Tran", "Te Whare", "van der Berg", "Mitchell", "Clarke", "Young", "Hughes", "Edwards",
    "Kowalski", "Haddad", "Okafor", "Hernández", "Ó Súilleabháin", "Fitzgerald-Moore",
)  # fmt: skip
PREFERRED = {
    "William": "Will", "Samuel": "Sam", "Thomas": "Tom", "Daniel": "Dan", "Charlotte": "Charlie",
    "Elizabeth": "Liz", "Katherine": "Kate", "Benjamin": "Ben", "Alexander": "Alex", "Jessica": "Jess",
    "Matthew": "Matt", "Rebecca": "Bec", "Christopher": "Chris", "Mohammed": "Mo",
}  # fmt: skip
TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr", "Mx", None, None, None)
SEXES = ("Female", "Male", "Female", "Male", "Female", "Male", "Intersex", None)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
STREETS = (
    "George Street", "King Street", "Church Street", "Victoria Road", "Beach Road", "Station Street",
    "High Street", "Park Avenue", "Railway Parade", "Ocean Drive", "Bridge Road", "Elizabeth Street",
)  # fmt: skip
SUBURBS = (
    ("Manly", "NSW", "2095"), ("Bondi", "NSW", "2026"), ("Newtown", "NSW", "2042"), ("Fitzroy", "VIC", "3065"),
    ("Brunswick", "VIC", "3056"), ("St Kilda", "VIC", "3182"), ("New Farm", "QLD", "4005"),
    ("Fremantle", "WA", "6160"), ("Glenelg", "SA", "5045"), ("Sandy Bay", "TAS", "7005"),
    ("Braddon", "ACT", "2612"), ("Parap", "NT", "0820"),
)  # fmt: skip
AREA_CODES = {"NSW": "02", "ACT": "02", "VIC": "03", "TAS": "03", "QLD": "07", "SA": "08", "WA": "08", "NT": "08"}
JUNK_PHONES = ("call reception", "ask at front desk", "n/a", "0412 345", "TBC", "see notes", "mum's phone")
OCCUPATIONS = ("Teacher", "Nurse", "Electrician", "Student", "Retired", "Accountant", None, None, None)
PATIENT_NOTES = ("Prefers morning appointments.", "Referred by GP.", "Text rather than call.", None, None, None)
BUSINESS_SITES = (
    ("Manly", "NSW", "2095", "Australia/Sydney"), ("Fitzroy", "VIC", "3065", "Australia/Melbourne"),
    ("New Farm", "QLD", "4005", "Australia/Brisbane"), ("Fremantle", "WA", "6160", "Australia/Perth"),
    ("Glenelg", "SA", "5045", "Australia/Adelaide"),
)  # fmt: skip
DESIGNATIONS = (
    "Physiotherapist", "Psychologist", "Exercise Physiologist", "Occupational Therapist", "Osteopath",
    "Dietitian", "Counsellor", "Podiatrist",
)  # fmt: skip
APPOINTMENT_TYPES = (
    ("Initial Consultation", "Physiotherapy", 60), ("Standard Consultation", "Physiotherapy", 30),
    ("Psychology Session", "Psychology", 50), ("Review", "Physiotherapy", 20),
    ("Telehealth Session", "Psychology", 50), ("Exercise Class", "Exercise Physiology", 45),
    ("Long Consultation", "Physiotherapy", 45), ("Assessment", "Occupational Therapy", 90),
)  # fmt: skip
COLORS = ("#4a90d9", "#50b848", "#f5a623", "#d0021b", "#9013fe", "#417505", "#bd10e0", "#8b572a")
APPOINTMENT_NOTES = (
    "Bring previous scans.", "Follow-up on home exercises.", "Running late, called ahead.",
    "Review of treatment plan.", "Parking at rear.", None, None, None, None,
)  # fmt: skip
CANCELLATION_NOTES = ("Called in the morning.", "Rebooked for next week.", "Left a voicemail.", None, None)


_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))
_DAY_PREFIXES: dict[int, str] = {}  # days since 1970 -> "YYYY-MM-DDT" (a few thousand at most)


def iso(ms: int | None) -> str | None:
    """Cliniko's UTC timestamp text: whole seconds as ``...:SSZ``; values made by mutations keep their
    milliseconds (``...:SS.mmmZ``) so that a later change always sorts after an earlier one.

    Hand-assembled from cached pieces: it runs six times per appointment served, and strftime made
    it the most expensive part of rendering a page.
    """
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = _DAY_PREFIXES[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    hours, second = divmod(second, 3600)
    minutes, second = divmod(second, 60)
    text = prefix + _TWO_DIGITS[hours] + ":" + _TWO_DIGITS[minutes] + ":" + _TWO_DIGITS[second]
    return f"{text}.{millis:03d}Z" if millis else text + "Z"


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from a datetime (naive means UTC), an ISO-8601 string or an int."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if not isinstance(value, datetime):
        raise ValueError(f"not a date-time: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def link(base: str, resource: str, record_id: int) -> dict[str, Any]:
    """Cliniko shows related records only as a link to them."""
    return {"links": {"self": f"{base}/{resource}/{record_id}"}}


class Business:
    __slots__ = ("address_1", "archived_at", "city", "created_at", "id", "name", "post_code", "state", "time_zone",
                 "updated_at")  # fmt: skip

    def render(self, base: str) -> dict[str, Any]:
        return {
            "id": str(self.id), "business_name": self.name, "display_name": self.name, "label": self.name,
            "time_zone_identifier": self.time_zone, "country": "Australia", "address_1": self.address_1,
            "address_2": None, "city": self.city, "state": self.state, "post_code": self.post_code,
            "archived_at": iso(self.archived_at), "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at), "links": {"self": f"{base}/businesses/{self.id}"},
        }  # fmt: skip


class Practitioner:
    __slots__ = ("active", "business", "created_at", "designation", "first_name", "id", "last_name", "title",
                 "updated_at")  # fmt: skip

    def render(self, base: str) -> dict[str, Any]:
        full = f"{self.first_name} {self.last_name}"
        return {
            "id": str(self.id), "title": self.title, "first_name": self.first_name, "last_name": self.last_name,
            "display_name": f"{self.title} {full}" if self.title else full, "label": full,
            "designation": self.designation, "active": self.active, "show_in_online_bookings": self.active,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "links": {"self": f"{base}/practitioners/{self.id}"},
        }  # fmt: skip


class AppointmentType:
    __slots__ = ("archived_at", "category", "color", "created_at", "duration", "id", "name", "updated_at")

    def render(self, base: str) -> dict[str, Any]:
        return {
            "id": str(self.id), "name": self.name, "category": self.category, "color": self.color,
            "description": None, "duration_in_minutes": self.duration, "max_attendees": 1,
            "show_in_online_bookings": self.archived_at is None, "archived_at": iso(self.archived_at),
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "links": {"self": f"{base}/appointment_types/{self.id}"},
        }  # fmt: skip


class Patient:
    __slots__ = ("address_1", "address_2", "archived_at", "city", "created_at", "date_of_birth", "deleted_at",
                 "email", "first_name", "id", "last_name", "notes", "occupation", "old_reference_id", "phones",
                 "post_code", "preferred_first_name", "sex", "state", "title", "updated_at")  # fmt: skip

    def render(self, base: str) -> dict[str, Any]:
        return {
            "id": str(self.id), "title": self.title, "first_name": self.first_name, "last_name": self.last_name,
            "preferred_first_name": self.preferred_first_name, "label": f"{self.first_name} {self.last_name}",
            "email": self.email, "date_of_birth": self.date_of_birth, "sex": self.sex, "gender_identity": None,
            "occupation": self.occupation, "notes": self.notes,
            "patient_phone_numbers": [{"phone_type": kind, "number": number} for kind, number in self.phones],
            "address_1": self.address_1, "address_2": self.address_2, "address_3": None, "city": self.city,
            "state": self.state, "post_code": self.post_code, "country": "Australia", "time_zone": None,
            "accepted_privacy_policy": True, "old_reference_id": self.old_reference_id,
            "archived_at": iso(self.archived_at),
            "deleted_at": iso(self.deleted_at), "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at), "links": {"self": f"{base}/patients/{self.id}"},
        }  # fmt: skip


class Appointment:
    __slots__ = ("appointment_type", "archived_at", "cancellation_note", "cancellation_reason", "cancelled_at",
                 "created_at", "deleted_at", "did_not_arrive", "ends_at", "id", "notes", "patient",
                 "patient_arrived", "practitioner", "starts_at", "updated_at")  # fmt: skip

    def render(self, base: str) -> dict[str, Any]:
        patient = self.patient
        return {
            "id": str(self.id), "starts_at": iso(self.starts_at), "ends_at": iso(self.ends_at),
            "patient_name": f"{patient.first_name} {patient.last_name}", "notes": self.notes,
            "cancelled_at": iso(self.cancelled_at), "cancellation_reason": self.cancellation_reason,
            "cancellation_reason_description": CANCELLATION_REASONS.get(self.cancellation_reason or 0, ""),
            "cancellation_note": self.cancellation_note, "did_not_arrive": self.did_not_arrive,
            "patient_arrived": self.patient_arrived, "email_reminder_sent": self.cancelled_at is None,
            "sms_reminder_sent": False, "archived_at": iso(self.archived_at), "deleted_at": iso(self.deleted_at),
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "patient": link(base, "patients", patient.id),
            "practitioner": link(base, "practitioners", self.practitioner.id),
            "appointment_type": link(base, "appointment_types", self.appointment_type.id),
            "business": link(base, "businesses", self.practitioner.business.id),
            "links": {"self": f"{base}/individual_appointments/{self.id}"},
        }  # fmt: skip


def stream(seed: int) -> random.Random:
    """A seeded generator for made-up data: reproducible by design, and nothing secret comes from it."""
    return random.Random(seed)  # noqa: S311


def resource_seed(seed: int, resource: str) -> int:
    """One independent random stream per resource: more patients never changes the practitioners."""
    return seed * 1_000_003 + ID_SLOTS[resource] * 7919


def id_start(seed: int, resource: str) -> int:
    return ID_BASE + ID_SLOTS[resource] * 10**16 + (seed % 9973) * 10**11


def next_ids(rng: random.Random, start: int, count: int) -> list[int]:
    """Increasing ids with irregular gaps, like a real id sequence shared with other accounts."""
    ids, current, r = [], start, rng.random
    for _ in range(count):
        current += 1 + int(r() * 4000)
        ids.append(current)
    return ids


def anchor_ms(now: datetime | None) -> int:
    """The moment the synthetic history ends. Without ``now`` it is the start of today (UTC), so two
    clinics built the same day with the same seed are identical."""
    if now is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ms = to_ms(now)
    assert ms is not None
    return ms - ms % 1000


def build_businesses(seed: int, count: int, anchor: int) -> list[Business]:
    rng = stream(resource_seed(seed, "businesses"))
    ids = next_ids(rng, id_start(seed, "businesses"), count)
    businesses = []
    for index, record_id in enumerate(ids):
        suburb, state, post_code, zone = BUSINESS_SITES[index % len(BUSINESS_SITES)]
        business = Business()
        business.id, business.time_zone = record_id, zone
        business.name = f"Harbourside Health {suburb}" if index else "Harbourside Health"
        business.address_1 = f"{rng.randint(1, 300)} {rng.choice(STREETS)}"
        business.city, business.state, business.post_code = suburb, state, post_code
        business.archived_at = None
        business.created_at = anchor - (6 * 365 - index * 30) * DAY_MS
        business.updated_at = business.created_at + rng.randint(1, 400) * DAY_MS
        businesses.append(business)
    return businesses


def build_practitioners(seed: int, count: int, businesses: list[Business], anchor: int) -> list[Practitioner]:
    """The last one or two practitioners have left (inactive); only past appointments name them."""
    rng = stream(resource_seed(seed, "practitioners"))
    inactive = 0 if count < 2 else 1 if count < 5 else 2
    practitioners = []
    for index, record_id in enumerate(next_ids(rng, id_start(seed, "practitioners"), count)):
        practitioner = Practitioner()
        practitioner.id = record_id
        practitioner.first_name = rng.choice(FIRST_NAMES)
        practitioner.last_name = rng.choice(LAST_NAMES)
        practitioner.title = rng.choice(("Dr", "", "", "Ms", "Mr"))
        practitioner.designation = DESIGNATIONS[index % len(DESIGNATIONS)]
        practitioner.active = index < count - inactive
        practitioner.business = businesses[index % len(businesses)]
        practitioner.created_at = anchor - (5 * 365 - index * 20) * DAY_MS
        practitioner.updated_at = practitioner.created_at + rng.randint(10, 300) * DAY_MS
        if not practitioner.active:
            practitioner.updated_at = anchor - rng.randint(100, 140) * DAY_MS
        practitioners.append(practitioner)
    return practitioners


def build_appointment_types(seed: int, count: int, anchor: int) -> list[AppointmentType]:
    """With four or more types, the last one is archived (retired; only old appointments use it)."""
    rng = stream(resource_seed(seed, "appointment_types"))
    types = []
    for index, record_id in enumerate(next_ids(rng, id_start(seed, "appointment_types"), count)):
        name, category, duration = APPOINTMENT_TYPES[index % len(APPOINTMENT_TYPES)]
        kind = AppointmentType()
        kind.id, kind.category, kind.duration = record_id, category, duration
        kind.name = name if index < len(APPOINTMENT_TYPES) else f"{name} ({index + 1})"
        kind.color = COLORS[index % len(COLORS)]
        kind.created_at = anchor - (5 * 365 - index * 7) * DAY_MS
        kind.updated_at = kind.created_at + rng.randint(1, 200) * DAY_MS
        kind.archived_at = None
        if count >= 4 and index == count - 1:
            kind.archived_at = kind.updated_at = anchor - 200 * DAY_MS
        types.append(kind)
    return types


def _phones(rng: random.Random, state: str) -> tuple[tuple[str, str], ...]:
    """Mostly Australian local formats, some already international, a few that no parser can save."""
    roll = rng.random()
    if roll < 0.04:
        return ()
    phones: list[tuple[str, str]] = []
    if roll < 0.07:
        phones.append(("Mobile", rng.choice(JUNK_PHONES)))
    elif roll < 0.22:
        digits = rng.randint(10_000_000, 99_999_999)
        phones.append(("Mobile", f"+61 4{digits // 10**6:02d} {digits // 1000 % 1000:03d} {digits % 1000:03d}"))
    else:
        phones.append(("Mobile", f"04{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"))
    if rng.random() < 0.25:
        area = AREA_CODES[state]
        phones.append(("Home", f"({area}) {rng.randint(5000, 9999)} {rng.randint(0, 9999):04d}"))
    if rng.random() < 0.1:
        phones.append(("Work", f"{AREA_CODES[state]} {rng.randint(5000, 9999)} {rng.randint(0, 9999):04d}"))
    return tuple(phones)


def make_patient(rng: random.Random, record_id: int, created_at: int, updated_at: int, anchor: int) -> Patient:
    """One made-up patient; the odd missing e-mail, missing birth date or shared family e-mail is on purpose."""
    patient = Patient()
    patient.id, patient.created_at, patient.updated_at = record_id, created_at, updated_at
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    patient.first_name, patient.last_name = first, last
    patient.preferred_first_name = PREFERRED.get(first) if rng.random() < 0.5 else None
    patient.title = rng.choice(TITLES)
    patient.sex = rng.choice(SEXES)
    handle = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    email_roll = rng.random()
    if email_roll < 0.12:
        patient.email = None
    else:
        patient.email = f"{handle}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
        if email_roll > 0.98:
            patient.email = patient.email.title()  # typed with capitals at the front desk
    birth = anchor - rng.randint(2 * 365, 95 * 365) * DAY_MS
    patient.date_of_birth = None if rng.random() < 0.07 else time.strftime("%Y-%m-%d", time.gmtime(birth // 1000))
    suburb, state, post_code = rng.choice(SUBURBS)
    patient.address_1 = f"{rng.randint(1, 250)} {rng.choice(STREETS)}"
    patient.address_2 = f"Unit {rng.randint(1, 40)}" if rng.random() < 0.15 else None
    patient.city, patient.state, patient.post_code = suburb, state, post_code
    patient.phones = _phones(rng, state)
    patient.occupation = rng.choice(OCCUPATIONS)
    patient.notes = rng.choice(PATIENT_NOTES)
    patient.archived_at = patient.deleted_at = patient.old_reference_id = None
    return patient


def build_patients(seed: int, count: int, anchor: int) -> list[Patient]:
    """Registered over the last three years; ~3 % archived, ~1 % deleted, ~1 % share a family e-mail."""
    rng = stream(resource_seed(seed, "patients"))
    created = sorted(anchor - rng.randint(DAY_MS // 24, 3 * 365 * DAY_MS) for _ in range(count))
    created = [moment - moment % 1000 for moment in created]
    patients: list[Patient] = []
    for record_id, created_at in zip(next_ids(rng, id_start(seed, "patients"), count), created, strict=True):
        changed = created_at if rng.random() < 0.4 else rng.randint(created_at, anchor - 1000)
        patient = make_patient(rng, record_id, created_at, changed - changed % 1000, anchor)
        if patients and rng.random() < 0.01:
            patient.email = patients[-1].email
        roll = rng.random()
        if roll < 0.03:
            patient.archived_at = patient.updated_at = anchor - rng.randint(1, (anchor - created_at) // 1000) * 1000
        elif roll < 0.04:
            patient.deleted_at = patient.updated_at = anchor - rng.randint(1, (anchor - created_at) // 1000) * 1000
        patients.append(patient)
    if count >= 10:  # small clinics for tests still get one of each kind
        _ensure(patients, lambda p: p.archived_at is not None, count // 3, lambda p: _hide(p, "archived_at", anchor))
        _ensure(patients, lambda p: p.deleted_at is not None, count // 2, lambda p: _hide(p, "deleted_at", anchor))
    return patients


def _hide(record: Patient | Appointment, field: str, anchor: int) -> None:
    moment = (record.updated_at + anchor) // 2
    moment -= moment % 1000
    setattr(record, field, moment)
    record.updated_at = moment


def _ensure(rows: list[Any], present: Any, start: int, make: Any, eligible: Any = None) -> None:
    """If no row satisfies ``present``, apply ``make`` to the first plain, eligible row from ``start``:
    a deterministic top-up, so even a 60-patient test clinic has an archived and a deleted patient."""
    if any(present(row) for row in rows):
        return
    for row in rows[start:] + rows[:start]:
        plain = row.archived_at is None and row.deleted_at is None and getattr(row, "cancelled_at", None) is None
        if plain and (eligible is None or eligible(row)) and not getattr(row, "did_not_arrive", False):
            make(row)
            return


def _day_starts(businesses: list[Business], first_day: int, days: int) -> dict[int, list[int]]:
    """Local midnight (as UTC ms) of every day in the range, per business, honouring daylight saving."""
    starts: dict[int, list[int]] = {}
    origin = datetime.fromtimestamp(first_day / 1000, UTC).date()
    for business in businesses:
        zone = ZoneInfo(business.time_zone)
        row = []
        for offset in range(days):
            day = origin + timedelta(days=offset)
            local_midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            row.append(round(local_midnight.timestamp() * 1000))
        starts[business.id] = row
    return starts


def build_appointments(
    seed: int,
    count: int,
    anchor: int,
    patients: list[Patient],
    practitioners: list[Practitioner],
    types: list[AppointmentType],
) -> list[Appointment]:
    """Appointments over the past ~18 months and the next ~2 months, in business hours (local time).

    ~10 % cancelled, ~5 % did not arrive, most past ones arrived, ~2 % archived. Practitioners who left
    and retired appointment types appear only before they went; each patient was registered before
    their appointment was booked. Ids follow booking order, as they do in Cliniko.
    """
    if count and not (patients and practitioners and types):
        raise ValueError("appointments need at least one patient, practitioner and appointment type")
    rng = stream(resource_seed(seed, "individual_appointments"))
    past_days, future_days = 548, 61
    first_day = anchor - past_days * DAY_MS
    day_starts = _day_starts([p.business for p in practitioners], first_day, past_days + future_days)
    recent = anchor - 100 * DAY_MS
    current_staff = [p for p in practitioners if p.active] or practitioners
    current_types = [t for t in types if t.archived_at is None] or types
    patient_created = [p.created_at for p in patients]
    rows: list[Appointment] = []
    r = rng.random  # int(r() * n) rather than randrange(n): a third of the cost, same determinism
    all_days, hour = past_days + future_days, 3_600_000
    for _ in range(count):
        day = int(r() * all_days)
        is_old = first_day + day * DAY_MS < recent
        staff, kinds = (practitioners, types) if is_old else (current_staff, current_types)
        practitioner, kind = staff[int(r() * len(staff))], kinds[int(r() * len(kinds))]
        appointment = Appointment()
        appointment.practitioner, appointment.appointment_type = practitioner, kind
        starts = day_starts[practitioner.business.id][day] + (32 + int(r() * 36)) * 15 * MINUTE_MS  # 8:00-16:45
        appointment.starts_at, appointment.ends_at = starts, starts + kind.duration * MINUTE_MS
        booked = min(starts - (1 + int(r() * 45 * 24)) * hour, anchor - (1 + int(r() * 72)) * hour)
        known = bisect.bisect_right(patient_created, booked)
        appointment.patient = patients[int(r() * known)] if known else patients[0]
        appointment.created_at = max(booked, appointment.patient.created_at)
        _settle(rng, appointment, anchor)
        rows.append(appointment)
    if count >= 20:
        _top_up_appointments(rng, rows, anchor)
    rows.sort(key=lambda row: row.created_at)
    for appointment, record_id in zip(rows, next_ids(rng, id_start(seed, "individual_appointments"), count),
                                      strict=True):  # fmt: skip
        appointment.id = record_id
    return rows


def _top_up_appointments(rng: random.Random, rows: list[Appointment], anchor: int) -> None:
    """Small test clinics still get a cancellation, a no-show, an archived and a future booking."""

    def booked_ahead(row: Appointment) -> bool:
        return row.starts_at > anchor + 2 * DAY_MS and not (row.cancelled_at or row.archived_at)

    count = len(rows)
    _ensure(rows, lambda row: row.cancelled_at is not None, 0, lambda row: _cancel(rng, row, anchor))
    _ensure(rows, lambda row: row.did_not_arrive, count // 4, _no_show, lambda row: row.ends_at <= anchor)
    _ensure(rows, lambda row: row.archived_at is not None, count // 2, lambda row: _hide(row, "archived_at", anchor))
    _ensure(rows, booked_ahead, count - 1, lambda row: _move_ahead(row, anchor))


def _cancel(rng: random.Random, appointment: Appointment, anchor: int) -> None:
    latest = min(appointment.starts_at, anchor)
    cancelled = rng.randint(appointment.created_at, max(appointment.created_at, latest - 1000))
    appointment.cancelled_at = appointment.updated_at = cancelled - cancelled % 1000
    appointment.cancellation_reason = rng.choice(tuple(CANCELLATION_REASONS))
    appointment.cancellation_note = rng.choice(CANCELLATION_NOTES)
    appointment.patient_arrived = appointment.did_not_arrive = False


def _no_show(appointment: Appointment) -> None:
    appointment.did_not_arrive, appointment.patient_arrived = True, False


def _move_ahead(appointment: Appointment, anchor: int) -> None:
    """Rebook into next week (same time of day) so that even a tiny clinic has a future booking."""
    shift = ((anchor - appointment.starts_at) // DAY_MS + 7) * DAY_MS
    appointment.starts_at += shift
    appointment.ends_at += shift
    appointment.patient_arrived = appointment.did_not_arrive = False


def _settle(rng: random.Random, appointment: Appointment, anchor: int) -> None:
    """Decide what became of one appointment by the anchor moment, and when it last changed."""
    appointment.notes = APPOINTMENT_NOTES[int(rng.random() * len(APPOINTMENT_NOTES))]
    appointment.cancelled_at = appointment.cancellation_reason = appointment.cancellation_note = None
    appointment.archived_at = appointment.deleted_at = None
    appointment.did_not_arrive = appointment.patient_arrived = False
    last_change = appointment.created_at
    roll = rng.random()
    if roll < 0.10:
        _cancel(rng, appointment, anchor)
        last_change = appointment.updated_at
    elif appointment.ends_at <= anchor:
        marked = min(appointment.ends_at + int(rng.random() * 180) * MINUTE_MS, anchor)
        if roll < 0.157:
            appointment.did_not_arrive, last_change = True, marked
        elif rng.random() < 0.95:
            appointment.patient_arrived, last_change = True, marked
    if rng.random() < 0.02:
        archived = last_change + int(rng.random() * (anchor - last_change))
        appointment.archived_at = last_change = archived - archived % 1000
    appointment.updated_at = last_change
