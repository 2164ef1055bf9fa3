"""The wire format: Avro in the Confluent framing, the schema registry, JSON for people, dead
letters."""
