"""The feed as independent parsers read it: icalendar, ical.js (Thunderbird's
parser, run by node) and vobject. Each returns, per UID, the instants a
calendar app would place the item at."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import icalendar
import vobject

JS_DIR = Path(__file__).parent / "js"


@dataclass(frozen=True)
class Seen:
    """One VEVENT as a parser read it: instants in UTC (dates stay dates)."""

    start: datetime | date
    end: datetime | date | None
    status: str | None
    sequence: int
    summary: str


def _plain(value: Any) -> datetime | date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"floating time {value}"
        return value.astimezone(UTC)
    return value


def with_icalendar(body: bytes) -> dict[str, Seen]:
    calendar = icalendar.Calendar.from_ical(body)
    seen = {}
    for event in calendar.walk("VEVENT"):
        end = event.get("DTEND")
        seen[str(event["UID"])] = Seen(
            start=_plain(event.decoded("DTSTART")),
            end=_plain(event.decoded("DTEND")) if end is not None else None,
            status=str(event.get("STATUS")) if event.get("STATUS") else None,
            sequence=int(event.get("SEQUENCE", 0)),
            summary=str(event.get("SUMMARY")),
        )
    return seen


def with_vobject(body: bytes) -> dict[str, Seen]:
    calendar = vobject.readOne(body.decode())
    seen = {}
    for event in calendar.contents.get("vevent", []):
        contents = event.contents
        seen[event.uid.value] = Seen(
            start=_plain(event.dtstart.value),
            end=_plain(event.dtend.value) if "dtend" in contents else None,
            status=event.status.value if "status" in contents else None,
            sequence=int(event.sequence.value) if "sequence" in contents else 0,
            summary=event.summary.value,
        )
    return seen


def ensure_icaljs() -> None:
    """Install ical.js from the lock file on first use, so that a plain
    `pytest` works on a fresh checkout; a file lock keeps parallel test
    workers from running npm at once."""
    if (JS_DIR / "node_modules" / "ical.js").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to install ical.js for the feed tests"
    with open(JS_DIR / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "ical.js").is_dir():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                check=True,
                capture_output=True,
                timeout=300,
            )


def icaljs_raw(body: bytes, tmp_path: Path) -> dict[str, Any]:
    """Run tests/feeds/js/parse.mjs (needs `npm ci` in tests/feeds/js)."""
    node = shutil.which("node")
    assert node, "node is needed for the ical.js tests"
    ensure_icaljs()
    path = tmp_path / "feed.ics"
    path.write_bytes(body)
    result = subprocess.run(
        [node, str(JS_DIR / "parse.mjs"), str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def with_icaljs(body: bytes, tmp_path: Path) -> dict[str, Seen]:
    seen = {}
    for event in icaljs_raw(body, tmp_path)["events"]:
        if event["all_day"]:
            start = date.fromisoformat(event["start_text"])
            end = date.fromisoformat(event["end_text"]) if event["end_text"] else None
        else:
            start = datetime.fromtimestamp(event["start"], UTC)
            end = datetime.fromtimestamp(event["end"], UTC) if event["end"] is not None else None
        seen[event["uid"]] = Seen(
            start=start,
            end=end,
            status=event["status"],
            sequence=event["sequence"],
            summary=event["summary"],
        )
    return seen


def every_parser(body: bytes, tmp_path: Path) -> dict[str, dict[str, Seen]]:
    return {
        "icalendar": with_icalendar(body),
        "ical.js": with_icaljs(body, tmp_path),
        "vobject": with_vobject(body),
    }


def content_lines(body: bytes) -> list[str]:
    """The unfolded content lines."""
    text = body.decode()
    assert text.endswith("\r\n")
    return text.replace("\r\n ", "").split("\r\n")[:-1]
