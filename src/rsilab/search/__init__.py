"""The search: an archive of versions, parent selection, candidates fanned out, the winner chosen."""
