"""Everything a worker runs: importing this module registers the tables, agents and views."""

from streams.app import app, settings  # noqa: F401
import tables.store  # noqa: F401
import agents.locations  # noqa: F401
import agents.channels  # noqa: F401
import agents.expiry  # noqa: F401
import agents.reservations  # noqa: F401
import agents.side_topics  # noqa: F401
import streams.http.stock  # noqa: F401
import streams.http.reservations  # noqa: F401
import streams.http.ops  # noqa: F401
import streams.http.drift  # noqa: F401
