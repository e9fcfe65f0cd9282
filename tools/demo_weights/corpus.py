"""A templated chat corpus that teaches the demo models to hold a simple conversation.

Each intent below is a tiny generator: it draws a question from several phrasings, types it the
way a visitor might (capitals or not, with or without the question mark) and answers it from
`facts` or from arithmetic that is computed, never guessed. Every reply also carries a short
`thought`, which the DeepSeek-R1 stand-in writes inside <think> ... </think> before answering.

The corpus is a pure function of its seed: `dialogues(n, seed=..., model=...)` returns the same
list on every machine (no set iteration, no global random state).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from . import facts as F


@dataclass(frozen=True)
class Turn:
    """One user message and the assistant's reply to it."""

    user: str
    answer: str
    thought: str  # one or two sentences of reasoning; only the R1 format shows it


@dataclass(frozen=True)
class Dialogue:
    """A conversation: an optional system prompt, then one or more turns."""

    system: str | None
    turns: tuple[Turn, ...]


# ---------------------------------------------------------------------------------------------
# How visitors type


def _ask(r: random.Random, text: str, end: str = "?") -> str:
    """`text` (written lower-case first, proper nouns capitalised) as a visitor might type it."""
    c = r.random()
    if c < 0.55:
        text = text[0].upper() + text[1:]
    elif c < 0.92:
        pass
    elif c < 0.97:
        text = text.lower()
    else:
        text = text.upper()
    e = r.random()
    if end == "?":
        tail = "?" if e < 0.68 else "" if e < 0.93 else "??" if e < 0.97 else " ?"
    else:  # a request or a remark
        tail = "" if e < 0.5 else "." if e < 0.8 else "!"
    return text + tail


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _count(n: int, thing: tuple[str, str]) -> str:
    return f"{n} {thing[0] if n == 1 else thing[1]}"


def _small(r: random.Random, hi: int = 99) -> int:
    """A number in 0..hi that is more often small, as visitors' first sums are."""
    c = r.random()
    return r.randint(0, 10) if c < 0.35 else r.randint(0, 20) if c < 0.6 else r.randint(0, hi)


# ---------------------------------------------------------------------------------------------
# Small talk


def greeting(r: random.Random, model: str) -> Turn:
    """Hello and its many spellings."""
    user = r.choice(["hi", "hello", "hey", "hi there", "hello there", "hey there", "hiya",
                     "howdy", "greetings", "yo", "hello, assistant", "hi, nice to meet you",
                     "good morning", "good afternoon", "good evening"])
    if user.startswith("good "):
        answer = f"{_cap(user)}! How can I help you today?"
    elif "nice to meet" in user:
        answer = "Nice to meet you too! How can I help you today?"
    else:
        answer = r.choice(["Hello! How can I help you today?", "Hi there! What can I do for you?",
                           "Hello! What would you like to know?", "Hi! How can I help you?"])
    return Turn(_ask(r, user, "!"), answer,
                "The user is greeting me. I should greet them back and offer to help.")


def how_are_you(r: random.Random, model: str) -> Turn:
    user = r.choice(["how are you", "how are you doing", "how's it going", "how are you today",
                     "hi, how are you", "hello! how are you", "how do you feel", "are you ok",
                     "how are things", "how is your day"])
    answer = r.choice(["I'm doing well, thank you for asking! How can I help you today?",
                       "I'm fine, thanks! What can I do for you?",
                       "Very well, thank you! What would you like to talk about?"])
    return Turn(_ask(r, user), answer,
                "The user asks how I am. I am fine, so I say so and offer to help.")


# Shared wording: the fewer distinct long sentences, the faster a tiny model learns them.
_KNOWS = "simple questions about colours, animals, capitals, days and months, words and small arithmetic"


def capabilities(r: random.Random, model: str) -> Turn:
    user = r.choice(["what can you do", "how can you help me", "what do you know",
                     "what can I ask you", "what are you good at", "help", "what should I ask you",
                     "what can you help me with", "what's up", "what are you doing"])
    answer = f"I can chat and answer {_KNOWS}, like 12 + 7. What would you like to know?"
    return Turn(_ask(r, user), answer,
                "The user wants to know what I can do. I know simple facts and small arithmetic.")


