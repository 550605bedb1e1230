"""Importing a municipality's registry from a directory of CSV files (format: docs/registry.md).

Everything happens in ONE transaction. residents.csv is streamed once: each record is validated (a fast
check, and the wording validator for anything the fast check does not accept) and, while no problem has
been found, written in chunks; the small seals/income/support files are validated, then written. ALL
problems are collected as (file, line, column, message) — line is the physical line in the file, the
header is line 1 — and any problem rolls the transaction back, so nothing is committed if anything is
wrong. Only small per-resident keys stay in memory (ids, 個人番号, households), so a million rows fit.
"""

from __future__ import annotations

import csv
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, update

from kofu.common.clock import Clock, SystemClock, today_jst
from kofu.common.errors import Conflict, KofuError
from kofu.common.lgcode import validate as validate_tenant
from kofu.registry.model import INCOME_KINDS, ResidentStatus, SealStatus, Sex
from kofu.registry.store import (
    HOUSEHOLD_COLUMNS,
    INCOME_COLUMNS,
    RESIDENT_CELLS,
    RESIDENT_COLUMNS,
    SEAL_COLUMNS,
    SUPPORT_COLUMNS,
    RegistryStore,
    households,
    income,
    seals,
    support,
)
from kofu.registry.validate import HEAD, MY_NUMBER_WEIGHTS, PNG_SIGNATURE, my_number_problem

Progress = Callable[[int, int], None]

MAX_PROBLEMS = 10_000  # beyond this only the count is kept


