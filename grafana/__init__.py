"""ccpulse Grafana dashboards as code.

- ``grafana.dashboards_src``: one small module per dashboard, built with the official
  ``grafana_foundation_sdk`` builders (the Grafana 11.6 build, schemaVersion 41).
- ``grafana.generate``: writes them to ``grafana/dashboards/<uid>.json``
  (``.venv/bin/python -m grafana.generate``; ``--check`` fails when the files are stale).
- ``grafana.queries``: every panel query of the committed JSON with its template variables
  replaced by concrete values, for running against a real Prometheus.
"""
