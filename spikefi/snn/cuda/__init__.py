"""Optional fused CUDA kernels (Triton). The pure-PyTorch functions are the reference;
these must give identical results and are used only where Triton and a GPU exist."""

from .spike_kernel import fused_spikes, fused_sum_pool, triton_available

__all__ = ["fused_spikes", "fused_sum_pool", "triton_available"]
