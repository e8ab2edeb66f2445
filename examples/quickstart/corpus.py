"""A plain-English text generator: the pretraining corpus of the quickstart's tiny base model.

Short paragraphs about offices, computers, networks, money and everyday life, built from a small
grammar and a seeded random generator, so the corpus is part of the repository without a data file.
It is general text, not help-desk answers: fine-tuning still has to teach the model the task.
"""

from __future__ import annotations

import random

PEOPLE = ["the engineer", "my neighbour", "the manager", "a student", "the new intern", "our teacher",
          "the accountant", "a customer", "the driver", "my sister", "the doctor", "the team", "everyone",
          "the office", "a friend", "the family", "the company", "the designer", "the nurse", "the cook"]
NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jonas", "Lena", "Maya",
         "Noah", "Olga", "Pablo", "Rosa", "Sam", "Tara"]
THINGS = ["laptop", "phone", "printer", "screen", "keyboard", "password", "email", "message", "account",
          "network", "router", "cable", "file", "folder", "report", "invoice", "bill", "payment", "card",
          "letter", "book", "car", "bicycle", "train ticket", "kitchen", "garden", "window", "door", "camera",
          "calendar", "meeting", "project", "budget", "website", "server", "backup", "update", "app", "browser",
          "drive", "code", "song", "coffee", "lunch", "map", "key", "light", "battery", "charger", "desk"]
ADJ = ["new", "old", "slow", "fast", "quiet", "busy", "broken", "shared", "small", "large", "secure",
       "simple", "expensive", "cheap", "bright", "clean", "heavy", "useful", "strange", "favourite"]
VERBS = ["opened", "closed", "fixed", "checked", "bought", "sold", "printed", "sent", "read", "wrote",
         "cleaned", "moved", "found", "lost", "shared", "updated", "restarted", "installed", "paid", "signed"]
PLACES = ["at home", "in the office", "on the train", "in Berlin", "in Boston", "in the library",
          "at the station", "in the morning", "after lunch", "on Monday", "last week", "before the meeting",
          "in the evening", "at the airport", "in the cafe", "on the weekend"]
REASONS = ["because it was late", "because the weather was bad", "so that the team could start",
           "since nobody else had time", "because the old one stopped working", "to save some money",
           "so that the report was ready", "because the battery was empty", "to keep the data safe"]
FACTS = [
    "A password protects an account, and a long password is harder to guess than a short one.",
    "A printer puts text and pictures on paper; most printers in an office are shared on the network.",
    "An invoice lists what a customer bought and how much they have to pay.",
    "A refund returns money to the person who paid.",
    "A network connects computers so that they can share files, printers and the internet.",
    "A virtual private network, or VPN, lets people reach the office network from home.",
    "Email is a way to send written messages from one account to another.",
    "A backup is a copy of important files, kept in another place in case something goes wrong.",
    "Updates fix problems and close security holes, so computers should install them often.",
    "Restarting a computer clears its memory and often solves small problems.",
    "A shared drive is a folder that several people in a team can open.",
    "Wi-Fi is a wireless network; a router sends the signal through the building.",
    "A video call lets people see and hear each other from different cities.",
    "A battery stores energy, and a charger fills it again.",
    "Two-step sign-in asks for a code from your phone as well as your password.",
    "Spam is unwanted email; a filter moves it to a junk folder.",
    "A budget is a plan for how much money will be spent and on what.",
    "A calendar shows meetings, holidays and deadlines for each day.",
]


def sentence(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return (f"{rng.choice(PEOPLE + NAMES)} {rng.choice(VERBS)} the {rng.choice(ADJ)} {rng.choice(THINGS)} "
                f"{rng.choice(PLACES)}.")
    if kind == 1:
        return f"{rng.choice(NAMES)} {rng.choice(VERBS)} the {rng.choice(THINGS)} {rng.choice(REASONS)}."
    if kind == 2:
        return f"The {rng.choice(THINGS)} was {rng.choice(ADJ)}, so {rng.choice(PEOPLE)} {rng.choice(VERBS)} it."
    if kind == 3:
        return (f"When the {rng.choice(THINGS)} is {rng.choice(ADJ)}, {rng.choice(PEOPLE)} usually checks the "
                f"{rng.choice(THINGS)} first.")
    if kind == 4:
        return f"{rng.choice(NAMES)} asked: where is the {rng.choice(ADJ)} {rng.choice(THINGS)}?"
    return rng.choice(FACTS)


def paragraphs(count: int, seed: int = 0) -> list[str]:
    """``count`` paragraphs of three to seven sentences, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = " ".join(sentence(rng) for _ in range(rng.randint(3, 7)))
        out.append(text[0].upper() + text[1:])
    return out


def dialogues(count: int, seed: int = 1) -> list[list[dict[str, str]]]:
    """``count`` short general chat exchanges (user, assistant), so the base model knows the chat format.
    Everyday topics only: nothing about the help desk the quickstart fine-tunes on."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        name, thing, adj, place = rng.choice(NAMES), rng.choice(THINGS), rng.choice(ADJ), rng.choice(PLACES)
        verb = rng.choice(VERBS)
        kind = rng.randrange(5)
        if kind == 0:
            q, a = f"Who {verb} the {thing}?", f"{name} {verb} the {thing} {place}."
        elif kind == 1:
            fact = rng.choice(FACTS)
            q, a = f"Can you tell me something about computers or money? I like {thing}s.", fact
        elif kind == 2:
            q, a = (f"Where did {name} find the {adj} {thing}?",
                    f"{name} found the {adj} {thing} {place}, {rng.choice(REASONS)}.")
        elif kind == 3:
            q, a = f"Why was the {thing} {adj}?", f"The {thing} was {adj} {rng.choice(REASONS)}."
        else:
            q, a = f"Write one sentence about a {thing}.", sentence(rng)
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
    return out
