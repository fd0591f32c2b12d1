"""Closed word lists the rules grammar and the hallucination guard share.

Kept small and explicit: the rules composer must be deterministic and auditable,
and the guard must be able to say exactly why a word was accepted.
"""
from __future__ import annotations

# base: (past, past participle) for irregular verbs; regular verbs are inflected by spelling rules
IRREGULAR: dict[str, tuple[str, str]] = {
    "be": ("was", "been"), "become": ("became", "become"), "begin": ("began", "begun"),
    "bring": ("brought", "brought"), "build": ("built", "built"), "buy": ("bought", "bought"),
    "catch": ("caught", "caught"), "choose": ("chose", "chosen"), "come": ("came", "come"),
    "cost": ("cost", "cost"), "cut": ("cut", "cut"), "do": ("did", "done"), "draw": ("drew", "drawn"),
    "drink": ("drank", "drunk"), "drive": ("drove", "driven"), "eat": ("ate", "eaten"),
    "fall": ("fell", "fallen"), "feel": ("felt", "felt"), "fight": ("fought", "fought"),
    "find": ("found", "found"), "fly": ("flew", "flown"), "forget": ("forgot", "forgotten"),
    "forgive": ("forgave", "forgiven"), "get": ("got", "got"), "give": ("gave", "given"),
    "go": ("went", "gone"), "grow": ("grew", "grown"), "have": ("had", "had"), "hear": ("heard", "heard"),
    "hide": ("hid", "hidden"), "hit": ("hit", "hit"), "hold": ("held", "held"), "hurt": ("hurt", "hurt"),
    "keep": ("kept", "kept"), "know": ("knew", "known"), "lay": ("laid", "laid"), "lead": ("led", "led"),
    "leave": ("left", "left"), "lend": ("lent", "lent"), "let": ("let", "let"), "lie": ("lay", "lain"),
    "lose": ("lost", "lost"), "make": ("made", "made"), "mean": ("meant", "meant"), "meet": ("met", "met"),
    "pay": ("paid", "paid"), "put": ("put", "put"), "read": ("read", "read"), "ride": ("rode", "ridden"),
    "ring": ("rang", "rung"), "rise": ("rose", "risen"), "run": ("ran", "run"), "say": ("said", "said"),
    "see": ("saw", "seen"), "seek": ("sought", "sought"), "sell": ("sold", "sold"), "send": ("sent", "sent"),
    "set": ("set", "set"), "shake": ("shook", "shaken"), "shoot": ("shot", "shot"), "show": ("showed", "shown"),
    "shut": ("shut", "shut"), "sing": ("sang", "sung"), "sit": ("sat", "sat"), "sleep": ("slept", "slept"),
    "speak": ("spoke", "spoken"), "spend": ("spent", "spent"), "stand": ("stood", "stood"),
    "steal": ("stole", "stolen"), "swim": ("swam", "swum"), "take": ("took", "taken"), "teach": ("taught", "taught"),
    "tell": ("told", "told"), "think": ("thought", "thought"), "throw": ("threw", "thrown"),
    "understand": ("understood", "understood"), "wake": ("woke", "woken"), "wear": ("wore", "worn"),
    "win": ("won", "won"), "write": ("wrote", "written"), "undertake": ("undertook", "undertaken"),
    "withdraw": ("withdrew", "withdrawn"), "overcome": ("overcame", "overcome"), "arise": ("arose", "arisen"),
    "bear": ("bore", "borne"), "beat": ("beat", "beaten"), "bind": ("bound", "bound"), "break": ("broke", "broken"),
    "deal": ("dealt", "dealt"), "feed": ("fed", "fed"), "freeze": ("froze", "frozen"), "mislead": ("misled", "misled"),
    "seem": ("seemed", "seemed"), "spread": ("spread", "spread"), "strike": ("struck", "struck"),
    "upset": ("upset", "upset"), "fit": ("fit", "fit"), "quit": ("quit", "quit"), "bet": ("bet", "bet"),
}

