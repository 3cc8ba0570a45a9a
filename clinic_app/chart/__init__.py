"""The patient chart: the patient record page and the patient's export, the two places that show
one patient across features (the record, intake and symptoms, appointments, consultations,
reports). Layer 5: it reads the features below it through their services and none of them imports
it.

Its routes keep the addresses and endpoint names they had when they lived in the patients feature
(``patients.detail``, ``patients.export_record``, ``patients.api_export``, ``patients.api_history``):
``views`` and ``api`` attach them to the patients blueprint, so ``create_app`` imports them before
it registers that blueprint. The package has no blueprint of its own.
"""
