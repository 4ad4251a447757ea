"""Review titles and texts from templates: honest ones varied enough that two honest reviews are
almost never near-duplicates, and the one paragraph a review ring copies with small edits.

A text is four slots (an opener, a sentence about the product, a usage detail with a number and
a closer), each drawn from a pool for the review's sentiment band, with the product's noun in
two of them; a few words are then swapped for synonyms. Everything is indexed by integers
drawn by the caller, so the texts are as deterministic as its generator.
"""

from __future__ import annotations

import numpy as np

_BANDS = ("negative", "mixed", "positive")  # 1-2 stars, 3 stars, 4-5 stars

_TITLES = {
    1: ("Very disappointed", "Do not buy", "Broke quickly", "Waste of money", "Not as described"),
    2: ("Not great", "Expected more", "Meh", "Below average", "Has problems"),
    3: ("It's okay", "Average", "Does the job", "Mixed feelings", "Fine for the price"),
    4: ("Pretty good", "Happy with it", "Good value", "Works well", "Nice quality"),
    5: ("Love it", "Excellent", "Perfect", "Highly recommend", "Best purchase this year"),
}
_OPENERS = {
    "negative": (
        "I really wanted to like this.",
        "Sadly this did not work out for me.",
        "Not what I hoped for at all.",
        "I regret ordering this one.",
        "Quite a letdown, to be honest.",
        "This arrived and I was unimpressed.",
        "I had high hopes but no.",
        "Returned it after a short while.",
        "My experience was poor.",
        "I would not order again.",
        "Frustrating from the start.",
        "Cannot recommend this.",
    ),
    "mixed": (
        "It is fine, nothing special.",
        "Some good points and some bad.",
        "Works, but with caveats.",
        "Decent but not amazing.",
        "I have mixed feelings.",
        "It does what it says, mostly.",
        "Average overall.",
        "Okay for occasional use.",
        "Neither great nor terrible.",
        "About what I expected for the money.",
        "Could be better, could be worse.",
        "A middling purchase.",
    ),
    "positive": (
        "Really pleased with this.",
        "Exactly what I was looking for.",
        "Great purchase, no complaints.",
        "Very happy so far.",
        "This exceeded my expectations.",
        "Solid and well made.",
        "I use it every day now.",
        "Bought it as a gift and ordered a second.",
        "Impressed with the quality.",
        "Works just as advertised.",
        "Would happily buy again.",
        "Glad I picked this one.",
    ),
}
_PRODUCT = {
    "negative": (
        "The {noun} felt cheap and flimsy in my hands.",
        "My {noun} stopped working properly within days.",
        "The {noun} looks nothing like the photos.",
        "The finish on the {noun} was scratched out of the box.",
        "The {noun} is much smaller than the listing suggests.",
        "Parts of the {noun} came loose almost immediately.",
        "The {noun} smelled odd and never got better.",
        "Instructions for the {noun} were useless.",
        "The {noun} arrived damaged and the box was crushed.",
        "The {noun} does not do the one thing it should.",
    ),
    "mixed": (
        "The {noun} is usable but the materials are so-so.",
        "My {noun} works, though the design is a bit awkward.",
        "The {noun} is a little smaller than I pictured.",
        "The {noun} does the basics and little more.",
        "Build quality of the {noun} is acceptable.",
        "The {noun} needed some fiddling to set up.",
        "The colour of the {noun} is slightly off.",
        "The {noun} is fine for the price point.",
        "Some edges of the {noun} could be smoother.",
        "The {noun} is heavier than I expected.",
    ),
    "positive": (
        "The {noun} feels sturdy and well finished.",
        "My {noun} looks even better than the pictures.",
        "The {noun} was easy to set up and use.",
        "Quality of the {noun} is excellent for the price.",
        "The {noun} is the right size and very practical.",
        "Everyone who sees the {noun} asks where I got it.",
        "The {noun} does exactly what it promises.",
        "The {noun} arrived well packed and in perfect shape.",
        "Materials on the {noun} are nicer than I expected.",
        "The {noun} replaced an older one and is far better.",
    ),
}
_USAGE = (
    "I have had it for {n} {unit}.",
    "After {n} {unit} of use that is my verdict.",
    "Tested it over {n} {unit}.",
    "That is after {n} {unit} with it.",
    "Used it for about {n} {unit} now.",
    "My opinion after {n} {unit}.",
)
_UNITS = ("days", "weeks", "months")
_CLOSERS = {
    "negative": (
        "Save your money.",
        "Look elsewhere.",
        "Very poor value.",
        "Customer service was no help either.",
        "One star is generous.",
        "Avoid.",
        "I want a refund.",
        "Not worth the hassle.",
    ),
    "mixed": (
        "It will do for now.",
        "Maybe wait for a sale.",
        "Three stars feels right.",
        "Might work for others.",
        "Not sure I would buy it again.",
        "Fine if your needs are simple.",
        "Acceptable overall.",
        "Room for improvement.",
    ),
    "positive": (
        "Highly recommended.",
        "Five stars from me.",
        "Will buy from this seller again.",
        "Fast delivery too.",
        "Great value.",
        "You will not regret it.",
        "Thumbs up.",
        "Worth every penny.",
    ),
}
_SYNONYMS = (
    ("really", "truly"),
    ("very", "quite"),
    ("great", "fantastic"),
    ("happy", "pleased"),
    ("poor", "bad"),
    ("quality", "build"),
    ("expected", "imagined"),
    ("about", "roughly"),
)

# The paragraph a review ring copies, each member with one small edit.
RING_TEXT = (
    "This is hands down the best {noun} I have ever owned and I tell all my friends about it. "
    "The quality is outstanding, shipping was super fast and the seller was very responsive. "
    "Buy it now before it sells out, you will thank me later."
)
_RING_EDITS = (
    ("hands down", "without doubt"),
    ("super fast", "very fast"),
    ("all my friends", "everyone I know"),
    ("outstanding", "superb"),
    ("very responsive", "really responsive"),
    ("Buy it now", "Get it now"),
    ("thank me later", "thank me soon"),
    ("ever owned", "ever used"),
)


def band(rating: int) -> str:
    return _BANDS[0] if rating <= 2 else _BANDS[1] if rating == 3 else _BANDS[2]


def honest_text(rating: int, noun: str, draws: np.ndarray) -> tuple[str, str]:
    """(title, body) of an honest review; ``draws`` are 8 non-negative integers."""
    b = band(rating)
    noun = noun.lower()
    title = _TITLES[rating][draws[0] % len(_TITLES[rating])]
    parts = [
        _OPENERS[b][draws[1] % len(_OPENERS[b])],
        _PRODUCT[b][draws[2] % len(_PRODUCT[b])].format(noun=noun),
        _USAGE[draws[3] % len(_USAGE)].format(
            n=2 + draws[4] % 11, unit=_UNITS[draws[5] % len(_UNITS)]
        ),
        _CLOSERS[b][draws[6] % len(_CLOSERS[b])],
    ]
    body = " ".join(parts)
    old, new = _SYNONYMS[draws[7] % len(_SYNONYMS)]
    return title, body.replace(old, new)


def ring_text(noun: str, member: int) -> str:
    """The ring's paragraph for ``noun`` with member ``member``'s edit."""
    old, new = _RING_EDITS[member % len(_RING_EDITS)]
    return RING_TEXT.format(noun=noun.lower()).replace(old, new)
