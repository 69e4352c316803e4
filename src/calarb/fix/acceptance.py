"""Runner for QuickFIX's acceptance scripts (``.def``): plays the counterparty over real TCP.

Script lines (see the data's PROVENANCE.md): ``iCONNECT`` / ``iN,CONNECT`` open a connection
(N names it, default 1), ``iN,DISCONNECT`` closes it, ``I<fields>`` sends a message (BodyLength
and CheckSum are added when the line has none; ``<TIME>``, ``<TIME+n>``, ``<TIME-n>`` become
UTC timestamps n seconds from now), ``E<fields>`` expects the next message from the engine,
``eDISCONNECT`` expects the engine to close the connection, ``#`` starts a comment.

Comparison of an expected message is field by field, in order, every field exact, except:
Text(58) must be present (its wording is QuickFIX's own); BodyLength(9) and CheckSum(10) are
checked by recomputing them on the received bytes; fields listed in ``fields.fmt`` (52, 60,
122, 42) must match that file's regular expression at their start, as in QuickFIX's harness.

Two details the FIX specification leaves optional are accepted when a script leaves them out
(QuickFIX's scripts record QuickFIX's choice, which omits them): RefTagID(371) in a Reject and
Text(58) in a Logout; when the script lists them they must match like any field. While
waiting for a disconnect, one Logout with a Text is accepted before the close (the session
test cases let an engine refuse a Logon by "Logout, then disconnect"); any other message
received is a failure.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from calarb.fix.codec import SOH, FixFramer, GarbledMessage, decode
from calarb.fix.config import load_settings, with_overrides

_TIME_TOKEN = re.compile(rb"<TIME([+-]\d+)?>")
_COMMAND = re.compile(r"^([iIeE])(?:(\d+),)?(.*)$")
OPTIONAL_DETAIL = {b"3": frozenset({371}), b"5": frozenset({58})}
"""MsgType -> fields the engine may add where a script leaves them out (see above)."""
DEFAULT_FIELD_FORMATS = {
    10: rb"\d{3}",
    42: rb"\d{8}-\d{2}:\d{2}:\d{2}",
    52: rb"\d{8}-\d{2}:\d{2}:\d{2}|\d{8}-\d{2}:\d{2}:\d{2}[.]\d{3}",
    60: rb"\d{8}-\d{2}:\d{2}:\d{2}",
    122: rb"\d{8}-\d{2}:\d{2}:\d{2}",
}


@dataclass
class ScriptResult:
    name: str
    passed: bool
    failure: str = ""
    seconds: float = 0.0


@dataclass
class Step:
    line: int
    kind: str  # i, I, e, E
    connection: int
    text: bytes


def parse_script(path: Path) -> list[Step]:
    steps = []
    for number, raw_line in enumerate(path.read_bytes().split(b"\n"), 1):
        line = raw_line.rstrip(b"\r")
        if not line.strip() or line.startswith(b"#"):
            continue
        match = _COMMAND.match(line.decode("latin-1"))
        if match is None:
            raise ValueError(f"{path.name}:{number}: cannot read {line[:40]!r}")
        kind, connection, text = match.groups()
        steps.append(Step(number, kind, int(connection or 1), text.encode("latin-1")))
    return steps


def load_field_formats(directory: Path) -> dict[int, re.Pattern[bytes]]:
    formats = dict(DEFAULT_FIELD_FORMATS)
    for parent in [directory, *directory.parents][:4]:
        candidate = parent / "fields.fmt"
        if candidate.exists():
            for line in candidate.read_bytes().splitlines():
                tag, sep, pattern = line.partition(b"=")
                if sep and tag.strip().isdigit():
                    formats[int(tag)] = pattern.strip()
            break
    return {tag: re.compile(pattern) for tag, pattern in formats.items()}


def _utc_text(epoch_s: float) -> bytes:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(epoch_s)).encode()


def build_outbound(text: bytes, now_s: float) -> bytes:
    """Substitute times, then add BodyLength and CheckSum where the script leaves them out."""
    text = _TIME_TOKEN.sub(lambda m: _utc_text(now_s + int(m[1] or 0)), text)
    fields = [f for f in text.split(SOH) if f]
    has_length = any(f.startswith(b"9=") for f in fields)
    checksum_index = next((i for i, f in enumerate(fields) if f.startswith(b"10=")), None)
    if not has_length and fields and fields[0].startswith(b"8="):
        body_fields = fields[1:checksum_index] if checksum_index is not None else fields[1:]
        length = sum(len(f) + 1 for f in body_fields)
        fields.insert(1, b"9=%d" % length)
        if checksum_index is not None:
            checksum_index += 1
    data = b"".join(f + SOH for f in fields)
    if checksum_index is None:
        data += b"10=%03d\x01" % (sum(data) & 0xFF)
    return data


def compare(expected_text: bytes, actual: bytes, formats: dict[int, re.Pattern[bytes]]) -> str:
    """'' when `actual` matches the script's expectation, else what differs."""
    try:
        decode(actual)
    except GarbledMessage as exc:
        return f"received message fails BodyLength/CheckSum recomputation: {exc}"
    expected = []
    for item in expected_text.split(SOH):
        if item:
            tag, _, value = item.partition(b"=")
            expected.append((int(tag), value))
    message = decode(actual, verify=False)
    want = [(t, v) for t, v in expected if t not in (9, 10)]
    optional = OPTIONAL_DETAIL.get(message.msg_type, frozenset()) - {t for t, _ in want}
    got = [(t, v) for t, v in message.fields if t not in (9, 10) and t not in optional]
    if [t for t, _ in want] != [t for t, _ in got]:
        return f"tags differ: expected {[t for t, _ in want]}, received {[t for t, _ in got]}"
    for (tag, want_value), (_, got_value) in zip(want, got, strict=True):
        if tag == 58:
            if not got_value:
                return "Text(58) is empty"
        elif tag in formats:
            if not formats[tag].match(got_value):
                return f"tag {tag}={got_value!r} does not match {formats[tag].pattern!r}"
        elif want_value != got_value:
            return f"tag {tag}: expected {want_value!r}, received {got_value!r}"
    return ""


