"""ccpulse: live contact-centre KPIs from Kafka event streams.

The package is layered so that the numbers never depend on the plumbing:

* ``streams.core`` -- the pure engine (no Faust, Kafka, Prometheus or I/O);
* ``streams.validation`` -- bytes to :class:`streams.core.events.Event`, against ``schemas/``;
* ``streams.exporter`` / ``streams.replay`` / ``streams.worker`` -- thin shells around the core.
"""

__version__ = "0.1.0"
