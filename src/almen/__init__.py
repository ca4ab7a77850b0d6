"""almen: open software for Danish general practice.

The Python API: plain functions over tables. See docs/ for the methods.
"""

from almen.errors import AlmenError, UserError
from almen.schema import TABLES, get_table
from almen.synth import SynthParams, generate_denmark, write_denmark
from almen.warehouse import Warehouse

__version__ = "0.1.0"

__all__ = [
    "TABLES",
    "AlmenError",
    "SynthParams",
    "UserError",
    "Warehouse",
    "__version__",
    "generate_denmark",
    "get_table",
    "write_denmark",
]
