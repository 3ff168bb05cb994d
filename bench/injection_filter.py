"""How the prompt-injection filter (``generation.injection``) does on the two sets under
bench/injection_sets/: ordinary sentences it flags (the target is none) and attacks it catches.

    .venv/bin/python bench/injection_filter.py [--ordinary FILE] [--attacks FILE]

One sentence a line; blank lines are skipped. Prints every flagged
ordinary sentence and every missed attack (escaped, so invisible characters show).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.injection import is_instruction  # noqa: E402

SETS = Path(__file__).resolve().parent / "injection_sets"


def read_lines(path: Path) -> list[str]:
    """The sentences of a set file, one a line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ordinary", type=Path, default=SETS / "ordinary.txt")
    parser.add_argument("--attacks", type=Path, default=SETS / "attacks.txt")
    args = parser.parse_args()
    ordinary = read_lines(args.ordinary)
    attacks = read_lines(args.attacks)
    flagged = [s for s in ordinary if is_instruction(s)]
    missed = [s for s in attacks if not is_instruction(s)]
    caught = len(attacks) - len(missed)
    print(f"ordinary sentences flagged: {len(flagged)} of {len(ordinary)}")
    for s in flagged:
        print(f"  {ascii(s)}")
    print(f"attacks caught: {caught} of {len(attacks)} ({caught / len(attacks):.1%})")
    for s in missed:
        print(f"  missed: {ascii(s)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
