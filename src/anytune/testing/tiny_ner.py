"""A small spaCy NER pipeline (PERSON, GPE) trained on generated help-desk sentences in a few seconds,
saved with ``nlp.to_disk``: what the Presidio PII engine's tests load instead of a downloaded model."""

from __future__ import annotations

import random
from pathlib import Path

FIRST = ("John", "Maria", "Ahmed", "Chloe", "Kenji", "Olga", "Pablo", "Grace", "Farid", "Emma", "Lukas", "Aisha")
LAST = ("Smith", "Garcia", "Khan", "Martin", "Tanaka", "Ivanova", "Lopez", "Okafor", "Rahimi", "Brown", "Weber")
CITIES = ("Boston", "Lyon", "Osaka", "Nairobi", "Berlin")
TEMPLATES = ("Hello, {name} here, my printer in {city} is broken.", "Please call {name} about the invoice.",
             "Thanks, {name}.", "I am {name} from the {city} office.", "{name} cannot log in since Monday.",
             "My laptop is slow, regards {name}", "The VPN in {city} drops every hour.")
# Sentences without a name or place: a model trained on entities alone tags every capitalised word.
PLAIN = ("Restart it.", "Reset the router please.", "Open Settings and click Reset password.", "Thanks a lot.",
         "Empty the outbox and check the mailbox quota.", "Switch the printer off and on.", "Mail <EMAIL> today.",
         "Sign in again after 15 minutes.", "Request the drive in the portal.", "Update the app, then restart.")


def sentence(rng: random.Random) -> tuple[str, dict]:
    if rng.random() < 0.4:
        return rng.choice(PLAIN), {"entities": []}
    name, city = f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(CITIES)
    text = rng.choice(TEMPLATES).format(name=name, city=city)
    entities = [(text.index(word), text.index(word) + len(word), label)
                 for word, label in ((name, "PERSON"), (city, "GPE")) if word in text]
    return text, {"entities": sorted(entities)}


def build_tiny_ner(path: str | Path, *, examples: int = 300, epochs: int = 15, seed: int = 0) -> Path:
    import spacy
    from spacy.training import Example

    rng = random.Random(seed)
    spacy.util.fix_random_seed(seed)
    data = [sentence(rng) for _ in range(examples)]
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    for label in ("PERSON", "GPE"):
        ner.add_label(label)
    optimizer = nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(t), a) for t, a in data])
    for _ in range(epochs):
        rng.shuffle(data)
        for i in range(0, len(data), 16):
            nlp.update([Example.from_dict(nlp.make_doc(t), a) for t, a in data[i:i + 16]], sgd=optimizer, drop=0.1)
    nlp.to_disk(path)
    return Path(path)