def _is_logout_with_text(frame: bytes) -> bool:
    try:
        message = decode(frame)
    except GarbledMessage:
        return False
    return message.msg_type == b"5" and bool(message.get(58))


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = FixFramer()

    async def next_message(self, timeout: float) -> bytes | None:
        """The next frame, or None when the peer closed the connection."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = self.framer.next_frame()
            if isinstance(frame, bytes):
                return frame
            if isinstance(frame, GarbledMessage):
                raise AssertionError(f"engine sent bytes that do not frame: {frame}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                return None
            self.framer.feed(data)


async def run_script(
    path: Path, host: str, port: int, formats: dict[int, re.Pattern[bytes]], timeout: float = 20.0
) -> ScriptResult:
    started = time.monotonic()
    connections: dict[int, _Connection] = {}
    steps = parse_script(path)
    try:
        for step in steps:
            where = f"line {step.line}"
            if step.kind == "i" and step.text == b"CONNECT":
                reader, writer = await asyncio.open_connection(host, port)
                connections[step.connection] = _Connection(reader, writer)
            elif step.kind == "i" and step.text == b"DISCONNECT":
                connection = connections.pop(step.connection)
                connection.writer.close()
            elif step.kind == "I":
                connection = connections[step.connection]
                connection.writer.write(build_outbound(step.text, time.time()))
                await connection.writer.drain()
            elif step.kind == "E":
                try:
                    received = await connections[step.connection].next_message(timeout)
                except TimeoutError:
                    return ScriptResult(path.stem, False, f"{where}: no message within {timeout} s")
                if received is None:
                    return ScriptResult(
                        path.stem, False, f"{where}: connection closed, message expected"
                    )
                problem = compare(step.text, received, formats)
                if problem:
                    shown = received.replace(SOH, b"|").decode("latin-1")
                    return ScriptResult(path.stem, False, f"{where}: {problem} in {shown}")
            elif step.kind == "e" and step.text == b"DISCONNECT":
                connection = connections.pop(step.connection)
                try:
                    received = await connection.next_message(timeout)
                    if received is not None and _is_logout_with_text(received):
                        received = await connection.next_message(timeout)
                except TimeoutError:
                    return ScriptResult(
                        path.stem, False, f"{where}: still connected after {timeout} s"
                    )
                finally:
                    connection.writer.close()
                if received is not None:
                    shown = received.replace(SOH, b"|").decode("latin-1")
                    return ScriptResult(
                        path.stem, False, f"{where}: disconnect expected, got {shown}"
                    )
            else:
                return ScriptResult(
                    path.stem, False, f"{where}: unknown command {step.kind}{step.text[:20]!r}"
                )
    except (ConnectionError, AssertionError) as exc:
        return ScriptResult(path.stem, False, f"{type(exc).__name__}: {exc}")
    finally:
        for connection in connections.values():
            connection.writer.close()
    return ScriptResult(path.stem, True, "", time.monotonic() - started)


def find_settings_file(directory: Path) -> Path:
    for parent in [directory, *directory.parents][:5]:
        for name in ("at.cfg.txt", "at.cfg"):
            if (parent / name).exists():
                return parent / name
    raise FileNotFoundError(f"no at.cfg.txt beside or above {directory}")


# Scripts for features calarb documents it does not offer: name -> reason.
SKIPPED_SCRIPTS: dict[str, str] = {}


async def run_directory(
    directory: Path,
    jobs: int = 8,
    connect: tuple[str, int] | None = None,
    timeout: float = 20.0,
    names: list[str] | None = None,
) -> dict:
    """Run every ``.def`` in `directory`; against `connect` if given, else against `jobs`
    in-process acceptors configured from the at.cfg.txt found above the directory."""
    from calarb.fix.apps import EchoApplication
    from calarb.fix.transport import FixAcceptor

    scripts = sorted(directory.glob("*.def"))
    if names:
        scripts = [s for s in scripts if s.stem in names]
    formats = load_field_formats(directory)
    skipped = {s.stem: SKIPPED_SCRIPTS[s.stem] for s in scripts if s.stem in SKIPPED_SCRIPTS}
    todo = [s for s in scripts if s.stem not in skipped]
    results: list[ScriptResult] = []
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for script in todo:
        queue.put_nowait(script)

    async def worker(host: str, port: int) -> None:
        while not queue.empty():
            script = queue.get_nowait()
            results.append(await run_script(script, host, port, formats, timeout))

    if connect is not None:
        await worker(*connect)
    else:
        settings_file = find_settings_file(directory)
        with tempfile.TemporaryDirectory(prefix="calarb-fix-acceptance-") as store_root:
            acceptors = []
            for index in range(max(1, min(jobs, len(todo)))):
                settings = [
                    with_overrides(s, file_store_path=f"{store_root}/{index}")
                    for s in load_settings(settings_file, {"PORT": "0"})
                ]
                acceptor = FixAcceptor(settings, lambda _s: EchoApplication())
                port = await acceptor.start("127.0.0.1", 0)
                acceptors.append((acceptor, port))
            try:
                await asyncio.gather(*(worker("127.0.0.1", port) for _, port in acceptors))
            finally:
                for acceptor, _ in acceptors:
                    await acceptor.stop()
    results.sort(key=lambda r: r.name)
    return {
        "directory": str(directory),
        "total": len(scripts),
        "passed": sum(r.passed for r in results),
        "failed": [r.name for r in results if not r.passed],
        "skipped": skipped,
        "failures": {r.name: r.failure for r in results if not r.passed},
        "seconds": {r.name: round(r.seconds, 2) for r in results if r.passed},
    }