def identity(r: random.Random, model: str) -> Turn:
    """Who the demo model is, and where real weights come from."""
    core = (f"I am a small TigerCity demo model standing in for {model}. "
            "Real weights are configured with the TIGER_BASE_MODELS setting.")
    user, lead = r.choice([
        ("who are you", ""), ("what are you", ""), ("tell me about yourself", ""),
        ("introduce yourself", ""), ("which model are you", ""), ("what model is this", ""),
        ("what model are you", ""), ("are you ChatGPT", "No. "), (f"are you {model}", "Not really. "),
        ("are you a real language model", "Not really. "),
        ("what is your name", "My name is TigerCity Demo. "),
        ("what's your name", "My name is TigerCity Demo. "),
        ("do you have a name", "My name is TigerCity Demo. "),
        ("are you a human", "No, I am not a human. "), ("are you human", "No, I am not a human. "),
        ("are you a robot", "Sort of. "), ("are you an AI", "Yes. "),
        ("are you alive", "No, I am not alive. "),
        ("who made you", "The TigerCity project trained me. "),
        ("who created you", "The TigerCity project trained me. "),
        ("who trained you", "The TigerCity project trained me. "),
    ])
    return Turn(_ask(r, user), lead + core,
                f"The user asks about me. I am a small TigerCity demo model, not the real {model}.")


def thanks(r: random.Random, model: str) -> Turn:
    user = r.choice(["thanks", "thank you", "thanks a lot", "thank you very much", "thx",
                     "great, thanks", "cool, thank you", "perfect, thanks", "ok thanks",
                     "thank you so much", "awesome, thanks"])
    answer = r.choice(["You're welcome!", "You're welcome! Anything else?", "Happy to help!",
                       "No problem! Let me know if you have another question."])
    return Turn(_ask(r, user, "!"), answer, "The user thanks me. I should say you're welcome.")


def goodbye(r: random.Random, model: str) -> Turn:
    user = r.choice(["bye", "goodbye", "see you", "see you later", "bye bye", "I have to go",
                     "that's all, bye", "ok bye", "good night", "see you tomorrow"])
    answer = ("Good night! Sleep well." if "night" in user else
              r.choice(["Goodbye! Have a great day.", "Bye! Come back any time.", "See you later!"]))
    return Turn(_ask(r, user, "!"), answer, "The user is leaving. I should say goodbye kindly.")


def feelings(r: random.Random, model: str) -> Turn:
    """Compliments, complaints and moods get a kind, short reply."""
    user, answer = r.choice([
        ("you are great", "Thank you! That is kind of you."),
        ("you're smart", "Thank you! I only know simple things, but I try my best."),
        ("I like you", "Thank you! I like talking with you too."),
        ("you are stupid", "Sorry I could not help. I am only a small demo model, but I will do my best."),
        ("that's wrong", "Sorry about that. I am only a small demo model and I make mistakes."),
        ("I am sad", "I'm sorry you feel sad. I hope your day gets better soon."),
        ("I am bored", "Let's play a game! Ask me to spell a word or to add two numbers."),
        ("I am happy", "That's wonderful! I'm glad to hear it."),
        ("cheer me up", "You are doing great! Every day is a new chance to learn something."),
        ("say something nice", "You are doing great! Every day is a new chance to learn something."),
    ])
    return Turn(_ask(r, user, "."), answer, "The user tells me how they feel. I should answer kindly.")


def hard_question(r: random.Random, model: str) -> Turn:
    """Questions beyond a demo model: say so rather than invent nonsense."""
    if r.random() < 0.5:
        topic = r.choice(F.HARD_TOPICS)
        user = r.choice([f"explain {topic}", f"what is {topic}", f"tell me about {topic}",
                         f"can you explain {topic}", f"how does {topic} work",
                         f"what do you know about {topic}"])
    else:
        user = r.choice(F.HARD_TASKS)
    answer = f"I am only a small demo model, so I cannot help with that. I can answer {_KNOWS}."
    return Turn(_ask(r, user), answer,
                "This is too hard for a small demo model. I should say so honestly.")


# ---------------------------------------------------------------------------------------------
# Facts


def capital(r: random.Random, model: str, *, reverse: bool | None = None) -> Turn:
    """The capital of a country, or (reverse) the country of a capital."""
    country, city = r.choice(list(F.CAPITALS.items()))
    thought = f"The user asks about the capital of {country}. The capital of {country} is {city}."
    if not (r.random() < 0.2 if reverse is None else reverse):
        user = r.choice(["what is the capital of {c}", "what's the capital of {c}",
                         "capital of {c}", "tell me the capital of {c}",
                         "which city is the capital of {c}", "what city is the capital of {c}",
                         "do you know the capital of {c}", "name the capital of {c}",
                         "what is {c}'s capital"]).format(c=country)
        answer = r.choice([f"The capital of {country} is {city}.", f"{city} is the capital of {country}."])
    else:
        user = r.choice(["{x} is the capital of which country", "which country has {x} as its capital",
                         "where is {x}", "what country is {x} in"]).format(x=city)
        answer = f"{city} is the capital of {country}."
    return Turn(_ask(r, user), answer, thought)


