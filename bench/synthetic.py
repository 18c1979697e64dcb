"""Reproducible synthetic RSS feeds for benchmarks: security events told by many outlets.

About 40% of the items are security news drawn from a pool of events. Each event is a set
of key terms (place, actor, action, target, casualty number) reported by several feeds,
each in its own words (templates and synonyms), some hours apart, with the toll rising.
The rest is sport, business, culture, science and weather. Everything is generated in
memory from a seeded ``random.Random``, so the same size and seed give the same bytes.

More items means more events, not bigger ones (2-40 reports per event, heavy-tailed), so
at 20,000 items some 1,270 events crowd 22 conflict theatres within 30 hours: a deliberately
dense window that stresses clustering. ``Corpus.truth`` maps each URL to its event.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from bot.models import FeedSpec

WINDOW_HOURS = 30
SECURITY_SHARE = 0.4

# (country, demonym, cities, actors); each actor is a tuple of ways outlets name it.
_THEATRES: list[tuple[str, str, tuple[str, ...], tuple[tuple[str, ...], ...]]] = [
    (
        "Ukraine",
        "Ukrainian",
        ("Kharkiv", "Odesa", "Zaporizhzhia", "Dnipro", "Kherson", "Sumy", "Pokrovsk", "Kryvyi Rih"),
        (
            ("Russian forces", "Moscow's troops", "the Russian army"),
            ("Russian drones", "Shahed drones", "Russian attack drones"),
        ),
    ),
    (
        "Russia",
        "Russian",
        ("Belgorod", "Kursk", "Bryansk", "Novorossiysk"),
        (("Ukrainian drones", "Kyiv's long-range drones"), ("Ukrainian forces", "Kyiv's troops")),
    ),
    (
        "Gaza",
        "Palestinian",
        ("Gaza City", "Khan Younis", "Rafah", "Deir al-Balah", "Jabalia", "Nuseirat"),
        (("Israeli forces", "the Israeli military", "the IDF"), ("Israeli jets", "warplanes")),
    ),
    (
        "the West Bank",
        "Palestinian",
        ("Jenin", "Nablus", "Tulkarm", "Hebron"),
        (("Israeli troops", "Israeli soldiers"), ("Israeli settlers", "armed settlers")),
    ),
    (
        "Lebanon",
        "Lebanese",
        ("Tyre", "Nabatieh", "Baalbek", "Sidon"),
        (("Israeli jets", "the Israeli air force"), ("Hezbollah fighters", "Hezbollah")),
    ),
    (
        "Syria",
        "Syrian",
        ("Aleppo", "Idlib", "Homs", "Deir ez-Zor", "Raqqa", "Latakia"),
        (
            ("Islamic State fighters", "IS militants", "Islamic State cells"),
            ("government forces", "Syrian troops"),
            ("Turkish-backed factions", "Turkish-backed fighters"),
        ),
    ),
    (
        "Iraq",
        "Iraqi",
        ("Mosul", "Kirkuk", "Erbil", "Diyala", "Anbar"),
        (("Islamic State militants", "IS gunmen"), ("Iran-backed militias", "armed factions")),
    ),
    (
        "Yemen",
        "Yemeni",
        ("Hodeidah", "Sanaa", "Marib", "Taiz"),
        (
            ("Houthi rebels", "the Houthis", "Ansar Allah"),
            ("US-led coalition jets", "US warplanes"),
        ),
    ),
    (
        "Sudan",
        "Sudanese",
        ("El Fasher", "Omdurman", "Khartoum", "Kadugli", "El Obeid", "Nyala"),
        (
            ("RSF fighters", "the Rapid Support Forces", "the paramilitary RSF"),
            ("the Sudanese army", "Sudanese armed forces", "army jets"),
        ),
    ),
    (
        "Somalia",
        "Somali",
        ("Mogadishu", "Baidoa", "Kismayo", "Beledweyne"),
        (("al-Shabaab militants", "al-Shabaab fighters", "the al-Qaeda-linked al-Shabaab"),),
    ),
    (
        "Nigeria",
        "Nigerian",
        ("Maiduguri", "Zamfara", "Kaduna", "Benue", "Borno"),
        (
            ("Boko Haram fighters", "Boko Haram jihadists"),
            ("armed bandits", "bandit gangs"),
            ("ISWAP militants", "Islamic State West Africa fighters"),
        ),
    ),
    (
        "Mali",
        "Malian",
        ("Timbuktu", "Gao", "Mopti", "Kidal"),
        (("JNIM fighters", "al-Qaeda-linked JNIM militants"), ("Africa Corps mercenaries",)),
    ),
    (
        "Burkina Faso",
        "Burkinabe",
        ("Djibo", "Kaya", "Fada N'Gourma"),
        (("jihadist militants", "JNIM jihadists"),),
    ),
    (
        "Congo",
        "Congolese",
        ("Goma", "Bunia", "Beni", "Uvira", "Bukavu"),
        (("M23 rebels", "Rwanda-backed M23 fighters"), ("ADF militants", "ADF insurgents")),
    ),
    (
        "Ethiopia",
        "Ethiopian",
        ("Gondar", "Bahir Dar", "Lalibela"),
        (("Fano militia", "Fano militiamen"), ("federal troops", "Ethiopian soldiers")),
    ),
    (
        "Pakistan",
        "Pakistani",
        ("Quetta", "Peshawar", "Bannu", "Dera Ismail Khan", "Turbat"),
        (
            ("Pakistani Taliban", "TTP militants", "Tehreek-e-Taliban fighters"),
            ("Baloch separatists", "Baloch Liberation Army insurgents"),
        ),
    ),
    (
        "Afghanistan",
        "Afghan",
        ("Kabul", "Kunduz", "Jalalabad"),
        (("Islamic State Khorasan", "IS-K militants"),),
    ),
    (
        "Myanmar",
        "Burmese",
        ("Lashio", "Sittwe", "Mandalay", "Sagaing", "Myawaddy"),
        (
            ("the junta", "military jets", "the military government"),
            ("Arakan Army fighters", "ethnic rebels"),
        ),
    ),
    (
        "Colombia",
        "Colombian",
        ("Cauca", "Catatumbo", "Arauca"),
        (("ELN guerrillas", "ELN rebels"), ("FARC dissidents", "FARC splinter groups")),
    ),
    (
        "Mexico",
        "Mexican",
        ("Culiacan", "Tijuana", "Uruapan", "Reynosa"),
        (("Sinaloa cartel gunmen", "cartel gunmen"), ("CJNG gunmen", "Jalisco cartel fighters")),
    ),
    (
        "Haiti",
        "Haitian",
        ("Port-au-Prince", "Mirebalais", "Petite-Riviere"),
        (("armed gangs", "gang members", "Viv Ansanm gangs"),),
    ),
    (
        "the Philippines",
        "Filipino",
        ("Marawi", "Maguindanao", "Sulu", "Basilan"),
        (
            ("Abu Sayyaf militants", "Islamist gunmen"),
            ("New People's Army rebels", "NPA guerrillas"),
        ),
    ),
]

# action -> (noun phrases, verb "struck"-like phrases)
_ACTIONS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("airstrike", "air strike", "air raid", "bombardment"), ("bombed", "struck from the air")),
    (("drone strike", "drone attack", "kamikaze drone attack"), ("struck", "targeted")),
    (("missile strike", "ballistic missile attack", "rocket attack"), ("hit", "struck")),
    (("shelling", "artillery barrage", "mortar fire"), ("shelled", "pounded")),
    (("suicide bombing", "suicide attack", "car bomb attack"), ("bombed", "attacked")),
    (("ambush", "roadside bombing", "IED attack"), ("ambushed", "attacked")),
    (("massacre", "gun attack", "armed raid"), ("stormed", "attacked")),
    (("mass abduction", "kidnapping raid"), ("raided", "stormed")),
    (("heavy fighting", "fierce clashes", "armed clashes"), ("clashed near", "fought over")),
    (("ground offensive", "assault", "counteroffensive"), ("pushed into", "assaulted")),
]

_TARGETS = (
    "market",
    "hospital",
    "school",
    "mosque",
    "church",
    "checkpoint",
    "military base",
    "displacement camp",
    "bus station",
    "power plant",
    "fuel depot",
    "apartment block",
    "police station",
    "wedding party",
    "funeral",
    "aid convoy",
    "border post",
    "bridge",
    "port",
    "railway station",
    "refinery",
    "army barracks",
    "village",
    "university",
    "water treatment plant",
    "grain silo",
    "football pitch",
    "bakery",
    "cattle market",
    "gold mine",
    "prison",
    "courthouse",
    "radio station",
    "airfield",
    "ammunition depot",
    "shopping centre",
    "hotel",
    "factory",
    "ferry terminal",
    "clinic",
    "orphanage",
    "fishing harbour",
    "telecoms tower",
    "customs office",
    "camp for displaced families",
)

_KILLED = ("killed", "dead", "left dead")
_WOUNDED = ("wounded", "injured", "hurt")
_SAID = ("said", "told reporters", "said in a statement", "told local media")
_OFFICIALS = (
    "the regional governor",
    "a local health official",
    "the interior ministry",
    "a hospital director",
    "a UN spokesperson",
    "a security source",
    "a civil defence official",
    "the mayor",
    "witnesses",
    "a military spokesman",
)
_QUOTES = (
    "We heard a huge explosion and then screaming",
    "This was a deliberate attack on civilians",
    "The number of victims is expected to rise",
    "Our teams are still pulling people from the rubble",
    "Hospitals are overwhelmed and short of blood",
    "Nobody was expecting an attack at this hour",
    "Entire families have been wiped out",
)
_CONTEXT = (
    "The conflict in {country} has displaced millions of people.",
    "It was one of the deadliest attacks in {city} this year.",
    "Fighting around {district} has intensified in recent weeks.",
    "Aid groups have warned of a worsening humanitarian crisis in {country}.",
    "No group immediately claimed responsibility for the attack in {district}.",
    "{Actor} have been blamed for a string of similar attacks.",
    "Ceasefire talks have stalled despite international pressure.",
    "The UN Security Council is due to discuss the situation in {country}.",
    "Residents of {district} said they had received no warning.",
    "{Person}, the {role}, declared three days of mourning.",
    "Schools in {district} were closed until further notice.",
    "Neighbouring governments condemned the violence in {city}.",
)

_TITLES = (
    "{Act} on {city} {target} kills {n}",
    "{City}: at least {n} {killed} as {actor} hit {target}",
    "{n} {killed} after {actor} {verb} {target} in {country_s}{city}",
    "{Actor} {act} leaves {n} dead in {city}",
    "Death toll from {city} {target} {act} rises to {n}",
    "{Country}: {actor} blamed for deadly {act} on {target} in {city}",
    "At least {n} {killed} in {act} near {city}, officials say",
    "{Demonym} officials say {n} {killed} in {city} {act}",
    "{Act} hits {target} in {city}, {n} reported dead",
    "{City} {target} {act}: what we know",
    "Deadly {act} in {country_s}{city} kills {n}, {w} {wounded}",
    "{District2} of {city} hit by {act}, {n} {killed}",
)

_LEDES = (
    "At least {n} people were killed and {w} {wounded} when {actor} {verb} {a_target} in {city} on {weekday}, {official} {said}.",
    "{A_act} on {a_target} in the {district} area of {city}, {country}, has killed {n} people, according to emergency services.",
    "Rescuers in {city} were searching the rubble of {a_target} in {district} after {a_act} blamed on {actor} left {n} dead.",
    "{Actor} carried out {a_act} on {a_target} in the {demonym} city of {city}, killing {n} and wounding {w}.",
    "The death toll from {weekday}'s {act} on {a_target} in {city} has risen to {n}, {person} {said}.",
    "{n} people died and {w} were {wounded} in {a_act} on {a_target} in {district}, near {city}.",
    "{Person}, the {role}, said {n} people were killed when {actor} {verb} {district} in {city}.",
    "Witnesses in {district} described scenes of panic after {actor} {verb} {a_target}, killing {n}.",
)
_SECONDS = (
    '"{quote}," {official2} {said}.',
    "{Official2} said {w} people were being treated in hospital, several in critical condition.",
    "{Person} condemned the {act} and called for an independent investigation.",
    "{Actor} did not immediately comment on the reports from {district}.",
    "Footage shared online showed smoke rising over the {target} in {district}.",
    "It was the second {act} in the {city} area in less than a week.",
    '"{quote}," said {person}, the {role}.',
    "{Person} said rescue teams were still working at the {target} late on {weekday}.",
    "The {target} had been sheltering families displaced from {district2}.",
    "Hospitals in {city} appealed for blood donors as the wounded arrived.",
)

_FIRST_NAMES = (
    "Ahmed",
    "Olena",
    "Ibrahim",
    "Maria",
    "Yusuf",
    "Fatima",
    "Oleksandr",
    "Amina",
    "Hassan",
    "Grace",
    "Juan",
    "Aung",
    "Imran",
    "Leila",
    "Samuel",
    "Nadia",
    "Khalid",
    "Ruth",
    "Tariq",
    "Elena",
    "Musa",
    "Sara",
    "Dmytro",
    "Halima",
    "Carlos",
    "Zainab",
    "Peter",
    "Rania",
)
_LAST_NAMES = (
    "Haddad",
    "Kovalenko",
    "Mohamed",
    "Okafor",
    "Rahman",
    "Mensah",
    "Petrenko",
    "Abdi",
    "Kyaw",
    "Khan",
    "Diallo",
    "Mutua",
    "Castillo",
    "Nasser",
    "Bondarenko",
    "Yousef",
    "Traore",
    "Hussein",
    "Lungu",
    "Salazar",
    "Barzani",
    "Qureshi",
    "Ouedraogo",
    "Mbeki",
    "Tkachenko",
    "Farah",
    "Mendoza",
    "Sabbagh",
    "Okonkwo",
    "Baig",
)
_ROLES = (
    "regional governor",
    "health minister",
    "local police chief",
    "district mayor",
    "civil defence chief",
    "provincial spokesman",
    "army spokesman",
    "UN coordinator",
)
_SYLLABLES = (
    "al",
    "bar",
    "dor",
    "kha",
    "mir",
    "nab",
    "ras",
    "sul",
    "tam",
    "zan",
    "qar",
    "lev",
    "ovo",
    "ika",
    "eni",
    "wad",
    "har",
    "bek",
    "tul",
    "sha",
    "kor",
    "mal",
    "yen",
    "ruz",
)
_DISTRICT_KINDS = ("district", "neighbourhood", "quarter", "suburb", "township")


def _town(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return name.capitalize() + rng.choice(("", "", "", "abad", "ville", "pur", " Wells"))


def _district(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return f"the {name.capitalize()} {rng.choice(_DISTRICT_KINDS)}"


# ---- non-security -------------------------------------------------------------------

_TEAMS = (
    "Arsenal",
    "Real Madrid",
    "Bayern Munich",
    "Inter Milan",
    "Boca Juniors",
    "Celtic",
    "Ajax",
    "Porto",
    "Galatasaray",
    "Al Ahly",
    "Liverpool",
    "Juventus",
    "Benfica",
    "Flamengo",
    "Napoli",
)
_PLAYERS = ("Silva", "Kane", "Mbappe", "Salah", "Haaland", "Pedri", "Musiala", "Saka", "Osimhen")
_COMPETITIONS = ("Champions League", "league", "cup", "Europa League", "Copa Libertadores")
_COMPANIES = (
    "Siemens",
    "Toyota",
    "Unilever",
    "Nestle",
    "Samsung",
    "Shell",
    "Airbus",
    "Tata Motors",
    "Alibaba",
    "Volkswagen",
    "Sony",
    "Maersk",
    "Novartis",
    "Petrobras",
)
_FILMS = (
    "The Quiet Harbour",
    "Midnight Orchard",
    "Paper Kingdoms",
    "A Winter in Lisbon",
    "The Glass Cartographer",
    "Salt and Silver",
)
_ARTISTS = ("Frida Kahlo", "Hokusai", "Turner", "Yayoi Kusama", "Caravaggio", "El Anatsui")
_SINGERS = ("Adele", "Burna Boy", "Rosalia", "Dua Lipa", "Bad Bunny", "Taylor Swift")
_CITIES = ("London", "Paris", "Tokyo", "Nairobi", "Sao Paulo", "Sydney", "Toronto", "Seoul")

_OTHER: dict[str, tuple[tuple[str, str], ...]] = {
    "sport": (
        (
            "{team} beat {team2} {g1}-{g2} to reach {comp} final",
            "{player} scored twice as {team} came from behind against {team2}. The coach praised the squad's resilience after a difficult month. The final will be played in {place} next month.",
        ),
        (
            "{player} signs new contract with {team}",
            "The striker has agreed a deal until 2029, the club said on {weekday}. {player} has scored {n} goals this season. Fans had feared a summer transfer.",
        ),
        (
            "{team} sack manager after {n} games without a win",
            "The club confirmed the departure after a {g1}-{g2} defeat by {team2}. An interim coach will take charge for the weekend fixture.",
        ),
    ),
    "business": (
        (
            "{company} shares jump after quarterly profit beats forecasts",
            "{company} reported revenue of {n} billion dollars, ahead of analyst expectations. The chief executive said demand in Asia had recovered. Shares rose {g1}% in early trading.",
        ),
        (
            "{company} to cut {n}00 jobs in restructuring",
            "The company said the cuts would fall mainly on its European operations. Unions criticised the plan and called for talks. The restructuring is expected to save {g1} billion euros a year.",
        ),
        (
            "Central bank in {place} holds interest rates at {g1}.{g2}%",
            "Policymakers voted to keep borrowing costs unchanged as inflation eased. Markets had expected the decision. Economists see a cut later in the year.",
        ),
    ),
    "culture": (
        (
            "{film} tops box office in opening weekend",
            "The drama took {n} million dollars in its first three days. Critics praised the lead performance. The film premiered at a festival in {place} last autumn.",
        ),
        (
            "{singer} announces world tour with {n} dates",
            "The singer will open the tour in {place} in spring. Tickets go on sale on {weekday}. The new album is released next month.",
        ),
        (
            "{place} museum unveils major {artist} exhibition",
            "The show brings together more than {n} works, many never seen in public. Curators spent four years on the project. It opens to visitors on {weekday}.",
        ),
    ),
    "science": (
        (
            "Astronomers spot {n} new exoplanets with space telescope",
            "The planets orbit a dim star about {g1}0 light years away. Researchers said two may have liquid water. The findings were published in a leading journal.",
        ),
        (
            "{company} unveils new smartphone with longer battery life",
            "The phone goes on sale in {place} next week. The company said the battery lasts {g1} days. Analysts expect strong holiday sales.",
        ),
    ),
    "weather": (
        (
            "Heatwave in {place} breaks temperature record",
            "Temperatures reached {g1}{g2} degrees on {weekday}, forecasters said. Authorities urged residents to stay indoors. Cooler weather is expected by the weekend.",
        ),
        (
            "Heavy rain brings flooding to {place} suburbs",
            "Forecasters warned of more rainfall over the next {g1} days. Several roads were closed and trains delayed. No injuries were reported.",
        ),
    ),
}

_OUTLET_WORDS = (
    "Global",
    "Daily",
    "World",
    "Evening",
    "Morning",
    "Metro",
    "Continental",
    "Pacific",
    "Atlantic",
    "Northern",
    "Southern",
    "Capital",
    "Independent",
    "National",
    "Frontline",
)
_OUTLET_KINDS = ("Wire", "Courier", "Herald", "Post", "Times", "Monitor", "Observer", "Report")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_JUNK = (
    "<p>The post {title} appeared first on {outlet}.</p>",
    '<p><a href="https://example.com/subscribe">Sign up for our newsletter</a></p>',
    "<p>Read more at {outlet}.</p>",
)


@dataclass(frozen=True)
class SyntheticFeed:
    """One generated feed: its spec and the RSS bytes a server would return."""

    spec: FeedSpec
    body: bytes


@dataclass
class Corpus:
    """A generated set of feeds plus the ground truth behind them."""

    feeds: list[SyntheticFeed]
    truth: dict[str, str] = field(default_factory=dict)  # canonical URL -> event id or ""
    events: int = 0
    security_items: int = 0

    @property
    def items(self) -> int:
        """How many items the feeds hold in total."""
        return len(self.truth)


@dataclass
class _Item:
    title: str
    description: str
    published: datetime
    event: str


@dataclass(frozen=True)
class _Event:
    id: str
    country: str
    demonym: str
    city: str
    actor: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    target: str
    deaths: int
    wounded: int
    start: datetime
    district: str
    district2: str
    person: str
    role: str


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, values: dict[str, str]) -> str:
    """Format ``template``; ``{Key}`` is ``values[key]`` with a capital first letter."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in values:
            return values[key]
        return _cap(values[key[0].lower() + key[1:]])

    return re.sub(r"\{(\w+)\}", sub, template)


