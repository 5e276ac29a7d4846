"""Grading that cannot be gamed: each submission in its own sandbox, points decided outside it.

``make autograde`` runs ``python -m tools.grading autograde`` in the course folder. One module per idea:

- :mod:`~tools.grading.submission` rebuilds the notebook to grade (read-only cells from the source);
- :mod:`~tools.grading.scan` flags student code that alters the kernel or reaches outside it (its calls, and the code
  the timing magics run: :mod:`~tools.grading.scan_calls`);
- :mod:`~tools.grading.jobs` turns a notebook into the kernel's steps, and the report back into a notebook;
- :mod:`~tools.grading.sandbox` starts bubblewrap; :mod:`~tools.grading.runner` runs the kernel inside it;
- :mod:`~tools.grading.audit` and :mod:`~tools.grading.wire` are shipped into the kernel (audit, data only);
- :mod:`~tools.grading.spec` is how ``assignments/graders/<assignment>.py`` declare fresh inputs, probes, checks;
- :mod:`~tools.grading.watch` is the graders' watch on a training run's backward passes (03, 04), and the helpers
  every probe shares (results read inside the watch, random numbers seeded alike, compiled code run as written);
  :mod:`~tools.grading.autograd_watch` is 02's watch on the autograd a call runs (traced graphs' code included),
  :mod:`~tools.grading.call_watch` 01's count of the calls a student's code makes (inside libraries, only of the
  functions it handed them), :mod:`~tools.grading.predictions` how 03 reads a trained model (torch's own code only);
- :mod:`~tools.grading.autograde` grades in parallel; :mod:`~tools.grading.record` writes the gradebook
  and the files; :mod:`~tools.grading.export` writes ``grades.csv`` with flags;
- :mod:`~tools.grading.local` grades trusted code in process, without a kernel (for the tests).
"""
