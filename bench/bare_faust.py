"""A bare Faust agent that forwards each record unchanged: the ceiling stockstream's pipeline is
measured against (bench/ceiling.py starts it as its own process).

Environment: BENCH_BOOTSTRAP, BENCH_APP (app id), BENCH_SOURCE and BENCH_SINK (topic names),
BENCH_PARTITIONS, BENCH_PORT (web port), BENCH_DATA (data dir).
"""

from __future__ import annotations

import os
import sys

import faust

app = faust.App(
    os.environ["BENCH_APP"],
    broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    topic_partitions=int(os.environ["BENCH_PARTITIONS"]),
    web_port=int(os.environ["BENCH_PORT"]),
    datadir=os.environ["BENCH_DATA"],
    autodiscover=False,
)
source = app.topic(os.environ["BENCH_SOURCE"], key_serializer="raw", value_serializer="raw")
sink = app.topic(os.environ["BENCH_SINK"], key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def forward(stream):  # noqa: ANN001 - Faust's own example shape
    async for event in stream.events():
        await sink.send(key=event.key, value=event.value)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
