"""Headless Chromium driven over the DevTools protocol, for the operations page's end-to-end test
and scripts/ui-screenshot. No selenium or playwright: Debian's chromium package (`make browser`)
and a websocket (aiohttp) are enough.

    async with launch() as page:
        await page.goto("http://127.0.0.1:6066/ui")
        await page.type_into("#sku-input", "SKU-1", submit=True)
        await page.wait_for("document.querySelector('#waterfall .step') !== null", "the waterfall")
        steps = await page.evaluate("...")  # a JSON value back
        png = await page.screenshot()
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp

NAMES = ("chromium", "chromium-browser", "google-chrome")
START_SECONDS = 30
CALL_SECONDS = 30


class BrowserMissing(RuntimeError):
    pass


class PageError(AssertionError):
    """The page threw, or did not get where it was expected to in time."""


def chromium() -> str:
    """The browser's executable: STOCKSTREAM_CHROMIUM, else the first of NAMES on PATH."""
    configured = os.environ.get("STOCKSTREAM_CHROMIUM")
    found = shutil.which(configured) if configured else next((p for name in NAMES if (p := shutil.which(name))), None)
    if not found:
        tried = configured or ", ".join(NAMES)
        raise BrowserMissing(f"no Chromium here (tried {tried}): run `make browser`, which installs Debian's "
                             "chromium package, or set STOCKSTREAM_CHROMIUM to a Chromium or Chrome")
    return found


@asynccontextmanager
async def launch(width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """A fresh headless browser (its own profile, removed after) and its first tab."""
    profile = Path(tempfile.mkdtemp(prefix="stockstream-chromium-"))
    log = open(profile / "chromium.log", "wb")
    # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start; the
    # browser only ever loads the worker under test.
    process = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--lang=en-US",
        "--force-device-scale-factor=1", f"--window-size={width},{height}", "--remote-debugging-port=0",
        f"--user-data-dir={profile}", "about:blank", stdout=log, stderr=log)
    try:
        port = await _devtools_port(profile, process)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = await answer.json()
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                try:
                    await page.start()
                    yield page
                finally:
                    await page.stop()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it chose (--remote-debugging-port=0) into its profile."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.returncode is not None:
            break
        if marker.is_file() and (lines := marker.read_text().splitlines()):
            return int(lines[0])
        await asyncio.sleep(0.1)
    tail = (profile / "chromium.log").read_text(errors="replace")[-2000:]
    raise BrowserMissing(f"Chromium did not open its DevTools port within {START_SECONDS}s:\n{tail}")


class Page:
    """One tab: DevTools commands by id, and what the page logged (for failure messages)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.calls = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.console: list[str] = []  # errors: uncaught, console.error, the browser's log; newest last
        self.reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log"):
            await self.call(f"{domain}.enable")

    async def stop(self) -> None:
        if self.reader:
            self.reader.cancel()

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.waiting.pop(data["id"], None)
                if future and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(data["params"]["exceptionDetails"].get("exception", {}).get("description", "?"))
            elif data.get("method") == "Runtime.consoleAPICalled" and data["params"]["type"] == "error":
                self.console.append(" ".join(str(a.get("value", a.get("description"))) for a in data["params"]["args"]))
            elif data.get("method") == "Log.entryAdded" and data["params"]["entry"]["level"] == "error":
                entry = data["params"]["entry"]  # source: network (a failed load), security (CSP), ...
                self.console.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())
        for future in self.waiting.values():
            future.cancel()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        future = self.waiting[self.calls] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": self.calls, "method": method, "params": params})
        answer = await asyncio.wait_for(future, CALL_SECONDS)
        if "error" in answer:
            raise PageError(f"{method}: {answer['error']}")
        return answer["result"]

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", f"{url} loaded")

    async def evaluate(self, expression: str) -> Any:
        """The expression's value (JSON-like), awaited if it is a promise."""
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise PageError(f"{expression[:80]!r} threw: {details.get('exception', {}).get('description', details)}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise PageError(f"timed out after {timeout}s waiting for {what}; page errors: {self.console[-5:]}")
            await asyncio.sleep(0.1)

    async def type_into(self, selector: str, text: str, submit: bool = False) -> None:
        """As a person types: focus the field, clear it, insert the text, then Enter."""
        await self.evaluate(f"(() => {{ const f = document.querySelector({json.dumps(selector)}); "
                            "f.focus(); f.select(); })()")
        await self.call("Input.insertText", text=text)
        if submit:
            for kind in ("keyDown", "keyUp"):
                await self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                                windowsVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))

    async def click(self, selector: str) -> None:
        """A mouse click at the middle of the element, as a person clicks."""
        box = await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                                  "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
                                  "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def screenshot(self) -> bytes:
        """The whole page as PNG, beyond the window's height."""
        metrics = await self.call("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        answer = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                 clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        return base64.b64decode(answer["data"])
