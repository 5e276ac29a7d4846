"""nbgrader configuration for the course's assignments (run nbgrader from this folder).

See TEACHING.md for the whole workflow. Folders nbgrader creates here (release/, submitted/,
autograded/, feedback/, gradebook.db) hold student work and are ignored by git.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it reads this file)

c.CourseDirectory.course_id = "pytorch-first-principles"

# What a learner sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading runs each cell of a student's notebook with this limit, in seconds. A cell still running
# (an infinite loop, a huge training run) is interrupted, gets an error, and grading goes on with
# the next cell and the next student. Every solution cell here runs in about a second on a laptop CPU;
# the headroom covers kernel start-up and a busy machine. Override: nbgrader autograde ... --Execute.timeout=60
c.Execute.timeout = 60

# Put back any test cell a student deleted (edited ones are always restored from checksums).
c.OverwriteCells.add_missing_cells = True

# `nbgrader zip_collect <assignment>` for files downloaded from an LMS: put the downloaded files in
# downloaded/<assignment>/archive/ and adapt this pattern to your LMS's file names. This one reads
# names like "alice_01_tensors.ipynb" (student id, underscore, the notebook's name). nbgrader matches
# it against the whole path of each extracted file, hence the leading ".*/".
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/_]+)_(?P<file_id>[^/]+\.ipynb)$"
