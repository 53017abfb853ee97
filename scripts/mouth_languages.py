"""How well does the audio mouth model follow speech in languages it never saw? Held-out languages have no
video here, so the reference is espeak-ng's own phoneme timings: speak sentences in ≥ 20 languages that are
not in the training videos (those are English, Mandarin, French), with several voices and rates, and
correlate the audio model's mouth opening (the predictor alone: no text path, no voice-activity gate) with
the text path's viseme track of the same utterance (:mod:`vqtalker.mouth.visemes`).

    python scripts/mouth_languages.py --mouth src/vqtalker/weights/stage2/mouth.safetensors [--json OUT]

Prints a markdown table (per language: mean correlation over utterances, and the bilabial-closure rate: the
share of /p b m/ whose predicted opening dips below the utterance's 15th percentile within ±1 frame, next to
the same rate at random frames of the utterance — the chance level).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

SENTENCES = {
    "de": ["Guten Morgen, wie geht es dir heute?", "Meine Mutter backt am Montag einen Apfelkuchen."],
    "es": ["Buenos días, ¿cómo estás hoy?", "Mi madre compra pan y manzanas en el mercado."],
    "it": ["Buongiorno, come stai oggi?", "Mia madre compra il pane e la mela al mercato."],
    "pt": ["Bom dia, como você está hoje?", "Minha mãe compra pão e maçãs no mercado."],
    "nl": ["Goedemorgen, hoe gaat het met je vandaag?", "Mijn moeder koopt brood en appels op de markt."],
    "sv": ["God morgon, hur mår du idag?", "Min mamma köper bröd och äpplen på marknaden."],
    "pl": ["Dzień dobry, jak się dzisiaj masz?", "Moja mama kupuje chleb i jabłka na rynku."],
    "ru": ["Доброе утро, как ты сегодня?", "Моя мама покупает хлеб и яблоки на рынке."],
    "cs": ["Dobré ráno, jak se dnes máš?", "Moje máma kupuje chléb a jablka na trhu."],
    "tr": ["Günaydın, bugün nasılsın?", "Annem pazardan ekmek ve elma alıyor."],
    "ar": ["صباح الخير، كيف حالك اليوم؟", "أمي تشتري الخبز والتفاح من السوق."],
    "he": ["בוקר טוב, מה שלומך היום?", "אמא שלי קונה לחם ותפוחים בשוק."],
    "fa": ["صبح بخیر، امروز حالت چطور است؟", "مادرم از بازار نان و سیب می خرد."],
    "hi": ["सुप्रभात, आज आप कैसे हैं?", "मेरी माँ बाज़ार से रोटी और सेब खरीदती है।"],
    "bn": ["সুপ্রভাত, আজ তুমি কেমন আছ?", "আমার মা বাজার থেকে রুটি আর আপেল কেনেন।"],
    "ja": ["おはようございます、今日はお元気ですか?", "母は市場でパンとりんごを買います。"],
    "ko": ["좋은 아침입니다, 오늘 기분이 어떠세요?", "엄마는 시장에서 빵과 사과를 삽니다."],
    "vi": ["Chào buổi sáng, hôm nay bạn khỏe không?", "Mẹ tôi mua bánh mì và táo ở chợ."],
    "id": ["Selamat pagi, apa kabar hari ini?", "Ibu saya membeli roti dan apel di pasar."],
    "sw": ["Habari za asubuhi, hujambo leo?", "Mama yangu ananunua mkate na mapera sokoni."],
    "el": ["Καλημέρα, πώς είσαι σήμερα;", "Η μητέρα μου αγοράζει ψωμί και μήλα στην αγορά."],
    "fi": ["Hyvää huomenta, mitä kuuluu tänään?", "Äitini ostaa leipää ja omenoita torilta."],
    "hu": ["Jó reggelt, hogy vagy ma?", "Anyám kenyeret és almát vesz a piacon."],
    "ro": ["Bună dimineața, ce mai faci astăzi?", "Mama mea cumpără pâine și mere de la piață."],
    "ta": ["காலை வணக்கம், இன்று எப்படி இருக்கிறீர்கள்?", "என் அம்மா சந்தையில் ரொட்டியும் ஆப்பிளும் வாங்குகிறார்."],
    "uk": ["Доброго ранку, як ти сьогодні?", "Моя мама купує хліб і яблука на ринку."],
}
VOICES = [(None, 150), ("f2", 175), ("m3", 200)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mouth", required=True, help="mouth predictor file")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from vqtalker.face.lips import corr
    from vqtalker.mouth.predictor import load_mouth_predictor
    from vqtalker.mouth.visemes import articulation, openness_track
    from vqtalker.tts import synthesize

    model, _ = load_mouth_predictor(args.mouth)
    rows = {}
    for lang, sentences in SENTENCES.items():
        cs, closures, n_bil, chance = [], 0, 0, []
        rng = np.random.default_rng(0)
        for text in sentences:
            for voice, rate in VOICES:
                wave, sr, ph = synthesize(text, lang, voice=voice, rate=rate)
                t = len(wave) // 640
                if t < 10:
                    continue
                pred = model.predict(wave, t).numpy()
                ref = openness_track(ph, t)
                cs.append(corr(pred, ref))
                q = np.percentile(pred, 15)
                dips = lambda k, pred=pred, q=q: bool(pred[max(0, k - 1) : k + 2].min() <= q)  # noqa: E731
                lo, hi = int(ph[0].start * 25), max(int(ph[-1].end * 25), int(ph[0].start * 25) + 1)
                for p in ph:
                    if articulation(p.phoneme).closure:
                        k = int(0.5 * (p.start + p.end) * 25)
                        n_bil += 1
                        closures += dips(k)
                        chance.append(dips(int(rng.integers(lo, hi))))
        rows[lang] = {
            "corr": float(np.nanmean(cs)),
            "utterances": len(cs),
            "bilabial_closure": closures / n_bil if n_bil else float("nan"),
            "bilabials": n_bil,
            "chance": float(np.mean(chance)) if chance else float("nan"),
        }
        print(
            f"{lang}: corr {rows[lang]['corr']:.3f}, closures {rows[lang]['bilabial_closure']:.2f}",
            flush=True,
        )
    print("\n| language | utterances | corr with espeak visemes | bilabial closures reached (chance) |")
    print("|---|---|---|---|")
    for lang, r in rows.items():
        print(
            f"| {lang} | {r['utterances']} | {r['corr']:.3f} | "
            f"{r['bilabial_closure']:.2f} ({r['chance']:.2f}) "
            f"of {r['bilabials']} |"
        )
    mean = np.nanmean([r["corr"] for r in rows.values()])
    clo = np.nanmean([r["bilabial_closure"] for r in rows.values()])
    cha = np.nanmean([r["chance"] for r in rows.values()])
    print(f"| **mean ({len(rows)} languages)** | | **{mean:.3f}** | **{clo:.2f}** ({cha:.2f}) |")
    if args.json:
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(rows, indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
