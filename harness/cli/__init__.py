"""The ``prm-harness`` command: a thin layer over the library.

Every command module imports its heavy dependencies inside the command body, so
``prm-harness metrics``, ``grade`` and ``report`` never import torch.
"""

from __future__ import annotations

import sys

from harness.errors import HarnessError


def main(argv: list[str] | None = None) -> int:
    """Entry point: a HarnessError becomes one line on stderr and exit status 2."""
    from harness.cli.app import cli

    try:
        cli.main(args=argv, prog_name="prm-harness", standalone_mode=False)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # click's own exits (--help, usage errors)
        return int(exc.code or 0)
    except Exception as exc:  # click.ClickException and friends
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
