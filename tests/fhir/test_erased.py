"""An erased patient in FHIR: reading them is 410 Gone (an OperationOutcome "deleted", as FHIR
answers a deleted resource) and searches no longer find the tombstone."""

from __future__ import annotations

from tests.factories import access_token_for
from tests.fhir.test_fhir import FHIR, _fid, _patient, validate
from tests.patients.test_erasure import erase_now


def test_an_erased_patient_is_gone_and_not_found_by_search(app, tenants):
    gone = _patient(app, tenants.a, "Gwen", "Erasable")
    kept = _patient(app, tenants.a, "Greta", "Erasable")
    erase_now(app, tenants, gone)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}", "Accept": FHIR}
    read = client.get(f"/fhir/R4/Patient/{_fid(gone)}", headers=headers)
    assert read.status_code == 410
    body = read.get_json()
    validate(body)
    assert body["issue"][0]["code"] == "deleted"
    assert client.get(f"/fhir/R4/Patient/{_fid(kept)}", headers=headers).status_code == 200
    for query in ("name=eras", "name=erased", f"_id={_fid(gone)}", "active=false"):
        bundle = client.get(f"/fhir/R4/Patient?{query}", headers=headers).get_json()
        assert _fid(gone) not in [entry["resource"]["id"] for entry in bundle.get("entry", [])], query
