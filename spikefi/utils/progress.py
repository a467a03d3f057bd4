"""SpikeFI 1.3's ``spikefi.utils.progress`` (implemented in :mod:`spikefi.compat.progress`)."""

from ..compat.progress import CampaignProgress, refresh_progress_job

__all__ = ["CampaignProgress", "refresh_progress_job"]
