"""The project's one SSIM of a picture pair (used by the evaluation metrics and the codec's rate control).

Wang et al. (2004): 11×11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1, averaged over the
valid region (window fully inside) and over channels; the definition of
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


@functools.lru_cache(maxsize=1)
def _ssim_kernel() -> np.ndarray:
    return cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)  # [11, 1], sums to 1


def ssim_frame(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two float64 images ``[H, W]`` or ``[H, W, C]`` in [0, 1] (H, W >= 11)."""
    k = _ssim_kernel()
    r = SSIM_WINDOW // 2

    def filt(img: np.ndarray) -> np.ndarray:
        # weighted local mean; the border (affected by padding) is cropped, leaving the 'valid' region
        return cv2.sepFilter2D(img, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    c1 = SSIM_K1**2
    c2 = SSIM_K2**2
    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x * mu_x
    syy = filt(y * y) - mu_y * mu_y
    sxy = filt(x * y) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def luma_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`ssim_frame` of the BT.601 luma of two uint8 RGB pictures ``[H, W, 3]``."""
    w = np.array([0.299, 0.587, 0.114])
    return ssim_frame(a.astype(np.float64) @ w / 255.0, b.astype(np.float64) @ w / 255.0)


__all__ = ["SSIM_WINDOW", "luma_ssim", "ssim_frame"]
