#!/usr/bin/env python
"""Django's command-line utility for the reading center."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    # numpy's BLAS runs each matrix product on threads of its own (one per core by default).
    # Our processes share the cores with Orthanc, PostgreSQL and each other, and during a burst
    # those threads wait for busy cores: preparing a head CT for triage took 149-269 ms with
    # two BLAS threads and 98-162 ms with one while both cores were busy, the same idle (README,
    # "AI triage"). Set before numpy loads, which reads it once; an operator's own value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
