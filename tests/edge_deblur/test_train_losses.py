"""Losses: per-example shapes, zero at equality, no pull at zero, sensitivity to blur, GAN signs."""

from __future__ import annotations

import numpy as np
import pytest
from _toy import box_blur, sharp_images

from edge_deblur import losses
from runtime.errors import InputError

PIXEL = [losses.mse, losses.l1, losses.charbonnier, losses.fft_loss, losses.edge_loss]


@pytest.fixture(scope="module")
def batch():
    from edge_deblur._keras import tf

    sharp = sharp_images(3, 32, seed=2)
    return tf.constant(box_blur(sharp, 7).astype(np.float32)), tf.constant(sharp)


@pytest.mark.parametrize("fn", PIXEL, ids=lambda f: f.__name__)
def test_per_example_values_zero_at_equality(fn, batch):
    blur, sharp = batch
    same = fn(sharp, sharp).numpy()
    diff = fn(blur, sharp).numpy()
    assert same.shape == diff.shape == (3,)
    assert np.allclose(same, 0.0, atol=1e-6) and (diff > 1e-4).all()


@pytest.mark.parametrize(
    "fn",
    [losses.mse, losses.charbonnier, losses.fft_loss, losses.edge_loss],
    ids=lambda f: f.__name__,
)
def test_smooth_losses_do_not_pull_a_correct_pixel(fn, batch):
    # The reason these are smooth at 0 (not L1): a tiny error on an already-correct pixel must
    # get a tiny gradient, or the residual net collapses to the identity (see losses.py).
    from edge_deblur._keras import tf

    _, sharp = batch
    pred = tf.Variable(sharp + 1e-4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(pred, sharp))
    g_smooth = float(tf.reduce_max(tf.abs(tape.gradient(loss, pred))))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.l1(pred, sharp))
    g_l1 = float(tf.reduce_max(tf.abs(tape.gradient(loss, pred))))
    assert g_smooth < 0.05 * g_l1


def test_edge_loss_sees_lost_detail_far_more_than_a_brightness_shift(batch):
    blur, sharp = batch
    # Relative to their value on a global brightness shift with the same pixel error...
    shift = sharp + float(np.mean(np.abs(blur.numpy() - sharp.numpy())))
    assert (
        losses.edge_loss(blur, sharp).numpy().mean()
        > 5 * losses.edge_loss(shift, sharp).numpy().mean()
    )


def test_gan_losses_reward_the_right_side():
    from edge_deblur._keras import tf

    good_real, good_fake = tf.ones((2, 4, 4, 1)), tf.zeros((2, 4, 4, 1))
    for d_fn, g_fn in losses.ADVERSARIAL.values():
        d_good = float(tf.reduce_mean(d_fn(good_real, good_fake)))
        d_bad = float(tf.reduce_mean(d_fn(good_fake, good_real)))
        assert d_good < d_bad
        # The generator is happier when its fakes score like the reals.
        g_fooled = float(tf.reduce_mean(g_fn(good_real, good_real)))
        g_caught = float(tf.reduce_mean(g_fn(good_fake, good_real)))
        assert g_fooled < g_caught
    assert float(tf.reduce_mean(losses.lsgan_d(good_real, good_fake))) == 0.0


def test_perceptual_loss_needs_a_local_file(tmp_path):
    with pytest.raises(InputError, match="nothing is downloaded"):
        losses.PerceptualLoss(tmp_path / "vgg19.h5")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="VGG19"):
        losses.PerceptualLoss(tmp_path / "bad.h5")


@pytest.mark.slow
def test_perceptual_loss_from_a_local_weights_file(tmp_path, batch):
    from edge_deblur._keras import keras

    path = tmp_path / "vgg19_notop.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(str(path))
    loss = losses.PerceptualLoss(path)
    blur, sharp = batch
    assert np.allclose(loss(sharp, sharp).numpy(), 0.0)
    assert (loss(blur, sharp).numpy() > 0).all()
    assert loss(blur, sharp).shape == (3,)
