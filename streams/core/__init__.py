"""The pure KPI engine: plain Python, no Faust, no Kafka, no Prometheus client, no I/O.

A test (``tests/unit/test_core_is_pure.py``) enforces that nothing here imports those.
"""