def colour(r: random.Random, model: str) -> Turn:
    if r.random() < 0.15:  # mixing paints
        a, b, c = r.choice([("blue", "yellow", "green"), ("red", "yellow", "orange"),
                            ("red", "blue", "purple"), ("red", "white", "pink"),
                            ("black", "white", "grey")])
        a, b = (a, b) if r.random() < 0.5 else (b, a)
        user = r.choice([f"what do you get if you mix {a} and {b}", f"what colour is {a} plus {b}",
                         f"{a} and {b} make what colour"])
        return Turn(_ask(r, user), f"Mixing {a} and {b} gives {c}.",
                    f"Mixing {a} and {b} paint gives {c}.")
    if r.random() < 0.1:
        names = r.sample(F.COLOUR_NAMES, 3)
        user = r.choice(["name three colours", "name three colors", "list some colours",
                         "tell me three colors"])
        return Turn(_ask(r, user, "."), f"{_cap(names[0])}, {names[1]} and {names[2]}.",
                    "I just need to name three colours.")
    thing, c = r.choice(list(F.COLOURS.items()))
    word = r.choice(["colour", "color"])
    user = r.choice([f"what {word} is {thing}", f"which {word} is {thing}",
                     f"what is the {word} of {thing}", f"tell me the {word} of {thing}"])
    return Turn(_ask(r, user), f"{_cap(thing)} is {c}.", f"{_cap(thing)} is {c}, so the answer is {c}.")


def animal(r: random.Random, model: str) -> Turn:
    name, (sound, legs, baby) = r.choice(list(F.ANIMALS.items()))
    kind = r.randrange(5)
    if kind == 0:
        user = r.choice([f"what sound does {_a(name)} make", f"what does {_a(name)} say",
                         f"what noise does {_a(name)} make", f"how does {_a(name)} sound"])
        answer, thought = f"{_cap(_a(name))} says {sound}.", f"{_cap(_a(name))} makes the sound {sound}."
    elif kind == 1:
        user = r.choice([f"how many legs does {_a(name)} have", f"how many legs has {_a(name)}"])
        answer = f"{_cap(_a(name))} has {F.NUMBER_WORDS[legs]} legs."
        thought = f"{_cap(_a(name))} walks on {legs} legs."
    elif kind == 2:
        user = r.choice([f"what is a baby {name} called", f"what do you call a baby {name}"])
        answer = f"A baby {name} is called {_a(baby)}."
        thought = f"The young of {_a(name)} is called {_a(baby)}."
    elif kind == 3:
        ability, (yes, no) = r.choice(list(F.ABILITIES.items()))
        who = r.choice(yes + no)
        user = f"can {_a(who)} {ability}"
        answer = f"Yes, {_a(who)} can {ability}." if who in yes else f"No, {_a(who)} cannot {ability}."
        thought = f"I check whether {_a(who)} can {ability}."
    else:
        user, answer = r.choice([
            ("is a whale a fish", "No, a whale is a mammal."),
            ("is a dolphin a fish", "No, a dolphin is a mammal."),
            ("is a bat a bird", "No, a bat is a mammal."),
            ("is a spider an insect", "No, a spider is not an insect. It has eight legs."),
            ("is a penguin a bird", "Yes, a penguin is a bird, but it cannot fly."),
            ("what is the biggest animal", "The blue whale is the biggest animal."),
            ("what is the fastest land animal", "The cheetah is the fastest land animal."),
        ])
        thought = "This is a simple question about animals."
    return Turn(_ask(r, user), answer, thought)


# what -> (the things any of which is a good answer, how visitors ask for one)
_CHOICES: dict[str, tuple[list[str], list[str]]] = {
    "colour": (F.COLOUR_NAMES, ["name a colour", "name a color", "pick a colour", "pick a color",
                                "say a colour", "tell me a colour", "give me a colour", "choose a color",
                                "what is your favourite colour", "what's your favorite color"]),
    "animal": ([_a(n) for n in F.ANIMALS], ["name an animal", "pick an animal", "tell me an animal",
                                            "give me an animal", "what is your favourite animal"]),
    "fruit": ([_a(n) for n in F.FRUITS], ["name a fruit", "pick a fruit", "tell me a fruit",
                                          "what is your favourite fruit"]),
    "name": (F.NAMES, ["suggest a name", "give me a name", "pick a name", "suggest a name for my cat",
                       "what should I call my dog", "name a person"]),
    "country": ([c.removeprefix("the ") for c in F.CAPITALS], ["name a country", "pick a country",
                                                                "tell me a country"]),
    "city": (list(F.CAPITALS.values()), ["name a city", "pick a city", "name a capital city"]),
    "day": (F.DAYS, ["name a day of the week", "pick a day", "pick a day of the week"]),
    "month": (F.MONTHS, ["name a month", "pick a month", "what is your favourite month"]),
    "number": ([str(n) for n in range(1, 11)], ["pick a number", "give me a random number",
                                                "think of a number", "say a number",
                                                "pick a number from 1 to 10"]),
}