def _events(rng: random.Random, count: int, now: datetime, first: int = 0) -> list[_Event]:
    events = []
    for i in range(first, first + count):
        country, demonym, cities, actors = rng.choice(_THEATRES)
        nouns, verbs = rng.choice(_ACTIONS)
        deaths = int(rng.choice((rng.randint(3, 30), rng.randint(10, 90), rng.randint(40, 400))))
        start = now - timedelta(hours=rng.uniform(0.5, WINDOW_HOURS))
        events.append(
            _Event(
                id=f"e{i:05d}",
                country=country,
                demonym=demonym,
                city=rng.choice(cities) if rng.random() < 0.4 else _town(rng),
                actor=rng.choice(actors),
                nouns=nouns,
                verbs=verbs,
                target=rng.choice(_TARGETS),
                deaths=deaths,
                wounded=deaths * rng.randint(1, 4) + rng.randint(0, 9),
                start=start,
                district=_district(rng),
                district2=_district(rng),
                person=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
                role=rng.choice(_ROLES),
            )
        )
    return events


def _security_item(rng: random.Random, event: _Event, now: datetime) -> _Item:
    published = event.start + timedelta(hours=rng.expovariate(1 / 2.5))
    if published > now:  # late reports of a fresh event land in the last half hour
        published = now - timedelta(minutes=rng.uniform(0, 30))
        published = max(published, event.start)
    progress = (published - event.start).total_seconds() / 3600
    deaths = event.deaths + int(event.deaths * min(progress, 8) * rng.uniform(0.0, 0.08))
    act = rng.choice(event.nouns)
    country = event.country
    bare_country = country.removeprefix("the ")
    values = {
        "act": act,
        "a_act": _a(act),
        "verb": rng.choice(event.verbs),
        "actor": rng.choice(event.actor),
        "city": event.city,
        "country": country,
        "country_s": rng.choice(("", f"{bare_country}'s ")),
        "demonym": event.demonym,
        "target": event.target,
        "a_target": _a(event.target),
        "n": str(deaths),
        "w": str(event.wounded),
        "killed": rng.choice(_KILLED),
        "wounded": rng.choice(_WOUNDED),
        "said": rng.choice(_SAID),
        "official": rng.choice(_OFFICIALS),
        "official2": rng.choice(_OFFICIALS),
        "district": event.district,
        "district2": event.district2,
        "District2": _cap(event.district.removeprefix("the ")),
        "person": event.person,
        "role": event.role,
        "quote": rng.choice(_QUOTES),
        "weekday": _WEEKDAYS[published.weekday()],
    }
    title = _fill(rng.choice(_TITLES), values)
    sentences = [_fill(rng.choice(_LEDES), values), _fill(rng.choice(_SECONDS), values)]
    if rng.random() < 0.6:
        sentences.append(_fill(rng.choice(_CONTEXT), values))
    return _Item(title, " ".join(sentences), published, event.id)


