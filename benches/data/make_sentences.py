#!/usr/bin/env python3
"""Writes benches/data/sentences.txt: 1,000 optical-practice sentences for the embedding benchmarks.

Deterministic (fixed seed, no input, standard library only): the same file on every run and every
machine, so the Rust (candle) benchmark and the sentence-transformers peer benchmark
(scripts/bench_embed_peer.py) embed exactly the same text. Every line is 5–40 words; lengths
follow a skewed mix like a practice's real text: many short search queries and notes, fewer long
case notes and customer messages.

Usage: python3 benches/data/make_sentences.py [OUT]   (default: sentences.txt beside this file)
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 20240611
COUNT = 1000
MIN_WORDS, MAX_WORDS = 5, 40
# (lowest words, highest words, share of lines)

V = {
    "first": ["Maria", "James", "Aisha", "Tom", "Priya", "Liam", "Sofia", "Noah", "Chen", "Olga",
              "Mateo", "Grace", "Yusuf", "Emma", "Kofi", "Hannah", "Ravi", "Lucía", "Ben", "Ingrid"],
    "last": ["Okafor", "Smith", "Kowalski", "Nguyen", "García", "Patel", "O'Brien", "Müller",
             "Haddad", "Jensen", "Rossi", "Tanaka", "Dubois", "Ivanova", "Clarke", "Mensah"],
    "patient": ["the patient", "a new patient", "the child", "an elderly patient", "the teenager",
                "a returning customer", "the student", "a contact lens wearer", "the driver",
                "a construction worker", "the pilot", "a diabetic patient", "the toddler",
                "a first-time wearer", "the office worker"],
    "material": ["polycarbonate", "Trivex", "CR-39", "1.60 high-index", "1.67 high-index",
                 "1.74 high-index", "crown glass", "NXT"],
    "thin_material": ["polycarbonate", "Trivex", "1.60 high-index", "1.67 high-index",
                      "1.74 high-index", "NXT"],
    "coating": ["anti-reflective", "blue-light filtering", "scratch-resistant", "hydrophobic",
                "oleophobic", "UV400", "mirror", "anti-fog"],
    "tint": ["photochromic", "polarized", "grey gradient", "brown 85%", "rose 15%", "clear"],
    "design": ["single vision", "progressive", "bifocal", "occupational", "myopia control",
               "digital freeform progressive", "anti-fatigue", "lenticular", "flat-top 28 bifocal"],
    "lens": ["lenses", "lens pair", "left lens", "right lens", "spectacle lenses", "sunglass lenses"],
    "frame_mat": ["acetate", "titanium", "stainless steel", "TR90", "memory metal", "rimless",
                  "semi-rimless", "wood", "beta-titanium"],
    "frame_shape": ["round", "rectangular", "cat-eye", "aviator", "browline", "oversized",
                    "wraparound", "oval", "geometric", "panto"],
    "cl": ["daily disposable contacts", "monthly silicone hydrogel lenses", "toric contact lenses",
           "multifocal contacts", "rigid gas permeable lenses", "ortho-k lenses",
           "scleral lenses", "two-week lenses", "coloured contact lenses"],
    "condition": ["dry eye", "astigmatism", "presbyopia", "progressing myopia", "amblyopia",
                  "a suspected glaucoma", "early cataract", "keratoconus", "blepharitis",
                  "computer vision syndrome", "anisometropia", "floaters", "migraine with aura",
                  "hyperopia", "convergence insufficiency"],
    "symptom": ["blurred distance vision", "headaches after reading", "itchy eyes", "glare at night",
                "double vision", "eye strain at the computer", "red eyes", "halos around lights",
                "trouble reading menus", "watery eyes in the wind", "discomfort by the afternoon",
                "sudden flashes", "swim-y vision with the new progressives"],
    "staff": ["the optometrist", "our dispensing optician", "the lab technician", "reception",
              "the practice manager", "Dr. Haddad", "Dr. Lindqvist", "the contact lens optician",
              "the orthoptist", "the trainee optician"],
    "exam": ["eye exam", "contact lens check", "OCT scan", "visual field test", "retinal photo",
             "dilated exam", "aftercare appointment", "binocular vision assessment",
             "driving vision test", "myopia management review", "children's eye test"],
    "day": ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday",
            "next week", "tomorrow", "on the 14th", "at the end of the month", "after school",
            "this afternoon"],
    "duration": ["two days", "a week", "three weeks", "about a month", "several months", "a year",
                 "most of the summer"],
    "time": ["9:00", "9:30", "10:15", "11:45", "12:30", "14:00", "15:20", "16:45", "17:30"],
    "issue": ["a loose hinge", "a bent temple", "a scratched lens", "a missing nose pad",
              "a cracked bridge", "a screw that keeps falling out", "peeling coating",
              "lenses that pop out", "frames sliding down the nose", "a wrong axis on the left lens",
              "the wrong segment height", "a chipped rimless mount"],
    "product": ["lens cleaning spray", "microfibre cloth", "hard case", "sports strap",
                "clip-on sun filter", "preservative-free eye drops", "heated eye mask",
                "travel contact lens case", "anti-fog wipes", "screw repair kit",
                "peroxide lens solution", "multipurpose solution"],
    "insurer": ["VisionCare Plus", "Optima Health", "the NHS voucher scheme", "BlueShield Vision",
                "EyeMed", "the employer's plan", "CityHealth", "a flexible spending account"],
    "activity": ["football", "swimming", "cycling", "skiing", "reading", "night driving",
                 "computer work", "fishing", "climbing", "playing the piano", "golf", "welding",
                 "gaming", "tennis"],
    "supplier": ["the Essilor lab", "Hoya", "Zeiss", "the in-house edging lab", "Rodenstock",
                 "our frame distributor", "CooperVision", "Bausch + Lomb", "Johnson & Johnson Vision"],
    "status": ["has been placed", "is back from the lab", "is ready for collection",
               "was sent for a remake", "is delayed by a week", "failed the quality check",
               "is awaiting payment", "was glazed this morning", "needs a final adjustment"],
}


def sph() -> str:
    v = random.choice([-1, 1]) * random.randrange(0, 33) * 0.25
    return f"{v:+.2f}" if v else "plano"


def cyl() -> str:
    return f"-{random.randrange(1, 13) * 0.25:.2f}"


def axis() -> str:
    return str(random.choice([5, 10, 15, 30, 45, 60, 75, 80, 90, 95, 105, 120, 135, 150, 165, 175, 180]))


def add() -> str:
    return f"+{random.randrange(3, 13) * 0.25:.2f}"


def pd() -> str:
    return str(random.randrange(54, 72))


def price() -> str:
    return random.choice(["£", "$", "€"]) + str(random.choice([19, 29, 45, 79, 99, 129, 149, 199, 249, 320, 410]))


def age() -> str:
    return str(random.choice([4, 6, 7, 9, 11, 13, 16, 19, 24, 31, 38, 42, 47, 53, 58, 64, 71, 79, 86]))


SLOT_FUNCS = {"sph": sph, "cyl": cyl, "axis": axis, "add": add, "pd": pd, "price": price, "age": age,
              "name": lambda: f"{random.choice(V['first'])} {random.choice(V['last'])}",
              "order": lambda: f"#{random.randrange(10000, 99999)}"}

# Core sentences: queries, notes, messages, descriptions.
CORES = [
    "what lens material suits {patient} for {activity}?",
    "best coating for {symptom}",
    "{design} {lens} in {material}",
    "does {insurer} cover {design} {lens}?",
    "how long do {cl} last?",
    "{cl} for {condition}",
    "book {exam} for {name} {day}",
    "{name} called about {issue}",
    "order {order} {status}",
    "{frame_shape} {frame_mat} frames for a narrow face",
    "price of {tint} {material} {lens}",
    "can I wear {cl} with {condition}?",
    "recommend frames for {activity}",
    "{staff} will see {patient} at {time} {day}",
    "Rx OD {sph} / {cyl} x {axis}, OS {sph} / {cyl} x {axis}, ADD {add}, PD {pd} mm",
    "{patient} has had {symptom} for {duration}",
    "is {thin_material} thinner than CR-39 for a {sph} prescription?",
    "{patient}, aged {age}, has {condition} and wants {cl}",
    "{product} is out of stock at the front desk",
    "refund request for {order} because of {issue}",
    "{patient} prefers {frame_mat} frames that weigh very little",
    "remake {order}: {issue}",
    "{supplier} confirmed that order {order} {status}",
    "why do my new {design} glasses feel strange?",
    "difference between {tint} and {coating} coating",
    "children's {frame_mat} frames with spring hinges",
    "{exam} overdue for {name}",
    "{name} wants {tint} {design} sunglasses for {activity}",
    "claim submitted to {insurer} for {order}",
    "fit {cl} for {patient} with {condition}",
    "{staff} adjusted the frame because of {issue}",
    "do {coating} lenses help with {symptom}?",
    "reorder {product} from {supplier}",
    "{design} {lens} with {coating} and {tint} options cost {price}",
    "{patient} lost one of the {cl} and needs a replacement",
]

# Clauses that lengthen a core sentence.
TAILS = [
    "and asked whether {insurer} will cover it",
    "because {patient} has {condition}",
    "before the {exam} {day}",
    "and {staff} recommended {material} {lens} with {coating} coating",
    "so please call back after {time}",
    "while the frame {status}",
    "since the last prescription was OD {sph} / {cyl} x {axis}",
    "and would like {frame_shape} {frame_mat} frames in a similar size",
    "but the budget is about {price} including {coating} coating",
    "and mentioned {symptom} when doing {activity}",
    "after {staff} noted {issue}",
    "with a pupillary distance of {pd} mm",
    "and needs them before going back to {activity}",
    "as {supplier} said the order {status}",
    "and the {exam} showed {condition}",
    "because the previous {cl} caused {symptom}",
    "and wants to try {cl} for {activity}",
    "and the parent asked about {design} lenses for {condition}",
]
PREFIXES = ["Note:", "Follow-up:", "Phone message:", "Hi,", "Reminder:", "Urgent:", "FYI",
            "Customer email:", "Lab note:", "Question from the website:"]
ENDINGS = ["Thanks.", "Please advise.", "Logged by reception.", "No charge.",
           "Patient is happy to wait.", "Awaiting a reply."]


def fill(template: str) -> str:
    out, i = [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        k = template.index("}", j)
        out.append(template[i:j])
        key = template[j + 1:k]
        out.append(SLOT_FUNCS[key]() if key in SLOT_FUNCS else random.choice(V[key]))
        i = k + 1
    return "".join(out)


def sentence(tails: int) -> str:
    core = fill(random.choice(CORES))
    question = core.endswith("?")
    words = core.rstrip("?.").split()
    if random.random() < 0.2 + 0.1 * tails:
        words = fill(random.choice(PREFIXES)).split() + words
    for tail in random.sample(TAILS, tails):
        words += fill(tail).split()
    text = " ".join(words)
    text = text[0].upper() + text[1:] + ("?" if question and not tails else ".")
    if random.random() < 0.15 + 0.1 * tails:
        text += " " + random.choice(ENDINGS)
    return text


def target_lengths() -> list[int]:
    """COUNT word counts from a right-skewed (log-normal) curve: median ~13, long tail to 40."""
    out: list[int] = []
    while len(out) < COUNT:
        n = round(random.lognormvariate(2.6, 0.5))
        if MIN_WORDS <= n <= MAX_WORDS:
            out.append(n)
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sentences.txt")
    random.seed(SEED)
    # A pool of distinct candidates by word count, then one pick per target length (the nearest
    # length that still has candidates), so the lengths follow target_lengths() closely.
    pool: dict[int, list[str]] = {}
    seen: set[str] = set()
    for _ in range(40 * COUNT):
        s = sentence(random.choice([0, 0, 0, 1, 1, 1, 2, 2, 3, 4]))
        n = len(s.split())
        if MIN_WORDS <= n <= MAX_WORDS and s not in seen:
            seen.add(s)
            pool.setdefault(n, []).append(s)
    lines: list[str] = []
    for want in target_lengths():
        n = min((k for k in pool if pool[k]), key=lambda k: (abs(k - want), k))
        lines.append(pool[n].pop(random.randrange(len(pool[n]))))
    assert len(set(lines)) == COUNT and all(line.strip() for line in lines)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lengths = sorted(len(s.split()) for s in lines)
    print(f"wrote {len(lines)} lines to {out}; words min {lengths[0]}, median "
          f"{lengths[len(lengths) // 2]}, mean {sum(lengths) / len(lengths):.1f}, max {lengths[-1]}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
