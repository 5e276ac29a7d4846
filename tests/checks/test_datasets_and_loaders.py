"""Lesson 10's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    WeightedRandomSampler,
    random_split,
)

from course.checks import datasets_and_loaders as check


class Windows(Dataset):
    def __init__(self, series, window):
        self.series, self.window = series, window

    def __len__(self):
        return len(self.series) - self.window

    def __getitem__(self, i):
        return self.series[i : i + self.window], self.series[i + self.window].unsqueeze(0)


class WindowsAsLists(Windows):
    def __getitem__(self, i):
        return self.series[i : i + self.window].tolist(), [self.series[i + self.window].item()]


def test_window_dataset_accepts_another_right_form_and_names_lists():
    assert check.window_dataset(Windows).passed
    assert check.window_dataset(WindowsAsLists).mistake == "not_a_tensor"


def test_batch_sizes_names_the_first_case_it_gets_wrong():
    verdict = check.batch_sizes(lambda n, b, drop: [b] * (n // b) + [n % b])
    assert verdict.mistake == "other" and "n_samples=100, batch_size=10, drop_last=False" in verdict.message


def buggy_loaders(dataset, batch_size, generator):
    train_set, val_set = random_split(dataset, [0.8, 0.2])
    train_loader = DataLoader(train_set, batch_size=batch_size)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=True, drop_last=True)
    return train_loader, val_loader


def loaders(seeded=True, shuffle=True, val_shuffle=False, val_drop=False, shuffle_generator=False):
    def make_loaders(dataset, batch_size, generator):
        n_train = int(0.8 * len(dataset))
        parts = [n_train, len(dataset) - n_train]
        train_set, val_set = random_split(dataset, parts, generator=generator if seeded else None)
        extra = {"generator": generator} if shuffle_generator else {}
        train = DataLoader(train_set, batch_size=batch_size, shuffle=shuffle, **extra)
        return train, DataLoader(val_set, batch_size=batch_size, shuffle=val_shuffle, drop_last=val_drop)

    return make_loaders


@pytest.mark.parametrize(
    "answer, verdict",
    [
        (buggy_loaders, "unseeded_split"),
        (loaders(shuffle=False, val_shuffle=True, val_drop=True), "train_not_shuffled"),
        (loaders(val_shuffle=True, val_drop=True), "val_drop_last"),
        (loaders(val_shuffle=True), "val_shuffled"),
        (loaders(), None),
        (loaders(shuffle_generator=True), None),
        (
            lambda dataset, batch_size, generator: loaders()(dataset, batch_size, torch.Generator().manual_seed(42)),
            "unseeded_split",
        ),
    ],
)
def test_the_four_bugs_are_found_one_at_a_time_and_right_forms_pass(answer, verdict):
    result = check.split_loaders(answer)
    assert result.mistake == verdict and result.passed == (verdict is None)


def buggy_epoch(step, loader, device):
    n_batches = len(loader.dataset) // loader.batch_size
    for i, (xb, yb) in enumerate(loader):
        if i == n_batches:
            break
        loss = step(xb.to(device), yb)
    return loss


def epoch(average="batches"):
    def train_one_epoch(step, loader, device):
        results = [(step(xb.to(device), yb.to(device)), len(xb)) for xb, yb in loader]
        if average == "batches":
            return sum(loss for loss, _ in results) / len(results)
        return sum(loss * n for loss, n in results) / len(loader.dataset)

    return train_one_epoch


def test_a_skipped_last_batch_is_named_as_such_and_both_means_pass():
    assert check.train_one_epoch(buggy_epoch).mistake == "skipped_last_batch"
    assert check.train_one_epoch(epoch("batches")).passed
    assert check.train_one_epoch(epoch("samples")).passed


def test_a_dataset_with_the_examples_window_written_in_fails():
    class ThreeWide(Dataset):  # the lesson's example has window 3: the class ignores its argument
        def __init__(self, series, window):
            self.series = series

        def __len__(self):
            return len(self.series) - 3

        def __getitem__(self, i):
            return self.series[i : i + 3], self.series[i + 3 : i + 4]

    verdict = check.window_dataset(ThreeWide)
    assert not verdict.passed and "window=4" in str(verdict)


def test_one_epoch_median_is_no_mean_and_a_tensor_mean_is_no_float():  # review 10b: the statement asks a float
    def median(step, loader, device):
        losses = sorted(step(xb.to(device), yb.to(device)) for xb, yb in loader)
        return losses[len(losses) // 2]

    def tensor_mean(step, loader, device):
        return torch.tensor([step(xb.to(device), yb.to(device)) for xb, yb in loader]).mean()  # float32

    assert not check.train_one_epoch(median).passed
    assert check.train_one_epoch(tensor_mean).mistake == "returns_tensor"


def test_the_validation_loader_may_use_a_larger_batch():
    def make_loaders(dataset, batch_size, generator):
        train, val = random_split(dataset, [0.8, 0.2], generator=generator)
        return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size=len(val))

    assert check.split_loaders(make_loaders).passed


def test_a_dataset_that_ignores_the_series_it_is_given_fails():
    class ChecksSeries(Windows):  # the check's own numbers, written in
        def __init__(self, series, window):
            super().__init__(torch.tensor(check.SERIES), window)

    assert not check.window_dataset(ChecksSeries).passed


def test_split_loaders_with_the_probes_sizes_written_in_fail():
    def make_loaders(dataset, batch_size, generator):
        train, val = random_split(dataset, [40, 10], generator=generator)
        return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size)

    assert check.split_loaders(make_loaders).mistake == "wrong_split_sizes"


def test_split_loaders_read_what_the_loaders_yield_not_how_they_are_built():
    def sampled(fixed_order=False):
        def make_loaders(dataset, batch_size, generator):
            order = torch.randperm(len(dataset), generator=generator).tolist()
            n_train = int(0.8 * len(dataset))
            train = order[:n_train] if fixed_order else SubsetRandomSampler(order[:n_train])
            return DataLoader(dataset, batch_size, sampler=train), DataLoader(
                Subset(dataset, order[n_train:]), batch_size
            )

        return make_loaders

    assert check.split_loaders(sampled()).passed
    assert check.split_loaders(sampled(fixed_order=True)).mistake == "train_not_shuffled"


def test_one_epoch_counts_the_batches_and_names_what_it_returned():
    def three_batches(step, loader, device):  # the check's loader has 3 batches
        return sum(step(xb.to(device), yb.to(device)) for xb, yb in loader) / 3

    def as_list(step, loader, device):
        return [step(xb.to(device), yb.to(device)) for xb, yb in loader]

    assert not check.train_one_epoch(three_batches).passed
    verdict = check.train_one_epoch(as_list)
    assert verdict.mistake == "not_a_number" and "a list" in verdict.message and "dict" not in verdict.message


def batched(train_sampler=RandomSampler, train_size=None, val_drop=False):
    """Loaders built from batch samplers: no shuffle or batch_size argument for the check to read."""

    def make_loaders(dataset, batch_size, generator):
        train, val = random_split(dataset, [0.8, 0.2], generator=generator)
        batches = BatchSampler(train_sampler(train), train_size or batch_size, drop_last=False)
        val_batches = BatchSampler(SequentialSampler(val), batch_size, drop_last=val_drop)
        return DataLoader(train, batch_sampler=batches), DataLoader(val, batch_sampler=val_batches)

    return make_loaders


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (batched(), None),
        (batched(train_sampler=SequentialSampler), "train_not_shuffled"),
        (batched(train_size=4), "wrong_batch_size"),
        (batched(val_drop=True), "val_drop_last"),
    ],
)
def test_split_loaders_judge_the_batches_the_loaders_yield(answer, mistake):
    verdict = check.split_loaders(answer)
    assert verdict.mistake == mistake and verdict.passed == (mistake is None), verdict


def test_the_validation_loader_may_use_a_fixed_shuffled_order():
    def make_loaders(dataset, batch_size, generator):
        train, val = random_split(dataset, [0.8, 0.2], generator=generator)
        fixed = torch.randperm(len(val), generator=torch.Generator().manual_seed(1)).tolist()
        return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size, sampler=fixed)

    assert check.split_loaders(make_loaders).passed


def test_a_part_left_out_of_both_loaders_is_not_called_drop_last():
    def make_loaders(dataset, batch_size, generator):
        order = torch.randperm(len(dataset), generator=generator).tolist()
        n_train = int(0.8 * len(dataset))
        return DataLoader(Subset(dataset, order[:n_train]), batch_size, shuffle=True), DataLoader(
            Subset(dataset, order[n_train : n_train + batch_size]), batch_size
        )

    verdict = check.split_loaders(make_loaders)
    assert verdict.mistake == "wrong_split_sizes" and "drop_last" not in verdict.message, verdict


LOSSES = []


def kept_across_calls(step, loader, device):
    for xb, yb in loader:
        LOSSES.append(step(xb.to(device), yb.to(device)))
    return sum(LOSSES) / len(LOSSES)


def test_one_epoch_that_keeps_its_losses_across_calls_is_told_so():
    verdict = check.train_one_epoch(kept_across_calls)
    assert verdict.mistake == "state_across_calls" and "write in 3" not in verdict.message, verdict


@pytest.mark.parametrize(
    "answer, named",
    [
        (lambda n, b, d: [len(x) for x in DataLoader(range(n), batch_size=b, drop_last=d)], "DataLoader"),
        (lambda n, b, d: [len(x) for x in BatchSampler(SequentialSampler(range(n)), b, d)], "BatchSampler"),
        (
            lambda n, b, d: [b] * len(DataLoader(range(n), b, drop_last=True)) + [n % b] * (not d and n % b > 0),
            "DataLoader.__len__",
        ),
    ],
    ids=["loader", "batch_sampler", "len_of_loader"],
)
def test_review4_batch_sizes_from_a_dataloader_are_named(answer, named):
    verdict = check.batch_sizes(answer)
    assert verdict.mistake == "used_library" and f"called torch.utils.data.{named}" in verdict.message, verdict
    assert check.batch_sizes(lambda n, b, d: [min(b, n - s) for s in range(0, n, b) if not d or n - s >= b]).passed


def one_batch_too_many(step, loader, device):  # the lesson's bug "fixed": right whenever the last batch is short
    n_batches = len(loader.dataset) // loader.batch_size + 1
    total = 0.0
    for i, (xb, yb) in enumerate(loader):
        if i == n_batches:
            break
        total += step(xb.to(device), yb.to(device))
    return total / n_batches


def test_fix_an_epoch_divided_by_one_batch_too_many_is_named():
    verdict = check.train_one_epoch(one_batch_too_many)
    assert verdict.mistake == "batch_count_off" and "len(loader)" in verdict.message, verdict


class NumpyWindows(Windows):
    def __getitem__(self, i):
        return tuple(t.numpy() for t in Windows.__getitem__(self, i))


def test_fix_numpy_items_are_named_without_a_false_reason():
    verdict = check.window_dataset(NumpyWindows)
    assert verdict.mistake == "not_a_tensor" and "NumPy arrays" in verdict.message, verdict
    assert "can stack" not in verdict.message, verdict


def test_fix_batch_sizes_from_the_len_of_a_batch_sampler_are_named():
    verdict = check.batch_sizes(
        lambda n, b, d: [b] * len(BatchSampler(range(n), b, drop_last=True)) + [n % b] * (not d and n % b > 0)
    )
    assert verdict.mistake == "used_library" and "BatchSampler.__len__" in verdict.message, verdict


class _IndexIgnored(Windows):  # review 10b: every item is the first window
    def __getitem__(self, i):
        return self.series[: self.window], self.series[self.window : self.window + 1]


class _LastWrong(Windows):  # right but for the last item
    def __getitem__(self, i):
        return super().__getitem__(min(i, len(self) - 2))


def test_review10b_window_dataset_names_an_ignored_index_or_the_first_item_that_differs():
    verdict = check.window_dataset(_IndexIgnored)
    assert "every" in verdict.message and "index" in verdict.message, verdict
    verdict = check.window_dataset(_LastWrong)
    assert "dataset[6]" in verdict.message and "dataset[0]" not in verdict.message, verdict


def _whole_dataset(dataset, batch_size, generator):  # review 10b: the training loader over the dataset, not train_set
    train_set, val_set = random_split(dataset, [0.8, 0.2], generator=generator)
    return DataLoader(dataset, batch_size, shuffle=True, generator=generator), DataLoader(val_set, batch_size)


def _resampled(**sampler):
    def make_loaders(dataset, batch_size, generator):
        train_set, val_set = random_split(dataset, [0.8, 0.2], generator=generator)
        drawn = RandomSampler(train_set, generator=generator, **sampler)
        return DataLoader(train_set, batch_size, sampler=drawn), DataLoader(val_set, batch_size)

    return make_loaders


def _weighted(dataset, batch_size, generator):
    train_set, val_set = random_split(dataset, [0.8, 0.2], generator=generator)
    drawn = WeightedRandomSampler([1.0] * len(train_set), len(train_set), generator=generator)
    return DataLoader(train_set, batch_size, sampler=drawn), DataLoader(val_set, batch_size)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (_whole_dataset, "all 50 samples"),
        (_resampled(replacement=True), "every training sample"),
        (_resampled(num_samples=20), "every training sample"),
        (_weighted, "every training sample"),
    ],
    ids=["whole_dataset", "replacement", "num_samples", "weighted"],
)
def test_review10b_a_training_loader_that_is_not_the_split_is_not_told_the_split_is_wrong(answer, words):
    verdict = check.split_loaders(answer)
    assert not verdict.passed and words in verdict.message and "80/20" not in verdict.message, verdict


def test_review10b_train_one_epoch_returns_a_float_not_a_tensor():
    def as_tensor(step, loader, device):
        return torch.tensor([step(xb.to(device), yb.to(device)) for xb, yb in loader]).mean()

    verdict = check.train_one_epoch(as_tensor)
    assert verdict.mistake == "returns_tensor" and "float" in verdict.message, verdict


def _mean_of(step, pairs):
    losses = [step(xb, yb) for xb, yb in pairs]
    return sum(losses) / len(losses)


def _swapped(step, loader, device):  # review 11a: features and targets swapped
    return _mean_of(step, ((yb.to(device), xb.to(device)) for xb, yb in loader))


def _features_twice(step, loader, device):  # the target replaced by the features
    return _mean_of(step, ((xb.to(device), xb.to(device)) for xb, yb in loader))


def _targets_twice(step, loader, device):
    return _mean_of(step, ((yb.to(device), yb.to(device)) for xb, yb in loader))


def _first_batch_only(step, loader, device):  # the first batch's rows at every step
    fx, fy = next(iter(loader))
    return _mean_of(step, ((fx[: len(xb)].to(device), fy[: len(xb)].to(device)) for xb, yb in loader))


def _bypass_loader(step, loader, device):  # slices the dataset: the loader's shuffle is ignored
    x, y = loader.dataset.tensors
    b = loader.batch_size
    return _mean_of(step, ((x[s : s + b].to(device), y[s : s + b].to(device)) for s in range(0, len(x), b)))


def _pairs_apart(step, loader, device):  # xb of one epoch's batch, yb of another's
    return _mean_of(step, ((xb.to(device), yb.to(device)) for (xb, _), (_, yb) in zip(loader, loader, strict=True)))


@pytest.mark.parametrize(
    ("answer", "mistake", "words"),
    [
        (_swapped, "swapped_pair", "swapped"),
        (_features_twice, "missing_x", "same tensor twice"),
        (_targets_twice, "missing_x", "same tensor twice"),
        (_first_batch_only, "ignored_argument", "for xb, yb in loader"),
        (_bypass_loader, "ignored_argument", "for xb, yb in loader"),
        (_pairs_apart, "ignored_argument", "for xb, yb in loader"),
    ],
    ids=["swapped", "features_twice", "targets_twice", "first_batch_only", "bypass_loader", "pairs_apart"],
)
def test_review11a_an_epoch_that_feeds_the_step_other_data_is_named(answer, mistake, words):
    verdict = check.train_one_epoch(answer)
    assert verdict.mistake == mistake and words in verdict.message, verdict


def _as_tuple(step, loader, device):
    losses = []
    for batch in loader:
        xb, yb = batch
        losses.append(step(xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)))
    return sum(losses) / len(losses)


def _as_list_moved_target_first(step, loader, device):
    losses = []
    for batch in loader:
        yb = batch[1].to(device)
        xb = batch[0].to(device=device)
        losses.append(step(xb, yb))
    return sum(losses) / len(losses)


def _running_mean(step, loader, device):
    mean = 0.0
    for i, (xb, yb) in enumerate(loader, start=1):
        mean += (step(xb.to(device), yb.to(device)) - mean) / i
    return mean


def _float64_total(step, loader, device):
    total = torch.zeros((), dtype=torch.float64)
    for xb, yb in loader:
        total += step(xb.to(device), yb.to(device))
    return (total / len(loader)).item()


def _listed_first(step, loader, device):  # the batches listed, then stepped through
    batches = list(loader)
    return sum(step(xb.to(device), yb.to(device)) for xb, yb in batches) / len(batches)


def _by_next(step, loader, device):
    batches, total = iter(loader), 0.0
    for _ in range(len(loader)):
        xb, yb = next(batches)
        total += step(xb.to(device), yb.to(device))
    return total / len(loader)


@pytest.mark.parametrize(
    "answer", [_as_tuple, _as_list_moved_target_first, _running_mean, _float64_total, _listed_first, _by_next]
)
def test_review11a_right_epochs_stay_accepted(answer):
    verdict = check.train_one_epoch(answer)
    assert verdict.passed, verdict


class _Float64Windows(Windows):  # review 11a: the items are slices of a float64 copy
    def __init__(self, series, window):
        super().__init__(series.double(), window)


def test_review11a_windows_of_another_dtype_are_named():
    verdict = check.window_dataset(_Float64Windows)
    assert verdict.mistake == "wrong_dtype" and "float64" in verdict.message, verdict
    assert "mat1 and mat2 must have the same dtype" in verdict.message, verdict


def test_review11a_float_batch_sizes_are_named():
    verdict = check.batch_sizes(lambda n, b, d: [b / 1] * (n // b) + ([n % b / 1] if n % b and not d else []))
    assert verdict.mistake == "wrong_dtype" and "integers" in verdict.message, verdict


@pytest.mark.parametrize(
    "feed",
    [
        lambda xb, yb: (yb.view(-1), xb),  # targets first, flattened
        lambda xb, yb: (xb, xb[:, :1]),  # a column of x for the targets
        lambda xb, yb: (xb, yb - 100),  # targets shifted
        lambda xb, yb: (xb[:, :2], yb),  # a feature dropped
    ],
)
def test_review11_a_step_fed_reshaped_or_altered_batches_is_refused(feed):
    def train_one_epoch(step, loader, device):
        losses = [step(*(t.to(device) for t in feed(xb, yb))) for xb, yb in loader]
        return sum(losses) / len(losses)

    verdict = check.train_one_epoch(train_one_epoch)
    assert not verdict.passed and verdict.mistake in ("swapped_pair", "missing_x", "ignored_argument"), verdict


def _fed(features=lambda x: x, targets=lambda y: y):  # an epoch that alters the batch before the step
    def train_one_epoch(step, loader, device):
        losses = [step(features(xb.to(device)), targets(yb.to(device))) for xb, yb in loader]
        return sum(losses) / len(losses)

    return train_one_epoch


@pytest.mark.parametrize("cast", [lambda y: y.double(), lambda y: y.long()], ids=["double", "long"])
def test_review11_targets_cast_still_pass(cast):  # the course's train step takes them (MSELoss casts)
    assert check.train_one_epoch(_fed(targets=cast)).passed


@pytest.mark.parametrize(
    ("reshape", "shape"),
    [
        (lambda y: y.squeeze(1), "(4,)"),
        (lambda y: y.view(-1), "(4,)"),
        (lambda y: y.flatten(), "(4,)"),
        (lambda y: y[:, 0], "(4,)"),
        (lambda y: y.unsqueeze(-1), "(4, 1, 1)"),
        (lambda y: y.T, "(1, 4)"),
    ],
    ids=["squeeze_1", "view", "flatten", "column", "unsqueeze", "transposed"],
)
def test_review12_targets_reshaped_before_the_step_are_refused(reshape, shape):
    # the course's train step refuses (B,), (B, 1, 1) and (1, B) targets against (B, 1) predictions
    verdict = check.train_one_epoch(_fed(targets=reshape))
    assert not verdict.passed and verdict.mistake == "shape_mismatch", verdict
    assert f"targets of shape {shape} for a batch whose targets are (4, 1)" in verdict.message, verdict
    assert "as the loader yields them" in verdict.message and "features of shape" not in verdict.message, verdict


@pytest.mark.parametrize(
    ("reshape", "words"),
    [
        (lambda x: x.squeeze(), "features of shape (3,) for a batch whose features are (1, 3)"),
        (lambda x: x.view(-1), "features of shape (12,) for a batch whose features are (4, 3)"),
        (lambda x: x.unsqueeze(0), "features of shape (1, 4, 3) for a batch whose features are (4, 3)"),
    ],
    ids=["squeeze", "view", "unsqueeze"],
)
def test_review12_features_reshaped_are_named_not_blamed_on_the_targets(reshape, words):
    verdict = check.train_one_epoch(_fed(features=reshape))
    assert not verdict.passed and verdict.mistake == "shape_mismatch", verdict
    assert words in verdict.message and "targets of shape" not in verdict.message, verdict
    assert "samples need" not in verdict.message, verdict  # 3 is the features' width, not a number of samples


def test_review12_features_squeezed_name_the_batch_of_one():
    verdict = check.train_one_epoch(_fed(features=lambda x: x.squeeze()))
    assert "batch of one sample drops its rows' dimension" in verdict.message, verdict


class _LenOff(Windows):  # review learnC: a len typed in, or computed from the example's numbers
    def __init__(self, series, window, length=None):
        super().__init__(series, window)
        self.length = length

    def __len__(self):
        return self.length(self)


def _with_len(length):
    return type(
        "LenWindows", (_LenOff,), {"__init__": lambda s, series, window: _LenOff.__init__(s, series, window, length)}
    )


@pytest.mark.parametrize(
    "length",
    [lambda s: len(s.series) - 3, lambda s: 7, lambda s: 10 - s.window],
    ids=["minus_3", "seven", "ten_minus_window"],
)
def test_fix_a_len_written_in_or_from_a_fixed_count_is_refused(length):
    verdict = check.window_dataset(_with_len(length))
    assert not verdict.passed, verdict  # 9 values, window 4: the probe that shows it
    assert "len(dataset) should be len(series) - window = 5 for 9 values and window 4" in verdict.message, verdict


def test_fix_a_len_one_too_small_is_named_as_a_length_not_an_item():
    verdict = check.window_dataset(_with_len(lambda s: len(s.series) - s.window - 1))
    assert not verdict.passed and "yours is 6" in verdict.message, verdict
    assert "len(dataset) should be len(series) - window = 7 for 10 values and window 3" in verdict.message, verdict
    assert "dataset[0]" not in verdict.message, verdict


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (lambda s: len(s.series) - s.window - 1, "= 7 for 10 values and window 3; yours is 6."),
        (lambda s: len(s.series) // s.window, "= 7 for 10 values and window 3; yours is 3."),
    ],
    ids=["minus_one_more", "floor_division"],
)
def test_review12_a_len_from_the_series_and_window_is_not_told_it_is_a_fixed_number(length, words):
    verdict = check.window_dataset(_with_len(length))
    assert not verdict.passed and words in verdict.message, verdict
    assert "fixed number" not in verdict.message and "go unused" not in verdict.message, verdict


def _epoch_in(mode):
    def train_one_epoch(step, loader, device):
        with mode():
            losses = [step(xb.to(device), yb.to(device)) for xb, yb in loader]
        return sum(losses) / len(losses)

    return train_one_epoch


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_fix_an_epoch_run_with_gradient_recording_off_is_refused(mode):
    verdict = check.train_one_epoch(_epoch_in(mode))
    assert not verdict.passed and verdict.mistake == "grad_left_off", verdict
    assert "gradient recording off" in verdict.message and "could not train" in verdict.message, verdict


def test_fix_targets_squeezed_to_0d_are_named_not_blamed_on_a_crash():
    def squeezed(step, loader, device):  # a batch of one sample gives a 0-d target
        losses = [step(xb.to(device), yb.squeeze().to(device)) for xb, yb in loader]
        return sum(losses) / len(losses)

    verdict = check.train_one_epoch(squeezed)
    assert verdict.mistake == "shape_mismatch", verdict
    assert "len() of a 0-d tensor" not in verdict.message and "yb.to(device)" in verdict.message, verdict
    # review 12: the first batch already shows it, (4,) targets, which the course's train step refuses too
    assert "targets of shape (4,) for a batch whose targets are (4, 1)" in verdict.message, verdict


def test_review12_targets_squeezed_to_0d_name_the_batch_of_one():
    verdict = check.train_one_epoch(_fed(targets=lambda y: y.squeeze() if len(y) == 1 else y))
    assert verdict.mistake == "shape_mismatch", verdict
    assert "targets of shape () for a batch whose targets are (1, 1)" in verdict.message, verdict
    assert "batch of one sample" in verdict.message, verdict


def _returns_in_loop(break_out):  # fix learnB-10: the return (or a break) inside the loop: one batch, one step
    def train_one_epoch(step, loader, device):
        losses = []
        for xb, yb in loader:
            losses.append(step(xb.to(device), yb.to(device)))
            if not break_out:
                return sum(losses) / len(losses)
            break
        return sum(losses) / len(losses)

    return train_one_epoch


@pytest.mark.parametrize("break_out", [False, True], ids=["return", "break"])
def test_fix_learnb10_an_epoch_ended_after_the_first_batch_is_told_so(break_out):
    verdict = check.train_one_epoch(_returns_in_loop(break_out))
    assert verdict.mistake == "one_update_per_epoch", verdict
    assert "returned the mean" not in verdict.message and "after the first batch" in verdict.message, verdict
    assert "after the loop" in verdict.message, verdict


@pytest.mark.parametrize(
    ("cast", "dtype"),
    [(lambda x: x.double(), "float64"), (lambda x: x.half(), "float16"), (lambda x: x.long(), "int64")],
    ids=["double", "half", "long"],
)
def test_fix_learnb10_features_cast_to_another_dtype_are_refused(cast, dtype):
    # the course's train step refuses them: "the features x are torch.float64 but the model's parameters are ..."
    verdict = check.train_one_epoch(_fed(features=cast))
    assert not verdict.passed and verdict.mistake == "wrong_dtype", verdict
    assert f"features of dtype {dtype}" in verdict.message and "float32" in verdict.message, verdict


@pytest.mark.parametrize("feed", [lambda x: x.float(), lambda x: x.to(torch.float32)], ids=["float", "to_float32"])
def test_fix_learnb10_features_kept_in_the_loaders_dtype_pass(feed):
    assert check.train_one_epoch(_fed(features=feed)).passed


@pytest.mark.parametrize(
    ("repeat", "shapes"),
    [
        (lambda y: y.repeat(1, 3), "(2, 3) for a batch whose targets are (2, 1)"),  # on the cpu, where values show
        (lambda y: y.expand(-1, 3), "(2, 3) for a batch whose targets are (2, 1)"),
        (lambda y: y.repeat(2, 1), "(8, 1) for a batch whose targets are (4, 1)"),
    ],
    ids=["repeat_columns", "expand", "repeat_rows"],
)
def test_fix_learnb10_targets_repeated_are_named_not_the_same_tensor_twice(repeat, shapes):
    verdict = check.train_one_epoch(_fed(targets=repeat))
    assert verdict.mistake == "shape_mismatch", verdict
    assert f"targets of shape {shapes}" in verdict.message, verdict
    assert "repeat" in verdict.message and "same tensor twice" not in verdict.message, verdict


def _whole_epoch_in_one_step(step, loader, device):  # fix second-10 M3: every batch concatenated, one step
    xs, ys = zip(*loader, strict=True)
    return float(step(torch.cat(xs).to(device), torch.cat(ys).to(device)))


def test_fix_second10_a_whole_epoch_in_one_step_is_not_told_its_targets_were_repeated():
    verdict = check.train_one_epoch(_whole_epoch_in_one_step)
    assert verdict.mistake == "ignored_argument", verdict
    assert "did not get the loader's batches" in verdict.message and "repeat" not in verdict.message, verdict


def _first_step_only(step, loader, device):  # fix second-10 L2: every batch iterated, a step for the first only
    losses = []
    for i, (xb, yb) in enumerate(loader):
        if i == 0:
            losses.append(step(xb.to(device), yb.to(device)))
    return sum(losses) / len(losses)


def test_fix_second10_a_step_for_the_first_batch_only_is_not_told_it_returned():
    verdict = check.train_one_epoch(_first_step_only)
    assert verdict.mistake == "one_update_per_epoch", verdict
    assert "your function returned" not in verdict.message, verdict
    assert "first batch only" in verdict.message and "a step called for one batch only" in verdict.message, verdict


PADDED_TARGETS = {  # fix third-10 H1: targets in more numbers than the batch, not copies of its own
    "rows_of_zeros": lambda y: torch.cat([y, y.new_zeros(len(y), 1)]),
    "a_column_of_zeros": lambda y: torch.cat([y, y.new_zeros(len(y), 1)], dim=1),
    "shifted_copy": lambda y: torch.cat([y, y + 1]),
}


@pytest.mark.parametrize("pad", PADDED_TARGETS.values(), ids=PADDED_TARGETS)
def test_fix_third10_targets_padded_to_more_numbers_are_refused_not_called_repeated(pad):
    def train_one_epoch(step, loader, device):  # padded before the move, as in the review's case
        losses = [step(xb.to(device), pad(yb).to(device)) for xb, yb in loader]
        return sum(losses) / len(losses)

    verdict = check.train_one_epoch(train_one_epoch)
    assert not verdict.passed and verdict.mistake == "shape_mismatch", verdict
    assert "for a batch whose targets are (4, 1)" in verdict.message, verdict
    assert "repeat" not in verdict.message.split("The course's")[0], verdict


def test_an_epoch_that_calls_the_step_twice_per_batch_is_told_so():
    def two_calls(step, loader, device):  # one call to train, one to record: each batch trains twice
        losses = []
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            step(xb, yb)
            losses.append(step(xb, yb))
        return sum(losses) / len(losses)

    verdict = check.train_one_epoch(two_calls)
    assert verdict.mistake == "step_twice" and "more than once on the same batch" in verdict.message, verdict
