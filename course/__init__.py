"""Helpers for the PyTorch course: devices, seeding, data, graphs, plots, training, checks.

Importing the package has no side effects and does not import matplotlib, scikit-learn
or torchviz: the functions that need them import them when called.
"""

from course.device import get_device, to_numpy
from course.doctor import doctor
from course.graphs import show_graph
from course.repro import seed_everything
from course.show import warnings_as_text

__all__ = ["doctor", "get_device", "seed_everything", "show_graph", "to_numpy", "warnings_as_text"]
