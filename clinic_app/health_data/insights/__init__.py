"""Insights on an actigraphy analysis: rule-based statements against published thresholds
(``rules.statements``) and a plain-language paragraph from them (``narrative.offline_narrative``,
or ``narrative.generate`` with the configured language model). Pure functions: no database, no
request; see docs/health-data.md, "Insights".
"""
