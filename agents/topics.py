"""The Faust topic objects the agents and HTTP views share (values are raw bytes: each one
decodes and encodes itself)."""

from streams import topics
from streams.app import app, settings

events_topic = app.topic(
    settings.topic(topics.EVENTS), partitions=settings.partitions,
    key_serializer="raw", value_serializer="raw",
)
locations_topic = app.topic(
    settings.topic(topics.LOCATIONS), partitions=settings.partitions,
    key_serializer="raw", value_serializer="raw",
)
# The reservation service's log, keyed by client/reservation id: requests and releases from
# the HTTP API, what each position did with them from the location agent.
reservations_topic = app.topic(
    settings.topic(topics.RESERVATIONS), partitions=settings.partitions,
    key_serializer="raw", value_serializer="raw",
)
