"""Demo data: Hyogo tenants, a synthetic resident registry per tenant, and showcase residents.

`kofu demo-data` (kofu.cli.demo) is the entry point; see docs/demo-data.md.
"""
