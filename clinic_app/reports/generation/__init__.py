"""Draft generation: the inputs a draft is written from, the generators (offline and language
model), and the background job that runs them for a report."""
