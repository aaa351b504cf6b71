"""SAKDN's workflow for one split, one module per stage's work: the split's inputs, teacher
training (and fold teachers), teacher inference, the teacher-output cache, student training,
evaluation. The stages in ``stages/`` are thin wrappers around these functions."""
