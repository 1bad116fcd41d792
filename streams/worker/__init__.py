"""The Faust worker: a thin shell that feeds Kafka messages to the core engine.

``state`` owns the per-partition engines and their Faust-table stores, ``app`` wires topics,
tables, the agent and the web views, ``main`` starts it.
"""
