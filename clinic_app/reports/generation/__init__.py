"""Draft generation: the inputs a draft is written from, the generators (offline and language
model), and the background job that runs them for a report."""

# The background job that writes a report's draft (``generation.job``), by the name ``drafting``
# queues it under; here so that neither imports the other for it.
JOB_KIND = "reports.generate"
