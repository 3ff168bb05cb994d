"""The README's settings table, from the Settings model.

python scripts/settings_table.py           # print it
python scripts/settings_table.py --write   # replace the table in README.md
"""

import sys
from pathlib import Path

from core.settings import Settings

HEADER = "| variable | default | meaning |"


def table() -> str:
    rows = [HEADER, "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        value = field.get_default(call_default_factory=True)  # a default_factory's value too
        default = "" if value is None else value
        rows.append(f"| `ASKDOCS_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        print(table())
        raise SystemExit(0)
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    start = text.index(HEADER)
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + table() + text[end:])