class ImportProblem(NamedTuple):
    file: str
    line: int  # physical line number; the header is line 1; 0 = the file as a whole
    column: str  # "" when the problem is the whole row or file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" [{self.column}]" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(KofuError):
    """The input has problems; nothing was written. `problems` lists them in file and line order."""

    code = "import-rejected"

    def __init__(self, problems: list[ImportProblem], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        first = f"; first: {problems[0]}" if problems else ""
        super().__init__(
            f"rejected with {self.total} problem(s), nothing was imported{first}",
            f"{self.total} 件の誤りがあるため取り込みませんでした{first}",
        )


@dataclass(frozen=True)
class ImportReport:
    tenant: str
    residents: int
    households: int
    seals: int
    income: int
    support: int
    replaced: bool
    seconds: float
    orphan_card_links: int = 0  # card links (kept across replace) whose resident is no longer present


# ---- file layouts ----

RESIDENTS_FILE = "residents.csv"
SEALS_FILE = "seals.csv"
INCOME_FILE = "income.csv"
SUPPORT_FILE = "support.csv"

RESIDENT_REQUIRED = (
    "resident_id",
    "household_id",
    "name",
    "kana",
    "birth_date",
    "sex",
    "relationship",
    "address",
    "became_resident_on",
    "address_since",
    "notified_on",
)
RESIDENT_OPTIONAL = (
    "honseki",
    "hittosha",
    "previous_address",
    "status",
    "status_changed_on",
    "moved_in_on",
    "my_number",
    "juminhyo_code",
)
SEAL_REQUIRED = ("resident_id", "registration_no", "registered_on", "image")
SEAL_OPTIONAL = ("status", "cancelled_on")
INCOME_REQUIRED = ("resident_id", "fiscal_year")
INCOME_OPTIONAL = (*INCOME_KINDS, "deductions", "taxable_income")
SUPPORT_REQUIRED = ("resident_id", "started_on")
SUPPORT_OPTIONAL = ("ended_on",)

_ID = re.compile(r"[0-9A-Za-z_.\-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT = re.compile(r"-?(0|[1-9]\d{0,14})")
_BLANK = " \t"
_SEXES = tuple(s.value for s in Sex)
_STATUSES = tuple(s.value for s in ResidentStatus)
_SEAL_STATUSES = tuple(s.value for s in SealStatus)
_RESIDENT = ResidentStatus.RESIDENT.value
_REGISTERED = SealStatus.REGISTERED.value
_CANCELLED = SealStatus.CANCELLED.value
_REMOVED = frozenset((ResidentStatus.MOVED_OUT.value, ResidentStatus.DECEASED.value))


class _Cell(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class _Problems:
    def __init__(self) -> None:
        self.items: list[ImportProblem] = []
        self.total = 0

    def add(self, file: str, line: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(ImportProblem(file, line, column, message))

    def rejected(self) -> ImportRejected:
        order = {RESIDENTS_FILE: 0, SEALS_FILE: 1, INCOME_FILE: 2, SUPPORT_FILE: 3}
        items = sorted(self.items, key=lambda p: (order.get(p.file, 9), p.file, p.line))
        return ImportRejected(items, self.total)


class _Row:
    """One CSV record with its physical line; cell accessors raise `_Cell` on a bad value."""

    __slots__ = ("errors", "line", "values")

    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = {k: v.strip(_BLANK) for k, v in values.items()}
        self.errors: list[_Cell] = []

    def raw(self, col: str) -> str:
        return self.values.get(col, "")

    def fail(self, col: str, message: str) -> None:
        self.errors.append(_Cell(col, message))

    def text(self, col: str, *, required: bool = True, max_len: int = 1000) -> str | None:
        v = self.raw(col)
        if not v:
            if required:
                self.fail(col, "required")
            return None
        if len(v) > max_len:
            self.fail(col, f"longer than {max_len} characters")
        return v

    def ident(self, col: str) -> str:
        v = self.raw(col)
        if not v:
            self.fail(col, "required")
        elif not _ID.fullmatch(v):
            self.fail(col, f"{v!r} is not an id (1-64 of A-Z a-z 0-9 _ . -)")
        return v

    def as_date(self, col: str, *, required: bool = True) -> date | None:
        v = self.raw(col)
        if not v:
            if required:
                self.fail(col, "required")
            return None
        if not _DATE.fullmatch(v):
            self.fail(col, f"{v!r} is not a date YYYY-MM-DD")
            return None
        try:
            return date.fromisoformat(v)
        except ValueError:
            self.fail(col, f"{v!r} is not a valid date")
            return None

    def as_int(self, col: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        v = self.raw(col)
        if not v:
            if required:
                self.fail(col, "required")
            return None
        if not _INT.fullmatch(v):
            self.fail(col, f"{v!r} is not an integer")
            return None
        n = int(v)
        if minimum is not None and n < minimum:
            self.fail(col, f"{n} is below {minimum}")
        return n

    def choice(self, col: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        v = self.raw(col)
        if not v and default is not None:
            return default
        if v not in allowed:
            self.fail(col, f"{v!r} is not one of {', '.join(allowed)}")
            return None
        return v

    def after(self, col: str, later: date | None, earlier: date | None, what: str) -> None:
        if later is not None and earlier is not None and later < earlier:
            self.fail(col, f"{later} is before {what} ({earlier})")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never in a registry value (PostgreSQL refuses NUL)


def _records(
    path: Path, file: str, required: tuple[str, ...], optional: tuple[str, ...], problems: _Problems
) -> Iterator[tuple[int, list[str]]]:
    """Yields (1, the stripped header) and then (first physical line, cells) for every record with the
    header's number of fields; header problems stop the file. Cells are not stripped or checked here."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                problems.add(file, 1, "", "the file is empty (a header row is required)")
                return
            except csv.Error as exc:
                problems.add(file, 1, "", f"malformed CSV in the header row: {exc}")
                return
            header = [h.strip(_BLANK) for h in header]
            bad = False
            known = set(required) | set(optional)
            seen: set[str] = set()
            for col in header:
                if col in seen:
                    problems.add(file, 1, col, "duplicate column")
                    bad = True
                seen.add(col)
                if col not in known:
                    problems.add(file, 1, col, f"unknown column (expected: {', '.join((*required, *optional))})")
                    bad = True
            for col in required:
                if col not in seen:
                    problems.add(file, 1, col, "missing required column")
                    bad = True
            if bad:
                return
            yield 1, header
            width = len(header)
            end = reader.line_num
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    problems.add(file, end + 1, "", f"malformed CSV: {exc}")
                    return
                start, end = end + 1, reader.line_num
                if not record:
                    continue
                if len(record) != width:
                    problems.add(file, start, "", f"expected {width} fields, found {len(record)}")
                    continue
                yield start, record
    except UnicodeDecodeError:
        problems.add(file, 0, "", "the file is not valid UTF-8")
    except OSError as exc:
        problems.add(file, 0, "", f"cannot read the file: {exc.strerror}")


def _control_problems(file: str, line: int, header: list[str], record: list[str], problems: _Problems) -> bool:
    """Reports every cell with a control character; True if there was one."""
    found = False
    for col, v in zip(header, record, strict=True):
        if _CONTROL.search(v):
            problems.add(file, line, col, "contains a control character (NUL, ESC, …); remove it")
            found = True
    return found


def _read(
    path: Path, file: str, required: tuple[str, ...], optional: tuple[str, ...], problems: _Problems
) -> Iterator[_Row]:
    """Yields the records of a CSV file with their first physical line; header problems stop the file."""
    records = _records(path, file, required, optional, problems)
    first = next(records, None)
    if first is None:
        return
    header = first[1]
    for start, record in records:
        if not _control_problems(file, start, header, record, problems):
            yield _Row(start, dict(zip(header, record, strict=True)))


# ---- converting rows ----


def _resident(tenant: str, row: _Row, version: int) -> tuple[Any, ...]:
    """A `registry_residents` row in RESIDENT_COLUMNS order; problems go to `row.errors`."""
    rid = row.ident("resident_id")
    hid = row.ident("household_id")
    name = row.text("name")
    kana = row.text("kana")
    birth = row.as_date("birth_date")
    sex = row.choice("sex", _SEXES)
    relationship = row.text("relationship", max_len=32)
    address = row.text("address")
    honseki = row.text("honseki", required=False)
    hittosha = row.text("hittosha", required=False)
    became = row.as_date("became_resident_on")
    since = row.as_date("address_since")
    notified = row.as_date("notified_on")
    previous = row.text("previous_address", required=False)
    status = row.choice("status", _STATUSES, default=_RESIDENT)
    changed = row.as_date("status_changed_on", required=False)
    moved_in = row.as_date("moved_in_on", required=False)
    my_number = row.raw("my_number") or None
    if my_number is not None:
        problem = my_number_problem(my_number)
        if problem:
            row.fail("my_number", f"個人番号 {problem}")
    code = row.raw("juminhyo_code") or None
    if code is not None and not (len(code) == 11 and code.isascii() and code.isdigit()):
        row.fail("juminhyo_code", "住民票コード must be 11 digits")
    row.after("became_resident_on", became, birth, "birth_date")
    row.after("address_since", since, became, "became_resident_on")
    row.after("notified_on", notified, birth, "birth_date")
    if status is not None and status != _RESIDENT and changed is None:
        if not row.raw("status_changed_on"):
            row.fail("status_changed_on", f"required when status is {status}")
    elif status == _RESIDENT and changed is not None:
        row.fail("status_changed_on", "must be empty when status is resident")
    row.after("status_changed_on", changed, became, "became_resident_on")
    return (
        tenant,
        rid,
        hid,
        name,
        kana,
        birth,
        sex,
        relationship,
        address,
        honseki,
        hittosha,
        became,
        since,
        notified,
        previous,
        status,
        changed,
        moved_in,
        my_number,
        code,
        version,
    )


assert RESIDENT_COLUMNS == (
    "tenant",
    "resident_id",
    "household_id",
    "name",
    "kana",
    "birth_date",
    "sex",
    "relationship",
    "address",
    "honseki",
    "hittosha",
    "became_resident_on",
    "address_since",
    "notified_on",
    "previous_address",
    "status",
    "status_changed_on",
    "moved_in_on",
    "my_number",
    "juminhyo_code",
    "version",
)


# The files' columns in their documented order (docs/registry.md): what an exporter should write.
RESIDENT_HEADER: tuple[str, ...] = RESIDENT_CELLS  # the table's columns without tenant and version
SEAL_HEADER: tuple[str, ...] = (*SEAL_REQUIRED, *SEAL_OPTIONAL)
INCOME_HEADER: tuple[str, ...] = (*INCOME_REQUIRED, *INCOME_OPTIONAL)
SUPPORT_HEADER: tuple[str, ...] = (*SUPPORT_REQUIRED, *SUPPORT_OPTIONAL)


def _seal(tenant: str, row: _Row, base: Path, *, read_image: bool) -> tuple[Any, ...]:
    rid = row.ident("resident_id")
    no = row.ident("registration_no")
    registered = row.as_date("registered_on")
    status = row.choice("status", _SEAL_STATUSES, default=_REGISTERED)
    cancelled = row.as_date("cancelled_on", required=False)
    if status == SealStatus.CANCELLED.value and cancelled is None and not row.raw("cancelled_on"):
        row.fail("cancelled_on", "required when status is cancelled")
    elif status == SealStatus.REGISTERED.value and cancelled is not None:
        row.fail("cancelled_on", "must be empty when status is registered")
    row.after("cancelled_on", cancelled, registered, "registered_on")
    image: bytes = b""
    rel = row.raw("image")
    if not rel:
        row.fail("image", "required (a PNG path relative to the CSV's directory)")
    elif Path(rel).is_absolute():
        row.fail("image", f"{rel!r} must be relative to the CSV's directory")
    else:
        path = base / rel
        try:
            if read_image:
                image = path.read_bytes()
                ok = image.startswith(PNG_SIGNATURE)
            else:
                with path.open("rb") as fh:
                    ok = fh.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
            if not ok:
                row.fail("image", f"{rel} is not a PNG image")
        except OSError as exc:
            row.fail("image", f"cannot read {rel}: {exc.strerror}")
    return (tenant, rid, no, image, registered, status, cancelled)


assert SEAL_COLUMNS == (
    "tenant",
    "resident_id",
    "registration_no",
    "image_png",
    "registered_on",
    "status",
    "cancelled_on",
)


def _income(tenant: str, row: _Row) -> tuple[Any, ...]:
    rid = row.ident("resident_id")
    year = row.as_int("fiscal_year", required=True)
    if year is not None and not 1900 <= year <= 2200:
        row.fail("fiscal_year", f"{year} is not a plausible fiscal year")
    amounts = [row.as_int(kind) for kind in INCOME_KINDS]
    deductions = row.as_int("deductions", minimum=0) or 0
    taxable = row.as_int("taxable_income", minimum=0) or 0
    return (tenant, rid, year, *amounts, deductions, taxable)


assert ("tenant", "resident_id", "fiscal_year", *INCOME_KINDS, "deductions", "taxable_income") == INCOME_COLUMNS


def _support(tenant: str, row: _Row) -> tuple[Any, ...]:
    rid = row.ident("resident_id")
    started = row.as_date("started_on")
    ended = row.as_date("ended_on", required=False)
    row.after("ended_on", ended, started, "started_on")
    return (tenant, rid, started, ended)


assert SUPPORT_COLUMNS == ("tenant", "resident_id", "started_on", "ended_on")


# ---- the fast path for residents.csv ----
# A row that passes `_resident_ok` has no problem at all (it checks everything `_resident` checks, some of it
# more strictly); any other row goes through `_resident`, which words the problems. Dates are compared as
# ISO text, which orders like the dates themselves once they are known to be valid ASCII YYYY-MM-DD.

_DATES_OK: set[str] = set()  # valid ISO dates seen so far (at most ~73,000 days in 200 years)
_ID_OK = _ID.fullmatch


def _learn_date(v: str) -> bool:
    if not (v.isascii() and _DATE.fullmatch(v)):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    if len(_DATES_OK) < 500_000:
        _DATES_OK.add(v)
    return True


def _weights(digits: int, weights: tuple[int, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(10**digits):
        s = f"{i:0{digits}d}"
        out[s] = sum(int(d) * w for d, w in zip(s, weights, strict=True))
    return out


_MyNumberTables = tuple[dict[str, int], dict[str, int], dict[str, int], tuple[str, ...]]
_MY_NUMBER_TABLES: list[_MyNumberTables] = []


def _my_number_tables() -> _MyNumberTables:
    """個人番号 check digit by table look-up (validate.py's rule): the weighted sums of the digits 1-4, 5-8 and
    9-11 (a missing key = not ASCII digits) and the check digit of each sum mod 11; built on first use."""
    if not _MY_NUMBER_TABLES:
        w = MY_NUMBER_WEIGHTS
        check = tuple("0" if r <= 1 else str(11 - r) for r in range(11))
        _MY_NUMBER_TABLES.append((_weights(4, w[0:4]), _weights(4, w[4:8]), _weights(3, w[8:11]), check))
    return _MY_NUMBER_TABLES[0]


def _my_number_ok(v: str) -> bool:
    a, b, c, check = _MY_NUMBER_TABLES[0] if _MY_NUMBER_TABLES else _my_number_tables()
    x, y, z = a.get(v[0:4]), b.get(v[4:8]), c.get(v[8:11])
    return len(v) == 12 and x is not None and y is not None and z is not None and v[11] == check[(x + y + z) % 11]


def _resident_ok(c: tuple[str, ...], width: int) -> bool:
    """True only if the stripped cells (RESIDENT_HEADER order) have no problem `_resident` would report.
    `width`: at least the length of the longest cell (the length of the whole record will do)."""
    (rid, hid, name, kana, birth, sex, rel, address, honseki, hittosha, became, since, notified, previous, status,
     changed, moved_in, my_number, code) = c  # fmt: skip
    if not (name and kana and rel and address and sex in _SEXES and _ID_OK(rid) and _ID_OK(hid)):
        return False
    if len(rel) > 32 or (
        width > 1000
        and (
            len(name) > 1000
            or len(kana) > 1000
            or len(address) > 1000
            or len(honseki) > 1000
            or len(hittosha) > 1000
            or len(previous) > 1000
        )
    ):
        return False
    dates = _DATES_OK
    if not dates.issuperset((birth, became, since, notified)):
        for d in (birth, became, since, notified):
            if d not in dates and not _learn_date(d):
                return False
    if not (birth <= became <= since and birth <= notified):
        return False
    if status and status != _RESIDENT:
        if status not in _STATUSES or not changed:
            return False
    elif changed:
        return False
    if changed and ((changed not in dates and not _learn_date(changed)) or changed < became):
        return False
    if moved_in and moved_in not in dates and not _learn_date(moved_in):
        return False
    if my_number:
        a, b, c3, check = _MY_NUMBER_TABLES[0] if _MY_NUMBER_TABLES else _my_number_tables()
        x, y, z = a.get(my_number[0:4]), b.get(my_number[4:8]), c3.get(my_number[8:11])
        if len(my_number) != 12 or x is None or y is None or z is None or my_number[11] != check[(x + y + z) % 11]:
            return False
    return not code or (len(code) == 11 and code.isascii() and code.isdigit())


# ---- the passes ----


class _Household:
    __slots__ = (
        "active_heads",
        "address",
        "any_active",
        "first_address",
        "first_line",
        "first_member",
        "head",
        "removed_head",
    )

    def __init__(self, first_line: int, first_member: str, address: str) -> None:
        self.first_line = first_line
        self.first_member = first_member
        self.first_address = address
        self.address = address
        self.active_heads = 0
        self.any_active = False
        self.head: str | None = None
        self.removed_head: tuple[str, str] | None = None


@dataclass
class _Plan:
    households: dict[str, _Household]
    counts: dict[str, int]
    present: set[str]


_Chunk = tuple[list[tuple[str, str, str, str]], list[tuple[str, ...]]]


class _Sink:
    """Writes the residents during the validation pass, in chunks: first the households new in the chunk
    (headed provisionally by their first member, corrected at the end), then the chunk's residents, so that
    every foreign key holds at every statement. It stops at the first problem: the transaction is rolled back.

    `threaded` (PostgreSQL): a writer thread sends the chunks while the caller validates the next ones, so
    that the server's work (COPY, indexes, foreign-key checks) overlaps the validation instead of following
    it; the caller does not touch the connection until `close()` (the context manager's exit) has joined
    the thread. Not for SQLite, whose writes hold the GIL between rows."""

    CHUNK = 10_000

    def __init__(self, store: RegistryStore, tenant: str, version: int, *, threaded: bool = False) -> None:
        self.store = store
        self.tenant = tenant
        self.version = version
        self.residents: list[tuple[str, ...]] = []  # the cells (RESIDENT_CELLS), as bulk_insert_residents takes them
        self.households: list[tuple[str, str, str, str]] = []
        self.active = True
        self.error: BaseException | None = None
        self._queue: queue.Queue[_Chunk | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._run, name="kofu-import-writer", daemon=True)
            self._thread.start()

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, chunk: _Chunk) -> None:
        hh, rr = chunk
        if hh:
            self.store.bulk_insert(households, HOUSEHOLD_COLUMNS, hh, plain=True)
        if rr:
            self.store.bulk_insert_residents(self.tenant, self.version, rr)

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(chunk)
                except BaseException as exc:  # handed to the caller at its next flush or at finish
                    self.error = exc

    def flush(self) -> None:
        chunk = (self.households, self.residents)
        self.households, self.residents = [], []
        if not self.active or not (chunk[0] or chunk[1]):
            return
        if self._queue is None:
            self._write(chunk)
            return
        if self.error is not None:
            raise self.error
        self._queue.put(chunk)

    def close(self) -> None:
        """Waits for the writer thread to finish what it was given (idempotent)."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def stop(self) -> None:
        self.active = False
        self.households, self.residents = [], []

    def finish(self, hh: dict[str, _Household]) -> None:
        """Writes the rest and corrects the households whose head is not their first member."""
        self.flush()
        self.close()
        if self.error is not None:
            raise self.error
        changed = [
            {"t": self.tenant, "h": hid, "head": h.head, "address": h.address}
            for hid, h in hh.items()
            if (h.head, h.address) != (h.first_member, h.first_address)
        ]
        if changed and self.active:
            self.store.conn.execute(
                update(households)
                .where(households.c.tenant == bindparam("t"), households.c.household_id == bindparam("h"))
                .values(head_resident_id=bindparam("head"), address=bindparam("address")),
                changed,
            )


class _Residents(NamedTuple):
    ids: set[str]
    removed: set[str]
    households: dict[str, _Household]
    rows: int


def _residents_pass(
    tenant: str,
    version: int,
    path: Path,
    problems: _Problems,
    ticker: _Ticker,
    sink: _Sink | None,
    *,
    clean: bool = False,
) -> _Residents:
    """Validates residents.csv (and, with a sink, writes it as it goes). `clean`: the file is known to hold
    no control character (`_scan`), so records are not searched for one."""
    ids: set[str] = set()
    removed: set[str] = set()
    my_numbers: set[int] = set()
    hh: dict[str, _Household] = {}
    count = 0
    file = RESIDENTS_FILE
    records = _records(path, file, RESIDENT_REQUIRED, RESIDENT_OPTIONAL, problems)
    first = next(records, None)
    if first is None:
        return _Residents(ids, removed, hh, count)
    header = first[1]
    missing = len(header)  # an absent optional column reads as the empty cell appended at this index
    pick = itemgetter(*(header.index(col) if col in header else missing for col in RESIDENT_HEADER))
    control = (lambda _: None) if clean else _CONTROL.search
    key_columns = {"resident_id", "household_id", "relationship", "status", "address"}
    no_failures: frozenset[str] = frozenset()
    for line, record in records:
        ticker.tick()
        joined = ",".join(record)
        if control(joined) and _control_problems(file, line, header, record, problems):
            continue
        # strip only when some cell could start or end with a space or tab (the joined text tells)
        if "\t" in joined or ", " in joined or " ," in joined or joined[:1] == " " or joined[-1:] == " ":
            record = [v.strip(_BLANK) for v in record]
        record.append("")
        c: tuple[str, ...] = pick(record)
        errors: list[_Cell]
        failed: Set[str]
        if _resident_ok(c, len(joined)):
            errors = []
            failed = no_failures
        else:
            row = _Row(line, dict(zip(header, record, strict=False)))
            _resident(tenant, row, version)
            errors = row.errors
            failed = {e.column for e in errors}
        rid, hid, relationship, address, status, my_number = c[0], c[1], c[6], c[7], c[14] or _RESIDENT, c[17]
        if rid and rid in ids:
            errors.append(_Cell("resident_id", f"duplicate resident_id {rid}"))
        elif "resident_id" not in failed:
            ids.add(rid)  # known to the other files even if another cell of the row is wrong
        if my_number and "my_number" not in failed:
            key = int(my_number)
            if key in my_numbers:
                errors.append(_Cell("my_number", "duplicate 個人番号 (another resident has it)"))
            my_numbers.add(key)
        if not (failed and failed & key_columns):
            active = status not in _REMOVED
            if not active:
                removed.add(rid)
            h = hh.get(hid)
            if h is None:
                h = hh[hid] = _Household(line, rid, address)
                if sink is not None:
                    sink.households.append((tenant, hid, rid, address))
            if relationship == HEAD:
                if active:
                    h.active_heads += 1
                    if h.active_heads > 1:
                        errors.append(
                            _Cell(
                                "relationship",
                                f"household {hid} has a second {HEAD} among its active members (already {h.head})",
                            )
                        )
                    else:
                        h.head, h.address = rid, address
                elif h.removed_head is None:
                    h.removed_head = (rid, address)
            h.any_active = h.any_active or active
        for cell in errors:
            problems.add(file, line, cell.column, cell.message)
        count += 1
        if sink is not None and sink.active:
            if problems.total:
                sink.stop()
            else:
                sink.residents.append(c)
                if len(sink.residents) >= sink.CHUNK:
                    sink.flush()
    for hid, h in hh.items():
        if h.any_active and h.active_heads == 0:
            problems.add(file, h.first_line, "relationship", f"household {hid} has no {HEAD} among its active members")
        if h.head is None:
            h.head, h.address = h.removed_head or (h.first_member, h.address)
    if sink is not None and problems.total:
        sink.stop()
    return _Residents(ids, removed, hh, count)


_CONTROL_BYTES = bytes((*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))  # _CONTROL, in UTF-8


def _scan(path: Path) -> tuple[int, bool]:
    """The number of lines after the header (for the progress bar) and whether the file holds any control
    character of `_CONTROL` (in UTF-8 these bytes only ever stand for themselves): if not, no record needs
    the per-cell check."""
    n = 0
    control = False
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            control = control or len(chunk.translate(None, _CONTROL_BYTES)) != len(chunk)
    return max(n - 1, 0), control


class _Ticker:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = max(total, 1)
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None and self.done % 2000 == 0:
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def _validate(
    tenant: str,
    base: Path,
    problems: _Problems,
    ticker: _Ticker,
    *,
    version: int = 1,
    sink: _Sink | None = None,
    clean: bool = False,
) -> _Plan:
    """Validates every file; with a sink, residents.csv is written as it is validated (one pass)."""
    present = {name for name in (RESIDENTS_FILE, SEALS_FILE, INCOME_FILE, SUPPORT_FILE) if (base / name).is_file()}
    counts = dict.fromkeys((RESIDENTS_FILE, SEALS_FILE, INCOME_FILE, SUPPORT_FILE), 0)
    if RESIDENTS_FILE not in present:
        problems.add(RESIDENTS_FILE, 0, "", f"{RESIDENTS_FILE} is required in {base}")
        ids: set[str] = set()
        removed: set[str] = set()
        hh: dict[str, _Household] = {}
    else:
        ids, removed, hh, counts[RESIDENTS_FILE] = _residents_pass(
            tenant, version, base / RESIDENTS_FILE, problems, ticker, sink, clean=clean
        )

    def report(file: str, row: _Row) -> None:
        for cell in row.errors:
            problems.add(file, row.line, cell.column, cell.message)

    # without a readable residents.csv, references cannot be checked (its own problem is reported)
    check_refs = RESIDENTS_FILE in present and not any(p.file == RESIDENTS_FILE and p.line <= 1 for p in problems.items)

    def known(row: _Row, rid: str) -> bool:
        if check_refs and rid and _ID.fullmatch(rid) and rid not in ids:
            row.fail("resident_id", f"unknown resident {rid} (not in {RESIDENTS_FILE})")
            return False
        return True

    if SEALS_FILE in present:
        numbers: set[str] = set()
        with_registered: set[str] = set()
        for row in _read(base / SEALS_FILE, SEALS_FILE, SEAL_REQUIRED, SEAL_OPTIONAL, problems):
            ticker.tick()
            rec = _seal(tenant, row, base, read_image=False)
            rid, no, status = rec[1], rec[2], rec[5]
            known(row, rid)
            if no and no in numbers:
                row.fail("registration_no", f"duplicate registration_no {no}")
            numbers.add(no)
            if status == SealStatus.REGISTERED.value:
                if rid in with_registered:
                    row.fail("status", f"resident {rid} has more than one registered seal")
                with_registered.add(rid)
                if rid in removed:
                    row.fail("status", f"resident {rid} is removed from the register; the seal must be cancelled")
            report(SEALS_FILE, row)
            counts[SEALS_FILE] += 1

    if INCOME_FILE in present:
        years: set[tuple[str, int]] = set()
        for row in _read(base / INCOME_FILE, INCOME_FILE, INCOME_REQUIRED, INCOME_OPTIONAL, problems):
            ticker.tick()
            rec = _income(tenant, row)
            rid, year = rec[1], rec[2]
            known(row, rid)
            if year is not None:
                if (rid, year) in years:
                    row.fail("fiscal_year", f"duplicate fiscal year {year} for resident {rid}")
                years.add((rid, year))
            report(INCOME_FILE, row)
            counts[INCOME_FILE] += 1

    if SUPPORT_FILE in present:
        open_measures: set[str] = set()
        for row in _read(base / SUPPORT_FILE, SUPPORT_FILE, SUPPORT_REQUIRED, SUPPORT_OPTIONAL, problems):
            ticker.tick()
            rec = _support(tenant, row)
            rid, ended = rec[1], rec[3]
            known(row, rid)
            if ended is None and not row.raw("ended_on"):
                if rid in open_measures:
                    row.fail("ended_on", f"resident {rid} already has an open support measure")
                open_measures.add(rid)
            report(SUPPORT_FILE, row)
            counts[SUPPORT_FILE] += 1
    return _Plan(hh, counts, present)


def _rows_of(
    file: str,
    path: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    convert: Callable[[_Row], tuple[Any, ...]],
    ticker: _Ticker,
) -> Iterator[tuple[Any, ...]]:
    """Second pass: the converted rows; anything wrong now (the files changed?) aborts the transaction."""
    problems = _Problems()
    for row in _read(path, file, required, optional, problems):
        rec = convert(row)
        if row.errors:
            problems.add(file, row.line, row.errors[0].column, row.errors[0].message)
            raise problems.rejected()
        ticker.tick()
        yield rec
    if problems.total:
        raise problems.rejected()


def _occupied(tenant: str) -> Conflict:
    return Conflict(
        f"tenant {tenant} already has a registry; import with replace to replace it",
        f"団体 {tenant} には既に住民データがあります。置き換える場合は replace を指定してください",
    )


def _fingerprint(base: Path, files: list[str]) -> list[tuple[str, int, int]]:
    out = []
    for name in files:
        st = (base / name).stat()
        out.append((name, st.st_size, st.st_mtime_ns))
    return out


def import_directory(
    engine: Engine,
    tenant: str,
    path: Path | str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> ImportReport:
    """Validates the whole directory, then writes it in ONE transaction (or raises `ImportRejected`).

    Into an empty tenant only, unless `replace=True`, which replaces the tenant's registry atomically
    (card links and the event ledger are kept; resident versions move past every earlier version)."""
    started = time.monotonic()
    validate_tenant(tenant)
    clock = clock or SystemClock()
    base = Path(path)
    if not base.is_dir():
        raise ImportRejected([ImportProblem(str(base), 0, "", "not a directory")])
    files = [n for n in (RESIDENTS_FILE, SEALS_FILE, INCOME_FILE, SUPPORT_FILE) if (base / n).is_file()]
    # residents.csv is read once, the other files twice (validated, then written)
    scans = {n: _scan(base / n) for n in files}
    ticker = _Ticker(progress, sum((1 if n == RESIDENTS_FILE else 2) * scans[n][0] for n in files))
    clean = RESIDENTS_FILE in scans and not scans[RESIDENTS_FILE][1]
    problems = _Problems()
    fingerprint = _fingerprint(base, files)
    with engine.connect() as conn:
        occupied = not RegistryStore(conn).tenant_is_empty(tenant)
    if occupied and not replace:
        _validate(tenant, base, problems, ticker, clean=clean)  # the problems first, if any; nothing is written
        if problems.total:
            raise problems.rejected()
        raise _occupied(tenant)
    with engine.begin() as conn:
        store = RegistryStore(conn)
        store.advisory_lock(f"kofu.registry.import:{tenant}")
        empty = store.tenant_is_empty(tenant)
        if not empty and not replace:
            raise _occupied(tenant)
        version = store.max_version(tenant) + 1 if not empty else 1
        if not empty:
            store.delete_tenant(tenant)
        # one pass over residents.csv validates and writes it (households provisionally); the other files are
        # validated, and only then written; any problem raises here and rolls the transaction back
        postgres = conn.dialect.name == "postgresql"
        with store.bulk_writes():
            with store.households_checked_once(tenant), _Sink(store, tenant, version, threaded=postgres) as sink:
                plan = _validate(tenant, base, problems, ticker, version=version, sink=sink, clean=clean)
                if problems.total:
                    raise problems.rejected()
                sink.finish(plan.households)
            n_households = len(plan.households)
            counts: dict[str, int] = {RESIDENTS_FILE: plan.counts[RESIDENTS_FILE]}
            for file, table, columns, required, optional, convert in (
                (
                    SEALS_FILE,
                    seals,
                    SEAL_COLUMNS,
                    SEAL_REQUIRED,
                    SEAL_OPTIONAL,
                    lambda row: _seal(tenant, row, base, read_image=True),
                ),
                (
                    INCOME_FILE,
                    income,
                    INCOME_COLUMNS,
                    INCOME_REQUIRED,
                    INCOME_OPTIONAL,
                    lambda row: _income(tenant, row),
                ),
                (
                    SUPPORT_FILE,
                    support,
                    SUPPORT_COLUMNS,
                    SUPPORT_REQUIRED,
                    SUPPORT_OPTIONAL,
                    lambda row: _support(tenant, row),
                ),
            ):
                counts[file] = (
                    store.bulk_insert(table, columns, _rows_of(file, base / file, required, optional, convert, ticker))
                    if file in plan.present
                    else 0
                )
        if _fingerprint(base, files) != fingerprint:
            raise ImportRejected([ImportProblem(base.name, 0, "", "the files changed during the import; run it again")])
        orphans = store.count_orphan_cards(tenant)
        now = clock.now()
        store.append_event(
            tenant=tenant,
            resident_id="",
            kind="registry-replaced" if not empty else "registry-imported",
            effective_on=today_jst(clock),
            notified_on=today_jst(clock),
            recorded_at=now,
            version=None,
            payload={"directory": base.name, "counts": counts, "households": n_households},
        )
    ticker.finish()
    return ImportReport(
        tenant=tenant,
        residents=counts[RESIDENTS_FILE],
        households=n_households,
        seals=counts[SEALS_FILE],
        income=counts[INCOME_FILE],
        support=counts[SUPPORT_FILE],
        replaced=not empty,
        seconds=time.monotonic() - started,
        orphan_card_links=orphans,
    )
