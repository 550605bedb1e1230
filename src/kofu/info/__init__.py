"""The municipality's public service page (市民への周知): `/info/CODE`, generated from its tenant settings."""
