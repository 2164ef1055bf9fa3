"""The Faust app: settings, topics, Avro codec, CLI, HTTP views."""
