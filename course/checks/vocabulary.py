"""One vocabulary of mistake ids for every exercise, each with the message a learner reads.

The same mistake has the same id and the same explanation in every lesson, so a learner who
meets "model still in training mode" in lesson 11 reads what they read in lesson 07. A check
may give a more specific message for its own exercise, but never a new id for an old mistake.
Messages may use ``{got}`` and ``{expected}``: the engine fills in short descriptions.
"""

from __future__ import annotations

MISTAKES: dict[str, str] = {
    # --- raised by the engine itself, for any exercise ------------------------------------------
    "not_callable": "this exercise needs a function; you gave {got}. Define it with def ... and pass its name.",
    "raised": "your code raised {got}.",
    "timeout": "your code did not finish within the time limit: look for a loop that never ends.",
    "exited": "your code called exit() or sys.exit(), which would stop the kernel: return a value instead.",
    "returned_none": "your function returned None: did you forget the `return` statement?",
    "mutated_input": "your function changed its input tensor in place; work on a copy (x.clone()) or use out-of-place operations.",
    "unreadable": "the check could not use your answer ({got}).",
    "other": "expected {expected}, got {got}.",
    # --- forms shared by many exercises -----------------------------------------------------------
    "not_a_tensor": "return a torch tensor, got {got}.",
    "not_a_number": "return one number (a float, e.g. with .item()), got {got}.",
    "not_a_pair": "return a pair of values (first, second), got {got}.",
    "not_a_model": "this should be an nn.Module (a model), got {got}.",
    "wrong_shape": "the shape is not right: expected {expected}, got {got}.",
    "wrong_dtype": "the dtype is not right: expected {expected}, got {got}.",
    "wrong_device": "the tensor is on the wrong device: expected {expected}, got {got}.",
    "not_backpropagatable": "this must stay a tensor connected to the graph so backward() can run; a Python number (.item()) cuts it off.",
    "shape_mismatch": "predictions and targets have different shapes, so they broadcast to a matrix and the number is wrong. Make both the same shape (e.g. y.view(-1, 1)).",
    "sum_not_mean": "that is the sum; the exercise asks for the mean (divide by the count).",
    "mean_not_sum": "that is the mean; the exercise asks for the sum.",
    "wrong_sign": "the sign is wrong: step *against* the gradient (subtract it).",
    # --- behaviour shared by many exercises -------------------------------------------------------
    "no_eval": "the model was still in training mode, so layers such as Dropout behave as in training. Call model.eval() first.",
    "no_train": "the model was left in evaluation mode while training; call model.train() before the training steps.",
    "no_grad": "autograd recorded a graph you never use (wasted time and memory). Wrap the evaluation in `with torch.no_grad():`.",
    "called_forward": "you called model.forward(x) directly; call model(x) so PyTorch's hooks run.",
    "no_zero_grad": "the gradients were never zeroed, so each backward() adds to the last ones. Call optimizer.zero_grad() every step.",
    "no_step": "the parameters never changed: call optimizer.step() after loss.backward().",
    "no_backward": "no gradients were computed: call loss.backward() before optimizer.step().",
    "device_mismatch": "the model and the data are on different devices; move the data to the model's device with .to(device).",
    "leakage": "the statistics came from all the data, test part included (leakage); compute them on the training part only.",
    # --- lesson 00 start_here ----------------------------------------------------------------------
    # --- lesson 01 tensors_and_devices ---------------------------------------------------------------
    # --- lesson 02 gradient_descent_numpy -----------------------------------------------------------
    # --- lesson 03 autograd --------------------------------------------------------------------------
    # --- lesson 04 computation_graphs -----------------------------------------------------------------
    # --- lesson 05 optimizers -----------------------------------------------------------------------
    # --- lesson 06 losses ----------------------------------------------------------------------------
    # --- lesson 07 models ----------------------------------------------------------------------------
    # --- lesson 08 nonlinearity_and_mlps -------------------------------------------------------------
    # --- lesson 09 training_pipeline ------------------------------------------------------------------
    # --- lesson 10 datasets_and_loaders ---------------------------------------------------------------
    # --- lesson 11 evaluation ------------------------------------------------------------------------
    # --- lesson 12 logistic_regression ----------------------------------------------------------------
    # --- lesson 13 multiclass_classification ------------------------------------------------------------
    # --- lesson 14 putting_it_together -----------------------------------------------------------------
    # --- lesson 15 beyond_one_machine ------------------------------------------------------------------
}
