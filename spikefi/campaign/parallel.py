"""Legacy path of the fault-parallel engine (kept for one release).

The engine moved to :mod:`spikefi.campaign.engines.parallel`. This name stands for its
implementation module, :mod:`spikefi.campaign.engines.parallel.engine`, itself (not a
copy of its names), so ``from spikefi.campaign import parallel`` and setting its
attributes (tests patch ``rows_budget``) act on the engine as before.
"""

import sys

from .engines.parallel import engine as _engine

sys.modules[__name__] = _engine