# verbs the grammar recognises (for tense, do-support and perfect/passive participles)
VERBS: frozenset[str] = frozenset(IRREGULAR) | frozenset("""
accept achieve act add adopt agree allow answer appear apply approve argue arrive ask attack avoid believe
belong call care carry change check clean close collect complain complete concern consider continue cook cry
dance decide demand depend describe destroy develop die discuss dream drop earn end enjoy ensure enter establish
examine expect explain face fail finish fix follow force gather guarantee happen hate help hope hurry ignore
improve include increase inform introduce invest invite involve join jump kill kiss laugh learn like listen live
look love marry miss move need note notice obey oblige observe offer open order own paint pass phone plan play
point pray prefer prepare present prevent print produce promise propose protect prove provide pull push reach
realise realize receive recommend record reduce refer reject relax remain remember remove repeat reply report
request require respect respond rest return review save search serve settle share shop shout sign smile solve
start stay stop study submit succeed suggest summon support suppose surprise talk taste thank touch travel try
turn urge use visit vote wait walk want wash watch welcome wish wonder work worry
""".split())

PREPOSITIONS: frozenset[str] = frozenset("""
about above across after against along among around at before behind below beneath beside between beyond by
down during except for from in inside into near of off on onto out outside over past since through
throughout till to toward towards under until up upon with within without
""".split())

DETERMINERS: frozenset[str] = frozenset("""
a an the this that these those my your his her its our their some any no every each all both either neither
many much more most few several other another such what which whose one two three four five six seven eight
nine ten own same
""".split())

PRONOUNS: frozenset[str] = frozenset("""
i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself
we us our ours ourselves they them their theirs themselves who whom whose what which that this these those
someone somebody something anyone anything everyone everything nobody nothing one there here
""".split())

AUXILIARIES: frozenset[str] = frozenset("""
am is are was were be been being do does did done have has had having will would shall should can could may
might must ought not n't 's 're 've 'll 'd 'm
""".split())

CONJUNCTIONS: frozenset[str] = frozenset("and or but so because if then than when while whether as though although yet nor".split())

OTHER_FUNCTION: frozenset[str] = frozenset("""
very too also just only even still already again now then here there yes no not never always ever how why
where when well really quite rather please oh okay ok
""".split())

PREPOSITIONS_UP: frozenset[str] = frozenset(w.upper() for w in PREPOSITIONS)
CONJ_UP: frozenset[str] = frozenset(w.upper() for w in CONJUNCTIONS)
DET_UP: frozenset[str] = frozenset(w.upper() for w in DETERMINERS)

# Words any backend may add without gloss support: grammar glue, never content.
FUNCTION_WORDS: frozenset[str] = PREPOSITIONS | DETERMINERS | PRONOUNS | AUXILIARIES | CONJUNCTIONS | OTHER_FUNCTION

TIME_PAST: frozenset[str] = frozenset(
    "YESTERDAY PAST BEFORE AGO LAST-WEEK LAST-YEAR LAST-MONTH LAST-NIGHT PAST-NIGHT RECENT RECENTLY LONG-AGO "
    "ALREADY PAST_2 WAS".split())
TIME_FUTURE: frozenset[str] = frozenset(
    "TOMORROW FUTURE WILL LATER LATER_2 NEXT-WEEK NEXT-YEAR NEXT-MONTH SOON SHALL GONNA FUTURE_2".split())
TIME_WORDS: frozenset[str] = TIME_PAST | TIME_FUTURE | frozenset(
    "TODAY NOW MORNING AFTERNOON EVENING NIGHT TONIGHT NOON WEEK YEAR MONTH DAY EVERYDAY SUNDAY MONDAY TUESDAY "
    "WEDNESDAY THURSDAY FRIDAY SATURDAY ALL-MORNING ALL-NIGHT ALL-DAY NOWADAYS UP-TO-NOW".split())
# time words that head the sentence in English too when they head it in ASL
FRONT_TIME: frozenset[str] = frozenset(
    "YESTERDAY TOMORROW TODAY NOW LAST-WEEK LAST-YEAR LAST-MONTH LAST-NIGHT NEXT-WEEK NEXT-YEAR NEXT-MONTH "
    "TONIGHT MORNING AFTERNOON EVENING LATER SOON RECENTLY SUNDAY MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY".split())

