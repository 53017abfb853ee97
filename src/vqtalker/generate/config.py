"""Configuration of the stage-2 motion generator (the paper's coarse-to-fine BERT).

Two named presets and the four Table-4 ablation variants live here:

* ``paper`` — 12 transformer layers, width 1024, 16 heads, FFN 4096, per-group head MLP 1024→256→625,
  learned positions up to 4096 frames. See :class:`Stage2Config` for how the paper's inconsistent figures
  ("input 1024, hidden 256, 204 M parameters") are read.
* ``lite`` — 4 layers, width 256, 4 heads, FFN 1024, linear heads, 1024 positions (41 s at 25 fps). One
  training step at batch 8 × 200 frames costs ≈ 1.4 s of CPU time (one thread; ``python -m
  scripts/bench_stage2.py``), so a few thousand steps fit in a few hours on two cores.

Ablations (paper Table 4, "X-Y" = audio input - motion output), same backbone size as the chosen preset:

* ``audio_input``: ``"discrete"`` (speech tokens, ``Embedding(vocab)``) or ``"continuous"`` (a feature
  sequence ``[N, audio_dim]`` at 50 Hz, e.g. the log-mel backend; ``Linear(audio_dim)``).
* ``motion_output``: ``"tokens"`` (GRFSQ indices, 12 groups × 625 classes, coarse-to-fine over 4 residual
  layers) or ``"continuous"`` (regression of the 120-d renderer input Δ̂ = GRFSQ(f_t − f_s) in one pass,
  L1/MSE: the ablation removes the token classification, not the motion space).

Exact parameter counts (``MotionTokenBERT.num_parameters()``, token output):

=======  ==========================================  ==========================================
preset   S3 vocabulary 4096, f_g 512 (paper stage 1)  vocabulary 1024, f_g 256 (lite stage 1)
=======  ==========================================  ==========================================
paper    165 570 124                                  163 931 724
lite     7 107 532                                    6 288 332
=======  ==========================================  ==========================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class Stage2Config:
    """Hyper-parameters of :class:`vqtalker.generate.model.MotionTokenBERT`.

    Reading of the paper's stage-2 figures. The supplement says: "12 transformer layers. The concatenated
    input dimension is 1024, which is transformed through intermediate hidden layers of dimension 256. The
    final layer is a 12-layer MLP with an output dimension of 625 ... 204M parameters". No reading reproduces
    all of them: a 12-layer transformer of width 256 has ≈ 9.5 M parameters, one of width 1024 with the
    standard 4× FFN ≈ 151 M. We read

    * "input dimension 1024" as the transformer width ``d_model = 1024`` (the per-frame concatenation is
      projected to it by one linear layer),
    * "hidden layers of dimension 256" as the hidden width of the per-group output MLPs (1024→256→625),
    * "12-layer MLP" as 12 parallel per-group heads (one per GRFSQ group), each predicting 625 classes.

    With the standard FFN of 4 × 1024 the ``paper`` preset has **165 570 124** parameters (S3 vocabulary
    4096, f_g 512, max length 4096), ≈ 38 M short of 204 M. The text does not say where the rest is; an FFN of
    ≈ 5.5 × d would close the gap, so ``ffn`` is a config field for anyone who wants to match 204 M.

    Frame rates: video and all per-frame inputs at 25 fps; speech tokens / continuous audio features at 50 Hz
    (``audio_rate_ratio = 2`` input steps per frame; alignment ``T = floor(N / 2)``).
    """

    # --- inputs -------------------------------------------------------------------------------------------
    audio_input: str = "discrete"  # "discrete" (speech tokens) | "continuous" ([N, audio_dim] features)
    speech_vocab: int = 4096  # S3 v1 codebook size; taken from the speech tokenizer at training time
    audio_dim: int = 80  # feature size of continuous audio input (ignored for discrete)
    audio_rate_ratio: int = 2  # audio steps per video frame (50 Hz / 25 fps)
    audio_downsample: str = "conv"  # "conv": Conv1d(k3, s2, p1) (AniTalker); "pair": concat pairs → Linear
    audio_embed_dim: int = 256  # speech embedding width (per 50 Hz step) and after downsampling (per frame)
    face_dim: int = 512  # size of the global face feature f_g from stage 1 (LIA: 512)
    face_embed_dim: int = 128  # f_g is projected to this before concatenation
    # training only: probability of zeroing a sample's face embedding (identity-conditioning dropout). With
    # few training identities f_g lets the model memorise each person's motion instead of following the
    # speech; dropping it makes the speech/pose path carry the motion. Inference always uses f_g.
    face_dropout: float = 0.0
    # training only: weight of an auxiliary loss that predicts the mouth opening (inner-lip gap from the
    # prepared landmarks) from the transformer states, so the speech → mouth path is learned even though the
    # token cross-entropy is dominated by head pose. 0 = off (the paper); the head is unused at inference.
    mouth_aux: float = 0.0
    # training only: weight of the mouth-direction token loss (vqtalker.mouth.direction): L1 between the
    # expected and the true projection of the layer's codes on the motion direction that opens the mouth.
    # Like mouth_aux it is off in the paper; unlike mouth_aux it acts on the token logits themselves.
    mouth_token: float = 0.0
    pose_scale_deg: float = 90.0  # head pose in degrees is divided by this and clamped to [-1, 1]
    # "absolute": pose(t) only (the paper); "both": also pose(t) − pose(reference), the head rotation relative
    # to the reference frame that the target tokens f_t − f_s are relative to (added here: with few training
    # identities the network does not learn that subtraction on its own)
    pose_input: str = "absolute"
    pose_rel_scale_deg: float = 30.0  # relative pose is divided by this and clamped to [-1, 1]
    # --- motion tokens ------------------------------------------------------------------------------------
    motion_output: str = "tokens"  # "tokens" (GRFSQ indices) | "continuous" (120-d regression)
    num_layers_rvq: int = 4  # residual layers R
    groups: int = 12  # GRFSQ groups G
    codebook_size: int = 625  # 5^4 FSQ codes per group
    motion_dim: int = 120  # dimension of the continuous motion difference Δ (continuous output)
    token_embed_dim: int = 32  # per-group embedding of R_{r-1}; 12 tables concatenated → 12 × this
    prev_cond: str = "last"  # "last": R_{r-1} only (paper); "all": sum of embeddings of all layers < r
    layer_embed_dim: int = 32  # layer indicator k ∈ {0..R-1}
    # --- backbone -----------------------------------------------------------------------------------------
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    ffn: int = 1024
    dropout: float = 0.1
    max_len: int = 1024  # learned position table, frames (25 fps)
    head_hidden: int = 0  # 0: one Linear(d, G·C); >0: per-group MLP d→head_hidden→C
    regression_loss: str = "l1"  # "l1" | "mse" for motion_output="continuous"

    def __post_init__(self) -> None:
        if self.audio_input not in ("discrete", "continuous"):
            raise ValueError(f"audio_input must be 'discrete' or 'continuous', got {self.audio_input!r}")
        if self.motion_output not in ("tokens", "continuous"):
            raise ValueError(f"motion_output must be 'tokens' or 'continuous', got {self.motion_output!r}")
        if self.prev_cond not in ("last", "all"):
            raise ValueError(f"prev_cond must be 'last' or 'all', got {self.prev_cond!r}")
        if self.audio_downsample not in ("conv", "pair"):
            raise ValueError(f"audio_downsample must be 'conv' or 'pair', got {self.audio_downsample!r}")
        if self.regression_loss not in ("l1", "mse"):
            raise ValueError(f"regression_loss must be 'l1' or 'mse', got {self.regression_loss!r}")
        if self.pose_input not in ("absolute", "both"):
            raise ValueError(f"pose_input must be 'absolute' or 'both', got {self.pose_input!r}")
        if not 0.0 <= self.face_dropout <= 1.0:
            raise ValueError(f"face_dropout must lie in [0, 1], got {self.face_dropout}")
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads")

    @property
    def n_passes(self) -> int:
        """Forward passes per generated window: R for tokens (coarse to fine), 1 for continuous output."""
        return self.num_layers_rvq if self.motion_output == "tokens" else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stage2Config:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown stage-2 config keys: {unknown}")
        return cls(**d)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(
        d_model=1024,
        n_layers=12,
        n_heads=16,
        ffn=4096,
        max_len=4096,
        head_hidden=256,
        audio_embed_dim=512,
        face_embed_dim=256,
        token_embed_dim=64,
        layer_embed_dim=64,
    ),
    "lite": dict(d_model=256, n_layers=4, n_heads=4, ffn=1024, max_len=1024, head_hidden=0),
    # a few-thousand-parameter model for unit tests
    "tiny": dict(
        d_model=32,
        n_layers=1,
        n_heads=2,
        ffn=64,
        max_len=256,
        audio_embed_dim=16,
        face_embed_dim=8,
        token_embed_dim=4,
        layer_embed_dim=4,
        dropout=0.0,
    ),
}

ABLATIONS: dict[str, dict[str, str]] = {
    "D-D": dict(audio_input="discrete", motion_output="tokens"),  # the paper's method
    "C-D": dict(audio_input="continuous", motion_output="tokens"),
    "D-C": dict(audio_input="discrete", motion_output="continuous"),
    "C-C": dict(audio_input="continuous", motion_output="continuous"),
}


def make_config(preset: str = "lite", variant: str = "D-D", **overrides: Any) -> Stage2Config:
    """Build a :class:`Stage2Config` from a preset name, a Table-4 variant and explicit overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown stage-2 preset {preset!r}; choose one of {sorted(PRESETS)}")
    if variant not in ABLATIONS:
        raise ValueError(f"unknown stage-2 variant {variant!r}; choose one of {sorted(ABLATIONS)}")
    kw: dict[str, Any] = {**PRESETS[preset], **ABLATIONS[variant], **overrides}
    return Stage2Config(**kw)


__all__ = ["ABLATIONS", "PRESETS", "Stage2Config", "make_config"]
