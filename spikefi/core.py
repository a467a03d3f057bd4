"""SpikeFI 1.3's ``spikefi.core`` (implemented in :mod:`spikefi.compat.core`)."""

from .compat.core import VERSION, Campaign, CampaignData, CampaignOptimization

__all__ = ["Campaign", "CampaignData", "CampaignOptimization", "VERSION"]
