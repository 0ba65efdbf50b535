import cv2
import numpy as np
import pytest

from benchmarks.baselines import BASELINES, gaussian_kernel, richardson_lucy, wiener
from runtime.metrics import psnr


def _scene(h=72, w=90):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def test_kernel_is_normalised_and_centred():
    k = gaussian_kernel(9, 1.5)
    assert k.shape == (9, 9)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.unravel_index(k.argmax(), k.shape) == (4, 4)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_keeps_shape_and_dtype_on_odd_sizes(name):
    img = _scene(37, 53)
    out = BASELINES[name](img)
    assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize("fn", [wiener, richardson_lucy])
def test_deconvolution_with_the_true_kernel_beats_the_blurry_input(fn):
    sharp = _scene()
    k = gaussian_kernel()
    blur = cv2.filter2D(sharp, -1, k, borderType=cv2.BORDER_REFLECT)
    assert psnr(fn(blur), sharp) > psnr(blur, sharp) + 1.0


def test_unsharp_mask_adds_edge_contrast():
    img = cv2.GaussianBlur(_scene(), (0, 0), 1.5)
    out = BASELINES["unsharp-mask"](img)

    def grad(a):
        return np.abs(np.diff(a.astype(np.float64), axis=1)).mean()

    assert grad(out) > 1.2 * grad(img)