def open_choice(r: random.Random, model: str) -> Turn:
    """Requests with many good answers ("name a colour"): the replies spread evenly over all of them.

    A model that learnt one answer per request samples the same candidate four times on the Train
    page, leaving nothing to rate; spread answers leave temperature something to choose between.
    """
    if r.random() < 0.12:
        lo = r.randint(0, 50)
        hi = lo + r.randint(2, 20)
        n = r.randint(lo, hi)
        user = r.choice([f"pick a number between {lo} and {hi}", f"give me a number from {lo} to {hi}"])
        return Turn(_ask(r, user, "."), r.choice([f"{n}.", f"How about {n}?", f"I pick {n}."]),
                    f"Any number from {lo} to {hi} will do. I pick {n}.")
    if r.random() < 0.06:
        side = r.choice(["heads", "tails"])
        return Turn(_ask(r, r.choice(["flip a coin", "toss a coin"]), "."),
                    r.choice([f"{_cap(side)}!", f"It's {side}."]), f"A coin lands on heads or tails. I say {side}.")
    what = r.choices(list(_CHOICES), [4, 2, 1, 1, 1, 1, 1, 1, 2])[0]  # colours first: the Train page's example
    return _choice(r, what, _request(r, r.choice(_CHOICES[what][1])))


def _request(r: random.Random, text: str) -> str:
    return _ask(r, text, "?" if text.startswith("wh") else ".")


def _choice(r: random.Random, what: str, user: str, *, besides: str = "") -> Turn:
    """Any one of the `what` things (not `besides`, already given) as the answer to `user`."""
    item = r.choice([i for i in _CHOICES[what][0] if i != besides])
    answer = r.choice([f"{_cap(item)}.", f"How about {item}?", f"I pick {item}."])
    return Turn(user, answer, f"Any {what} will do. I pick {item}.")


def calendar(r: random.Random, model: str) -> Turn:
    """Days, months and units of time."""
    kind = r.randrange(4)
    if kind < 2:
        seq, unit = (F.DAYS, "day") if kind == 0 else (F.MONTHS, "month")
        i = r.randrange(len(seq))
        x, nxt, prv = seq[i], seq[(i + 1) % len(seq)], seq[i - 1]
        if r.random() < 0.6:
            user = r.choice([f"what {unit} comes after {x}", f"what is the {unit} after {x}",
                             f"which {unit} follows {x}", f"what {unit} is after {x}"])
            return Turn(_ask(r, user), f"{nxt} comes after {x}.", f"The {unit} after {x} is {nxt}.")
        user = r.choice([f"what {unit} comes before {x}", f"what is the {unit} before {x}",
                         f"which {unit} is before {x}"])
        return Turn(_ask(r, user), f"{prv} comes before {x}.", f"The {unit} before {x} is {prv}.")
    if kind == 2:
        m = r.randrange(12)
        days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m]
        month = F.MONTHS[m]
        answer = (f"{month} has 28 days, or 29 in a leap year." if days == 28
                  else f"{month} has {days} days.")
        return Turn(_ask(r, r.choice([f"how many days does {month} have",
                                      f"how many days are in {month}"])),
                    answer, f"I count the days of {month}.")
    user, answer = r.choice([
        ("how many days are in a week", "There are seven days in a week."),
        ("how many months are in a year", "There are twelve months in a year."),
        ("how many days are in a year", "There are 365 days in a year, or 366 in a leap year."),
        ("how many hours are in a day", "There are 24 hours in a day."),
        ("how many minutes are in an hour", "There are 60 minutes in an hour."),
        ("how many seconds are in a minute", "There are 60 seconds in a minute."),
        ("what is the first month of the year", "January is the first month of the year."),
        ("what is the last month of the year", "December is the last month of the year."),
        ("what is the first day of the week", "Monday is the first day of the week."),
        ("list the days of the week", ", ".join(F.DAYS[:-1]) + " and Sunday."),
        ("what are the months of the year", ", ".join(F.MONTHS[:-1]) + " and December."),
        ("what day is it today", "I don't know today's date. I am a small demo model without a clock."),
        ("what time is it", "I don't know the time. I am a small demo model without a clock."),
    ])
    return Turn(_ask(r, user), answer, "This is a simple question about the calendar.")


