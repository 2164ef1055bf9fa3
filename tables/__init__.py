"""The state model: pure transition functions (no Kafka, asyncio or I/O) and table declarations."""
