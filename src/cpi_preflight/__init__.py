"""cpi-preflight: prove that an SAP Cloud Integration API client is set up right.

The flow runs one way: profile -> plan -> probe -> diagnosis -> pytest items -> reporting.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
