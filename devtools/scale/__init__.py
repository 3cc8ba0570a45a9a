"""``flask seed-scale``: many synthetic patients and appointments, for benchmarks and load tests."""