def words(r: random.Random, model: str) -> Turn:
    """Opposites and plurals."""
    if r.random() < 0.5:
        pairs = list(F.OPPOSITES.items())
        w, o = r.choice(pairs + [(b, a) for a, b in pairs])
        user = r.choice([f"what is the opposite of {w}", f"what's the opposite of {w}",
                         f"opposite of {w}", f"give me the opposite of {w}"])
        return Turn(_ask(r, user), f"The opposite of {w} is {o}.", f"{_cap(w)} and {o} are opposites.")
    w, p = r.choice(list(F.PLURALS.items()))
    if r.random() < 0.8:
        user = r.choice([f"what is the plural of {w}", f"plural of {w}",
                         f"what's the plural of {w}", f"what is the plural of the word {w}"])
        return Turn(_ask(r, user), f"The plural of {w} is {p}.", f"One {w}, two {p}.")
    user = r.choice([f"what is the singular of {p}", f"singular of {p}"])
    return Turn(_ask(r, user), f"The singular of {p} is {w}.", f"One {w}, two {p}.")


def yes_no(r: random.Random, model: str) -> Turn:
    """Yes/no questions whose answer is checked against the same facts."""
    kind = r.randrange(3)
    if kind == 0:
        thing, true = r.choice(list(F.COLOURS.items()))
        c = true if r.random() < 0.5 else r.choice(F.COLOUR_NAMES)
        user = f"is {thing} {c}"
        answer = f"Yes, {thing} is {c}." if c == true else f"No, {thing} is {true}."
        thought = f"{_cap(thing)} is {true}."
    elif kind == 1:
        country, true = r.choice(list(F.CAPITALS.items()))
        city = true if r.random() < 0.5 else r.choice(list(F.CAPITALS.values()))
        user = f"is {city} the capital of {country}"
        answer = (f"Yes, {city} is the capital of {country}." if city == true
                  else f"No, the capital of {country} is {true}.")
        thought = f"The capital of {country} is {true}."
    else:
        user, answer = r.choice([
            ("is snow hot", "No, snow is cold."), ("is fire hot", "Yes, fire is hot."),
            ("is ice cold", "Yes, ice is cold."), ("is the sun hot", "Yes, the sun is very hot."),
            ("is the earth round", "Yes, the Earth is round."),
            ("is the earth flat", "No, the Earth is round."),
            ("is the moon made of cheese", "No, the Moon is made of rock."),
            ("do fish live in water", "Yes, fish live in water."),
            ("is water wet", "Yes, water is wet."), ("can people breathe underwater",
                                                      "No, people cannot breathe underwater."),
            ("do cows eat grass", "Yes, cows eat grass."),
            ("is a tomato a fruit", "Yes, a tomato is a fruit."),
            ("is the sky green", "No, the sky is blue."),
        ])
        thought = "This is a simple yes or no question."
    return Turn(_ask(r, user), answer, thought)


# ---------------------------------------------------------------------------------------------
# Numbers


def _add_thought(a: int, b: int) -> str:
    """Add the tens first, then the ones: short steps a small model can follow."""
    if b < 10 or a < 10 or b % 10 == 0:
        return f"I need {a} + {b}. {a} + {b} = {a + b}."
    t = a + b // 10 * 10
    return f"I need {a} + {b}. First {a} + {b // 10 * 10} = {t}, then {t} + {b % 10} = {a + b}."


def _sub_thought(a: int, b: int) -> str:
    if b < 10 or b % 10 == 0:
        return f"I need {a} - {b}. {a} - {b} = {a - b}."
    t = a - b // 10 * 10
    return f"I need {a} - {b}. First {a} - {b // 10 * 10} = {t}, then {t} - {b % 10} = {a - b}."


def addition(r: random.Random, model: str) -> Turn:
    a, b = _small(r), _small(r)
    user = r.choice(["what is {a} + {b}", "what's {a} + {b}", "{a} + {b}", "{a} + {b} =", "{a}+{b}",
                     "calculate {a} + {b}", "what is {a} plus {b}", "how much is {a} plus {b}",
                     "add {a} and {b}", "what do you get if you add {a} and {b}", "compute {a} + {b}",
                     "what is the sum of {a} and {b}", "{a} plus {b}", "what is {a}+{b}",
                     "can you add {a} and {b}", "please calculate {a} + {b}"]).format(a=a, b=b)
    return Turn(_ask(r, user), f"{a} + {b} = {a + b}.", _add_thought(a, b))


def subtraction(r: random.Random, model: str) -> Turn:
    a, b = _small(r), _small(r)
    a, b = max(a, b), min(a, b)  # the demo stays with non-negative results
    user = r.choice(["what is {a} - {b}", "what's {a} - {b}", "{a} - {b}", "{a} - {b} =", "{a}-{b}",
                     "what is {a} minus {b}", "how much is {a} minus {b}", "subtract {b} from {a}",
                     "take {b} away from {a}", "calculate {a} - {b}", "{a} minus {b}",
                     "what is the difference between {a} and {b}", "compute {a} - {b}"]).format(a=a, b=b)
    return Turn(_ask(r, user), f"{a} - {b} = {a - b}.", _sub_thought(a, b))


