"""Task suites beyond the built-in `arithmetic`: our own generators, reasoning-gym families, a user's JSONL.

Every procedural suite is a function `(n, seed, difficulties) -> list[Task]`; the same
seed always gives the same tasks. `rsilab.assess.tasks` names them for the config.
"""
