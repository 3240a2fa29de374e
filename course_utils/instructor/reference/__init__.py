"""Reference solutions of the exercises (instructor only; never released)."""
