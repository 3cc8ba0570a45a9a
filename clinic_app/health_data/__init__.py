"""Health data: wearable and actigraphy series attached to a patient, and their analysis.

This package so far holds the pure analysis core (``analysis``) and the file parsers (``parsers``);
see docs/health-data.md.
"""
