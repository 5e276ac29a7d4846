import numpy as np
import pytest

from course.data import make_linear_data


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
        ({"noise": -0.1}, "cannot be negative"),
        ({"train_fraction": 1.0}, "strictly between 0 and 1"),
        ({"n": 2, "train_fraction": 0.9}, "empty split"),
    ],
)
def test_bad_arguments_explain_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_linear_data(**kwargs)