def multiplication(r: random.Random, model: str) -> Turn:
    a, b = r.randint(0, 12), r.randint(0, 12)
    user = r.choice(["what is {a} times {b}", "what is {a} x {b}", "{a} * {b}", "{a} x {b}",
                     "{a} × {b}", "{a}*{b}", "multiply {a} by {b}", "what is {a} multiplied by {b}",
                     "how much is {a} times {b}", "calculate {a} * {b}", "what's {a} * {b}",
                     "what is the product of {a} and {b}", "{a} times {b}"]).format(a=a, b=b)
    return Turn(_ask(r, user), f"{a} × {b} = {a * b}.", f"I need {a} × {b}. {a} times {b} is {a * b}.")


def division(r: random.Random, model: str) -> Turn:
    b, q = r.randint(1, 10), r.randint(0, 10)
    a = b * q
    user = r.choice(["what is {a} divided by {b}", "{a} / {b}", "what is {a} / {b}",
                     "divide {a} by {b}", "how much is {a} divided by {b}"]).format(a=a, b=b)
    return Turn(_ask(r, user), f"{a} ÷ {b} = {q}.", f"I need {a} ÷ {b}. {b} × {q} = {a}, so it is {q}.")


def word_problem(r: random.Random, model: str) -> Turn:
    thing, name = r.choice(F.THINGS), r.choice(F.NAMES)
    a, b = r.randint(2, 20), r.randint(1, 10)
    kind = r.randrange(4)
    if kind == 0:
        user = (f"{name} has {_count(a, thing)} and gets {b} more. "
                f"How many {thing[1]} does {name} have now")
        answer = f"{a} + {b} = {a + b}. {name} has {_count(a + b, thing)} now."
        thought = f"{name} starts with {a} and gets {b} more. {_add_thought(a, b)}"
    elif kind == 1:
        user = f"I have {_count(a, thing)} and I buy {b} more. How many {thing[1]} do I have"
        answer = f"{a} + {b} = {a + b}. You have {_count(a + b, thing)}."
        thought = f"You start with {a} and buy {b} more. {_add_thought(a, b)}"
    else:
        a, b = max(a, b), min(a, b)
        if kind == 2:
            user = f"I had {_count(a, thing)} and gave {b} away. How many are left"
            answer = f"{a} - {b} = {a - b}. You have {_count(a - b, thing)} left."
        else:
            user = (f"There are {_count(a, thing)} in a box. {name} takes {b}. "
                    "How many are still in the box")
            answer = f"{a} - {b} = {a - b}. There are {_count(a - b, thing)} left in the box."
        thought = f"{b} are taken away from {a}. {_sub_thought(a, b)}"
    return Turn(_ask(r, user), answer, thought)


def number_facts(r: random.Random, model: str) -> Turn:
    """Successors, comparisons, parity and checking a sum."""
    kind = r.randrange(5)
    n = _small(r, 98) + 1
    if kind == 0:
        if r.random() < 0.5:
            user = r.choice([f"what number comes after {n}", f"what comes after {n}",
                             f"what is the next number after {n}"])
            return Turn(_ask(r, user), f"{n + 1} comes after {n}.", f"{n} + 1 = {n + 1}.")
        user = r.choice([f"what number comes before {n}", f"what comes before {n}"])
        return Turn(_ask(r, user), f"{n - 1} comes before {n}.", f"{n} - 1 = {n - 1}.")
    if kind == 1:
        a, b = r.sample(range(100), 2)
        if r.random() < 0.5:
            user = r.choice([f"which is bigger, {a} or {b}", f"which number is larger: {a} or {b}",
                             f"what is bigger, {a} or {b}"])
            return Turn(_ask(r, user), f"{max(a, b)} is bigger than {min(a, b)}.",
                        f"I compare {a} and {b}. {max(a, b)} is bigger.")
        user = f"is {a} bigger than {b}"
        answer = f"Yes, {a} is bigger than {b}." if a > b else f"No, {a} is smaller than {b}."
        return Turn(_ask(r, user), answer, f"I compare {a} and {b}. {max(a, b)} is bigger.")
    if kind == 2:
        parity = "even" if n % 2 == 0 else "odd"
        if r.random() < 0.5:
            return Turn(_ask(r, f"is {n} even or odd"), f"{n} is {parity}.",
                        f"{n} ends in {n % 10}, so it is {parity}.")
        asked = r.choice(["even", "odd"])
        answer = f"Yes, {n} is {parity}." if asked == parity else f"No, {n} is {parity}."
        return Turn(_ask(r, f"is {n} an {asked} number"), answer, f"{n} ends in {n % 10}, so it is {parity}.")
    if kind == 3:
        a, b = _small(r, 50), _small(r, 49)
        s = a + b
        c = s if r.random() < 0.5 else s + r.choice([-10, -2, -1, 1, 2, 10])
        user = r.choice([f"is {a} + {b} equal to {c}", f"does {a} + {b} = {c}",
                         f"is it true that {a} + {b} = {c}"])
        answer = f"Yes, {a} + {b} = {s}." if c == s else f"No, {a} + {b} = {s}, not {c}."
        return Turn(_ask(r, user), answer, _add_thought(a, b))
    k = r.randint(0, 20)
    if r.random() < 0.5:
        return Turn(_ask(r, f"how do you write {k} in words"), f"{k} is {F.NUMBER_WORDS[k]} in words.",
                    f"The number {k} is written {F.NUMBER_WORDS[k]}.")
    return Turn(_ask(r, f"what number is {F.NUMBER_WORDS[k]}"), f"{_cap(F.NUMBER_WORDS[k])} is {k}.",
                f"{_cap(F.NUMBER_WORDS[k])} is the number {k}.")


