"""Run a pyacq_etvr host server: ``python tools/host_server.py tcp://IP:PORT [--keys DIR | --insecure]``.

Thin wrapper around :func:`pyacq_etvr.core.hostserver.main` (also installed as ``pyacq-etvr-host``).
"""

from __future__ import annotations

import sys

from pyacq_etvr.core.hostserver import main

if __name__ == "__main__":
    sys.exit(main())
