"""FHIR R4 read and search at ``/fhir/R4/``: Patient, Practitioner, Appointment, Encounter
(consultations), Observation (health-data metrics), DocumentReference (signed reports) and the
CapabilityStatement. Bearer tokens only; a token reads its own organization; every read of
patient data is audited; errors are OperationOutcome (docs/integrations.md)."""

from flask import Blueprint

bp = Blueprint("fhir", __name__, url_prefix="/fhir/R4")
