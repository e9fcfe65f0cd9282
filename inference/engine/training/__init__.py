"""Training: advantages, losses and log-probs as small pure functions, the resumable reward update, and the
session that runs a trainer between decode steps and registers the revision it writes."""
