"""A large organization built with plain SQL (``generate_series``), never the ORM per row.

``build(sizes)`` fills an emptied, migrated database with one organization: facilities with
their sender numbers, leads and customers with one phone number each, the consent ledger (a
grant per number before any text, some later revocations) and its current rows, history, texts
and inbox conversations. The few rows a person would make by hand (users, memberships, the API
token, templates) go through the ORM.

Distributions, so the planner sees what a real operator's database holds:

- texts: a few hot threads (``HOT_PEOPLE`` people share ``HOT_SHARE`` of all texts), the rest
  skewed towards some people (``person = P · u²``), so most threads are short and many people
  have none; 70 % outbound (delivered, sent, undelivered, failed, canceled, a few scheduled
  ahead), 30 % inbound (a few flagged as plain-words opt-out requests);
- bodies: from a pool of sentences made of ``WORDS`` drawn Zipf-like (the first words are
  common), each ``RARE_WORDS`` entry in one pool sentence only (so in about texts ÷ pool texts);
- names from ``FIRST_NAMES`` and ``LAST_NAMES``, numbers valid US E.164 numbers (``number_sql``),
  timestamps over the last 12 months, consent granted before the first text.

Which columns each table gets is ``COLUMNS`` (table → column → SQL expression); a test checks it
against the models' ``_meta``, so a new NOT NULL column breaks that test, not the bench.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

GENERATOR_VERSION = 1

HOT_PEOPLE = 10
HOT_SHARE = 0.05
LEAD_SHARE = 0.6  # the rest are customers
REVOKED_SHARE = 0.02
CONVERSATION_SHARE = 0.05  # people whose conversation has a row (assigned or read)
BODY_POOL = 50_000
AGENTS = 20  # agent accounts besides the bench's agent and manager

# Valid US area codes (phonenumbers accepts [2-9]xx-xxxx behind each); the senders use numbers
# past the people's, so no sender is anyone's own number.
AREA_CODES = (
    "512", "737", "210", "214", "469", "713", "281", "832", "305", "786",
    "407", "321", "813", "727", "904", "404", "678", "615", "704", "919",
)  # fmt: skip
TIME_ZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")
STATES = ("TX", "FL", "GA", "TN", "NC", "CA", "NY", "OK", "")

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Rebecca",
    "Jason",
    "Sharon",
    "Edward",
    "Laura",
    "Jeffrey",
    "Cynthia",
    "Ryan",
    "Dorothy",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Emma",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Nicole",
    "Scott",
    "Anna",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "Gregory",
    "Debra",
    "Alexander",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Frank",
    "Janet",
    "Raymond",
    "Maria",
    "Jack",
    "Olivia",
    "Dennis",
    "Heather",
    "Jerry",
    "Helen",
    "Tyler",
    "Catherine",
    "Aaron",
    "Diane",
    "Jose",
    "Julie",
    "Adam",
    "Victoria",
    "Nathan",
    "Joyce",
    "Henry",
    "Lauren",
    "Zachary",
    "Kelly",
    "Douglas",
    "Christina",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
]
# Zipf-like: the first words are drawn most often.
WORDS = [
    "the",
    "your",
    "unit",
    "is",
    "at",
    "you",
    "to",
    "a",
    "and",
    "for",
    "your",
    "we",
    "storage",
    "gate",
    "payment",
    "today",
    "thanks",
    "hi",
    "on",
    "this",
    "of",
    "be",
    "can",
    "please",
    "reply",
    "call",
    "us",
    "access",
    "code",
    "rent",
    "due",
    "balance",
    "move",
    "in",
    "out",
    "reservation",
    "size",
    "door",
    "facility",
    "office",
    "hours",
    "open",
    "tomorrow",
    "week",
    "month",
    "climate",
    "controlled",
    "lock",
    "key",
    "drive",
    "up",
    "first",
    "free",
    "online",
    "auto",
    "pay",
    "card",
    "reminder",
    "confirm",
    "reserved",
    "available",
    "price",
    "special",
    "discount",
    "insurance",
    "protection",
    "plan",
    "late",
    "fee",
    "account",
    "team",
    "manager",
    "hello",
    "good",
    "morning",
    "afternoon",
    "evening",
    "question",
    "help",
    "need",
    "more",
    "info",
    "about",
    "when",
    "where",
    "how",
    "ready",
    "still",
    "interested",
    "visit",
    "tour",
    "schedule",
    "address",
    "directions",
    "weekend",
    "monday",
    "friday",
    "saturday",
    "sunday",
    "boxes",
    "truck",
    "rental",
    "moving",
    "supplies",
    "packing",
    "tape",
    "dolly",
    "elevator",
    "floor",
    "second",
    "ground",
    "parking",
    "rv",
    "boat",
    "vehicle",
    "lease",
    "agreement",
    "sign",
    "email",
    "phone",
    "number",
    "text",
    "back",
    "soon",
    "great",
    "thank",
    "appreciate",
    "customer",
    "new",
]
RARE_WORDS = [
    "xylophone",
    "quokka",
    "marzipan",
    "zeppelin",
    "harpsichord",
    "kumquat",
    "obelisk",
    "sassafras",
    "tamarind",
    "vellum",
    "bandoneon",
    "cassowary",
    "damask",
    "euphonium",
    "flamingo",
    "gazebo",
    "hyacinth",
    "isthmus",
    "jodhpurs",
    "kohlrabi",
]
COMMON_WORD = "unit"  # among the most drawn words: matches a large share of all texts


@dataclass(frozen=True)
class Sizes:
    texts: int = 10_000_000
    people: int = 1_000_000
    facilities: int = 1_000
    history: int = 2_000_000

    @property
    def leads(self) -> int:
        return max(1, round(self.people * LEAD_SHARE))

    @property
    def customers(self) -> int:
        return self.people - self.leads

    @property
    def pool(self) -> int:
        """How many distinct bodies texts and history draw from."""
        return min(BODY_POOL, max(200, self.texts // 10))

    @property
    def revoked(self) -> int:
        return int(self.people * REVOKED_SHARE)

    def label(self) -> str:
        return (
            f"{self.texts:,} texts, {self.people:,} people across {self.facilities:,} facilities, "
            f"{self.history:,} history rows"
        )


# The size of `make run`'s demo organization (interactions/demo.py: 40 people over a few facilities).
DEMO = Sizes(texts=1_000, people=40, facilities=3, history=400)


def _array(words: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]"


def number_sql(i: str) -> str:
    """A valid, distinct US number in E.164 for the integer SQL expression ``i`` (≥ 1)."""
    areas = _array(AREA_CODES)
    n = len(AREA_CODES)
    return (
        f"('+1' || ({areas})[1 + (({i}) % {n})] || (200 + ((({i}) / {n}) / 10000) % 800)::text "
        f"|| lpad(((({i}) / {n}) % 10000)::text, 4, '0'))"
    )


def _person_sql(people: int) -> str:
    """A person index 1..people per row: the hot threads first, then skewed towards low indexes."""
    hot = min(HOT_PEOPLE, people)
    return (
        f"(CASE WHEN random() < {HOT_SHARE} THEN 1 + floor(random() * {hot})::int "
        f"ELSE 1 + least({people} - 1, floor({people} * power(random(), 2))::int) END)"
    )


def _owner_sql(p: str, leads: int) -> tuple[str, str]:
    return f"(CASE WHEN {p} <= {leads} THEN {p} END)", f"(CASE WHEN {p} > {leads} THEN {p} - {leads} END)"


def _facility_sql(p: str, facilities: int) -> str:
    return f"(1 + ({p}) % {facilities})"


# --- the columns each table gets (checked against the models in tests/test_bench_scale.py) -----------

# Each table's rows come from a FROM clause that names the values the expressions use. The ids are
# explicit (1..n, in a fresh database), so a text's person, number and facility follow from its index.
_NOW = "(SELECT t FROM pg_temp.bench_now)"


def columns(s: Sizes) -> dict[str, tuple[dict[str, str], str]]:
    """Table → (column → SQL expression, FROM clause), for this size."""
    lead, customer = _owner_sql("p", s.leads)
    organization = "(SELECT id FROM interactions_organization WHERE slug = 'scale')"
    agents = "(SELECT array_agg(user_id ORDER BY user_id) FROM interactions_membership)"
    statuses = "ARRAY['new','contacted','reserved','converted','lost']"
    tables: dict[str, tuple[dict[str, str], str]] = {}
    tables["interactions_facility"] = (
        {
            "id": "g",
            "organization_id": organization,
            "name": "'Storage ' || g",
            "address": "g || ' Main Street'",
            "time_zone": f"({_array(TIME_ZONES)})[1 + g % {len(TIME_ZONES)}]",
            "phone": "''",
            "sms_sender_number": number_sql(f"{s.people} + g"),
            "sender_registration": "'approved'",
            "sender_brand_id": "''",
            "sender_campaign_id": "''",
            "sender_toll_free_verification_id": "''",
            "sender_flagged_at": "NULL",
            "sender_flag_reason": "''",
        },
        f"generate_series(1, {s.facilities}) g",
    )
    person = {
        "organization_id": organization,
        "first_name": f"({_array(FIRST_NAMES)})[1 + floor(random() * {len(FIRST_NAMES)})::int]",
        "last_name": f"({_array(LAST_NAMES)})[1 + floor(random() * {len(LAST_NAMES)})::int]",
        "state": f"({_array(STATES)})[1 + g % {len(STATES)}]",
        "postal_code": "''",
        "created_at": f"{_NOW} - interval '400 days' - random() * interval '30 days'",
        "updated_at": f"{_NOW} - random() * interval '365 days'",
        "archived_at": "NULL",
    }
    tables["interactions_lead"] = (
        {
            "id": "g",
            **person,
            "facility_id": _facility_sql("g", s.facilities),
            "email": "''",
            "status": f"({statuses})[1 + g % 5]",
            "source": "'web'",
        },
        f"generate_series(1, {s.leads}) g",
    )
    tables["interactions_customer"] = (
        {
            "id": "g",
            **person,
            "facility_id": _facility_sql(f"g + {s.leads}", s.facilities),
            "pms_id": "'T' || g",
            "unit": "chr(65 + g % 6) || '-' || (100 + g % 900)",
            "balance_due": "CASE WHEN random() < 0.2 THEN round((random() * 300)::numeric, 2) ELSE 0 END",
        },
        f"generate_series(1, {s.customers}) g",
    )
    tables["interactions_phonenumber"] = (
        {
            "id": "p",
            "organization_id": organization,
            "lead_id": lead,
            "customer_id": customer,
            "number": number_sql("p"),
            "label": "'mobile'",
            "is_primary": "true",
            "source": "CASE WHEN p > " + str(s.leads) + " THEN 'pms' ELSE 'local' END",
            "line_type": "'mobile'",
            "line_type_carrier": "''",
            "line_type_checked_at": f"{_NOW} - interval '390 days'",
            "line_type_demo": "false",
            "not_textable_at": "NULL",
            "not_textable_reason": "''",
            "confirmed_at": "NULL",
            "created_at": f"{_NOW} - interval '400 days'",
            "updated_at": f"{_NOW} - interval '400 days'",
        },
        f"generate_series(1, {s.people}) p",
    )
    # Consent: a grant per number before the twelve months of texts (ids 1..people), then a
    # revocation by STOP for some (ids people+1..), dated in the last month.
    tables["interactions_consentevent"] = (
        {
            "id": "g",
            "organization_id": organization,
            "number": number_sql(f"CASE WHEN g <= {s.people} THEN g ELSE (g - {s.people}) * 50 END"),
            "action": f"CASE WHEN g <= {s.people} THEN 'grant' ELSE 'revoke' END",
            "source": f"CASE WHEN g > {s.people} THEN 'sms_keyword' "
            "ELSE (ARRAY['web_form','pms_import','agent','api'])[1 + g % 4] END",
            "actor_id": "NULL",
            "actor_name": "''",
            "evidence": "CASE WHEN g <= " + str(s.people) + " THEN 'Web form on the rental page' ELSE 'STOP' END",
            "ip_address": "NULL",
            "user_agent": "''",
            "created_at": f"CASE WHEN g <= {s.people} THEN {_NOW} - interval '366 days' - random() * interval "
            f"'30 days' ELSE {_NOW} - random() * interval '30 days' END",
        },
        f"generate_series(1, {s.people + s.revoked}) g",
    )
    revoked = f"(p % 50 = 0 AND p / 50 <= {s.revoked})"
    tables["interactions_consent"] = (
        {
            "id": "p",
            "organization_id": organization,
            "number": number_sql("p"),
            "status": f"CASE WHEN {revoked} THEN 'revoked' ELSE 'granted' END",
            "last_event_id": f"CASE WHEN {revoked} THEN {s.people} + p / 50 ELSE p END",
            "person_opted_out_at": f"CASE WHEN {revoked} THEN {_NOW} - interval '1 day' END",
            "updated_at": f"{_NOW} - interval '1 day'",
        },
        f"generate_series(1, {s.people}) p",
    )
    tables["interactions_history"] = (
        {
            "id": "g",
            "organization_id": organization,
            "lead_id": lead,
            "customer_id": customer,
            "kind": "(ARRAY['call','text','note','consent'])[1 + g % 4]",
            "occurred_at": f"{_NOW} - random() * interval '365 days'",
            "agent_id": f"({agents})[1 + g % {AGENTS + 2}]",
            "actor_name": "''",
            "summary": "b.body",
            "phone_number_id": "p",
        },
        f"(SELECT g, {_person_sql(s.people)} AS p, 1 + floor(random() * {s.pool})::int AS bi "
        f"FROM generate_series(1, {s.history}) g) r JOIN pg_temp.bench_bodies b ON b.id = r.bi",
    )
    outbound = "r.u < 0.7"
    status = (
        "CASE WHEN r.u >= 0.7 THEN 'received' WHEN r.v < 0.85 THEN 'delivered' WHEN r.v < 0.91 THEN 'sent' "
        "WHEN r.v < 0.95 THEN 'undelivered' WHEN r.v < 0.98 THEN 'failed' WHEN r.v < 0.995 THEN 'canceled' "
        "ELSE 'scheduled' END"
    )
    sent = "r.st IN ('delivered','sent','undelivered','failed')"
    sender = number_sql(f"{s.people} + " + _facility_sql("p", s.facilities))  # the person's facility's number
    tables["messaging_message"] = (
        {
            "id": "r.g",
            "organization_id": organization,
            "direction": f"CASE WHEN {outbound} THEN 'outbound' ELSE 'inbound' END",
            "lead_id": lead,
            "customer_id": customer,
            "phone_number_id": "p",
            "facility_id": _facility_sql("p", s.facilities),
            "to_number": f"CASE WHEN {outbound} THEN {number_sql('p')} ELSE {sender} END",
            "from_number": f"CASE WHEN {outbound} THEN {sender} ELSE {number_sql('p')} END",
            "template_id": "NULL",
            "status": "r.st",
            "provider_sid": f"CASE WHEN {sent} OR r.st = 'received' THEN 'SM' || md5(r.g::text) END",
            "error_code": "CASE WHEN r.st IN ('undelivered','failed') THEN '30003' ELSE '' END",
            "error_message": "''",
            "segments": "1 + (length(b.body) > 160)::int",
            "encoding": "'GSM-7'",
            "media_count": "0",  # the scale texts carry no pictures
            "sent_by_id": f"CASE WHEN {outbound} THEN ({agents})[1 + r.g % {AGENTS + 2}] END",
            "actor_name": "''",
            "idempotency_key": "NULL",
            "attempts": f"CASE WHEN {sent} THEN 1 ELSE 0 END",
            "request_id": "''",
            "flagged_opt_out_request": "r.st = 'received' AND r.v < 0.003",
            "flag_dismissed_at": "NULL",
            "flag_dismissed_by_id": "NULL",
            "flag_dismissed_note": "''",
            "flagged_as_spam": "false",
            "opt_out_due_at": "CASE WHEN r.st = 'received' AND r.v < 0.003 THEN r.t + interval '10 days' END",
            "confirms_event_id": "NULL",
            "body": "b.body",
            "created_at": "r.t",
            "updated_at": "r.t",
            # Scheduled texts wait for a moment ahead, so no sweeper finds them due or stuck.
            "send_at": f"CASE WHEN r.st = 'scheduled' THEN {_NOW} + interval '1 day' + r.v * interval '30 days' END",
            "queued_at": f"CASE WHEN {sent} THEN r.t END",
            "sending_at": f"CASE WHEN {sent} THEN r.t + interval '1 second' END",
            "sent_at": f"CASE WHEN {sent} THEN r.t + interval '2 seconds' END",
            "delivered_at": "CASE WHEN r.st = 'delivered' THEN r.t + interval '5 seconds' END",
            "failed_at": "CASE WHEN r.st IN ('undelivered','failed') THEN r.t + interval '5 seconds' END",
            "received_at": "CASE WHEN r.st = 'received' THEN r.t END",
            "canceled_at": "CASE WHEN r.st = 'canceled' THEN r.t END",
        },
        f"(SELECT q.*, {status.replace('r.', 'q.')} AS st FROM (SELECT g, {_person_sql(s.people)} AS p, random() AS u, "
        f"random() AS v, 1 + floor(random() * {s.pool})::int AS bi, "
        f"{_NOW} - interval '10 minutes' - random() * interval '365 days' AS t "
        f"FROM generate_series(1, {s.texts}) g) q) r JOIN pg_temp.bench_bodies b ON b.id = r.bi",
    )
    conversations = max(HOT_PEOPLE, int(s.people * CONVERSATION_SHARE))
    step = max(1, s.people // conversations)
    tables["messaging_conversation"] = (
        {
            "id": "g",
            "organization_id": organization,
            "lead_id": lead,
            "customer_id": customer,
            "assigned_to_id": f"CASE WHEN g % 3 = 0 THEN ({agents})[1 + g % {AGENTS + 2}] END",
            "read_at": f"{_NOW} - random() * interval '60 days'",
            "read_by_id": f"({agents})[1 + g % {AGENTS + 2}]",
            "updated_at": f"{_NOW} - random() * interval '60 days'",
            # The summary of the texts: filled from the texts once they are loaded (the backfill below).
            "unread": "false",
            "marked_unread": "false",
            "waiting": "false",
            "flagged": "false",
        },
        # The hot threads first, then every step-th person.
        f"(SELECT row_number() OVER () AS g, p FROM (SELECT p FROM generate_series(1, {min(HOT_PEOPLE, s.people)}) p "
        f"UNION SELECT p FROM generate_series({HOT_PEOPLE + 1}, {s.people}, {step}) p) x) c",
    )
    return tables


LOAD_ORDER = (
    "interactions_facility",
    "interactions_lead",
    "interactions_customer",
    "interactions_phonenumber",
    "interactions_consentevent",
    "interactions_consent",
    "interactions_history",
    "messaging_message",
    "messaging_conversation",
)


def loaded_models() -> dict[str, type]:
    """The models whose tables the generator fills with SQL, by table name."""
    from django.apps import apps

    found = {m._meta.db_table: m for m in apps.get_models()}
    return {table: found[table] for table in LOAD_ORDER}


# --- building -------------------------------------------------------------------------------------------


def _bodies_sql(pool: int) -> str:
    """``pg_temp.bench_bodies(id, body)``: ``pool`` sentences of 5–19 Zipf-drawn words; pool
    sentence i (i ≤ len(RARE_WORDS)) also carries RARE_WORDS[i]."""
    words, rare = _array(WORDS), _array(RARE_WORDS)
    return f"""
        CREATE TEMP TABLE bench_bodies AS
        SELECT g AS id,
               initcap(left(w.body, 1)) || substr(w.body, 2)
               || CASE WHEN g <= {len(RARE_WORDS)} THEN ' ' || ({rare})[g] ELSE '' END || '.' AS body
        FROM generate_series(1, {pool}) g,
        LATERAL (
            SELECT string_agg(({words})[1 + floor({len(WORDS)} * power(random(), 2.5))::int], ' ') AS body
            FROM generate_series(1, 5 + (g * 7919) % 15) k WHERE g > 0
        ) w;
        ALTER TABLE bench_bodies ADD PRIMARY KEY (id);
    """


def _users(organization_id: int) -> dict[str, int]:
    """The people who sign in (ORM: a few rows): the bench's agent and manager, AGENTS more agents,
    an API token for the agent (the integrator), templates."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from interactions.models import Membership
    from messaging.models import MessageTemplate

    User = get_user_model()
    password = make_password("bench-password-12345")
    users = User.objects.bulk_create(
        [User(username="scale-agent", password=password), User(username="scale-manager", password=password)]
        + [User(username=f"scale-agent-{i}", password=password) for i in range(AGENTS)]
    )
    Membership.objects.bulk_create(
        Membership(
            user=user,
            organization_id=organization_id,
            role=Membership.Role.MANAGER if user.username == "scale-manager" else Membership.Role.AGENT,
        )
        for user in users
    )
    Token.objects.create(user=users[0])
    MessageTemplate.objects.bulk_create(
        MessageTemplate(organization_id=organization_id, name=f"Template {i}", body=f"Hi {{{{ first_name }}}}, {i}.")
        for i in range(5)
    )
    return {"agent": users[0].pk, "manager": users[1].pk}


