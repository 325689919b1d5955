"""Modal screens: the hyperparameter dialog, help, quit confirmation."""
