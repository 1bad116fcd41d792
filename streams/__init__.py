"""ccpulse: live contact-centre KPIs from Kafka event streams.

The package is layered so that the numbers never depend on the plumbing:

* ``streams.core`` -- the pure engine (no Faust, Kafka, Prometheus or I/O);
* ``streams.validation`` -- bytes to :class:`streams.core.events.Event`, against ``schemas/``;
* ``streams.exporter`` / ``streams.replay`` / ``streams.worker`` -- thin shells around the core.

``streams.compiled`` decides whether the hot path runs compiled (mypyc) or from its source.
"""

from streams import compiled as _compiled

__version__ = "0.1.0"

_compiled.install()
