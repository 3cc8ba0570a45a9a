"""Health data: wearable and actigraphy series attached to a patient, their analysis and insights.

``analysis`` (pure: circadian, sleep, non-wear, nights, cosinor) and ``parsers`` (AWD, ActiGraph CSV,
plain CSV, Apple Health) know nothing of the database. ``models``, ``blocks`` (encrypted day blocks),
``sealed_files`` (files waiting for import), ``service`` (uploads), ``imports`` (the import job),
``analyses`` (analysis records and job) and ``insights`` build on them; ``api``, ``pat_api``,
``insights_api`` (seed 004's JSON API) and ``views`` (the chart's "Activity and sleep" section)
attach routes to ``bp``. See docs/health-data.md.
"""

from flask import Blueprint

bp = Blueprint("health_data", __name__)
