"""Tests for course_utils.check_tensor: the PyTorch counterpart of check_array."""

import numpy as np
import pytest

from course_utils import CheckFailure, check_tensor

torch = pytest.importorskip("torch")


def failure(*args, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check_tensor(*args, **kwargs)
    return str(info.value)


def test_pass_prints_one_line_and_returns_none(capsys):
    got = torch.tensor([1.0, 2.0, 3.0])
    assert check_tensor("z", got, [1.0, 2.0, 3.0]) is None
    out, err = capsys.readouterr()
    assert out.startswith("✓ z: matches") and err == ""


def test_accepts_expected_tensor_parameters_and_zero_dim():
    p = torch.nn.Parameter(torch.ones(2, 2))
    check_tensor("w", p, torch.ones(2, 2, dtype=torch.float64))
    check_tensor("loss", torch.tensor(0.5), 0.5)


def test_wrong_values_are_diagnosed():
    msg = failure("kl", torch.tensor([2.0, 4.0]), [1.0, 2.0])
    assert "2 × expected" in msg


def test_sign_flip_is_diagnosed():
    msg = failure("kl", torch.tensor([-1.0, -2.0]), [1.0, 2.0])
    assert "sign" in msg


def test_numpy_array_is_refused_with_advice():
    msg = failure("z", np.zeros(3), [0.0, 0.0, 0.0])
    assert "NumPy array" in msg and "torch.Tensor" in msg


def test_python_number_is_refused():
    msg = failure("loss", 0.5, 0.5)
    assert "plain number" in msg and ".item()" in msg


def test_tuple_and_none_are_refused():
    assert "tuple of 2 items" in failure("loss", (torch.tensor(1.0), torch.tensor(2.0)), 1.0)
    assert "None" in failure("loss", None, 1.0)


def test_wrong_shape_is_reported():
    msg = failure("mu", torch.zeros(4, 2), np.zeros((4,)))
    assert "(4, 2)" in msg and "(4,)" in msg


def test_nan_is_reported():
    msg = failure("loss", torch.tensor([float("nan"), 1.0]), [1.0, 1.0])
    assert "NaN" in msg or "nan" in msg


def test_requires_grad_both_ways():
    x = torch.ones(3, requires_grad=True)
    attached = (2 * x).sum()
    detached = attached.detach()
    check_tensor("loss", attached, 6.0, requires_grad=True)
    assert "detached" in failure("loss", detached, 6.0, requires_grad=True)
    assert "attached" in failure("loss", attached, 6.0, requires_grad=False)
    with pytest.raises(TypeError):
        check_tensor("loss", attached, 6.0, requires_grad="yes")


def test_tensor_subclass_cannot_lie():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

        def numpy(self):
            return np.array([1.0, 2.0])

    liar = torch.tensor([9.0, 9.0]).as_subclass(Liar)
    msg = failure("z", liar, [1.0, 2.0])
    assert "torch.Tensor was expected" in msg


def test_half_precision_gets_a_note():
    msg = failure("z", torch.tensor([1.0, 2.5], dtype=torch.float16), [1.0, 2.0])
    assert "float16" in msg


def test_bad_expected_is_an_author_error():
    with pytest.raises(TypeError):
        check_tensor("z", torch.zeros(2), "abc")


def test_shape_check_rejects_a_tensor_subclass_that_lies_about_its_shape():
    from course_utils import check_shape

    class WrongShape(torch.Tensor):
        @property
        def shape(self):
            return torch.Size([2, 3])

    liar = torch.zeros(5).as_subclass(WrongShape)
    with pytest.raises(CheckFailure, match="torch.Tensor was expected"):
        check_shape("z", liar, (2, 3), allow_tensor=True)
    check_shape("z", torch.zeros(2, 3), (2, 3), allow_tensor=True)


@pytest.mark.parametrize("method", ["numpy", "detach", "to", "dtype", "requires_grad"])
def test_patched_tensor_methods_are_never_used(monkeypatch, method):
    """``torch.Tensor.numpy = ...`` (which could hand the check its own expected values) is ignored:
    the check calls the methods of torch's C tensor type, which Python code cannot replace."""
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        return np.array([1.0, 2.0])

    monkeypatch.setattr(torch.Tensor, method, property(fake) if method in ("dtype", "requires_grad") else fake,
                        raising=False)
    assert getattr(torch.Tensor, method) is not getattr(torch._C.TensorBase, method)  # the patch is live
    msg = failure("z", torch.tensor([9.0, 9.0], requires_grad=True), [1.0, 2.0], requires_grad=True)
    assert "z" in msg and "9" in msg
    assert not calls
    with pytest.raises(TypeError):
        torch._C.TensorBase.numpy = fake  # the C type is immutable
