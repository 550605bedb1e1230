"""kofu — convenience-store certificate issuance (コンビニ交付)."""

__version__ = "0.1.0"
