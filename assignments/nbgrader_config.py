"""nbgrader configuration for the course's assignments (run nbgrader from this folder).

See TEACHING.md for the whole workflow. Folders nbgrader creates here (release/, submitted/,
autograded/, feedback/, gradebook.db) hold student work and are ignored by git.
Grading is done by `make autograde` (tools/grading): each submission in its own sandbox, points
decided outside it from the hidden checks in graders/<assignment>.py. Plain `nbgrader autograde`
would run students' code with your permissions and trust their kernel, so it is switched off below.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it reads this file)

c.CourseDirectory.course_id = "pytorch-first-principles"

# What a learner sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading runs each cell of a student's notebook (and each hidden check) with this limit, in seconds.
# A cell still running (an infinite loop, a huge training run) is interrupted and grading goes on
# with the next cell; one that ignores the interrupt for a few seconds more, or kills the kernel,
# costs only itself: the kernel is restarted and the rest is graded. Every solution cell here runs in
# about a second on a laptop CPU. Override for one run: make autograde TIMEOUT=120
c.Execute.timeout = 60

# The sandbox of `make autograde` (tools/grading): limits for each submission.
c.GradingSandbox.wall_seconds = 900  # the whole submission, all cells and checks, restarts included
c.GradingSandbox.memory_mb = 4096  # address space per process (torch alone takes about 1 GB)
c.GradingSandbox.file_mb = 256  # largest file a submission may write (in its scratch space only)
c.GradingSandbox.scratch_mb = 512  # its scratch space (/tmp and the working folder, in memory)
c.GradingSandbox.jobs = 0  # submissions graded at once; 0: one per CPU core

# `nbgrader zip_collect <assignment>` for files downloaded from an LMS: put the downloaded files in
# downloaded/<assignment>/archive/ and adapt this pattern to your LMS's file names. This one reads
# names like "alice_01_tensors.ipynb" (student id, underscore, the notebook's name). nbgrader matches
# it against the whole path of each extracted file, hence the leading ".*/".
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/_]+)_(?P<file_id>[^/]+\.ipynb)$"


class UseMakeAutograde:
    """Stands in for nbgrader's own autograde: it stops with the command to use instead."""

    def __init__(self, **kwargs):
        raise RuntimeError(
            "Plain `nbgrader autograde` is switched off for this course: it would run students' code with "
            "your permissions and take points from their kernel's word. Use `make autograde` (TEACHING.md)."
        )


c.Autograde.sanitize_preprocessors = [UseMakeAutograde]