def _other_item(rng: random.Random, now: datetime) -> _Item:
    title_t, body_t = rng.choice(_OTHER[rng.choice(list(_OTHER))])
    team, team2 = rng.sample(_TEAMS, 2)
    published = now - timedelta(hours=rng.uniform(0, WINDOW_HOURS))
    values = {
        "team": team,
        "team2": team2,
        "player": rng.choice(_PLAYERS),
        "comp": rng.choice(_COMPETITIONS),
        "company": rng.choice(_COMPANIES),
        "film": rng.choice(_FILMS),
        "artist": rng.choice(_ARTISTS),
        "singer": rng.choice(_SINGERS),
        "place": rng.choice(_CITIES),
        "n": str(rng.randint(2, 400)),
        "g1": str(rng.randint(1, 9)),
        "g2": str(rng.randint(0, 5)),
        "weekday": _WEEKDAYS[published.weekday()],
    }
    return _Item(_fill(title_t, values), _fill(body_t, values), published, "")


def _outlets(rng: random.Random, count: int) -> list[FeedSpec]:
    names: list[str] = []
    while len(names) < count:
        name = f"{rng.choice(_OUTLET_WORDS)} {rng.choice(_OUTLET_KINDS)}"
        if name not in names:
            names.append(name)
    specs = []
    for name in names:
        slug = name.lower().replace(" ", "")
        weight = rng.choice((1.0, 1.0, 1.0, 1.0, 1.2, 0.8))
        specs.append(FeedSpec(name, f"https://{slug}.example.com/rss/world.xml", None, weight))
    return specs


