"""The tenant of the tests and the benchmarks: 加東市 (282286) with all four certificate types, as tenant TOML.

`KATO_TOML` is the tenant as a municipality runs it: open 06:30–23:00 (closed over the New Year), one
maintenance window, a fee change on 2027-04-01 and the income certificate on weekdays 09:00–17:00 only; the
issuer's tests check those rules against it. `ALWAYS_OPEN_TOML` is the same tenant open around the clock,
all year, without maintenance windows or fee changes: a benchmark or an end-to-end run must not depend on
the hour or the day it runs.
"""

from __future__ import annotations

from string import Template

TENANT = "282286"

_TOML = Template("""
code = "282286"
name = "加東市"
name_en = "Kato City"
prefecture = "兵庫県"
mayor_title = "加東市長"
mayor_name = "加東　一郎"
stage = "live"
service_start = 2017-02-01
copies_limit = 5
$calendar
[[certificates]]
type = "juminhyo"
offered = [{ from = 2017-02-01 }]
fees = [$juminhyo_fees]
items = ["household_head", "honseki"]
kinds = ["self", "household", "members"]

[[certificates]]
type = "kisai"
offered = [{ from = 2017-02-01 }]
fees = [{ from = 2017-02-01, window = 300, convenience = 250 }]
items = ["birth_date", "sex", "address", "household_head"]

[[certificates]]
type = "inkan"
offered = [{ from = 2017-02-01 }]
fees = [{ from = 2017-02-01, window = 300, convenience = 250 }]

[[certificates]]
type = "shotoku"
offered = [{ from = 2018-06-01 }]
fees = [{ from = 2018-06-01, window = 300, convenience = 250 }]
$shotoku_hours
""")

_FEE = "{ from = 2017-02-01, window = 300, convenience = 250 }"

KATO_TOML = _TOML.substitute(
    calendar="""
[hours]
open = "06:30"
close = "23:00"

[[maintenance]]
start = 2026-12-06T01:00:00+09:00
end = 2026-12-06T05:00:00+09:00
""",
    juminhyo_fees=f"{_FEE}, {{ from = 2027-04-01, window = 300, convenience = 200 }}",
    shotoku_hours='hours = { open = "09:00", close = "17:00", days = "weekdays" }\nfiscal_years_back = 1',
)

ALWAYS_OPEN_TOML = _TOML.substitute(
    calendar="""closed_new_year = false

[hours]
open = "00:00"
close = "24:00"
""",
    juminhyo_fees=_FEE,
    shotoku_hours="fiscal_years_back = 1",
)
