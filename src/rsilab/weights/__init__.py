"""The weights loop: a trainable self that labels its own data where it is weak and refines its weights."""
