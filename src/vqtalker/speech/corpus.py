"""A small multilingual text corpus for synthetic (espeak-ng) training and probing speech.

Sentences were written for this project (everyday phrases; no external text source). The languages are split:

* :data:`TRAIN_LANGUAGES` (22): used to train the default codebook (plus the real speech of the data folder);
* :data:`HELDOUT_LANGUAGES` (4: Polish, Finnish, Indonesian, Vietnamese): never seen by the codebook; the
  probe (``scripts/probe_speech_tokens.py``) measures how well tokens predict phonemes/visemes there.

:func:`utterances` turns the sentences into many utterances: the original sentences plus random word
shuffles / concatenations (same phonotactics, new sequences), each paired with a random voice variant,
speaking rate and pitch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SENTENCES: dict[str, list[str]] = {
    "en": [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Please call Stella and ask her to bring these things with her from the store.",
        "We walked through the old market and bought fresh bread, cheese and apples.",
        "My brother thinks the weather will change before the weekend.",
        "Could you show me the way to the nearest railway station?",
        "She sells sea shells by the sea shore every summer morning.",
    ],
    "de": [
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        "Morgen fahren wir mit dem Zug nach München und besuchen unsere Freunde.",
        "Ich möchte gern eine Tasse Kaffee und ein Stück Kuchen bestellen.",
        "Das Wetter ist heute schön, aber am Abend soll es regnen.",
        "Können Sie mir bitte sagen, wie spät es ist?",
        "Die Kinder spielen im Garten und lachen laut.",
    ],
    "fr": [
        "Le petit chat dort tranquillement sur le canapé du salon.",
        "Nous allons au marché acheter des fruits et des légumes frais.",
        "Je voudrais réserver une table pour deux personnes ce soir.",
        "Il fait très beau aujourd'hui, allons nous promener au parc.",
        "Pouvez-vous m'indiquer le chemin de la gare, s'il vous plaît?",
        "Les enfants chantent une chanson joyeuse à l'école.",
    ],
    "es": [
        "El perro corre rápidamente por el parque detrás de la pelota.",
        "Mañana vamos a visitar a mis abuelos en el pueblo.",
        "Me gustaría pedir un café con leche y una tostada, por favor.",
        "¿Dónde está la biblioteca más cercana?",
        "Hace mucho calor en verano y las noches son largas.",
        "Mi hermana estudia medicina en la universidad de Madrid.",
    ],
    "it": [
        "Oggi il cielo è sereno e il sole splende sulla città.",
        "Vorrei un piatto di pasta con pomodoro e basilico.",
        "Domani andiamo al mare con tutta la famiglia.",
        "Scusi, dove si trova la stazione dei treni?",
        "I bambini giocano a calcio nel cortile della scuola.",
        "Mio padre legge il giornale ogni mattina a colazione.",
    ],
    "pt": [
        "O gato preto dorme em cima do muro do jardim.",
        "Amanhã vamos viajar para a praia com os nossos amigos.",
        "Eu gostaria de um copo de água e um pão de queijo.",
        "Onde fica a farmácia mais próxima, por favor?",
        "As crianças brincam no parque depois da escola.",
        "Minha mãe cozinha muito bem e faz bolos deliciosos.",
    ],
    "nl": [
        "De kat slaapt de hele dag op de vensterbank.",
        "Morgen gaan we met de fiets naar het strand.",
        "Ik wil graag een kopje thee met een koekje.",
        "Waar is het dichtstbijzijnde station, alstublieft?",
        "De kinderen spelen buiten in de regen.",
        "Mijn zus woont in een klein huis vlakbij Amsterdam.",
    ],
    "sv": [
        "Solen skiner och fåglarna sjunger i skogen.",
        "Vi ska åka till Stockholm med tåget i morgon.",
        "Jag vill gärna ha en kopp kaffe och en kanelbulle.",
        "Var ligger närmaste busshållplats?",
        "Barnen leker i parken efter skolan.",
        "Min bror arbetar på ett sjukhus i Göteborg.",
    ],
    "ru": [
        "Сегодня хорошая погода, и мы идём гулять в парк.",
        "Мой брат работает инженером на большом заводе.",
        "Скажите, пожалуйста, как пройти к вокзалу?",
        "Я люблю читать книги вечером перед сном.",
        "Дети играют во дворе и громко смеются.",
        "Завтра мы поедем на поезде в Москву.",
    ],
    "cs": [
        "Dnes je krásné počasí a jdeme na procházku.",
        "Můj bratr pracuje v nemocnici v Praze.",
        "Prosím vás, kde je nejbližší zastávka autobusu?",
        "Rád čtu knihy a poslouchám hudbu.",
        "Děti si hrají na zahradě s míčem.",
        "Zítra pojedeme vlakem na hory.",
    ],
    "el": [
        "Σήμερα ο καιρός είναι πολύ ωραίος.",
        "Θα ήθελα έναν καφέ και ένα ποτήρι νερό, παρακαλώ.",
        "Πού είναι ο σταθμός του τρένου;",
        "Τα παιδιά παίζουν στην παραλία όλη μέρα.",
        "Ο πατέρας μου διαβάζει εφημερίδα κάθε πρωί.",
        "Αύριο θα πάμε στο χωριό να δούμε τη γιαγιά.",
    ],
    "tr": [
        "Bugün hava çok güzel, parkta yürüyüş yapalım.",
        "Yarın arkadaşlarımla birlikte sinemaya gideceğim.",
        "Bir bardak çay ve bir simit istiyorum, lütfen.",
        "Affedersiniz, otobüs durağı nerede?",
        "Çocuklar bahçede top oynuyorlar.",
        "Annem her sabah kahvaltı hazırlar.",
    ],
    "ar": [
        "الجو جميل اليوم ونحن نذهب إلى الحديقة.",
        "أريد كوبا من الشاي مع قليل من السكر.",
        "أين تقع محطة القطار من فضلك؟",
        "يلعب الأطفال كرة القدم في الشارع.",
        "أخي يعمل مهندسا في شركة كبيرة.",
        "سنسافر غدا إلى البحر مع العائلة.",
    ],
    "he": [
        "היום מזג האוויר נעים מאוד.",
        "אני רוצה כוס קפה ועוגה, בבקשה.",
        "איפה נמצאת תחנת האוטובוס הקרובה?",
        "הילדים משחקים בגן אחרי בית הספר.",
        "אחי עובד בבית חולים גדול בעיר.",
        "מחר ניסע לים עם כל המשפחה.",
    ],
    "fa": [
        "امروز هوا خیلی خوب است و به پارک می رویم.",
        "من یک فنجان چای با شکر می خواهم.",
        "ببخشید، ایستگاه قطار کجاست؟",
        "بچه ها در حیاط مدرسه بازی می کنند.",
        "برادرم در یک بیمارستان بزرگ کار می کند.",
        "فردا با خانواده به کنار دریا می رویم.",
    ],
    "hi": [
        "आज मौसम बहुत अच्छा है और हम पार्क जा रहे हैं।",
        "मुझे एक कप चाय और कुछ बिस्कुट चाहिए।",
        "माफ़ कीजिए, रेलवे स्टेशन कहाँ है?",
        "बच्चे मैदान में क्रिकेट खेल रहे हैं।",
        "मेरा भाई एक बड़े अस्पताल में काम करता है।",
        "कल हम अपने दादा दादी से मिलने गाँव जाएँगे।",
    ],
    "sw": [
        "Leo hali ya hewa ni nzuri sana na tunaenda sokoni.",
        "Ningependa kikombe cha chai na mkate, tafadhali.",
        "Samahani, kituo cha basi kiko wapi?",
        "Watoto wanacheza mpira uwanjani baada ya shule.",
        "Kaka yangu anafanya kazi katika hospitali kubwa.",
        "Kesho tutasafiri kwenda pwani pamoja na familia.",
    ],
    "ko": [
        "오늘은 날씨가 아주 좋아서 공원에 갑니다.",
        "커피 한 잔하고 빵 하나 주세요.",
        "실례합니다, 지하철역이 어디에 있어요?",
        "아이들이 운동장에서 축구를 하고 있어요.",
        "제 동생은 큰 병원에서 일해요.",
        "내일 가족과 함께 바다에 갈 거예요.",
    ],
    "ja": [
        "きょうは てんきが とても いいので こうえんに いきます。",
        "コーヒーを ひとつと パンを ください。",
        "すみません、えきは どこですか。",
        "こどもたちが こうていで サッカーを しています。",
        "わたしの あには おおきな びょういんで はたらいています。",
        "あした かぞくと いっしょに うみへ いきます。",
    ],
    "zh": [
        "今天天气很好，我们去公园散步。",
        "我想要一杯茶和一块蛋糕。",
        "请问，火车站在哪里？",
        "孩子们在操场上踢足球。",
        "我哥哥在一家大医院工作。",
        "明天我们全家一起去海边。",
    ],
    "ta": [
        "இன்று வானிலை மிகவும் நன்றாக இருக்கிறது.",
        "எனக்கு ஒரு கப் தேநீர் வேண்டும்.",
        "மன்னிக்கவும், ரயில் நிலையம் எங்கே இருக்கிறது?",
        "குழந்தைகள் மைதானத்தில் விளையாடுகிறார்கள்.",
        "என் அண்ணன் ஒரு பெரிய மருத்துவமனையில் வேலை செய்கிறார்.",
        "நாளை நாங்கள் கடற்கரைக்கு போகிறோம்.",
    ],
    "ro": [
        "Astăzi vremea este foarte frumoasă și mergem în parc.",
        "Aș vrea o cafea și o prăjitură, vă rog.",
        "Scuzați-mă, unde este gara?",
        "Copiii se joacă cu mingea în curtea școlii.",
        "Fratele meu lucrează la un spital mare din oraș.",
        "Mâine mergem cu toată familia la mare.",
    ],
    # ---- held out from codebook training -----------------------------------------------------------
    "pl": [
        "Dzisiaj jest piękna pogoda i idziemy na spacer do parku.",
        "Poproszę filiżankę kawy i kawałek ciasta.",
        "Przepraszam, gdzie jest dworzec kolejowy?",
        "Dzieci grają w piłkę na boisku po szkole.",
        "Mój brat pracuje w dużym szpitalu w Krakowie.",
        "Jutro pojedziemy całą rodziną nad morze.",
        "Szybki brązowy lis przeskakuje nad leniwym psem.",
        "Lubię czytać książki wieczorem przy herbacie.",
    ],
    "fi": [
        "Tänään on kaunis sää ja menemme puistoon kävelylle.",
        "Saisinko kupin kahvia ja palan kakkua, kiitos.",
        "Anteeksi, missä on rautatieasema?",
        "Lapset pelaavat jalkapalloa koulun pihalla.",
        "Veljeni työskentelee suuressa sairaalassa Helsingissä.",
        "Huomenna lähdemme koko perheen kanssa mökille.",
        "Kissa nukkuu ikkunalaudalla koko päivän.",
        "Luen mielelläni kirjoja illalla ennen nukkumaanmenoa.",
    ],
    "id": [
        "Hari ini cuacanya sangat cerah dan kami pergi ke taman.",
        "Saya mau secangkir kopi dan sepotong kue, tolong.",
        "Permisi, di mana stasiun kereta api?",
        "Anak-anak bermain sepak bola di lapangan sekolah.",
        "Kakak saya bekerja di rumah sakit besar di Jakarta.",
        "Besok kami sekeluarga akan pergi ke pantai.",
        "Kucing itu tidur di atas kursi sepanjang hari.",
        "Saya suka membaca buku sebelum tidur.",
    ],
    "vi": [
        "Hôm nay trời rất đẹp và chúng tôi đi dạo trong công viên.",
        "Cho tôi một ly cà phê sữa và một cái bánh mì.",
        "Xin lỗi, nhà ga xe lửa ở đâu?",
        "Bọn trẻ đang chơi bóng đá ở sân trường.",
        "Anh trai tôi làm việc ở một bệnh viện lớn ở Hà Nội.",
        "Ngày mai cả gia đình tôi sẽ đi biển.",
        "Con mèo ngủ trên ghế cả ngày.",
        "Tôi thích đọc sách vào buổi tối.",
    ],
}

HELDOUT_LANGUAGES: tuple[str, ...] = ("pl", "fi", "id", "vi")
TRAIN_LANGUAGES: tuple[str, ...] = tuple(k for k in SENTENCES if k not in HELDOUT_LANGUAGES)

VOICE_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
_NO_SPACE = ("zh", "ja")


@dataclass(frozen=True)
class Utterance:
    """Text plus the espeak-ng speaking style used to synthesise it."""

    lang: str
    text: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int


def _words(lang: str, sentence: str) -> list[str]:
    if lang == "zh":
        return [c for c in sentence if not c.isspace()]
    return sentence.split()


def utterances(lang: str, n: int, seed: int = 0, shuffle_fraction: float = 0.6) -> list[Utterance]:
    """``n`` utterances in ``lang``: sentences and word-shuffled recombinations, random voice/rate/pitch."""
    rng = random.Random(f"{lang}-{seed}")
    sents = SENTENCES[lang]
    pool = [w for s in sents for w in _words(lang, s)]
    sep = "" if lang == "zh" else " "
    out = []
    for i in range(n):
        if i < len(sents) or rng.random() > shuffle_fraction:
            text = sents[i % len(sents)] if i < len(sents) else rng.choice(sents)
        else:
            k = rng.randint(4, 12)
            text = sep.join(rng.choice(pool) for _ in range(k))
        out.append(
            Utterance(
                lang=lang,
                text=text,
                voice=rng.choice(VOICE_VARIANTS),
                rate=rng.randint(120, 240),
                pitch=rng.randint(20, 80),
                pitch_range=rng.randint(20, 90),
            )
        )
    return out