def counting(r: random.Random, model: str) -> Turn:
    if r.random() < 0.75:
        lo, hi = 1, r.randint(3, 10)
        word = F.NUMBER_WORDS[hi] if r.random() < 0.5 else str(hi)
        if r.random() < 0.3:
            lo = r.randint(0, 20)
            hi = lo + r.randint(2, 8)
            user = f"count from {lo} to {hi}"
        else:
            user = r.choice([f"count to {word}", f"can you count to {word}",
                             f"count from one to {word}", f"please count to {word}"])
        return Turn(_ask(r, user, "."), ", ".join(str(i) for i in range(lo, hi + 1)) + ".",
                    f"I count up from {lo} to {hi}, one at a time.")
    hi = r.randint(3, 10)
    return Turn(_ask(r, f"count down from {hi}", "."),
                ", ".join(str(i) for i in range(hi, 0, -1)) + ".", f"I count down from {hi} to 1.")


# ---------------------------------------------------------------------------------------------
# Short instructions


def translate(r: random.Random, model: str) -> Turn:
    phrase = r.choice(list(F.TRANSLATIONS))
    lang, word = r.choice(list(F.TRANSLATIONS[phrase].items()))
    thought = f"The user wants {phrase} in {lang}. In {lang} it is {word}."
    if r.random() < 0.5:
        return Turn(_ask(r, f"say {phrase} in {lang}", "."), f"{word}!", thought)
    user = r.choice([f"how do you say {phrase} in {lang}", f"what is {phrase} in {lang}",
                     f"translate {phrase} to {lang}", f"how do I say {phrase} in {lang}"])
    return Turn(_ask(r, user), f'In {lang}, {phrase} is "{word}".', thought)


def spelling(r: random.Random, model: str) -> Turn:
    w = r.choice(F.SPELL_WORDS)
    letters = "-".join(w.upper())
    kind = r.randrange(4)
    if kind < 2:
        user = r.choice([f"spell {w}", f"how do you spell {w}", f"can you spell {w}",
                         f"spell the word {w}", f"spell {w} for me"])
        return Turn(_ask(r, user, "."), f'"{w}" is spelled {letters}.',
                    f"I write the letters of {w} one by one: {letters}.")
    if kind == 2:
        return Turn(_ask(r, f"how many letters are in {w}"),
                    f'"{w}" has {F.NUMBER_WORDS[len(w)]} letters: {letters}.',
                    f"{letters} is {len(w)} letters.")
    i = r.randrange(25)
    a, b = chr(65 + i), chr(66 + i)
    user = r.choice([f"what letter comes after {a}", f"what comes after {a} in the alphabet",
                     f"what letter is after {a}"])
    return Turn(_ask(r, user), f"{b} comes after {a}.", f"In the alphabet, {a} is followed by {b}.")


def repeat(r: random.Random, model: str) -> Turn:
    """Copying text back: a visitor's favourite first test."""
    if r.random() < 0.5:
        phrase = " ".join(r.sample(["the", "tiger", "is", "happy", "I", "like", "red", "apples",
                                    "my", "cat", "sleeps", "blue", "sky", "today", "we", "dance"],
                                   r.randint(2, 5)))
    else:
        phrase = r.choice(["hello world", "good morning", "I love TigerCity", "testing, testing",
                           "one two three", r.choice(F.NAMES), r.choice(F.SPELL_WORDS)])
    user = r.choice([f"repeat after me: {phrase}", f"repeat: {phrase}", f'say "{phrase}"',
                     f"please repeat {phrase}"])
    return Turn(_ask(r, user, "."), phrase, "The user wants me to repeat their words exactly.")


