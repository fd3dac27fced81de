"""Optimisers against steps computed by hand, and the schedule at its landmarks."""
import math

import numpy as np
import pytest

from minillm.optim import SGD, Adam, AdamW, clip_grad_norm, cosine_schedule


def test_sgd_momentum_two_steps_by_hand():
    p = {"w": np.array([1.0, -2.0])}
    opt = SGD(p, lr=0.1, momentum=0.9)
    opt.step({"w": np.array([0.5, 1.0])})
    # u1 = g1 = [0.5, 1.0] ; p1 = [1 - 0.05, -2 - 0.1]
    np.testing.assert_allclose(p["w"], [0.95, -2.1], rtol=0, atol=1e-15)
    opt.step({"w": np.array([1.0, 0.0])})
    # u2 = 0.9 * [0.5, 1.0] + [1.0, 0.0] = [1.45, 0.9] ; p2 = p1 - 0.1 u2
    np.testing.assert_allclose(p["w"], [0.95 - 0.145, -2.1 - 0.09], rtol=0, atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, the first Adam step is lr * g / (|g| + eps) = lr * sign(g).
    p = {"w": np.array([0.3, -0.7, 2.0])}
    opt = Adam(p, lr=0.01, eps=1e-12)
    opt.step({"w": np.array([4.0, -0.001, 0.5])})
    np.testing.assert_allclose(p["w"], [0.3 - 0.01, -0.7 + 0.01, 2.0 - 0.01], rtol=0, atol=1e-10)


def test_adamw_two_steps_by_hand_with_decay_on_matrices_only():
    p = {"W": np.array([[1.0]]), "b": np.array([1.0])}
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.99, 1e-8, 0.5
    opt = AdamW(p, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    g1, g2 = 2.0, -1.0
    opt.step({"W": np.array([[g1]]), "b": np.array([g1])})
    opt.step({"W": np.array([[g2]]), "b": np.array([g2])})
    # by hand, for the matrix (decayed) and the bias (not decayed)
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1**2
    m2, v2 = b1 * m1 + (1 - b1) * g2, b2 * v1 + (1 - b2) * g2**2
    step1 = (m1 / (1 - b1)) / (math.sqrt(v1 / (1 - b2)) + eps)
    step2 = (m2 / (1 - b1**2)) / (math.sqrt(v2 / (1 - b2**2)) + eps)
    W = 1.0
    W = W * (1 - lr * wd) - lr * step1
    W = W * (1 - lr * wd) - lr * step2
    b = 1.0 - lr * step1 - lr * step2
    assert p["W"][0, 0] == pytest.approx(W, abs=1e-12)
    assert p["b"][0] == pytest.approx(b, abs=1e-12)


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_old_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}  # global norm 5
    norm = clip_grad_norm(g, 1.0)
    assert norm == pytest.approx(5.0)
    total = math.sqrt(sum(float(np.sum(x**2)) for x in g.values()))
    assert total == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(g["a"], [0.6, 0.0], atol=1e-6)
    g2 = {"a": np.array([0.3, 0.4])}
    assert clip_grad_norm(g2, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(g2["a"], [0.3, 0.4])  # under the bound: untouched


def test_cosine_schedule_landmarks():
    kw = dict(max_lr=1e-3, min_lr=1e-4, warmup_iters=100, decay_iters=2000)
    assert cosine_schedule(0, **kw) == pytest.approx(1e-5)
    assert cosine_schedule(99, **kw) == pytest.approx(1e-3)
    assert cosine_schedule(100, **kw) == pytest.approx(1e-3)
    assert cosine_schedule(1050, **kw) == pytest.approx(0.5 * (1e-3 + 1e-4))  # half way: the mean
    assert cosine_schedule(2000, **kw) == pytest.approx(1e-4)
    assert cosine_schedule(5000, **kw) == pytest.approx(1e-4)


def test_optimizer_state_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    p1 = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    p2 = {k: v.copy() for k, v in p1.items()}
    grads = [{k: rng.standard_normal(v.shape) for k, v in p1.items()} for _ in range(4)]
    o1 = AdamW(p1, lr=0.01, weight_decay=0.1)
    for g in grads:
        o1.step(g)
    o2 = AdamW(p2, lr=0.01, weight_decay=0.1)
    for g in grads[:2]:
        o2.step(g)
    o3 = AdamW(p2, lr=0.01, weight_decay=0.1)
    o3.load_state_dict(o2.state_dict())
    for g in grads[2:]:
        o3.step(g)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_bad_arguments_are_named():
    p = {"w": np.zeros(2)}
    with pytest.raises(ValueError, match="lr"):
        AdamW(p, lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        AdamW(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum"):
        SGD(p, momentum=1.5)
    with pytest.raises(ValueError, match="grads"):
        AdamW(p).step({"w": np.zeros(3)})
    with pytest.raises(ValueError, match="missing"):
        AdamW(p).step({})


def test_fused_adamw_equals_the_readable_one_with_clipping_as_a_scale():
    rng = np.random.default_rng(5)
    p1 = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    p2 = {k: v.copy() for k, v in p1.items()}
    plain = AdamW(p1, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)
    fused = AdamW(p2, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, fused=True)
    for step in range(4):
        g = {k: rng.standard_normal(v.shape) * 3 for k, v in p1.items()}
        scale = 0.5 if step % 2 else 1.0
        plain.step({k: v * scale for k, v in g.items()})
        fused.step(g, grad_scale=scale)
    for k in p1:
        np.testing.assert_allclose(p2[k], p1[k], rtol=1e-12, atol=1e-14)
