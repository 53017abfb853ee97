"""The stage-2 network: a bidirectional transformer (BERT) from speech + controls to motion tokens.

Per frame t (25 fps) and residual layer r the input is the concatenation (paper, Eq. "C_r")

    [ speech(t) | pose(t)/90 | gaze(t) | blink(t) | E_prev(R_{r-1}(t)) | P(f_g) | E_layer(r) ]

* speech: 2 steps per frame at 50 Hz. Discrete tokens → ``Embedding(vocab + 1, A)`` (the extra id is the
  padding token); continuous features ``[.., audio_dim]`` → ``Linear(audio_dim, A)``. 50 Hz → 25 Hz either by
  ``Conv1d(A, A, k=3, s=2, p=1)`` (``audio_downsample="conv"``, default; AniTalker's HuBERT path) or by
  concatenating the two steps of a frame → ``Linear(2A, A)`` (``"pair"``).
* pose: yaw/pitch/roll in degrees, divided by 90 and clamped to [-1, 1]; gaze [2] and blink [2] as given.
* R_{r-1}: 12 embedding tables (one per group, 625 codes each), concatenated → ``12 · E``; the zero vector
  for r = 0. With ``prev_cond="all"`` every lower layer has its own 12 tables and their embeddings are summed.
* f_g: the stage-1 global face feature of the source (``[B, 512]``), projected and broadcast over time.
* layer indicator k = r: ``Embedding(R, K)``.

The concatenation is projected to ``d_model``, layer-normed, added to learned positions, and passed through
``nn.TransformerEncoder`` (post-LN, GELU, non-causal, key-padding mask). Heads: ``Linear(d, 12·625)`` or
per-group MLPs ``d → head_hidden → 625`` (token output), or ``Linear(d, 120)`` (continuous output). One
parameter set serves all residual layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqtalker.generate.config import Stage2Config


class SpeechEncoder(nn.Module):
    """50 Hz speech tokens ``[B, 2T]`` (long) or features ``[B, 2T, audio_dim]`` → per-frame ``[B, T, A]``."""

    def __init__(self, cfg: Stage2Config):
        super().__init__()
        self.cfg = cfg
        a = cfg.audio_embed_dim
        if cfg.audio_input == "discrete":
            self.pad_id = cfg.speech_vocab
            self.embed: nn.Module = nn.Embedding(cfg.speech_vocab + 1, a)
        else:
            self.pad_id = None
            self.embed = nn.Linear(cfg.audio_dim, a)
        r = cfg.audio_rate_ratio
        if cfg.audio_downsample == "conv":
            if r != 2:
                raise ValueError("audio_downsample='conv' assumes 2 audio steps per frame (50 Hz → 25 fps)")
            self.down: nn.Module = nn.Conv1d(a, a, kernel_size=3, stride=2, padding=1)
        else:
            self.down = nn.Linear(r * a, a)

    def align(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Truncate or pad the audio axis (dim 1) to exactly ``ratio · n_frames`` steps."""
        need = self.cfg.audio_rate_ratio * n_frames
        n = audio.shape[1]
        if n >= need:
            return audio[:, :need]
        if self.cfg.audio_input == "discrete":
            pad = audio.new_full((audio.shape[0], need - n), self.pad_id)
        else:
            pad = audio.new_zeros((audio.shape[0], need - n, audio.shape[2]))
        return torch.cat([audio, pad], dim=1)

    def forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        audio = self.align(audio, n_frames)
        if self.cfg.audio_input == "discrete":
            if audio.dtype not in (torch.int64, torch.int32, torch.int16):
                raise TypeError("discrete audio input must be integer speech tokens [B, 2T]")
            if audio.numel() and (int(audio.min()) < 0 or int(audio.max()) > self.cfg.speech_vocab):
                raise ValueError(f"speech token ids must lie in [0, {self.cfg.speech_vocab})")
            x = self.embed(audio.long())
        else:
            x = self.embed(audio.float())
        b = x.shape[0]
        if self.cfg.audio_downsample == "conv":
            return self.down(x.transpose(1, 2)).transpose(1, 2)[:, :n_frames]
        return self.down(x.reshape(b, n_frames, -1))