WH_WORDS: dict[str, str] = {
    "WHAT": "what", "WHO": "who", "WHERE": "where", "WHEN": "when", "WHY": "why", "HOW": "how", "WHICH": "which",
    "HOW-MANY": "how many", "HOW-MUCH": "how much", "WHAT-FOR": "what for", "FOR-FOR": "why",
}

# (subject form, object form, possessive, reflexive, person, plural)
PERSONS: dict[str, tuple[str, str, str, str, int, bool]] = {
    "1": ("I", "me", "my", "myself", 1, False),
    "2": ("you", "you", "your", "yourself", 2, False),
    "3": ("they", "them", "their", "themselves", 3, True),  # gender is not in the sign: singular they
    "3s": ("he", "him", "his", "himself", 3, False),  # only when the gloss itself says HE (ASLG-PC12 X-HE)
    "1pl": ("we", "us", "our", "ourselves", 1, True),
    "2pl": ("you", "you", "your", "yourselves", 2, True),
    "3pl": ("they", "them", "their", "themselves", 3, True),
    "3it": ("it", "it", "its", "itself", 3, False),
}

# multi-word or irregular gloss readings (after prefixes/suffixes are removed)
GLOSS_WORDS: dict[str, str] = {
    "TEACH+AGENT": "teacher", "LEARN+AGENT": "student", "WORK+AGENT": "worker", "MOTHER+FATHER": "parents",
    "ALL-RIGHT": "all right", "A-LOT": "a lot", "FINE": "fine", "HAVE-TO": "have to", "CAN'T": "cannot",
    "CANNOT": "cannot", "DON'T": "do not", "DON'T-KNOW": "do not know", "DON'T-LIKE": "do not like",
    "DON'T-WANT": "do not want", "NOT-YET": "not yet", "NONE": "none", "ONE-MORE": "one more",
    "UP-TO-NOW": "until now", "EVERYDAY": "every day", "ALL-MORNING": "all morning", "ALL-NIGHT": "all night",
    "ALL-DAY": "all day", "LAST-WEEK": "last week", "LAST-YEAR": "last year", "LAST-NIGHT": "last night",
    "NEXT-WEEK": "next week", "NEXT-YEAR": "next year", "PAST-NIGHT": "last night", "LONG-AGO": "long ago",
    "MOVE-AWAY": "move away", "SETTLE-DOWN": "settle down", "PICK-UP": "pick up", "OPEN-DOOR": "open the door",
    "CLOSE-DOOR": "close the door", "GET-IN": "get in", "FLY-BY-PLANE": "fly", "EXCUSE-GO": "go",
    "TIME-PASSING": "over time", "THANK-YOU": "thank you", "THANKYOU": "thank you", "NICE-MEET-YOU": "nice to meet you",
    "SEE-YOU-LATER": "see you later", "HEARING": "hearing", "DEAF": "deaf", "MANY": "many",
    "NOT": "not", "NEVER": "never", "NOTHING": "nothing", "NO": "no", "YES": "yes", "NONE/NOTHING": "nothing",
    "PAST": "before", "PAST_2": "before", "FUTURE": "later", "LATER_2": "later", "AFTERNOON_2": "afternoon",
    "GONE": "gone", "FINISH": "finish", "WILL": "will", "SHOULD": "should", "MUST": "must", "CAN": "can",
}