def _rss(
    spec: FeedSpec, items: list[tuple[str, _Item]], rng: random.Random, now: datetime
) -> bytes:
    """An RSS 2.0 document in the shapes real feeds use (tracking params, CDATA, junk)."""
    declares_language = rng.random() < 0.85
    html_descriptions = rng.random() < 0.5
    tracking = rng.random() < 0.5
    junk = rng.random() < 0.25
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
        "<channel>",
        f"<title>{escape(spec.name)}</title>",
        f"<link>{escape(spec.url.rsplit('/rss', 1)[0])}</link>",
        f"<description>{escape(spec.name)} world news</description>",
        f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>",
    ]
    if declares_language:
        out.append(f"<language>{rng.choice(('en', 'en-gb', 'en-us'))}</language>")
    for url, item in sorted(items, key=lambda pair: pair[1].published, reverse=True):
        link = url + ("?utm_source=rss&utm_medium=feed&at_campaign=world" if tracking else "")
        description = item.description
        if html_descriptions:
            sentences = description.split(". ")
            description = "<p>" + ". ".join(sentences[:1]) + ".</p><p>" + ". ".join(sentences[1:])
            description = description.rstrip(".") + ".</p>"
        if junk:
            description += rng.choice(_JUNK).format(title=item.title, outlet=spec.name)
        out += [
            "<item>",
            f"<title>{escape(item.title)}</title>",
            f"<link>{escape(link)}</link>",
            f'<guid isPermaLink="true">{escape(url)}</guid>',
            f"<pubDate>{format_datetime(item.published)}</pubDate>",
            f"<description><![CDATA[{description}]]></description>",
            "</item>",
        ]
    out += ["</channel>", "</rss>"]
    return "\n".join(out).encode("utf-8")


