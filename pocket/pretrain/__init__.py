"""Pre-training of every pocket model from a seed, in resumable stages (see `pocket.pretrain.build`)."""
