"""Training and evaluation: config, variants, objective, sampler, checkpoints, the loop, evaluation."""
