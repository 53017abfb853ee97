"""Probing speech tokens for phonetic content: frame labels from espeak-ng timings, viseme classes, a
context-window logistic-regression probe, codebook statistics.

Labels are defined on the 50 Hz token grid: token ``j`` covers ``[20 j, 20 (j + 1))`` ms and gets the
phoneme whose espeak-ng span contains its centre; frames before the first / after the last phoneme, or
quieter than ``silence_db`` below the utterance peak, are ``sil``.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

SILENCE = "sil"
_MODIFIERS = set("ˈˌːˑ‿͡ʲʷˠˤʰʱ̃̈̆ʼ̪̺̻̥̬̩̯̞̝̘̙˞ᵝ.|-_") | {"\u0361", "\u035c"}

# first base IPA character -> viseme class (mouth shape; 13 classes incl. silence)
_VISEME_GROUPS = {
    "bilabial": "pbmɓʙɸβ",
    "labiodental": "fvʋɱ",
    "dental": "θð",
    "alveolar": "tdnlszrɾɹɬɮʦʣɗɫɺ",
    "postalveolar": "ʃʒʂʐɕʑʧʤɻɽɭɳ",
    "palatal": "jçʝɲʎcɟ",
    "velar": "kgɡŋxɣqɢχʁɴɰʀ",
    "glottal": "hɦʔħʕ",
    "labial_glide": "wɥʍ",
    "open_vowel": "aɑæɐʌɒ",
    "front_vowel": "iɪeɛɨɘ",
    "rounded_vowel": "oɔuʊyʏøœɵɤɯ",
    "central_vowel": "əɜɚɝ",
}
VISEME_OF_CHAR = {c: name for name, chars in _VISEME_GROUPS.items() for c in chars}
VISEMES = [SILENCE, *_VISEME_GROUPS]


def normalise_phoneme(ipa: str) -> str:
    """Strip stress, length, tone digits and diacritics: ``"ˈaː"`` → ``"a"``, ``"tʲ"`` → ``"t"``."""
    decomposed = unicodedata.normalize("NFD", ipa)
    kept = [c for c in decomposed if c not in _MODIFIERS and not unicodedata.combining(c) and not c.isdigit()]
    out = "".join(kept).strip()
    return out or SILENCE


def viseme_of(phone: str) -> str:
    """Viseme class of a normalised phoneme (its first character decides; unknown → ``alveolar``)."""
    if phone == SILENCE:
        return SILENCE
    return VISEME_OF_CHAR.get(phone[0], "alveolar")


def frame_labels(timings, n_frames: int, wave: np.ndarray, rate_hz: float = 50.0, silence_db: float = 35.0):
    """Normalised phoneme label for each of ``n_frames`` token frames (see module doc)."""
    hop = int(round(16000 / rate_hz))
    labels = [SILENCE] * n_frames
    starts = np.array([t.start for t in timings]) if timings else np.zeros(0)
    for j in range(n_frames):
        centre = (j + 0.5) / rate_hz
        k = int(np.searchsorted(starts, centre, side="right")) - 1
        if 0 <= k < len(timings) and timings[k].start <= centre < timings[k].end:
            labels[j] = normalise_phoneme(timings[k].phoneme)
    # energy-based silence (pauses are attributed to the preceding phoneme by espeak's event grid)
    frames = wave[: n_frames * hop].reshape(-1, hop) if n_frames else np.zeros((0, hop))
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    if rms.size:
        quiet = 20 * np.log10(rms / rms.max()) < -silence_db
        for j in np.nonzero(quiet)[0]:
            labels[int(j)] = SILENCE
    return labels


@dataclass
class ProbeResult:
    accuracy: float
    majority: float
    n_test: int
    n_classes: int


class WindowProbe(torch.nn.Module):
    """Multinomial logistic regression on one-hot tokens in a ``[-context, +context]`` window.

    ``logits[j] = b + sum_k W_k[token[j + k]]`` (out-of-range positions use a padding index).
    """

    def __init__(self, vocab: int, n_classes: int, context: int = 2):
        super().__init__()
        self.context = context
        self.pad = vocab
        self.tables = torch.nn.ModuleList(
            [torch.nn.Embedding(vocab + 1, n_classes) for _ in range(2 * context + 1)]
        )
        for t in self.tables:
            torch.nn.init.zeros_(t.weight)
        self.bias = torch.nn.Parameter(torch.zeros(n_classes))

    def windows(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N]`` → ``[N, 2 c + 1]`` shifted copies (per utterance: call once per sequence)."""
        padded = torch.nn.functional.pad(tokens, (self.context, self.context), value=self.pad)
        return padded.unfold(0, 2 * self.context + 1, 1)

    def forward(self, win: torch.Tensor) -> torch.Tensor:
        return self.bias + sum(t(win[:, k]) for k, t in enumerate(self.tables))


class LinearWindowProbe(torch.nn.Module):
    """Logistic regression on continuous features ``[N, D]`` stacked over a ``[-context, +context]`` window
    (edges replicate the first/last frame), standardised with statistics set by :meth:`set_stats`."""

    def __init__(self, dim: int, n_classes: int, context: int = 2):
        super().__init__()
        self.context = context
        width = dim * (2 * context + 1)
        self.linear = torch.nn.Linear(width, n_classes)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    def windows(self, feats: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` → ``[N, (2 c + 1) D]``."""
        c = self.context
        padded = (
            torch.cat([feats[:1].expand(c, -1), feats, feats[-1:].expand(c, -1)]) if len(feats) else feats
        )
        return padded.unfold(0, 2 * c + 1, 1).transpose(1, 2).reshape(feats.shape[0], -1)

    def set_stats(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0) + 1e-5)

    def forward(self, win: torch.Tensor) -> torch.Tensor:
        return self.linear((win - self.mean) / self.std)


def fit_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    probe: torch.nn.Module,
    epochs: int = 30,
    weight_decay: float = 1e-4,
    lr: float = 0.1,
    seed: int = 0,
) -> torch.nn.Module:
    """Mini-batch Adam on cross-entropy plus an L2 penalty on the weights (the data is ~10^5 frames)."""
    torch.manual_seed(seed)
    if isinstance(probe, LinearWindowProbe):
        probe.set_stats(train_x)
    weights = [p for n, p in probe.named_parameters() if not n.endswith("bias")]
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    n = train_x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for start in range(0, n, 8192):
            idx = perm[start : start + 8192]
            loss = torch.nn.functional.cross_entropy(probe(train_x[idx]), train_y[idx])
            reg = weight_decay * sum((w**2).sum() for w in weights)
            opt.zero_grad()
            (loss + reg).backward()
            opt.step()
    return probe.eval()


def evaluate(probe: torch.nn.Module, windows: torch.Tensor, y: torch.Tensor) -> ProbeResult:
    with torch.no_grad():
        pred = probe(windows).argmax(dim=1)
    acc = float((pred == y).float().mean())
    counts = torch.bincount(y)
    return ProbeResult(acc, float(counts.max()) / y.numel(), int(y.numel()), int((counts > 0).sum()))


def codebook_stats(tokens: torch.Tensor, vocab: int) -> dict[str, float]:
    """Utilisation (fraction of codes used), entropy in bits and perplexity of a token stream."""
    counts = torch.bincount(tokens.flatten(), minlength=vocab).double()
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * p.log2()).sum())
    return {
        "used": int((counts > 0).sum()),
        "utilisation": float((counts > 0).float().mean()),
        "entropy_bits": entropy,
        "max_bits": math.log2(vocab),
        "perplexity": 2.0**entropy,
    }
