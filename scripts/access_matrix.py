"""docs/access-matrix.md, from the table the access tests run (tests/security/access_rules.py).

python scripts/access_matrix.py           # print it
python scripts/access_matrix.py --write   # replace docs/access-matrix.md
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests package is not installed

from tests.security.access_rules import markdown  # noqa: E402

TARGET = ROOT / "docs" / "access-matrix.md"

if __name__ == "__main__":
    if "--write" not in sys.argv:
        print(markdown(), end="")
        raise SystemExit(0)
    TARGET.write_text(markdown())
    print(f"wrote {TARGET.relative_to(ROOT)}")