# gloss forms that come out of ASLG-PC12's generator, which deleted the letters "the" inside words.
# Only the prefixed forms (and two non-words) are rewritten, so a real OR or FUR is left alone.
ASLG_ARTEFACTS_X: dict[str, str] = {
    "X-Y": "they", "X-M": "them", "X-IR": "their", "X-MSELVES": "themselves", "X-MSELF": "themself",
}
ASLG_ARTEFACTS_DESC: dict[str, str] = {
    "DESC-RE": "there", "DESC-REFORE": "therefore", "DESC-OR": "other", "DESC-N": "then", "DESC-REBY": "thereby",
    "DESC-RWISE": "otherwise", "DESC-TOGER": "together", "DESC-FUR": "further", "DESC-FURRMORE": "furthermore",
    "DESC-NEVERLESS": "nevertheless", "DESC-NONELESS": "nonetheless", "DESC-REIN": "therein",
    "DESC-RMORE": "furthermore", "DESC-WHER": "whether", "DESC-ORS": "others",
}
ASLG_ARTEFACTS_PLAIN: dict[str, str] = {"SE": "these", "WHER": "whether", "ORS": "others", "REFORE": "therefore"}

NUMBERS: dict[str, str] = {
    "ONE": "one", "TWO": "two", "THREE": "three", "FOUR": "four", "FIVE": "five", "SIX": "six", "SEVEN": "seven",
    "EIGHT": "eight", "NINE": "nine", "TEN": "ten", "ELEVEN": "eleven", "TWELVE": "twelve", "TWENTY": "twenty",
    "HUNDRED": "hundred", "THOUSAND": "thousand", "MILLION": "million",
}

MODALS: frozenset[str] = frozenset("can could will would shall should may might must cannot".split())


def past(verb: str) -> str:
    if verb in IRREGULAR:
        return IRREGULAR[verb][0]
    return _regular_ed(verb)


def participle(verb: str) -> str:
    if verb in IRREGULAR:
        return IRREGULAR[verb][1]
    return _regular_ed(verb)


def third_person(verb: str) -> str:
    if verb == "have":
        return "has"
    if verb in ("be",):
        return "is"
    if verb in ("do", "go"):
        return verb + "es"
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb in ("be", "see", "flee", "agree", "free"):
        return verb + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    if (len(verb) >= 3 and verb[-1] in "bdgmnprt" and verb[-2] in "aeiou" and verb[-3] not in "aeiou"
            and len(verb) <= 4):
        return verb + verb[-1] + "ing"
    return verb + "ing"


ADVERBS: frozenset[str] = frozenset("""
already also not very now so even still just only again always never often soon too then there here
however therefore thus perhaps maybe indeed rather quite almost enough ever yet instead moreover further
""".split())

# names in the recogniser's vocabulary that English writes with a capital (MARCH and MAY stay out: verbs too)
PROPER_NOUNS: dict[str, str] = {w.lower(): w for w in (
    "Africa America Australia California Canada Chicago China England Europe France Germany India Italy Japan "
    "Mexico Philadelphia Russia Spain English French German Spanish Catholic Christian Jewish God Jesus Bible "
    "Christmas Easter Halloween Thanksgiving Monday Tuesday Wednesday Thursday Friday Saturday Sunday January "
    "February April June July August September October November December ASL").split()}

# verbs of motion that take "to" before a destination (IX-1p GO STORE -> I went to the store)
MOTION_VERBS: frozenset[str] = frozenset("go come walk drive fly move travel return run ride hurry".split())


def _regular_ed(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    if (len(verb) >= 3 and verb[-1] in "bdgmnprt" and verb[-2] in "aeiou" and verb[-3] not in "aeiou"
            and len(verb) <= 4):
        return verb + verb[-1] + "ed"
    return verb + "ed"


def lemma_candidates(word: str) -> set[str]:
    """Possible base forms of an English word, for matching output words to glosses."""
    w = word.lower().strip("'")
    out = {w}
    if w.endswith("'s"):
        out.add(w[:-2])
    for suf, rep in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("d", ""),
                     ("ing", ""), ("ing", "e"), ("er", ""), ("er", "e"), ("ers", ""), ("ly", ""), ("est", ""),
                     ("ation", "e"), ("ment", ""), ("ness", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 2:
            base = w[: len(w) - len(suf)] + rep
            out.add(base)
            if len(base) > 2 and base[-1] == base[-2]:
                out.add(base[:-1])  # stopped -> stopp -> stop
    for base, (p, pp) in IRREGULAR.items():
        if w in (p, pp):
            out.add(base)
    return out