def build(sizes: Sizes, *, log: Callable[[str], None] = print) -> dict[str, float]:
    """Fill the (migrated, empty) default database; seconds per table."""
    import datetime as dt

    from django.db import connection, transaction

    from interactions.models import Organization
    from messaging.partitions import after_bulk_load, message_partitions_ensure, partitioned

    timings: dict[str, float] = {}
    with transaction.atomic():
        organization = Organization.objects.create(
            name="Scale Storage", slug="scale", quiet_hours_start=dt.time(0, 0), quiet_hours_end=dt.time(23, 59)
        )
        _users(organization.pk)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("DROP TABLE IF EXISTS pg_temp.bench_now, pg_temp.bench_bodies")
        cursor.execute("CREATE TEMP TABLE bench_now AS SELECT now() AS t")
        cursor.execute("SELECT setseed(0.26)")
        cursor.execute(_bodies_sql(sizes.pool))
        # PostgreSQL: a partition for each month of the texts' year (created_at: up to 365 days back),
        # as the beat makes them ahead; otherwise they would all land in the DEFAULT partition.
        message_partitions_ensure(since=dt.datetime.now(dt.UTC) - dt.timedelta(days=366))
        for table, (cols, source) in columns(sizes).items():
            started = time.monotonic()
            timings[table] = _load(cursor, table, cols, source)
            if table == "messaging_message" and partitioned():
                after_bulk_load(cursor)  # loaded with triggers off: the SID table, the partitions' index names
            log(f"  {table}: {time.monotonic() - started:.1f}s")
        for table in LOAD_ORDER:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
            )
        # The inbox's conversation summaries, as the data migration writes them for texts stored before them.
        started = time.monotonic()
        from importlib import import_module

        from django.apps import apps

        import_module("messaging.migrations.0013_conversation_summary_backfill").backfill(apps, None)
        timings["messaging_conversation"] = time.monotonic() - started
        log(f"  messaging_conversation: {timings['messaging_conversation']:.1f}s")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_scale_build (sizes jsonb, version int, built_at timestamptz)")
        cursor.execute("DELETE FROM bench_scale_build")
        cursor.execute(
            "INSERT INTO bench_scale_build VALUES (%s, %s, now())", [json.dumps(asdict(sizes)), GENERATOR_VERSION]
        )
        cursor.execute("DROP TABLE pg_temp.bench_now, pg_temp.bench_bodies")
        started = time.monotonic()
        cursor.execute("VACUUM (ANALYZE) " + ", ".join([*LOAD_ORDER, "messaging_conversation"]))
        timings["VACUUM (ANALYZE)"] = time.monotonic() - started
        log(f"  VACUUM (ANALYZE): {timings['VACUUM (ANALYZE)']:.1f}s")
    return timings


def _load(cursor, table: str, cols: dict[str, str], source: str) -> float:
    """One INSERT … SELECT with the table's indexes dropped and built again afterwards, and its
    triggers (the foreign keys' checks) off: the rows are consistent by construction."""
    started = time.monotonic()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    names = ", ".join(f'"{c}"' for c in cols)
    values = ", ".join(cols.values())
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM {source}")
    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
    for _, definition in indexes:
        cursor.execute(definition)
    return time.monotonic() - started


def built_sizes() -> Sizes | None:
    """The sizes the default database was built with (None: not built, or by another generator version)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_scale_build') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT sizes, version FROM bench_scale_build")
        row = cursor.fetchone()
    if row is None or row[1] != GENERATOR_VERSION:
        return None
    data = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return Sizes(**data)
