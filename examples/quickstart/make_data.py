"""Generate the quickstart's sample data: question/answer pairs of a company IT help desk.

    python examples/quickstart/make_data.py            # writes examples/quickstart/support_tickets.csv

Deterministic (seeded): the committed CSV is exactly what this script writes. Several problem types
(password reset, account lockout, billing, VPN, Wi-Fi, printer, email, MFA, software, shared drives,
laptop performance, video calls); each answer follows its problem type's procedure and repeats the
details the user gave (printer name, invoice number, error code, ...), so a model has to learn both
the procedures and to carry details over from the question.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

HERE = Path(__file__).parent

NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jonas", "Kenji", "Lena",
         "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara"]
PRINTERS = ["PR-2F-EAST", "PR-3F-WEST", "PR-LOBBY", "PR-HR-01", "PR-FIN-02", "PR-LAB-07"]
APPS = ["Slack", "Zoom", "Excel", "Photoshop", "Visual Studio Code", "Tableau", "AutoCAD", "Teams"]
DRIVES = ["Finance", "Marketing", "Engineering", "HR", "Legal", "Sales"]
SITES = ["Berlin", "Boston", "Lyon", "Osaka", "Toronto", "Madrid"]
PLANS = ["Basic", "Team", "Business", "Enterprise"]


def _money(rng: random.Random) -> str:
    return f"${rng.randint(19, 990)}.{rng.choice(['00', '50', '99'])}"


def password(rng):
    q = rng.choice(["I forgot my password, how do I reset it?", "How can I reset my password?",
                    "My password expired this morning and I cannot log in.",
                    "I need a new password for my account, what should I do?"])
    a = "Go to id.example.com/reset, enter your work email and follow the link we send you."
    return q, a


def lockout(rng):
    n = rng.randint(3, 9)
    q = rng.choice([f"My account is locked after {n} failed logins.",
                    f"I typed the wrong password {n} times and now I am locked out.",
                    f"Locked out of my account after {n} attempts, can you help?"])
    a = f"After {n} failed attempts the account locks for 15 minutes. Wait, then sign in again."
    return q, a


def billing(rng):
    inv, amount = f"INV-{rng.randint(1000, 9999)}", _money(rng)
    kind = rng.choice(["wrong", "double", "refund"])
    if kind == "wrong":
        q = f"Invoice {inv} shows {amount}, but that is not what we agreed. Can you check it?"
        a = f"I opened a billing review for invoice {inv} ({amount}). Billing answers within two business days."
    elif kind == "double":
        q = f"We were charged twice for invoice {inv}, {amount} each time."
        a = f"Sorry about that. The second payment of {amount} for {inv} is refunded within 5 business days."
    else:
        q = f"How do I get a refund for invoice {inv}?"
        a = f"Open Billing > Invoices, select {inv} and click Request refund."
    return q, a


def plan(rng):
    old, new = rng.sample(PLANS, 2)
    q = rng.choice([f"How do I change our plan from {old} to {new}?", f"We want to move from {old} to {new}."])
    a = f"An admin can switch from {old} to {new} under Billing > Plan; the price changes next cycle."
    return q, a


def vpn(rng):
    code, site = rng.choice(["809", "691", "720", "868"]), rng.choice(SITES)
    q = rng.choice([f"The VPN fails with error {code} when I work from {site}.",
                    f"I cannot connect to the VPN from {site}, it says error {code}.",
                    f"VPN error {code} since this morning ({site} office)."])
    fixes = {"809": "your network blocks the VPN port; switch to the SSL profile in the client",
             "691": "your password or token was rejected; sign in again with a fresh token",
             "720": "the network adapter is stuck; restart the computer and connect again",
             "868": "the server name did not resolve; choose the gateway closest to you"}
    a = f"VPN error {code} means {fixes[code]}."
    return q, a


def wifi(rng):
    site = rng.choice(SITES)
    q = rng.choice([f"I cannot connect to the office Wi-Fi in {site}.", f"Wi-Fi keeps dropping in the {site} office."])
    a = f"In {site}, join CORP-SECURE with your work account. If it drops, forget the network and reconnect."
    return q, a


def printer(rng):
    p = rng.choice(PRINTERS)
    kind = rng.choice(["offline", "jam", "install"])
    if kind == "offline":
        q = rng.choice([f"Printer {p} shows offline.", f"I cannot print to {p}, it says offline."])
        a = f"Turn {p} off and on, then remove and add {p} again under Settings > Printers."
    elif kind == "jam":
        q = f"{p} has a paper jam and blinks orange."
        a = f"Open the front door of {p}, pull the sheet out slowly, close the door and press Resume."
    else:
        q = rng.choice([f"How do I add printer {p} to my laptop?", f"I need to install {p}."])
        a = f"Open Settings > Printers, click Add printer and choose {p} from the list; the driver installs itself."
    return q, a


def email(rng):
    kind = rng.choice(["full", "spam", "outbox"])
    if kind == "full":
        size = rng.choice([50, 100])
        q = f"Outlook says my mailbox is full ({size} GB)."
        a = f"Your mailbox reached its {size} GB limit. Empty Deleted Items and turn on the online archive."
    elif kind == "spam":
        q = rng.choice(["Emails from a customer go to my junk folder.", "Important emails end up in spam."])
        a = "Right-click the message and choose Junk > Never Block Sender."
    else:
        q = rng.choice(["My emails are stuck in the outbox.", "Outlook does not send my emails."])
        a = "Check that Outlook is online, remove attachments over 25 MB and click Send/Receive."
    return q, a


def mfa(rng):
    q = rng.choice(["I got a new phone and lost my authenticator app.",
                    "My MFA codes are not accepted anymore.", "How do I move MFA to a new phone?"])
    a = "Go to id.example.com/mfa on a signed-in computer, remove the old device and scan the new QR code."
    return q, a


def software(rng):
    app = rng.choice(APPS)
    q = rng.choice([f"How can I install {app}?", f"I need {app} on my laptop.", f"{app} will not start."])
    if q.endswith("start."):
        a = f"Quit {app}, open Software Center, choose {app} and click Repair."
    else:
        a = f"Open Software Center, search for {app} and click Install."
    return q, a


def share(rng):
    d = rng.choice(DRIVES)
    q = rng.choice([f"I need access to the {d} shared drive.", f"I cannot open the {d} folder, access denied."])
    a = f"Request the {d} drive in the portal under Access > Shared drives; the {d} owner approves it."
    return q, a


def slow(rng):
    days = rng.randint(3, 40)
    q = rng.choice([f"My laptop is very slow, it has not restarted in {days} days.",
                    f"Everything is slow on my computer, uptime is {days} days."])
    a = f"{days} days without a restart slows it down. Save your work, restart and let updates finish."
    return q, a


def video(rng):
    app = rng.choice(["Zoom", "Teams"])
    q = rng.choice([f"People cannot hear me in {app}.", f"My camera does not work in {app}."])
    device = "microphone" if "hear" in q else "camera"
    a = f"In {app}, open Settings > Audio & Video and pick the right {device}."
    return q, a


TOPICS = [password, lockout, billing, plan, vpn, wifi, printer, email, mfa, software, share, slow, video]


def generate(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        q, a = rng.choice(TOPICS)(rng)
        opening = rng.choice(["", "", "Hi, this is {}. ", "Hello, {} here. ", "Good morning. ", "Quick question: "])
        closing = rng.choice(["", "", " Thanks!", " It is urgent.", " Any idea?", " Thank you, {}."])
        q = opening.format(rng.choice(NAMES)) + q + closing.format(rng.choice(NAMES))
        rows.append((q, a))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "support_tickets.csv")
    args = parser.parse_args()
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["question", "answer"])
        writer.writerows(generate(args.rows, args.seed))
    print(f"wrote {args.rows} question/answer pairs to {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
