"""The review dashboard (`rsilab ui`): watch the rounds in a browser and approve or reject proposals.

Needs the `web` extra (FastAPI, Jinja2, uvicorn, plotly). Nothing here is imported by the
rest of rsilab, so the command line stays fast and works without the extra.
"""
