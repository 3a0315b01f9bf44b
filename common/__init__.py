"""Code shared by two or more papers: the Dataset, batched networks, learners, evaluation, runner."""
