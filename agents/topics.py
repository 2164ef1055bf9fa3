"""The Faust topic objects the agents and HTTP views share (values are raw bytes: each one
decodes and encodes Avro itself)."""

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
