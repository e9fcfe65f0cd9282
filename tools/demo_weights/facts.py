"""The small world the demo models know about: plain tables, no logic.

Every answer the demo corpus gives comes from here (or from arithmetic), so a fact is fixed in one
place and the models cannot be taught two different capitals of Peru.
"""

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Portugal": "Lisbon", "the United Kingdom": "London", "Ireland": "Dublin",
    "the Netherlands": "Amsterdam", "Belgium": "Brussels", "Switzerland": "Bern",
    "Austria": "Vienna", "Poland": "Warsaw", "Sweden": "Stockholm", "Norway": "Oslo",
    "Denmark": "Copenhagen", "Finland": "Helsinki", "Greece": "Athens", "Russia": "Moscow",
    "Turkey": "Ankara", "Egypt": "Cairo", "Kenya": "Nairobi", "Nigeria": "Abuja",
    "Morocco": "Rabat", "Japan": "Tokyo", "China": "Beijing", "India": "New Delhi",
    "South Korea": "Seoul", "Thailand": "Bangkok", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "Australia": "Canberra", "Canada": "Ottawa", "the United States": "Washington, D.C.",
    "Mexico": "Mexico City", "Brazil": "Brasília", "Argentina": "Buenos Aires",
    "Chile": "Santiago", "Peru": "Lima",
}

# thing -> its usual colour ("What colour is {thing}?")
COLOURS = {
    "the sky": "blue", "grass": "green", "snow": "white", "a banana": "yellow",
    "the sun": "yellow", "a strawberry": "red", "coal": "black", "an orange": "orange",
    "a lemon": "yellow", "milk": "white", "a tomato": "red", "a leaf": "green",
    "the sea": "blue", "chocolate": "brown", "a carrot": "orange", "a frog": "green",
    "blood": "red", "a crow": "black", "a cloud": "white", "an elephant": "grey",
}
COLOUR_NAMES = ["red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black",
                "white", "grey"]

# animal -> (sound, legs, baby name)
ANIMALS = {
    "dog": ("woof", 4, "puppy"), "cat": ("meow", 4, "kitten"), "cow": ("moo", 4, "calf"),
    "duck": ("quack", 2, "duckling"), "sheep": ("baa", 4, "lamb"), "pig": ("oink", 4, "piglet"),
    "horse": ("neigh", 4, "foal"), "lion": ("roar", 4, "cub"), "owl": ("hoot", 2, "owlet"),
    "frog": ("ribbit", 4, "tadpole"), "chicken": ("cluck", 2, "chick"),
    "goat": ("baa", 4, "kid"), "bear": ("growl", 4, "cub"), "tiger": ("roar", 4, "cub"),
    "mouse": ("squeak", 4, "pup"), "bee": ("buzz", 6, "larva"), "spider": ("hiss", 8, "spiderling"),
}
# ability -> (who can, who cannot), for "Can a {animal} {ability}?" (tuples: sets would make the
# corpus depend on PYTHONHASHSEED)
ABILITIES = {
    "fly": (("bird", "bee", "duck", "owl", "bat", "butterfly"),
            ("dog", "cat", "cow", "pig", "fish", "horse", "snake")),
    "swim": (("fish", "duck", "frog", "dolphin", "whale", "dog"), ("rock", "cat")),
    "climb trees": (("cat", "monkey", "squirrel", "bear"), ("cow", "fish", "horse", "whale")),
}

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

OPPOSITES = {
    "hot": "cold", "big": "small", "up": "down", "day": "night", "fast": "slow",
    "happy": "sad", "open": "closed", "old": "young", "light": "dark", "left": "right",
    "in": "out", "yes": "no", "tall": "short", "wet": "dry", "full": "empty", "hard": "soft",
    "early": "late", "win": "lose", "loud": "quiet", "black": "white", "good": "bad",
    "rich": "poor", "strong": "weak", "near": "far", "push": "pull", "begin": "end",
}

