import sys
from pathlib import Path

# Run from a checkout without installing the package (pip install ./examples/third_party_provider also works).
here = Path(__file__).resolve().parent
sys.path[:0] = [str(here.parent / "src"), str(here)]