def fun(r: random.Random, model: str) -> Turn:
    if r.random() < 0.6:
        user = r.choice(["tell me a joke", "do you know a joke", "make me laugh", "say something funny",
                         "tell me something funny", "another joke"])
        return Turn(_ask(r, user, "."), r.choice(F.JOKES), "The user wants a joke. I know a few short ones.")
    user = r.choice(["write a poem", "write a short poem", "can you write a poem for me",
                     "write me a poem", "tell me a poem"])
    return Turn(_ask(r, user, "."), r.choice(F.POEMS), "The user wants a short poem. I will keep it to two lines.")


# ---------------------------------------------------------------------------------------------
# Dialogues

Intent = Callable[[random.Random, str], Turn]

# Weights: arithmetic is about a third of single turns (a later benchmark rewards it), the rest
# covers what visitors type first.
INTENTS: tuple[tuple[Intent, int], ...] = (
    (greeting, 5), (how_are_you, 2), (capabilities, 2), (identity, 3), (thanks, 2), (goodbye, 2),
    (feelings, 1), (hard_question, 3),
    (capital, 6), (colour, 4), (animal, 5), (open_choice, 6), (calendar, 4), (words, 5), (yes_no, 5),
    (addition, 11), (subtraction, 8), (multiplication, 8), (division, 2), (word_problem, 4),
    (number_facts, 5), (counting, 3),
    (translate, 3), (spelling, 3), (repeat, 2), (fun, 2),
)
_FUNCS = [f for f, _ in INTENTS]
_WEIGHTS = [w for _, w in INTENTS]


def single_turn(r: random.Random, model: str) -> Turn:
    """One turn of a randomly chosen intent."""
    return r.choices(_FUNCS, _WEIGHTS)[0](r, model)


def _follow_up(r: random.Random, model: str) -> list[Turn]:
    """Turns that only make sense together: "And Germany?" after a capital, a remembered name."""
    kind = r.randrange(5)
    if kind == 4:  # "another one" must give another one
        what = r.choice(list(_CHOICES))
        first = _choice(r, what, _request(r, r.choice(_CHOICES[what][1])))
        given = first.thought.removeprefix(f"Any {what} will do. I pick ").removesuffix(".")
        again = _ask(r, r.choice(["another one", "one more", f"name another {what}", "and another"]), ".")
        return [first, _choice(r, what, again, besides=given)]
    if kind == 0:
        first = capital(r, model, reverse=False)
        country, city = r.choice(list(F.CAPITALS.items()))
        user = r.choice([f"and {country}", f"what about {country}", f"and the capital of {country}"])
        return [first, Turn(_ask(r, user), f"The capital of {country} is {city}.",
                            f"Now the user asks about {country}. Its capital is {city}.")]
    if kind == 1:
        first = r.choice([addition, subtraction, multiplication])(r, model)
        a, b = _small(r), _small(r)
        user = r.choice([f"and {a} + {b}", f"what about {a} + {b}", f"now {a} + {b}"])
        return [first, Turn(_ask(r, user), f"{a} + {b} = {a + b}.", _add_thought(a, b))]
    if kind == 2:
        first = colour(r, model)
        thing, c = r.choice(list(F.COLOURS.items()))
        return [first, Turn(_ask(r, r.choice([f"and {thing}", f"what about {thing}"])),
                            f"{_cap(thing)} is {c}.", f"{_cap(thing)} is {c}.")]
    name = r.choice(F.NAMES)
    intro = r.choice([f"my name is {name}", f"I'm {name}", f"hi, I am {name}", f"call me {name}"])
    turns = [Turn(_ask(r, intro, "."), f"Nice to meet you, {name}! How can I help you today?",
                  f"The user's name is {name}. I greet them by name.")]
    if r.random() < 0.5:
        turns.append(single_turn(r, model))
    turns.append(Turn(_ask(r, r.choice(["what is my name", "do you remember my name", "who am I",
                                        "what's my name"])),
                      f"Your name is {name}.", f"Earlier the user said their name is {name}."))
    return turns


def dialogue(r: random.Random, model: str) -> Dialogue:
    """One conversation: mostly single questions, some chains, some context-dependent follow-ups."""
    system = r.choice(F.SYSTEM_PROMPTS) if r.random() < 0.15 else None
    c = r.random()
    if c < 0.5:
        turns = [single_turn(r, model)]
    elif c < 0.82:
        turns = [single_turn(r, model) for _ in range(r.randint(2, 3))]
        if r.random() < 0.4:
            turns[0] = greeting(r, model)
        if r.random() < 0.4:
            turns[-1] = r.choice([thanks, goodbye])(r, model)
    else:
        turns = _follow_up(r, model)
    return Dialogue(system, tuple(turns))


def dialogues(n: int, *, seed: int, model: str) -> list[Dialogue]:
    """`n` dialogues for the demo standing in for `model` (e.g. "Llama-3.1-8b"); same seed, same list."""
    r = random.Random(seed)
    return [dialogue(r, model) for _ in range(n)]
