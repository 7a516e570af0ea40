"""Assessment: task suites, exact scoring, metrics and weakness reports."""