class PrevLayerEmbedding(nn.Module):
    """Embed the known lower residual layers of ``tokens [B, T, R, G]`` for target layer ``r [B]`` → ``[B,
    T, G·E]``.

    ``prev_cond="last"``: 12 tables (one per group), applied to layer r−1; rows with r = 0 get the zero
    vector. ``prev_cond="all"``: R·12 tables, embeddings of all layers < r summed (zero for r = 0).
    """

    def __init__(self, cfg: Stage2Config):
        super().__init__()
        self.cfg = cfg
        n_tables = cfg.groups if cfg.prev_cond == "last" else cfg.num_layers_rvq * cfg.groups
        self.embed = nn.Embedding(n_tables * cfg.codebook_size, cfg.token_embed_dim)
        offsets = torch.arange(n_tables) * cfg.codebook_size
        self.register_buffer("offsets", offsets, persistent=False)

    def forward(self, tokens: torch.Tensor | None, layer: torch.Tensor, n_frames: int) -> torch.Tensor:
        cfg = self.cfg
        b = layer.shape[0]
        out_dim = cfg.groups * cfg.token_embed_dim
        if tokens is None:
            if bool((layer > 0).any()):
                raise ValueError("tokens of the lower residual layers are required for layer r > 0")
            return self.embed.weight.new_zeros(b, n_frames, out_dim)
        tokens = tokens.long()
        if cfg.prev_cond == "last":
            prev = tokens.gather(
                2, (layer - 1).clamp(min=0).view(b, 1, 1, 1).expand(-1, n_frames, 1, cfg.groups)
            )
            prev = prev[:, :, 0]  # [B, T, G]
            e = self.embed(prev + self.offsets.view(1, 1, -1))  # [B, T, G, E]
            e = e * (layer > 0).view(b, 1, 1, 1).to(e.dtype)  # zero vector for r = 0
            return e.reshape(b, n_frames, out_dim)
        r_all = cfg.num_layers_rvq
        idx = tokens + self.offsets.view(1, 1, r_all, cfg.groups)
        e = self.embed(idx)  # [B, T, R, G, E]
        keep = (torch.arange(r_all, device=layer.device).view(1, r_all) < layer.view(b, 1)).to(e.dtype)
        e = (e * keep.view(b, 1, r_all, 1, 1)).sum(dim=2)
        return e.reshape(b, n_frames, out_dim)


