"""Patient figures: what each patient's appointments add up to (``PatientAppointmentStats``: counts,
activity, next appointment, re-engagement risk) and the recorded contacts that can hide a patient
from the worklist (docs/rules.md).

``service`` recomputes (on the appointments' and patients' signals, after a sync, and, for what
time alone makes stale, in the periodic task ``refresh_stale_figures``) and sends
``signals.figures_changed``; ``queries`` is the one way lists read patients with their figures;
``contacts`` records contact outcomes; ``rules`` holds the written rules as pure functions.
No pages of its own: engagement, caseload, the dashboard and the sync's admin JSON read it.
"""