PLURALS = {
    "cat": "cats", "dog": "dogs", "child": "children", "mouse": "mice", "man": "men",
    "woman": "women", "foot": "feet", "tooth": "teeth", "box": "boxes", "bus": "buses",
    "baby": "babies", "city": "cities", "knife": "knives", "leaf": "leaves", "sheep": "sheep",
    "fish": "fish", "person": "people", "goose": "geese", "apple": "apples", "book": "books",
    "tree": "trees", "house": "houses", "car": "cars", "wolf": "wolves", "potato": "potatoes",
}

# phrase -> language -> translation
TRANSLATIONS = {
    "hello": {"French": "Bonjour", "Spanish": "Hola", "German": "Hallo", "Italian": "Ciao",
              "Japanese": "Konnichiwa", "Portuguese": "Olá", "Dutch": "Hallo"},
    "thank you": {"French": "Merci", "Spanish": "Gracias", "German": "Danke",
                  "Italian": "Grazie", "Japanese": "Arigatou", "Portuguese": "Obrigado",
                  "Dutch": "Dank je"},
    "goodbye": {"French": "Au revoir", "Spanish": "Adiós", "German": "Auf Wiedersehen",
                "Italian": "Arrivederci", "Japanese": "Sayonara", "Portuguese": "Tchau",
                "Dutch": "Tot ziens"},
}

SPELL_WORDS = ["cat", "dog", "sun", "tree", "house", "apple", "tiger", "city", "hello", "water",
               "book", "fish", "moon", "star", "bird", "milk", "red", "blue", "green", "car",
               "rain", "snow", "happy", "music", "pizza", "bread", "chair", "table", "night"]

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen", "nineteen", "twenty"]

NAMES = ["Alice", "Bob", "Carla", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jamal",
         "Kai", "Lena", "Marco", "Nina", "Omar", "Priya", "Sam", "Tara", "Yuki", "Zoe"]

FRUITS = ["apple", "banana", "orange", "pear", "grape", "mango", "cherry", "lemon", "plum",
          "peach", "strawberry", "pineapple"]

# Counting nouns for word problems: (singular, plural).
THINGS = [("apple", "apples"), ("cookie", "cookies"), ("book", "books"), ("pencil", "pencils"),
          ("ball", "balls"), ("sweet", "sweets"), ("coin", "coins"), ("flower", "flowers"),
          ("egg", "eggs"), ("card", "cards")]

# Questions the demo cannot really answer: it says so instead of inventing nonsense.
HARD_TOPICS = ["quantum physics", "the stock market", "machine learning", "black holes",
               "the theory of relativity", "how a car engine works", "the French Revolution",
               "photosynthesis", "blockchain", "the meaning of life", "climate change",
               "how the internet works", "neural networks", "the history of Rome",
               "how vaccines work", "string theory", "economics", "philosophy"]
HARD_TASKS = ["write a Python function that sorts a list", "write an essay about the ocean",
              "summarise this article", "translate this paragraph into Chinese",
              "write a SQL query for my database", "fix the bug in my code",
              "plan a trip to Italy for me", "write a cover letter", "solve this integral",
              "explain how to invest my money", "write a story about a dragon",
              "what is the weather today", "what time is it", "what is the latest news"]

JOKES = [
    "Why did the tiger eat the tightrope walker? It wanted a well-balanced meal.",
    "Why did the scarecrow win an award? Because he was outstanding in his field.",
    "What do you call a fish with no eyes? A fsh.",
    "Why can't a bicycle stand up by itself? Because it is two tired.",
]
POEMS = [
    "The sun is warm, the sky is blue,\nthe tiger naps, and so do you.",
    "Stars at night are shining bright,\nthe moon says hello, then says good night.",
]

SYSTEM_PROMPTS = [
    "You are a helpful assistant.", "You are a friendly assistant.",
    "You are TigerCity, a helpful assistant.", "Answer briefly.",
    "You are a helpful, honest and harmless assistant.", "Be concise.",
    "You are a helpful assistant. Answer the user's questions.",
    "You are a kind assistant who answers simple questions.",
]