class MotionTokenBERT(nn.Module):
    """Stage-2 generator. See the module docstring for the input layout.

    ``forward(audio, pose, gaze, blink, f_g, tokens, layer, mask)``:

    * ``audio``: ``[B, 2T]`` long speech tokens at 50 Hz, or ``[B, 2T, audio_dim]`` float features;
    * ``pose`` ``[B, T, 3]`` degrees, ``gaze`` ``[B, T, 2]``, ``blink`` ``[B, T, 2]`` (25 fps);
    * ``f_g`` ``[B, face_dim]``;
    * ``tokens``: ``[B, T, R, G]`` long, the residual layers known so far (only layers < ``layer`` are read;
      may be ``None`` when every ``layer`` is 0);
    * ``layer``: int or ``[B]`` long, the residual layer r to predict;
    * ``mask``: ``[B, T]`` bool, True on valid frames (False = padding), or ``None``;
    * ``pose_ref``: ``[B, 3]`` degrees, the head pose of the reference frame (used when
      ``cfg.pose_input == "both"``; ``None`` = the first frame of the window).

    Returns logits ``[B, T, G, C]`` (= ``[B, T, 12, 625]``) for token output, or the motion difference
    ``[B, T, 120]`` for continuous output.
    """

    def __init__(self, cfg: Stage2Config):
        super().__init__()
        self.cfg = cfg
        self.speech = SpeechEncoder(cfg)
        self.prev = PrevLayerEmbedding(cfg)
        self.face_proj = nn.Linear(cfg.face_dim, cfg.face_embed_dim)
        self.layer_embed = nn.Embedding(cfg.num_layers_rvq, cfg.layer_embed_dim)
        in_dim = (
            cfg.audio_embed_dim
            + (6 if cfg.pose_input == "both" else 3)
            + 2
            + 2
            + cfg.groups * cfg.token_embed_dim
            + cfg.face_embed_dim
            + cfg.layer_embed_dim
        )
        self.input_dim = in_dim
        self.in_proj = nn.Linear(in_dim, cfg.d_model)
        self.in_norm = nn.LayerNorm(cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.n_heads,
            cfg.ffn,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=False,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        g, c = cfg.groups, cfg.codebook_size
        if cfg.motion_output == "tokens":
            if cfg.head_hidden > 0:
                self.head_in = nn.Linear(cfg.d_model, g * cfg.head_hidden)
                self.head_w = nn.Parameter(torch.randn(g, cfg.head_hidden, c) / cfg.head_hidden**0.5)
                self.head_b = nn.Parameter(torch.zeros(g, c))
            else:
                self.head = nn.Linear(cfg.d_model, g * c)
        else:
            self.head = nn.Linear(cfg.d_model, cfg.motion_dim)
        if cfg.mouth_aux > 0:
            self.mouth_head = nn.Linear(cfg.d_model, 1)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def build_inputs(self, audio, pose, gaze, blink, f_g, tokens, layer, pose_ref=None) -> torch.Tensor:
        """The per-frame concatenation C_r ``[B, T, input_dim]``."""
        cfg = self.cfg
        b, t = pose.shape[:2]
        if isinstance(layer, int):
            layer = torch.full((b,), layer, dtype=torch.long, device=pose.device)
        layer = layer.long().view(b)
        if bool(((layer < 0) | (layer >= cfg.num_layers_rvq)).any()):
            raise ValueError(f"layer must lie in [0, {cfg.num_layers_rvq})")
        sp = self.speech(audio, t)
        pose_n = (pose.float() / cfg.pose_scale_deg).clamp(-1.0, 1.0)
        if cfg.pose_input == "both":
            ref = pose[:, :1].float() if pose_ref is None else pose_ref.float().view(b, 1, 3)
            rel = ((pose.float() - ref) / cfg.pose_rel_scale_deg).clamp(-1.0, 1.0)
            pose_n = torch.cat([pose_n, rel], dim=-1)
        prev = self.prev(tokens, layer, t)
        face = self.face_proj(f_g.float())
        if self.training and cfg.face_dropout > 0:
            keep = torch.rand(b, 1, device=face.device) >= cfg.face_dropout
            face = face * keep
        face = face.unsqueeze(1).expand(-1, t, -1)
        lay = self.layer_embed(layer).unsqueeze(1).expand(-1, t, -1)
        return torch.cat([sp, pose_n, gaze.float(), blink.float(), prev, face, lay], dim=-1)

    def forward(
        self, audio, pose, gaze, blink, f_g, tokens=None, layer=0, mask=None, pose_ref=None, aux=None
    ) -> torch.Tensor:
        """See the class docstring. ``aux``: a dict that receives ``aux["mouth"] [B, T]`` (the auxiliary
        mouth-opening prediction) when the model has a mouth head."""
        cfg = self.cfg
        b, t = pose.shape[:2]
        if t > cfg.max_len:
            raise ValueError(f"sequence of {t} frames exceeds max_len={cfg.max_len}; generate in windows")
        x = self.build_inputs(audio, pose, gaze, blink, f_g, tokens, layer, pose_ref)
        x = self.in_norm(self.in_proj(x)) + self.pos.weight[:t].unsqueeze(0)
        x = self.drop(x)
        pad = None if mask is None else ~mask.bool()
        h = self.encoder(x, src_key_padding_mask=pad)
        if aux is not None and hasattr(self, "mouth_head"):
            aux["mouth"] = self.mouth_head(h).squeeze(-1)
        if cfg.motion_output == "continuous":
            return self.head(h)
        g, c = cfg.groups, cfg.codebook_size
        if cfg.head_hidden > 0:
            z = F.gelu(self.head_in(h)).view(b, t, g, cfg.head_hidden)
            return torch.einsum("btgh,ghc->btgc", z, self.head_w) + self.head_b
        return self.head(h).view(b, t, g, c)


def build_model(cfg: Stage2Config) -> MotionTokenBERT:
    """Build the stage-2 network for ``cfg`` (the diffusers-style builder used by the trainer and
    pipeline)."""
    return MotionTokenBERT(cfg)


__all__ = ["MotionTokenBERT", "PrevLayerEmbedding", "SpeechEncoder", "build_model"]
