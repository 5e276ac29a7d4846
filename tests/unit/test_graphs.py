import base64
import re
import shutil

import pytest
import torch

from course.graphs import INSTALL_HINT, show_graph


def linear_loss(freeze_b=False):
    a = torch.tensor([0.5], requires_grad=True)
    b = torch.tensor([-0.3], requires_grad=not freeze_b)
    x = torch.linspace(0, 1, 5).reshape(-1, 1)
    loss = ((a + b * x - 2 * x) ** 2).mean()
    return loss, {"a": a, "b": b}


def test_text_summary_is_identical_across_runs():
    first = repr(show_graph(*linear_loss(), name="loss"))
    second = repr(show_graph(*linear_loss(), name="loss"))
    assert first == second
    assert not re.search(r"0x[0-9a-f]+|\d{6,}", first), "no memory addresses or object ids"


def test_summary_names_parameters_operations_and_output():
    graph = show_graph(*linear_loss(), name="loss")
    text = repr(graph)
    assert "[output] loss ()" in text
    assert "[leaf] a (1)" in text and "[leaf] b (1)" in text
    assert "MeanBackward0 <- PowBackward0" in text
    assert sum(kind == "leaf" for kind in graph.kinds.values()) == 2


def test_a_frozen_parameter_disappears():
    graph = show_graph(*linear_loss(freeze_b=True))
    assert [graph.nodes[n] for n, k in graph.kinds.items() if k == "leaf"] == ["a (1)"]


def test_two_names_for_one_tensor_are_refused_not_one_silently_dropped():
    a = torch.tensor(2.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"params\['a'\] and params\['w'\] name the same tensor.*one box.*one name"):
        show_graph(a * 2, params={"a": a, "w": a})
    out = a * 2
    with pytest.raises(ValueError, match=r"params\['out'\] and name='loss' name the same tensor.*Keep one"):
        show_graph(out, params={"a": a, "out": out}, name="loss")
    assert "[output] loss ()" in show_graph(out, params={"a": a, "loss": out}, name="loss").summary()  # one name


def test_dot_source_uses_stable_ids():
    graph = show_graph(*linear_loss())
    assert graph.dot_source == show_graph(*linear_loss()).dot_source
    assert "n0 [label=" in graph.dot_source


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_renders_a_png_with_alt_text_with_dot():
    graph = show_graph(*linear_loss())
    data, metadata = graph._repr_mimebundle_()
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    alt = metadata["image/png"]["alt"]
    assert alt.startswith("Autograd graph with") and "Leaves: a (1), b (1)" in alt and "MulBackward0" in alt
    assert data["text/plain"] == graph.summary() == repr(graph)


def test_without_dot_gives_text_and_the_install_hint(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    graph = show_graph(*linear_loss())
    data, metadata = graph._repr_mimebundle_()
    assert "image/png" not in data and metadata == {}
    assert repr(graph).endswith(INSTALL_HINT) and "apt-get install graphviz" in INSTALL_HINT


def test_tensor_without_graph_is_explained():
    with pytest.raises(ValueError, match="grad_fn is None"):
        show_graph(torch.ones(3).sum())


def test_non_tensor_and_bad_params_are_rejected():
    with pytest.raises(TypeError, match="expects the tensor"):
        show_graph([1, 2, 3])
    loss, _ = linear_loss()
    with pytest.raises(TypeError, match=r"params\['a'\] should be a tensor"):
        show_graph(loss, params={"a": 1.0})


def test_naming_an_intermediate_result_is_refused_not_silently_ignored():
    a = torch.tensor([0.5], requires_grad=True)
    h = a * 2
    out = (h * 3).sum()
    with pytest.raises(ValueError, match=r"params\['h'\] was computed by an operation.*MulBackward0.*only tensors you"):
        show_graph(out, {"a": a, "h": h})
    # still accepted: leaves, frozen leaves, a leaf outside the graph (named in a warning), and the output itself
    unused = torch.ones(1, requires_grad=True)
    with pytest.warns(UserWarning, match=r"params \['unused'\] require grad but have no box in this graph"):
        graph = show_graph(out, {"a": a, "frozen": torch.ones(1), "unused": unused, "out": out})
    assert "[leaf] a (1)" in repr(graph) and "[output] out ()" in repr(graph)
    assert "[output] loss ()" in repr(show_graph(out, {"a": a}, name="loss"))


def test_an_output_name_that_is_already_a_parameters_name_is_refused_not_relabelled():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"name='a' is already the name of a tensor in params.*name='loss'"):
        show_graph((a * b).sum(), params={"a": a, "b": b}, name="a")
    loss = (a * b).sum()  # the output itself in params under that name is one box, one name: drawn as before
    assert "[output] loss" in show_graph(loss, params={"a": a, "loss": loss}, name="loss").summary()


def test_a_named_leaf_the_computation_never_used_is_named_in_a_warning_not_dropped_unsaid():
    a, stale = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)  # stale: an earlier cell's `a`
    with pytest.warns(UserWarning, match=r"params \['a_old'\] require grad but have no box in this graph"):
        graph = show_graph((2 * a).sum(), params={"a": a, "a_old": stale})
    assert "a (1)" in graph.nodes.values()


def test_every_named_leaf_used_and_a_frozen_one_give_no_warning(recwarn):
    a, frozen = torch.ones(1, requires_grad=True), torch.ones(1)
    show_graph((2 * a * frozen).sum(), params={"a": a, "frozen": frozen}, name="loss")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
