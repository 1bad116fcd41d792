"""Connectors: the records of real contact-centre systems as docs/contract.md §1 events.

One module per system turns that system's own records into events; ``ccpulse connect SYSTEM``
(:mod:`streams.sources.cli`) reads them, maps them, validates every event with the engine's own
decoder and publishes them to Kafka or to a JSON-lines file (:mod:`streams.sources.run`).

The interface a connector implements is in :mod:`streams.sources.base`: a *reader* yields native
records with the position after each, a *mapper* turns one record into events (or says why it
cannot), and both resume from a checkpoint. Field-by-field mappings are in ``docs/sources.md``.
"""
