"""The EDI 846 sink as a user runs it: a file a second at most, read back with pyx12; the
latest file naming a SKU holds its latest value, and control numbers keep increasing when the
sink is restarted."""

from __future__ import annotations

import signal
import subprocess

import pyx12.x12file

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, wait_for
from tests.integration.test_webhook_sink import receipt

POLICIES = "channels:\n  edi:\n    locations: [WH1]\n    publish_interval: 0.2\n"
SINKS = """
sinks:
  retailer:
    kind: edi846
    channel: edi
    directory: out
    sender_id: STOCKSTREAM
    receiver_id: RETAILER1
    every_seconds: 1
    items: {items}
"""


def read_files(directory) -> tuple[list[int], dict[str, int]]:
    """Control numbers in file order, and each partner item's quantity in the latest file."""
    controls, shown = [], {}
    for file in sorted(directory.glob("846-*.x12"), key=lambda f: f.name.rsplit("-", 1)[1]):
        reader = pyx12.x12file.X12Reader(str(file))
        item = None
        for segment in reader:
            if segment.get_seg_id() == "ISA":
                controls.append(int(segment.get_value("ISA13")))
            elif segment.get_seg_id() == "LIN":
                item = segment.get_value("LIN03")
            elif segment.get_seg_id() == "QTY":
                shown[item] = int(segment.get_value("QTY02"))
        assert list(reader.pop_errors()) == []
    return controls, shown


def start(deployment, tmp_path):
    with open(tmp_path / "sink.log", "ab") as log:
        return subprocess.Popen([STOCKSTREAM, "sink", "run", "retailer", "--config", str(tmp_path / "sinks.yaml")],
                                env=deployment.env, stdout=log, stderr=subprocess.STDOUT)


def test_files_carry_the_latest_values_and_control_numbers_increase_across_restarts(deployment, tmp_path):
    skus = [f"EDI-{i}" for i in range(20)]
    items = "{" + ", ".join(f"{s}: P{i:05d}" for i, s in enumerate(skus)) + "}"
    (tmp_path / "sinks.yaml").write_text(SINKS.format(items=items))
    apply_policies(deployment, tmp_path, POLICIES)
    deployment.worker()
    sink = start(deployment, tmp_path)

    def expected() -> dict[str, int]:
        latest = deployment.latest(topics.CHANNEL_PREFIX + "edi")
        return {f"P{skus.index(sku):05d}": value for sku, (_, value) in latest.items()}

    try:
        deployment.produce([receipt(i, sku, 9) for i, sku in enumerate(skus)])
        wait_for(lambda: read_files(tmp_path / "out")[1] == expected() and len(expected()) == 20, 60, "the first file")
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
        sink = start(deployment, tmp_path)
        deployment.produce([receipt(100 + i, sku, -4) for i, sku in enumerate(skus[:7])])
        wait_for(lambda: sum(v == 5 for v in expected().values()) == 7, 60, "the decreases' deltas")
        wait_for(lambda: read_files(tmp_path / "out")[1] == expected(), 60, "the decreases in a later file")
        controls, _ = read_files(tmp_path / "out")
        assert controls == sorted(controls) and len(set(controls)) == len(controls) >= 2
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)

    # on demand: a run that writes what changed since, then stops by itself
    deployment.produce([receipt(200 + i, sku, 1) for i, sku in enumerate(skus[10:13])])
    wait_for(lambda: sum(v == 10 for v in expected().values()) == 3, 60, "the last changes' deltas")
    done = subprocess.run([STOCKSTREAM, "sink", "run", "retailer", "--config", str(tmp_path / "sinks.yaml"), "--once"],
                          env=deployment.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert read_files(tmp_path / "out")[1] == expected()