def generate(
    n_items: int,
    now: datetime,
    seed: int = 20240611,
    n_feeds: int = 50,
    security_share: float = SECURITY_SHARE,
) -> Corpus:
    """Build ``n_items`` items over ``n_feeds`` RSS feeds, reproducibly from ``seed``."""
    rng = random.Random(f"{seed}:{n_items}:{n_feeds}")
    specs = _outlets(rng, n_feeds)
    # Feeds differ in volume; a few wires publish far more than the rest.
    volume = [rng.uniform(0.4, 2.5) for _ in specs]
    per_feed: list[list[tuple[str, _Item]]] = [[] for _ in specs]
    truth: dict[str, str] = {}
    counter = 0

    def place(feed: int, item: _Item) -> None:
        nonlocal counter
        counter += 1
        slug = re.sub(r"[^a-z0-9]+", "-", item.title.lower()).strip("-")[:60]
        day = item.published.strftime("%Y/%m/%d")
        url = f"https://{specs[feed].url.split('/')[2]}/{day}/{slug}-{counter:06d}"
        per_feed[feed].append((url, item))
        truth[url] = item.event

    security_target = round(n_items * security_share)
    # Cluster sizes stay realistic (2-40 reports per event) whatever n is: more items means
    # more events, not ever bigger ones.
    events = _events(rng, max(10, security_target // 6), now)
    used = 0
    placed = 0
    while placed < security_target:
        if used == len(events):
            events += _events(rng, max(10, len(events) // 4), now, len(events))
        event = events[used]
        used += 1
        reports = min(40, max(2, int(rng.paretovariate(1.4) * 2.5)), security_target - placed)
        for feed in rng.choices(range(len(specs)), weights=volume, k=reports):
            place(feed, _security_item(rng, event, now))
        placed += reports
    for _ in range(n_items - placed):
        place(rng.choices(range(len(specs)), weights=volume)[0], _other_item(rng, now))
    feeds = [
        SyntheticFeed(spec, _rss(spec, items, rng, now))
        for spec, items in zip(specs, per_feed, strict=True)
    ]
    return Corpus(feeds, truth, used, placed)
