import numpy as np
import pytest

from course.data import load_breast_cancer_split, make_linear_data


def test_matches_the_syllabus_recipe():
    # the recipe written out with NumPy's global legacy generator, as lesson 02 shows it
    np.random.seed(42)
    x = np.random.rand(100, 1)
    y = 1 + 2 * x + 0.1 * np.random.randn(100, 1)
    idx = np.arange(100)
    np.random.shuffle(idx)
    data = make_linear_data()
    np.testing.assert_array_equal(data.x_train, x[idx[:80]])
    np.testing.assert_array_equal(data.y_val, y[idx[80:]])


def test_shapes_and_range():
    data = make_linear_data(n=50, train_fraction=0.6)
    assert data.x_train.shape == (30, 1) and data.y_val.shape == (20, 1)
    assert 0 <= data.x_train.min() and data.x_train.max() < 1


def test_noise_free_points_lie_on_the_line():
    data = make_linear_data(a=-1.0, b=3.0, noise=0.0)
    np.testing.assert_allclose(data.y_train, -1 + 3 * data.x_train)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 1}, "at least 2"),
        ({"n": 10.5}, "integer"),
        ({"noise": -0.1}, "finite number of at least 0"),
        ({"noise": float("nan")}, "finite number of at least 0"),
        ({"train_fraction": 1.0}, "strictly between 0 and 1"),
        ({"n": 2, "train_fraction": 0.9}, "empty split"),
    ],
)
def test_bad_arguments_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_linear_data(**kwargs)


def test_any_real_number_that_a_float_holds_is_accepted_as_a_b_and_noise():
    from fractions import Fraction

    data = make_linear_data(a=Fraction(1, 3), b=Fraction(5, 2), noise=Fraction(0))
    assert data.y_train.dtype == np.float64
    np.testing.assert_allclose(data.y_train, 1 / 3 + 2.5 * data.x_train)


def test_a_whole_number_beyond_a_float_is_refused_shortly():
    with pytest.raises(ValueError, match=r"a should be a finite number, got a number beyond float64") as caught:
        make_linear_data(a=10**400)
    assert "0" * 50 not in str(caught.value)


# --- the breast-cancer data of lesson 12 ---------------------------------------------------------


def test_breast_cancer_split_has_three_disjoint_parts_scaled_with_training_statistics_only():
    import torch

    parts = load_breast_cancer_split()
    assert [len(t) for t in parts] == [341, 341, 114, 114, 114, 114]
    assert all(t.dtype == torch.float32 for t in parts)
    assert tuple(parts.y_val.shape) == (114, 1) and set(parts.y_train.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(parts.x_train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(parts.x_train.std(0, unbiased=False), torch.ones(30), atol=1e-4)
    for held_out in (parts.x_val, parts.x_test):  # scaled with the training statistics, not re-centred
        assert not torch.allclose(held_out.mean(0), torch.zeros(30), atol=1e-2)
    rows = {tuple(row) for t in (parts.x_train, parts.x_val, parts.x_test) for row in t.tolist()}
    assert len(rows) == 569  # no row in two parts
    # stratified: each part keeps the 37/63 class balance within a point
    assert all(abs(y.mean().item() - 357 / 569) < 0.01 for y in (parts.y_train, parts.y_val, parts.y_test))


def test_breast_cancer_test_part_is_the_same_rows_as_a_plain_80_20_split():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    _, x_test, _, _ = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    parts = load_breast_cancer_split()
    assert x_test.shape == tuple(parts.x_test.shape)
    # scaling is monotone per column, so the same rows in the same order rank the same in every column
    for column in range(30):
        np.testing.assert_array_equal(
            np.argsort(x_test[:, column], kind="stable"), np.argsort(parts.x_test[:, column].numpy(), kind="stable")
        )


def test_breast_cancer_split_is_seeded_and_rejects_bad_fractions():
    import torch

    first, again = load_breast_cancer_split(seed=1), load_breast_cancer_split(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first.x_train, load_breast_cancer_split(seed=2).x_train)
    assert len(load_breast_cancer_split(val_fraction=0.1).x_val) == 57
    with pytest.raises(ValueError, match="test_fraction"):
        load_breast_cancer_split(test_fraction=1.5)
    with pytest.raises(ValueError, match="below 0.9"):
        load_breast_cancer_split(val_fraction=0.5, test_fraction=0.45)
