"""Importing a municipality's registry from a directory of CSV files (format: docs/registry.md).

Two streaming passes: the first validates every cell and every cross-reference and collects ALL
problems as (file, line, column, message) — line is the physical line in the file, the header is line 1;
the second writes everything in ONE transaction. Nothing is written if anything is wrong. Only small
per-resident keys stay in memory (ids, household heads), so a million rows fit comfortably.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, text

from kofu.common.clock import Clock, SystemClock, today_jst
from kofu.common.errors import Conflict, KofuError
from kofu.common.lgcode import validate as validate_tenant
from kofu.registry.model import INCOME_KINDS, ResidentStatus, SealStatus, Sex
from kofu.registry.store import (
    HOUSEHOLD_COLUMNS,
    INCOME_COLUMNS,
    RESIDENT_COLUMNS,
    SEAL_COLUMNS,
    SUPPORT_COLUMNS,
    RegistryStore,
    households,
    income,
    residents,
    seals,
    support,
)
from kofu.registry.validate import HEAD, PNG_SIGNATURE, my_number_problem

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


def _read(
    path: Path, file: str, required: tuple[str, ...], optional: tuple[str, ...], problems: _Problems
) -> Iterator[_Row]:
    """Yields the records of a CSV file with their first physical line; header problems stop the file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                problems.add(file, 1, "", "the file is empty (a header row is required)")
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
                if len(record) != len(header):
                    problems.add(file, start, "", f"expected {len(header)} fields, found {len(record)}")
                    continue
                values = dict(zip(header, record, strict=True))
                controls = [col for col, v in values.items() if _CONTROL.search(v)]
                for col in controls:
                    problems.add(file, start, col, "contains a control character (NUL, ESC, …); remove it")
                if not controls:
                    yield _Row(start, values)
    except UnicodeDecodeError:
        problems.add(file, 0, "", "the file is not valid UTF-8")
    except OSError as exc:
        problems.add(file, 0, "", f"cannot read the file: {exc.strerror}")


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
RESIDENT_HEADER: tuple[str, ...] = RESIDENT_COLUMNS[1:-1]  # the table's columns without tenant and version
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


# ---- the two passes ----


class _Household:
    __slots__ = ("active_heads", "address", "any_active", "first_line", "first_member", "head", "removed_head")

    def __init__(self, first_line: int, first_member: str, address: str) -> None:
        self.first_line = first_line
        self.first_member = first_member
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


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return max(n - 1, 0)


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


def _validate(tenant: str, base: Path, problems: _Problems, ticker: _Ticker) -> _Plan:
    present = {name for name in (RESIDENTS_FILE, SEALS_FILE, INCOME_FILE, SUPPORT_FILE) if (base / name).is_file()}
    counts = dict.fromkeys((RESIDENTS_FILE, SEALS_FILE, INCOME_FILE, SUPPORT_FILE), 0)
    if RESIDENTS_FILE not in present:
        problems.add(RESIDENTS_FILE, 0, "", f"{RESIDENTS_FILE} is required in {base}")
    ids: set[str] = set()
    removed: set[str] = set()
    my_numbers: set[int] = set()
    hh: dict[str, _Household] = {}

    def report(file: str, row: _Row) -> None:
        for cell in row.errors:
            problems.add(file, row.line, cell.column, cell.message)

    if RESIDENTS_FILE in present:
        for row in _read(base / RESIDENTS_FILE, RESIDENTS_FILE, RESIDENT_REQUIRED, RESIDENT_OPTIONAL, problems):
            ticker.tick()
            rec = _resident(tenant, row, 1)
            rid, hid, relationship, address, status, my_number = rec[1], rec[2], rec[7], rec[8], rec[15], rec[18]
            failed = {c.column for c in row.errors}
            if rid and rid in ids:
                row.fail("resident_id", f"duplicate resident_id {rid}")
            elif "resident_id" not in failed:
                ids.add(rid)  # known to the other files even if another cell of the row is wrong
            if my_number and "my_number" not in failed:
                key = int(my_number)
                if key in my_numbers:
                    row.fail("my_number", "duplicate 個人番号 (another resident has it)")
                my_numbers.add(key)
            if not failed & {"resident_id", "household_id", "relationship", "status", "address"}:
                active = status not in _REMOVED
                if not active:
                    removed.add(rid)
                h = hh.get(hid)
                if h is None:
                    h = hh[hid] = _Household(row.line, rid, address)
                if relationship == HEAD:
                    if active:
                        h.active_heads += 1
                        if h.active_heads > 1:
                            row.fail(
                                "relationship",
                                f"household {hid} has a second {HEAD} among its active members (already {h.head})",
                            )
                        else:
                            h.head, h.address = rid, address
                    elif h.removed_head is None:
                        h.removed_head = (rid, address)
                h.any_active = h.any_active or active
            report(RESIDENTS_FILE, row)
            counts[RESIDENTS_FILE] += 1
        for hid, h in hh.items():
            if h.any_active and h.active_heads == 0:
                problems.add(
                    RESIDENTS_FILE,
                    h.first_line,
                    "relationship",
                    f"household {hid} has no {HEAD} among its active members",
                )
            if h.head is None:
                h.head, h.address = h.removed_head or (h.first_member, h.address)

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


