"""The background: every duty a Kasir node runs besides answering requests, as one component
that `kasir serve` (without ``--no-worker``) and `kasir worker` both run (docs/architecture.md,
"Background duties").

- ``duty``: one named duty under supervision, restarted with backoff when it fails;
- ``duties``: which duties there are (the delivery worker, the sweeps, a poller per mutation
  source);
- ``component``: ``Background``, which runs them all and stops them.
"""

from kasir.background.component import Background
from kasir.background.duty import Duty

__all__ = ["Background", "Duty"]
