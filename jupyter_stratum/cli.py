"""``stratum``: the headless front-end (CI, cron, terminals) of the same commands."""

from __future__ import annotations

import sys

from . import commands
from .errors import StratumError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = commands.parse(argv, prog="stratum")
        result = commands.run(args, commands.CommandContext(interactive=False))
    except commands.HelpShown:
        return 0
    except StratumError as exc:
        print(f"stratum: {exc.area} error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stratum: interrupted", file=sys.stderr)
        return 130
    if result is not None:
        text = result.to_text() if hasattr(result, "to_text") else str(result)
        print(text)
    # a result may say the command did not fully succeed (deploy: 3 some hosts failed, 4 all)
    return int(getattr(result, "exit_code", 0))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