def _resident_rows(path: Path, tenant: str, version: int, ticker: _Ticker) -> Iterator[tuple[Any, ...]]:
    """Second pass over a VALIDATED residents.csv: cells as text (dates stay ISO text, which both
    SQLite and COPY take as is), empty → NULL, status defaults to resident."""
    cells = RESIDENT_HEADER
    status_at = cells.index("status")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        header = [h.strip(_BLANK) for h in next(reader)]
        where = {h: i for i, h in enumerate(header)}
        idx = [where.get(c, -1) for c in cells]
        for record in reader:
            if not record:
                continue
            values = [record[i].strip(_BLANK) or None if i >= 0 else None for i in idx]
            if values[status_at] is None:
                values[status_at] = _RESIDENT
            ticker.tick()
            yield (tenant, *values, version)


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
    ticker = _Ticker(progress, 2 * sum(_count_lines(base / n) for n in files))
    problems = _Problems()
    fingerprint = _fingerprint(base, files)
    plan = _validate(tenant, base, problems, ticker)
    if problems.total:
        raise problems.rejected()

    if _fingerprint(base, files) != fingerprint:
        raise ImportRejected([ImportProblem(base.name, 0, "", "the files changed during validation; run it again")])
    with engine.begin() as conn:
        store = RegistryStore(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"kofu.registry.import:{tenant}"})
        empty = store.tenant_is_empty(tenant)
        if not empty and not replace:
            raise Conflict(
                f"tenant {tenant} already has a registry; import with replace to replace it",
                f"団体 {tenant} には既に住民データがあります。置き換える場合は replace を指定してください",
            )
        version = store.max_version(tenant) + 1 if not empty else 1
        if not empty:
            store.delete_tenant(tenant)
        n_households = store.bulk_insert(
            households,
            HOUSEHOLD_COLUMNS,
            ((tenant, hid, h.head, h.address) for hid, h in plan.households.items()),
        )
        counts: dict[str, int] = {}
        counts[RESIDENTS_FILE] = store.bulk_insert(
            residents, RESIDENT_COLUMNS, _resident_rows(base / RESIDENTS_FILE, tenant, version, ticker)
        )
        for file, table, columns, required, optional, convert in (
            (
                SEALS_FILE,
                seals,
                SEAL_COLUMNS,
                SEAL_REQUIRED,
                SEAL_OPTIONAL,
                lambda row: _seal(tenant, row, base, read_image=True),
            ),
            (INCOME_FILE, income, INCOME_COLUMNS, INCOME_REQUIRED, INCOME_OPTIONAL, lambda row: _income(tenant, row)),
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
