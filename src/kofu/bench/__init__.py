"""Benchmarks that drive the whole system: `kofu bench e2e` (N headless kiosks against a center, in one
process or across `kofu serve` processes), the floor (the irreducible work of one issuance, back to back)
and the memory of open kiosk sessions. Sits just below `kofu.cli` in the layers: it composes every actor.
"""
